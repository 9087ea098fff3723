// The store alone: no HTTP (issue #2).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { MIGRATIONS_DIR, openStore, SchemaTooNewError, type Store } from '../../src/store';
import { loadMigrations } from '../../src/store/migrate';
import type { User } from '../../src/types';
import { tempDbPath } from '../support/server';

describe('store (unit, #2)', () => {
  let file: string;
  let store: Store;
  let alice: User;
  let bob: User;

  beforeEach(() => {
    file = tempDbPath('chat-store-');
    store = openStore(file);
    alice = store.createUser('alice', 'h') ?? assert.fail('alice');
    bob = store.createUser('bob', 'h') ?? assert.fail('bob');
  });
  afterEach(() => store.close());

  it('opens in WAL mode with FULL sync and the latest schema version', () => {
    assert.equal(store.db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(store.db.pragma('synchronous', { simple: true }), 2); // FULL
    assert.equal(store.db.pragma('user_version', { simple: true }), loadMigrations(MIGRATIONS_DIR).length);
    assert.equal(store.db.pragma('foreign_keys', { simple: true }), 1);
  });

  it('sees a device deleted by another process from the next turn of the event loop (#5)', async () => {
    const d = store.createDevice({ id: 'kiosk', userId: alice.id, name: 'kiosk', tokenHash: Buffer.alloc(32, 7) });
    assert.equal(store.getDeviceAuth(d.id)?.tokenHash, '07'.repeat(32), 'cached, with its hash as hex');
    await new Promise((r) => setImmediate(r));
    // The admin command line is another connection to the same file.
    const other = new Database(file);
    other.prepare('DELETE FROM devices WHERE id = ?').run(d.id);
    other.close();
    await new Promise((r) => setImmediate(r));
    assert.equal(store.getDeviceAuth(d.id), undefined);
  });

  it('a caller that reads data_version moved finds the device cache already dropped, in the same turn (#5)', () => {
    const d = store.createDevice({ id: 'kiosk', userId: alice.id, name: 'kiosk', tokenHash: Buffer.alloc(32) });
    const before = store.dataVersion();
    assert.ok(store.getDeviceAuth(d.id));
    const other = new Database(file);
    other.prepare('DELETE FROM devices WHERE id = ?').run(d.id);
    other.close();
    // main's watcher: sees the version move, then asks which held devices are gone.
    assert.notEqual(store.dataVersion(), before);
    assert.equal(store.getDeviceAuth(d.id), undefined);
  });

  it('refuses a database written by a newer schema, and leaves it untouched', () => {
    store.close();
    const raw = new Database(file);
    raw.pragma('user_version = 999');
    raw.close();
    assert.throws(() => openStore(file), SchemaTooNewError);
    const again = new Database(file);
    assert.equal(again.pragma('user_version', { simple: true }), 999);
    again.close();
    store = openStore(tempDbPath()); // for afterEach
  });

  it('reopening an up-to-date database applies nothing and keeps the data', () => {
    store.close();
    store = openStore(file);
    assert.equal(store.findUser('alice')?.id, alice.id);
  });

  it('creates users once per name', () => {
    assert.equal(store.createUser('alice', 'other'), null);
    assert.equal(store.findUser('alice')?.passwordHash, 'h');
  });

  it('numbers each user stream 1, 2, 3 and a note to self is one event', async () => {
    const r1 = await store.sendMessage({ sender: alice, recipient: bob, body: 'hi', clientId: null });
    const r2 = await store.sendMessage({ sender: bob, recipient: alice, body: 'yo', clientId: null });
    const r3 = await store.sendMessage({ sender: alice, recipient: alice, body: 'note', clientId: null });
    assert.equal(r1.status, 'created');
    assert.equal(r3.status, 'created');
    if (r1.status !== 'created' || r2.status !== 'created' || r3.status !== 'created') return;
    assert.deepEqual([r1.senderSeq, r1.recipientSeq], [1, 1]);
    assert.deepEqual([r2.senderSeq, r2.recipientSeq], [2, 2]);
    assert.deepEqual([r3.senderSeq, r3.recipientSeq], [3, null]);
    assert.ok(r1.message.id < r2.message.id && r2.message.id < r3.message.id);
    const aliceEvents = store.eventsAfter(alice.id, 0, 10);
    assert.deepEqual(
      aliceEvents.map((e) => (e.kind === 'message' ? [e.seq, e.message.body, e.message.from, e.message.to] : null)),
      [
        [1, 'hi', 'alice', 'bob'],
        [2, 'yo', 'bob', 'alice'],
        [3, 'note', 'alice', 'alice'],
      ],
    );
    assert.equal(store.headSeq(alice.id), 3);
    assert.equal(store.headSeq(bob.id), 2);
    assert.deepEqual(store.eventsAfter(bob.id, 1, 10).map((e) => e.seq), [2]);
    assert.deepEqual(store.eventsAfter(alice.id, 0, 2).map((e) => e.seq), [1, 2]);
  });

  it('commits concurrent sends in one batch and acknowledges only after the commit', async () => {
    const before = store.commitStats();
    const walBefore = fs.statSync(`${file}-wal`).size;
    const sends = Array.from({ length: 50 }, (_, i) =>
      store.sendMessage({ sender: alice, recipient: bob, body: `m${i}`, clientId: null }),
    );
    // Nothing is visible before the batch commits on the next turn of the event loop.
    assert.equal(store.countMessages(), 0);
    const results = await Promise.all(sends);
    assert.equal(store.countMessages(), 50);
    const after = store.commitStats();
    assert.equal(after.batches - before.batches, 1, 'one transaction for the whole burst');
    assert.equal(after.jobs - before.jobs, 50);
    assert.ok(fs.statSync(`${file}-wal`).size > walBefore, 'the batch reached the WAL file');
    const ids = results.map((r) => (r.status === 'created' ? r.message.id : -1));
    assert.deepEqual(ids, [...ids].sort((a, b) => a - b), 'ids follow the order of the calls');
  });

  it('client_id: a retry returns the original, a different message is a conflict, racing retries insert once', async () => {
    const racing = await Promise.all(
      Array.from({ length: 5 }, () => store.sendMessage({ sender: alice, recipient: bob, body: 'once', clientId: 'c1' })),
    );
    assert.deepEqual(
      racing.map((r) => r.status),
      ['created', 'existing', 'existing', 'existing', 'existing'],
    );
    const later = await store.sendMessage({ sender: alice, recipient: bob, body: 'once', clientId: 'c1' });
    assert.equal(later.status, 'existing');
    if (later.status === 'existing' && racing[0]?.status === 'created') assert.equal(later.message.id, racing[0].message.id);
    assert.equal((await store.sendMessage({ sender: alice, recipient: bob, body: 'other', clientId: 'c1' })).status, 'conflict');
    assert.equal((await store.sendMessage({ sender: alice, recipient: alice, body: 'once', clientId: 'c1' })).status, 'conflict');
    // client_id is per sender: bob may use the same key
    assert.equal((await store.sendMessage({ sender: bob, recipient: alice, body: 'once', clientId: 'c1' })).status, 'created');
    assert.equal(store.countMessages(), 2);
    assert.equal(store.headSeq(bob.id), 2);
  });

  it('one failing write in a batch rolls back only itself', async () => {
    const ghost: User = { id: 9999, username: 'ghost' }; // violates the foreign key
    const [ok1, bad, ok2] = await Promise.allSettled([
      store.sendMessage({ sender: alice, recipient: bob, body: 'a', clientId: null }),
      store.sendMessage({ sender: alice, recipient: ghost, body: 'b', clientId: null }),
      store.sendMessage({ sender: alice, recipient: bob, body: 'c', clientId: null }),
    ]);
    assert.equal(ok1.status, 'fulfilled');
    assert.equal(bad.status, 'rejected');
    assert.equal(ok2.status, 'fulfilled');
    assert.equal(store.countMessages(), 2);
    assert.deepEqual(
      store.eventsAfter(alice.id, 0, 10).map((e) => e.seq),
      [1, 2],
      'no gap in the stream from the rolled-back write',
    );
  });

  it('history pages are exact at the boundaries, both directions', async () => {
    const ids: number[] = [];
    for (let i = 0; i < 7; i++) {
      const [from, to] = i % 2 ? [bob, alice] : [alice, bob];
      const r = await store.sendMessage({ sender: from, recipient: to, body: `m${i}`, clientId: null });
      if (r.status === 'created') ids.push(r.message.id);
    }
    await store.sendMessage({ sender: alice, recipient: alice, body: 'not in the conversation', clientId: null });
    const newest = store.history(alice.id, bob.id, { limit: 3 });
    assert.deepEqual(newest.messages.map((m) => m.id), ids.slice(4));
    assert.equal(newest.hasMore, true);
    const older = store.history(bob.id, alice.id, { limit: 3, before: ids[4] });
    assert.deepEqual(older.messages.map((m) => m.id), ids.slice(1, 4));
    assert.equal(older.hasMore, true);
    const oldest = store.history(alice.id, bob.id, { limit: 3, before: ids[1] });
    assert.deepEqual(oldest.messages.map((m) => m.id), ids.slice(0, 1));
    assert.equal(oldest.hasMore, false);
    const exact = store.history(alice.id, bob.id, { limit: 4, before: ids[4] });
    assert.equal(exact.messages.length, 4);
    assert.equal(exact.hasMore, false, 'exactly limit older messages: nothing more');
    const after = store.history(alice.id, bob.id, { limit: 3, after: ids[2] });
    assert.deepEqual(after.messages.map((m) => m.id), ids.slice(3, 6));
    assert.equal(after.hasMore, true);
    const tail = store.history(alice.id, bob.id, { limit: 3, after: ids[3] });
    assert.deepEqual(tail.messages.map((m) => m.id), ids.slice(4, 7));
    assert.equal(tail.hasMore, false);
    const self = store.history(alice.id, alice.id, { limit: 10 });
    assert.deepEqual(self.messages.map((m) => m.body), ['not in the conversation']);
  });

  it('device cursors only move forward and are visible before they are written', async () => {
    const d = store.createDevice({ id: 'dev1', userId: alice.id, name: 'phone', tokenHash: Buffer.alloc(32) });
    assert.equal(d.cursor, 0);
    store.noteDeviceSeen('dev1', Date.now(), 5);
    store.noteDeviceSeen('dev1', Date.now(), 3);
    assert.equal(store.getDeviceAuth('dev1')?.cursor, 5, 'pending acknowledgement is already visible');
    await store.sendMessage({ sender: alice, recipient: bob, body: 'flush', clientId: null });
    assert.equal(store.listDevices(alice.id)[0]?.cursor, 5);
    store.close();
    store = openStore(file);
    assert.equal(store.getDeviceAuth('dev1')?.cursor, 5, 'written with the batch, survives a reopen');
    assert.equal(store.deleteDevice('dev1', bob.id), false, "another user's device is not theirs to delete");
    assert.equal(store.deleteDevice('dev1', alice.id), true);
    assert.equal(store.getDeviceAuth('dev1'), undefined);
  });

  it('device updates are written together about a second after the first, even under a steady stream of polls (#5)', async () => {
    store.createDevice({ id: 'k1', userId: alice.id, name: 'kiosk', tokenHash: Buffer.alloc(32) });
    const written = () => (store.db.prepare("SELECT cursor FROM devices WHERE id = 'k1'").pluck().get() as number);
    const started = Date.now();
    let n = 0;
    while (written() === 0 && Date.now() - started < 5000) {
      store.noteDeviceSeen('k1', Date.now(), ++n); // a poll every 20 ms, as under load
      await store.sendMessage({ sender: alice, recipient: bob, body: `m${n}`, clientId: null });
      await new Promise((r) => setTimeout(r, 20));
    }
    const took = Date.now() - started;
    assert.ok(written() > 0, 'written despite the steady stream');
    assert.ok(took >= 900 && took < 3000, `written after ${took} ms`);
    assert.equal(store.getDeviceAuth('k1')?.cursor, n, 'reads always see the newest');
  });

  it('a new device starts at the head of its user stream', async () => {
    await store.sendMessage({ sender: bob, recipient: alice, body: 'x', clientId: null });
    await store.sendMessage({ sender: bob, recipient: alice, body: 'y', clientId: null });
    const d = store.createDevice({ id: 'dev2', userId: alice.id, name: 'kiosk', tokenHash: Buffer.alloc(32) });
    assert.equal(d.cursor, 2);
  });

  it('stores any Unicode, NUL and HTML exactly', async () => {
    const body = 'a\u0000b <script>alert(1)</script> \u{1F600} \u2028 ünïcödé\n\t\'";--';
    const r = await store.sendMessage({ sender: alice, recipient: bob, body, clientId: null });
    assert.equal(r.status, 'created');
    const [e] = store.eventsAfter(bob.id, 0, 1);
    assert.ok(e && e.kind === 'message');
    assert.equal(e.message.body, body);
  });

  it('migration 002 builds the conversation list from messages stored before it (#3)', async () => {
    store.close();
    // A database as a version-1 server left it.
    const old = tempDbPath('chat-migrate-');
    const v1 = new Database(old);
    v1.exec(fs.readFileSync(path.join(MIGRATIONS_DIR, '001_init.sql'), 'utf8'));
    v1.pragma('user_version = 1');
    const addUser = v1.prepare("INSERT INTO users (username, password_hash, created_at) VALUES (?, 'h', 0) RETURNING id").pluck();
    const a = { id: addUser.get('alice') as number };
    const b = { id: addUser.get('bob') as number };
    const addMessage = v1.prepare('INSERT INTO messages (sender_id, recipient_id, conv_lo, conv_hi, body, sent_at) VALUES (?, ?, ?, ?, ?, 0)');
    addMessage.run(b.id, a.id, a.id, b.id, 'one');
    addMessage.run(a.id, b.id, a.id, b.id, 'two');
    addMessage.run(b.id, a.id, a.id, b.id, 'three');
    addMessage.run(a.id, a.id, a.id, a.id, 'note');
    v1.close();
    store = openStore(old);
    const alices = store.conversations(a.id).map((c) => [c.peer, c.lastMessage.body, c.unread]);
    assert.deepEqual(alices, [['alice', 'note', 0], ['bob', 'three', 2]]);
    assert.deepEqual(store.conversations(b.id).map((c) => [c.peer, c.lastMessage.body, c.unread]), [['alice', 'three', 1]]);
  });

  it('close() writes queued work before closing', async () => {
    const p = store.sendMessage({ sender: alice, recipient: bob, body: 'last words', clientId: null });
    store.close();
    assert.equal((await p).status, 'created');
    store = openStore(file);
    assert.equal(store.countMessages(), 1);
    assert.ok(fs.existsSync(path.dirname(file)));
  });
});
