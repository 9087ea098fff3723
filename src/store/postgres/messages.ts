// 1:1 messages and search on PostgreSQL: the message methods of the Store, which PostgresStore
// (index.ts) hands to this class; groups.ts has the group ones. Writes go through streams.ts
// (the streams' rows first, in user id order), search through search.ts.
import type { ConversationRow, HistoryPage, ReadResult, SendResult, User } from '../../types';
import { budgetedPage, type EarlierSend, historyPage, type HistoryQuery, type NewMessage, type SearchQuery } from '../store';
import { first, type PgDb, pgCode, type Queryable, rows } from './db';
import { Q, type StoredMessage, toMessageRow } from './queries';
import { SEARCH_Q, searchQuery, type SearchScope } from './search';
import { insertMessage, lockStreams, moveReadMarker } from './streams';
import { escapeNul } from './text';

/** Larger than any id handed out in practice and still exact in a JS number. */
export const NO_UPPER_BOUND = Number.MAX_SAFE_INTEGER;

/** Whom an earlier send with the same client_id went to: a user, or a group. */
export type EarlierSendTarget = { recipientId: number } | { groupId: number };

/**
 * What an earlier committed send with this sender and client_id decides, read on `c` (inside
 * the sending transaction, where racing retries meet, or not): the original (same target and
 * body), or a conflict (another recipient, another group, a group instead of a user or the
 * other way round, another body); null for none.
 */
export async function earlierSendOn(
  c: Queryable,
  senderId: number,
  clientId: string | null,
  target: EarlierSendTarget,
  body: string,
): Promise<EarlierSend | null> {
  if (clientId === null) return null;
  const row = await first<StoredMessage>(c, Q.selectMessageByClientId, [senderId, escapeNul(clientId)]);
  if (!row) return null;
  const existing = toMessageRow(row);
  const sameTarget = 'groupId' in target ? existing.groupId === target.groupId : existing.recipientId === target.recipientId;
  return sameTarget && existing.body === body ? { status: 'existing', message: existing } : { status: 'conflict' };
}

export class PostgresMessages {
  constructor(private readonly db: PgDb) {}

  earlierSend(m: NewMessage): Promise<EarlierSend | null> {
    if (this.db.closed) return Promise.reject(new Error('the store is closed'));
    return this.db.run((p) => earlierSendOn(p, m.sender.id, m.clientId, { recipientId: m.recipient.id }, m.body));
  }

  async sendMessage(m: NewMessage): Promise<SendResult> {
    try {
      return await this.db.tx(async (c): Promise<SendResult> => {
        const heads = await lockStreams(c, [m.sender.id, m.recipient.id]);
        // The device may have been logged out since the request authenticated (#13, item 3): its
        // row, if it is still there, is held (KEY SHARE) so a log-out waits for this commit.
        if (m.device !== undefined && !(await first(c, Q.lockSendingDevice, [m.device]))) return { status: 'revoked' };
        // Under the sender's stream row: a racing retry of the same client_id has committed or not started.
        const retry = await earlierSendOn(c, m.sender.id, m.clientId, { recipientId: m.recipient.id }, m.body);
        return retry ?? (await insertMessage(c, heads, m));
      });
    } catch (err) {
      // The unique key caught a duplicate the stream row did not (it always should): the original.
      if (pgCode(err) === '23505') {
        const earlier = await this.earlierSend(m);
        if (earlier) return earlier;
      }
      throw err;
    }
  }

  markRead(user: User, peer: User, upTo: number, device?: string): Promise<ReadResult> {
    return this.db.tx((c) => moveReadMarker(c, user, peer, upTo, device));
  }

  async conversations(userId: number): Promise<ConversationRow[]> {
    const found = await this.db.read<StoredMessage & { peer: string; unread: number; readUpTo: number }>(Q.selectConversations, [userId]);
    return found.map(({ peer, unread, readUpTo, ...m }) => ({ peer, unread, readUpTo, lastMessage: toMessageRow(m) }));
  }

  async history(a: number, b: number, page: HistoryQuery): Promise<HistoryPage> {
    const lo = Math.min(a, b);
    const hi = Math.max(a, b);
    const found =
      page.after !== undefined
        ? await this.db.read<StoredMessage>(Q.selectHistoryAfter, [lo, hi, page.after, page.limit + 1])
        : await this.db.read<StoredMessage>(Q.selectHistoryBefore, [lo, hi, page.before ?? NO_UPPER_BOUND, page.limit + 1]);
    return historyPage(found.map(toMessageRow), page);
  }

  search(userId: number, query: SearchQuery): Promise<HistoryPage | null> {
    // One snapshot: the groups the caller is in and the matches are of the same moment.
    return this.db.snapshot(async (c) => {
      let scope: SearchScope;
      if (query.peerId !== undefined) {
        scope = { kind: 'conversation', a: userId, b: query.peerId };
      } else {
        // Authorization is the scope: the caller's 1:1 messages and the groups they are in now.
        const groupIds = (await rows<{ groupId: number }>(c, SEARCH_Q.selectGroupIdsOfUser, [userId])).map((r) => r.groupId);
        if (query.groupId === undefined) scope = { kind: 'user', userId, groupIds };
        else if (groupIds.includes(query.groupId)) scope = { kind: 'group', groupId: query.groupId };
        else return null;
      }
      const tsquery = searchQuery(scope, query.words);
      if (tsquery === null) return { messages: [], hasMore: false };
      const found = await rows<StoredMessage>(c, SEARCH_Q.selectSearch, [tsquery, query.before ?? NO_UPPER_BOUND, query.limit + 1]);
      return budgetedPage(found.map(toMessageRow), query.limit);
    });
  }

  async countMessages(): Promise<number> {
    return (await this.db.read<{ n: number }>(Q.countMessages, []))[0]?.n ?? 0;
  }
}
