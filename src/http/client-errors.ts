// Requests that never reach Koa or the fast lane: Node's HTTP parser refuses a malformed request
// line or headers, headers over 16 KiB, or a request that took longer than REQUEST_TIMEOUT to
// arrive; Node itself answers an Expect other than 100-continue, and drops a CONNECT. Its own
// answers are a bare status line, or a chunked 417, with none of the caching, CORS or nosniff
// headers the contract promises on every answer; this sends the contract's shape instead
// (#13, item 10), with the headers of every other answer (answer.ts), and closes.
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { type AppError, Errors } from '../errors';
import { contractHeaders, JSON_TYPE } from './answer';
import { ALLOW_METHODS, fixedOrigin } from './cors';

/** After the answer, how long a client still sending may take to close before it is cut. */
const LINGER_MS = 2000;

function errorFor(code: string | undefined): AppError {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return Errors.headersTooLarge();
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return Errors.requestTimeout();
    default:
      return Errors.invalidRequest('request', 'not a valid HTTP/1.1 request (request line, headers or chunked body)');
  }
}

/** What Node's internals say about the connection (not public API; read defensively). */
interface SocketInternals {
  /** The answer being written on this connection, if any. */
  _httpMessage?: { headersSent?: boolean } | null;
  /** The request whose body is being parsed, if any. */
  parser?: { incoming?: { complete?: boolean } | null } | null;
}

/** An error answer that ends its connection: its headers and body. */
function closing(e: AppError, origin: string): { headers: Record<string, string>; body: string } {
  const body = JSON.stringify(e.toJSON());
  const headers = {
    ...contractHeaders({ origin: { origin, vary: false }, poll: false, closing: true }),
    'Content-Type': JSON_TYPE,
    'Content-Length': String(Buffer.byteLength(body)),
    ...e.headers,
  };
  return { headers, body };
}

/** The same as bytes on the wire, for a socket with no response object. */
function rawAnswer(e: AppError, origin: string, withBody: boolean): string {
  const { headers, body } = closing(e, origin);
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
  return `HTTP/1.1 ${e.status} ${http.STATUS_CODES[e.status] ?? 'Error'}\r\n${lines.join('')}\r\n${withBody ? body : ''}`;
}

/**
 * end() lets the answer reach a client that is still sending (destroying at once would reset the
 * connection and lose it); one that never stops is cut shortly after.
 */
function endWith(socket: Duplex, answer: string): void {
  socket.end(answer);
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}

export function answerClientErrors(server: http.Server, corsOrigin: string): void {
  const origin = fixedOrigin(corsOrigin);
  // `Expect: 100-continue` is still Node's (it says 100 Continue and the request goes on);
  // any other expectation cannot be met: 417, the body (if any) unread, the connection closed.
  server.on('checkExpectation', (_req: http.IncomingMessage, res: http.ServerResponse) => {
    const { headers, body } = closing(Errors.expectationFailed(), origin);
    res.writeHead(417, headers).end(body); // (no body to HEAD: Node leaves it out)
  });
  // This is no proxy: CONNECT is refused like any method a resource does not have.
  server.on('connect', (_req: http.IncomingMessage, socket: Duplex) => {
    endWith(socket, rawAnswer(Errors.methodNotAllowed(ALLOW_METHODS), origin, true));
  });
  server.on('clientError', (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Duplex) => {
    const internals = socket as unknown as SocketInternals;
    const answering = internals._httpMessage;
    const incoming = internals.parser?.incoming;
    // As Node does: answer only when nothing of an answer has been written yet (anything else
    // would corrupt it), and never to a client that is already gone. A request whose body is
    // still arriving but which has already been answered (a 413 keeps its connection until
    // REQUEST_TIMEOUT: see SECURITY.md) gets no second answer when that timeout comes.
    const answered = answering?.headersSent || (incoming && !incoming.complete && !answering);
    if (err.code === 'ECONNRESET' || !socket.writable || answered) {
      socket.destroy();
      return;
    }
    // An answer to HEAD has no body. The method is not parsed yet when the request line itself
    // is refused, so look at the bytes: when they are not the start of the request, the body
    // is sent (a HEAD with a request line over 16 KiB is the one case that can be wrong).
    const head = err.rawPacket?.subarray(0, 5).toString('latin1') === 'HEAD ';
    endWith(socket, rawAnswer(errorFor(err.code), origin, !head));
  });
}
