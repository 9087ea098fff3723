// The newest events published for each user (src/recent-events.ts, #18): a poll just behind its
// stream's head is answered from them, so what they hand out must be exactly the events after
// the cursor, in order, none skipped; when they cannot say that, the store is read.
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config';
import { type Core, createCore } from '../../src/core';
import { MAX_KEPT_WEIGHT, MAX_USERS, RecentEvents } from '../../src/recent-events';
import { openStore, type SqliteStore } from '../../src/store';
import { poll } from '../../src/stream';
import type { DeviceAuth, User } from '../../src/types';
import { eventRowJson, messageEventJson } from '../../src/views';
import { addMember, createGroup, removeMember, renameGroup } from '../../src/groups';
import { sendMessage } from '../../src/messages';
import { markRead } from '../../src/conversations';
import { tempDbPath } from '../support/server';

type E = { seq: number; json: string };
const ev = (seq: number, json = `e${seq}`): E => ({ seq, json });
const seqs = (events: E[] | null): number[] | null => events && events.map((e) => e.seq);

describe('recent events (unit, #18)', () => {
  let recent: RecentEvents<E>;
  beforeEach(() => (recent = new RecentEvents<E>((e) => e.json.length)));

  it('answers from the event after the cursor on, up to the limit, in order', () => {
    recent.add(1, [ev(1), ev(2)]);
    recent.add(1, [ev(3)]);
    assert.deepEqual(seqs(recent.after(1, 0, 10, 0)), [1, 2, 3]);
    assert.deepEqual(seqs(recent.after(1, 1, 10, 0)), [2, 3]);
    assert.deepEqual(seqs(recent.after(1, 1, 1, 0)), [2]);
    assert.equal(recent.after(1, 3, 10, 0), null, 'nothing after the newest kept');
    assert.equal(recent.after(2, 0, 10, 0), null, 'another user has nothing here');
    // The head past the newest kept (written by another process): the store has more to give.
    assert.equal(recent.after(1, 0, 10, 4), null, 'not fewer events than the store would give');
    assert.deepEqual(seqs(recent.after(1, 0, 2, 4)), [1, 2], 'unless the limit stops the answer first');
  });

  it('keeps the newest few: an older cursor is for the store', () => {
    for (let seq = 1; seq <= 20; seq++) recent.add(1, [ev(seq)]);
    assert.equal(recent.after(1, 0, 100, 0), null, 'seq 1 is no longer kept');
    const kept = seqs(recent.after(1, 12, 100, 0)) ?? assert.fail('the newest are kept');
    assert.deepEqual(kept, [13, 14, 15, 16, 17, 18, 19, 20]);
  });

  it('a gap (an event not published here) starts again: nothing is ever skipped', () => {
    recent.add(1, [ev(1), ev(2)]);
    recent.add(1, [ev(4)]); // 3 was written by another process
    assert.equal(recent.after(1, 0, 10, 0), null);
    assert.equal(recent.after(1, 2, 10, 0), null, '3 is not here: the store has it');
    assert.deepEqual(seqs(recent.after(1, 3, 10, 0)), [4]);
    recent.add(1, [ev(4)]); // published again (wakeOutsideWrites): not next either
    assert.deepEqual(seqs(recent.after(1, 3, 10, 0)), [4]);
  });

  it('past MAX_USERS users, the one published to longest ago goes, not everyone', () => {
    for (let u = 1; u <= MAX_USERS; u++) recent.add(u, [ev(1)]);
    recent.add(1, [ev(2)]); // user 1 is published to again: now the newest
    recent.add(MAX_USERS + 1, [ev(1)]);
    assert.equal(recent.after(2, 0, 10, 1), null, 'user 2, published to longest ago, went');
    assert.deepEqual(seqs(recent.after(1, 0, 10, 2)), [1, 2]);
    assert.deepEqual(seqs(recent.after(3, 0, 10, 1)), [1], 'the others stay');
    assert.deepEqual(seqs(recent.after(MAX_USERS + 1, 0, 10, 1)), [1]);
    assert.equal(recent.keptWeight, (MAX_USERS + 1) * 2, 'two characters an event, one gone');
  });

  it('what is kept for all users together is bounded, whatever the number of users', () => {
    // Every event as heavy as may be kept (4 KiB of JSON), for many users: one client sending
    // large messages to many others, or to large groups, must not make the server hold more
    // than a fixed amount for polls that may never come.
    const heavy = new RecentEvents<E>(() => 4000);
    const users = 5000;
    let active = 0; // user 1 is published to all along: never the one dropped
    for (let u = 2; u <= users; u++) {
      heavy.add(1, [ev(++active)]);
      for (let seq = 1; seq <= 8; seq++) heavy.add(u, [ev(seq)]);
    }
    let kept = 0;
    for (let u = 2; u <= users; u++) kept += 4000 * (heavy.after(u, 0, 100, 0)?.length ?? 0);
    kept += 4000 * (heavy.after(1, active - 8, 100, 0)?.length ?? 0);
    assert.ok(kept <= MAX_KEPT_WEIGHT && MAX_KEPT_WEIGHT <= 16 * 1024 * 1024, `${kept} characters kept`);
    assert.equal(heavy.keptWeight, kept);
    assert.deepEqual(seqs(heavy.after(users, 0, 100, 0)), [1, 2, 3, 4, 5, 6, 7, 8], 'the users published to last are kept');
    assert.deepEqual(
      seqs(heavy.after(1, active - 8, 100, 0)),
      [1, 2, 3, 4, 5, 6, 7, 8].map((i) => active - 8 + i),
    );
    assert.equal(heavy.after(2, 0, 100, 0), null, 'the one published to longest ago is not');
  });

  it('an event too large to keep breaks the run', () => {
    recent.add(1, [ev(1), ev(2, 'x'.repeat(5000)), ev(3)]);
    assert.equal(recent.after(1, 0, 10, 0), null);
    assert.equal(recent.after(1, 1, 10, 0), null, 'seq 2 is not here');
    assert.deepEqual(seqs(recent.after(1, 2, 10, 0)), [3]);
  });
});

describe('a poll just behind its head is answered from the recent events (unit, #18)', () => {
  let core: Core;
  let store: SqliteStore;
  let alice: User;
  let bob: User;
  let bobDevice: DeviceAuth;
  beforeEach(async () => {
    const config = loadConfig({ DB_PATH: tempDbPath('chat-recent-'), LOG_LEVEL: 'silent' });
    store = openStore(config.dbPath);
    core = createCore(config, store);
    alice = (await store.createUser('alice', 'h')) ?? assert.fail();
    bob = (await store.createUser('bob', 'h')) ?? assert.fail();
    await store.createDevice({ id: 'dev-bob', userId: bob.id, name: 't', tokenHash: Buffer.alloc(32) }, { passwordHash: 'h' }, 10);
    bobDevice = (await store.getDeviceAuth('dev-bob')) ?? assert.fail();
  });
  afterEach(async () => {
    core.hub.closeAll();
    await store.close();
  });

  /** A send as the route makes it: stored, then published to the recipient. */
  async function send(body: string): Promise<number> {
    const r = await store.sendMessage({ sender: alice, recipient: bob, body, clientId: null });
    if (r.status !== 'created' || r.recipientSeq === null) return assert.fail(r.status);
    core.hub.publish(bob.id, [{ seq: r.recipientSeq, json: messageEventJson(r.message, bob.id) }]);
    return r.recipientSeq;
  }

  it('with no read of the store, and the same answer the store would give', async () => {
    await send('one');
    await send('two');
    const fromStore = await poll(core, bobDevice, { since: 0, timeoutMs: 0, limit: 10 }, () => undefined);
    let reads = 0;
    const realRead = store.eventsAfter.bind(store);
    store.eventsAfter = (...args) => {
      reads++;
      return realRead(...args);
    };
    const fromMemory = await poll(core, bobDevice, { since: 0, timeoutMs: 0, limit: 10 }, () => undefined);
    assert.equal(reads, 0, 'answered from memory');
    assert.equal(fromMemory.outcome, 'immediate');
    assert.deepEqual(fromMemory, fromStore);
    assert.equal(fromMemory.events.length, 2);
    // An event this process did not publish (another process's write): read from the store.
    const r = await store.sendMessage({ sender: alice, recipient: bob, body: 'unpublished', clientId: null });
    assert.equal(r.status, 'created');
    await send('four');
    const after = await poll(core, bobDevice, { since: 2, timeoutMs: 0, limit: 10 }, () => undefined);
    assert.equal(reads, 1, 'the gap sent it to the store');
    assert.deepEqual(
      after.events.map((j) => (JSON.parse(j) as { message: { body: string } }).message.body),
      ['unpublished', 'four'],
    );
  });

  it('events after the ones kept that were not published here (another process wrote them) come in the same answer', async () => {
    await send('one');
    // Written by another process (the admin command line, another server on PostgreSQL): the
    // head moved past what was published here.
    const r = await store.sendMessage({ sender: alice, recipient: bob, body: 'two', clientId: null });
    assert.equal(r.status, 'created');
    const answer = await poll(core, bobDevice, { since: 0, timeoutMs: 0, limit: 10 }, () => undefined);
    assert.deepEqual(
      answer.events.map((j) => (JSON.parse(j) as { message: { body: string } }).message.body),
      ['one', 'two'],
      'every event after the cursor, up to the limit, as the contract says: not only those kept',
    );
    const limited = await poll(core, bobDevice, { since: 0, timeoutMs: 0, limit: 1 }, () => undefined);
    assert.equal(limited.events.length, 1, 'the limit still holds');
  });

  it('group changes, group messages and read markers: from memory, the same JSON the store gives', async () => {
    const carol = (await store.createUser('carol', 'h')) ?? assert.fail();
    await store.createDevice({ id: 'dev-alice', userId: alice.id, name: 't', tokenHash: Buffer.alloc(32) }, { passwordHash: 'h' }, 10);
    const aliceDevice = (await store.getDeviceAuth('dev-alice')) ?? assert.fail();
    const g = await createGroup(core, aliceDevice, { name: 'g', members: ['bob'] });
    await sendMessage(core, aliceDevice, { group: g.id, body: 'to the group', clientId: null });
    const direct = await sendMessage(core, aliceDevice, { to: 'bob', body: 'to bob', clientId: null });
    await markRead(core, bobDevice, 'alice', (JSON.parse(direct.messageJson) as { id: number }).id);
    await addMember(core, aliceDevice, g.id, carol.username);
    await renameGroup(core, aliceDevice, g.id, 'h');
    await removeMember(core, null, g.id, 'bob');
    const stored = (await store.eventsAfter(bob.id, 0, 100)).map((e) => eventRowJson(e, bob.id));
    assert.equal(stored.length, 7);
    let reads = 0;
    const realRead = store.eventsAfter.bind(store);
    store.eventsAfter = (...args) => {
      reads++;
      return realRead(...args);
    };
    for (let since = 0; since < stored.length; since++) {
      const fromMemory = await poll(core, bobDevice, { since, timeoutMs: 0, limit: 100 }, () => undefined);
      assert.deepEqual(fromMemory.events, stored.slice(since), `since ${since}`);
    }
    assert.equal(reads, 0, 'all of them answered from memory');
  });
});
