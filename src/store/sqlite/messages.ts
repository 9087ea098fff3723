// 1:1 messages on SQLite: sends, read markers, the conversation list and history, which
// SqliteStore (index.ts) hands to this class, and the client_id check every send (1:1 or group)
// makes inside its transaction. Writes go through the group commit (group-commit.ts).
import type { ConversationRow, HistoryPage, MessageRow, ReadResult, SendResult, User } from '../../types';
import { type EarlierSend, historyPage, type HistoryQuery, type NewMessage } from '../store';
import type { GroupCommit } from './group-commit';
import { appendEvent, KIND_MESSAGE, KIND_READ, type Queries } from './queries';
import type { SearchIndexer } from './search';

/** Larger than any id SQLite hands out in practice and still exact in a JS number. */
export const NO_UPPER_BOUND = Number.MAX_SAFE_INTEGER;

/** Whom an earlier send with the same client_id went to: a user, or a group. */
export type EarlierSendTarget = { recipientId: number } | { groupId: number };

export class SqliteMessages {
  constructor(
    private readonly q: Queries,
    private readonly writer: GroupCommit,
    /** Whether a device still exists, read inside the sending transaction (#13, item 3). */
    readonly deviceExists: (id: string) => boolean,
    /** Told of each message stored: the search index follows (search.ts, #18). */
    readonly searchIndex: SearchIndexer,
  ) {}

  /**
   * What an earlier send with this sender and client_id decides, read now: also inside the
   * sending transaction, where racing retries meet. The same client_id with another recipient,
   * another group, or a group instead of a user (or the other way round) is a conflict.
   */
  earlierSend(senderId: number, clientId: string | null, target: EarlierSendTarget, body: string): EarlierSend | null {
    if (clientId === null) return null;
    const existing = this.q.selectMessageByClientId.get(senderId, clientId);
    if (!existing) return null;
    const sameTarget = 'groupId' in target ? existing.groupId === target.groupId : existing.recipientId === target.recipientId;
    return sameTarget && existing.body === body ? { status: 'existing', message: existing } : { status: 'conflict' };
  }

  send(m: NewMessage): Promise<SendResult> {
    return this.writer.run((): SendResult => {
      // The device may have been logged out since the request authenticated (#13, item 3).
      if (m.device !== undefined && !this.deviceExists(m.device)) return { status: 'revoked' };
      const retry = this.earlierSend(m.sender.id, m.clientId, { recipientId: m.recipient.id }, m.body);
      if (retry) return retry;
      const sentAt = Date.now();
      const lo = Math.min(m.sender.id, m.recipient.id);
      const hi = Math.max(m.sender.id, m.recipient.id);
      const id = Number(this.q.insertMessage.run(m.sender.id, m.recipient.id, lo, hi, m.body, m.clientId, sentAt).lastInsertRowid);
      this.searchIndex.noteStored(id);
      const senderSeq = appendEvent(this.q, m.sender.id, KIND_MESSAGE, id, null);
      // One row for both sides: one more unread on the recipient's (none for a note to self).
      const toSelf = m.recipient.id === m.sender.id;
      this.q.upsertConversation.run({
        lo,
        hi,
        messageId: id,
        loUnread: !toSelf && m.recipient.id === lo ? 1 : 0,
        hiUnread: !toSelf && m.recipient.id === hi ? 1 : 0,
      });
      const recipientSeq = toSelf ? null : appendEvent(this.q, m.recipient.id, KIND_MESSAGE, id, null);
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
    });
  }

  markRead(user: User, peer: User, upTo: number, device?: string): Promise<ReadResult> {
    return this.writer.run((): ReadResult => {
      if (device !== undefined && !this.deviceExists(device)) return { status: 'revoked' }; // as a send
      const lo = Math.min(user.id, peer.id);
      const hi = Math.max(user.id, peer.id);
      const conv = this.q.selectMessageConversation.get(upTo);
      if (!conv || conv.lo !== lo || conv.hi !== hi) return { status: 'not_found' };
      // The user's side of the conversation's row (a note to self is the lo side).
      const side = this.q.readMarker[user.id === lo ? 'lo' : 'hi'];
      const current = side.select.get(lo, hi) ?? 0;
      if (upTo <= current) return { status: 'unchanged', upTo: current };
      side.update.run({ upTo, lo, hi, peerId: peer.id, userId: user.id });
      const seq = appendEvent(this.q, user.id, KIND_READ, upTo, peer.id);
      return { status: 'moved', upTo, seq };
    });
  }

  conversations(userId: number): ConversationRow[] {
    return this.q.selectConversations
      .all({ user: userId })
      .map(({ peer, unread, readUpTo, ...m }) => ({ peer, unread, readUpTo, lastMessage: m }));
  }

  history(a: number, b: number, page: HistoryQuery): HistoryPage {
    const lo = Math.min(a, b);
    const hi = Math.max(a, b);
    const rows =
      page.after !== undefined
        ? this.q.selectHistoryAfter.iterate(lo, hi, page.after, page.limit + 1)
        : this.q.selectHistoryBefore.iterate(lo, hi, page.before ?? NO_UPPER_BOUND, page.limit + 1);
    return historyPage(rows, page);
  }
}
