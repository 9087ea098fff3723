// Runs Debian's nginx as a child process with deploy/nginx/chat.conf in front of a given
// upstream, everything (pid, logs, temp paths) in a temp dir, listening on a free loopback
// port. The site file is used as it is in the repository: only its two marked addresses are
// rewritten, and the rewrite fails loudly if they are not found, so the test never runs a
// config that differs from the shipped one in anything else.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../support/server';
import { freePort, sleep } from '../support/util';

export const NGINX_BIN = process.env.NGINX_BIN ?? '/usr/sbin/nginx';
export const SITE_CONF = path.join(REPO_ROOT, 'deploy', 'nginx', 'chat.conf');

export function nginxAvailable(): boolean {
  try {
    fs.accessSync(NGINX_BIN, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Replaces `from` exactly once; a site file that no longer has it is a test failure. */
function replaceOnce(text: string, from: RegExp, to: string): string {
  const hits = text.match(new RegExp(from.source, 'gm'));
  if (!hits || hits.length !== 1) throw new Error(`deploy/nginx/chat.conf: expected exactly one ${from} (found ${hits?.length ?? 0})`);
  return text.replace(new RegExp(from.source, 'm'), to);
}

export interface SiteOptions {
  /** Lower the requests-in-progress bound per client address (to test it with a few). */
  limitConn?: number;
}

/** The shipped site with the upstream and listen addresses pointed at the test's ports. */
export function siteFor(upstreamPort: number, listenPort: number, opts: SiteOptions = {}): string {
  let site = fs.readFileSync(SITE_CONF, 'utf8');
  site = replaceOnce(site, /^(\s*)server 127\.0\.0\.1:3000;/, `$1server 127.0.0.1:${upstreamPort};`);
  site = replaceOnce(site, /^(\s*)listen 80;/, `$1listen 127.0.0.1:${listenPort};`);
  site = replaceOnce(site, /^\s*listen \[::\]:80;.*$/, '');
  if (opts.limitConn !== undefined)
    site = replaceOnce(site, /^(\s*)limit_conn chat_per_client \d+;/, `$1limit_conn chat_per_client ${opts.limitConn};`);
  return site;
}

export interface RunningNginx {
  url: string;
  port: number;
  pid: number;
  dir: string;
  output(): string;
  stop(): Promise<void>;
}

export async function startNginx(upstreamPort: number, opts: SiteOptions = {}): Promise<RunningNginx> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chat-nginx-'));
  // Started as root, nginx runs its worker as nobody: the worker must reach its temp paths.
  fs.chmodSync(dir, 0o755);
  fs.writeFileSync(path.join(dir, 'chat.conf'), siteFor(upstreamPort, port, opts));
  // The http block of Debian's stock nginx.conf, with gzip on for JSON too (the worst case an
  // admin could set): the site must still send answers whole, with a Content-Length.
  const main = `
worker_processes 1;
pid ${dir}/nginx.pid;
error_log stderr notice;
events { worker_connections 512; }
http {
  sendfile on;
  tcp_nopush on;
  default_type application/octet-stream;
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  gzip on;
  gzip_types application/json application/javascript text/plain;
  gzip_min_length 1;
  include ${dir}/chat.conf;
}
`;
  const conf = path.join(dir, 'nginx.conf');
  fs.writeFileSync(conf, main);
  let out = '';
  const child: ChildProcess = spawn(NGINX_BIN, ['-p', dir, '-c', conf, '-e', 'stderr', '-g', 'daemon off;'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`nginx exited at start-up:\n${out}`);
    if (await canConnect(port)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`nginx did not listen within 10 s:\n${out}`);
    }
    await sleep(25);
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    pid: child.pid ?? -1,
    dir,
    output: () => out,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      // SIGTERM to the master (by its PID) is nginx's fast shutdown: it stops its workers.
      child.kill('SIGTERM');
      await exited;
    },
  };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
