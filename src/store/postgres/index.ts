// The PostgreSQL backend of the Store interface (../store.ts), for any number of server
// processes sharing one database (issue #16), composed of the query catalog (queries.ts),
// transactions (db.ts), writes to event streams (streams.ts), batched device acknowledgements
// (acks.ts), 1:1 messages and search (messages.ts, search.ts), groups (groups.ts), migrations
// and NUL escaping (text.ts); opening the pool and migrating is open.ts, which loads `pg` only
// when DATABASE_URL asks for PostgreSQL: a server on SQLite never loads it (the other files
// import only its types).
//
// Ordering: every write that appends to event streams first takes those streams' rows
// (streams table, SELECT ... FOR UPDATE in user id order; streams.ts) and hands out positions
// while it holds them, so within a stream commit order is position order and a reader that has seen N never
// later finds a new event below N (the Store interface's first promise; db/postgres/001_init.sql).
// A write to a group takes the group's row before any stream (groups.ts).
// Message ids are taken under the same hold, so within a conversation they increase in commit
// order too. Idempotent sends meet on the sender's stream row: a retry racing its original waits
// for it, then finds it; the unique (sender, client_id) key stays as the last word.
import type { Pool, PoolClient } from 'pg';
import type {
  ConversationRow,
  Device,
  DeviceAuth,
  EventRow,
  GroupChangeResult,
  GroupLimits,
  GroupConversationRow,
  GroupMemberRow,
  GroupRow,
  GroupSendResult,
  GroupSummary,
  HistoryPage,
  ReadResult,
  SendResult,
  User,
  UserSummary,
  UserWithSecret,
} from '../../types';
import {
  ANSWER_BODY_CHARS,
  answerBudget,
  type CheckedCredentials,
  type CommitStats,
  type CreateDeviceResult,
  type DeleteDeviceResult,
  type EarlierSend,
  type HistoryQuery,
  type NewDevice,
  type NewGroupMessage,
  type NewMessage,
  type SearchQuery,
  type Store,
} from '../store';
import { AckLedger } from './acks';
import { first, PgDb, rows } from './db';
import { PostgresGroups } from './groups';
import { type ImportReport, importSqlite } from './import-sqlite';
import { PostgresMessages } from './messages';
import { Q, type StoredEvent, toEventRow } from './queries';

/** Bound on cached user ids (as SQLite's). */
const USER_CACHE_MAX = 200_000;

export class PostgresStore implements Store {
  private readonly db: PgDb;
  private readonly acks: AckLedger;
  private readonly messages: PostgresMessages;
  private readonly groups: PostgresGroups;
  private readonly userIds = new Map<string, User>();
  private closing: Promise<void> | null = null;

  /** Use openPostgresStore(): it migrates first. */
  constructor(private readonly pool: Pool) {
    this.db = new PgDb(pool);
    this.acks = new AckLedger(async (ids, cursors, seenAts) => {
      await this.tx(async (c) => {
        await rows(c, Q.lockDevices, [ids]);
        await rows(c, Q.updateDevicesSeen, [ids, cursors, seenAts]);
      });
    });
    this.messages = new PostgresMessages(this.db);
    this.groups = new PostgresGroups(this.db);
  }

  private get closed(): boolean {
    return this.db.closed;
  }

  /** Runs `fn` in one transaction (db.ts); refused once closed. */
  private tx<T>(fn: (c: PoolClient) => Promise<T>): Promise<T> {
    return this.db.tx(fn);
  }

  /** A read outside any transaction; refused once closed. */
  private read: PgDb['read'] = (q, values) => this.db.read(q, values);

  async close(): Promise<void> {
    if (!this.closing) {
      this.closing = (async () => {
        this.acks.stop();
        this.db.stop();
        try {
          await this.acks.flush();
        } finally {
          this.db.closed = true;
          await this.pool.end();
        }
      })();
    }
    return this.closing;
  }

  /** Whether PostgreSQL answered the last statement (false during an outage; db.ts). */
  reachable(): boolean {
    return this.db.reachable;
  }

  flush(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return this.acks.flush();
  }

  // --- users --------------------------------------------------------------------------------

  async createUser(username: string, passwordHash: string): Promise<User | null> {
    const r = (await this.read<{ id: number }>(Q.insertUser, [username, passwordHash, Date.now()]))[0];
    return r ? { id: r.id, username } : null;
  }

  async findUser(username: string): Promise<UserWithSecret | undefined> {
    return (await this.read<UserWithSecret>(Q.selectUserByName, [username]))[0];
  }

  async userByName(username: string): Promise<User | undefined> {
    const cached = this.userIds.get(username);
    if (cached) return cached;
    const row = (await this.read<UserWithSecret>(Q.selectUserByName, [username]))[0];
    if (!row) return undefined;
    const user = { id: row.id, username: row.username };
    if (this.userIds.size >= USER_CACHE_MAX) this.userIds.clear();
    this.userIds.set(username, user);
    return user;
  }

  listUsers(): Promise<UserSummary[]> {
    return this.read<UserSummary>(Q.selectUserSummaries, []);
  }

  setPassword(userId: number, passwordHash: string): Promise<string[]> {
    return this.deletingDevices(userId, async (c) => {
      await rows(c, Q.updatePasswordHash, [passwordHash, userId]);
      return true;
    });
  }

  setDisabled(userId: number, at: number | null): Promise<string[]> {
    return this.deletingDevices(userId, async (c) => {
      await rows(c, Q.updateUserDisabled, [at, userId]);
      return at !== null;
    });
  }

  /** Runs `change` and, when it says so, deletes the user's devices, in one transaction. */
  private async deletingDevices(userId: number, change: (c: PoolClient) => Promise<boolean>): Promise<string[]> {
    const ids = await this.tx(async (c) =>
      (await change(c)) ? (await rows<{ id: string }>(c, Q.deleteDevicesOfUser, [userId, ''])).map((r) => r.id) : [],
    );
    for (const id of ids) this.acks.forget(id);
    return ids;
  }

  // --- devices ------------------------------------------------------------------------------

  async createDevice(d: NewDevice, checked: CheckedCredentials, maxDevices: number): Promise<CreateDeviceResult> {
    const now = Date.now();
    const made = await this.tx(async (c): Promise<CreateDeviceResult> => {
      // Still the credentials the log-in checked? The user's row is held until this commits, so
      // a reset or a disable either committed before (and is seen here) or waits for this one.
      const current = await first<{ passwordHash: string; disabledAt: number | null }>(c, Q.lockCredentials, [d.userId]);
      if (!current || current.passwordHash !== checked.passwordHash) return { status: 'stale' };
      if (current.disabledAt !== null) return { status: 'disabled' };
      const evicted = await this.leastRecentlyUsed(c, d.userId, maxDevices - 1);
      for (const id of evicted) await rows(c, Q.deleteDevice, [id, d.userId]);
      const cursor = (await first<{ head: number }>(c, Q.selectHead, [d.userId]))?.head ?? 0;
      await rows(c, Q.insertDevice, [d.id, d.userId, d.name, d.tokenHash, now, cursor]);
      const device = { id: d.id, userId: d.userId, name: d.name, createdAt: now, lastSeenAt: now, cursor };
      return { status: 'created', device, evicted };
    });
    if (made.status === 'created') for (const id of made.evicted) this.acks.forget(id);
    return made;
  }

  /** The user's devices beyond the `keep` most recently used, least recently used first (a use recorded here counts). */
  private async leastRecentlyUsed(c: PoolClient, userId: number, keep: number): Promise<string[]> {
    const all = await rows<Device>(c, Q.selectDevicesOfUser, [userId]); // oldest created first: ties go by it
    if (all.length <= keep) return [];
    return all
      .map((r) => ({ id: r.id, used: this.acks.lastUsed(r.id, r.lastSeenAt) }))
      .sort((a, b) => a.used - b.used)
      .slice(0, all.length - keep)
      .map((r) => r.id);
  }

  async getDeviceAuth(id: string): Promise<DeviceAuth | undefined> {
    // Read every time, not cached: a device revoked through any process is refused at once here.
    const row = (await this.read<DeviceAuth>(Q.selectDeviceAuth, [id]))[0];
    return row ? this.acks.withPending(row) : undefined;
  }

  async listDevices(userId: number, limit?: number): Promise<Device[]> {
    if (limit === undefined) return (await this.read<Device>(Q.selectDevicesOfUser, [userId])).map((d) => this.acks.withPending(d));
    return (await this.read<Device>(Q.selectRecentDevicesOfUser, [userId, limit]))
      .map((d) => this.acks.withPending(d))
      .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async deleteDevice(id: string, userId: number, by?: string): Promise<DeleteDeviceResult> {
    const done = await this.tx(async (c): Promise<DeleteDeviceResult> => {
      if (by !== undefined && !(await this.askerStillThere(c, userId, by))) return 'revoked';
      return (await first(c, Q.deleteDevice, [id, userId])) ? 'deleted' : 'not_found';
    });
    if (done === 'deleted') this.acks.forget(id);
    return done;
  }

  async deleteDevicesOfUser(userId: number, keep?: string): Promise<string[] | null> {
    const ids = await this.tx(async (c) => {
      if (keep !== undefined && !(await this.askerStillThere(c, userId, keep))) return null;
      return (await rows<{ id: string }>(c, Q.deleteDevicesOfUser, [userId, keep ?? ''])).map((r) => r.id);
    });
    for (const id of ids ?? []) this.acks.forget(id);
    return ids;
  }

  /**
   * Whether the device asking to delete devices of `userId` still exists. The user's row is
   * taken first, as log-ins, resets and disables take it: deletions of one user's devices then
   * go one at a time, and this reads what the one before committed (a lost phone, logged out
   * from the laptop, finds itself gone rather than logging out the laptop).
   */
  private async askerStillThere(c: PoolClient, userId: number, deviceId: string): Promise<boolean> {
    await rows(c, Q.lockCredentials, [userId]);
    return (await first(c, Q.selectDeviceAuth, [deviceId])) !== undefined;
  }

  async deleteIdleDevices(usedBefore: number, limit: number): Promise<string[]> {
    const idle = await this.read<{ id: string }>(Q.selectIdleDevices, [usedBefore, limit]);
    // A use recorded here and not yet written keeps a device; one recorded by another process
    // and written meanwhile does too (the delete checks last_seen_at again).
    const candidates = idle.map((r) => r.id).filter((id) => this.acks.lastUsed(id, 0) < usedBefore);
    if (candidates.length === 0) return [];
    const ids = (await this.read<{ id: string }>(Q.deleteIdleDevices, [candidates, usedBefore])).map((r) => r.id);
    for (const id of ids) this.acks.forget(id);
    return ids;
  }

  noteDeviceSeen(id: string, now: number, cursor = 0): void {
    this.acks.note(id, now, cursor);
  }

  /** Of these device ids, the ones that still exist with their user enabled: for noticing revocations made elsewhere. */
  async existingDevices(ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    return new Set((await this.read<{ id: string }>(Q.existingDevices, [ids])).map((r) => r.id));
  }

  // --- the event stream ---------------------------------------------------------------------

  /** Always from the database (`fresh` or not): other processes write these streams all the time. */
  async headSeq(userId: number): Promise<number> {
    return (await this.read<{ head: number }>(Q.selectHead, [userId]))[0]?.head ?? 0;
  }

  /** The heads of many streams in one query (users without a stream are left out). */
  async headSeqs(userIds: readonly number[]): Promise<Map<number, number>> {
    if (userIds.length === 0) return new Map();
    const found = await this.read<{ userId: number; head: number }>(Q.selectHeads, [userIds]);
    return new Map(found.map((r) => [r.userId, r.head]));
  }

  async eventsAfter(userId: number, afterSeq: number, limit: number): Promise<EventRow[]> {
    // Stored text is at most twice the characters it stands for (escaped bodies), so this bound
    // never leaves out a row the exact budget below would take.
    const found = await this.read<StoredEvent>(Q.selectEventsAfter, [userId, afterSeq, limit, 2 * ANSWER_BODY_CHARS]);
    const out: EventRow[] = [];
    const budget = answerBudget();
    for (const r of found) {
      const e = toEventRow(r);
      // A group change's member list counts towards the budget as a body would (as on SQLite).
      if (!budget.take(e.kind === 'message' ? e.message.body : e.kind === 'group' ? (r.changeMembers ?? '') : '')) break;
      out.push(e);
    }
    return out;
  }

  // --- messages and search: see messages.ts -------------------------------------------------

  earlierSend(m: NewMessage): Promise<EarlierSend | null> {
    return this.messages.earlierSend(m);
  }

  sendMessage(m: NewMessage): Promise<SendResult> {
    return this.messages.sendMessage(m);
  }

  markRead(user: User, peer: User, upTo: number, device?: string): Promise<ReadResult> {
    return this.messages.markRead(user, peer, upTo, device);
  }

  conversations(userId: number): Promise<ConversationRow[]> {
    return this.messages.conversations(userId);
  }

  history(a: number, b: number, page: HistoryQuery): Promise<HistoryPage> {
    return this.messages.history(a, b, page);
  }

  search(userId: number, query: SearchQuery): Promise<HistoryPage | null> {
    return this.messages.search(userId, query);
  }

  countMessages(): Promise<number> {
    return this.messages.countMessages();
  }

  // --- groups (issue #15): see groups.ts ----------------------------------------------------

  createGroup(owner: User, name: string, members: User[], limits: GroupLimits): Promise<GroupChangeResult> {
    return this.groups.createGroup(owner, name, members, limits);
  }

  groupOf(userId: number, groupId: number): Promise<GroupRow | undefined> {
    return this.groups.groupOf(userId, groupId);
  }

  groupsOf(userId: number): Promise<GroupConversationRow[]> {
    return this.groups.groupsOf(userId);
  }

  renameGroup(actor: User, groupId: number, name: string): Promise<GroupChangeResult> {
    return this.groups.renameGroup(actor, groupId, name);
  }

  addGroupMember(actor: User, groupId: number, user: User, limits: GroupLimits): Promise<GroupChangeResult> {
    return this.groups.addGroupMember(actor, groupId, user, limits);
  }

  removeGroupMember(actor: User | null, groupId: number, user: User): Promise<GroupChangeResult> {
    return this.groups.removeGroupMember(actor, groupId, user);
  }

  sendGroupMessage(m: NewGroupMessage): Promise<GroupSendResult> {
    return this.groups.sendGroupMessage(m);
  }

  earlierGroupSend(m: NewGroupMessage): Promise<EarlierSend | null> {
    return this.groups.earlierGroupSend(m);
  }

  groupHistory(userId: number, groupId: number, page: HistoryQuery): Promise<HistoryPage | null> {
    return this.groups.groupHistory(userId, groupId, page);
  }

  markGroupRead(user: User, groupId: number, upTo: number, device?: string): Promise<ReadResult> {
    return this.groups.markGroupRead(user, groupId, upTo, device);
  }

  listGroups(): Promise<GroupSummary[]> {
    return this.groups.listGroups();
  }

  groupMembers(groupId: number): Promise<GroupMemberRow[] | undefined> {
    return this.groups.groupMembers(groupId);
  }

  commitStats(): CommitStats {
    return { ...this.db.stats };
  }

  /** Copies a SQLite database of this server into this one, which must have no users yet (import-sqlite.ts). */
  importSqlite(file: string): Promise<ImportReport> {
    return importSqlite(file, this.pool);
  }
}
