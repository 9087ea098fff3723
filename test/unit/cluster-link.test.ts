// The cluster link alone (#16): a fake bus and fake stream reads, a real hub. What goes out
// after a commit, what a hint from another process does here, the coalescing of reads per user,
// the re-check that makes up for lost hints, and revocations from elsewhere.
import assert from 'node:assert/strict';
import { type Bus, ClusterLink, type StreamReads } from '../../src/cluster';
import { Hub, type Outcome } from '../../src/hub';
import { Presence } from '../../src/presence';
import type { EventRow, StreamEvent } from '../../src/types';

class FakeBus implements Bus {
  sent: string[] = [];
  healthy = true;
  /** Shared state of every process, as Redis would keep it (shared between fake buses). */
  constructor(readonly states = new Map<string, string>()) {}
  putState(id: string, text: string): Promise<void> {
    this.states.set(id, text);
    return Promise.resolve();
  }
  readStates(): Promise<Map<string, string>> {
    return Promise.resolve(new Map(this.states));
  }
  handlers: { message(text: string): void; subscribed(): void } | null = null;
  publish(text: string): void {
    this.sent.push(text);
  }
  start(handlers: { message(text: string): void; subscribed(): void }): void {
    this.handlers = handlers;
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
  /** A message from another process. */
  from(other: string, body: object): void {
    this.handlers?.message(JSON.stringify({ o: other, ...body }));
  }
}

function row(seq: number): EventRow {
  return { seq, kind: 'read', with: 'bob', upTo: seq };
}

/** Streams as the store would hold them, with the reads counted and held until released. */
class FakeStreams implements StreamReads {
  heads = new Map<number, number>();
  devices = new Set<string>();
  reads = 0;
  private gate: Promise<void> = Promise.resolve();
  private open: () => void = () => undefined;
  hold(): void {
    this.gate = new Promise((r) => (this.open = r));
  }
  release(): void {
    this.open();
  }
  async eventsAfter(userId: number, afterSeq: number, limit: number): Promise<EventRow[]> {
    this.reads++;
    // What was committed when the read began: commits during it are for the next read.
    const head = this.heads.get(userId) ?? 0;
    const out: EventRow[] = [];
    for (let s = afterSeq + 1; s <= head && out.length < limit; s++) out.push(row(s));
    await this.gate;
    return out;
  }
  headReads = 0;
  async headSeqs(userIds: readonly number[]): Promise<Map<number, number>> {
    this.headReads++;
    const heads = new Map(userIds.map((u) => [u, this.heads.get(u) ?? 0]));
    await this.gate;
    return heads;
  }
  existingDevices(ids: readonly string[]): Promise<Set<string>> {
    return Promise.resolve(new Set(ids.filter((id) => this.devices.has(id))));
  }
}

function setUp(states = new Map<string, string>(), id = 'me') {
  const bus = new FakeBus(states);
  const streams = new FakeStreams();
  const link = new ClusterLink(streams, bus, id, { readLimit: 100, recheckMs: 60_000 });
  const hub = new Hub<StreamEvent>({ pollsPerDevice: 4, pollsPerUser: 100, maxHeld: 100 }, link);
  const presence = new Presence(60_000, hub);
  link.start(hub, presence);
  return { bus, streams, link, hub, presence };
}

function held(hub: Hub<StreamEvent>, userId: number, device: string, since: number): Promise<Outcome<StreamEvent>> {
  return new Promise((resolve) => {
    const w = hub.subscribe(userId, device, since, resolve);
    assert.equal(w.hold(60_000), 'held');
  });
}

const turn = () => new Promise((r) => setImmediate(r));

describe('cluster link (unit, #16)', () => {
  it('announces what this process committed once per turn, one hint per user with its last position, and revocations', async () => {
    const { bus, hub, link } = setUp();
    hub.publish(1, [{ seq: 3, json: '{}' }]);
    hub.publish(2, [{ seq: 7, json: '{}' }]);
    hub.publish(1, [{ seq: 4, json: '{}' }]);
    hub.revokeDevices(['d9']);
    assert.deepEqual(bus.sent, [], 'not before the end of the turn');
    await turn();
    assert.deepEqual(
      bus.sent.map((t) => JSON.parse(t) as unknown),
      [
        {
          o: 'me',
          u: [
            [1, 4],
            [2, 7],
          ],
          r: ['d9'],
        },
      ],
    );
    hub.deliver(1, [{ seq: 5, json: '{}' }]);
    hub.revokeHere(['d8']);
    await turn();
    assert.equal(bus.sent.length, 1, 'what came from elsewhere is not echoed');
    await link.stop();
  });

  it('a hint for a user with waiters here reads their events once and wakes them; its own hints and stale ones read nothing', async () => {
    const { bus, streams, hub, link } = setUp();
    streams.heads.set(1, 6);
    const waiting = held(hub, 1, 'd1', 5);
    bus.from('me', { u: [[1, 6]] });
    bus.from('other', { u: [[1, 5]] });
    bus.from('other', { u: [[2, 9]] });
    assert.equal(streams.reads, 0, 'own hint, a position already seen, a user without waiters here');
    bus.from('other', { u: [[1, 6]] });
    const out = await waiting;
    assert.deepEqual(out.kind === 'events' && out.events.map((e) => e.seq), [6]);
    assert.equal(streams.reads, 1);
    bus.from('other', { nonsense: true });
    bus.handlers?.message('not json');
    await link.stop();
  });

  it('hints arriving during a read make one more read after it, not one each', async () => {
    const { bus, streams, hub, link } = setUp();
    streams.heads.set(1, 1);
    const first = held(hub, 1, 'd1', 0);
    streams.hold();
    bus.from('other', { u: [[1, 1]] });
    for (let s = 2; s <= 5; s++) {
      streams.heads.set(1, s);
      bus.from('other', { u: [[1, s]] });
    }
    assert.equal(streams.reads, 1, 'one read in flight');
    // The first waiter is answered by that read; a new poll subscribes meanwhile at 1.
    const second = held(hub, 1, 'd2', 1);
    streams.release();
    assert.deepEqual((await first).kind, 'events');
    const out = await second;
    assert.deepEqual(out.kind === 'events' && out.events.map((e) => e.seq), [2, 3, 4, 5]);
    assert.equal(streams.reads, 2, 'the hints that came meanwhile made one more read');
    await link.stop();
  });

  it('the re-check finds what a lost hint would have said, and ends held polls of devices gone elsewhere', async () => {
    const { streams, hub, link, presence } = setUp();
    streams.heads.set(1, 3);
    streams.devices.add('kept');
    const moved = held(hub, 1, 'kept', 2);
    const revoked = held(hub, 2, 'gone', 0);
    presence.touch(2, 'bob', 'gone');
    await link.recheck();
    const out = await moved;
    assert.deepEqual(out.kind === 'events' && out.events.map((e) => e.seq), [3]);
    assert.deepEqual(await revoked, { kind: 'revoked' });
    assert.deepEqual(presence.onlineUsers(), [], 'no longer counted as online');
    await link.stop();
  });

  it('a revocation from another process answers the devices held here', async () => {
    const { bus, hub, link } = setUp();
    const w = held(hub, 1, 'phone', 0);
    bus.from('other', { r: ['phone'] });
    assert.deepEqual(await w, { kind: 'revoked' });
    assert.equal(link.status().bus, 'up');
    await link.stop();
  });

  it('presence: who is online through one process is online through the others; a device revoked anywhere is forgotten at once', async () => {
    const states = new Map<string, string>();
    const a = setUp(states, 'a');
    const b = setUp(states, 'b');
    a.presence.touch(1, 'alice', 'phone');
    void held(a.hub, 1, 'phone', 0);
    b.presence.touch(2, 'bob', 'laptop');
    await a.link.sharePresence();
    await b.link.sharePresence();
    await a.link.sharePresence();
    assert.deepEqual(a.presence.onlineUsers(), ['alice', 'bob']);
    assert.deepEqual(b.presence.onlineUsers(), ['alice', 'bob']);
    assert.equal(b.presence.isDeviceOnline('phone'), true, 'held on a: online in GET /devices through b');
    assert.equal(a.presence.isDeviceOnline('laptop'), false, 'seen, not holding a poll');
    b.bus.from('a', { r: ['phone'] });
    assert.deepEqual(b.presence.onlineUsers(), ['bob'], 'forgotten at once, before a shares again');
    b.bus.healthy = false;
    await b.link.sharePresence();
    assert.deepEqual(b.presence.onlineUsers(), ['bob'], 'Redis away: its own view only');
    await a.link.stop();
    await b.link.stop();
  });

  it('a re-check asked for while one runs (Redis back meanwhile) runs once more after it, not never', async () => {
    const { streams, hub, link } = setUp();
    streams.devices.add('d1');
    const w = held(hub, 1, 'd1', 0);
    streams.hold();
    const first = link.recheck();
    streams.heads.set(1, 1); // committed after the first re-check read the heads
    void link.recheck();
    void link.recheck();
    streams.release();
    await first;
    assert.equal(streams.headReads, 2, 'one more, however many were asked for meanwhile');
    const out = await w;
    assert.deepEqual(out.kind === 'events' && out.events.map((e) => e.seq), [1]);
    await link.stop();
  });
});
