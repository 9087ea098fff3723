/*
 * The chat page, file 7 of 19: staying in sync with the server. The poll loop and the
 * connection state; what else is fetched is history.js's (history, unread counts, read
 * markers) and presence.js's (who is online).
 *
 * How the page stays exactly in sync (see syncFromScratch and poll below):
 *  1. Load a snapshot: GET /conversations (last message and unread count per conversation).
 *  2. Only then start polling, from a cursor no later than the snapshot: the cursor from
 *     POST /sessions right after logging in, otherwise no `since` at all so the server uses
 *     this device's stored cursor (the furthest it polled with, which never runs ahead of what
 *     this device has applied). Events replayed from before the snapshot are recognised by
 *     message id (ids only grow) and change nothing, so nothing is missed and nothing doubles.
 *  3. Each answer's cursor is sent back on the next poll, straight away. Errors back off with
 *     jitter (1 s doubling to 60 s), or wait what Retry-After says; the cursor is kept, so a
 *     dropped connection or a restarted server costs no events. While the server cannot be
 *     reached, a cheap GET /healthz every couple of seconds brings the poll back within
 *     seconds of the server's return (see the health check below).
 *  4. 400 invalid_cursor means our cursor is meaningless to this server (say, a database
 *     restored from a backup). Then the page throws away what it knows and starts again at 1
 *     without `since`: the server's stored cursor for this device is valid by construction.
 *     401 means the token is gone (logged out or revoked elsewhere): back to the log-in screen.
 */
(function (window) {
  'use strict';

  var C = window.Chat;
  var U = C.util;
  var M = C.model;
  var S = C.state;
  var cfg = C.config;

  function api() {
    C.http.api.apply(null, arguments);
  }

  // ---------------------------------------------------------------------------------------
  // Connection state shown to the user: 'connecting', 'connected', 'reconnecting' (the first
  // failure: a blip, being retried at once), or after that what is true (#14): 'offline' (the
  // browser has no network), 'unreachable' (no answer from the chat server), 'busy' (it, or a
  // proxy, said 503 or 429) or 'error' (any other wrong answer). See U.failureKind.

  function setConnState(state) {
    var was = S.connState;
    S.connState = state;
    // Nobody is shown online while the server cannot be reached (#14): what we knew is stale.
    if (state !== 'connected' && was === 'connected') M.setOnline(S, []);
    C.views.showConnState(state, was);
  }

  // ---------------------------------------------------------------------------------------
  // The poll loop

  var poller = { gen: 0, handle: null, timer: null, cursor: null, failures: 0, probe: false, retry: null, startedAt: 0 };

  // The path of the next poll: probe (after an error) asks for an answer at once.
  function pollPath(cursor, probe) {
    var path = '/poll?timeout=' + (probe ? 0 : cfg.POLL_HOLD_S);
    if (cursor) path += '&since=' + encodeURIComponent(cursor);
    return path;
  }

  function stopPoller() {
    poller.gen += 1;
    if (poller.handle) {
      poller.handle.abort();
      poller.handle = null;
    }
    if (poller.timer) {
      clearTimeout(poller.timer);
      poller.timer = null;
    }
    poller.retry = null;
    stopHealthCheck();
  }

  function browserOnline() {
    return window.navigator.onLine !== false;
  }

  // A heavy request of the loop (the poll, or the snapshot before it) failed: try it again
  // after a back-off that doubles with each failure, or what Retry-After says. While it waits, and
  // unless the server asked for a pause (Retry-After), GET /healthz is asked every couple of
  // seconds: when the server is back, the heavy request goes at once (see checkHealth).
  function pollerFailed(res, retry) {
    poller.failures += 1;
    // After an error the next poll is a quick one (timeout=0), so "connected" shows as soon
    // as the server answers instead of after a full hold.
    poller.probe = true;
    var delay = U.pollRetryDelay(poller.failures, res.retryAfterMs);
    poller.retry = retry;
    var kind = U.failureKind(res, browserOnline());
    if (kind === 'unreachable' || kind === 'offline') health.sawDown = true;
    setConnState(poller.failures === 1 && kind !== 'offline' ? 'reconnecting' : kind);
    var gen = poller.gen;
    poller.timer = setTimeout(function () {
      poller.timer = null;
      if (gen !== poller.gen) return;
      poller.retry = null;
      retry();
    }, delay);
    if (!res.retryAfterMs) startHealthCheck();
  }

  // ---------------------------------------------------------------------------------------
  // The health check (#14): cheap and often while the server is down, so the page is back
  // within seconds of its return instead of at the end of a back-off grown to a minute. It
  // runs only while the poll waits for its retry (and the server did not ask for a pause with
  // Retry-After), on the poll's connection, so the page still never has more than two
  // requests open. A success brings the retry forward only when the server was seen down
  // since (no answer, a proxy's 502 or 504, or a failed check), and only once: a server that
  // answers /healthz but fails the poll (a 500) keeps the heavy requests' back-off.

  var health = { timer: null, handle: null, sawDown: false };

  function stopHealthCheck() {
    if (health.timer) {
      clearTimeout(health.timer);
      health.timer = null;
    }
    if (health.handle) {
      health.handle.abort();
      health.handle = null;
    }
  }

  function startHealthCheck() {
    if (health.timer || health.handle) return;
    var every = cfg.HEALTH_EVERY_MS;
    health.timer = setTimeout(checkHealth, Math.round(every * 0.75 + Math.random() * every * 0.5));
  }

  function checkHealth() {
    health.timer = null;
    if (!poller.retry || poller.handle || !S.session) return; // nothing is waiting for it
    health.handle = C.http.request('GET', '/healthz', null, null, cfg.HEALTH_ABORT_MS, function (res) {
      health.handle = null;
      if (!poller.retry) return;
      if (res.ok && res.data && res.data.ok === true) {
        // Back: once. If the heavy request fails again for another reason, its back-off runs.
        if (health.sawDown) {
          health.sawDown = false;
          retryNow();
        }
        return;
      }
      health.sawDown = true;
      var kind = U.failureKind(res, browserOnline());
      if (S.connState !== kind) setConnState(kind);
      startHealthCheck();
    });
  }

  // The other connection (a send, say) found the server unreachable, or the browser says it is
  // offline. A held poll may not notice for half a minute (a network that silently drops
  // packets), so say so now: the poll in flight is given up and a quick probe follows. Not
  // when the poll was answered moments ago (unless the browser itself says it is offline):
  // the server is reachable then, and probing again would only make a failing send retry
  // in a tight loop.
  function connectionLost(res, browserOffline) {
    if (!S.session) return;
    if (!browserOffline && poller.handle && U.now() - poller.startedAt < cfg.RECENT_POLL_MS) return;
    if (!poller.handle) {
      // Already failing (the retry is scheduled) or re-syncing: only the words may change.
      if (!browserOnline() && poller.retry && S.connState !== 'offline') setConnState('offline');
      return;
    }
    stopPoller();
    pollerFailed(res, poll);
  }

  function retryNow() {
    if (poller.timer && poller.retry) {
      var retry = poller.retry;
      clearTimeout(poller.timer);
      poller.timer = null;
      poller.retry = null;
      stopHealthCheck();
      retry();
    }
  }

  // The poll loop reached the server again.
  function connected() {
    poller.failures = 0;
    health.sawDown = false;
    stopHealthCheck();
    if (S.connState !== 'connected') setConnState('connected');
  }

  // Step 1 of the sync described at the top: snapshot, then poll.
  function syncFromScratch() {
    stopPoller();
    var gen = poller.gen;
    // A failure already shown stays shown until the snapshot arrives.
    if (S.connState === 'connected' || S.connState === 'connecting') setConnState('connecting');
    api('GET', '/conversations', null, function (res) {
      if (gen !== poller.gen) return;
      var list = res.ok && res.data && U.isArray(res.data.conversations) ? res.data.conversations : null;
      if (!list) {
        pollerFailed(res, syncFromScratch);
        return;
      }
      M.applySnapshot(S, list);
      connected();
      C.views.renderAll();
      if (S.current) C.history.loadHistory(M.conversation(S, S.current));
      C.presence.refresh(cfg.PRESENCE_SETTLE_MS);
      C.send.requeueAfterReconnect();
      poll();
    });
  }

  function poll() {
    stopHealthCheck();
    var gen = poller.gen;
    var probe = poller.probe;
    var sentCursor = poller.cursor;
    var started = U.now();
    poller.startedAt = started;
    poller.handle = C.http.request(
      'GET',
      pollPath(sentCursor, probe),
      null,
      S.session.token,
      probe ? cfg.PROBE_ABORT_MS : cfg.POLL_ABORT_MS,
      function (res) {
        if (gen !== poller.gen) return;
        poller.handle = null;
        if (res.status === 401) {
          C.forms.endSession('signedOut');
          return;
        }
        var data = res.data;
        if (res.ok && data && typeof data.cursor === 'string' && U.isArray(data.events)) {
          var wasDown = poller.failures > 0;
          poller.probe = false;
          poller.cursor = data.cursor;
          connected();
          if (data.events.length) {
            var changed = M.applyEvents(S, data.events);
            if (changed.outbox) C.send.save();
            if (changed.refresh) C.history.refreshCountsSoon();
            // Someone who has just sent us a message has just been there: ask who is online
            // (the server counts a sender as online), rather than wait for the timer.
            if (changed.heardFrom) C.presence.refreshSoon();
            // A group changed: its quiet line is kept for after a reload.
            if (S.linesDirty) C.nav.saveView();
            // Added back to a group: what was said while we were out never reached us.
            for (var r = 0; r < changed.reload.length; r++) {
              if (changed.reload[r].name === S.current) C.history.loadHistory(changed.reload[r]);
              else M.forgetMessages(changed.reload[r]);
            }
            C.views.renderAll();
          }
          C.history.maybeMarkRead();
          if (wasDown) afterReconnect();
          if (!data.events.length && !probe && U.now() - started < cfg.QUICK_EMPTY_MS) {
            poller.timer = setTimeout(
              function () {
                poller.timer = null;
                if (gen === poller.gen) poll();
              },
              1000 + Math.round(Math.random() * 1000)
            );
          } else {
            poll();
          }
          return;
        }
        if (res.status === 400 && res.error && res.error.code === 'invalid_cursor' && sentCursor) {
          // Step 4 at the top: start again from the server's stored cursor for this device.
          poller.cursor = null;
          syncFromScratch();
          return;
        }
        pollerFailed(res, poll);
      }
    );
  }

  function afterReconnect() {
    C.presence.refresh(cfg.PRESENCE_SETTLE_MS);
    var c = S.current ? M.conversation(S, S.current) : null;
    if (c && c.loadError) C.history.loadHistory(c);
    C.send.requeueAfterReconnect();
  }

  // A session starts, polling from cursor (null: this device's stored one).
  function start(cursor) {
    poller.cursor = cursor || null;
    poller.failures = 0;
    poller.probe = false;
    syncFromScratch();
  }

  // The session has ended: no poll, no timers.
  function stop() {
    stopPoller();
    health.sawDown = false;
    C.presence.stop();
    C.history.stop();
  }

  C.sync = {
    start: start,
    stop: stop,
    retryNow: retryNow,
    connectionLost: connectionLost,
    pollPath: pollPath
  };
})(window);
