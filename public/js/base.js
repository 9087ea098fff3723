/*
 * The chat page, file 1 of 19: the namespace, the settings and the helpers every other file
 * uses. Pure: no network, no document (the DOM helpers are dom.js).
 *
 * The page is plain ECMAScript 5 with no build step and no framework, because it must run on
 * the old browsers and kiosk WebKits our users have: XMLHttpRequest only, JSON.parse of
 * responseText, setTimeout + abort for time-outs, no cookies (the token lives in localStorage
 * where it exists, else in memory). It is ready for a strict Content-Security-Policy
 * (script-src 'self'; style-src 'self'): no inline script or style in index.html, no event
 * handler attributes, no eval, new Function or string timers. test/unit/page-es5.test.ts
 * checks every script index.html loads.
 *
 * The files, loaded in this order by index.html, each add to one namespace, window.Chat:
 *   base.js         Chat.config, Chat.util, Chat.time   settings, helpers, time (pure)
 *   dom.js          Chat.dom                             DOM helpers
 *   net.js          Chat.storage, Chat.http              storage, XHR, the request queue
 *   model.js        Chat.model, Chat.state               the state and its pure transitions
 *   groups.js       Chat.groups                          groups: keys, events, quiet lines (pure)
 *   outbox.js       Chat.outbox                          unsent messages, in order (pure)
 *   sync.js         Chat.sync                            the poll loop, health check, connection state
 *   history.js      Chat.history                         history, unread counts, read markers
 *   presence.js     Chat.presence                        who is online
 *   send.js         Chat.send                            the outbox stored and sent
 *   views.js        Chat.views                           drawing: the frame, the list, notices
 *   chat-view.js    Chat.chatView                        drawing: the open conversation
 *   nav.js          Chat.nav                             opening a conversation, kept across reloads
 *   forms.js        Chat.forms                           sessions, log-in and sign-up
 *   composer.js     Chat.composer                        "start a chat" and the composer
 *   devices.js      Chat.devices                         the Devices dialog
 *   group-dialog.js Chat.groupDialog                     new group; rename, members, leave
 *   search.js       Chat.search                          search in history
 *   boot.js         Chat.boot                            event wiring and start-up
 * Each file stays under about 400 lines (#12): a new part of the page gets its own file.
 * Files call each other through the namespace when they run (never while loading), so the
 * order matters only for the namespace objects themselves. Everything but boot.js can be
 * loaded without a document: test/unit/page-*.test.ts run the pure parts under Node.
 */
(function (window) {
  'use strict';

  var C = (window.Chat = {});

  // ---------------------------------------------------------------------------------------
  // Settings. Times in milliseconds unless the name says otherwise.

  C.config = {
    POLL_HOLD_S: 25, // what we ask the server to hold an idle poll for (seconds)
    POLL_ABORT_MS: 35000, // must exceed the hold, or we would abort healthy polls
    PROBE_ABORT_MS: 10000, // a poll with timeout=0 (after an error) should answer at once
    RECENT_POLL_MS: 5000, // a poll started this recently proves the server reachable
    REQUEST_TIMEOUT_MS: 20000, // any other request
    BACKOFF_FIRST_MS: 1000, // the heavy requests (the poll, sends) back off from here...
    BACKOFF_MAX_MS: 60000, // ...doubling up to here
    // While the server cannot be reached, GET /healthz (no token, no database) is asked this
    // often, give or take a quarter, so the page is back within a few seconds of the server's
    // return however long the heavy requests' back-off has grown (#14).
    HEALTH_EVERY_MS: 2000,
    HEALTH_ABORT_MS: 5000,
    // An empty poll answer that comes back faster than this (server shutting down, or too many
    // tabs sharing one device and pushing each other out) is followed by a short pause, so the
    // loop can never spin.
    QUICK_EMPTY_MS: 1000,
    HISTORY_PAGE: 50,
    // Who is online is asked for when the page (re)connects, again this long after (the others
    // reconnect too after a restart), then every PRESENCE_EVERY_MS while the page is visible,
    // and soon after a message arrives (its sender has just been there); never more often
    // than PRESENCE_MIN_GAP_MS (#14).
    PRESENCE_SETTLE_MS: 4000,
    PRESENCE_EVERY_MS: 15000,
    PRESENCE_MIN_GAP_MS: 2000,
    COMPOSER_MAX_SHARE: 1 / 3, // the message box grows up to this share of the window height
    SEND_RETRY_FOR_MS: 30000, // keep retrying a send this long before marking it "not sent"
    NOTICE_MS: 7000,
    MAX_BODY: 4000, // characters (code points), as the server counts them
    USERNAME_RE: /^[a-z0-9_.-]{1,32}$/,
    NEAR_BOTTOM_PX: 48,
    NEAR_TOP_PX: 80
  };

  // ---------------------------------------------------------------------------------------
  // Small helpers

  var hasOwn = Object.prototype.hasOwnProperty;

  function now() {
    return new Date().getTime();
  }
  function noop() {}
  function isArray(x) {
    return Object.prototype.toString.call(x) === '[object Array]';
  }
  function has(obj, key) {
    return hasOwn.call(obj, key);
  }
  function pad2(n) {
    return n < 10 ? '0' + n : String(n);
  }
  function trim(s) {
    return String(s).replace(/^\s+|\s+$/g, '');
  }

  // A map from strings to values that is safe for every key. Usernames are keys here, and
  // "__proto__", "constructor" and "toString" are valid usernames: as keys of a plain object
  // they read inherited members or replace the object's prototype (#13). So no plain object
  // is used as a map in the page: every map is a Dict. Keys are stored with a "$" prefix,
  // which no member of Object.prototype has; unlike Object.create(null) this works on every
  // engine, old IE included.
  function Dict() {
    this.items = {};
  }
  Dict.prototype.has = function (key) {
    return hasOwn.call(this.items, '$' + key);
  };
  Dict.prototype.get = function (key) {
    var k = '$' + key;
    return hasOwn.call(this.items, k) ? this.items[k] : undefined;
  };
  Dict.prototype.set = function (key, value) {
    this.items['$' + key] = value;
    return value;
  };
  Dict.prototype.remove = function (key) {
    delete this.items['$' + key];
  };
  Dict.prototype.keys = function () {
    var out = [];
    for (var k in this.items) if (hasOwn.call(this.items, k)) out.push(k.slice(1));
    return out;
  };
  Dict.prototype.values = function () {
    var out = [];
    for (var k in this.items) if (hasOwn.call(this.items, k)) out.push(this.items[k]);
    return out;
  };

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

  // The wait before try number `failures` + 1. random (0 <= random < 1) is Math.random()
  // unless given (tests give it).
  function backoffDelay(failures, retryAfterMs, random) {
    var cfg = C.config;
    var base = cfg.BACKOFF_FIRST_MS * Math.pow(2, Math.max(0, failures - 1));
    if (base > cfg.BACKOFF_MAX_MS) base = cfg.BACKOFF_MAX_MS;
    // Jitter between half and all of the step, so many clients cut off at once by a restart
    // do not all come back in the same millisecond.
    var r = typeof random === 'number' ? random : Math.random();
    var delay = Math.round(base / 2 + (r * base) / 2);
    if (retryAfterMs && retryAfterMs > delay) delay = retryAfterMs;
    return delay;
  }

  // The wait before the poll loop tries again (#14): what Retry-After says when the server
  // (or a proxy) said it, at least half a second and at most the back-off's cap, since the
  // server spreads its clients out with it already; else the back-off. Unlike backoffDelay,
  // a Retry-After is not added to a back-off grown meanwhile: a server that says "in 2 s"
  // ten times running is asked again every 2 s, and the page is back 2 s after it is.
  function pollRetryDelay(failures, retryAfterMs, random) {
    var cfg = C.config;
    if (retryAfterMs > 0) return Math.min(Math.max(retryAfterMs, cfg.BACKOFF_FIRST_MS / 2), cfg.BACKOFF_MAX_MS);
    return backoffDelay(failures, 0, random);
  }

  // Retry-After in milliseconds: delta-seconds or an HTTP date (nowMs: the clock, for tests).
  function parseRetryAfter(value, nowMs) {
    if (!value) return 0;
    if (/^\s*\d+\s*$/.test(value)) return parseInt(value, 10) * 1000;
    var at = new Date(value).getTime();
    return isNaN(at) ? 0 : Math.max(0, at - (typeof nowMs === 'number' ? nowMs : now()));
  }

  // The server counts characters (code points), not UTF-16 units.
  function charCount(text) {
    return String(text).replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, '.').length;
  }

  // What a failed request says about the connection (#14), in words the user can act on:
  //  'offline'     the browser itself has no network (navigator.onLine is false);
  //  'unreachable' no answer at all (network error, time-out), or a proxy that could not
  //                reach the chat server behind it (502, 504);
  //  'busy'        the server, or a proxy before it, asked us to come back later (503, 429);
  //  'error'       any other answer that is not the one expected (a 500, a captive portal).
  // browserOnline: navigator.onLine (only false is to be believed: true means little).
  function failureKind(res, browserOnline) {
    if (browserOnline === false) return 'offline';
    var status = res ? res.status : 0;
    if (!status || status === 502 || status === 504) return 'unreachable';
    if (status === 503 || status === 429) return 'busy';
    return 'error';
  }

  // The direction of a text from its first strong character (#14): 'rtl' for Hebrew, Arabic
  // and the other right-to-left scripts, 'ltr' for Latin, Greek, Cyrillic, the Indic scripts,
  // CJK and the other left-to-right ones, '' when it has none (digits, punctuation, emoji).
  // What dir="auto" does, for old engines that do not know it. Block ranges rather than the
  // whole Unicode table: close enough for the first letter of a message. Characters outside
  // the Basic Multilingual Plane are judged by their high surrogate (U+10800-10FFF and
  // U+1E800-1EFFF are right-to-left; the emoji and symbol planes, U+1F000-1FFFF, are neutral).
  var RTL_CHARS = '\u0591-\u065F\u066A-\u06EF\u06FA-\u08FF\u200F\uFB1D-\uFDFF\uFE70-\uFEFC\uD802\uD803\uD83A\uD83B';
  var LTR_CHARS =
    'A-Za-z\u00AA\u00B5\u00BA\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u02B8\u0370-\u0373\u0376-\u037D\u037F-\u0588' +
    '\u0900-\u1FFF\u200E\u2C00-\u2DFF\u3040-\u9FFF\uA000-\uD7FF\uF900-\uFB1C\uFF21-\uFF3A\uFF41-\uFF5A\uFF66-\uFFDC' +
    '\uD800\uD801\uD804-\uD839\uD840-\uDBFF';
  // Surrogates stand alone in these classes on purpose (no u flag in ES5): see above.
  // eslint-disable-next-line no-misleading-character-class
  var STRONG = new RegExp('([' + RTL_CHARS + '])|[' + LTR_CHARS + ']');
  function textDirection(text) {
    var m = STRONG.exec(String(text));
    if (!m) return '';
    return m[1] ? 'rtl' : 'ltr';
  }

  // Engines whose inner scrolling panes (overflow: auto) cannot be scrolled with one finger:
  // Android's browser before 3 and Safari before iOS 5. They get the layout where the page
  // itself scrolls (#14). Also for any browser when the page is opened as /?layout=page.
  function needsPageScroll(userAgent, search) {
    if (/(^|[?&])layout=page(&|$)/.test(String(search || ''))) return true;
    var ua = String(userAgent || '');
    if (/Android [12]\./.test(ua) && !/Firefox|Opera/.test(ua)) return true;
    return /(iPhone|iPad|iPod).*OS [1-4]_\d.* like Mac OS X/.test(ua);
  }

  C.util = {
    now: now,
    noop: noop,
    isArray: isArray,
    has: has,
    pad2: pad2,
    trim: trim,
    Dict: Dict,
    randomString: randomString,
    newClientId: newClientId,
    backoffDelay: backoffDelay,
    pollRetryDelay: pollRetryDelay,
    parseRetryAfter: parseRetryAfter,
    charCount: charCount,
    failureKind: failureKind,
    textDirection: textDirection,
    needsPageScroll: needsPageScroll
  };

  // ---------------------------------------------------------------------------------------
  // Time. The server sends ISO 8601 UTC; old engines cannot all Date.parse that, so parse by
  // hand. Shown in the viewer's local time. `today` (a Date) is the clock for the functions
  // that name days; it is new Date() unless given (tests give it).

  var WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
  var MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

  function parseTime(iso) {
    var m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|([+-])(\d{2}):?(\d{2}))?$/.exec(String(iso || ''));
    if (!m) return null;
    var ms = m[7] ? Math.round(Number('0.' + m[7]) * 1000) : 0;
    var t = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], m[6] ? +m[6] : 0, ms);
    if (m[9]) {
      var offset = (+m[10] * 60 + +m[11]) * 60000;
      t += m[9] === '+' ? -offset : offset;
    }
    return new Date(t);
  }

  function clockText(d) {
    return pad2(d.getHours()) + ':' + pad2(d.getMinutes());
  }

  function sameDay(a, b) {
    return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
  }

  function dayText(d, today) {
    today = today || new Date();
    var yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
    if (sameDay(d, today)) return 'Today';
    if (sameDay(d, yesterday)) return 'Yesterday';
    var s = WEEKDAYS[d.getDay()] + ' ' + d.getDate() + ' ' + MONTHS[d.getMonth()];
    if (d.getFullYear() !== today.getFullYear()) s += ' ' + d.getFullYear();
    return s;
  }

  // For the conversation list: the time today, the weekday within the last six days, else
  // the date.
  function shortWhen(d, today) {
    today = today || new Date();
    if (sameDay(d, today)) return clockText(d);
    var startOfToday = new Date(today.getFullYear(), today.getMonth(), today.getDate()).getTime();
    if (startOfToday - d.getTime() < 6 * 86400000 && d.getTime() < startOfToday) return WEEKDAYS[d.getDay()].slice(0, 3);
    var s = d.getDate() + ' ' + MONTHS[d.getMonth()];
    if (d.getFullYear() !== today.getFullYear()) s += ' ' + d.getFullYear();
    return s;
  }

  // "today at 14:05", "yesterday at 09:12", "on Monday 23 Nov at 18:40"
  function whenPhrase(d, today) {
    var day = dayText(d, today);
    if (day === 'Today' || day === 'Yesterday') return day.toLowerCase() + ' at ' + clockText(d);
    return 'on ' + day + ' at ' + clockText(d);
  }

  function fullWhen(d, today) {
    return dayText(d, today) + ', ' + clockText(d) + ' (' + d.getFullYear() + '-' + pad2(d.getMonth() + 1) + '-' + pad2(d.getDate()) + ')';
  }

  C.time = {
    parseTime: parseTime,
    clockText: clockText,
    sameDay: sameDay,
    dayText: dayText,
    shortWhen: shortWhen,
    whenPhrase: whenPhrase,
    fullWhen: fullWhen
  };
})(window);
