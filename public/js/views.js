/*
 * The chat page, file 8 of 13: drawing the state. The conversation list, the open
 * conversation's head and messages, the connection indicator and banner, notices, the
 * in-page confirmation; and opening and closing a conversation (remembered across reloads).
 * Nothing here talks to the server except through sync.js.
 */
(function (window) {
  'use strict';

  var C = window.Chat;
  var U = C.util;
  var T = C.time;
  var D = C.dom;
  var M = C.model;
  var S = C.state;
  var cfg = C.config;
  var $ = D.$,
    el = D.el,
    show = D.show,
    setText = D.setText;

  // ---------------------------------------------------------------------------------------
  // Where the messages scroll: in their own pane, or, in the layout for engines that cannot
  // scroll an inner pane with one finger (html.page-scroll, see boot.js), the page itself.

  function pageScrolls() {
    return D.hasClass(window.document.documentElement, 'page-scroll');
  }

  function scrollState() {
    if (pageScrolls()) {
      var doc = window.document.documentElement;
      var body = window.document.body;
      return {
        top: window.pageYOffset || doc.scrollTop || body.scrollTop || 0,
        height: Math.max(doc.scrollHeight, body.scrollHeight),
        view: window.innerHeight || doc.clientHeight
      };
    }
    var box = $('messages');
    return { top: box.scrollTop, height: box.scrollHeight, view: box.clientHeight };
  }

  function setScrollTop(top) {
    if (pageScrolls()) window.scrollTo(0, top);
    else $('messages').scrollTop = top;
  }

  function scrollTop() {
    return scrollState().top;
  }

  function isNearBottom() {
    var st = scrollState();
    return st.height - st.top - st.view < cfg.NEAR_BOTTOM_PX;
  }

  function initial(name) {
    return name ? name.charAt(0).toUpperCase() : '?';
  }

  // What a conversation is called: the group's name, "Notes to self" or the username.
  function displayName(key) {
    var c = S.convs.get(key);
    if (c) return C.groups.title(c, S.session ? S.session.username : null);
    return S.session && key === S.session.username ? 'Notes to self' : key;
  }

  // Sets dir on a node showing a text in a right-to-left script (a group's name, a message).
  function setDir(node, text) {
    var dir = U.textDirection(text);
    if (dir) node.setAttribute('dir', dir);
    else node.removeAttribute('dir');
  }

  // ---------------------------------------------------------------------------------------
  // The connection indicator (under the user's name), the banner over the conversation, and
  // the one live region that reads changes out (#14): each change is announced once, and
  // nothing is rewritten while the state stays the same (no countdown).

  var CONN_TEXT = {
    connecting: 'Connecting\u2026',
    connected: 'Connected',
    reconnecting: 'Reconnecting\u2026',
    offline: 'This device is offline',
    unreachable: 'Can\u2019t reach the chat server',
    busy: 'The chat server is busy',
    error: 'The chat server has a problem'
  };

  var BANNER_TEXT = {
    reconnecting: 'Connection lost. Reconnecting\u2026',
    offline: 'This device is offline: it has no network. What you write is kept and sent when it is back online.',
    unreachable: 'Can\u2019t reach the chat server. What you write is kept and sent when it is back.',
    busy: 'The chat server is busy. Trying again shortly; what you write is kept.',
    error: 'The chat server answered with an error. Trying again; what you write is kept.'
  };

  function isDown(state) {
    return !!BANNER_TEXT[state];
  }

  // Reads text out once to screen readers (a visually hidden role=status region).
  function announce(text) {
    setText($('announce'), text);
  }

  // was: the state before (to announce only real changes).
  function showConnState(state, was) {
    $('conn').className = 'conn conn-' + state;
    setText($('conn-text'), CONN_TEXT[state] || CONN_TEXT.connecting);
    var down = isDown(state);
    show($('conn-retry'), down);
    var banner = $('banner');
    if (down) {
      setText($('banner-text'), BANNER_TEXT[state]);
      banner.className = 'banner banner-' + (state === 'reconnecting' || state === 'busy' ? 'warn' : 'down');
    }
    show(banner, down);
    D.toggleClass($('chat'), 'with-banner', down);
    layoutChat();
    // A blip ("reconnecting", then connected a second later) is not worth interrupting anyone.
    if (state !== was && state !== 'reconnecting' && state !== 'connecting') {
      if (down) announce(BANNER_TEXT[state]);
      else if (isDown(was) && was !== 'reconnecting') announce('Connected again.');
    }
    // Who is online is unknown while disconnected, and known again once connected.
    if (S.session && (state === 'connected') !== (was === 'connected')) {
      renderConversationList();
      renderChatHead();
    }
  }

  // Places the message pane between the head (and the banner, whose height depends on its
  // text and the screen's width) and the composer (which grows with what is typed). Nothing
  // to do in the page-scroll layout, where they simply follow each other.
  function layoutChat() {
    var box = $('messages');
    var below = $('new-below');
    if (pageScrolls()) {
      box.style.top = '';
      box.style.bottom = '';
      below.style.bottom = '';
      return;
    }
    var banner = $('banner');
    var head = $('chat-head').offsetHeight || 60;
    var bannerHeight = D.hasClass(banner, 'hidden') ? 0 : banner.offsetHeight;
    banner.style.top = head + 'px';
    box.style.top = head + bannerHeight + 'px';
    var composer = $('composer').offsetHeight || 68;
    box.style.bottom = composer + 'px';
    below.style.bottom = composer + 12 + 'px';
  }

  // The message box grows with its text up to a share of the window, then scrolls (#14).
  function fitComposer() {
    var input = $('composer-input');
    var doc = window.document.documentElement;
    var windowHeight = window.innerHeight || doc.clientHeight || 480;
    var min = 46;
    var max = Math.max(min, Math.floor(windowHeight * cfg.COMPOSER_MAX_SHARE));
    // Opened at a search result, the bottom is not the newest: it is not followed.
    var wasNearBottom = isNearBottom() && !M.conversation(S, S.current).hasNewer;
    input.style.height = min + 'px';
    var wanted = input.scrollHeight + 2; // its 1px borders: the box is border-box
    var height = Math.min(Math.max(min, wanted), max);
    input.style.height = height + 'px';
    input.style.overflowY = wanted > max ? 'auto' : 'hidden';
    $('composer').style.height = pageScrolls() ? '' : height + 22 + 'px';
    layoutChat();
    if (wasNearBottom && !pageScrolls()) setScrollTop(scrollState().height);
  }

  // ---------------------------------------------------------------------------------------
  // The conversation list

  function conversationItem(c) {
    var me = S.session.username;
    var isGroup = C.groups.isKey(c.name);
    var known = M.presenceKnown(S) && !isGroup;
    var online = M.isOnline(S, c.name);
    var name = displayName(c.name);
    var li = el('li', 'conv-item');
    var btn = el('button', 'conv' + (c.name === S.current ? ' active' : '') + (c.unread ? ' has-unread' : ''));
    btn.setAttribute('type', 'button');
    btn.setAttribute('data-name', c.name);
    var self = c.name === me;
    var avatar = el('span', 'avatar' + (self ? ' avatar-self' : isGroup ? ' avatar-group' : ''), self ? '\u270e' : initial(name));
    avatar.setAttribute('aria-hidden', 'true');
    btn.appendChild(avatar);
    // No dot at all while the page cannot reach the server: it cannot know (#14). None for a
    // group either.
    if (!self && known) {
      var dot = el('span', 'dot ' + (online ? 'dot-on' : 'dot-off'));
      dot.setAttribute('title', online ? 'Online' : 'Offline');
      btn.appendChild(dot);
    }
    var main = el('span', 'conv-main');
    var top = el('span', 'conv-top');
    var nameNode = el('span', 'conv-name', name);
    setDir(nameNode, name);
    top.appendChild(nameNode);
    var when = c.last ? T.parseTime(c.last.sent_at) : null;
    if (when) top.appendChild(el('span', 'conv-when', T.shortWhen(when)));
    main.appendChild(top);
    var bottom = el('span', 'conv-bottom');
    var preview;
    var failed = C.outbox.failedCount(S, c.name);
    if (failed) preview = el('span', 'conv-preview conv-failed', failed === 1 ? '1 message not sent' : failed + ' messages not sent');
    else if (!c.member) preview = el('span', 'conv-preview muted', 'You are no longer in this group');
    else if (c.last) {
      var by = c.last.from === me ? (self ? '' : 'You: ') : isGroup ? c.last.from + ': ' : '';
      preview = el('span', 'conv-preview', by + c.last.body.replace(/\s+/g, ' '));
      var previewDir = U.textDirection(c.last.body);
      if (previewDir) preview.setAttribute('dir', previewDir);
    } else if (isGroup) preview = el('span', 'conv-preview muted', C.groups.memberSummary(c.group, me) || 'No messages yet');
    else preview = el('span', 'conv-preview muted', self ? 'Jot things down; they reach all your devices' : 'No messages yet');
    if (c.unread > 0) {
      // Before the preview, so it floats right of it rather than below it.
      var badge = el('span', 'badge', c.unread > 99 ? '99+' : c.unread);
      badge.setAttribute('aria-label', c.unread + ' unread');
      bottom.appendChild(badge);
    }
    bottom.appendChild(preview);
    main.appendChild(bottom);
    btn.appendChild(main);
    var label =
      name +
      (isGroup ? ', group' + (c.member ? '' : ' you are no longer in') : '') +
      (self || !known ? '' : online ? ', online' : ', offline') +
      (c.unread ? ', ' + c.unread + ' unread' : '');
    btn.setAttribute('aria-label', label);
    li.appendChild(btn);
    return li;
  }

  // The list's button for a conversation, or null.
  function listButton(name) {
    var buttons = $('conv-list').getElementsByTagName('button');
    for (var i = 0; i < buttons.length; i++) {
      if (buttons[i].getAttribute('data-name') === name) return buttons[i];
    }
    return null;
  }

  function renderConversationList() {
    if (!S.session) return;
    var list = $('conv-list');
    var focused = window.document.activeElement;
    var focusName = focused && focused.getAttribute && list.contains && list.contains(focused) ? focused.getAttribute('data-name') : null;
    D.clear(list);
    var self = M.conversation(S, S.session.username);
    var items = M.sortedConversations(S);
    list.appendChild(conversationItem(self));
    for (var i = 0; i < items.length; i++) list.appendChild(conversationItem(items[i]));
    show($('conv-empty'), items.length === 0);
    if (focusName !== null) {
      var again = listButton(focusName);
      if (again) again.focus();
    }
    updateTitle();
  }

  function updateTitle() {
    var total = M.totalUnread(S);
    var title = (total ? '(' + total + ') ' : '') + 'Chat' + (S.session ? ' \u2014 ' + S.session.username : '');
    if (window.document.title !== title) window.document.title = title;
  }

  // ---------------------------------------------------------------------------------------
  // The open conversation

  function renderChatHead() {
    var current = S.current;
    if (!current || !S.session) return;
    var me = S.session.username;
    var self = current === me;
    var c = M.conversation(S, current);
    var isGroup = C.groups.isKey(current);
    var online = M.isOnline(S, current);
    var name = displayName(current);
    setText($('chat-name'), name);
    setDir($('chat-name'), name);
    var avatar = $('chat-avatar');
    setText(avatar, self ? '\u270e' : initial(name));
    avatar.className = 'avatar' + (self ? ' avatar-self' : isGroup ? ' avatar-group' : '');
    var status = $('chat-status');
    show($('group-btn'), isGroup && c.member);
    D.toggleClass($('chat'), 'chat-group', isGroup);
    // A group we left or were removed from can be read (what reached this page) but not
    // written to: the composer gives way to a line saying why.
    var closed = isGroup && !c.member;
    D.toggleClass($('composer'), 'composer-closed', closed);
    show($('composer-closed'), closed);
    $('composer-input').disabled = closed;
    $('send-btn').disabled = closed;
    if (isGroup) {
      setText(status, c.member ? C.groups.memberSummary(c.group, me) : 'You are no longer in this group');
      status.className = 'chat-status';
    } else if (self) {
      setText(status, 'Only you see these. They reach all your devices.');
      status.className = 'chat-status';
    } else if (!M.presenceKnown(S)) {
      setText(status, ''); // unknown while disconnected (#14): the banner says why
      status.className = 'chat-status';
    } else {
      setText(status, online ? 'Online' : 'Offline');
      status.className = 'chat-status ' + (online ? 'status-on' : 'status-off');
    }
    $('composer-input').setAttribute('placeholder', self ? 'Write a note to yourself' : 'Message ' + name);
  }

  function actionButton(className, text, action, clientId) {
    var btn = el('button', className, text);
    btn.setAttribute('type', 'button');
    btn.setAttribute('data-action', action);
    if (clientId !== undefined) btn.setAttribute('data-cid', clientId);
    return btn;
  }

  // One message; pending: its outbox item when it is not confirmed yet; sender: who wrote it,
  // shown above the text (in a group, for the others' messages).
  function messageNode(m, mine, pending, sender) {
    var row = el('div', 'msg ' + (mine ? 'mine' : 'theirs') + (pending ? ' ' + pending.state : ''));
    if (!pending) row.setAttribute('data-id', String(m.id));
    var bubble = el('div', 'bubble');
    if (sender) bubble.appendChild(el('div', 'sender', sender));
    var text = el('div', 'text', m.body);
    // Right-to-left paragraphs laid out as such (#14): the direction of the first strong
    // letter, worked out here rather than with dir="auto", which old engines do not know.
    var dir = U.textDirection(m.body);
    if (dir) text.setAttribute('dir', dir);
    bubble.appendChild(text);
    var meta = el('div', 'meta');
    if (pending) {
      if (pending.state === 'failed') {
        meta.appendChild(el('span', 'failed-text', pending.error || 'Not sent.'));
        meta.appendChild(actionButton('link small', 'Retry', 'retry', pending.client_id));
        meta.appendChild(actionButton('link small', 'Delete', 'discard', pending.client_id));
      } else {
        // After a failed try, say so at once rather than only when the retries give up.
        meta.appendChild(el('span', 'sending-text', pending.attempts > 0 ? 'Not sent yet \u00b7 retrying\u2026' : 'Sending\u2026'));
      }
    } else {
      var when = T.parseTime(m.sent_at);
      var time = el('span', 'time', when ? T.clockText(when) : '');
      if (when) time.setAttribute('title', T.fullWhen(when));
      meta.appendChild(time);
    }
    bubble.appendChild(meta);
    row.appendChild(bubble);
    return row;
  }

  // What the message pane should hold, in order, as items {key, sig, kind, ...}: a node is
  // kept as long as an item with its key and signature is wanted (see renderChat).
  function chatItems(c) {
    var current = S.current;
    var me = S.session.username;
    var isGroup = C.groups.isKey(current);
    var items = [];
    if (c.loadingOlder) items.push({ key: 'top', sig: 'loading', kind: 'note', text: 'Loading older messages\u2026' });
    else if (c.loaded && c.hasMore && !c.member)
      // The server shows a member who left none of a group's history (#15).
      items.push({ key: 'top', sig: 'gone', kind: 'note', text: 'Older messages are not shown: you are no longer in this group.' });
    else if (c.loaded && c.hasMore) items.push({ key: 'top', sig: 'more', kind: 'older' });
    else if (c.loaded && c.msgs.length) {
      items.push({
        key: 'top',
        sig: 'start ' + current,
        kind: 'note',
        text:
          current === me
            ? 'This is where your notes begin.'
            : isGroup
              ? 'This is the start of the group\u2019s messages.'
              : 'This is the start of your conversation with ' + current + '.'
      });
    }
    var lastDay = null;
    // The quiet lines (membership changes) go after the message that was the newest when
    // they happened. The ones from before the first message shown go above it once the
    // history is loaded to its start (until then their place is among the older messages).
    var lines = c.lines;
    var li = 0;
    var firstId = c.msgs.length ? c.msgs[0].id : Infinity;
    while (li < lines.length && lines[li].after < firstId && (c.msgs.length || c.loaded)) {
      if (!c.hasMore || !c.msgs.length) items.push(lineItem(lines[li]));
      li++;
    }
    for (var i = 0; i < c.msgs.length; i++) {
      var m = c.msgs[i];
      var when = T.parseTime(m.sent_at);
      if (when && (!lastDay || !T.sameDay(lastDay, when))) {
        var day = T.dayText(when);
        items.push({
          key: 'day ' + when.getFullYear() + '-' + (when.getMonth() + 1) + '-' + when.getDate(),
          sig: day,
          kind: 'day',
          text: day
        });
        lastDay = when;
      }
      items.push({ key: 'm' + m.id, sig: '', kind: 'message', message: m, sender: isGroup && m.from !== me ? m.from : null });
      var nextId = i + 1 < c.msgs.length ? c.msgs[i + 1].id : Infinity;
      while (li < lines.length && lines[li].after < nextId) items.push(lineItem(lines[li++]));
    }
    // Opened at a search result (search.js): the newest messages are not loaded yet.
    if (c.loadingNewer) items.push({ key: 'bottom', sig: 'loading', kind: 'note', text: 'Loading newer messages\u2026' });
    else if (c.loaded && c.hasNewer) items.push({ key: 'bottom', sig: 'newer', kind: 'newer' });
    var pendingHere = 0;
    for (var j = 0; j < S.outbox.length; j++) {
      var p = S.outbox[j];
      if (p.to !== current) continue;
      pendingHere++;
      items.push({
        key: 'p' + p.client_id,
        sig: p.state + ' ' + (p.attempts > 0 ? 1 : 0) + ' ' + (p.error || ''),
        kind: 'pending',
        pending: p
      });
    }
    if (c.loading) items.push({ key: 'end', sig: 'loading', kind: 'note', text: 'Loading messages\u2026' });
    else if (c.loadError) items.push({ key: 'end', sig: 'error ' + c.loadError, kind: 'error', text: c.loadError });
    else if (c.loaded && !c.msgs.length && !pendingHere) items.push({ key: 'end', sig: 'empty ' + current, kind: 'empty' });
    return items;
  }

  function lineItem(line) {
    return { key: 'g' + line.seq, sig: '', kind: 'line', text: line.text };
  }

  function itemNode(item) {
    var current = S.current;
    var me = S.session.username;
    var isGroup = C.groups.isKey(current);
    switch (item.kind) {
      case 'message':
        return messageNode(item.message, item.message.from === me, null, item.sender);
      case 'line':
        return el('div', 'group-line', item.text);
      case 'pending':
        return messageNode({ body: item.pending.body }, true, item.pending);
      case 'older':
        return actionButton('link history-more', 'Load older messages', 'older');
      case 'newer':
        var bar = el('div', 'history-newer');
        bar.appendChild(actionButton('link history-more', 'Load newer messages', 'newer'));
        bar.appendChild(actionButton('link history-more', 'Jump to the latest', 'latest'));
        return bar;
      case 'day':
        var sep = el('div', 'day');
        sep.appendChild(el('span', null, item.text));
        return sep;
      case 'error':
        var errBox = el('div', 'chat-error');
        errBox.appendChild(el('p', null, 'Could not load the messages: ' + item.text));
        errBox.appendChild(actionButton('primary small', 'Try again', 'reload'));
        return errBox;
      case 'empty':
        var empty = el('div', 'chat-empty');
        empty.appendChild(el('p', 'chat-empty-title', current === me ? 'No notes yet' : 'No messages yet'));
        empty.appendChild(
          el(
            'p',
            null,
            current === me
              ? 'Write something below. Notes to self appear on every device you are logged in on.'
              : isGroup
                ? 'Say hello to the group. Everyone in it sees messages as soon as they are sent.'
                : 'Say hello to ' + current + '. Messages appear here as soon as they are sent.'
          )
        );
        return empty;
      default:
        return el('div', 'history-note', item.text);
    }
  }

  // Brings the pane to what the items say, keeping every node that is still wanted: a new
  // message is appended to the log (role=log), not the whole log rebuilt, so a screen reader
  // reads out the new message and nothing else, and what is on screen does not flicker (#14).
  function reconcile(box, items) {
    var have = new U.Dict();
    for (var child = box.firstChild; child; child = child.nextSibling) {
      if (child.nodeType === 1 && child.getAttribute('data-key') !== null) have.set(child.getAttribute('data-key'), child);
    }
    var at = box.firstChild;
    for (var i = 0; i < items.length; i++) {
      var item = items[i];
      var node = have.get(item.key);
      if (node && node.getAttribute('data-sig') === item.sig) {
        have.remove(item.key);
      } else {
        node = itemNode(item);
        node.setAttribute('data-key', item.key);
        node.setAttribute('data-sig', item.sig);
      }
      if (node === at) at = at.nextSibling;
      else box.insertBefore(node, at);
    }
    // Whatever is left after the last wanted node is no longer wanted.
    while (at) {
      var next = at.nextSibling;
      box.removeChild(at);
      at = next;
    }
  }

  // opts.toBottom: scroll to the newest; opts.keepBottomOffset: older messages were added
  // above, keep what the reader was looking at in place.
  function renderChat(opts) {
    opts = opts || {};
    if (!S.session) return;
    show($('placeholder'), !S.current);
    show($('chat'), !!S.current);
    if (!S.current) return;
    // Opened at a search result, the bottom is not the newest: it is not followed.
    var wasNearBottom = isNearBottom() && !M.conversation(S, S.current).hasNewer;
    // A message from the other person arrived out of sight: say so ("New messages").
    if (S.incoming && !wasNearBottom) S.newBelow = true;
    S.incoming = false;
    if (S.chatDirty) {
      S.chatDirty = false;
      var before = scrollState();
      reconcile($('messages'), chatItems(M.conversation(S, S.current)));
      var after = scrollState();
      if (opts.keepBottomOffset) setScrollTop(after.height - before.height + before.top);
      else if (opts.toBottom || wasNearBottom) setScrollTop(after.height);
      else if (after.top !== before.top) setScrollTop(before.top);
    } else if (opts.toBottom) {
      setScrollTop(scrollState().height);
    }
    if (isNearBottom()) S.newBelow = false;
    show($('new-below'), S.newBelow);
  }

  function renderAll() {
    renderConversationList();
    renderChatHead();
    renderChat();
    C.groupDialog.refresh();
  }

  var noticeTimer = null;
  function notify(text) {
    setText($('notice-text'), text);
    show($('notice'), true);
    if (noticeTimer) clearTimeout(noticeTimer);
    noticeTimer = setTimeout(function () {
      noticeTimer = null;
      show($('notice'), false);
    }, cfg.NOTICE_MS);
  }

  // ---------------------------------------------------------------------------------------
  // Opening and closing conversations. Which one is open, what was being written in each and
  // the groups' quiet lines are kept in storage, so a reload (a kiosk's, say) brings them back
  // (#14, #15).

  function saveView() {
    if (!S.session) return;
    var drafts = [];
    var names = S.drafts.keys();
    for (var i = 0; i < names.length; i++) {
      var text = S.drafts.get(names[i]);
      if (text) drafts.push([names[i], text]);
    }
    S.linesDirty = false;
    C.storage.save(
      C.storage.viewKey(S.session.username),
      JSON.stringify({ current: S.current, drafts: drafts, lines: C.groups.linesToSave(S) })
    );
  }

  // What saveView kept for this session's user: {current, drafts: Dict, lines: Dict}.
  function loadView() {
    var saved = S.session ? C.storage.loadJson(C.storage.viewKey(S.session.username)) : null;
    var drafts = new U.Dict();
    if (saved && U.isArray(saved.drafts)) {
      for (var i = 0; i < saved.drafts.length; i++) {
        var d = saved.drafts[i];
        if (U.isArray(d) && typeof d[0] === 'string' && typeof d[1] === 'string') drafts.set(d[0], d[1]);
      }
    }
    // A username, or a group's key ("#7", see groups.js): the two never collide.
    var current =
      saved && typeof saved.current === 'string' && (cfg.USERNAME_RE.test(saved.current) || C.groups.isKey(saved.current))
        ? saved.current
        : null;
    return { current: current, drafts: drafts, lines: C.groups.linesFromSaved(S, saved ? saved.lines : null) };
  }

  // The composer's text is the open conversation's draft.
  function keepDraft() {
    if (!S.current) return;
    S.drafts.set(S.current, $('composer-input').value);
    saveView();
  }

  // opts.restoring: the page is coming back to it after a reload; the snapshot loads its
  // history (sync.js), and the keyboard is left alone.
  function openConversation(name, opts) {
    opts = opts || {};
    var input = $('composer-input');
    // In the two-pane layout one conversation replaces another without closing it first:
    // keep what was being written there.
    if (S.current && S.current !== name) S.drafts.set(S.current, input.value);
    var c = M.conversation(S, name);
    if (!c.maxId && !c.touched) c.touched = U.now();
    S.current = name;
    S.chatDirty = true;
    S.incoming = false;
    S.newBelow = false;
    D.addClass($('app'), 'chat-open');
    renderChatHead();
    renderConversationList();
    input.value = S.drafts.get(name) || '';
    setComposerDirection();
    renderChat({ toBottom: true });
    fitComposer();
    saveView();
    if (opts.restoring) return;
    if (!c.loaded && !c.loading) C.sync.loadHistory(c);
    else C.sync.maybeMarkRead();
    D.focus(input);
  }

  function closeConversation() {
    var closed = S.current;
    if (closed) S.drafts.set(closed, $('composer-input').value);
    S.current = null;
    D.removeClass($('app'), 'chat-open');
    saveView();
    renderConversationList();
    renderChat();
    // The keyboard goes back to where the reader came from: that conversation in the list.
    var btn = closed === null ? null : listButton(closed);
    if (btn) D.focus(btn);
  }

  // The composer writes in the direction of what is typed in it (as dir="auto" would).
  function setComposerDirection() {
    var input = $('composer-input');
    var dir = U.textDirection(input.value);
    if (dir) input.setAttribute('dir', dir);
    else input.removeAttribute('dir');
  }

  // The reader asked to jump to the newest message.
  function scrollToNewest() {
    if (S.current && M.conversation(S, S.current).hasNewer) {
      C.search.toLatest(S.current);
      return;
    }
    setScrollTop(scrollState().height);
    S.newBelow = false;
    show($('new-below'), false);
    C.sync.maybeMarkRead();
  }

  // ---------------------------------------------------------------------------------------
  // A question asked in the page, not with window.confirm(), which kiosks often block (then
  // nothing happens and nothing is said): the answer comes to onYes, or nowhere (#14).

  var asking = { onYes: null, returnFocus: null };

  function confirmInPage(question, yesLabel, onYes) {
    asking.onYes = onYes;
    asking.returnFocus = window.document.activeElement;
    setText($('confirm-text'), question);
    setText($('confirm-yes'), yesLabel);
    show($('confirm'), true);
    if (pageScrolls()) window.scrollTo(0, 0); // the overlay is at the top of the page there
    D.focus($('confirm-cancel')); // the safe answer is the one Enter gives
  }

  function isConfirmOpen() {
    return !D.hasClass($('confirm'), 'hidden');
  }

  function answerConfirm(yes) {
    var onYes = asking.onYes;
    asking.onYes = null;
    show($('confirm'), false);
    var back = asking.returnFocus;
    asking.returnFocus = null;
    if (yes && onYes) onYes();
    else if (back) D.focus(back);
  }

  C.views = {
    isNearBottom: isNearBottom,
    scrollTop: scrollTop,
    pageScrolls: pageScrolls,
    initial: initial,
    showConnState: showConnState,
    layoutChat: layoutChat,
    fitComposer: fitComposer,
    renderConversationList: renderConversationList,
    updateTitle: updateTitle,
    renderChatHead: renderChatHead,
    renderChat: renderChat,
    renderAll: renderAll,
    notify: notify,
    openConversation: openConversation,
    closeConversation: closeConversation,
    scrollToNewest: scrollToNewest,
    saveView: saveView,
    loadView: loadView,
    keepDraft: keepDraft,
    setComposerDirection: setComposerDirection,
    confirmInPage: confirmInPage,
    isConfirmOpen: isConfirmOpen,
    answerConfirm: answerConfirm
  };
})(window);
