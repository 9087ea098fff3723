// docs/openapi.json describes what the server really does (issue #7): every endpoint of the real
// server is called, for success and for its main errors, and each answer is validated against
// the document: the status must be documented for that operation, the body must match the
// schema of that status and media type, documented headers must be there. So the document
// cannot drift from the server. The document on its own (references, strict JSON Schema,
// conventions, every endpoint of the contract and every route of the server) is checked in
// openapi-document.test.ts; the checker itself (the document as data, its schemas, the checks
// of an answer) is test/support/openapi.ts.
//
// Over 400 lines on purpose: one server walked through in order (a later test uses the devices
// and messages an earlier one made), ending with the check that every documented operation was
// called; split, that last check would depend on the order mocha loads files in.
import assert from 'node:assert/strict';
import { signUpAndLogIn } from '../support/client';
import { type CallOptions, check, checkResponse, commonHeaders, doc, exercised, operations, requestParts } from '../support/openapi';
import { type RunningServer, startServer } from '../support/server';
import { raw, type RawResponse } from './raw-http';
import { sleep } from '../support/util';

/** Paths of the contract the server does not serve yet (a plain OPTIONS on them is 404). */
const notServed = new Set<string>();

describe('OpenAPI description (docs/openapi.json, #7)', () => {
  describe('real answers of the server match it', function () {
    this.timeout(60_000);
    let server: RunningServer;
    let base: string;
    let alice: { token: string; cursor: string; deviceId: string };
    let bob: { token: string; cursor: string; deviceId: string };

    before(async () => {
      server = await startServer({ env: { SCRYPT_COST: '10' } });
      base = server.url;
      alice = await signUpAndLogIn(base, 'oa_alice');
      bob = await signUpAndLogIn(base, 'oa_bob');
    });
    after(async () => {
      await (server as RunningServer | undefined)?.stop();
    });

    /** A checked answer: its body, of any shape here, has matched the document's schema. */
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- checked against the schema
    type Checked = { status: number; body: any; res: RawResponse };

    async function api(method: string, pathAndQuery: string, opts: CallOptions = {}): Promise<Checked> {
      const url = `${base}${pathAndQuery}`;
      const { headers, body } = requestParts(method, url, opts);
      const res = await raw(url, { method, headers, body });
      return { ...check(method, url, res), res };
    }

    async function errorCode(method: string, pathAndQuery: string, opts: CallOptions, status: number, code: string): Promise<void> {
      const r = await api(method, pathAndQuery, opts);
      assert.equal(r.status, status, `${method} ${pathAndQuery}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, code);
    }

    /** A plain OPTIONS is 204 on a path the server serves and 404 on one it does not. */
    async function served(this: Mocha.Context, pathname: string, method: string): Promise<void> {
      const res = await raw(`${base}${pathname}`, { method: 'OPTIONS' });
      if (res.status === 404) {
        notServed.add(pathname);
        console.log(`      ${method} ${pathname} is in the contract but the server does not serve it yet: checked when it does`);
        this.skip();
      }
    }

    it('GET /healthz, plain and as JSONP', async () => {
      assert.deepEqual((await api('GET', '/healthz')).body, { ok: true });
      assert.deepEqual((await api('GET', '/healthz?callback=cb&_=1')).body, { ok: true });
    });

    it('an invalid JSONP callback is a plain-JSON 400 with the headers of every answer, CORS included', async () => {
      await errorCode('GET', '/healthz?callback=1bad', {}, 400, 'invalid_request');
      await errorCode('GET', `/devices?callback=no-dashes&access_token=${alice.token}`, {}, 400, 'invalid_request');
    });

    it('POST /users in all three encodings, and its errors', async () => {
      assert.equal(
        (await api('POST', '/users', { json: { username: 'OA_Carol', password: 'long enough' } })).body.user.username,
        'oa_carol',
      );
      assert.equal((await api('POST', '/users', { form: { username: 'oa_dave', password: 'long enough' } })).status, 201);
      assert.equal((await api('POST', '/users', { text: JSON.stringify({ username: 'oa_erin', password: 'long enough' }) })).status, 201);
      await errorCode('POST', '/users', { json: { username: 'oa_carol', password: 'long enough' } }, 409, 'username_taken');
      await errorCode(
        'POST',
        '/users',
        { rawBody: { type: 'application/json', body: '{"username": "oa_x", "password": ' } },
        400,
        'invalid_json',
      );
      await errorCode(
        'POST',
        '/users',
        { rawBody: { type: 'application/json', body: '{"username": "oa_x", "password": "short"}' } },
        400,
        'invalid_request',
      );
      await errorCode(
        'POST',
        '/users',
        { rawBody: { type: 'application/json', body: JSON.stringify({ username: 'oa_x', password: 'x'.repeat(70_000) }) } },
        413,
        'payload_too_large',
      );
    });

    it('POST /sessions, and wrong credentials', async () => {
      const s = await api('POST', '/sessions', { form: { username: 'oa_carol', password: 'long enough', device_name: 'kiosk' } });
      assert.equal(s.status, 201);
      assert.equal(s.body.device.name, 'kiosk');
      await errorCode('POST', '/sessions', { json: { username: 'oa_carol', password: 'wrong password' } }, 401, 'invalid_credentials');
      await errorCode(
        'POST',
        '/sessions',
        { rawBody: { type: 'application/json', body: '{"username":"oa_carol"}' } },
        400,
        'invalid_request',
      );
    });

    it('GET /devices and DELETE or POST-override /devices/{id}, and their errors', async () => {
      const extra = await signUpAndLogIn(base, 'oa_alice', 'phone');
      const third = await signUpAndLogIn(base, 'oa_alice', 'tablet');
      const list = await api('GET', '/devices', { token: alice.token });
      assert.ok(list.body.devices.length >= 3);
      await api('GET', `/devices?access_token=${alice.token}&callback=onDevices`);
      await errorCode('GET', '/devices', {}, 401, 'unauthorized');
      assert.equal((await api('DELETE', `/devices/${extra.deviceId}`, { token: alice.token })).status, 204);
      await errorCode('DELETE', `/devices/${bob.deviceId}`, { token: alice.token }, 404, 'not_found');
      assert.equal(
        (await api('POST', `/devices/${third.deviceId}`, { form: { _method: 'DELETE', access_token: alice.token } })).status,
        204,
      );
      await errorCode('POST', `/devices/${third.deviceId}`, { token: alice.token }, 405, 'method_not_allowed');
    });

    it('DELETE and POST-override /devices?except=current, and their errors (#14)', async () => {
      const spare = await signUpAndLogIn(base, 'oa_alice', 'spare');
      const other = await signUpAndLogIn(base, 'oa_alice', 'other');
      assert.deepEqual((await api('DELETE', '/devices?except=current', { token: spare.token })).body, { revoked: 2 });
      const again = await signUpAndLogIn(base, 'oa_alice', 'again');
      assert.deepEqual((await api('POST', '/devices?except=current', { form: { _method: 'DELETE', access_token: again.token } })).body, {
        revoked: 1,
      });
      await errorCode('DELETE', '/devices', { token: again.token }, 400, 'invalid_request');
      await errorCode('DELETE', '/devices?except=current', { token: other.token }, 401, 'unauthorized');
      await errorCode('POST', '/devices?except=current', { token: again.token }, 405, 'method_not_allowed');
      alice = again;
    });

    it('DELETE /sessions/current, also as a POST with X-HTTP-Method-Override', async () => {
      const one = await signUpAndLogIn(base, 'oa_bob', 'one');
      const two = await signUpAndLogIn(base, 'oa_bob', 'two');
      assert.equal((await api('DELETE', '/sessions/current', { token: one.token })).status, 204);
      await errorCode('DELETE', '/sessions/current', { token: one.token }, 401, 'unauthorized');
      assert.equal(
        (await api('POST', '/sessions/current', { token: two.token, headers: { 'X-HTTP-Method-Override': 'DELETE' } })).status,
        204,
      );
    });

    it('POST /messages (created, retried, conflicting) and GET /messages pages', async () => {
      const sent = await api('POST', '/messages', {
        token: alice.token,
        json: { to: 'oa_bob', body: 'hi <b>bob</b>\n😀', client_id: 'oa-1' },
      });
      assert.equal(sent.status, 201);
      assert.equal(sent.body.message.client_id, 'oa-1');
      assert.equal(
        (await api('POST', '/messages', { token: alice.token, json: { to: 'oa_bob', body: 'hi <b>bob</b>\n😀', client_id: 'oa-1' } }))
          .status,
        200,
      );
      await errorCode(
        'POST',
        '/messages',
        { token: alice.token, json: { to: 'oa_bob', body: 'other', client_id: 'oa-1' } },
        409,
        'client_id_reused',
      );
      await errorCode('POST', '/messages', { token: alice.token, json: { to: 'oa_nobody', body: 'x' } }, 404, 'user_not_found');
      await errorCode(
        'POST',
        '/messages',
        { token: alice.token, rawBody: { type: 'application/json', body: '{"to":"oa_bob","body":"   "}' } },
        400,
        'invalid_request',
      );
      await errorCode('POST', '/messages', { json: { to: 'oa_bob', body: 'x' } }, 401, 'unauthorized');
      assert.equal((await api('POST', '/messages', { form: { to: 'oa_bob', body: 'by form', access_token: alice.token } })).status, 201);
      assert.equal(
        (await api('POST', '/messages', { token: bob.token, text: JSON.stringify({ to: 'oa_alice', body: 'by text/plain' }) })).status,
        201,
      );

      const page = await api('GET', '/messages?with=oa_bob&limit=2', { token: alice.token });
      assert.equal(page.body.messages.length, 2);
      assert.equal(page.body.has_more, true);
      const older = await api('GET', `/messages?with=oa_bob&limit=2&before=${page.body.messages[0].id}&callback=page`, {
        token: alice.token,
      });
      assert.equal(older.body.has_more, false);
      await api('GET', `/messages?with=oa_bob&after=0&limit=200`, { token: bob.token });
      await errorCode('GET', '/messages?with=oa_bob&limit=0', { token: alice.token }, 400, 'invalid_request');
      await errorCode('GET', '/messages?with=oa_nobody', { token: alice.token }, 404, 'user_not_found');
      await errorCode('GET', '/messages?with=oa_bob', {}, 401, 'unauthorized');
    });

    it('GET /poll: events at once, held then woken, timed out, JSONP, and its errors', async () => {
      const now = await api('GET', `/poll?since=${bob.cursor}&timeout=0`, { token: bob.token });
      assert.ok(now.body.events.length >= 2);
      assert.equal(now.res.headers['x-accel-buffering'], 'no');
      const limited = await api('GET', `/poll?since=${bob.cursor}&timeout=0&limit=1`, { token: bob.token });
      assert.equal(limited.body.events.length, 1);
      const cursor = now.body.cursor as string;

      const held = api('GET', `/poll?since=${cursor}&timeout=20`, { token: bob.token });
      await sleep(300);
      await api('POST', '/messages', { token: alice.token, json: { to: 'oa_bob', body: 'wake up' } });
      const woken = await held;
      assert.deepEqual(
        woken.body.events.map((e: { message: { body: string } }) => e.message.body),
        ['wake up'],
      );

      const empty = await api('GET', `/poll?since=${woken.body.cursor}&timeout=0.2`, { token: bob.token });
      assert.deepEqual(empty.body, { cursor: woken.body.cursor, events: [] });
      await api('GET', `/poll?since=${cursor}&timeout=0&callback=onPoll&access_token=${bob.token}`);
      await api('GET', `/poll?since=x&callback=onPoll&access_token=${bob.token}`);
      await errorCode('GET', '/poll?since=not-a-cursor', { token: bob.token }, 400, 'invalid_cursor');
      await errorCode('GET', '/poll?since=99999999&timeout=0', { token: bob.token }, 400, 'invalid_cursor');
      await errorCode('GET', '/poll?timeout=soon', { token: bob.token }, 400, 'invalid_request');
      await errorCode('GET', '/poll', {}, 401, 'unauthorized');

      // A revoked device's held poll is answered 401 at once.
      const kiosk = await signUpAndLogIn(base, 'oa_bob', 'kiosk');
      const revoked = api('GET', '/poll?timeout=20', { token: kiosk.token });
      await sleep(300);
      await api('DELETE', `/devices/${kiosk.deviceId}`, { token: bob.token });
      assert.equal((await revoked).status, 401);
    });

    it('GET /presence', async () => {
      const p = await api('GET', '/presence', { token: alice.token });
      assert.ok(p.body.online.includes('oa_bob'));
      await api('GET', `/presence?callback=x&access_token=${alice.token}`);
      await errorCode('GET', '/presence', {}, 401, 'unauthorized');
    });

    it('POST /read and the read event in the stream', async function () {
      await served.call(this, '/read', 'POST');
      const sent = await api('POST', '/messages', { token: alice.token, json: { to: 'oa_bob', body: 'read me' } });
      const before = await api('GET', '/poll?timeout=0', { token: bob.token });
      assert.equal(
        (await api('POST', '/read', { token: bob.token, form: { with: 'oa_alice', up_to: String(sent.body.message.id) } })).status,
        204,
      );
      const events = await api('GET', `/poll?since=${before.body.cursor}&timeout=0`, { token: bob.token });
      assert.deepEqual(events.body.events, [{ type: 'read', with: 'oa_alice', up_to: sent.body.message.id }]);
      await errorCode(
        'POST',
        '/read',
        { token: bob.token, rawBody: { type: 'application/json', body: '{"with":"oa_alice"}' } },
        400,
        'invalid_request',
      );
      await errorCode('POST', '/read', { token: bob.token, json: { with: 'oa_nobody', up_to: 1 } }, 404, 'user_not_found');
      await errorCode('POST', '/read', { token: bob.token, json: { with: 'oa_alice', up_to: 99_999_999 } }, 404, 'not_found');
      await errorCode('POST', '/read', { json: { with: 'oa_alice', up_to: 1 } }, 401, 'unauthorized');
    });

    it('GET /search: matches, pages, JSONP, and its errors (#17)', async function () {
      await served.call(this, '/search', 'GET');
      await api('POST', '/messages', { token: alice.token, json: { to: 'oa_bob', body: 'the openapi needle, 100% plain' } });
      const found = await api('GET', '/search?q=NEEDLE&limit=1', { token: alice.token });
      assert.equal(found.body.messages.length, 1);
      const id = Number(found.body.messages[0].id);
      await api('GET', `/search?q=needle&with=oa_bob&before=${id + 1}&callback=s`, { token: alice.token });
      const quoted = await api('GET', '/search?q=%22needle%2A%20100%25&with=oa_alice', { token: bob.token });
      assert.equal(quoted.body.messages.length, 1, 'quotes, * and % are plain text');
      await errorCode('GET', '/search?q=---', { token: alice.token }, 400, 'invalid_request');
      await errorCode('GET', '/search?q=x&limit=101', { token: alice.token }, 400, 'invalid_request');
      await errorCode('GET', '/search?q=x&with=oa_bob&group=1', { token: alice.token }, 400, 'invalid_request');
      await errorCode('GET', '/search?q=x&with=oa_nobody', { token: alice.token }, 404, 'user_not_found');
      await errorCode('GET', '/search?q=x&group=999999', { token: alice.token }, 404, 'not_found');
      await errorCode('GET', '/search?q=x', {}, 401, 'unauthorized');
    });

    it('GET /conversations', async function () {
      await served.call(this, '/conversations', 'GET');
      const c = await api('GET', '/conversations', { token: alice.token });
      assert.ok(c.body.conversations.some((x: { with: string }) => x.with === 'oa_bob'));
      await api('GET', `/conversations?callback=c&access_token=${alice.token}`);
      await errorCode('GET', '/conversations', {}, 401, 'unauthorized');
    });

    it('groups (#15): create, list, read, rename, add, remove or leave, send, history, read marker, conversations', async () => {
      const made = await api('POST', '/groups', { token: alice.token, json: { name: 'oa group', members: ['oa_bob'] } });
      assert.equal(made.status, 201);
      const id = made.body.group.id as number;
      assert.equal(
        (await api('POST', '/groups', { form: { name: 'by form', members: 'oa_bob,oa_carol', access_token: alice.token } })).status,
        201,
      );
      assert.equal((await api('POST', '/groups', { token: bob.token, text: JSON.stringify({ name: 'by text' }) })).status, 201);
      await errorCode('POST', '/groups', { token: alice.token, json: { name: 'x', members: ['oa_nobody'] } }, 404, 'user_not_found');
      await errorCode(
        'POST',
        '/groups',
        { token: alice.token, rawBody: { type: 'application/json', body: '{"name":" "}' } },
        400,
        'invalid_request',
      );
      await errorCode('POST', '/groups', { json: { name: 'x' } }, 401, 'unauthorized');
      const crowd = Array.from({ length: 300 }, (_, i) => `oa_x${i}`);
      await errorCode('POST', '/groups', { token: alice.token, json: { name: 'x', members: crowd } }, 409, 'group_full');

      assert.ok((await api('GET', '/groups', { token: bob.token })).body.groups.some((g: { id: number }) => g.id === id));
      await api('GET', `/groups?callback=g&access_token=${bob.token}`);
      await errorCode('GET', '/groups', {}, 401, 'unauthorized');
      assert.equal((await api('GET', `/groups/${id}`, { token: bob.token })).body.group.name, 'oa group');
      await api('GET', `/groups/${id}?callback=g&access_token=${bob.token}`);
      await errorCode('GET', `/groups/${id + 1000}`, { token: bob.token }, 404, 'not_found');
      assert.equal((await api('POST', `/groups/${id}`, { token: bob.token, form: { name: 'renamed' } })).body.group.name, 'renamed');
      await errorCode(
        'POST',
        `/groups/${id}`,
        { token: bob.token, rawBody: { type: 'application/json', body: '{}' } },
        400,
        'invalid_request',
      );
      await errorCode('POST', `/groups/${id + 1000}`, { token: bob.token, json: { name: 'x' } }, 404, 'not_found');
      const added = await api('POST', `/groups/${id}/members`, { token: bob.token, json: { username: 'oa_carol' } });
      assert.deepEqual(added.body.group.members, ['oa_alice', 'oa_bob', 'oa_carol']);
      await errorCode('POST', `/groups/${id}/members`, { token: bob.token, json: { username: 'oa_nobody' } }, 404, 'user_not_found');
      await errorCode('POST', `/groups/${id + 1000}/members`, { token: bob.token, json: { username: 'oa_carol' } }, 404, 'not_found');

      const sent = await api('POST', '/messages', { token: alice.token, json: { group: id, body: 'to the group', client_id: 'oa-g1' } });
      assert.equal(sent.status, 201);
      assert.equal(sent.body.message.group, id);
      assert.equal(
        (await api('POST', '/messages', { token: alice.token, json: { group: id, body: 'to the group', client_id: 'oa-g1' } })).status,
        200,
      );
      await errorCode('POST', '/messages', { token: alice.token, json: { group: id + 1000, body: 'x' } }, 404, 'not_found');
      await errorCode('POST', '/messages', { token: alice.token, json: { group: id, to: 'oa_bob', body: 'x' } }, 400, 'invalid_request');
      const page = await api('GET', `/messages?group=${id}&limit=5`, { token: bob.token });
      assert.deepEqual(
        page.body.messages.map((m: { body: string }) => m.body),
        ['to the group'],
      );
      await errorCode('GET', `/messages?group=${id + 1000}`, { token: bob.token }, 404, 'not_found');
      await errorCode('GET', `/messages?group=${id}&with=oa_alice`, { token: bob.token }, 400, 'invalid_request');
      const before = await api('GET', '/poll?timeout=0&limit=1000', { token: bob.token });
      assert.equal((await api('POST', '/read', { token: bob.token, json: { group: id, up_to: sent.body.message.id } })).status, 204);
      await errorCode('POST', '/read', { token: bob.token, json: { group: id + 1000, up_to: sent.body.message.id } }, 404, 'not_found');
      const conversations = await api('GET', '/conversations', { token: bob.token });
      assert.ok(conversations.body.conversations.some((c: { group?: { id: number } }) => c.group?.id === id));

      await errorCode('DELETE', `/groups/${id}/members/oa_alice`, { token: bob.token }, 403, 'forbidden');
      assert.equal((await api('DELETE', `/groups/${id}/members/oa_carol`, { token: alice.token })).status, 204);
      await errorCode('DELETE', `/groups/${id}/members/oa_carol`, { token: alice.token }, 404, 'not_found');
      assert.equal(
        (await api('POST', `/groups/${id}/members/oa_alice`, { form: { _method: 'DELETE', access_token: alice.token } })).status,
        204,
      );
      await errorCode('POST', `/groups/${id}/members/oa_bob`, { token: bob.token }, 405, 'method_not_allowed');
      await errorCode('DELETE', `/groups/${id}/members/oa_bob`, {}, 401, 'unauthorized');
      // Every kind of event of the stream, checked against the document by this poll.
      const events = await api('GET', `/poll?since=${before.body.cursor}&timeout=0&limit=1000`, { token: bob.token });
      const kinds = new Set(
        events.body.events.map((e: { type: string; group?: unknown }) => `${e.type}${typeof e.group === 'number' ? ' group' : ''}`),
      );
      assert.deepEqual([...kinds].sort(), ['group', 'read group']);
    });

    it('GET /metrics', async function () {
      await served.call(this, '/metrics', 'GET');
      const m = await api('GET', '/metrics');
      assert.match(m.res.headers['content-type'] ?? '', /^text\/plain/);
      assert.match((await api('GET', '/metrics?callback=onMetrics')).body.text, /^# HELP /m);
    });

    it('GET /openapi.json serves this very document', async function () {
      await served.call(this, '/openapi.json', 'GET');
      const served_ = await api('GET', '/openapi.json');
      assert.deepEqual(served_.body, doc, 'the served document is docs/openapi.json');
    });

    it('OPTIONS (preflight and plain) on every path, 405 with Allow, 404 for unknown paths', async () => {
      for (const template of Object.keys(doc.paths)) {
        if (notServed.has(template)) continue;
        const p = template.replace(/\{(\w+)\}/g, 'some-$1');
        const res = await raw(`${base}${p}`, {
          method: 'OPTIONS',
          headers: {
            Origin: 'http://kiosk.example',
            'Access-Control-Request-Method': 'POST',
            'Access-Control-Request-Headers': 'Authorization',
          },
        });
        check('OPTIONS', `${base}${p}`, res);
        assert.equal(res.status, 204);
        assert.match(String(res.headers['access-control-allow-headers']), /Authorization/);
      }
      const plain = await raw(`${base}/messages`, { method: 'OPTIONS' });
      check('OPTIONS', `${base}/messages`, plain);
      assert.match(String(plain.headers.allow), /GET/);

      const put = await raw(`${base}/messages`, { method: 'PUT', headers: { Authorization: `Bearer ${alice.token}` } });
      commonHeaders(put, 'PUT /messages');
      assert.equal(put.status, 405);
      assert.deepEqual(checkResponse(doc.components.responses.MethodNotAllowed!, put, 'PUT /messages -> 405'), JSON.parse(put.text));
      const nowhere = await raw(`${base}/no/such/thing`);
      commonHeaders(nowhere, 'GET /no/such/thing');
      assert.equal(nowhere.status, 404);
      checkResponse(doc.components.responses.NotFound!, nowhere, 'GET /no/such/thing -> 404');
    });

    it('403 when sign-up is off, 503 overloaded when the server holds its maximum of polls', async () => {
      const closed = await startServer({ env: { SCRYPT_COST: '10', SIGNUP_ENABLED: 'false' } });
      const tight = await startServer({ env: { SCRYPT_COST: '10', MAX_HELD_POLLS: '1' } });
      const saved = base;
      try {
        base = closed.url;
        await errorCode('POST', '/users', { json: { username: 'oa_frank', password: 'long enough' } }, 403, 'forbidden');
        base = tight.url;
        const u = await signUpAndLogIn(tight.url, 'oa_gina');
        const first = api('GET', '/poll?timeout=20', { token: u.token });
        await sleep(300);
        const second = await api('GET', `/poll?since=${u.cursor}&timeout=20`, {
          token: (await signUpAndLogIn(tight.url, 'oa_hank')).token,
        });
        assert.equal(second.status, 503);
        assert.equal(second.body.error.code, 'overloaded');
        await tight.stop();
        assert.equal((await first).status, 200, 'the held poll is answered when the server stops');
      } finally {
        base = saved;
        await closed.stop();
        await tight.stop();
      }
    });

    it('every documented operation was called and its success checked', () => {
      const missing: string[] = [];
      for (const { method, template, op } of operations()) {
        if (notServed.has(template)) continue;
        const statuses = exercised.get(op.operationId);
        const success = Object.keys(op.responses)
          .filter((s) => /^2\d\d$/.test(s))
          .map(Number);
        if (!statuses || !success.some((s) => statuses.has(s))) missing.push(`${method.toUpperCase()} ${template}`);
      }
      assert.deepEqual(missing, [], 'operations whose success answer was never validated');
      if (notServed.size > 0) console.log(`      not served yet, so not validated: ${[...notServed].join(', ')}`);
    });
  });
});
