// The SQLite backend of the Store interface (../store.ts): the only code that imports
// better-sqlite3, composed of the typed query catalog (queries.ts), the device ledger
// (devices.ts), group commit (group-commit.ts), migrations (migrate.ts) and maintenance
// (maintenance.ts). It opens the file, sets the pragmas, runs the migrations and prepares every
// statement once. Work is done synchronously and handed back as settled promises; message
// writes go through group commit and resolve only after their commit; other multi-statement
// writes run in one transaction of their own.
//
// Ordering: SQLite has one writer at a time (this process, or briefly the admin command line
// on the same file, whose writes never touch the event stream), so a row's commit order is its
// id order and a user's events get seq 1, 2, 3... in commit order. A poll that has seen seq N
// can therefore never later find a new row below N (the Store interface's first promise). A
// networked database would not give this for free (its sequences are handed out before commit).
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Database as Db } from 'better-sqlite3';
import { REPO_ROOT, type SqliteSynchronous } from '../../config';
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
  type EarlierSend,
  type HistoryQuery,
  type NewDevice,
  type NewGroupMessage,
  type NewMessage,
  type SearchQuery,
  type Store,
} from '../store';
import { DeviceLedger } from './devices';
import { prepareGroupQueries } from './group-queries';
import { SqliteGroups } from './groups';
import { SqliteMessages } from './messages';
import { GroupCommit } from './group-commit';
import { backupTo, integrityCheck, type SqliteMaintenance } from './maintenance';
import { loadMigrations, migrate } from './migrate';
import { KIND_GROUP, prepareQueries, type Queries, toEventRow } from './queries';
import { searchMessages } from './search';
import { type FillProgress, fillSearchIndex } from './search-fill';

export const MIGRATIONS_DIR = path.join(REPO_ROOT, 'db');

export interface SqliteOptions {
  synchronous?: SqliteSynchronous;
  migrationsDir?: string;
  /** Told after each batch while messages stored before search existed are indexed (issue #17). */
  onSearchFill?: (p: FillProgress) => void;
}

/** Bound on cached user ids. */
const USER_CACHE_MAX = 200_000;

/** Pages of WAL (4 KiB each) that trigger a checkpoint. */
const WAL_AUTOCHECKPOINT_PAGES = 10_000;

const NONE: string[] = [];

/** What was thrown, as the Error a rejection carries (everything thrown here already is one). */
function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** A settled promise of what `fn` returns, or of what it throws. */
function settled<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (err) {
    return Promise.reject(asError(err));
  }
}

export class SqliteStore implements Store {
  /** What only SQLite has (the file, data_version, backups): not part of Store. */
  readonly sqlite: SqliteMaintenance;
  private readonly db: Db;
  private readonly q: Queries;
  private readonly devices: DeviceLedger;
  private readonly writer: GroupCommit;
  private readonly messages: SqliteMessages;
  private readonly groups: SqliteGroups;
  private readonly userIds = new Map<string, User>();

  constructor(file: string, opts: SqliteOptions = {}) {
    if (file !== ':memory:') fs.mkdirSync(path.dirname(file), { recursive: true });
    const db = new Database(file);
    try {
      // WAL: readers never block the writer and a commit is one append. FULL (the default)
      // syncs the WAL on every commit, so an acknowledged message survives a power loss;
      // group commit pays that once per batch. busy_timeout covers the admin CLI writing to the
      // same file while the server runs.
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${opts.synchronous ?? 'FULL'}`);
      db.pragma('busy_timeout = 5000');
      // Checkpoint every ~40 MiB of WAL instead of SQLite's 4 MiB: a checkpoint copies each page
      // once however often it was rewritten since the last one, and every message rewrites the
      // same few hot pages (stream tails, conversation rows). Measured in bench/README.md.
      db.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
      db.pragma('foreign_keys = ON');
      migrate(db, loadMigrations(opts.migrationsDir ?? MIGRATIONS_DIR));
      fillSearchIndex(db, opts.onSearchFill);
      this.q = prepareQueries(db);
    } catch (err) {
      db.close();
      throw err;
    }
    this.db = db;
    this.devices = new DeviceLedger(this.q, () => this.writer.schedule());
    this.writer = new GroupCommit(db, this.devices);
    // The device check of every send reads the ledger's cache, which a deletion here clears at
    // once and one by another process once data_version moves: no query on the send's path.
    const deviceExists = (id: string): boolean => this.devices.get(id) !== undefined;
    this.messages = new SqliteMessages(this.q, this.writer, deviceExists);
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

  // --- users --------------------------------------------------------------------------------

  createUser(username: string, passwordHash: string): Promise<User | null> {
    return settled(() => {
      const id = this.q.insertUser.get(username, passwordHash, Date.now());
      return id === undefined ? null : { id, username };
    });
  }

  findUser(username: string): Promise<UserWithSecret | undefined> {
    return settled(() => this.q.selectUserByName.get(username));
  }

  userByName(username: string): Promise<User | undefined> {
    // The hot paths (every send, every authenticated request, every poll) are written out
    // rather than through settled(): no closure per call.
    try {
      let user = this.userIds.get(username);
      if (!user) {
        const row = this.q.selectUserByName.get(username);
        if (!row) return Promise.resolve(undefined);
        user = { id: row.id, username: row.username };
        if (this.userIds.size >= USER_CACHE_MAX) this.userIds.clear();
        this.userIds.set(username, user);
      }
      return Promise.resolve(user);
    } catch (err) {
      return Promise.reject(asError(err));
    }
  }

  listUsers(): Promise<UserSummary[]> {
    return settled(() => this.q.selectUserSummaries.all());
  }

  setPassword(userId: number, passwordHash: string): Promise<string[]> {
    return settled(() =>
      this.deletingDevices(userId, () => {
        this.q.updatePasswordHash.run(passwordHash, userId);
        return true;
      }),
    );
  }

  setDisabled(userId: number, at: number | null): Promise<string[]> {
    return settled(() =>
      this.deletingDevices(userId, () => {
        this.q.updateUserDisabled.run(at, userId);
        return at !== null;
      }),
    );
  }

  /** Runs `change` and, when it says so, deletes the user's devices, in one transaction. */
  private deletingDevices(userId: number, change: () => boolean): string[] {
    const ids = this.db.transaction(() => (change() ? this.q.deleteDevicesOfUser.all(userId, '') : NONE)).immediate();
    for (const id of ids) this.devices.forget(id);
    return ids;
  }

  // --- devices ------------------------------------------------------------------------------

  createDevice(d: NewDevice, checked: CheckedCredentials, maxDevices: number): Promise<CreateDeviceResult> {
    return settled(() => {
      const now = Date.now();
      const made = this.db
        .transaction((): CreateDeviceResult => {
          // Still the credentials the log-in checked? A reset or a disable that committed since
          // then ends the log-in here (issue #13), in the transaction that would add the device.
          const current = this.q.selectCredentials.get(d.userId);
          if (!current || current.passwordHash !== checked.passwordHash) return { status: 'stale' };
          if (current.disabledAt !== null) return { status: 'disabled' };
          // Room for the new device within the user's cap (issue #13): the least recently used go.
          const evicted = this.leastRecentlyUsed(d.userId, maxDevices - 1);
          for (const id of evicted) this.q.deleteDevice.run(id, d.userId);
          const cursor = this.q.selectHeadSeq.get(d.userId) ?? 0;
          this.q.insertDevice.run({ ...d, now, cursor });
          const device = { id: d.id, userId: d.userId, name: d.name, createdAt: now, lastSeenAt: now, cursor };
          return { status: 'created', device, evicted };
        })
        .immediate();
      if (made.status === 'created') for (const id of made.evicted) this.devices.forget(id);
      return made;
    });
  }

  /**
   * The user's devices beyond the `keep` most recently used, least recently used first. Last use
   * as the ledger knows it: a poll's not yet written counts.
   */
  private leastRecentlyUsed(userId: number, keep: number): string[] {
    const rows = this.q.selectDevicesOfUser.all(userId); // oldest created first: ties go by it
    if (rows.length <= keep) return NONE;
    return rows
      .map((r) => ({ id: r.id, used: this.devices.lastUsed(r.id, r.lastSeenAt) }))
      .sort((a, b) => a.used - b.used)
      .slice(0, rows.length - keep)
      .map((r) => r.id);
  }

  getDeviceAuth(id: string): Promise<DeviceAuth | undefined> {
    try {
      return Promise.resolve(this.devices.get(id));
    } catch (err) {
      return Promise.reject(asError(err));
    }
  }

  listDevices(userId: number, limit?: number): Promise<Device[]> {
    return settled(() => {
      if (limit === undefined) return this.q.selectDevicesOfUser.all(userId).map((d) => this.devices.withPending(d));
      return this.q.selectRecentDevicesOfUser
        .all(userId, limit)
        .map((d) => this.devices.withPending(d))
        .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    });
  }

  deleteDevice(id: string, userId: number): Promise<boolean> {
    return settled(() => {
      const changed = this.q.deleteDevice.run(id, userId).changes > 0;
      if (changed) this.devices.forget(id);
      return changed;
    });
  }

  deleteDevicesOfUser(userId: number, keep = ''): Promise<string[]> {
    return settled(() => {
      const ids = this.q.deleteDevicesOfUser.all(userId, keep);
      for (const id of ids) this.devices.forget(id);
      return ids;
    });
  }

  deleteIdleDevices(usedBefore: number, limit: number): Promise<string[]> {
    return settled(() => {
      const ids = this.db
        .transaction(() => {
          const gone: string[] = [];
          for (const r of this.q.selectIdleDevices.all(usedBefore, limit)) {
            // Its row is old, but a use since then may still be waiting to be written.
            if (this.devices.lastUsed(r.id, 0) >= usedBefore) continue;
            this.q.deleteDevice.run(r.id, r.userId);
            gone.push(r.id);
          }
          return gone;
        })
        .immediate();
      for (const id of ids) this.devices.forget(id);
      return ids;
    });
  }

  noteDeviceSeen(id: string, now: number, cursor = 0): void {
    this.devices.noteSeen(id, now, cursor);
  }

  // --- the event stream ---------------------------------------------------------------------

  headSeq(userId: number): Promise<number> {
    try {
      return Promise.resolve(this.q.selectHeadSeq.get(userId) ?? 0);
    } catch (err) {
      return Promise.reject(asError(err));
    }
  }

  eventsAfter(userId: number, afterSeq: number, limit: number): Promise<EventRow[]> {
    return settled(() => {
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
    return settled(() => this.messages.earlierSend(m.sender.id, m.clientId, { recipientId: m.recipient.id }, m.body));
  }

  sendMessage(m: NewMessage): Promise<SendResult> {
    return this.messages.send(m);
  }

  markRead(user: User, peer: User, upTo: number): Promise<ReadResult> {
    return this.messages.markRead(user, peer, upTo);
  }

  conversations(userId: number): Promise<ConversationRow[]> {
    return settled(() => this.messages.conversations(userId));
  }

  history(a: number, b: number, page: HistoryQuery): Promise<HistoryPage> {
    return settled(() => this.messages.history(a, b, page));
  }

  search(userId: number, query: SearchQuery): Promise<HistoryPage | null> {
    // One read transaction: the groups the caller is in and the matches are of the same moment.
    return settled(() => this.db.transaction(() => searchMessages(this.q, userId, query))());
  }

  countMessages(): Promise<number> {
    return settled(() => this.q.countMessages.get() ?? 0);
  }

  // --- groups (issue #15): see groups.ts ----------------------------------------------------

  createGroup(owner: User, name: string, members: User[], limits: GroupLimits): Promise<GroupChangeResult> {
    return this.groups.createGroup(owner, name, members, limits);
  }

  groupOf(userId: number, groupId: number): Promise<GroupRow | undefined> {
    return settled(() => this.groups.groupOf(userId, groupId));
  }

  groupsOf(userId: number): Promise<GroupConversationRow[]> {
    return settled(() => this.groups.groupsOf(userId));
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
    return settled(() => this.groups.earlierGroupSend(m));
  }

  groupHistory(userId: number, groupId: number, page: HistoryQuery): Promise<HistoryPage | null> {
    return settled(() => this.groups.groupHistory(userId, groupId, page));
  }

  markGroupRead(user: User, groupId: number, upTo: number): Promise<ReadResult> {
    return this.groups.markGroupRead(user, groupId, upTo);
  }

  listGroups(): Promise<GroupSummary[]> {
    return settled(() => this.groups.listGroups());
  }

  groupMembers(groupId: number): Promise<GroupMemberRow[] | undefined> {
    return settled(() => this.groups.groupMembers(groupId));
  }

  commitStats(): CommitStats {
    return this.writer.stats();
  }
}

export function openSqliteStore(file: string, opts: SqliteOptions = {}): SqliteStore {
  return new SqliteStore(file, opts);
}
