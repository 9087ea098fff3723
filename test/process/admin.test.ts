// The admin command line (issue #7, and #2's user:add), against a database a running server
// is using at the same time.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { call, logInAs, signUpAndLogIn } from '../support/client';
import { openStore } from '../../src/store';
import { REPO_ROOT, type RunningServer, startServer, tempDbPath } from '../support/server';
import { sleep } from '../support/util';

const ADMIN_JS = path.join(REPO_ROOT, 'dist', 'src', 'cli', 'admin.js');

function admin(dbPath: string, args: string[], stdin = ''): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [ADMIN_JS, ...args], {
    env: { ...process.env, DB_PATH: dbPath, SCRYPT_COST: '12' },
    input: stdin,
    encoding: 'utf8',
  });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

describe('admin command line (#7)', function () {
  this.timeout(60_000);
  let server: RunningServer | undefined;
  afterEach(async () => {
    await server?.stop('SIGKILL');
    server = undefined;
  });

  it('--help lists every command; unknown commands and missing arguments are usage errors', () => {
    const db = tempDbPath();
    const help = admin(db, ['--help']);
    assert.equal(help.code, 0);
    for (const c of [
      'add-user',
      'reset-password',
      'list-users',
      'list-devices',
      'revoke-device',
      'disable-user',
      'enable-user',
      'list-groups',
      'show-group',
      'remove-member',
      'backup',
      'check',
    ])
      assert.match(help.out, new RegExp(`\\b${c}\\b`));
    assert.equal(admin(db, ['frobnicate']).code, 2);
    assert.equal(admin(db, ['add-user']).code, 2);
    assert.equal(admin(db, ['add-user', 'Not Valid!'], 'password1\n').code, 2);
  });

  it('refuses to work on a database that does not exist (a mistyped DB_PATH), except to add the first user', () => {
    const db = tempDbPath();
    for (const args of [['list-users'], ['list-devices', 'carol'], ['disable-user', 'carol'], ['backup', `${db}.copy`]]) {
      const r = admin(db, args);
      assert.equal(r.code, 1, args.join(' '));
      assert.match(r.err, /no database at .*DB_PATH/);
      assert.equal(fs.existsSync(db), false, `${args[0]} created no file`);
    }
    assert.equal(admin(db, ['add-user', 'first'], 'a-long-password\n').code, 0);
    assert.match(admin(db, ['list-users']).out, /\bfirst\b/);
  });

  it('add-user (also as npm run user:add) works with sign-up off; a taken name fails', async () => {
    const db = tempDbPath();
    const added = admin(db, ['add-user', 'Carol'], 'a-long-password\n');
    assert.equal(added.code, 0, added.err);
    assert.match(added.out, /added user carol/);
    const again = admin(db, ['add-user', 'carol'], 'another-password\n');
    assert.equal(again.code, 1);
    assert.match(again.err, /taken/);
    assert.equal(admin(db, ['add-user', 'shorty'], 'short\n').code, 1, 'password rules apply');
    const npm = spawnSync('npm', ['run', '-s', 'user:add', '--', 'dave'], {
      cwd: REPO_ROOT,
      env: { ...process.env, DB_PATH: db, SCRYPT_COST: '12' },
      input: 'dave-password\n',
      encoding: 'utf8',
    });
    assert.equal(npm.status, 0, npm.stderr);
    server = await startServer({ dbPath: db, env: { SIGNUP_ENABLED: 'false' } });
    const s = await call(server.url, 'POST', '/sessions', { body: { username: 'CAROL', password: 'a-long-password' } });
    assert.equal(s.status, 201);
    assert.equal((await call(server.url, 'POST', '/sessions', { body: { username: 'dave', password: 'dave-password' } })).status, 201);
    assert.equal((await call(server.url, 'POST', '/users', { body: { username: 'eve', password: 'password1' } })).status, 403);
  });

  it('lists users and devices, and a revoked device is let go by the running server within seconds', async () => {
    const db = tempDbPath();
    admin(db, ['add-user', 'kiosk'], 'correct horse battery\n');
    server = await startServer({ dbPath: db });
    const k1 = await logInAs(server.url, 'kiosk', 'front desk');
    const k2 = await logInAs(server.url, 'kiosk', 'back office');
    const users = admin(db, ['list-users']);
    assert.match(users.out, /^kiosk\t\S+\t2\t-$/m);
    const devices = admin(db, ['list-devices', 'kiosk']);
    assert.match(devices.out, new RegExp(`^${k1.deviceId}\\tfront desk\\t`, 'm'));
    assert.match(devices.out, new RegExp(`^${k2.deviceId}\\tback office\\t`, 'm'));

    const held = call(server.url, 'GET', `/poll?since=${k1.cursor}&timeout=40`, { token: k1.token });
    await sleep(300);
    const started = Date.now();
    const r = admin(db, ['revoke-device', 'kiosk', k1.deviceId]);
    assert.equal(r.code, 0, r.err);
    const answer = await held;
    assert.equal(answer.status, 401);
    assert.ok(Date.now() - started < 10_000, `held poll answered ${Date.now() - started} ms after the revocation`);
    assert.equal((await call(server.url, 'GET', '/devices', { token: k1.token })).status, 401);
    assert.equal((await call(server.url, 'GET', '/devices', { token: k2.token })).status, 200);
    assert.equal(admin(db, ['revoke-device', 'kiosk', 'no-such-device']).code, 1);
    assert.equal(admin(db, ['revoke-device', 'kiosk', '--all']).code, 0);
    assert.equal((await call(server.url, 'GET', '/devices', { token: k2.token })).status, 401);
    assert.equal(admin(db, ['list-devices', 'nobody']).code, 1);
  });

  it("revokes a device whose id starts with '-' (about one in 64 random ids): it is an id, not a missing argument", async () => {
    const db = tempDbPath();
    assert.equal(admin(db, ['add-user', 'kiosk'], 'correct horse battery\n').code, 0);
    const store = openStore(db);
    try {
      const user = (await store.findUser('kiosk')) ?? assert.fail('kiosk');
      await store.createDevice(
        { id: '-dash-first', userId: user.id, name: 'odd', tokenHash: Buffer.alloc(32, 1) },
        { passwordHash: user.passwordHash },
        10,
      );
    } finally {
      await store.close();
    }
    const r = admin(db, ['revoke-device', 'kiosk', '-dash-first']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /device -dash-first of kiosk revoked/);
    assert.doesNotMatch(admin(db, ['list-devices', 'kiosk']).out, /-dash-first/);
    assert.match(admin(db, ['revoke-device', '-kiosk', 'x']).err, /missing NAME/, 'a name still never starts with one');
  });

  it('lists groups and their members, and removes a member through the domain: the running server delivers the event (#15)', async () => {
    const db = tempDbPath();
    admin(db, ['add-user', 'owner'], 'correct horse battery\n');
    server = await startServer({ dbPath: db });
    const owner = await logInAs(server.url, 'owner');
    const bob = await signUpAndLogIn(server.url, 'bob');
    const carol = await signUpAndLogIn(server.url, 'carol');
    const made = await call(server.url, 'POST', '/groups', { token: owner.token, body: { name: 'shift\t"B"', members: ['carol', 'bob'] } });
    assert.equal(made.status, 201);
    const id = made.body.group.id as number;
    const groups = admin(db, ['list-groups']);
    assert.equal(groups.code, 0, groups.err);
    assert.match(groups.out, new RegExp(`^${id}\\tshift\\\\x09"B"\\towner\\t3\\t\\S+$`, 'm'), 'one row, the tab escaped');
    const members = admin(db, ['show-group', String(id)]);
    assert.deepEqual(
      members.out
        .trimEnd()
        .split('\n')
        .map((l) => l.split('\t')[0]),
      ['USERNAME', 'owner', 'carol', 'bob'],
      'in join order',
    );
    const first = await call(server.url, 'GET', `/poll?since=${carol.cursor}&timeout=0`, { token: carol.token });
    // Bob is up to date before the removal: the server now knows his stream's head (#18).
    const bobBefore = await call(server.url, 'GET', `/poll?since=${bob.cursor}&timeout=0`, { token: bob.token });
    assert.equal(bobBefore.body.events.length, 1, 'the group made');
    const held = call(server.url, 'GET', `/poll?since=${first.body.cursor}&timeout=40`, { token: carol.token });
    await sleep(300);
    const started = Date.now();
    const removed = admin(db, ['remove-member', String(id), 'Carol']);
    assert.equal(removed.code, 0, removed.err);
    assert.match(removed.out, /carol removed from group \d+; 2 member\(s\) left/);
    const answer = await held;
    assert.ok(Date.now() - started < 10_000, `held poll answered ${Date.now() - started} ms after the removal`);
    assert.deepEqual(answer.body.events, [
      {
        type: 'group',
        group: { ...made.body.group, members: ['bob', 'owner'] },
        change: { action: 'removed', by: null, user: 'carol' },
      },
    ]);
    assert.equal((await call(server.url, 'GET', `/groups/${id}`, { token: carol.token })).status, 404);
    const bobs = await call(server.url, 'GET', `/poll?since=${bob.cursor}&timeout=0`, { token: bob.token });
    assert.deepEqual(
      bobs.body.events.map((e: { change: { action: string } }) => e.change.action),
      ['created', 'removed'],
    );
    // A poll from the head the server knew before the admin's write finds that write at once.
    const bobAfter = await call(server.url, 'GET', `/poll?since=${bobBefore.body.cursor}&timeout=0`, { token: bob.token });
    assert.deepEqual(
      bobAfter.body.events.map((e: { change: { action: string } }) => e.change.action),
      ['removed'],
    );
    assert.equal(admin(db, ['remove-member', String(id), 'carol']).code, 1, 'not a member');
    assert.equal(admin(db, ['remove-member', String(id + 1), 'bob']).code, 1, 'no such group');
    assert.equal(admin(db, ['show-group', String(id + 1)]).code, 1);
    assert.equal(admin(db, ['remove-member', 'seven', 'bob']).code, 2);
    assert.equal(admin(db, ['show-group']).code, 2);
  });

  it('prints every field escaped: a device name with escape sequences cannot clear the screen, set the title or fake rows (#13)', async () => {
    const db = tempDbPath();
    admin(db, ['add-user', 'kiosk'], 'correct horse battery\n');
    // Clear the screen and home the cursor, set the window title, a fake column and row, a C1
    // CSI (red), and a right-to-left override: as stored before log-ins refused such names.
    const hostile = '\u001b[2J\u001b[H\u001b]0;owned\u0007FAKE\tROW\n\u009b31mred\u202elive';
    const store = openStore(db);
    try {
      const u = (await store.findUser('kiosk')) ?? assert.fail('kiosk');
      const made = await store.createDevice(
        { id: 'hostile-device-1', userId: u.id, name: hostile, tokenHash: Buffer.alloc(32) },
        { passwordHash: u.passwordHash },
        100,
      );
      assert.equal(made.status, 'created');
    } finally {
      await store.close();
    }
    const listed = admin(db, ['list-devices', 'kiosk']);
    assert.equal(listed.code, 0, listed.err);
    assert.doesNotMatch(
      listed.out,
      // eslint-disable-next-line no-control-regex -- control characters are what it looks for
      /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e]/,
      'nothing but the tabs and newlines of the table',
    );
    const lines = listed.out.trimEnd().split('\n');
    assert.equal(lines.length, 2, 'a header and one row');
    const row = lines[1]?.split('\t') ?? [];
    assert.equal(row.length, 4, 'four columns');
    assert.equal(row[1], '\\x1b[2J\\x1b[H\\x1b]0;owned\\x07FAKE\\x09ROW\\x0a\\x9b31mred\\u202elive');
    // Arguments are echoed escaped too, errors included.
    const missing = admin(db, ['revoke-device', 'kiosk', '\u001b[2Jnot-a-device']);
    assert.equal(missing.code, 1);
    assert.match(missing.out, /^error: kiosk has no device \\x1b\[2Jnot-a-device$/m);
    const unknown = admin(db, ['list-devices', 'x\u202e\u001b]0;t\u0007']);
    assert.equal(unknown.code, 1);
    for (const text of [missing.out, missing.err, unknown.out, unknown.err])
      // eslint-disable-next-line no-control-regex -- control characters are what it looks for
      assert.doesNotMatch(text, /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e]/);
  });

  it('reset-password logs out every device; disable-user refuses log-ins and tokens until enabled', async () => {
    const db = tempDbPath();
    admin(db, ['add-user', 'pat'], 'correct horse battery\n');
    server = await startServer({ dbPath: db });
    const before = await logInAs(server.url, 'pat');
    const reset = admin(db, ['reset-password', 'pat'], 'brand new password\n');
    assert.equal(reset.code, 0, reset.err);
    assert.match(reset.out, /1 device\(s\) logged out/);
    assert.equal((await call(server.url, 'GET', '/devices', { token: before.token })).status, 401);
    assert.equal(
      (await call(server.url, 'POST', '/sessions', { body: { username: 'pat', password: 'correct horse battery' } })).status,
      401,
    );
    const s = await call(server.url, 'POST', '/sessions', { body: { username: 'pat', password: 'brand new password' } });
    assert.equal(s.status, 201);

    assert.equal(admin(db, ['disable-user', 'pat']).code, 0);
    assert.equal((await call(server.url, 'GET', '/devices', { token: s.body.token })).status, 401);
    const refused = await call(server.url, 'POST', '/sessions', { body: { username: 'pat', password: 'brand new password' } });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error.code, 'forbidden');
    assert.equal(
      (await call(server.url, 'POST', '/sessions', { body: { username: 'pat', password: 'wrong password' } })).status,
      401,
      'a wrong password learns nothing',
    );
    assert.match(admin(db, ['list-users']).out, /^pat\t\S+\t0\t\d{4}-/m);
    assert.equal(admin(db, ['enable-user', 'pat']).code, 0);
    assert.equal((await call(server.url, 'POST', '/sessions', { body: { username: 'pat', password: 'brand new password' } })).status, 201);
  });

  it('backup while the server takes sends: the copy checks out and holds every message acknowledged before it', async () => {
    const db = tempDbPath();
    admin(db, ['add-user', 'writer'], 'correct horse battery\n');
    admin(db, ['add-user', 'reader'], 'correct horse battery\n');
    server = await startServer({ dbPath: db, env: { RATE_MESSAGES_USER: 'off' } });
    const w = await logInAs(server.url, 'writer');
    let acked = 0;
    for (let i = 0; i < 50; i++)
      if ((await call(server.url, 'POST', '/messages', { token: w.token, body: { to: 'reader', body: `m${i}` } })).status === 201) acked++;
    const load = { stop: false };
    const loading = (async () => {
      let i = 0;
      while (!load.stop) await call(server.url, 'POST', '/messages', { token: w.token, body: { to: 'reader', body: `during ${i++}` } });
    })();
    const file = path.join(path.dirname(db), 'backup.sqlite');
    const b = admin(db, ['backup', file]);
    load.stop = true;
    await loading;
    assert.equal(b.code, 0, b.err);
    assert.match(b.out, /integrity ok, schema version \d+, 2 user\(s\), (\d+) message\(s\)/);
    const copied = Number(/(\d+) message\(s\)/.exec(b.out)?.[1]);
    assert.ok(copied >= acked, `backup has ${copied} messages, ${acked} were acknowledged before it began`);
    assert.ok(fs.existsSync(file));
    assert.ok(!fs.existsSync(`${file}-wal`) && !fs.existsSync(`${file}-shm`), 'the copy is one self-contained file');
    assert.equal(admin(db, ['backup', file]).code, 2, 'never overwrites an existing file');
    const check = admin(db, ['check', file]);
    assert.equal(check.code, 0);
    assert.ok(!fs.existsSync(`${file}-wal`), 'checking a copy leaves nothing beside it');
    const live = admin(db, ['check']);
    assert.equal(live.code, 0);
    fs.writeFileSync(`${file}.bad`, 'not a database at all');
    assert.equal(admin(db, ['check', `${file}.bad`]).code, 1);
  });
});
