// Slow and hostile clients (issue #6), against the real process with its real timeouts:
// slow-loris headers and bodies are cut, silent sockets are closed, oversized bodies are
// refused without being read, deeply nested JSON is refused, header floods are refused, and
// one address cannot hold more than MAX_CONNECTIONS_PER_IP connections while other addresses
// are served normally.
import assert from 'node:assert/strict';
import net from 'node:net';
import { MAX_PIPELINED } from '../../src/connections';
import { begin, expectError, signUp, startApp, type TestApp } from '../support/app';
import { call, signUpAndLogIn } from '../support/client';
import { type RunningServer, startServer } from '../support/server';
import { sleep } from '../support/util';
import { closedWithin, metrics, rawJson, rawRequest, rawStatus, report, rssMiB } from './harness';

const HEADERS_TIMEOUT_S = 1;
const REQUEST_TIMEOUT_S = 2;
/** Node checks its request timeouts once a second (connectionsCheckingInterval in server.ts). */
const CHECK_SLACK_MS = 2000;

/** A connection from another loopback address: the server sees another client. */
function connectFrom(port: number, localAddress: string): Promise<net.Socket | null> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress }, () => resolve(s));
    s.on('error', () => resolve(null));
  });
}

function getFrom(port: number, localAddress: string, path: string): Promise<number> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress }, () =>
      s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
    );
    let data = '';
    s.on('data', (d: Buffer) => (data += d.toString('latin1')));
    s.on('error', () => undefined);
    s.on('close', () => resolve(rawStatus(data)));
  });
}

describe('faults: slow and hostile clients (#6)', function () {
  this.timeout(120_000);
  let server: RunningServer;
  let token: string;
  before(async () => {
    server = await startServer({
      env: {
        HEADERS_TIMEOUT: String(HEADERS_TIMEOUT_S),
        REQUEST_TIMEOUT: String(REQUEST_TIMEOUT_S),
        MAX_CONNECTIONS_PER_IP: '60',
        SCRYPT_COST: '10',
      },
    });
    token = (await signUpAndLogIn(server.url, 'target')).token;
    await signUpAndLogIn(server.url, 'friend');
  });
  after(() => server.stop('SIGKILL'));

  it('slow-loris headers and silent sockets are cut at their deadline while others are served', async () => {
    const N = 25;
    const started = Date.now();
    // Header lines trickled forever: each line resets nothing, the deadline is for all headers.
    const loris = Array.from(
      { length: N },
      () =>
        new Promise<number>((resolve) => {
          const s = net.connect(server.port, '127.0.0.1', () => s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n'));
          const drip = setInterval(() => s.writable && s.write(`X-Drip-${Date.now()}: ${'a'.repeat(10)}\r\n`), 200);
          s.on('error', () => undefined);
          s.on('close', () => {
            clearInterval(drip);
            resolve(Date.now() - started);
          });
          setTimeout(() => s.destroy(), 15_000);
        }),
    );
    const silent = await Promise.all(
      Array.from(
        { length: N },
        () =>
          new Promise<net.Socket>((resolve) => {
            const s = net.connect(server.port, '127.0.0.1', () => resolve(s));
            s.on('error', () => undefined);
          }),
      ),
    );
    const silentClosed = silent.map((s) => closedWithin(s, 15_000).then(() => Date.now() - started));
    // Meanwhile a normal client, from the same address, is answered at once.
    let worst = 0;
    while (Date.now() - started < HEADERS_TIMEOUT_S * 1000 + 500) {
      const t0 = Date.now();
      assert.equal((await call(server.url, 'GET', '/healthz')).status, 200);
      worst = Math.max(worst, Date.now() - t0);
      await sleep(50);
    }
    const lorisMs = await Promise.all(loris);
    const silentMs = await Promise.all(silentClosed);
    const limit = HEADERS_TIMEOUT_S * 1000 + CHECK_SLACK_MS;
    report(
      `${N} slow-loris sockets closed after ${Math.min(...lorisMs)}..${Math.max(...lorisMs)} ms, ${N} silent sockets after ${Math.min(...silentMs)}..${Math.max(...silentMs)} ms (HEADERS_TIMEOUT=${HEADERS_TIMEOUT_S}s); slowest /healthz meanwhile ${worst} ms`,
    );
    assert.ok(Math.max(...lorisMs) <= limit, 'slow-loris headers cut at HEADERS_TIMEOUT');
    assert.ok(Math.max(...silentMs) <= limit, 'silent sockets cut at HEADERS_TIMEOUT');
    assert.ok(worst < 1000, 'others are served meanwhile');
  });

  it('a body trickled byte by byte is cut at REQUEST_TIMEOUT and stores nothing', async () => {
    const before = (await metrics(server.url)).get('chat_messages_stored');
    const body = JSON.stringify({ to: 'friend', body: 'x'.repeat(900) });
    const r = await rawRequest(
      server.port,
      `POST /messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
      { trickle: body.length, trickleMs: 100, maxMs: 20_000 },
    );
    report(
      `slow body: ${r.sent} of ${body.length} bytes sent, then answered ${rawStatus(r.data)} and closed after ${r.closedMs} ms (REQUEST_TIMEOUT=${REQUEST_TIMEOUT_S}s)`,
    );
    assert.ok(r.closedMs <= REQUEST_TIMEOUT_S * 1000 + CHECK_SLACK_MS, 'cut at REQUEST_TIMEOUT');
    assert.equal(rawStatus(r.data), 408);
    assert.equal((rawJson(r.data) as { error: { code: string } }).error.code, 'request_timeout');
    assert.ok(r.sent < body.length);
    assert.equal((await metrics(server.url)).get('chat_messages_stored'), before);
  });

  it('an oversized body is refused 413 from its Content-Length before a byte of it is sent, and a chunked one after the limit', async () => {
    const rss0 = rssMiB(server.pid);
    const declared = await rawRequest(
      server.port,
      `POST /messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 200000000\r\n\r\n`,
      { maxMs: 10_000 },
    );
    assert.equal(rawStatus(declared.data), 413);
    assert.equal((rawJson(declared.data) as { error: { code: string } }).error.code, 'payload_too_large');
    assert.equal(declared.sent, 0);
    assert.ok((declared.firstByteMs ?? Infinity) < 1000, `413 at once (${declared.firstByteMs} ms)`);

    const chunked = await rawRequest(
      server.port,
      `POST /messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`,
      { chunked: 100 * 2 ** 20, maxMs: 15_000 },
    );
    assert.equal(rawStatus(chunked.data), 413);
    assert.equal((rawJson(chunked.data) as { error: { code: string } }).error.code, 'payload_too_large');
    const grew = rssMiB(server.pid) - rss0;
    report(
      `declared 200 MB: 413 after ${declared.firstByteMs} ms with 0 bytes sent; chunked: 413 after ${(chunked.sent / 2 ** 20).toFixed(1)} MiB pushed (socket buffers), server memory +${grew.toFixed(1)} MiB; connections closed after ${declared.closedMs} and ${chunked.closedMs} ms`,
    );
    assert.ok(chunked.sent < 32 * 2 ** 20, 'refused long before the 100 MiB were sent');
    assert.ok(grew < 16, 'the body was not read into memory');
    // Neither body will ever be complete: the connection goes at REQUEST_TIMEOUT.
    const closeBy = REQUEST_TIMEOUT_S * 1000 + CHECK_SLACK_MS;
    assert.ok(declared.closedMs <= closeBy && chunked.closedMs <= closeBy, `closed after ${declared.closedMs} and ${chunked.closedMs} ms`);
  });

  it('deeply nested and huge JSON, nested forms and header floods are refused in the contract shape', async () => {
    const post = async (type: string, body: string) => {
      const t0 = Date.now();
      const r = await fetch(`${server.url}/messages`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': type },
        body,
      });
      return { status: r.status, json: (await r.json()) as { error?: { code: string } }, ms: Date.now() - t0 };
    };
    const cases: Array<[string, string, string, number]> = [
      ['arrays nested 30 000 deep', 'application/json', `${'['.repeat(30_000)}${']'.repeat(30_000)}`, 400],
      ['objects nested 10 000 deep in "to"', 'application/json', `{"body":"x","to":${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}}`, 400],
      ['the same as text/plain', 'text/plain', `{"body":"x","to":${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}}`, 400],
      ['a form nested 2 000 deep', 'application/x-www-form-urlencoded', `to${'[a]'.repeat(2000)}=1&body=x`, 400],
      ['5 000 keys', 'application/json', JSON.stringify(Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k${i}`, i]))), 400],
      ['1 MB of JSON', 'application/json', JSON.stringify({ to: 'friend', body: 'x'.repeat(2 ** 20) }), 413],
      ['a 1 MB string of numbers', 'application/json', `[${'1,'.repeat(500_000)}1]`, 413],
    ];
    for (const [what, type, body, status] of cases) {
      const r = await post(type, body);
      report(`${what}: ${r.status} ${r.json.error?.code} in ${r.ms} ms`);
      assert.equal(r.status, status, what);
      assert.match(r.json.error?.code ?? '', /^(invalid_request|invalid_json|payload_too_large)$/, what);
      assert.ok(r.ms < 2000, `${what}: answered quickly`);
    }
    const headers = await rawRequest(server.port, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Flood: ${'a'.repeat(100_000)}\r\n\r\n`, {
      maxMs: 5000,
    });
    assert.equal(rawStatus(headers.data), 431);
    assert.equal((rawJson(headers.data) as { error: { code: string } }).error.code, 'headers_too_large');
    const many = Array.from({ length: 3000 }, (_, i) => `X-H${i}: v`).join('\r\n');
    const manyHeaders = await rawRequest(server.port, `GET /healthz HTTP/1.1\r\nHost: x\r\n${many}\r\n\r\n`, { maxMs: 5000 });
    assert.ok([200, 431].includes(rawStatus(manyHeaders.data)), `3000 headers: ${rawStatus(manyHeaders.data)}`);
    const smuggle = await rawRequest(
      server.port,
      `POST /messages HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
      { maxMs: 5000 },
    );
    assert.equal(rawStatus(smuggle.data), 400, 'Content-Length with Transfer-Encoding is refused');
    report(
      `100 KB header: ${rawStatus(headers.data)}; 3000 headers: ${rawStatus(manyHeaders.data)}; Content-Length + Transfer-Encoding: ${rawStatus(smuggle.data)}`,
    );
    assert.equal((await call(server.url, 'GET', '/healthz')).status, 200);
  });

  it("requests Node's parser refuses before the app sees them, or Node would answer itself, get the contract's shape, and are closed", async () => {
    const cases: Array<[string, string, number, string]> = [
      ['an unknown method', 'FOO /healthz HTTP/1.1\r\nHost: x\r\n\r\n', 400, 'invalid_request'],
      [
        'a Content-Length that is not a number',
        'POST /messages HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n',
        400,
        'invalid_request',
      ],
      ['a request line that is not HTTP', 'hello there\r\n\r\n', 400, 'invalid_request'],
      ['a bad chunk size', 'POST /messages HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 400, 'invalid_request'],
      ['a URL over 16 KiB', `GET /healthz?x=${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`, 431, 'headers_too_large'],
      // (this one reaches the app, which closes the connection because the client asked it to)
      ['HTTP/1.1 without Host', 'GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n', 400, 'invalid_request'],
      // #13 item 10: Node's own answers were a chunked 417 without the contract's headers, and none at all.
      [
        'an Expect other than 100-continue',
        'POST /messages HTTP/1.1\r\nHost: x\r\nExpect: foo\r\nContent-Length: 2\r\n\r\n{}',
        417,
        'expectation_failed',
      ],
      ['CONNECT (this is no proxy)', 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', 405, 'method_not_allowed'],
      ['raw bytes that are not UTF-8 in the URL', 'GET /poll?since=\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n', 400, 'invalid_request'],
    ];
    for (const [what, head, status, code] of cases) {
      const r = await rawRequest(server.port, head, { maxMs: 5000 });
      report(
        `${what}: ${rawStatus(r.data)} ${(rawJson(r.data) as { error?: { code: string } } | undefined)?.error?.code}, closed after ${r.closedMs} ms`,
      );
      assert.equal(rawStatus(r.data), status, what);
      assert.equal((rawJson(r.data) as { error: { code: string } }).error.code, code, what);
      const head_ = r.data.slice(0, r.data.indexOf('\r\n\r\n')).toLowerCase();
      for (const h of [
        'content-type: application/json; charset=utf-8',
        'cache-control: no-store',
        'pragma: no-cache',
        'expires: 0',
        'access-control-allow-origin: *',
        'x-content-type-options: nosniff',
        'connection: close',
      ]) {
        assert.ok(head_.includes(`\r\n${h}`), `${what}: ${h}`);
      }
      assert.ok(!head_.includes('transfer-encoding'), `${what}: not chunked`);
      assert.ok(r.closedMs < 4000, `${what}: the connection was closed (${r.closedMs} ms)`);
    }
    // HTTP/1.0 never needed Host.
    assert.equal(rawStatus((await rawRequest(server.port, 'GET /healthz HTTP/1.0\r\n\r\n', { maxMs: 5000 })).data), 200);
  });

  it('one address holds at most MAX_CONNECTIONS_PER_IP connections; the excess is closed at once and other addresses are served', async () => {
    // Everything else in this file comes from 127.0.0.1; this client is 127.0.0.2.
    const LIMIT = 60;
    const socks = await Promise.all(Array.from({ length: LIMIT + 40 }, () => connectFrom(server.port, '127.0.0.2')));
    const closed = await Promise.all(socks.map((s) => (s ? closedWithin(s, 500) : Promise.resolve(true))));
    const refused = closed.filter(Boolean).length;
    const otherStatus = await getFrom(server.port, '127.0.0.3', '/healthz');
    const sameStatus = await getFrom(server.port, '127.0.0.2', '/healthz');
    report(
      `${LIMIT + 40} connections from one address: ${refused} closed at once, ${LIMIT + 40 - refused} kept; another address meanwhile: ${otherStatus}; the same address: ${sameStatus || 'closed'}`,
    );
    assert.equal(refused, 40, 'exactly the excess is closed');
    assert.equal(otherStatus, 200, 'another address is served normally');
    assert.equal(sameStatus, 0, 'a further connection from the full address is closed without an answer');
    for (const s of socks.slice(0, 10)) s?.destroy();
    await sleep(100);
    assert.equal(await getFrom(server.port, '127.0.0.2', '/healthz'), 200, 'room again once some closed');
    for (const s of socks) s?.destroy();
  });

  describe('clients that ask for huge answers and never read them', () => {
    // 300 notes to self of 4000 NULs: the worst case for JSON size (\u0000 is 6 bytes), one
    // minute of RATE_MESSAGES_USER for any registered user.
    let s: RunningServer;
    let hoarder: string;
    before(async () => {
      s = await startServer({ env: { RATE_MESSAGES_USER: 'off', SCRYPT_COST: '10', SEND_TIMEOUT: '2' } });
      hoarder = (await signUpAndLogIn(s.url, 'hoarder')).token;
      const worst = '\u0000'.repeat(4000);
      for (let i = 0; i < 300; i++)
        assert.equal((await call(s.url, 'POST', '/messages', { token: hoarder, body: { to: 'hoarder', body: worst } })).status, 201);
    });
    after(() => s.stop('SIGKILL'));

    /** Opens `n` connections that each write `pipelined` requests at once and never read. */
    const hoard = (n: number, pipelined: number): net.Socket[] =>
      Array.from({ length: n }, (_, i) => {
        const sock = net.connect(s.port, '127.0.0.1');
        sock.on('error', () => undefined);
        sock.pause(); // never reads
        let head = '';
        for (let k = 0; k < pipelined; k++) {
          const path = (i + k) % 2 ? `/poll?since=${(k % 5) * 60}&limit=1000&timeout=0` : '/messages?with=hoarder&limit=200';
          head += `GET ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${hoarder}\r\n\r\n`;
        }
        sock.write(head);
        return sock;
      });

    /** The server's peak memory growth over `ms`, sampled every 100 ms, and /healthz at the end. */
    const watch = async (ms: number): Promise<{ peak: number; healthMs: number }> => {
      const rss0 = rssMiB(s.pid);
      let peak = 0;
      for (const until = Date.now() + ms; Date.now() < until;) {
        peak = Math.max(peak, rssMiB(s.pid) - rss0);
        await sleep(100);
      }
      const t0 = Date.now();
      assert.equal((await call(s.url, 'GET', '/healthz')).status, 200);
      return { peak, healthMs: Date.now() - t0 };
    };

    /** Reads what the kernel holds for a paused socket; true if the server had closed it. */
    const cutOff = async (sock: net.Socket): Promise<{ closed: boolean; bytes: number }> => {
      let bytes = 0;
      sock.on('data', (d: Buffer) => (bytes += d.length));
      sock.resume();
      return { closed: await closedWithin(sock, 3000), bytes };
    };

    // Found by this test (issue #6): answers had no bound in bytes (a poll could be 24 MB) and
    // nothing closed a connection whose answer was never read; 60 such connections of one
    // account grew the server by a gigabyte.
    it('answers are bounded in size, so unread ones cannot exhaust memory or stall the server', async () => {
      const socks = hoard(60, 1);
      const { peak, healthMs } = await watch(3000);
      report(`60 connections, one huge request each, never read: server memory peak +${peak.toFixed(0)} MiB, /healthz ${healthMs} ms`);
      for (const x of socks) x.destroy();
      assert.ok(peak < 200, `memory bounded (+${peak.toFixed(0)} MiB)`);
      assert.ok(healthMs < 1000, 'still responsive');
    });

    it('a connection whose answers are not read is cut at SEND_TIMEOUT', async () => {
      // Several answers on one connection: more than the kernel's socket buffers can take.
      const socks = hoard(4, 4);
      await sleep(2000 + CHECK_SLACK_MS + 1000);
      const results = await Promise.all(socks.map(cutOff));
      report(
        `4 connections with 4 unread answers each: ${results.filter((r) => r.closed).length} closed by the server after SEND_TIMEOUT=2s, having taken ${(Math.max(...results.map((r) => r.bytes)) / 2 ** 20).toFixed(1)} MiB at most`,
      );
      for (const r of results) assert.ok(r.closed, 'cut off');
    });

    // Found by this test (issue #6): Node's HTTP server runs every request a client pipelines
    // in one write at once, and each answer (up to ~1.5 MB) waited in memory until the ones
    // before it were sent: 5 connections with 100 pipelined polls each grew the server by about
    // 1.1 GiB. Now a connection's next request starts only once the previous answer is sent.
    // (Since #13 a connection with more than MAX_PIPELINED requests waiting is closed at once,
    // so this pipelines as many as stay open: test/faults/pipelining.test.ts has the rest.)
    it('pipelining many requests on one unread connection does not multiply the memory an answer may take', async () => {
      const pipelined = MAX_PIPELINED + 1;
      const socks = hoard(5, pipelined);
      const { peak, healthMs } = await watch(4000);
      report(
        `5 connections with ${pipelined} pipelined huge requests each, never read: server memory peak +${peak.toFixed(0)} MiB, /healthz ${healthMs} ms`,
      );
      for (const x of socks) x.destroy();
      assert.ok(peak < 200, `memory bounded (+${peak.toFixed(0)} MiB)`);
      assert.ok(healthMs < 1000, 'still responsive');
    });
  });
});

describe('faults: concurrent log-in guesses (#6)', () => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  // Found by this test (issue #6): failures used to be counted after the slow hash, so
  // concurrent guesses all passed the check before the first was counted.
  it('wrong passwords sent concurrently are limited like wrong passwords sent one by one', async function () {
    this.timeout(60_000);
    // A realistic hash cost: the race needs the hash to take a while, as it does in production.
    t = await startApp({ RATE_LOGIN_IP: '10/300', RATE_LOGIN_USER: '10/300', SCRYPT_COST: '14' });
    const app = t;
    await signUp(app, 'victim');
    const tries = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        begin(
          app
            .http()
            .post('/sessions')
            .send({ username: 'victim', password: `guess number ${i}` }),
        ),
      ),
    );
    const checked = tries.filter((r) => r.status === 401).length;
    for (const r of tries) if (r.status !== 401) expectError(r, 429, 'rate_limited');
    report(`60 concurrent wrong passwords, limit 10: ${checked} were checked, ${60 - checked} refused 429`);
    assert.ok(checked <= 10, `${checked} passwords checked against a limit of 10`);
  });
});
