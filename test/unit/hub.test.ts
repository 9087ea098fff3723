// The hub alone: no HTTP, no SQL (issue #2).
import assert from 'node:assert/strict';
import { Hub, type Outcome, type Waiter } from '../../src/hub';
import { sleep } from '../support/util';

type E = { seq: number; json: string };
const ev = (seq: number): E => ({ seq, json: `{"n":${seq}}` });

function hub(pollsPerDevice = 4, maxHeld = 100, pollsPerUser = maxHeld): Hub<E> {
  return new Hub<E>({ pollsPerDevice, pollsPerUser, maxHeld });
}

/** A subscription whose outcome can be awaited, and which fails the test if delivered twice. */
function sub(h: Hub<E>, userId: number, deviceId: string, since: number): Waiter<E> & { promise: Promise<Outcome<E>> } {
  let resolve!: (o: Outcome<E>) => void;
  const promise = new Promise<Outcome<E>>((r) => (resolve = r));
  let calls = 0;
  const w = h.subscribe(userId, deviceId, since, (o) => {
    calls++;
    assert.equal(calls, 1, 'an outcome is delivered once');
    resolve(o);
  });
  return Object.assign(w, { promise });
}

describe('hub (unit, #2)', () => {
  it('wakes a held waiter with the events after its cursor only', async () => {
    const h = hub();
    const w = sub(h, 1, 'd1', 5);
    assert.equal(w.hold(10_000), 'held');
    h.publish(1, [ev(5), ev(6), ev(7)]);
    const out = await w.promise;
    assert.deepEqual(out, { kind: 'events', events: [ev(6), ev(7)] });
    assert.deepEqual(h.stats(), { held: 0, waiters: 0, timers: 0, devices: 0, users: 0 });
  });

  it('does not wake waiters of other users', async () => {
    const h = hub();
    const mine = sub(h, 1, 'd1', 0);
    mine.hold(10_000);
    h.publish(2, [ev(1)]);
    assert.equal(mine.isSettled, false);
    mine.cancel();
    assert.deepEqual(await mine.promise, { kind: 'cancelled' });
  });

  it('an event published between subscribe and hold is not lost (register, then read)', async () => {
    const h = hub();
    const w = sub(h, 1, 'd1', 0);
    h.publish(1, [ev(1)]); // e.g. committed while an asynchronous read was in flight
    assert.equal(w.hold(10_000), 'held');
    assert.deepEqual(await w.promise, { kind: 'events', events: [ev(1)] });
    assert.equal(h.stats().timers, 0);
  });

  it('times out with its own timer, and the timer is gone afterwards', async () => {
    const h = hub();
    const w = sub(h, 1, 'd1', 0);
    w.hold(20);
    assert.equal(h.stats().timers, 1);
    assert.deepEqual(await w.promise, { kind: 'timeout' });
    assert.deepEqual(h.stats(), { held: 0, waiters: 0, timers: 0, devices: 0, users: 0 });
  });

  it('times polls out in groups, none before its own timeout, and leaves no timer behind', async () => {
    const h = hub();
    const timeouts = [5, 30, 31, 47, 60, 60];
    const started = performance.now();
    const ws = timeouts.map((ms, i) => {
      const w = sub(h, i, `d${i}`, 0);
      assert.equal(w.hold(ms), 'held');
      return w;
    });
    assert.equal(h.stats().timers, timeouts.length);
    ws[3]?.cancel(); // one leaves its group early: the others still time out
    const ended = await Promise.all(ws.map((w) => w.promise.then((o) => ({ kind: o.kind, at: performance.now() - started }))));
    for (const [i, e] of ended.entries()) {
      if (i === 3) assert.equal(e.kind, 'cancelled');
      else {
        assert.equal(e.kind, 'timeout');
        // (Node's timers go by the event loop's clock, which may be a millisecond or two behind.)
        assert.ok(e.at >= (timeouts[i] ?? 0) - 3, `poll ${i} timed out after ${e.at.toFixed(1)} ms, asked ${timeouts[i]}`);
      }
    }
    assert.deepEqual(h.stats(), { held: 0, waiters: 0, timers: 0, devices: 0, users: 0 });
  });

  it('answers the oldest poll of a device past its per-device limit', async () => {
    const h = hub(2);
    const a = sub(h, 1, 'd1', 0);
    a.hold(10_000);
    const b = sub(h, 1, 'd1', 0);
    b.hold(10_000);
    const other = sub(h, 1, 'd2', 0);
    other.hold(10_000);
    const c = sub(h, 1, 'd1', 0);
    c.hold(10_000);
    assert.deepEqual(await a.promise, { kind: 'superseded' });
    assert.equal(b.isSettled, false);
    assert.equal(c.isSettled, false);
    assert.equal(other.isSettled, false, 'another device of the same user keeps its poll');
    assert.equal(h.stats().held, 3);
    h.closeAll();
  });

  it('refuses a new hold at the global cap and leaves existing holds alone', async () => {
    const h = hub(4, 2);
    const a = sub(h, 1, 'd1', 0);
    const b = sub(h, 2, 'd2', 0);
    assert.equal(a.hold(10_000), 'held');
    assert.equal(b.hold(10_000), 'held');
    const c = sub(h, 3, 'd3', 0);
    assert.equal(c.hold(10_000), 'overloaded');
    c.cancel();
    assert.equal(a.isSettled || b.isSettled, false);
    assert.equal(h.stats().held, 2);
    // A device at its own limit is never told the server is full: its oldest poll makes room.
    const h2 = hub(1, 1);
    const x = sub(h2, 1, 'd1', 0);
    x.hold(10_000);
    const y = sub(h2, 1, 'd1', 0);
    assert.equal(y.hold(10_000), 'held');
    assert.deepEqual(await x.promise, { kind: 'superseded' });
    h.closeAll();
    h2.closeAll();
  });

  it("refuses a hold past the user's cap, counting all their devices, and leaves other users and the user's holds alone (#13)", async () => {
    const h = hub(2, 100, 3);
    const mine = [sub(h, 1, 'd1', 0), sub(h, 1, 'd1', 0), sub(h, 1, 'd2', 0)];
    for (const w of mine) assert.equal(w.hold(10_000), 'held');
    for (const device of ['d2', 'd3']) {
      const refused = sub(h, 1, device, 0);
      assert.equal(refused.hold(10_000), 'limited', `a new poll of ${device}`);
      refused.cancel();
    }
    assert.equal(
      mine.some((w) => w.isSettled),
      false,
      "none of the user's polls was let go",
    );
    const other = sub(h, 2, 'e1', 0);
    assert.equal(other.hold(10_000), 'held', 'another user is not affected');
    // A device at its own cap makes room from its own polls first, so it is never refused.
    const again = sub(h, 1, 'd1', 0);
    assert.equal(again.hold(10_000), 'held');
    assert.deepEqual(await mine[0]?.promise, { kind: 'superseded' }, 'd1 at its cap of 2 let its oldest go');
    assert.equal(h.stats().held, 4, '3 of user 1 and 1 of user 2');
    // A slot freed by any of the user's polls can be taken again, by any of their devices.
    mine[2]?.cancel();
    const later = sub(h, 1, 'd3', 0);
    assert.equal(later.hold(10_000), 'held');
    h.closeAll();
    assert.deepEqual(h.stats(), { held: 0, waiters: 0, timers: 0, devices: 0, users: 0 });
  });

  it('revokes the waiters of many devices in one call, held or not, and no other (#13)', async () => {
    const h = hub();
    const a = sub(h, 1, 'd1', 0);
    a.hold(10_000);
    const pending = sub(h, 2, 'd2', 0);
    const keep = sub(h, 1, 'd3', 0);
    keep.hold(10_000);
    h.revokeDevices(['d1', 'd2', 'unknown']);
    assert.deepEqual(await a.promise, { kind: 'revoked' });
    assert.deepEqual(await pending.promise, { kind: 'revoked' });
    assert.equal(keep.isSettled, false);
    h.revokeDevices([]);
    h.closeAll();
  });

  it('revokes every waiter of one device at once, and no other', async () => {
    const h = hub();
    const a = sub(h, 1, 'd1', 0);
    a.hold(10_000);
    const pending = sub(h, 1, 'd1', 0); // subscribed, not yet held
    const b = sub(h, 1, 'd2', 0);
    b.hold(10_000);
    h.revokeDevice('d1');
    assert.deepEqual(await a.promise, { kind: 'revoked' });
    assert.deepEqual(await pending.promise, { kind: 'revoked' });
    assert.equal(b.isSettled, false);
    h.closeAll();
    assert.deepEqual(await b.promise, { kind: 'shutdown' });
  });

  it('on closeAll answers everyone and answers later subscriptions at once', async () => {
    const h = hub();
    const ws = [1, 2, 3].map((u) => {
      const w = sub(h, u, `d${u}`, 0);
      w.hold(10_000);
      return w;
    });
    h.closeAll();
    for (const w of ws) assert.deepEqual(await w.promise, { kind: 'shutdown' });
    const late = sub(h, 9, 'd9', 0);
    assert.equal(late.isSettled, true);
    assert.deepEqual(await late.promise, { kind: 'shutdown' });
    assert.deepEqual(h.stats(), { held: 0, waiters: 0, timers: 0, devices: 0, users: 0 });
  });

  it('delivers outcomes after the publish returns, never from inside it', async () => {
    const h = hub();
    const order: string[] = [];
    const a = h.subscribe(1, 'd1', 0, () => order.push('a'));
    a.hold(10_000);
    const b = h.subscribe(1, 'd2', 0, () => order.push('b'));
    b.hold(10_000);
    h.publish(1, [ev(1)]);
    order.push('published');
    // Both are released at once (slots, timers), their callers hear of it a moment later.
    assert.deepEqual(h.stats(), { held: 0, waiters: 0, timers: 0, devices: 0, users: 0 });
    assert.deepEqual(order, ['published']);
    await Promise.resolve();
    assert.deepEqual(order.sort(), ['a', 'b', 'published']);
  });

  it("takes any one of a user's many waiters out and still wakes exactly the others", async () => {
    const h = hub(4, 1000);
    const ws = Array.from({ length: 6 }, (_, i) => sub(h, 1, `d${i}`, 0));
    for (const w of ws) w.hold(10_000);
    for (const i of [1, 4, 0]) ws[i]?.cancel();
    assert.deepEqual(h.stats(), { held: 3, waiters: 3, timers: 3, devices: 3, users: 1 });
    h.publish(1, [ev(1)]);
    const outcomes = await Promise.all(ws.map((w) => w.promise));
    assert.deepEqual(
      outcomes.map((o) => o.kind),
      ['cancelled', 'cancelled', 'events', 'events', 'cancelled', 'events'],
    );
    assert.deepEqual(h.stats(), { held: 0, waiters: 0, timers: 0, devices: 0, users: 0 });
  });

  it('with one poll per device, a new poll replaces the held one', async () => {
    const h = hub(1);
    const a = sub(h, 1, 'd1', 0);
    a.hold(10_000);
    const b = sub(h, 1, 'd1', 0);
    assert.equal(b.hold(10_000), 'held');
    assert.deepEqual(await a.promise, { kind: 'superseded' });
    assert.deepEqual(h.stats(), { held: 1, waiters: 1, timers: 1, devices: 1, users: 1 });
    assert.equal(h.isDeviceHeld('d1'), true);
    h.publish(1, [ev(1)]);
    assert.deepEqual(await b.promise, { kind: 'events', events: [ev(1)] });
    assert.equal(h.isDeviceHeld('d1'), false);
  });

  it('counts a user held while any of their devices holds, and only held waiters', () => {
    const h = hub();
    const a = sub(h, 1, 'd1', 0);
    const b = sub(h, 1, 'd2', 0);
    assert.equal(h.isUserHeld(1), false, 'subscribed is not held');
    a.hold(10_000);
    b.hold(10_000);
    assert.deepEqual(h.stats(), { held: 2, waiters: 2, timers: 2, devices: 2, users: 1 });
    a.cancel();
    assert.equal(h.isUserHeld(1), true);
    b.cancel();
    assert.equal(h.isUserHeld(1), false);
    assert.deepEqual(h.stats(), { held: 0, waiters: 0, timers: 0, devices: 0, users: 0 });
  });

  it('cancel frees the slot and the timer at once and is idempotent', () => {
    const h = hub();
    const w = sub(h, 1, 'd1', 0);
    w.hold(10_000);
    assert.equal(h.isDeviceHeld('d1'), true);
    assert.equal(h.isUserHeld(1), true);
    w.cancel();
    w.cancel();
    assert.deepEqual(h.stats(), { held: 0, waiters: 0, timers: 0, devices: 0, users: 0 });
    assert.equal(h.isDeviceHeld('d1'), false);
  });

  it('keeps its counts at zero after thousands of mixed waits', async () => {
    const h = hub(3, 5000);
    const all = [];
    for (let i = 0; i < 3000; i++) {
      const w = sub(h, i % 50, `d${i % 200}`, 0);
      w.hold(i % 3 === 0 ? 5 : 10_000);
      all.push(w);
    }
    for (let u = 0; u < 25; u++) h.publish(u, [ev(1)]);
    h.revokeDevice('d199');
    for (const [i, w] of all.entries()) if (i % 7 === 0) w.cancel();
    await sleep(30);
    h.closeAll();
    await Promise.all(all.map((w) => w.promise));
    assert.deepEqual(h.stats(), { held: 0, waiters: 0, timers: 0, devices: 0, users: 0 });
  });
});
