// Groups on PostgreSQL (issue #15): the group methods of the Store, which PostgresStore
// (index.ts) hands to this class. Every write takes the group's row first (lockGroup), then
// reads the members under that hold and takes their streams in user id order (streams.ts):
// sends, changes and read markers of a group are serialized with each other, a member removed at
// position N of their stream is never read by a later send, and a member added gets every
// message committed after the add. Reads that check membership and then read (groupOf,
// groupHistory) run on one snapshot.
import type { PoolClient } from 'pg';
import type {
  GroupAction,
  GroupChangeResult,
  GroupLimits,
  GroupConversationRow,
  GroupMemberRow,
  GroupRow,
  GroupSendResult,
  GroupSummary,
  HistoryPage,
  MessageRow,
  ReadResult,
  User,
} from '../../types';
import { type EarlierSend, type GroupActor, historyPage, type HistoryQuery, type NewGroupMessage } from '../store';
import { first, type PgDb, pgCode, type Queryable, rows } from './db';
import { G, type GroupOfUserRow, type GroupStateRow } from './group-queries';
import { earlierSendOn, NO_UPPER_BOUND } from './messages';
import { KIND_GROUP, KIND_GROUP_READ, KIND_MESSAGE, Q, type StoredMessage, toMessageRow } from './queries';
import { groupScope, searchVector } from './search';
import { append, appendToAll, lockStreams } from './streams';
import { escapeNul, hasNul, unescapeNul } from './text';

type Changed = Extract<GroupChangeResult, { status: 'changed' }>;
type UserFull = Extract<GroupChangeResult, { status: 'user_full' }>;

export class PostgresGroups {
  constructor(private readonly db: PgDb) {}

  createGroup(owner: GroupActor, name: string, members: User[], limits: GroupLimits): Promise<GroupChangeResult> {
    const seen = new Set<number>();
    const joining: User[] = [];
    for (const u of [owner, ...members]) {
      if (seen.has(u.id)) continue;
      seen.add(u.id);
      joining.push(u);
    }
    if (joining.length > limits.groupMembersMax) return Promise.resolve({ status: 'full' });
    return this.db.tx(async (c): Promise<GroupChangeResult> => {
      // The joining users' rows (the owner's among them) are taken first, the order a log-out
      // takes them in; then the device, whose refusal goes before the cap's, as on SQLite.
      const refused = await this.atGroupLimit(c, joining, limits);
      if (await this.deviceGone(c, owner)) return { status: 'revoked' };
      if (refused) return refused;
      const now = Date.now();
      const made = await first<{ id: number }>(c, G.insertGroup, [escapeNul(name), owner.id, now]);
      if (!made) throw new Error('creating a group returned no id');
      // Its row is new: no one else can hold it before this commits.
      for (const u of joining) await rows(c, G.insertMember, [made.id, u.id, now, 0]);
      return this.changed(c, made.id, 'created', owner.username, null, await this.memberIds(c, made.id));
    });
  }

  groupOf(userId: number, groupId: number): Promise<GroupRow | undefined> {
    return this.db.snapshot(async (c) => {
      const state = await this.memberState(c, userId, groupId);
      return state ? this.row(c, state) : undefined;
    });
  }

  async groupsOf(userId: number): Promise<GroupConversationRow[]> {
    return this.db.snapshot(async (c) => {
      const groups = await rows<GroupOfUserRow>(c, G.selectGroupsOfUser, [userId]);
      if (groups.length === 0) return [];
      const members = new Map<number, string[]>();
      for (const { groupId, username } of await rows<{ groupId: number; username: string }>(c, G.selectMembersOfUsersGroups, [userId])) {
        let list = members.get(groupId);
        if (!list) members.set(groupId, (list = []));
        list.push(username);
      }
      const lastIds = groups.flatMap((g) => (g.lastMessageId === null ? [] : [g.lastMessageId]));
      const last = new Map<number, MessageRow>();
      if (lastIds.length > 0) for (const m of await rows<StoredMessage>(c, G.selectMessages, [lastIds])) last.set(m.id, toMessageRow(m));
      return groups.map((r) => ({
        group: { id: r.id, name: unescapeNul(r.name), owner: r.owner, members: members.get(r.id) ?? [], createdAt: r.createdAt },
        lastMessage: r.lastMessageId === null ? null : (last.get(r.lastMessageId) ?? null),
        unread: r.unread,
        readUpTo: r.readUpTo,
      }));
    });
  }

  renameGroup(actor: GroupActor, groupId: number, name: string): Promise<GroupChangeResult> {
    return this.db.tx(async (c): Promise<GroupChangeResult> => {
      const state = await this.lockedMemberState(c, actor.id, groupId);
      if (!state) return { status: 'not_found' };
      if (await this.deviceGone(c, actor)) return { status: 'revoked' };
      if (unescapeNul(state.name) === name) return { status: 'unchanged', group: await this.row(c, state) };
      await rows(c, G.updateGroupName, [escapeNul(name), groupId]);
      return this.changed(c, groupId, 'renamed', actor.username, null, await this.memberIds(c, groupId));
    });
  }

  addGroupMember(actor: GroupActor, groupId: number, user: User, limits: GroupLimits): Promise<GroupChangeResult> {
    return this.db.tx(async (c): Promise<GroupChangeResult> => {
      const state = await this.lockedMemberState(c, actor.id, groupId);
      if (!state) return { status: 'not_found' };
      if (await this.deviceGone(c, actor)) return { status: 'revoked' };
      if (await this.isMember(c, groupId, user.id)) return { status: 'unchanged', group: await this.row(c, state) };
      // Counted under the group's row: concurrent adds wait for each other, so never past it.
      const count = (await first<{ n: number }>(c, G.countMembers, [groupId]))?.n ?? 0;
      if (count >= limits.groupMembersMax) return { status: 'full' };
      const refused = await this.atGroupLimit(c, [user], limits);
      if (refused) return refused;
      // The whole history is theirs to read; what was said before they came is not "unread".
      await rows(c, G.insertMember, [groupId, user.id, Date.now(), state.lastMessageId ?? 0]);
      return this.changed(c, groupId, 'added', actor.username, user.username, await this.memberIds(c, groupId));
    });
  }

  removeGroupMember(actor: GroupActor | null, groupId: number, user: User): Promise<GroupChangeResult> {
    return this.db.tx(async (c): Promise<GroupChangeResult> => {
      const state = actor ? await this.lockedMemberState(c, actor.id, groupId) : await first<GroupStateRow>(c, G.lockGroup, [groupId]);
      if (!state || state.ownerId === null) return { status: 'not_found' };
      if (actor && (await this.deviceGone(c, actor))) return { status: 'revoked' };
      if (!(await this.isMember(c, groupId, user.id))) return { status: 'not_member' };
      const leaving = actor !== null && actor.id === user.id;
      if (actor !== null && !leaving && state.ownerId !== actor.id) return { status: 'forbidden' };
      // Everyone who was a member: the one who goes gets the event too, and nothing after it.
      const recipients = await this.memberIds(c, groupId);
      await rows(c, G.deleteMember, [groupId, user.id]);
      if (state.ownerId === user.id) {
        const next = await first<{ userId: number }>(c, G.selectEarliestMember, [groupId]);
        await rows(c, G.updateGroupOwner, [next?.userId ?? null, groupId]);
      }
      return this.changed(c, groupId, leaving ? 'left' : 'removed', actor?.username ?? null, user.username, recipients);
    });
  }

  earlierGroupSend(m: NewGroupMessage): Promise<EarlierSend | null> {
    if (this.db.closed) return Promise.reject(new Error('the store is closed'));
    return this.db.run((p) => earlierSendOn(p, m.sender.id, m.clientId, { groupId: m.groupId }, m.body));
  }

  async sendGroupMessage(m: NewGroupMessage): Promise<GroupSendResult> {
    try {
      return await this.db.tx(async (c): Promise<GroupSendResult> => {
        if (!(await this.lockedMemberState(c, m.sender.id, m.groupId))) return { status: 'not_found' };
        const members = await this.memberIds(c, m.groupId);
        // Every member's stream, the sender's among them: a racing retry of the same client_id
        // (to this group, another, or a user) has committed or waits behind this.
        const heads = await lockStreams(c, members);
        // As a 1:1 send (messages.ts): a device logged out meanwhile stores nothing.
        if (m.device !== undefined && !(await first(c, Q.lockSendingDevice, [m.device]))) return { status: 'revoked' };
        const retry = await earlierSendOn(c, m.sender.id, m.clientId, { groupId: m.groupId }, m.body);
        if (retry) return retry;
        const sentAt = Date.now();
        const escaped = hasNul(m.body);
        const inserted = await first<{ id: number }>(c, G.insertGroupMessage, [
          m.sender.id,
          m.groupId,
          escaped ? escapeNul(m.body) : m.body,
          escaped,
          m.clientId === null ? null : escapeNul(m.clientId),
          sentAt,
          searchVector(m.body, [groupScope(m.groupId)]),
        ]);
        const id = inserted?.id ?? 0;
        await rows(c, G.updateGroupLastMessage, [id, m.groupId]);
        await rows(c, G.bumpUnread, [m.groupId, m.sender.id]);
        const deliveries = await appendToAll(c, heads, members, KIND_MESSAGE, id, null);
        const message: MessageRow = {
          id,
          senderId: m.sender.id,
          recipientId: null,
          groupId: m.groupId,
          from: m.sender.username,
          to: null,
          body: m.body,
          clientId: m.clientId,
          sentAt,
        };
        return { status: 'created', message, deliveries };
      });
    } catch (err) {
      // The unique key caught a duplicate the stream rows did not (it always should): the original.
      if (pgCode(err) === '23505') {
        const earlier = await this.earlierGroupSend(m);
        if (earlier) return earlier;
      }
      throw err;
    }
  }

  groupHistory(userId: number, groupId: number, page: HistoryQuery): Promise<HistoryPage | null> {
    return this.db.snapshot(async (c) => {
      if (!(await this.isMember(c, groupId, userId))) return null;
      const found =
        page.after !== undefined
          ? await rows<StoredMessage>(c, G.selectHistoryAfter, [groupId, page.after, page.limit + 1])
          : await rows<StoredMessage>(c, G.selectHistoryBefore, [groupId, page.before ?? NO_UPPER_BOUND, page.limit + 1]);
      // As the 1:1 history, and as on SQLite (historyPage).
      return historyPage(found.map(toMessageRow), page);
    });
  }

  markGroupRead(user: User, groupId: number, upTo: number, device?: string): Promise<ReadResult> {
    return this.db.tx(async (c): Promise<ReadResult> => {
      if (!(await this.lockedMemberState(c, user.id, groupId))) return { status: 'not_found' };
      // The group, the reader's stream, then the reading device: a send's order (and its reason).
      const heads = await lockStreams(c, [user.id]);
      if (device !== undefined && !(await first(c, Q.lockSendingDevice, [device]))) return { status: 'revoked' };
      const current = (await first<{ upTo: number }>(c, G.selectReadMarker, [groupId, user.id]))?.upTo ?? 0;
      const of = await first<{ groupId: number | null }>(c, G.selectMessageGroup, [upTo]);
      if (of?.groupId !== groupId) return { status: 'not_found' };
      if (upTo <= current) return { status: 'unchanged', upTo: current };
      await rows(c, G.updateReadMarker, [groupId, user.id, upTo]);
      const seq = await append(c, heads, user.id, KIND_GROUP_READ, upTo, groupId);
      return { status: 'moved', upTo, seq };
    });
  }

  async listGroups(): Promise<GroupSummary[]> {
    const found = await this.db.read<GroupSummary>(G.selectAllGroups, []);
    return found.map((g) => ({ ...g, name: unescapeNul(g.name) }));
  }

  groupMembers(groupId: number): Promise<GroupMemberRow[] | undefined> {
    return this.db.snapshot(async (c) => {
      const state = await first<GroupStateRow>(c, G.selectGroup, [groupId]);
      if (!state || state.ownerId === null) return undefined;
      return rows<GroupMemberRow>(c, G.selectMembersInJoinOrder, [groupId]);
    });
  }

  private async isMember(c: Queryable, groupId: number, userId: number): Promise<boolean> {
    return (await first(c, G.selectIsMember, [groupId, userId])) !== undefined;
  }

  private async memberIds(c: Queryable, groupId: number): Promise<number[]> {
    return (await rows<{ userId: number }>(c, G.selectMemberIds, [groupId])).map((r) => r.userId);
  }

  /**
   * Whether the actor's device (when a device acts) no longer exists, its row held until commit
   * when it does: as a send's (Q.lockSendingDevice), a log-out committed before or waits.
   */
  private async deviceGone(c: PoolClient, actor: GroupActor): Promise<boolean> {
    return actor.device !== undefined && !(await first(c, Q.lockSendingDevice, [actor.device]));
  }

  /**
   * 'user_full' naming the first of `joining` who is in as many groups as a user may be; null if
   * none is. Takes their rows first (held until commit), so a concurrent add of one of them to
   * another group counts after this one commits: never past the limit.
   */
  private async atGroupLimit(c: PoolClient, joining: readonly User[], limits: GroupLimits): Promise<UserFull | null> {
    const ids = joining.map((u) => u.id);
    await rows(c, G.lockJoiningUsers, [ids]);
    const at = await first<{ username: string }>(c, G.selectFirstUserAtGroupLimit, [ids, limits.groupsPerUserMax]);
    return at ? { status: 'user_full', username: at.username } : null;
  }

  /** The group's state if `userId` is a member of it now. */
  private async memberState(c: Queryable, userId: number, groupId: number): Promise<GroupStateRow | undefined> {
    if (!(await this.isMember(c, groupId, userId))) return undefined;
    return first<GroupStateRow>(c, G.selectGroup, [groupId]);
  }

  /** memberState, with the group's row taken first (see the top of this file). */
  private async lockedMemberState(c: PoolClient, userId: number, groupId: number): Promise<GroupStateRow | undefined> {
    const state = await first<GroupStateRow>(c, G.lockGroup, [groupId]);
    if (!state || !(await this.isMember(c, groupId, userId))) return undefined;
    return state;
  }

  private async row(c: Queryable, state: GroupStateRow): Promise<GroupRow> {
    const members = (await rows<{ username: string }>(c, G.selectMemberNames, [state.id])).map((r) => r.username);
    return { id: state.id, name: unescapeNul(state.name), owner: state.owner, members, createdAt: state.createdAt };
  }

  /**
   * Records a change with the group's state after it, and appends its event to the streams of
   * `recipients` (the members after it, and the one who went), taken in user id order.
   */
  private async changed(
    c: PoolClient,
    groupId: number,
    action: GroupAction,
    actor: string | null,
    subject: string | null,
    recipients: number[],
  ): Promise<Changed> {
    const state = await first<GroupStateRow>(c, G.selectGroup, [groupId]);
    if (!state) throw new Error(`group ${groupId} is missing`);
    const group = await this.row(c, state);
    const heads = await lockStreams(c, recipients);
    const change = await first<{ id: number }>(c, G.insertChange, [
      groupId,
      state.name,
      group.owner,
      JSON.stringify(group.members),
      action,
      actor,
      subject,
      Date.now(),
    ]);
    if (!change) throw new Error('recording a group change returned no id');
    const deliveries = await appendToAll(c, heads, recipients, KIND_GROUP, change.id, null);
    return { status: 'changed', group, change: { action, actor, subject }, deliveries };
  }
}
