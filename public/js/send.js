/*
 * The chat page, file 10 of 19: sending. Optimistic display, a client_id per message so retries
 * never duplicate, and a strict order: one send at a time, the next only after the previous
 * one is settled. The outbox itself (its order, its states) is in outbox.js; here it is kept
 * in storage and sent.
 */
(function (window) {
  'use strict';

  var C = window.Chat;
  var U = C.util;
  var M = C.model;
  var O = C.outbox;
  var S = C.state;
  var cfg = C.config;

  var sender = { busy: false, timer: null, gen: 0 };

  // Keeps the outbox in storage, so a reload (or a crash) loses nothing written.
  function save() {
    if (!S.session) return;
    var keep = O.toSave(S);
    var key = C.storage.outboxKey(S.session.username);
    if (keep.length) C.storage.save(key, JSON.stringify(keep));
    else C.storage.drop(key);
  }

  // A session starts: what it left unsent last time is back in the outbox.
  function restore() {
    S.outbox = O.fromSaved(C.storage.loadJson(C.storage.outboxKey(S.session.username)), U.now());
  }

  // Stops sending (the session starts or ends): an answer still on its way is ignored.
  function reset() {
    sender.gen += 1;
    sender.busy = false;
    if (sender.timer) {
      clearTimeout(sender.timer);
      sender.timer = null;
    }
  }

  function unsentCount() {
    return O.unsentCount(S, sender.busy);
  }

  function queue(to, body) {
    O.queue(S, to, body, U.newClientId(), U.now());
    save();
    C.chatView.renderChat({ toBottom: true });
    C.views.renderConversationList();
    pump();
  }

  // Worth trying again: no answer, a time-out, too busy, a server error, or a success that
  // did not carry the message.
  function retryable(res) {
    return res.status === 0 || res.status === 408 || res.status === 429 || res.status >= 500 || (res.ok && !(res.data && res.data.message));
  }

  // What the page says under a message that was not sent.
  function sendError(res) {
    if (!res.error) return 'The server sent something unexpected.';
    switch (res.error.code) {
      case 'network':
        return 'Not sent yet: no connection. It goes out when the connection is back.';
      case 'timeout':
        return 'Not sent yet: the server did not answer. It goes out when the connection is back.';
      case 'user_not_found':
        return 'Not sent: there is no such user.';
      case 'not_found':
        return 'Not sent: you are not in this group.';
      case 'payload_too_large':
        return 'Not sent: the message is too long.';
      case 'rate_limited':
        return 'Not sent: too many messages, slow down a little.';
      default:
        return 'Not sent: ' + res.error.message;
    }
  }

  function pump() {
    if (!S.session || sender.busy || sender.timer) return;
    var item = O.nextQueued(S);
    if (!item) return;
    sender.busy = true;
    item.state = 'sending';
    var gen = sender.gen;
    var groupId = C.groups.idOf(item.to);
    var body = groupId
      ? { group: groupId, body: item.body, client_id: item.client_id }
      : { to: item.to, body: item.body, client_id: item.client_id };
    C.http.api('POST', '/messages', body, function (res) {
      if (gen !== sender.gen) return;
      sender.busy = false;
      if (res.ok && res.data && M.validMessage(res.data.message)) {
        M.receiveMessage(S, res.data.message);
        O.remove(S, item.client_id);
        save();
        C.views.renderAll();
        pump();
        return;
      }
      if (O.find(S, item.client_id) < 0) {
        pump();
        return;
      } // confirmed by the stream meanwhile
      if (res.status === 0) C.sync.connectionLost(res);
      var delay = U.backoffDelay(item.attempts + 1, res.retryAfterMs);
      if (retryable(res) && U.now() + delay - item.firstTry < cfg.SEND_RETRY_FOR_MS) {
        item.state = 'queued';
        item.attempts += 1;
        if (item.attempts === 1 && item.to === S.current) {
          S.chatDirty = true;
          C.chatView.renderChat();
        }
        sender.timer = setTimeout(function () {
          sender.timer = null;
          if (gen === sender.gen) pump();
        }, delay);
        return;
      }
      // Failed for want of a connection (auto): sent again by itself once the poll reconnects.
      O.markFailed(S, item, sendError(res), retryable(res));
      save();
      S.chatDirty = true;
      C.views.renderAll();
      pump();
    });
  }

  // The poll has just reached the server: messages that failed for want of a connection go
  // out again, and a send waiting out its back-off goes now.
  function requeueAfterReconnect() {
    var any = O.requeueAfterReconnect(S, U.now());
    if (sender.timer) {
      clearTimeout(sender.timer);
      sender.timer = null;
    }
    if (any) {
      save();
      S.chatDirty = true;
      C.views.renderAll();
    }
    pump();
  }

  function retry(clientId) {
    if (!O.retry(S, clientId, U.now())) return;
    save();
    S.chatDirty = true;
    C.views.renderAll();
    pump();
  }

  function discard(clientId) {
    if (!O.discard(S, clientId)) return;
    save();
    C.views.renderAll();
  }

  C.send = {
    save: save,
    restore: restore,
    reset: reset,
    unsentCount: unsentCount,
    queue: queue,
    pump: pump,
    requeueAfterReconnect: requeueAfterReconnect,
    retry: retry,
    discard: discard,
    retryable: retryable,
    sendError: sendError
  };
})(window);
