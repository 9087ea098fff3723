/*
 * The chat page, file 9 of 19: who is online (#14). Asked for when the page (re)connects and
 * again PRESENCE_SETTLE_MS later (after a restart the others are reconnecting too), then every
 * PRESENCE_EVERY_MS while the page is visible (a hidden page asks again when it is shown), and
 * soon after a message arrives. Never while the server cannot be reached: nobody is shown
 * online then.
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
    if (!S.session || S.connState !== 'connected' || !D.pageVisible() || presence.asking) return;
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
        C.chatView.renderChatHead();
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
    C.history.maybeMarkRead();
    if (D.pageVisible() && !presence.asking && U.now() - presence.lastAt >= cfg.PRESENCE_MIN_GAP_MS) refreshPresence();
  }

  // The session has ended: no timer, and the next session asks afresh.
  function stop() {
    if (presence.timer) {
      clearTimeout(presence.timer);
      presence.timer = null;
    }
    presence.asking = false;
  }

  C.presence = {
    refresh: refreshPresence,
    refreshSoon: refreshPresenceSoon,
    pageShown: pageShown,
    stop: stop
  };
})(window);
