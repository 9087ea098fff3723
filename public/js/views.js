/*
 * The chat page, file 11 of 19: drawing the frame around the conversation. The scroll helpers,
 * the connection indicator and banner, the layout of the message pane and the growing message
 * box, the conversation list, notices and the in-page confirmation. The open conversation is
 * drawn by chat-view.js; which one is open is nav.js's. Nothing here talks to the server.
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
      C.chatView.renderChatHead();
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

  function renderAll() {
    renderConversationList();
    C.chatView.renderChatHead();
    C.chatView.renderChat();
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
    pageScrolls: pageScrolls,
    scrollState: scrollState,
    setScrollTop: setScrollTop,
    scrollTop: scrollTop,
    isNearBottom: isNearBottom,
    initial: initial,
    displayName: displayName,
    setDir: setDir,
    showConnState: showConnState,
    layoutChat: layoutChat,
    fitComposer: fitComposer,
    listButton: listButton,
    renderConversationList: renderConversationList,
    updateTitle: updateTitle,
    renderAll: renderAll,
    notify: notify,
    confirmInPage: confirmInPage,
    isConfirmOpen: isConfirmOpen,
    answerConfirm: answerConfirm
  };
})(window);
