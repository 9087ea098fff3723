// The SQLite store alone, no HTTP (issue #2): the Store contract that every backend keeps
// (test/support/store-contract.ts), then what only this backend has: its pragmas, migrations,
// group commit, the device ledger's timing and data_version.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { answerBudget, codePoints, MIGRATIONS_DIR, openStore, SchemaTooNewError, type SqliteStore, type Store } from '../../src/store';
import { loadMigrations } from '../../src/store/sqlite/migrate';
import { prepareQueries } from '../../src/store/sqlite/queries';
import { SearchIndexer } from '../../src/store/sqlite/search';
import type { User } from '../../src/types';
import { tempDbPath } from '../support/server';
import { storeContract } from '../support/store-contract';
import { sleep } from '../support/util';

/** The file each store of the contract runs on, so another store can open the same one. */
const files = new WeakMap<Store, string>();

storeContract('SQLite', {
  async open() {
    const file = tempDbPath('chat-store-');
    const store = openStore(file);
    files.set(store, file);
    return store;
  },
  async another(store) {
    const file = files.get(store) ?? assert.fail('not a store of this factory');
    const other = openStore(file);
    files.set(other, file);
    return other;
  },
  // Another connection's commit is seen from the next turn of the event loop (data_version).
  propagated: () => new Promise((resolve) => setImmediate(resolve)),
});

describe('SQLite store (unit, #2)', () => {
  let file: string;
  let store: SqliteStore;
  let alice: User;
  let bob: User;

  beforeEach(async () => {
    file = tempDbPath('chat-store-');
    store = openStore(file);
    alice = (await store.createUser('alice', 'h')) ?? assert.fail('alice');
    bob = (await store.createUser('bob', 'h')) ?? assert.fail('bob');
  });
  afterEach(() => store.close());

  function device(id: string, user: User) {
    return store.createDevice({ id, userId: user.id, name: 'kiosk', tokenHash: Buffer.alloc(32, 7) }, { passwordHash: 'h' }, 100);
  }

  it('opens in WAL mode with FULL sync and the latest schema version', () => {
    const db = store.sqlite.db;
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(db.pragma('synchronous', { simple: true }), 2); // FULL
    assert.equal(db.pragma('user_version', { simple: true }), loadMigrations(MIGRATIONS_DIR).length);
    assert.equal(db.pragma('foreign_keys', { simple: true }), 1);
  });

  it('sees a device deleted by another process from the next turn of the event loop (#5)', async () => {
    await device('kiosk', alice);
    assert.equal((await store.getDeviceAuth('kiosk'))?.tokenHash, '07'.repeat(32), 'cached, with its hash as hex');
    await new Promise((r) => setImmediate(r));
    assert.ok(await store.getDeviceAuth('kiosk'), 'read data_version for this turn');
    // The admin command line is another connection to the same file.
    const other = new Database(file);
    other.prepare('DELETE FROM devices WHERE id = ?').run('kiosk');
    other.close();
    assert.ok(await store.getDeviceAuth('kiosk'), 'the rest of this turn goes by the data_version it read');
    await new Promise((r) => setImmediate(r));
    assert.equal(await store.getDeviceAuth('kiosk'), undefined);
  });

  it('a caller that reads data_version moved finds the device cache already dropped, in the same turn (#5)', async () => {
    await device('kiosk', alice);
    const before = store.sqlite.dataVersion();
    assert.ok(await store.getDeviceAuth('kiosk'));
    const other = new Database(file);
    other.prepare('DELETE FROM devices WHERE id = ?').run('kiosk');
    other.close();
    // main's watcher: sees the version move, then asks which held devices are gone.
    assert.notEqual(store.sqlite.dataVersion(), before);
    assert.equal(await store.getDeviceAuth('kiosk'), undefined);
  });

  it('a send or read marker checks its device against the database as it commits, not the turn it was queued in (#13)', async () => {
    await device('kiosk', alice);
    const m = await store.sendMessage({ sender: bob, recipient: alice, body: 'hi', clientId: null });
    if (m.status !== 'created') return assert.fail(m.status);
    await new Promise((r) => setImmediate(r)); // a fresh turn
    // Queued first: its batch runs later in this turn's check phase...
    const sent = store.sendMessage({ sender: alice, recipient: bob, body: 'from a revoked kiosk', clientId: null, device: 'kiosk' });
    const read = store.markRead(alice, bob, m.message.id, 'kiosk');
    // ...after a request authenticates the device (this turn's data_version is read now)...
    assert.ok(await store.getDeviceAuth('kiosk'));
    // ...and the admin command line (another connection) revokes it before that batch begins.
    const other = new Database(file);
    other.prepare('DELETE FROM devices WHERE id = ?').run('kiosk');
    other.close();
    assert.deepEqual([await sent, await read], [{ status: 'revoked' }, { status: 'revoked' }]);
    assert.equal(await store.countMessages(), 1, 'nothing stored from the revoked device');
  });

  it('refuses a database written by a newer schema, and leaves it untouched', async () => {
    await store.close();
    const raw = new Database(file);
    raw.pragma('user_version = 999');
    raw.close();
    assert.throws(() => openStore(file), SchemaTooNewError);
    const again = new Database(file);
    assert.equal(again.pragma('user_version', { simple: true }), 999);
    again.close();
    store = openStore(tempDbPath()); // for afterEach
  });

  it('reopening an up-to-date database applies nothing and keeps the data', async () => {
    await store.close();
    store = openStore(file);
    assert.equal((await store.findUser('alice'))?.id, alice.id);
  });

  it('commits concurrent sends in one batch and acknowledges only after the commit', async () => {
    const before = store.commitStats();
    const walBefore = fs.statSync(`${file}-wal`).size;
    const sends = Array.from({ length: 50 }, (_, i) => store.sendMessage({ sender: alice, recipient: bob, body: `m${i}`, clientId: null }));
    // Nothing is visible before the batch commits on the next turn of the event loop.
    assert.equal(await store.countMessages(), 0);
    const results = await Promise.all(sends);
    assert.equal(await store.countMessages(), 50);
    const after = store.commitStats();
    assert.equal(after.batches - before.batches, 1, 'one transaction for the whole burst');
    assert.equal(after.jobs - before.jobs, 50);
    assert.ok(fs.statSync(`${file}-wal`).size > walBefore, 'the batch reached the WAL file');
    const ids = results.map((r) => (r.status === 'created' ? r.message.id : -1));
    assert.deepEqual(
      ids,
      [...ids].sort((a, b) => a - b),
      'ids follow the order of the calls',
    );
  });

  it('one failing write in a batch rolls back only itself, and is retried alone', async () => {
    const ghost: User = { id: 9999, username: 'ghost' }; // violates the foreign key
    const before = store.commitStats();
    const [ok1, bad, ok2] = await Promise.allSettled([
      store.sendMessage({ sender: alice, recipient: bob, body: 'a', clientId: null }),
      store.sendMessage({ sender: alice, recipient: ghost, body: 'b', clientId: null }),
      store.sendMessage({ sender: alice, recipient: bob, body: 'c', clientId: null }),
    ]);
    assert.deepEqual([ok1.status, bad.status, ok2.status], ['fulfilled', 'rejected', 'fulfilled']);
    assert.equal(store.commitStats().fallbacks - before.fallbacks, 1, 'the batch fell back to one by one');
  });

  it('a batch that falls back to one by one indexes each stored message once, and none of the refused one (#17)', async () => {
    // A send refused after its message row is written (here by a trigger; a full disk would
    // do the same while its events are appended): its index entry must go with it.
    store.sqlite.db.exec(`CREATE TEMP TRIGGER refuse BEFORE INSERT ON events
      WHEN (SELECT body FROM messages WHERE id = NEW.message_id) = 'apple zebra'
      BEGIN SELECT RAISE(ABORT, 'refused'); END`);
    const sent = await Promise.allSettled([
      store.sendMessage({ sender: alice, recipient: bob, body: 'apple pie', clientId: null }),
      store.sendMessage({ sender: alice, recipient: bob, body: 'apple zebra', clientId: null }),
      store.sendMessage({ sender: alice, recipient: bob, body: 'apple tart', clientId: null }),
    ]);
    assert.deepEqual(
      sent.map((r) => r.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
    const found = async (word: string) =>
      ((await store.search(alice.id, { words: [word], limit: 10 })) ?? assert.fail('no page')).messages.map((m) => m.body);
    assert.deepEqual(await found('apple'), ['apple tart', 'apple pie']);
    assert.deepEqual(await found('zebra'), []);
    assert.deepEqual(await found('tart'), ['apple tart']);
  });

  it('narrowing to a conversation finds its messages indexed before 2026-12-03 too, with their conversation word (#17)', async () => {
    const carol = (await store.createUser('carol', 'h')) ?? assert.fail('carol');
    const db = store.sqlite.db;
    const [lo, hi] = [Math.min(alice.id, bob.id), Math.max(alice.id, bob.id)];
    const id = db
      .prepare("INSERT INTO messages (sender_id, recipient_id, conv_lo, conv_hi, body, sent_at) VALUES (?, ?, ?, ?, 'old plan', 0)")
      .run(alice.id, bob.id, lo, hi).lastInsertRowid;
    db.prepare("INSERT INTO message_search (rowid, body, scope) VALUES (?, 'old plan', ?)").run(id, `u${lo} u${hi} c${lo}x${hi}`);
    db.prepare('UPDATE search_indexed SET up_to = ?').run(id); // it is in the index, as such a message is
    await store.sendMessage({ sender: bob, recipient: alice, body: 'new plan', clientId: null });
    await store.sendMessage({ sender: alice, recipient: carol, body: 'other plan', clientId: null });
    const found = async (user: User, peer: User) =>
      ((await store.search(user.id, { words: ['plan'], limit: 10, peerId: peer.id })) ?? assert.fail('no page')).messages.map(
        (m) => m.body,
      );
    assert.deepEqual(await found(alice, bob), ['new plan', 'old plan']);
    assert.deepEqual(await found(bob, alice), ['new plan', 'old plan']);
    assert.deepEqual(await found(alice, carol), ['other plan']);
    assert.deepEqual(await found(carol, bob), []);
  });

  it('a word a rolled-back transaction wrote to search_terms is written again by the next one (#17)', () => {
    const db = store.sqlite.db;
    const index = new SearchIndexer(prepareQueries(db));
    const indexed = db.transaction((fail: boolean) => {
      index.add(1, 'zebrafish', 'u1');
      index.writeAdded();
      if (fail) throw new Error('rolled back');
    });
    assert.throws(() => indexed(true), /rolled back/);
    index.rolledBack();
    indexed(false);
    index.committed();
    const terms = db.prepare("SELECT key, term FROM search_terms WHERE term = 'zebrafish'").all();
    assert.deepEqual(terms, [{ key: 'zebrafish', term: 'zebrafish' }]);
  });

  /**
   * Rows ever written to the search index: the count FTS5 keeps in its averages record (the
   * first varint of block 1). A rowid written twice cannot be seen in a MATCH (the newer entry
   * hides the older one), but counts twice here.
   */
  function indexEntries(): number {
    const block = store.sqlite.db.prepare<[], Buffer>('SELECT block FROM message_search_data WHERE id = 1').pluck().get();
    if (!block) return 0;
    let n = 0;
    for (let i = 0; i < 9; i++) {
      const byte = block[i] ?? 0;
      if (i === 8) return n * 256 + byte;
      n = n * 128 + (byte & 0x7f);
      if ((byte & 0x80) === 0) return n;
    }
    return n;
  }

  /** The search index's mark (db/009_search_follows.sql): every message up to it is indexed, none above. */
  function indexedUpTo(): number {
    return store.sqlite.db.prepare<[], number>('SELECT up_to FROM search_indexed').pluck().get() ?? assert.fail('no mark');
  }

  it('indexes messages after their own commit, and a search first catches up with every one stored before it (#18)', async () => {
    const sent = await store.sendMessage({ sender: alice, recipient: bob, body: 'quarterly budget', clientId: null });
    if (sent.status !== 'created') return assert.fail(sent.status);
    assert.ok(indexedUpTo() < sent.message.id, 'not indexed in the transaction that stored it');
    const before = store.commitStats();
    const found = (await store.search(bob.id, { words: ['budget'], limit: 10 })) ?? assert.fail('no page');
    const after = store.commitStats();
    assert.equal(after.batches, before.batches + 1, 'one transaction caught the index up');
    assert.equal(after.jobs, before.jobs, 'a search is no write in the metrics');
    assert.deepEqual(
      found.messages.map((m) => m.id),
      [sent.message.id],
    );
    assert.equal(indexedUpTo(), sent.message.id);
    // Sends racing a search: each one stored before the search began is found, and once.
    const stored = await Promise.all(
      [1, 2, 3].map((i) => store.sendMessage({ sender: bob, recipient: alice, body: `budget ${i}`, clientId: null })),
    );
    const [page] = await Promise.all([
      store.search(alice.id, { words: ['budget'], limit: 10 }),
      store.sendMessage({ sender: bob, recipient: alice, body: 'budget 4', clientId: null }),
    ]);
    const ids = (page ?? assert.fail('no page')).messages.map((m) => m.id);
    for (const r of stored) assert.ok(r.status === 'created' && ids.includes(r.message.id));
    assert.equal(new Set(ids).size, ids.length, 'each message once');
    await store.search(alice.id, { words: ['budget'], limit: 10 }); // the racing send indexed too
    const messages = store.sqlite.db.prepare('SELECT count(*) FROM messages').pluck().get();
    assert.equal(indexEntries(), messages, 'each message written to the index once');
  });

  it('the index catches up without a search: after 256 messages stored, or a second after the first (#18)', async () => {
    const sends = await Promise.all(
      Array.from({ length: 256 }, (_, i) => store.sendMessage({ sender: alice, recipient: bob, body: `bulk ${i}`, clientId: null })),
    );
    const last = sends.at(-1);
    if (last?.status !== 'created') return assert.fail('not created');
    assert.equal(indexedUpTo(), last.message.id, 'in the same commit as the 256th');
    const sentAt = Date.now();
    const one = await store.sendMessage({ sender: bob, recipient: alice, body: 'late', clientId: null });
    if (one.status !== 'created') return assert.fail(one.status);
    assert.equal(indexedUpTo(), last.message.id);
    const deadline = Date.now() + 5000;
    while (indexedUpTo() < one.message.id && Date.now() < deadline) await sleep(20);
    assert.equal(indexedUpTo(), one.message.id, 'with no other write to carry it');
    assert.ok(Date.now() - sentAt >= 950, 'after the delay, not before');
  });

  it('an index that cannot be written holds up no send: searches fail until it can, then find everything (#18)', async () => {
    const db = store.sqlite.db;
    const first = await store.sendMessage({ sender: alice, recipient: bob, body: 'zeppelin one', clientId: null });
    db.exec('DROP TABLE search_terms'); // as if the index were damaged
    await assert.rejects(store.search(bob.id, { words: ['zeppelin'], limit: 10 }), /search index cannot catch up.*search_terms/);
    const second = await store.sendMessage({ sender: alice, recipient: bob, body: 'zeppelin two', clientId: null });
    assert.equal(second.status, 'created', 'sends go on');
    await assert.rejects(store.search(bob.id, { words: ['zeppelin'], limit: 10 }), /cannot catch up/);
    db.exec('CREATE TABLE search_terms (key TEXT NOT NULL, term TEXT NOT NULL, PRIMARY KEY (key, term)) STRICT, WITHOUT ROWID');
    await sleep(1100); // tried again a second after the failure
    const page = (await store.search(bob.id, { words: ['zeppelin'], limit: 10 })) ?? assert.fail('no page');
    assert.deepEqual(
      page.messages.map((m) => m.id),
      [second, first].map((r) => (r.status === 'created' ? r.message.id : assert.fail(r.status))),
    );
  });

  it('an id taken by a transaction that rolled back is not waited for, and the message that takes it again is (#18)', () => {
    const db = store.sqlite.db;
    const index = new SearchIndexer(prepareQueries(db));
    const [lo, hi] = [Math.min(alice.id, bob.id), Math.max(alice.id, bob.id)];
    const insert = db.prepare<[number, number, number, number]>(
      "INSERT INTO messages (sender_id, recipient_id, conv_lo, conv_hi, body, sent_at) VALUES (?, ?, ?, ?, 'walrus', 0)",
    );
    const store1 = db.transaction((fail: boolean) => {
      const id = Number(insert.run(alice.id, bob.id, lo, hi).lastInsertRowid);
      index.noteStored(id);
      if (fail) throw new Error('rolled back');
      return id;
    });
    const before = index.storedUpTo;
    assert.throws(() => store1(true), /rolled back/);
    index.rolledBack();
    assert.equal(index.storedUpTo, before, 'nothing committed to wait for');
    const id = store1(false);
    index.committed();
    assert.equal(index.storedUpTo, id);
    assert.ok(index.indexed < id, 'so a search waits for the index to take it');
    db.transaction(() => {
      index.hurry();
      index.write();
    })();
    index.committed();
    assert.equal(index.indexed, id);
    index.stop();
  });

  it('messages stored above the mark when the server stopped are indexed as the store opens, each once (#18)', async () => {
    // As a crash leaves them: committed, not yet indexed. More than one catching-up transaction.
    const db = store.sqlite.db;
    const [lo, hi] = [Math.min(alice.id, bob.id), Math.max(alice.id, bob.id)];
    const insert = db.prepare<[number, number, number, number, string]>(
      'INSERT INTO messages (sender_id, recipient_id, conv_lo, conv_hi, body, sent_at) VALUES (?, ?, ?, ?, ?, 0)',
    );
    db.transaction(() => {
      for (let i = 0; i < 4500; i++) insert.run(alice.id, bob.id, lo, hi, `left over ${i}`);
    })();
    const top = indexedUpTo();
    const entries = indexEntries();
    await store.close();
    store = openStore(file);
    assert.equal(indexedUpTo(), top + 4500);
    assert.equal(indexEntries(), entries + 4500, 'each written to the index once');
    const page = (await store.search(bob.id, { words: ['left', 'over', '4499'], limit: 10 })) ?? assert.fail('no page');
    assert.deepEqual(
      page.messages.map((m) => m.body),
      ['left over 4499'],
    );
    const count = store.sqlite.db.prepare("SELECT count(*) FROM message_search WHERE message_search MATCH 'left over'").pluck().get();
    assert.equal(count, 4500);
  });

  /**
   * A new database file as a server of schema `version` left it (its migrations only), open, with
   * a statement that adds a user and returns the id.
   */
  function databaseAt(version: number) {
    const old = tempDbPath('chat-migrate-');
    const db = new Database(old);
    for (const m of loadMigrations(MIGRATIONS_DIR).slice(0, version)) db.exec(m.sql);
    db.pragma(`user_version = ${version}`);
    const addUser = db
      .prepare<[string], number>("INSERT INTO users (username, password_hash, created_at) VALUES (?, 'h', 0) RETURNING id")
      .pluck();
    return { old, db, addUser };
  }

  /** The head of a user's stream as the database has it, read on a connection of its own. */
  function headInFile(userId: number): number {
    const db = new Database(file, { readonly: true });
    try {
      return db.prepare<[number], number>('SELECT coalesce(max(seq), 0) FROM events WHERE user_id = ?').pluck().get(userId) ?? 0;
    } finally {
      db.close();
    }
  }

  it("knows each stream's head from its own commits, so a poll with nothing newer costs no query (#18, E1)", async () => {
    assert.equal(await store.headSeq(bob.id), 0);
    await Promise.all([1, 2, 3].map((i) => store.sendMessage({ sender: alice, recipient: bob, body: `m${i}`, clientId: null })));
    assert.equal(await store.headSeq(bob.id), 3);
    assert.equal(await store.headSeq(alice.id), 3);
    // Proof that it came from memory: an event written behind the store's back on its own
    // connection (data_version does not move for it) is not seen. Nothing real writes so.
    store.sqlite.db.prepare('INSERT INTO events (user_id, seq, kind, message_id) VALUES (?, 4, 1, 1)').run(bob.id);
    assert.equal(await store.headSeq(bob.id), 3);
  });

  it('appends at the head it knows, and should that ever be behind, the send is retried from the table, not lost (#18)', async () => {
    await Promise.all([1, 2, 3].map((i) => store.sendMessage({ sender: alice, recipient: bob, body: `m${i}`, clientId: null })));
    const next = await store.sendMessage({ sender: alice, recipient: bob, body: 'm4', clientId: null });
    if (next.status !== 'created') return assert.fail(next.status);
    assert.deepEqual([next.senderSeq, next.recipientSeq], [4, 4], 'the next positions, from memory');
    // Bob's head in memory now lags the table (written behind the store's back on its own
    // connection, so data_version does not move: nothing real writes so). Position 5 is taken.
    store.sqlite.db.prepare('INSERT INTO events (user_id, seq, kind, message_id) VALUES (?, 5, 1, ?)').run(bob.id, next.message.id);
    const sent = await store.sendMessage({ sender: alice, recipient: bob, body: 'm5', clientId: null });
    if (sent.status !== 'created') return assert.fail(sent.status);
    assert.deepEqual([sent.senderSeq, sent.recipientSeq], [5, 6], "bob's from the table once the batch had failed on 5");
    assert.equal(headInFile(bob.id), 6);
    const bodies = (await store.eventsAfter(bob.id, 0, 10)).map((e) => (e.kind === 'message' ? e.message.body : e.kind));
    assert.deepEqual(bodies, ['m1', 'm2', 'm3', 'm4', 'm4', 'm5'], 'nothing overwritten, nothing lost');
    const again = await store.sendMessage({ sender: bob, recipient: alice, body: 'back', clientId: null });
    if (again.status !== 'created') return assert.fail(again.status);
    assert.deepEqual([again.senderSeq, again.recipientSeq], [7, 6]);
  });

  it('a batch that rolls back leaves no head behind: what the retries commit is what it knows (#18)', async () => {
    assert.equal(await store.headSeq(alice.id), 0, 'known before the batch');
    const ghost: User = { id: 9999, username: 'ghost' }; // violates the foreign key
    const results = await Promise.allSettled([
      store.sendMessage({ sender: alice, recipient: bob, body: 'a', clientId: null }),
      store.sendMessage({ sender: alice, recipient: ghost, body: 'b', clientId: null }),
      store.sendMessage({ sender: alice, recipient: bob, body: 'c', clientId: null }),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
    assert.equal(headInFile(alice.id), 2);
    assert.equal(await store.headSeq(alice.id), 2);
    assert.equal(await store.headSeq(bob.id), 2);
  });

  it('sees events another process appended from the next turn of the event loop, as the device cache does (#18)', async () => {
    await store.sendMessage({ sender: alice, recipient: bob, body: 'a', clientId: null });
    await new Promise((r) => setImmediate(r));
    assert.equal(await store.headSeq(bob.id), 1, 'known, and data_version read for this turn');
    // The admin command line appends to streams (a group member removed, #15) from its own connection.
    const other = new Database(file);
    other.prepare('INSERT INTO events (user_id, seq, kind, message_id) VALUES (?, 2, 1, 1)').run(bob.id);
    other.close();
    assert.equal(await store.headSeq(bob.id), 1, 'the rest of this turn goes by the data_version it read');
    // But a poll may already have been answered from the database with that event, and its
    // client ask again with cursor 2 within this turn: asked fresh, the store must not lag.
    assert.equal(await store.headSeq(bob.id, true), 2, 'fresh: what the database holds, for the ahead-of-stream check');
    await new Promise((r) => setImmediate(r));
    assert.equal(await store.headSeq(bob.id), 2);
  });

  it('device updates are written together about a second after the first, even under a steady stream of polls (#5)', async () => {
    await device('k1', alice);
    const written = () => store.sqlite.db.prepare<[], number>("SELECT cursor FROM devices WHERE id = 'k1'").pluck().get();
    const started = Date.now();
    let n = 0;
    while (written() === 0 && Date.now() - started < 5000) {
      store.noteDeviceSeen('k1', Date.now(), ++n); // a poll every 20 ms, as under load
      await store.sendMessage({ sender: alice, recipient: bob, body: `m${n}`, clientId: null });
      await sleep(20);
    }
    const took = Date.now() - started;
    assert.ok((written() ?? 0) > 0, 'written despite the steady stream');
    assert.ok(took >= 900 && took < 3000, `written after ${took} ms`);
    assert.equal((await store.getDeviceAuth('k1'))?.cursor, n, 'reads always see the newest');
  });

  it('migration 002 builds the conversation list from messages stored before it (#3)', async () => {
    await store.close();
    // A database as a version-1 server left it.
    const { old, db: v1, addUser } = databaseAt(1);
    const a = addUser.get('alice') ?? assert.fail();
    const b = addUser.get('bob') ?? assert.fail();
    const addMessage = v1.prepare(
      'INSERT INTO messages (sender_id, recipient_id, conv_lo, conv_hi, body, sent_at) VALUES (?, ?, ?, ?, ?, 0)',
    );
    addMessage.run(b, a, a, b, 'one');
    addMessage.run(a, b, a, b, 'two');
    addMessage.run(b, a, a, b, 'three');
    addMessage.run(a, a, a, a, 'note');
    v1.close();
    store = openStore(old);
    const alices = (await store.conversations(a)).map((c) => [c.peer, c.lastMessage.body, c.unread]);
    assert.deepEqual(alices, [
      ['alice', 'note', 0],
      ['bob', 'three', 2],
    ]);
    assert.deepEqual(
      (await store.conversations(b)).map((c) => [c.peer, c.lastMessage.body, c.unread]),
      [['alice', 'three', 1]],
    );
  });

  it('migration 006 indexes the messages stored before it, in batches that resume after a stop (#17)', async () => {
    await store.close();
    // A database as a version-4 server left it, with more messages than one batch.
    const { old, db: v4, addUser } = databaseAt(4);
    const a = addUser.get('alice') ?? assert.fail();
    const b = addUser.get('bob') ?? assert.fail();
    const c = addUser.get('carol') ?? assert.fail();
    const addMessage = v4.prepare<[number, number, number, number, string]>(
      'INSERT INTO messages (sender_id, recipient_id, conv_lo, conv_hi, body, sent_at) VALUES (?, ?, ?, ?, ?, 0)',
    );
    const total = 12_001;
    v4.transaction(() => {
      for (let i = 0; i < total; i++) addMessage.run(a, b, a, b, `old message ${i} Übersicht`);
      addMessage.run(b, c, b, c, 'not for alice: Übersicht');
    })();
    v4.close();
    // The first batch commits, then the server stops (here: its log throws).
    const seen: number[] = [];
    assert.throws(() =>
      openStore(old, {
        onSearchFill: (p) => {
          seen.push(p.indexed);
          throw new Error('stopped');
        },
      }),
    );
    assert.deepEqual(seen, [5000]);
    const progress: { indexed: number; total: number; done: boolean }[] = [];
    store = openStore(old, { onSearchFill: (p) => progress.push(p) });
    assert.deepEqual(
      progress.map((p) => [p.indexed, p.total, p.done]),
      [
        [5000, total + 1 - 5000, false],
        [total + 1 - 5000, total + 1 - 5000, true],
      ],
    );
    const all = (await store.search(a, { words: ['uber'], limit: 100 })) ?? assert.fail('no page');
    assert.equal(all.messages.length, 100);
    assert.equal(all.messages[0]?.body, `old message ${total - 1} Übersicht`, 'newest first, each indexed once');
    const one = (await store.search(a, { words: ['message', '5000'], limit: 10 })) ?? assert.fail('no page');
    assert.deepEqual(
      one.messages.map((m) => m.body),
      ['old message 5000 Übersicht'],
      'the first message of the second run',
    );
    assert.equal(
      ((await store.search(a, { words: ['übersicht'], limit: 100, before: 5001 })) ?? assert.fail('no page')).messages.length,
      100,
    );
    assert.equal(((await store.search(c, { words: ['ubersicht'], limit: 100 })) ?? assert.fail('no page')).messages.length, 1);
    const left = store.sqlite.db.prepare('SELECT count(*) FROM search_fill').pluck().get();
    assert.equal(left, 0, 'nothing left to do');
    await store.close();
    const again: unknown[] = [];
    store = openStore(old, { onSearchFill: (p) => again.push(p) });
    assert.deepEqual(again, [], 'a reopened database has nothing to index');
    assert.equal(store.sqlite.integrityCheck(), 'ok');
  });

  it('migration 006 indexes group messages stored before it for the members of their group (#15, #17)', async () => {
    await store.close();
    const { old, db: v5, addUser } = databaseAt(5);
    const a = addUser.get('alice') ?? assert.fail();
    const b = addUser.get('bob') ?? assert.fail();
    const g =
      v5.prepare<[number], number>("INSERT INTO groups (name, owner_id, created_at) VALUES ('g', ?, 0) RETURNING id").pluck().get(b) ??
      assert.fail();
    v5.prepare('INSERT INTO group_members (group_id, user_id, joined, joined_at) VALUES (?, ?, 1, 0)').run(g, b);
    v5.prepare("INSERT INTO messages (sender_id, group_id, body, sent_at) VALUES (?, ?, 'group plans before search', 0)").run(b, g);
    v5.close();
    store = openStore(old);
    const found = async (userId: number) =>
      ((await store.search(userId, { words: ['plans'], limit: 10 })) ?? assert.fail('no page')).messages.map((m) => [m.body, m.groupId]);
    assert.deepEqual(await found(b), [['group plans before search', g]]);
    assert.deepEqual(await found(a), [], 'not a member');
    const added = await store.addGroupMember(
      { id: b, username: 'bob' },
      g,
      { id: a, username: 'alice' },
      { groupMembersMax: 10, groupsPerUserMax: 10 },
    );
    assert.equal(added.status, 'changed');
    assert.deepEqual(await found(a), [['group plans before search', g]], 'a member now');
  });

  it('migration 007 has the search index merge sixteen segments at a time, a little at each commit, on new and upgraded databases (#18)', async () => {
    const config = (db: Database.Database) =>
      Object.fromEntries(
        db.prepare<[string], [string, number]>('SELECT k, v FROM message_search_config WHERE k <> ?').raw().all('version'),
      );
    assert.deepEqual(config(store.sqlite.db), { automerge: 16, crisismerge: 64 }, 'a new database');
    await store.close();
    const { old, db: v6 } = databaseAt(6);
    assert.deepEqual(config(v6), {}, "FTS5's defaults (4 and 16) before it");
    v6.close();
    store = openStore(old);
    assert.deepEqual(config(store.sqlite.db), { automerge: 16, crisismerge: 64 }, 'an upgraded one');
    const a = (await store.createUser('alice', 'h')) ?? assert.fail();
    const b = (await store.createUser('bob', 'h')) ?? assert.fail();
    // One commit each, a segment each, merged along the way: every message is still found once.
    for (let i = 0; i < 40; i++) await store.sendMessage({ sender: a, recipient: b, body: `merged ${i}`, clientId: null });
    const page = (await store.search(b.id, { words: ['merged'], limit: 100 })) ?? assert.fail('no page');
    assert.deepEqual(
      page.messages.map((m) => m.body),
      Array.from({ length: 40 }, (_, i) => `merged ${39 - i}`),
    );
  });

  it('migration 008 makes each conversation one row with both sides, and sends and read markers keep each side apart (#18)', async () => {
    await store.close();
    const { old, db: v7, addUser } = databaseAt(7);
    const [a, b, c] = ['alice', 'bob', 'carol'].map((n) => addUser.get(n) ?? assert.fail(n)) as [number, number, number];
    const insert = v7
      .prepare<[number, number, number, number, string], number>(
        'INSERT INTO messages (sender_id, recipient_id, conv_lo, conv_hi, body, sent_at) VALUES (?, ?, ?, ?, ?, 0) RETURNING id',
      )
      .pluck();
    const message = (from: number, to: number, body: string) =>
      insert.get(from, to, Math.min(from, to), Math.max(from, to), body) ?? assert.fail(body);
    const m1 = message(b, a, 'bob to alice 1');
    const m2 = message(b, a, 'bob to alice 2');
    const m3 = message(a, a, 'alice to herself');
    const m4 = message(c, a, 'carol to alice');
    const side = v7.prepare('INSERT INTO conversations (user_id, peer_id, last_message_id, read_up_to, unread) VALUES (?, ?, ?, ?, ?)');
    side.run(a, b, m2, m1, 1); // alice has read the first of bob's two
    side.run(b, a, m2, 0, 0);
    side.run(a, a, m3, m3, 0);
    side.run(a, c, m4, 0, 1); // carol's own side missing: kept all the same
    v7.close();
    store = openStore(old);
    const list = async (id: number) => (await store.conversations(id)).map((x) => [x.peer, x.lastMessage.body, x.unread, x.readUpTo]);
    assert.deepEqual(await list(a), [
      ['carol', 'carol to alice', 1, 0],
      ['alice', 'alice to herself', 0, m3],
      ['bob', 'bob to alice 2', 1, m1],
    ]);
    assert.deepEqual(await list(b), [['alice', 'bob to alice 2', 0, 0]]);
    assert.deepEqual(await list(c), [['alice', 'carol to alice', 0, 0]]);

    const alice = { id: a, username: 'alice' };
    const bob = { id: b, username: 'bob' };
    const sent = await store.sendMessage({ sender: alice, recipient: bob, body: 'alice to bob', clientId: null });
    if (sent.status !== 'created') return assert.fail(sent.status);
    assert.deepEqual((await list(b))[0], ['alice', 'alice to bob', 1, 0], "one unread on bob's side");
    assert.deepEqual((await list(a))[0], ['bob', 'alice to bob', 1, m1], "alice's own message is not unread for her");
    assert.equal((await store.markRead(bob, alice, sent.message.id)).status, 'moved');
    assert.deepEqual((await list(b))[0], ['alice', 'alice to bob', 0, sent.message.id]);
    assert.deepEqual((await list(a))[0], ['bob', 'alice to bob', 1, m1], "bob's marker is not alice's");
    assert.equal((await store.markRead(alice, bob, m2)).status, 'moved');
    assert.deepEqual((await list(a))[0], ['bob', 'alice to bob', 0, m2]);
    assert.deepEqual(await store.markRead(alice, bob, m1), { status: 'unchanged', upTo: m2 }, 'a marker never moves back');
    const self = await store.sendMessage({ sender: alice, recipient: alice, body: 'note', clientId: null });
    if (self.status !== 'created') return assert.fail(self.status);
    assert.deepEqual((await list(a))[0], ['alice', 'note', 0, m3], 'a note to self is never unread');
  });

  it('close() writes queued work before closing, synchronously', async () => {
    const p = store.sendMessage({ sender: alice, recipient: bob, body: 'last words', clientId: null });
    void store.close();
    assert.equal(store.sqlite.db.open, false, 'closed by the time close() returns');
    assert.equal((await p).status, 'created');
    store = openStore(file);
    assert.equal(await store.countMessages(), 1);
    assert.ok(fs.existsSync(path.dirname(file)));
  });

  it('backup() writes one self-contained, checked copy while writes are queued', async () => {
    const sends = Array.from({ length: 10 }, (_, i) => store.sendMessage({ sender: alice, recipient: bob, body: `b${i}`, clientId: null }));
    const copy = path.join(path.dirname(file), 'copy.sqlite');
    await store.sqlite.backup(copy);
    await Promise.all(sends);
    assert.equal(store.sqlite.integrityCheck(), 'ok');
    const c = new Database(copy, { readonly: true });
    assert.equal(c.prepare('SELECT count(*) FROM messages').pluck().get(), 10, 'what was queued when it began is in it');
    assert.equal(c.pragma('journal_mode', { simple: true }), 'delete');
    c.close();
    assert.ok(!fs.existsSync(`${copy}-wal`));
  });
});

describe('the answer budget, shared by every backend (unit, #12)', () => {
  it('counts code points: an emoji is one, a lone surrogate is one', () => {
    assert.equal(codePoints(''), 0);
    assert.equal(codePoints('abc'), 3);
    assert.equal(codePoints('\u{1F600}\u{1F600}é'), 3);
    assert.equal(codePoints('\ud800x\udc00'), 3, 'lone surrogates are one each');
    assert.equal(codePoints('\ud83d'), 1);
  });

  it('takes rows while their bodies fit, exactly at the limit, and always the first', () => {
    const b = answerBudget(10);
    assert.equal(b.take('x'.repeat(50)), true, 'the first row, however long');
    assert.equal(b.take(''), false, 'nothing after a first row over the limit, not even an empty body');
    const c = answerBudget(10);
    assert.deepEqual(
      ['\u{1F600}'.repeat(4), 'ab', '\u{1F600}'.repeat(4), 'z'].map((s) => c.take(s)),
      [true, true, true, false],
      '4 + 2 + 4 = 10 code points (18 UTF-16 units)',
    );
  });
});
