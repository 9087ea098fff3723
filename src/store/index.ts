// The store: the only module that imports better-sqlite3 and the only place with SQL.
// It opens the file, sets the pragmas, runs the migrations, prepares every statement once, and
// exposes typed methods. Multi-statement writes run in one transaction; message writes go
// through group commit (group-commit.ts) and resolve only after their commit.
//
// Ordering: SQLite has one writer at a time and this process is its only writer, so a row's
// commit order is its id order and a user's events get seq 1, 2, 3... in commit order. A poll
// that has seen seq N can therefore never later find a new row below N. A networked database
// would not give this for free (its sequences are handed out before commit): keep it explicit.
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Database as Db, Statement } from 'better-sqlite3';
import { REPO_ROOT, type SqliteSynchronous } from '../config';
import type {
  ConversationRow,
  Device,
  DeviceAuth,
  EventRow,
  HistoryPage,
  MessageRow,
  ReadResult,
  SendResult,
  User,
  UserSummary,
  UserWithSecret,
} from '../types';
import { GroupCommit } from './group-commit';
import { loadMigrations, migrate } from './migrate';

export { SchemaTooNewError } from './migrate';

export const MIGRATIONS_DIR = path.join(REPO_ROOT, 'db');

export interface StoreOptions {
  synchronous?: SqliteSynchronous;
  migrationsDir?: string;
}

/** Delay before device acknowledgements and last-seen times are written (see noteDeviceSeen). */
const DEVICE_WRITE_DELAY_MS = 1000;

/** Bound on cached user ids. */
const USER_CACHE_MAX = 200_000;

/** Pages of WAL (4 KiB each) that trigger a checkpoint. */
const WAL_AUTOCHECKPOINT_PAGES = 10_000;

/** Bound on cached devices; past it the cache starts over (each entry is a few hundred bytes). */
const DEVICE_CACHE_MAX = 200_000;

const KIND_MESSAGE = 1;
const KIND_READ = 2;

/** Larger than any id SQLite hands out in practice and still exact in a JS number. */
const NO_UPPER_BOUND = Number.MAX_SAFE_INTEGER;

// --- Named queries (ntfy's message_cache.go style: every statement has a name) -------------

const SQL = {
  insertUser: `INSERT INTO users (username, password_hash, created_at) VALUES (?, ?, ?)
               ON CONFLICT (username) DO NOTHING RETURNING id`,
  selectUserByName: `SELECT id, username, password_hash AS passwordHash, disabled_at AS disabledAt FROM users WHERE username = ?`,
  selectUserSummaries: `SELECT u.id, u.username, u.created_at AS createdAt, u.disabled_at AS disabledAt,
                               (SELECT count(*) FROM devices d WHERE d.user_id = u.id) AS devices
                        FROM users u ORDER BY u.username`,
  updateUserDisabled: `UPDATE users SET disabled_at = ? WHERE id = ?`,
  updatePasswordHash: `UPDATE users SET password_hash = ? WHERE id = ?`,

  insertDevice: `INSERT INTO devices (id, user_id, name, token_hash, created_at, last_seen_at, cursor)
                 VALUES (@id, @userId, @name, @tokenHash, @now, @now, @cursor)`,
  selectDeviceAuth: `SELECT d.id, d.user_id AS userId, d.name, d.created_at AS createdAt,
                            d.last_seen_at AS lastSeenAt, d.cursor, d.token_hash AS tokenHash, u.username
                     FROM devices d JOIN users u ON u.id = d.user_id
                     WHERE d.id = ? AND u.disabled_at IS NULL`,
  selectDevicesOfUser: `SELECT id, user_id AS userId, name, created_at AS createdAt,
                               last_seen_at AS lastSeenAt, cursor
                        FROM devices WHERE user_id = ? ORDER BY created_at, id`,
  deleteDevice: `DELETE FROM devices WHERE id = ? AND user_id = ?`,
  deleteDevicesOfUser: `DELETE FROM devices WHERE user_id = ? RETURNING id`,
  // A cursor only moves forward, and so does last_seen_at (two polls may land in one batch).
  updateDeviceSeen: `UPDATE devices SET cursor = max(cursor, ?), last_seen_at = max(last_seen_at, ?) WHERE id = ?`,

  selectHeadSeq: `SELECT coalesce(max(seq), 0) FROM events WHERE user_id = ?`,
  // Moves when another connection (the admin command line) commits; not for our own writes.
  dataVersion: `PRAGMA data_version`,
  insertEvent: `INSERT INTO events (user_id, seq, kind, message_id, peer_id)
                VALUES (@userId, (SELECT coalesce(max(seq), 0) + 1 FROM events WHERE user_id = @userId),
                        @kind, @messageId, @peerId)
                RETURNING seq`,
  selectEventsAfter: `SELECT e.seq, e.kind, e.message_id AS messageId, p.username AS peer,
                             m.sender_id AS senderId, m.recipient_id AS recipientId,
                             s.username AS sender, r.username AS recipient,
                             m.body, m.client_id AS clientId, m.sent_at AS sentAt
                      FROM events e
                      LEFT JOIN messages m ON e.kind = ${KIND_MESSAGE} AND m.id = e.message_id
                      LEFT JOIN users s ON s.id = m.sender_id
                      LEFT JOIN users r ON r.id = m.recipient_id
                      LEFT JOIN users p ON p.id = e.peer_id
                      WHERE e.user_id = ? AND e.seq > ?
                      ORDER BY e.seq LIMIT ?`,

  insertMessage: `INSERT INTO messages (sender_id, recipient_id, conv_lo, conv_hi, body, client_id, sent_at)
                  VALUES (?, ?, ?, ?, ?, ?, ?)`,
  selectMessageByClientId: `SELECT m.id, m.sender_id AS senderId, m.recipient_id AS recipientId,
                                   s.username AS "from", r.username AS "to", m.body,
                                   m.client_id AS clientId, m.sent_at AS sentAt
                            FROM messages m JOIN users s ON s.id = m.sender_id JOIN users r ON r.id = m.recipient_id
                            WHERE m.sender_id = ? AND m.client_id = ?`,
  selectHistoryBefore: `SELECT m.id, m.sender_id AS senderId, m.recipient_id AS recipientId,
                               s.username AS "from", r.username AS "to", m.body,
                               m.client_id AS clientId, m.sent_at AS sentAt
                        FROM messages m JOIN users s ON s.id = m.sender_id JOIN users r ON r.id = m.recipient_id
                        WHERE m.conv_lo = ? AND m.conv_hi = ? AND m.id < ?
                        ORDER BY m.id DESC LIMIT ?`,
  selectHistoryAfter: `SELECT m.id, m.sender_id AS senderId, m.recipient_id AS recipientId,
                              s.username AS "from", r.username AS "to", m.body,
                              m.client_id AS clientId, m.sent_at AS sentAt
                       FROM messages m JOIN users s ON s.id = m.sender_id JOIN users r ON r.id = m.recipient_id
                       WHERE m.conv_lo = ? AND m.conv_hi = ? AND m.id > ?
                       ORDER BY m.id ASC LIMIT ?`,
  // Messages are never deleted and ids come from AUTOINCREMENT, so the largest id is the count,
  // read from the rowid index instead of counting a million rows on every metrics scrape.
  countMessages: `SELECT coalesce(max(id), 0) FROM messages`,

  upsertConversationSent: `INSERT INTO conversations (user_id, peer_id, last_message_id) VALUES (?, ?, ?)
                           ON CONFLICT (user_id, peer_id) DO UPDATE SET last_message_id = excluded.last_message_id`,
  upsertConversationReceived: `INSERT INTO conversations (user_id, peer_id, last_message_id, unread) VALUES (?, ?, ?, 1)
                               ON CONFLICT (user_id, peer_id) DO UPDATE SET last_message_id = excluded.last_message_id,
                                                                         unread = unread + 1`,
  selectMessageConversation: `SELECT conv_lo AS lo, conv_hi AS hi FROM messages WHERE id = ?`,
  selectReadMarker: `SELECT read_up_to FROM conversations WHERE user_id = ? AND peer_id = ?`,
  // Recounted from the conversation index when the marker moves: exact, and it touches only
  // the messages after the new marker.
  updateReadMarker: `UPDATE conversations
                     SET read_up_to = @upTo,
                         unread = (SELECT count(*) FROM messages
                                   WHERE conv_lo = @lo AND conv_hi = @hi AND id > @upTo
                                     AND sender_id = @peerId AND sender_id <> @userId)
                     WHERE user_id = @userId AND peer_id = @peerId`,
  selectConversations: `SELECT p.username AS peer, c.unread, c.read_up_to AS readUpTo,
                               m.id, m.sender_id AS senderId, m.recipient_id AS recipientId,
                               s.username AS "from", r.username AS "to", m.body,
                               m.client_id AS clientId, m.sent_at AS sentAt
                        FROM conversations c
                        JOIN users p ON p.id = c.peer_id
                        JOIN messages m ON m.id = c.last_message_id
                        JOIN users s ON s.id = m.sender_id
                        JOIN users r ON r.id = m.recipient_id
                        WHERE c.user_id = ?
                        ORDER BY c.last_message_id DESC`,
} as const;

type Statements = { -readonly [K in keyof typeof SQL]: Statement };

interface EventJoinRow {
  seq: number;
  kind: number;
  messageId: number | null;
  peer: string | null;
  senderId: number | null;
  recipientId: number | null;
  sender: string | null;
  recipient: string | null;
  body: string | null;
  clientId: string | null;
  sentAt: number | null;
}

function toEventRow(r: EventJoinRow): EventRow {
  if (r.kind === KIND_READ) return { seq: r.seq, kind: 'read', with: r.peer ?? '', upTo: r.messageId ?? 0 };
  return {
    seq: r.seq,
    kind: 'message',
    message: {
      id: r.messageId ?? 0,
      senderId: r.senderId ?? 0,
      recipientId: r.recipientId ?? 0,
      from: r.sender ?? '',
      to: r.recipient ?? '',
      body: r.body ?? '',
      clientId: r.clientId,
      sentAt: r.sentAt ?? 0,
    },
  };
}

/** Characters of message bodies in one answer (poll or history page): about 1 MiB of JSON. */
export const ANSWER_BODY_CHARS = 256 * 1024;

export interface NewMessage {
  sender: User;
  recipient: User;
  body: string;
  clientId: string | null;
}

export interface NewDevice {
  id: string;
  userId: number;
  name: string;
  tokenHash: Buffer;
}

interface PendingDevice {
  cursor: number;
  seenAt: number;
}

export class Store {
  readonly db: Db;
  private readonly st: Statements;
  private readonly writer: GroupCommit;
  /** Device acknowledgements and last-seen times not yet written; folded into the next batch. */
  private readonly pendingDevices = new Map<string, PendingDevice>();
  /**
   * Devices as authentication needs them, so that a request costs no query. Kept coherent by
   * every write in this class, and dropped whole when another process has written to the
   * file (data_version moved): a device revoked from the command line is refused at once.
   */
  private readonly deviceCache = new Map<string, DeviceAuth>();
  private deviceCacheVersion = -1;
  /**
   * data_version as read in this turn of the event loop (-1: not yet). Read once per turn, not
   * once per request: a busy server authenticates many requests per turn, and a write from
   * another process is seen from the next turn on, a moment later.
   */
  private turnDataVersion = -1;
  private readonly endOfTurn = (): void => {
    this.turnDataVersion = -1;
  };
  private readonly userIds = new Map<string, User>();
  /** When the pending device updates are due to be written (see noteDeviceSeen). */
  private devicesDueAt = 0;
  private deviceTimer: NodeJS.Timeout | null = null;
  private forceDeviceWrites = false;

  constructor(file: string, opts: StoreOptions = {}) {
    if (file !== ':memory:') fs.mkdirSync(path.dirname(file), { recursive: true });
    this.db = new Database(file);
    try {
      // WAL: readers never block the writer and a commit is one append. FULL (the default)
      // syncs the WAL on every commit, so an acknowledged message survives a power loss;
      // group commit pays that once per batch. busy_timeout covers the admin CLI writing to the
      // same file while the server runs.
      this.db.pragma('journal_mode = WAL');
      this.db.pragma(`synchronous = ${opts.synchronous ?? 'FULL'}`);
      this.db.pragma('busy_timeout = 5000');
      // Checkpoint every ~40 MiB of WAL instead of SQLite's 4 MiB: a checkpoint copies each page
      // once however often it was rewritten since the last one, and every message rewrites the
      // same few hot pages (stream tails, conversation rows). Measured in bench/README.md.
      this.db.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
      this.db.pragma('foreign_keys = ON');
      migrate(this.db, loadMigrations(opts.migrationsDir ?? MIGRATIONS_DIR));
      const st = {} as Statements;
      for (const key of Object.keys(SQL) as (keyof typeof SQL)[]) st[key] = this.db.prepare(SQL[key]);
      this.st = st;
    } catch (err) {
      this.db.close();
      throw err;
    }
    this.writer = new GroupCommit(this.db, {
      pending: () => this.pendingDevices.size > 0 && (this.forceDeviceWrites || Date.now() >= this.devicesDueAt),
      write: () => this.writePendingDevices(),
      committed: () => this.pendingDevicesCommitted(),
    });
  }

  /** Writes what is queued and closes the file (the WAL is checkpointed by SQLite on close). */
  close(): void {
    if (!this.db.open) return;
    this.forceDeviceWrites = true;
    if (this.deviceTimer) clearTimeout(this.deviceTimer);
    this.writer.close();
    this.db.close();
  }

  /** Commits queued writes now, device updates included, instead of when they are due. */
  flushWrites(): void {
    this.forceDeviceWrites = true;
    try {
      this.writer.flushAll();
    } finally {
      this.forceDeviceWrites = false;
    }
  }

  get open(): boolean {
    return this.db.open;
  }

  // --- users --------------------------------------------------------------------------------

  /** Returns the new user, or null when the name is taken. */
  createUser(username: string, passwordHash: string, now = Date.now()): User | null {
    const id = this.st.insertUser.pluck().get(username, passwordHash, now) as number | undefined;
    return id === undefined ? null : { id, username };
  }

  /** The user with their password hash and status, read fresh (log-ins, administration). */
  findUser(username: string): UserWithSecret | undefined {
    return this.st.selectUserByName.get(username) as UserWithSecret | undefined;
  }

  /**
   * A user's id and name, for addressing messages: cached, since a username never changes
   * owner and users are never deleted. Unknown names are not cached (they may sign up).
   */
  findUserId(username: string): User | undefined {
    let user = this.userIds.get(username);
    if (!user) {
      const row = this.st.selectUserByName.get(username) as UserWithSecret | undefined;
      if (!row) return undefined;
      user = { id: row.id, username: row.username };
      if (this.userIds.size >= USER_CACHE_MAX) this.userIds.clear();
      this.userIds.set(username, user);
    }
    return user;
  }

  listUsers(): UserSummary[] {
    return this.st.selectUserSummaries.all() as UserSummary[];
  }

  /** Disables (a time) or enables (null) a user. Their tokens stop working while disabled. */
  setUserDisabled(userId: number, at: number | null): void {
    this.st.updateUserDisabled.run(at, userId);
    this.deviceCache.clear();
  }

  setPasswordHash(userId: number, passwordHash: string): void {
    this.st.updatePasswordHash.run(passwordHash, userId);
  }

  // --- devices ------------------------------------------------------------------------------

  /** A new device starts at the head of its user's stream: it has seen nothing yet. */
  createDevice(d: NewDevice, now = Date.now()): Device {
    return this.db
      .transaction((): Device => {
        const cursor = this.headSeq(d.userId);
        this.st.insertDevice.run({ ...d, now, cursor });
        return { id: d.id, userId: d.userId, name: d.name, createdAt: now, lastSeenAt: now, cursor };
      })
      .immediate();
  }

  getDeviceAuth(id: string): DeviceAuth | undefined {
    const version = this.turnDataVersion < 0 ? this.dataVersion() : this.turnDataVersion;
    if (version !== this.deviceCacheVersion) {
      this.deviceCache.clear();
      this.deviceCacheVersion = version;
    }
    let row = this.deviceCache.get(id);
    if (!row) {
      const r = this.st.selectDeviceAuth.get(id) as (Omit<DeviceAuth, 'tokenHash'> & { tokenHash: Buffer }) | undefined;
      if (!r) return undefined;
      // Cached as one flat object with the hash as a string: a Buffer costs three objects and
      // memory outside the heap, and every device that polls is in this cache.
      row = { id: r.id, userId: r.userId, name: r.name, createdAt: r.createdAt, lastSeenAt: r.lastSeenAt, cursor: r.cursor, username: r.username, tokenHash: r.tokenHash.toString('hex') };
      if (this.deviceCache.size >= DEVICE_CACHE_MAX) this.deviceCache.clear();
      this.deviceCache.set(id, row);
    }
    return this.withPending(row);
  }

  listDevices(userId: number): Device[] {
    return (this.st.selectDevicesOfUser.all(userId) as Device[]).map((d) => this.withPending(d));
  }

  /** Deletes one of the user's devices; false when it is not theirs or does not exist. */
  deleteDevice(id: string, userId: number): boolean {
    const changed = this.st.deleteDevice.run(id, userId).changes > 0;
    if (changed) {
      this.pendingDevices.delete(id);
      this.deviceCache.delete(id);
    }
    return changed;
  }

  /** Deletes every device of a user (password reset, disabled account); returns their ids. */
  deleteDevicesOfUser(userId: number): string[] {
    const ids = this.st.deleteDevicesOfUser.pluck().all(userId) as string[];
    for (const id of ids) {
      this.pendingDevices.delete(id);
      this.deviceCache.delete(id);
    }
    return ids;
  }

  /**
   * Records that a device polled with `cursor` (its acknowledgement) at `now`. Kept in memory
   * (every read here sees it at once) and written with the first batch at least
   * DEVICE_WRITE_DELAY_MS later, all devices together: a device polling again after every
   * message then costs one row write per interval, not one per message (a sixth of the write
   * cost under load, measured). What a crash can lose is at most that interval of
   * acknowledgements, which only means that a device that also lost its own cursor sees those
   * events once more; a clean shutdown writes them all.
   */
  noteDeviceSeen(id: string, now: number, cursor = 0): void {
    // The interval starts with the first update after the last write, so a steady stream of
    // polls cannot keep pushing the write back.
    const first = this.pendingDevices.size === 0;
    const p = this.pendingDevices.get(id);
    if (p) {
      p.cursor = Math.max(p.cursor, cursor);
      p.seenAt = Math.max(p.seenAt, now);
    } else {
      this.pendingDevices.set(id, { cursor, seenAt: now });
    }
    if (first && !this.deviceTimer) {
      this.devicesDueAt = Date.now() + DEVICE_WRITE_DELAY_MS;
      this.deviceTimer = setTimeout(() => {
        this.deviceTimer = null;
        this.writer.schedule();
      }, DEVICE_WRITE_DELAY_MS);
      this.deviceTimer.unref();
    }
  }

  private withPending<T extends Device>(d: T): T {
    const p = this.pendingDevices.get(d.id);
    if (!p) return d;
    return { ...d, cursor: Math.max(d.cursor, p.cursor), lastSeenAt: Math.max(d.lastSeenAt, p.seenAt) };
  }

  private writePendingDevices(): void {
    for (const [id, p] of this.pendingDevices) this.st.updateDeviceSeen.run(p.cursor, p.seenAt, id);
  }

  /** The pending device updates are on disk: fold them into the cache and forget them. */
  private pendingDevicesCommitted(): void {
    for (const [id, p] of this.pendingDevices) {
      const cached = this.deviceCache.get(id);
      if (cached) {
        cached.cursor = Math.max(cached.cursor, p.cursor);
        cached.lastSeenAt = Math.max(cached.lastSeenAt, p.seenAt);
      }
    }
    this.pendingDevices.clear();
  }

  // --- the event stream ---------------------------------------------------------------------

  /** The last position in the user's stream (0 for an empty stream). */
  headSeq(userId: number): number {
    return this.st.selectHeadSeq.pluck().get(userId) as number;
  }

  /**
   * Up to `limit` events after `afterSeq`, oldest first, stopping early (but never before the
   * first) once the message bodies reach ANSWER_BODY_CHARS: one answer stays around a
   * megabyte however many long messages are waiting; the rest come with the next poll.
   */
  eventsAfter(userId: number, afterSeq: number, limit: number): EventRow[] {
    const out: EventRow[] = [];
    let chars = 0;
    for (const r of this.st.selectEventsAfter.iterate(userId, afterSeq, limit) as IterableIterator<EventJoinRow>) {
      if (out.length > 0 && chars + (r.body?.length ?? 0) > ANSWER_BODY_CHARS) break;
      chars += r.body?.length ?? 0;
      out.push(toEventRow(r));
    }
    return out;
  }

  // --- messages -----------------------------------------------------------------------------

  /**
   * What an earlier send with the same sender and client_id decides for `m`: the original
   * message (same recipient and body), a conflict, or null when there was none (or m has no
   * client_id). Reads committed messages only; sendMessage asks again inside its transaction.
   */
  earlierSend(m: NewMessage): Extract<SendResult, { status: 'existing' | 'conflict' }> | null {
    if (m.clientId === null) return null;
    const existing = this.st.selectMessageByClientId.get(m.sender.id, m.clientId) as MessageRow | undefined;
    if (!existing) return null;
    const same = existing.recipientId === m.recipient.id && existing.body === m.body;
    return same ? { status: 'existing', message: existing } : { status: 'conflict' };
  }

  /**
   * Stores a message and its events in the next group commit; resolves after that commit.
   * A client_id already used by the sender returns the original message (same recipient and
   * body) or a conflict, decided inside the transaction so racing retries cannot both insert.
   */
  sendMessage(m: NewMessage): Promise<SendResult> {
    return this.writer.run((): SendResult => {
      const retry = this.earlierSend(m);
      if (retry) return retry;
      const sentAt = Date.now();
      const lo = Math.min(m.sender.id, m.recipient.id);
      const hi = Math.max(m.sender.id, m.recipient.id);
      const id = Number(
        this.st.insertMessage.run(m.sender.id, m.recipient.id, lo, hi, m.body, m.clientId, sentAt).lastInsertRowid,
      );
      const senderSeq = this.appendEvent(m.sender.id, KIND_MESSAGE, id, null);
      this.st.upsertConversationSent.run(m.sender.id, m.recipient.id, id);
      let recipientSeq: number | null = null;
      if (m.recipient.id !== m.sender.id) {
        recipientSeq = this.appendEvent(m.recipient.id, KIND_MESSAGE, id, null);
        this.st.upsertConversationReceived.run(m.recipient.id, m.sender.id, id);
      }
      const message: MessageRow = {
        id,
        senderId: m.sender.id,
        recipientId: m.recipient.id,
        from: m.sender.username,
        to: m.recipient.username,
        body: m.body,
        clientId: m.clientId,
        sentAt,
      };
      return { status: 'created', message, senderSeq, recipientSeq };
    });
  }

  /**
   * Moves the user's read marker for the conversation with `peer` forward to `upTo` and appends
   * a read event to the user's stream, in the next group commit. `upTo` must be a message of
   * that conversation. An older or equal `upTo` changes nothing and appends nothing.
   */
  markRead(user: User, peer: User, upTo: number): Promise<ReadResult> {
    return this.writer.run((): ReadResult => {
      const lo = Math.min(user.id, peer.id);
      const hi = Math.max(user.id, peer.id);
      const conv = this.st.selectMessageConversation.get(upTo) as { lo: number; hi: number } | undefined;
      if (!conv || conv.lo !== lo || conv.hi !== hi) return { status: 'not_found' };
      const current = (this.st.selectReadMarker.pluck().get(user.id, peer.id) as number | undefined) ?? 0;
      if (upTo <= current) return { status: 'unchanged', upTo: current };
      this.st.updateReadMarker.run({ upTo, lo, hi, peerId: peer.id, userId: user.id });
      const seq = this.appendEvent(user.id, KIND_READ, upTo, peer.id);
      return { status: 'moved', upTo, seq };
    });
  }

  /** The user's conversations, newest activity first, each with its last message and unread count. */
  conversations(userId: number): ConversationRow[] {
    const rows = this.st.selectConversations.all(userId) as Array<MessageRow & { peer: string; unread: number; readUpTo: number }>;
    return rows.map(({ peer, unread, readUpTo, ...m }) => ({ peer, unread, readUpTo, lastMessage: m }));
  }

  private appendEvent(userId: number, kind: number, messageId: number, peerId: number | null): number {
    return this.st.insertEvent.pluck().get({ userId, kind, messageId, peerId }) as number;
  }

  /**
   * One page of the conversation between two users, oldest first. `before`: the newest `limit`
   * messages below it; `after`: the oldest `limit` above it.
   */
  history(a: number, b: number, page: { before?: number; after?: number; limit: number }): HistoryPage {
    const lo = Math.min(a, b);
    const hi = Math.max(a, b);
    const forward = page.after !== undefined;
    const rows = forward
      ? this.st.selectHistoryAfter.iterate(lo, hi, page.after, page.limit + 1)
      : this.st.selectHistoryBefore.iterate(lo, hi, page.before ?? NO_UPPER_BOUND, page.limit + 1);
    // One extra row tells has_more; so does stopping early at the size budget (never before
    // the first message), which keeps a page of long messages around a megabyte.
    const messages: MessageRow[] = [];
    let chars = 0;
    let hasMore = false;
    for (const m of rows as IterableIterator<MessageRow>) {
      if (messages.length === page.limit || (messages.length > 0 && chars + m.body.length > ANSWER_BODY_CHARS)) {
        hasMore = true;
        break;
      }
      chars += m.body.length;
      messages.push(m);
    }
    return { messages: forward ? messages : messages.reverse(), hasMore };
  }

  /** Group commit so far: committed transactions and the writes they carried. */
  commitStats(): { batches: number; jobs: number; fallbacks: number } {
    return this.writer.stats();
  }

  countMessages(): number {
    return this.st.countMessages.pluck().get() as number;
  }

  // --- maintenance --------------------------------------------------------------------------

  /**
   * Changes whenever another connection (the admin command line) commits to the file, so the
   * server can notice revocations it did not make itself.
   */
  /**
   * SQLite's data_version, read now: it moves when another connection (the admin command line)
   * has written. What getDeviceAuth goes by for the rest of this turn, so that a caller that has
   * just seen it move (main's watcher) finds the cache already dropped.
   */
  dataVersion(): number {
    const v = this.st.dataVersion.pluck().get() as number;
    if (this.turnDataVersion < 0) setImmediate(this.endOfTurn);
    this.turnDataVersion = v;
    return v;
  }

  /**
   * An online backup to `file` (SQLite's backup API: consistent while the server writes). The
   * copy is switched out of WAL mode so it is one self-contained file, with no -wal or -shm
   * beside it, that can be moved, checked or restored on its own.
   */
  async backup(file: string): Promise<void> {
    this.flushWrites();
    await this.db.backup(file);
    const copy = new Database(file);
    try {
      copy.pragma('journal_mode = DELETE');
    } finally {
      copy.close();
    }
  }

  integrityCheck(): string {
    return (this.db.pragma('integrity_check', { simple: true }) as string) ?? 'unknown';
  }
}

export interface FileCheck {
  integrity: string;
  schemaVersion: number;
  users: number;
  messages: number;
}

/**
 * Checks a database file (a backup, say) without changing it: opened read-only, no migrations,
 * no pragmas written.
 */
export function checkDatabaseFile(file: string): FileCheck {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const integrity = String(db.pragma('integrity_check', { simple: true }));
    const schemaVersion = db.pragma('user_version', { simple: true }) as number;
    const count = (table: string): number =>
      schemaVersion > 0 ? (db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number) : 0;
    return { integrity, schemaVersion, users: count('users'), messages: count('messages') };
  } finally {
    db.close();
  }
}

export function openStore(file: string, opts: StoreOptions = {}): Store {
  return new Store(file, opts);
}
