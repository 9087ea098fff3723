// The store seam: what the domain needs from storage, in the domain's terms, and the promises
// every backend must keep. SQLite (./sqlite) implements it today; PostgreSQL (issue #16) is
// the next. Nothing here knows SQL. The domain (everything that takes a Core) sees only this
// interface; main.ts and the admin command line open the backend and use what only it has.
//
// Every method that reads or writes stored data returns a promise, so that a networked backend
// fits; the SQLite backend does its work synchronously and returns settled promises (its sends
// still resolve only after their group commit). noteDeviceSeen is the one write that is not
// awaited: the poll path records acknowledgements without waiting for them (see it below).
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
  MessageRow,
  ReadResult,
  SendResult,
  User,
  UserSummary,
  UserWithSecret,
} from '../types';

/**
 * Code points (characters, as the API counts them) of message bodies in one answer, a poll's
 * events or a history page: about 1 MiB of JSON at most. See answerBudget().
 */
export const ANSWER_BODY_CHARS = 256 * 1024;

export interface NewMessage {
  sender: User;
  recipient: User;
  body: string;
  clientId: string | null;
  /**
   * The sender's device, when a device sends: if it no longer exists when the send commits (logged
   * out or revoked while the request was under way), nothing is stored ({ status: 'revoked' }).
   */
  device?: string;
}

/** A message to a group (issue #15). */
export interface NewGroupMessage {
  sender: User;
  groupId: number;
  body: string;
  clientId: string | null;
  /** As NewMessage's: a device that no longer exists when the send commits stores nothing. */
  device?: string;
}

/**
 * Who changes a group: the user, and the device asking when one does. As a send's device: if it
 * no longer exists when the change commits (logged out or revoked after its request
 * authenticated), nothing changes: 'revoked'.
 */
export interface GroupActor extends User {
  device?: string;
}

export interface NewDevice {
  id: string;
  userId: number;
  name: string;
  /** sha256 of the token's secret; the token itself is never stored. */
  tokenHash: Buffer;
}

/** What a log-in checked the password against: the device is made only if it is still current. */
export interface CheckedCredentials {
  passwordHash: string;
}

export type CreateDeviceResult =
  | {
      status: 'created';
      device: Device;
      /** Devices of the user deleted to make room (see createDevice): their ids. */
      evicted: string[];
    }
  /** The password was changed (reset) after it was checked: no device. */
  | { status: 'stale' }
  /** The account was disabled after it was checked: no device. */
  | { status: 'disabled' };

/** What deleteDevice did: 'revoked' is the device asking, itself gone meanwhile (nothing deleted). */
export type DeleteDeviceResult = 'deleted' | 'not_found' | 'revoked';

/** What an earlier send with the same sender and client_id decides for a new one. */
export type EarlierSend = Extract<SendResult, { status: 'existing' | 'conflict' }>;

/** A store answer to a read marker of a group: as markRead's. */
export type GroupReadResult = ReadResult;

export interface HistoryQuery {
  /** The newest `limit` messages below this id (none given, and no `after`: the newest). */
  before?: number;
  /** The oldest `limit` messages above this id. */
  after?: number;
  limit: number;
}

/** A search in history (issue #17): what the caller asked for, in the domain's terms. */
export interface SearchQuery {
  /**
   * Words that must all be in a message's text, each at the start of one of its words (in
   * scripts written without spaces, anywhere): src/search.ts says what a word is. At least one.
   */
  words: readonly string[];
  /** Only the conversation between the caller and this user. */
  peerId?: number;
  /** Only this group's messages (the caller must be a member now); not with peerId. */
  groupId?: number;
  /** Only messages with an id below this one. */
  before?: number;
  limit: number;
}

export interface CommitStats {
  /** Transactions that carried writes (a backend without group commit: one per write). */
  batches: number;
  /** Writes (sends, read markers) they carried. */
  jobs: number;
  /** Batches that failed and were retried one write at a time. */
  fallbacks: number;
}

/**
 * Storage as the domain sees it. What every backend must guarantee, beyond each method's own
 * description (test/support/store-contract.ts holds them to it; run it for a new backend):
 *
 * - Stream order. Each user has one event stream, positions 1, 2, 3... with no gaps. Positions
 *   are handed out so that commit order is position order within a stream: a reader that has
 *   seen position N never later finds a new event below N (a plain database sequence does not
 *   give this with several writers; SQLite's single writer does; PostgreSQL must hand them out
 *   while the writing transaction holds the user's stream row).
 * - Durable acknowledgement. sendMessage and markRead resolve only after their transaction has
 *   committed, so the domain publishes (wakes polls) only what can no longer be rolled back.
 * - Idempotent sends. One message per (sender, client_id), also when retries race each other:
 *   a repeat with the same recipient (or group) and body returns the original, anything else
 *   (another recipient, another group, a group instead of a user) a conflict; decided inside
 *   the writing transaction, enforced by a unique key.
 * - Groups (issue #15). A group message is stored once and appended to the stream of every
 *   member at the time of its commit; a change to a group (created, renamed, member added,
 *   removed, left) is appended, with the group's state after it, to the stream of every member
 *   after it and of the member who was removed or left. Sends, changes and read markers of a
 *   group are serialized with each other (SQLite: one writer; PostgreSQL: lock the group's row
 *   first), so a member removed at position N of their stream gets nothing of the group after
 *   N, and a member added gets every message committed after the add. Membership is checked in
 *   the writing or reading transaction itself, never before it. A group that loses its last
 *   member is gone for good: every group method answers for it as for a group that never was.
 * - Searchable at once (issue #17). A search finds every message stored before it: on
 *   PostgreSQL the index is written in the transaction that stores the message; on SQLite it
 *   follows the messages a batch at a time and catches up before each search (#18; that store
 *   is one process's), and what it had not taken when a server stopped is indexed as the store
 *   opens. A database that had no index gets one, filled, when it opens. Who may find a message is decided inside the search itself: the two sides of a 1:1
 *   message, and the members of its group at the time of the search.
 * - Bounded answers. eventsAfter, history and search stop early, never before their first row, once
 *   the bodies they hold would pass ANSWER_BODY_CHARS code points (answerBudget() decides).
 * - Coherent devices. A device deleted (log-out, revocation, password reset, disabled account)
 *   is refused by getDeviceAuth at once in the store that deleted it, and by every other store
 *   on the same data soon after (SQLite: from the next turn of the event loop, and in every
 *   write transaction as it begins); an
 *   acknowledgement recorded with noteDeviceSeen is visible at once to listDevices and
 *   getDeviceAuth, and cursors only move forward.
 * - Log-in against current credentials. createDevice makes the device only if the password
 *   hash it was checked against is still the user's and the account is not disabled, checked in
 *   the transaction that inserts the device, so a reset or a disable ends a log-in in progress.
 * - Writes by current devices. sendMessage, markRead, the group changes and the deletions of
 *   devices a device asks for write nothing for a device that no longer exists, checked in the
 *   transaction that would write, so a log-out ends such a request in progress (#13).
 * - Bounded devices. createDevice keeps a user within `maxDevices` by deleting their least
 *   recently used devices in the same transaction; listDevices with a limit reads no more than
 *   that; deleteIdleDevices removes what has not been used since a time. "Used" is the last
 *   time recorded with noteDeviceSeen, written or not.
 */
export interface Store {
  // --- users --------------------------------------------------------------------------------

  /** A new user, or null when the name is taken (also when a racing sign-up took it first). */
  createUser(username: string, passwordHash: string): Promise<User | null>;
  /** The user with their password hash and status, read fresh: log-ins and sign-ups. */
  findUser(username: string): Promise<UserWithSecret | undefined>;
  /**
   * A user's id and name, for addressing: may be cached (a name never changes owner and users
   * are never deleted); an unknown name is never cached (it may sign up).
   */
  userByName(username: string): Promise<User | undefined>;
  /** Every user with their device count, by name: administration. */
  listUsers(): Promise<UserSummary[]>;
  /** A new password hash; every device of the user is deleted in the same transaction. Returns their ids. */
  setPassword(userId: number, passwordHash: string): Promise<string[]>;
  /**
   * Disables (a time) or enables (null) a user. Disabling deletes every device of the user in
   * the same transaction; returns their ids (none when enabling).
   */
  setDisabled(userId: number, at: number | null): Promise<string[]>;

  // --- devices ------------------------------------------------------------------------------

  /**
   * A new device at the head of its user's stream (it has seen nothing yet), made only if
   * `checked` is still the user's password hash and the account is not disabled. The user then
   * has at most `maxDevices` devices: as many of their least recently used ones as it takes
   * (oldest last use first, then oldest created) are deleted in the same transaction, and their
   * ids returned as `evicted`.
   */
  createDevice(d: NewDevice, checked: CheckedCredentials, maxDevices: number): Promise<CreateDeviceResult>;
  /** A device with what authentication needs; undefined when it does not exist (or its user is disabled). */
  getDeviceAuth(id: string): Promise<DeviceAuth | undefined>;
  /**
   * The user's devices, oldest first, with their newest acknowledgements. With `limit`, at most
   * that many: the most recently used (a user has more than the cap only while devices made
   * under a higher one remain).
   */
  listDevices(userId: number, limit?: number): Promise<Device[]>;
  /**
   * Deletes one of the user's devices: 'not_found' when it is not theirs or does not exist. `by`
   * is the device asking, when one of the user's devices asks: if it no longer exists when the
   * delete commits (logged out or revoked after its request authenticated), nothing is deleted:
   * 'revoked'. A lost phone logged out from the laptop cannot then log out the laptop (#13).
   */
  deleteDevice(id: string, userId: number, by?: string): Promise<DeleteDeviceResult>;
  /**
   * Deletes every device of a user, or every one but `keep` (the device asking); returns their
   * ids. null, and nothing deleted, when `keep` no longer exists as this commits (as deleteDevice's `by`).
   */
  deleteDevicesOfUser(userId: number, keep?: string): Promise<string[] | null>;
  /**
   * Deletes up to `limit` devices, of any user, last used before `usedBefore` (milliseconds
   * since the epoch), least recently used first; returns their ids. Fewer than `limit` ids does
   * not promise that none is left (a backend may skip rows it finds in use meanwhile).
   */
  deleteIdleDevices(usedBefore: number, limit: number): Promise<string[]>;
  /**
   * Records that a device polled with `cursor` (its acknowledgement) at `now`. Not awaited: it
   * is visible to reads at once and may be written later, batched (a crash may lose the last
   * moments of acknowledgements, which only means a device that also lost its own cursor sees
   * those events again; flush() and close() write them all).
   */
  noteDeviceSeen(id: string, now: number, cursor?: number): void;

  // --- the event stream ---------------------------------------------------------------------

  /**
   * The last position in the user's stream (0 for an empty stream). Never beyond what is
   * committed; after another process's write it may lag as its caches do (SQLite answers from
   * memory and sees such a write from the next turn of the event loop, as its device cache does).
   * `fresh`: read from the database, never from memory: before refusing a cursor as ahead of
   * the stream, which a lagging head must never do.
   */
  headSeq(userId: number, fresh?: boolean): Promise<number>;
  /** Up to `limit` events after `afterSeq`, oldest first, within the answer budget. */
  eventsAfter(userId: number, afterSeq: number, limit: number): Promise<EventRow[]>;

  // --- messages -----------------------------------------------------------------------------

  /**
   * What an earlier committed send with m's sender and client_id decides for m: the original
   * (same recipient and body), a conflict, or null (none, or m has no client_id). A read only:
   * for answering a retry without storing anything (past a rate limit).
   */
  earlierSend(m: NewMessage): Promise<EarlierSend | null>;
  /**
   * Stores a message and appends it to the sender's and the recipient's streams (once for a
   * note to self); resolves after the commit. Idempotent by (sender, client_id): see Store.
   */
  sendMessage(m: NewMessage): Promise<SendResult>;
  /**
   * Moves the user's read marker for the conversation with `peer` forward to `upTo` (a message
   * of that conversation) and appends a read event to the user's stream; resolves after the
   * commit. An older or equal `upTo` changes nothing and appends nothing. `device`, the reading
   * device when a device reads: as a send's, if it no longer exists when the marker commits
   * (logged out or revoked after the request authenticated), nothing moves: 'revoked'.
   */
  markRead(user: User, peer: User, upTo: number, device?: string): Promise<ReadResult>;
  /** The user's conversations, newest activity first, each with its last message and unread count. */
  conversations(userId: number): Promise<ConversationRow[]>;
  /** One page of the conversation between two users, oldest first, within the answer budget. */
  history(a: number, b: number, page: HistoryQuery): Promise<HistoryPage>;
  /**
   * Messages the user can see (their 1:1 conversations, and the groups they are a member of at
   * the time of the search) that hold every word of the query, newest first, at most `limit`,
   * within the answer budget; hasMore says whether older matches exist. Who may see what is
   * part of the query itself, never a filter after a limit. null: `groupId` is not a group the
   * user is in now.
   */
  search(userId: number, query: SearchQuery): Promise<HistoryPage | null>;
  /** Messages stored in all (for metrics; may be an estimate that never goes down). */
  countMessages(): Promise<number>;

  // --- groups (issue #15) ---------------------------------------------------------------------
  // Every change below answers 'revoked', and changes nothing, when its actor's device is gone
  // as it commits (GroupActor).

  /**
   * A new group owned by `owner`, whose members are the owner and then `members` in that order
   * (their join order; duplicates and the owner again are ignored); refused as 'full' with more
   * than `limits.groupMembersMax` members in all, and as 'user_full' (naming the first such user)
   * when one of them is a member of `limits.groupsPerUserMax` groups already: nothing is created.
   * Its 'created' event reaches every member.
   */
  createGroup(owner: GroupActor, name: string, members: User[], limits: GroupLimits): Promise<GroupChangeResult>;
  /** The group, if `userId` is a member of it now. */
  groupOf(userId: number, groupId: number): Promise<GroupRow | undefined>;
  /** The user's groups, latest message first (a group without one by its creation), with their read state. */
  groupsOf(userId: number): Promise<GroupConversationRow[]>;
  /** Renames the group if `actor` is a member; the same name again changes nothing. */
  renameGroup(actor: GroupActor, groupId: number, name: string): Promise<GroupChangeResult>;
  /**
   * Adds `user` if `actor` is a member ('unchanged' when already one; 'full' at
   * `limits.groupMembersMax` members; 'user_full' when `user` is in `limits.groupsPerUserMax`
   * groups already). Both counted in the transaction that adds: concurrent adds never pass them.
   * The new member's read marker starts at the group's last message.
   */
  addGroupMember(actor: GroupActor, groupId: number, user: User, limits: GroupLimits): Promise<GroupChangeResult>;
  /**
   * Removes `user` from the group: `actor` themselves (leaving), or the owner removing anyone
   * ('forbidden' for another member); `actor` null is an administrator. When the owner goes, the
   * member who joined earliest becomes owner; when the last member goes, the group is gone (its
   * last event shows no members and no owner).
   */
  removeGroupMember(actor: GroupActor | null, groupId: number, user: User): Promise<GroupChangeResult>;
  /** Stores a group message and appends it to every member's stream; 'not_found' unless the sender is a member. */
  sendGroupMessage(m: NewGroupMessage): Promise<GroupSendResult>;
  /** earlierSend() for a group message. */
  earlierGroupSend(m: NewGroupMessage): Promise<EarlierSend | null>;
  /** One page of a group's history if `userId` is a member now (else null): the whole history, from before they joined too. */
  groupHistory(userId: number, groupId: number, page: HistoryQuery): Promise<HistoryPage | null>;
  /** markRead() for a group the user is a member of ('revoked' likewise); 'not_found' for anything else. */
  markGroupRead(user: User, groupId: number, upTo: number, device?: string): Promise<GroupReadResult>;
  /** Every group that still has members, by id: administration. */
  listGroups(): Promise<GroupSummary[]>;
  /** A group's members in join order (undefined: no such group, or gone): administration. */
  groupMembers(groupId: number): Promise<GroupMemberRow[] | undefined>;

  // --- running ------------------------------------------------------------------------------

  /** Write batching so far, from memory (no stored data): for metrics. */
  commitStats(): CommitStats;
  /** Writes what is deferred (device acknowledgements) and queued, now. */
  flush(): Promise<void>;
  /** Writes what is deferred and queued, then closes; later calls are refused. Idempotent. */
  close(): Promise<void>;
}

/**
 * The answer budget (see ANSWER_BODY_CHARS), shared by every backend so they stop at the same
 * row. Counts code points, as the API counts characters, at no cost on the common path: a
 * string's length in UTF-16 units is never less than its code points, so code points are
 * counted only once the units alone would pass the budget (answers of many long messages).
 *
 * take(body) says whether a row with that body still fits; the first row always does.
 */
export function answerBudget(limit = ANSWER_BODY_CHARS): { take(body: string): boolean } {
  /** Bodies taken while only their units were counted (an upper bound of their code points). */
  const taken: string[] = [];
  let units = 0;
  /** Exact code points taken; -1 while the units alone are within the limit. */
  let points = -1;
  return {
    take(body) {
      if (points < 0) {
        if (taken.length === 0 || units + body.length <= limit) {
          taken.push(body);
          units += body.length;
          return true;
        }
        points = 0;
        for (const s of taken) points += codePoints(s);
      }
      const p = codePoints(body);
      if (points + p > limit) return false;
      points += p;
      return true;
    },
  };
}

/**
 * One page of history from rows read `page.limit + 1` at most, newest first (`before`) or oldest
 * first (`after`): returned oldest first. The extra row tells has_more; so does stopping early at
 * the answer budget (never before the first message), which keeps a page of long messages around
 * a megabyte. Shared by every backend and by 1:1 and group histories, so they page alike.
 */
export function historyPage(rows: Iterable<MessageRow>, page: HistoryQuery): HistoryPage {
  const { messages, hasMore } = budgetedPage(rows, page.limit);
  return { messages: page.after !== undefined ? messages : messages.reverse(), hasMore };
}

/**
 * Up to `limit` of `rows` (asked for with one more), in their order, within the answer budget;
 * hasMore when a row was left. historyPage and search pages (newest first) are made with it.
 */
export function budgetedPage(rows: Iterable<MessageRow>, limit: number): HistoryPage {
  const messages: MessageRow[] = [];
  const budget = answerBudget();
  let hasMore = false;
  for (const m of rows) {
    if (messages.length === limit || !budget.take(m.body)) {
      hasMore = true;
      break;
    }
    messages.push(m);
  }
  return { messages, hasMore };
}

/** Code points of a string: its UTF-16 units less one for each surrogate pair. */
export function codePoints(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}
