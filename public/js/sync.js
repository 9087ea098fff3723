/*
 * The chat page, file 6 of 13: staying in sync with the server. The poll loop and the
 * connection state, then what else is fetched: history, unread counts, read markers, presence.
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
      if (S.current) loadHistory(M.conversation(S, S.current));
      refreshPresence(cfg.PRESENCE_SETTLE_MS);
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
            if (changed.refresh) refreshConversationsSoon();
            // Someone who has just sent us a message has just been there: ask who is online
            // (the server counts a sender as online), rather than wait for the timer.
            if (changed.heardFrom) refreshPresenceSoon();
            // A group changed: its quiet line is kept for after a reload.
            if (S.linesDirty) C.views.saveView();
            // Added back to a group: what was said while we were out never reached us.
            for (var r = 0; r < changed.reload.length; r++) {
              if (changed.reload[r].name === S.current) loadHistory(changed.reload[r]);
              else M.forgetMessages(changed.reload[r]);
            }
            C.views.renderAll();
          }
          maybeMarkRead();
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
    refreshPresence(cfg.PRESENCE_SETTLE_MS);
    var c = S.current ? M.conversation(S, S.current) : null;
    if (c && c.loadError) loadHistory(c);
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
    if (presence.timer) {
      clearTimeout(presence.timer);
      presence.timer = null;
    }
    presence.asking = false;
    if (refreshTimer) {
      clearTimeout(refreshTimer);
      refreshTimer = null;
    }
  }

  // ---------------------------------------------------------------------------------------
  // Conversations, history, read markers, presence

  var refreshTimer = null;
  function refreshConversationsSoon() {
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
        C.views.renderChat();
        return;
      }
      M.applyHistory(S, c, res.data.messages, res.data.has_more);
      if (c.name === S.current) {
        S.chatDirty = true;
        C.views.renderChat({ toBottom: true });
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
    C.views.renderChat();
    api('GET', '/messages?' + conversationQuery(c) + '&limit=' + cfg.HISTORY_PAGE + '&before=' + before, null, function (res) {
      if (gen !== c.loadGen) return;
      if (!res.ok || !res.data || !U.isArray(res.data.messages)) {
        c.loadingOlder = false;
        C.views.notify('Could not load older messages: ' + (res.error ? res.error.message : 'unexpected answer'));
        S.chatDirty = true;
        C.views.renderChat();
        return;
      }
      M.applyOlder(c, res.data.messages, res.data.has_more);
      if (c.name === S.current) {
        S.chatDirty = true;
        C.views.renderChat({ keepBottomOffset: true });
        maybeLoadOlder();
      }
    });
  }

  function maybeLoadOlder() {
    if (!S.current) return;
    if (C.views.scrollTop() < cfg.NEAR_TOP_PX) loadOlder(M.conversation(S, S.current));
  }

  function pageVisible() {
    var document = window.document;
    return !(document.hidden || document.webkitHidden || document.msHidden);
  }

  // Marks the open conversation read when the reader can actually see its newest message.
  function maybeMarkRead() {
    if (!S.current || !S.session || !pageVisible() || !C.views.isNearBottom()) return;
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

  // Who is online (#14). Asked for when the page (re)connects and again PRESENCE_SETTLE_MS
  // later (after a restart the others are reconnecting too), then every PRESENCE_EVERY_MS
  // while the page is visible (a hidden page asks again when it is shown), and soon after a
  // message arrives. Never while the server cannot be reached: nobody is shown online then.
  var presence = { timer: null, dueAt: 0, asking: false, again: false, lastAt: 0 };

  function schedulePresence(ms) {
    if (presence.timer) clearTimeout(presence.timer);
    presence.dueAt = U.now() + ms;
    presence.timer = setTimeout(function () {
      presence.timer = null;
      refreshPresence();
    }, ms);
  }

  // nextMs: when to ask again after this answer (default PRESENCE_EVERY_MS).
  function refreshPresence(nextMs) {
    if (presence.timer) {
      clearTimeout(presence.timer);
      presence.timer = null;
    }
    if (!S.session || S.connState !== 'connected' || !pageVisible() || presence.asking) return;
    presence.asking = true;
    presence.lastAt = U.now();
    var gen = S.sessionGen;
    api('GET', '/presence', null, function (res) {
      if (gen !== S.sessionGen) return;
      presence.asking = false;
      if (S.connState !== 'connected') return; // asked again on reconnecting
      if (res.ok && res.data && U.isArray(res.data.online)) {
        M.setOnline(S, res.data.online);
        C.views.renderConversationList();
        C.views.renderChatHead();
      }
      // A message arrived while this was on its way (its answer may predate the sender), or
      // it failed: ask again soon.
      schedulePresence(presence.again || !res.ok ? cfg.PRESENCE_MIN_GAP_MS : nextMs || cfg.PRESENCE_EVERY_MS);
      presence.again = false;
    });
  }

  // Soon, but not more often than PRESENCE_MIN_GAP_MS.
  function refreshPresenceSoon() {
    if (presence.asking) {
      presence.again = true;
      return;
    }
    var wait = Math.max(200, presence.lastAt + cfg.PRESENCE_MIN_GAP_MS - U.now());
    if (presence.timer && presence.dueAt <= U.now() + wait) return;
    schedulePresence(wait);
  }

  // The page was shown again (or got the focus): read markers and presence catch up.
  function pageShown() {
    maybeMarkRead();
    if (pageVisible() && !presence.asking && U.now() - presence.lastAt >= cfg.PRESENCE_MIN_GAP_MS) refreshPresence();
  }

  // A conversation was started with a name that is no user, or is a group we are not in.
  function forgetConversation(name) {
    if (M.forgetConversation(S, name)) C.send.save();
    if (S.current === name) C.views.closeConversation();
    C.views.renderAll();
  }

  C.sync = {
    start: start,
    stop: stop,
    retryNow: retryNow,
    connectionLost: connectionLost,
    pollPath: pollPath,
    conversationQuery: conversationQuery,
    loadHistory: loadHistory,
    loadOlder: loadOlder,
    maybeLoadOlder: maybeLoadOlder,
    maybeMarkRead: maybeMarkRead,
    pageShown: pageShown
  };
})(window);
