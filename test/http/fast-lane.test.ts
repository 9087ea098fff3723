// The fast lane for GET /poll and POST /messages (src/http/fast-lane.ts, issue #5): it takes
// exactly the plain requests (token in the Authorization header, a plain JSON body) and leaves
// everything else to Koa, and what it answers is what Koa answers for the same request, errors
// included: the same status, body, every header (but Date and Keep-Alive) and the same log line
// (#12). Since authentication became asynchronous (#12) the lane decides from the method, path
// and headers alone, and answers a token that turns out bad itself. (With TEST_FAST_LANE=off
// both requests of a pair go to Koa: the comparisons then hold trivially, the rest still test.)
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import type request from 'supertest';
import { begin, expectError, type Login, newUser, send, startApp, type TestApp, waitHeld } from '../support/app';

/** Headers that differ between any two answers, whoever made them. */
const NOT_COMPARED = new Set(['date', 'keep-alive']);

/** The log lines written so far (startApp with a log sink), to compare each answer's line. */
let logLines: string[] = [];
const logSink = { write: (line: string) => void logLines.push(line) };
const startLogged = (env: Record<string, string> = {}) => startApp({ LOG_LEVEL: 'info', ...env }, logSink);

/** An answer and the request log line it left (its duration and time taken out). */
interface Seen {
  res: request.Response;
  line: Record<string, unknown> | undefined;
}

async function seen(req: PromiseLike<request.Response>): Promise<Seen> {
  const from = logLines.length;
  const res = await req;
  const lines = logLines
    .slice(from)
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.msg === 'request');
  assert.equal(lines.length, 1, `one request line: ${JSON.stringify(lines)}`);
  const { ms, time, ...line } = lines[0]!;
  assert.equal(typeof ms, 'number');
  assert.equal(typeof time, 'number');
  return { res, line };
}

/**
 * The same answer: status, body (Retry-After is jittered, and the message says it: compared
 * without its number), every header but Date and Keep-Alive, and the log line. `differ`: what
 * may differ for a reason the test gives (two created messages: their ids and bodies' lengths).
 */
function sameAnswer(fast: Seen, koa: Seen, what: string, differ: { body?: boolean } = {}): void {
  const [f, k] = [fast.res, koa.res];
  assert.equal(f.status, k.status, `${what}: status`);
  const jitterless = (r: request.Response) => JSON.stringify(r.body).replace(/retry in \d+ s/, 'retry in N s');
  if (!differ.body) assert.equal(jitterless(f), jitterless(k), `${what}: body`);
  for (const r of [f, k]) {
    assert.equal(r.headers['content-length'], String(Buffer.byteLength(r.text)), `${what}: Content-Length`);
    assert.equal(r.headers['transfer-encoding'], undefined, `${what}: not chunked`);
  }
  const names = (r: request.Response) =>
    Object.keys(r.headers)
      .filter((h) => !NOT_COMPARED.has(h))
      .sort();
  assert.deepEqual(names(f), names(k), `${what}: the same headers`);
  const jittered = f.headers['retry-after'] !== undefined || differ.body;
  for (const h of names(f)) {
    if (h === 'retry-after' || (h === 'content-length' && jittered)) continue;
    assert.equal(f.headers[h], k.headers[h], `${what}: ${h}`);
  }
  assert.deepEqual(fast.line, koa.line, `${what}: the log line`);
}

describe('fast lane for GET /poll and POST /messages (HTTP, #5)', () => {
  let t: TestApp;
  beforeEach(() => {
    logLines = [];
  });
  afterEach(() => t.close());

  it('takes plain polls and sends with a header token (a bad token answered there), and leaves everything else to Koa', async () => {
    t = await startApp();
    const a = await newUser(t);
    const lane = t.app.lane;
    // A server with only the lane: what it does not take is answered 599.
    const probe = http.createServer((req, res) => {
      if (!lane(req, res)) res.writeHead(599).end();
    });
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(probe.address() as AddressInfo).port}`;
    try {
      const get = async (path: string, headers: Record<string, string> = a.auth, method = 'GET') =>
        (await fetch(base + path, { method, headers })).status;
      assert.equal(await get(`/poll?since=${a.cursor}&timeout=0`), 200, 'a plain poll is taken');
      assert.equal(await get('/poll?timeout=0&_=123'), 200, 'cache-busters too');
      assert.equal(await get('/poll?timeout=0', { Authorization: 'Bearer not-a-token' }), 401, 'a bad token: taken, refused there');
      assert.equal(await get(`/poll?timeout=0`, { Authorization: `Bearer ${a.deviceId}.${'A'.repeat(43)}` }), 401, 'a wrong secret too');
      const left: Array<[string, Record<string, string>, string?]> = [
        [`/poll?timeout=0&callback=cb`, a.auth],
        [`/poll?timeout=0&access_token=${a.token}`, {}],
        [`/poll?timeout=abc`, { Authorization: 'Bearer not-a-token' }], // Koa's order: 401 before the parameters
        [`/poll?timeout=abc`, a.auth],
        [`/poll?since=zz&timeout=0`, a.auth],
        [`/poll?limit=0&timeout=0`, a.auth],
        [`/poll/?timeout=0`, a.auth],
        [`/presence`, a.auth],
        [`/poll?timeout=0`, a.auth, 'HEAD'],
      ];
      for (const [path, headers, method] of left)
        assert.equal(await get(path, headers, method), 599, `${method ?? 'GET'} ${path} goes to Koa`);

      const post = async (path: string, headers: Record<string, string>, body: string | Buffer) =>
        (await fetch(base + path, { method: 'POST', headers: { ...a.auth, ...headers }, body })).status;
      const json = JSON.stringify({ to: a.username, body: 'through the lane' });
      assert.equal(await post('/messages', { 'Content-Type': 'application/json' }, json), 201, 'a plain JSON send is taken');
      assert.equal(await post('/messages', { 'Content-Type': 'application/json; charset=UTF-8' }, json), 201, 'with its charset');
      assert.equal(
        await post('/messages', { 'Content-Type': 'application/json', Authorization: 'Bearer not-a-token' }, json),
        401,
        'a bad token: taken, refused there',
      );
      const leftPosts: Array<[string, Record<string, string>, string | Buffer]> = [
        ['/messages', { 'Content-Type': 'application/x-www-form-urlencoded' }, `to=${a.username}&body=form`],
        ['/messages', { 'Content-Type': 'text/plain' }, json],
        ['/messages', { 'Content-Type': 'application/json', 'X-HTTP-Method-Override': 'DELETE' }, json],
        ['/messages?x=1', { 'Content-Type': 'application/json' }, json],
        ['/messages', { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' }, zlib.gzipSync(json)],
        ['/messages', { 'Content-Type': 'application/json' }, JSON.stringify({ to: a.username, body: 'x'.repeat(70_000) })],
        ['/sessions', { 'Content-Type': 'application/json' }, '{}'],
      ];
      for (const [path, headers, body] of leftPosts)
        assert.equal(await post(path, headers, body), 599, `POST ${path} ${JSON.stringify(headers)} goes to Koa`);
      t.core.hub.closeAll();
      assert.equal(await get('/poll?timeout=0'), 599, 'shutting down: Koa');
    } finally {
      probe.closeAllConnections();
      await new Promise<void>((r) => probe.close(() => r()));
    }
  });

  it('answers as Koa does: events, timeouts and the errors of a poll under way', async () => {
    t = await startLogged({ MAX_HELD_POLLS: '1' });
    const a = await newUser(t);
    const b = await newUser(t);
    const koaAuth = (u: Login) => `access_token=${u.token}`; // a token in the query: Koa answers
    const both = async (u: Login, q: string, what: string) => {
      const fast = await seen(t.http().get(`/poll?${q}`).set(u.auth));
      const koa = await seen(t.http().get(`/poll?${q}&${koaAuth(u)}`));
      sameAnswer(fast, koa, what);
      return fast.res;
    };

    await send(t, a, b.username, 'hello');
    const events = await both(b, `since=${b.cursor}&timeout=5`, 'events waiting');
    assert.equal(events.status, 200);
    assert.equal(events.body.events.length, 1);
    await both(b, `since=${events.body.cursor}&timeout=0`, 'nothing new, timeout=0');
    expectError(await both(b, 'since=999&timeout=0', 'a cursor ahead of the stream'), 400, 'invalid_cursor');
    // A token that is not (or not any more) good: the lane takes the poll and refuses it as Koa does (#12).
    const loggedOut = await newUser(t);
    await t.http().delete('/sessions/current').set(loggedOut.auth).expect(204);
    for (const token of ['not-a-token', `${b.deviceId}.${'A'.repeat(43)}`, loggedOut.token]) {
      const fast = await seen(t.http().get('/poll?timeout=0').set('Authorization', `Bearer ${token}`));
      const koa = await seen(t.http().get(`/poll?timeout=0&access_token=${token}`));
      sameAnswer(fast, koa, `a bad token (${token.slice(0, 12)})`);
      expectError(fast.res, 401, 'unauthorized');
    }

    // The server full: the held poll takes the one slot, a second one is refused.
    const held = begin(t.http().get(`/poll?since=${events.body.cursor}&timeout=10`).set(b.auth));
    await waitHeld(t, 1);
    expectError(await both(a, 'since=1&timeout=5', 'server full'), 503, 'overloaded'); // a's own message is event 1
    // The held one, revoked while it waits, is answered 401 by the lane: the same as Koa's.
    await t.http().delete('/sessions/current').set(b.auth).expect(204);
    const revoked = await held;
    expectError(revoked, 401, 'unauthorized');
    assert.match(String(revoked.headers['www-authenticate']), /^Bearer /);
    assert.equal(revoked.headers['x-accel-buffering'], 'no');
    assert.equal(revoked.headers['cache-control'], 'no-store');
  });

  it('answers sends as Koa does: created, retried, refused in every way the body can be wrong', async () => {
    t = await startLogged({ RATE_MESSAGES_USER: '6/60' });
    const a = await newUser(t);
    const b = await newUser(t);
    // The lane: token in the header. Koa: the same JSON with the token in it instead.
    const both = async (fields: Record<string, unknown> | string, what: string) => {
      const raw = (withToken: boolean) =>
        typeof fields === 'string' ? fields : JSON.stringify(withToken ? { ...fields, access_token: a.token } : fields);
      const fast = await seen(t.http().post('/messages').set(a.auth).type('json').send(raw(false)));
      const koa = await seen(
        t
          .http()
          .post('/messages')
          .type('json')
          .send(typeof fields === 'string' ? raw(false) : raw(true))
          .set(typeof fields === 'string' ? a.auth : {}),
      );
      return { fast, koa, what };
    };
    const same = ({ fast, koa, what }: { fast: Seen; koa: Seen; what: string }) => {
      sameAnswer(fast, koa, what);
      return fast.res;
    };

    // Created (two different messages, so compare all but the id and time), then a retry.
    const created = {
      fast: await seen(t.http().post('/messages').set(a.auth).send({ to: b.username, body: 'hello', client_id: 'c1' })),
      koa: await seen(t.http().post('/messages').send({ to: b.username, body: 'hello', client_id: 'c2', access_token: a.token })),
    };
    assert.equal(created.fast.res.status, 201);
    assert.deepEqual(Object.keys(created.fast.res.body.message), Object.keys(created.koa.res.body.message));
    sameAnswer(created.fast, created.koa, 'created', { body: true });
    const retry = await t.http().post('/messages').set(a.auth).send({ to: b.username, body: 'hello', client_id: 'c1' }).expect(200);
    assert.deepEqual(retry.body, created.fast.res.body);
    expectError(same(await both({ to: b.username, body: 'other', client_id: 'c1' }, 'client_id reused')), 409, 'client_id_reused');
    expectError(same(await both({ to: 'nobody-here', body: 'x' }, 'no such user')), 404, 'user_not_found');
    expectError(same(await both({ body: 'x' }, 'no to')), 400, 'invalid_request');
    expectError(same(await both({ to: b.username, body: '   ' }, 'blank body')), 400, 'invalid_request');
    expectError(same(await both({ to: b.username, body: 5 }, 'a number for body')), 400, 'invalid_request');
    expectError(same(await both({ to: b.username, body: 'x', _method: 'PUT' }, 'a bad override')), 400, 'invalid_request');
    const deleted = same(await both({ to: b.username, body: 'x', _method: 'DELETE' }, 'an override to DELETE'));
    expectError(deleted, 405, 'method_not_allowed');
    assert.equal(deleted.headers.allow, 'GET, HEAD, POST');
    expectError(same(await both('{"to": ', 'broken JSON')), 400, 'invalid_json');
    // A bad token (#12): refused as Koa does, and, as in Koa, only after the body was read.
    for (const token of ['not-a-token', `${a.deviceId}.${'A'.repeat(43)}`]) {
      const json = { to: b.username, body: 'never stored' };
      const fast = await seen(t.http().post('/messages').set('Authorization', `Bearer ${token}`).type('json').send(JSON.stringify(json)));
      const koa = await seen(
        t
          .http()
          .post('/messages')
          .type('json')
          .send(JSON.stringify({ ...json, access_token: token })),
      );
      sameAnswer(fast, koa, `a bad token (${token.slice(0, 12)})`);
      expectError(fast.res, 401, 'unauthorized');
    }
    const badBoth = {
      fast: await seen(t.http().post('/messages').set('Authorization', 'Bearer not-a-token').type('json').send('{"to": ')),
      koa: await seen(t.http().post('/messages?access_token=not-a-token').type('json').send('{"to": ')),
    };
    sameAnswer(badBoth.fast, badBoth.koa, 'a bad token and broken JSON');
    expectError(badBoth.fast.res, 400, 'invalid_json');
    expectError(same(await both('"just a string"', 'not an object')), 400, 'invalid_json');
    expectError(same(await both('[1, 2]', 'an array')), 400, 'invalid_request');
    expectError(
      same(await both(`{"to": "${b.username}", "body": "x", "__proto__": {"admin": true}}`, 'a __proto__ key')),
      400,
      'invalid_json',
    );
    // Past the limit both refuse alike, with Retry-After.
    for (let i = 0; i < 8; i++)
      await t
        .http()
        .post('/messages')
        .set(a.auth)
        .send({ to: b.username, body: `fill ${i}` });
    const limited = same(await both({ to: b.username, body: 'one too many' }, 'rate limited'));
    expectError(limited, 429, 'rate_limited');
    assert.ok(Number(limited.headers['retry-after']) >= 1);
    // Nothing refused was stored: hello and the fills that fitted.
    const history = await t.http().get(`/messages?with=${b.username}&limit=50`).set(a.auth).expect(200);
    assert.ok(
      history.body.messages.every((m: { body: string }) => m.body === 'hello' || m.body.startsWith('fill ')),
      JSON.stringify(history.body),
    );
    assert.equal(history.body.messages.filter((m: { body: string }) => m.body === 'hello').length, 2, 'c1 and c2, each once');
  });

  it("says Vary: Origin and answers with the caller's origin when CORS_ORIGIN is a list", async () => {
    t = await startLogged({ CORS_ORIGIN: 'https://a.example, https://b.example' });
    const a = await newUser(t);
    const fast = await seen(t.http().get('/poll?timeout=0').set(a.auth).set('Origin', 'https://b.example'));
    const koa = await seen(t.http().get(`/poll?timeout=0&access_token=${a.token}`).set('Origin', 'https://b.example'));
    sameAnswer(fast, koa, 'listed origin');
    assert.equal(fast.res.headers['access-control-allow-origin'], 'https://b.example');
    assert.equal(fast.res.headers.vary, 'Origin');
  });
});
