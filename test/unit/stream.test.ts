// The poll's ordering, without HTTP (issue #2): a write that commits and publishes exactly
// between the poll's read of the store and its wait must still wake it. This injects such a
// write deterministically inside the read, which is the widest possible gap: if the poll ever
// read first and subscribed afterwards, this test would wait for the timeout and fail.
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config';
import { type Core, createCore } from '../../src/core';
import { openStore } from '../../src/store';
import { poll } from '../../src/stream';
import type { DeviceAuth, EventRow } from '../../src/types';
import { eventRowJson } from '../../src/views';
import { tempDbPath } from '../support/server';

describe('poll ordering (unit, #2)', () => {
  let core: Core;
  beforeEach(() => {
    const config = loadConfig({ DB_PATH: tempDbPath('chat-stream-'), LOG_LEVEL: 'silent' });
    core = createCore(config, openStore(config.dbPath));
  });
  afterEach(() => {
    core.hub.closeAll();
    core.store.close();
  });

  function device(userId: number, username: string): DeviceAuth {
    const d = core.store.createDevice({ id: `dev-${username}`, userId, name: 'test', tokenHash: Buffer.alloc(32) });
    return { ...d, username, tokenHash: '00'.repeat(32) };
  }

  it('a message stored and published during the read wakes the poll', async () => {
    const alice = core.store.createUser('alice', 'h') ?? assert.fail();
    const bob = core.store.createUser('bob', 'h') ?? assert.fail();
    const bobDevice = device(bob.id, 'bob');
    const store = core.store;
    const realHead = store.headSeq.bind(store);
    let injected = false;
    // The poll's look at the store is its read of the stream head: inject the write right
    // after that read has seen "nothing new".
    store.headSeq = (userId: number): number => {
      const head = realHead(userId);
      if (!injected) {
        injected = true;
        // Another request's send: committed and published right now, after our read looked.
        void store.sendMessage({ sender: alice, recipient: bob, body: 'in the gap', clientId: null });
        store.flushWrites();
        const fresh = store.eventsAfter(userId, 0, 100).map((e: EventRow) => ({ seq: e.seq, json: eventRowJson(e, userId) }));
        core.hub.publish(userId, fresh);
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
  });

  it('an aborted poll is released at once', async () => {
    const bob = core.store.createUser('bob', 'h') ?? assert.fail();
    let gone: (() => void) | undefined;
    const p = poll(core, device(bob.id, 'bob'), { since: 0, timeoutMs: 30_000, limit: 100 }, (cancel) => (gone = cancel));
    assert.equal(core.hub.stats().held, 1);
    assert.ok(gone);
    gone();
    const answer = await p;
    assert.equal(answer.outcome, 'cancelled');
    assert.deepEqual(core.hub.stats(), { held: 0, waiters: 0, timers: 0, devices: 0, users: 0 });
  });

  it('a poll started while the server shuts down is answered at once with nothing, and leaves nothing behind', async () => {
    const bob = core.store.createUser('bob', 'h') ?? assert.fail();
    core.hub.closeAll();
    let registered = false;
    const answer = await poll(core, device(bob.id, 'bob'), { since: 0, timeoutMs: 30_000, limit: 100 }, () => (registered = true));
    assert.equal(answer.outcome, 'shutdown');
    assert.deepEqual(answer.events, []);
    assert.equal(answer.cursor, '0');
    assert.equal(registered, false, 'nothing to cancel');
    assert.deepEqual(core.hub.stats(), { held: 0, waiters: 0, timers: 0, devices: 0, users: 0 });
  });
});
