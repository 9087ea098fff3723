// The generators of the fuzz tests (test/faults/fuzz-*.test.ts and lanes.test.ts, issue #6),
// with fast-check: adversarial strings and values, which parts of a request to spoil, body
// encodings, token placements and junk query parameters; and the request as it goes on the wire
// (the body in each encoding, the query with repeated keys, one raw HTTP exchange). What an
// answer must be (the contract) is in fuzz-contract.ts.
import http from 'node:http';
import fc from 'fast-check';

// --- input ------------------------------------------------------------------------------------

/** Strings people and attackers actually send, and the edges of every limit. */
const NASTY = [
  '',
  ' ',
  '\t\n',
  '\u0000',
  'a\u0000b',
  '\ud800',
  'x\udfffy',
  '\udbff\udfff',
  '\u2028\u2029',
  '\ufeff',
  '\u202e\u200b',
  'e\u0301',
  '😀',
  "' OR '1'='1",
  "'; DROP TABLE messages; --",
  '" OR 1=1 --',
  '1; SELECT * FROM devices',
  '<script>alert(1)</script>',
  '<img src=x onerror=alert(1)>',
  '</script><script>x()</script>',
  'alert(1);//',
  'cb);alert(1);//',
  '*/alert(1)/*',
  '__proto__',
  'constructor',
  'prototype',
  '%00',
  '%ZZ',
  '../../etc/passwd',
  '${jndi:ldap://x}',
  '{{7*7}}',
  'null',
  'undefined',
  'true',
  '-1',
  '-0',
  '0',
  '1e999',
  '1e-7',
  '0x10',
  '١٢٣',
  ' 5 ',
  '5\n',
  'NaN',
  'Infinity',
  '9007199254740993',
  '99999999999999999999',
  '18446744073709551616',
  'a'.repeat(32),
  'a'.repeat(33),
  'x'.repeat(64),
  'x'.repeat(65),
  'x'.repeat(4000),
  'x'.repeat(4001),
  '😀'.repeat(4000),
  '😀'.repeat(4001),
  '\u0000'.repeat(4000),
];

/** Any UTF-16 code units: lone surrogates included, which fc.string never makes. */
const codeUnits = fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 12 }).map((a) => String.fromCharCode(...a));

export const nastyString: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...NASTY), weight: 4 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 20 }), weight: 2 },
  { arbitrary: codeUnits, weight: 2 },
  { arbitrary: fc.string({ maxLength: 10 }), weight: 1 },
);

const nastyValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: nastyString, weight: 6 },
  { arbitrary: fc.oneof(fc.integer(), fc.constantFrom(0, -1, 1.5, 2 ** 53, 2 ** 53 + 2, -(2 ** 63), 1e308, -1e308)), weight: 2 },
  { arbitrary: fc.double(), weight: 1 },
  { arbitrary: fc.constantFrom(null, true, false), weight: 1 },
  { arbitrary: fc.array(nastyString, { maxLength: 3 }), weight: 1 },
  { arbitrary: fc.dictionary(fc.constantFrom('a', '$gt', '__proto__', 'length'), nastyString, { maxKeys: 2 }), weight: 1 },
);

/**
 * Which parts of an otherwise valid request to spoil: none (about a third of the cases, so
 * success paths and what they store are exercised too), one, or a few.
 */
export function spoil<K extends string>(...parts: K[]): fc.Arbitrary<Set<K>> {
  return fc.array(fc.constantFrom(...parts), { maxLength: 3 }).map((a) => new Set(a));
}

export const maybeNasty = fc.oneof({ arbitrary: nastyValue, weight: 5 }, { arbitrary: fc.constant(undefined), weight: 1 });

export type Encoding = 'json' | 'form' | 'text' | 'untyped' | 'json-array' | 'garbage';
export const encoding = fc.constantFrom<Encoding>('json', 'json', 'form', 'form', 'text', 'untyped', 'json-array', 'garbage');

export type AuthKind = 'header' | 'query' | 'body' | 'none' | 'malformed' | 'wrong-secret' | 'other-user' | 'lowercase-bearer' | 'twice';
export const authKind = fc.constantFrom<AuthKind>(
  'header',
  'header',
  'header',
  'query',
  'body',
  'none',
  'malformed',
  'wrong-secret',
  'other-user',
  'lowercase-bearer',
  'twice',
);

/** Query parameters as written on the wire: keys may repeat. */
export type Query = Array<[string, string]>;
export const junkQuery: fc.Arbitrary<Query> = fc.array(
  fc.tuple(fc.constantFrom('_', 'x', 'callback', 'access_token', 'since', 'limit', '__proto__', 'a[b]', 'with'), nastyString),
  { maxLength: 2 },
);
export const callback = fc.option(fc.oneof(fc.constantFrom('cb', 'jQuery123_456', '$.x', 'a'.repeat(64), 'a'.repeat(65)), nastyString), {
  nil: undefined,
});

// --- requests on the wire ---------------------------------------------------------------------

export interface Wire {
  method: string;
  path: string;
  query: Query;
  headers: Record<string, string>;
  body?: Buffer;
  /** Appended to the query string as is: broken percent-encoding, raw UTF-8 of a surrogate. */
  rawQuery?: string;
}

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

function encodeQuery(q: Query): string {
  // toWellFormed: encodeURIComponent throws on a lone surrogate; a real client cannot send one
  // in a URL either (it would go out as U+FFFD or %ED%A0%80, tried separately below).
  return q.map(([k, v]) => `${encodeURIComponent(k.toWellFormed())}=${encodeURIComponent(v.toWellFormed())}`).join('&');
}

/** Sends one request as it is on the wire, through `agent` (the test owns it and destroys it). */
export function send(base: string, w: Wire, agent: http.Agent): Promise<Answer> {
  const qs = [encodeQuery(w.query), w.rawQuery ?? ''].filter(Boolean).join('&');
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${w.path}${qs ? `?${qs}` : ''}`, { method: w.method, headers: w.headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(w.body);
  });
}

/** Form encoding as browsers and curl do it: arrays repeat the key, objects use brackets. */
function formEncode(fields: Record<string, unknown>): string {
  const p = new URLSearchParams();
  const put = (k: string, v: unknown): void => {
    if (v === undefined) return;
    if (Array.isArray(v)) v.forEach((x) => put(k, x));
    else if (v !== null && typeof v === 'object') for (const [sk, sv] of Object.entries(v)) put(`${k}[${sk}]`, sv);
    else p.append(k, v === null ? '' : typeof v === 'string' ? v : JSON.stringify(v));
  };
  for (const [k, v] of Object.entries(fields)) put(k, v);
  return p.toString();
}

/** A request body in one of the encodings ('garbage': the given text, sent as JSON). */
export function bodyOf(enc: Encoding, fields: Record<string, unknown>, garbage: string): { type?: string; body: Buffer } {
  switch (enc) {
    case 'json':
      return { type: 'application/json', body: Buffer.from(JSON.stringify(fields)) };
    case 'form':
      return { type: 'application/x-www-form-urlencoded', body: Buffer.from(formEncode(fields)) };
    case 'text':
      return { type: 'text/plain;charset=UTF-8', body: Buffer.from(JSON.stringify(fields)) };
    case 'untyped':
      return { body: Buffer.from(JSON.stringify(fields)) };
    case 'json-array':
      return { type: 'application/json', body: Buffer.from(JSON.stringify([fields])) };
    case 'garbage':
      return { type: 'application/json', body: Buffer.from(garbage) };
  }
}
