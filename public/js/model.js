// Kept whole though over 400 lines (#12): all are transitions of one state sharing its invariants.
/*
 * The chat page, file 4 of 19: the state, and every change to it that needs neither the
 * network nor the document (the outbox's are in outbox.js). Each function takes the state (st) it changes and reports what
 * its caller must still do (save the outbox, refresh the counts), so it can be tested under
 * Node (test/unit/page-model.test.ts). Chat.state is the page's one state object: it is never
 * replaced, only changed, so other files may keep a reference to it.
 */
(function (window) {
  'use strict';

  var C = window.Chat;
  var U = C.util;
  var Dict = U.Dict;

  function newState() {
    return {
      session: null, // {token, username, deviceId, deviceName}
      sessionGen: 0, // bumped whenever a session starts or ends; stale answers are dropped
      convs: new Dict(), // conversation key (a username, or "#" and a group's id: groups.js) -> conversation
      current: null, // key of the open conversation
      online: new Dict(), // username -> true
      outbox: [], // messages not yet confirmed by the server, in the order written
      drafts: new Dict(), // conversation key -> what was being written there
      groupAsks: [], // changes to groups this page asked for, until their event arrives (groups.js)
      lineSeq: 0, // numbers the quiet lines (membership changes) in conversations
      linesDirty: false, // a quiet line was added since the view was last stored
      savedLines: new Dict(), // conversation key -> quiet lines kept from before a reload, until it is created
      chatDirty: true, // the open conversation's message list needs redrawing
      incoming: false, // a message from the other person was added to it since the last drawing
      newBelow: false, // the reader is scrolled up and new messages arrived below
      connState: 'connecting'
    };
  }

  // A session starts: nothing of the previous one is kept (the outbox is restored by send.js).
  function beginSession(st, session) {
    st.session = session;
    st.sessionGen += 1;
    st.convs = new Dict();
    st.current = null;
    st.online = new Dict();
    st.drafts = new Dict();
    st.outbox = [];
    st.groupAsks = [];
    st.savedLines = new Dict();
    st.chatDirty = true;
    st.incoming = false;
    st.newBelow = false;
  }

  function endSession(st) {
    st.session = null;
    st.sessionGen += 1;
    st.convs = new Dict();
    st.outbox = [];
    st.current = null;
    st.drafts = new Dict();
    st.groupAsks = [];
    st.savedLines = new Dict();
  }

  // ---------------------------------------------------------------------------------------
  // Conversations and messages

  // name: the conversation's key (a username, or "#" and a group id: see groups.js).
  function newConversation(name) {
    return {
      name: name,
      group: null, // a group's GROUP, as the server last said (groups.js)
      member: true, // false once we left or were removed from the group
      lines: [], // quiet lines {seq, after: the newest message id when it happened, text}
      last: null, // newest message we know of
      maxId: 0, // its id: any message with id <= maxId is already counted
      maxIncomingId: 0, // newest message from the other person
      unread: 0,
      readUpTo: 0, // the read marker, as far as we know
      readPosting: false,
      // Messages are kept only once the history is loaded (or loading): from then on, the
      // history plus every later event is the complete tail of the conversation.
      msgs: [],
      byId: new Dict(),
      loaded: false,
      loading: false,
      loadGen: 0,
      loadError: null,
      hasMore: false,
      loadingOlder: false,
      // Opened at a search result (search.js): the loaded messages stop short of the newest.
      hasNewer: false,
      loadingNewer: false,
      touched: 0 // when a conversation without messages was opened, for ordering
    };
  }

  // A new conversation, with the quiet lines kept for it across a reload, if any.
  function createConversation(st, name) {
    var c = newConversation(name);
    var kept = st.savedLines.get(name);
    if (kept) {
      c.lines = kept;
      st.savedLines.remove(name);
    }
    return c;
  }

  // The conversation with key `name`, created if new.
  function conversation(st, name) {
    return st.convs.get(name) || st.convs.set(name, createConversation(st, name));
  }

  // A 1:1 message has `to`; a group message has `group` (a number) and "to": null.
  function validMessage(m) {
    return (
      !!m &&
      typeof m.id === 'number' &&
      typeof m.from === 'string' &&
      typeof m.body === 'string' &&
      (typeof m.to === 'string' || (typeof m.group === 'number' && m.group > 0))
    );
  }

  // Adds m to the loaded messages in id order; false if it was there already.
  function insertMessage(c, m) {
    if (c.byId.has(m.id)) return false;
    c.byId.set(m.id, m);
    var i = c.msgs.length;
    while (i > 0 && c.msgs[i - 1].id > m.id) i--;
    c.msgs.splice(i, 0, m);
    return true;
  }

  // Applies one message from anywhere (history, poll, send answer). Idempotent. Returns true
  // if it confirmed a message of the outbox (which the caller then saves).
  function receiveMessage(st, m) {
    if (!validMessage(m) || !st.session) return false;
    var me = st.session.username;
    var other = C.groups.messageKey(me, m);
    var c = conversation(st, other);
    var confirmed = m.from === me && !!m.client_id && C.outbox.remove(st, m.client_id);
    // While the newer messages are not loaded (search.js), a new one would leave a gap.
    if ((c.loaded || c.loading) && !c.hasNewer && insertMessage(c, m) && other === st.current) {
      st.chatDirty = true;
      if (m.from !== me) st.incoming = true;
    }
    if (m.id > c.maxId) {
      c.maxId = m.id;
      c.last = m;
      if (m.from !== me) {
        c.maxIncomingId = m.id;
        if (m.id > c.readUpTo) c.unread += 1;
      }
    }
    return confirmed;
  }

  // A read marker (ours, from any of our devices). Returns true when the unread count cannot
  // be worked out here and must be asked for (GET /conversations).
  function applyRead(st, name, upTo) {
    if (typeof name !== 'string' || typeof upTo !== 'number' || !st.convs.has(name) || !st.session) return false;
    var c = st.convs.get(name);
    if (upTo > c.readUpTo) c.readUpTo = upTo;
    if (c.readUpTo >= c.maxIncomingId) {
      c.unread = 0;
    } else if (c.loaded && c.msgs.length && c.msgs[0].id <= c.readUpTo) {
      var n = 0;
      for (var i = 0; i < c.msgs.length; i++) {
        if (c.msgs[i].id > c.readUpTo && c.msgs[i].from !== st.session.username) n++;
      }
      // A read marker only moves forward, so the count can only fall.
      if (n < c.unread) c.unread = n;
    } else {
      return true;
    }
    return false;
  }

  // The events of one poll answer. Returns {outbox: an outbox message was confirmed,
  // refresh: the unread counts must be asked for, heardFrom: a message from someone else
  // arrived (who is online may have changed), reload: conversations whose history must be
  // loaded again (a group we were added back to)}.
  function applyEvents(st, events) {
    var out = { outbox: false, refresh: false, heardFrom: false, reload: [] };
    for (var i = 0; i < events.length; i++) {
      var ev = events[i];
      if (!ev) continue;
      if (ev.type === 'message') {
        if (receiveMessage(st, ev.message)) out.outbox = true;
        if (validMessage(ev.message) && st.session && ev.message.from !== st.session.username) out.heardFrom = true;
      } else if (ev.type === 'read') {
        var key = typeof ev.group === 'number' ? C.groups.keyOf(ev.group) : C.groups.isKey(ev['with']) ? null : ev['with'];
        if (applyRead(st, key, ev.up_to)) out.refresh = true;
      } else if (ev.type === 'group') {
        var reload = C.groups.applyEvent(st, ev).reload;
        if (reload) out.reload.push(reload);
      }
    }
    return out;
  }

  function forgetMessages(c) {
    c.hasNewer = false;
    c.loadingNewer = false;
    c.msgs = [];
    c.byId = new Dict();
    c.loaded = false;
    c.loading = false;
    c.loadGen += 1;
  }

  // The key of a row of GET /conversations ({"with": name} or {"group": GROUP}), or null.
  function rowKey(row) {
    if (!row) return null;
    if (typeof row['with'] === 'string') return C.groups.isKey(row['with']) ? null : row['with'];
    var g = C.groups.cleanGroup(row.group);
    return g ? C.groups.keyOf(g.id) : null;
  }

  // The answer of GET /conversations: the truth about every conversation.
  function applySnapshot(st, list) {
    var me = st.session.username;
    var fresh = new Dict();
    for (var i = 0; i < list.length; i++) {
      var row = list[i];
      var key = rowKey(row);
      if (key === null) continue;
      var c = st.convs.get(key) || createConversation(st, key);
      if (typeof row['with'] !== 'string') C.groups.applySnapshotRow(c, C.groups.cleanGroup(row.group));
      // The snapshot is the truth: forget cached messages, they may have a gap in them.
      forgetMessages(c);
      c.hasMore = false;
      c.loadingOlder = false;
      c.loadError = null;
      c.unread = typeof row.unread === 'number' ? row.unread : 0;
      c.last = validMessage(row.last_message) ? row.last_message : null;
      c.maxId = c.last ? c.last.id : 0;
      // When the newest message is our own, the newest incoming one is unknown: assume the
      // worst, so a read marker below it never clears the count by mistake.
      c.maxIncomingId = c.last && (c.last.from !== me || c.unread > 0) ? c.last.id : 0;
      c.readUpTo = c.unread === 0 ? c.maxId : 0;
      fresh.set(c.name, c);
    }
    // Keep conversations opened here that have no messages yet (not groups: one we are in is
    // in the snapshot).
    var names = st.convs.keys();
    for (var j = 0; j < names.length; j++) {
      var keep = st.convs.get(names[j]);
      if (!fresh.has(names[j]) && keep.maxId === 0 && !C.groups.isKey(names[j])) {
        forgetMessages(keep);
        fresh.set(names[j], keep);
      }
    }
    st.convs = fresh;
    conversation(st, me); // notes to self are always there
    if (st.current) conversation(st, st.current);
    st.chatDirty = true;
  }

  // A later GET /conversations, asked for by applyRead: only the unread counts are taken,
  // and only where the newest message is the one we know (messages and markers keep coming
  // from the stream).
  function applyUnreadCounts(st, list) {
    for (var i = 0; i < list.length; i++) {
      var row = list[i];
      var key = rowKey(row);
      var c = key === null ? undefined : st.convs.get(key);
      if (c && typeof row.unread === 'number' && row.last_message && row.last_message.id === c.maxId) {
        c.unread = row.unread;
      }
    }
  }

  // The history of c is (re)loaded from the newest page: what is cached is forgotten. Returns
  // the load's generation; answers of an older one are ignored.
  function startHistory(c) {
    c.loadGen += 1;
    c.loading = true;
    c.loaded = false;
    c.loadError = null;
    c.msgs = [];
    c.byId = new Dict();
    c.hasMore = false;
    c.hasNewer = false;
    c.loadingNewer = false;
    return c.loadGen;
  }

  // The newest page of history arrived.
  function applyHistory(st, c, list, hasMore) {
    c.loading = false;
    for (var i = 0; i < list.length; i++) {
      if (validMessage(list[i])) insertMessage(c, list[i]);
    }
    c.loaded = true;
    c.hasMore = !!hasMore;
    var newest = c.msgs.length ? c.msgs[c.msgs.length - 1] : null;
    if (newest && newest.id > c.maxId) {
      c.maxId = newest.id;
      c.last = newest;
    }
    for (var j = c.msgs.length - 1; j >= 0; j--) {
      if (c.msgs[j].from !== st.session.username) {
        if (c.msgs[j].id > c.maxIncomingId) c.maxIncomingId = c.msgs[j].id;
        break;
      }
    }
  }

  // An older page of history arrived.
  function applyOlder(c, list, hasMore) {
    c.loadingOlder = false;
    for (var i = 0; i < list.length; i++) {
      if (validMessage(list[i])) insertMessage(c, list[i]);
    }
    c.hasMore = !!hasMore;
  }

  // The open conversation is being read: returns the id to post as read up to (counting it
  // read at once), or null when there is nothing to post.
  function startRead(c) {
    if (!c.loaded || c.readPosting) return null;
    if (!(c.unread > 0 || c.maxIncomingId > c.readUpTo)) return null;
    c.readPosting = true;
    c.unread = 0;
    return c.maxId;
  }

  // The server answered POST /read; settled: the marker is where it will stay (stored, or
  // refused in a way retrying would not change).
  function finishRead(c, upTo, settled) {
    c.readPosting = false;
    if (settled && upTo > c.readUpTo) c.readUpTo = upTo;
  }

  // The conversation list: newly started, still empty conversations first, then the most
  // recent message first. Notes to self are not in it (they are always at the top).
  function sortedConversations(st) {
    var me = st.session ? st.session.username : null;
    var all = st.convs.values();
    var list = [];
    for (var i = 0; i < all.length; i++) if (all[i].name !== me) list.push(all[i]);
    list.sort(function (a, b) {
      if (!a.maxId || !b.maxId) {
        if (!a.maxId && !b.maxId) return b.touched - a.touched;
        return a.maxId ? 1 : -1;
      }
      return b.maxId - a.maxId;
    });
    return list;
  }

  function totalUnread(st) {
    var all = st.convs.values();
    var total = 0;
    for (var i = 0; i < all.length; i++) total += all[i].unread;
    return total;
  }

  // The answer of GET /presence.
  function setOnline(st, names) {
    st.online = new Dict();
    for (var i = 0; i < names.length; i++) if (typeof names[i] === 'string') st.online.set(names[i], true);
  }

  // Whether the page can say who is online: only while it reaches the server (#14).
  function presenceKnown(st) {
    return st.connState === 'connected';
  }

  function isOnline(st, name) {
    return presenceKnown(st) && !C.groups.isKey(name) && st.online.get(name) === true;
  }

  // A name that turned out to be no user, or a group we are not in (any more). Returns true if
  // the outbox changed.
  function forgetConversation(st, name) {
    var c = st.convs.get(name);
    if (c && (c.maxId === 0 || C.groups.isKey(name)) && name !== (st.session && st.session.username)) st.convs.remove(name);
    // Messages written to a name that turned out to be no user, or to a group we are not in,
    // could never be sent, and with the conversation gone they would be nowhere to see: drop
    // them with it.
    return C.outbox.dropTo(st, name);
  }

  C.model = {
    newState: newState,
    beginSession: beginSession,
    endSession: endSession,
    newConversation: newConversation,
    conversation: conversation,
    validMessage: validMessage,
    insertMessage: insertMessage,
    receiveMessage: receiveMessage,
    applyRead: applyRead,
    applyEvents: applyEvents,
    rowKey: rowKey,
    applySnapshot: applySnapshot,
    forgetMessages: forgetMessages,
    applyUnreadCounts: applyUnreadCounts,
    startHistory: startHistory,
    applyHistory: applyHistory,
    applyOlder: applyOlder,
    startRead: startRead,
    finishRead: finishRead,
    sortedConversations: sortedConversations,
    totalUnread: totalUnread,
    setOnline: setOnline,
    isOnline: isOnline,
    presenceKnown: presenceKnown,
    forgetConversation: forgetConversation
  };

  C.state = newState();
})(window);
