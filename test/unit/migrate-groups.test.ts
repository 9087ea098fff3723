// Migration 005 (groups, #15) on a database as the release before it left it (schema 004, with
// users, devices, 1:1 messages, read markers and their events): upgraded in place, with nothing
// lost and every id kept, and the server works on it at once, groups included.
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { MIGRATIONS_DIR, openStore, type SqliteStore } from '../../src/store';
import { loadMigrations, migrate } from '../../src/store/sqlite/migrate';
import type { User } from '../../src/types';
import { tempDbPath } from '../support/server';

/** What the 004 release wrote for a send and a read (its queries.ts, verbatim in effect). */
function writeVersion4(file: string): void {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  migrate(db, loadMigrations(MIGRATIONS_DIR).slice(0, 4));
  assert.equal(db.pragma('user_version', { simple: true }), 4);
  const user = db
    .prepare<[string], number>("INSERT INTO users (username, password_hash, created_at) VALUES (?, 'h', 1) RETURNING id")
    .pluck();
  const ids = ['alice', 'bob', 'carol'].map((n) => user.get(n) ?? assert.fail());
  const [a = 0, b = 0, c = 0] = ids;
  db.prepare(`UPDATE users SET disabled_at = 5 WHERE id = ?`).run(c);
  db.prepare(
    `INSERT INTO devices (id, user_id, name, token_hash, created_at, last_seen_at, cursor) VALUES ('dev-a', ?, 'laptop', zeroblob(32), 1, 2, 1)`,
  ).run(a);
  const message = db.prepare<[number, number, number, number, string, string | null, number]>(
    `INSERT INTO messages (sender_id, recipient_id, conv_lo, conv_hi, body, client_id, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
  );
  const insertEvent = db.prepare<{ u: number; k: number; m: number; p: number | null }>(
    `INSERT INTO events (user_id, seq, kind, message_id, peer_id)
     VALUES (@u, (SELECT coalesce(max(seq), 0) + 1 FROM events WHERE user_id = @u), @k, @m, @p)`,
  );
  const event = (u: number, k: number, m: number, p: number | null) => insertEvent.run({ u, k, m, p });
  const conv = db.prepare<[number, number, number, number]>(
    `INSERT INTO conversations (user_id, peer_id, last_message_id, unread) VALUES (?, ?, ?, ?)
     ON CONFLICT (user_id, peer_id) DO UPDATE SET last_message_id = excluded.last_message_id, unread = unread + excluded.unread`,
  );
  const send = (from: number, to: number, body: string, clientId: string | null) => {
    const id = Number(message.run(from, to, Math.min(from, to), Math.max(from, to), body, clientId, 1000 + from).lastInsertRowid);
    event(from, 1, id, null);
    conv.run(from, to, id, 0);
    if (to !== from) {
      event(to, 1, id, null);
      conv.run(to, from, id, 1);
    }
    return id;
  };
  send(a, b, 'hi bob', 'k1');
  const read = send(b, a, 'hi alice 😀\n<b>html</b>', null);
  send(a, a, 'note to self', 'k2');
  send(b, c, 'to carol', null);
  db.prepare(`UPDATE conversations SET read_up_to = ?, unread = 0 WHERE user_id = ? AND peer_id = ?`).run(read, a, b);
  event(a, 2, read, b);
  // A message that was stored and is gone (as if a newer row had been removed): its id must
  // never come back, so AUTOINCREMENT's mark is above the largest id.
  const gone = send(a, b, 'gone', null);
  db.prepare(`DELETE FROM events WHERE message_id = ? AND kind = 1`).run(gone);
  db.prepare(`DELETE FROM messages WHERE id = ?`).run(gone);
  db.prepare(
    `UPDATE conversations SET last_message_id = (SELECT max(id) FROM messages WHERE conv_lo = @lo AND conv_hi = @hi)
     WHERE (user_id = @lo AND peer_id = @hi) OR (user_id = @hi AND peer_id = @lo)`,
  ).run({ lo: Math.min(a, b), hi: Math.max(a, b) });
  db.close();
}

/** Every row of the tables the 004 release had, for comparing before and after. */
function dump(file: string): Record<string, unknown[]> {
  const db = new Database(file, { readonly: true });
  try {
    const out: Record<string, unknown[]> = {};
    for (const [table, order] of [
      ['users', 'id'],
      ['devices', 'id'],
      ['messages', 'id'],
      ['events', 'user_id, seq'],
      ['conversations', 'user_id, peer_id'],
    ] as const) {
      // From 008 on a conversation is one row (conversation_pairs): its sides, as 004 had them.
      const from =
        table === 'conversations' && !db.prepare(`SELECT 1 FROM sqlite_master WHERE name = 'conversations'`).get()
          ? `(SELECT lo AS user_id, hi AS peer_id, last_message_id, lo_read_up_to AS read_up_to, lo_unread AS unread
              FROM conversation_pairs
              UNION ALL
              SELECT hi, lo, last_message_id, hi_read_up_to, hi_unread FROM conversation_pairs WHERE hi <> lo)`
          : table;
      out[table] = db
        .prepare(`SELECT * FROM ${from} ORDER BY ${order}`)
        .all()
        .map((r) => {
          const row = { ...(r as Record<string, unknown>) };
          delete row.group_id; // new in 005: NULL on every row written before it
          return row;
        });
    }
    out.sequence = db.prepare(`SELECT seq FROM sqlite_sequence WHERE name = 'messages'`).all();
    return out;
  } finally {
    db.close();
  }
}

describe('migration 005: groups on a database of the 004 release (#15)', () => {
  let store: SqliteStore | undefined;
  afterEach(() => store?.close());

  it('upgrades in place: every row and id kept, the id mark kept, and the server works on it, groups included', async () => {
    const file = tempDbPath('chat-migrate5-');
    writeVersion4(file);
    const before = dump(file);
    store = openStore(file);
    const db = store.sqlite.db;
    assert.equal(db.pragma('user_version', { simple: true }), loadMigrations(MIGRATIONS_DIR).length, 'and every later one (006: search)');
    assert.equal(store.sqlite.integrityCheck(), 'ok');
    assert.deepEqual(db.pragma('foreign_key_check'), []);
    assert.deepEqual(dump(file), before, 'nothing lost, nothing changed');
    assert.equal(db.prepare(`SELECT count(*) FROM messages WHERE group_id IS NOT NULL`).pluck().get(), 0);
    const [mark] = before.sequence as Array<{ seq: number }>;

    const alice: User = (await store.userByName('alice')) ?? assert.fail();
    const bob: User = (await store.userByName('bob')) ?? assert.fail();
    // What the server reads works as before.
    assert.ok(await store.getDeviceAuth('dev-a'));
    assert.deepEqual(
      (await store.history(alice.id, bob.id, { limit: 10 })).messages.map((m) => [m.body, m.to, m.groupId]),
      [
        ['hi bob', 'bob', null],
        ['hi alice 😀\n<b>html</b>', 'alice', null],
      ],
    );
    assert.deepEqual(
      (await store.conversations(alice.id)).map((c) => [c.peer, c.unread, c.lastMessage.body]),
      [
        ['alice', 0, 'note to self'],
        ['bob', 0, 'hi alice 😀\n<b>html</b>'],
      ],
    );
    assert.deepEqual(
      (await store.eventsAfter(alice.id, 0, 10)).map((e) => (e.kind === 'message' ? e.message.body : e.kind)),
      ['hi bob', 'hi alice 😀\n<b>html</b>', 'note to self', 'read'],
    );
    // Idempotency keys of old messages still hold.
    const retry = await store.sendMessage({ sender: alice, recipient: bob, body: 'hi bob', clientId: 'k1' });
    assert.equal(retry.status, 'existing');
    // New messages, 1:1 and to a group, get ids above every id ever handed out.
    const next = await store.sendMessage({ sender: bob, recipient: alice, body: 'after the upgrade', clientId: null });
    if (next.status !== 'created') return assert.fail(next.status);
    assert.equal(next.message.id, (mark?.seq ?? 0) + 1);
    assert.equal(next.recipientSeq, 5, "alice's stream goes on where it was");
    const made = await store.createGroup(alice, 'after', [bob], { groupMembersMax: 10, groupsPerUserMax: 10 });
    if (made.status !== 'changed') return assert.fail(made.status);
    const g = await store.sendGroupMessage({ sender: bob, groupId: made.group.id, body: 'group', clientId: 'k1' });
    if (g.status !== 'created') return assert.fail(g.status);
    assert.equal(g.message.id, next.message.id + 1);
    assert.deepEqual(
      await store.sendGroupMessage({ sender: alice, groupId: made.group.id, body: 'hi bob', clientId: 'k1' }),
      { status: 'conflict' },
      "an old 1:1 message's client_id is taken for groups too",
    );
    await store.close();
    store = openStore(file); // and it opens again without migrating twice
    assert.equal((await store.groupOf(bob.id, made.group.id))?.name, 'after');
  });
});
