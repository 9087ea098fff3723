// Rate limits alone (issues #3, #13): fixed windows, bounded memory, and how client addresses
// are counted.
import assert from 'node:assert/strict';
import { addressKey } from '../../src/address';
import { isAppError } from '../../src/errors';
import { LIMITER_KEYS_MAX, Limits, WindowLimiter } from '../../src/limits';
import { heapAfterGc } from '../support/util';

describe('rate limits (unit, #3, #13)', () => {
  it('a window counts points from its first, refuses past them until it ends, then starts over', () => {
    const l = new WindowLimiter(2, 1000);
    assert.equal(l.take('k', 10_000), 0);
    assert.equal(l.take('k', 10_400), 0);
    assert.equal(l.take('k', 10_600), 400, 'refused: 400 ms until the window ends');
    assert.equal(l.take('k', 10_999), 1, 'refusals count, and do not extend the window');
    assert.equal(l.take('k', 11_000), 0, 'a new window');
    assert.equal(l.take('other', 11_000), 0, 'keys are counted apart');
  });

  it('gives a point back within the window only, and forgets a key', () => {
    const l = new WindowLimiter(1, 1000);
    assert.equal(l.take('k', 0), 0);
    l.give('k', 10);
    assert.equal(l.take('k', 20), 0, 'the point given back is there again');
    assert.ok(l.take('k', 30) > 0);
    l.give('gone', 30); // nothing to give back: no key is made
    assert.equal(l.size, 1);
    l.forget('k');
    assert.equal(l.take('k', 40), 0);
  });

  it('keeps at most maxKeys: a key used again is kept, keys unused for a generation are dropped', () => {
    const l = new WindowLimiter(1, 1000, 4); // two generations of 2
    const keys = (): number => l.size;
    l.take('a', 0);
    l.take('b', 1);
    l.take('c', 2); // a new generation: {c}, after {a, b}
    assert.ok(l.take('a', 3) > 0, 'a used again (refused, its count kept): moved up to {c, a}');
    l.take('d', 4); // a new generation: {d}, after {c, a}; b, unused meanwhile, is gone
    assert.equal(keys(), 3);
    assert.ok(l.take('a', 5) > 0, 'a kept its count');
    assert.equal(l.take('b', 6), 0, 'b was dropped: it starts over');
    for (let i = 0; i < 100; i++) l.take(`new${i}`, 7);
    assert.ok(keys() <= 4, `${keys()} keys`);
    assert.equal(l.take('a', 8), 0, 'a, unused for a whole generation, was dropped too');
  });

  it(`holds at most ${LIMITER_KEYS_MAX} keys per limit under a flood of distinct addresses and names, and little memory`, () => {
    const limits = new Limits({
      rateLoginUser: { points: 10, windowS: 300 },
      rateLoginIp: { points: 50, windowS: 300 },
      rateSignupIp: { points: 50, windowS: 3600 },
      rateMessagesUser: { points: 300, windowS: 60 },
      rateGroupsUser: { points: 20, windowS: 3600 },
    });
    const before = heapAfterGc();
    const flood = 5 * LIMITER_KEYS_MAX;
    for (let i = 0; i < flood; i++) {
      // A fresh /64 and a fresh name each time, as an IPv6 client with a /32 could send.
      void limits.beginLogin(
        `name${i.toString(36).padStart(26, '0')}`,
        `2001:db8:${(i >>> 16).toString(16)}:${(i & 0xffff).toString(16)}::1`,
      );
      void limits.signup(`2001:db9:${(i >>> 16).toString(16)}:${(i & 0xffff).toString(16)}::1`);
    }
    const grown = heapAfterGc() - before;
    assert.ok(limits.keys <= 3 * LIMITER_KEYS_MAX, `${limits.keys} keys: each of the three limits at most full`);
    // A few MiB per full limit; an unbounded one would hold five times the keys, with a timer each.
    assert.ok(grown < 3 * 6 * 1024 * 1024, `the heap grew by ${(grown / 1024 / 1024).toFixed(1)} MiB`);
    console.log(`      ${flood} distinct addresses and names: ${limits.keys} keys kept, heap +${(grown / 1024 / 1024).toFixed(1)} MiB`);
  });

  it('counts two addresses of one IPv6 /64 together, and an IPv4-mapped address as its IPv4 address', async () => {
    const limits = new Limits({
      rateLoginUser: null,
      rateLoginIp: { points: 2, windowS: 60 },
      rateSignupIp: null,
      rateMessagesUser: null,
      rateGroupsUser: null,
    });
    await limits.beginLogin(null, '2001:db8:1:2::1');
    await limits.beginLogin(null, '2001:db8:1:2:ffff:ffff:ffff:ffff');
    await assert.rejects(limits.beginLogin(null, '2001:db8:1:2::3'), (e) => isAppError(e) && e.status === 429);
    await limits.beginLogin(null, '2001:db8:1:3::1');
    await limits.beginLogin(null, '198.51.100.1');
    await limits.beginLogin(null, '::ffff:198.51.100.1');
    await assert.rejects(limits.beginLogin(null, '198.51.100.1'), (e) => isAppError(e) && e.status === 429);
  });

  it('addressKey: IPv4 as it is, IPv6 by its /64 in one spelling, anything else cut short', () => {
    assert.equal(addressKey('192.0.2.1'), '192.0.2.1');
    assert.equal(addressKey('2001:DB8:0001:0002:0:0:0:1'), '2001:db8:1:2::/64');
    assert.equal(addressKey('2001:db8:1:2::dead:beef'), '2001:db8:1:2::/64');
    assert.equal(addressKey('::1'), '0:0:0:0::/64');
    assert.equal(addressKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
    assert.equal(addressKey('::ffff:192.0.2.1'), '192.0.2.1');
    assert.equal(addressKey('::ffff:c000:201'), '192.0.2.1');
    assert.equal(addressKey('2001:db8::192.0.2.1'), '2001:db8:0:0::/64');
    assert.equal(addressKey('x'.repeat(10_000)).length, 64);
    assert.equal(addressKey('unknown'), 'unknown');
  });
});
