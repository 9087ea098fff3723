// What the hostile review of #13 found at the HTTP edge, held here for both ways of answering
// (this folder runs once with the fast lane and once without):
// - item 3: a device logged out while its send's body is still arriving stores nothing (401);
// - item 8: invalid UTF-8 or a bad percent-escape, in a body or a query, is refused naming the
//   field, never stored as U+FFFD or as the literal escape;
// - item 9: one query parser, which refuses past PARAMS_MAX parameters instead of cutting;
// - item 10: `Expect: foo` and CONNECT get the contract's shape;
// - item 13: nosniff on every answer; the page's own Content-Security-Policy and framing ban.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { sendMessage } from '../../src/messages';
import { PARAMS_MAX } from '../../src/http/urlencoded';
import { expectError, newUser, type Login, startApp, type TestApp } from '../support/app';

/** One request written as given on a fresh connection; the raw answer once the server closes. */
function exchange(port: number, head: string, body: Buffer | string = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.end(Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from(body)])));
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', reject);
    s.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

interface Raw {
  status: number;
  headers: Map<string, string>;
  body: string;
}

function parseRaw(text: string): Raw {
  const end = text.indexOf('\r\n\r\n');
  assert.ok(end > 0, `an answer: ${JSON.stringify(text.slice(0, 200))}`);
  const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
  const headers = new Map(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  return { status: Number(statusLine!.split(' ')[1]), headers, body: text.slice(end + 4) };
}

/** The contract's shape of an error written by hand: JSON, not chunked, with its headers. */
function contractError(r: Raw, status: number, code: string): void {
  assert.equal(r.status, status, JSON.stringify(r));
  assert.equal(r.headers.get('content-type'), 'application/json; charset=utf-8');
  assert.equal(r.headers.get('transfer-encoding'), undefined, 'not chunked');
  assert.equal(r.headers.get('content-length'), String(Buffer.byteLength(r.body)));
  assert.equal(r.headers.get('cache-control'), 'no-store');
  assert.equal(r.headers.get('access-control-allow-origin'), '*');
  assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
  assert.equal((JSON.parse(r.body) as { error: { code: string } }).error.code, code);
}

describe('strict input at the edge (HTTP, #13 items 3, 8, 9, 10, 13)', () => {
  let t: TestApp;
  let port: number;
  let a: Login;
  let b: Login;
  before(async () => {
    t = await startApp({ RATE_MESSAGES_USER: 'off' });
    port = Number(new URL(t.url).port);
    a = await newUser(t);
    b = await newUser(t);
  });
  after(() => t.close());

  const stored = async (): Promise<string[]> =>
    ((await t.http().get(`/messages?with=${a.username}`).set(b.auth).expect(200)).body.messages as Array<{ body: string }>).map(
      (m) => m.body,
    );

  it('a device logged out while its send is arriving stores nothing: 401 (item 3)', async () => {
    for (const [type, encode] of [
      ['application/json', (to: string, body: string) => JSON.stringify({ to, body })],
      ['application/x-www-form-urlencoded', (to: string, body: string) => new URLSearchParams({ to, body }).toString()],
    ] as const) {
      const sender = await newUser(t);
      const body = Buffer.from(encode(b.username, `sent after the log-out (${type})`));
      const s = net.connect(port, '127.0.0.1');
      await once(s, 'connect');
      const answer: Promise<string> = new Promise((resolve) => {
        const chunks: Buffer[] = [];
        s.on('data', (d: Buffer) => chunks.push(d));
        s.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
      });
      const arrived = once(t.server, 'request');
      s.write(
        `POST /messages HTTP/1.1\r\nHost: x\r\nAuthorization: ${sender.auth.Authorization}\r\nContent-Type: ${type}\r\n` +
          `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
      );
      s.write(body.subarray(0, 10));
      await arrived; // the server has the request and is reading its body
      await t.http().delete('/sessions/current').set(sender.auth).expect(204);
      s.end(body.subarray(10));
      const r = parseRaw(await answer);
      assert.equal(r.status, 401, `${type}: ${r.body}`);
      assert.equal((JSON.parse(r.body) as { error: { code: string } }).error.code, 'unauthorized');
      const history = await t.http().get(`/messages?with=${sender.username}`).set(b.auth).expect(200);
      assert.deepEqual(history.body.messages, [], `${type}: nothing stored`);
    }
  });

  it('a device ended after it was authenticated, before its send committed, stores nothing (item 3)', async () => {
    const sender = await newUser(t);
    const device = await t.core.store.getDeviceAuth(sender.deviceId);
    assert.ok(device);
    await t.http().delete('/sessions/current').set(sender.auth).expect(204);
    await assert.rejects(sendMessage(t.core, device, { to: b.username, body: 'too late', clientId: null }), (err: unknown) => {
      assert.equal((err as { status?: number }).status, 401);
      return true;
    });
    const history = await t.http().get(`/messages?with=${sender.username}`).set(b.auth).expect(200);
    assert.deepEqual(history.body.messages, []);
  });

  it('invalid UTF-8 and bad percent-escapes in bodies are refused naming the field, never stored changed (item 8)', async () => {
    const invalid = Buffer.from([0xff, 0xfe]);
    const json = Buffer.concat([Buffer.from(`{"to":"${b.username}","body":"`), invalid, Buffer.from('"}')]);
    const cases: Array<[string, string, Buffer | string, string]> = [
      ['JSON with bytes ff fe', 'application/json', json, 'body:'],
      ['text/plain JSON with bytes ff fe', 'text/plain', json, 'body:'],
      ['a form with %FF%FE', 'application/x-www-form-urlencoded', `to=${b.username}&body=%FF%FE`, 'body:'],
      ['a form with a cut escape', 'application/x-www-form-urlencoded', `to=${b.username}&body=%E0%A4%A`, 'body:'],
      ['a form with an escaped surrogate', 'application/x-www-form-urlencoded', `to=${b.username}&body=%ED%A0%80`, 'body:'],
      ['a form with a bad escape in "to"', 'application/x-www-form-urlencoded', `to=%ZZ&body=hello`, 'to:'],
      [
        'a form with raw bytes ff fe',
        'application/x-www-form-urlencoded',
        Buffer.concat([Buffer.from(`to=${b.username}&body=`), invalid]),
        'body:',
      ],
    ];
    for (const [what, type, body, field] of cases) {
      // (fetch, not supertest: it would send a Buffer as JSON of its own.)
      const res = await fetch(`${t.url}/messages`, { method: 'POST', headers: { ...a.auth, 'Content-Type': type }, body });
      const answer = (await res.json()) as { error: { code: string; message: string } };
      assert.equal(res.status, 400, `${what}: ${JSON.stringify(answer)}`);
      assert.equal(answer.error.code, 'invalid_request', what);
      assert.ok(answer.error.message.startsWith(field), `${what}: names the field: ${answer.error.message}`);
    }
    const ok = await t.http().post('/messages').set(a.auth).type('form').send(`to=${b.username}&body=caf%C3%A9+%E2%82%AC`).expect(201);
    assert.equal(ok.body.message.body, 'café €', 'a good form is decoded exactly');
    assert.deepEqual(
      (await stored()).filter((m) => m !== 'café €'),
      [],
      'nothing refused was stored',
    );
  });

  it('the query is parsed strictly, once, for both ways: bad escapes and too many parameters are refused (items 8, 9)', async () => {
    const junk = Array.from({ length: 1000 }, (_, i) => `j${i}=1`).join('&');
    const polls: Array<[string, string]> = [
      [`since=abc&${junk}`, 'query:'],
      [`${junk}&since=abc`, 'query:'],
      [`since=${a.cursor}&${junk}&since=0`, 'query:'],
      [`since=%ZZ&timeout=0`, 'since:'],
      [`since=%FF&timeout=0`, 'since:'],
      [`timeout=0&%FF=1`, 'query:'],
    ];
    for (const [q, field] of polls) {
      const res = await t.http().get(`/poll?${q}`).set(a.auth);
      expectError(res, 400, 'invalid_request');
      assert.ok(res.body.error.message.startsWith(field), `${q.slice(0, 40)}: ${res.body.error.message}`);
    }
    // Raw bytes in the request line (UTF-8 or not) are Node's parser's to refuse: in the contract's shape.
    const rawPoll = (q: Buffer) =>
      exchange(
        port,
        '',
        Buffer.concat([
          Buffer.from('GET /poll?timeout=0&_='),
          q,
          Buffer.from(` HTTP/1.1\r\nHost: x\r\nAuthorization: ${a.auth.Authorization}\r\n\r\n`),
        ]),
      );
    for (const bytes of [Buffer.from('café'), Buffer.from([0xff, 0xfe])])
      contractError(parseRaw(await rawPoll(bytes)), 400, 'invalid_request');
    // At the bound: PARAMS_MAX parameters are fine, one more is not.
    const params = (n: number) => Array.from({ length: n - 1 }, (_, i) => `_${i}=1`).concat('timeout=0');
    await t
      .http()
      .get(`/poll?${params(PARAMS_MAX).join('&')}`)
      .set(a.auth)
      .expect(200);
    expectError(
      await t
        .http()
        .get(`/poll?${params(PARAMS_MAX + 1).join('&')}`)
        .set(a.auth),
      400,
      'invalid_request',
    );
    // Every route reads the same parser.
    expectError(await t.http().get(`/messages?with=%FF`).set(a.auth), 400, 'invalid_request');
    expectError(await t.http().get(`/healthz?x=%ZZ`), 400, 'invalid_request');
    expectError(await t.http().get(`/messages?with=${b.username}&${junk}`).set(a.auth), 400, 'invalid_request');
  });

  it("answers Expect: foo with the contract's 417 and CONNECT with its 405, and closes (item 10)", async () => {
    const expect = parseRaw(await exchange(port, `POST /messages HTTP/1.1\r\nHost: x\r\nExpect: foo\r\nContent-Length: 2\r\n\r\n`, '{}'));
    contractError(expect, 417, 'expectation_failed');
    assert.equal(expect.headers.get('connection'), 'close');
    const connect = parseRaw(await exchange(port, `CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n`));
    contractError(connect, 405, 'method_not_allowed');
    assert.match(connect.headers.get('allow') ?? '', /^GET, HEAD, POST, DELETE, OPTIONS$/);
    // Expect: 100-continue is still met.
    const cont = await exchange(
      port,
      `POST /messages HTTP/1.1\r\nHost: x\r\nAuthorization: ${a.auth.Authorization}\r\nExpect: 100-continue\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n`,
      '{}',
    );
    assert.match(cont, /^HTTP\/1\.1 100 Continue\r\n/);
  });

  it('says nosniff on every answer, and sends the page with its Content-Security-Policy and no framing (item 13)', async () => {
    const answers = [
      await t.http().get(`/poll?timeout=0`).set(a.auth),
      await t.http().get(`/poll?timeout=0&callback=cb&x=<script>`).set(a.auth),
      await t.http().post('/messages').set(a.auth).send({ to: b.username, body: 'nosniff' }),
      await t.http().post('/messages').set(a.auth).type('json').send('{"to": '),
      await t.http().get('/no/such/<b>thing</b>'),
      await t.http().get('/healthz'),
      await t.http().options('/messages').set('Origin', 'https://x.example').set('Access-Control-Request-Method', 'POST'),
      await t.http().get('/'),
      await t.http().get('/app.js'),
    ];
    for (const r of answers) assert.equal(r.headers['x-content-type-options'], 'nosniff', `${r.status} ${r.text.slice(0, 80)}`);
    const page = answers[7]!;
    assert.equal(page.status, 200);
    const csp = String(page.headers['content-security-policy']);
    for (const d of ["default-src 'self'", "script-src 'self'", "object-src 'none'", "frame-ancestors 'none'"])
      assert.ok(csp.includes(d), `the page's policy has ${d}: ${csp}`);
    assert.ok(!/unsafe-inline|unsafe-eval/.test(csp), csp);
    assert.equal(page.headers['x-frame-options'], 'DENY');
  });
});
