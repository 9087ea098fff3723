// Bad input of every kind gets the contract's error shape with the right status, never a 500
// or a stack trace, and never changes stored data (issue #2).
import assert from 'node:assert/strict';
import type request from 'supertest';
import { newUser, send, startApp, type TestApp, type Login } from '../support/app';

/** Everything stored, in a comparable form. */
function snapshot(t: TestApp): string {
  const db = t.store.sqlite.db;
  return JSON.stringify({
    users: db.prepare('SELECT id, username, password_hash FROM users ORDER BY id').all(),
    devices: db.prepare('SELECT id, user_id, name, token_hash, created_at, cursor FROM devices ORDER BY id').all(),
    messages: db.prepare('SELECT * FROM messages ORDER BY id').all(),
    events: db.prepare('SELECT * FROM events ORDER BY user_id, seq').all(),
  });
}

const WEIRD_STRINGS = [
  '',
  ' ',
  '\u0000',
  '\ud800',
  'a\udfffb',
  '\u202e\u200b\ufeff',
  "' OR 1=1; --",
  '"; DROP TABLE users; --',
  '<img src=x onerror=alert(1)>',
  '../../etc/passwd',
  '%00',
  'x'.repeat(5000),
  '😀'.repeat(40),
];

const WEIRD_VALUES: unknown[] = [null, true, 0, -1, 1.5, 1e308, [], ['a'], {}, { $gt: '' }, ...WEIRD_STRINGS];

function assertClientError(res: request.Response, where: string): void {
  assert.ok(res.status >= 400 && res.status < 500, `${where}: got ${res.status} ${res.text.slice(0, 200)}`);
  assert.equal(typeof res.body?.error?.code, 'string', `${where}: error shape`);
  assert.match(res.body.error.code, /^[a-z_]+$/);
  assert.equal(typeof res.body.error.message, 'string');
  assert.ok(!/at .+\.js:\d+|node_modules|Error:/.test(res.text), `${where}: no stack trace`);
}

describe('bad input (HTTP, #2)', () => {
  let t: TestApp;
  let a: Login;
  let b: Login;
  before(async () => {
    t = await startApp();
    a = await newUser(t, 'bad');
    b = await newUser(t, 'bad');
    await send(t, a, b.username, 'keep me', 'k1');
  });
  after(() => t.close());

  it('wrong types and odd strings in every field of every POST: refused without a trace, or stored exactly', async function () {
    this.timeout(60_000);
    let fresh = 0;
    const cases: Array<[string, () => Record<string, unknown>, string[]]> = [
      ['/users', () => ({ username: `newname${++fresh}`, password: 'password1' }), ['username', 'password']],
      ['/sessions', () => ({ username: a.username, password: 'correct horse' }), ['username', 'password', 'device_name']],
      ['/messages', () => ({ to: b.username, body: 'hello', client_id: `c${++fresh}` }), ['to', 'body', 'client_id']],
    ];
    let refused = 0;
    for (const [path, valid, fields] of cases) {
      for (const field of fields) {
        for (const value of WEIRD_VALUES) {
          const body = { ...valid(), [field]: value };
          const where = `${path} ${field}=${JSON.stringify(value).slice(0, 40)}`;
          const before = snapshot(t);
          const res = await t.http().post(path).set(a.auth).send(body);
          if (res.status >= 400) {
            refused++;
            assertClientError(res, where);
            assert.equal(snapshot(t), before, `${where}: a refused request changed stored data`);
            continue;
          }
          // Accepted: only a string can be (or null, "not given", for an optional field), and
          // what was stored is exactly what was sent.
          const optional = field === 'device_name' || field === 'client_id';
          assert.ok(typeof value === 'string' || (value === null && optional), `${where}: accepted (${res.status})`);
          if (path === '/messages') {
            const m = res.body.message;
            assert.equal(m[field], field === 'to' ? b.username : value);
          }
          if (path === '/users') assert.equal(res.body.user.username, String(body.username).toLowerCase());
        }
      }
    }
    assert.ok(refused > 60, `refused ${refused}`);
  });

  it('odd query strings on every GET are refused or ignored, never a 500', async () => {
    const before = snapshot(t);
    const paths = ['/poll', '/messages', '/devices', '/presence', '/healthz'];
    const params = ['since', 'timeout', 'limit', 'with', 'before', 'after', 'callback', 'access_token'];
    for (const path of paths) {
      for (const p of params) {
        for (const v of ['', '-1', 'NaN', '1e999', '0x10', '%ZZ', "'", '\u0000', '99999999999999999999999', 'a&b=c']) {
          const res = await t
            .http()
            .get(`${path}?${p}=${encodeURIComponent(v)}&timeout=0`)
            .set(a.auth);
          if (res.status >= 400) assertClientError(res, `${path}?${p}=${v}`);
          else assert.equal(res.status, 200);
        }
        const repeated = await t.http().get(`${path}?${p}=1&${p}=2&timeout=0`).set(a.auth);
        assert.ok(repeated.status < 500, `${path} repeated ${p}`);
        if (repeated.status >= 400) assertClientError(repeated, `${path} repeated ${p}`);
      }
    }
    const broken = await t.http().get('/poll?since=%E0%A4%A&timeout=0').set(a.auth);
    assert.ok(broken.status < 500);
    assert.equal(snapshot(t).replace(/"cursor":\d+/g, ''), before.replace(/"cursor":\d+/g, ''));
  });

  it('malformed bodies: broken JSON, wrong content types, huge and nested', async () => {
    const before = snapshot(t);
    const bodies: Array<[string, string | Buffer]> = [
      ['application/json', '{'],
      ['application/json', '{"to": "x", "body": }'],
      ['application/json', 'null'],
      ['application/json', '123'],
      ['application/json', '{"__proto__": {"admin": true}, "to": "x"}'],
      ['application/json', `${'['.repeat(50_000)}${']'.repeat(50_000)}`],
      ['application/json', JSON.stringify({ to: b.username, body: { nested: { deep: [1, 2, 3] } } })],
      ['text/plain', 'to=bob&body=hi'],
      ['application/x-www-form-urlencoded', 'to[]=a&to[]=b&body=hi'],
      ['application/x-www-form-urlencoded', 'to[x][y][z]=a&body=hi'],
      ['application/x-www-form-urlencoded', '%%%'],
      ['application/xml', '<to>bob</to>'],
      ['multipart/form-data; boundary=x', '--x\r\nContent-Disposition: form-data; name="to"\r\n\r\nbob\r\n--x--'],
      ['application/json; charset=latin-99', '{"to":"x"}'],
    ];
    for (const [type, body] of bodies) {
      const res = await t.http().post('/messages').set(a.auth).set('Content-Type', type).send(body);
      assertClientError(res, `${type} ${String(body).slice(0, 30)}`);
    }
    const gz = await t
      .http()
      .post('/messages')
      .set(a.auth)
      .set('Content-Type', 'application/json')
      .set('Content-Encoding', 'gzip')
      .send('not gzip');
    assertClientError(gz, 'bad gzip');
    assert.equal(snapshot(t), before);
  });

  it('unknown routes and methods answer in the contract shape', async () => {
    for (const [method, path] of [
      ['get', '/users'],
      ['put', '/messages'],
      ['patch', '/devices'],
      ['get', '/admin'],
      ['get', '/messages/1'],
      ['post', '/poll'],
      ['delete', '/users'],
      ['get', '/%2e%2e/etc/passwd'],
    ] as const) {
      const res = await t.http()[method](path).set(a.auth);
      assertClientError(res, `${method} ${path}`);
    }
  });

  it('the acknowledged message is still there, exactly', async () => {
    const res = await t.http().get(`/messages?with=${a.username}&after=0&limit=1`).set(b.auth).expect(200);
    assert.equal(res.body.messages[0].body, 'keep me');
    assert.equal(res.body.messages[0].from, a.username);
    assert.equal(t.store.sqlite.integrityCheck(), 'ok');
  });
});
