// `npm run bench`: runs W1, W1-half, W3 and W4 against our server, the ceiling and the peers of
// #18 (Socket.IO, Faye; W4 needs a history, which they do not keep) in the same run on the same
// machine, and prints one table with all of them and ours divided by each (absolute numbers on
// shared 2-core machines drift from run to run; the ratios of one run are what we track).
// Flags: --quick (short phases, for a smoke test), --only=LABEL[,LABEL...] (ours, ceiling,
// socket.io, faye), --sync=FULL|NORMAL, --ceiling-each (also the ceiling with one commit per
// message), --no-readme (do not rewrite the table in bench/README.md).
// Over 400 lines on purpose (#12): one script read top to bottom (plan, measure, table), no part used elsewhere.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { type Account, mergeRounds, w1, type W1Result, type W1Round, w3, type W3Result, w4, type W4Result } from './load.js';
import { recordRun } from './record.js';
import { CoreWindow, CpuWindow, hasTaskset, machine, machineBusyPercent, pinSelf, serverIdle, type ServerProc } from './proc.js';
import { ceilingSubject, oursSubject, peerSubject, peerVersion, type Subject } from './subjects.js';

const REPO = path.resolve(__dirname, '..', '..');
const args = new Set(process.argv.slice(2));
const flag = (name: string) => [...args].find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const quick = args.has('--quick');
const num = (envName: string, full: number, quickValue: number) => Number(process.env[envName] ?? (quick ? quickValue : full));

export const plan = {
  receivers: num('BENCH_RECEIVERS', 500, 100),
  senders: num('BENCH_SENDERS', 50, 10),
  w1Ms: num('BENCH_W1_MS', 10_000, 3_000),
  w1Rounds: num('BENCH_W1_ROUNDS', 2, 1),
  w1WarmupMs: num('BENCH_W1_WARMUP_MS', 3_000, 1_000),
  drainMs: 5_000,
  holdS: 20,
  bodyChars: 60,
  w3Polls: num('BENCH_W3_POLLS', 10_000, 2_000),
  // Held long enough for the second memory reading, taken w3SettledS after the first.
  w3HoldS: num('BENCH_W3_HOLD_S', 50, 10),
  w3SettledS: num('BENCH_W3_SETTLED_S', 25, 0),
  w4Messages: num('BENCH_W4_MESSAGES', 1_000_000, 50_000),
  w4Iterations: num('BENCH_W4_ITERATIONS', 1000, 100),
  w4Warmup: 200,
  peerWarmupMs: quick ? 500 : 2_000,
  sync: (flag('sync') ?? 'FULL').toUpperCase() === 'NORMAL' ? 'NORMAL' : 'FULL',
} as const;

// Users by index: 0 and 1 are the W4 probe pair (their conversation holds a tenth of any seeded
// history, see seed-pattern.ts), then W1's receivers and senders, then W3's kiosks.
const layout = (() => {
  const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);
  const receivers = range(2, plan.receivers);
  const senders = range(2 + plan.receivers, plan.senders);
  const kiosks = range(2 + plan.receivers + plan.senders, plan.w3Polls);
  return { probe: [0, 1], receivers, senders, kiosks, users: 2 + plan.receivers + plan.senders + plan.w3Polls };
})();

interface Usage {
  /** The server process, % of one core. */
  serverCpuPercent: number;
  /** The server's core as a whole (softirq included), and the share of it waiting on I/O. */
  serverCoreBusyPercent: number;
  serverCoreIowaitPercent: number;
  /** The server's core minus the server and network softirq: other processes (noise). */
  otherOnServerCorePercent: number;
  generatorCpuPercent: number;
}

interface SubjectResult {
  label: string;
  w1: W1Result & Usage;
  w1half: W1Result & Usage;
  w3: W3Result;
  /** null for a server that keeps no history (the peers). */
  w4empty: W4Result | null;
  w4full: W4Result | null;
  setupS: number;
}

interface Live {
  s: Subject;
  p: ServerProc;
  probe: [Account, Account];
  receivers: Account[];
  senders: Account[];
  kiosks: Account[];
  setupS: number;
}

const running = new Set<ServerProc>();
const log = (...a: unknown[]) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...a);

async function started(s: Subject, dbDir: string, seed: number, cpu: number | null): Promise<ServerProc> {
  const p = await s.start({
    dbPath: path.join(dbDir, `${s.label}-${seed}.sqlite`),
    users: layout.users,
    seedMessages: seed,
    cpu,
    sync: plan.sync,
    repo: REPO,
  });
  running.add(p);
  return p;
}
async function stopped(p: ServerProc): Promise<void> {
  await p.stop();
  running.delete(p);
}

async function setUp(s: Subject, dbDir: string, cpu: number | null): Promise<Live> {
  const t0 = Date.now();
  log(`${s.label}: starting with ${layout.users} users`);
  const p = await started(s, dbDir, 0, cpu);
  const accounts = await s.accounts(p, [...layout.probe, ...layout.receivers, ...layout.senders, ...layout.kiosks]);
  const at = (i: number) => accounts[i] as Account;
  const live: Live = {
    s,
    p,
    probe: [at(0), at(1)],
    receivers: layout.receivers.map(at),
    senders: layout.senders.map(at),
    kiosks: layout.kiosks.map(at),
    setupS: 0,
  };
  await s.protocol.prepare(p, [...live.probe, ...live.receivers]);
  live.setupS = (Date.now() - t0) / 1000;
  return live;
}

/** Runs one W1 round with the server's and the generator's CPU use measured over its window. */
async function w1Round(l: Live, tag: string, serverCpu: number | null, rate?: number): Promise<{ round: W1Round; usage: Usage }> {
  const proc = new CpuWindow(l.p.pid);
  const core = serverCpu === null ? null : new CoreWindow(serverCpu);
  let gen0 = process.cpuUsage(),
    genT0 = performance.now(),
    generatorCpuPercent = NaN;
  const round = await w1(l.p, l.s.protocol, l.receivers, l.senders, {
    durationMs: plan.w1Ms,
    drainMs: plan.drainMs,
    holdS: plan.holdS,
    tag,
    bodyChars: plan.bodyChars,
    ...(rate === undefined ? {} : { rate }),
    window: {
      open: () => {
        proc.open();
        core?.open();
        gen0 = process.cpuUsage();
        genT0 = performance.now();
      },
      close: () => {
        proc.close();
        core?.close();
        const u = process.cpuUsage(gen0);
        generatorCpuPercent = ((u.user + u.system) / 1000 / (performance.now() - genT0)) * 100;
      },
    },
  });
  return {
    round,
    usage: {
      serverCpuPercent: proc.percent,
      serverCoreBusyPercent: core?.busyPercent ?? NaN,
      serverCoreIowaitPercent: core?.iowaitPercent ?? NaN,
      otherOnServerCorePercent: core ? Math.max(0, core.busyPercent - core.softirqPercent - proc.percent) : NaN,
      generatorCpuPercent,
    },
  };
}

/** Waits (at most 15 s) until the server uses under 5 % of a core over windowMs. */
function meanUsage(us: Usage[]): Usage {
  const m = (f: (u: Usage) => number) => us.reduce((a, u) => a + f(u), 0) / us.length;
  return {
    serverCpuPercent: m((u) => u.serverCpuPercent),
    serverCoreBusyPercent: m((u) => u.serverCoreBusyPercent),
    serverCoreIowaitPercent: m((u) => u.serverCoreIowaitPercent),
    otherOnServerCorePercent: Math.max(...us.map((u) => u.otherOnServerCorePercent)),
    generatorCpuPercent: m((u) => u.generatorCpuPercent),
  };
}

// All servers run side by side (idle while another is measured) and each workload runs on one
// after the other; W1 rounds alternate the order (a b c d, d c b a, ...), so a slow spell on the
// shared machine falls on all rather than on one.
async function measureAll(subjects: Subject[], dbDir: string, cpu: number | null): Promise<SubjectResult[]> {
  const lives: Live[] = [];
  for (const s of subjects) lives.push(await setUp(s, dbDir, cpu));
  const w4empty = new Map<Live, W4Result>();
  for (const l of lives) {
    if (l.s.history) {
      log(`${l.s.label}: W4 on an empty database`);
      w4empty.set(l, await w4(l.p, l.probe[0], l.probe[1], plan.w4Iterations, plan.w4Warmup));
    } else {
      // No W4 (no history): the same pair sends for a moment instead, unmeasured, so that W3's
      // first reading finds every server's code paths already run once, as W4 leaves ours.
      log(`${l.s.label}: warm-up in place of W4, ${plan.peerWarmupMs} ms, not measured`);
      await w1(l.p, l.s.protocol, [l.probe[1]], [l.probe[0]], {
        durationMs: plan.peerWarmupMs,
        drainMs: plan.drainMs,
        holdS: plan.holdS,
        tag: 'warm0',
        bodyChars: plan.bodyChars,
      });
    }
  }
  const w3r = new Map<Live, W3Result>();
  for (const l of lives) {
    log(`${l.s.label}: W3 ${plan.w3Polls} held polls`);
    w3r.set(
      l,
      await w3(l.p, l.s.protocol, l.kiosks, {
        polls: plan.w3Polls,
        holdS: plan.w3HoldS,
        batch: 500,
        batchPauseMs: 10,
        settleMs: 300,
        memory: () => l.p.memoryAfterGc(),
        idle: (ms) => serverIdle(l.p.pid, ms),
        settledAfterS: plan.w3SettledS,
      }),
    );
  }
  // An unmeasured warm-up of each server first, as W4 has: W3 leaves both idle for long enough
  // that V8 shrinks their heaps, and the first measured round then paid for growing them again
  // (ours, in one run: 4,652 msg/s in its first round, 5,458 in its second).
  for (const l of lives) {
    log(`${l.s.label}: W1 warm-up, ${plan.w1WarmupMs} ms, not measured`);
    await w1(l.p, l.s.protocol, l.receivers, l.senders, {
      durationMs: plan.w1WarmupMs,
      drainMs: plan.drainMs,
      holdS: plan.holdS,
      tag: 'warm',
      bodyChars: plan.bodyChars,
    });
  }
  const rounds = new Map<Live, { round: W1Round; usage: Usage }[]>(lives.map((l) => [l, []]));
  for (let r = 0; r < plan.w1Rounds; r++) {
    for (const l of r % 2 === 0 ? lives : [...lives].reverse()) {
      log(
        `${l.s.label}: W1 round ${r + 1}/${plan.w1Rounds}, closed loop, ${plan.senders} senders -> ${plan.receivers} receivers, ${plan.w1Ms} ms`,
      );
      const x = await w1Round(l, `w1r${r}`, cpu);
      log(`${l.s.label}: ${x.round.deliveredPerS.toFixed(0)} msg/s`);
      rounds.get(l)?.push(x);
    }
  }
  const w1r = new Map<Live, W1Result & Usage>();
  const w1h = new Map<Live, W1Result & Usage>();
  for (const l of lives) {
    const rs = rounds.get(l) ?? [];
    w1r.set(l, { ...mergeRounds(rs.map((x) => x.round)), ...meanUsage(rs.map((x) => x.usage)) });
  }
  const halfRounds = new Map<Live, { round: W1Round; usage: Usage }[]>(lives.map((l) => [l, []]));
  for (let r = 0; r < plan.w1Rounds; r++) {
    for (const l of r % 2 === 0 ? lives : [...lives].reverse()) {
      // Half of this server's own saturation rate: each server at the same relative load.
      const half = Math.max(1, Math.round((w1r.get(l)?.deliveredPerS ?? 2) / 2));
      log(`${l.s.label}: W1-half round ${r + 1}/${plan.w1Rounds}, open loop at ${half} msg/s`);
      const x = await w1Round(l, `w1h${r}`, cpu, half);
      log(`${l.s.label}: p99 ${x.round.latency.p99.toFixed(1)} ms`);
      halfRounds.get(l)?.push(x);
    }
  }
  for (const l of lives) {
    const rs = halfRounds.get(l) ?? [];
    w1h.set(l, { ...mergeRounds(rs.map((x) => x.round)), ...meanUsage(rs.map((x) => x.usage)) });
  }
  for (const l of lives) await stopped(l.p);

  const w4full = new Map<Live, W4Result>();
  for (const l of lives.filter((x) => x.s.history)) {
    log(`${l.s.label}: seeding ${plan.w4Messages} messages for W4`);
    const p = await started(l.s, dbDir, plan.w4Messages, cpu);
    const [a, b] = (await l.s.accounts(p, layout.probe)) as [Account, Account];
    await l.s.protocol.prepare(p, [a, b]);
    log(`${l.s.label}: W4 with ${plan.w4Messages} messages`);
    w4full.set(l, await w4(p, a, b, plan.w4Iterations, plan.w4Warmup));
    await stopped(p);
  }
  const get = <T>(m: Map<Live, T>, l: Live): T => {
    const v = m.get(l);
    if (v === undefined) throw new Error('missing result');
    return v;
  };
  return lives.map((l) => ({
    label: l.s.label,
    w1: get(w1r, l),
    w1half: get(w1h, l),
    w3: get(w3r, l),
    w4empty: w4empty.get(l) ?? null,
    w4full: w4full.get(l) ?? null,
    setupS: l.setupS,
  }));
}

// ---------------------------------------------------------------------------------------------
// The report

const f0 = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : '–');
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '–');
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '–');
const ms = (x: number) => (Number.isFinite(x) ? (x < 10 ? x.toFixed(2) : x.toFixed(1)) : '–');
const lat = (s: { p50: number; p99: number; max: number }) => `${ms(s.p50)} / ${ms(s.p99)} / ${ms(s.max)}`;
const checks = (r: W1Result) => `${r.lost} / ${r.duplicated} / ${r.misrouted} / ${r.outOfOrder}`;
const errs = (r: W1Result) => {
  const e = { ...r.sendErrors, ...Object.fromEntries(Object.entries(r.pollErrors).map(([k, v]) => [`poll ${k}`, v])) };
  const n = Object.values(e).reduce((x, y) => x + y, 0) + r.skipped + r.deliveredUnacked;
  return n === 0 ? '0' : JSON.stringify({ ...e, skipped: r.skipped, deliveredUnacked: r.deliveredUnacked });
};
const usage = (f: (r: SubjectResult) => Usage) => (r: SubjectResult) => {
  const u = f(r);
  return [u.serverCpuPercent, u.serverCoreBusyPercent, u.serverCoreIowaitPercent, u.otherOnServerCorePercent, u.generatorCpuPercent]
    .map(f0)
    .join(' / ');
};
const clean = (r: W1Result) => r.lost + r.duplicated + r.misrouted + r.outOfOrder === 0;

interface Row {
  what: string;
  get: (r: SubjectResult) => string;
  /** The figure ours is divided by each other server's in the ratio columns (ours ÷ that server). */
  ratio?: (r: SubjectResult) => number;
  target?: string;
  /** Whether ours meets the target; null when a server it is measured against is missing. */
  pass?: (ours: SubjectResult, by: (label: string) => SubjectResult | undefined) => boolean | null;
}

/** ours ÷ another server on a figure, or NaN when either lacks it. */
const over = (f: (r: SubjectResult) => number, o: SubjectResult, x: SubjectResult | undefined) => (x ? f(o) / f(x) : NaN);
const w1Rate = (r: SubjectResult) => r.w1.deliveredPerS;
const cpuPerMessage = (r: SubjectResult) => (r.w1.serverCpuPercent / 100 / r.w1.deliveredPerS) * 1e6;
const halfP99 = (r: SubjectResult) => r.w1half.latency.p99;
const w3Settled = (r: SubjectResult) => r.w3.kibPerPollSettled;
const w3Complete = (r: SubjectResult) => r.w3.heldAndAnswered === r.w3.polls && r.w3.allHeldAtOnce;
/** The target holds against the servers named; null when one of them was not measured. */
const against =
  (labels: string[], test: (o: SubjectResult, ...xs: SubjectResult[]) => boolean) =>
  (o: SubjectResult, by: (label: string) => SubjectResult | undefined) => {
    const xs = labels.map(by);
    return xs.every((x): x is SubjectResult => x !== undefined) ? test(o, ...xs) : null;
  };
const w4Cell = (w: W4Result | null, k: 'send' | 'poll' | 'history') => (w ? `${ms(w[k].p50)} / ${ms(w[k].p99)}` : '–');

// The targets are #18's: ours against Socket.IO polling (and the ceiling for memory), with
// every message stored durably; W4's (a large history costs ours nothing) are #5's.
const rows: Row[] = [
  {
    what: 'W1 delivered msg/s (closed loop)',
    get: (r) => f0(r.w1.deliveredPerS),
    ratio: w1Rate,
    target: '≥ 1.0 × socket.io',
    pass: against(['socket.io'], (o, sio) => over(w1Rate, o, sio) >= 1 && clean(o.w1)),
  },
  { what: 'W1 send→delivery ms p50 / p99 / max', get: (r) => lat(r.w1.latency), ratio: (r) => r.w1.latency.p99 },
  { what: 'W1 send (until acknowledged) ms p50 / p99 / max', get: (r) => lat(r.w1.sendLatency) },
  { what: 'W1 lost / duplicated / misrouted / out of order', get: (r) => checks(r.w1), target: 'all 0' },
  { what: 'W1 errors', get: (r) => errs(r.w1) },
  { what: 'W1 delivered msg/s in each round', get: (r) => r.w1.perRound.map(f0).join(', ') },
  { what: 'W1 generator event-loop lag p99 / max, ms', get: (r) => `${ms(r.w1.generatorLagMs.p99)} / ${ms(r.w1.generatorLagMs.max)}` },
  {
    what: 'W1 CPU %: server process / its core busy / I/O wait / other processes on it (worst round) / generator',
    get: usage((r) => r.w1),
  },
  // Steadier than msg/s on a shared machine (what else runs slows a server, not its work per message).
  { what: 'W1 server CPU per delivered message, µs', get: (r) => f0(cpuPerMessage(r)), ratio: cpuPerMessage },
  { what: "W1-half offered msg/s (open loop, half of each server's own W1)", get: (r) => f0(r.w1half.targetRate ?? NaN) },
  { what: 'W1-half delivered msg/s', get: (r) => f0(r.w1half.deliveredPerS) },
  {
    what: 'W1-half send→delivery ms p50 / p99 / max',
    get: (r) => lat(r.w1half.latency),
    ratio: halfP99,
    target: 'p99 ≤ 1.0 × socket.io',
    pass: against(['socket.io'], (o, sio) => over(halfP99, o, sio) <= 1 && clean(o.w1half)),
  },
  { what: 'W1-half p99 in each round, ms', get: (r) => r.w1half.perRoundP99.map(ms).join(', ') },
  { what: 'W1-half lost / duplicated / misrouted / out of order', get: (r) => checks(r.w1half), target: 'all 0' },
  { what: 'W1-half errors', get: (r) => errs(r.w1half) },
  {
    what: 'W1-half generator event-loop lag p99 / max, ms',
    get: (r) => `${ms(r.w1half.generatorLagMs.p99)} / ${ms(r.w1half.generatorLagMs.max)}`,
  },
  {
    what: 'W1-half CPU %: server process / its core busy / I/O wait / other processes on it (worst round) / generator',
    get: usage((r) => r.w1half),
  },
  {
    what: 'W3 polls held at once and answered',
    get: (r) =>
      `${r.w3.heldAndAnswered}/${r.w3.polls}${r.w3.allHeldAtOnce ? '' : ' (not all at once)'}${Object.keys(r.w3.errors).length ? ` ${JSON.stringify(r.w3.errors)}` : ''}${r.w3.answeredEarly ? ` early ${r.w3.answeredEarly}` : ''}`,
    target: 'all',
  },
  {
    what: 'W3 server RSS before → held → settled (each after a full GC), MiB',
    get: (r) => `${f1(r.w3.rssBeforeKiB / 1024)} → ${f1(r.w3.rssHeldKiB / 1024)} → ${f1(r.w3.rssSettledKiB / 1024)}`,
  },
  { what: 'W3 JS heap per held poll, KiB', get: (r) => f2(r.w3.heapKibPerPollSettled), ratio: (r) => r.w3.heapKibPerPollSettled },
  { what: 'W3 RSS KiB per held poll, right after the last poll came in', get: (r) => f2(r.w3.kibPerPoll), ratio: (r) => r.w3.kibPerPoll },
  {
    what: 'W3 RSS KiB per held poll, settled (the polls still held)',
    get: (r) => `${f2(r.w3.kibPerPollSettled)}${r.w3.settledAfterS ? ` (${r.w3.settledAfterS} s later)` : ' (no second reading)'}`,
    ratio: w3Settled,
    target: '≤ 1.0 × socket.io, ≤ 1.1 × ceiling',
    pass: against(
      ['socket.io', 'ceiling'],
      (o, sio, ceil) => over(w3Settled, o, sio) <= 1 && over(w3Settled, o, ceil) <= 1.1 && w3Complete(o),
    ),
  },
  ...(['send', 'poll', 'history'] as const).flatMap((k): Row[] => [
    { what: `W4 ${k} ms p50 / p99, empty database`, get: (r) => w4Cell(r.w4empty, k) },
    {
      what: `W4 ${k} ms p50 / p99, ${plan.w4Messages.toLocaleString('en')} messages`,
      get: (r) => w4Cell(r.w4full, k),
      ratio: (r) => r.w4full?.[k].p50 ?? NaN,
    },
    {
      what: `W4 ${k} p50, full ÷ empty (same server)`,
      get: (r) => (r.w4full && r.w4empty ? f2(r.w4full[k].p50 / r.w4empty[k].p50) : '–'),
      target: 'ours ≤ 1.2',
      pass: (o) => (o.w4full && o.w4empty ? o.w4full[k].p50 / o.w4empty[k].p50 <= 1.2 : null),
    },
  ]),
  {
    what: 'W4 errors',
    get: (r) =>
      r.w4empty && r.w4full
        ? Object.keys({ ...r.w4empty.errors, ...r.w4full.errors }).length
          ? JSON.stringify({ ...r.w4empty.errors, ...r.w4full.errors })
          : '0'
        : '–',
  },
];

function table(results: SubjectResult[]): string {
  const o = results.find((r) => r.label === 'ours');
  const others = o ? results.filter((r) => r !== o) : [];
  const by = (label: string) => results.find((r) => r.label === label);
  const head = ['', ...results.map((r) => r.label), ...others.map((x) => `ours ÷ ${x.label}`), ...(o ? ['target (#18)', 'met'] : [])];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const row of rows) {
    const cells = [row.what, ...results.map(row.get)];
    if (o) {
      for (const x of others) cells.push(row.ratio ? f2(over(row.ratio, o, x)) : '');
      const met = row.pass ? row.pass(o, by) : undefined;
      cells.push(row.target ?? '', met === undefined ? '' : met === null ? '–' : met ? 'yes' : '**no**');
    }
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

/** The ratios #18 tracks, in one line: ours ÷ each other server. */
function summary(results: SubjectResult[]): string | null {
  const o = results.find((r) => r.label === 'ours');
  const others = o ? results.filter((r) => r !== o) : [];
  if (!o || others.length === 0) return null;
  const each = (f: (r: SubjectResult) => number) => others.map((x) => f2(over(f, o, x))).join(' / ');
  return `Ours ÷ ${others.map((x) => x.label).join(' / ')}: W1 msg/s ${each(w1Rate)}; W1-half p99 ${each(halfP99)}; W3 RSS per held poll, settled, ${each(w3Settled)}.`;
}

function versions(): Record<string, string> {
  const db = new Database(':memory:');
  const sqlite = (db.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v;
  db.close();
  const bs = (JSON.parse(fs.readFileSync(path.join(REPO, 'node_modules', 'better-sqlite3', 'package.json'), 'utf8')) as { version: string })
    .version;
  return {
    node: process.version,
    sqlite,
    'better-sqlite3': bs,
    'socket.io': peerVersion(REPO, 'socket.io') ?? '–',
    faye: peerVersion(REPO, 'faye') ?? '–',
  };
}

/** Warnings when something else was using the machine: the numbers are then not comparable. */
function noise(busyBefore: number[], results: SubjectResult[]): string[] {
  const out: string[] = [];
  if (busyBefore.some((b) => b > 15))
    out.push(`**Warning:** the machine was busy before the run (cores ${busyBefore.map((b) => `${b.toFixed(0)}%`).join(', ')}).`);
  for (const r of results) {
    const worst = Math.max(r.w1.otherOnServerCorePercent, r.w1half.otherOnServerCorePercent);
    if (worst > 10)
      out.push(
        `**Warning:** other processes took up to ${worst.toFixed(0)}% of the server's core during ${r.label}'s W1 rounds: rerun on a quiet machine.`,
      );
  }
  return out;
}

/**
 * W3 needs a socket per held poll in this process too. When the soft limit on open files is
 * too low and the hard one allows more, run again under a shell that raises it.
 */
function ensureFileLimit(needed: number): boolean {
  if (process.env.BENCH_FD_RAISED) return false;
  let soft: number, hard: number;
  try {
    const [s, h] = execFileSync('sh', ['-c', 'ulimit -Sn; ulimit -Hn'], { encoding: 'utf8' }).trim().split('\n');
    soft = s === 'unlimited' ? Infinity : Number(s);
    hard = h === 'unlimited' ? Infinity : Number(h);
  } catch {
    return false;
  }
  if (soft >= needed) return false;
  if (hard < needed) log(`warning: open-file limit ${hard} is below the ${needed} that W3 needs`);
  const target = hard === Infinity ? needed : Math.min(hard, Math.max(needed, soft));
  const r = spawnSync('sh', ['-c', `ulimit -n ${target} && exec "$@"`, 'sh', process.execPath, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, BENCH_FD_RAISED: '1' },
  });
  process.exitCode = r.status ?? 1;
  return true;
}

async function main(): Promise<void> {
  if (ensureFileLimit(plan.w3Polls + plan.receivers + plan.senders + 1000)) return;
  const m = machine();
  const only = flag('only')?.split(',');
  const experiment = process.env.BENCH_EXPERIMENT; // a patched checkout, measured beside ours
  const all = [
    oursSubject(),
    ...(experiment ? [oursSubject('experiment', path.resolve(experiment))] : []),
    ceilingSubject('batch'),
    ...(args.has('--ceiling-each') ? [ceilingSubject('each')] : []),
    peerSubject('socket.io'),
    peerSubject('faye'),
  ];
  const subjects = all.filter((s) => !only || only.includes(s.label));
  // About 2.5 minutes per server on a quiet machine: twice that, and a little, before giving up.
  const limitMin = 5 + 5 * subjects.length;
  const watchdog = setTimeout(() => {
    log(`watchdog: the run took more than ${limitMin} minutes; stopping`);
    void Promise.all([...running].map((p) => p.stop())).finally(() => process.exit(2));
  }, limitMin * 60_000);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => void Promise.all([...running].map((p) => p.stop())).finally(() => process.exit(130)));
  }
  // Server on CPU 0, generator on CPU 1: they never compete for a core with each other
  // (other jobs on the machine still can).
  const pinned = m.nproc >= 2 && hasTaskset() && pinSelf(1);
  const serverCpu = pinned ? 0 : null;
  const busyBefore = await machineBusyPercent(2000);
  log(`machine before the run: cores busy ${busyBefore.map((b) => `${b.toFixed(0)}%`).join(', ')}`);
  const dbDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chat-bench-'));
  let results: SubjectResult[];
  const skipped: string[] = [];
  try {
    const ready = subjects.filter((s) => {
      const why = s.unavailable(REPO);
      if (why) {
        skipped.push(`${s.label}: ${why}`);
        log(`skipping ${s.label}: ${why}`);
      }
      return !why;
    });
    results = await measureAll(ready, dbDir, serverCpu);
  } finally {
    await Promise.all([...running].map((p) => p.stop()));
    fs.rmSync(dbDir, { recursive: true, force: true });
    clearTimeout(watchdog);
  }
  const v = versions();
  const date = new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
  const about = [
    `Run ${date}${quick ? ' (--quick: shortened phases, not for the record)' : ''}: ${m.nproc} × ${m.cpu}, ${m.memGiB} GiB, Linux ${m.kernel}; ` +
      `Node ${v.node}, SQLite ${v.sqlite} (better-sqlite3 ${v['better-sqlite3']}); synchronous=${plan.sync}; Socket.IO ${v['socket.io']}, Faye ${v.faye}; ` +
      (pinned ? 'server pinned to CPU 0, generator to CPU 1.' : 'not pinned (taskset or a second core missing).'),
    `W1 and W1-half: ${plan.receivers} receivers, ${plan.senders} senders, ${plan.w1Rounds} rounds of ${plan.w1Ms / 1000} s each after a ${plan.w1WarmupMs / 1000} s warm-up, alternating servers; W3: ${plan.w3Polls} polls held ${plan.w3HoldS} s, memory read once they are in and again ${plan.w3SettledS} s later; ` +
      `W4: ${plan.w4Iterations} rounds of send, poll, history (limit 50) one at a time.`,
    ...skipped.map((s) => `Not measured: ${s}.`),
    ...noise(busyBefore, results),
    ...[summary(results)].filter((x) => x !== null),
  ];
  const md = `${about.join('\n')}\n\n${table(results)}\n`;
  process.stdout.write(`\n${md}`);
  // The README keeps the table of the last full run with ours and the ceiling.
  const toReadme =
    !quick && !args.has('--no-readme') && results.some((r) => r.label === 'ours') && results.some((r) => r.label === 'ceiling');
  const data = { date, machine: m, versions: v, plan, pinned, skipped, results };
  recordRun(REPO, quick ? 'quick' : 'latest', md, data, toReadme ? 'results' : undefined);
  const w4Errors = (r: SubjectResult) => Object.keys(r.w4empty?.errors ?? {}).length + Object.keys(r.w4full?.errors ?? {}).length;
  const bad = results.some((r) => !clean(r.w1) || !clean(r.w1half) || r.w3.heldAndAnswered !== r.w3.polls || w4Errors(r) > 0);
  process.exitCode = bad ? 1 : 0;
}

main().catch((e: unknown) => {
  console.error(e);
  void Promise.all([...running].map((p) => p.stop())).finally(() => process.exit(1));
});
