// Requests pipelined on one connection (#13): found in review, one keep-alive connection
// holding a poll and pipelining 60 000 small `GET /healthz` behind it grew the server by about
// 100 MiB (about 1.7 KB per 34-byte request: Node parses every pipelined request at once and
// keeps each, request and response, until the ones before it are answered), and the process
// kept the memory after the socket closed. Now a connection with more than MAX_PIPELINED
// requests waiting is closed (src/connections.ts). Checked in process with the heap after a
// full garbage collection, and in the real process with its resident memory; also for a
// client that pipelines and never reads its answers.
import assert from 'node:assert/strict';
import net from 'node:net';
import { MAX_PIPELINED, MAX_PIPELINED_BODY_BYTES } from '../../src/connections';
import { type Login, newUser, send, startApp, type TestApp, waitHeld } from '../support/app';
import { call, signUpAndLogIn } from '../support/client';
import { startServer } from '../support/server';
import { heapAfterGc, sleep } from '../support/util';
import { closedWithin, metrics, report, rssMiB } from './harness';

const MiB = 2 ** 20;
const HEALTHZ = 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n';

/** A connection holding a poll (the answer 50 s away), for requests to pile up behind. */
async function holdPoll(port: number, token: string, cursor: string): Promise<net.Socket> {
  const sock = net.connect(port, '127.0.0.1');
  sock.on('error', () => undefined);
  await new Promise((resolve) => sock.once('connect', resolve));
  sock.write(`GET /poll?since=${cursor}&timeout=50 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n`);
  return sock;
}

/** Writes `total` copies of `request`, `perWrite` at a time, until done or the server closes. */
async function pipeline(sock: net.Socket, request: string, total: number, perWrite: number): Promise<number> {
  let written = 0;
  const batch = request.repeat(perWrite);
  while (written < total && !sock.destroyed && !sock.closed) {
    sock.write(batch);
    written += perWrite;
    // Let the server read: what a client over a network does anyway.
    if (written % (perWrite * 20) === 0) await new Promise((r) => setImmediate(r));
  }
  return written;
}

describe('faults: requests pipelined on one connection (#13)', function () {
  this.timeout(60_000);

  describe('in process', () => {
    let t: TestApp;
    let a: Login;
    let port: number;
    before(async () => {
      t = await startApp({ RATE_MESSAGES_USER: 'off' });
      a = await newUser(t);
      port = Number(new URL(t.url).port);
    });
    after(() => t.close());

    it('60 000 requests pipelined behind a held poll: the connection is closed, the heap stays flat, others are served', async () => {
      const heap0 = heapAfterGc();
      const sock = await holdPoll(port, a.token, a.cursor);
      await waitHeld(t, 1);
      const written = await pipeline(sock, HEALTHZ, 60_000, 1000);
      const closed = await closedWithin(sock, 2000);
      const during = heapAfterGc() - heap0;
      // Someone else meanwhile, and afterwards.
      const t0 = Date.now();
      assert.equal((await call(t.url, 'GET', '/healthz')).status, 200);
      const healthMs = Date.now() - t0;
      sock.destroy();
      await sleep(50);
      const afterwards = heapAfterGc() - heap0;
      report(
        `${written} of 60 000 written before the server closed the connection; heap +${(during / MiB).toFixed(1)} MiB, +${(afterwards / MiB).toFixed(1)} MiB after; /healthz ${healthMs} ms`,
      );
      assert.ok(closed, 'the server closed the connection');
      assert.ok(during < 4 * MiB, `heap grew ${(during / MiB).toFixed(1)} MiB (about 100 before)`);
      assert.ok(afterwards < 4 * MiB, `heap +${(afterwards / MiB).toFixed(1)} MiB after`);
      assert.equal(t.core.hub.stats().held, 0, 'the held poll ended with its connection');
    });

    it(`up to ${MAX_PIPELINED} requests behind a held poll wait and are answered, in order, once it is`, async () => {
      const b = await newUser(t);
      const sock = await holdPoll(port, b.token, b.cursor);
      await waitHeld(t, 1);
      let text = '';
      sock.on('data', (d: Buffer) => (text += d.toString('latin1')));
      sock.write(Array.from({ length: MAX_PIPELINED }, (_, i) => `GET /healthz?n=${i} HTTP/1.1\r\nHost: x\r\n\r\n`).join(''));
      assert.equal(await closedWithin(sock, 300), false, 'kept open');
      await send(t, a, b.username, 'wake up');
      for (const until = Date.now() + 3000; (text.match(/\{"ok":true\}/g) ?? []).length < MAX_PIPELINED && Date.now() < until;)
        await sleep(10);
      const statuses = [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
      assert.deepEqual(
        statuses,
        Array.from({ length: MAX_PIPELINED + 1 }, () => 200),
      );
      assert.ok(text.indexOf('wake up') < text.indexOf('{"ok":true}'), 'the poll first');
      sock.destroy();
    });

    it('a client that pipelines and never reads makes the server hold one answer at most, not one per request', async () => {
      // Answers of about 1 MB each (40 notes of 4000 NULs, 6 bytes each in JSON): a few fill
      // the socket buffers of a client that reads nothing, and the next cannot be sent.
      const c = await newUser(t);
      const worst = '\u0000'.repeat(4000);
      for (let i = 0; i < 40; i++) await send(t, c, c.username, worst);
      const answered = async () => {
        let n = 0;
        for (const [k, v] of await metrics(t.url)) if (k.startsWith('http_requests_total{') && k.includes('route="/messages"')) n += v;
        return n;
      };
      const before = await answered();
      const heap0 = heapAfterGc();
      const sock = net.connect(port, '127.0.0.1');
      sock.on('error', () => undefined);
      sock.pause(); // never reads
      await new Promise((resolve) => sock.once('connect', resolve));
      const big = `GET /messages?with=${c.username}&limit=200 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${c.token}\r\n\r\n`;
      // Four at a time, within the bound on waiting requests, with time for the server to answer.
      let written = 0;
      let peak = 0;
      while (!sock.destroyed && !sock.closed && written < 1000) {
        sock.write(big.repeat(4));
        written += 4;
        await sleep(5);
        if (written % 100 === 0) peak = Math.max(peak, heapAfterGc() - heap0);
      }
      peak = Math.max(peak, heapAfterGc() - heap0);
      const done = (await answered()) - before;
      report(
        `never read: ${written} requests for 1 MB answers written, ${done} answered (the rest never started), connection ${sock.closed ? 'closed by the server' : 'open until SEND_TIMEOUT'}; heap peak +${(peak / MiB).toFixed(1)} MiB`,
      );
      sock.destroy();
      // Node stops reading a connection whose answers are not taken, and this one holds one
      // answer at a time; what the kernel's socket buffers take is all that gets ahead.
      assert.ok(done < 30, `${done} answers made`);
      assert.ok(peak < 16 * MiB, `heap peak +${(peak / MiB).toFixed(1)} MiB`);
    });
  });

  describe('the real process', () => {
    it('60 000 requests pipelined behind a held poll leave its resident memory where it was', async () => {
      const s = await startServer({ env: { SCRYPT_COST: '10' } });
      try {
        const u = await signUpAndLogIn(s.url, 'piper');
        // Warm up what a first request of each kind allocates, then measure.
        for (let i = 0; i < 50; i++) await call(s.url, 'GET', '/healthz');
        const rss0 = rssMiB(s.pid);
        let peak = 0;
        for (let round = 0; round < 3; round++) {
          const sock = await holdPoll(s.port, u.token, u.cursor);
          await sleep(100);
          await pipeline(sock, HEALTHZ, 60_000, 1000);
          await closedWithin(sock, 2000);
          peak = Math.max(peak, rssMiB(s.pid) - rss0);
          sock.destroy();
        }
        assert.equal((await call(s.url, 'GET', '/healthz')).status, 200);
        report(`3 rounds of 60 000 requests behind a held poll: resident memory +${peak.toFixed(1)} MiB at most`);
        assert.ok(peak < 30, `resident memory +${peak.toFixed(1)} MiB (about +100 before)`);
      } finally {
        await s.stop('SIGKILL');
      }
    });

    it(`sends pipelined behind held polls: a connection whose waiting bodies pass ${MAX_PIPELINED_BODY_BYTES} bytes is closed, nothing stored`, async () => {
      // Node reads a waiting request's body into memory as it parses it: 8 sends of 60 KB
      // behind each of 200 held polls grew the server by 40 to 60 MiB (200 to 300 KiB a connection).
      const s = await startServer({ env: { SCRYPT_COST: '10', POLLS_PER_USER: '1000', POLLS_PER_DEVICE: '1000' } });
      try {
        const u = await signUpAndLogIn(s.url, 'sender');
        const body = JSON.stringify({ to: 'sender', body: 'x'.repeat(60_000) });
        const send60k = `POST /messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${u.token}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
        const socks: net.Socket[] = [];
        for (let i = 0; i < 200; i++) socks.push(await holdPoll(s.port, u.token, u.cursor));
        await sleep(300);
        const rss0 = rssMiB(s.pid);
        for (const sock of socks) sock.write(send60k.repeat(8));
        const closed = await Promise.all(socks.map((sock) => closedWithin(sock, 3000)));
        const grew = rssMiB(s.pid) - rss0;
        report(
          `200 held polls with 8 sends of 60 KB pipelined behind each: ${closed.filter(Boolean).length} closed, resident memory +${grew.toFixed(1)} MiB`,
        );
        assert.equal(closed.filter(Boolean).length, 200, 'every such connection closed');
        const history = await call(s.url, 'GET', '/messages?with=sender', { token: u.token });
        assert.equal(history.status, 200);
        assert.deepEqual(history.body.messages, [], 'no send was started');
        assert.equal((await call(s.url, 'GET', '/healthz')).status, 200);
      } finally {
        await s.stop('SIGKILL');
      }
    });
  });
});
