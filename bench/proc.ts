// Child server processes for the benchmark: spawned on loopback, pinned to a core when the
// machine allows, their memory and CPU read from /proc. Only processes started here are
// ever signalled, by their PID.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, sleep } from '../test/support/util.js';

export const CLK_TCK = 100; // Linux's USER_HZ for /proc/<pid>/stat on every mainstream kernel

export function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Pins this process (all its threads) to one CPU; false when that is not possible. */
export function pinSelf(cpu: number): boolean {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]);
}

/** Fields of /proc/<pid>/stat after the command name (which may itself hold spaces and parentheses). */
function statFields(pid: number): string[] {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** User + system CPU seconds used so far by a process (all its threads). */
export function cpuSeconds(pid: number): number {
  const f = statFields(pid);
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

/**
 * CPU seconds used so far by a process and every process under it, live or ended (an ended
 * child's time is in its parent's cutime/cstime once reaped): for a server made of processes,
 * PostgreSQL's postmaster and its backends, nginx's master and workers. 0 once it has gone.
 */
export function treeCpuSeconds(pid: number): number {
  const children = new Map<number, number[]>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const ppid = Number(statFields(Number(name))[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
    } catch {
      // ended while listed
    }
  }
  const sum = (p: number): number => {
    let f: string[];
    try {
      f = statFields(p);
    } catch {
      return 0; // ended meanwhile: its time is in its parent's
    }
    const own = (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / CLK_TCK;
    return own + (children.get(p) ?? []).reduce((a, c) => a + sum(c), 0);
  };
  return sum(pid);
}

/** CPU use of a process over a window, as a percentage of one core. */
export class CpuWindow {
  private cpu0 = 0;
  private t0 = 0;
  percent = NaN;
  constructor(private readonly pid: number) {}
  open(): void {
    this.cpu0 = cpuSeconds(this.pid);
    this.t0 = performance.now();
  }
  close(): void {
    this.percent = ((cpuSeconds(this.pid) - this.cpu0) / ((performance.now() - this.t0) / 1000)) * 100;
  }
}

/** How busy one core was over a window (/proc/stat), whoever used it, split out I/O wait. */
export class CoreWindow {
  private t0: number[] = [];
  busyPercent = NaN;
  iowaitPercent = NaN;
  softirqPercent = NaN;
  constructor(private readonly cpu: number) {}
  private read(): number[] {
    const line = fs
      .readFileSync('/proc/stat', 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`cpu${this.cpu} `));
    return (line ?? '').trim().split(/\s+/).slice(1, 9).map(Number);
  }
  open(): void {
    this.t0 = this.read();
  }
  close(): void {
    const d = this.read().map((v, i) => v - (this.t0[i] ?? 0));
    const total = d.reduce((a, b) => a + b, 0);
    // user nice system idle iowait irq softirq steal
    const idle = d[3] ?? 0,
      iowait = d[4] ?? 0;
    this.busyPercent = ((total - idle - iowait) / total) * 100;
    this.iowaitPercent = (iowait / total) * 100;
    this.softirqPercent = ((d[6] ?? 0) / total) * 100;
  }
}

/** Waits until the process has used (almost) no CPU for windowMs, for at most 15 s. */
export async function serverIdle(pid: number, windowMs: number): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const c0 = cpuSeconds(pid);
    await sleep(windowMs);
    // /proc counts in 10 ms ticks: at most one tick in a 100 ms window.
    if (cpuSeconds(pid) - c0 <= Math.max(0.01, windowMs * 0.05e-3)) return;
  }
  process.stderr.write(`warning: server ${pid} did not go idle; memory read anyway\n`);
}

/** Busy share of every core over `ms` (from /proc/stat), to tell whether the machine is quiet. */
export async function machineBusyPercent(ms: number): Promise<number[]> {
  const read = () =>
    fs
      .readFileSync('/proc/stat', 'utf8')
      .split('\n')
      .filter((l) => /^cpu\d+ /.test(l))
      .map((l) => l.trim().split(/\s+/).slice(1, 9).map(Number));
  const a = read();
  await sleep(ms);
  return read().map((row, c) => {
    const d = row.map((v, i) => v - (a[c]?.[i] ?? 0));
    const total = d.reduce((x, y) => x + y, 0);
    return ((total - (d[3] ?? 0) - (d[4] ?? 0)) / total) * 100;
  });
}

export interface MemoryReport {
  rssKiB: number;
  heapUsedKiB: number;
}

export interface ServerProc {
  label: string;
  host: string;
  port: number;
  pid: number;
  output(): string;
  /** Full GC in the server, then its RSS and JS heap (needs the gc-hook preload). */
  memoryAfterGc(): Promise<MemoryReport>;
  stop(): Promise<void>;
}

export interface SpawnOptions {
  label: string;
  /** node arguments: flags, then the script. */
  nodeArgs: string[];
  env: Record<string, string>;
  cpu: number | null;
  cwd: string;
  startTimeoutMs?: number;
}

export async function spawnServer(o: SpawnOptions): Promise<ServerProc> {
  const port = await freePort();
  const host = '127.0.0.1';
  // Every server gets the same memory hook (see gc-hook.ts).
  const hook = ['--expose-gc', '--require', path.join(__dirname, 'gc-hook.js')];
  const cmd = [...(o.cpu === null ? [] : ['taskset', '-c', String(o.cpu)]), process.execPath, ...hook, ...o.nodeArgs];
  // The shell raises its soft fd limit to the hard one (W3 holds 10,000 sockets), then execs:
  // the server keeps the shell's PID, so /proc/PID is the server's own.
  const child: ChildProcess = spawn('sh', ['-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"', 'sh', ...cmd], {
    cwd: o.cwd,
    env: { ...process.env, ...o.env, HOST: host, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let memoryWaiters: ((m: MemoryReport) => void)[] = [];
  let partial = '';
  child.stdout?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  child.stderr?.on('data', (d: Buffer) => {
    const text = d.toString();
    out = (out + text).slice(-20_000);
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const m = /^BENCH_MEMORY (\{.*\})$/.exec(line);
      if (!m?.[1]) continue;
      const r = JSON.parse(m[1]) as { rss: number; heapUsed: number };
      const ws = memoryWaiters;
      memoryWaiters = [];
      // RSS from /proc, read now that the collection is done (the brief's measure).
      const rss = child.pid ? rssKiB(child.pid) : r.rss / 1024;
      for (const w of ws) w({ rssKiB: rss, heapUsedKiB: r.heapUsed / 1024 });
    }
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://${host}:${port}/healthz`;
  const deadline = Date.now() + (o.startTimeoutMs ?? 120_000);
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${o.label} exited during start-up:\n${out}`);
    try {
      if ((await fetch(url)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${o.label} did not answer /healthz in time:\n${out}`);
    }
    await sleep(50);
  }
  return {
    label: o.label,
    host,
    port,
    pid: child.pid ?? -1,
    output: () => out,
    memoryAfterGc: () =>
      new Promise<MemoryReport>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`${o.label}: no memory report (is the gc-hook preloaded?)`)), 10_000);
        memoryWaiters.push((m) => {
          clearTimeout(t);
          resolve(m);
        });
        child.kill('SIGUSR2');
      }),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}

export function machine(): { nproc: number; cpu: string; memGiB: number; kernel: string } {
  const cpus = os.cpus();
  return {
    nproc: cpus.length,
    cpu: cpus[0]?.model ?? 'unknown',
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
  };
}
