// Property-based fuzzing of messages, history, read markers and polls (issue #6): random and
// adversarial fields (wrong types, lengths at and past the limits, lone surrogates, NUL, U+2028,
// SQL, HTML and JSONP-injection strings, numbers out of range), every body encoding, every place
// a token can go, repeated and conflicting parameters, method overrides and JSONP. Every answer
// keeps the contract (test/support/fuzz-contract.ts); a 201 stores the body exactly as sent, a
// 200 retry returns the original, history and polls show only the caller's own acknowledged
// messages, a read marker moves only in the caller's own conversations, and a poll returns
// exactly the events after since. Afterwards the database holds exactly what was acknowledged.
//
// One of the endpoint fuzz tests (fuzz-*.test.ts); the generators are in test/support/fuzz.ts,
// the app and its ledger in fuzz-app.ts. FUZZ_SEED=<n> explores other cases, FUZZ_RUNS=<n>
// changes their number; a failure prints its seed and path.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { authKind, callback, type Encoding, encoding, junkQuery, maybeNasty, nastyString, type Query, spoil } from '../support/fuzz';
import { checkAcknowledged, type LedgerMessage, recordMessage, useFuzzApp } from '../support/fuzz-app';
import { authenticated, fuzzCheck, withBody } from '../support/fuzz-contract';
import { report } from './harness';

describe('faults: property-based fuzzing of messages, history, read markers and polls (#6)', function () {
  this.timeout(300_000);
  const f = useFuzzApp(report);

  /** Names that exist (any letter case), and two that do not. */
  const user = (): fc.Arbitrary<string> =>
    fc.constantFrom(f.alice.username, f.bob.username, f.alice.username.toUpperCase(), 'nobody', `${f.bob.username} `);
  const realUser = (): fc.Arbitrary<string> =>
    fc.constantFrom(
      f.alice.username,
      f.bob.username,
      f.alice.username.toUpperCase(),
      `${f.bob.username[0]!.toUpperCase()}${f.bob.username.slice(1)}`,
    );

  it('POST /messages: stores exactly what it acknowledges, refuses the rest in the contract shape', async () => {
    let n = 0;
    await fuzzCheck(
      fc.asyncProperty(
        spoil('to', 'body', 'client_id', 'encoding', 'auth', 'override', 'query'),
        fc.record({
          to: realUser(),
          body: fc.oneof(
            fc.string({ minLength: 1, maxLength: 50 }).filter((b) => b.trim() !== ''),
            fc.constantFrom(
              'hello',
              'x'.repeat(4000),
              '😀'.repeat(4000),
              '<b>hi</b>',
              'a\u0000b',
              'x\u2028y',
              "'; DROP TABLE messages; --",
            ),
          ),
          clientId: fc.option(
            fc.oneof(fc.constantFrom('c1', 'c2', 'retry-me', 'x'.repeat(64)), fc.string({ minLength: 1, maxLength: 8 })),
            { nil: undefined },
          ),
          enc: fc.constantFrom<Encoding>('json', 'form', 'text', 'untyped'),
        }),
        fc.record({
          to: maybeNasty,
          body: maybeNasty,
          clientId: maybeNasty,
          enc: encoding,
          auth: authKind,
          override: fc.constantFrom('DELETE', 'PUT', 'delete', ''),
          query: junkQuery,
        }),
        nastyString,
        async (bad, good, nasty, garbage) => {
          const sender = n % 2 ? f.alice : f.bob;
          const to = bad.has('to') ? nasty.to : good.to;
          const body = bad.has('body') ? nasty.body : good.body;
          const clientId = bad.has('client_id') ? nasty.clientId : good.clientId;
          const enc = bad.has('encoding') ? nasty.enc : good.enc;
          const auth = bad.has('auth') ? nasty.auth : 'header';
          const w = withBody(
            'POST',
            '/messages',
            { to, body, client_id: clientId },
            enc,
            f.token(auth, sender),
            garbage,
            bad.has('override') ? nasty.override : undefined,
            bad.has('query') ? nasty.query : [],
          );
          const { res, json } = await f.fuzzer.exchange(`#${++n}`, w);
          if (res.status === 201 || res.status === 200)
            recordMessage(f, `#${n}`, json, res.status, { to, body, client_id: clientId }, sender, enc);
          if (res.status < 300) assert.ok(authenticated(auth), `${res.status} without a valid token (${auth})`);
          // A valid send is stored, or is a retry of one (same client_id), or reuses a client_id.
          if (bad.size === 0) assert.ok([200, 201, 409].includes(res.status), `a valid send: ${res.status} ${res.text.slice(0, 200)}`);
        },
      ),
    );
  });

  it('GET /messages, /conversations, /devices, /presence, /healthz, /metrics: answers or refuses in the contract shape', async () => {
    let n = 0;
    await fuzzCheck(
      fc.asyncProperty(
        fc.constantFrom('/messages', '/messages', '/messages', '/conversations', '/devices', '/presence', '/healthz', '/metrics'),
        fc.array(
          fc.tuple(
            fc.constantFrom('with', 'limit', 'before', 'after', 'with', 'limit'),
            fc.oneof(
              nastyString,
              fc.constantFrom(f.alice.username, f.bob.username, '1', '50', '200', '201', '0'),
              fc.nat().map(String),
              fc.constant(''),
            ),
          ),
          { maxLength: 4 },
        ),
        callback,
        authKind.filter((k) => k !== 'body'),
        fc.constantFrom('GET', 'GET', 'GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'OPTIONS'),
        async (path, q, cb, auth, method) => {
          const a = f.token(auth, f.alice);
          const query: Query = [...a.query, ...q];
          if (cb !== undefined) query.push(['callback', cb]);
          const { res, json } = await f.fuzzer.exchange(`#${++n}`, { method, path, query, headers: a.headers });
          if (method !== 'GET' || res.status !== 200 || json === undefined) return;
          const j = json as Record<string, unknown>;
          if ('status' in j) return; // a JSONP-wrapped error, already checked
          if (path === '/messages') {
            const page = j as { messages: LedgerMessage[]; has_more: boolean };
            assert.equal(typeof page.has_more, 'boolean');
            for (const m of page.messages) {
              assert.ok(m.from === f.alice.username || m.to === f.alice.username, "history only ever holds the caller's own conversations");
              const known = f.ledger.get(m.id);
              assert.ok(known, `history shows message ${m.id}, never acknowledged`);
              assert.deepEqual([m.from, m.to, m.body], [known.from, known.to, known.body]);
            }
            for (let i = 1; i < page.messages.length; i++) assert.ok(page.messages[i]!.id > page.messages[i - 1]!.id, 'oldest first');
          }
          if (path === '/devices') assert.equal((j.devices as Array<{ current: boolean }>).filter((d) => d.current).length, 1);
        },
      ),
    );
  });

  it("POST /read: moves a marker only within the caller's own conversations", async () => {
    let n = 0;
    const ids = [...f.ledger.keys()];
    await fuzzCheck(
      fc.asyncProperty(
        spoil('with', 'up_to', 'encoding', 'auth'),
        fc.record({ with: user(), upTo: fc.oneof(fc.constantFrom(...ids), fc.integer({ min: 1, max: 10_000 })) }),
        fc.record({ with: maybeNasty, upTo: fc.oneof(maybeNasty, fc.integer({ min: -5, max: 0 })), enc: encoding, auth: authKind }),
        nastyString,
        async (bad, good, nasty, garbage) => {
          const withUser = bad.has('with') ? nasty.with : good.with;
          const upTo = bad.has('up_to') ? nasty.upTo : good.upTo;
          const enc = bad.has('encoding') ? nasty.enc : 'json';
          const auth = bad.has('auth') ? nasty.auth : 'header';
          const w = withBody('POST', '/read', { with: withUser, up_to: upTo }, enc, f.token(auth, f.alice), garbage);
          const { res } = await f.fuzzer.exchange(`#${++n}`, w);
          if (res.status === 204) {
            const m = f.ledger.get(Number(upTo));
            assert.ok(m, '204 for a message that does not exist');
            assert.ok(m.from === f.alice.username || m.to === f.alice.username, "204 for a message of someone else's conversation");
            const peer = String(withUser).trim().toLowerCase();
            assert.ok([m.from, m.to].includes(peer), '204 for a message of another conversation of the caller');
          }
        },
      ),
    );
  });

  it("GET /poll: any since, timeout and limit is answered from the caller's own stream or refused", async () => {
    let n = 0;
    await fuzzCheck(
      fc.asyncProperty(
        fc.array(
          fc.tuple(
            fc.constantFrom('since', 'timeout', 'limit', 'since', 'limit'),
            fc.oneof(
              nastyString,
              fc.integer({ min: -2, max: 2000 }).map(String),
              fc.constantFrom('0.5', '.5', '5.', '1e2', '0', '', '1000', '1001'),
            ),
          ),
          { maxLength: 4 },
        ),
        callback,
        authKind.filter((k) => k !== 'body'),
        async (q, cb, auth) => {
          const a = f.token(auth, f.bob);
          const query: Query = [...a.query, ...q];
          if (cb !== undefined) query.push(['callback', cb]);
          const { res, json } = await f.fuzzer.exchange(`#${++n}`, { method: 'GET', path: '/poll', query, headers: a.headers });
          if (res.status !== 200 || json === undefined || 'status' in (json as object)) return;
          const p = json as { cursor: string; events: Array<{ type: string; message?: LedgerMessage }> };
          assert.match(p.cursor, /^\d+$/);
          for (const e of p.events) {
            assert.ok(e.type === 'message' || e.type === 'read');
            if (e.message) {
              assert.ok(e.message.from === f.bob.username || e.message.to === f.bob.username, "a poll shows only the caller's own stream");
              assert.ok(f.ledger.has(e.message.id), 'a poll shows only acknowledged messages');
            }
          }
        },
      ),
    );
  });

  it('GET /poll: for any since and limit, exactly the stream events after since, at most limit, oldest first', async () => {
    const all = await f.t.http().get('/poll?since=0&timeout=0&limit=1000').set(f.alice.auth).expect(200);
    const head = Number(all.body.cursor);
    const events = all.body.events as unknown[];
    assert.equal(events.length, head);
    await fuzzCheck(
      fc.asyncProperty(fc.integer({ min: 0, max: head + 3 }), fc.integer({ min: 1, max: head + 3 }), async (since, limit) => {
        const res = await f.t.http().get(`/poll?since=${since}&timeout=0&limit=${limit}`).set(f.alice.auth);
        f.fuzzer.count(res.status);
        if (since > head) {
          assert.equal(res.status, 400);
          assert.equal(res.body.error.code, 'invalid_cursor');
          return;
        }
        assert.equal(res.status, 200);
        const expected = events.slice(since, since + limit);
        assert.deepEqual(res.body.events, expected);
        assert.equal(res.body.cursor, String(since + expected.length));
      }),
    );
  });

  it('afterwards: integrity_check passes and the database holds exactly what was acknowledged', async () => {
    report(await checkAcknowledged(f));
  });
});
