// Property-based fuzzing of every endpoint (issue #6), with fast-check: random and
// adversarial fields (wrong types, lengths at and past the limits, lone surrogates, NUL,
// U+2028, SQL, HTML and JSONP-injection strings, numbers out of range), every body encoding,
// every place a token can go, repeated and conflicting parameters, method overrides and JSONP.
// Every answer must keep the contract: never a 500, the error shape with a status that fits
// its code, the caching headers, a Content-Length. Afterwards the database passes
// integrity_check and holds exactly the messages and users that were acknowledged.
//
// The seed is fixed so CI runs the same cases every time; FUZZ_SEED=<n> explores others and
// FUZZ_RUNS=<n> changes the number of cases per endpoint. A failure prints its seed and path.
// The generators and the requests on the wire are in test/support/fuzz.ts; what an answer
// must be (the contract) and what was acknowledged are checked here.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import fc from 'fast-check';
import { PUBLIC_DIR } from '../../src/server';
import { logIn, newUser, startApp, type Login, type TestApp } from '../support/app';
import {
  type Answer,
  type AuthKind,
  authKind,
  bodyOf,
  callback,
  type Encoding,
  encoding,
  junkQuery,
  maybeNasty,
  nastyString,
  type Query,
  send,
  spoil,
  type Wire,
} from '../support/fuzz';
import { report } from './harness';

const SEED = Number(process.env.FUZZ_SEED ?? 60606);
const RUNS = Number(process.env.FUZZ_RUNS ?? 200);

const STATUS_CODES: Record<number, readonly string[]> = {
  400: ['invalid_request', 'invalid_json', 'invalid_cursor'],
  401: ['unauthorized', 'invalid_credentials'],
  403: ['forbidden'],
  404: ['not_found', 'user_not_found'],
  405: ['method_not_allowed'],
  409: ['username_taken', 'client_id_reused'],
  413: ['payload_too_large'],
  417: ['expectation_failed'],
  431: ['headers_too_large'],
  429: ['rate_limited'],
  503: ['overloaded'],
};

/** Keep-alive connections for the whole run, like a real client's; destroyed at the end. */
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

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
function checkAnswer(where: string, w: Wire, res: Answer): unknown {
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

// --- what was acknowledged --------------------------------------------------------------------

interface LedgerMessage {
  id: number;
  from: string;
  to: string;
  body: string;
  client_id: string | null;
}

describe('faults: property-based fuzzing of every endpoint (#6)', function () {
  this.timeout(300_000);
  let t: TestApp;
  let alice: Login;
  let bob: Login;
  /** Messages answered 201 (or 200 to a retry), by id. */
  const ledger = new Map<number, LedgerMessage>();
  /** Users answered 201. */
  const users = new Set<string>();
  let requests = 0;
  const statuses = new Map<number, number>();
  const protoKeysBefore = Object.getOwnPropertyNames(Object.prototype).sort().join();

  before(async () => {
    // No holds (timeout clamped to 0) so thousands of polls run quickly; rate limits off so
    // only validation answers.
    t = await startApp({
      POLL_TIMEOUT_DEFAULT: '0',
      POLL_TIMEOUT_MAX: '0',
      RATE_LOGIN_USER: 'off',
      RATE_LOGIN_IP: 'off',
      RATE_SIGNUP_IP: 'off',
      RATE_MESSAGES_USER: 'off',
    });
    alice = await newUser(t, 'alice');
    bob = await newUser(t, 'bob');
    users.add(alice.username).add(bob.username);
    for (const [from, to, body] of [
      [alice, bob, 'seed one'],
      [bob, alice, 'seed two'],
      [alice, alice, 'seed note'],
    ] as const) {
      const r = await t.http().post('/messages').set(from.auth).send({ to: to.username, body }).expect(201);
      const m = r.body.message as LedgerMessage;
      ledger.set(m.id, { id: m.id, from: m.from, to: m.to, body: m.body, client_id: m.client_id });
    }
    report(`seed ${SEED}, ${RUNS} cases per endpoint (FUZZ_SEED / FUZZ_RUNS to change)`);
  });
  after(async () => {
    agent.destroy();
    await t.close();
  });

  function tokenFor(kind: AuthKind, own: Login): { headers: Record<string, string>; query: Query; body: Record<string, unknown> } {
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
        const [, otherSecret] = (own === alice ? bob : alice).token.split('.') as [string, string];
        return { headers: { Authorization: `Bearer ${id}.${otherSecret}` }, query: [], body: {} };
      }
    }
  }
  const authenticated = (kind: AuthKind): boolean => ['header', 'lowercase-bearer', 'query', 'body'].includes(kind);

  async function exchange(where: string, w: Wire): Promise<{ res: Answer; json: unknown }> {
    const res = await send(t.url, w, agent);
    requests++;
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    return { res, json: checkAnswer(`${where} ${w.method} ${w.path}`, w, res) };
  }

  /** Builds a request with a body: fields, encoding, token placement, override, junk query. */
  function withBody(
    method: string,
    path: string,
    fields: Record<string, unknown>,
    enc: Encoding,
    auth: AuthKind,
    own: Login,
    garbage: string,
    override?: string,
    query: Query = [],
  ): Wire {
    const a = tokenFor(auth, own);
    const all = { ...fields, ...a.body };
    if (override !== undefined) all._method = override;
    const b = bodyOf(enc, all, garbage);
    const headers: Record<string, string> = { ...a.headers };
    if (b.type) headers['Content-Type'] = b.type;
    return { method, path, query: [...a.query, ...query], headers, body: b.body };
  }

  function recordMessage(
    where: string,
    json: unknown,
    status: number,
    sent: { to: unknown; body: unknown; client_id: unknown },
    sender: Login,
    enc: Encoding,
  ): void {
    const m = (json as { message: LedgerMessage }).message;
    assert.ok(Number.isSafeInteger(m.id) && m.id > 0, `${where}: id`);
    assert.equal(m.from, sender.username);
    if (enc === 'json' || enc === 'text' || enc === 'untyped') {
      assert.equal(m.body, sent.body, `${where}: body stored exactly as sent`);
      assert.equal(m.to, String(sent.to).toLowerCase());
    }
    const known = ledger.get(m.id);
    if (status === 200) {
      assert.ok(known, `${where}: a 200 retry returned a message that was never acknowledged`);
      assert.deepEqual(
        { id: m.id, from: m.from, to: m.to, body: m.body, client_id: m.client_id },
        { id: known.id, from: known.from, to: known.to, body: known.body, client_id: known.client_id },
        `${where}: a retry returns the original`,
      );
    } else {
      assert.equal(known, undefined, `${where}: a 201 reused the id of another message`);
      ledger.set(m.id, { id: m.id, from: m.from, to: m.to, body: m.body, client_id: m.client_id });
    }
  }

  // The default report prints the whole counterexample, 4000-character strings included.
  const shorten = (v: unknown): unknown =>
    typeof v === 'string' && v.length > 80 ? `${v.slice(0, 40)}…(${v.length} chars)` : Array.isArray(v) ? v.map(shorten) : v;
  const params = { numRuns: RUNS, seed: SEED, endOnFailure: true };
  /** fc.assert with a short report: the seed, the path and the counterexample with long strings cut. */
  async function check<Ts extends unknown[]>(property: fc.IAsyncProperty<Ts>, p: typeof params = params): Promise<void> {
    const out = await fc.check(property, p);
    if (!out.failed) return;
    const cause = out.errorInstance instanceof Error ? out.errorInstance.message : String(out.errorInstance);
    throw new Error(
      `property failed (seed ${out.seed}, path "${out.counterexamplePath}"): ${JSON.stringify(shorten(out.counterexample))}\n${cause.slice(0, 2000)}`,
    );
  }
  /** Names that exist (any letter case), and two that do not. */
  const user = (): fc.Arbitrary<string> =>
    fc.constantFrom(alice.username, bob.username, alice.username.toUpperCase(), 'nobody', `${bob.username} `);
  const realUser = (): fc.Arbitrary<string> =>
    fc.constantFrom(
      alice.username,
      bob.username,
      alice.username.toUpperCase(),
      `${bob.username[0]!.toUpperCase()}${bob.username.slice(1)}`,
    );

  it('POST /users: signs up or refuses in the contract shape', async () => {
    let n = 0;
    await check(
      fc.asyncProperty(
        spoil('username', 'password', 'encoding'),
        fc.oneof(fc.stringMatching(/^[a-zA-Z0-9_.-]{1,32}$/), fc.constantFrom(alice.username, 'Alice')),
        fc.oneof(fc.constant('long enough password'), fc.string({ minLength: 8, maxLength: 20 }), fc.constant('😀'.repeat(256))),
        maybeNasty,
        maybeNasty,
        encoding,
        nastyString,
        async (bad, goodName, goodPassword, badName, badPassword, badEnc, garbage) => {
          const username = bad.has('username') ? badName : goodName;
          const password = bad.has('password') ? badPassword : goodPassword;
          const enc = bad.has('encoding') ? badEnc : 'json';
          const w = withBody('POST', '/users', { username, password }, enc, 'none', alice, garbage, undefined, []);
          const { res, json } = await exchange(`#${++n}`, w);
          if (res.status === 201) {
            const name = (json as { user: { username: string } }).user.username;
            assert.equal(name, String(username).toLowerCase());
            assert.ok(!users.has(name), 'a name signed up twice');
            users.add(name);
          }
          if (bad.size === 0 && res.status !== 201) assert.equal(res.status, 409, `a valid sign-up: ${res.status} ${res.text}`);
        },
      ),
      params,
    );
  });

  it('POST /sessions: logs in or refuses; tokens have the documented form', async () => {
    let n = 0;
    await check(
      fc.asyncProperty(
        spoil('username', 'password', 'device_name', 'encoding'),
        fc.constantFrom(alice.username, bob.username, alice.username.toUpperCase()),
        fc.option(fc.oneof(fc.string({ maxLength: 64 }), fc.constantFrom('kiosk', '  padded  ', 'x'.repeat(64))), { nil: undefined }),
        maybeNasty,
        maybeNasty,
        maybeNasty,
        encoding,
        nastyString,
        async (bad, goodName, goodDevice, badName, badPassword, badDevice, badEnc, garbage) => {
          const username = bad.has('username') ? badName : goodName;
          const password = bad.has('password') ? badPassword : 'correct horse';
          const deviceName = bad.has('device_name') ? badDevice : goodDevice;
          const enc = bad.has('encoding') ? badEnc : 'form';
          const w = withBody('POST', '/sessions', { username, password, device_name: deviceName }, enc, 'none', alice, garbage);
          const { res, json } = await exchange(`#${++n}`, w);
          if (res.status === 201) {
            const s = json as { token: string; device: { id: string; name: string }; cursor: string };
            assert.match(s.token, /^[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{43}$/);
            assert.equal(s.token.split('.')[0], s.device.id);
            assert.match(s.cursor, /^\d+$/);
            assert.ok(s.device.name.length > 0 && [...s.device.name].length <= 64);
            if (typeof deviceName === 'string' && deviceName.trim() && enc === 'json') assert.equal(s.device.name, deviceName.trim());
          }
          if (bad.size === 0) assert.equal(res.status, 201, `a valid log-in: ${res.status} ${res.text}`);
        },
      ),
      params,
    );
  });

  it("DELETE /sessions/current and DELETE /devices/:id: only the caller's own device is ever revoked", async () => {
    let n = 0;
    await check(
      fc.asyncProperty(
        fc.constantFrom('current', 'own-device', 'other-users-device', 'nasty'),
        nastyString,
        authKind,
        fc.constantFrom('DELETE', 'POST-override-header', 'POST-override-field'),
        encoding,
        async (target, nasty, auth, how, enc) => {
          // Fresh, disposable devices: the fuzz must not log out the devices it relies on.
          const mine = await logIn(t, alice.username, 'correct horse', 'disposable');
          const theirs = await logIn(t, bob.username, 'correct horse', 'not yours');
          const id =
            target === 'current'
              ? null
              : target === 'own-device'
                ? mine.deviceId
                : target === 'other-users-device'
                  ? theirs.deviceId
                  : nasty;
          const path = id === null ? '/sessions/current' : `/devices/${encodeURIComponent(id.toWellFormed())}`;
          const caller = target === 'own-device' ? alice : mine;
          let w: Wire;
          if (how === 'DELETE') {
            const a = tokenFor(auth === 'body' ? 'header' : auth, caller);
            w = { method: 'DELETE', path, query: a.query, headers: a.headers };
          } else {
            w = withBody(
              'POST',
              path,
              {},
              enc === 'garbage' || enc === 'json-array' ? 'json' : enc,
              auth,
              caller,
              '',
              how === 'POST-override-field' ? 'DELETE' : undefined,
            );
            if (how === 'POST-override-header') w.headers['X-HTTP-Method-Override'] = 'DELETE';
          }
          const { res } = await exchange(`#${++n} ${target} ${how} ${auth}`, w);
          const theirsWorks = (await t.http().get('/devices').set(theirs.auth)).status === 200;
          assert.ok(theirsWorks, "another user's device was revoked");
          const mineWorks = (await t.http().get('/devices').set(mine.auth)).status === 200;
          if (res.status === 204) assert.ok(target === 'current' || target === 'own-device', `204 for ${target}`);
          if (target === 'other-users-device' && authenticated(auth)) assert.equal(res.status, 404);
          assert.equal(mineWorks, res.status !== 204, 'the disposable device was revoked exactly when 204 said so');
          await t.http().delete('/sessions/current').set(theirs.auth);
          if (mineWorks) await t.http().delete('/sessions/current').set(mine.auth);
        },
      ),
      { ...params, numRuns: Math.ceil(RUNS / 2) },
    );
  });

  it('POST /messages: stores exactly what it acknowledges, refuses the rest in the contract shape', async () => {
    let n = 0;
    await check(
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
          const sender = n % 2 ? alice : bob;
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
            auth,
            sender,
            garbage,
            bad.has('override') ? nasty.override : undefined,
            bad.has('query') ? nasty.query : [],
          );
          const { res, json } = await exchange(`#${++n}`, w);
          if (res.status === 201 || res.status === 200)
            recordMessage(`#${n}`, json, res.status, { to, body, client_id: clientId }, sender, enc);
          if (res.status < 300) assert.ok(authenticated(auth), `${res.status} without a valid token (${auth})`);
          // A valid send is stored, or is a retry of one (same client_id), or reuses a client_id.
          if (bad.size === 0) assert.ok([200, 201, 409].includes(res.status), `a valid send: ${res.status} ${res.text.slice(0, 200)}`);
        },
      ),
      params,
    );
  });

  it('GET /messages, /conversations, /devices, /presence, /healthz, /metrics: answers or refuses in the contract shape', async () => {
    let n = 0;
    await check(
      fc.asyncProperty(
        fc.constantFrom('/messages', '/messages', '/messages', '/conversations', '/devices', '/presence', '/healthz', '/metrics'),
        fc.array(
          fc.tuple(
            fc.constantFrom('with', 'limit', 'before', 'after', 'with', 'limit'),
            fc.oneof(
              nastyString,
              fc.constantFrom(alice.username, bob.username, '1', '50', '200', '201', '0'),
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
          const a = tokenFor(auth, alice);
          const query: Query = [...a.query, ...q];
          if (cb !== undefined) query.push(['callback', cb]);
          const { res, json } = await exchange(`#${++n}`, { method, path, query, headers: a.headers });
          if (method !== 'GET' || res.status !== 200 || json === undefined) return;
          const j = json as Record<string, unknown>;
          if ('status' in j) return; // a JSONP-wrapped error, already checked
          if (path === '/messages') {
            const page = j as { messages: LedgerMessage[]; has_more: boolean };
            assert.equal(typeof page.has_more, 'boolean');
            for (const m of page.messages) {
              assert.ok(m.from === alice.username || m.to === alice.username, "history only ever holds the caller's own conversations");
              const known = ledger.get(m.id);
              assert.ok(known, `history shows message ${m.id}, never acknowledged`);
              assert.deepEqual([m.from, m.to, m.body], [known.from, known.to, known.body]);
            }
            for (let i = 1; i < page.messages.length; i++) assert.ok(page.messages[i]!.id > page.messages[i - 1]!.id, 'oldest first');
          }
          if (path === '/devices') assert.equal((j.devices as Array<{ current: boolean }>).filter((d) => d.current).length, 1);
        },
      ),
      params,
    );
  });

  it("POST /read: moves a marker only within the caller's own conversations", async () => {
    let n = 0;
    const ids = [...ledger.keys()];
    await check(
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
          const w = withBody('POST', '/read', { with: withUser, up_to: upTo }, enc, auth, alice, garbage);
          const { res } = await exchange(`#${++n}`, w);
          if (res.status === 204) {
            const m = ledger.get(Number(upTo));
            assert.ok(m, '204 for a message that does not exist');
            assert.ok(m.from === alice.username || m.to === alice.username, "204 for a message of someone else's conversation");
            const peer = String(withUser).trim().toLowerCase();
            assert.ok([m.from, m.to].includes(peer), '204 for a message of another conversation of the caller');
          }
        },
      ),
      params,
    );
  });

  it("GET /poll: any since, timeout and limit is answered from the caller's own stream or refused", async () => {
    let n = 0;
    await check(
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
          const a = tokenFor(auth, bob);
          const query: Query = [...a.query, ...q];
          if (cb !== undefined) query.push(['callback', cb]);
          const { res, json } = await exchange(`#${++n}`, { method: 'GET', path: '/poll', query, headers: a.headers });
          if (res.status !== 200 || json === undefined || 'status' in (json as object)) return;
          const p = json as { cursor: string; events: Array<{ type: string; message?: LedgerMessage }> };
          assert.match(p.cursor, /^\d+$/);
          for (const e of p.events) {
            assert.ok(e.type === 'message' || e.type === 'read');
            if (e.message) {
              assert.ok(e.message.from === bob.username || e.message.to === bob.username, "a poll shows only the caller's own stream");
              assert.ok(ledger.has(e.message.id), 'a poll shows only acknowledged messages');
            }
          }
        },
      ),
      params,
    );
  });

  it('GET /poll: for any since and limit, exactly the stream events after since, at most limit, oldest first', async () => {
    const all = await t.http().get('/poll?since=0&timeout=0&limit=1000').set(alice.auth).expect(200);
    const head = Number(all.body.cursor);
    const events = all.body.events as unknown[];
    assert.equal(events.length, head);
    await check(
      fc.asyncProperty(fc.integer({ min: 0, max: head + 3 }), fc.integer({ min: 1, max: head + 3 }), async (since, limit) => {
        const res = await t.http().get(`/poll?since=${since}&timeout=0&limit=${limit}`).set(alice.auth);
        requests++;
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
      params,
    );
  });

  it('any method on any path: never a 500, always the contract shape', async () => {
    let n = 0;
    const segment = fc.oneof(
      fc.constantFrom(
        'users',
        'sessions',
        'current',
        'devices',
        'messages',
        'conversations',
        'read',
        'poll',
        'presence',
        'healthz',
        'metrics',
        '..',
        '.',
        '%2e%2e',
        '%00',
        '%ZZ',
        '%ED%A0%80',
        '%E0%A4%A',
        'index.html',
        'app.js',
        'style.css',
        '..%2f..%2fpackage.json',
        '%2e%2e%2fdb',
        '..%5c..%5cpackage.json',
        'db',
        'src',
        'package.json',
        '',
      ),
      fc.string({ unit: 'binary-ascii', maxLength: 8 }).map((s) => encodeURIComponent(s)),
    );
    await check(
      fc.asyncProperty(
        fc.array(segment, { minLength: 1, maxLength: 4 }),
        fc.constantFrom('GET', 'POST', 'DELETE', 'PUT', 'PATCH', 'OPTIONS', 'HEAD'),
        fc.option(fc.constantFrom('DELETE', 'GET', 'PATCH', 'x'), { nil: undefined }),
        authKind.filter((k) => k !== 'body'),
        junkQuery,
        fc.option(
          fc.constantFrom(
            'since=%ED%A0%80',
            'with=%E0%A4%A',
            'limit=%',
            'callback=%ZZ',
            'access_token=%00',
            'a=%C0%AF',
            'since=1&since',
            '&&&',
            '=',
            'with=a%00b',
            'timeout=%2B5',
          ),
          { nil: undefined },
        ),
        async (segments, method, override, auth, q, rawQuery) => {
          const a = tokenFor(auth, alice);
          const headers = { ...a.headers };
          if (override) headers['X-HTTP-Method-Override'] = override;
          const path = `/${segments.join('/')}`;
          // Never log ourselves out here: that is the revocation test's business.
          if (/sessions|devices/i.test(path) && (method === 'DELETE' || override)) return;
          await exchange(`#${++n}`, {
            method,
            path,
            query: [...a.query, ...q],
            headers,
            body: method === 'POST' ? Buffer.from('{}') : undefined,
            rawQuery,
          });
        },
      ),
      params,
    );
  });

  it('afterwards: integrity_check passes and the database holds exactly what was acknowledged', async () => {
    const db = t.store.sqlite.db;
    await t.store.flush();
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    assert.deepEqual(db.pragma('foreign_key_check'), []);
    const stored = db
      .prepare(
        `SELECT m.id, s.username AS "from", r.username AS "to", m.body, m.client_id
         FROM messages m JOIN users s ON s.id = m.sender_id JOIN users r ON r.id = m.recipient_id ORDER BY m.id`,
      )
      .all() as LedgerMessage[];
    const acknowledged = [...ledger.values()].sort((x, y) => x.id - y.id);
    assert.equal(stored.length, acknowledged.length, 'as many messages stored as acknowledged');
    assert.deepEqual(stored, acknowledged, 'every stored message is one that was acknowledged, unchanged');
    const storedUsers = (db.prepare('SELECT username FROM users').pluck().all() as string[]).sort();
    assert.deepEqual(storedUsers, [...users].sort(), 'exactly the users that were answered 201');
    const torn = db
      .prepare(
        `SELECT count(*) FROM messages m WHERE (SELECT count(*) FROM events e WHERE e.kind = 1 AND e.message_id = m.id) <> CASE WHEN m.sender_id = m.recipient_id THEN 1 ELSE 2 END`,
      )
      .pluck()
      .get();
    assert.equal(torn, 0);
    assert.equal(Object.getOwnPropertyNames(Object.prototype).sort().join(), protoKeysBefore, 'Object.prototype untouched');
    const byStatus = [...statuses.entries()]
      .sort((x, y) => x[0] - y[0])
      .map(([s, c]) => `${s}:${c}`)
      .join(' ');
    report(
      `${requests} fuzzed requests (${byStatus}); ${acknowledged.length} messages and ${users.size} users acknowledged, exactly those stored; integrity_check ok`,
    );
  });
});
