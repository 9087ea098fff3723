// Several real server processes (node dist/src/main.js) on one fresh PostgreSQL database and a
// Redis, for the multi-process tests (#16), and a redis-server of the test's own on a free port
// for the tests that stop and start Redis (the machine's shared Redis is never touched).
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { call } from './client';
import { startServer, type RunningServer } from './server';
import { freePort, sleep } from './util';

export const REDIS_TEST_URL = process.env.REDIS_TEST_URL ?? 'redis://127.0.0.1:6379';

/** Environment for a server process of a cluster on `databaseUrl` (and Redis, when given). */
export function clusterEnv(databaseUrl: string, redisUrl: string | null): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl ?? '',
    DATABASE_POOL_SIZE: '4',
    SCRYPT_COST: '10',
    RATE_SIGNUP_IP: 'off',
    RATE_MESSAGES_USER: 'off',
    RATE_LOGIN_IP: 'off',
  };
}

/** `n` processes on `databaseUrl`; `extra` settings on top of clusterEnv()'s. */
export async function startCluster(
  n: number,
  databaseUrl: string,
  redisUrl: string | null,
  extra: Record<string, string> = {},
): Promise<RunningServer[]> {
  const env = { ...clusterEnv(databaseUrl, redisUrl), ...extra };
  // Started together on purpose: their migrations meet under the advisory lock.
  // A start on a busy machine (the suite runs beside other work) can take a while: 30 s.
  return Promise.all(Array.from({ length: n }, () => startServer({ env, startTimeoutMs: 30_000 })));
}

export async function stopAll(servers: readonly RunningServer[]): Promise<void> {
  await Promise.all(servers.map((s) => s.stop()));
}

/** Held polls of a server now, from its /metrics. */
export async function heldPolls(s: RunningServer): Promise<number> {
  const text = (await call(s.url, 'GET', '/metrics')).text;
  const m = /^chat_held_polls (\d+)$/m.exec(text);
  return m ? Number(m[1]) : -1;
}

/** Waits until the server holds `n` polls (they are registered, and will be woken). */
export async function untilHeld(s: RunningServer, n: number): Promise<void> {
  const deadline = Date.now() + 5000;
  while ((await heldPolls(s)) < n) {
    if (Date.now() > deadline) throw new Error(`${s.url} never held ${n} polls`);
    await sleep(10);
  }
}

/** Sends a Redis command (inline protocol) and returns the first line of the reply. */
export function redisCommand(port: number, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let reply = '';
    socket.setTimeout(2000, () => socket.destroy(new Error('redis did not answer')));
    socket.on('data', (d: Buffer) => {
      reply += d.toString();
      if (reply.includes('\r\n')) {
        socket.end();
        resolve(reply.split('\r\n')[0] ?? '');
      }
    });
    socket.on('error', reject);
    socket.write(`${command}\r\n`);
  });
}

export interface OwnRedis {
  url: string;
  port: number;
  /** Starts it (again, on the same port). */
  start(): Promise<void>;
  /** Stops it with SIGKILL (an outage, not a shutdown). */
  kill(): Promise<void>;
  /** Its PID while it runs (for the CPU it uses: bench/cluster.ts). */
  pid(): number | null;
}

/** A redis-server of this test's own (from the machine's binary), nothing saved to disk. */
export async function ownRedis(): Promise<OwnRedis> {
  const port = await freePort();
  let child: ChildProcess | null = null;
  const r: OwnRedis = {
    url: `redis://127.0.0.1:${port}`,
    port,
    async start() {
      child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
        stdio: 'ignore',
      });
      const deadline = Date.now() + 5000;
      for (;;) {
        try {
          if ((await redisCommand(port, 'PING')) === '+PONG') return;
        } catch {
          // not listening yet
        }
        if (Date.now() > deadline) throw new Error(`redis-server on ${port} did not start`);
        await sleep(50);
      }
    },
    pid: () => child?.pid ?? null,
    async kill() {
      const c = child;
      child = null;
      if (!c || c.exitCode !== null) return;
      const exited = new Promise((resolve) => c.once('exit', resolve));
      c.kill('SIGKILL');
      await exited;
    },
  };
  await r.start();
  return r;
}
