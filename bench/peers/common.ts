// What the two peer servers (#18) share: the users and tokens the ceiling has (u0.. with
// tok0.., made in memory at start-up), the package loader, and the plain node:http server
// they attach to, with the /healthz the benchmark waits for. Env: PORT, HOST, PEER_USERS.
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';

/**
 * The peers' packages are the benchmark's own (bench/package.json, installed into
 * bench/node_modules by `npm run bench`), not the server's: this resolves them from there,
 * wherever the compiled file lives (dist/bench/peers/). They are loaded at run time and typed
 * here by hand, for the little that is used, so that the build does not need them installed.
 */
export const requirePeer = createRequire(path.resolve(__dirname, '..', '..', '..', 'bench', 'package.json'));

export const USERS = Number(process.env.PEER_USERS ?? 1000);
export const names = Array.from({ length: USERS }, (_, i) => `u${i}`);
export const byName = new Map(names.map((n, i) => [n, i]));
export const byToken = new Map(names.map((_, i) => [`tok${i}`, i]));

/** The message as our contract shapes it, so that the generator checks every server alike. */
export interface Message {
  id: number;
  from: string;
  to: string;
  body: string;
  sent_at: string;
}

let seq = 0;
/** A message numbered in the order the server took it in (the generator checks the order). */
export function stamp(from: number, to: number, body: string): Message {
  return { id: ++seq, from: names[from] as string, to: names[to] as string, body, sent_at: new Date().toISOString() };
}

/** The server the peer attaches to: it answers /healthz, the peer's own paths are the peer's. */
export function httpServer(): http.Server {
  const server = http.createServer((req, res) => {
    const status = req.url === '/healthz' ? 200 : 404;
    res
      .writeHead(status, { 'content-type': 'application/json' })
      .end(JSON.stringify(status === 200 ? { ok: true } : { error: 'not_found' }));
  });
  server.keepAliveTimeout = 65_000; // as the ceiling: longer than the longest hold
  return server;
}

export function listen(server: http.Server, stop: (done: () => void) => void): void {
  server.listen(Number(process.env.PORT ?? 3100), process.env.HOST ?? '127.0.0.1');
  const bye = () => stop(() => process.exit(0));
  process.once('SIGTERM', bye).once('SIGINT', bye);
}
