// The answer core (#12): what an endpoint answers, as plain data, and what every answer shares
// whichever way it leaves. Endpoints return an Answer; the two adapters write it out: the Koa
// routes copy it onto ctx (reply() below), the fast lane (fast-lane.ts) calls writeHead/end.
// The contract's headers are built by contractHeaders() alone and errors of every kind (the
// catalog's, a body parser's, a fault) are mapped by failure() alone, so the two ways cannot
// drift apart. Answers made before a request reaches either (client-errors.ts) use the same
// headers.
import type { Context } from 'koa';
import { type AppError, Errors, isAppError } from '../errors';
import { errorFields, type Logger } from '../log';
import { EXPOSE_HEADERS } from './cors';
import type { AppState } from './context';

export interface Answer {
  status: number;
  /** JSON text; '' for an answer without a body (204). */
  body: string;
  /** This answer's own headers, beyond the contract's: Retry-After, WWW-Authenticate, Allow. */
  headers: Readonly<Record<string, string>>;
  /** How a poll ended (for the log line and metrics). */
  outcome?: string;
  /** The error code of an error answer (for the log line and metrics). */
  code?: string;
}

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

/** A JSON answer. */
export function json(status: number, value: unknown): Answer {
  return { status, body: JSON.stringify(value), headers: NO_HEADERS };
}

/** A JSON answer whose text is already made. */
export function jsonText(status: number, text: string): Answer {
  return { status, body: text, headers: NO_HEADERS };
}

/** An answer without a body. */
export const NO_CONTENT: Answer = Object.freeze({ status: 204, body: '', headers: NO_HEADERS });

/** The answer for one of the catalog's errors. */
export function errorAnswer(e: AppError, outcome?: string): Answer {
  return { status: e.status, body: JSON.stringify(e.toJSON()), headers: e.headers, outcome, code: e.code };
}

/** Errors thrown by raw-body (under co-body) carry a status and a `type`. */
interface HttpLibError {
  status?: number;
  statusCode?: number;
  type?: string;
  expose?: boolean;
  message?: string;
}

/** The catalog's error for what a body reader (raw-body, inflation) threw; null for a fault. */
export function toAppError(err: unknown, bodyLimit: number): AppError | null {
  if (isAppError(err)) return err;
  if (typeof err !== 'object' || err === null) return null;
  const e = err as HttpLibError;
  const status = e.status ?? e.statusCode;
  if (typeof status !== 'number' || status >= 500) return null;
  if (status === 413 || e.type === 'entity.too.large') return Errors.payloadTooLarge(bodyLimit);
  // Unsupported or broken encodings, aborted or short bodies: all the client's doing.
  return Errors.invalidRequest('body', e.expose && e.message ? e.message.toLowerCase() : 'could not be read');
}

/** Where an error happened, for the log line of a fault. */
export interface FailureContext {
  logger: Logger;
  bodyLimitBytes: number;
  method: string;
  route: string;
}

/**
 * The answer for anything an endpoint threw or rejected with: the catalog's errors as they
 * are, a body reader's mapped to the catalog, anything else a 500 whose message and stack go to
 * the log only.
 */
export function failure(err: unknown, where: FailureContext): Answer {
  const e = toAppError(err, where.bodyLimitBytes);
  if (e) return errorAnswer(e);
  where.logger.error({ err: errorFields(err), method: where.method, route: where.route }, 'unexpected error');
  return errorAnswer(Errors.internal());
}

/** What the contract's headers depend on. */
export interface HeaderInputs {
  /** Access-Control-Allow-Origin, and whether it depends on the request's Origin (cors.ts). */
  origin: { origin: string; vary: boolean };
  /** A poll's answer, errors included: nginx and proxies that copy it must not buffer it. */
  poll: boolean;
  /** The server is shutting down: the connection is about to close. */
  closing: boolean;
}

/**
 * The headers the contract promises on every answer, errors included: no caching anywhere
 * (old proxies and caches must never store a chat answer), CORS, no content sniffing (a JSON
 * answer echoes query text, which a browser must never take for HTML). The one list: Koa's
 * answers, the lane's and Node-level refusals all take it from here.
 */
export function contractHeaders(h: HeaderInputs): Record<string, string> {
  const out: Record<string, string> = {
    'Cache-Control': 'no-store',
    Pragma: 'no-cache',
    Expires: '0',
    'Access-Control-Allow-Origin': h.origin.origin,
    'Access-Control-Expose-Headers': EXPOSE_HEADERS,
    'X-Content-Type-Options': 'nosniff',
  };
  if (h.origin.vary) out.Vary = 'Origin';
  if (h.poll) out['X-Accel-Buffering'] = 'no';
  // Shutting down: the client must not send its next request on this connection, which is
  // about to close (it would get a reset instead of an answer); it opens a new one.
  if (h.closing) out.Connection = 'close';
  return out;
}

export const JSON_TYPE = 'application/json; charset=utf-8';

/** The Koa adapter: an Answer copied onto ctx (the contract's headers are added by respond()). */
export function reply(ctx: Context, a: Answer): void {
  const state = ctx.state as AppState;
  ctx.status = a.status;
  for (const [name, value] of Object.entries(a.headers)) ctx.set(name, value);
  if (a.body === '') ctx.body = null;
  else {
    ctx.type = JSON_TYPE;
    ctx.body = a.body;
  }
  if (a.outcome !== undefined) state.pollOutcome = a.outcome;
  if (a.code !== undefined) state.errorCode = a.code;
}
