// Writes that append to event streams, inside a transaction of the PostgreSQL backend. The rule
// that keeps every poll from skipping an event (db/postgres/001_init.sql, streams): first take
// the rows of every stream the write appends to, in user id order (lockStreams), then hand out
// positions while holding them (append). A group send (fan-out on write) takes every member's
// stream the same way, in one lockStreams call, after the group's row (groups.ts), and appends
// to all of them in one statement (appendToAll).
import type { PoolClient } from 'pg';
import type { Delivery, MessageRow, ReadResult, SendResult, User } from '../../types';
import type { NewMessage } from '../store';
import { first, rows } from './db';
import { KIND_MESSAGE, KIND_READ, Q } from './queries';
import { directScope, searchVector } from './search';
import { escapeNul, hasNul } from './text';

/** Takes the streams of `userIds` (in user id order, held until the transaction ends); their heads, by user. */
export async function lockStreams(c: PoolClient, userIds: readonly number[]): Promise<Map<number, number>> {
  const unique = [...new Set(userIds)];
  const held = await rows<{ userId: number; head: number }>(c, Q.lockStreams, [unique]);
  if (held.length !== unique.length) throw new Error('no such user');
  return new Map(held.map((r) => [r.userId, r.head]));
}

/** Appends one event to a stream whose row this transaction holds; returns its position. */
export async function append(
  c: PoolClient,
  heads: Map<number, number>,
  userId: number,
  kind: number,
  ref: number,
  peer: number | null,
): Promise<number> {
  const seq = (heads.get(userId) ?? 0) + 1;
  heads.set(userId, seq);
  await rows(c, Q.insertEvent, [userId, seq, kind, ref, peer]);
  await rows(c, Q.advanceStream, [userId, seq]);
  return seq;
}

/**
 * Appends one event to each of these streams (all held: `heads`), in one statement; their
 * positions. For a group's fan-out: one round trip however many members.
 */
export async function appendToAll(
  c: PoolClient,
  heads: Map<number, number>,
  userIds: readonly number[],
  kind: number,
  ref: number,
  peer: number | null,
): Promise<Delivery[]> {
  const out: Delivery[] = [];
  for (const userId of userIds) {
    const head = heads.get(userId);
    if (head === undefined) throw new Error(`stream ${userId} is not held`);
    heads.set(userId, head + 1);
    out.push({ userId, seq: head + 1 });
  }
  if (out.length > 0) await rows(c, Q.appendEvents, [out.map((d) => d.userId), out.map((d) => d.seq), kind, ref, peer]);
  return out;
}

/** Stores a message and appends it to both streams (held: `heads`), once for a note to self. */
export async function insertMessage(c: PoolClient, heads: Map<number, number>, m: NewMessage): Promise<SendResult> {
  const sentAt = Date.now();
  const lo = Math.min(m.sender.id, m.recipient.id);
  const hi = Math.max(m.sender.id, m.recipient.id);
  const escaped = hasNul(m.body);
  const clientId = m.clientId === null ? null : escapeNul(m.clientId);
  const body = escaped ? escapeNul(m.body) : m.body;
  // Searchable from this commit (issue #17): its words and who may find them (search.ts).
  const search = searchVector(m.body, directScope(m.sender.id, m.recipient.id));
  const inserted = await first<{ id: number }>(c, Q.insertMessage, [
    m.sender.id,
    m.recipient.id,
    lo,
    hi,
    body,
    escaped,
    clientId,
    sentAt,
    search,
  ]);
  const id = inserted?.id ?? 0;
  const senderSeq = await append(c, heads, m.sender.id, KIND_MESSAGE, id, null);
  await rows(c, Q.upsertConversationSent, [m.sender.id, m.recipient.id, id]);
  let recipientSeq: number | null = null;
  if (m.recipient.id !== m.sender.id) {
    recipientSeq = await append(c, heads, m.recipient.id, KIND_MESSAGE, id, null);
    await rows(c, Q.upsertConversationReceived, [m.recipient.id, m.sender.id, id]);
  }
  const message: MessageRow = {
    id,
    senderId: m.sender.id,
    recipientId: m.recipient.id,
    groupId: null,
    from: m.sender.username,
    to: m.recipient.username,
    body: m.body,
    clientId: m.clientId,
    sentAt,
  };
  return { status: 'created', message, senderSeq, recipientSeq };
}

/**
 * Store.markRead inside a transaction: the reader's stream is taken first, then (as a send does,
 * in that order) the reading device, held until commit: a log-out either committed before (no
 * row: 'revoked') or waits for this marker.
 */
export async function moveReadMarker(c: PoolClient, user: User, peer: User, upTo: number, device?: string): Promise<ReadResult> {
  const lo = Math.min(user.id, peer.id);
  const hi = Math.max(user.id, peer.id);
  const heads = await lockStreams(c, [user.id]);
  if (device !== undefined && !(await first(c, Q.lockSendingDevice, [device]))) return { status: 'revoked' };
  const conv = await first<{ lo: number; hi: number }>(c, Q.selectMessageConversation, [upTo]);
  if (!conv || conv.lo !== lo || conv.hi !== hi) return { status: 'not_found' };
  const current = (await first<{ upTo: number }>(c, Q.selectReadMarker, [user.id, peer.id]))?.upTo ?? 0;
  if (upTo <= current) return { status: 'unchanged', upTo: current };
  await rows(c, Q.updateReadMarker, [upTo, lo, hi, peer.id, user.id]);
  const seq = await append(c, heads, user.id, KIND_READ, upTo, peer.id);
  return { status: 'moved', upTo, seq };
}
