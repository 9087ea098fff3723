// `npm run bench:w5`: W5, group fan-out (#15). A group of BENCH_W5_MEMBERS (100) users whose
// members all hold polls; one member sends BENCH_W5_MESSAGES messages to it, one at a time (the
// next once the last has reached every member, so nothing queues behind it), and each poll
// answer is timed from the start of the send that carried it: send→delivery per member, p50 /
// p99 / max over every delivery. Ours against the ceiling (bench/ceiling.ts with
// CEILING_GROUP_SIZE: one insert, then every member's held poll woken) in the same run, on the
// same pinned cores as `npm run bench`. Every delivery is checked: each member gets each message
// exactly once, in order. #15's target: p99 ≤ 100 ms for ours.
// Flags: --quick (fewer messages), --no-readme (do not rewrite the table in bench/README.md).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, type Endpoint, type Summary, summarize } from './client.js';
import { recordRun } from './record.js';
import { CpuWindow, hasTaskset, machine, machineBusyPercent, pinSelf, type ServerProc } from './proc.js';
import { type Account, pollPath, refreshCursors } from './protocols.js';
import { ceilingSubject, oursSubject, type Subject } from './subjects.js';
import { sleep } from '../test/support/util.js';

const REPO = path.resolve(__dirname, '..', '..');
const args = new Set(process.argv.slice(2));
const quick = args.has('--quick');
const MEMBERS = Number(process.env.BENCH_W5_MEMBERS ?? 100);
const MESSAGES = Number(process.env.BENCH_W5_MESSAGES ?? (quick ? 50 : 300));
const WARMUP = quick ? 5 : 20;
/** The longest a message may take to reach every member before it counts as lost. */
const DELIVERY_TIMEOUT_MS = 10_000;
const HOLD_S = 20;

const log = (...a: unknown[]) => console.error(`[bench w5 ${new Date().toISOString().slice(11, 19)}]`, ...a);

interface W5Result {
  label: string;
  delivery: Summary;
  send: Summary;
  /** Deliveries expected, made, and the wrong ones. */
  expected: number;
  delivered: number;
  lost: number;
  duplicated: number;
  outOfOrder: number;
  pollErrors: number;
  serverCpuPercent: number;
  /** Server CPU per message sent (each reaching MEMBERS devices), ms. */
  cpuPerMessageMs: number;
}

interface Event {
  type: string;
  message?: { id: number; body: string; group: number | null };
}

/** Makes the group (ours: POST /groups; the ceiling's is fixed) and returns its id. */
async function makeGroup(s: Subject, ep: Endpoint, owner: Account, members: Account[]): Promise<number> {
  if (s.label === 'ceiling') return 1;
  const c = new Client(ep, 1);
  const rep = await c.request('POST', '/groups', owner.token, { name: 'w5', members: members.map((m) => m.username) });
  c.close();
  if (rep.status !== 201) throw new Error(`POST /groups: ${rep.status} ${JSON.stringify(rep.body)}`);
  return (rep.body as { group: { id: number } }).group.id;
}

async function measure(s: Subject, dbDir: string, cpu: number | null): Promise<W5Result> {
  log(`${s.label}: starting with ${MEMBERS} users`);
  const p: ServerProc = await s.start({
    dbPath: path.join(dbDir, `${s.label}.sqlite`),
    users: MEMBERS,
    seedMessages: 0,
    cpu,
    sync: 'FULL',
    repo: REPO,
  });
  const polls = new Client(p, MEMBERS + 10);
  const sends = new Client(p, 2);
  try {
    const accounts = await s.accounts(
      p,
      Array.from({ length: MEMBERS }, (_, i) => i),
    );
    const sender = accounts[0] as Account;
    const group = await makeGroup(s, p, sender, accounts.slice(1));
    await refreshCursors(p, accounts); // every member from the head: after the group's creation
    // Per member: the messages received (by body), and when.
    const got = accounts.map(() => new Map<string, number>());
    const lastId = accounts.map(() => 0);
    let outOfOrder = 0;
    let duplicated = 0;
    let pollErrors = 0;
    const run = { on: true };
    const waiting = new Map<string, { left: number; done: () => void }>();
    const loops = accounts.map(async (a, i) => {
      while (run.on) {
        let rep;
        try {
          rep = await polls.request('GET', pollPath(a.cursor, HOLD_S), a.token, undefined, (HOLD_S + 10) * 1000);
        } catch {
          pollErrors++;
          await sleep(100); // not a busy loop against a server that refuses
          continue;
        }
        const now = performance.now();
        if (rep.status !== 200) {
          pollErrors++;
          await sleep(100);
          continue;
        }
        const body = rep.body as { cursor: string; events: Event[] };
        a.cursor = body.cursor;
        for (const e of body.events) {
          const m = e.message;
          if (e.type !== 'message' || !m || m.group !== group) continue;
          if (m.id <= (lastId[i] ?? 0)) outOfOrder++;
          lastId[i] = m.id;
          const mine = got[i] as Map<string, number>;
          if (mine.has(m.body)) {
            duplicated++;
            continue;
          }
          mine.set(m.body, now);
          const w = waiting.get(m.body);
          if (w && --w.left === 0) w.done();
        }
      }
    });
    // Every member's poll is held before the first send.
    await sleep(500);
    const startedAt: number[] = [];
    const sendMs: number[] = [];
    let lost = 0;
    const cpuWindow = new CpuWindow(p.pid);
    let windowStart = 0;
    for (let k = -WARMUP; k < MESSAGES; k++) {
      if (k === 0) {
        cpuWindow.open();
        windowStart = performance.now();
      }
      const body = `w5 ${k}`;
      const all = new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), DELIVERY_TIMEOUT_MS);
        const done = () => {
          clearTimeout(timer);
          resolve(true);
        };
        waiting.set(body, { left: MEMBERS, done });
      });
      const t0 = performance.now();
      const rep = await sends.request('POST', '/messages', sender.token, { group, body });
      if (rep.status !== 201) throw new Error(`${s.label}: send ${k}: ${rep.status} ${JSON.stringify(rep.body)}`);
      if (k >= 0) {
        sendMs.push(performance.now() - t0);
        startedAt[k] = t0;
      }
      if (!(await all)) lost++;
      waiting.delete(body);
    }
    cpuWindow.close();
    const windowS = (performance.now() - windowStart) / 1000;
    run.on = false;
    // Release the held polls: one more message (not counted) answers them all.
    await sends.request('POST', '/messages', sender.token, { group, body: 'w5 end' });
    await Promise.race([Promise.all(loops), sleep(2000)]);
    const delivery: number[] = [];
    let delivered = 0;
    for (const mine of got) {
      for (const [body, at] of mine) {
        const k = Number(body.slice(3));
        if (!(k >= 0) || startedAt[k] === undefined) continue;
        delivered++;
        delivery.push(at - startedAt[k]);
      }
    }
    return {
      label: s.label,
      delivery: summarize(delivery),
      send: summarize(sendMs),
      expected: MESSAGES * MEMBERS,
      delivered,
      lost,
      duplicated,
      outOfOrder,
      pollErrors,
      serverCpuPercent: cpuWindow.percent,
      cpuPerMessageMs: ((cpuWindow.percent / 100) * windowS * 1000) / MESSAGES,
    };
  } finally {
    polls.close();
    sends.close();
    await p.stop();
  }
}

const ms = (x: number) => (Number.isFinite(x) ? (x < 10 ? x.toFixed(2) : x.toFixed(1)) : '–');
const lat = (s: Summary) => `${ms(s.p50)} / ${ms(s.p99)} / ${ms(s.max)}`;

function table(results: W5Result[]): string {
  const ours = results.find((r) => r.label === 'ours');
  const ceiling = results.find((r) => r.label === 'ceiling');
  const head = ['', ...results.map((r) => r.label), 'ours ÷ ceiling', 'target (#15)', 'met'];
  const rows: [string, (r: W5Result) => string, number | null, string, string][] = [
    [
      'W5 send→delivery ms p50 / p99 / max (every member)',
      (r) => lat(r.delivery),
      ours && ceiling ? ours.delivery.p99 / ceiling.delivery.p99 : null,
      'p99 ≤ 100 ms',
      ours ? (ours.delivery.p99 <= 100 ? 'yes' : '**no**') : '–',
    ],
    [
      'W5 send (until acknowledged) ms p50 / p99 / max',
      (r) => lat(r.send),
      ours && ceiling ? ours.send.p99 / ceiling.send.p99 : null,
      '',
      '',
    ],
    [
      'W5 deliveries made / expected',
      (r) => `${r.delivered} / ${r.expected}`,
      null,
      'all',
      ours ? (ours.delivered === ours.expected ? 'yes' : '**no**') : '–',
    ],
    [
      'W5 lost (not at every member within 10 s) / duplicated / out of order / poll errors',
      (r) => `${r.lost} / ${r.duplicated} / ${r.outOfOrder} / ${r.pollErrors}`,
      null,
      'all 0',
      ours ? (ours.lost + ours.duplicated + ours.outOfOrder + ours.pollErrors === 0 ? 'yes' : '**no**') : '–',
    ],
    ['W5 server CPU %, while sending', (r) => r.serverCpuPercent.toFixed(0), null, '', ''],
    [
      'W5 server CPU per message (each to every member), ms',
      (r) => ms(r.cpuPerMessageMs),
      ours && ceiling ? ours.cpuPerMessageMs / ceiling.cpuPerMessageMs : null,
      '',
      '',
    ],
  ];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const [what, get, ratio, target, met] of rows)
    lines.push(`| ${[what, ...results.map(get), ratio === null ? '' : ratio.toFixed(2), target, met].join(' | ')} |`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const m = machine();
  const pinned = m.nproc >= 2 && hasTaskset() && pinSelf(1);
  const cpu = pinned ? 0 : null;
  const busy = await machineBusyPercent(2000);
  log(`machine before the run: cores busy ${busy.map((b) => `${b.toFixed(0)}%`).join(', ')}`);
  const dbDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chat-bench-w5-'));
  const results: W5Result[] = [];
  try {
    // The ceiling with its group: CEILING_GROUP_SIZE through the environment it inherits.
    process.env.CEILING_GROUP_SIZE = String(MEMBERS);
    for (const s of [oursSubject(), ceilingSubject('batch')]) {
      const why = s.unavailable(REPO);
      if (why) {
        log(`skipping ${s.label}: ${why}`);
        continue;
      }
      const r = await measure(s, dbDir, cpu);
      log(`${s.label}: p99 ${ms(r.delivery.p99)} ms, ${r.delivered}/${r.expected} delivered`);
      results.push(r);
    }
  } finally {
    fs.rmSync(dbDir, { recursive: true, force: true });
  }
  const date = new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
  const about =
    `Run ${date}${quick ? ' (--quick, not for the record)' : ''}: ${m.nproc} × ${m.cpu}; synchronous=FULL; ` +
    `${pinned ? 'server pinned to CPU 0, generator to CPU 1' : 'not pinned'}; machine busy before: ${busy.map((b) => `${b.toFixed(0)}%`).join(', ')}. ` +
    `A group of ${MEMBERS}, every member holding a poll; ${MESSAGES} messages from one member, one at a time, after ${WARMUP} unmeasured.`;
  const md = `${about}\n\n${table(results)}\n`;
  process.stdout.write(`\n${md}`);
  const toReadme = !quick && !args.has('--no-readme');
  recordRun(REPO, quick ? 'w5-quick' : 'w5', md, { date, machine: m, pinned, results }, toReadme ? 'w5' : undefined);
  const bad = results.some((r) => r.lost + r.duplicated + r.outOfOrder > 0 || r.delivered !== r.expected);
  process.exitCode = bad ? 1 : 0;
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
