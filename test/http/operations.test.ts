// Metrics, rate limits and logs (issue #3).
import assert from 'node:assert/strict';
import { begin, expectError, logIn, newUser, send, signUp, startApp, type TestApp, waitHeld } from '../support/app';
import { heapAfterGc } from '../support/util';

/** Parses Prometheus text exposition; throws on any line that is not valid. */
function parseProm(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || /^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$/.test(line)) continue;
    const m =
      /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+-]+|[Nn]a[Nn]|[+-]?[Ii]nf)( \d+)?$/.exec(
        line,
      ); // Go's ParseFloat: any case
    if (!m) throw new Error(`not Prometheus exposition: ${line}`);
    samples.set(`${m[1]}${m[2] ?? ''}`, Number(m[3]));
  }
  return samples;
}

describe('metrics (HTTP, #3)', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await startApp();
  });
  afterEach(() => t.close());

  const scrape = async () => {
    const res = await t.http().get('/metrics').expect(200);
    assert.match(String(res.headers['content-type']), /^text\/plain/);
    return parseProm(res.text);
  };

  it('exposes the text format with held polls, devices, messages, poll outcomes, request durations and process metrics', async () => {
    const a = await newUser(t);
    const b = await newUser(t);
    const before = await scrape();
    for (const name of [
      'chat_held_polls',
      'chat_devices_online',
      'chat_messages_stored',
      'process_cpu_user_seconds_total',
      'nodejs_eventloop_lag_seconds',
      'process_resident_memory_bytes',
    ]) {
      assert.ok(before.has(name), `${name} present`);
    }
    assert.equal(before.get('chat_messages_stored'), 0);

    const held = begin(t.http().get(`/poll?since=${b.cursor}&timeout=10`).set(b.auth));
    await waitHeld(t, 1);
    const during = await scrape();
    assert.equal(during.get('chat_held_polls'), 1);
    assert.ok((during.get('chat_devices_online') ?? 0) >= 1);
    await send(t, a, b.username, 'counted');
    await held;
    await t.http().get(`/poll?since=${b.cursor}&timeout=0`).set(b.auth).expect(200);
    await t.http().get(`/poll?since=1&timeout=0.05`).set(a.auth).expect(200); // a: its own message is seq 1
    const after = await scrape();
    assert.equal(after.get('chat_held_polls'), 0);
    assert.equal(after.get('chat_messages_stored'), 1);
    assert.equal(after.get('chat_poll_answers_total{outcome="events"}'), 1);
    assert.equal(after.get('chat_poll_answers_total{outcome="immediate"}'), 1);
    assert.equal(after.get('chat_poll_answers_total{outcome="timeout"}'), 1);
    assert.equal(after.get('http_requests_total{method="POST",route="/messages",status="201"}'), 1);
    assert.equal(after.get('http_request_duration_seconds_count{method="POST",route="/messages",status="201"}'), 1);
    assert.ok((after.get('http_request_duration_seconds_bucket{le="60",method="GET",route="/poll",status="200"}') ?? 0) >= 3);
    assert.ok((after.get('chat_write_batches_committed') ?? 0) >= 1);
  });

  it('counts superseded, revoked and overloaded polls', async () => {
    const small = await startApp({ MAX_HELD_POLLS: '2', POLLS_PER_DEVICE: '1' });
    try {
      const a = await newUser(small);
      const b = await newUser(small);
      const first = begin(small.http().get(`/poll?timeout=10`).set(a.auth));
      await waitHeld(small, 1);
      const second = begin(small.http().get(`/poll?timeout=10`).set(a.auth));
      await first;
      const third = begin(small.http().get(`/poll?timeout=10`).set(b.auth));
      await waitHeld(small, 2);
      const c = await newUser(small);
      expectError(await small.http().get(`/poll?timeout=10`).set(c.auth), 503, 'overloaded');
      await small.http().delete('/sessions/current').set(b.auth).expect(204);
      expectError(await third, 401, 'unauthorized');
      const m = parseProm((await small.http().get('/metrics').expect(200)).text);
      assert.equal(m.get('chat_poll_answers_total{outcome="superseded"}'), 1);
      assert.equal(m.get('chat_poll_answers_total{outcome="revoked"}'), 1);
      assert.equal(m.get('chat_poll_answers_total{outcome="overloaded"}'), 1);
      await small.close();
      await second;
    } finally {
      await small.close();
    }
  });
});

describe('rate limits (HTTP, #3)', () => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('failed log-ins per username trip at the configured count, whatever the letter case, and say when to retry', async () => {
    t = await startApp({ RATE_LOGIN_USER: '3/60', RATE_LOGIN_IP: 'off' });
    await signUp(t, 'victim');
    await signUp(t, 'bystander');
    for (const name of ['victim', 'VICTIM', 'Victim'])
      expectError(await t.http().post('/sessions').send({ username: name, password: 'wrong guess' }), 401, 'invalid_credentials');
    const blocked = await t.http().post('/sessions').send({ username: 'vIcTiM', password: 'correct horse' });
    expectError(blocked, 429, 'rate_limited');
    const retry = Number(blocked.headers['retry-after']);
    assert.ok(retry >= 1 && retry <= 60, `Retry-After ${retry}`);
    await t.http().post('/sessions').send({ username: 'bystander', password: 'correct horse' }).expect(201);
  });

  it('a successful log-in clears the failures of its username', async () => {
    t = await startApp({ RATE_LOGIN_USER: '3/60', RATE_LOGIN_IP: 'off' });
    await signUp(t, 'forgetful');
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 2; i++)
        expectError(await t.http().post('/sessions').send({ username: 'forgetful', password: 'wrong' }), 401, 'invalid_credentials');
      await t.http().post('/sessions').send({ username: 'forgetful', password: 'correct horse' }).expect(201);
    }
  });

  it('failed log-ins per address trip at the configured count; other addresses and successful log-ins are unaffected', async () => {
    t = await startApp({ RATE_LOGIN_USER: 'off', RATE_LOGIN_IP: '4/60', TRUST_PROXY: 'true' });
    await signUp(t, 'classmate');
    const from = (ip: string) => t!.http().post('/sessions').set('X-Forwarded-For', ip);
    // A classroom behind one address logging in successfully: never limited.
    for (let i = 0; i < 8; i++) await from('10.0.0.9').send({ username: 'classmate', password: 'correct horse' }).expect(201);
    // Password spraying from one address across many names
    for (let i = 0; i < 4; i++)
      expectError(await from('10.0.0.1').send({ username: `name${i}`, password: 'guess' }), 401, 'invalid_credentials');
    const blocked = await from('10.0.0.1').send({ username: 'classmate', password: 'correct horse' });
    expectError(blocked, 429, 'rate_limited');
    assert.ok(Number(blocked.headers['retry-after']) >= 1);
    await from('10.0.0.2').send({ username: 'classmate', password: 'correct horse' }).expect(201);
    // The address a client claims cannot dodge it: only the proxy's own entry counts.
    expectError(await from('1.2.3.4, 10.0.0.1').send({ username: 'classmate', password: 'correct horse' }), 429, 'rate_limited');
  });

  it('an IPv6 client is counted by its /64, and an IPv4-mapped address as the IPv4 address it is (#13)', async () => {
    t = await startApp({ RATE_LOGIN_USER: 'off', RATE_LOGIN_IP: '3/60', RATE_SIGNUP_IP: '2/60', TRUST_PROXY: 'true' });
    await signUp(t, 'roamer');
    const from = (ip: string) => t!.http().post('/sessions').set('X-Forwarded-For', ip);
    const fail = async (ip: string) =>
      expectError(await from(ip).send({ username: 'roamer', password: 'guess' }), 401, 'invalid_credentials');
    // Three addresses of one /64, as a client that picks a fresh one per request would use.
    await fail('2001:db8:1:2::1');
    await fail('2001:DB8:1:2:abcd:ef01:2345:6789');
    await fail('2001:0db8:0001:0002::ffff');
    expectError(await from('2001:db8:1:2::42').send({ username: 'roamer', password: 'correct horse' }), 429, 'rate_limited');
    await from('2001:db8:1:3::1').send({ username: 'roamer', password: 'correct horse' }).expect(201); // the next /64
    for (let i = 0; i < 3; i++) await fail('192.0.2.7');
    expectError(await from('::ffff:192.0.2.7').send({ username: 'roamer', password: 'correct horse' }), 429, 'rate_limited');
    // Sign-ups too.
    const signUpFrom = (ip: string, username: string) =>
      t!.http().post('/users').set('X-Forwarded-For', ip).send({ username, password: 'password1' });
    await signUpFrom('2001:db8:9:9::1', 'v6one').expect(201);
    await signUpFrom('2001:db8:9:9::2', 'v6two').expect(201);
    expectError(await signUpFrom('2001:db8:9:9:1:2:3:4', 'v6three'), 429, 'rate_limited');
  });

  it('a name that cannot be a username is answered like a wrong password and is never a rate-limit key: 300 of 60,000 characters leave the heap flat (#13)', async () => {
    t = await startApp({ RATE_LOGIN_IP: 'off' });
    const app = t;
    await signUp(app, 'real');
    const attempt = (username: string) => app.http().post('/sessions').send({ username, password: 'wrong guess' });
    const wrongPassword = await attempt('real');
    expectError(wrongPassword, 401, 'invalid_credentials');
    // The same impossible name again and again: only the address could count it (off here).
    const long = 'n'.repeat(40);
    for (let i = 0; i < 12; i++) {
      const res = await attempt(long);
      expectError(res, 401, 'invalid_credentials');
      assert.deepEqual(res.body, wrongPassword.body);
    }
    const before = heapAfterGc();
    for (let i = 0; i < 300; i += 10) {
      await Promise.all(
        Array.from({ length: 10 }, async (_, j) => expectError(await attempt(`${'x'.repeat(60_000)}${i + j}`), 401, 'invalid_credentials')),
      );
    }
    const grown = heapAfterGc() - before;
    assert.ok(grown < 4 * 1024 * 1024, `the heap grew by ${(grown / 1024 / 1024).toFixed(1)} MiB`);
  });

  it('sign-ups per address trip at the configured count', async () => {
    t = await startApp({ RATE_SIGNUP_IP: '2/60' });
    await t.http().post('/users').send({ username: 'one', password: 'password1' }).expect(201);
    await t.http().post('/users').send({ username: 'two', password: 'password1' }).expect(201);
    const res = await t.http().post('/users').send({ username: 'three', password: 'password1' });
    expectError(res, 429, 'rate_limited');
    assert.ok(Number(res.headers['retry-after']) >= 1);
    assert.equal(await t.core.store.findUser('three'), undefined);
  });

  it('messages per user trip at the configured count across all of their devices, and not for anyone else', async () => {
    t = await startApp({ RATE_MESSAGES_USER: '3/60' });
    const a = await newUser(t);
    const b = await newUser(t);
    const a2 = await logIn(t, a.username);
    await send(t, a, b.username, '1');
    await send(t, a2, b.username, '2');
    await send(t, a, b.username, '3');
    const res = await t.http().post('/messages').set(a2.auth).send({ to: b.username, body: '4' });
    expectError(res, 429, 'rate_limited');
    assert.ok(Number(res.headers['retry-after']) >= 1 && Number(res.headers['retry-after']) <= 60);
    await send(t, b, a.username, 'b is fine');
    const hist = await t.http().get(`/messages?with=${b.username}`).set(a.auth).expect(200);
    assert.deepEqual(
      hist.body.messages.map((m: { body: string }) => m.body),
      ['1', '2', '3', 'b is fine'],
    );
  });

  it('retries of a stored send (same client_id) cost no point and are answered even past the limit', async () => {
    t = await startApp({ RATE_MESSAGES_USER: '2/60' });
    const a = await newUser(t);
    const b = await newUser(t);
    const first = await t.http().post('/messages').set(a.auth).send({ to: b.username, body: 'one', client_id: 'c1' }).expect(201);
    for (let i = 0; i < 3; i++) {
      const again: { body: { message: unknown } } = await t
        .http()
        .post('/messages')
        .set(a.auth)
        .send({ to: b.username, body: 'one', client_id: 'c1' })
        .expect(200);
      assert.deepEqual(again.body.message, first.body.message);
    }
    // The retries took nothing: the second new message still fits in the limit of 2.
    await t.http().post('/messages').set(a.auth).send({ to: b.username, body: 'two', client_id: 'c2' }).expect(201);
    expectError(await t.http().post('/messages').set(a.auth).send({ to: b.username, body: 'three' }), 429, 'rate_limited');
    // Past the limit, a retry still gets its original, and a reused client_id still conflicts.
    const late = await t.http().post('/messages').set(a.auth).send({ to: b.username, body: 'one', client_id: 'c1' }).expect(200);
    assert.equal(late.body.message.id, first.body.message.id);
    expectError(
      await t.http().post('/messages').set(a.auth).send({ to: b.username, body: 'other', client_id: 'c1' }),
      409,
      'client_id_reused',
    );
    const hist = await t.http().get(`/messages?with=${b.username}`).set(a.auth).expect(200);
    assert.deepEqual(
      hist.body.messages.map((m: { body: string }) => m.body),
      ['one', 'two'],
    );
  });
});

describe('logs (HTTP, #3)', () => {
  it('one structured line per request, and no secret ever appears', async () => {
    const lines: string[] = [];
    const t = await startApp({ LOG_LEVEL: 'info' }, { write: (l) => lines.push(l) });
    try {
      const password = 'Sup3r-Secret-Pa55word';
      const body = 'the body is private: 4242-secret-body';
      await t.http().post('/users').send({ username: 'logged', password }).expect(201);
      await t.http().post('/users').type('form').send({ username: 'other', password }).expect(201);
      const s = await t.http().post('/sessions').send({ username: 'logged', password, device_name: 'laptop' }).expect(201);
      const token = s.body.token as string;
      await t
        .http()
        .post('/sessions')
        .send({ username: 'logged', password: `${password}-wrong` })
        .expect(401);
      await t.http().post('/messages').set('Authorization', `Bearer ${token}`).send({ to: 'other', body, client_id: 'cid-1' }).expect(201);
      await t.http().post('/messages').type('form').send({ access_token: token, to: 'other', body }).expect(201);
      await t.http().get(`/poll?since=0&timeout=0&access_token=${token}&callback=cb`).expect(200);
      await t.http().get(`/messages?with=other&access_token=${token}`).expect(200);
      await t.http().get('/devices').set('Authorization', 'Bearer not-a-real-token-but-secret-looking').expect(401);
      const text = lines.join('');
      const secret = token.split('.')[1] ?? token;
      for (const s of [password, token, secret, body, '4242-secret-body', 'not-a-real-token-but-secret-looking']) {
        assert.ok(!text.includes(s), `log output contains ${s.slice(0, 12)}…`);
      }
      const requests = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'request');
      assert.equal(requests.length, 9, 'one line per request');
      for (const r of requests) {
        assert.equal(typeof r.method, 'string');
        assert.equal(typeof r.route, 'string');
        assert.equal(typeof r.status, 'number');
        assert.equal(typeof r.ms, 'number');
        assert.equal(r.url, undefined, 'never the URL: it may hold an access_token');
      }
      const sent = requests.find((r) => r.route === '/messages' && r.status === 201);
      assert.equal(sent?.user, 'logged');
      assert.ok(requests.some((r) => r.route === '/sessions' && r.status === 401 && r.code === 'invalid_credentials'));
    } finally {
      await t.close();
    }
  });

  it('is quiet at LOG_LEVEL=silent (the test default)', async () => {
    const lines: string[] = [];
    const t = await startApp({}, { write: (l) => lines.push(l) });
    try {
      await t.http().get('/healthz').expect(200);
      await t.http().get('/nope').expect(404);
      assert.deepEqual(lines, []);
    } finally {
      await t.close();
    }
  });
});
