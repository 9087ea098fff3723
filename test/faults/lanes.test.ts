// The two ways of answering, fuzzed side by side (#12, #13): one app, two servers over it, one
// with the fast lane in front of Koa and one without. The same generated request (adversarial
// queries and bodies from test/support/fuzz.ts, raw broken escapes, junk parameters past the
// bound, method overrides, every body encoding) goes to both, and both must give the same
// status, error code and body. Sends store a message each time, so two created messages are
// compared without their ids and times (and a retry by client_id counts as the same answer).
//
// FUZZ_SEED and FUZZ_RUNS as in the other fuzz tests (test/support/fuzz-contract.ts).
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { createHttpServer } from '../../src/server';
import { newUser, startApp, type Login, type TestApp } from '../support/app';
import { type Answer, bodyOf, encoding, junkQuery, maybeNasty, nastyString, type Query, send, spoil, type Wire } from '../support/fuzz';
import { RUNS, SEED } from '../support/fuzz-contract';
import { report } from './harness';

/** Queries with broken escapes, and past the parameter bound (the lanes once parsed these apart). */
const rawQuery = fc.option(
  fc.constantFrom(
    'since=%ED%A0%80',
    'since=%FF%FE',
    'limit=%',
    'timeout=%ZZ',
    '%FF=1',
    'since=1&since',
    '&&&',
    '=',
    `${Array.from({ length: 1000 }, (_, i) => `j${i}=1`).join('&')}&since=abc`,
    Array.from({ length: 99 }, (_, i) => `j${i}=1`).join('&'),
    Array.from({ length: 100 }, (_, i) => `j${i}=1`).join('&'),
  ),
  { nil: undefined },
);

interface Seen {
  status: number;
  code?: string;
  /** The body, with what differs between two stored messages taken out. */
  body: unknown;
}

function seen(res: Answer): Seen {
  const parsed: unknown = res.text === '' ? '' : JSON.parse(res.text);
  const code = (parsed as { error?: { code?: string } }).error?.code;
  const message = (parsed as { message?: Record<string, unknown> }).message;
  if (message && (res.status === 200 || res.status === 201)) {
    const rest = { ...message };
    delete rest.id;
    delete rest.sent_at;
    return { status: 201, body: rest };
  }
  // (Retry-After is jittered, and the message says it.)
  return { status: res.status, code, body: JSON.parse(res.text.replace(/retry in \d+ s/, 'retry in N s') || '""') as unknown };
}

describe('faults: the fast lane and Koa fuzzed side by side (#12, #13)', function () {
  this.timeout(300_000);
  let t: TestApp;
  let koaOnly: http.Server;
  let koaUrl: string;
  let alice: Login;
  let bob: Login;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  let compared = 0;

  before(async () => {
    t = await startApp({
      POLL_TIMEOUT_DEFAULT: '0',
      POLL_TIMEOUT_MAX: '0',
      RATE_MESSAGES_USER: 'off',
    });
    koaOnly = createHttpServer(t.app, t.config, { fastLane: false });
    await new Promise<void>((resolve) => koaOnly.listen(0, '127.0.0.1', resolve));
    koaUrl = `http://127.0.0.1:${(koaOnly.address() as AddressInfo).port}`;
    alice = await newUser(t, 'alice');
    bob = await newUser(t, 'bob');
    report(`seed ${SEED}, ${RUNS} cases per property, each through both ways`);
  });
  after(async () => {
    agent.destroy();
    koaOnly.closeAllConnections();
    await new Promise<void>((resolve) => koaOnly.close(() => resolve()));
    await t.close();
  });

  /** The same request through the lane's server, then Koa's; the answers must agree. */
  async function both(where: string, w: Wire): Promise<void> {
    const fast = await send(t.url, w, agent);
    const koa = await send(koaUrl, w, agent);
    compared++;
    assert.ok(fast.status < 500, `${where}: ${fast.status} ${fast.text.slice(0, 200)}`);
    assert.deepEqual(seen(fast), seen(koa), `${where}: the lane said ${fast.status} ${fast.text.slice(0, 300)}`);
  }

  const params = { numRuns: RUNS, seed: SEED, endOnFailure: true };

  it('GET /poll: any query, the same answer either way', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.tuple(
            fc.constantFrom('since', 'timeout', 'limit', 'since', '_'),
            fc.oneof(nastyString, fc.integer({ min: -2, max: 50 }).map(String), fc.constantFrom('0', '', '1e2', '0.5')),
          ),
          { maxLength: 4 },
        ),
        junkQuery.map((q) => q.filter(([k]) => k !== 'callback' && k !== 'access_token')),
        rawQuery,
        fc.constantFrom('header', 'bad-token', 'malformed'),
        async (q, junk, raw, auth) => {
          const token = auth === 'header' ? bob.token : auth === 'bad-token' ? `${bob.deviceId}.${'A'.repeat(43)}` : 'x';
          const query: Query = [...q, ...junk];
          await both(`poll #${++n}`, { method: 'GET', path: '/poll', query, headers: { Authorization: `Bearer ${token}` }, rawQuery: raw });
        },
      ),
      params,
    );
  });

  it('POST /messages: any body, the same answer either way', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        spoil('to', 'body', 'client_id', 'encoding', 'override', 'token'),
        fc.record({
          to: maybeNasty,
          body: maybeNasty,
          clientId: maybeNasty,
          enc: encoding,
          override: fc.constantFrom('DELETE', 'PUT', ''),
        }),
        nastyString,
        fc.constantFrom('hello', 'x'.repeat(4000), '<b>hi</b>', 'a\u0000b'),
        async (bad, nasty, garbage, text) => {
          const fields: Record<string, unknown> = {
            to: bad.has('to') ? nasty.to : alice.username,
            body: bad.has('body') ? nasty.body : text,
            client_id: bad.has('client_id') ? nasty.clientId : undefined,
          };
          if (bad.has('override')) fields._method = nasty.override;
          const b = bodyOf(bad.has('encoding') ? nasty.enc : 'json', fields, garbage);
          const headers: Record<string, string> = {
            Authorization: `Bearer ${bad.has('token') ? `${bob.deviceId}.${'B'.repeat(43)}` : bob.token}`,
          };
          if (b.type) headers['Content-Type'] = b.type;
          await both(`send #${++n}`, { method: 'POST', path: '/messages', query: [], headers, body: b.body });
        },
      ),
      params,
    );
    report(`${compared} requests answered alike by the fast lane and by Koa`);
  });
});
