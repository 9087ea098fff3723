// The poll's ordering, without HTTP (issue #2): a write that commits and publishes exactly
// between the poll's read of the store and its wait must still wake it. This injects such a
// write deterministically inside the read, which is the widest possible gap: if the poll ever
// read first and subscribed afterwards, this test would wait for the timeout and fail. The
// store's reads are asynchronous (#12), so the same holds when the write lands while a read
// is still under way, and a revocation must not slip through that window either.
import assert from 'node:assert/strict';
import { revokeDevice } from '../../src/auth';
import { loadConfig } from '../../src/config';
import { type Core, createCore } from '../../src/core';
import { openStore, type SqliteStore } from '../../src/store';
import { poll } from '../../src/stream';
import type { DeviceAuth, User } from '../../src/types';
import { eventRowJson } from '../../src/views';
import { sleep } from '../support/util';
import { tempDbPath } from '../support/server';

describe('poll ordering (unit, #2)', () => {
  let core: Core;
  let store: SqliteStore;
  beforeEach(() => {
    const config = loadConfig({ DB_PATH: tempDbPath('chat-stream-'), LOG_LEVEL: 'silent' });
    store = openStore(config.dbPath);
    core = createCore(config, store);
  });
  afterEach(async () => {
    core.hub.closeAll();
    await store.close();
  });

  async function user(name: string): Promise<User> {
    return (await store.createUser(name, 'h')) ?? assert.fail(name);
  }

  async function device(u: User): Promise<DeviceAuth> {
    await store.createDevice(
      { id: `dev-${u.username}`, userId: u.id, name: 'test', tokenHash: Buffer.alloc(32) },
      { passwordHash: 'h' },
      100,
    );
    return (await store.getDeviceAuth(`dev-${u.username}`)) ?? assert.fail();
  }

  /** Another request's send: committed and published now. */
  async function sendAndPublish(from: User, to: User, body: string): Promise<void> {
    const sent = store.sendMessage({ sender: from, recipient: to, body, clientId: null });
    await store.flush();
    await sent;
    const fresh = (await store.eventsAfter(to.id, 0, 100)).map((e) => ({ seq: e.seq, json: eventRowJson(e, to.id) }));
    core.hub.publish(to.id, fresh);
  }

  it('a message stored and published during the read wakes the poll', async () => {
    const alice = await user('alice');
    const bob = await user('bob');
    const bobDevice = await device(bob);
    const realHead = store.headSeq.bind(store);
    let injected = false;
    // The poll's look at the store is its read of the stream head: inject the write right
    // after that read has seen "nothing new".
    store.headSeq = async (userId: number): Promise<number> => {
      const head = await realHead(userId);
      if (!injected) {
        injected = true;
        await sendAndPublish(alice, bob, 'in the gap');
      }
      return head;
    };
    const started = Date.now();
    const answer = await poll(core, bobDevice, { since: 0, timeoutMs: 2000, limit: 100 }, () => undefined);
    assert.equal(injected, true);
    assert.equal(answer.outcome, 'events');
    assert.equal(answer.events.length, 1);
    assert.match(answer.events[0] ?? '', /in the gap/);
    assert.equal(answer.cursor, '1');
    assert.ok(Date.now() - started < 1000, 'woken, not timed out');
    assert.deepEqual(core.hub.stats(), { held: 0, waiters: 0, timers: 0, devices: 0, users: 0 }, 'nothing left behind');
  });

  it('a message published while a slow read is still under way (a networked store) wakes the poll (#12)', async () => {
    const alice = await user('alice');
    const bob = await user('bob');
    const bobDevice = await device(bob);
    const realHead = store.headSeq.bind(store);
    // The head as read before the send, answered 50 ms later, the send published meanwhile.
    store.headSeq = (userId: number): Promise<number> => realHead(userId).then((head) => sleep(50).then(() => head));
    const answer = poll(core, bobDevice, { since: 0, timeoutMs: 5000, limit: 100 }, () => undefined);
    await sleep(10);
    assert.equal(core.hub.stats().waiters, 1, 'subscribed before reading');
    assert.equal(core.hub.stats().held, 0, 'not held while reading');
    await sendAndPublish(alice, bob, 'during the read');
    const started = Date.now();
    const a = await answer;
    assert.equal(a.outcome, 'events');
    assert.match(a.events[0] ?? '', /during the read/);
    assert.ok(Date.now() - started < 1000, 'answered once the read came back, not at the timeout');
  });

  it('a device revoked between its authentication and its poll gets "revoked", and nothing is held (#12)', async () => {
    const bob = await user('bob');
    const d = await device(bob); // authenticated...
    await revokeDevice(core, d, d.id); // ...then logged out by another request before the poll subscribed
    const answer = await poll(core, d, { since: 0, timeoutMs: 30_000, limit: 100 }, () => undefined);
    assert.equal(answer.outcome, 'revoked');
    assert.deepEqual(core.hub.stats(), { held: 0, waiters: 0, timers: 0, devices: 0, users: 0 });
  });

  it('a device revoked while the poll reads the store gets "revoked" (#12)', async () => {
    const bob = await user('bob');
    const d = await device(bob);
    const realHead = store.headSeq.bind(store);
    store.headSeq = async (userId: number): Promise<number> => {
      const head = await realHead(userId);
      await revokeDevice(core, d, d.id);
      return head;
    };
    const answer = await poll(core, d, { since: 0, timeoutMs: 30_000, limit: 100 }, () => undefined);
    assert.equal(answer.outcome, 'revoked');
    assert.deepEqual(core.hub.stats(), { held: 0, waiters: 0, timers: 0, devices: 0, users: 0 });
  });

  it('a client that goes away while the poll reads the store is never held (#12)', async () => {
    const bob = await user('bob');
    const d = await device(bob);
    const realHead = store.headSeq.bind(store);
    store.headSeq = (userId: number): Promise<number> => realHead(userId).then((head) => sleep(50).then(() => head));
    let gone: (() => void) | undefined;
    const p = poll(core, d, { since: 0, timeoutMs: 30_000, limit: 100 }, (started) => (gone = () => started.cancel()));
    assert.ok(gone, 'registered at once, before the reads');
    gone();
    const answer = await p;
    assert.equal(answer.outcome, 'cancelled');
    assert.deepEqual(core.hub.stats(), { held: 0, waiters: 0, timers: 0, devices: 0, users: 0 });
  });

  it('an aborted poll is released at once', async () => {
    const bob = await user('bob');
    let gone: (() => void) | undefined;
    const p = poll(core, await device(bob), { since: 0, timeoutMs: 30_000, limit: 100 }, (started) => (gone = () => started.cancel()));
    while (core.hub.stats().held < 1) await sleep(1);
    assert.ok(gone, 'registered');
    gone();
    const answer = await p;
    assert.equal(answer.outcome, 'cancelled');
    assert.deepEqual(core.hub.stats(), { held: 0, waiters: 0, timers: 0, devices: 0, users: 0 });
  });

  it('a poll started while the server shuts down is answered at once with nothing, and leaves nothing behind', async () => {
    const bob = await user('bob');
    const d = await device(bob);
    core.hub.closeAll();
    let registered = false;
    const answer = await poll(core, d, { since: 0, timeoutMs: 30_000, limit: 100 }, () => (registered = true));
    assert.equal(answer.outcome, 'shutdown');
    assert.deepEqual(answer.events, []);
    assert.equal(answer.cursor, '0');
    assert.equal(registered, false, 'nothing to cancel');
    assert.deepEqual(core.hub.stats(), { held: 0, waiters: 0, timers: 0, devices: 0, users: 0 });
  });
});
