// Search in history on SQLite (issue #17): writing messages into the index, in the transaction
// that stores them (messages.ts, groups.ts, through the group commit), and answering a search.
// What the index holds and how words become a MATCH is search-text.ts; the schema is
// db/006_search.sql.
import type { HistoryPage } from '../../types';
import { budgetedPage, type SearchQuery } from '../store';
import type { TransactionTail } from './group-commit';
import { NO_UPPER_BOUND } from './messages';
import type { Queries } from './queries';
import { indexText, matchExpression, type SearchScope, termsOf } from './search-text';

/** Words remembered as already in search_terms: about 100 bytes each. */
const KNOWN_TERMS_MAX = 50_000;

interface Pending {
  id: number;
  text: string;
  scope: string;
}

/**
 * The index writes of a transaction, made as its last statements (`write`, from the group
 * commit or the fill), not where each message is stored.
 *
 * Why at the end: FTS5 keeps what is inserted in memory and writes it out as a new segment of
 * the index when the transaction commits, but also whenever SQLite opens a statement savepoint
 * while the transaction holds index writes, which any statement with RETURNING does (every
 * event appended did until #18: queries.ts, insertEvent). Indexing each message where it was stored made one
 * segment per message, each merged again and again into larger ones: about 25 µs of CPU per
 * send, where a whole batch written at the end, one segment per commit, costs about 5
 * (bench/README.md, #17). The messages are searchable from the same commit either way.
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

  constructor(private readonly q: Pick<Queries, 'insertSearch' | 'insertSearchTerm'>) {}

  /** Makes a stored message searchable by whoever `scope` names (directScope, groupScope) when the transaction ends. */
  add(id: number, body: string, scope: string): void {
    this.pending.push({ id, text: indexText(body), scope });
  }

  /** The index writes of what `add` was given in this transaction: its last statements. */
  write(): void {
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
  }

  rolledBack(): void {
    this.pending = [];
    this.fresh.clear();
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
