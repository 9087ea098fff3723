// The real server as a process (issue #2): restarts lose nothing, SIGTERM answers held polls
// at once, kill -9 after a burst of acknowledged sends loses none of them, and Node's
// timeouts let held polls through while cutting slow clients.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import { call, signUpAndLogIn } from '../support/client';
import { MAIN_JS, REPO_ROOT, type RunningServer, startServer, tempDbPath } from '../support/server';
import { freePort } from '../support/util';

describe('server process (#2)', function () {
  this.timeout(60_000);
  let server: RunningServer | undefined;
  afterEach(async () => {
    await server?.stop('SIGKILL');
    server = undefined;
  });

  it('a restart on the same database loses nothing; old cursor and stored cursor both resume exactly', async () => {
    server = await startServer();
    const { url, dbPath, port } = server;
    const alice = await signUpAndLogIn(url, 'alice');
    const bob = await signUpAndLogIn(url, 'bob', 'kiosk');
    for (const body of ['before 1', 'before 2'])
      assert.equal((await call(url, 'POST', '/messages', { token: alice.token, body: { to: 'bob', body } })).status, 201);
    const seen = await call(url, 'GET', `/poll?since=${bob.cursor}&timeout=0`, { token: bob.token });
    assert.equal(seen.body.events.length, 2);
    const cursor = seen.body.cursor as string;
    await call(url, 'GET', `/poll?since=${cursor}&timeout=0`, { token: bob.token }); // acknowledge
    assert.equal((await call(url, 'POST', '/messages', { token: alice.token, body: { to: 'bob', body: 'meanwhile 1' } })).status, 201);
    assert.deepEqual(await server.stop('SIGTERM'), { code: 0, signal: null });

    server = await startServer({ dbPath, port });
    assert.equal(
      (await call(server.url, 'POST', '/messages', { token: alice.token, body: { to: 'bob', body: 'meanwhile 2' } })).status,
      201,
      'tokens survive the restart',
    );
    const byCursor = await call(server.url, 'GET', `/poll?since=${cursor}&timeout=0`, { token: bob.token });
    assert.deepEqual(
      byCursor.body.events.map((e: { message: { body: string } }) => e.message.body),
      ['meanwhile 1', 'meanwhile 2'],
    );
    const byStored = await call(server.url, 'GET', '/poll?timeout=0', { token: bob.token });
    assert.deepEqual(
      byStored.body.events.map((e: { message: { body: string } }) => e.message.body),
      ['meanwhile 1', 'meanwhile 2'],
    );
    const hist = await call(server.url, 'GET', '/messages?with=alice', { token: bob.token });
    assert.deepEqual(
      hist.body.messages.map((m: { body: string }) => m.body),
      ['before 1', 'before 2', 'meanwhile 1', 'meanwhile 2'],
    );
  });

  it('SIGTERM answers every held poll at once with no events, then exits cleanly', async () => {
    server = await startServer();
    const { url } = server;
    const users = await Promise.all(['s1', 's2', 's3'].map((u) => signUpAndLogIn(url, u)));
    const polls = users.flatMap((u) => [0, 1, 2].map(() => call(url, 'GET', `/poll?since=${u.cursor}&timeout=40`, { token: u.token })));
    await new Promise((r) => setTimeout(r, 500)); // let them park
    const started = Date.now();
    const exit = server.stop('SIGTERM');
    const answers = await Promise.all(polls);
    const answeredIn = Date.now() - started;
    for (const [i, a] of answers.entries()) {
      assert.equal(a.status, 200);
      assert.deepEqual(a.body, { cursor: users[Math.floor(i / 3)]?.cursor, events: [] });
      // The connection is about to go: the client must open a new one for its next poll.
      assert.equal(a.headers.get('connection'), 'close');
    }
    assert.ok(answeredIn < 3000, `held polls answered ${answeredIn} ms after SIGTERM`);
    assert.deepEqual(await exit, { code: 0, signal: null });
    assert.ok(Date.now() - started < 10_000, 'exited within the grace period');
  });

  it('npm start: a SIGTERM sent to npm reaches the server, which answers its held polls and exits', async function () {
    // What a supervisor or container runtime does when it runs `npm start`: signal npm. The
    // start script execs node, so the shell in between cannot swallow the signal.
    const port = await freePort();
    const child = spawn('npm', ['start', '--ignore-scripts', '--silent'], {
      cwd: REPO_ROOT,
      env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), DB_PATH: tempDbPath(), LOG_LEVEL: 'warn' },
      stdio: 'ignore',
      detached: true, // its own process group, so a failed test can end npm and node together
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const url = `http://127.0.0.1:${port}`;
    try {
      for (let i = 0; ; i++) {
        if (
          await fetch(`${url}/healthz`).then(
            (r) => r.ok,
            () => false,
          )
        )
          break;
        if (i > 300) throw new Error('npm start did not serve /healthz within 30 s');
        await new Promise((r) => setTimeout(r, 100));
      }
      const u = await signUpAndLogIn(url, 'npmuser');
      const held = call(url, 'GET', `/poll?since=${u.cursor}&timeout=40`, { token: u.token });
      await new Promise((r) => setTimeout(r, 300));
      const started = Date.now();
      child.kill('SIGTERM');
      const answer = await held;
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.body, { cursor: u.cursor, events: [] });
      assert.ok(Date.now() - started < 3000, `held poll answered ${Date.now() - started} ms after SIGTERM to npm`);
      await exited;
      const stillThere = await fetch(`${url}/healthz`).then(
        () => true,
        () => false,
      );
      assert.equal(stillThere, false, 'the server stopped with npm');
    } finally {
      if (child.exitCode === null && child.pid) process.kill(-child.pid, 'SIGKILL');
    }
  });

  it('kill -9 right after a burst of acknowledged sends: a restart finds every acknowledged message', async () => {
    server = await startServer({ env: { RATE_MESSAGES_USER: 'off' } });
    const { url, dbPath, port } = server;
    const alice = await signUpAndLogIn(url, 'alice');
    await signUpAndLogIn(url, 'bob');
    const acked: number[] = [];
    const sends = Array.from({ length: 300 }, (_, i) =>
      call(url, 'POST', '/messages', { token: alice.token, body: { to: 'bob', body: `burst ${i}`, client_id: `b${i}` } }).then(
        (r) => {
          if (r.status === 201) acked.push(r.body.message.id);
        },
        () => undefined, // cut off by the kill: never acknowledged, so nothing is owed
      ),
    );
    // Kill as soon as a good part of the burst is acknowledged, while the rest is in flight.
    while (acked.length < 150) await new Promise((r) => setTimeout(r, 1));
    await server.stop('SIGKILL');
    await Promise.all(sends);
    const ackedNow = [...acked];
    server = await startServer({ dbPath, port, env: { RATE_MESSAGES_USER: 'off' } });
    const stored: number[] = [];
    let before = '';
    for (;;) {
      const page = await call(server.url, 'GET', `/messages?with=bob&limit=200${before}`, { token: alice.token });
      stored.unshift(...page.body.messages.map((m: { id: number }) => m.id));
      if (!page.body.has_more) break;
      before = `&before=${page.body.messages[0].id}`;
    }
    const storedSet = new Set(stored);
    const missing = ackedNow.filter((id) => !storedSet.has(id));
    console.log(`      kill -9: ${ackedNow.length} acknowledged, ${stored.length} stored after restart, ${missing.length} missing`);
    assert.deepEqual(missing, []);
    assert.equal(storedSet.size, stored.length, 'no duplicates');
  });

  it('holds a poll longer than REQUEST_TIMEOUT; cuts a client that never finishes its headers', async () => {
    server = await startServer({ env: { REQUEST_TIMEOUT: '1', HEADERS_TIMEOUT: '1' } });
    const { url, port } = server;
    const u = await signUpAndLogIn(url, 'holder');
    const started = Date.now();
    const held = await call(url, 'GET', `/poll?since=${u.cursor}&timeout=3`, { token: u.token });
    assert.equal(held.status, 200);
    assert.ok(Date.now() - started >= 2900, 'held for the full 3 s');

    const closedAfter = await new Promise<number>((resolve) => {
      const t0 = Date.now();
      const sock = net.connect(port, '127.0.0.1', () => sock.write('GET /healthz HTTP/1.1\r\nHost: x\r\n'));
      sock.on('data', () => undefined);
      sock.on('error', () => undefined);
      sock.on('close', () => resolve(Date.now() - t0));
    });
    assert.ok(closedAfter < 5000, `slow-loris socket closed after ${closedAfter} ms`);
  });

  it('--help prints every setting with its default', () => {
    const out = execFileSync(process.execPath, [MAIN_JS, '--help'], { encoding: 'utf8' });
    for (const name of ['PORT', 'HOST', 'DB_PATH', 'POLL_TIMEOUT_MAX', 'SIGNUP_ENABLED', 'CORS_ORIGIN', 'MAX_HELD_POLLS'])
      assert.match(out, new RegExp(name));
    assert.match(out, /default: 3000/);
  });

  it('a port already in use stops the server with a message that says what to change', async () => {
    server = await startServer();
    const r = spawnSync(process.execPath, [MAIN_JS], {
      env: { ...process.env, HOST: '127.0.0.1', PORT: String(server.port), DB_PATH: tempDbPath(), LOG_LEVEL: 'silent' },
      encoding: 'utf8',
      timeout: 15_000,
    });
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${server.port}: the port is already in use.*PORT=`));
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.equal((await call(server.url, 'GET', '/healthz')).status, 200, 'the first server is untouched');
  });

  it('refuses to start on a bad setting, naming it', () => {
    let err: { status?: number; stderr?: string } = {};
    try {
      execFileSync(process.execPath, [MAIN_JS], { env: { ...process.env, PORT: 'abc' }, encoding: 'utf8', stdio: 'pipe' });
    } catch (e) {
      err = e as typeof err;
    }
    assert.equal(err.status, 2);
    assert.match(String(err.stderr), /PORT/);
  });
});
