// deploy/nginx/chat.conf, run by Debian's nginx in front of the real server (issue #7): a held
// poll, a send and a JSONP poll go through it as the contract says, answers stay whole (no
// chunking, no gzip), the body limits of proxy and server meet exactly, and what nginx sends
// upstream (HTTP/1.1, reused connections, the client address it saw) is checked on the wire.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { call, signUpAndLogIn } from '../support/client';
import { type RunningServer, startServer } from '../support/server';
import { sleep } from '../support/util';
import { NGINX_BIN, nginxAvailable, type RunningNginx, startNginx } from './nginx-harness';
import { otherSpellings, sameSpellings } from '../support/spellings';
import { rawTarget } from '../support/raw-target';
import { raw, type RawResponse } from './raw-http';

const SKIP_MESSAGE = `nginx is not installed at ${NGINX_BIN} (apt-get install nginx; .ci/run installs it): the proxy tests are skipped`;

/** Sent whole: a Content-Length that matches, no chunking, no compression. */
function assertWhole(res: RawResponse): void {
  assert.equal(res.headers['transfer-encoding'], undefined, 'not chunked');
  assert.equal(res.headers['content-encoding'], undefined, 'not compressed');
  assert.equal(res.headers['content-length'], String(Buffer.byteLength(res.text)), 'Content-Length matches the body');
}

function assertNoStore(res: RawResponse): void {
  assert.equal(res.headers['cache-control'], 'no-store');
  assert.equal(res.headers.pragma, 'no-cache');
  assert.equal(res.headers.expires, '0');
}

describe('nginx in front of the real server (deploy/nginx/chat.conf, #7)', function () {
  this.timeout(60_000);
  let server: RunningServer | undefined;
  let nginx: RunningNginx | undefined;
  let alice: { token: string; cursor: string };
  let bob: { token: string; cursor: string };

  before(async function () {
    if (!nginxAvailable()) {
      console.log(`      ${SKIP_MESSAGE}`);
      this.skip();
    }
    server = await startServer({ env: { SCRYPT_COST: '10', TRUST_PROXY: 'true' } });
    nginx = await startNginx(server.port);
    // Accounts are made through the proxy too: POST bodies pass it unharmed.
    alice = await signUpAndLogIn(nginx.url, 'alice');
    bob = await signUpAndLogIn(nginx.url, 'bob', 'kiosk');
  });

  after(async () => {
    await nginx?.stop();
    await server?.stop();
  });

  it('holds a poll and answers it within milliseconds of a send, sent whole', async () => {
    const n = nginx!;
    const started = Date.now();
    let settled = false;
    const held = raw(`${n.url}/poll?since=${encodeURIComponent(bob.cursor)}&timeout=20`, {
      headers: { Authorization: `Bearer ${bob.token}` },
    });
    void held.then(
      () => (settled = true),
      () => (settled = true),
    );
    await sleep(800);
    assert.equal(settled, false, 'the poll is held, not answered at once');

    const sentAt = Date.now();
    const sent = await call(n.url, 'POST', '/messages', { token: alice.token, body: { to: 'bob', body: 'through the proxy' } });
    assert.equal(sent.status, 201, sent.text);
    const res = await held;
    const latency = res.doneAt - sentAt;
    assert.ok(res.doneAt - started >= 800, 'was held before the send');
    assert.ok(latency < 1000, `answered ${latency} ms after the send`);

    assert.equal(res.status, 200, res.text);
    const body = JSON.parse(res.text) as { cursor: string; events: Array<{ type: string; message: { body: string; id: number } }> };
    assert.deepEqual(
      body.events.map((e) => [e.type, e.message.body]),
      [['message', 'through the proxy']],
    );
    assert.equal(body.events[0]?.message.id, sent.body.message.id);
    assertWhole(res);
    assertNoStore(res);
    assert.match(String(res.headers['content-type']), /^application\/json; charset=utf-8$/);
    assert.equal(res.headers['x-accel-buffering'], 'no', 'X-Accel-Buffering reaches the client for proxies beyond this one');
    bob.cursor = body.cursor;
  });

  it('takes a send the way curl -d makes it (form-encoded) and delivers it once', async () => {
    const n = nginx!;
    const form = new URLSearchParams({
      to: 'bob',
      body: 'form <b>encoded</b> & more',
      client_id: 'nginx-form-1',
      access_token: alice.token,
    });
    const headers = { 'Content-Type': 'application/x-www-form-urlencoded' };
    const first = await raw(`${n.url}/messages`, { method: 'POST', headers, body: form.toString() });
    assert.equal(first.status, 201, first.text);
    assertWhole(first);
    const msg = (JSON.parse(first.text) as { message: { id: number; body: string; client_id: string } }).message;
    assert.equal(msg.body, 'form <b>encoded</b> & more');
    assert.equal(msg.client_id, 'nginx-form-1');

    // A client's retry (its answer was lost on the way) is answered 200 with the same message.
    const retry = await raw(`${n.url}/messages`, { method: 'POST', headers, body: form.toString() });
    assert.equal(retry.status, 200, retry.text);
    assert.equal((JSON.parse(retry.text) as { message: { id: number } }).message.id, msg.id);

    const seen = await call(n.url, 'GET', `/poll?since=${encodeURIComponent(bob.cursor)}&timeout=0`, { token: bob.token });
    assert.deepEqual(
      seen.body.events.map((e: { message: { id: number } }) => e.message.id),
      [msg.id],
    );
    bob.cursor = seen.body.cursor;
  });

  it('answers a JSONP poll (token in the query, as a script tag sends it)', async () => {
    const n = nginx!;
    const sent = await call(n.url, 'POST', '/messages', { token: alice.token, body: { to: 'bob', body: 'for the old kiosk \u2028 line' } });
    assert.equal(sent.status, 201);
    const q = new URLSearchParams({
      since: bob.cursor,
      timeout: '5',
      callback: 'chat.onPoll',
      access_token: bob.token,
      _: '1700000000000',
    });
    const res = await raw(`${n.url}/poll?${q.toString()}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/javascript; charset=utf-8');
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assertWhole(res);
    assertNoStore(res);
    const m = /^\/\*\*\/chat\.onPoll\(([\s\S]*)\);$/.exec(res.text);
    assert.ok(m?.[1], `JSONP body: ${res.text}`);
    assert.ok(!res.text.includes('\u2028'), 'U+2028 is escaped');
    const inner = JSON.parse(m[1]) as { cursor: string; events: Array<{ message: { body: string } }> };
    assert.deepEqual(
      inner.events.map((e) => e.message.body),
      ['for the old kiosk \u2028 line'],
    );

    // An error through JSONP is still 200, with the real status inside.
    const bad = await raw(`${n.url}/poll?since=not-a-cursor&callback=cb&access_token=${bob.token}`);
    assert.equal(bad.status, 200);
    const badInner = JSON.parse(/^\/\*\*\/cb\(([\s\S]*)\);$/.exec(bad.text)?.[1] ?? 'null') as { status: number; error: { code: string } };
    assert.equal(badInner.status, 400);
    assert.equal(badInner.error.code, 'invalid_cursor');
  });

  it('lets a body of exactly the server limit (64 KiB) through and refuses one byte more with a JSON 413', async () => {
    const n = nginx!;
    const limit = 64 * 1024;
    const make = (size: number): string => {
      const head = '{"to":"bob","body":"';
      const tail = '"}';
      return head + 'x'.repeat(size - head.length - tail.length) + tail;
    };
    const headers = { 'Content-Type': 'application/json', Authorization: `Bearer ${alice.token}` };
    // Exactly the limit: the server itself reads it (and refuses the 65 000-character text).
    const atLimit = await raw(`${n.url}/messages`, { method: 'POST', headers, body: make(limit) });
    assert.equal(atLimit.status, 400, atLimit.text);
    assert.equal((JSON.parse(atLimit.text) as { error: { code: string; message: string } }).error.code, 'invalid_request');

    const over = await raw(`${n.url}/messages`, { method: 'POST', headers, body: make(limit + 1) });
    assert.equal(over.status, 413);
    assert.deepEqual(Object.keys(JSON.parse(over.text) as object), ['error']);
    assert.equal((JSON.parse(over.text) as { error: { code: string } }).error.code, 'payload_too_large');
    assert.equal(over.headers['content-type'], 'application/json; charset=utf-8');
    assertNoStore(over);
    // ...and the server without nginx draws the line at the same byte.
    const direct = await raw(`${server!.url}/messages`, { method: 'POST', headers, body: make(limit + 1) });
    assert.equal(direct.status, 413);
  });
  // Found in review (#13): the server also answered /METRICS, /Metrics and /metrics/, which
  // nginx's exact `location = /metrics` does not match and so passed on to anyone.
  it('keeps /metrics to this box: no spelling of it reaches the metrics from another address', async () => {
    const n = nginx!;
    const isMetrics = (body: string) => /^# (HELP|TYPE) /m.test(body) || body.includes('chat_held_polls');
    // From the box itself (127.0.0.1): the metrics, so the rule below is not just broken.
    const own = await rawTarget(n.port, 'GET', '/metrics');
    assert.equal(own.status, 200);
    assert.ok(isMetrics(own.body), 'this box reads the metrics');
    const seen: string[] = [];
    const targets = [...sameSpellings('/metrics'), ...otherSpellings('/metrics')];
    for (const method of ['GET', 'HEAD', 'POST', 'OPTIONS'])
      for (const target of targets) {
        const r = await rawTarget(n.port, method, target, { localAddress: '127.0.0.2' });
        const what = `${method} ${JSON.stringify(target)} from 127.0.0.2 -> ${r.status} ${r.body.slice(0, 100)}`;
        assert.ok(!isMetrics(r.body) && !/\r\ncontent-type: text\/plain/i.test(r.head), `${what}: the metrics`);
        // JSONP (callback=) is answered 200 with the real status inside (HEAD: only its type).
        const jsonp = r.status === 200 && /\r\ncontent-type: application\/javascript/i.test(r.head);
        const inner = /^\/\*\*\/x\((.*)\);$/s.exec(r.body)?.[1];
        const status = jsonp ? (inner ? (JSON.parse(inner) as { status: number }).status : 404) : r.status;
        seen.push(`${status}`);
        assert.ok([400, 403, 404, 405].includes(status), what);
        // nginx's own refusal and the server's 404 are both in the contract's shape.
        if (!jsonp && (r.status === 403 || r.status === 404)) {
          assert.match(r.head, /\r\ncontent-type: application\/json; charset=utf-8/i, what);
          if (method !== 'HEAD')
            assert.ok(['forbidden', 'not_found'].includes((JSON.parse(r.body) as { error: { code: string } }).error.code), what);
        }
      }
    const count = (st: string) => seen.filter((x) => x === st).length;
    console.log(
      `      ${targets.length} spellings of /metrics × 4 methods from another address: ${count('403')} refused by nginx, ${count('404')} by the server, ${count('400')} malformed`,
    );
  });
});

describe('what nginx sends upstream (deploy/nginx/chat.conf, #7)', function () {
  this.timeout(30_000);
  interface Seen {
    httpVersion: string;
    headers: http.IncomingHttpHeaders;
    socket: number;
  }
  const seen: Seen[] = [];
  const sockets = new Map<Socket, number>();
  let upstream: http.Server | undefined;
  let nginx: RunningNginx | undefined;

  before(async function () {
    if (!nginxAvailable()) {
      console.log(`      ${SKIP_MESSAGE}`);
      this.skip();
    }
    // A stand-in upstream that records each request as it arrived on the wire.
    upstream = http.createServer((req, res) => {
      let id = sockets.get(req.socket);
      if (id === undefined) {
        id = sockets.size + 1;
        sockets.set(req.socket, id);
      }
      seen.push({ httpVersion: req.httpVersion, headers: req.headers, socket: id });
      const body = JSON.stringify({ ok: true });
      res.writeHead(200, {
        'Content-Type': 'application/json; charset=utf-8',
        'Content-Length': Buffer.byteLength(body),
        'X-Accel-Buffering': 'no',
      });
      res.end(body);
    });
    upstream.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve) => upstream!.listen(0, '127.0.0.1', resolve));
    nginx = await startNginx((upstream.address() as AddressInfo).port);
  });

  after(async () => {
    await nginx?.stop();
    upstream?.closeAllConnections();
    await new Promise<void>((resolve) => (upstream?.listening ? upstream.close(() => resolve()) : resolve()));
  });

  it('speaks HTTP/1.1 upstream, reuses one connection, and sets the client address itself', async () => {
    for (let i = 0; i < 3; i++) {
      // Each request on a new client connection, each with forged address headers.
      const res = await raw(`${nginx!.url}/healthz?n=${i}`, {
        headers: { 'X-Forwarded-For': '203.0.113.9', 'X-Real-IP': '203.0.113.9', Host: 'chat.example.org' },
      });
      assert.equal(res.status, 200);
    }
    assert.equal(seen.length, 3);
    for (const s of seen) {
      assert.equal(s.httpVersion, '1.1');
      assert.notEqual((s.headers.connection ?? '').toLowerCase(), 'close', 'no Connection: close upstream');
      assert.equal(s.headers['x-forwarded-for'], '127.0.0.1', 'the forged X-Forwarded-For is replaced, not appended to');
      assert.equal(s.headers['x-real-ip'], '127.0.0.1');
      assert.equal(s.headers['x-forwarded-proto'], 'http');
      assert.equal(s.headers.host, 'chat.example.org');
    }
    assert.deepEqual(new Set(seen.map((s) => s.socket)).size, 1, 'one upstream connection kept alive for all three');
  });

  it('answers in the contract shape when the server is down: 503 overloaded with Retry-After', async () => {
    upstream!.closeAllConnections();
    await new Promise<void>((resolve) => upstream!.close(() => resolve()));
    const res = await raw(`${nginx!.url}/poll?timeout=20`);
    assert.equal(res.status, 503);
    assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
    assert.match(String(res.headers['retry-after']), /^\d+$/);
    assert.equal(res.headers['access-control-allow-origin'], '*');
    assertNoStore(res);
    const body = JSON.parse(res.text) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'overloaded');
    assert.ok(body.error.message.length > 0);
  });
});

describe('client addresses through nginx (deploy/nginx/chat.conf, TRUST_PROXY, #7)', function () {
  this.timeout(60_000);
  let server: RunningServer | undefined;
  let nginx: RunningNginx | undefined;

  before(async function () {
    if (!nginxAvailable()) {
      console.log(`      ${SKIP_MESSAGE}`);
      this.skip();
    }
    // Two sign-ups per client address: the server's per-address limit shows which address
    // it took each request to come from.
    server = await startServer({ env: { SCRYPT_COST: '10', TRUST_PROXY: 'true', RATE_SIGNUP_IP: '2/3600' } });
    nginx = await startNginx(server.port, { limitConn: 2 });
  });
  after(async () => {
    await nginx?.stop();
    await server?.stop();
  });

  const signUp = (name: string, opts: { forged?: string; from?: string } = {}): Promise<RawResponse> =>
    raw(`${nginx!.url}/users`, {
      method: 'POST',
      localAddress: opts.from,
      headers: { 'Content-Type': 'application/json', ...(opts.forged ? { 'X-Forwarded-For': opts.forged, 'X-Real-IP': opts.forged } : {}) },
      body: JSON.stringify({ username: name, password: 'long enough' }),
    });

  it('the server sees the address nginx saw: forged headers change nothing, another client has its own limit', async () => {
    assert.equal((await signUp('ip_a1', { forged: '198.51.100.1' })).status, 201);
    assert.equal((await signUp('ip_a2', { forged: '198.51.100.2' })).status, 201);
    // A third from the same client, claiming yet another address, is over that client's limit.
    const third = await signUp('ip_a3', { forged: '198.51.100.3' });
    assert.equal(third.status, 429, third.text);
    assert.equal((JSON.parse(third.text) as { error: { code: string } }).error.code, 'rate_limited');
    assert.match(String(third.headers['retry-after']), /^\d+$/);
    // 127.0.0.2 is another client to nginx, and so to the server: its own budget.
    const other = await signUp('ip_b1', { from: '127.0.0.2' });
    assert.equal(other.status, 201, other.text);
  });

  it('bounds the requests in progress per client address, answering 429 rate_limited in the JSON shape', async () => {
    const n = nginx!;
    const login = async (name: string): Promise<string> => {
      assert.equal((await signUp(name, { from: '127.0.0.3' })).status, 201);
      const s = await raw(`${n.url}/sessions`, {
        method: 'POST',
        localAddress: '127.0.0.3',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ username: name, password: 'long enough' }),
      });
      assert.equal(s.status, 201, s.text);
      return (JSON.parse(s.text) as { token: string }).token;
    };
    const token = await login('ip_c1');
    const auth = { Authorization: `Bearer ${token}` };
    // Two held polls from 127.0.0.1 use up its bound of two (lowered from 1000 for the test).
    const held = [0, 1].map(() => raw(`${n.url}/poll?timeout=20`, { headers: auth }));
    await sleep(500);
    const refused = await raw(`${n.url}/healthz`);
    assert.equal(refused.status, 429);
    assert.equal(refused.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(refused.headers['retry-after'], '5');
    assertNoStore(refused);
    assert.equal((JSON.parse(refused.text) as { error: { code: string } }).error.code, 'rate_limited');
    // Other clients are not affected.
    assert.equal((await raw(`${n.url}/healthz`, { localAddress: '127.0.0.2' })).status, 200);

    // A note to self wakes both polls; then 127.0.0.1 is under its bound again.
    const sent = await raw(`${n.url}/messages`, {
      method: 'POST',
      localAddress: '127.0.0.3',
      headers: { ...auth, 'Content-Type': 'application/json' },
      body: JSON.stringify({ to: 'ip_c1', body: 'wake up' }),
    });
    assert.equal(sent.status, 201, sent.text);
    for (const res of await Promise.all(held)) assert.equal(res.status, 200);
    assert.equal((await raw(`${n.url}/healthz`)).status, 200);
  });
});
