// The PostgreSQL store alone, no HTTP (issue #16): the Store contract every backend keeps
// (test/support/store-contract.ts), run against a real PostgreSQL (PG_URL, default the
// machine's own on 127.0.0.1:5432) in a database of its own, each store in a fresh schema; then
// what only this backend has: migrations under a lock, a newer schema refused, NUL in text,
// an older database indexed for search when it opens.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { openPostgresStore, type PostgresStore, POSTGRES_MIGRATIONS_DIR, SchemaTooNewError, type Store } from '../../src/store';
import type { User } from '../../src/types';
import { freshDatabase, schemaUrl, type TestDatabase } from '../support/postgres';
import { storeContract } from '../support/store-contract';

let db: TestDatabase;
let schemas = 0;
const urls = new WeakMap<Store, string>();

// One database for this file's tests, made before them and dropped after (inside a describe:
// hooks at a file's top level would be mocha's root hooks, run around every file of the run).
describe('PostgreSQL backend (#16)', () => {
  before(async () => {
    db = await freshDatabase();
  });
  after(async () => {
    await db.drop();
  });

  async function openAt(url: string): Promise<PostgresStore> {
    const store = await openPostgresStore(url, { poolSize: 4 });
    urls.set(store, url);
    return store;
  }

  storeContract('PostgreSQL', {
    async open() {
      return openAt(await schemaUrl(db.url, `s${++schemas}`));
    },
    async another(store) {
      return openAt(urls.get(store) ?? assert.fail('not a store of this factory'));
    },
    // No cache of devices: what one store committed is what the next query of any other sees.
    propagated: () => Promise.resolve(),
  });

  describe('PostgreSQL store (unit, #16)', () => {
    let url: string;
    let store: PostgresStore;
    let alice: User;
    let bob: User;

    beforeEach(async () => {
      url = await schemaUrl(db.url, `u${++schemas}`);
      store = await openAt(url);
      alice = (await store.createUser('alice', 'h')) ?? assert.fail('alice');
      bob = (await store.createUser('bob', 'h')) ?? assert.fail('bob');
    });
    afterEach(() => store.close());

    async function sql<T extends object>(text: string, values: unknown[] = []): Promise<T[]> {
      const c = new Client({ connectionString: url });
      await c.connect();
      try {
        return (await c.query<T>(text, values)).rows;
      } finally {
        await c.end();
      }
    }

    it('N processes starting together migrate once, under the lock', async () => {
      const fresh = await schemaUrl(db.url, `m${++schemas}`);
      const stores = await Promise.all(Array.from({ length: 5 }, () => openPostgresStore(fresh, { poolSize: 1 })));
      try {
        const versions = await sql<{ version: number }>(`SELECT version FROM m${schemas}.schema_migrations ORDER BY version`);
        assert.deepEqual(
          versions.map((v) => v.version),
          [1, 2, 3],
        );
      } finally {
        await Promise.all(stores.map((s) => s.close()));
      }
    });

    it('refuses a database written by a newer server', async () => {
      await sql(`INSERT INTO schema_migrations (version, name) VALUES (99, '099_future.sql')`);
      await assert.rejects(openPostgresStore(url), SchemaTooNewError);
    });

    it('stores NUL exactly in bodies and client_ids, and keeps them apart from a literal backslash-zero', async () => {
      const nul = 'a\u0000b\\0c\\\\';
      const literal = 'a\\0b\\0c\\\\';
      const r1 = await store.sendMessage({ sender: alice, recipient: bob, body: nul, clientId: 'k\u0000' });
      const r2 = await store.sendMessage({ sender: alice, recipient: bob, body: literal, clientId: 'k\\0' });
      assert.equal(r1.status, 'created');
      assert.equal(r2.status, 'created', 'a different client_id: the escaped NUL is not the literal \\0');
      const events = await store.eventsAfter(bob.id, 0, 10);
      assert.deepEqual(
        events.map((e) => (e.kind === 'message' ? [e.message.body, e.message.clientId] : null)),
        [
          [nul, 'k\u0000'],
          [literal, 'k\\0'],
        ],
      );
      assert.equal((await store.sendMessage({ sender: alice, recipient: bob, body: nul, clientId: 'k\u0000' })).status, 'existing');
      const stored = await sql<{ body: string; body_escaped: boolean }>('SELECT body, body_escaped FROM messages ORDER BY id');
      assert.deepEqual(
        stored.map((r) => r.body_escaped),
        [true, false],
        'only the body with a NUL is escaped',
      );
      assert.equal(stored[1]?.body, literal, 'any other body is stored as the text itself');
    });

    it('hands out stream positions under the stream row: a send held open blocks no reader and loses nothing', async () => {
      // Another writer holds bob's stream row (a send in progress on another process).
      const holder = new Client({ connectionString: url });
      await holder.connect();
      try {
        await holder.query('BEGIN');
        await holder.query('SELECT head FROM streams WHERE user_id = $1 FOR UPDATE', [bob.id]);
        const sending = store.sendMessage({ sender: alice, recipient: bob, body: 'waits', clientId: null });
        // Readers are not held up by it.
        assert.equal(await store.headSeq(bob.id), 0);
        assert.deepEqual(await store.eventsAfter(bob.id, 0, 10), []);
        await holder.query('COMMIT');
        const r = await sending;
        assert.equal(r.status === 'created' && r.recipientSeq, 1);
      } finally {
        await holder.end();
      }
    });

    it('reads the heads of many streams at once, and which devices still exist', async () => {
      await store.sendMessage({ sender: alice, recipient: bob, body: 'x', clientId: null });
      await store.sendMessage({ sender: bob, recipient: bob, body: 'y', clientId: null });
      assert.deepEqual([...(await store.headSeqs([alice.id, bob.id, 9999])).entries()].sort(), [
        [alice.id, 1],
        [bob.id, 2],
      ]);
      await store.createDevice({ id: 'd1', userId: alice.id, name: 'n', tokenHash: Buffer.alloc(32) }, { passwordHash: 'h' }, 10);
      await store.createDevice({ id: 'd2', userId: bob.id, name: 'n', tokenHash: Buffer.alloc(32) }, { passwordHash: 'h' }, 10);
      await store.setDisabled(bob.id, Date.now());
      assert.deepEqual([...(await store.existingDevices(['d1', 'd2', 'nope']))], ['d1']);
    });
    it('indexes for search, when it opens, the messages of a database from before search (schema 1)', async () => {
      const fresh = await schemaUrl(db.url, `f${++schemas}`);
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pg-migrations-'));
      try {
        fs.copyFileSync(path.join(POSTGRES_MIGRATIONS_DIR, '001_init.sql'), path.join(dir, '001_init.sql'));
        await (await openPostgresStore(fresh, { migrationsDir: dir })).close();
      } finally {
        fs.rmSync(dir, { recursive: true });
      }
      const c = new Client({ connectionString: fresh });
      await c.connect();
      try {
        await c.query(`INSERT INTO users (id, username, password_hash, created_at) VALUES (1, 'old_a', 'h', 0), (2, 'old_b', 'h', 0)`);
        await c.query(`INSERT INTO streams (user_id) VALUES (1), (2)`);
        // More than one batch of the fill, and a body with a NUL (stored escaped).
        await c.query(
          `INSERT INTO messages (sender_id, recipient_id, conv_lo, conv_hi, body, body_escaped, sent_at)
           SELECT 1, 2, 1, 2, 'Ancient news ' || i, false, i FROM generate_series(1, 1200) AS i`,
        );
        await c.query(
          `INSERT INTO messages (sender_id, recipient_id, conv_lo, conv_hi, body, body_escaped, sent_at) VALUES (2, 1, 1, 2, 'a\\0b nul', true, 0)`,
        );
      } finally {
        await c.end();
      }
      const upgraded = await openAt(fresh);
      try {
        const page = (await upgraded.search(2, { words: ['ANCIENT', 'news'], limit: 5 })) ?? assert.fail('no page');
        assert.deepEqual(
          page.messages.map((m) => m.body),
          ['Ancient news 1200', 'Ancient news 1199', 'Ancient news 1198', 'Ancient news 1197', 'Ancient news 1196'],
        );
        assert.equal(page.hasMore, true);
        assert.deepEqual(
          (await upgraded.search(1, { words: ['nul'], limit: 5 }))?.messages.map((m) => m.body),
          ['a\u0000b nul'],
        );
        assert.deepEqual((await upgraded.search(3, { words: ['ancient'], limit: 5 }))?.messages, [], 'no one else finds them');
      } finally {
        await upgraded.close();
      }
    });

    it('stores group names exactly, NUL and backslashes included', async () => {
      const name = 'a\u0000b \\0 c\\';
      const made = await store.createGroup(alice, name, [bob], { groupMembersMax: 10, groupsPerUserMax: 10 });
      const id = made.status === 'changed' ? made.group.id : assert.fail(made.status);
      assert.equal((await store.groupOf(bob.id, id))?.name, name);
      assert.equal((await store.renameGroup(bob, id, name)).status, 'unchanged', 'the same name, compared as sent');
      assert.deepEqual(
        (await store.listGroups()).map((g) => g.name),
        [name],
      );
      const events = await store.eventsAfter(bob.id, 0, 10);
      assert.deepEqual(
        events.map((e) => (e.kind === 'group' ? e.group.name : null)),
        [name],
      );
      assert.equal((await store.renameGroup(bob, id, 'a\\0b')).status, 'changed', 'a literal backslash-zero is another name');
    });

    it('indexes any text: a word far longer than PostgreSQL keeps, a word repeated more often than it keeps positions of', async () => {
      const long = 'w'.repeat(4000);
      const repeated = Array.from({ length: 300 }, () => 'same').join(' ') + ' tail';
      for (const body of [long, repeated, '\u0000', '!!! ???']) {
        assert.equal((await store.sendMessage({ sender: alice, recipient: bob, body, clientId: null })).status, 'created');
      }
      assert.deepEqual(
        (await store.search(bob.id, { words: ['w'.repeat(200)], limit: 5 }))?.messages.map((m) => m.body.length),
        [4000],
      );
      assert.deepEqual(
        (await store.search(bob.id, { words: ['same', 'tail'], limit: 5 }))?.messages.map((m) => m.body),
        [repeated],
      );
      assert.deepEqual((await store.search(bob.id, { words: ['%'], limit: 5 }))?.messages, [], 'a word with no word in it finds nothing');
    });
  });
});
