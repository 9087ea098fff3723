// A diagnosis aid, not part of `npm run bench`: runs one W1 phase against one server and
// prints when the slow deliveries happened, to tell a stall (one burst) from a steady tail.
// SERVER: ours, experiment (BENCH_EXPERIMENT), ceiling, ceiling-each, socket.io or faye.
// node dist/bench/probe.js SERVER RATE [SECONDS]   (RATE 0: closed loop; PROBE_SEED=1000000: on a
// history as large as the full run's, PROBE_WARM=1: after an unmeasured 3 s of W1)
// node dist/bench/probe.js SERVER heap POLLS: heap snapshots (into /tmp/heap-probe) of the
// server idle and then holding POLLS polls; summarise with heapsnapshot.js.
// node dist/bench/probe.js SERVER w3 POLLS [ROUNDS]: W3 alone (held for 50 s, memory read again
// 25 s after the first reading), ROUNDS times on fresh servers, printing RSS and heap per held
// poll: for comparing two versions.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sleep } from '../test/support/util.js';
import { Client, pool } from './client.js';
import { w1, w3 } from './load.js';
import { cpuSeconds, hasTaskset, pinSelf, serverIdle } from './proc.js';
import { ceilingSubject, oursSubject, peerSubject, type Subject } from './subjects.js';

function subjectNamed(which: string): Subject {
  if (which === 'ours') return oursSubject();
  if (which === 'experiment') return oursSubject('experiment', process.env.BENCH_EXPERIMENT);
  if (which === 'ceiling' || which === 'ceiling-each') return ceilingSubject(which === 'ceiling' ? 'batch' : 'each');
  if (which === 'socket.io' || which === 'faye') return peerSubject(which);
  throw new Error(`unknown server ${which}: ours, experiment, ceiling, ceiling-each, socket.io or faye`);
}

async function main(): Promise<void> {
  const [which = 'ours', rateArg = '0', secondsArg = '10'] = process.argv.slice(2);
  const subject = subjectNamed(which);
  const pinned = hasTaskset() && os.cpus().length >= 2 && pinSelf(1);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chat-probe-'));
  const repo = path.resolve(__dirname, '..', '..');
  const sync = process.env.BENCH_SYNC === 'NORMAL' ? 'NORMAL' : 'FULL';
  const heap = rateArg === 'heap';
  if (rateArg === 'w3') {
    const polls = Number(secondsArg);
    for (let round = 0; round < Number(process.argv[5] ?? '1'); round++) {
      const p = await subject.start({
        dbPath: path.join(dir, `w3-${round}.sqlite`),
        users: polls,
        seedMessages: 0,
        cpu: pinned ? 0 : null,
        sync: 'FULL',
        repo,
      });
      try {
        const kiosks = await subject.accounts(
          p,
          Array.from({ length: polls }, (_, i) => i),
        );
        const r = await w3(p, subject.protocol, kiosks, {
          polls,
          holdS: 50,
          batch: 500,
          batchPauseMs: 10,
          settleMs: 300,
          memory: () => p.memoryAfterGc(),
          idle: (ms) => serverIdle(p.pid, ms),
          settledAfterS: 25,
        });
        console.log(
          `${which} W3: RSS ${(r.rssBeforeKiB / 1024).toFixed(1)} -> ${(r.rssHeldKiB / 1024).toFixed(1)} -> ${(r.rssSettledKiB / 1024).toFixed(1)} MiB; per held poll ${r.kibPerPoll.toFixed(2)} KiB RSS at once, ${r.kibPerPollSettled.toFixed(2)} KiB RSS and ${r.heapKibPerPollSettled.toFixed(2)} KiB heap settled; ${r.heldAndAnswered}/${polls} held and answered${r.allHeldAtOnce ? '' : ' (NOT all at once)'}; sessions opened in ${r.sessionsS.toFixed(1)} s, polls in ${r.rampS.toFixed(1)} s`,
        );
      } finally {
        await p.stop();
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
    return;
  }
  const heapPolls = heap ? Number(secondsArg) : 0;
  const heapDir = '/tmp/heap-probe';
  if (heap) {
    fs.rmSync(heapDir, { recursive: true, force: true });
    fs.mkdirSync(heapDir);
    process.env.BENCH_OURS_NODE_ARGS =
      process.env.BENCH_CEILING_NODE_ARGS =
      process.env.BENCH_PEER_NODE_ARGS =
        `--heapsnapshot-signal=SIGURG --diagnostic-dir=${heapDir}`;
  }
  const users = 552 + heapPolls;
  // PROBE_SEED=N: N messages of history first (the full run's W1 meets W4's million).
  const seedMessages = Number(process.env.PROBE_SEED ?? '0');
  const p = await subject.start({ dbPath: path.join(dir, 'db.sqlite'), users, seedMessages, cpu: pinned ? 0 : null, sync, repo });
  try {
    if (heap) {
      const kiosks = await subject.accounts(
        p,
        Array.from({ length: heapPolls }, (_, i) => i + 552),
      );
      const snapshots = async (n: number) => {
        process.kill(p.pid, 'SIGURG');
        // A snapshot is written synchronously by the server; wait until the file stops growing.
        let last = -1;
        for (;;) {
          await sleep(500);
          const files = fs.readdirSync(heapDir).filter((f) => f.endsWith('.heapsnapshot'));
          const size = files.reduce((a, f) => a + fs.statSync(path.join(heapDir, f)).size, 0);
          if (files.length >= n && size === last) return files.sort();
          last = size;
        }
      };
      // Warm the paths once (a few polls answered at once), then the idle baseline.
      const c = new Client(p, heapPolls + 8);
      for (const k of kiosks.slice(0, 50)) {
        // Socket.IO holds a poll until its ping whatever is asked: closing the session answers it.
        const r = await subject.protocol.receiver(c, k);
        const polled = r.poll(0).catch(() => undefined);
        await Promise.race([polled, sleep(200)]);
        await r.close();
        await polled;
      }
      await snapshots(1);
      const sessions = await pool(kiosks, 32, (k) => subject.protocol.receiver(c, k));
      const held = sessions.map((r) => r.poll(50).catch(() => undefined));
      while (Object.values(c.agent.requests).some((q) => (q?.length ?? 0) > 0)) await sleep(10);
      await sleep(3000);
      const files = await snapshots(2);
      console.log(`snapshots in ${heapDir}: ${files.join(', ')} (idle, then ${heapPolls} held polls)`);
      console.log(`node dist/bench/heapsnapshot.js ${heapDir}/${files[1]} ${heapDir}/${files[0]} auto`);
      c.close();
      await Promise.all(held);
      return;
    }
    const acc = await subject.accounts(
      p,
      Array.from({ length: 550 }, (_, i) => i + 2),
    );
    const receivers = acc.slice(0, 500),
      senders = acc.slice(500);
    await subject.protocol.prepare(p, receivers);
    if (process.env.PROBE_WARM)
      await w1(p, subject.protocol, receivers, senders, { durationMs: 3000, drainMs: 5000, holdS: 20, tag: 'warm', bodyChars: 60 });
    const trace: [number, number][] = [];
    const rate = Number(rateArg);
    let cpu0 = 0,
      cpuUsed = 0;
    const window = { open: () => void (cpu0 = cpuSeconds(p.pid)), close: () => void (cpuUsed = cpuSeconds(p.pid) - cpu0) };
    const r = await w1(p, subject.protocol, receivers, senders, {
      durationMs: Number(secondsArg) * 1000,
      drainMs: 5000,
      holdS: 20,
      tag: 'probe',
      bodyChars: 60,
      trace,
      window,
      ...(rate > 0 ? { rate } : {}),
    });
    const perMsg = (cpuUsed / (r.deliveredPerS * r.durationS)) * 1e6;
    console.log(
      `${which}: ${r.deliveredPerS.toFixed(0)} msg/s, server CPU ${perMsg.toFixed(0)} µs per message, latency p50 ${r.latency.p50.toFixed(2)} p99 ${r.latency.p99.toFixed(1)} max ${r.latency.max.toFixed(1)} ms, lost ${r.lost}; generator lag p99 ${r.generatorLagMs.p99.toFixed(1)} max ${r.generatorLagMs.max.toFixed(1)} ms`,
    );
    // Slow deliveries (over 10x the median), grouped by the 100 ms slice in which they were sent.
    const slow = new Map<number, { n: number; worst: number }>();
    for (const [t, l] of trace) {
      if (l < r.latency.p50 * 10) continue;
      const k = Math.floor(t / 100) * 100;
      const e = slow.get(k) ?? { n: 0, worst: 0 };
      e.n++;
      e.worst = Math.max(e.worst, l);
      slow.set(k, e);
    }
    for (const [k, e] of [...slow].sort((a, b) => a[0] - b[0]))
      console.log(`  sent at ${k} ms: ${e.n} slow, worst ${e.worst.toFixed(0)} ms`);
  } finally {
    await p.stop();
    if (process.env.PROBE_OUTPUT) console.log(p.output().trim());
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
void main();
