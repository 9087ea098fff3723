/*
 * The chat page, file 8 of 19: what is fetched about conversations besides the stream. Their
 * history (the newest page, then older pages as the reader scrolls up), the unread counts
 * asked for again when the stream cannot tell them, and the read markers posted when the
 * reader sees the newest message. A conversation the server does not know (no such user, a
 * group we are no longer in) is forgotten.
 */
(function (window) {
  'use strict';

  var C = window.Chat;
  var U = C.util;
  var D = C.dom;
  var M = C.model;
  var S = C.state;
  var cfg = C.config;

  function api() {
    C.http.api.apply(null, arguments);
  }

  // The unread counts asked for again, when a read marker from the stream cannot be counted
  // from what this page holds (model.js, applyRead); at most one request per half second.
  var refreshTimer = null;
  function refreshCountsSoon() {
    if (refreshTimer) return;
    refreshTimer = setTimeout(function () {
      refreshTimer = null;
      var gen = S.sessionGen;
      api('GET', '/conversations', null, function (res) {
        if (gen !== S.sessionGen || !res.ok || !res.data || !U.isArray(res.data.conversations)) return;
        M.applyUnreadCounts(S, res.data.conversations);
        C.views.renderConversationList();
      });
    }, 500);
  }

  // The query naming a conversation in GET /messages: with=NAME, or group=ID for a group.
  function conversationQuery(c) {
    var groupId = C.groups.idOf(c.name);
    return groupId ? 'group=' + groupId : 'with=' + encodeURIComponent(c.name);
  }

  function loadHistory(c) {
    var gen = M.startHistory(c);
    S.chatDirty = true;
    api('GET', '/messages?' + conversationQuery(c) + '&limit=' + cfg.HISTORY_PAGE, null, function (res) {
      if (gen !== c.loadGen) return;
      if (!res.ok || !res.data || !U.isArray(res.data.messages)) {
        c.loading = false;
        if (res.error && res.error.code === 'user_not_found') {
          forgetConversation(c.name);
          C.views.notify('There is no user called \u201c' + c.name + '\u201d.');
          return;
        }
        if (res.error && res.error.code === 'not_found' && C.groups.isKey(c.name)) {
          // A group we left or were removed from (the page was reloaded since): the server
          // shows none of it any more, so neither does the page.
          forgetConversation(c.name);
          C.views.notify('You are not in that group any more, so its messages are not shown.');
          return;
        }
        c.loadError = res.error ? res.error.message : 'The server sent something unexpected.';
        S.chatDirty = true;
        C.chatView.renderChat();
        return;
      }
      M.applyHistory(S, c, res.data.messages, res.data.has_more);
      if (c.name === S.current) {
        S.chatDirty = true;
        C.chatView.renderChat({ toBottom: true });
        // A short history may not fill the view, so there is nothing to scroll to: fetch on.
        maybeLoadOlder();
        maybeMarkRead();
      }
      C.views.renderConversationList();
    });
  }

  function loadOlder(c) {
    // A group we are no longer in: the server shows none of its history any more.
    if (!c.loaded || !c.hasMore || c.loadingOlder || !c.msgs.length || !c.member) return;
    c.loadingOlder = true;
    var gen = c.loadGen;
    var before = c.msgs[0].id;
    S.chatDirty = true;
    C.chatView.renderChat();
    api('GET', '/messages?' + conversationQuery(c) + '&limit=' + cfg.HISTORY_PAGE + '&before=' + before, null, function (res) {
      if (gen !== c.loadGen) return;
      if (!res.ok || !res.data || !U.isArray(res.data.messages)) {
        c.loadingOlder = false;
        C.views.notify('Could not load older messages: ' + (res.error ? res.error.message : 'unexpected answer'));
        S.chatDirty = true;
        C.chatView.renderChat();
        return;
      }
      M.applyOlder(c, res.data.messages, res.data.has_more);
      if (c.name === S.current) {
        S.chatDirty = true;
        C.chatView.renderChat({ keepBottomOffset: true });
        maybeLoadOlder();
      }
    });
  }

  function maybeLoadOlder() {
    if (!S.current) return;
    if (C.views.scrollTop() < cfg.NEAR_TOP_PX) loadOlder(M.conversation(S, S.current));
  }

  // Marks the open conversation read when the reader can actually see its newest message.
  function maybeMarkRead() {
    if (!S.current || !S.session || !D.pageVisible() || !C.views.isNearBottom()) return;
    var c = M.conversation(S, S.current);
    if (!c.member) return; // a group we are no longer in: no marker can be posted
    var upTo = M.startRead(c);
    if (upTo === null) return;
    C.views.renderConversationList();
    var gen = S.sessionGen;
    var groupId = C.groups.idOf(c.name);
    api('POST', '/read', groupId ? { group: groupId, up_to: upTo } : { with: c.name, up_to: upTo }, function (res) {
      if (gen !== S.sessionGen) return;
      // A 4xx will not get better by retrying; anything else is retried at the next event.
      var settled = res.ok || (res.status >= 400 && res.status < 500);
      M.finishRead(c, upTo, settled);
      if (settled) maybeMarkRead();
    });
  }

  // A conversation was started with a name that is no user, or is a group we are not in.
  function forgetConversation(name) {
    if (M.forgetConversation(S, name)) C.send.save();
    if (S.current === name) C.nav.closeConversation();
    C.views.renderAll();
  }

  // The session has ended: no timer.
  function stop() {
    if (refreshTimer) {
      clearTimeout(refreshTimer);
      refreshTimer = null;
    }
  }

  C.history = {
    refreshCountsSoon: refreshCountsSoon,
    conversationQuery: conversationQuery,
    loadHistory: loadHistory,
    loadOlder: loadOlder,
    maybeLoadOlder: maybeLoadOlder,
    maybeMarkRead: maybeMarkRead,
    stop: stop
  };
})(window);
