// The hub alone: no HTTP, no SQL (issue #2).
import assert from 'node:assert/strict';
import { Hub } from '../../src/hub';

type E = { seq: number; json: string };
const ev = (seq: number): E => ({ seq, json: `{"n":${seq}}` });

function hub(pollsPerDevice = 4, maxHeld = 100): Hub<E> {
  return new Hub<E>({ pollsPerDevice, maxHeld });
}

describe('hub (unit, #2)', () => {
  it('wakes a held waiter with the events after its cursor only', async () => {
    const h = hub();
    const w = h.subscribe(1, 'd1', 5);
    assert.equal(w.hold(10_000), 'held');
    h.publish(1, [ev(5), ev(6), ev(7)]);
    const out = await w.promise;
    assert.deepEqual(out, { kind: 'events', events: [ev(6), ev(7)] });
    assert.deepEqual(h.stats(), { held: 0, waiters: 0, timers: 0, devices: 0, users: 0 });
  });

  it('does not wake waiters of other users', async () => {
    const h = hub();
    const mine = h.subscribe(1, 'd1', 0);
    mine.hold(10_000);
    h.publish(2, [ev(1)]);
    assert.equal(mine.isSettled, false);
    mine.cancel();
    assert.deepEqual(await mine.promise, { kind: 'cancelled' });
  });

  it('an event published between subscribe and hold is not lost (register, then read)', async () => {
    const h = hub();
    const w = h.subscribe(1, 'd1', 0);
    h.publish(1, [ev(1)]); // e.g. committed while an asynchronous read was in flight
    assert.equal(w.hold(10_000), 'held');
    assert.deepEqual(await w.promise, { kind: 'events', events: [ev(1)] });
    assert.equal(h.stats().timers, 0);
  });

  it('times out with its own timer, and the timer is gone afterwards', async () => {
    const h = hub();
    const w = h.subscribe(1, 'd1', 0);
    w.hold(20);
    assert.equal(h.stats().timers, 1);
    assert.deepEqual(await w.promise, { kind: 'timeout' });
    assert.deepEqual(h.stats(), { held: 0, waiters: 0, timers: 0, devices: 0, users: 0 });
  });

  it('answers the oldest poll of a device past its per-device limit', async () => {
    const h = hub(2);
    const a = h.subscribe(1, 'd1', 0);
    a.hold(10_000);
    const b = h.subscribe(1, 'd1', 0);
    b.hold(10_000);
    const other = h.subscribe(1, 'd2', 0);
    other.hold(10_000);
    const c = h.subscribe(1, 'd1', 0);
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
    const a = h.subscribe(1, 'd1', 0);
    const b = h.subscribe(2, 'd2', 0);
    assert.equal(a.hold(10_000), 'held');
    assert.equal(b.hold(10_000), 'held');
    const c = h.subscribe(3, 'd3', 0);
    assert.equal(c.hold(10_000), 'overloaded');
    c.cancel();
    assert.equal(a.isSettled || b.isSettled, false);
    assert.equal(h.stats().held, 2);
    // A device at its own limit is never told the server is full: its oldest poll makes room.
    const h2 = hub(1, 1);
    const x = h2.subscribe(1, 'd1', 0);
    x.hold(10_000);
    const y = h2.subscribe(1, 'd1', 0);
    assert.equal(y.hold(10_000), 'held');
    assert.deepEqual(await x.promise, { kind: 'superseded' });
    h.closeAll();
    h2.closeAll();
  });

  it('revokes every waiter of one device at once, and no other', async () => {
    const h = hub();
    const a = h.subscribe(1, 'd1', 0);
    a.hold(10_000);
    const pending = h.subscribe(1, 'd1', 0); // subscribed, not yet held
    const b = h.subscribe(1, 'd2', 0);
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
      const w = h.subscribe(u, `d${u}`, 0);
      w.hold(10_000);
      return w;
    });
    h.closeAll();
    for (const w of ws) assert.deepEqual(await w.promise, { kind: 'shutdown' });
    const late = h.subscribe(9, 'd9', 0);
    assert.equal(late.isSettled, true);
    assert.deepEqual(await late.promise, { kind: 'shutdown' });
    assert.deepEqual(h.stats(), { held: 0, waiters: 0, timers: 0, devices: 0, users: 0 });
  });

  it('cancel frees the slot and the timer at once and is idempotent', () => {
    const h = hub();
    const w = h.subscribe(1, 'd1', 0);
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
      const w = h.subscribe(i % 50, `d${i % 200}`, 0);
      w.hold(i % 3 === 0 ? 5 : 10_000);
      all.push(w);
    }
    for (let u = 0; u < 25; u++) h.publish(u, [ev(1)]);
    h.revokeDevice('d199');
    for (const [i, w] of all.entries()) if (i % 7 === 0) w.cancel();
    await new Promise((r) => setTimeout(r, 30));
    h.closeAll();
    await Promise.all(all.map((w) => w.promise));
    assert.deepEqual(h.stats(), { held: 0, waiters: 0, timers: 0, devices: 0, users: 0 });
  });
});
