// Requests that never reach Koa: Node's HTTP parser refuses a malformed request line or
// headers, headers over 16 KiB, or a request that took longer than REQUEST_TIMEOUT to arrive.
// Node's own answer to those is a bare status line, with no body and none of the caching or
// CORS headers the contract promises on every answer; this sends the contract's shape instead.
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { type AppError, Errors } from '../errors';
import { EXPOSE_HEADERS, fixedOrigin } from './cors';

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

export function answerClientErrors(server: http.Server, corsOrigin: string): void {
  const origin = fixedOrigin(corsOrigin);
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
    const e = errorFor(err.code);
    const body = JSON.stringify(e.toJSON());
    // An answer to HEAD has no body. The method is not parsed yet when the request line itself
    // is refused, so look at the bytes: when they are not the start of the request, the body
    // is sent (a HEAD with a request line over 16 KiB is the one case that can be wrong).
    const head = err.rawPacket?.subarray(0, 5).toString('latin1') === 'HEAD ';
    socket.end(
      `HTTP/1.1 ${e.status} ${http.STATUS_CODES[e.status] ?? 'Error'}\r\n` +
        'Content-Type: application/json; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        'Cache-Control: no-store\r\nPragma: no-cache\r\nExpires: 0\r\n' +
        `Access-Control-Allow-Origin: ${origin}\r\n` +
        `Access-Control-Expose-Headers: ${EXPOSE_HEADERS}\r\n` +
        'Connection: close\r\n\r\n' +
        (head ? '' : body),
    );
    // end() lets the answer reach a client that is still sending (destroying at once would
    // reset the connection and lose it); one that never stops is cut shortly after.
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
  });
}
