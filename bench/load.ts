// The workloads. Each speaks only the public contract (POST /messages, GET /poll, GET /messages),
// so the same code drives our server and the ceiling; each is bounded in count and in time.
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { Client, type Endpoint, pool, sleep, summarize, type Summary } from './client.js';

export interface Account {
  username: string;
  token: string;
  /** The stream position to poll from; carried from one phase to the next. */
  cursor: string;
}

interface Message {
  id: number;
  from: string;
  to: string;
  body: string;
}
interface PollBody {
  cursor: string;
  events: { type: string; message?: Message }[];
}

function tally(map: Record<string, number>, key: string | number): void {
  map[key] = (map[key] ?? 0) + 1;
}

// An empty cursor leaves `since` out: the server starts from the device's stored cursor.
const pollPath = (cursor: string, timeoutS: number) =>
  cursor === '' ? `/poll?timeout=${timeoutS}` : `/poll?since=${encodeURIComponent(cursor)}&timeout=${timeoutS}`;

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

export async function w1(ep: Endpoint, receivers: Account[], senders: Account[], o: W1Options): Promise<W1Round> {
  const polls = new Client(ep, receivers.length + 8);
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
    let lastId = -Infinity;
    while (!stopping) {
      let rep;
      try {
        rep = await polls.request('GET', pollPath(me.cursor, o.holdS), me.token, undefined, (o.holdS + 15) * 1000);
      } catch (e) {
        if (stopping) break;
        tally(pollErrors, (e as NodeJS.ErrnoException).code ?? 'network');
        await sleep(50);
        continue;
      }
      const now = performance.now();
      if (rep.status !== 200) {
        tally(pollErrors, rep.status);
        await sleep(50);
        continue;
      }
      const body = rep.body as PollBody;
      me.cursor = body.cursor;
      for (const ev of body.events) {
        const m = ev.message;
        if (ev.type !== 'message' || !m) continue;
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
    }
  }

  async function sendOne(from: Account, t0: number): Promise<void> {
    const to = Math.floor(Math.random() * receivers.length);
    const key = seq++;
    const e: Expected = { to, t0, acked: false, deliveredAt: -1 };
    expected.set(key, e);
    try {
      const rep = await sends.request('POST', '/messages', from.token, {
        to: (receivers[to] as Account).username,
        body: `${o.tag}|${key}|${pad}`,
      });
      const now = performance.now();
      if (rep.status === 201) {
        e.acked = true;
        acked++;
        if (now <= windowEnd) ackedInWindow++;
        if (e.deliveredAt >= 0) deliveredAcked++;
        sendLatencies.push(now - t0);
      } else tally(sendErrors, rep.status);
    } catch (err) {
      tally(sendErrors, (err as NodeJS.ErrnoException).code ?? 'network');
    }
  }

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
      senders.map(async (s) => {
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
        const p: Promise<void> = sendOne(senders[i % senders.length] as Account, start + i * interval).finally(() => inFlight.delete(p));
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
  /** Answered 200 with no events after being held (close to holdS). */
  heldAndAnswered: number;
  answeredEarly: number;
  errors: Record<string, number>;
  /** Seconds from the first request to the last one written. */
  rampS: number;
  /** True when memory was read before the first poll was answered: all were held at once. */
  allHeldAtOnce: boolean;
}

export async function w3(ep: Endpoint, accounts: Account[], o: W3Options): Promise<W3Result> {
  const client = new Client(ep, o.polls + 16);
  const errors: Record<string, number> = {};
  let heldAndAnswered = 0,
    answeredEarly = 0,
    firstAnswer = Infinity;
  const before = await o.memory();
  const t0 = performance.now();
  const answers: Promise<void>[] = [];
  for (let i = 0; i < o.polls; i++) {
    const a = accounts[i % accounts.length] as Account;
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
      client.request('GET', pollPath(a.cursor, o.holdS), a.token, undefined, (o.holdS + 30) * 1000, track).then(
        (rep) => {
          const now = performance.now();
          firstAnswer = Math.min(firstAnswer, now);
          const body = rep.body as PollBody;
          if (rep.status !== 200) tally(errors, rep.status);
          else if (body.events.length !== 0) tally(errors, 'unexpected_events');
          else if (now - started >= o.holdS * 900) heldAndAnswered++;
          else answeredEarly++;
        },
        (e: NodeJS.ErrnoException) => tally(errors, `${e.code ?? e.message.replace(/^GET \S+: /, '').slice(0, 40)} (${stage})`),
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
  while (client.agent.requests && Object.values(client.agent.requests).some((q) => (q?.length ?? 0) > 0)) await sleep(10);
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
  await Promise.all(answers);
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
    rampS: (written - t0) / 1000,
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

/** Asks for the head of each account's stream (poll with timeout=0), a few at a time. */
export async function refreshCursors(ep: Endpoint, accounts: Account[]): Promise<void> {
  const client = new Client(ep, 16);
  await pool(accounts, 16, async (a) => {
    let rep = await client.request('GET', pollPath(a.cursor, 0), a.token);
    // Walk forward until the stream is drained (a no-op on a fresh account).
    while (rep.status === 200 && (rep.body as PollBody).events.length > 0) {
      a.cursor = (rep.body as PollBody).cursor;
      rep = await client.request('GET', pollPath(a.cursor, 0), a.token);
    }
    if (rep.status !== 200) throw new Error(`poll for ${a.username}: ${rep.status} ${JSON.stringify(rep.body)}`);
    a.cursor = (rep.body as PollBody).cursor;
  });
  client.close();
}
