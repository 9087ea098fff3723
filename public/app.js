/*
 * The chat page. Plain ECMAScript 5 with no build step and no framework, because it must run
 * on the old browsers and kiosk WebKits our users have: XMLHttpRequest only, JSON.parse of
 * responseText, setTimeout + abort for time-outs, no cookies (the token lives in localStorage
 * where it exists, else in memory). test/unit/page-es5.test.ts parses this file as ES5.
 *
 * Connections: at most two to the server at a time. One is the long poll (GET /poll); every
 * other request (sends, history, read markers, presence, devices) goes through one queue that
 * has at most one request in flight. Browsers allow only a few connections per host, and some
 * proxies fewer, so a page that opened more could starve its own poll.
 *
 * How the page stays exactly in sync (see syncFromScratch and poll below):
 *  1. Load a snapshot: GET /conversations (last message and unread count per conversation).
 *  2. Only then start polling, from a cursor no later than the snapshot: the cursor from
 *     POST /sessions right after logging in, otherwise no `since` at all so the server uses
 *     this device's stored cursor (the furthest it polled with, which never runs ahead of what
 *     this device has applied). Events replayed from before the snapshot are recognised by
 *     message id (ids only grow) and change nothing, so nothing is missed and nothing doubles.
 *  3. Each answer's cursor is sent back on the next poll, straight away. Errors back off with
 *     jitter (1 s doubling to 60 s, at least Retry-After); the cursor is kept, so a dropped
 *     connection or a restarted server costs no events.
 *  4. 400 invalid_cursor means our cursor is meaningless to this server (say, a database
 *     restored from a backup). Then the page throws away what it knows and starts again at 1
 *     without `since`: the server's stored cursor for this device is valid by construction.
 *     401 means the token is gone (logged out or revoked elsewhere): back to the log-in screen.
 */
(function (window, document) {
  'use strict';

  // ---------------------------------------------------------------------------------------
  // Settings. Times in milliseconds unless the name says otherwise.

  var POLL_HOLD_S = 25;           // what we ask the server to hold an idle poll for (seconds)
  var POLL_ABORT_MS = 35000;      // must exceed the hold, or we would abort healthy polls
  var PROBE_ABORT_MS = 10000;     // a poll with timeout=0 (after an error) should answer at once
  var RECENT_POLL_MS = 5000;      // a poll started this recently proves the server reachable
  var REQUEST_TIMEOUT_MS = 20000; // any other request
  var BACKOFF_FIRST_MS = 1000;
  var BACKOFF_MAX_MS = 60000;
  var OFFLINE_AFTER_FAILURES = 4; // about 1+2+4+8 s of failures before we say "offline"
  // An empty poll answer that comes back faster than this (server shutting down, or too many
  // tabs sharing one device and pushing each other out) is followed by a short pause, so the
  // loop can never spin.
  var QUICK_EMPTY_MS = 1000;
  var HISTORY_PAGE = 50;
  var PRESENCE_EVERY_MS = 30000;
  var SEND_RETRY_FOR_MS = 30000;  // keep retrying a send this long before marking it "not sent"
  var NOTICE_MS = 7000;
  var MAX_BODY = 4000;
  var USERNAME_RE = /^[a-z0-9_.\-]{1,32}$/;
  var NEAR_BOTTOM_PX = 48;
  var NEAR_TOP_PX = 80;

  var WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
  var MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

  // ---------------------------------------------------------------------------------------
  // Small helpers

  function $(id) { return document.getElementById(id); }
  function now() { return new Date().getTime(); }
  function noop() {}
  function isArray(x) { return Object.prototype.toString.call(x) === '[object Array]'; }
  function has(obj, key) { return Object.prototype.hasOwnProperty.call(obj, key); }
  function pad2(n) { return n < 10 ? '0' + n : String(n); }
  function trim(s) { return String(s).replace(/^\s+|\s+$/g, ''); }

  function on(el, type, fn) {
    if (el.addEventListener) el.addEventListener(type, fn, false);
    else if (el.attachEvent) el.attachEvent('on' + type, function () { fn.call(el, window.event); });
  }

  function preventDefault(e) {
    if (e.preventDefault) e.preventDefault(); else e.returnValue = false;
  }

  function hasClass(el, name) {
    return (' ' + el.className + ' ').indexOf(' ' + name + ' ') >= 0;
  }
  function addClass(el, name) {
    if (!hasClass(el, name)) el.className = trim(el.className + ' ' + name);
  }
  function removeClass(el, name) {
    el.className = trim((' ' + el.className + ' ').replace(' ' + name + ' ', ' '));
  }
  function toggleClass(el, name, wanted) {
    if (wanted) addClass(el, name); else removeClass(el, name);
  }
  function show(el, visible) { toggleClass(el, 'hidden', !visible); }

  // Builds an element. Text is always added as a text node: nothing from the server or the
  // user is ever parsed as HTML.
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.appendChild(document.createTextNode(String(text)));
    return node;
  }
  function setText(node, text) {
    while (node.firstChild) node.removeChild(node.firstChild);
    node.appendChild(document.createTextNode(String(text)));
  }
  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  // Walks up from an event target to the nearest element carrying the attribute.
  function closestWithAttr(node, attr, stopAt) {
    while (node && node !== stopAt && node.nodeType === 1) {
      if (node.getAttribute(attr) !== null) return node;
      node = node.parentNode;
    }
    return null;
  }

  function randomString(len) {
    var chars = 'abcdefghijklmnopqrstuvwxyz0123456789';
    var out = '';
    var cryptoObj = window.crypto || window.msCrypto;
    var bytes = null;
    if (cryptoObj && cryptoObj.getRandomValues && window.Uint8Array) {
      bytes = new window.Uint8Array(len);
      cryptoObj.getRandomValues(bytes);
    }
    for (var i = 0; i < len; i++) {
      var r = bytes ? bytes[i] : Math.floor(Math.random() * 256);
      out += chars.charAt(r % chars.length);
    }
    return out;
  }

  var clientIdSeq = 0;
  function newClientId() {
    clientIdSeq += 1;
    return 'w' + now().toString(36) + '-' + randomString(10) + '-' + clientIdSeq.toString(36);
  }

  function backoffDelay(failures, retryAfterMs) {
    var base = BACKOFF_FIRST_MS * Math.pow(2, Math.max(0, failures - 1));
    if (base > BACKOFF_MAX_MS) base = BACKOFF_MAX_MS;
    // Jitter between half and all of the step, so many clients cut off at once by a restart
    // do not all come back in the same millisecond.
    var delay = Math.round(base / 2 + Math.random() * base / 2);
    if (retryAfterMs && retryAfterMs > delay) delay = retryAfterMs;
    return delay;
  }

  // ---------------------------------------------------------------------------------------
  // Time. The server sends ISO 8601 UTC; old engines cannot all Date.parse that, so parse by
  // hand. Shown in the viewer's local time.

  function parseTime(iso) {
    var m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|([+\-])(\d{2}):?(\d{2}))?$/.exec(String(iso || ''));
    if (!m) return null;
    var ms = m[7] ? Math.round(Number('0.' + m[7]) * 1000) : 0;
    var t = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], m[6] ? +m[6] : 0, ms);
    if (m[9]) {
      var offset = (+m[10] * 60 + +m[11]) * 60000;
      t += m[9] === '+' ? -offset : offset;
    }
    return new Date(t);
  }

  function clockText(d) { return pad2(d.getHours()) + ':' + pad2(d.getMinutes()); }

  function sameDay(a, b) {
    return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
  }

  function dayText(d) {
    var today = new Date();
    var yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
    if (sameDay(d, today)) return 'Today';
    if (sameDay(d, yesterday)) return 'Yesterday';
    var s = WEEKDAYS[d.getDay()] + ' ' + d.getDate() + ' ' + MONTHS[d.getMonth()];
    if (d.getFullYear() !== today.getFullYear()) s += ' ' + d.getFullYear();
    return s;
  }

  function shortWhen(d) {
    var today = new Date();
    if (sameDay(d, today)) return clockText(d);
    var startOfToday = new Date(today.getFullYear(), today.getMonth(), today.getDate()).getTime();
    if (startOfToday - d.getTime() < 6 * 86400000 && d.getTime() < startOfToday) return WEEKDAYS[d.getDay()].slice(0, 3);
    var s = d.getDate() + ' ' + MONTHS[d.getMonth()];
    if (d.getFullYear() !== today.getFullYear()) s += ' ' + d.getFullYear();
    return s;
  }

  // "today at 14:05", "yesterday at 09:12", "on Monday 23 Nov at 18:40"
  function whenPhrase(d) {
    var day = dayText(d);
    if (day === 'Today' || day === 'Yesterday') return day.toLowerCase() + ' at ' + clockText(d);
    return 'on ' + day + ' at ' + clockText(d);
  }

  function fullWhen(d) {
    return dayText(d) + ', ' + clockText(d) + ' (' + d.getFullYear() + '-' + pad2(d.getMonth() + 1) + '-' + pad2(d.getDate()) + ')';
  }

  // ---------------------------------------------------------------------------------------
  // Storage: localStorage where it exists and works (it throws in some privacy modes and
  // with cookies blocked), else memory only, which still works until the page is reloaded.

  var storage = null;
  try {
    storage = window.localStorage;
    storage.setItem('chat.probe', '1');
    storage.removeItem('chat.probe');
  } catch (e) {
    storage = null;
  }
  var memoryStore = {};

  function loadItem(key) {
    if (storage) {
      try { return storage.getItem(key); } catch (e) { /* fall through to memory */ }
    }
    return has(memoryStore, key) ? memoryStore[key] : null;
  }
  function saveItem(key, value) {
    memoryStore[key] = value;
    if (storage) {
      try { storage.setItem(key, value); } catch (e) { /* full or blocked: memory still has it */ }
    }
  }
  function dropItem(key) {
    delete memoryStore[key];
    if (storage) {
      try { storage.removeItem(key); } catch (e) { /* nothing to do */ }
    }
  }
  function loadJson(key) {
    var raw = loadItem(key);
    if (!raw) return null;
    try { return JSON.parse(raw); } catch (e) { return null; }
  }

  var SESSION_KEY = 'chat.session';
  function outboxKey(username) { return 'chat.outbox.' + username; }

  // ---------------------------------------------------------------------------------------
  // HTTP

  var requestSeq = 0;

  function parseRetryAfter(value) {
    if (!value) return 0;
    if (/^\s*\d+\s*$/.test(value)) return parseInt(value, 10) * 1000;
    var at = new Date(value).getTime();
    return isNaN(at) ? 0 : Math.max(0, at - now());
  }

  function resultOf(xhr) {
    var status = xhr.status;
    if (status === 1223) status = 204; // old IE reports 204 as 1223
    var data = null;
    var text = '';
    try { text = xhr.responseText; } catch (e) { text = ''; }
    if (text) {
      try { data = JSON.parse(text); } catch (e2) { data = null; }
    }
    var ok = status >= 200 && status < 300;
    var error = null;
    if (!ok) {
      if (data && data.error && typeof data.error.code === 'string') {
        error = { code: data.error.code, message: String(data.error.message || data.error.code) };
      } else if (status) {
        error = { code: 'http_' + status, message: 'The server answered with status ' + status + '.' };
      } else {
        error = { code: 'network', message: 'Could not reach the server.' };
      }
    }
    var retryAfter = null;
    try { retryAfter = xhr.getResponseHeader('Retry-After'); } catch (e3) { retryAfter = null; }
    return { status: status, ok: ok, data: data, error: error, retryAfterMs: parseRetryAfter(retryAfter) };
  }

  function failedResult(code, message) {
    return { status: 0, ok: false, data: null, error: { code: code, message: message }, retryAfterMs: 0 };
  }

  // One XMLHttpRequest with a hard time-out. Calls done(result) exactly once, unless aborted
  // through the returned handle, in which case it never calls it.
  function httpRequest(method, path, body, token, timeoutMs, done) {
    if (method === 'DELETE') {
      // Some proxies in front of our users pass only GET and POST: the contract lets a POST
      // carry "_method": "DELETE" instead.
      method = 'POST';
      body = { _method: 'DELETE' };
    }
    var xhr = new XMLHttpRequest();
    var finished = false;
    var timer = null;
    var url = path;
    if (method === 'GET') {
      // Old browsers and some proxies cache XHR GETs whatever the headers say.
      requestSeq += 1;
      url += (url.indexOf('?') < 0 ? '?' : '&') + '_=' + now().toString(36) + requestSeq.toString(36);
    }
    function finish(result) {
      if (finished) return;
      finished = true;
      if (timer !== null) clearTimeout(timer);
      xhr.onreadystatechange = noop;
      done(result);
    }
    xhr.onreadystatechange = function () {
      if (xhr.readyState === 4) finish(resultOf(xhr));
    };
    try {
      xhr.open(method, url, true);
      if (token) xhr.setRequestHeader('Authorization', 'Bearer ' + token);
      if (body !== null && body !== undefined) xhr.setRequestHeader('Content-Type', 'application/json');
      xhr.send(body !== null && body !== undefined ? JSON.stringify(body) : null);
    } catch (e) {
      setTimeout(function () { finish(failedResult('network', 'Could not reach the server.')); }, 0);
    }
    timer = setTimeout(function () {
      if (finished) return;
      finished = true;
      xhr.onreadystatechange = noop;
      try { xhr.abort(); } catch (e) { /* already closed */ }
      done(failedResult('timeout', 'The server took too long to answer.'));
    }, timeoutMs);
    return {
      abort: function () {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        xhr.onreadystatechange = noop;
        try { xhr.abort(); } catch (e) { /* already closed */ }
      }
    };
  }

  // The second connection: one request in flight at a time, in the order asked for.
  var channel = { queue: [], busy: false };

  // opts.always: deliver the answer even if the session has ended meanwhile (used by log out);
  // opts.timeoutMs. A 401 on a request made with a token ends the session, except with always.
  function api(method, path, body, done, opts) {
    opts = opts || {};
    channel.queue.push({
      method: method, path: path, body: body, done: done || noop,
      token: opts.token !== undefined ? opts.token : (session ? session.token : null),
      gen: sessionGen, always: !!opts.always, timeoutMs: opts.timeoutMs || REQUEST_TIMEOUT_MS
    });
    pumpChannel();
  }

  function pumpChannel() {
    if (channel.busy) return;
    var job = null;
    while (channel.queue.length) {
      job = channel.queue.shift();
      if (job.always || job.gen === sessionGen) break;
      job = null; // belongs to a session that has ended
    }
    if (!job) return;
    channel.busy = true;
    httpRequest(job.method, job.path, job.body, job.token, job.timeoutMs, function (res) {
      channel.busy = false;
      if (job.always) {
        job.done(res);
      } else if (job.gen === sessionGen) {
        if (res.status === 401 && job.token) endSession('signedOut');
        else job.done(res);
      }
      pumpChannel();
    });
  }

  // ---------------------------------------------------------------------------------------
  // State

  var session = null;   // {token, username, deviceId, deviceName}
  var sessionGen = 0;   // bumped whenever a session starts or ends; stale answers are dropped
  var convs = {};       // username -> conversation
  var current = null;   // username of the open conversation
  var online = {};      // username -> true
  var outbox = [];      // messages not yet confirmed by the server, in the order written
  var chatDirty = true; // the open conversation's message list needs redrawing
  var connState = 'connecting';
  var newBelow = false;
  var presenceTimer = null;
  var conversationsRefreshTimer = null;
  var noticeTimer = null;

  function newConversation(name) {
    return {
      name: name,
      last: null,          // newest message we know of
      maxId: 0,            // its id: any message with id <= maxId is already counted
      maxIncomingId: 0,    // newest message from the other person
      unread: 0,
      readUpTo: 0,         // the read marker, as far as we know
      readPosting: false,
      // Messages are kept only once the history is loaded (or loading): from then on, the
      // history plus every later event is the complete tail of the conversation.
      msgs: [],
      byId: {},
      loaded: false,
      loading: false,
      loadGen: 0,
      loadError: null,
      hasMore: false,
      loadingOlder: false,
      touched: 0           // when a conversation without messages was opened, for ordering
    };
  }

  function conversation(name) {
    if (!has(convs, name)) convs[name] = newConversation(name);
    return convs[name];
  }

  function insertMessage(c, m) {
    if (has(c.byId, m.id)) return false;
    c.byId[m.id] = m;
    var i = c.msgs.length;
    while (i > 0 && c.msgs[i - 1].id > m.id) i--;
    c.msgs.splice(i, 0, m);
    return true;
  }

  function validMessage(m) {
    return m && typeof m.id === 'number' && typeof m.from === 'string' && typeof m.to === 'string' && typeof m.body === 'string';
  }

  // Applies one message from anywhere (history, poll, send answer). Idempotent.
  function receiveMessage(m) {
    if (!validMessage(m) || !session) return;
    var me = session.username;
    var other = m.from === me ? m.to : m.from;
    var c = conversation(other);
    if (m.from === me && m.client_id) removeFromOutbox(m.client_id);
    if ((c.loaded || c.loading) && insertMessage(c, m) && other === current) markChatDirty(m.from !== me);
    if (m.id > c.maxId) {
      c.maxId = m.id;
      c.last = m;
      if (m.from !== me) {
        c.maxIncomingId = m.id;
        if (m.id > c.readUpTo) c.unread += 1;
      }
    }
  }

  function applyRead(name, upTo) {
    if (typeof name !== 'string' || typeof upTo !== 'number' || !has(convs, name)) return;
    var c = convs[name];
    if (upTo > c.readUpTo) c.readUpTo = upTo;
    if (c.readUpTo >= c.maxIncomingId) {
      c.unread = 0;
    } else if (c.loaded && c.msgs.length && c.msgs[0].id <= c.readUpTo) {
      var n = 0;
      for (var i = 0; i < c.msgs.length; i++) {
        if (c.msgs[i].id > c.readUpTo && c.msgs[i].from !== session.username) n++;
      }
      // A read marker only moves forward, so the count can only fall.
      if (n < c.unread) c.unread = n;
    } else {
      refreshConversationsSoon();
    }
  }

  function applyEvents(events) {
    for (var i = 0; i < events.length; i++) {
      var ev = events[i];
      if (!ev) continue;
      if (ev.type === 'message') receiveMessage(ev.message);
      else if (ev.type === 'read') applyRead(ev['with'], ev.up_to);
    }
  }

  function applySnapshot(list) {
    var me = session.username;
    var fresh = {};
    for (var i = 0; i < list.length; i++) {
      var row = list[i];
      if (!row || typeof row['with'] !== 'string') continue;
      var c = has(convs, row['with']) ? convs[row['with']] : newConversation(row['with']);
      // The snapshot is the truth: forget cached messages, they may have a gap in them.
      c.msgs = []; c.byId = {}; c.loaded = false; c.loading = false; c.loadGen += 1;
      c.hasMore = false; c.loadingOlder = false; c.loadError = null;
      c.unread = typeof row.unread === 'number' ? row.unread : 0;
      c.last = validMessage(row.last_message) ? row.last_message : null;
      c.maxId = c.last ? c.last.id : 0;
      // When the newest message is our own, the newest incoming one is unknown: assume the
      // worst, so a read marker below it never clears the count by mistake.
      c.maxIncomingId = c.last && (c.last.from !== me || c.unread > 0) ? c.last.id : 0;
      c.readUpTo = c.unread === 0 ? c.maxId : 0;
      fresh[c.name] = c;
    }
    // Keep conversations opened here that have no messages yet.
    for (var name in convs) {
      if (has(convs, name) && !has(fresh, name) && convs[name].maxId === 0) {
        var keep = convs[name];
        keep.msgs = []; keep.byId = {}; keep.loaded = false; keep.loading = false; keep.loadGen += 1;
        fresh[name] = keep;
      }
    }
    convs = fresh;
    conversation(me); // notes to self are always there
    if (current) conversation(current);
    chatDirty = true;
  }

  // ---------------------------------------------------------------------------------------
  // Connection state shown to the user

  function setConnState(state) {
    connState = state;
    var box = $('conn');
    box.className = 'conn conn-' + state;
    var text;
    if (state === 'connected') text = 'Connected';
    else if (state === 'reconnecting') text = 'Reconnecting\u2026';
    else if (state === 'offline') text = 'Offline';
    else text = 'Connecting\u2026';
    if (state === 'offline' && poller.retryAt) {
      var secs = Math.max(0, Math.ceil((poller.retryAt - now()) / 1000));
      text += secs > 0 ? ' \u00b7 retrying in ' + secs + ' s' : ' \u00b7 retrying';
    }
    setText($('conn-text'), text);
    show($('conn-retry'), state === 'offline' || state === 'reconnecting');
    var banner = $('banner');
    if (state === 'reconnecting' || state === 'offline') {
      setText(banner, state === 'offline'
        ? 'You are offline. Messages you write are kept and sent when the connection is back.'
        : 'Connection lost. Reconnecting\u2026');
      addClass(banner, 'banner-' + state);
      removeClass(banner, state === 'offline' ? 'banner-reconnecting' : 'banner-offline');
      show(banner, true);
      addClass($('chat'), 'with-banner');
    } else {
      show(banner, false);
      removeClass($('chat'), 'with-banner');
    }
  }

  var countdownTimer = null;
  function startCountdown() {
    if (countdownTimer) return;
    countdownTimer = setInterval(function () {
      if (connState === 'offline') setConnState('offline');
      else { clearInterval(countdownTimer); countdownTimer = null; }
    }, 1000);
  }

  // ---------------------------------------------------------------------------------------
  // The poll loop

  var poller = { gen: 0, handle: null, timer: null, cursor: null, failures: 0, probe: false, retryAt: 0, retry: null, startedAt: 0 };

  function stopPoller() {
    poller.gen += 1;
    if (poller.handle) { poller.handle.abort(); poller.handle = null; }
    if (poller.timer) { clearTimeout(poller.timer); poller.timer = null; }
    poller.retry = null;
    poller.retryAt = 0;
  }

  function pollerFailed(res, retry) {
    poller.failures += 1;
    // After an error the next poll is a quick one (timeout=0), so "connected" shows as soon
    // as the server answers instead of after a full hold.
    poller.probe = true;
    var delay = backoffDelay(poller.failures, res.retryAfterMs);
    poller.retryAt = now() + delay;
    poller.retry = retry;
    var offline = poller.failures >= OFFLINE_AFTER_FAILURES || window.navigator.onLine === false;
    setConnState(offline ? 'offline' : 'reconnecting');
    if (offline) startCountdown();
    var gen = poller.gen;
    poller.timer = setTimeout(function () {
      poller.timer = null;
      if (gen !== poller.gen) return;
      poller.retry = null;
      poller.retryAt = 0;
      retry();
    }, delay);
  }

  // The other connection (a send, say) found the server unreachable, or the browser says it is
  // offline. A held poll may not notice for half a minute (a network that silently drops
  // packets), so say so now: the poll in flight is given up and a quick probe follows. Not
  // when the poll was answered moments ago (unless the browser itself says it is offline):
  // the server is reachable then, and probing again would only make a failing send retry
  // in a tight loop.
  function connectionLost(res, browserOffline) {
    if (!session) return;
    if (!browserOffline && poller.handle && now() - poller.startedAt < RECENT_POLL_MS) return;
    if (!poller.handle) {
      // Already failing (the retry is scheduled) or re-syncing: only the words may change.
      if (window.navigator.onLine === false && connState === 'reconnecting') setConnState('offline');
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
      poller.retryAt = 0;
      retry();
    }
  }

  // Step 1 of the sync described at the top: snapshot, then poll.
  function syncFromScratch() {
    stopPoller();
    var gen = poller.gen;
    if (connState !== 'offline' && connState !== 'reconnecting') setConnState('connecting');
    api('GET', '/conversations', null, function (res) {
      if (gen !== poller.gen) return;
      var list = res.ok && res.data && isArray(res.data.conversations) ? res.data.conversations : null;
      if (!list) {
        pollerFailed(res, syncFromScratch);
        return;
      }
      applySnapshot(list);
      poller.failures = 0;
      setConnState('connected');
      renderAll();
      if (current) loadHistory(conversation(current));
      refreshPresence();
      requeueAfterReconnect();
      poll();
    });
  }

  function poll() {
    var gen = poller.gen;
    var probe = poller.probe;
    var sentCursor = poller.cursor;
    var path = '/poll?timeout=' + (probe ? 0 : POLL_HOLD_S);
    if (sentCursor) path += '&since=' + encodeURIComponent(sentCursor);
    var started = now();
    poller.startedAt = started;
    poller.handle = httpRequest('GET', path, null, session.token, probe ? PROBE_ABORT_MS : POLL_ABORT_MS, function (res) {
      if (gen !== poller.gen) return;
      poller.handle = null;
      if (res.status === 401) { endSession('signedOut'); return; }
      var data = res.data;
      if (res.ok && data && typeof data.cursor === 'string' && isArray(data.events)) {
        var wasDown = poller.failures > 0;
        poller.failures = 0;
        poller.probe = false;
        poller.cursor = data.cursor;
        setConnState('connected');
        if (data.events.length) {
          applyEvents(data.events);
          renderAll();
        }
        maybeMarkRead();
        if (wasDown) afterReconnect();
        if (!data.events.length && !probe && now() - started < QUICK_EMPTY_MS) {
          poller.timer = setTimeout(function () {
            poller.timer = null;
            if (gen === poller.gen) poll();
          }, 1000 + Math.round(Math.random() * 1000));
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
    });
  }

  function afterReconnect() {
    refreshPresence();
    var c = current ? conversation(current) : null;
    if (c && c.loadError) loadHistory(c);
    requeueAfterReconnect();
  }

  // ---------------------------------------------------------------------------------------
  // Conversations, history, read markers, presence

  function refreshConversationsSoon() {
    if (conversationsRefreshTimer) return;
    conversationsRefreshTimer = setTimeout(function () {
      conversationsRefreshTimer = null;
      var gen = sessionGen;
      api('GET', '/conversations', null, function (res) {
        if (gen !== sessionGen || !res.ok || !res.data || !isArray(res.data.conversations)) return;
        // Only the unread counts: messages and markers keep coming from the stream.
        var list = res.data.conversations;
        for (var i = 0; i < list.length; i++) {
          var row = list[i];
          if (row && has(convs, row['with']) && typeof row.unread === 'number' && row.last_message &&
              row.last_message.id === convs[row['with']].maxId) {
            convs[row['with']].unread = row.unread;
          }
        }
        renderConversationList();
      });
    }, 500);
  }

  function loadHistory(c) {
    c.loadGen += 1;
    var gen = c.loadGen;
    c.loading = true;
    c.loaded = false;
    c.loadError = null;
    c.msgs = [];
    c.byId = {};
    c.hasMore = false;
    markChatDirty(false);
    api('GET', '/messages?with=' + encodeURIComponent(c.name) + '&limit=' + HISTORY_PAGE, null, function (res) {
      if (gen !== c.loadGen) return;
      c.loading = false;
      if (!res.ok || !res.data || !isArray(res.data.messages)) {
        if (res.error && res.error.code === 'user_not_found') {
          forgetConversation(c.name);
          notify('There is no user called \u201c' + c.name + '\u201d.');
          return;
        }
        c.loadError = res.error ? res.error.message : 'The server sent something unexpected.';
        markChatDirty(false);
        renderChat();
        return;
      }
      var list = res.data.messages;
      for (var i = 0; i < list.length; i++) {
        if (validMessage(list[i])) insertMessage(c, list[i]);
      }
      c.loaded = true;
      c.hasMore = !!res.data.has_more;
      var newest = c.msgs.length ? c.msgs[c.msgs.length - 1] : null;
      if (newest && newest.id > c.maxId) {
        c.maxId = newest.id;
        c.last = newest;
      }
      for (var j = c.msgs.length - 1; j >= 0; j--) {
        if (c.msgs[j].from !== session.username) {
          if (c.msgs[j].id > c.maxIncomingId) c.maxIncomingId = c.msgs[j].id;
          break;
        }
      }
      if (c.name === current) {
        chatDirty = true;
        renderChat({ toBottom: true });
        // A short history may not fill the view, so there is nothing to scroll to: fetch on.
        maybeLoadOlder();
        maybeMarkRead();
      }
      renderConversationList();
    });
  }

  function loadOlder(c) {
    if (!c.loaded || !c.hasMore || c.loadingOlder || !c.msgs.length) return;
    c.loadingOlder = true;
    var gen = c.loadGen;
    var before = c.msgs[0].id;
    markChatDirty(false);
    renderChat();
    api('GET', '/messages?with=' + encodeURIComponent(c.name) + '&limit=' + HISTORY_PAGE + '&before=' + before, null, function (res) {
      if (gen !== c.loadGen) return;
      c.loadingOlder = false;
      if (!res.ok || !res.data || !isArray(res.data.messages)) {
        notify('Could not load older messages: ' + (res.error ? res.error.message : 'unexpected answer') + '');
        markChatDirty(false);
        renderChat();
        return;
      }
      var list = res.data.messages;
      for (var i = 0; i < list.length; i++) {
        if (validMessage(list[i])) insertMessage(c, list[i]);
      }
      c.hasMore = !!res.data.has_more;
      if (c.name === current) {
        chatDirty = true;
        renderChat({ keepBottomOffset: true });
        maybeLoadOlder();
      }
    });
  }

  function maybeLoadOlder() {
    if (!current) return;
    var box = $('messages');
    if (box.scrollTop < NEAR_TOP_PX) loadOlder(conversation(current));
  }

  function pageVisible() {
    return !(document.hidden || document.webkitHidden || document.msHidden);
  }

  // Marks the open conversation read when the reader can actually see its newest message.
  function maybeMarkRead() {
    if (!current || !session || !pageVisible() || !isNearBottom()) return;
    var c = conversation(current);
    if (!c.loaded || c.readPosting) return;
    if (!(c.unread > 0 || c.maxIncomingId > c.readUpTo)) return;
    var upTo = c.maxId;
    c.readPosting = true;
    c.unread = 0;
    renderConversationList();
    updateTitle();
    var gen = sessionGen;
    api('POST', '/read', { 'with': c.name, up_to: upTo }, function (res) {
      if (gen !== sessionGen) return;
      c.readPosting = false;
      // A 4xx will not get better by retrying; anything else is retried at the next event.
      if (res.ok || (res.status >= 400 && res.status < 500)) {
        if (upTo > c.readUpTo) c.readUpTo = upTo;
        maybeMarkRead();
      }
    });
  }

  function refreshPresence() {
    if (presenceTimer) { clearTimeout(presenceTimer); presenceTimer = null; }
    var gen = sessionGen;
    api('GET', '/presence', null, function (res) {
      if (gen !== sessionGen) return;
      if (res.ok && res.data && isArray(res.data.online)) {
        online = {};
        for (var i = 0; i < res.data.online.length; i++) online[res.data.online[i]] = true;
        renderConversationList();
        renderChatHead();
      }
      presenceTimer = setTimeout(refreshPresence, PRESENCE_EVERY_MS);
    });
  }

  function forgetConversation(name) {
    if (has(convs, name) && convs[name].maxId === 0 && name !== (session && session.username)) delete convs[name];
    // Messages written to a name that turned out to be no user could never be sent, and with
    // the conversation gone they would be nowhere to see: drop them with it.
    var kept = [];
    for (var i = 0; i < outbox.length; i++) if (outbox[i].to !== name || outbox[i].state === 'sending') kept.push(outbox[i]);
    if (kept.length !== outbox.length) { outbox = kept; saveOutbox(); }
    if (current === name) closeConversation();
    renderAll();
  }

  // ---------------------------------------------------------------------------------------
  // Sending: optimistic display, a client_id per message so retries never duplicate, and a
  // strict order: one send at a time, the next only after the previous one is settled.

  var sender = { busy: false, timer: null, gen: 0 };

  function saveOutbox() {
    if (!session) return;
    var keep = [];
    for (var i = 0; i < outbox.length; i++) {
      var o = outbox[i];
      keep.push({ client_id: o.client_id, to: o.to, body: o.body, state: o.state === 'failed' ? 'failed' : 'queued', error: o.error, auto: !!o.auto, createdAt: o.createdAt });
    }
    if (keep.length) saveItem(outboxKey(session.username), JSON.stringify(keep));
    else dropItem(outboxKey(session.username));
  }

  function restoreOutbox() {
    outbox = [];
    var saved = loadJson(outboxKey(session.username));
    if (!isArray(saved)) return;
    for (var i = 0; i < saved.length; i++) {
      var o = saved[i];
      if (o && typeof o.client_id === 'string' && typeof o.to === 'string' && typeof o.body === 'string') {
        outbox.push({ client_id: o.client_id, to: o.to, body: o.body, state: o.state === 'failed' ? 'failed' : 'queued',
          error: o.error || null, auto: !!o.auto, createdAt: o.createdAt || now(), firstTry: now(), attempts: 0 });
      }
    }
  }

  function findOutbox(clientId) {
    for (var i = 0; i < outbox.length; i++) if (outbox[i].client_id === clientId) return i;
    return -1;
  }

  function removeFromOutbox(clientId) {
    var i = findOutbox(clientId);
    if (i < 0) return;
    var item = outbox[i];
    outbox.splice(i, 1);
    saveOutbox();
    if (item.to === current) markChatDirty(false);
  }

  function queueMessage(to, body) {
    outbox.push({ client_id: newClientId(), to: to, body: body, state: 'queued', error: null, auto: false,
      createdAt: now(), firstTry: now(), attempts: 0 });
    saveOutbox();
    if (to === current) markChatDirty(false);
    var c = conversation(to);
    if (!c.maxId) c.touched = now();
    renderChat({ toBottom: true });
    renderConversationList();
    pumpOutbox();
  }

  function retryable(res) {
    return res.status === 0 || res.status === 408 || res.status === 429 || res.status >= 500 ||
      (res.ok && !(res.data && res.data.message));
  }

  function sendError(res) {
    if (!res.error) return 'The server sent something unexpected.';
    switch (res.error.code) {
      case 'network': return 'Not sent yet: no connection. It goes out when the connection is back.';
      case 'timeout': return 'Not sent yet: the server did not answer. It goes out when the connection is back.';
      case 'user_not_found': return 'Not sent: there is no such user.';
      case 'payload_too_large': return 'Not sent: the message is too long.';
      case 'rate_limited': return 'Not sent: too many messages, slow down a little.';
      default: return 'Not sent: ' + res.error.message;
    }
  }

  function pumpOutbox() {
    if (!session || sender.busy || sender.timer) return;
    var item = null;
    for (var i = 0; i < outbox.length; i++) {
      if (outbox[i].state === 'queued') { item = outbox[i]; break; }
    }
    if (!item) return;
    sender.busy = true;
    item.state = 'sending';
    var gen = sender.gen;
    api('POST', '/messages', { to: item.to, body: item.body, client_id: item.client_id }, function (res) {
      if (gen !== sender.gen) return;
      sender.busy = false;
      if (res.ok && res.data && validMessage(res.data.message)) {
        receiveMessage(res.data.message);
        removeFromOutbox(item.client_id);
        renderAll();
        pumpOutbox();
        return;
      }
      if (findOutbox(item.client_id) < 0) { pumpOutbox(); return; } // confirmed by the stream meanwhile
      if (res.status === 0) connectionLost(res);
      var delay = backoffDelay(item.attempts + 1, res.retryAfterMs);
      if (retryable(res) && now() + delay - item.firstTry < SEND_RETRY_FOR_MS) {
        item.state = 'queued';
        item.attempts += 1;
        if (item.attempts === 1 && item.to === current) { markChatDirty(false); renderChat(); }
        sender.timer = setTimeout(function () {
          sender.timer = null;
          if (gen === sender.gen) pumpOutbox();
        }, delay);
        return;
      }
      item.state = 'failed';
      item.error = sendError(res);
      // Failed for want of a connection: sent again by itself once the poll reconnects.
      item.auto = retryable(res);
      if (item.auto) {
        // The connection is the problem: everything queued behind would fail the same way.
        for (var j = 0; j < outbox.length; j++) {
          if (outbox[j].state === 'queued') { outbox[j].state = 'failed'; outbox[j].error = item.error; outbox[j].auto = true; }
        }
      }
      saveOutbox();
      markChatDirty(false);
      renderAll();
      pumpOutbox();
    });
  }

  // Messages that failed only because the connection was down go out again, in the order
  // they were written; ones the server refused wait for the user.
  function requeueAfterReconnect() {
    var any = false;
    for (var i = 0; i < outbox.length; i++) {
      var item = outbox[i];
      if (item.state === 'failed' && item.auto) {
        item.state = 'queued';
        item.error = null;
        item.auto = false;
        any = true;
      }
      if (item.state === 'queued') {
        item.firstTry = now();
        item.attempts = 0;
      }
    }
    // A send waiting out its back-off goes now: the server has just answered the poll.
    if (sender.timer) {
      clearTimeout(sender.timer);
      sender.timer = null;
    }
    if (any) {
      saveOutbox();
      markChatDirty(false);
      renderAll();
    }
    pumpOutbox();
  }

  function retrySend(clientId) {
    var i = findOutbox(clientId);
    if (i < 0) return;
    var item = outbox[i];
    // Left in its place: the outbox goes out in the order written, so a retried message still
    // comes before the ones written after it that have not gone out either.
    item.state = 'queued';
    item.error = null;
    item.auto = false;
    item.firstTry = now();
    item.attempts = 0;
    saveOutbox();
    markChatDirty(false);
    renderAll();
    pumpOutbox();
  }

  function discardSend(clientId) {
    var i = findOutbox(clientId);
    if (i < 0 || outbox[i].state !== 'failed') return;
    var to = outbox[i].to;
    outbox.splice(i, 1);
    saveOutbox();
    if (to === current) markChatDirty(false);
    renderAll();
  }

  // ---------------------------------------------------------------------------------------
  // Rendering

  function markChatDirty(incoming) {
    chatDirty = true;
    if (incoming && !isNearBottom()) newBelow = true;
  }

  function isNearBottom() {
    var box = $('messages');
    return box.scrollHeight - box.scrollTop - box.clientHeight < NEAR_BOTTOM_PX;
  }

  function initial(name) { return name ? name.charAt(0).toUpperCase() : '?'; }

  function displayName(name) {
    return session && name === session.username ? 'Notes to self' : name;
  }

  function sortedConversations() {
    var list = [];
    for (var name in convs) {
      if (has(convs, name) && name !== session.username) list.push(convs[name]);
    }
    list.sort(function (a, b) {
      // Newly started, still empty conversations first, then the most recent message first.
      if (!a.maxId || !b.maxId) {
        if (!a.maxId && !b.maxId) return b.touched - a.touched;
        return a.maxId ? 1 : -1;
      }
      return b.maxId - a.maxId;
    });
    return list;
  }

  function failedCount(name) {
    var n = 0;
    for (var i = 0; i < outbox.length; i++) if (outbox[i].to === name && outbox[i].state === 'failed') n++;
    return n;
  }

  function conversationItem(c) {
    var me = session.username;
    var li = el('li', 'conv-item');
    var btn = el('button', 'conv' + (c.name === current ? ' active' : '') + (c.unread ? ' has-unread' : ''));
    btn.setAttribute('type', 'button');
    btn.setAttribute('data-name', c.name);
    var self = c.name === me;
    var avatar = el('span', 'avatar' + (self ? ' avatar-self' : ''), self ? '\u270e' : initial(c.name));
    avatar.setAttribute('aria-hidden', 'true');
    btn.appendChild(avatar);
    if (!self) {
      var dot = el('span', 'dot ' + (online[c.name] ? 'dot-on' : 'dot-off'));
      dot.setAttribute('title', online[c.name] ? 'Online' : 'Offline');
      btn.appendChild(dot);
    }
    var main = el('span', 'conv-main');
    var top = el('span', 'conv-top');
    top.appendChild(el('span', 'conv-name', displayName(c.name)));
    var when = c.last ? parseTime(c.last.sent_at) : null;
    if (when) top.appendChild(el('span', 'conv-when', shortWhen(when)));
    main.appendChild(top);
    var bottom = el('span', 'conv-bottom');
    var preview;
    var failed = failedCount(c.name);
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
    var label = displayName(c.name) + (self ? '' : (online[c.name] ? ', online' : ', offline')) +
      (c.unread ? ', ' + c.unread + ' unread' : '');
    btn.setAttribute('aria-label', label);
    li.appendChild(btn);
    return li;
  }

  function renderConversationList() {
    if (!session) return;
    var list = $('conv-list');
    var focused = document.activeElement;
    var focusName = focused && focused.getAttribute && list.contains && list.contains(focused) ? focused.getAttribute('data-name') : null;
    clear(list);
    var self = conversation(session.username);
    var items = sortedConversations();
    list.appendChild(conversationItem(self));
    for (var i = 0; i < items.length; i++) list.appendChild(conversationItem(items[i]));
    show($('conv-empty'), items.length === 0);
    if (focusName) {
      var buttons = list.getElementsByTagName('button');
      for (var j = 0; j < buttons.length; j++) {
        if (buttons[j].getAttribute('data-name') === focusName) { buttons[j].focus(); break; }
      }
    }
    updateTitle();
  }

  function updateTitle() {
    var total = 0;
    for (var name in convs) if (has(convs, name)) total += convs[name].unread;
    var title = (total ? '(' + total + ') ' : '') + 'Chat' + (session ? ' \u2014 ' + session.username : '');
    if (document.title !== title) document.title = title;
  }

  function renderChatHead() {
    if (!current || !session) return;
    var self = current === session.username;
    setText($('chat-name'), displayName(current));
    var avatar = $('chat-avatar');
    setText(avatar, self ? '\u270e' : initial(current));
    avatar.className = 'avatar' + (self ? ' avatar-self' : '');
    var status = $('chat-status');
    if (self) {
      setText(status, 'Only you see these. They reach all your devices.');
      status.className = 'chat-status';
    } else {
      setText(status, online[current] ? 'Online' : 'Offline');
      status.className = 'chat-status ' + (online[current] ? 'status-on' : 'status-off');
    }
    var input = $('composer-input');
    input.setAttribute('placeholder', self ? 'Write a note to yourself' : 'Message ' + current);
  }

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
        var retry = el('button', 'link small', 'Retry');
        retry.setAttribute('type', 'button');
        retry.setAttribute('data-action', 'retry');
        retry.setAttribute('data-cid', pending.client_id);
        meta.appendChild(retry);
        var discard = el('button', 'link small', 'Delete');
        discard.setAttribute('type', 'button');
        discard.setAttribute('data-action', 'discard');
        discard.setAttribute('data-cid', pending.client_id);
        meta.appendChild(discard);
      } else {
        // After a failed try, say so at once rather than only when the retries give up.
        meta.appendChild(el('span', 'sending-text', pending.attempts > 0 ? 'Not sent yet \u00b7 retrying\u2026' : 'Sending\u2026'));
      }
    } else {
      var when = parseTime(m.sent_at);
      var time = el('span', 'time', when ? clockText(when) : '');
      if (when) time.setAttribute('title', fullWhen(when));
      meta.appendChild(time);
    }
    bubble.appendChild(meta);
    row.appendChild(bubble);
    return row;
  }

  // opts.toBottom: scroll to the newest; opts.keepBottomOffset: older messages were added
  // above, keep what the reader was looking at in place.
  function renderChat(opts) {
    opts = opts || {};
    if (!session) return;
    show($('placeholder'), !current);
    show($('chat'), !!current);
    if (!current) return;
    var box = $('messages');
    var wasNearBottom = isNearBottom();
    if (chatDirty) {
      chatDirty = false;
      var oldHeight = box.scrollHeight;
      var oldTop = box.scrollTop;
      var c = conversation(current);
      var me = session.username;
      var frag = document.createDocumentFragment();
      if (c.loadingOlder) frag.appendChild(el('div', 'history-note', 'Loading older messages\u2026'));
      else if (c.loaded && c.hasMore) {
        var older = el('button', 'link history-more', 'Load older messages');
        older.setAttribute('type', 'button');
        older.setAttribute('data-action', 'older');
        frag.appendChild(older);
      } else if (c.loaded && c.msgs.length) {
        frag.appendChild(el('div', 'history-note', current === me ? 'This is where your notes begin.' : 'This is the start of your conversation with ' + current + '.'));
      }
      var lastDay = null;
      for (var i = 0; i < c.msgs.length; i++) {
        var m = c.msgs[i];
        var when = parseTime(m.sent_at);
        if (when && (!lastDay || !sameDay(lastDay, when))) {
          var sep = el('div', 'day');
          sep.appendChild(el('span', null, dayText(when)));
          frag.appendChild(sep);
          lastDay = when;
        }
        frag.appendChild(messageNode(m, m.from === me, null));
      }
      var pendingHere = 0;
      for (var j = 0; j < outbox.length; j++) {
        if (outbox[j].to === current) {
          pendingHere++;
          frag.appendChild(messageNode({ body: outbox[j].body }, true, outbox[j]));
        }
      }
      if (c.loading) {
        frag.appendChild(el('div', 'history-note', 'Loading messages\u2026'));
      } else if (c.loadError) {
        var errBox = el('div', 'chat-error');
        errBox.appendChild(el('p', null, 'Could not load the messages: ' + c.loadError));
        var again = el('button', 'primary small', 'Try again');
        again.setAttribute('type', 'button');
        again.setAttribute('data-action', 'reload');
        errBox.appendChild(again);
        frag.appendChild(errBox);
      } else if (c.loaded && !c.msgs.length && !pendingHere) {
        var empty = el('div', 'chat-empty');
        empty.appendChild(el('p', 'chat-empty-title', current === me ? 'No notes yet' : 'No messages yet'));
        empty.appendChild(el('p', null, current === me
          ? 'Write something below. Notes to self appear on every device you are logged in on.'
          : 'Say hello to ' + current + '. Messages appear here as soon as they are sent.'));
        frag.appendChild(empty);
      }
      clear(box);
      box.appendChild(frag);
      if (opts.keepBottomOffset) box.scrollTop = box.scrollHeight - oldHeight + oldTop;
      else if (opts.toBottom || wasNearBottom) box.scrollTop = box.scrollHeight;
      else box.scrollTop = oldTop;
    } else if (opts.toBottom) {
      box.scrollTop = box.scrollHeight;
    }
    if (isNearBottom()) newBelow = false;
    show($('new-below'), newBelow);
  }

  function renderAll() {
    renderConversationList();
    renderChatHead();
    renderChat();
  }

  function notify(text) {
    setText($('notice-text'), text);
    show($('notice'), true);
    if (noticeTimer) clearTimeout(noticeTimer);
    noticeTimer = setTimeout(function () { noticeTimer = null; show($('notice'), false); }, NOTICE_MS);
  }

  // ---------------------------------------------------------------------------------------
  // Opening and closing conversations

  function openConversation(name) {
    // In the two-pane layout one conversation replaces another without closing it first:
    // keep what was being written there.
    if (current && current !== name) drafts[current] = $('composer-input').value;
    var c = conversation(name);
    if (!c.maxId && !c.touched) c.touched = now();
    current = name;
    chatDirty = true;
    newBelow = false;
    addClass($('app'), 'chat-open');
    renderChatHead();
    renderConversationList();
    renderChat({ toBottom: true });
    if (!c.loaded && !c.loading) loadHistory(c);
    else maybeMarkRead();
    var input = $('composer-input');
    input.value = drafts[name] || '';
    try { input.focus(); } catch (e) { /* hidden on some layouts */ }
  }

  function closeConversation() {
    var closed = current;
    if (current) drafts[current] = $('composer-input').value;
    current = null;
    removeClass($('app'), 'chat-open');
    renderConversationList();
    renderChat();
    // The keyboard goes back to where the reader came from: that conversation in the list.
    var buttons = $('conv-list').getElementsByTagName('button');
    for (var i = 0; i < buttons.length; i++) {
      if (buttons[i].getAttribute('data-name') === closed) {
        try { buttons[i].focus(); } catch (e) { /* hidden */ }
        break;
      }
    }
  }

  var drafts = {};

  // ---------------------------------------------------------------------------------------
  // Devices

  function openDevices() {
    show($('devices'), true);
    show($('devices-error'), false);
    var list = $('device-list');
    clear(list);
    list.appendChild(el('li', 'device-note', 'Loading\u2026'));
    loadDevices();
    try { $('devices-close').focus(); } catch (e) { /* ignore */ }
  }

  function closeDevices() {
    show($('devices'), false);
    try { $('devices-btn').focus(); } catch (e) { /* ignore */ }
  }

  function loadDevices() {
    var gen = sessionGen;
    api('GET', '/devices', null, function (res) {
      if (gen !== sessionGen) return;
      var list = $('device-list');
      clear(list);
      if (!res.ok || !res.data || !isArray(res.data.devices)) {
        setText($('devices-error'), 'Could not load your devices: ' + (res.error ? res.error.message : 'unexpected answer'));
        show($('devices-error'), true);
        return;
      }
      var devices = res.data.devices.slice(0);
      devices.sort(function (a, b) { return (b.current ? 1 : 0) - (a.current ? 1 : 0); });
      for (var i = 0; i < devices.length; i++) list.appendChild(deviceItem(devices[i]));
      if (!devices.length) list.appendChild(el('li', 'device-note', 'No devices.'));
    });
  }

  function deviceItem(d) {
    var li = el('li', 'device' + (d.current ? ' current' : ''));
    var info = el('div', 'device-info');
    var name = el('div', 'device-name');
    name.appendChild(el('span', 'dot ' + (d.online ? 'dot-on' : 'dot-off')));
    name.appendChild(el('span', null, d.name || 'Unnamed device'));
    if (d.current) name.appendChild(el('span', 'tag', 'This device'));
    info.appendChild(name);
    var created = parseTime(d.created_at);
    var seen = parseTime(d.last_seen_at);
    var details = [];
    if (d.online) details.push('Online now');
    else if (seen) details.push('Last seen ' + whenPhrase(seen));
    if (created) details.push('logged in ' + whenPhrase(created));
    info.appendChild(el('div', 'device-details', details.join(' \u00b7 ')));
    li.appendChild(info);
    var btn = el('button', d.current ? 'ghost small' : 'danger small', d.current ? 'Log out this device' : 'Revoke');
    btn.setAttribute('type', 'button');
    btn.setAttribute('data-device', String(d.id));
    btn.setAttribute('data-current', d.current ? '1' : '0');
    li.appendChild(btn);
    return li;
  }

  function onDeviceClick(e) {
    var btn = closestWithAttr(e.target || e.srcElement, 'data-device', $('device-list'));
    if (!btn) return;
    if (btn.getAttribute('data-current') === '1') { logOut(); return; }
    // Two steps instead of confirm(): kiosks may block dialogs, and it is keyboard friendly.
    if (btn.getAttribute('data-armed') !== '1') {
      btn.setAttribute('data-armed', '1');
      setText(btn, 'Confirm revoke');
      return;
    }
    btn.disabled = true;
    setText(btn, 'Revoking\u2026');
    var gen = sessionGen;
    api('DELETE', '/devices/' + encodeURIComponent(btn.getAttribute('data-device')), null, function (res) {
      if (gen !== sessionGen) return;
      if (!res.ok && res.status !== 404) {
        setText($('devices-error'), 'Could not revoke the device: ' + (res.error ? res.error.message : 'unexpected answer'));
        show($('devices-error'), true);
      }
      loadDevices();
    });
  }

  // ---------------------------------------------------------------------------------------
  // Sessions

  function guessDeviceName() {
    var ua = window.navigator.userAgent || '';
    var browser = /Edg(e|A|iOS)?\//.test(ua) ? 'Edge' : /OPR\/|Opera/.test(ua) ? 'Opera'
      : /Firefox\//.test(ua) ? 'Firefox' : /Chrom(e|ium)\//.test(ua) ? 'Chrome'
      : /Safari\//.test(ua) ? 'Safari' : /MSIE |Trident\//.test(ua) ? 'Internet Explorer' : 'Browser';
    var os = /Android/.test(ua) ? 'Android' : /iPhone|iPad|iPod/.test(ua) ? 'iOS'
      : /Windows/.test(ua) ? 'Windows' : /CrOS/.test(ua) ? 'ChromeOS' : /Mac OS X/.test(ua) ? 'macOS'
      : /Linux/.test(ua) ? 'Linux' : '';
    return browser + (os ? ' on ' + os : '');
  }

  function startSession(s, cursor) {
    session = s;
    sessionGen += 1;
    sender.gen += 1;
    sender.busy = false;
    if (sender.timer) { clearTimeout(sender.timer); sender.timer = null; }
    saveItem(SESSION_KEY, JSON.stringify(s));
    convs = {};
    current = null;
    online = {};
    drafts = {};
    chatDirty = true;
    restoreOutbox();
    poller.cursor = cursor || null;
    poller.failures = 0;
    poller.probe = false;
    setText($('me-name'), s.username);
    $('me-name').setAttribute('title', s.username);
    setText($('me-avatar'), initial(s.username));
    removeClass($('app'), 'chat-open');
    show($('auth'), false);
    show($('app'), true);
    conversation(s.username);
    renderAll();
    syncFromScratch();
    pumpOutbox();
  }

  var AUTH_MESSAGES = {
    signedOut: 'This device was logged out, or revoked from another device. Please log in again.',
    loggedOut: 'You have logged out.'
  };

  // Ends the session here: forgets the token, stops all traffic, shows the log-in screen.
  function unsentCount() {
    var n = 0;
    for (var i = 0; i < outbox.length; i++) if (outbox[i].state !== 'sending') n++;
    return n + (sender.busy ? 1 : 0);
  }

  function endSession(reason, extraInfo) {
    var username = session ? session.username : '';
    var deviceName = session ? session.deviceName : '';
    var unsent = unsentCount();
    // The page keeps no messages of a session that has ended (a revoked kiosk may be in the
    // wrong hands): the ones not yet sent are dropped, and the user is told.
    if (unsent && reason === 'signedOut') {
      extraInfo = (extraInfo ? extraInfo + ' ' : '') + (unsent === 1 ? 'One message that had not been sent yet was discarded.'
        : unsent + ' messages that had not been sent yet were discarded.');
    }
    if (session) dropItem(outboxKey(session.username));
    session = null;
    sessionGen += 1;
    sender.gen += 1;
    sender.busy = false;
    if (sender.timer) { clearTimeout(sender.timer); sender.timer = null; }
    stopPoller();
    channel.queue = [];
    if (presenceTimer) { clearTimeout(presenceTimer); presenceTimer = null; }
    if (conversationsRefreshTimer) { clearTimeout(conversationsRefreshTimer); conversationsRefreshTimer = null; }
    if (countdownTimer) { clearInterval(countdownTimer); countdownTimer = null; }
    dropItem(SESSION_KEY);
    convs = {};
    outbox = [];
    current = null;
    drafts = {};
    $('composer-input').value = '';
    clear($('conv-list'));
    clear($('messages'));
    show($('devices'), false);
    show($('notice'), false);
    show($('app'), false);
    showAuth('login');
    if (username) $('login-username').value = username;
    if (deviceName) $('login-device').value = deviceName;
    $('login-password').value = '';
    var message = AUTH_MESSAGES[reason] || '';
    if (extraInfo) message += ' ' + extraInfo;
    if (reason === 'signedOut') showAuthError(message);
    else if (message) showAuthInfo(message);
    document.title = 'Chat';
  }

  function logOut() {
    var unsent = unsentCount();
    if (unsent && !window.confirm((unsent === 1 ? 'One message has' : unsent + ' messages have') +
        ' not been sent yet and will be lost. Log out anyway?')) return;
    var token = session ? session.token : null;
    endSession('loggedOut');
    if (!token) return;
    api('DELETE', '/sessions/current', null, function (res) {
      if (!res.ok && res.status !== 401) {
        showAuthInfo('You are logged out on this page, but the server could not be told (' + res.error.message +
          '). To be safe, revoke this device from another one.');
      }
    }, { always: true, token: token });
  }

  function showAuth(which) {
    show($('auth'), true);
    var login = which === 'login';
    show($('login-form'), login);
    show($('signup-form'), !login);
    toggleClass($('tab-login'), 'active', login);
    toggleClass($('tab-signup'), 'active', !login);
    $('tab-login').setAttribute('aria-selected', login ? 'true' : 'false');
    $('tab-signup').setAttribute('aria-selected', login ? 'false' : 'true');
    show($('auth-error'), false);
    show($('auth-info'), false);
    var device = $(login ? 'login-device' : 'signup-device');
    if (!device.value) device.value = guessDeviceName();
    var first = $(login ? 'login-username' : 'signup-username');
    try { (first.value ? $(login ? 'login-password' : 'signup-password') : first).focus(); } catch (e) { /* ignore */ }
  }

  function showAuthError(text) {
    setText($('auth-error'), text);
    show($('auth-error'), true);
    show($('auth-info'), false);
    // The message sits above the form: bring it into view on a short screen.
    try { window.scrollTo(0, 0); } catch (e) { /* ignore */ }
  }

  // After a refused log-in or sign-up, the field to correct gets the keyboard (the button
  // that had it was disabled while the request ran).
  function focusAuthField(res, signingUp) {
    var code = res && res.error ? res.error.code : '';
    var prefix = signingUp ? 'signup-' : 'login-';
    var field = code === 'username_taken' ? 'username' : code === 'invalid_credentials' ? 'password' : 'username';
    try { $(prefix + field).focus(); } catch (e) { /* ignore */ }
  }

  function showAuthInfo(text) {
    setText($('auth-info'), text);
    show($('auth-info'), true);
  }

  function authBusy(busy) {
    $('login-submit').disabled = busy;
    $('signup-submit').disabled = busy;
    setText($('login-submit'), busy ? 'Logging in\u2026' : 'Log in');
    setText($('signup-submit'), busy ? 'Creating account\u2026' : 'Create account');
  }

  function explainAuthError(res) {
    var code = res.error ? res.error.code : '';
    if (code === 'invalid_credentials') return 'Wrong username or password.';
    if (code === 'username_taken') return 'That username is taken. Please choose another.';
    if (code === 'forbidden') return 'Sign-up is closed on this server. Ask an administrator for an account.';
    if (code === 'rate_limited') return 'Too many attempts. Please wait a moment and try again.';
    if (code === 'network' || code === 'timeout') return 'Could not reach the server. Check the connection and try again.';
    return res.error ? res.error.message : 'Something went wrong. Please try again.';
  }

  function logIn(username, password, deviceName) {
    authBusy(true);
    api('POST', '/sessions', { username: username, password: password, device_name: deviceName }, function (res) {
      authBusy(false);
      if (!res.ok || !res.data || typeof res.data.token !== 'string') {
        showAuthError(explainAuthError(res));
        focusAuthField(res, false);
        return;
      }
      var device = res.data.device || {};
      $('login-password').value = '';
      $('signup-password').value = '';
      startSession({ token: res.data.token, username: username, deviceId: device.id, deviceName: device.name },
        typeof res.data.cursor === 'string' ? res.data.cursor : null);
      // The keyboard starts where a new conversation begins (Tab goes on to the list).
      try { $('new-username').focus(); } catch (e) { /* ignore */ }
    }, { token: null, always: true });
  }

  function checkCredentials(username, password, signingUp) {
    if (!username) return 'Please enter a username.';
    if (signingUp && !USERNAME_RE.test(username)) return 'Usernames are 1\u201332 characters: letters, digits, _ . and -';
    if (!password) return 'Please enter a password.';
    if (signingUp && password.length < 8) return 'The password needs at least 8 characters.';
    return null;
  }

  // The fields of the log-in or sign-up form, checked; null (with the problem shown) if not.
  function authFields(prefix, signingUp) {
    var f = {
      username: trim($(prefix + 'username').value).toLowerCase(),
      password: $(prefix + 'password').value,
      device: trim($(prefix + 'device').value) || guessDeviceName()
    };
    var problem = checkCredentials(f.username, f.password, signingUp);
    if (problem) { showAuthError(problem); return null; }
    show($('auth-error'), false);
    show($('auth-info'), false);
    return f;
  }

  function onLoginSubmit(e) {
    preventDefault(e);
    var f = authFields('login-', false);
    if (f) logIn(f.username, f.password, f.device);
  }

  function onSignupSubmit(e) {
    preventDefault(e);
    var f = authFields('signup-', true);
    if (!f) return;
    var username = f.username;
    var password = f.password;
    authBusy(true);
    api('POST', '/users', { username: username, password: password }, function (res) {
      if (!res.ok) {
        authBusy(false);
        showAuthError(explainAuthError(res));
        focusAuthField(res, true);
        return;
      }
      logIn(username, password, f.device);
    }, { token: null, always: true });
  }

  // ---------------------------------------------------------------------------------------
  // Wiring

  function onNewConversation(e) {
    preventDefault(e);
    var input = $('new-username');
    var name = trim(input.value).toLowerCase();
    if (name.charAt(0) === '@') name = name.slice(1);
    if (!name) { notify('Type a username to start a conversation.'); return; }
    if (!USERNAME_RE.test(name)) { notify('\u201c' + name + '\u201d is not a valid username.'); return; }
    input.value = '';
    openConversation(name);
  }

  function onComposerSubmit(e) {
    if (e) preventDefault(e);
    if (!current) return;
    var input = $('composer-input');
    var body = input.value;
    if (!trim(body)) return;
    // The server counts characters (code points), not UTF-16 units.
    if (body.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, '.').length > MAX_BODY) { notify('A message can be at most ' + MAX_BODY + ' characters.'); return; }
    input.value = '';
    drafts[current] = '';
    queueMessage(current, body);
  }

  function onComposerKey(e) {
    var key = e.keyCode || e.which;
    // Enter sends; Shift+Enter (or Alt/Ctrl+Enter) adds a new line.
    if (key === 13 && !e.shiftKey && !e.altKey && !e.ctrlKey && !e.metaKey && !e.isComposing) {
      preventDefault(e);
      onComposerSubmit(null);
    }
  }

  function onMessagesClick(e) {
    var target = closestWithAttr(e.target || e.srcElement, 'data-action', $('messages'));
    if (!target) return;
    var action = target.getAttribute('data-action');
    if (action === 'retry') retrySend(target.getAttribute('data-cid'));
    else if (action === 'discard') discardSend(target.getAttribute('data-cid'));
    else if (action === 'older' && current) loadOlder(conversation(current));
    else if (action === 'reload' && current) loadHistory(conversation(current));
  }

  var scrollTimer = null;
  function onMessagesScroll() {
    if (scrollTimer) return;
    // Throttled: old devices fire scroll events very often.
    scrollTimer = setTimeout(function () {
      scrollTimer = null;
      maybeLoadOlder();
      if (isNearBottom()) {
        newBelow = false;
        show($('new-below'), false);
        maybeMarkRead();
      }
    }, 100);
  }

  // Tab and Shift+Tab go round the controls of the open Devices dialog (it is modal).
  function trapFocus(e) {
    var dialog = $('devices');
    var all = dialog.getElementsByTagName('button');
    var list = [];
    for (var i = 0; i < all.length; i++) if (!all[i].disabled) list.push(all[i]);
    if (!list.length) return;
    var active = document.activeElement;
    var at = -1;
    for (var j = 0; j < list.length; j++) if (list[j] === active) at = j;
    var next = at < 0 ? 0 : e.shiftKey ? (at === 0 ? list.length - 1 : -1) : (at === list.length - 1 ? 0 : -1);
    if (next < 0) return; // moving inside the dialog: leave it to the browser
    preventDefault(e);
    try { list[next].focus(); } catch (err) { /* ignore */ }
  }

  function onKeyDown(e) {
    var key = e.keyCode || e.which;
    if (key === 9 && !hasClass($('devices'), 'hidden')) { trapFocus(e); return; }
    if (key !== 27) return; // Escape
    if (!hasClass($('devices'), 'hidden')) closeDevices();
    else if (current && hasClass($('app'), 'chat-open') && (window.innerWidth || document.documentElement.clientWidth) <= 720) closeConversation();
  }

  function init() {
    on($('tab-login'), 'click', function () { showAuth('login'); });
    on($('tab-signup'), 'click', function () { showAuth('signup'); });
    on($('login-form'), 'submit', onLoginSubmit);
    on($('signup-form'), 'submit', onSignupSubmit);
    on($('new-form'), 'submit', onNewConversation);
    on($('composer'), 'submit', onComposerSubmit);
    on($('composer-input'), 'keydown', onComposerKey);
    on($('messages'), 'click', onMessagesClick);
    on($('messages'), 'scroll', onMessagesScroll);
    on($('conv-list'), 'click', function (e) {
      var btn = closestWithAttr(e.target || e.srcElement, 'data-name', $('conv-list'));
      if (btn) openConversation(btn.getAttribute('data-name'));
    });
    on($('back-btn'), 'click', closeConversation);
    on($('new-below'), 'click', function () {
      var box = $('messages');
      box.scrollTop = box.scrollHeight;
      newBelow = false;
      show($('new-below'), false);
      maybeMarkRead();
    });
    on($('logout-btn'), 'click', logOut);
    on($('devices-btn'), 'click', openDevices);
    on($('devices-close'), 'click', closeDevices);
    on($('devices'), 'click', function (e) { if ((e.target || e.srcElement) === $('devices')) closeDevices(); });
    on($('device-list'), 'click', onDeviceClick);
    on($('notice-close'), 'click', function () { show($('notice'), false); });
    on($('conn-retry'), 'click', retryNow);
    on(document, 'keydown', onKeyDown);
    on(document, 'visibilitychange', maybeMarkRead);
    on(document, 'webkitvisibilitychange', maybeMarkRead);
    on(window, 'focus', maybeMarkRead);
    on(window, 'online', function () { if (session) retryNow(); });
    on(window, 'offline', function () { connectionLost(failedResult('network', 'The browser is offline.'), true); });

    var saved = loadJson(SESSION_KEY);
    if (saved && typeof saved.token === 'string' && typeof saved.username === 'string') {
      // No cursor: the server resumes from this device's stored one (see the top of the file).
      startSession(saved, null);
    } else {
      showAuth('login');
      if (!storage) showAuthInfo('This browser does not keep data for this page, so you will need to log in again after reloading.');
    }
  }

  init();
}(window, document));
