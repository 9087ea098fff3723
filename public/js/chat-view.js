/*
 * The chat page, file 12 of 19: drawing the open conversation. Its head (name, who is online or
 * in the group, the composer closed for a group we left) and its messages, with the day
 * separators, the groups' quiet lines, the messages not sent yet and the history buttons. The
 * pane is brought to what the state says node by node, never rebuilt (see reconcile).
 */
(function (window) {
  'use strict';

  var C = window.Chat;
  var U = C.util;
  var T = C.time;
  var D = C.dom;
  var M = C.model;
  var S = C.state;
  var V = C.views;
  var $ = D.$,
    el = D.el,
    show = D.show,
    setText = D.setText;

  function renderChatHead() {
    var current = S.current;
    if (!current || !S.session) return;
    var me = S.session.username;
    var self = current === me;
    var c = M.conversation(S, current);
    var isGroup = C.groups.isKey(current);
    var online = M.isOnline(S, current);
    var name = V.displayName(current);
    setText($('chat-name'), name);
    V.setDir($('chat-name'), name);
    var avatar = $('chat-avatar');
    setText(avatar, self ? '\u270e' : V.initial(name));
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
    var wasNearBottom = V.isNearBottom() && !M.conversation(S, S.current).hasNewer;
    // A message from the other person arrived out of sight: say so ("New messages").
    if (S.incoming && !wasNearBottom) S.newBelow = true;
    S.incoming = false;
    if (S.chatDirty) {
      S.chatDirty = false;
      var before = V.scrollState();
      reconcile($('messages'), chatItems(M.conversation(S, S.current)));
      var after = V.scrollState();
      if (opts.keepBottomOffset) V.setScrollTop(after.height - before.height + before.top);
      else if (opts.toBottom || wasNearBottom) V.setScrollTop(after.height);
      else if (after.top !== before.top) V.setScrollTop(before.top);
    } else if (opts.toBottom) {
      V.setScrollTop(V.scrollState().height);
    }
    if (V.isNearBottom()) S.newBelow = false;
    show($('new-below'), S.newBelow);
  }

  C.chatView = {
    renderChatHead: renderChatHead,
    renderChat: renderChat
  };
})(window);
