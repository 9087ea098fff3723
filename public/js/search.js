/*
 * The chat page, file 18 of 19: search in history (#17). The search box in the sidebar asks
 * GET /search and lists the matches, newest first, each with its conversation and time, in
 * place of the conversation list; "More results" pages on with before=. Choosing a match opens
 * its conversation, 1:1 or group alike, at that message: the page of history ending with it and
 * the page after it (GET /messages with= or group=, before= and after=), the message marked,
 * older messages loadable as always and newer ones with "Load newer messages" until the
 * newest, or at once with "Jump to the latest" (also what sending a message there does). While
 * the newer messages are not loaded, a conversation takes no new message from the stream
 * (model.js: it would leave a gap); it finds them when it loads them. The server never lists a
 * match from a group the reader is no longer in.
 */
(function (window) {
  'use strict';

  var C = window.Chat;
  var U = C.util;
  var D = C.dom;
  var T = C.time;
  var M = C.model;
  var S = C.state;
  var cfg = C.config;
  var $ = D.$,
    el = D.el,
    show = D.show;

  var SEARCH_PAGE = 20; // the server's default; 1-100
  var QUERY_MAX = 200; // characters, as the server counts them
  var SNIPPET_CHARS = 160; // of a match's text shown in the list
  var MARK_MS = 4000; // how long the message opened from a match stays marked

  // What is shown: the query, its matches so far and whether there are more. gen drops the
  // answers of an earlier query (or an earlier session) that arrive late.
  var found = { q: '', results: [], hasMore: false, loading: false, error: null, open: false, gen: 0 };

  // ---------------------------------------------------------------------------------------
  // Pure parts (no network, no document)

  // Who a match is from and where, as the list shows it: "amy", "You to amy", "Notes to self",
  // "amy in Class 3b". key: its conversation (groups.js, messageKey); groupName: the group's
  // name, or null when this page does not know it (then its id is shown).
  function matchLabel(me, m, key, groupName) {
    var from = m.from === me ? 'You' : m.from;
    if (C.groups.isKey(key)) return from + ' in ' + (groupName === null ? 'group ' + m.group : groupName);
    if (key === me) return 'Notes to self';
    return m.from === me ? 'You to ' + key : key;
  }

  // What the server would refuse: null when the query may be sent, else why not.
  function queryProblem(q) {
    if (!/[A-Za-z0-9\u00aa-\uffff]/.test(q) || !/\S/.test(q)) return 'Type a word to search for.';
    if (U.charCount(q) > QUERY_MAX) return 'A search can be at most ' + QUERY_MAX + ' characters.';
    return null;
  }

  // The first characters of a text, on one line.
  function snippet(text) {
    var flat = String(text).replace(/\s+/g, ' ');
    return flat.length > SNIPPET_CHARS ? flat.slice(0, SNIPPET_CHARS) + '\u2026' : flat;
  }

  // The pages around a match arrived: the one ending with it (older) and the one after it
  // (newer). The conversation holds them, and knows whether more lies on either side.
  function applyAround(st, c, older, olderMore, newer, newerMore) {
    M.applyHistory(st, c, older.concat(newer), olderMore);
    c.hasNewer = !!newerMore || newestLoaded(c) < c.maxId;
  }

  // A page of newer messages arrived. Something the stream announced while they were loading
  // (maxId above the newest loaded) means there is still more.
  function applyNewer(c, list, hasMore) {
    c.loadingNewer = false;
    for (var i = 0; i < list.length; i++) {
      if (M.validMessage(list[i])) M.insertMessage(c, list[i]);
    }
    c.hasNewer = !!hasMore || newestLoaded(c) < c.maxId;
  }

  function newestLoaded(c) {
    return c.msgs.length ? c.msgs[c.msgs.length - 1].id : 0;
  }

  // ---------------------------------------------------------------------------------------
  // The list of matches

  function api() {
    C.http.api.apply(null, arguments);
  }

  function searchPath(q, before) {
    var path = '/search?q=' + encodeURIComponent(q) + '&limit=' + SEARCH_PAGE;
    return before ? path + '&before=' + before : path;
  }

  function onSubmit(e) {
    if (e) D.preventDefault(e);
    var q = $('search-input').value;
    var problem = queryProblem(q);
    if (problem) {
      C.views.notify(problem);
      return;
    }
    found.gen += 1;
    found.q = q;
    found.results = [];
    found.hasMore = false;
    found.error = null;
    found.open = true;
    fetchPage();
  }

  function fetchPage() {
    var gen = found.gen;
    var before = found.results.length ? found.results[found.results.length - 1].id : 0;
    found.loading = true;
    render();
    api('GET', searchPath(found.q, before), null, function (res) {
      if (gen !== found.gen) return;
      found.loading = false;
      if (!res.ok || !res.data || !U.isArray(res.data.messages)) {
        found.error = res.error ? res.error.message : 'The server sent something unexpected.';
      } else {
        for (var i = 0; i < res.data.messages.length; i++) {
          if (M.validMessage(res.data.messages[i])) found.results.push(res.data.messages[i]);
        }
        found.hasMore = !!res.data.has_more;
      }
      render();
    });
  }

  function more() {
    if (found.open && found.hasMore && !found.loading) fetchPage();
  }

  // Back to the conversation list; also when a session ends (nothing of it is kept).
  function close() {
    found.gen += 1;
    found.open = false;
    found.results = [];
    found.q = '';
    found.loading = false;
    if (!S.session) $('search-input').value = '';
    render();
  }

  function resultNode(m, i) {
    var me = S.session.username;
    var key = C.groups.messageKey(me, m);
    var c = S.convs.get(key);
    var who = matchLabel(me, m, key, c && c.group ? c.group.name : null);
    var li = el('li');
    var btn = el('button', 'search-hit');
    btn.setAttribute('type', 'button');
    btn.setAttribute('data-index', String(i));
    var head = el('span', 'search-hit-head');
    head.appendChild(el('span', 'search-who', who));
    var when = T.parseTime(m.sent_at);
    var time = el('span', 'search-when', when ? T.shortWhen(when) : '');
    if (when) time.setAttribute('title', T.fullWhen(when));
    head.appendChild(time);
    btn.appendChild(head);
    var text = el('span', 'search-text', snippet(m.body));
    var dir = U.textDirection(m.body);
    if (dir) text.setAttribute('dir', dir);
    btn.appendChild(text);
    li.appendChild(btn);
    return li;
  }

  function statusText() {
    if (found.loading && !found.results.length) return 'Searching\u2026';
    if (found.error) return 'The search failed: ' + found.error;
    if (!found.results.length) return 'No messages match \u201c' + found.q + '\u201d.';
    var n = found.results.length;
    return (found.hasMore ? 'The newest ' + n : n) + (n === 1 ? ' message matches' : ' messages match') + ' \u201c' + found.q + '\u201d.';
  }

  function render() {
    show($('search-results'), found.open);
    show($('conv-scroll'), !found.open);
    if (!found.open) {
      D.clear($('search-list'));
      return;
    }
    D.setText($('search-status'), statusText());
    var list = $('search-list');
    D.clear(list);
    for (var i = 0; i < found.results.length; i++) list.appendChild(resultNode(found.results[i], i));
    show($('search-more'), found.hasMore || (found.loading && found.results.length > 0));
    D.setText($('search-more'), found.loading ? 'Loading\u2026' : 'More results');
  }

  // ---------------------------------------------------------------------------------------
  // Opening a conversation at a match

  function onResultClick(e) {
    var btn = D.closestWithAttr(D.eventTarget(e), 'data-index', $('search-list'));
    if (!btn) return;
    var m = found.results[Number(btn.getAttribute('data-index'))];
    if (m) openAt(m);
  }

  // The same for a 1:1 conversation and a group: only the query naming it differs (history.js).
  function openAt(m) {
    var key = C.groups.messageKey(S.session.username, m);
    var c = M.conversation(S, key);
    if (c.loaded && c.byId.has(m.id)) {
      C.nav.openConversation(key);
      mark(m.id);
      return;
    }
    if (!c.member) {
      // Left or removed since the search: the server shows none of the group's history now.
      C.views.notify('You are not in that group any more, so its messages are not shown.');
      return;
    }
    var gen = M.startHistory(c);
    c.hasNewer = true; // until the pages say otherwise: the stream must not add to a gap
    S.chatDirty = true;
    C.nav.openConversation(key); // it loads nothing: c is loading
    var path = '/messages?' + C.history.conversationQuery(c) + '&limit=' + cfg.HISTORY_PAGE;
    api('GET', path + '&before=' + (m.id + 1), null, function (older) {
      if (gen !== c.loadGen) return;
      if (!pageOk(c, older)) return;
      api('GET', path + '&after=' + m.id, null, function (newer) {
        if (gen !== c.loadGen) return;
        if (!pageOk(c, newer)) return;
        applyAround(S, c, older.data.messages, older.data.has_more, newer.data.messages, newer.data.has_more);
        if (c.name !== S.current) return;
        S.chatDirty = true;
        C.chatView.renderChat();
        mark(m.id);
        C.history.maybeMarkRead();
        C.views.renderConversationList();
      });
    });
  }

  function pageOk(c, res) {
    if (res.ok && res.data && U.isArray(res.data.messages)) return true;
    c.loading = false;
    c.hasNewer = false;
    c.loadError = res.error ? res.error.message : 'The server sent something unexpected.';
    S.chatDirty = true;
    C.chatView.renderChat();
    return false;
  }

  // Brings the message into view and marks it for a moment.
  function mark(id) {
    var box = $('messages');
    var nodes = box.getElementsByTagName('div');
    for (var i = 0; i < nodes.length; i++) {
      if (nodes[i].getAttribute('data-id') === String(id)) {
        var node = nodes[i];
        node.scrollIntoView(true);
        D.addClass(node, 'found');
        setTimeout(function () {
          D.removeClass(node, 'found');
        }, MARK_MS);
        return;
      }
    }
  }

  function loadNewer(c) {
    if (!c.loaded || !c.hasNewer || c.loadingNewer) return;
    c.loadingNewer = true;
    var gen = c.loadGen;
    S.chatDirty = true;
    C.chatView.renderChat();
    var after = newestLoaded(c);
    api('GET', '/messages?' + C.history.conversationQuery(c) + '&limit=' + cfg.HISTORY_PAGE + '&after=' + after, null, function (res) {
      if (gen !== c.loadGen) return;
      if (!res.ok || !res.data || !U.isArray(res.data.messages)) {
        c.loadingNewer = false;
        C.views.notify('Could not load newer messages: ' + (res.error ? res.error.message : 'unexpected answer'));
      } else {
        applyNewer(c, res.data.messages, res.data.has_more);
      }
      if (c.name !== S.current) return;
      S.chatDirty = true;
      C.chatView.renderChat();
      C.history.maybeMarkRead();
    });
  }

  // The conversation from its newest message again (sending there, "Jump to the latest").
  function toLatest(name) {
    var c = name === null ? null : S.convs.get(name);
    if (c && c.hasNewer) C.history.loadHistory(c);
  }

  // The buttons below the messages of a conversation opened at a match (chat-view.js draws them).
  function onAction(action) {
    if (!S.current) return;
    var c = M.conversation(S, S.current);
    if (action === 'newer') loadNewer(c);
    else if (action === 'latest') toLatest(S.current);
  }

  C.search = {
    matchLabel: matchLabel,
    queryProblem: queryProblem,
    snippet: snippet,
    applyAround: applyAround,
    applyNewer: applyNewer,
    onSubmit: onSubmit,
    onResultClick: onResultClick,
    more: more,
    close: close,
    toLatest: toLatest,
    onAction: onAction
  };
})(window);
