// Groups on SQLite (issue #15): the group methods of the Store, which SqliteStore (index.ts)
// hands to this class. Every write goes through the same group commit as the 1:1 sends, so
// sends, changes and read markers of groups are serialized with each other and with every other
// write (one writer): membership is read inside the transaction that appends to the streams,
// and a member removed at position N of their stream is no longer read by any later send.
import type {
  Delivery,
  EventRow,
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
import type { GroupCommit } from './group-commit';
import type { GroupQueries, GroupStateRow } from './group-queries';
import { NO_UPPER_BOUND, type SqliteMessages } from './messages';
import { appendEvent, KIND_GROUP, KIND_GROUP_READ, KIND_MESSAGE, type Queries } from './queries';

/** What a group's 'changed' answer carries. */
type Changed = Extract<GroupChangeResult, { status: 'changed' }>;
type UserFull = Extract<GroupChangeResult, { status: 'user_full' }>;

export class SqliteGroups {
  constructor(
    private readonly q: Pick<Queries, 'insertEvent' | 'selectHeadSeq' | 'streamHeads'>,
    private readonly g: GroupQueries,
    private readonly writer: GroupCommit,
    /** For the client_id check every send makes inside its transaction. */
    private readonly messages: Pick<SqliteMessages, 'earlierSend' | 'deviceExists' | 'searchIndex'>,
  ) {}

  createGroup(owner: GroupActor, name: string, members: User[], limits: GroupLimits): Promise<GroupChangeResult> {
    return this.writer.run((): GroupChangeResult => {
      if (this.deviceGone(owner)) return { status: 'revoked' };
      const seen = new Set<number>();
      const joining: User[] = [];
      for (const u of [owner, ...members]) {
        if (seen.has(u.id)) continue;
        seen.add(u.id);
        joining.push(u);
      }
      if (joining.length > limits.groupMembersMax) return { status: 'full' };
      const refused = this.atGroupLimit(joining, limits);
      if (refused) return refused;
      const now = Date.now();
      const groupId = this.g.insertGroup.get(name, owner.id, now);
      if (groupId === undefined) throw new Error('creating a group returned no id');
      for (const u of joining) this.g.insertMember.run({ groupId, userId: u.id, now, readUpTo: 0 });
      return this.changed(groupId, 'created', owner.username, null, this.g.selectMemberIds.all(groupId));
    });
  }

  groupOf(userId: number, groupId: number): GroupRow | undefined {
    if (this.g.selectIsMember.get(groupId, userId) === undefined) return undefined;
    const state = this.g.selectGroup.get(groupId);
    return state ? this.row(state) : undefined;
  }

  groupsOf(userId: number): GroupConversationRow[] {
    const members = new Map<number, string[]>();
    for (const { groupId, username } of this.g.selectMembersOfUsersGroups.all(userId)) {
      let list = members.get(groupId);
      if (!list) members.set(groupId, (list = []));
      list.push(username);
    }
    return this.g.selectGroupsOfUser.all(userId).map((r) => ({
      group: { id: r.id, name: r.name, owner: r.owner, members: members.get(r.id) ?? [], createdAt: r.createdAt },
      lastMessage: r.lastMessageId === null ? null : (this.g.selectMessage.get(r.lastMessageId) ?? null),
      unread: r.unread,
      readUpTo: r.readUpTo,
    }));
  }

  renameGroup(actor: GroupActor, groupId: number, name: string): Promise<GroupChangeResult> {
    return this.writer.run((): GroupChangeResult => {
      if (this.deviceGone(actor)) return { status: 'revoked' };
      const state = this.memberState(actor.id, groupId);
      if (!state) return { status: 'not_found' };
      if (state.name === name) return { status: 'unchanged', group: this.row(state) };
      this.g.updateGroupName.run(name, groupId);
      return this.changed(groupId, 'renamed', actor.username, null, this.g.selectMemberIds.all(groupId));
    });
  }

  addGroupMember(actor: GroupActor, groupId: number, user: User, limits: GroupLimits): Promise<GroupChangeResult> {
    return this.writer.run((): GroupChangeResult => {
      if (this.deviceGone(actor)) return { status: 'revoked' };
      const state = this.memberState(actor.id, groupId);
      if (!state) return { status: 'not_found' };
      if (this.g.selectIsMember.get(groupId, user.id) !== undefined) return { status: 'unchanged', group: this.row(state) };
      // Counted in the transaction that adds: concurrent adds are serialized, so never past them.
      if ((this.g.countMembers.get(groupId) ?? 0) >= limits.groupMembersMax) return { status: 'full' };
      const refused = this.atGroupLimit([user], limits);
      if (refused) return refused;
      // The whole history is theirs to read; what was said before they came is not "unread".
      this.g.insertMember.run({ groupId, userId: user.id, now: Date.now(), readUpTo: state.lastMessageId ?? 0 });
      return this.changed(groupId, 'added', actor.username, user.username, this.g.selectMemberIds.all(groupId));
    });
  }

  removeGroupMember(actor: GroupActor | null, groupId: number, user: User): Promise<GroupChangeResult> {
    return this.writer.run((): GroupChangeResult => {
      if (actor && this.deviceGone(actor)) return { status: 'revoked' };
      const state = actor ? this.memberState(actor.id, groupId) : this.g.selectGroup.get(groupId);
      if (!state || state.ownerId === null) return { status: 'not_found' };
      if (this.g.selectIsMember.get(groupId, user.id) === undefined) return { status: 'not_member' };
      const leaving = actor !== null && actor.id === user.id;
      if (actor !== null && !leaving && state.ownerId !== actor.id) return { status: 'forbidden' };
      // Everyone who was a member: the one who goes gets the event too, and nothing after it.
      const recipients = this.g.selectMemberIds.all(groupId);
      this.g.deleteMember.run(groupId, user.id);
      if (state.ownerId === user.id) this.g.updateGroupOwner.run(this.g.selectEarliestMember.get(groupId) ?? null, groupId);
      return this.changed(groupId, leaving ? 'left' : 'removed', actor?.username ?? null, user.username, recipients);
    });
  }

  earlierGroupSend(m: NewGroupMessage): EarlierSend | null {
    return this.messages.earlierSend(m.sender.id, m.clientId, { groupId: m.groupId }, m.body);
  }

  sendGroupMessage(m: NewGroupMessage): Promise<GroupSendResult> {
    return this.writer.run((): GroupSendResult => {
      // As a 1:1 send: the device may have been logged out since the request authenticated.
      if (m.device !== undefined && !this.messages.deviceExists(m.device)) return { status: 'revoked' };
      if (this.g.selectIsMember.get(m.groupId, m.sender.id) === undefined) return { status: 'not_found' };
      const retry = this.earlierGroupSend(m);
      if (retry) return retry;
      const sentAt = Date.now();
      const id = Number(this.g.insertGroupMessage.run(m.sender.id, m.groupId, m.body, m.clientId, sentAt).lastInsertRowid);
      this.messages.searchIndex.noteStored(id);
      this.g.updateGroupLastMessage.run(id, m.groupId);
      this.g.bumpUnread.run(m.groupId, m.sender.id);
      const deliveries: Delivery[] = this.g.selectMemberIds
        .all(m.groupId)
        .map((userId) => ({ userId, seq: appendEvent(this.q, userId, KIND_MESSAGE, id, null) }));
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
  }

  groupHistory(userId: number, groupId: number, page: HistoryQuery): HistoryPage | null {
    if (this.g.selectIsMember.get(groupId, userId) === undefined) return null;
    const rows =
      page.after !== undefined
        ? this.g.selectHistoryAfter.iterate(groupId, page.after, page.limit + 1)
        : this.g.selectHistoryBefore.iterate(groupId, page.before ?? NO_UPPER_BOUND, page.limit + 1);
    return historyPage(rows, page);
  }

  markGroupRead(user: User, groupId: number, upTo: number, device?: string): Promise<ReadResult> {
    return this.writer.run((): ReadResult => {
      if (device !== undefined && !this.messages.deviceExists(device)) return { status: 'revoked' }; // as a send
      const current = this.g.selectReadMarker.get(groupId, user.id);
      if (current === undefined || this.g.selectMessageGroup.get(upTo) !== groupId) return { status: 'not_found' };
      if (upTo <= current) return { status: 'unchanged', upTo: current };
      this.g.updateReadMarker.run({ groupId, userId: user.id, upTo });
      const seq = appendEvent(this.q, user.id, KIND_GROUP_READ, upTo, groupId);
      return { status: 'moved', upTo, seq };
    });
  }

  /** A group change event (kind 3) as stored: the group as it was right after the change. */
  changeEvent(seq: number, changeId: number): Extract<EventRow, { kind: 'group' }> & { text: string } {
    const c = this.g.selectChange.get(changeId);
    if (!c) throw new Error(`group change ${changeId} is missing`);
    const members = JSON.parse(c.members) as string[];
    return {
      seq,
      kind: 'group',
      group: { id: c.groupId, name: c.name, owner: c.owner, members, createdAt: c.createdAt },
      change: { action: c.action, actor: c.actor, subject: c.subject },
      text: c.members,
    };
  }

  listGroups(): GroupSummary[] {
    return this.g.selectAllGroups.all();
  }

  groupMembers(groupId: number): GroupMemberRow[] | undefined {
    const state = this.g.selectGroup.get(groupId);
    if (!state || state.ownerId === null) return undefined;
    return this.g.selectMembersInJoinOrder.all(groupId);
  }

  /** Whether the actor's device (when a device acts) no longer exists: as a send checks it. */
  private deviceGone(actor: GroupActor): boolean {
    return actor.device !== undefined && !this.messages.deviceExists(actor.device);
  }

  /** 'user_full' naming the first of `joining` who is in as many groups as a user may be; null if none is. */
  private atGroupLimit(joining: readonly User[], limits: GroupLimits): UserFull | null {
    const ids = JSON.stringify(joining.map((u) => u.id));
    const username = this.g.selectFirstUserAtGroupLimit.get(ids, limits.groupsPerUserMax);
    return username === undefined ? null : { status: 'user_full', username };
  }

  /** The group's state if `userId` is a member of it now. */
  private memberState(userId: number, groupId: number): GroupStateRow | undefined {
    return this.g.selectIsMember.get(groupId, userId) === undefined ? undefined : this.g.selectGroup.get(groupId);
  }

  private row(state: GroupStateRow): GroupRow {
    return {
      id: state.id,
      name: state.name,
      owner: state.owner,
      members: this.g.selectMemberNames.all(state.id),
      createdAt: state.createdAt,
    };
  }

  /**
   * Records a change with the group's state after it, and appends its event to the streams of
   * `recipients` (the members after it, and the one who went).
   */
  private changed(groupId: number, action: GroupAction, actor: string | null, subject: string | null, recipients: number[]): Changed {
    const state = this.g.selectGroup.get(groupId);
    if (!state) throw new Error(`group ${groupId} is missing`);
    const group = this.row(state);
    const changeId = this.g.insertChange.get({
      groupId,
      name: group.name,
      owner: group.owner,
      members: JSON.stringify(group.members),
      action,
      actor,
      subject,
      now: Date.now(),
    });
    if (changeId === undefined) throw new Error('recording a group change returned no id');
    const deliveries = recipients.map((userId) => ({ userId, seq: appendEvent(this.q, userId, KIND_GROUP, changeId, null) }));
    return { status: 'changed', group, change: { action, actor, subject }, deliveries };
  }
}
