// The page's helpers (public/js/base.js) run under Node: time, back-off, Retry-After, the
// Dict every map of the page uses, and character counting (#12). The real file is loaded.
import assert from 'node:assert/strict';
import { loadPage } from '../support/page';

describe('page helpers: time, back-off and maps (#12)', () => {
  const { Chat } = loadPage();
  const T = Chat.time;
  const U = Chat.util;

  describe('parseTime', () => {
    it("reads the server's ISO 8601 UTC times to the millisecond", () => {
      assert.equal(T.parseTime('2026-03-04T05:06:07.890Z').getTime(), Date.UTC(2026, 2, 4, 5, 6, 7, 890));
      assert.equal(T.parseTime('2026-03-04T05:06:07Z').getTime(), Date.UTC(2026, 2, 4, 5, 6, 7));
      assert.equal(T.parseTime('2026-03-04T05:06Z').getTime(), Date.UTC(2026, 2, 4, 5, 6), 'seconds are optional');
      assert.equal(T.parseTime('2026-03-04T05:06:07.5Z').getTime(), Date.UTC(2026, 2, 4, 5, 6, 7, 500), '.5 is 500 ms');
      assert.equal(T.parseTime('2026-03-04T05:06:07.1239Z').getTime(), Date.UTC(2026, 2, 4, 5, 6, 7, 124), 'rounded to the millisecond');
      assert.equal(T.parseTime('2026-03-04T05:06:07').getTime(), Date.UTC(2026, 2, 4, 5, 6, 7), 'no zone is read as UTC');
    });

    it('applies offsets in both forms and both signs', () => {
      const utc = Date.UTC(2026, 0, 1, 0, 0);
      assert.equal(T.parseTime('2026-01-01T05:30+05:30').getTime(), utc);
      assert.equal(T.parseTime('2026-01-01T05:30:00+0530').getTime(), utc);
      assert.equal(T.parseTime('2025-12-31T20:30:00-03:30').getTime(), utc);
    });

    it('refuses what is not such a time', () => {
      for (const bad of ['', null, undefined, 'yesterday', '2026-3-4T05:06Z', '2026-03-04 05:06Z', '2026-03-04T05:06:07Zjunk', 12345]) {
        assert.equal(T.parseTime(bad), null, String(bad));
      }
    });
  });

  describe('showing times (local time)', () => {
    const today = new Date(2026, 10, 25, 15, 0); // Wednesday 25 Nov 2026, 15:00 local

    it('writes the clock as HH:MM', () => {
      assert.equal(T.clockText(new Date(2026, 0, 2, 7, 5)), '07:05');
      assert.equal(T.clockText(new Date(2026, 0, 2, 23, 59)), '23:59');
    });

    it('names days: today, yesterday, a weekday with date, the year only when another', () => {
      assert.equal(T.dayText(new Date(2026, 10, 25, 0, 1), today), 'Today');
      assert.equal(T.dayText(new Date(2026, 10, 24, 23, 59), today), 'Yesterday');
      assert.equal(T.dayText(new Date(2026, 10, 23, 12, 0), today), 'Monday 23 Nov');
      assert.equal(T.dayText(new Date(2025, 11, 31, 12, 0), today), 'Wednesday 31 Dec 2025');
      assert.equal(T.dayText(new Date(2026, 2, 1, 0, 0), new Date(2026, 2, 2, 0, 0)), 'Yesterday', 'across a month end');
    });

    it('shortens for the conversation list: the time today, the weekday this week, else the date', () => {
      assert.equal(T.shortWhen(new Date(2026, 10, 25, 9, 7), today), '09:07');
      assert.equal(T.shortWhen(new Date(2026, 10, 24, 9, 7), today), 'Tue');
      assert.equal(T.shortWhen(new Date(2026, 10, 19, 9, 7), today), 'Thu', 'six days back still a weekday');
      assert.equal(T.shortWhen(new Date(2026, 10, 18, 9, 7), today), '18 Nov', 'a week back is a date');
      assert.equal(T.shortWhen(new Date(2025, 10, 26, 9, 7), today), '26 Nov 2025');
      assert.equal(T.shortWhen(new Date(2026, 10, 26, 9, 7), today), '26 Nov', 'a clock ahead of ours shows the date');
    });

    it('phrases a moment for the devices list, and in full for a tooltip', () => {
      assert.equal(T.whenPhrase(new Date(2026, 10, 25, 14, 5), today), 'today at 14:05');
      assert.equal(T.whenPhrase(new Date(2026, 10, 24, 9, 12), today), 'yesterday at 09:12');
      assert.equal(T.whenPhrase(new Date(2026, 10, 23, 18, 40), today), 'on Monday 23 Nov at 18:40');
      assert.equal(T.fullWhen(new Date(2026, 10, 23, 18, 40), today), 'Monday 23 Nov, 18:40 (2026-11-23)');
    });
  });

  describe('back-off', () => {
    it('doubles from 1 s to at most 60 s, with jitter between half and all of the step', () => {
      const steps = [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000];
      steps.forEach((step, i) => {
        assert.equal(U.backoffDelay(i + 1, 0, 0), step / 2, `try ${i + 1}, least`);
        assert.equal(U.backoffDelay(i + 1, 0, 0.999999), step, `try ${i + 1}, most`);
      });
      assert.equal(U.backoffDelay(0, 0, 0), 500, 'no failure yet counts as the first');
      assert.equal(U.backoffDelay(1000, 0, 0.5), 45000, 'a huge count stays capped');
    });

    it('is spread by Math.random when no random is given', () => {
      const seen = new Set<number>();
      for (let i = 0; i < 200; i++) {
        const d = U.backoffDelay(3, 0);
        assert.ok(d >= 2000 && d <= 4000, `${d}`);
        seen.add(d);
      }
      assert.ok(seen.size > 50, `only ${seen.size} different delays in 200`);
    });

    it('waits at least what Retry-After asks', () => {
      assert.equal(U.backoffDelay(1, 7000, 0.5), 7000);
      assert.equal(U.backoffDelay(5, 1000, 0), 8000, 'a shorter Retry-After does not shorten the back-off');
    });

    it('the poll loop waits what Retry-After says, not a back-off grown meanwhile (#14)', () => {
      assert.equal(U.pollRetryDelay(1, 3000, 0.5), 3000);
      assert.equal(U.pollRetryDelay(6, 2000, 0.5), 2000, 'the tenth "in 2 s" is still 2 s, not 16 to 32 s');
      assert.equal(U.pollRetryDelay(1, 100, 0.5), 500, 'at least half a second: never a tight loop');
      assert.equal(U.pollRetryDelay(1, 3_600_000, 0.5), 60000, "at most the back-off's cap");
      assert.equal(U.pollRetryDelay(3, 0, 0), 2000, 'without Retry-After: the back-off');
      assert.equal(U.pollRetryDelay(3, 0, 0.999999), 4000);
    });

    it('reads Retry-After as seconds or as an HTTP date', () => {
      const now = Date.UTC(2026, 0, 1, 12, 0, 0);
      assert.equal(U.parseRetryAfter('5', now), 5000);
      assert.equal(U.parseRetryAfter(' 12 ', now), 12000);
      assert.equal(U.parseRetryAfter('0', now), 0);
      assert.equal(U.parseRetryAfter('Thu, 01 Jan 2026 12:00:30 GMT', now), 30000);
      assert.equal(U.parseRetryAfter('Thu, 01 Jan 2026 11:00:00 GMT', now), 0, 'a date in the past is now');
      for (const bad of [null, '', 'soon', '-5', '1.5e3']) assert.equal(U.parseRetryAfter(bad, now), 0, String(bad));
    });
  });

  describe('Dict (#13)', () => {
    it('keeps any string as a key, including the names of Object.prototype members', () => {
      const d = new U.Dict();
      const keys = ['__proto__', 'constructor', 'hasOwnProperty', 'toString', 'valueOf', '', '$x', 'alice'];
      for (const k of keys) assert.equal(d.has(k), false, `empty has no ${k}`);
      for (const k of keys) assert.equal(d.get(k), undefined, `empty gives nothing for ${k}`);
      keys.forEach((k, i) => d.set(k, i));
      keys.forEach((k, i) => assert.equal(d.get(k), i, k));
      assert.deepEqual(d.keys(), keys, 'in the order added');
      assert.deepEqual(
        d.values(),
        keys.map((_, i) => i),
      );
      assert.equal(Object.getPrototypeOf(d.items), Object.prototype, '__proto__ did not replace the prototype');
      d.remove('__proto__');
      d.remove('constructor');
      assert.equal(d.has('__proto__'), false);
      assert.equal(d.get('constructor'), undefined);
      assert.deepEqual(
        d.keys(),
        keys.filter((k) => k !== '__proto__' && k !== 'constructor'),
      );
    });

    it('returns the value it set (for get-or-create)', () => {
      const d = new U.Dict();
      const v = { a: 1 };
      assert.equal(d.get('k') || d.set('k', v), v);
      assert.equal(d.get('k') || d.set('k', { a: 2 }), v);
    });
  });

  describe('counting and ids', () => {
    it('counts characters as the server does, in code points', () => {
      assert.equal(U.charCount('abc'), 3);
      assert.equal(U.charCount('\u00e9t\u00e9'), 3);
      assert.equal(U.charCount('\u{1F600}'), 1, 'an emoji is one character, two UTF-16 units');
      assert.equal(U.charCount('\u{1F600}'.repeat(4000)), 4000);
      assert.equal(U.charCount('\uD800x'), 2, 'a lone surrogate counts as one');
    });

    it('makes client_ids that differ, from letters and digits', () => {
      const ids = new Set<string>();
      for (let i = 0; i < 500; i++) {
        const id = U.newClientId();
        assert.match(id, /^w[a-z0-9]+-[a-z0-9]{10}-[a-z0-9]+$/);
        ids.add(id);
      }
      assert.equal(ids.size, 500);
    });

    it("trims and pads like the old engines' missing built-ins would", () => {
      assert.equal(U.trim('  a b \n\t'), 'a b');
      assert.equal(U.pad2(7), '07');
      assert.equal(U.pad2(12), '12');
      assert.equal(U.isArray([]), true);
      assert.equal(U.isArray({ length: 0 }), false);
    });
  });
  describe('what the page says about a failure, which way a text runs, which layout (#14)', () => {
    const res = (status: number) => ({ status });

    it('tells no answer from a busy server from another error, and the browser offline from all three', () => {
      assert.equal(U.failureKind(res(0), true), 'unreachable', 'network error or time-out');
      assert.equal(U.failureKind(res(502), true), 'unreachable', 'a proxy that cannot reach the server');
      assert.equal(U.failureKind(res(504), true), 'unreachable');
      assert.equal(U.failureKind(res(503), true), 'busy');
      assert.equal(U.failureKind(res(429), true), 'busy');
      assert.equal(U.failureKind(res(500), true), 'error');
      assert.equal(U.failureKind(res(200), true), 'error', 'a 200 that is not the answer expected (a captive portal)');
      assert.equal(U.failureKind(res(404), undefined), 'error', 'onLine unknown counts as online');
      for (const status of [0, 503, 500]) assert.equal(U.failureKind(res(status), false), 'offline', `navigator.onLine false, ${status}`);
    });

    it('finds a text\'s direction from its first strong letter, as dir="auto" would', () => {
      const cases: Array<[string, string]> = [
        ['hello', 'ltr'],
        ['\u05e9\u05dc\u05d5\u05dd!', 'rtl'], // Hebrew
        ['\u0645\u0631\u062d\u0628\u0627', 'rtl'], // Arabic
        ['\u0723\u0720\u0721', 'rtl'], // Syriac
        ['\u{10900}', 'rtl'], // Phoenician, beyond the BMP
        ['123 \u05e9\u05dc\u05d5\u05dd', 'rtl'], // digits are not strong
        ['\u{1F600} \u0645\u0631\u062d\u0628\u0627', 'rtl'], // nor are emoji
        ['\u{1F600}\uFE0F \u0645\u0631\u062d\u0628\u0627', 'rtl'], // nor a variation selector
        ['\u00ab\u05e9\u05dc\u05d5\u05dd\u00bb hi', 'rtl'],
        ['hi \u05e9\u05dc\u05d5\u05dd', 'ltr'], // the first strong letter decides
        ['\u041f\u0440\u0438\u0432\u0435\u0442', 'ltr'], // Cyrillic
        ['\u6f22\u5b57', 'ltr'],
        ['\u0939\u093f\u0928\u094d\u0926\u0940', 'ltr'], // Devanagari
        ['!!! 42 :-)', ''],
        ['\u0661\u0662\u0663', ''], // Arabic-Indic digits are weak
        ['', ''],
      ];
      for (const [text, dir] of cases) assert.equal(U.textDirection(text), dir, JSON.stringify(text));
    });

    it('gives the page-scroll layout to engines that cannot scroll an inner pane with one finger, or when asked', () => {
      const old = [
        'Mozilla/5.0 (Linux; U; Android 2.3.6; en-us; GT-S5360 Build/GINGERBREAD) AppleWebKit/533.1 (KHTML, like Gecko) Version/4.0 Mobile Safari/533.1',
        'Mozilla/5.0 (Linux; U; Android 1.6; en-us; HTC Magic) AppleWebKit/528.5+ (KHTML, like Gecko) Version/3.1.2 Mobile Safari/525.20.1',
        'Mozilla/5.0 (iPhone; U; CPU iPhone OS 4_3_3 like Mac OS X; en-us) AppleWebKit/533.17.9 (KHTML, like Gecko) Version/5.0.2 Mobile/8J2 Safari/6533.18.5',
        'Mozilla/5.0 (iPad; U; CPU OS 3_2 like Mac OS X; en-us) AppleWebKit/531.21.10 (KHTML, like Gecko) Version/4.0.4 Mobile/7B334b Safari/531.21.10',
      ];
      const current = [
        'Mozilla/5.0 (Linux; U; Android 4.0.3; en-us) AppleWebKit/534.30 (KHTML, like Gecko) Version/4.0 Mobile Safari/534.30',
        'Mozilla/5.0 (iPhone; CPU iPhone OS 5_0 like Mac OS X) AppleWebKit/534.46 (KHTML, like Gecko) Version/5.1 Mobile/9A334 Safari/7534.48.3',
        'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1',
        'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36',
        'Mozilla/5.0 (Android 2.3; Mobile; rv:20.0) Gecko/20.0 Firefox/20.0', // Firefox scrolls its panes
      ];
      for (const ua of old) assert.equal(U.needsPageScroll(ua, ''), true, ua);
      for (const ua of current) assert.equal(U.needsPageScroll(ua, ''), false, ua);
      assert.equal(U.needsPageScroll(current[3], '?layout=page'), true, 'forced');
      assert.equal(U.needsPageScroll(current[3], '?x=1&layout=page'), true);
      assert.equal(U.needsPageScroll(current[3], '?layout=pages'), false);
    });
  });
});
