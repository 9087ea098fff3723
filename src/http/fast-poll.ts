// The fast lane for the one request that dominates a busy server: GET /poll with its token in
// the Authorization header. Every client sends one per message it receives, and most of them
// then wait; through Koa each pays for a context, its request and response objects, the
// middleware chain and on-finished listeners, and a held poll keeps all of that alive while it
// waits (bench/README.md: about half of the CPU per message, and most of the memory per held
// poll). Here it is answered straight from node:http with the same parts the route uses:
// pollRequest() and pollBody() from stream.ts, authenticate(), poll(), the error catalog, the
// same headers and the same log line and metrics.
//
// Anything else goes to Koa, which answers it as it always has: JSONP (callback=), a token in
// the query, HEAD, a request without Host, a server shutting down, and any poll that would be
// refused before it starts (a bad token or parameter): Koa repeats the checks and refuses it
// in the usual way, so each error has one way to be made. Only what happens once a poll is
// under way (a cursor ahead of the stream, the server full, a device revoked while held, a
// fault) is answered here, through the same catalog.
import type { IncomingMessage, ServerResponse } from 'node:http';
import querystring from 'node:querystring';
import { authenticate } from '../auth';
import type { Core } from '../core';
import { type AppError, Errors, isAppError } from '../errors';
import { errorFields, type Logger } from '../log';
import { poll } from '../stream';
import type { DeviceAuth } from '../types';
import { bearerToken, deviceSeen } from './auth';
import { allowOrigin, EXPOSE_HEADERS } from './cors';
import type { Recorder } from './observe';
import { onClientGone, pollBody, pollRequest, REVOKED_WHILE_HELD } from './stream';

export type Lane = (req: IncomingMessage, res: ServerResponse) => boolean;

export function fastPoll(core: Core, corsOrigin: string, record: Recorder, logger: Logger): Lane {
  const originFor = allowOrigin(corsOrigin);

  function answer(req: IncomingMessage, res: ServerResponse, status: number, body: string, extra: Readonly<Record<string, string>>): void {
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
      'X-Accel-Buffering': 'no',
      ...extra,
    };
    if (o.vary) headers.Vary = 'Origin';
    // Shutting down: the next poll must go on a new connection (see respond.ts).
    if (core.hub.closed) headers.Connection = 'close';
    res.writeHead(status, headers);
    res.end(body);
  }

  function fail(req: IncomingMessage, res: ServerResponse, device: DeviceAuth, started: bigint, err: unknown): void {
    let e: AppError;
    if (isAppError(err)) e = err;
    else {
      logger.error({ err: errorFields(err), method: 'GET', route: '/poll' }, 'unexpected error');
      e = Errors.internal();
    }
    answer(req, res, e.status, JSON.stringify(e.toJSON()), e.headers);
    record({ method: 'GET', route: '/poll', status: e.status, seconds: secondsSince(started), device, errorCode: e.code });
  }

  return (req, res) => {
    if (req.method !== 'GET') return false;
    const url = req.url ?? '';
    if (url !== '/poll' && !url.startsWith('/poll?')) return false;
    const token = bearerToken(req.headers.authorization);
    if (!token || core.hub.closed || (req.headers.host === undefined && req.httpVersion === '1.1')) return false;
    const q = querystring.parse(url.slice('/poll?'.length));
    if (q.callback !== undefined) return false;
    const started = process.hrtime.bigint();
    let device: DeviceAuth;
    let request: ReturnType<typeof pollRequest>;
    try {
      device = authenticate(core, token);
      request = pollRequest(q, core.config);
    } catch {
      return false; // refused before it started: Koa makes the answer
    }
    deviceSeen(core, device);
    poll(core, device, request, onClientGone(req, res)).then(
      (a) => {
        if (a.outcome === 'revoked') {
          const e = Errors.unauthorized(REVOKED_WHILE_HELD);
          answer(req, res, e.status, JSON.stringify(e.toJSON()), e.headers);
          record({ method: 'GET', route: '/poll', status: e.status, seconds: secondsSince(started), device, pollOutcome: a.outcome, errorCode: e.code });
          return;
        }
        answer(req, res, 200, pollBody(a), NO_HEADERS);
        record({ method: 'GET', route: '/poll', status: 200, seconds: secondsSince(started), device, pollOutcome: a.outcome });
      },
      (err: unknown) => fail(req, res, device, started, err),
    );
    return true;
  };
}

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

function secondsSince(started: bigint): number {
  return Number(process.hrtime.bigint() - started) / 1e9;
}
