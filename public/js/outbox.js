/*
 * The chat page, file 6 of 19: the outbox, the messages written here that the server has not
 * confirmed yet. Pure, like model.js: each function takes the state (st) and changes its
 * outbox; send.js stores it and sends it. The order written is the order sent: one message
 * at a time, and a message retried keeps its place.
 *
 * One item: {client_id, to (the conversation's key: a username, or "#" and a group's id, see
 * groups.js), body, state: queued|sending|failed, error (what to show),
 * auto (failed for want of a connection: goes again by itself once the poll reconnects),
 * createdAt, firstTry (when its current retry period began), attempts}.
 */
(function (window) {
  'use strict';

  var C = window.Chat;
  var U = C.util;

  function queue(st, to, body, clientId, nowMs) {
    var item = {
      client_id: clientId,
      to: to,
      body: body,
      state: 'queued',
      error: null,
      auto: false,
      createdAt: nowMs,
      firstTry: nowMs,
      attempts: 0
    };
    st.outbox.push(item);
    if (to === st.current) st.chatDirty = true;
    var c = C.model.conversation(st, to);
    if (!c.maxId) c.touched = nowMs;
    return item;
  }

  function find(st, clientId) {
    for (var i = 0; i < st.outbox.length; i++) if (st.outbox[i].client_id === clientId) return i;
    return -1;
  }

  // Returns true if there was such an item.
  function remove(st, clientId) {
    var i = find(st, clientId);
    if (i < 0) return false;
    var item = st.outbox[i];
    st.outbox.splice(i, 1);
    if (item.to === st.current) st.chatDirty = true;
    return true;
  }

  // The next message to send: the first queued one.
  function nextQueued(st) {
    for (var i = 0; i < st.outbox.length; i++) if (st.outbox[i].state === 'queued') return st.outbox[i];
    return null;
  }

  // A send gave up. auto: for want of a connection, and then everything queued behind it
  // would fail the same way, so it is marked failed (and auto) too.
  function markFailed(st, item, error, auto) {
    item.state = 'failed';
    item.error = error;
    item.auto = auto;
    if (!auto) return;
    for (var j = 0; j < st.outbox.length; j++) {
      var o = st.outbox[j];
      if (o.state === 'queued') {
        o.state = 'failed';
        o.error = error;
        o.auto = true;
      }
    }
  }

  // Messages that failed only because the connection was down go out again, in the order
  // they were written; ones the server refused wait for the user. Every queued message gets a
  // fresh retry period. Returns true if any failed message was queued again.
  function requeueAfterReconnect(st, nowMs) {
    var any = false;
    for (var i = 0; i < st.outbox.length; i++) {
      var item = st.outbox[i];
      if (item.state === 'failed' && item.auto) {
        item.state = 'queued';
        item.error = null;
        item.auto = false;
        any = true;
      }
      if (item.state === 'queued') {
        item.firstTry = nowMs;
        item.attempts = 0;
      }
    }
    return any;
  }

  // The user asked to retry a message. Left in its place: the outbox goes out in the order
  // written, so a retried message still comes before the ones written after it that have not
  // gone out either. Returns false if there is no such message.
  function retry(st, clientId, nowMs) {
    var i = find(st, clientId);
    if (i < 0) return false;
    var item = st.outbox[i];
    item.state = 'queued';
    item.error = null;
    item.auto = false;
    item.firstTry = nowMs;
    item.attempts = 0;
    return true;
  }

  // The user deleted a message that was not sent. Returns false if there is no such failed one.
  function discard(st, clientId) {
    var i = find(st, clientId);
    if (i < 0 || st.outbox[i].state !== 'failed') return false;
    var to = st.outbox[i].to;
    st.outbox.splice(i, 1);
    if (to === st.current) st.chatDirty = true;
    return true;
  }

  // Messages that would be lost by ending the session now (sendingBusy: one is in flight).
  function unsentCount(st, sendingBusy) {
    var n = 0;
    for (var i = 0; i < st.outbox.length; i++) if (st.outbox[i].state !== 'sending') n++;
    return n + (sendingBusy ? 1 : 0);
  }

  function failedCount(st, name) {
    var n = 0;
    for (var i = 0; i < st.outbox.length; i++) if (st.outbox[i].to === name && st.outbox[i].state === 'failed') n++;
    return n;
  }

  // What is stored of the outbox (a message being sent is stored as queued: after a reload
  // it goes again, and its client_id keeps it from doubling).
  function toSave(st) {
    var keep = [];
    for (var i = 0; i < st.outbox.length; i++) {
      var o = st.outbox[i];
      keep.push({
        client_id: o.client_id,
        to: o.to,
        body: o.body,
        state: o.state === 'failed' ? 'failed' : 'queued',
        error: o.error,
        auto: !!o.auto,
        createdAt: o.createdAt
      });
    }
    return keep;
  }

  // The outbox from what was stored (anything malformed is skipped).
  function fromSaved(saved, nowMs) {
    var out = [];
    if (!U.isArray(saved)) return out;
    for (var i = 0; i < saved.length; i++) {
      var o = saved[i];
      if (o && typeof o.client_id === 'string' && typeof o.to === 'string' && typeof o.body === 'string') {
        out.push({
          client_id: o.client_id,
          to: o.to,
          body: o.body,
          state: o.state === 'failed' ? 'failed' : 'queued',
          error: o.error || null,
          auto: !!o.auto,
          createdAt: o.createdAt || nowMs,
          firstTry: nowMs,
          attempts: 0
        });
      }
    }
    return out;
  }

  // Drops the messages written to `name` (a name that turned out to be no user, or a group we
  // are not in), except one being sent. Returns true if any was dropped.
  function dropTo(st, name) {
    var kept = [];
    for (var i = 0; i < st.outbox.length; i++) if (st.outbox[i].to !== name || st.outbox[i].state === 'sending') kept.push(st.outbox[i]);
    if (kept.length === st.outbox.length) return false;
    st.outbox = kept;
    return true;
  }

  C.outbox = {
    queue: queue,
    find: find,
    remove: remove,
    nextQueued: nextQueued,
    markFailed: markFailed,
    requeueAfterReconnect: requeueAfterReconnect,
    retry: retry,
    discard: discard,
    dropTo: dropTo,
    unsentCount: unsentCount,
    failedCount: failedCount,
    toSave: toSave,
    fromSaved: fromSaved
  };
})(window);
