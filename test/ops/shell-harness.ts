// Running examples/chat.sh for test/ops/shell-client.test.ts (issue #7): the shells found here,
// a running script with its output and exit (only that child is ever signalled), and what
// follow prints for a message (control characters escaped, times in a fixed zone).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { MessageView } from '../../src/views';
import { REPO_ROOT } from '../support/server';
import { sleep } from '../support/util';

export const SCRIPT = path.join(REPO_ROOT, 'examples', 'chat.sh');
export const PASSWORD = 'correct horse battery'; // the password test/support/client.ts signs up with

export function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const p = path.join(dir, cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The shells to run the client with: every POSIX shell found, dash first (Debian's sh). */
export function shells(): Array<{ name: string; argv: string[] }> {
  const out: Array<{ name: string; argv: string[] }> = [];
  const dash = which('dash');
  if (dash) out.push({ name: 'dash', argv: [dash] });
  const bash = which('bash');
  if (bash) out.push({ name: 'bash --posix', argv: [bash, '--posix'] });
  const busybox = which('busybox');
  if (busybox) out.push({ name: 'busybox sh', argv: [busybox, 'sh'] });
  if (out.length === 0) out.push({ name: 'sh', argv: ['/bin/sh'] });
  return out;
}

/** What follow prints for a text: control characters escaped, everything else as sent. */
export function display(text: string): string {
  const named: Record<string, string> = { '\n': '\\n', '\t': '\\t', '\r': '\\r', '\b': '\\b', '\f': '\\f' };
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is matched
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => named[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A 1:1 message as the API gives it (the shell client's tests send no group messages here). */
export type Message = MessageView & { to: string };

/** The zone follow runs in (TZ, POSIX form: no tz database needed) and the same for Intl. */
export const TZ = 'IST-5:30';
export const TZ_IANA = 'Asia/Kolkata';

/** An ISO time as follow shows it (#14): local time with its offset, or UTC saying so. */
export function shownTime(iso: string, local = true): string {
  if (!local) return `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-GB', {
      timeZone: TZ_IANA,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
      timeZoneName: 'longOffset',
    })
      .formatToParts(new Date(iso))
      .map((p) => [p.type, p.value]),
  );
  const offset = String(parts.timeZoneName).replace(/^GMT/, '').replace(':', '') || '+0000';
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second} ${offset}`;
}

export function line(m: Message, local = true): string {
  return `[${shownTime(m.sent_at, local)}] ${m.from} -> ${m.to}: ${display(m.body)}`;
}

/** PIDs of processes whose command line mentions `needle` (Linux /proc; [] elsewhere). */
export function processesMentioning(needle: string): number[] {
  if (!fs.existsSync('/proc/self/cmdline')) return [];
  const out: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(needle)) out.push(Number(entry));
    } catch {
      // gone already
    }
  }
  return out;
}

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A running chat.sh: its output so far, and its exit. Only this child is ever signalled. */
export class Proc {
  stdout = '';
  stderr = '';
  readonly exited: Promise<Run>;
  readonly child: ChildProcess;
  /** detached: in a session of its own, with no controlling terminal (no /dev/tty). */
  constructor(argv: string[], env: NodeJS.ProcessEnv, stdin?: string, detached = false) {
    this.child = spawn(argv[0]!, argv.slice(1), { env, detached, stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    this.child.stdout?.on('data', (d: Buffer) => (this.stdout += d.toString('utf8')));
    this.child.stderr?.on('data', (d: Buffer) => (this.stderr += d.toString('utf8')));
    // A script that exits before reading its stdin must not fail the test with EPIPE.
    this.child.stdin?.on('error', () => undefined);
    this.child.stdin?.end(stdin);
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => resolve({ code, signal, stdout: this.stdout, stderr: this.stderr })),
    );
  }
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }
  lines(): string[] {
    return this.stdout.split('\n').filter((l) => l !== '');
  }
  async waitForLines(n: number, timeoutMs: number): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.lines().length < n) {
      if (!this.running) throw new Error(`follow exited early:\n${this.stderr}`);
      if (Date.now() > deadline)
        throw new Error(`expected ${n} lines within ${timeoutMs} ms, got:\n${this.stdout}\nstderr:\n${this.stderr}`);
      await sleep(20);
    }
    return this.lines();
  }
  async stop(): Promise<Run> {
    if (this.running) this.child.kill('SIGTERM');
    return this.exited;
  }
}
