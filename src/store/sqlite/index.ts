// The SQLite backend of the Store interface (../store.ts): a thin class composing the parts,
// each in a file of its own: opening the file (open.ts: pragmas, migrations, the typed query
// catalog of queries.ts prepared once), the device ledger (devices.ts), users and devices
// (accounts.ts), 1:1 messages (messages.ts), groups (groups.ts), search (search.ts), group
// commit (group-commit.ts) and maintenance (maintenance.ts). Only these files import
// better-sqlite3. Work is done synchronously and handed back as settled promises (settle.ts);
// message writes go through group commit and resolve only once their commit is on disk, and a
// read that could show such a write hands its result back only then too (wal-sync.ts,
// `released`); other multi-statement writes run in one transaction of their own.
//
// Ordering: SQLite has one writer at a time (this process, or briefly the admin command line
// on the same file, whose writes never touch the event stream), so a row's commit order is its
// id order and a user's events get seq 1, 2, 3... in commit order. A poll that has seen seq N
// can therefore never later find a new row below N (the Store interface's first promise). A
// networked database would not give this for free (its sequences are handed out before commit).
import type { Database as Db } from 'better-sqlite3';
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
import { SqliteAccounts } from './accounts';
import { DeviceLedger } from './devices';
import { prepareGroupQueries } from './group-queries';
import { SqliteGroups } from './groups';
import { SqliteMessages } from './messages';
import { GroupCommit } from './group-commit';
import { backupTo, integrityCheck, type SqliteMaintenance } from './maintenance';
import { openDatabase, type SqliteOptions } from './open';
import { KIND_GROUP, type Queries, toEventRow } from './queries';
import { SearchIndexer, searchMessages } from './search';
import { asError, settled } from './settle';
import { WalSync } from './wal-sync';

export { MIGRATIONS_DIR, type SqliteOptions } from './open';

export class SqliteStore implements Store {
  /** What only SQLite has (the file, data_version, backups): not part of Store. */
  readonly sqlite: SqliteMaintenance;
  private readonly db: Db;
  private readonly q: Queries;
  private readonly devices: DeviceLedger;
  private readonly writer: GroupCommit;
  private readonly wal: WalSync | null;
  private readonly searchIndex: SearchIndexer;
  private readonly messages: SqliteMessages;
  private readonly groups: SqliteGroups;
  private readonly accounts: SqliteAccounts;

  constructor(file: string, opts: SqliteOptions = {}) {
    const { db, q } = openDatabase(file, opts);
    this.q = q;
    this.db = db;
    // FULL (the default) on a file: the group commit's fsync off the event loop (wal-sync.ts).
    // NORMAL asks for no fsync per commit, EXTRA is left to SQLite as it is, and a database in
    // memory has no WAL (nor has a file whose file system refused WAL mode: SQLite then keeps
    // the rollback journal without an error, and syncs it in the commit); nor does the admin
    // command line use it (SqliteOptions.syncInCommit).
    const dbFile = mainFile(db);
    const inWal = db.pragma('journal_mode', { simple: true }) === 'wal';
    const offLoop = (opts.synchronous ?? 'FULL') === 'FULL' && !db.memory && dbFile && inWal && !opts.syncInCommit;
    try {
      this.wal = offLoop ? new WalSync(`${dbFile}-wal`, opts.walFsync) : null;
    } catch (err) {
      db.close();
      throw err;
    }
    this.devices = new DeviceLedger(this.q, () => this.writer.schedule());
    this.searchIndex = new SearchIndexer(this.q, () => this.writer.schedule());
    this.writer = new GroupCommit(db, this.devices, this.q.streamHeads, this.searchIndex, this.wal);
    this.accounts = new SqliteAccounts(db, this.q, this.devices);
    // The device check of every send reads the ledger's cache, which a deletion here clears at
    // once and one by another process once data_version moves: no query on the send's path.
    const deviceExists = (id: string): boolean => this.devices.get(id) !== undefined;
    this.messages = new SqliteMessages(this.q, this.writer, deviceExists, this.searchIndex);
    this.groups = new SqliteGroups(this.q, prepareGroupQueries(db), this.writer, this.messages);
    this.sqlite = {
      db,
      dataVersion: () => this.devices.dataVersion(),
      backup: async (file) => {
        this.flushNow();
        await backupTo(db, file);
      },
      integrityCheck: () => integrityCheck(db),
    };
  }

  close(): Promise<void> {
    return settled(() => {
      if (!this.db.open) return;
      this.devices.stop();
      this.searchIndex.stop();
      this.searchIndex.hurry(); // with the last batch; what INDEX_MAX leaves is indexed at the next open
      this.writer.close();
      this.db.close();
    });
  }

  flush(): Promise<void> {
    return settled(() => this.flushNow());
  }

  /** Commits queued writes now, device updates included, instead of when they are due. */
  private flushNow(): void {
    this.devices.setForced(true);
    try {
      this.writer.flushAll();
    } finally {
      this.devices.setForced(false);
    }
  }

  /**
   * A read's result, handed back once every commit it could have seen is on disk: the read
   * runs now, but what a group commit wrote is visible on this connection before its fsync
   * (wal-sync.ts), and must not reach a client before it. At once when nothing is pending.
   */
  private released<T>(read: () => T): Promise<T> {
    const wal = this.wal;
    if (!wal?.pending) return settled(read);
    let value: T;
    try {
      value = read();
    } catch (err) {
      return Promise.reject(asError(err));
    }
    return new Promise<T>((resolve, reject) => wal.whenDurable((err) => (err ? reject(err) : resolve(value))));
  }

  // --- users and devices: see accounts.ts --------------------------------------------------

  createUser(username: string, passwordHash: string): Promise<User | null> {
    return this.accounts.createUser(username, passwordHash);
  }

  findUser(username: string): Promise<UserWithSecret | undefined> {
    return this.accounts.findUser(username);
  }

  userByName(username: string): Promise<User | undefined> {
    return this.accounts.userByName(username);
  }

  listUsers(): Promise<UserSummary[]> {
    return this.accounts.listUsers();
  }

  setPassword(userId: number, passwordHash: string): Promise<string[]> {
    return this.accounts.setPassword(userId, passwordHash);
  }

  setDisabled(userId: number, at: number | null): Promise<string[]> {
    return this.accounts.setDisabled(userId, at);
  }

  createDevice(d: NewDevice, checked: CheckedCredentials, maxDevices: number): Promise<CreateDeviceResult> {
    return this.accounts.createDevice(d, checked, maxDevices);
  }

  getDeviceAuth(id: string): Promise<DeviceAuth | undefined> {
    return this.accounts.getDeviceAuth(id);
  }

  listDevices(userId: number, limit?: number): Promise<Device[]> {
    return this.accounts.listDevices(userId, limit);
  }

  deleteDevice(id: string, userId: number, by?: string): Promise<DeleteDeviceResult> {
    return this.accounts.deleteDevice(id, userId, by);
  }

  deleteDevicesOfUser(userId: number, keep?: string): Promise<string[] | null> {
    return this.accounts.deleteDevicesOfUser(userId, keep);
  }

  deleteIdleDevices(usedBefore: number, limit: number): Promise<string[]> {
    return this.accounts.deleteIdleDevices(usedBefore, limit);
  }

  noteDeviceSeen(id: string, now: number, cursor = 0): void {
    this.devices.noteSeen(id, now, cursor);
  }

  // --- the event stream ---------------------------------------------------------------------

  headSeq(userId: number, fresh = false): Promise<number> {
    // From memory when this process knows it (heads.ts): a poll with nothing newer then costs
    // no query. A head known here is never ahead of the database. It is behind only after
    // another connection wrote (the admin command line), until the end of the turn in which
    // this one read data_version; and in that turn a poll may already have been answered from
    // the database with that write's event, and its client ask again with its cursor: so a
    // cursor past the head is checked again with `fresh` (stream.ts) before it is refused.
    try {
      const heads = this.q.streamHeads;
      const known = fresh ? undefined : heads.get(userId, this.devices.turnDataVersion());
      if (known !== undefined) return Promise.resolve(known);
      const head = this.q.selectHeadSeq.get(userId) ?? 0;
      heads.set(userId, head);
      return Promise.resolve(head);
    } catch (err) {
      return Promise.reject(asError(err));
    }
  }

  eventsAfter(userId: number, afterSeq: number, limit: number): Promise<EventRow[]> {
    return this.released(() => {
      const out: EventRow[] = [];
      const budget = answerBudget();
      for (const r of this.q.selectEventsAfter.iterate(userId, afterSeq, limit)) {
        if (r.kind === KIND_GROUP) {
          // A group change: its member list counts towards the budget as a body would.
          const { text, ...e } = this.groups.changeEvent(r.seq, r.messageId ?? 0);
          if (!budget.take(text)) break;
          out.push(e);
          continue;
        }
        if (!budget.take(r.body ?? '')) break;
        out.push(toEventRow(r));
      }
      return out;
    });
  }

  // --- messages (1:1): see messages.ts ------------------------------------------------------

  earlierSend(m: NewMessage): Promise<EarlierSend | null> {
    return this.released(() => this.messages.earlierSend(m.sender.id, m.clientId, { recipientId: m.recipient.id }, m.body));
  }

  sendMessage(m: NewMessage): Promise<SendResult> {
    return this.messages.send(m);
  }

  markRead(user: User, peer: User, upTo: number, device?: string): Promise<ReadResult> {
    return this.messages.markRead(user, peer, upTo, device);
  }

  conversations(userId: number): Promise<ConversationRow[]> {
    return this.released(() => this.messages.conversations(userId));
  }

  history(a: number, b: number, page: HistoryQuery): Promise<HistoryPage> {
    return this.released(() => this.messages.history(a, b, page));
  }

  async search(userId: number, query: SearchQuery): Promise<HistoryPage | null> {
    // Every message stored before the search is found: the index catches up with them first,
    // in transactions of the group commit (search.ts; one, unless a burst left more than
    // INDEX_MAX). A transaction that moved it no further means it cannot be written: the search
    // fails rather than answer without them.
    const target = this.searchIndex.storedUpTo;
    let reached = -1;
    while (this.searchIndex.indexed < target) {
      if (this.searchIndex.indexed === reached) {
        throw new Error(`the search index cannot catch up with the messages: ${String(this.searchIndex.failure)}`);
      }
      reached = this.searchIndex.indexed;
      this.searchIndex.hurry();
      await this.writer.nextCommit();
    }
    // One read transaction: the groups the caller is in and the matches are of the same moment.
    return this.released(() => this.db.transaction(() => searchMessages(this.q, userId, query))());
  }

  countMessages(): Promise<number> {
    return this.released(() => this.q.countMessages.get() ?? 0);
  }

  // --- groups (issue #15): see groups.ts ----------------------------------------------------

  createGroup(owner: User, name: string, members: User[], limits: GroupLimits): Promise<GroupChangeResult> {
    return this.groups.createGroup(owner, name, members, limits);
  }

  groupOf(userId: number, groupId: number): Promise<GroupRow | undefined> {
    return this.released(() => this.groups.groupOf(userId, groupId));
  }

  groupsOf(userId: number): Promise<GroupConversationRow[]> {
    return this.released(() => this.groups.groupsOf(userId));
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
    return this.released(() => this.groups.earlierGroupSend(m));
  }

  groupHistory(userId: number, groupId: number, page: HistoryQuery): Promise<HistoryPage | null> {
    return this.released(() => this.groups.groupHistory(userId, groupId, page));
  }

  markGroupRead(user: User, groupId: number, upTo: number, device?: string): Promise<ReadResult> {
    return this.groups.markGroupRead(user, groupId, upTo, device);
  }

  listGroups(): Promise<GroupSummary[]> {
    return this.released(() => this.groups.listGroups());
  }

  groupMembers(groupId: number): Promise<GroupMemberRow[] | undefined> {
    return this.released(() => this.groups.groupMembers(groupId));
  }

  commitStats(): CommitStats {
    return this.writer.stats();
  }
}

/**
 * The database file as SQLite opened it, whose name the WAL's is made from: SQLite follows a
 * symbolic link, so with DB_PATH one, the WAL is beside the file it points to, not beside the link.
 */
function mainFile(db: Db): string {
  const list = db.pragma('database_list') as { name: string; file: string }[];
  return list.find((d) => d.name === 'main')?.file ?? '';
}

export function openSqliteStore(file: string, opts: SqliteOptions = {}): SqliteStore {
  return new SqliteStore(file, opts);
}
