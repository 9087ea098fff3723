// Guards at the TCP level, below Koa:
// - a bound on open connections per client address;
// - a deadline for a connection's first request. Node's headersTimeout only starts once a
//   request has begun, so a client that connects and sends nothing at all would otherwise hold
//   a socket (and a file descriptor) forever; a few thousand would crowd out real held polls;
// - a deadline for reading answers. A client that asks for answers and never reads them would
//   make the server keep every byte it could not hand to the kernel; a connection whose unsent
//   bytes have not gone down for `sendTimeoutMs` is closed. A slow reader still makes progress
//   and is left alone.
import type http from 'node:http';
import type { Socket } from 'node:net';

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
  /** Open connections now, per address (for tests and metrics). */
  open(address: string): number;
  readonly refused: number;
  /** Connections closed because their client stopped reading. */
  readonly stalled: number;
  stop(): void;
}

export function guardConnections(server: http.Server, opts: ConnectionGuardOptions): ConnectionGuard {
  const perAddress = new Map<string, number>();
  const firstRequestTimers = new WeakMap<Socket, NodeJS.Timeout>();
  let refused = 0;
  let stalled = 0;
  const sockets = new Set<Socket>();
  const unsent = new Map<Socket, { queued: number; inKernelQueue: number; since: number }>();
  const stallCheck = setInterval(() => {
    const now = Date.now();
    for (const socket of sockets) {
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

  server.on('connection', (socket: Socket) => {
    const addr = socket.remoteAddress ?? 'unknown';
    const n = (perAddress.get(addr) ?? 0) + 1;
    if (opts.maxPerAddress > 0 && n > opts.maxPerAddress) {
      refused++;
      socket.destroy();
      return;
    }
    perAddress.set(addr, n);
    sockets.add(socket);
    const timer = setTimeout(() => socket.destroy(), opts.firstRequestMs);
    timer.unref();
    firstRequestTimers.set(socket, timer);
    socket.on('close', () => {
      // Looked up, not captured: a timer cleared by the first request is then garbage, not
      // kept for the life of the connection (a held poll's connection lives long).
      const pending = firstRequestTimers.get(socket);
      if (pending) clearTimeout(pending);
      sockets.delete(socket);
      unsent.delete(socket);
      const left = (perAddress.get(addr) ?? 1) - 1;
      if (left > 0) perAddress.set(addr, left);
      else perAddress.delete(addr);
    });
  });
  server.on('request', (req: http.IncomingMessage) => {
    const timer = firstRequestTimers.get(req.socket);
    if (timer) {
      clearTimeout(timer);
      firstRequestTimers.delete(req.socket);
    }
  });

  return {
    open: (address) => perAddress.get(address) ?? 0,
    get refused() {
      return refused;
    },
    get stalled() {
      return stalled;
    },
    stop: () => clearInterval(stallCheck),
  };
}

type Listener = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/**
 * One request at a time per connection. Node's HTTP server starts every request a client
 * pipelines in one write at once, and each answer then waits in memory until the ones before
 * it are sent; a client that pipelines a hundred requests for large answers and never reads
 * would make the server build and hold them all (a gigabyte, measured in test/faults). Here
 * the next request of a connection starts only when the previous answer has been handed to the
 * socket ('finish'), so a connection holds at most one answer, which SEND_TIMEOUT then bounds
 * in time. Requests on different connections are not affected, and the answers of pipelined
 * requests come back in order as HTTP/1.1 wants.
 */
export function onePerConnection(handler: Listener): Listener {
  /** Per connection with a request under way: the requests waiting behind it. */
  const queues = new WeakMap<Socket, Array<[http.IncomingMessage, http.ServerResponse]>>();
  const NONE: Array<[http.IncomingMessage, http.ServerResponse]> = [];
  // Listeners shared by every response (they find their connection through res.req), so a
  // held poll carries no closures for this; on, not once, for the same reason: a response
  // finishes and closes only once, and once() allocates a wrapper per call.
  function onFinish(this: http.ServerResponse): void {
    const socket = this.req.socket;
    const following = queues.get(socket)?.shift();
    if (following) start(following[0], following[1]);
    else queues.delete(socket);
  }
  function onClose(this: http.ServerResponse): void {
    if (!this.writableFinished) queues.delete(this.req.socket); // the connection is gone: drop the rest
  }
  function start(req: http.IncomingMessage, res: http.ServerResponse): void {
    res.on('finish', onFinish);
    res.on('close', onClose);
    handler(req, res);
  }
  return (req, res) => {
    const queue = queues.get(req.socket);
    if (queue === NONE) queues.set(req.socket, [[req, res]]);
    else if (queue) queue.push([req, res]);
    else {
      queues.set(req.socket, NONE); // one shared empty queue until something waits
      start(req, res);
    }
  };
}
