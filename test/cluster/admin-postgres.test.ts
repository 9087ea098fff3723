// The admin command line against PostgreSQL (DATABASE_URL, #16) while server processes run on
// the same database: users, devices and revocations work there; backup and check are SQLite's.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { call, logInAs } from '../support/client';
import { REDIS_TEST_URL, startCluster, stopAll } from '../support/cluster';
import { freshDatabase, type TestDatabase } from '../support/postgres';
import { REPO_ROOT, type RunningServer } from '../support/server';
import { sleep } from '../support/util';

const ADMIN_JS = path.join(REPO_ROOT, 'dist', 'src', 'cli', 'admin.js');

describe('admin command line on PostgreSQL (#16)', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let servers: RunningServer[] = [];

  function admin(args: string[], stdin = ''): { code: number; out: string; err: string } {
    const r = spawnSync(process.execPath, [ADMIN_JS, ...args], {
      env: { ...process.env, DATABASE_URL: db.url, SCRYPT_COST: '10', DB_PATH: '/nonexistent/never-used.sqlite' },
      input: stdin,
      encoding: 'utf8',
    });
    return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
  }

  before(async () => {
    db = await freshDatabase('chat_admin');
    servers = await startCluster(2, db.url, REDIS_TEST_URL);
  });
  after(async () => {
    await stopAll(servers);
    await db.drop();
  });

  it('adds and lists users and devices; a revocation is let go by every running process within seconds', async () => {
    const [a, b] = [servers[0] ?? assert.fail(), servers[1] ?? assert.fail()];
    assert.equal(admin(['add-user', 'kiosk'], 'correct horse battery\n').code, 0);
    const k1 = await logInAs(a.url, 'kiosk', 'front desk');
    const k2 = await logInAs(b.url, 'kiosk', 'back office');
    assert.match(admin(['list-users']).out, /^kiosk\t\S+\t2\t-$/m);
    const devices = admin(['list-devices', 'kiosk']).out;
    assert.match(devices, new RegExp(`^${k1.deviceId}\\tfront desk\\t`, 'm'));
    assert.match(devices, new RegExp(`^${k2.deviceId}\\tback office\\t`, 'm'));

    const held = call(b.url, 'GET', `/poll?since=${k1.cursor}&timeout=40`, { token: k1.token });
    await sleep(300);
    const started = Date.now();
    const r = admin(['revoke-device', 'kiosk', k1.deviceId]);
    assert.equal(r.code, 0, r.err);
    assert.equal((await held).status, 401);
    // No Redis in the command line: every process's re-check (every 1.5 to 4.5 s) finds it.
    assert.ok(Date.now() - started < 6000, `held poll answered ${Date.now() - started} ms after the revocation`);
    assert.equal((await call(a.url, 'GET', '/devices', { token: k1.token })).status, 401);
    assert.equal((await call(a.url, 'GET', '/devices', { token: k2.token })).status, 200);
    assert.equal(admin(['disable-user', 'kiosk']).code, 0);
    assert.equal((await call(b.url, 'GET', '/devices', { token: k2.token })).status, 401);
    assert.match(admin(['list-users']).out, /^kiosk\t\S+\t0\t\S+Z$/m);
  });

  it('backup is SQLite-only: refused with a pointer to pg_dump', () => {
    const r = admin(['backup', '/tmp/never-written.sqlite']);
    assert.equal(r.code, 2);
    assert.match(r.err, /pg_dump/);
  });
});
