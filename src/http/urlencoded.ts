// The one parser of URL-encoded text: query strings (both lanes) and form bodies. Strict where
// node:querystring and qs are lenient (#13, items 8 and 9): a bad percent-escape or bytes that
// are not UTF-8 are refused, never kept as literal text or turned into U+FFFD, and more
// parameters than the server reads anywhere are refused, never silently cut at the 1000th
// (which let a second `since` or a bad one hide behind 1000 junk parameters). `+` is a space;
// a repeated name gives an array, which the validators refuse as "must be given once"; brackets
// are no syntax (`to[a]=1` is a field named "to[a]").
import { Errors } from '../errors';
import type { Fields } from './validate';

/** Parameters one query string or form may hold: far more than any endpoint reads (six). */
export const PARAMS_MAX = 100;

/** What the text is, for the error: the query, or a form body. */
export type Source = 'query' | 'body';

const BAD_ENCODING = 'must be valid UTF-8, percent-encoded (%XX)';

/**
 * One name or value. (A query string holds only ASCII: Node's parser refuses a request line with
 * raw bytes above 0x7E, in the contract's shape, see client-errors.ts. A form body is text
 * already checked to be UTF-8.)
 */
function decode(s: string, field: string): string {
  const text = s.includes('+') ? s.replace(/\+/g, ' ') : s;
  if (!text.includes('%')) return text;
  try {
    // Strict: a `%` without two hex digits, or escapes that do not make UTF-8 (%FF, a
    // surrogate's %ED%A0%80), throw.
    return decodeURIComponent(text);
  } catch {
    throw Errors.invalidRequest(field, BAD_ENCODING);
  }
}

/** Parses `a=1&b=2&a=3` into { a: ['1', '3'], b: '2' } (no prototype: any name is a plain key). */
export function parseUrlEncoded(text: string, source: Source): Fields {
  const out = Object.create(null) as Record<string, string | string[]>;
  if (text === '') return out;
  let count = 0;
  for (const piece of text.split('&')) {
    if (piece === '') continue;
    if (++count > PARAMS_MAX) throw Errors.invalidRequest(source, `at most ${PARAMS_MAX} parameters`);
    const eq = piece.indexOf('=');
    const name = decode(eq === -1 ? piece : piece.slice(0, eq), source);
    const value = eq === -1 ? '' : decode(piece.slice(eq + 1), name);
    const had = out[name];
    if (had === undefined) out[name] = value;
    else if (Array.isArray(had)) had.push(value);
    else out[name] = [had, value];
  }
  return out;
}

/** A request's query string (the part of its URL after `?`), parsed. */
export function parseQuery(url: string): Fields {
  const q = url.indexOf('?');
  return parseUrlEncoded(q === -1 ? '' : url.slice(q + 1), 'query');
}
