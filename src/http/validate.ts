// Validation at the edge. Bodies and query strings are `unknown` until these functions have
// looked at them; every failure is a 400 invalid_request whose message names the field.
// Form bodies and query strings carry only strings, JSON bodies carry typed values: numbers
// are accepted as JSON numbers or as digit strings, so `curl -d up_to=5` and `{"up_to": 5}`
// mean the same.
import { Errors } from '../errors';

export type Fields = Record<string, unknown>;

/** A request body as a field map; anything else (an array, a bare string) is refused. */
export function asFields(body: unknown): Fields {
  if (body === undefined || body === null || body === '') return {};
  if (typeof body === 'object' && !Array.isArray(body)) return body as Fields;
  throw Errors.invalidRequest('body', 'must be a JSON object or a form');
}

/** Length in characters as people count them (code points), not UTF-16 units. */
export function charLength(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // A high surrogate followed by a low one is one code point: count the pair once.
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

interface StringRule {
  min?: number;
  max?: number;
  /** Refuse strings made only of white space. */
  notBlank?: boolean;
}

/** A single string value; repeated query parameters and non-strings are refused. */
export function optionalString(src: Fields, field: string, rule: StringRule = {}): string | undefined {
  const v = src[field];
  if (v === undefined || v === null) return undefined; // JSON null means "not given"
  if (Array.isArray(v)) throw Errors.invalidRequest(field, 'must be given once');
  if (typeof v !== 'string') throw Errors.invalidRequest(field, 'must be a string');
  // A lone surrogate cannot be stored as UTF-8 without being replaced, so it could not be
  // returned "exactly as sent": refuse it instead of silently changing the text.
  if (!v.isWellFormed()) throw Errors.invalidRequest(field, 'must be valid Unicode (no lone surrogates)');
  const len = charLength(v);
  if (rule.min !== undefined && len < rule.min) {
    throw Errors.invalidRequest(field, rule.min === 1 ? 'must not be empty' : `must be at least ${rule.min} characters`);
  }
  if (rule.max !== undefined && len > rule.max) throw Errors.invalidRequest(field, `must be at most ${rule.max} characters`);
  if (rule.notBlank && v.trim() === '') throw Errors.invalidRequest(field, 'must not be only white space');
  return v;
}

export function requiredString(src: Fields, field: string, rule: StringRule = {}): string {
  const v = optionalString(src, field, rule);
  if (v === undefined) throw Errors.invalidRequest(field, 'is required');
  return v;
}

interface IntRule {
  min: number;
  max: number;
}

/** A whole number, as a JSON number or a string of digits. */
export function optionalInt(src: Fields, field: string, rule: IntRule): number | undefined {
  const v = src[field];
  if (v === undefined || v === null) return undefined;
  if (Array.isArray(v)) throw Errors.invalidRequest(field, 'must be given once');
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string' && /^-?\d{1,16}$/.test(v.trim())) n = Number(v.trim());
  else throw Errors.invalidRequest(field, 'must be a whole number');
  if (!Number.isSafeInteger(n)) throw Errors.invalidRequest(field, 'must be a whole number');
  if (n < rule.min || n > rule.max) throw Errors.invalidRequest(field, `must be between ${rule.min} and ${rule.max}`);
  return n;
}

const SECONDS = /^(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** A number of seconds (fractions allowed), as a JSON number or a decimal string. */
export function optionalSeconds(src: Fields, field: string): number | undefined {
  const v = src[field];
  if (v === undefined || v === null) return undefined;
  if (Array.isArray(v)) throw Errors.invalidRequest(field, 'must be given once');
  // Any way of writing a non-negative decimal number ("5", "2.5", ".5", "5.", "1e3", "1e100"):
  // the caller clamps it, so only something that is not a number at all is refused.
  const n = typeof v === 'number' ? v : typeof v === 'string' && SECONDS.test(v.trim()) ? Number(v.trim()) : NaN;
  if (Number.isNaN(n) || n < 0) throw Errors.invalidRequest(field, 'must be a number of seconds, 0 or more');
  return n;
}
