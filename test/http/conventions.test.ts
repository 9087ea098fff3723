// The contract's conventions for legacy clients: bodies in three encodings, tokens in three
// places, method override, JSONP, caching and length headers, CORS, error shape (issue #2).
import assert from 'node:assert/strict';
import { expectError, logIn, newUser, send, startApp, type TestApp } from '../support/app';

describe('conventions for legacy clients (HTTP, #2)', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await startApp();
  });
  afterEach(() => t.close());

  it('accepts JSON, form and text/plain-JSON bodies, and a JSON body with no Content-Type', async () => {
    await t.http().post('/users').type('form').send('username=form1&password=password1').expect(201);
    await t.http().post('/users').set('Content-Type', 'text/plain').send('{"username":"text1","password":"password1"}').expect(201);
    await t
      .http()
      .post('/users')
      .set('Content-Type', 'text/plain;charset=UTF-8')
      .send('{"username":"text2","password":"password1"}')
      .expect(201);
    await t.http().post('/users').set('Content-Type', 'application/json').send('{"username":"json1","password":"password1"}').expect(201);
    await t.http().post('/users').unset('Content-Type').send(Buffer.from('{"username":"bare1","password":"password1"}')).expect(201);
    for (const u of ['form1', 'text1', 'text2', 'json1', 'bare1']) assert.ok(await t.core.store.findUser(u), u);
  });

  it('refuses malformed JSON with invalid_json, in every JSON encoding', async () => {
    expectError(await t.http().post('/users').set('Content-Type', 'application/json').send('{"username": "x",'), 400, 'invalid_json');
    expectError(await t.http().post('/users').set('Content-Type', 'text/plain').send('{not json'), 400, 'invalid_json');
    expectError(await t.http().post('/users').set('Content-Type', 'application/json').send('"just a string"'), 400, 'invalid_json');
    const arr = await t.http().post('/users').set('Content-Type', 'application/json').send('[1,2]');
    expectError(arr, 400, 'invalid_request');
  });

  it('takes the token from the header, the query string or the form body', async () => {
    const a = await newUser(t);
    const b = await newUser(t);
    await t
      .http()
      .get(`/devices?access_token=${encodeURIComponent(a.token)}`)
      .expect(200);
    await t.http().post('/messages').type('form').send({ access_token: a.token, to: b.username, body: 'by form' }).expect(201);
    await t
      .http()
      .post('/messages')
      .set('Content-Type', 'text/plain')
      .send(JSON.stringify({ access_token: a.token, to: b.username, body: 'by xdr' }))
      .expect(201);
    await t.http().get('/devices').set('Authorization', `bearer ${a.token}`).expect(200);
    const hist = await t.http().get(`/messages?with=${b.username}`).set(a.auth).expect(200);
    assert.deepEqual(
      hist.body.messages.map((m: { body: string }) => m.body),
      ['by form', 'by xdr'],
    );
  });

  it('treats POST with X-HTTP-Method-Override or _method as DELETE', async () => {
    const a = await newUser(t);
    const a2 = await logIn(t, a.username);
    const a3 = await logIn(t, a.username);
    await t.http().post(`/devices/${a2.deviceId}`).set(a.auth).set('X-HTTP-Method-Override', 'DELETE').expect(204);
    await t.http().post(`/devices/${a3.deviceId}`).type('form').send({ _method: 'DELETE', access_token: a.token }).expect(204);
    await t.http().post('/sessions/current').set(a.auth).send({ _method: 'delete' }).expect(204);
    for (const d of [a, a2, a3]) expectError(await t.http().get('/devices').set(d.auth), 401, 'unauthorized');
    expectError(await t.http().post('/messages').set('X-HTTP-Method-Override', 'PUT').send({}), 400, 'invalid_request');
  });

  it('answers JSONP on GET with the status inside, U+2028/2029 escaped', async () => {
    const a = await newUser(t);
    const b = await newUser(t);
    await send(t, a, b.username, 'line\u2028sep\u2029end');
    const res = await t.http().get(`/poll?since=${b.cursor}&timeout=0&callback=my.cb_1&access_token=${b.token}`).expect(200);
    assert.match(String(res.headers['content-type']), /^application\/javascript; charset=utf-8/);
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    const text = res.text;
    assert.ok(text.startsWith('/**/my.cb_1(') && text.endsWith(');'), text);
    assert.ok(!text.includes('\u2028') && !text.includes('\u2029'));
    assert.ok(text.includes('\\u2028') && text.includes('\\u2029'));
    const payload = JSON.parse(text.slice('/**/my.cb_1('.length, -2));
    assert.equal(payload.events[0].message.body, 'line\u2028sep\u2029end');
    assert.equal(payload.status, undefined, 'no status field when it is 200');

    const err = await t.http().get('/devices?callback=cb').expect(200);
    const errPayload = JSON.parse(err.text.slice('/**/cb('.length, -2));
    assert.equal(errPayload.status, 401);
    assert.equal(errPayload.error.code, 'unauthorized');
    const missing = await t.http().get('/nowhere?callback=cb').expect(200);
    assert.equal(JSON.parse(missing.text.slice(7, -2)).status, 404);
    const health = await t.http().get('/healthz?callback=cb').expect(200);
    assert.equal(health.text, '/**/cb({"ok":true});');
  });

  it('refuses an invalid JSONP callback with 400 in plain JSON', async () => {
    for (const cb of ['alert(1)', '1abc', 'a'.repeat(65), 'x;y', '<script>']) {
      const res = await t.http().get(`/healthz?callback=${encodeURIComponent(cb)}`);
      expectError(res, 400, 'invalid_request');
      assert.match(String(res.headers['content-type']), /^application\/json/);
      assert.match(res.body.error.message, /callback/);
    }
  });

  it('sends caching, length and CORS headers on every answer, errors included', async () => {
    const a = await newUser(t);
    const answers = [
      await t.http().get('/healthz'),
      await t.http().get('/devices').set(a.auth),
      await t.http().get('/devices'),
      await t.http().get('/nope'),
      await t.http().put('/messages'),
      await t.http().post('/users').send({}),
      await t.http().get(`/poll?timeout=0&access_token=${a.token}`),
    ];
    for (const res of answers) {
      assert.equal(res.headers['cache-control'], 'no-store', `${res.status} ${res.text}`);
      assert.equal(res.headers.pragma, 'no-cache');
      assert.equal(res.headers.expires, '0');
      assert.equal(res.headers['access-control-allow-origin'], '*');
      assert.equal(res.headers['content-length'], String(Buffer.byteLength(res.text)));
      assert.equal(res.headers['transfer-encoding'], undefined);
      assert.match(String(res.headers['content-type']), /^application\/json; charset=utf-8/);
    }
  });

  it('poll answers carry X-Accel-Buffering: no, errors included', async () => {
    const a = await newUser(t);
    for (const res of [
      await t.http().get('/poll?timeout=0').set(a.auth),
      await t.http().get('/poll?timeout=0'),
      await t.http().get('/poll?timeout=x').set(a.auth),
      await t.http().get('/poll?since=99&timeout=0').set(a.auth),
      await t.http().get(`/poll?timeout=0&callback=cb&access_token=${a.token}`),
      // the router ignores case and a trailing slash, and so must the header
      await t.http().get('/poll/?timeout=0').set(a.auth),
      await t.http().get('/POLL?timeout=0').set(a.auth),
      await t.http().get('/Poll?since=zz').set(a.auth),
    ]) {
      assert.equal(res.headers['x-accel-buffering'], 'no', `${res.status} ${res.text}`);
    }
  });

  it('answers CORS preflight and uses the configured origin', async () => {
    const pre = await t
      .http()
      .options('/messages')
      .set('Origin', 'http://kiosk.local')
      .set('Access-Control-Request-Method', 'POST')
      .set('Access-Control-Request-Headers', 'authorization,content-type')
      .expect(204);
    assert.equal(pre.headers['access-control-allow-origin'], '*');
    assert.match(String(pre.headers['access-control-allow-methods']), /POST/);
    assert.match(String(pre.headers['access-control-allow-headers']), /Authorization/i);
    // Headers an old page adds against caching proxies are allowed too; junk gets the fixed list.
    const cache = await t
      .http()
      .options('/poll')
      .set('Origin', 'http://kiosk.local')
      .set('Access-Control-Request-Method', 'GET')
      .set('Access-Control-Request-Headers', 'cache-control, pragma, x-requested-with')
      .expect(204);
    assert.equal(cache.headers['access-control-allow-headers'], 'cache-control, pragma, x-requested-with');
    const junk = await t
      .http()
      .options('/poll')
      .set('Access-Control-Request-Method', 'GET')
      .set('Access-Control-Request-Headers', 'a b; c=<d>')
      .expect(204);
    assert.equal(junk.headers['access-control-allow-headers'], 'Authorization, Content-Type, X-HTTP-Method-Override, X-Requested-With');
    const plain = await t.http().options('/messages').expect(204);
    assert.match(String(plain.headers.allow), /GET/);
    const locked = await startApp({ CORS_ORIGIN: 'https://chat.example' });
    try {
      const res = await locked.http().get('/healthz').set('Origin', 'https://evil.example').expect(200);
      assert.equal(res.headers['access-control-allow-origin'], 'https://chat.example');
    } finally {
      await locked.close();
    }
  });

  it('answers unknown routes 404 and wrong methods 405 with Allow', async () => {
    expectError(await t.http().get('/no/such/thing'), 404, 'not_found');
    // Paths the static file server will not resolve are no such page either, not a 400.
    for (const path of ['//healthz', '//etc/passwd', '/%2e%2e/package.json']) {
      expectError(await t.http().get(path), 404, 'not_found');
    }
    const res = await t.http().delete('/messages');
    expectError(res, 405, 'method_not_allowed');
    assert.equal(res.headers.allow, 'GET, HEAD, POST');
    const patch = await t.http().patch('/poll');
    expectError(patch, 405, 'method_not_allowed');
    assert.equal(patch.headers.allow, 'GET, HEAD');
  });

  it('ignores unknown query parameters such as cache-busters', async () => {
    const a = await newUser(t);
    await t.http().get(`/poll?timeout=0&_=${Date.now()}&foo=bar`).set(a.auth).expect(200);
    await t.http().get(`/healthz?_=1`).expect(200, { ok: true });
  });

  it('refuses bodies over the limit with 413 and stores nothing', async () => {
    const a = await newUser(t);
    const huge = 'x'.repeat(70 * 1024);
    expectError(await t.http().post('/messages').set(a.auth).send({ to: a.username, body: huge }), 413, 'payload_too_large');
    expectError(await t.http().post('/messages').set(a.auth).type('form').send(`to=${a.username}&body=${huge}`), 413, 'payload_too_large');
    assert.equal(await t.core.store.countMessages(), 0);
  });
});
