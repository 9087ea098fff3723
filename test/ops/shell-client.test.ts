// examples/chat.sh against the real server (issue #7): log in once with the token kept in a
// private file, send, and follow the stream one line per message, surviving a server restart
// and its own restart without losing or repeating a message, and stopping by itself when its
// device is revoked. Run under every POSIX shell found here (dash, bash, busybox sh); how it is
// run is in shell-harness.ts.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { call, signUpAndLogIn } from '../support/client';
import { type RunningServer, startServer } from '../support/server';
import { sleep } from '../support/util';
import { line, type Message, PASSWORD, Proc, processesMentioning, type Run, SCRIPT, shells, TZ, which } from './shell-harness';

describe('the shell client examples/chat.sh (#7)', function () {
  this.timeout(90_000);
  let server: RunningServer;
  const procs: Proc[] = [];
  let tmp: string;

  before(async function () {
    if (!which('curl')) {
      console.log('      curl is not installed (apt-get install curl): the shell client tests are skipped');
      this.skip();
    }
    server = await startServer({ env: { SCRYPT_COST: '10' } });
  });
  after(async () => {
    await (server as RunningServer | undefined)?.stop();
  });
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chat-sh-'));
  });
  afterEach(async () => {
    // Any follow still running is stopped by its own PID; its trap stops its curl.
    await Promise.all(procs.splice(0).map((p) => p.stop()));
  });

  function env(tokenFile: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    return {
      PATH: process.env.PATH,
      HOME: tmp,
      TMPDIR: tmp,
      CHAT_TOKEN_FILE: tokenFile,
      CHAT_PASSWORD: PASSWORD,
      CHAT_POLL_TIMEOUT: '20',
      TZ,
      ...extra,
    };
  }

  function start(shell: string[], args: string[], e: NodeJS.ProcessEnv, stdin?: string): Proc {
    const p = new Proc([...shell, SCRIPT, ...args], e, stdin);
    procs.push(p);
    return p;
  }

  async function run(shell: string[], args: string[], e: NodeJS.ProcessEnv, stdin?: string): Promise<Run> {
    return new Proc([...shell, SCRIPT, ...args], e, stdin).exited;
  }

  async function history(token: string, withUser: string): Promise<Message[]> {
    const res = await call(server.url, 'GET', `/messages?with=${withUser}&limit=200`, { token });
    assert.equal(res.status, 200, res.text);
    return res.body.messages as Message[];
  }

  let userCounter = 0;
  async function twoUsers(): Promise<{ a: string; b: string; bToken: string; aToken: string }> {
    userCounter += 1;
    const a = `sha${userCounter}`;
    const b = `shb${userCounter}`;
    const alice = await signUpAndLogIn(server.url, a);
    const bob = await signUpAndLogIn(server.url, b);
    return { a, b, aToken: alice.token, bToken: bob.token };
  }

  for (const shell of shells()) {
    it(`logs in, sends and follows under ${shell.name}: each message once, one line each, exactly as sent`, async () => {
      const { a, b, bToken } = await twoUsers();
      const aFile = path.join(tmp, 'alice', 'token');
      const bFile = path.join(tmp, 'bob', 'token');
      const login = await run(shell.argv, ['login', server.url, a, 'laptop'], env(aFile));
      assert.equal(login.code, 0, login.stderr);
      assert.match(login.stderr, /logged in as/);
      // Not readable by anyone else, and a token the server takes.
      assert.equal(fs.statSync(aFile).mode & 0o777, 0o600);
      assert.equal(fs.statSync(path.dirname(aFile)).mode & 0o077, 0, 'its directory is private too');
      const token = fs.readFileSync(aFile, 'utf8').trim();
      const devices = await call(server.url, 'GET', '/devices', { token });
      assert.equal(devices.status, 200);
      assert.deepEqual(
        devices.body.devices.filter((d: { current: boolean }) => d.current).map((d: { name: string }) => d.name),
        ['laptop'],
      );
      assert.ok(!fs.readFileSync(aFile, 'utf8').includes(PASSWORD), 'the password is not stored');

      assert.equal((await run(shell.argv, ['login', server.url, b], env(bFile))).code, 0);
      const follow = start(shell.argv, ['follow'], env(bFile));
      await sleep(300);

      const texts = [
        'hello "bob"',
        'back\\slash, a tab\there, two\nlines and \u001b[31mno colour\u001b[0m, DEL \u007f, CSI \u009b2J',
        'emoji 😀, é, \u2028 and {"type":"message","message":{}} inside',
        `$(touch ${tmp}/pwned) \`touch ${tmp}/pwned\` * ; -n`,
      ];
      for (const text of texts.slice(0, 3)) {
        const sent = await run(shell.argv, ['send', b, text], env(aFile));
        assert.equal(sent.code, 0, sent.stderr);
        assert.match(sent.stdout, /^sent #\d+\n$/);
      }
      const piped = await run(shell.argv, ['send', b, '-'], env(aFile), `${texts[3]}\n`);
      assert.equal(piped.code, 0, piped.stderr);

      const expected = (await history(bToken, a)).map((m) => line(m));
      assert.deepEqual(
        (await history(bToken, a)).map((m) => m.body),
        texts,
        'stored exactly as sent',
      );
      assert.deepEqual(await follow.waitForLines(4, 15_000), expected);
      await sleep(300);
      assert.deepEqual(follow.lines(), expected, 'nothing more, nothing twice');
      assert.ok(!fs.existsSync(path.join(tmp, 'pwned')), 'a text is never run as a command');
    });
  }

  for (const shell of shells()) {
    it(`search under ${shell.name}: matches newest first, one line each, words as typed, narrowed and paged (#17)`, async () => {
      const { a, b, aToken } = await twoUsers();
      const c = `shc${userCounter}`;
      const carol = await signUpAndLogIn(server.url, c);
      const aFile = path.join(tmp, 'alice', 'token');
      assert.equal((await run(shell.argv, ['login', server.url, a], env(aFile))).code, 0);
      const say = async (token: string, to: string, body: string) =>
        assert.equal((await call(server.url, 'POST', '/messages', { token, body: { to, body } })).status, 201);
      await say(aToken, b, 'Invoice #4471: 50% due\tnow');
      await say(carol.token, a, 'invoice from carol & co');
      await say(carol.token, b, 'invoice only bob and carol see');
      await say(aToken, b, 'nothing to find here');
      const mine = async () => (await history(aToken, b)).concat(await history(aToken, c)).sort((x, y) => y.id - x.id);
      const invoices = (await mine()).filter((m) => /invoice/i.test(m.body));

      const all = await run(shell.argv, ['search', 'INVOICE'], env(aFile));
      assert.equal(all.code, 0, all.stderr);
      assert.deepEqual(
        all.stdout.split('\n').filter(Boolean),
        invoices.map((m) => line(m)),
        'newest first, as follow shows them',
      );
      assert.equal(all.stderr, '');

      const typed = await run(shell.argv, ['search', '50%', '#4471:'], env(aFile));
      assert.equal(typed.stdout.split('\n').filter(Boolean).length, 1, typed.stderr);
      const quoted = await run(shell.argv, ['search', '"invoice"', '&', 'co*'], env(aFile));
      assert.deepEqual(quoted.stdout.split('\n').filter(Boolean), [line(invoices[0]!)], quoted.stderr);

      const narrowed = await run(shell.argv, ['search', '-w', b, 'invoice'], env(aFile));
      assert.deepEqual(narrowed.stdout.split('\n').filter(Boolean), [line(invoices[1]!)]);

      const first = await run(shell.argv, ['search', '-n', '1', 'invoice'], env(aFile));
      assert.equal(first.stdout.split('\n').filter(Boolean).length, 1);
      const more = /add -b (\d+) for older ones/.exec(first.stderr) ?? assert.fail(`no paging hint: ${first.stderr}`);
      const older = await run(shell.argv, ['search', '-n', '1', '-b', more[1]!, 'invoice'], env(aFile));
      assert.deepEqual(older.stdout.split('\n').filter(Boolean), [line(invoices[1]!)]);
      assert.equal(older.stderr, '', 'the last page: no hint');

      const refused = await run(shell.argv, ['search', '---'], env(aFile));
      assert.equal(refused.code, 2);
      assert.match(refused.stderr, /search refused: q: .*invalid_request/);
      const unknown = await run(shell.argv, ['search', '-w', 'nobody-at-all', 'x'], env(aFile));
      assert.equal(unknown.code, 2);
      assert.match(unknown.stderr, /user_not_found/);
    });
  }

  const sh = shells()[0]!.argv;

  it("sends to a group with '#ID' and follows it: a group message shows its group (#15)", async () => {
    const { a, b, aToken } = await twoUsers();
    const made = await call(server.url, 'POST', '/groups', { token: aToken, body: { name: 'shell group', members: [b] } });
    assert.equal(made.status, 201, made.text);
    const id = made.body.group.id as number;
    const aFile = path.join(tmp, 'alice', 'token');
    const bFile = path.join(tmp, 'bob', 'token');
    assert.equal((await run(sh, ['login', server.url, a], env(aFile))).code, 0);
    assert.equal((await run(sh, ['login', server.url, b], env(bFile))).code, 0);
    const follow = start(sh, ['follow'], env(bFile));
    await sleep(300);
    const sent = await run(sh, ['send', `#${id}`, 'to the whole group & more'], env(aFile));
    assert.equal(sent.code, 0, sent.stderr);
    assert.match(sent.stdout, /^sent #\d+\n$/);
    const [shown] = await follow.waitForLines(1, 15_000);
    assert.match(shown ?? '', new RegExp(`\\] ${a} -> #${id}: to the whole group & more$`));
    const outsider = await run(sh, ['send', `#${id + 1000}`, 'nowhere'], env(aFile));
    assert.equal(outsider.code, 2, 'a group one is not in is refused');
  });

  it('follow survives a server restart and its own restart without losing or repeating a message', async () => {
    const { a, b, aToken, bToken } = await twoUsers();
    const bFile = path.join(tmp, 'bob', 'token');
    assert.equal((await run(sh, ['login', server.url, b], env(bFile))).code, 0);
    const sendAs = async (body: string): Promise<void> => {
      const res = await call(server.url, 'POST', '/messages', { token: aToken, body: { to: b, body } });
      assert.equal(res.status, 201, res.text);
    };

    const first = start(sh, ['follow'], env(bFile));
    await sendAs('one');
    await first.waitForLines(1, 10_000);

    // The server goes away (its held polls are answered empty) and comes back on the same
    // database and port; follow backs off, reconnects, and continues from its cursor.
    const { dbPath, port } = server;
    assert.deepEqual(await server.stop('SIGTERM'), { code: 0, signal: null });
    await sleep(1500);
    server = await startServer({ dbPath, port, env: { SCRYPT_COST: '10' } });
    await sendAs('two');
    await first.waitForLines(2, 30_000);
    assert.match(first.stderr, /cannot reach .*trying again in \d+s/);
    assert.match(first.stderr, /connected again/);

    // follow itself is stopped (by its PID); a message arrives meanwhile; a new follow
    // resumes from the cursor file.
    const stopped = await first.stop();
    assert.equal(stopped.code, 143, `stopped by its trap: ${JSON.stringify(stopped)}`);
    await sleep(200);
    // Its curl (whose files live under TMPDIR=tmp) went with it, not left holding a poll.
    assert.deepEqual(processesMentioning(tmp), [], 'no curl left behind');
    await sendAs('three');
    const second = start(sh, ['follow'], env(bFile));
    await second.waitForLines(1, 10_000);
    await sendAs('four');
    await second.waitForLines(2, 10_000);
    await sleep(300);

    const expected = (await history(bToken, a)).map((m) => line(m));
    assert.equal(expected.length, 4);
    assert.deepEqual([...first.lines(), ...second.lines()], expected, 'every message exactly once, in order');
  });

  it('follow stops by itself with a clear message when its device is revoked', async () => {
    const { b } = await twoUsers();
    const bFile = path.join(tmp, 'bob', 'token');
    assert.equal((await run(sh, ['login', server.url, b, 'kiosk'], env(bFile))).code, 0);
    const follow = start(sh, ['follow'], env(bFile));
    await sleep(500);
    assert.ok(follow.running);

    // From another device of the same user: revoke the kiosk while its poll is held.
    const admin = await call(server.url, 'POST', '/sessions', { body: { username: b, password: PASSWORD, device_name: 'phone' } });
    const list = await call(server.url, 'GET', '/devices', { token: admin.body.token });
    const kiosk = (list.body.devices as Array<{ id: string; name: string }>).find((d) => d.name === 'kiosk');
    assert.ok(kiosk);
    const revokedAt = Date.now();
    assert.equal((await call(server.url, 'DELETE', `/devices/${kiosk.id}`, { token: admin.body.token })).status, 204);
    const end = await Promise.race([follow.exited, sleep(10_000).then(() => null)]);
    assert.ok(end, 'follow exited by itself');
    assert.equal(end.code, 3);
    assert.match(end.stderr, /not logged in any more.*401 unauthorized.*chat\.sh login/);
    assert.ok(Date.now() - revokedAt < 5000, 'at once, not at the poll timeout');
  });

  it('logout ends the session on the server and forgets the token; errors say what to do', async () => {
    const { a, b } = await twoUsers();
    const file = path.join(tmp, 'alice', 'token');
    assert.equal((await run(sh, ['login', server.url, a], env(file))).code, 0);
    const token = fs.readFileSync(file, 'utf8').trim();

    const nobody = await run(sh, ['send', 'no-such-user', 'hi'], env(file));
    assert.equal(nobody.code, 2);
    assert.match(nobody.stderr, /user_not_found/);

    const out = await run(sh, ['logout'], env(file));
    assert.equal(out.code, 0, out.stderr);
    assert.equal(fs.existsSync(file), false);
    assert.equal((await call(server.url, 'GET', '/devices', { token })).status, 401, 'the token no longer works');

    const after = await run(sh, ['send', b, 'hi'], env(file));
    assert.equal(after.code, 3);
    assert.match(after.stderr, /not logged in.*chat\.sh login/);

    const wrong = await run(sh, ['login', server.url, a], env(file, { CHAT_PASSWORD: 'wrong password' }));
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /wrong username or password/);
    assert.equal(fs.existsSync(file), false);

    const usage = await run(sh, ['frobnicate'], env(file));
    assert.equal(usage.code, 1);
    assert.match(usage.stderr, /usage: chat\.sh login URL USER/);
  });

  for (const shell of shells()) {
    it(`login with no CHAT_PASSWORD and no terminal says why and exits 1 under ${shell.name}, not silently (#14)`, async () => {
      const { a } = await twoUsers();
      const file = path.join(tmp, 'nopw', 'token');
      const noPassword = { ...env(file) };
      delete noPassword.CHAT_PASSWORD;
      // A session of its own: no controlling terminal, so /dev/tty cannot be opened, as under
      // cron, systemd or a CI job.
      const r = await new Proc([...shell.argv, SCRIPT, 'login', server.url, a], noPassword, undefined, true).exited;
      assert.equal(r.code, 1, `exit status: ${JSON.stringify(r)}`);
      assert.match(r.stderr, /^chat\.sh: no password: set CHAT_PASSWORD, or run from a terminal/);
      assert.equal(fs.existsSync(file), false);
    });
  }

  it('follow shows times in local time with their offset, or in UTC saying so when awk has no strftime (#14)', async () => {
    const { a, b, aToken, bToken } = await twoUsers();
    const bFile = path.join(tmp, 'bob', 'token');
    assert.equal((await run(sh, ['login', server.url, b], env(bFile))).code, 0);
    const loginCursor = fs.readFileSync(`${bFile}.cursor`, 'utf8');
    const local = start(sh, ['follow'], env(bFile));
    await sleep(300);
    assert.equal((await call(server.url, 'POST', '/messages', { token: aToken, body: { to: b, body: 'what time is it?' } })).status, 201);
    const m = (await history(bToken, a))[0]!;
    assert.deepEqual(await local.waitForLines(1, 10_000), [line(m)]);
    assert.match(local.lines()[0]!, /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0530\] /, 'local time in TZ, with its offset');
    await local.stop();

    const gawk = which('gawk');
    if (!gawk) {
      console.log('      gawk is not installed: the UTC fallback is not checked');
      return;
    }
    // An awk without strftime first on PATH: gawk in POSIX mode. From the login cursor again,
    // so the same message comes once more.
    const posixBin = path.join(tmp, 'posix-awk');
    fs.mkdirSync(posixBin);
    fs.writeFileSync(path.join(posixBin, 'awk'), `#!/bin/sh\nexec ${gawk} --posix "$@"\n`, { mode: 0o755 });
    fs.writeFileSync(`${bFile}.cursor`, loginCursor);
    const utc = start(sh, ['follow'], env(bFile, { PATH: `${posixBin}:${process.env.PATH}` }));
    assert.deepEqual(await utc.waitForLines(1, 10_000), [line(m, false)]);
  });
});
