// Search in history on SQLite (issue #17): writing a message into the index, in the
// transaction that stores it (messages.ts, groups.ts), and answering a search. What the index
// holds and how words become a MATCH is search-text.ts; the schema is db/006_search.sql.
import type { HistoryPage } from '../../types';
import { budgetedPage, type SearchQuery } from '../store';
import { NO_UPPER_BOUND } from './messages';
import type { Queries } from './queries';
import { indexText, matchExpression, type SearchScope, termsOf } from './search-text';

/** Makes a stored message searchable by whoever `scope` names (directScope, groupScope). */
export function indexForSearch(q: Pick<Queries, 'insertSearch' | 'insertSearchTerm'>, id: number, body: string, scope: string): void {
  const text = indexText(body);
  q.insertSearch.run(id, text, scope);
  for (const t of termsOf(text)) q.insertSearchTerm.run(t.key, t.term);
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
