// Authorization matrix (issue #6): for every endpoint that takes a user, a device or a message,
// another user's token can never read, change or learn about it: not through history, the
// conversation list, the event stream, read markers, device ids, client_ids or presence beyond
// what the contract shows. Tokens: random with 256 bits, stored only as a hash, never echoed
// and never logged.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import type request from 'supertest';
import { begin, expectError, logIn, newUser, startApp, type Login, type TestApp, waitHeld } from '../support/app';
import { report } from './harness';

describe('faults: authorization matrix (#6)', function () {
  this.timeout(60_000);
  let t: TestApp;
  const logLines: string[] = [];
  let alice: Login; // laptop
  let alicePhone: Login;
  let bob: Login;
  let mallory: Login;
  /** Things only alice and bob may ever see. */
  const secrets: string[] = [];
  /** Every answer mallory got, to search for the secrets at the end. */
  const malloryTexts: string[] = [];
  const aliceBobIds: number[] = [];
  let aliceNoteId = 0;

  const asMallory = async (req: request.Test): Promise<request.Response> => {
    const res = await req;
    malloryTexts.push(JSON.stringify(res.headers), res.text);
    return res;
  };

  before(async () => {
    t = await startApp({ LOG_LEVEL: 'info' }, { write: (l) => logLines.push(l) });
    alice = await newUser(t, 'alice');
    alicePhone = await logIn(t, alice.username, 'correct horse', 'alice phone');
    bob = await newUser(t, 'bob');
    mallory = await newUser(t, 'mallory');
    for (const [from, to, body, cid] of [
      [alice, bob, 'private: the door code is 4711', 'alice-cid-1'],
      [bob, alice, 'private: thanks, see you at 8', 'bob-cid-1'],
      [alice, bob, 'private: bring the blue folder', 'alice-cid-2'],
    ] as const) {
      const r = await t.http().post('/messages').set(from.auth).send({ to: to.username, body, client_id: cid }).expect(201);
      aliceBobIds.push(r.body.message.id);
      secrets.push(body, cid);
    }
    const note = await t
      .http()
      .post('/messages')
      .set(alice.auth)
      .send({ to: alice.username, body: 'private note to self', client_id: 'alice-note' })
      .expect(201);
    aliceNoteId = note.body.message.id;
    secrets.push('private note to self', 'alice-note');
    await t.http().post('/read').set(bob.auth).send({ with: alice.username, up_to: aliceBobIds[0] }).expect(204);
    await t.http().post('/read').set(alice.auth).send({ with: bob.username, up_to: aliceBobIds[1] }).expect(204);
    secrets.push(alice.deviceId, alicePhone.deviceId, bob.deviceId, 'alice phone', alice.token, bob.token, alicePhone.token);
  });
  after(() => t.close());

  /** What alice and bob can see, to compare before and after mallory's attempts. */
  async function victimsView(): Promise<string> {
    const parts = [];
    for (const who of [alice, bob]) {
      parts.push((await t.http().get('/conversations').set(who.auth).expect(200)).text);
      parts.push(
        (
          await t
            .http()
            .get(`/messages?with=${who === alice ? bob.username : alice.username}`)
            .set(who.auth)
            .expect(200)
        ).text,
      );
      parts.push((await t.http().get('/poll?since=0&timeout=0').set(who.auth).expect(200)).text);
    }
    parts.push(
      JSON.stringify(
        (await t.http().get('/devices').set(alice.auth).expect(200)).body.devices.map((d: { id: string; name: string }) => [d.id, d.name]),
      ),
    );
    return parts.join('\n');
  }

  it("history: another user's conversation cannot be read, whatever with/before/after say", async () => {
    for (const q of [
      `with=${alice.username}`,
      `with=${bob.username}`,
      `with=${mallory.username}`,
      `with=${alice.username}&after=0&limit=200`,
      `with=${bob.username}&before=${aliceBobIds[2]! + 1}`,
      `with=${alice.username}&after=${aliceBobIds[0]! - 1}`,
      `with=${alice.username.toUpperCase()}`,
    ]) {
      const res = await asMallory(t.http().get(`/messages?${q}`).set(mallory.auth));
      assert.equal(res.status, 200, q);
      assert.deepEqual(res.body, { messages: [], has_more: false }, `mallory reads nothing with ${q}`);
    }
  });

  it("conversations and the event stream hold only the caller's own; cursors say nothing about others", async () => {
    const conv = await asMallory(t.http().get('/conversations').set(mallory.auth));
    assert.deepEqual(conv.body, { conversations: [] });
    // Mallory logged in after alice and bob had exchanged messages and read markers: her
    // stream is still empty and her cursor is 0, so it reveals nothing of their traffic.
    assert.equal(mallory.cursor, '0');
    const all = await asMallory(t.http().get('/poll?since=0&timeout=0').set(mallory.auth));
    assert.deepEqual(all.body, { cursor: '0', events: [] });
    // Alice's cursor means nothing in mallory's stream: ahead of it, so refused like any other.
    const aliceHead = (await t.http().get('/poll?since=0&timeout=0').set(alice.auth)).body.cursor as string;
    assert.ok(Number(aliceHead) > 0);
    const stolen = await asMallory(t.http().get(`/poll?since=${aliceHead}&timeout=0`).set(mallory.auth));
    expectError(stolen, 400, 'invalid_cursor');
    const ahead = await asMallory(t.http().get('/poll?since=999&timeout=0').set(mallory.auth));
    assert.deepEqual(stolen.body, ahead.body, 'the same answer as for any cursor ahead');
  });

  it("read markers: mallory cannot move anyone's marker, and cannot tell a foreign message from a missing one", async () => {
    const before = await victimsView();
    const probe = async (withUser: string, upTo: number) => {
      const res = await asMallory(t.http().post('/read').set(mallory.auth).send({ with: withUser, up_to: upTo }));
      expectError(res, 404, 'not_found');
      return String(res.body.error.message).replace(String(upTo), 'N');
    };
    const foreign = await probe(alice.username, aliceBobIds[2]!);
    const foreignNote = await probe(alice.username, aliceNoteId);
    const missing = await probe(alice.username, 987654);
    assert.equal(foreign, missing, 'a foreign message and a missing one get the same answer');
    assert.equal(foreignNote, missing);
    await probe(bob.username, aliceBobIds[1]!);
    await probe(mallory.username, aliceBobIds[0]!);
    assert.equal(await victimsView(), before, 'nothing alice or bob see changed');
  });

  it("devices: another user's device cannot be listed, revoked or told apart from a missing one, by any method", async () => {
    const mine = await asMallory(t.http().get('/devices').set(mallory.auth));
    assert.deepEqual(
      mine.body.devices.map((d: { id: string }) => d.id),
      [mallory.deviceId],
    );
    // Alice's laptop holds a poll meanwhile: it must stay held, not be answered 401.
    const head = (await t.http().get('/poll?since=0&timeout=0&limit=1000').set(alice.auth)).body.cursor as string;
    const held = begin(t.http().get(`/poll?since=${head}&timeout=20`).set(alice.auth));
    await waitHeld(t, 1);
    const answers: request.Response[] = [];
    for (const id of [alice.deviceId, alicePhone.deviceId, bob.deviceId]) {
      answers.push(await asMallory(t.http().delete(`/devices/${id}`).set(mallory.auth)));
      answers.push(await asMallory(t.http().post(`/devices/${id}`).set(mallory.auth).set('X-HTTP-Method-Override', 'DELETE')));
      answers.push(await asMallory(t.http().post(`/devices/${id}`).type('form').send({ _method: 'DELETE', access_token: mallory.token })));
    }
    const missing = await asMallory(
      t
        .http()
        .delete(`/devices/${crypto.randomBytes(12).toString('base64url')}`)
        .set(mallory.auth),
    );
    for (const a of answers) {
      expectError(a, 404, 'not_found');
      assert.deepEqual(a.body, missing.body, 'the same answer as for a device that does not exist');
    }
    assert.equal(t.core.hub.stats().held, 1, "alice's poll is still held");
    for (const who of [alice, alicePhone, bob]) await t.http().get('/devices').set(who.auth).expect(200);
    await t.http().post('/messages').set(bob.auth).send({ to: alice.username, body: 'wake up' }).expect(201);
    const woken = await held;
    assert.equal(woken.status, 200, "alice's poll ended with her message, not with a revocation");
    assert.equal(woken.body.events[0].message.body, 'wake up');
  });

  it("client_id: another sender's key neither returns their message nor blocks the key; it is shown only to its owner", async () => {
    const res = await asMallory(
      t.http().post('/messages').set(mallory.auth).send({ to: bob.username, body: 'hello bob', client_id: 'alice-cid-1' }),
    );
    assert.equal(res.status, 201, "a new message of mallory's own, not alice's");
    assert.equal(res.body.message.body, 'hello bob');
    const retry = await t
      .http()
      .post('/messages')
      .set(alicePhone.auth)
      .send({ to: bob.username, body: 'private: the door code is 4711', client_id: 'alice-cid-1' });
    assert.equal(retry.status, 200, "alice's retry, from her other device, still returns her original");
    assert.equal(retry.body.message.id, aliceBobIds[0]);
    // Bob sees alice's messages without her client_id, everywhere; alice sees her own.
    const bobViews = [
      (await t.http().get(`/messages?with=${alice.username}`).set(bob.auth)).body.messages,
      (await t.http().get('/poll?since=0&timeout=0').set(bob.auth)).body.events.flatMap((e: { message?: unknown }) =>
        e.message ? [e.message] : [],
      ),
      (await t.http().get('/conversations').set(bob.auth)).body.conversations.map((c: { last_message: unknown }) => c.last_message),
    ].flat() as Array<{ from: string; client_id: string | null }>;
    for (const m of bobViews) if (m.from !== bob.username) assert.equal(m.client_id, null, "another sender's client_id is never shown");
    const aliceView = (await t.http().get(`/messages?with=${bob.username}`).set(alicePhone.auth)).body.messages as Array<{
      from: string;
      client_id: string | null;
    }>;
    assert.ok(aliceView.filter((m) => m.from === alice.username).every((m) => m.client_id?.startsWith('alice-cid-')));
  });

  it('groups (#15): an outsider, a removed member and a revoked device get 404 (401) on every endpoint, the same as for no group', async () => {
    const eve = await newUser(t, 'eve');
    const made = await t
      .http()
      .post('/groups')
      .set(alice.auth)
      .send({ name: 'private: the board', members: [bob.username, eve.username] })
      .expect(201);
    const id = made.body.group.id as number;
    const before = await t
      .http()
      .post('/messages')
      .set(bob.auth)
      .send({ group: id, body: 'private: while eve was in', client_id: 'bob-g-1' });
    await t.http().delete(`/groups/${id}/members/${eve.username}`).set(alice.auth).expect(204);
    const after = await t
      .http()
      .post('/messages')
      .set(alice.auth)
      .send({ group: id, body: 'private: after eve left', client_id: 'alice-g-1' });
    secrets.push('private: the board', 'private: while eve was in', 'bob-g-1', 'private: after eve left', 'alice-g-1');
    const eveTexts: string[] = [];
    const lostPhone = await logIn(t, bob.username, 'correct horse', 'lost phone');
    await t.http().delete(`/devices/${lostPhone.deviceId}`).set(bob.auth).expect(204);
    const viewBefore = await victimsView();
    const groupView = async () => (await t.http().get(`/groups/${id}`).set(bob.auth).expect(200)).text;
    const groupBefore = await groupView();
    /** Every group endpoint as `who`, on group `g`: the answers, in order. */
    const sweep = (who: Login, g: number): request.Test[] => [
      t.http().get(`/groups/${g}`).set(who.auth),
      t.http().post(`/groups/${g}`).set(who.auth).send({ name: 'mine' }),
      t.http().post(`/groups/${g}/members`).set(who.auth).send({ username: who.username }),
      t.http().post(`/groups/${g}/members`).set(who.auth).send({ username: 'nobody-at-all' }),
      t.http().delete(`/groups/${g}/members/${alice.username}`).set(who.auth),
      t.http().delete(`/groups/${g}/members/${who.username}`).set(who.auth),
      t.http().post(`/groups/${g}/members/${bob.username}`).set(who.auth).send({ _method: 'DELETE' }),
      t.http().post('/messages').set(who.auth).send({ group: g, body: 'let me in' }),
      t.http().post('/messages').set(who.auth).send({ group: g, body: 'private: while eve was in', client_id: 'bob-g-1' }),
      t.http().get(`/messages?group=${g}&after=0&limit=200`).set(who.auth),
      t.http().post('/read').set(who.auth).send({ group: g, up_to: after.body.message.id }),
    ];
    const missing = 987_654;
    for (const who of [mallory, eve]) {
      const answers: request.Response[] = [];
      for (const req of sweep(who, id)) answers.push(who === mallory ? await asMallory(req) : await req);
      const none: request.Response[] = [];
      for (const req of sweep(who, missing)) none.push(await req);
      answers.forEach((a, i) => {
        if (who === eve) eveTexts.push(a.text);
        expectError(a, 404, 'not_found');
        assert.deepEqual(
          String(a.body.error.message).replace(String(id), 'G'),
          String(none[i]?.body.error.message).replace(String(missing), 'G'),
          'the same answer as for a group that does not exist',
        );
      });
      for (const path of ['/groups', '/conversations']) {
        const res = who === mallory ? await asMallory(t.http().get(path).set(who.auth)) : await t.http().get(path).set(who.auth);
        if (who === eve) eveTexts.push(res.text);
        assert.doesNotMatch(res.text, /private/);
      }
    }
    for (const req of sweep(lostPhone, id)) expectError(await req, 401, 'unauthorized');
    // Eve's stream: what she got while she was in, her removal, and nothing after it.
    const eveStream = await t.http().get('/poll?since=0&timeout=0&limit=1000').set(eve.auth).expect(200);
    assert.deepEqual(
      eveStream.body.events.map(
        (e: { type: string; message?: { body: string }; change?: { action: string } }) => e.message?.body ?? e.change?.action,
      ),
      ['created', before.body.message.body, 'removed'],
    );
    assert.ok(![...eveTexts, eveStream.text].join('\n').includes('after eve left'), 'eve saw nothing from after her removal');
    assert.equal(await victimsView(), viewBefore, 'nothing alice or bob see changed');
    assert.equal(await groupView(), groupBefore, 'nor the group');
  });

  it('presence shows names only; metrics, health and errors show nothing of anyone', async () => {
    const pres = await asMallory(t.http().get('/presence').set(mallory.auth));
    assert.deepEqual(Object.keys(pres.body), ['online']);
    for (const n of pres.body.online) assert.equal(typeof n, 'string');
    const texts = [
      (await asMallory(t.http().get('/metrics'))).text,
      (await asMallory(t.http().get('/healthz'))).text,
      (await asMallory(t.http().get('/nope'))).text,
      (await asMallory(t.http().get(`/messages?with=nobody-here`).set(mallory.auth))).text,
    ];
    for (const name of [alice.username, bob.username]) assert.ok(!texts[0]!.includes(name), `metrics do not name ${name}`);
  });

  it('tokens: tampered, swapped, truncated or revoked tokens fail everywhere they can be put, and are never echoed', async () => {
    const [aliceId, aliceSecret] = alice.token.split('.') as [string, string];
    const [malloryId, mallorySecret] = mallory.token.split('.') as [string, string];
    const flip = (s: string) => `${s.slice(0, -1)}${s.endsWith('A') ? 'B' : 'A'}`;
    const revoked = await logIn(t, alice.username, 'correct horse', 'soon gone');
    await t.http().delete('/sessions/current').set(revoked.auth).expect(204);
    const bad = [
      `${aliceId}.${mallorySecret}`,
      `${malloryId}.${aliceSecret}`,
      `${aliceId}.${flip(aliceSecret)}`,
      `${aliceId}.${aliceSecret.slice(0, -1)}`,
      `${alice.token}A`,
      `${aliceId.toLowerCase()}.${aliceSecret}`,
      aliceId,
      aliceSecret,
      revoked.token,
      '',
    ];
    let checked = 0;
    for (const token of bad) {
      for (const [method, path] of [
        ['get', `/messages?with=${bob.username}`],
        ['get', '/poll?timeout=0'],
        ['get', '/devices'],
        ['get', '/conversations'],
        ['get', '/presence'],
        ['post', '/read'],
        ['post', '/messages'],
        ['delete', `/devices/${alicePhone.deviceId}`],
        ['delete', '/devices?except=current'],
        ['delete', '/sessions/current'],
      ] as const) {
        const ways: request.Test[] = [
          t
            .http()
            [method](path)
            .set('Authorization', `Bearer ${token}`)
            .send(method === 'post' ? { to: bob.username, body: 'x', with: bob.username, up_to: aliceBobIds[0] } : undefined),
          t.http()[method](`${path}${path.includes('?') ? '&' : '?'}access_token=${encodeURIComponent(token)}`),
        ];
        if (method !== 'get')
          ways.push(
            t
              .http()
              .post(path)
              .type('form')
              .send({
                access_token: token,
                _method: method === 'delete' ? 'DELETE' : undefined,
                to: bob.username,
                body: 'x',
                with: bob.username,
                up_to: String(aliceBobIds[0]),
              }),
          );
        for (const w of ways) {
          const res = await w;
          expectError(res, 401, 'unauthorized');
          if (token) assert.ok(!res.text.includes(token) && !JSON.stringify(res.headers).includes(token), 'a token is never echoed');
          checked++;
        }
      }
    }
    // Nothing changed: alice's phone still works, bob got no message "x".
    await t.http().get('/devices').set(alicePhone.auth).expect(200);
    const hist = await t.http().get(`/messages?with=${alice.username}`).set(bob.auth).expect(200);
    assert.ok(!hist.body.messages.some((m: { body: string }) => m.body === 'x'));
    report(
      `${checked} requests with ${bad.length} kinds of bad token on 10 endpoints, in the header, the query and the form: all 401, none echoed, nothing changed`,
    );
  });

  it('tokens are 256 random bits, stored only as a hash; passwords only as salted scrypt', async () => {
    // One after another: log-ins in flight for one name count against RATE_LOGIN_USER.
    const logins: Login[] = [];
    for (let i = 0; i < 64; i++) logins.push(await logIn(t, bob.username, 'correct horse', 'entropy'));
    const secretsBytes = logins.map((l) => Buffer.from(l.token.split('.')[1]!, 'base64url'));
    for (const b of secretsBytes) assert.equal(b.length, 32, '256-bit secret');
    assert.equal(new Set(logins.map((l) => l.token)).size, logins.length);
    assert.equal(new Set(logins.map((l) => l.deviceId)).size, logins.length);
    let ones = 0;
    for (const b of secretsBytes) for (const byte of b) for (let i = 0; i < 8; i++) ones += (byte >> i) & 1;
    const ratio = ones / (secretsBytes.length * 256);
    assert.ok(Math.abs(ratio - 0.5) < 0.02, `bits look random (${ratio.toFixed(3)} ones)`);

    await t.store.flush();
    t.store.sqlite.db.pragma('wal_checkpoint(FULL)');
    const dbFile = t.store.sqlite.db.name;
    const raw = Buffer.concat([
      fs.readFileSync(dbFile),
      fs.existsSync(`${dbFile}-wal`) ? fs.readFileSync(`${dbFile}-wal`) : Buffer.alloc(0),
    ]);
    for (const l of [alice, bob, mallory, ...logins]) {
      const secret = l.token.split('.')[1]!;
      assert.equal(raw.indexOf(secret), -1, 'the token secret is not in the database file');
      assert.equal(raw.indexOf(Buffer.from(secret, 'base64url')), -1, 'nor its raw bytes');
      const row = t.store.sqlite.db.prepare('SELECT token_hash FROM devices WHERE id = ?').get(l.deviceId) as { token_hash: Buffer };
      assert.deepEqual(row.token_hash, crypto.createHash('sha256').update(secret).digest(), 'stored: sha256 of the secret');
    }
    assert.equal(raw.indexOf('correct horse'), -1, 'no password in the database file');
    const hashes = t.store.sqlite.db.prepare('SELECT password_hash FROM users').pluck().all() as string[];
    for (const h of hashes) assert.match(h, /^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    assert.equal(new Set(hashes.map((h) => h.split('$')[4])).size, hashes.length, 'a salt of its own per user');
    for (const l of logins) await t.http().delete('/sessions/current').set(l.auth).expect(204);
  });

  it('afterwards: mallory never saw a secret of alice or bob, and no log line holds a token, a password or a body', () => {
    const seen = malloryTexts.join('\n');
    // (alice-cid-1 mallory typed herself, in the client_id test.)
    for (const s of secrets.filter((x) => x !== 'alice-cid-1')) assert.ok(!seen.includes(s), `mallory saw ${s.slice(0, 12)}…`);
    const logs = logLines.join('');
    assert.ok(logLines.length > 50, 'requests were logged');
    for (const l of [alice, alicePhone, bob, mallory]) {
      assert.ok(!logs.includes(l.token.split('.')[1]!), 'no token secret in the logs');
    }
    for (const s of ['correct horse', 'private: the door code is 4711', 'private note to self'])
      assert.ok(!logs.includes(s), `the logs hold ${s.slice(0, 12)}…`);
    report(
      `${malloryTexts.length / 2} answers to mallory searched for ${secrets.length} secrets of alice and bob: none found; ${logLines.length} log lines without a token, password or body`,
    );
  });
});
