// The query catalog of the PostgreSQL backend: every statement with a name (ntfy's
// message_cache.go style), sent as a named prepared statement, so each connection of the pool
// parses and plans it once. Column aliases are the names the domain's types use; bigint columns
// arrive as numbers (see the pool's type parser in index.ts).
import type { EventRow, GroupAction, MessageRow } from '../../types';
import { unescapeNul } from './text';

export const KIND_MESSAGE = 1;
export const KIND_READ = 2;
/** A change to a group: message_id is its group_changes row (db/postgres/002_groups.sql). */
export const KIND_GROUP = 3;
/** A read marker of a group: message_id is up_to, peer_id the group. */
export const KIND_GROUP_READ = 4;

export const MESSAGE_COLUMNS = `m.id, m.sender_id AS "senderId", m.recipient_id AS "recipientId", m.group_id AS "groupId",
                         s.username AS "from", r.username AS "to", m.body, m.body_escaped AS "bodyEscaped",
                         m.client_id AS "clientId", m.sent_at AS "sentAt"`;
/** A group message has no recipient: LEFT JOIN, so it is not lost (its "to" is null). */
export const MESSAGE_JOINS = `JOIN users s ON s.id = m.sender_id LEFT JOIN users r ON r.id = m.recipient_id`;
const DEVICE_COLUMNS = `id, user_id AS "userId", name, created_at AS "createdAt", last_seen_at AS "lastSeenAt", cursor`;

/** A message as stored: its body and client_id possibly escaped (text.ts). */
export type StoredMessage = MessageRow & { bodyEscaped: boolean };

export interface StoredEvent {
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
  bodyEscaped: boolean | null;
  clientId: string | null;
  sentAt: number | null;
  /** A group change (kind 3): the group as it was right after it. */
  changeGroupId: number | null;
  changeName: string | null;
  changeOwner: string | null;
  /** JSON array of usernames, sorted. */
  changeMembers: string | null;
  changeAction: GroupAction | null;
  changeActor: string | null;
  changeSubject: string | null;
  groupCreatedAt: number | null;
}

/** A statement: its name (the prepared statement's) and text. */
export interface Sql {
  name: string;
  text: string;
}

function sql(name: string, text: string): Sql {
  return { name, text };
}

export const Q = {
  // --- users ---
  insertUser: sql(
    'insert_user',
    `WITH u AS (
       INSERT INTO users (username, password_hash, created_at) VALUES ($1, $2, $3)
       ON CONFLICT (username) DO NOTHING RETURNING id
     ), s AS (INSERT INTO streams (user_id) SELECT id FROM u)
     SELECT id FROM u`,
  ),
  selectUserByName: sql(
    'select_user_by_name',
    `SELECT id, username, password_hash AS "passwordHash", disabled_at AS "disabledAt" FROM users WHERE username = $1`,
  ),
  // Locks the user's row against a concurrent reset or disable (and a concurrent log-in) until
  // the device is made; NO KEY: inserts that only reference the user are not held up.
  lockCredentials: sql(
    'lock_credentials',
    `SELECT password_hash AS "passwordHash", disabled_at AS "disabledAt" FROM users WHERE id = $1 FOR NO KEY UPDATE`,
  ),
  selectUserSummaries: sql(
    'select_user_summaries',
    `SELECT u.id, u.username, u.created_at AS "createdAt", u.disabled_at AS "disabledAt",
            (SELECT count(*) FROM devices d WHERE d.user_id = u.id)::integer AS devices
     FROM users u ORDER BY u.username`,
  ),
  updateUserDisabled: sql('update_user_disabled', `UPDATE users SET disabled_at = $1 WHERE id = $2`),
  updatePasswordHash: sql('update_password_hash', `UPDATE users SET password_hash = $1 WHERE id = $2`),

  // --- devices ---
  insertDevice: sql(
    'insert_device',
    `INSERT INTO devices (id, user_id, name, token_hash, created_at, last_seen_at, cursor)
     VALUES ($1, $2, $3, $4, $5, $5, $6)`,
  ),
  selectDeviceAuth: sql(
    'select_device_auth',
    `SELECT d.id, d.user_id AS "userId", d.name, d.created_at AS "createdAt", d.last_seen_at AS "lastSeenAt",
            d.cursor, encode(d.token_hash, 'hex') AS "tokenHash", u.username
     FROM devices d JOIN users u ON u.id = d.user_id
     WHERE d.id = $1 AND u.disabled_at IS NULL`,
  ),
  selectDevicesOfUser: sql('select_devices_of_user', `SELECT ${DEVICE_COLUMNS} FROM devices WHERE user_id = $1 ORDER BY created_at, id`),
  selectRecentDevicesOfUser: sql(
    'select_recent_devices_of_user',
    `SELECT ${DEVICE_COLUMNS} FROM devices WHERE user_id = $1 ORDER BY last_seen_at DESC, created_at DESC, id DESC LIMIT $2`,
  ),
  selectIdleDevices: sql(
    'select_idle_devices',
    `SELECT id, user_id AS "userId" FROM devices WHERE last_seen_at < $1 ORDER BY last_seen_at LIMIT $2`,
  ),
  // Only if still idle: another process may have recorded a use since it was selected.
  deleteIdleDevices: sql('delete_idle_devices', `DELETE FROM devices WHERE id = ANY($1::text[]) AND last_seen_at < $2 RETURNING id`),
  deleteDevice: sql('delete_device', `DELETE FROM devices WHERE id = $1 AND user_id = $2 RETURNING id`),
  deleteDevicesOfUser: sql('delete_devices_of_user', `DELETE FROM devices WHERE user_id = $1 AND id <> $2 RETURNING id`),
  // Acknowledgements of many devices in one statement, rows taken in id order (two processes
  // writing overlapping batches then never wait for each other in a circle). Cursors and
  // last-seen times only move forward.
  lockDevices: sql('lock_devices', `SELECT id FROM devices WHERE id = ANY($1::text[]) ORDER BY id FOR NO KEY UPDATE`),
  updateDevicesSeen: sql(
    'update_devices_seen',
    `UPDATE devices d SET cursor = greatest(d.cursor, v.cursor), last_seen_at = greatest(d.last_seen_at, v.seen)
     FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS v(id, cursor, seen)
     WHERE d.id = v.id`,
  ),
  // A sending device (or one moving a read marker), held until the write commits: a log-out or
  // revocation (a DELETE) either committed before (no row) or waits for the write (#13).
  lockSendingDevice: sql(
    'lock_sending_device',
    `SELECT d.id FROM devices d JOIN users u ON u.id = d.user_id WHERE d.id = $1 AND u.disabled_at IS NULL FOR KEY SHARE OF d`,
  ),
  existingDevices: sql(
    'existing_devices',
    `SELECT d.id FROM devices d JOIN users u ON u.id = d.user_id WHERE d.id = ANY($1::text[]) AND u.disabled_at IS NULL`,
  ),

  // --- the event stream ---
  selectHead: sql('select_head', `SELECT head FROM streams WHERE user_id = $1`),
  selectHeads: sql('select_heads', `SELECT user_id AS "userId", head FROM streams WHERE user_id = ANY($1::integer[])`),
  // The writer's hold on the streams it appends to, in user id order (streams.ts; see streams in 001).
  lockStreams: sql(
    'lock_streams',
    `SELECT user_id AS "userId", head FROM streams WHERE user_id = ANY($1::integer[]) ORDER BY user_id FOR NO KEY UPDATE`,
  ),
  advanceStream: sql('advance_stream', `UPDATE streams SET head = $2 WHERE user_id = $1`),
  insertEvent: sql('insert_event', `INSERT INTO events (user_id, seq, kind, message_id, peer_id) VALUES ($1, $2, $3, $4, $5)`),
  // One event in each of many streams ($1 users, $2 their positions): a group's fan-out.
  appendEvents: sql(
    'append_events',
    `WITH v AS (SELECT * FROM unnest($1::integer[], $2::bigint[]) AS v(user_id, seq)),
          e AS (INSERT INTO events (user_id, seq, kind, message_id, peer_id) SELECT user_id, seq, $3, $4, $5 FROM v)
     UPDATE streams s SET head = v.seq FROM v WHERE s.user_id = v.user_id`,
  ),
  // At most $3 events, and no more than it takes to pass $4 characters of bodies and of group
  // changes' member lists (counted on the stored text, which an escaped body makes at most twice
  // as long): the exact answer budget is
  // applied after, in index.ts, on what arrives. Keeps a poll far behind from fetching megabytes
  // to answer a quarter of one.
  selectEventsAfter: sql(
    'select_events_after',
    `SELECT * FROM (
       SELECT e.seq, e.kind, e.message_id AS "messageId", e.peer_id AS "peerId", p.username AS peer,
              m.sender_id AS "senderId", m.recipient_id AS "recipientId", m.group_id AS "groupId",
              s.username AS sender, r.username AS recipient,
              m.body, m.body_escaped AS "bodyEscaped", m.client_id AS "clientId", m.sent_at AS "sentAt",
              gc.group_id AS "changeGroupId", gc.name AS "changeName", gc.owner AS "changeOwner",
              gc.members AS "changeMembers", gc.action AS "changeAction", gc.actor AS "changeActor",
              gc.subject AS "changeSubject", g.created_at AS "groupCreatedAt",
              coalesce(sum(coalesce(char_length(m.body), char_length(gc.members), 0))
                         OVER (ORDER BY e.seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS chars_before
       FROM (SELECT * FROM events WHERE user_id = $1 AND seq > $2 ORDER BY seq LIMIT $3) e
       LEFT JOIN messages m ON e.kind = ${KIND_MESSAGE} AND m.id = e.message_id
       LEFT JOIN users s ON s.id = m.sender_id
       LEFT JOIN users r ON r.id = m.recipient_id
       LEFT JOIN users p ON e.kind = ${KIND_READ} AND p.id = e.peer_id
       LEFT JOIN group_changes gc ON e.kind = ${KIND_GROUP} AND gc.id = e.message_id
       LEFT JOIN groups g ON g.id = gc.group_id
     ) x
     WHERE chars_before < $4 ORDER BY seq`,
  ),

  // --- messages ---
  insertMessage: sql(
    'insert_message',
    `INSERT INTO messages (sender_id, recipient_id, conv_lo, conv_hi, body, body_escaped, client_id, sent_at, search)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::tsvector) RETURNING id`,
  ),
  selectMessageByClientId: sql(
    'select_message_by_client_id',
    `SELECT ${MESSAGE_COLUMNS} FROM messages m ${MESSAGE_JOINS} WHERE m.sender_id = $1 AND m.client_id = $2`,
  ),
  selectHistoryBefore: sql(
    'select_history_before',
    `SELECT ${MESSAGE_COLUMNS} FROM messages m ${MESSAGE_JOINS}
     WHERE m.conv_lo = $1 AND m.conv_hi = $2 AND m.id < $3 ORDER BY m.id DESC LIMIT $4`,
  ),
  selectHistoryAfter: sql(
    'select_history_after',
    `SELECT ${MESSAGE_COLUMNS} FROM messages m ${MESSAGE_JOINS}
     WHERE m.conv_lo = $1 AND m.conv_hi = $2 AND m.id > $3 ORDER BY m.id ASC LIMIT $4`,
  ),
  // The largest id: never goes down, an estimate from above (sequences have gaps).
  countMessages: sql('count_messages', `SELECT coalesce(max(id), 0) AS n FROM messages`),

  // --- conversations and read markers ---
  upsertConversationSent: sql(
    'upsert_conversation_sent',
    `INSERT INTO conversations (user_id, peer_id, last_message_id) VALUES ($1, $2, $3)
     ON CONFLICT (user_id, peer_id) DO UPDATE SET last_message_id = excluded.last_message_id`,
  ),
  upsertConversationReceived: sql(
    'upsert_conversation_received',
    `INSERT INTO conversations (user_id, peer_id, last_message_id, unread) VALUES ($1, $2, $3, 1)
     ON CONFLICT (user_id, peer_id) DO UPDATE SET last_message_id = excluded.last_message_id,
                                                  unread = conversations.unread + 1`,
  ),
  // A group message has no pair: NULL, which matches no conversation.
  selectMessageConversation: sql('select_message_conversation', `SELECT conv_lo AS lo, conv_hi AS hi FROM messages WHERE id = $1`),
  selectReadMarker: sql('select_read_marker', `SELECT read_up_to AS "upTo" FROM conversations WHERE user_id = $1 AND peer_id = $2`),
  updateReadMarker: sql(
    'update_read_marker',
    `UPDATE conversations
     SET read_up_to = $1,
         unread = (SELECT count(*) FROM messages
                   WHERE conv_lo = $2 AND conv_hi = $3 AND id > $1 AND sender_id = $4 AND sender_id <> $5)
     WHERE user_id = $5 AND peer_id = $4`,
  ),
  selectConversations: sql(
    'select_conversations',
    `SELECT p.username AS peer, c.unread, c.read_up_to AS "readUpTo", ${MESSAGE_COLUMNS}
     FROM conversations c
     JOIN users p ON p.id = c.peer_id
     JOIN messages m ON m.id = c.last_message_id
     ${MESSAGE_JOINS}
     WHERE c.user_id = $1
     ORDER BY c.last_message_id DESC`,
  ),
};

/** A stored message as the domain sees it: body and client_id as they were sent. */
export function toMessageRow(r: StoredMessage): MessageRow {
  return {
    id: r.id,
    senderId: r.senderId,
    recipientId: r.recipientId,
    groupId: r.groupId,
    from: r.from,
    to: r.to,
    body: r.bodyEscaped ? unescapeNul(r.body) : r.body,
    clientId: r.clientId === null ? null : unescapeNul(r.clientId),
    sentAt: r.sentAt,
  };
}

/** An event as stored, from its row joined with its message, its peer or its group change. */
export function toEventRow(r: StoredEvent): EventRow {
  if (r.kind === KIND_READ) return { seq: r.seq, kind: 'read', with: r.peer ?? '', upTo: r.messageId ?? 0 };
  if (r.kind === KIND_GROUP_READ) return { seq: r.seq, kind: 'group_read', group: r.peerId ?? 0, upTo: r.messageId ?? 0 };
  if (r.kind === KIND_GROUP) {
    if (r.changeGroupId === null || r.changeAction === null) throw new Error(`group change ${r.messageId ?? 0} is missing`);
    return {
      seq: r.seq,
      kind: 'group',
      group: {
        id: r.changeGroupId,
        name: unescapeNul(r.changeName ?? ''),
        owner: r.changeOwner,
        members: JSON.parse(r.changeMembers ?? '[]') as string[],
        createdAt: r.groupCreatedAt ?? 0,
      },
      change: { action: r.changeAction, actor: r.changeActor, subject: r.changeSubject },
    };
  }
  const body = r.body ?? '';
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
      body: r.bodyEscaped ? unescapeNul(body) : body,
      clientId: r.clientId === null ? null : unescapeNul(r.clientId),
      sentAt: r.sentAt ?? 0,
    },
  };
}
