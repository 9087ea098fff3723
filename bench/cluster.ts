// `npm run bench:cluster`: the cluster row (#16). W1 (load.ts: receivers holding polls, senders
// in a closed loop) against one server process on SQLite and against three processes on
// PostgreSQL with Redis behind nginx round-robin (the shipped site), one after the other; then
// the cross-process wake-up latency: a poll held on one process, the send through another, one
// at a time (and, for comparison, both on the single process). CPU per delivered message is
// read from /proc for every process: each server process, nginx, PostgreSQL (its postmaster and
// every backend: an instance of this run's own, startPostgres() of npm run cluster) and Redis
// (a redis-server of its own). Nothing is pinned: the figure is the cost of a message on each
// part, from which a fourth machine can be planned, not the throughput of this shared box.
// Flags: --quick (short rounds, not for the record), --no-readme (leave bench/README.md alone);
// BENCH_CLUSTER_NODE_ARGS: node flags for the cluster's server processes.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, type Endpoint, type Summary, summarize } from './client.js';
import { recordRun } from './record.js';
import { mergeRounds, w1, type W1Result, type W1Round } from './load.js';
import { cpuSeconds, machine, machineBusyPercent, spawnServer, type ServerProc, treeCpuSeconds } from './proc.js';
import { type Account, contract, pollPath, refreshCursors } from './protocols.js';
import { oursSubject } from './subjects.js';
import { clusterSite, ensureDatabase, startNginx, startPostgres, type OwnPostgres, type Started } from '../src/cli/cluster.js';
import { signUpAndLogIn } from '../test/support/client.js';
import { clusterEnv, heldPolls, ownRedis, type OwnRedis } from '../test/support/cluster.js';
import type { RunningServer } from '../test/support/server.js';
import { freePort, sleep } from '../test/support/util.js';

const REPO = path.resolve(__dirname, '..', '..');
const args = new Set(process.argv.slice(2));
const quick = args.has('--quick');
const num = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const plan = {
  processes: 3,
  receivers: num('BENCH_CLUSTER_RECEIVERS', quick ? 20 : 50),
  senders: num('BENCH_CLUSTER_SENDERS', quick ? 4 : 10),
  warmupMs: quick ? 1000 : 3000,
  roundMs: num('BENCH_CLUSTER_ROUND_MS', quick ? 3000 : 10_000),
  rounds: quick ? 1 : 2,
  wakeups: num('BENCH_CLUSTER_WAKEUPS', quick ? 30 : 200),
  holdS: 20,
  bodyChars: 60,
  drainMs: 3000,
};

const log = (...a: unknown[]) => console.error(`[bench cluster ${new Date().toISOString().slice(11, 19)}]`, ...a);

/** A part of the system whose CPU is read over the measured windows. */
interface Part {
  label: string;
  /** CPU seconds used so far (the process, or its whole tree). */
  cpu(): number;
}

interface Row {
  label: string;
  w1: W1Result;
  /** CPU seconds over the W1 windows, per part. */
  cpuS: Map<string, number>;
  delivered: number;
  /** Send→delivery of one message at a time, poll held on one process and send through another (or both on the one). */
  wakeup: Summary;
  wakeupKind: string;
}

/** W1's rounds against `ep`, CPU of `parts` summed over their measured windows. */
async function runW1(
  label: string,
  ep: Endpoint,
  parts: Part[],
  receivers: Account[],
  senders: Account[],
): Promise<Pick<Row, 'w1' | 'cpuS' | 'delivered'>> {
  await refreshCursors(ep, [...receivers, ...senders]);
  log(`${label}: W1 warm-up, ${plan.warmupMs} ms`);
  await w1(ep, contract, receivers, senders, {
    durationMs: plan.warmupMs,
    drainMs: plan.drainMs,
    holdS: plan.holdS,
    tag: `${label}-warm`,
    bodyChars: plan.bodyChars,
  });
  const cpuS = new Map(parts.map((p) => [p.label, 0]));
  const rounds: W1Round[] = [];
  for (let r = 0; r < plan.rounds; r++) {
    log(`${label}: W1 round ${r + 1}/${plan.rounds}, ${plan.senders} senders -> ${plan.receivers} receivers, ${plan.roundMs} ms`);
    let at0: number[] = [];
    rounds.push(
      await w1(ep, contract, receivers, senders, {
        durationMs: plan.roundMs,
        drainMs: plan.drainMs,
        holdS: plan.holdS,
        tag: `${label}-${r}`,
        bodyChars: plan.bodyChars,
        window: {
          open: () => {
            at0 = parts.map((p) => p.cpu());
          },
          close: () => {
            parts.forEach((p, i) => cpuS.set(p.label, (cpuS.get(p.label) ?? 0) + p.cpu() - (at0[i] ?? 0)));
          },
        },
      }),
    );
  }
  const merged = mergeRounds(rounds);
  return { w1: merged, cpuS, delivered: merged.deliveredPerS * merged.durationS };
}

/** One message at a time: `receiver` polls through `pollAt` (held there), `sender` sends through `sendAt`. */
async function wakeups(pollAt: Endpoint & { url: string }, sendAt: Endpoint, receiver: Account, sender: Account): Promise<Summary> {
  const polls = new Client(pollAt, 2);
  const sends = new Client(sendAt, 2);
  const at = { url: pollAt.url } as RunningServer;
  const out: number[] = [];
  try {
    await refreshCursors(pollAt, [receiver]);
    for (let i = 0; i < plan.wakeups; i++) {
      const before = await heldPolls(at);
      const answer = polls.request('GET', pollPath(receiver.cursor, plan.holdS), receiver.token, undefined, (plan.holdS + 10) * 1000);
      // Held (registered for wake-ups) before the clock starts.
      while ((await heldPolls(at)) <= before) await sleep(2);
      const t0 = performance.now();
      const sent = await sends.request('POST', '/messages', sender.token, { to: receiver.username, body: `wake ${i}` });
      if (sent.status !== 201) throw new Error(`wake-up send: ${sent.status} ${JSON.stringify(sent.body)}`);
      const rep = await answer;
      const t1 = performance.now();
      const body = rep.body as { cursor: string; events: { message?: { body: string } }[] };
      if (rep.status !== 200 || body.events[0]?.message?.body !== `wake ${i}`)
        throw new Error(`wake-up ${i}: ${rep.status} ${JSON.stringify(rep.body)}`);
      receiver.cursor = body.cursor;
      out.push(t1 - t0);
    }
  } finally {
    polls.close();
    sends.close();
  }
  return summarize(out);
}

const ep = (p: { host: string; port: number }) => ({ host: p.host, port: p.port, url: `http://${p.host}:${p.port}` });

async function single(dbDir: string): Promise<Row> {
  const s = oursSubject('one process, SQLite');
  const users = plan.receivers + plan.senders + 2;
  const p = await s.start({ dbPath: path.join(dbDir, 'single.sqlite'), users, seedMessages: 0, cpu: null, sync: 'FULL', repo: REPO });
  try {
    const accounts = await s.accounts(
      p,
      Array.from({ length: users }, (_, i) => i),
    );
    const [probeR, probeS] = [accounts[0] as Account, accounts[1] as Account];
    const receivers = accounts.slice(2, 2 + plan.receivers);
    const senders = accounts.slice(2 + plan.receivers);
    const w = await runW1('single', p, [{ label: 'server', cpu: () => cpuSeconds(p.pid) }], receivers, senders);
    log('single: wake-ups, poll and send on the one process');
    const wakeup = await wakeups(ep(p), p, probeR, probeS);
    return { label: s.label, ...w, wakeup, wakeupKind: 'same process' };
  } finally {
    await p.stop();
  }
}

async function cluster(): Promise<Row> {
  let pg: OwnPostgres | undefined;
  let redis: OwnRedis | undefined;
  let nginx: Started | undefined;
  const servers: ServerProc[] = [];
  try {
    pg = await startPostgres();
    const databaseUrl = await ensureDatabase(pg.url, 'chat_bench');
    redis = await ownRedis();
    const env = {
      ...clusterEnv(databaseUrl, redis.url),
      // W1's sends come far faster than any person's, all through 127.0.0.1 (as ours on SQLite).
      RATE_MESSAGES_USER: 'off',
      MAX_CONNECTIONS_PER_IP: '0',
      TRUST_PROXY: 'true',
      DATABASE_POOL_SIZE: '10',
      LOG_LEVEL: 'warn',
    };
    for (let i = 0; i < plan.processes; i++) {
      servers.push(
        await spawnServer({
          label: `process ${i + 1}`,
          // As `npm start` runs it; BENCH_CLUSTER_NODE_ARGS adds flags (e.g. --cpu-prof --cpu-prof-dir=DIR).
          nodeArgs: [...(process.env.BENCH_CLUSTER_NODE_ARGS ?? '').split(' ').filter(Boolean), path.join(REPO, 'dist', 'src', 'main.js')],
          env,
          cpu: null,
          cwd: REPO,
        }),
      );
    }
    const port = await freePort();
    nginx = await startNginx(
      clusterSite(
        servers.map((s) => s.port),
        port,
      ),
      port,
    );
    const front = { host: '127.0.0.1', port };
    log(`cluster: ${plan.processes} processes, nginx on ${port}, PostgreSQL on ${pg.port}, Redis on ${redis.port}`);
    const users = plan.receivers + plan.senders + 2;
    const accounts: Account[] = [];
    for (let i = 0; i < users; i++) {
      const username = `bench${i}`;
      const a = await signUpAndLogIn(`http://127.0.0.1:${port}`, username);
      accounts.push({ username, token: a.token, cursor: a.cursor });
    }
    const [probeR, probeS] = [accounts[0] as Account, accounts[1] as Account];
    const pgPid = pg.pid() ?? -1;
    const redisPid = redis.pid() ?? -1;
    const nginxPid = nginx.child?.pid ?? -1;
    const parts: Part[] = [
      ...servers.map((s) => ({ label: s.label, cpu: () => cpuSeconds(s.pid) })),
      { label: 'nginx', cpu: () => treeCpuSeconds(nginxPid) },
      { label: 'PostgreSQL', cpu: () => treeCpuSeconds(pgPid) },
      { label: 'Redis', cpu: () => cpuSeconds(redisPid) },
    ];
    const w = await runW1('cluster', front, parts, accounts.slice(2, 2 + plan.receivers), accounts.slice(2 + plan.receivers));
    log('cluster: wake-ups, poll held on process 1, send through process 2');
    const [a, b] = [servers[0] as ServerProc, servers[1] as ServerProc];
    const wakeup = await wakeups(ep(a), b, probeR, probeS);
    return {
      label: `${plan.processes} processes, PostgreSQL + Redis, through nginx`,
      ...w,
      wakeup,
      wakeupKind: 'across processes (Redis)',
    };
  } finally {
    await nginx?.stop();
    for (const s of servers) await s.stop();
    await redis?.kill();
    await pg?.destroy();
  }
}

const ms = (x: number) => (Number.isFinite(x) ? (x < 10 ? x.toFixed(2) : x.toFixed(1)) : '–');
const lat = (s: Summary) => `${ms(s.p50)} / ${ms(s.p99)} / ${ms(s.max)}`;
const us = (cpuS: number, delivered: number) => (delivered > 0 ? ((cpuS / delivered) * 1e6).toFixed(0) : '–');

function table(rows: Row[]): string {
  const head = ['', ...rows.map((r) => r.label)];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  const add = (what: string, get: (r: Row) => string) => lines.push(`| ${[what, ...rows.map(get)].join(' | ')} |`);
  add('W1 delivered msg/s (closed loop)', (r) => r.w1.deliveredPerS.toFixed(0));
  add('W1 send→delivery ms p50 / p99 / max', (r) => lat(r.w1.latency));
  add('W1 send (until acknowledged) ms p50 / p99 / max', (r) => lat(r.w1.sendLatency));
  add(
    'W1 lost / duplicated / misrouted / out of order',
    (r) => `${r.w1.lost} / ${r.w1.duplicated} / ${r.w1.misrouted} / ${r.w1.outOfOrder}`,
  );
  const errors = (r: Row) =>
    Object.entries({ ...r.w1.sendErrors, ...r.w1.pollErrors })
      .map(([k, v]) => `${k}×${v}`)
      .join(', ') || 'none';
  add('W1 errors', errors);
  const parts = [...new Set(rows.flatMap((r) => [...r.cpuS.keys()]))];
  for (const part of parts)
    add(`CPU per delivered message, µs: ${part}`, (r) => (r.cpuS.has(part) ? us(r.cpuS.get(part) ?? 0, r.delivered) : ''));
  add('CPU per delivered message, µs: all of the above', (r) =>
    us(
      [...r.cpuS.values()].reduce((a, b) => a + b, 0),
      r.delivered,
    ),
  );
  add('Wake-up, one message at a time: send→delivery ms p50 / p99 / max', (r) => `${lat(r.wakeup)} (${r.wakeupKind})`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const m = machine();
  const busy = await machineBusyPercent(2000);
  const load = os.loadavg().map((l) => l.toFixed(1));
  log(`machine before the run: cores busy ${busy.map((b) => `${b.toFixed(0)}%`).join(', ')}, load ${load.join(' ')}`);
  const dbDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chat-bench-cluster-'));
  const rows: Row[] = [];
  try {
    rows.push(await single(dbDir));
    rows.push(await cluster());
  } finally {
    fs.rmSync(dbDir, { recursive: true, force: true });
  }
  const loadAfter = os.loadavg().map((l) => l.toFixed(1));
  const date = new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
  const about =
    `Run ${date}${quick ? ' (--quick, not for the record)' : ''}: ${m.nproc} × ${m.cpu}, shared with other work: cores busy before ` +
    `${busy.map((b) => `${b.toFixed(0)}%`).join(', ')}, load average ${load.join(' ')} before and ${loadAfter.join(' ')} after. Nothing pinned. ` +
    `W1: ${plan.senders} senders → ${plan.receivers} receivers, closed loop, ${plan.rounds} × ${plan.roundMs / 1000} s after ${plan.warmupMs / 1000} s of warm-up, ` +
    `SQLite first (synchronous=FULL), then the cluster (a PostgreSQL and a Redis of the run's own, from the machine's binaries, default settings; nginx round-robin); wake-ups: ${plan.wakeups}, one at a time.`;
  const md = `${about}\n\n${table(rows)}\n`;
  process.stdout.write(`\n${md}`);
  const data = { date, machine: m, busy, load, loadAfter, plan, rows: rows.map((r) => ({ ...r, cpuS: Object.fromEntries(r.cpuS) })) };
  const toReadme = !quick && !args.has('--no-readme');
  recordRun(REPO, quick ? 'cluster-quick' : 'cluster', md, data, toReadme ? 'cluster' : undefined);
  process.exitCode = rows.some((r) => r.w1.lost + r.w1.duplicated + r.w1.misrouted + r.w1.outOfOrder > 0) ? 1 : 0;
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
