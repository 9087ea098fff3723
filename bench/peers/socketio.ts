// Socket.IO 4.8 as a benchmark peer (#18): what someone would pick instead of our server for
// long polling, keeping nothing on disk. Polling transport only, one room per user. A client
// connects with its token (the handshake's `auth`), which a middleware maps to its user; its
// socket joins that user's room. A `send` event {to, body} with an ack is validated, stamped
// (id, from, to, sent_at, as our contract's message), emitted to the recipient's room as
// `message`, and acknowledged with {message}. Env (beside common.ts): PEER_PING_INTERVAL_S,
// Engine.IO's ping interval (its default, 25 s, when unset): a held poll is answered when the
// server has something to send or at the latest with its ping, so the benchmark sets it beyond
// every phase.
import { byName, byToken, httpServer, listen, type Message, names, requirePeer, stamp } from './common.js';

interface IoSocket {
  data: { user?: number };
  handshake: { auth: { token?: unknown } };
  join(room: string): void;
  on(
    event: 'send',
    fn: (m: { to?: unknown; body?: unknown } | undefined, ack?: (answer: { message: Message } | { error: string }) => void) => void,
  ): void;
}
interface IoServer {
  use(fn: (socket: IoSocket, next: (err?: Error) => void) => void): void;
  on(event: 'connection', fn: (socket: IoSocket) => void): void;
  to(room: string): { emit(event: string, ...args: unknown[]): boolean };
  close(done?: () => void): void;
}
const { Server } = requirePeer('socket.io') as { Server: new (server: unknown, options: object) => IoServer };

const server = httpServer();
const io = new Server(server, {
  transports: ['polling'],
  pingInterval: Number(process.env.PEER_PING_INTERVAL_S ?? 25) * 1000,
});
io.use((socket, next) => {
  const user = byToken.get(String(socket.handshake.auth.token));
  if (user === undefined) return next(new Error('unauthorized'));
  socket.data.user = user;
  next();
});
io.on('connection', (socket) => {
  const me = socket.data.user as number;
  socket.join(names[me] as string);
  socket.on('send', (m, ack) => {
    if (typeof ack !== 'function') return;
    const to = byName.get(String(m?.to));
    if (to === undefined) return ack({ error: 'user_not_found' });
    if (typeof m?.body !== 'string' || !m.body.trim()) return ack({ error: 'invalid_request' });
    const message = stamp(me, to, m.body);
    io.to(names[to] as string).emit('message', message);
    ack({ message });
  });
});
listen(server, (done) => io.close(done));
