// The fast lane for the two requests that make up a busy server's work: GET /poll and
// POST /messages, with the token in the Authorization header. Every message is one send and
// one poll answer per device; through Koa each pays for a context, its request and response
// objects, the middleware chain and on-finished listeners, and a held poll keeps all of that
// alive while it waits (bench/README.md: about a third of the CPU per message, and most of
// what a held poll kept beyond the bare ceiling's). Here they are answered straight from node:http with the same parts
// the routes use: pollRequest()/pollBody() (stream-routes.ts), sendFromBody() (messages-routes.ts), the
// body parser koa-body itself uses (co-body, same options), authenticate(), the error catalog
// and its mapping of parser errors, the same headers, log line and metrics.
//
// Anything else goes to Koa, which answers it as it always has: JSONP (callback=), a token in
// the query or the body, HEAD, a method override header, a body that is not plain JSON with a
// Content-Length, a request without Host, a server shutting down, and a poll whose parameters
// are refused (Koa authenticates before it checks them, so it makes that answer). Whether the
// lane takes a request is decided at once from its method, path and headers; authentication
// is asynchronous (the store's), so the lane then answers a bad token itself, as Koa would
// (for a send, after the body, as Koa's parser runs before its routes), and so is everything
// once the work is under way (a bad body, a cursor ahead of the stream, the server full, a
// device revoked while held, a limit, a fault): through the same catalog.
import type { IncomingMessage, ServerResponse } from 'node:http';
import querystring from 'node:querystring';
import coBody from 'co-body';
import { authenticate } from '../auth';
import type { Core } from '../core';
import { Errors, isAppError } from '../errors';
import { errorFields, type Logger } from '../log';
import { type PollDone, startPoll } from '../stream';
import type { DeviceAuth } from '../types';
import { bearerToken, deviceSeen } from './access-token';
import { overriddenToDelete } from './body';
import { allowOrigin, EXPOSE_HEADERS } from './cors';
import { sendFromBody } from './messages-routes';
import { toAppError } from './respond';
import type { Recorder } from './observe';
import { onClientGone, pollBody, pollRequest, REVOKED_WHILE_HELD } from './stream-routes';

export type Lane = (req: IncomingMessage, res: ServerResponse) => boolean;

/** Only a plain JSON body (what koa-body reads as JSON) is taken here. */
const PLAIN_JSON = /^application\/json[ \t]*(;[ \t]*charset=("?)utf-8\2[ \t]*)?$/i;

export interface LaneDeps {
  corsOrigin: string;
  bodyLimitBytes: number;
  record: Recorder;
  logger: Logger;
  /** The methods the router has for a path (for a 405's Allow). */
  allowedMethods: (path: string) => string[];
}

export function fastLane(core: Core, deps: LaneDeps): Lane {
  const { record, logger } = deps;
  const originFor = allowOrigin(deps.corsOrigin);

  function answer(
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    body: string,
    extra: Readonly<Record<string, string>>,
    isPoll = true,
  ): void {
    if (res.destroyed) return; // the client went away: nothing to write to
    const o = originFor(req.headers.origin);
    const headers: Record<string, string | number> = {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      'Cache-Control': 'no-store',
      Pragma: 'no-cache',
      Expires: '0',
      'Access-Control-Allow-Origin': o.origin,
      'Access-Control-Expose-Headers': EXPOSE_HEADERS,
      ...extra,
    };
    if (isPoll) headers['X-Accel-Buffering'] = 'no';
    if (o.vary) headers.Vary = 'Origin';
    // Shutting down: the next poll must go on a new connection (see respond.ts).
    if (core.hub.closed) headers.Connection = 'close';
    res.writeHead(status, headers);
    res.end(body);
  }

  function fail(
    req: IncomingMessage,
    res: ServerResponse,
    route: string,
    device: DeviceAuth | undefined,
    started: bigint,
    err: unknown,
  ): void {
    let e = isAppError(err) ? err : toAppError(err, deps.bodyLimitBytes);
    if (!e) {
      logger.error({ err: errorFields(err), method: req.method, route }, 'unexpected error');
      e = Errors.internal();
    }
    answer(req, res, e.status, JSON.stringify(e.toJSON()), e.headers, route === '/poll');
    record({ method: req.method ?? 'POST', route, status: e.status, seconds: secondsSince(started), device, errorCode: e.code });
  }

  return (req, res) => {
    const url = req.url ?? '';
    const token = bearerToken(req.headers.authorization);
    if (!token || core.hub.closed || (req.headers.host === undefined && req.httpVersion === '1.1')) return false;
    if (req.method === 'GET' && (url === '/poll' || url.startsWith('/poll?'))) return pollLane(req, res, url, token);
    if (req.method === 'POST' && url === '/messages') return sendLane(req, res, token);
    return false;
  };

  function sendLane(req: IncomingMessage, res: ServerResponse, token: string): boolean {
    const h = req.headers;
    const length = Number(h['content-length']);
    if (!PLAIN_JSON.test(h['content-type'] ?? '') || h['transfer-encoding'] !== undefined || h['x-http-method-override'] !== undefined)
      return false;
    if (h['content-encoding'] !== undefined && h['content-encoding'] !== 'identity') return false;
    if (!Number.isInteger(length) || length <= 0 || length > deps.bodyLimitBytes) return false;
    const started = process.hrtime.bigint();
    let device: DeviceAuth | undefined;
    // koa-body's own call (parseBody in body.ts): strict JSON, UTF-8, the same limit. Then
    // what Koa does after its parser, in its order: the override, the token, the send.
    coBody
      .json(req, { encoding: 'utf-8', limit: deps.bodyLimitBytes, strict: true })
      .then(async (parsed: unknown) => {
        if (overriddenToDelete('', parsed)) throw Errors.methodNotAllowed(deps.allowedMethods('/messages'));
        const d = await authenticate(core, token);
        device = d;
        deviceSeen(core, d); // where withDevice would: after the body and its override
        const out = await sendFromBody(core, d, parsed);
        const status = out.created ? 201 : 200;
        answer(req, res, status, JSON.stringify({ message: out.message }), NO_HEADERS, false);
        record({ method: 'POST', route: '/messages', status, seconds: secondsSince(started), device: d });
      })
      .catch((err: unknown) => fail(req, res, '/messages', device, started, err));
    return true;
  }

  function pollLane(req: IncomingMessage, res: ServerResponse, url: string, token: string): boolean {
    const q = querystring.parse(url.slice('/poll?'.length));
    if (q.callback !== undefined) return false;
    let request: ReturnType<typeof pollRequest>;
    try {
      request = pollRequest(q, core.config);
    } catch {
      return false; // refused before it started: Koa makes the answer (401 first for a bad token)
    }
    const started = process.hrtime.bigint();
    authenticate(core, token).then(
      (device) => {
        deviceSeen(core, device);
        startPoll(core, device, request, onClientGone(req, res), pollAnswered(req, res, started, device));
      },
      (err: unknown) => fail(req, res, '/poll', undefined, started, err),
    );
    return true;
  }

  /**
   * How a poll's answer is written. Made here, not inline above, so that a held poll keeps only
   * these four in its closure (not the query, the token or the authentication's scope).
   */
  function pollAnswered(req: IncomingMessage, res: ServerResponse, started: bigint, device: DeviceAuth): PollDone {
    return (err, a) => {
      if (!a) {
        fail(req, res, '/poll', device, started, err);
        return;
      }
      if (a.outcome === 'revoked') {
        const e = Errors.unauthorized(REVOKED_WHILE_HELD);
        answer(req, res, e.status, JSON.stringify(e.toJSON()), e.headers);
        record({
          method: 'GET',
          route: '/poll',
          status: e.status,
          seconds: secondsSince(started),
          device,
          pollOutcome: a.outcome,
          errorCode: e.code,
        });
        return;
      }
      answer(req, res, 200, pollBody(a), NO_HEADERS);
      record({ method: 'GET', route: '/poll', status: 200, seconds: secondsSince(started), device, pollOutcome: a.outcome });
    };
  }
}

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

function secondsSince(started: bigint): number {
  return Number(process.hrtime.bigint() - started) / 1e9;
}
