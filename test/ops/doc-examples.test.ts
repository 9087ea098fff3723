// Every curl example of the documents, run as written against a real server (#14): the
// README's session in two terminals and its three plain-curl steps, every example of
// docs/API.md, and the health checks of docs/DEPLOY.md. Only the address changes
// (localhost:3000 becomes the test server's). Each example must succeed, print each answer on
// its own line (-w '\n'), and store what a person typed exactly as typed (--data-urlencode):
// with -d, `tea & cake` was stored as "tea " and `1+1=2` as "1 1=2".
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { call } from '../support/client';
import { REPO_ROOT, type RunningServer, startServer } from '../support/server';
import { sleep } from '../support/util';

const read = (file: string): string => fs.readFileSync(path.join(REPO_ROOT, file), 'utf8');

/** The text of a Markdown section: from its heading to the next heading of that level or higher. */
function section(md: string, heading: string): string {
  const start = md.indexOf(`\n## ${heading}\n`);
  assert.ok(start >= 0, `no section "${heading}"`);
  const next = md.indexOf('\n## ', start + 4);
  return md.slice(start, next < 0 ? undefined : next);
}

/** The contents of every ```sh block, in order. */
function shBlocks(md: string): string[] {
  return [...md.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

/** The commands of a block: continuation lines joined, comment and blank lines left out. */
function commands(block: string): string[] {
  return block
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
}

/** The literal text given with --data-urlencode FIELD='...' in a command. */
function urlencoded(block: string, field: string): string {
  const m = new RegExp(`--data-urlencode ${field}='([^']*)'`).exec(block);
  assert.ok(m, `no --data-urlencode ${field}='...' in:\n${block}`);
  return m[1]!;
}

function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const p = path.join(dir, cmd);
    if (fs.existsSync(p)) return p;
  }
  return undefined;
}

const SHELL = which('dash') ?? '/bin/sh';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a script with sh (dash where there is one); detached: in a process group of its own. */
function sh(script: string, env: NodeJS.ProcessEnv, detached = false): { done: Promise<Run>; pid: number; output: () => string } {
  const child = spawn(SHELL, ['-c', script], { env, detached, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const done = new Promise<Run>((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
  return { done, pid: child.pid!, output: () => stdout };
}

/** Each line of what a run printed; the output must end with a new line. */
function lines(out: string, what: string): string[] {
  assert.ok(out.endsWith('\n'), `${what}: the output ends with a new line (-w '\\n'): ${JSON.stringify(out.slice(-80))}`);
  return out.slice(0, -1).split('\n');
}

describe('the curl examples of the README and docs/, run against a real server (#14)', function () {
  this.timeout(90_000);
  let server: RunningServer;
  let tmp: string;
  let host: string;

  before(function () {
    if (!which('curl')) {
      console.log('      curl is not installed (apt-get install curl): the document examples are not run');
      this.skip();
    }
  });

  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chat-doc-'));
  });
  afterEach(async () => {
    await (server as RunningServer | undefined)?.stop();
  });

  async function serve(env: Record<string, string> = {}): Promise<void> {
    server = await startServer({ env: { SCRYPT_COST: '10', ...env } });
    host = server.url.replace(/^http:\/\//, '');
  }

  /** The example as it is, pointed at the test server. */
  const here = (text: string): string =>
    text.replace(/http:\/\/127\.0\.0\.1:3000|http:\/\/chat\.example\.org|localhost:3000/g, (m) =>
      m.startsWith('http') ? `http://${host}` : host,
    );

  const shellEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({ PATH: process.env.PATH, HOME: tmp, ...extra });

  async function heldPolls(): Promise<number> {
    const m = /^chat_held_polls (\d+)/m.exec((await call(server.url, 'GET', '/metrics')).text);
    return m ? Number(m[1]) : 0;
  }

  async function waitHeld(n: number): Promise<void> {
    const deadline = Date.now() + 10_000;
    while ((await heldPolls()) < n) {
      assert.ok(Date.now() < deadline, `no poll held within 10 s`);
      await sleep(50);
    }
  }

  it('README: the session in two terminals, as written, stores and delivers the message exactly as typed', async () => {
    await serve();
    const [terminal1, terminal2, group] = shBlocks(section(read('README.md'), 'A session with curl'));
    assert.ok(terminal1 && terminal2 && group, 'three blocks');
    const body = urlencoded(terminal2, 'body');
    assert.match(body, /[&+%?]/, 'the example carries the characters a form body would eat');

    const one = sh(here(terminal1), shellEnv());
    await waitHeld(1);
    const two = await sh(here(terminal2), shellEnv()).done;
    assert.equal(two.code, 0, two.stderr);
    const sent = lines(two.stdout, 'terminal 2').map((l) => JSON.parse(l));
    assert.equal(sent.length, 1);
    assert.equal(sent[0].message.body, body, 'stored exactly as typed');

    const first = await Promise.race([one.done, sleep(10_000).then(() => null)]);
    assert.ok(first, "terminal 1's poll was answered");
    assert.equal(first.code, 0, first.stderr);
    const answers = lines(first.stdout, 'terminal 1').map((l) => JSON.parse(l));
    assert.deepEqual(answers.slice(0, 2), [{ user: { username: 'alice' } }, { user: { username: 'bob' } }]);
    assert.equal(answers.length, 3, 'one line per answer');
    assert.deepEqual(
      answers[2].events.map((e: { message: { from: string; body: string } }) => [e.message.from, e.message.body]),
      [['alice', body]],
    );
    // The answer the README shows is what really comes (but for the time).
    const shown = JSON.parse(/^# (\{"cursor".*)$/m.exec(terminal1)![1]!);
    assert.deepEqual({ ...shown.events[0].message, sent_at: '' }, { ...answers[2].events[0].message, sent_at: '' });

    // The group (#15): terminal 2 again, with alice's token, then bob's stream after cursor 1.
    const alice = await call(server.url, 'POST', '/sessions', { body: { username: 'alice', password: 'correct-horse' } });
    const grouped = await sh(here(group), shellEnv({ ALICE: alice.body.token })).done;
    assert.equal(grouped.code, 0, grouped.stderr);
    const groupSent = lines(grouped.stdout, 'group').map((l) => JSON.parse(l));
    assert.equal(groupSent.length, 1);
    assert.equal(groupSent[0].message.body, urlencoded(group, 'body'), 'stored exactly as typed');
    const bob = await call(server.url, 'POST', '/sessions', { body: { username: 'bob', password: 'battery-staple' } });
    const next = await call(server.url, 'GET', '/poll?since=1&timeout=0', { token: bob.body.token });
    assert.deepEqual(
      next.body.events.map((e: { type: string; group?: { name: string }; message?: { body: string } }) => e.group?.name ?? e.message?.body),
      ['Tea club', urlencoded(group, 'body')],
    );

    // What the README says about -d is true: it is why the examples use --data-urlencode.
    const token = JSON.parse(
      (
        await sh(
          here(`curl -s localhost:3000/sessions --data-urlencode username=alice --data-urlencode password=correct-horse`),
          shellEnv(),
        ).done
      ).stdout,
    ).token as string;
    for (const [typed, stored] of [
      ['tea & cake', 'tea '],
      ['1+1=2', '1 1=2'],
    ]) {
      const r = await sh(
        here(`curl -s localhost:3000/messages -H "Authorization: Bearer ${token}" -d to=bob -d body='${typed}'`),
        shellEnv(),
      ).done;
      assert.equal(JSON.parse(r.stdout).message.body, stored, `-d body='${typed}'`);
      assert.ok(read('README.md').replace(/\s+/g, ' ').includes(`-d body='${typed}'\` stores \`"${stored}"\``), 'the README says so');
    }
  });

  it('README: the three plain-curl steps "From the shell" log in, follow and send', async () => {
    await serve();
    for (const [username, password] of [
      ['alice', 'correct-horse'],
      ['bob', 'battery-staple'],
    ]) {
      assert.equal((await call(server.url, 'POST', '/users', { body: { username, password } })).status, 201);
    }
    const block = shBlocks(section(read('README.md'), 'From the shell'))[1]!;
    const steps = block.split(/^(?=# \d\. )/m);
    assert.equal(steps.length, 3, 'three steps');
    const [login, follow, sendStep] = steps as [string, string, string];

    const one = await sh(here(login), shellEnv()).done;
    assert.equal(one.code, 0, one.stderr);
    const tokenFile = path.join(tmp, '.config', 'chat', 'token');
    assert.equal(fs.statSync(tokenFile).mode & 0o777, 0o600, 'a file only you can read');
    assert.match(fs.readFileSync(tokenFile, 'utf8'), /^[\w-]+\.[\w-]+\n?$/, 'the token, and nothing else');

    // Step 2 loops until stopped: in a process group of its own, stopped by its PID.
    const loop = sh(here(follow), shellEnv(), true);
    try {
      await waitHeld(1);
      const three = await sh(here(sendStep), shellEnv()).done;
      assert.equal(three.code, 0, three.stderr);
      const body = urlencoded(sendStep, 'body');
      assert.equal(lines(three.stdout, 'step 3').map((l) => JSON.parse(l))[0].message.body, body);
      const deadline = Date.now() + 10_000;
      while (!loop.output().includes(JSON.stringify(body))) {
        assert.ok(Date.now() < deadline, `step 2 printed the message: ${loop.output()}`);
        await sleep(50);
      }
      const answers = loop
        .output()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l));
      assert.deepEqual(
        answers.flatMap((a: { events: Array<{ message: { body: string } }> }) => a.events.map((e) => e.message.body)),
        [body],
      );
    } finally {
      process.kill(-loop.pid, 'SIGTERM');
      await loop.done;
    }
  });

  it('docs/API.md: every example succeeds as written, one answer per line, text stored as typed', async () => {
    // Short holds: the poll examples ask for 50 s (and the default) and would wait that long.
    await serve({ POLL_TIMEOUT_DEFAULT: '1', POLL_TIMEOUT_MAX: '1' });
    const api = read('docs/API.md');
    const blocks = shBlocks(api);
    assert.ok(blocks.length >= 15, `${blocks.length} examples`);
    assert.match(blocks[0]!, /\/users/, 'the first example signs alice up');
    const signUp = await sh(here(blocks[0]!), shellEnv()).done;
    assert.deepEqual(
      lines(signUp.stdout, 'sign-up').map((l) => JSON.parse(l)),
      [{ user: { username: 'alice' } }],
    );
    // What the other examples talk about: bob, and 150 messages between them (ids 141 and
    // cursor 41 exist).
    assert.equal((await call(server.url, 'POST', '/users', { body: { username: 'bob', password: 'battery-staple' } })).status, 201);
    const logIn = async (device: string) => {
      const r = await call(server.url, 'POST', '/sessions', {
        body: { username: 'alice', password: 'correct-horse', device_name: device },
      });
      assert.equal(r.status, 201);
      return r.body as { token: string; device: { id: string } };
    };
    const seed = await logIn('seed');
    for (let i = 1; i <= 150; i++) {
      assert.equal(
        (await call(server.url, 'POST', '/messages', { token: seed.token, body: { to: 'bob', body: `seed ${i}` } })).status,
        201,
      );
    }

    // Each command on its own (a block may show two ways to do one thing), with a fresh
    // device as $TOKEN (some log it out) and another one as $DEVICE (to revoke).
    let ran = 0;
    for (const command of blocks.slice(1).flatMap(commands)) {
      const mine = await logIn(`example ${ran}`);
      const spare = await logIn(`spare ${ran}`);
      const r = await sh(here(command), shellEnv({ TOKEN: mine.token, DEVICE: spare.device.id })).done;
      ran++;
      assert.equal(r.code, 0, `${command}: ${r.stderr}`);
      assert.equal(r.stderr, '', command);
      if (command.includes('|')) {
        assert.ok(r.stdout.trim() !== '', `${command}: printed something`);
        continue; // piped through head or grep: not one answer
      }
      const out = lines(r.stdout, command);
      assert.equal(out.length, 1, `${command}: one line`);
      const line = out[0]!;
      if (line === '') {
        assert.match(command, /DELETE|\/read /, `${command}: an empty answer (204)`);
        continue;
      }
      const json = line.startsWith('/**/') ? JSON.parse(/^\/\*\*\/[\w$.]+\(([\s\S]*)\);$/.exec(line)![1]!) : JSON.parse(line);
      assert.equal(json.error, undefined, `${command}: ${line}`);
      if (command.includes('localhost:3000/messages -H'))
        assert.equal(json.message.body, urlencoded(command, 'body'), 'stored exactly as typed');
      if (command.includes('localhost:3000/sessions ')) assert.equal(json.device.name, urlencoded(command, 'device_name'));
      if (command.includes('except=current')) assert.ok(json.revoked >= 1, `${command}: revoked the spare device`);
    }
    assert.ok(ran >= 18, `${ran} commands`);
  });

  it('docs/DEPLOY.md: the health checks answer {"ok":true} on a line of their own', async () => {
    await serve();
    const checks = shBlocks(read('docs/DEPLOY.md'))
      .flatMap((b) => b.split('\n'))
      .filter((l) => l.startsWith('curl '));
    assert.ok(checks.length >= 2, `${checks.length} curl lines`);
    for (const line of checks) {
      const [command, comment] = line.split(/\s+#\s+/) as [string, string | undefined];
      const r = await sh(here(command), shellEnv()).done;
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `${comment ?? '{"ok":true}'}\n`, line);
    }
  });
});
