// The query catalog: every SQL statement of the SQLite backend, each with a name (ntfy's
// message_cache.go style) and its types: what it binds and what one row of it is
// (better-sqlite3's Statement<Params, Row>), so no caller casts a row. Prepared once per
// database; statements that return one value are plucked here, once.
import { StreamHeads } from './heads';
import type { Database } from 'better-sqlite3';
import type { DeviceAuth, EventRow, MessageRow, UserSummary, UserWithSecret } from '../../types';

export const KIND_MESSAGE = 1;
export const KIND_READ = 2;
/** A change to a group: message_id is its group_changes row (005_groups.sql). */
export const KIND_GROUP = 3;
/** A read marker of a group: message_id is up_to, peer_id the group. */
export const KIND_GROUP_READ = 4;

/** Columns of a message as MessageRow names them (with the sender's and recipient's names). */
export const MESSAGE_COLUMNS = `m.id, m.sender_id AS senderId, m.recipient_id AS recipientId, m.group_id AS groupId,
                        s.username AS "from", r.username AS "to", m.body,
                        m.client_id AS clientId, m.sent_at AS sentAt`;
/** A group message has no recipient: LEFT JOIN, so it is not lost (its "to" is null). */
export const MESSAGE_JOINS = `JOIN users s ON s.id = m.sender_id LEFT JOIN users r ON r.id = m.recipient_id`;

/** A message as the search index takes it: who may find it, and its text. */
export interface UnindexedMessage {
  id: number;
  senderId: number;
  recipientId: number | null;
  groupId: number | null;
  body: string;
}

/** A device row as authentication reads it; the token hash as stored (a BLOB). */
export type DeviceAuthRow = Omit<DeviceAuth, 'tokenHash'> & { tokenHash: Buffer };

export interface DeviceRow {
  id: string;
  userId: number;
  name: string;
  createdAt: number;
  lastSeenAt: number;
  cursor: number;
}

export interface CredentialsRow {
  passwordHash: string;
  disabledAt: number | null;
}

export interface EventJoinRow {
  seq: number;
  kind: number;
  messageId: number | null;
  peerId: number | null;
  peer: string | null;
  senderId: number | null;
  recipientId: number | null;
  groupId: number | null;
  sender: string | null;
  recipient: string | null;
  body: string | null;
  clientId: string | null;
  sentAt: number | null;
}

export type ConversationJoinRow = MessageRow & { peer: string; unread: number; readUpTo: number };

interface NewDeviceParams {
  id: string;
  userId: number;
  name: string;
  tokenHash: Buffer;
  now: number;
  cursor: number;
}

interface NewEventParams {
  userId: number;
  seq: number;
  kind: number;
  messageId: number;
  peerId: number | null;
}

interface ConversationSendParams {
  lo: number;
  hi: number;
  messageId: number;
  /** 1 when the message is to the lo side from the hi side, else 0. */
  loUnread: number;
  hiUnread: number;
}

interface ReadMarkerParams {
  upTo: number;
  lo: number;
  hi: number;
  peerId: number;
  userId: number;
}

/** Prepares every statement of the catalog on `db`. */
export function prepareQueries(db: Database) {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- they name what each statement binds and returns
  const q = <P extends unknown[] | object, R = unknown>(sql: string) => db.prepare<P, R>(sql);
  // Recounted from the conversation index when the marker moves: exact, and it touches only
  // the messages after the new marker.
  const readMarkerQueries = (side: 'lo' | 'hi') => ({
    select: q<[number, number], number>(`SELECT ${side}_read_up_to FROM conversation_pairs WHERE lo = ? AND hi = ?`).pluck(),
    update: q<ReadMarkerParams>(
      `UPDATE conversation_pairs
       SET ${side}_read_up_to = @upTo,
           ${side}_unread = (SELECT count(*) FROM messages
                             WHERE conv_lo = @lo AND conv_hi = @hi AND id > @upTo
                               AND sender_id = @peerId AND sender_id <> @userId)
       WHERE lo = @lo AND hi = @hi`,
    ),
  });
  return {
    // --- users ---
    insertUser: q<[string, string, number], number>(
      `INSERT INTO users (username, password_hash, created_at) VALUES (?, ?, ?)
       ON CONFLICT (username) DO NOTHING RETURNING id`,
    ).pluck(),
    selectUserByName: q<[string], UserWithSecret>(
      `SELECT id, username, password_hash AS passwordHash, disabled_at AS disabledAt FROM users WHERE username = ?`,
    ),
    // What a log-in's device is checked against, inside the transaction that inserts it.
    selectCredentials: q<[number], CredentialsRow>(
      `SELECT password_hash AS passwordHash, disabled_at AS disabledAt FROM users WHERE id = ?`,
    ),
    selectUserSummaries: q<[], UserSummary>(
      `SELECT u.id, u.username, u.created_at AS createdAt, u.disabled_at AS disabledAt,
              (SELECT count(*) FROM devices d WHERE d.user_id = u.id) AS devices
       FROM users u ORDER BY u.username`,
    ),
    updateUserDisabled: q<[number | null, number]>(`UPDATE users SET disabled_at = ? WHERE id = ?`),
    updatePasswordHash: q<[string, number]>(`UPDATE users SET password_hash = ? WHERE id = ?`),

    // --- devices ---
    insertDevice: q<NewDeviceParams>(
      `INSERT INTO devices (id, user_id, name, token_hash, created_at, last_seen_at, cursor)
       VALUES (@id, @userId, @name, @tokenHash, @now, @now, @cursor)`,
    ),
    selectDeviceAuth: q<[string], DeviceAuthRow>(
      `SELECT d.id, d.user_id AS userId, d.name, d.created_at AS createdAt,
              d.last_seen_at AS lastSeenAt, d.cursor, d.token_hash AS tokenHash, u.username
       FROM devices d JOIN users u ON u.id = d.user_id
       WHERE d.id = ? AND u.disabled_at IS NULL`,
    ),
    selectDevicesOfUser: q<[number], DeviceRow>(
      `SELECT id, user_id AS userId, name, created_at AS createdAt, last_seen_at AS lastSeenAt, cursor
       FROM devices WHERE user_id = ? ORDER BY created_at, id`,
    ),
    // The most recently used first: GET /devices reads no more than its cap.
    selectRecentDevicesOfUser: q<[number, number], DeviceRow>(
      `SELECT id, user_id AS userId, name, created_at AS createdAt, last_seen_at AS lastSeenAt, cursor
       FROM devices WHERE user_id = ? ORDER BY last_seen_at DESC, created_at DESC, id DESC LIMIT ?`,
    ),
    // Devices not used since a time, least recently used first (devices_by_last_seen).
    selectIdleDevices: q<[number, number], { id: string; userId: number }>(
      `SELECT id, user_id AS userId FROM devices WHERE last_seen_at < ? ORDER BY last_seen_at LIMIT ?`,
    ),
    deleteDevice: q<[string, number]>(`DELETE FROM devices WHERE id = ? AND user_id = ?`),
    // keep '' keeps none: device ids are never empty.
    deleteDevicesOfUser: q<[number, string], string>(`DELETE FROM devices WHERE user_id = ? AND id <> ? RETURNING id`).pluck(),
    // A cursor only moves forward, and so does last_seen_at (two polls may land in one batch).
    updateDeviceSeen: q<[number, number, string]>(
      `UPDATE devices SET cursor = max(cursor, ?), last_seen_at = max(last_seen_at, ?) WHERE id = ?`,
    ),

    // --- the event stream ---
    selectHeadSeq: q<[number], number>(`SELECT coalesce(max(seq), 0) FROM events WHERE user_id = ?`).pluck(),
    // Moves when another connection (the admin command line) commits; not for our own writes.
    dataVersion: q<[], number>(`PRAGMA data_version`).pluck(),
    // At the position appendEvent() worked out; (user_id, seq) is the primary key, so a wrong
    // one fails the statement and rolls the transaction back instead of overwriting anything.
    insertEvent: q<NewEventParams>(
      `INSERT INTO events (user_id, seq, kind, message_id, peer_id) VALUES (@userId, @seq, @kind, @messageId, @peerId)`,
    ),
    selectEventsAfter: q<[number, number, number], EventJoinRow>(
      `SELECT e.seq, e.kind, e.message_id AS messageId, e.peer_id AS peerId, p.username AS peer,
              m.sender_id AS senderId, m.recipient_id AS recipientId, m.group_id AS groupId,
              s.username AS sender, r.username AS recipient,
              m.body, m.client_id AS clientId, m.sent_at AS sentAt
       FROM events e
       LEFT JOIN messages m ON e.kind = ${KIND_MESSAGE} AND m.id = e.message_id
       LEFT JOIN users s ON s.id = m.sender_id
       LEFT JOIN users r ON r.id = m.recipient_id
       LEFT JOIN users p ON e.kind = ${KIND_READ} AND p.id = e.peer_id
       WHERE e.user_id = ? AND e.seq > ?
       ORDER BY e.seq LIMIT ?`,
    ),

    // --- messages ---
    insertMessage: q<[number, number, number, number, string, string | null, number]>(
      `INSERT INTO messages (sender_id, recipient_id, conv_lo, conv_hi, body, client_id, sent_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
    selectMessageByClientId: q<[number, string], MessageRow>(
      `SELECT ${MESSAGE_COLUMNS} FROM messages m ${MESSAGE_JOINS} WHERE m.sender_id = ? AND m.client_id = ?`,
    ),
    selectHistoryBefore: q<[number, number, number, number], MessageRow>(
      `SELECT ${MESSAGE_COLUMNS} FROM messages m ${MESSAGE_JOINS}
       WHERE m.conv_lo = ? AND m.conv_hi = ? AND m.id < ?
       ORDER BY m.id DESC LIMIT ?`,
    ),
    selectHistoryAfter: q<[number, number, number, number], MessageRow>(
      `SELECT ${MESSAGE_COLUMNS} FROM messages m ${MESSAGE_JOINS}
       WHERE m.conv_lo = ? AND m.conv_hi = ? AND m.id > ?
       ORDER BY m.id ASC LIMIT ?`,
    ),
    // --- search (db/006_search.sql; the MATCH expression comes from search-text.ts) ---
    insertSearch: q<[number, string, string]>(`INSERT INTO message_search (rowid, body, scope) VALUES (?, ?, ?)`),
    // The groups a user is in now (group_members_by_user): whose messages their search may find.
    selectGroupIdsOfUser: q<[number], number>(`SELECT group_id FROM group_members WHERE user_id = ? ORDER BY group_id`).pluck(),
    insertSearchTerm: q<[string, string]>(`INSERT INTO search_terms (key, term) VALUES (?, ?) ON CONFLICT DO NOTHING`),
    // The index follows the messages (db/009_search_follows.sql): what is above its mark, in id order.
    selectSearchIndexed: q<[], number>(`SELECT up_to FROM search_indexed`).pluck(),
    updateSearchIndexed: q<[number]>(`UPDATE search_indexed SET up_to = ?`),
    // The index's writes under a savepoint of their own (search.ts, SearchIndexer.write).
    searchSavepoint: q<[]>(`SAVEPOINT search_index`),
    searchRelease: q<[]>(`RELEASE search_index`),
    searchRollback: q<[]>(`ROLLBACK TO search_index`),
    selectUnindexed: q<[number, number], UnindexedMessage>(
      `SELECT id, sender_id AS senderId, recipient_id AS recipientId, group_id AS groupId, body
       FROM messages WHERE id > ? ORDER BY id LIMIT ?`,
    ),
    // Words whose key starts with ?1: ?2 is ?1 followed by the largest code point, so the range
    // is one walk of the primary key (BINARY collation compares UTF-8 bytes, in code point order).
    selectSearchTerms: q<[string, string, number], string>(
      `SELECT term FROM search_terms WHERE key >= ? AND key < ? ORDER BY key, term LIMIT ?`,
    ).pluck(),
    // Newest first: FTS5 walks the matches in descending rowid (= message id) order and stops at
    // the LIMIT, so only the rows of the answer are joined. The caller's scope is in the MATCH.
    selectSearch: q<[string, number, number], MessageRow>(
      `SELECT ${MESSAGE_COLUMNS} FROM message_search f
       JOIN messages m ON m.id = f.rowid ${MESSAGE_JOINS}
       WHERE message_search MATCH ? AND f.rowid < ?
       ORDER BY f.rowid DESC LIMIT ?`,
    ),
    // Messages are never deleted and ids come from AUTOINCREMENT, so the largest id is the count,
    // read from the rowid index instead of counting a million rows on every metrics scrape.
    countMessages: q<[], number>(`SELECT coalesce(max(id), 0) FROM messages`).pluck(),

    // --- conversations and read markers (db/008_conversation_pairs.sql: one row per pair) ---
    // A send: the newest message, and one more unread for its recipient's side (none for a
    // note to self). One row, one page, whichever side sent.
    upsertConversation: q<ConversationSendParams>(
      `INSERT INTO conversation_pairs (lo, hi, last_message_id, lo_unread, hi_unread)
       VALUES (@lo, @hi, @messageId, @loUnread, @hiUnread)
       ON CONFLICT (lo, hi) DO UPDATE SET last_message_id = excluded.last_message_id,
                                          lo_unread = lo_unread + excluded.lo_unread,
                                          hi_unread = hi_unread + excluded.hi_unread`,
    ),
    selectMessageConversation: q<[number], { lo: number; hi: number }>(`SELECT conv_lo AS lo, conv_hi AS hi FROM messages WHERE id = ?`),
    // The read marker of one side of the pair, and moving it (a note to self is the lo side's).
    readMarker: { lo: readMarkerQueries('lo'), hi: readMarkerQueries('hi') },
    // The user's side of each of their conversations: the rows where they are lo (a range of
    // the primary key) and those where they are hi (a range of conversation_pairs_by_hi; a note
    // to self is already in the first).
    selectConversations: q<{ user: number }, ConversationJoinRow>(
      `SELECT p.username AS peer, c.unread, c.read_up_to AS readUpTo, ${MESSAGE_COLUMNS}
       FROM (SELECT hi AS peer_id, last_message_id, lo_unread AS unread, lo_read_up_to AS read_up_to
             FROM conversation_pairs WHERE lo = @user
             UNION ALL
             SELECT lo, last_message_id, hi_unread, hi_read_up_to
             FROM conversation_pairs WHERE hi = @user AND lo < @user) c
       JOIN users p ON p.id = c.peer_id
       JOIN messages m ON m.id = c.last_message_id
       ${MESSAGE_JOINS}
       ORDER BY c.last_message_id DESC`,
    ),

    // Not a statement: the stream heads this connection knows to be committed, kept by
    // appendEvent() and the group commit (heads.ts). Here so that every writer of events has it.
    streamHeads: new StreamHeads(),
  };
}

export type Queries = ReturnType<typeof prepareQueries>;

/**
 * An event as stored, from its row joined with its message or its peer. A group change (kind 3)
 * is read on its own (groups.ts): it is not joined here, to keep the poll's query as it was.
 */
export function toEventRow(r: EventJoinRow): EventRow {
  if (r.kind === KIND_READ) return { seq: r.seq, kind: 'read', with: r.peer ?? '', upTo: r.messageId ?? 0 };
  if (r.kind === KIND_GROUP_READ) return { seq: r.seq, kind: 'group_read', group: r.peerId ?? 0, upTo: r.messageId ?? 0 };
  return {
    seq: r.seq,
    kind: 'message',
    message: {
      id: r.messageId ?? 0,
      senderId: r.senderId ?? 0,
      recipientId: r.recipientId,
      groupId: r.groupId,
      from: r.sender ?? '',
      to: r.recipient,
      body: r.body ?? '',
      clientId: r.clientId,
      sentAt: r.sentAt ?? 0,
    },
  };
}

/**
 * Appends an event to a user's stream at its next position; returns the position. The one way
 * events are written: the heads kept in memory (heads.ts) rely on it. The position comes from
 * those heads inside a group commit when they know it (two events of a send, on the two users'
 * streams, then cost two inserts and no reads), else from the table.
 */
export function appendEvent(
  q: Pick<Queries, 'insertEvent' | 'selectHeadSeq' | 'streamHeads'>,
  userId: number,
  kind: number,
  messageId: number,
  peerId: number | null,
): number {
  const seq = q.streamHeads.next(userId) ?? (q.selectHeadSeq.get(userId) ?? 0) + 1;
  q.insertEvent.run({ userId, seq, kind, messageId, peerId });
  q.streamHeads.noteAppended(userId, seq);
  return seq;
}
