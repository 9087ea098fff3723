// What the SQLite search index (db/006_search.sql) holds and how a query reads it (issue #17).
// The same preparation is applied to a message's text when it is indexed and to each word of a
// query, so the two always meet in the same form.
//
// The rules the contract asks for, and how they come out of FTS5's unicode61 tokenizer:
// - Words are runs of letters and digits; case and diacritics are folded ("HEL" finds "Hello",
//   "cafe" finds "café"); NFKC first, so full-width "ｈｅｌｌｏ" is "hello" and ligatures are letters.
// - A word of the query matches at the start of a word of the text ("hel" finds "hello", never
//   "shell", since "shell" is one token starting with "s").
// - Scripts written without spaces (Chinese, Japanese, Thai, ...) have no word boundaries for
//   unicode61 to find: a whole sentence would be one token, found only by its first
//   characters. So every character of those scripts is set apart as a word of its own, in the
//   text and in the query alike, and a query word becomes a phrase of those characters, which
//   matches them side by side anywhere ("开会" is the phrase 开 会 and finds "今天开会").
//   Measured against trigram: trigram finds "shell" for "hel" (it matches inside words) and
//   nothing for a query of one or two characters (most Chinese words are two).
// - User text is never query syntax: each word is a quoted FTS5 string (a quote doubled), so
//   NEAR, OR, AND, NOT, -, ^, *, :, parentheses and column names are plain characters inside
//   it, which the tokenizer then drops or keeps as text. Only this module writes the operators.
//
// Speed: FTS5 answers a prefix query ("messag"*) by first merging the entries of every word
// that starts with it, across all messages, before it can intersect them with the caller's:
// half a second for a word in each of a million messages. Prefixes of up to PREFIX_INDEXED
// characters have an index of their own (prefix='1 2 3'), which FTS5 walks lazily like a word.
// Longer ones are looked up in search_terms, the index's words by their folded form, and become
// "any of these words" (at most EXPANSION_MAX, each walked lazily); more than that, or none
// (search_terms may miss a word whose folding differs from unicode61's), and the plain prefix
// query does it, whatever it costs.

/**
 * Characters of scripts written without spaces between words. Script_Extensions, so marks the
 * scripts share (the Japanese long-vowel mark ー, the iteration mark 々) go with them.
 */
const UNSPACED = /[\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}\p{scx=Bopomofo}\p{scx=Thai}\p{scx=Lao}\p{scx=Khmer}\p{scx=Myanmar}]/gu;
export const UNSPACED_ONE =
  /^[\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}\p{scx=Bopomofo}\p{scx=Thai}\p{scx=Lao}\p{scx=Khmer}\p{scx=Myanmar}]$/u;
/** A word as unicode61 sees one, near enough: letters, digits, private use, and marks. */
export const TOKEN = /[\p{L}\p{N}\p{Co}\p{M}]+/gu;
const MARKS = /\p{M}/gu;
const DIGITS = /^\p{Nd}+$/u;

/** The longest prefix with an index of its own (db/006_search.sql: prefix='1 2 3'). */
export const PREFIX_INDEXED = 3;
/** The most words a longer prefix is expanded to before the plain prefix query is cheaper. */
export const EXPANSION_MAX = 64;

/** ASCII, which NFKC leaves as it is and which holds no unspaced script. */
const ASCII = /^\p{ASCII}*$/u;
/** TOKEN within ASCII. */
const ASCII_TOKEN = /[A-Za-z0-9]+/g;

/** A text as the index holds it: NFKC, and each character of an unspaced script a word of its own. */
export function indexText(text: string): string {
  return ASCII.test(text) ? text : text.normalize('NFKC').replace(UNSPACED, ' $& ');
}

/** A word compared without case or diacritics: the key search_terms keeps words under. */
export function foldWord(word: string): string {
  return word.normalize('NFD').replace(MARKS, '').toLowerCase();
}

/**
 * The words of an indexed text that search_terms keeps: those longer than the indexed prefixes
 * (shorter ones are found through the prefix index) and not only digits, lowercase, once each,
 * with their key; none that `skip` says is there already.
 */
export function termsOf(prepared: string, skip?: (term: string) => boolean): { key: string; term: string }[] {
  // In ASCII (most messages) a word is letters and digits, none of an unspaced script, and
  // lowercase is already folded: the same words, without the Unicode work on every send.
  const ascii = ASCII.test(prepared);
  const seen = new Set<string>();
  const out: { key: string; term: string }[] = [];
  for (const word of prepared.match(ascii ? ASCII_TOKEN : TOKEN) ?? []) {
    const term = word.toLowerCase();
    if (seen.has(term) || skip?.(term) === true || (!ascii && UNSPACED_ONE.test(term))) continue;
    seen.add(term);
    const key = ascii ? term : foldWord(term);
    // Numbers are left out: most are rare (an order number, a time), so their prefix query is
    // cheap, and keeping each one here made every send pay for a new row (bench/README.md).
    if (key.length > PREFIX_INDEXED && !DIGITS.test(key)) out.push({ key, term });
  }
  return out;
}

/**
 * Who may find a 1:1 message (see db/006_search.sql): both sides, the lower id first, so that
 * the conversation is the phrase "u<lo> u<hi>", which no other conversation's scope holds. A
 * note to self has one side, and its conversation a word of its own, "c<id>x<id>".
 *
 * Messages indexed before 2026-12-03 also hold "c<lo>x<hi>" after both sides; the phrase finds
 * them as well. Two words instead of three (each with its prefix entries) made a send's index
 * write about a tenth cheaper (bench/README.md, #17).
 */
export function directScope(senderId: number, recipientId: number): string {
  const lo = Math.min(senderId, recipientId);
  const hi = Math.max(senderId, recipientId);
  return lo === hi ? `u${lo} ${selfToken(lo)}` : `u${lo} u${hi}`;
}

/** Who may find a group message: the group's members at the time of the search. */
export function groupScope(groupId: number): string {
  return `g${groupId}`;
}

function selfToken(id: number): string {
  return `c${id}x${id}`;
}

/** Whose messages a search may find: one of the scope's words (or a conversation's phrase) must be in a match. */
export type SearchScope =
  /** The user's 1:1 messages and those of the groups given (the ones they are in now). */
  | { kind: 'user'; userId: number; groupIds: readonly number[] }
  | { kind: 'conversation'; a: number; b: number }
  | { kind: 'group'; groupId: number };

/** One quoted FTS5 string: the only escape inside one is a doubled quote. */
function quoted(s: string): string {
  return `"${s.replaceAll('"', '""')}"`;
}

/** The words of search_terms whose key starts with `key`: at most `max`, in key order. */
export type ExpandPrefix = (key: string, max: number) => string[];

/**
 * The MATCH expression for `words` (each holds a letter or a digit; see src/search.ts) within
 * `scope`: the scope's word or phrase in the scope column, and every word in the body column,
 * at the start of a word (see the top of this file for how).
 */
export function matchExpression(scope: SearchScope, words: readonly string[], expand: ExpandPrefix): string {
  const parts = [`scope : ${scopeExpression(scope)}`];
  for (const w of words) {
    const text = indexText(w).trim();
    if (text !== '') parts.push(`body : ${wordExpression(text, expand)}`);
  }
  return parts.join(' AND ');
}

function scopeExpression(scope: SearchScope): string {
  switch (scope.kind) {
    case 'conversation':
      return scope.a === scope.b ? quoted(selfToken(scope.a)) : quoted(`u${Math.min(scope.a, scope.b)} u${Math.max(scope.a, scope.b)}`);
    case 'group':
      return quoted(groupScope(scope.groupId));
    case 'user':
      return scope.groupIds.length === 0
        ? quoted(`u${scope.userId}`)
        : `(${[`u${scope.userId}`, ...scope.groupIds.map(groupScope)].map(quoted).join(' OR ')})`;
  }
}

function wordExpression(text: string, expand: ExpandPrefix): string {
  const tokens = text.match(TOKEN) ?? [];
  const only = tokens.length === 1 ? tokens[0] : undefined;
  // A phrase (several words: "x-ray", or characters of an unspaced script) stays a phrase,
  // its last word a prefix; one character of an unspaced script is a word, never a prefix.
  if (only === undefined) return `${quoted(text)}*`;
  if (UNSPACED_ONE.test(only)) return quoted(only);
  const key = foldWord(only);
  if (key.length <= PREFIX_INDEXED) return `${quoted(only)}*`;
  const terms = expand(key, EXPANSION_MAX + 1);
  if (terms.length === 0 || terms.length > EXPANSION_MAX) return `${quoted(only)}*`;
  return `(${terms.map(quoted).join(' OR ')})`;
}
