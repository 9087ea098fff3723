// What every fuzzed answer must be, and the loop that runs a property (issue #6), for the
// endpoint fuzz tests test/faults/fuzz-*.test.ts (#12): the error shape with a code that belongs to its status, the
// caching, CORS and nosniff headers, a Content-Length, valid JSONP, and 200s that are JSON,
// /metrics text or one of the page's own files. Also the token in each place a client may put
// it, a request with a body, and a Fuzzer that sends, checks and counts. Used by every
// test/faults/fuzz-*.test.ts; the generators and the wire are in fuzz.ts.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import fc from 'fast-check';
import { PUBLIC_DIR } from '../../src/server';
import type { Login } from './app';
import { type Answer, type AuthKind, bodyOf, type Encoding, type Query, send, type Wire } from './fuzz';

/** Fixed, so CI runs the same cases every time; FUZZ_SEED=<n> explores others. */
export const SEED = Number(process.env.FUZZ_SEED ?? 60606);
/** Cases per property; FUZZ_RUNS=<n> changes it. */
export const RUNS = Number(process.env.FUZZ_RUNS ?? 200);

/** Which error codes each status may carry (docs/API.md, "Errors"). */
const STATUS_CODES: Record<number, readonly string[]> = {
  400: ['invalid_request', 'invalid_json', 'invalid_cursor'],
  401: ['unauthorized', 'invalid_credentials'],
  403: ['forbidden'],
  404: ['not_found', 'user_not_found'],
  405: ['method_not_allowed'],
  409: ['username_taken', 'client_id_reused', 'group_full'],
  413: ['payload_too_large'],
  417: ['expectation_failed'],
  431: ['headers_too_large'],
  429: ['rate_limited'],
  503: ['overloaded'],
};

// --- the contract -----------------------------------------------------------------------------

/** The contents of every file of the page (public/), the only non-JSON 200 answers allowed. */
const PUBLIC_FILES = new Set(
  fs.existsSync(PUBLIC_DIR)
    ? fs
        .readdirSync(PUBLIC_DIR, { recursive: true, encoding: 'utf8' })
        .map((f) => path.join(PUBLIC_DIR, f))
        .filter((f) => fs.statSync(f).isFile())
        .map((f) => fs.readFileSync(f, 'utf8'))
    : [],
);

function isValidCallback(q: Query): string | undefined {
  const cbs = q.filter(([k]) => k === 'callback');
  if (cbs.length !== 1) return undefined;
  const name = cbs[0]![1].toWellFormed();
  return /^[A-Za-z_$][A-Za-z0-9_$.]{0,63}$/.test(name) ? name : undefined;
}

function checkError(where: string, status: number, body: unknown, headers?: http.IncomingHttpHeaders): void {
  const e = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  assert.ok(
    e && typeof e.code === 'string' && typeof e.message === 'string' && e.message.length > 0,
    `${where}: error shape, got ${(JSON.stringify(body) as string | undefined)?.slice(0, 200)}`,
  );
  assert.ok(STATUS_CODES[status]?.includes(e.code), `${where}: code ${e.code} does not belong to status ${status}`);
  if (headers && status === 405) assert.ok(headers.allow, `${where}: 405 without Allow`);
  if (headers && e.code === 'unauthorized') assert.match(String(headers['www-authenticate']), /^Bearer /, `${where}: WWW-Authenticate`);
}

/**
 * Checks one answer against the contract and returns its JSON (the inner object for JSONP;
 * undefined for 204, HEAD and /metrics text).
 */
export function checkAnswer(where: string, w: Wire, res: Answer): unknown {
  assert.ok(res.status < 500, `${where}: ${res.status} ${res.text.slice(0, 300)}`);
  assert.equal(res.headers['cache-control'], 'no-store', `${where}: Cache-Control`);
  assert.equal(res.headers['access-control-allow-origin'], '*', `${where}: CORS`);
  assert.equal(res.headers['x-content-type-options'], 'nosniff', `${where}: nosniff (#13)`);
  assert.notEqual(res.headers['transfer-encoding'], 'chunked', `${where}: never chunked`);
  assert.ok(!/\n\s+at \S+ \(|node_modules|\/dist\/src\//.test(res.text), `${where}: a stack trace or a path leaked`);
  if (res.status === 204 || w.method === 'HEAD' || w.method === 'OPTIONS') return undefined;
  assert.ok(res.headers['content-length'] !== undefined, `${where}: Content-Length`);
  const cb = w.method === 'GET' ? isValidCallback(w.query) : undefined;
  if (cb !== undefined && res.status === 200 && String(res.headers['content-type']).startsWith('application/javascript')) {
    assert.equal(res.headers['x-content-type-options'], 'nosniff', `${where}: JSONP nosniff`);
    const prefix = `/**/${cb}(`;
    assert.ok(res.text.startsWith(prefix) && res.text.endsWith(');'), `${where}: JSONP wrapper`);
    assert.ok(!/[\u2028\u2029]/.test(res.text), `${where}: U+2028/2029 escaped`);
    const inner = JSON.parse(res.text.slice(prefix.length, -2)) as { status?: number };
    if (inner.status !== undefined && inner.status !== 200) checkError(`${where} (JSONP)`, inner.status, inner);
    return inner;
  }
  // The router matches case-insensitively and with a trailing slash: /METRICS/ is /metrics.
  // (and the URL is normalised on the way out: /a/../metrics/. is /metrics too).
  if (new URL(`http://x${w.path}`).pathname.toLowerCase().replace(/\/+$/, '') === '/metrics' && res.status === 200) {
    assert.match(String(res.headers['content-type']), /^text\/plain/, `${where}: metrics text`);
    return undefined;
  }
  // The page's own files are served as they are, and only they: no path leaves public/.
  if (res.status === 200 && !String(res.headers['content-type']).startsWith('application/json') && w.method === 'GET') {
    assert.ok(PUBLIC_FILES.has(res.text), `${where}: a 200 that is neither JSON nor one of the page's files`);
    return undefined;
  }
  assert.match(String(res.headers['content-type']), /^application\/json; charset=utf-8$/, `${where}: JSON`);
  const body = JSON.parse(res.text) as unknown;
  if (res.status >= 400) checkError(where, res.status, body, res.headers);
  return body;
}

// --- tokens and bodies ------------------------------------------------------------------------

/** Where a token goes in a request: headers, query and body fields to add. */
export interface TokenPlacement {
  headers: Record<string, string>;
  query: Query;
  body: Record<string, unknown>;
}

/** `own`'s token placed (or spoiled) as `kind` says; 'other-user' uses `other`'s secret. */
export function tokenFor(kind: AuthKind, own: Login, other: Login): TokenPlacement {
  const [id, secret] = own.token.split('.') as [string, string];
  switch (kind) {
    case 'header':
      return { headers: { Authorization: `Bearer ${own.token}` }, query: [], body: {} };
    case 'lowercase-bearer':
      return { headers: { Authorization: `bearer   ${own.token} ` }, query: [], body: {} };
    case 'query':
      return { headers: {}, query: [['access_token', own.token]], body: {} };
    case 'body':
      return { headers: {}, query: [], body: { access_token: own.token } };
    case 'twice':
      return {
        headers: {},
        query: [
          ['access_token', own.token],
          ['access_token', own.token],
        ],
        body: {},
      };
    case 'none':
      return { headers: {}, query: [], body: {} };
    case 'malformed':
      return { headers: { Authorization: `Bearer ${own.token}x` }, query: [], body: {} };
    case 'wrong-secret':
      return {
        headers: { Authorization: `Bearer ${id}.${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}` },
        query: [],
        body: {},
      };
    case 'other-user': {
      const [, otherSecret] = other.token.split('.') as [string, string];
      return { headers: { Authorization: `Bearer ${id}.${otherSecret}` }, query: [], body: {} };
    }
  }
}

/** Whether a token placed as `kind` is one the server must accept. */
export const authenticated = (kind: AuthKind): boolean => ['header', 'lowercase-bearer', 'query', 'body'].includes(kind);

/** A request with a body: fields in an encoding, a placed token, a `_method` override, a query. */
export function withBody(
  method: string,
  path: string,
  fields: Record<string, unknown>,
  enc: Encoding,
  token: TokenPlacement,
  garbage: string,
  override?: string,
  query: Query = [],
): Wire {
  const all = { ...fields, ...token.body };
  if (override !== undefined) all._method = override;
  const b = bodyOf(enc, all, garbage);
  const headers: Record<string, string> = { ...token.headers };
  if (b.type) headers['Content-Type'] = b.type;
  return { method, path, query: [...token.query, ...query], headers, body: b.body };
}

// --- running --------------------------------------------------------------------------------

// The default report prints the whole counterexample, 4000-character strings included.
const shorten = (v: unknown): unknown =>
  typeof v === 'string' && v.length > 80 ? `${v.slice(0, 40)}…(${v.length} chars)` : Array.isArray(v) ? v.map(shorten) : v;

/**
 * Runs a property RUNS times (or `numRuns`) from SEED; a failure throws with a short report: the
 * seed, the path and the counterexample with long strings cut.
 */
export async function fuzzCheck<Ts extends unknown[]>(property: fc.IAsyncProperty<Ts>, numRuns = RUNS): Promise<void> {
  const out = await fc.check(property, { numRuns, seed: SEED, endOnFailure: true });
  if (!out.failed) return;
  const cause = out.errorInstance instanceof Error ? out.errorInstance.message : String(out.errorInstance);
  throw new Error(
    `property failed (seed ${out.seed}, path "${out.counterexamplePath}"): ${JSON.stringify(shorten(out.counterexample))}\n${cause.slice(0, 2000)}`,
  );
}

/** Sends fuzzed requests over keep-alive connections, like a real client's, and checks and counts each answer. */
export class Fuzzer {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  private readonly statuses = new Map<number, number>();
  requests = 0;

  constructor(private readonly base: string) {}

  /** Sends `w` and checks the answer against the contract; its JSON as checkAnswer gives it. */
  async exchange(where: string, w: Wire): Promise<{ res: Answer; json: unknown }> {
    const res = await send(this.base, w, this.agent);
    this.count(res.status);
    return { res, json: checkAnswer(`${where} ${w.method} ${w.path}`, w, res) };
  }

  /** Counts an answer sent another way (supertest) in the summary. */
  count(status: number): void {
    this.requests++;
    this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
  }

  /** "N fuzzed requests (200:12 400:30 ...)". */
  summary(what = 'fuzzed requests'): string {
    const byStatus = [...this.statuses.entries()]
      .sort((x, y) => x[0] - y[0])
      .map(([s, c]) => `${s}:${c}`)
      .join(' ');
    return `${this.requests} ${what} (${byStatus})`;
  }

  close(): void {
    this.agent.destroy();
  }
}
