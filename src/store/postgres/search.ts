// Search in history on PostgreSQL (issue #17), with the SQLite index's results on the same data
// (the shared contract, test/support/search-contract.ts, holds both to them). The text is
// prepared by the same code as SQLite's (../sqlite/search-text.ts: NFKC, each character of a
// script written without spaces a word of its own, words as unicode61 sees them), and each word
// is folded as unicode61 with remove_diacritics 2 folds it: no case, no diacritics; a lone mark
// (a Thai vowel sign set apart) is no word, as unicode61 drops it. The words are written as a
// tsvector with their positions (no text search configuration touches them), and a query as a
// tsquery of the same words:
// - one word: a prefix at the start of a word ('hel':* finds "Hello", never "shell");
// - one character of an unspaced script: that word ('开');
// - several words ("x-ray", "开会"): side by side in that order, the last a prefix
//   ('x' <-> 'ray':*), as FTS5's phrase "x ray"*;
// - a query word with no word in it ("%", a lone mark) finds nothing, as FTS5's empty phrase.
// User text never becomes tsquery syntax: every word is a quoted lexeme, and only words (letters,
// digits, marks) get that far. Authorization is part of the tsquery: the message's vector holds
// who may find it (db/postgres/003_search.sql) and the caller's scope is ANDed with the words.
import { foldWord, indexText, TOKEN, UNSPACED_ONE } from '../sqlite/search-text';
import { rows, type Queryable } from './db';
import { MESSAGE_COLUMNS, MESSAGE_JOINS, type Sql } from './queries';
import { unescapeNul } from './text';

/**
 * Code points a word keeps in the vector: PostgreSQL refuses a lexeme over 2047 bytes (4 per
 * code point at most). A query holds at most 200 characters (src/search.ts), so a query word
 * is cut only if NFKC made it longer than this; words sharing this much are then one word.
 */
const WORD_MAX = 500;
/**
 * tsvector positions end at 16383 (later words keep that position), and PostgreSQL keeps the
 * first 256 positions of a word: a phrase ("x-ray", CJK) past those in one message can be missed
 * there, where SQLite would find it. Words themselves are always found.
 */
const POSITION_MAX = 16383;
const LONE_MARK = /^\p{M}$/u;

/** The words of a text (or of one query word), folded, in order. */
export function searchWords(text: string): string[] {
  const out: string[] = [];
  for (const m of indexText(text).matchAll(TOKEN)) {
    const t = m[0];
    const folded = UNSPACED_ONE.test(t) ? (LONE_MARK.test(t) ? '' : t.toLowerCase()) : foldWord(t);
    if (folded === '') continue;
    const points = Array.from(folded);
    out.push(points.length > WORD_MAX ? points.slice(0, WORD_MAX).join('') : folded);
  }
  return out;
}

/** A lexeme in tsvector or tsquery syntax: quoted, a quote doubled and a backslash escaped. */
function lexeme(s: string): string {
  return `'${s.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;
}

/** Who may find a 1:1 message: both sides (one for a note to self) and the conversation. */
export function directScope(senderId: number, recipientId: number): string[] {
  const lo = Math.min(senderId, recipientId);
  const hi = Math.max(senderId, recipientId);
  return lo === hi ? [`#u${lo}`, conversationScope(lo, hi)] : [`#u${lo}`, `#u${hi}`, conversationScope(lo, hi)];
}

/** Who may find a group message: the group's members at the time of the search. */
export function groupScope(groupId: number): string {
  return `#g${groupId}`;
}

function conversationScope(a: number, b: number): string {
  return `#c${Math.min(a, b)}x${Math.max(a, b)}`;
}

/** The tsvector text of a message: its words at their positions, and its scope. */
export function searchVector(body: string, scope: readonly string[]): string {
  const positions = new Map<string, number[]>();
  let pos = 0;
  for (const w of searchWords(body)) {
    pos = Math.min(pos + 1, POSITION_MAX);
    const list = positions.get(w);
    if (list) list.push(pos);
    else positions.set(w, [pos]);
  }
  const parts = [...positions].map(([w, ps]) => `${lexeme(w)}:${ps.join(',')}`);
  for (const s of scope) parts.push(lexeme(s));
  return parts.join(' ');
}

/** Whose messages a search may find. */
export type SearchScope =
  /** The user's 1:1 messages and those of the groups given (the ones they are in now). */
  | { kind: 'user'; userId: number; groupIds: readonly number[] }
  | { kind: 'conversation'; a: number; b: number }
  | { kind: 'group'; groupId: number };

/** The tsquery text for `words` within `scope`; null when a word holds no word (nothing matches). */
export function searchQuery(scope: SearchScope, words: readonly string[]): string | null {
  const parts = [scopeQuery(scope)];
  for (const w of words) {
    const ws = searchWords(w);
    if (ws.length === 0) return null;
    const only = ws.length === 1 ? ws[0] : undefined;
    if (only !== undefined && UNSPACED_ONE.test(only)) parts.push(lexeme(only));
    else parts.push(`(${ws.map((x, i) => (i === ws.length - 1 ? `${lexeme(x)}:*` : lexeme(x))).join(' <-> ')})`);
  }
  return parts.join(' & ');
}

function scopeQuery(scope: SearchScope): string {
  switch (scope.kind) {
    case 'conversation':
      return lexeme(conversationScope(scope.a, scope.b));
    case 'group':
      return lexeme(groupScope(scope.groupId));
    case 'user':
      return `(${[`#u${scope.userId}`, ...scope.groupIds.map(groupScope)].map(lexeme).join(' | ')})`;
  }
}

export const SEARCH_Q = {
  // The groups a user is in now: whose messages their search may find.
  selectGroupIdsOfUser: {
    name: 'select_group_ids_of_user',
    text: `SELECT group_id AS "groupId" FROM group_members WHERE user_id = $1 ORDER BY group_id`,
  },
  // Newest first, below $2, at most $3: the scope and the words in one tsquery ($1), answered
  // by the GIN index on messages.search.
  selectSearch: {
    name: 'select_search',
    text: `SELECT ${MESSAGE_COLUMNS} FROM messages m ${MESSAGE_JOINS}
           WHERE m.search @@ $1::tsquery AND m.id < $2 ORDER BY m.id DESC LIMIT $3`,
  },
  selectSearchColumn: {
    name: 'select_search_column',
    text: `SELECT 1 AS one FROM information_schema.columns
           WHERE table_schema = current_schema() AND table_name = 'messages' AND column_name = 'search'`,
  },
  selectUnindexed: {
    name: 'select_unindexed',
    text: `SELECT id, sender_id AS "senderId", recipient_id AS "recipientId", group_id AS "groupId", body, body_escaped AS "bodyEscaped"
           FROM messages WHERE search IS NULL ORDER BY id LIMIT $1`,
  },
  updateSearch: {
    name: 'update_search',
    text: `UPDATE messages m SET search = v.search::tsvector FROM unnest($1::bigint[], $2::text[]) AS v(id, search) WHERE m.id = v.id`,
  },
} satisfies Record<string, Sql>;

/** Messages indexed per statement while filling. */
const FILL_BATCH = 500;

/**
 * Indexes messages stored before search existed (db/postgres/003_search.sql), oldest first, a
 * batch per statement; run by the process that migrates, under the migration lock. Returns how
 * many it indexed.
 */
export async function fillSearch(c: Queryable): Promise<number> {
  // A schema from before 003 (a store opened on older migrations) has nothing to fill.
  if ((await rows(c, SEARCH_Q.selectSearchColumn, [])).length === 0) return 0;
  let done = 0;
  for (;;) {
    const batch = await rows<{
      id: number;
      senderId: number;
      recipientId: number | null;
      groupId: number | null;
      body: string;
      bodyEscaped: boolean;
    }>(c, SEARCH_Q.selectUnindexed, [FILL_BATCH]);
    if (batch.length === 0) return done;
    const vectors = batch.map((m) => {
      const body = m.bodyEscaped ? unescapeNul(m.body) : m.body;
      const scope = m.groupId !== null ? [groupScope(m.groupId)] : directScope(m.senderId, m.recipientId ?? m.senderId);
      return searchVector(body, scope);
    });
    await rows(c, SEARCH_Q.updateSearch, [batch.map((m) => m.id), vectors]);
    done += batch.length;
  }
}
