// Shared tools for the fault tests (issue #6): raw sockets, reading a whole stream or history,
// metrics and memory of a running server, and a report line for what each test did and found.
import fs from 'node:fs';
import net from 'node:net';
import { call } from '../support/client';
import { sleep } from '../support/util';
import type { MessageView } from '../../src/views';

/**
 * Multiplies the sizes of the fault tests (rounds, clients, messages). 1 in CI; raise it by
 * hand for a longer run: `FAULTS_SCALE=4 npm run test:faults`.
 */
export const SCALE = Math.max(1, Number(process.env.FAULTS_SCALE) || 1);

/** One line of what a fault test did and found, indented under mocha's test title. */
export function report(line: string): void {
  console.log(`      ${line}`);
}

/** Resident memory of a process in MiB, from /proc (Linux). */
export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m || m[1] === undefined) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) / 1024;
}

/** Open file descriptors of a process (sockets included), from /proc (Linux). */
export function openFds(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

/** Scrapes /metrics into "name{labels}" -> value. */
export async function metrics(url: string): Promise<Map<string, number>> {
  const res = await fetch(`${url}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  const out = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

/** Polls /metrics until `pred` holds or the deadline passes; returns the last scrape. */
export async function waitMetrics(url: string, pred: (m: Map<string, number>) => boolean, timeoutMs: number): Promise<Map<string, number>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = await metrics(url);
    if (pred(m) || Date.now() > deadline) return m;
    await sleep(50);
  }
}

/** A message as it is on the wire: the server's own view type. */
export type WireMessage = MessageView;

export type WireEvent = { type: 'message'; message: WireMessage } | { type: 'read'; with: string; up_to: number };

/** Every event of the caller's stream after `since`, read with timeout=0 polls. */
export async function readStream(url: string, token: string, since = '0'): Promise<{ events: WireEvent[]; cursor: string }> {
  const events: WireEvent[] = [];
  let cursor = since;
  for (;;) {
    const r = await call(url, 'GET', `/poll?since=${encodeURIComponent(cursor)}&timeout=0&limit=1000`, { token });
    if (r.status !== 200) throw new Error(`poll answered ${r.status} ${r.text}`);
    events.push(...(r.body.events as WireEvent[]));
    if (r.body.events.length === 0) return { events, cursor };
    cursor = r.body.cursor;
  }
}

/** The whole conversation of the caller with `peer`, oldest first, paged with after=. */
export async function readHistory(url: string, token: string, peer: string): Promise<WireMessage[]> {
  const out: WireMessage[] = [];
  let after = 0;
  for (;;) {
    const r = await call(url, 'GET', `/messages?with=${encodeURIComponent(peer)}&after=${after}&limit=200`, { token });
    if (r.status !== 200) throw new Error(`history answered ${r.status} ${r.text}`);
    const page = r.body.messages as WireMessage[];
    out.push(...page);
    if (!r.body.has_more || page.length === 0) return out;
    after = page[page.length - 1]!.id;
  }
}

export interface RawResult {
  /** Everything the server sent. */
  data: string;
  /** Milliseconds from connect to the first byte received (undefined: none came). */
  firstByteMs?: number;
  /** Milliseconds from connect until the connection closed. */
  closedMs: number;
  /** Bytes of the body this client managed to write. */
  sent: number;
}

export interface RawOptions {
  /** After the head, write this many body bytes, one every `trickleMs`. */
  trickle?: number;
  trickleMs?: number;
  /** After the head, write this many bytes of chunked body as fast as the server takes them. */
  chunked?: number;
  /** Give up (destroy the socket ourselves) after this long. */
  maxMs: number;
}

/** A request written byte-exact on a fresh socket, for what an HTTP client library will not send. */
export function rawRequest(port: number, head: string, opts: RawOptions): Promise<RawResult> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const chunks: Buffer[] = [];
    let firstByteMs: number | undefined;
    let sent = 0;
    const sock = net.connect(port, '127.0.0.1', () => {
      void (async () => {
        sock.write(head);
        if (opts.chunked) {
          const payload = Buffer.alloc(64 * 1024, 'a');
          const frame = Buffer.concat([Buffer.from(`${payload.length.toString(16)}\r\n`), payload, Buffer.from('\r\n')]);
          while (!sock.destroyed && sent < opts.chunked && firstByteMs === undefined) {
            const ok = sock.write(frame);
            sent += payload.length;
            if (!ok)
              await new Promise<void>((r) => {
                sock.once('drain', r);
                sock.once('close', r);
                setTimeout(r, 500);
              });
          }
        }
        for (let i = 0; i < (opts.trickle ?? 0) && !sock.destroyed; i++) {
          sock.write('a');
          sent++;
          await sleep(opts.trickleMs ?? 200);
        }
      })();
    });
    sock.on('data', (d: Buffer) => {
      firstByteMs ??= Date.now() - t0;
      chunks.push(d);
    });
    sock.on('error', () => undefined);
    const giveUp = setTimeout(() => sock.destroy(), opts.maxMs);
    sock.on('close', () => {
      clearTimeout(giveUp);
      resolve({ data: Buffer.concat(chunks).toString('latin1'), firstByteMs, closedMs: Date.now() - t0, sent });
    });
  });
}

/** The status code of the first HTTP answer in raw bytes, or 0. */
export function rawStatus(data: string): number {
  const m = /^HTTP\/1\.1 (\d{3}) /.exec(data);
  return m ? Number(m[1]) : 0;
}

/** The body of the first HTTP answer in raw bytes (with Content-Length), parsed as JSON. */
export function rawJson(data: string): unknown {
  const i = data.indexOf('\r\n\r\n');
  const len = /\r\ncontent-length: (\d+)/i.exec(data.slice(0, i));
  if (i < 0 || !len) return undefined;
  return JSON.parse(
    Buffer.from(data.slice(i + 4), 'latin1')
      .subarray(0, Number(len[1]))
      .toString('utf8'),
  );
}

/** Opens a socket and resolves once connected (or with null if the connection failed). */
export function connect(port: number): Promise<net.Socket | null> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', () => resolve(null));
  });
}

/** Resolves true if the socket is closed (by either side) within `ms`. */
export function closedWithin(s: net.Socket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (s.destroyed || s.closed) return resolve(true);
    const t = setTimeout(() => resolve(false), ms);
    s.once('close', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}
