// npm run cluster: several server processes on one PostgreSQL database, linked by Redis, behind
// nginx round-robin (no sticky sessions), for development and for the multi-process tests (#16).
//
//   npm run cluster                          # 3 processes, nginx on http://127.0.0.1:8080
//   npm run cluster -- --processes 4 --port 9090
//
// PostgreSQL: DATABASE_URL; or else the database chat_cluster_dev (created when missing) on
// PG_URL when that is set; or else a PostgreSQL of its own (initdb and pg_ctl from the machine's
// binaries, PG_BIN or the newest /usr/lib/postgresql/*/bin) on a free port in a temp dir, gone
// when the cluster stops: startPostgres() below, which the tests and bench/cluster.ts use too. Redis:
// REDIS_URL, or else a redis-server of its own on a free port (from the machine's binary;
// without one the processes run linked by re-check only). nginx: the shipped site
// (deploy/nginx/chat.conf) with its upstream pointed at the processes; without nginx the
// processes' own addresses are printed. Ctrl-C stops everything it started, and only that.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../config';

export const NGINX_BIN = process.env.NGINX_BIN ?? '/usr/sbin/nginx';
const SITE_CONF = path.join(REPO_ROOT, 'deploy', 'nginx', 'chat.conf');
const MAIN_JS = path.join(REPO_ROOT, 'dist', 'src', 'main.js');
const DEV_DATABASE = 'chat_cluster_dev';
/** Who runs an own PostgreSQL when this runs as root (initdb and postgres refuse root). */
const PG_OS_USER = process.env.PG_OS_USER ?? 'postgres';

/**
 * The shipped nginx site with its upstream made of `ports` (round-robin, nginx's default) and
 * listening on `listenPort`; everything else as shipped.
 */
export function clusterSite(ports: readonly number[], listenPort: number): string {
  const site = fs.readFileSync(SITE_CONF, 'utf8');
  const upstream = /^(\s*)server 127\.0\.0\.1:3000;.*$/m;
  const listen = /^(\s*)listen 80;.*$/m;
  if (!upstream.test(site) || !listen.test(site)) throw new Error(`${SITE_CONF}: its upstream or listen line is not where expected`);
  return site
    .replace(upstream, (_, indent: string) => ports.map((p) => `${indent}server 127.0.0.1:${p};`).join('\n'))
    .replace(listen, (_, indent: string) => `${indent}listen 127.0.0.1:${listenPort};`)
    .replace(/^\s*listen \[::\]:80;.*$/m, '');
}

export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function until(what: string, check: () => Promise<boolean>, child: ChildProcess, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${what} exited at start-up`);
    if (Date.now() > deadline) throw new Error(`${what} did not start within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface Started {
  child: ChildProcess | null;
  stop(): Promise<void>;
}

function started(child: ChildProcess): Started {
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** nginx in the foreground with `site`, everything of its own in a temp dir, removed when it stops. */
export async function startNginx(site: string, listenPort: number): Promise<Started> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chat-cluster-nginx-'));
  fs.chmodSync(dir, 0o755); // started as root, the worker runs as nobody
  fs.writeFileSync(path.join(dir, 'chat.conf'), site);
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `${t}_temp_path ${dir}/${t};`).join('\n  ');
  const conf = `worker_processes 1;
pid ${dir}/nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
  default_type application/octet-stream;
  access_log off;
  ${temp}
  include ${dir}/chat.conf;
}
`;
  fs.writeFileSync(path.join(dir, 'nginx.conf'), conf);
  const child = spawn(NGINX_BIN, ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', 'stderr', '-g', 'daemon off;'], {
    stdio: 'inherit',
  });
  const s = started(child);
  // Its temp dir goes with it (test:http:cluster starts one nginx per app).
  const stopped: Started = {
    child,
    stop: () => s.stop().then(() => fs.rmSync(dir, { recursive: true, force: true })),
  };
  try {
    await until('nginx', () => canConnect(listenPort), child);
  } catch (err) {
    await stopped.stop();
    throw err;
  }
  return stopped;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

/** PG_BIN, or the newest of the machine's /usr/lib/postgresql/<version>/bin; throws when there is none. */
export function pgBin(): string {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root) ? fs.readdirSync(root).filter((v) => /^\d+$/.test(v)) : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (!newest) throw new Error(`no PostgreSQL binaries in ${root}: set PG_BIN, or DATABASE_URL or PG_URL`);
  return path.join(root, newest, 'bin');
}

/** A PostgreSQL instance of its own: its data, socket and log in one temp dir. */
export interface OwnPostgres {
  /** postgres://postgres@127.0.0.1:PORT/postgres (trust authentication, loopback only). */
  url: string;
  port: number;
  dir: string;
  /** Starts it (again, on the same port and data), waiting until it accepts connections. */
  start(): Promise<void>;
  /** pg_ctl stop: `fast` ends sessions and shuts down cleanly, `immediate` is a crash (recovery at the next start). */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  /** The postmaster's PID while it runs (its backends are its children), else null. */
  pid(): number | null;
  /** Stops it (fast) and removes its directory. */
  destroy(): Promise<void>;
}

/**
 * initdb and pg_ctl from the machine's binaries, in a new temp dir, on a free loopback port.
 * As root, the instance runs as PG_OS_USER (default postgres), which owns the dir.
 */
export async function startPostgres(): Promise<OwnPostgres> {
  const bin = pgBin();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chat-cluster-pg-'));
  const data = path.join(dir, 'data');
  const asUser: { uid?: number; gid?: number } = {};
  if (process.getuid?.() === 0) {
    asUser.uid = Number(execFileSync('id', ['-u', PG_OS_USER], { encoding: 'utf8' }));
    asUser.gid = Number(execFileSync('id', ['-g', PG_OS_USER], { encoding: 'utf8' }));
    fs.chownSync(dir, asUser.uid, asUser.gid);
  }
  const run = (tool: string, args: string[]): Promise<void> =>
    new Promise((resolve, reject) =>
      execFile(path.join(bin, tool), args, { ...asUser, cwd: dir }, (err, stdout, stderr) =>
        err ? reject(new Error(`${tool} ${args[0] ?? ''}: ${err.message}\n${stderr}`)) : resolve(),
      ),
    );
  await run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '--encoding=UTF8', '--locale=C']);
  const port = await freePort();
  const pg: OwnPostgres = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    dir,
    async start() {
      const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`;
      await run('pg_ctl', ['start', '-D', data, '-w', '-t', '60', '-l', path.join(dir, 'log'), '-o', opts]);
    },
    async stop(mode = 'fast') {
      if (pg.pid() === null) return;
      await run('pg_ctl', ['stop', '-D', data, '-w', '-t', '60', '-m', mode]);
    },
    pid() {
      try {
        const pid = Number(fs.readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
        return pid > 0 && fs.existsSync(`/proc/${pid}`) ? pid : null;
      } catch {
        return null;
      }
    },
    async destroy() {
      await pg.stop('fast');
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await pg.start();
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return pg;
}

/** The URL of database `name` on the server `admin` names, created when missing. */
export async function ensureDatabase(admin: string, name: string): Promise<string> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- pg is loaded only where PostgreSQL is used
  const { Client } = require('pg') as typeof import('pg');
  const c = new Client({ connectionString: admin });
  await c.connect();
  try {
    const exists = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (exists.rowCount === 0) await c.query(`CREATE DATABASE ${name}`);
  } finally {
    await c.end();
  }
  const u = new URL(admin);
  u.pathname = `/${name}`;
  return u.toString();
}

/** DATABASE_URL; or chat_cluster_dev on PG_URL; or a PostgreSQL of its own (pushed on `everything`). */
async function devDatabase(everything: Started[]): Promise<string> {
  if (process.env.DATABASE_URL) return process.env.DATABASE_URL;
  if (process.env.PG_URL) return ensureDatabase(process.env.PG_URL, DEV_DATABASE);
  const pg = await startPostgres();
  everything.push({ child: null, stop: () => pg.destroy() });
  return ensureDatabase(pg.url, DEV_DATABASE);
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isInteger(v) || v < 1 || v > 65535) throw new Error(`${name} must be a whole number`);
  return v;
}

async function main(): Promise<void> {
  const n = arg('--processes', 3);
  const listenPort = arg('--port', 8080);
  const everything: Started[] = [];
  const stopAll = async (): Promise<void> => {
    for (const s of everything.reverse()) await s.stop();
  };
  process.on('SIGINT', () => void stopAll().then(() => process.exit(0)));
  process.on('SIGTERM', () => void stopAll().then(() => process.exit(0)));
  try {
    const databaseUrl = await devDatabase(everything);
    let redisUrl = process.env.REDIS_URL ?? '';
    if (!redisUrl) {
      const port = await freePort();
      const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
        stdio: 'ignore',
      });
      redis.on('error', () => undefined); // no binary: told below
      everything.push(started(redis));
      try {
        await until('redis-server', () => canConnect(port), redis, 5000);
        redisUrl = `redis://127.0.0.1:${port}`;
      } catch {
        process.stderr.write('cluster: no redis-server: the processes wake each other by re-check only (seconds)\n');
      }
    }
    const ports: number[] = [];
    for (let i = 0; i < n; i++) {
      const port = await freePort();
      const child = spawn(process.execPath, [MAIN_JS], {
        cwd: REPO_ROOT,
        env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, TRUST_PROXY: 'true' },
        stdio: 'inherit',
      });
      everything.push(started(child));
      await until(`server ${i + 1}`, () => canConnect(port), child);
      ports.push(port);
    }
    const lines = [`database: ${databaseUrl.replace(/:[^:@/]*@/, ':***@')}`, `redis: ${redisUrl || 'none'}`];
    ports.forEach((p, i) => lines.push(`process ${i + 1}: http://127.0.0.1:${p}`));
    if (fs.existsSync(NGINX_BIN)) {
      everything.push(await startNginx(clusterSite(ports, listenPort), listenPort));
      lines.push(`nginx round-robin: http://127.0.0.1:${listenPort}`);
    } else {
      lines.push(`no nginx at ${NGINX_BIN}: use the processes directly`);
    }
    process.stdout.write(`${lines.join('\n')}\n(Ctrl-C stops everything)\n`);
  } catch (err) {
    process.stderr.write(`cluster: ${err instanceof Error ? err.message : String(err)}\n`);
    await stopAll();
    process.exit(1);
  }
}

if (require.main === module) void main();
