// Hostile input found by #13's review, against the real process: invalid UTF-8 and bad
// percent-escapes in bodies and queries, parameters hidden past the old 1000th, and a send whose
// device logs out while its body is still arriving. Each must be refused in the contract's
// shape (nosniff included) and store nothing. (Node-level answers, Expect and CONNECT among
// them, are in hostile.test.ts; the same cases through both lanes in test/http/strict-input.)
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { call, signUpAndLogIn } from '../support/client';
import { type RunningServer, startServer } from '../support/server';
import { metrics, rawStatus, report } from './harness';

describe('faults: hostile input (#13 items 3, 8, 9)', function () {
  this.timeout(60_000);
  let server: RunningServer;
  let token: string;
  before(async () => {
    server = await startServer({ env: { SCRYPT_COST: '10' } });
    token = (await signUpAndLogIn(server.url, 'target')).token;
    await signUpAndLogIn(server.url, 'friend');
  });
  after(() => server.stop('SIGKILL'));

  it('invalid UTF-8, bad escapes, parameters past the bound and a send whose device logs out mid-body store nothing (#13 items 3, 8, 9)', async () => {
    const before = (await metrics(server.url)).get('chat_messages_stored');
    const post = async (type: string, body: Buffer | string, auth = token) => {
      const r = await fetch(`${server.url}/messages`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${auth}`, 'Content-Type': type },
        body,
      });
      return {
        status: r.status,
        json: (await r.json()) as { error: { code: string; message: string } },
        nosniff: r.headers.get('x-content-type-options'),
      };
    };
    const ffFe = Buffer.from([0xff, 0xfe]);
    const cases: Array<
      [string, Promise<{ status: number; json: { error: { code: string; message: string } }; nosniff: string | null }>, RegExp]
    > = [
      [
        'JSON holding bytes ff fe',
        post('application/json', Buffer.concat([Buffer.from('{"to":"friend","body":"'), ffFe, Buffer.from('"}')])),
        /^body:/,
      ],
      ['a form with body=%FF%FE', post('application/x-www-form-urlencoded', 'to=friend&body=%FF%FE'), /^body:/],
      [
        'a form with raw bytes ff fe',
        post('application/x-www-form-urlencoded', Buffer.concat([Buffer.from('to=friend&body='), ffFe])),
        /^body:/,
      ],
    ];
    const junk = Array.from({ length: 1000 }, (_, i) => `j${i}=1`).join('&');
    for (const q of [`${junk}&since=abc`, `since=0&${junk}&since=1`, 'since=%FF%FE'])
      cases.push([
        `GET /poll?${q.slice(-24)}`,
        fetch(`${server.url}/poll?${q}`, { headers: { Authorization: `Bearer ${token}` } }).then(async (r) => ({
          status: r.status,
          json: (await r.json()) as { error: { code: string; message: string } },
          nosniff: r.headers.get('x-content-type-options'),
        })),
        /^(query|since):/,
      ]);
    for (const [what, answer, field] of cases) {
      const r = await answer;
      report(`${what}: ${r.status} ${r.json.error.code} (${r.json.error.message})`);
      assert.equal(r.status, 400, what);
      assert.equal(r.json.error.code, 'invalid_request', what);
      assert.match(r.json.error.message, field, what);
      assert.equal(r.nosniff, 'nosniff', what);
    }
    // A device logged out while its send's body is still arriving: 401, nothing stored.
    const leaving = (await signUpAndLogIn(server.url, 'leaving')).token;
    const body = JSON.stringify({ to: 'friend', body: 'sent after the log-out' });
    const sock = net.connect(server.port, '127.0.0.1');
    sock.on('error', () => undefined);
    await once(sock, 'connect');
    const answer = new Promise<string>((resolve) => {
      let data = '';
      sock.on('data', (d: Buffer) => (data += d.toString('latin1')));
      sock.on('close', () => resolve(data));
    });
    sock.write(
      `POST /messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${leaving}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body.slice(0, -1)}`,
    );
    // The last byte goes only once the log-out has been answered: the send cannot have ended before.
    assert.equal((await call(server.url, 'DELETE', '/sessions/current', { token: leaving })).status, 204);
    sock.end(body.slice(-1));
    const data = await answer;
    report(`log-out while the body arrives: ${rawStatus(data)}`);
    assert.equal(rawStatus(data), 401);
    assert.equal((await metrics(server.url)).get('chat_messages_stored'), before, 'nothing stored');
  });
});
