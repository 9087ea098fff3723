// Search in history on SQLite (issue #17): keeping the index up with the messages, a batch at a
// time (#18), and answering a search. What the index holds and how words become a MATCH is
// search-text.ts; the schema is db/006_search.sql and db/009_search_follows.sql.
import type { Database } from 'better-sqlite3';
import type { HistoryPage } from '../../types';
import { budgetedPage, type SearchQuery } from '../store';
import type { TransactionTail } from './group-commit';
import { NO_UPPER_BOUND } from './messages';
import type { Queries, UnindexedMessage } from './queries';
import { directScope, groupScope, indexText, matchExpression, type SearchScope, termsOf } from './search-text';

/** Words remembered as already in search_terms: about 100 bytes each. */
const KNOWN_TERMS_MAX = 50_000;

/** Messages stored since the index last caught up that make it catch up with the next commit. */
const INDEX_BATCH = 256;

/** How long a stored message waits for the index at most when fewer than INDEX_BATCH follow it. */
const INDEX_DELAY_MS = 1000;

/** Messages indexed in one transaction at most, so that one catching up cannot hold the event loop long. */
export const INDEX_MAX = 2000;

interface Pending {
  id: number;
  text: string;
  scope: string;
}

/** Who may find a stored message: both sides of a 1:1 message (one, for a note to self), or its group. */
export function scopeOf(m: UnindexedMessage): string {
  return m.groupId === null ? directScope(m.senderId, m.recipientId ?? m.senderId) : groupScope(m.groupId);
}

/**
 * The search index, following the messages: a send only notes that it stored one
 * (`noteStored`), and the messages above the index's mark (search_indexed) are indexed as the
 * last statements of a group commit's transaction (`write`) once INDEX_BATCH have been stored,
 * INDEX_DELAY_MS after the first of them, or when a search is about to run (`hurry`, from
 * SqliteStore.search: a search finds every message stored before it).
 *
 * Why not in each send's transaction, as until #18: FTS5 keeps what is inserted in memory and
 * writes it out as a new segment of the index when the transaction commits, merged again and
 * again into larger ones later. That is a cost per commit, and a server that is not saturated
 * commits a message or two at a time: the index doubled what such a send cost the store (about
 * 100 µs of CPU instead of 50, bench/README.md, #18), where a batch of hundreds costs a few µs
 * a message. The index is derived from the messages, so what a crash leaves unindexed is read
 * back from them when the store opens (catchUpSearchIndex).
 *
 * Why at the end of the transaction: FTS5 also writes out its segment whenever SQLite opens a
 * statement savepoint while the transaction holds index writes (any statement with RETURNING
 * does), which would make one segment of each part of the batch.
 *
 * search_terms rows already committed are remembered (up to KNOWN_TERMS_MAX), so a word seen
 * before costs a lookup in a Set instead of an INSERT. Rows are never deleted, so what was
 * committed stays true; what a transaction wrote is remembered only once it has committed
 * (`committed`), and forgotten if it rolled back (`rolledBack`), lest a word be remembered
 * that is not in the table and its prefix search miss it.
 */
export class SearchIndexer implements TransactionTail {
  private pending: Pending[] = [];
  /** Words written by the transaction under way, remembered once it commits. */
  private readonly fresh = new Set<string>();
  private readonly known = new Set<string>();
  private readonly written = (term: string): boolean => this.known.has(term) || this.fresh.has(term);
  /** Messages this process stored since the index last caught up (some may have rolled back). */
  private stored = 0;
  /** The largest message id this process has committed, and the largest of the transaction under way. */
  private lastStored = 0;
  private storedInTransaction = 0;
  /** INDEX_DELAY_MS have passed since the first of `stored`. */
  private delayed = false;
  /** An index write failed: none is tried again before this (Date.now()), so writes go on without it. */
  private retryAt = 0;
  private lastError: unknown = null;
  /** The index's mark as of the last commit that moved it (or as the store opened). */
  private indexedUpTo: number;
  /** What the transaction under way indexed: the new mark, and whether INDEX_MAX cut it short. */
  private inTransaction: { upTo: number; more: boolean } | null = null;
  private more = false;
  private hurried = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly q: Pick<
      Queries,
      | 'insertSearch'
      | 'insertSearchTerm'
      | 'selectSearchIndexed'
      | 'updateSearchIndexed'
      | 'selectUnindexed'
      | 'searchSavepoint'
      | 'searchRelease'
      | 'searchRollback'
    >,
    /** Asks the group commit for a transaction soon (it then calls due() and write()). */
    private readonly schedule: () => void = () => undefined,
  ) {
    this.indexedUpTo = q.selectSearchIndexed.get() ?? 0;
  }

  /** A message was stored (in the transaction under way): the index takes it within INDEX_DELAY_MS. */
  noteStored(id: number): void {
    if (id > this.storedInTransaction) this.storedInTransaction = id;
    if (this.stored++ > 0 || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.delayed = true;
      this.schedule();
    }, INDEX_DELAY_MS);
    this.timer.unref();
  }

  /** The largest message id this process has committed (SqliteStore.search waits for the index to reach it). */
  get storedUpTo(): number {
    return this.lastStored;
  }

  /** The index's mark as committed: every message up to it is in the index. */
  get indexed(): number {
    return this.indexedUpTo;
  }

  /** Why the index could not be written, while it cannot (null once it could again). */
  get failure(): unknown {
    return this.lastError;
  }

  /** The next transaction indexes what is left (up to INDEX_MAX), due or not. */
  hurry(): void {
    this.hurried = true;
  }

  /** Whether the next transaction is to index: the group commit runs one for it, jobs or not. */
  due(): boolean {
    if (this.retryAt > 0 && Date.now() < this.retryAt) return false;
    if (this.more) return true;
    return this.stored > 0 && (this.hurried || this.delayed || this.stored >= INDEX_BATCH);
  }

  /**
   * The last statements of a transaction of the group commit: the index catches up, when due.
   * Under a savepoint of its own: should the index not take the writes (a damaged index), they
   * alone are undone and the transaction's sends commit without them; the index is tried again
   * INDEX_DELAY_MS later, and searches fail meanwhile rather than miss messages (index.ts).
   */
  write(): void {
    if (!this.due()) return;
    this.q.searchSavepoint.run();
    try {
      this.inTransaction = this.indexNext(INDEX_MAX);
      this.q.searchRelease.run();
    } catch (err) {
      this.pending = [];
      this.fresh.clear();
      this.retryAt = Date.now() + INDEX_DELAY_MS;
      this.lastError = err;
      // Should SQLite have rolled the whole transaction back (a full disk), this throws and the
      // group commit deals with it as with any failed write.
      this.q.searchRollback.run();
      this.q.searchRelease.run();
    }
  }

  /**
   * Indexes the messages above the mark, oldest first, at most `max`, and moves the mark, in the
   * caller's transaction; returns where the mark is now and whether messages are left above it.
   */
  indexNext(max: number): { upTo: number; more: boolean } {
    const from = this.q.selectSearchIndexed.get() ?? 0;
    const rows = this.q.selectUnindexed.all(from, max);
    for (const m of rows) this.add(m.id, m.body, scopeOf(m));
    this.writeAdded();
    const last = rows.at(-1);
    if (last) this.q.updateSearchIndexed.run(last.id);
    return { upTo: last?.id ?? from, more: rows.length === max };
  }

  /** Makes a stored message searchable by whoever `scope` names once writeAdded() runs (indexNext, search-fill.ts). */
  add(id: number, body: string, scope: string): void {
    this.pending.push({ id, text: indexText(body), scope });
  }

  /** The index writes of what `add` was given, in the caller's transaction. */
  writeAdded(): void {
    if (this.pending.length === 0) return;
    for (const p of this.pending) {
      for (const t of termsOf(p.text, this.written)) {
        this.q.insertSearchTerm.run(t.key, t.term);
        this.fresh.add(t.term);
      }
    }
    // After the search_terms rows: no statement of this transaction follows the index's own.
    for (const p of this.pending) this.q.insertSearch.run(p.id, p.text, p.scope);
    this.pending = [];
  }

  committed(): void {
    for (const term of this.fresh) {
      if (this.known.size >= KNOWN_TERMS_MAX) this.known.delete(this.known.values().next().value as string);
      this.known.add(term);
    }
    this.fresh.clear();
    if (this.storedInTransaction > this.lastStored) this.lastStored = this.storedInTransaction;
    this.storedInTransaction = 0;
    const done = this.inTransaction;
    this.inTransaction = null;
    if (!done) return;
    this.indexedUpTo = done.upTo;
    this.more = done.more;
    this.retryAt = 0;
    this.lastError = null;
    if (done.more) {
      this.schedule();
      return;
    }
    // Every message stored so far was in that transaction: write() is its last statement.
    this.stored = 0;
    this.hurried = false;
    this.delayed = false;
    this.stop(); // the next message stored starts the delay again
  }

  /** The transaction rolled back: its messages are not stored (an id it took is handed out again). */
  rolledBack(): void {
    this.pending = [];
    this.fresh.clear();
    this.inTransaction = null;
    this.storedInTransaction = 0;
  }

  /** No timed catching up until the next message stored (closing: the store indexes what is left when it next opens). */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

/**
 * Indexes every message above the index's mark, INDEX_MAX a transaction: when the store opens,
 * what a crash (or a stop before the index caught up) left.
 */
export function catchUpSearchIndex(db: Database, q: Queries): void {
  const index = new SearchIndexer(q);
  const batch = db.transaction(() => index.indexNext(INDEX_MAX));
  for (;;) {
    let more: boolean;
    try {
      more = batch.immediate().more;
    } catch (err) {
      index.rolledBack();
      throw err;
    }
    index.committed();
    if (!more) return;
  }
}

/**
 * The user's matches, newest first, or null when `groupId` is not a group they are in now. Run
 * it in one read transaction, so the groups read and the matches are of the same moment.
 */
export function searchMessages(q: Queries, userId: number, query: SearchQuery): HistoryPage | null {
  let scope: SearchScope;
  if (query.peerId !== undefined) {
    scope = { kind: 'conversation', a: userId, b: query.peerId };
  } else {
    // Authorization is the scope: the caller's 1:1 messages and the groups they are in now.
    const groupIds = q.selectGroupIdsOfUser.all(userId);
    if (query.groupId === undefined) scope = { kind: 'user', userId, groupIds };
    else if (groupIds.includes(query.groupId)) scope = { kind: 'group', groupId: query.groupId };
    else return null;
  }
  const expand = (key: string, max: number) => q.selectSearchTerms.all(key, `${key}\u{10FFFF}`, max);
  const match = matchExpression(scope, query.words, expand);
  return budgetedPage(q.selectSearch.iterate(match, query.before ?? NO_UPPER_BOUND, query.limit + 1), query.limit);
}
