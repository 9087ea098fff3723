// Starts the real server (node dist/src/main.js) as a child process on a free loopback port
// with its own temporary database, for process-level, browser, proxy and benchmark tests.
// Only the processes started here are ever signalled, by their PID.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, sleep } from './util';

export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
export const MAIN_JS = path.join(REPO_ROOT, 'dist', 'src', 'main.js');

export interface RunningServer {
  url: string;
  port: number;
  pid: number;
  dbPath: string;
  child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Sends a signal and waits for the process to exit; resolves with its exit code/signal. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface StartOptions {
  /** Reuse a database file (for restart tests); default: a fresh file in a new temp dir. */
  dbPath?: string;
  /** Reuse a port (for restart tests); default: a free one. */
  port?: number;
  env?: Record<string, string>;
  /** How long to wait for /healthz to answer, in ms. */
  startTimeoutMs?: number;
}

export function tempDbPath(prefix = 'chat-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return path.join(dir, 'chat.sqlite');
}

async function waitHealthy(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`server exited during start-up (code ${child.exitCode}, signal ${child.signalCode})`);
    }
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  throw new Error(`server did not answer /healthz within ${timeoutMs} ms`);
}

/**
 * Starts the server. A free port found here can be taken by another process before the server
 * binds it (the health check would then reach the wrong process): the child must still be
 * running after answering, or the start is retried on another port.
 */
export async function startServer(opts: StartOptions = {}): Promise<RunningServer> {
  for (let attempt = 1; ; attempt++) {
    const s = await startOnce(opts);
    await sleep(100);
    if (s.child.exitCode === null && s.child.signalCode === null) return s;
    if (opts.port !== undefined || attempt >= 3) {
      throw new Error(`server exited right after start-up\n--- server output ---\n${s.output()}`);
    }
  }
}

async function startOnce(opts: StartOptions): Promise<RunningServer> {
  const port = opts.port ?? (await freePort());
  const dbPath = opts.dbPath ?? tempDbPath();
  let out = '';
  const child = spawn(process.execPath, [MAIN_JS], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: String(port),
      DB_PATH: dbPath,
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  try {
    await waitHealthy(url, child, opts.startTimeoutMs ?? 15000);
  } catch (err) {
    if (child.exitCode === null) child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}\n--- server output ---\n${out}`);
  }
  return {
    url,
    port,
    pid: child.pid ?? -1,
    dbPath,
    child,
    output: () => out,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill(signal);
      return exited;
    },
  };
}
