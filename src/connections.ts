// Guards at the TCP level, below Koa:
// - a bound on open connections per client address (an IPv6 client: per /64, see address.ts);
// - a deadline for a connection's first request. Node's headersTimeout only starts once a
//   request has begun, so a client that connects and sends nothing at all would otherwise hold
//   a socket (and a file descriptor) forever; a few thousand would crowd out real held polls;
// - a deadline for reading answers. A client that asks for answers and never reads them would
//   make the server keep every byte it could not hand to the kernel; a connection whose unsent
//   bytes have not gone down for `sendTimeoutMs` is closed. A slow reader still makes progress
//   and is left alone.
import type http from 'node:http';
import type { Socket } from 'node:net';
import { addressKey } from './address';

export interface ConnectionGuardOptions {
  /** Open connections allowed per remote address; 0 = no limit (behind a trusted proxy). */
  maxPerAddress: number;
  /** Milliseconds a new connection has to deliver its first request. */
  firstRequestMs: number;
  /** Milliseconds an answer may sit unsent without any of it being taken by the client. */
  sendTimeoutMs: number;
}

/** How often connections are checked for stalled answers. */
const STALL_CHECK_MS = 1000;

export interface ConnectionGuard {
  /** Open connections now, counted for this address (its /64 for IPv6; for tests and metrics). */
  open(address: string): number;
  readonly refused: number;
  /** Connections closed because their client stopped reading. */
  readonly stalled: number;
  /** Open connections now, in all. */
  readonly connections: number;
  stop(): void;
}

/** The connections open from one address (its /64 for IPv6): one object, shared by its sockets. */
interface Opened {
  key: string;
  count: number;
}

export function guardConnections(server: http.Server, opts: ConnectionGuardOptions): ConnectionGuard {
  const perAddress = new Map<string, Opened>();
  const firstRequestTimers = new WeakMap<Socket, NodeJS.Timeout>();
  let refused = 0;
  let stalled = 0;
  /** Every open connection, with its address's count. */
  const sockets = new Map<Socket, Opened>();
  const unsent = new Map<Socket, { queued: number; inKernelQueue: number; since: number }>();
  const stallCheck = setInterval(() => {
    const now = Date.now();
    for (const socket of sockets.keys()) {
      // writableLength counts a write until all of it is out, so one large answer shows no
      // progress there; libuv's writeQueueSize goes down as the kernel takes it piece by piece.
      const queued = socket.writableLength;
      const inKernelQueue = (socket as unknown as { _handle?: { writeQueueSize?: number } })._handle?.writeQueueSize ?? queued;
      const seen = unsent.get(socket);
      if (queued === 0) {
        if (seen) unsent.delete(socket);
      } else if (!seen || queued < seen.queued || inKernelQueue < seen.inKernelQueue) {
        unsent.set(socket, { queued, inKernelQueue, since: now }); // new, or the client took some
      } else if (now - seen.since >= opts.sendTimeoutMs) {
        stalled++;
        socket.destroy();
      }
    }
  }, STALL_CHECK_MS);
  stallCheck.unref();

  // One listener for every connection (it finds the socket as `this`): every held poll has a
  // connection, and a closure per connection would be kept as long as the poll.
  function onSocketClose(this: Socket): void {
    // Looked up, not captured: a timer cleared by the first request is then garbage, not
    // kept for the life of the connection (a held poll's connection lives long).
    const pending = firstRequestTimers.get(this);
    if (pending) clearTimeout(pending);
    // The address as counted when it connected: once closed, the socket no longer has one.
    const opened = sockets.get(this);
    sockets.delete(this);
    unsent.delete(this);
    if (opened && --opened.count === 0) perAddress.delete(opened.key);
  }

  server.on('connection', (socket: Socket) => {
    const addr = addressKey(socket.remoteAddress ?? 'unknown');
    const opened = perAddress.get(addr) ?? { key: addr, count: 0 };
    if (opts.maxPerAddress > 0 && opened.count >= opts.maxPerAddress) {
      refused++;
      socket.destroy();
      return;
    }
    opened.count++;
    perAddress.set(addr, opened);
    sockets.set(socket, opened);
    const timer = setTimeout(() => socket.destroy(), opts.firstRequestMs);
    timer.unref();
    firstRequestTimers.set(socket, timer);
    socket.on('close', onSocketClose);
  });
  server.on('request', (req: http.IncomingMessage) => {
    const timer = firstRequestTimers.get(req.socket);
    if (timer) {
      clearTimeout(timer);
      firstRequestTimers.delete(req.socket);
    }
  });

  return {
    open: (address) => perAddress.get(addressKey(address))?.count ?? 0,
    get refused() {
      return refused;
    },
    get stalled() {
      return stalled;
    },
    get connections() {
      return sockets.size;
    },
    stop: () => clearInterval(stallCheck),
  };
}

type Listener = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/**
 * Requests a connection may have waiting behind one not yet answered. No current browser
 * pipelines, nor does nginx upstream, and a client gains nothing from queueing behind a held
 * poll, which may be answered 50 s later; each waiting request costs about 2 KB.
 */
export const MAX_PIPELINED = 8;

/**
 * Bytes of body the requests waiting on one connection may declare together (a chunked body
 * counts as over). Node reads a waiting request's body into memory as it parses it (up to
 * what one read brings, and all of it if the body is complete): 8 sends of 60 KB behind each
 * of 200 held polls grew the server by 40 to 60 MiB, 200 to 300 KiB a connection (a held poll
 * costs about 10 KiB).
 */
export const MAX_PIPELINED_BODY_BYTES = 16 * 1024;

/** The body a request says it has, in bytes (Infinity: chunked, its size unknown). */
function declaredBody(req: http.IncomingMessage): number {
  if (req.headers['transfer-encoding'] !== undefined) return Infinity;
  return Number(req.headers['content-length'] ?? 0) || 0;
}

/**
 * One request at a time per connection, and only a few waiting. Node's HTTP server starts
 * every request a client pipelines in one write at once, and each answer then waits in memory
 * until the ones before it are sent; a client that pipelines a hundred requests for large
 * answers and never reads would make the server build and hold them all (a gigabyte, measured
 * in test/faults). Here the next request of a connection starts only when the previous answer
 * has been handed to the socket, so a connection holds at most one answer, which SEND_TIMEOUT
 * then bounds in time. Requests on different connections are not affected, and the answers of
 * pipelined requests come back in order as HTTP/1.1 wants.
 *
 * Node already keeps the queue: a response that arrives while an earlier one on its connection
 * is unfinished gets no socket (`res.socket` is null) until that one has finished, and is then
 * given it with a 'socket' event. So only a pipelined request waits for that event; the usual
 * one starts at once and carries nothing for this (every held poll would keep it).
 *
 * But Node's parser keeps reading while they wait: it pauses a connection only when the
 * answers queued on it hold bytes, and these have not been started. One connection holding a
 * poll and pipelining 60 000 `GET /healthz` behind it grew the server by about 100 MiB (#13).
 * So a connection with more than MAX_PIPELINED requests waiting, or with waiting requests that
 * declare more than MAX_PIPELINED_BODY_BYTES of body, is closed at once, with what it was
 * answering (a held poll): pausing it instead would not do, as everything one read brings
 * (64 KiB, a couple of thousand small requests) is parsed before a pause takes effect.
 */
export function onePerConnection(handler: Listener): Listener {
  // Only connections that pipeline have an entry; a WeakMap, so a closed one leaves nothing.
  const waiting = new WeakMap<Socket, { requests: number; bodyBytes: number }>();
  return (req, res) => {
    if (res.socket) {
      handler(req, res);
      return;
    }
    const socket = req.socket;
    const w = waiting.get(socket) ?? { requests: 0, bodyBytes: 0 };
    waiting.set(socket, w);
    const body = declaredBody(req);
    w.requests++;
    w.bodyBytes += body;
    if (w.requests > MAX_PIPELINED || w.bodyBytes > MAX_PIPELINED_BODY_BYTES) {
      // The rest of what was read is still parsed into requests that come here; they find
      // the socket destroyed, start nothing and go with it.
      socket.destroy();
      return;
    }
    res.once('socket', () => {
      w.requests--;
      w.bodyBytes -= body;
      // Started on the next tick: the event comes from inside Node's hand-over, which flushes
      // the response after it, and an answer written before that flush would finish twice.
      process.nextTick(handler, req, res);
    });
  };
}
