/*
 * The chat page, file 7 of 10: drawing the state. The conversation list, the open
 * conversation's head and messages, the connection indicator and banner, notices; and
 * opening and closing a conversation. Nothing here talks to the server except through sync.js.
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

  function isNearBottom() {
    var box = $('messages');
    return box.scrollHeight - box.scrollTop - box.clientHeight < cfg.NEAR_BOTTOM_PX;
  }

  function initial(name) {
    return name ? name.charAt(0).toUpperCase() : '?';
  }

  function displayName(name) {
    return S.session && name === S.session.username ? 'Notes to self' : name;
  }

  // ---------------------------------------------------------------------------------------
  // The connection indicator (under the user's name) and the banner over the conversation.
  // retryAt: when the next try is due (0: none scheduled).

  function showConnState(state, retryAt) {
    var box = $('conn');
    box.className = 'conn conn-' + state;
    var text;
    if (state === 'connected') text = 'Connected';
    else if (state === 'reconnecting') text = 'Reconnecting\u2026';
    else if (state === 'offline') text = 'Offline';
    else text = 'Connecting\u2026';
    if (state === 'offline' && retryAt) {
      var secs = Math.max(0, Math.ceil((retryAt - U.now()) / 1000));
      text += secs > 0 ? ' \u00b7 retrying in ' + secs + ' s' : ' \u00b7 retrying';
    }
    setText($('conn-text'), text);
    show($('conn-retry'), state === 'offline' || state === 'reconnecting');
    var banner = $('banner');
    if (state === 'reconnecting' || state === 'offline') {
      setText(
        banner,
        state === 'offline'
          ? 'You are offline. Messages you write are kept and sent when the connection is back.'
          : 'Connection lost. Reconnecting\u2026'
      );
      D.addClass(banner, 'banner-' + state);
      D.removeClass(banner, state === 'offline' ? 'banner-reconnecting' : 'banner-offline');
      show(banner, true);
      D.addClass($('chat'), 'with-banner');
    } else {
      show(banner, false);
      D.removeClass($('chat'), 'with-banner');
    }
  }

  // ---------------------------------------------------------------------------------------
  // The conversation list

  function conversationItem(c) {
    var me = S.session.username;
    var online = M.isOnline(S, c.name);
    var li = el('li', 'conv-item');
    var btn = el('button', 'conv' + (c.name === S.current ? ' active' : '') + (c.unread ? ' has-unread' : ''));
    btn.setAttribute('type', 'button');
    btn.setAttribute('data-name', c.name);
    var self = c.name === me;
    var avatar = el('span', 'avatar' + (self ? ' avatar-self' : ''), self ? '\u270e' : initial(c.name));
    avatar.setAttribute('aria-hidden', 'true');
    btn.appendChild(avatar);
    if (!self) {
      var dot = el('span', 'dot ' + (online ? 'dot-on' : 'dot-off'));
      dot.setAttribute('title', online ? 'Online' : 'Offline');
      btn.appendChild(dot);
    }
    var main = el('span', 'conv-main');
    var top = el('span', 'conv-top');
    top.appendChild(el('span', 'conv-name', displayName(c.name)));
    var when = c.last ? T.parseTime(c.last.sent_at) : null;
    if (when) top.appendChild(el('span', 'conv-when', T.shortWhen(when)));
    main.appendChild(top);
    var bottom = el('span', 'conv-bottom');
    var preview;
    var failed = C.outbox.failedCount(S, c.name);
    if (failed) preview = el('span', 'conv-preview conv-failed', failed === 1 ? '1 message not sent' : failed + ' messages not sent');
    else if (c.last) preview = el('span', 'conv-preview', (c.last.from === me && !self ? 'You: ' : '') + c.last.body.replace(/\s+/g, ' '));
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
    var label = displayName(c.name) + (self ? '' : online ? ', online' : ', offline') + (c.unread ? ', ' + c.unread + ' unread' : '');
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
    var self = current === S.session.username;
    var online = M.isOnline(S, current);
    setText($('chat-name'), displayName(current));
    var avatar = $('chat-avatar');
    setText(avatar, self ? '\u270e' : initial(current));
    avatar.className = 'avatar' + (self ? ' avatar-self' : '');
    var status = $('chat-status');
    if (self) {
      setText(status, 'Only you see these. They reach all your devices.');
      status.className = 'chat-status';
    } else {
      setText(status, online ? 'Online' : 'Offline');
      status.className = 'chat-status ' + (online ? 'status-on' : 'status-off');
    }
    $('composer-input').setAttribute('placeholder', self ? 'Write a note to yourself' : 'Message ' + current);
  }

  function actionButton(className, text, action, clientId) {
    var btn = el('button', className, text);
    btn.setAttribute('type', 'button');
    btn.setAttribute('data-action', action);
    if (clientId !== undefined) btn.setAttribute('data-cid', clientId);
    return btn;
  }

  // One message; pending: its outbox item when it is not confirmed yet.
  function messageNode(m, mine, pending) {
    var row = el('div', 'msg ' + (mine ? 'mine' : 'theirs') + (pending ? ' ' + pending.state : ''));
    if (!pending) row.setAttribute('data-id', String(m.id));
    var bubble = el('div', 'bubble');
    var text = el('div', 'text', m.body);
    text.setAttribute('dir', 'auto'); // right-to-left messages laid out as such
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

  // Everything inside the message box, as a fragment.
  function chatContent(c) {
    var current = S.current;
    var me = S.session.username;
    var frag = window.document.createDocumentFragment();
    if (c.loadingOlder) frag.appendChild(el('div', 'history-note', 'Loading older messages\u2026'));
    else if (c.loaded && c.hasMore) frag.appendChild(actionButton('link history-more', 'Load older messages', 'older'));
    else if (c.loaded && c.msgs.length) {
      frag.appendChild(
        el(
          'div',
          'history-note',
          current === me ? 'This is where your notes begin.' : 'This is the start of your conversation with ' + current + '.'
        )
      );
    }
    var lastDay = null;
    for (var i = 0; i < c.msgs.length; i++) {
      var m = c.msgs[i];
      var when = T.parseTime(m.sent_at);
      if (when && (!lastDay || !T.sameDay(lastDay, when))) {
        var sep = el('div', 'day');
        sep.appendChild(el('span', null, T.dayText(when)));
        frag.appendChild(sep);
        lastDay = when;
      }
      frag.appendChild(messageNode(m, m.from === me, null));
    }
    var pendingHere = 0;
    for (var j = 0; j < S.outbox.length; j++) {
      if (S.outbox[j].to === current) {
        pendingHere++;
        frag.appendChild(messageNode({ body: S.outbox[j].body }, true, S.outbox[j]));
      }
    }
    if (c.loading) {
      frag.appendChild(el('div', 'history-note', 'Loading messages\u2026'));
    } else if (c.loadError) {
      var errBox = el('div', 'chat-error');
      errBox.appendChild(el('p', null, 'Could not load the messages: ' + c.loadError));
      errBox.appendChild(actionButton('primary small', 'Try again', 'reload'));
      frag.appendChild(errBox);
    } else if (c.loaded && !c.msgs.length && !pendingHere) {
      var empty = el('div', 'chat-empty');
      empty.appendChild(el('p', 'chat-empty-title', current === me ? 'No notes yet' : 'No messages yet'));
      empty.appendChild(
        el(
          'p',
          null,
          current === me
            ? 'Write something below. Notes to self appear on every device you are logged in on.'
            : 'Say hello to ' + current + '. Messages appear here as soon as they are sent.'
        )
      );
      frag.appendChild(empty);
    }
    return frag;
  }

  // opts.toBottom: scroll to the newest; opts.keepBottomOffset: older messages were added
  // above, keep what the reader was looking at in place.
  function renderChat(opts) {
    opts = opts || {};
    if (!S.session) return;
    show($('placeholder'), !S.current);
    show($('chat'), !!S.current);
    if (!S.current) return;
    var box = $('messages');
    var wasNearBottom = isNearBottom();
    // A message from the other person arrived out of sight: say so ("New messages").
    if (S.incoming && !wasNearBottom) S.newBelow = true;
    S.incoming = false;
    if (S.chatDirty) {
      S.chatDirty = false;
      var oldHeight = box.scrollHeight;
      var oldTop = box.scrollTop;
      var frag = chatContent(M.conversation(S, S.current));
      D.clear(box);
      box.appendChild(frag);
      if (opts.keepBottomOffset) box.scrollTop = box.scrollHeight - oldHeight + oldTop;
      else if (opts.toBottom || wasNearBottom) box.scrollTop = box.scrollHeight;
      else box.scrollTop = oldTop;
    } else if (opts.toBottom) {
      box.scrollTop = box.scrollHeight;
    }
    if (isNearBottom()) S.newBelow = false;
    show($('new-below'), S.newBelow);
  }

  function renderAll() {
    renderConversationList();
    renderChatHead();
    renderChat();
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
  // Opening and closing conversations

  function openConversation(name) {
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
    renderChat({ toBottom: true });
    if (!c.loaded && !c.loading) C.sync.loadHistory(c);
    else C.sync.maybeMarkRead();
    input.value = S.drafts.get(name) || '';
    D.focus(input);
  }

  function closeConversation() {
    var closed = S.current;
    if (closed) S.drafts.set(closed, $('composer-input').value);
    S.current = null;
    D.removeClass($('app'), 'chat-open');
    renderConversationList();
    renderChat();
    // The keyboard goes back to where the reader came from: that conversation in the list.
    var btn = closed === null ? null : listButton(closed);
    if (btn) D.focus(btn);
  }

  // The reader asked to jump to the newest message.
  function scrollToNewest() {
    var box = $('messages');
    box.scrollTop = box.scrollHeight;
    S.newBelow = false;
    show($('new-below'), false);
    C.sync.maybeMarkRead();
  }

  C.views = {
    isNearBottom: isNearBottom,
    initial: initial,
    showConnState: showConnState,
    renderConversationList: renderConversationList,
    updateTitle: updateTitle,
    renderChatHead: renderChatHead,
    renderChat: renderChat,
    renderAll: renderAll,
    notify: notify,
    openConversation: openConversation,
    closeConversation: closeConversation,
    scrollToNewest: scrollToNewest
  };
})(window);
