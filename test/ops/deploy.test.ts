// The deployment files agree with the server they deploy (issue #7): the systemd unit is valid
// for systemd, its settings are ones the server accepts, and the nginx numbers sit on the right
// side of the server's defaults (hold time, body limit, keep-alive, open files). A change of a
// default in src/config.ts that the deployment files do not follow fails here.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, SETTINGS } from '../../src/config';
import { call, signUpAndLogIn } from '../support/client';
import { REPO_ROOT, startServer } from '../support/server';

const UNIT_DIR = path.join(REPO_ROOT, 'deploy', 'systemd');
const UNIT = path.join(UNIT_DIR, 'chat.service');
const BACKUP_UNIT = path.join(UNIT_DIR, 'chat-backup.service');
const SITE = path.join(REPO_ROOT, 'deploy', 'nginx', 'chat.conf');

/** `Key=value` lines of one unit section, in order (keys may repeat). */
function unitEntries(text: string, section: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  let current = '';
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (t === '' || t.startsWith('#') || t.startsWith(';')) continue;
    const sec = /^\[(.+)\]$/.exec(t);
    if (sec?.[1]) {
      current = sec[1];
      continue;
    }
    const eq = t.indexOf('=');
    if (current === section && eq > 0) out.push([t.slice(0, eq), t.slice(eq + 1)]);
  }
  return out;
}

/** systemd's command-line splitting (quotes) and its escapes for $ and %. */
function commandLine(value: string): string[] {
  const words: string[] = [];
  const re = /'([^']*)'|"([^"]*)"|(\S+)/g;
  for (const m of value.matchAll(re)) words.push(m[1] ?? m[2] ?? m[3] ?? '');
  return words.map((w) => w.replace(/\$\$/g, '$').replace(/%%/g, '%'));
}

function one(entries: Array<[string, string]>, key: string): string {
  const hits = entries.filter(([k]) => k === key);
  assert.equal(hits.length, 1, `exactly one ${key}=`);
  return hits[0]![1];
}

function unitEnvironment(entries: Array<[string, string]>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of entries) {
    if (k !== 'Environment') continue;
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(v);
    assert.ok(m?.[1] !== undefined && m[2] !== undefined, `Environment=${v}`);
    env[m[1]] = m[2];
  }
  return env;
}

/** The first argument of an nginx directive (comments stripped), or undefined. */
function directive(conf: string, name: string): string[] {
  const out: string[] = [];
  for (const line of conf.split('\n')) {
    const code = line.replace(/#.*$/, '').trim();
    const m = new RegExp(`^${name}\\s+([^;]+);`).exec(code);
    if (m?.[1]) out.push(m[1].trim());
  }
  return out;
}

function nginxSeconds(v: string): number {
  const m = /^(\d+)(s|m)?$/.exec(v);
  assert.ok(m?.[1], `a time like 75s, got ${v}`);
  return Number(m[1]) * (m[2] === 'm' ? 60 : 1);
}

function nginxBytes(v: string): number {
  const m = /^(\d+)([kKmM])?$/.exec(v);
  assert.ok(m?.[1], `a size like 64k, got ${v}`);
  const unit = (m[2] ?? '').toLowerCase();
  return Number(m[1]) * (unit === 'k' ? 1024 : unit === 'm' ? 1024 * 1024 : 1);
}

describe('deployment files agree with the server (#7)', () => {
  const unit = fs.readFileSync(UNIT, 'utf8');
  const service = unitEntries(unit, 'Service');
  const site = fs.readFileSync(SITE, 'utf8');
  const defaults = loadConfig({});

  it('the systemd units pass systemd-analyze verify', function () {
    let analyze = '';
    for (const p of ['/usr/bin/systemd-analyze', '/bin/systemd-analyze']) if (fs.existsSync(p)) analyze = p;
    if (!analyze) {
      console.log('      systemd-analyze is not installed: the units are checked by the other tests only');
      this.skip();
    }
    // Verify checks that each program exists; point node at this Node. All units in one
    // directory, so the timer finds its service.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chat-unit-'));
    const units = fs.readdirSync(UNIT_DIR).filter((f) => /\.(service|timer)$/.test(f));
    assert.deepEqual(units.sort(), ['chat-backup.service', 'chat-backup.timer', 'chat.service']);
    for (const f of units) {
      const text = fs.readFileSync(path.join(UNIT_DIR, f), 'utf8').replace(/\/usr\/bin\/node /g, `${process.execPath} `);
      fs.writeFileSync(path.join(dir, f), text);
    }
    // verify exits 0 on unknown keys and misplaced settings: clean units make it say nothing.
    const r = spawnSync(analyze, ['verify', ...units.map((f) => path.join(dir, f))], { encoding: 'utf8' });
    assert.equal(`${r.stdout}${r.stderr}`.trim(), '', 'systemd-analyze verify has no complaints');
    assert.equal(r.status, 0);
  });

  it('runs the built server as a dedicated user, restarts it on failure and gives it enough open files', () => {
    assert.equal(one(service, 'User'), 'chat');
    assert.equal(one(service, 'Restart'), 'on-failure');
    const exec = one(service, 'ExecStart').split(/\s+/);
    assert.equal(exec[0], '/usr/bin/node');
    // node [its flags] the entry point: the same flags as `npm start`
    const startScript = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')).scripts.start as string;
    // (`exec node FLAGS ENTRY`: the shell npm runs hands its process to node)
    const startArgs = startScript.replace(/^exec\s+/, '').split(/\s+/);
    assert.equal(startArgs[0], 'node');
    assert.deepEqual(exec.slice(1, -1), startArgs.slice(1, -1), 'the unit runs node with the flags npm start uses');
    const entry = path.relative('/opt/chat', exec[exec.length - 1]!);
    assert.ok(fs.existsSync(path.join(REPO_ROOT, entry)), `ExecStart runs ${entry}, which the build makes`);
    // Each held poll is one socket from nginx; keep-alive, the database and logs need more.
    const nofile = Number(one(service, 'LimitNOFILE'));
    assert.ok(nofile >= defaults.maxHeldPolls + 1024, `LimitNOFILE ${nofile} covers MAX_HELD_POLLS ${defaults.maxHeldPolls}`);
  });

  it('sets only settings the server knows, with values it accepts, the database in the state directory', () => {
    const env = unitEnvironment(service);
    const known = new Set(SETTINGS.map((s) => s.env));
    for (const name of Object.keys(env)) assert.ok(known.has(name) || name === 'NODE_ENV', `${name} is a server setting`);
    const cfg = loadConfig(env);
    const stateDir = `/var/lib/${one(service, 'StateDirectory')}`;
    assert.equal(path.dirname(cfg.dbPath), stateDir, 'DB_PATH is inside the StateDirectory');
    // The proxy's address headers are trusted only where nothing but the proxy can connect.
    assert.equal(cfg.trustProxy, true);
    assert.equal(cfg.host, '127.0.0.1');
  });

  it('the backup unit writes a checked copy while the server runs, and prunes only old copies', async function () {
    this.timeout(30_000);
    const backup = unitEntries(fs.readFileSync(BACKUP_UNIT, 'utf8'), 'Service');
    assert.equal(one(backup, 'User'), one(service, 'User'));
    assert.equal(unitEnvironment(backup).DB_PATH, unitEnvironment(service).DB_PATH, 'backs up the database the server uses');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chat-backups-'));
    const local = (argv: string[]): string[] =>
      argv.map((w) =>
        w.replaceAll('/usr/bin/node', process.execPath).replaceAll('/opt/chat', REPO_ROOT).replaceAll('/var/lib/chat-backups', dir),
      );

    const server = await startServer({ env: { SCRYPT_COST: '10' } });
    try {
      const a = await signUpAndLogIn(server.url, 'backup_a');
      await signUpAndLogIn(server.url, 'backup_b');
      assert.equal(
        (await call(server.url, 'POST', '/messages', { token: a.token, body: { to: 'backup_b', body: 'keep me' } })).status,
        201,
      );
      const [cmd, ...args] = local(commandLine(one(backup, 'ExecStart')));
      const run = spawnSync(cmd!, args, { encoding: 'utf8', env: { ...process.env, DB_PATH: server.dbPath } });
      assert.equal(run.status, 0, `${run.stdout}${run.stderr}`);
      assert.match(run.stdout, /integrity ok/);
      assert.match(run.stdout, /2 user\(s\), 1 message\(s\)/);
    } finally {
      await server.stop();
    }
    const made = fs.readdirSync(dir).sort();
    const copies = made.filter((f) => f.endsWith('.sqlite'));
    assert.equal(copies.length, 1, made.join(', '));
    assert.match(copies[0]!, /^chat-\d{8}T\d{6}Z\.sqlite$/);

    // Pruning: a copy from 30 days ago goes with its side files; the new copy and anything
    // else stay.
    for (const f of ['chat-20200101T031500Z.sqlite', 'chat-20200101T031500Z.sqlite-wal', 'notes.txt'].map((n) => path.join(dir, n))) {
      fs.writeFileSync(f, 'x');
      const then = new Date(Date.now() - 30 * 86_400_000);
      fs.utimesSync(f, then, then);
    }
    const [find, ...findArgs] = local(commandLine(one(backup, 'ExecStartPost')));
    const pruned = spawnSync(find!, findArgs, { encoding: 'utf8' });
    assert.equal(pruned.status, 0, pruned.stderr);
    assert.deepEqual(fs.readdirSync(dir).sort(), [...made, 'notes.txt'].sort());
  });

  it("holds polls below nginx's read timeout, and both sides agree on body size and keep-alive", () => {
    assert.deepEqual(directive(site, 'proxy_buffering'), ['off']);
    assert.deepEqual(directive(site, 'proxy_http_version'), ['1.1']);
    assert.deepEqual(directive(site, 'proxy_set_header Connection'), ['""']);
    const [readTimeout] = directive(site, 'proxy_read_timeout');
    assert.ok(readTimeout, 'proxy_read_timeout is set');
    const readS = nginxSeconds(readTimeout);
    const holdS = defaults.pollTimeoutMaxMs / 1000;
    assert.ok(readS >= holdS + 10, `proxy_read_timeout ${readS}s is comfortably above the longest hold ${holdS}s`);
    const [maxBody] = directive(site, 'client_max_body_size');
    assert.equal(nginxBytes(maxBody ?? ''), defaults.bodyLimitBytes, 'client_max_body_size equals BODY_LIMIT');
    assert.ok(site.includes(`larger than ${defaults.bodyLimitBytes} bytes`), "nginx's own 413 names the same limit");
    const [perClient] = directive(site, 'limit_conn chat_per_client');
    assert.equal(
      Number(perClient),
      defaults.maxConnectionsPerIp,
      'limit_conn matches MAX_CONNECTIONS_PER_IP, which TRUST_PROXY turns off in the server',
    );
    const [idle] = directive(site, 'keepalive_timeout');
    assert.ok(idle, 'upstream keepalive_timeout is set');
    assert.ok(nginxSeconds(idle) < defaults.keepAliveTimeoutMs / 1000, 'nginx closes idle upstream connections before the server does');
  });

  it('the /metrics block docs/DEPLOY.md shows is the one in the site file (#13)', () => {
    // What nginx.test.ts runs is the site file; this keeps what the operator reads the same.
    const deploy = fs.readFileSync(path.join(REPO_ROOT, 'docs', 'DEPLOY.md'), 'utf8');
    const shown = /```nginx\n(location = \/metrics \{[\s\S]*?\n\})\n```/.exec(deploy)?.[1];
    assert.ok(shown, 'DEPLOY.md shows the block');
    const lines = (text: string) =>
      text
        .split('\n')
        .map((l) => l.replace(/#.*$/, '').trim())
        .filter(Boolean);
    const start = site.indexOf('location = /metrics {');
    assert.ok(start > 0, 'the site file has the block');
    const inSite = lines(site.slice(start, site.indexOf('}', start) + 1));
    assert.deepEqual(inSite, lines(shown));
    // Nested in `location /` (so it inherits the proxy settings): still inside its braces.
    const before = lines(site.slice(site.indexOf('location / {'), start)).join('');
    assert.ok(before.split('{').length > before.split('}').length, 'nested in location /');
  });
});
