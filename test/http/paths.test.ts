// One spelling per endpoint (#13): the server answers an endpoint at its path exactly as the
// contract writes it, and every other spelling (case, trailing or doubled slashes, dot
// segments, %-escapes, `;`, a fragment) is 404 in the contract's shape, through Koa and the
// fast lane alike. A proxy rule written for the path (docs/DEPLOY.md: `location = /metrics`)
// then covers every request that reaches the endpoint; test/ops/nginx.test.ts checks that
// through nginx.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { OPENAPI_FILE } from '../../src/server';
import { type Login, logIn, newUser, startApp, type TestApp } from '../support/app';
import { type RawAnswer, rawTarget } from '../support/raw-target';
import { otherSpellings } from '../support/spellings';

interface OpenApi {
  paths: Record<string, Record<string, unknown>>;
}

const doc = JSON.parse(fs.readFileSync(OPENAPI_FILE, 'utf8')) as OpenApi;

/** Every endpoint the contract documents, with its methods (HEAD with every GET). */
function endpoints(deviceId: string): Array<[string, string[]]> {
  return Object.entries(doc.paths).map(([path, ops]) => {
    const methods = Object.keys(ops)
      .filter((m) => ['get', 'post', 'delete'].includes(m))
      .map((m) => m.toUpperCase());
    if (methods.includes('GET')) methods.push('HEAD');
    return [path.replace('{id}', deviceId), methods];
  });
}

/** A spelling of one path that is another endpoint's path: `/devices/.` is device ".". */
const PARAM_PATHS = Object.keys(doc.paths)
  .filter((p) => p.includes('{'))
  .map((p) => new RegExp(`^${p.replace(/\{[^}]+\}/g, '[^/?#]+')}(\\?.*)?$`));

/** The status an answer stands for: a JSONP answer (200, application/javascript) carries it inside. */
function statusOf(r: RawAnswer): number {
  if (r.status !== 200 || !/\r\ncontent-type: application\/javascript/i.test(r.head)) return r.status;
  const inner = /^\/\*\*\/x\((.*)\);$/s.exec(r.body)?.[1];
  return inner ? (JSON.parse(inner) as { status: number }).status : 404; // HEAD: no body to look in
}

describe('one spelling per endpoint (HTTP, #13)', () => {
  let t: TestApp;
  let a: Login;
  /** Another device of a's: its id is the one in /devices/{id}. */
  let other: Login;
  let port: number;
  before(async () => {
    t = await startApp({ RATE_MESSAGES_USER: 'off' });
    a = await newUser(t);
    other = await logIn(t, a.username);
    port = Number(new URL(t.url).port);
  });
  after(() => t.close());

  /** With a header token and a plain JSON send: what the fast lane takes at its own paths. */
  const ask = (method: string, target: string) =>
    rawTarget(port, method, target, {
      headers: { Authorization: `Bearer ${a.token}`, ...(method === 'POST' ? { 'Content-Type': 'application/json' } : {}) },
      body: method === 'POST' ? JSON.stringify({ to: a.username, body: 'spelled' }) : undefined,
    });

  it('answers every other spelling of every endpoint 404 not_found, in both lanes', async () => {
    let asked = 0;
    for (const [path, methods] of endpoints(other.deviceId))
      for (const method of methods)
        for (const target of otherSpellings(path)) {
          const r = await ask(method, target);
          asked++;
          const what = `${method} ${JSON.stringify(target)}: ${r.status} ${r.body.slice(0, 120)}`;
          // A byte outside visible ASCII is refused by Node's parser before routing: 400.
          const refused = /[^\x21-\x7e]/.test(target);
          if (!refused && PARAM_PATHS.some((p) => p.test(target))) {
            assert.ok([404, 405].includes(statusOf(r)), `${what}: no such device, or not this method`);
            continue;
          }
          assert.equal(statusOf(r), refused ? 400 : 404, what);
          if (statusOf(r) !== r.status || method === 'HEAD') continue;
          assert.match(r.head, /\r\ncontent-type: application\/json; charset=utf-8\r\n/i, what);
          assert.match(r.head, /\r\ncache-control: no-store\r\n/i, what);
          const body = JSON.parse(r.body) as { error: { code: string; message: string } };
          assert.deepEqual(Object.keys(body), ['error'], what);
          assert.equal(body.error.code, refused ? 'invalid_request' : 'not_found', what);
        }
    assert.ok(asked > 500, `${asked} requests`);
    // Nothing was sent and nobody logged out, however the sends and log-outs were spelled.
    const polled = await ask('GET', `/poll?since=${a.cursor}&timeout=0`);
    assert.deepEqual((JSON.parse(polled.body) as { events: unknown[] }).events, []);
    assert.ok(await t.core.store.getDeviceAuth(other.deviceId), 'the other device is still there');
  });

  it('answers the contract spelling: the test above asks real endpoints', async () => {
    for (const target of [
      '/healthz',
      '/openapi.json',
      '/metrics',
      '/devices',
      `/messages?with=${a.username}`,
      '/conversations',
      '/presence',
    ])
      assert.equal((await ask('GET', target)).status, 200, target);
    // The fast lane's two: a plain poll and a plain JSON send.
    const sent = await ask('POST', '/messages');
    assert.equal(sent.status, 201, sent.body);
    const polled = await ask('GET', `/poll?since=${a.cursor}&timeout=0`);
    assert.equal((JSON.parse(polled.body) as { events: unknown[] }).events.length, 1);
  });
});
