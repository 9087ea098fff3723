// The admin command line against PostgreSQL (DATABASE_URL, #16) while server processes run on
// the same database: users, devices and revocations work there; backup and check are SQLite's.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { call, logInAs, signUpAndLogIn } from '../support/client';
import { clusterEnv, REDIS_TEST_URL, startCluster, stopAll } from '../support/cluster';
import { freshDatabase, type TestDatabase } from '../support/postgres';
import { REPO_ROOT, type RunningServer, startServer } from '../support/server';
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

  it('import-sqlite moves a SQLite database to an empty PostgreSQL one: tokens, cursors, history, groups, search and ids carry on (#15, #16, #17)', async () => {
    const target = await freshDatabase('chat_import');
    const lite = await startServer({ env: { SCRYPT_COST: '10' }, startTimeoutMs: 30_000 });
    let pg: RunningServer | undefined;
    try {
      const alice = await signUpAndLogIn(lite.url, 'imp_alice');
      const bob = await signUpAndLogIn(lite.url, 'imp_bob');
      const bodies = ['hi', 'with a \u0000 NUL and a \\0', 'émoji \u{1F600}'];
      for (const [i, body] of bodies.entries()) {
        const r = await call(lite.url, 'POST', '/messages', {
          token: alice.token,
          body: { to: 'imp_bob', body, client_id: `c\u0000${i}` },
        });
        assert.equal(r.status, 201);
      }
      const seen = await call(lite.url, 'GET', `/poll?since=${bob.cursor}&timeout=0&limit=2`, { token: bob.token });
      // A group, its name with a NUL (escaped on PostgreSQL), and a message to it.
      const made = await call(lite.url, 'POST', '/groups', { token: alice.token, body: { name: 'imp\u0000group', members: ['imp_bob'] } });
      assert.equal(made.status, 201);
      const groupId = made.body.group.id as number;
      const inGroup = await call(lite.url, 'POST', '/messages', { token: bob.token, body: { group: groupId, body: 'Grüße an alle' } });
      assert.equal(inGroup.status, 201);
      await lite.stop();

      const r = spawnSync(process.execPath, [ADMIN_JS, 'import-sqlite', lite.dbPath], {
        env: { ...process.env, DATABASE_URL: target.url },
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, r.stderr);
      assert.match(
        r.stdout,
        /copied 2 users, 2 streams, 2 devices, 1 groups, 2 group_members, 1 group_changes, 4 messages, 10 events, 2 conversations/,
      );
      assert.match(r.stdout, /4 message\(s\) compared/);
      const again = spawnSync(process.execPath, [ADMIN_JS, 'import-sqlite', lite.dbPath], {
        env: { ...process.env, DATABASE_URL: target.url },
        encoding: 'utf8',
      });
      assert.equal(again.status, 1, 'refused: the database has users now');
      assert.match(again.stderr, /empty/);

      pg = await startServer({ env: clusterEnv(target.url, null), startTimeoutMs: 30_000 });
      // The same tokens, the same stream positions, the same messages, exactly.
      const rest = await call(pg.url, 'GET', `/poll?since=${seen.body.cursor}&timeout=0`, { token: bob.token });
      assert.equal(rest.status, 200);
      assert.deepEqual(
        (rest.body.events as { type: string; message?: { body: string }; group?: { name: string } }[]).map(
          (e) => e.message?.body ?? e.group?.name,
        ),
        [bodies[2], 'imp\u0000group', 'Grüße an alle'],
      );
      // Searchable on PostgreSQL: the copy was indexed (1:1 and group messages alike).
      const found = await call(pg.url, 'GET', '/search?q=GRUSSE', { token: alice.token });
      assert.deepEqual(found.body.messages, []);
      const gr = await call(pg.url, 'GET', '/search?q=grü', { token: alice.token });
      assert.deepEqual(
        (gr.body.messages as { body: string; group: number }[]).map((m) => [m.body, m.group]),
        [['Grüße an alle', groupId]],
      );
      const emoji = await call(pg.url, 'GET', '/search?q=EMOJI', { token: bob.token });
      assert.deepEqual(
        (emoji.body.messages as { body: string }[]).map((m) => m.body),
        [bodies[2]],
      );
      const history = await call(pg.url, 'GET', '/messages?with=imp_bob', { token: alice.token });
      assert.deepEqual(
        (history.body.messages as { body: string; client_id: string }[]).map((m) => [m.body, m.client_id]),
        bodies.map((b, i) => [b, `c\u0000${i}`]),
      );
      const next = await call(pg.url, 'POST', '/messages', { token: alice.token, body: { to: 'imp_bob', body: 'after the move' } });
      assert.equal(next.status, 201);
      assert.ok((next.body.message.id as number) > (history.body.messages as { id: number }[])[2]!.id, 'ids go on after the copied ones');
    } finally {
      await lite.stop();
      await pg?.stop();
      await target.drop();
    }
  });
});
