// Guards at the TCP level, below Koa: a bound on open connections per client address, and a
// deadline for a connection's first request. Node's headersTimeout only starts once a request
// has begun, so a client that connects and sends nothing at all would otherwise hold a socket
// (and a file descriptor) forever; a few thousand of those would crowd out real held polls.
import type http from 'node:http';
import type { Socket } from 'node:net';

export interface ConnectionGuardOptions {
  /** Open connections allowed per remote address; 0 = no limit (behind a trusted proxy). */
  maxPerAddress: number;
  /** Milliseconds a new connection has to deliver its first request. */
  firstRequestMs: number;
}

export interface ConnectionGuard {
  /** Open connections now, per address (for tests and metrics). */
  open(address: string): number;
  readonly refused: number;
}

export function guardConnections(server: http.Server, opts: ConnectionGuardOptions): ConnectionGuard {
  const perAddress = new Map<string, number>();
  const firstRequestTimers = new WeakMap<Socket, NodeJS.Timeout>();
  let refused = 0;

  server.on('connection', (socket: Socket) => {
    const addr = socket.remoteAddress ?? 'unknown';
    const n = (perAddress.get(addr) ?? 0) + 1;
    if (opts.maxPerAddress > 0 && n > opts.maxPerAddress) {
      refused++;
      socket.destroy();
      return;
    }
    perAddress.set(addr, n);
    const timer = setTimeout(() => socket.destroy(), opts.firstRequestMs);
    timer.unref();
    firstRequestTimers.set(socket, timer);
    socket.once('close', () => {
      clearTimeout(timer);
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
  };
}
