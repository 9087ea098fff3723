// Moving a SQLite database to PostgreSQL (#16): `npm run admin -- import-sqlite FILE` with
// DATABASE_URL set. Copies every row (users, devices, groups with their members and changes,
// messages, streams, read state) with its ids, and indexes the messages for search, in one
// PostgreSQL transaction, into a database that has no users yet; then checks the
// copy: the same number of rows in every table, and a sample of messages read back from both
// sides, compared field by field. Stop the SQLite server first: what it writes meanwhile would
// not be copied (the file is read in one read transaction, so the copy is consistent).
import Database from 'better-sqlite3';
import type { Pool, PoolClient } from 'pg';
import { loadMigrations } from '../sqlite/migrate';
import { MIGRATIONS_DIR } from '../sqlite';
import { fillSearch } from './search';
import { escapeNul, hasNul, unescapeNul } from './text';

/** Rows per INSERT (arrays through unnest: one round trip per batch). */
const BATCH = 5000;
/** Messages compared field by field after the copy. */
const SAMPLE = 200;

export interface ImportReport {
  /** Rows copied, by table. */
  counts: Record<string, number>;
  /** Messages compared after the copy. */
  sampled: number;
}

type Row = Record<string, unknown>;

/** Each table: what is read from SQLite, and how its rows go into PostgreSQL. */
const TABLES: { name: string; select: string; insert: string; columns: string[]; map?: (r: Row) => unknown[] }[] = [
  {
    name: 'users',
    select: 'SELECT id, username, password_hash, created_at, disabled_at FROM users ORDER BY id',
    insert:
      'INSERT INTO users (id, username, password_hash, created_at, disabled_at) SELECT * FROM unnest($1::integer[], $2::text[], $3::text[], $4::bigint[], $5::bigint[])',
    columns: ['id', 'username', 'password_hash', 'created_at', 'disabled_at'],
  },
  {
    name: 'streams',
    select:
      'SELECT u.id AS user_id, coalesce((SELECT max(seq) FROM events e WHERE e.user_id = u.id), 0) AS head FROM users u ORDER BY u.id',
    insert: 'INSERT INTO streams (user_id, head) SELECT * FROM unnest($1::integer[], $2::bigint[])',
    columns: ['user_id', 'head'],
  },
  {
    name: 'devices',
    select: 'SELECT id, user_id, name, token_hash, created_at, last_seen_at, cursor FROM devices ORDER BY id',
    insert:
      'INSERT INTO devices (id, user_id, name, token_hash, created_at, last_seen_at, cursor) SELECT * FROM unnest($1::text[], $2::integer[], $3::text[], $4::bytea[], $5::bigint[], $6::bigint[], $7::bigint[])',
    columns: ['id', 'user_id', 'name', 'token_hash', 'created_at', 'last_seen_at', 'cursor'],
  },
  // Groups (issue #15): names always escaped on PostgreSQL (db/postgres/002_groups.sql).
  {
    name: 'groups',
    select: 'SELECT id, name, owner_id, created_at, last_message_id FROM groups ORDER BY id',
    insert:
      'INSERT INTO groups (id, name, owner_id, created_at, last_message_id) SELECT * FROM unnest($1::integer[], $2::text[], $3::integer[], $4::bigint[], $5::bigint[])',
    columns: [],
    map: (r) => [r.id, escapeNul(String(r.name)), r.owner_id, r.created_at, r.last_message_id],
  },
  {
    name: 'group_members',
    select: 'SELECT group_id, user_id, joined, joined_at, read_up_to, unread FROM group_members ORDER BY group_id, user_id',
    insert:
      'INSERT INTO group_members (group_id, user_id, joined, joined_at, read_up_to, unread) SELECT * FROM unnest($1::integer[], $2::integer[], $3::integer[], $4::bigint[], $5::bigint[], $6::integer[])',
    columns: ['group_id', 'user_id', 'joined', 'joined_at', 'read_up_to', 'unread'],
  },
  {
    name: 'group_changes',
    select: 'SELECT id, group_id, name, owner, members, action, actor, subject, at FROM group_changes ORDER BY id',
    insert:
      'INSERT INTO group_changes (id, group_id, name, owner, members, action, actor, subject, at) SELECT * FROM unnest($1::bigint[], $2::integer[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bigint[])',
    columns: [],
    map: (r) => [r.id, r.group_id, escapeNul(String(r.name)), r.owner, r.members, r.action, r.actor, r.subject, r.at],
  },
  // Indexed for search after the copy (fillSearch), in the same transaction.
  {
    name: 'messages',
    select: 'SELECT id, sender_id, recipient_id, group_id, conv_lo, conv_hi, body, client_id, sent_at FROM messages ORDER BY id',
    insert:
      'INSERT INTO messages (id, sender_id, recipient_id, group_id, conv_lo, conv_hi, body, body_escaped, client_id, sent_at) SELECT * FROM unnest($1::bigint[], $2::integer[], $3::integer[], $4::integer[], $5::integer[], $6::integer[], $7::text[], $8::boolean[], $9::text[], $10::bigint[])',
    columns: [],
    map: (r) => {
      const body = typeof r.body === 'string' ? r.body : '';
      const escaped = hasNul(body);
      const clientId = typeof r.client_id === 'string' ? escapeNul(r.client_id) : null;
      return [
        r.id,
        r.sender_id,
        r.recipient_id,
        r.group_id,
        r.conv_lo,
        r.conv_hi,
        escaped ? escapeNul(body) : body,
        escaped,
        clientId,
        r.sent_at,
      ];
    },
  },
  {
    name: 'events',
    select: 'SELECT user_id, seq, kind, message_id, peer_id FROM events ORDER BY user_id, seq',
    insert:
      'INSERT INTO events (user_id, seq, kind, message_id, peer_id) SELECT * FROM unnest($1::integer[], $2::bigint[], $3::smallint[], $4::bigint[], $5::integer[])',
    columns: ['user_id', 'seq', 'kind', 'message_id', 'peer_id'],
  },
  {
    name: 'conversations',
    // SQLite keeps one row per conversation (db/008), PostgreSQL one per side: each side's row.
    select: `SELECT lo AS user_id, hi AS peer_id, last_message_id, lo_read_up_to AS read_up_to, lo_unread AS unread
             FROM conversation_pairs
             UNION ALL
             SELECT hi, lo, last_message_id, hi_read_up_to, hi_unread FROM conversation_pairs WHERE hi <> lo
             ORDER BY 1, 2`,
    insert:
      'INSERT INTO conversations (user_id, peer_id, last_message_id, read_up_to, unread) SELECT * FROM unnest($1::integer[], $2::integer[], $3::bigint[], $4::bigint[], $5::integer[])',
    columns: ['user_id', 'peer_id', 'last_message_id', 'read_up_to', 'unread'],
  },
];

async function insertBatch(c: PoolClient, sql: string, rows: unknown[][]): Promise<void> {
  const width = rows[0]?.length ?? 0;
  const columns = Array.from({ length: width }, (_, i) => rows.map((r) => r[i]));
  await c.query(sql, columns);
}

/**
 * Copies `file` (a SQLite database of this server, upgraded to the current schema) into the
 * empty PostgreSQL database of `pool` (a PostgresStore's: bigint read as numbers).
 */
export async function importSqlite(file: string, pool: Pool): Promise<ImportReport> {
  const lite = new Database(file, { readonly: true, fileMustExist: true });
  const c = await pool.connect();
  try {
    const version = Number(lite.pragma('user_version', { simple: true }));
    if (version < loadMigrations(MIGRATIONS_DIR).length)
      throw new Error(`${file} has schema version ${version}; start the server on it once to upgrade it, then import`);
    const existing = await c.query<{ n: number }>('SELECT count(*)::integer AS n FROM users');
    if ((existing.rows[0]?.n ?? 0) > 0) throw new Error('the PostgreSQL database already has users: import only into an empty one');
    const counts: Record<string, number> = {};
    await c.query('BEGIN');
    try {
      lite.exec('BEGIN'); // one read transaction: a consistent copy
      for (const t of TABLES) {
        let batch: unknown[][] = [];
        let n = 0;
        for (const r of lite.prepare<[], Row>(t.select).iterate()) {
          batch.push(t.map ? t.map(r) : t.columns.map((k) => r[k]));
          n++;
          if (batch.length === BATCH) {
            await insertBatch(c, t.insert, batch);
            batch = [];
          }
        }
        if (batch.length > 0) await insertBatch(c, t.insert, batch);
        counts[t.name] = n;
      }
      lite.exec('COMMIT');
      // The identities go on after the copied ids.
      await c.query(`SELECT setval(pg_get_serial_sequence('users', 'id'), coalesce((SELECT max(id) FROM users), 0) + 1, false)`);
      for (const table of ['messages', 'groups', 'group_changes']) {
        await c.query(`SELECT setval(pg_get_serial_sequence('${table}', 'id'), coalesce((SELECT max(id) FROM ${table}), 0) + 1, false)`);
      }
      await fillSearch(c);
      await verify(c, lite, counts);
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK');
      throw err;
    }
    return { counts, sampled: Math.min(SAMPLE, counts.messages ?? 0) };
  } finally {
    c.release();
    lite.close();
  }
}

/** Inside the copying transaction: the same counts on both sides, and a sample of messages equal field by field. */
async function verify(c: PoolClient, lite: Database.Database, counts: Record<string, number>): Promise<void> {
  for (const t of TABLES) {
    const got = (await c.query<{ n: number }>(`SELECT count(*)::integer AS n FROM ${t.name}`)).rows[0]?.n ?? -1;
    if (got !== counts[t.name]) throw new Error(`copy check failed: ${t.name} has ${got} rows in PostgreSQL, ${counts[t.name]} in SQLite`);
  }
  const sample = lite
    .prepare<
      [number],
      {
        id: number;
        sender_id: number;
        recipient_id: number | null;
        group_id: number | null;
        body: string;
        client_id: string | null;
        sent_at: number;
      }
    >('SELECT id, sender_id, recipient_id, group_id, body, client_id, sent_at FROM messages ORDER BY random() LIMIT ?')
    .all(SAMPLE);
  if (sample.length === 0) return;
  const copied = await c.query<{
    id: number;
    sender_id: number;
    recipient_id: number | null;
    group_id: number | null;
    body: string;
    body_escaped: boolean;
    client_id: string | null;
    sent_at: number;
  }>('SELECT id, sender_id, recipient_id, group_id, body, body_escaped, client_id, sent_at FROM messages WHERE id = ANY($1::bigint[])', [
    sample.map((m) => m.id),
  ]);
  const byId = new Map(copied.rows.map((r) => [r.id, r]));
  for (const m of sample) {
    const r = byId.get(m.id);
    const same =
      r !== undefined &&
      r.sender_id === m.sender_id &&
      r.recipient_id === m.recipient_id &&
      r.group_id === m.group_id &&
      (r.body_escaped ? unescapeNul(r.body) : r.body) === m.body &&
      (r.client_id === null ? null : unescapeNul(r.client_id)) === m.client_id &&
      r.sent_at === m.sent_at;
    if (!same) throw new Error(`copy check failed: message ${m.id} differs`);
  }
}
