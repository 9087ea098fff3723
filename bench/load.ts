// The workloads. Each speaks to a server only through its protocol (protocols.ts: our contract
// for our server and the ceiling, Engine.IO/Socket.IO and Bayeux for the peers), so the same
// code drives and checks every server; each is bounded in count and in time.
// Over 400 lines on purpose (#12): the three workloads share the tally, open and result shapes run.ts reads.
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { sleep } from '../test/support/util.js';
import { Client, type Endpoint, pool, summarize, type Summary } from './client.js';
import { type Account, type Message, pollPath, type Protocol, type Receiver, type Sender } from './protocols.js';

export type { Account } from './protocols.js';
export { refreshCursors } from './protocols.js';

interface PollBody {
  cursor: string;
  events: { type: string; message?: Message }[];
}

function tally(map: Record<string, number>, key: string | number): void {
  map[key] = (map[key] ?? 0) + 1;
}

/** Opens sessions a few at a time (the peers' handshakes), outside any measured window. */
const open = <T>(accounts: Account[], fn: (a: Account) => Promise<T>) => pool(accounts, 32, fn);

// ---------------------------------------------------------------------------------------------
// W1: 1:1 messaging. Receivers each hold one poll and re-poll at once after every answer;
// senders send to random receivers, either in a closed loop (saturation) or at a fixed rate.

export interface W1Options {
  durationMs: number;
  /** After the senders stop, how long to wait for the last deliveries. */
  drainMs: number;
  holdS: number;
  /** Open loop at this many messages/s; absent: closed loop, one send in flight per sender. */
  rate?: number;
  /** Marks this phase's bodies so an earlier phase's late message is told apart. */
  tag: string;
  /** Filler to make a body the size of a chat line. */
  bodyChars: number;
  /** Called when the measured window opens and closes (for server CPU sampling). */
  window?: { open(): void; close(): void };
  /** When given, gets [ms since the window opened at send, send→delivery ms] per delivery. */
  trace?: [number, number][];
}

export interface W1Result {
  mode: 'closed' | 'open';
  targetRate: number | null;
  rounds: number;
  durationS: number;
  /** Delivered msg/s of each round, to show the spread. */
  perRound: number[];
  /** p99 send→delivery latency of each round. */
  perRoundP99: number[];
  attempted: number;
  acked: number;
  /** Deliveries whose poll answer arrived inside the window, per second. */
  deliveredPerS: number;
  ackedPerS: number;
  latency: Summary;
  sendLatency: Summary;
  lost: number;
  duplicated: number;
  misrouted: number;
  outOfOrder: number;
  /** Delivered though the send was not acknowledged (an error or time-out at the client). */
  deliveredUnacked: number;
  /** Messages from an earlier phase, or not ours at all. */
  strays: number;
  /** Open loop only: sends not started because too many were already in flight. */
  skipped: number;
  sendErrors: Record<string, number>;
  pollErrors: Record<string, number>;
  /** The generator's own event-loop delay in the window, ms: high values make latencies suspect. */
  generatorLagMs: { p99: number; max: number };
}

/** One round, with its raw latencies so rounds can be merged. */
export interface W1Round extends W1Result {
  rawLatency: number[];
  rawSendLatency: number[];
}

/** Merges rounds of the same workload: rates averaged over the total time, latencies pooled. */
export function mergeRounds(rounds: W1Round[]): W1Result {
  const sum = (f: (r: W1Round) => number) => rounds.reduce((a, r) => a + f(r), 0);
  const merge = (f: (r: W1Round) => Record<string, number>) => {
    const out: Record<string, number> = {};
    for (const r of rounds) for (const [k, v] of Object.entries(f(r))) out[k] = (out[k] ?? 0) + v;
    return out;
  };
  const durationS = sum((r) => r.durationS);
  const first = rounds[0];
  if (!first) throw new Error('no rounds to merge');
  return {
    mode: first.mode,
    targetRate: first.targetRate,
    rounds: rounds.length,
    durationS,
    perRound: rounds.map((r) => r.deliveredPerS),
    perRoundP99: rounds.map((r) => r.latency.p99),
    attempted: sum((r) => r.attempted),
    acked: sum((r) => r.acked),
    deliveredPerS: sum((r) => r.deliveredPerS * r.durationS) / durationS,
    ackedPerS: sum((r) => r.ackedPerS * r.durationS) / durationS,
    latency: summarize(rounds.flatMap((r) => r.rawLatency)),
    sendLatency: summarize(rounds.flatMap((r) => r.rawSendLatency)),
    lost: sum((r) => r.lost),
    duplicated: sum((r) => r.duplicated),
    misrouted: sum((r) => r.misrouted),
    outOfOrder: sum((r) => r.outOfOrder),
    deliveredUnacked: sum((r) => r.deliveredUnacked),
    strays: sum((r) => r.strays),
    skipped: sum((r) => r.skipped),
    sendErrors: merge((r) => r.sendErrors),
    pollErrors: merge((r) => r.pollErrors),
    generatorLagMs: {
      p99: Math.max(...rounds.map((r) => r.generatorLagMs.p99)),
      max: Math.max(...rounds.map((r) => r.generatorLagMs.max)),
    },
  };
}

interface Expected {
  to: number;
  t0: number;
  acked: boolean;
  deliveredAt: number;
}

export async function w1(ep: Endpoint, protocol: Protocol, receivers: Account[], senders: Account[], o: W1Options): Promise<W1Round> {
  // Receivers' polls, and senders' too where acknowledgements come back on a poll (Socket.IO).
  const polls = new Client(ep, receivers.length + senders.length + 8);
  const sends = new Client(ep, o.rate === undefined ? senders.length : 64);
  const expected = new Map<number, Expected>();
  const latencies: number[] = [];
  const sendLatencies: number[] = [];
  const sendErrors: Record<string, number> = {};
  const pollErrors: Record<string, number> = {};
  let seq = 0,
    acked = 0,
    deliveredAcked = 0,
    deliveredInWindow = 0,
    ackedInWindow = 0;
  let misrouted = 0,
    duplicated = 0,
    outOfOrder = 0,
    strays = 0,
    skipped = 0;
  let stopping = false;
  let windowEnd = Infinity;
  const pad = 'x'.repeat(o.bodyChars);

  async function receive(idx: number): Promise<void> {
    const me = receivers[idx] as Account;
    const session = rx[idx] as Receiver;
    let lastId = -Infinity;
    while (!stopping) {
      let rep;
      try {
        rep = await session.poll(o.holdS);
      } catch (e) {
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- set by another task while this one awaits
        if (stopping) break;
        tally(pollErrors, (e as NodeJS.ErrnoException).code ?? 'network');
        await sleep(50);
        continue;
      }
      const now = performance.now();
      for (const m of rep.messages) {
        // Receivers never send, so every message in their stream must be addressed to them.
        if (m.to !== me.username) {
          misrouted++;
          continue;
        }
        if (m.id <= lastId) outOfOrder++;
        lastId = m.id;
        const parts = m.body.split('|');
        const e = parts[0] === o.tag ? expected.get(Number(parts[1])) : undefined;
        if (!e) {
          strays++;
          continue;
        }
        if (e.to !== idx) {
          misrouted++;
          continue;
        }
        if (e.deliveredAt >= 0) {
          duplicated++;
          continue;
        }
        e.deliveredAt = now;
        latencies.push(now - e.t0);
        o.trace?.push([e.t0 - windowEnd + o.durationMs, now - e.t0]);
        if (now <= windowEnd) deliveredInWindow++;
        if (e.acked) deliveredAcked++;
      }
      if (rep.error !== null) {
        // At the end the sessions are closed under a poll: not an error.
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- set by another task while this one awaits
        if (stopping) break;
        tally(pollErrors, rep.error);
        await sleep(50);
      }
    }
  }

  async function sendOne(from: Sender, t0: number): Promise<void> {
    const to = Math.floor(Math.random() * receivers.length);
    const key = seq++;
    const e: Expected = { to, t0, acked: false, deliveredAt: -1 };
    expected.set(key, e);
    try {
      const rep = await from.send((receivers[to] as Account).username, `${o.tag}|${key}|${pad}`);
      const now = performance.now();
      if (rep.error === null) {
        e.acked = true;
        acked++;
        if (now <= windowEnd) ackedInWindow++;
        if (e.deliveredAt >= 0) deliveredAcked++;
        sendLatencies.push(now - t0);
      } else tally(sendErrors, rep.error);
    } catch (err) {
      tally(sendErrors, (err as NodeJS.ErrnoException).code ?? 'network');
    }
  }

  // Every session opened before anything is timed (our contract: nothing to open).
  const rx = await open(receivers, (a) => protocol.receiver(polls, a));
  const tx = await open(senders, (a) => protocol.sender(polls, sends, a));
  const receiving = receivers.map((_, i) => receive(i));
  // Let every receiver park its first poll before the clock starts.
  await sleep(500);
  o.window?.open();
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  const start = performance.now();
  windowEnd = start + o.durationMs;
  const inFlight = new Set<Promise<void>>();
  if (o.rate === undefined) {
    await Promise.all(
      tx.map(async (s) => {
        while (performance.now() < windowEnd) await sendOne(s, performance.now());
      }),
    );
  } else {
    // Open loop: each send is due at start + i/rate and its latency counts from then, so a slow
    // server cannot slow the arrivals down and hide its own queueing (coordinated omission).
    const interval = 1000 / o.rate;
    const cap = 2000;
    let i = 0;
    for (;;) {
      const now = performance.now();
      if (now >= windowEnd) break;
      const due = Math.floor((now - start) / interval) + 1;
      for (; i < due; i++) {
        if (inFlight.size >= cap) {
          skipped++;
          continue;
        }
        const p: Promise<void> = sendOne(tx[i % tx.length] as Sender, start + i * interval).finally(() => inFlight.delete(p));
        inFlight.add(p);
      }
      await sleep(1);
    }
    await Promise.all(inFlight);
  }
  const sendsDone = performance.now();
  lag.disable();
  o.window?.close();
  const drainUntil = sendsDone + o.drainMs;
  while (deliveredAcked < acked && performance.now() < drainUntil) await sleep(20);
  stopping = true;
  // Sessions end as clients leaving end them (the peers answer the held polls), then whatever
  // is still held is aborted.
  await pool([...rx, ...tx], 32, (s) => s.close().catch(() => undefined));
  polls.close();
  sends.close();
  await Promise.all(receiving);

  let lost = 0,
    deliveredUnacked = 0;
  for (const e of expected.values()) {
    if (e.acked && e.deliveredAt < 0) lost++;
    if (!e.acked && e.deliveredAt >= 0) deliveredUnacked++;
  }
  const durationS = o.durationMs / 1000;
  return {
    mode: o.rate === undefined ? 'closed' : 'open',
    targetRate: o.rate ?? null,
    rounds: 1,
    durationS,
    perRound: [deliveredInWindow / durationS],
    perRoundP99: [summarize(latencies).p99],
    attempted: expected.size,
    acked,
    deliveredPerS: deliveredInWindow / durationS,
    ackedPerS: ackedInWindow / durationS,
    latency: summarize(latencies),
    sendLatency: summarize(sendLatencies),
    lost,
    duplicated,
    misrouted,
    outOfOrder,
    deliveredUnacked,
    strays,
    skipped,
    sendErrors,
    pollErrors,
    generatorLagMs: { p99: lag.percentile(99) / 1e6, max: lag.max / 1e6 },
    rawLatency: latencies,
    rawSendLatency: sendLatencies,
  };
}

// ---------------------------------------------------------------------------------------------
// W3: capacity. Many idle polls held at once; the server's RSS before and while they are held.

export interface W3Options {
  polls: number;
  holdS: number;
  /** How many polls to open per step, and the pause between steps (the listen backlog is finite). */
  batch: number;
  batchPauseMs: number;
  /** Time for the server to park the last requests before memory is read. */
  settleMs: number;
  /** Resolves once the server has been idle for windowMs (it has parsed and parked every request). */
  idle: (windowMs: number) => Promise<void>;
  /** Full GC in the server, then its memory. */
  memory: () => Promise<{ rssKiB: number; heapUsedKiB: number }>;
  /**
   * Seconds after the first reading to read memory again, the polls still held (0: no second
   * reading). V8 gives back on its own what the burst of requests made it reserve (a young
   * generation grown to its maximum, pages left by garbage) once the process has been idle for
   * a while (its memory reducer: 10 to 20 s here, for both servers); the second reading is
   * what holding the polls costs for as long as they are held.
   */
  settledAfterS: number;
}

export interface W3Result {
  polls: number;
  /** After a full GC in the server, before the polls and while they are held. */
  rssBeforeKiB: number;
  rssHeldKiB: number;
  kibPerPoll: number;
  heapBeforeKiB: number;
  heapHeldKiB: number;
  heapKibPerPoll: number;
  /** The second reading (see W3Options.settledAfterS); the first one again when there was none. */
  rssSettledKiB: number;
  kibPerPollSettled: number;
  heapKibPerPollSettled: number;
  settledAfterS: number;
  /**
   * Answered as held polls are (ours: 200 with no events), after being held: for about holdS, or
   * where only data ends a held poll (Socket.IO), until the generator closed the session.
   */
  heldAndAnswered: number;
  answeredEarly: number;
  errors: Record<string, number>;
  /** Seconds to open the sessions (the peers), then from the first poll to the last one written. */
  sessionsS: number;
  rampS: number;
  /** True when memory was read before the first poll was answered: all were held at once. */
  allHeldAtOnce: boolean;
}

export async function w3(ep: Endpoint, protocol: Protocol, accounts: Account[], o: W3Options): Promise<W3Result> {
  const client = new Client(ep, o.polls + 16);
  const errors: Record<string, number> = {};
  let heldAndAnswered = 0,
    answeredEarly = 0,
    firstAnswer = Infinity,
    lettingGo = Infinity;
  const before = await o.memory();
  const t0 = performance.now();
  // The peers' sessions first, all of them (Socket.IO: handshake, connect and its answer; Faye:
  // handshake and subscribe; our contract: none), so that the polls below go in as quickly as
  // ours do and are all held when memory is read. Batched like the polls, for the same reason.
  const sessions: Receiver[] = [];
  for (let from = 0; from < o.polls; from += o.batch) {
    const batch = Array.from({ length: Math.min(o.batch, o.polls - from) }, (_, k) => accounts[(from + k) % accounts.length] as Account);
    sessions.push(...(await pool(batch, 64, (a) => protocol.receiver(client, a))));
    if (protocol.sessions) await o.idle(100);
  }
  const t1 = performance.now();
  const answers: Promise<void>[] = [];
  for (let i = 0; i < sessions.length; i++) {
    const started = performance.now();
    // Where a failed poll got to, to tell a server that never answered from a connection
    // that never got through (a full listen backlog drops SYNs, and the client retries slowly).
    let stage = 'queued';
    const track = (req: import('node:http').ClientRequest) => {
      req.once('socket', (sock) => {
        stage = 'connecting';
        if (!sock.connecting) stage = 'connected';
        else sock.once('connect', () => (stage = 'connected'));
      });
      req.once('finish', () => (stage = 'written'));
    };
    answers.push(
      (sessions[i] as Receiver).poll(o.holdS, track).then(
        (rep) => {
          const now = performance.now();
          firstAnswer = Math.min(firstAnswer, now);
          if (rep.error !== null) tally(errors, rep.error);
          else if (rep.messages.length + rep.other !== 0) tally(errors, 'unexpected_events');
          else if (protocol.holdPerRequest ? now - started >= o.holdS * 900 : now >= lettingGo) heldAndAnswered++;
          else answeredEarly++;
        },
        (err: unknown) => {
          const e = err as NodeJS.ErrnoException;
          tally(errors, `${e.code ?? e.message.replace(/^\S+ \S+: /, '').slice(0, 40)} (${stage})`);
        },
      ),
    );
    // Next batch once the server has taken this one in: a starved server (other jobs on its
    // core) would otherwise overflow its listen backlog, the kernel drops SYNs and clients
    // back off for seconds, which looks like polls that are never answered.
    if ((i + 1) % o.batch === 0) {
      await sleep(o.batchPauseMs);
      await o.idle(100);
    }
  }
  // Requests are queued in the agent until their socket connects: wait until all are written.
  while (Object.values(client.agent.requests).some((q) => (q?.length ?? 0) > 0)) await sleep(10);
  const written = performance.now();
  await sleep(o.settleMs);
  await o.idle(300);
  const held = await o.memory();
  let settled = held;
  if (o.settledAfterS > 0) {
    await sleep(o.settledAfterS * 1000);
    settled = await o.memory();
  }
  const measured = performance.now();
  // Where nothing but data ends a held poll (Socket.IO: its ping interval is set beyond W3), the
  // generator lets go of it now: closing the session answers it. Elsewhere the hold ends it.
  const close = () => pool(sessions, 64, (s) => s.close().catch(() => undefined));
  if (!protocol.holdPerRequest) {
    lettingGo = measured;
    await close();
  }
  await Promise.all(answers);
  if (protocol.holdPerRequest) await close();
  client.close();
  return {
    polls: o.polls,
    rssBeforeKiB: before.rssKiB,
    rssHeldKiB: held.rssKiB,
    kibPerPoll: (held.rssKiB - before.rssKiB) / o.polls,
    heapBeforeKiB: before.heapUsedKiB,
    heapHeldKiB: held.heapUsedKiB,
    heapKibPerPoll: (held.heapUsedKiB - before.heapUsedKiB) / o.polls,
    rssSettledKiB: settled.rssKiB,
    kibPerPollSettled: (settled.rssKiB - before.rssKiB) / o.polls,
    heapKibPerPollSettled: (settled.heapUsedKiB - before.heapUsedKiB) / o.polls,
    settledAfterS: o.settledAfterS,
    heldAndAnswered,
    answeredEarly,
    errors,
    sessionsS: (t1 - t0) / 1000,
    rampS: (written - t1) / 1000,
    allHeldAtOnce: measured < firstAnswer,
  };
}

// ---------------------------------------------------------------------------------------------
// W4: size. One request at a time (no queueing), so the numbers are the cost of each call:
// a send, the poll that fetches it, and the newest page of the conversation's history.

export interface W4Result {
  iterations: number;
  send: Summary;
  poll: Summary;
  history: Summary;
  errors: Record<string, number>;
}

export async function w4(ep: Endpoint, a: Account, b: Account, iterations: number, warmup: number): Promise<W4Result> {
  const client = new Client(ep, 2);
  const errors: Record<string, number> = {};
  const send: number[] = [],
    poll: number[] = [],
    history: number[] = [];
  for (let i = 0; i < warmup + iterations; i++) {
    const keep = i >= warmup;
    let t = performance.now();
    const s = await client.request('POST', '/messages', a.token, { to: b.username, body: `w4 probe ${i}` });
    if (keep) send.push(performance.now() - t);
    if (s.status !== 201) {
      tally(errors, `send ${s.status}`);
      continue;
    }
    const id = (s.body as { message: Message }).message.id;
    t = performance.now();
    const p = await client.request('GET', pollPath(b.cursor, 0), b.token);
    if (keep) poll.push(performance.now() - t);
    const pb = p.body as PollBody;
    if (p.status !== 200 || pb.events.at(-1)?.message?.id !== id) tally(errors, `poll ${p.status}`);
    else b.cursor = pb.cursor;
    t = performance.now();
    const h = await client.request('GET', `/messages?with=${encodeURIComponent(b.username)}&limit=50`, a.token);
    if (keep) history.push(performance.now() - t);
    const hb = h.body as { messages: Message[] };
    if (h.status !== 200 || hb.messages.at(-1)?.id !== id || hb.messages.length > 50) {
      tally(errors, `history ${h.status}`);
    }
  }
  client.close();
  return { iterations, send: summarize(send), poll: summarize(poll), history: summarize(history), errors };
}
