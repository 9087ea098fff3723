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
import { REPO_ROOT } from '../support/server';

const UNIT = path.join(REPO_ROOT, 'deploy', 'systemd', 'chat.service');
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

  it('the systemd unit passes systemd-analyze verify', function () {
    let analyze = '';
    for (const p of ['/usr/bin/systemd-analyze', '/bin/systemd-analyze']) if (fs.existsSync(p)) analyze = p;
    if (!analyze) {
      console.log('      systemd-analyze is not installed: the unit is checked by the other tests only');
      this.skip();
    }
    // Verify checks that ExecStart's program exists; point it at this Node.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chat-unit-'));
    const copy = path.join(dir, 'chat.service');
    fs.writeFileSync(copy, unit.replace(/^ExecStart=\/usr\/bin\/node /m, `ExecStart=${process.execPath} `));
    // verify exits 0 on unknown keys and misplaced settings: a clean unit says nothing at all.
    const r = spawnSync(analyze, ['verify', copy], { encoding: 'utf8' });
    assert.equal(`${r.stdout}${r.stderr}`.trim(), '', 'systemd-analyze verify has no complaints');
    assert.equal(r.status, 0);
  });

  it('runs the built server as a dedicated user, restarts it on failure and gives it enough open files', () => {
    assert.equal(one(service, 'User'), 'chat');
    assert.equal(one(service, 'Restart'), 'on-failure');
    const exec = one(service, 'ExecStart').split(/\s+/);
    assert.equal(exec.length, 2);
    const entry = path.relative('/opt/chat', exec[1]!);
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
    const [idle] = directive(site, 'keepalive_timeout');
    assert.ok(idle, 'upstream keepalive_timeout is set');
    assert.ok(nginxSeconds(idle) < defaults.keepAliveTimeoutMs / 1000, 'nginx closes idle upstream connections before the server does');
  });
});
