// The fast lane for the two requests that make up a busy server's work: GET /poll and
// POST /messages, with the token in the Authorization header. Every message is one send and
// one poll answer per device; through Koa each pays for a context, its request and response
// objects, the middleware chain and on-finished listeners, and a held poll keeps all of that
// alive while it waits (bench/README.md: about a third of the CPU per message, and most of
// what a held poll kept beyond the bare ceiling's). Here they are answered straight from
// node:http, by the same endpoint code the Koa routes run: the query parser (urlencoded.ts),
// pollRequest() and pollAnswer() (stream-routes.ts), readBody() (body.ts), sendAnswer()
// (messages-routes.ts), authenticate(); and the answer leaves through the same core as Koa's
// (answer.ts: the contract's headers, the mapping of errors) with the same log line.
//
// Anything else goes to Koa: JSONP (callback=), a token in the query or the body, HEAD, a method
// override header, a body that is not plain JSON with a Content-Length, a request without Host,
// a server shutting down, and a poll whose parameters are refused (Koa authenticates before it
// checks them, so it makes that answer). Whether the lane takes a request is decided at once
// from its method, path and headers; authentication is asynchronous (the store's), so the lane
// then answers a bad token itself (for a send, after the body, as Koa's parser runs before its
// routes), and so is everything once the work is under way (a bad body, a cursor ahead of the
// stream, the server full, a device revoked while held, a limit, a fault).
//
// server.ts can leave the lane out (createHttpServer's `fastLane: false`): the HTTP test suite
// runs once with it and once without, so both ways are held to the same tests.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { authenticate } from '../auth';
import type { Core } from '../core';
import { Errors } from '../errors';
import type { Logger } from '../log';
import { Poll, type PollAnswer, type PollRequest } from '../stream';
import type { DeviceAuth } from '../types';
import { bearerToken, deviceSeen } from './access-token';
import { type Answer, contractHeaders, errorAnswer, failure, JSON_TYPE } from './answer';
import { overriddenToDelete, readBody } from './body';
import { allowOrigin } from './cors';
import { sendAnswer } from './messages-routes';
import type { Recorder } from './observe';
import { cancelWhenGone, pollAnswer, pollRequest } from './stream-routes';
import { parseQuery } from './urlencoded';

/** Answers the request and returns true, or returns false: Koa is to answer it. */
export type Lane = (req: IncomingMessage, res: ServerResponse) => boolean;

/** How the lane writes a poll's answer (one function for the lane, not one per poll). */
type PollFinish = (res: ServerResponse, started: number, device: DeviceAuth, err: unknown, a?: PollAnswer) => void;

/**
 * A poll taken by the lane: what it needs to answer is in its fields (the response, when it
 * started), so a held poll is this one object (see stream.ts's Poll).
 */
class LanePoll extends Poll {
  constructor(
    core: Core,
    device: DeviceAuth,
    req: PollRequest,
    private readonly finish: PollFinish,
    private readonly res: ServerResponse,
    private readonly started: number,
  ) {
    super(core, device, req);
  }

  protected answered(err: unknown, a?: PollAnswer): void {
    this.finish(this.res, this.started, this.device, err, a);
  }
}

/** Only a plain JSON body (what Koa's side reads as JSON) is taken here. */
const PLAIN_JSON = /^application\/json[ \t]*(;[ \t]*charset=("?)utf-8\2[ \t]*)?$/i;

export interface LaneDeps {
  corsOrigin: string;
  bodyLimitBytes: number;
  record: Recorder;
  logger: Logger;
  /** The methods the router has for a path (for a 405's Allow). */
  allowedMethods: (path: string) => string[];
  /** The route pattern the router has for a method and path, as Koa's log line names it. */
  routeFor: (method: string, path: string) => string;
}

export function fastLane(core: Core, deps: LaneDeps): Lane {
  const { record, logger } = deps;
  const originFor = allowOrigin(deps.corsOrigin);
  const where = (method: string, route: string) => ({ logger, bodyLimitBytes: deps.bodyLimitBytes, method, route });

  /** Writes an answer and records it: the log line and metrics Koa's observer makes. */
  function finish(
    req: IncomingMessage,
    res: ServerResponse,
    method: string,
    route: string,
    started: number,
    a: Answer,
    device?: DeviceAuth,
  ): void {
    if (!res.destroyed) {
      // (When the client went away there is nothing to write to; it is recorded all the same.)
      const headers: Record<string, string | number> = contractHeaders({
        origin: originFor(req.headers.origin),
        poll: route === '/poll',
        closing: core.hub.closed,
      });
      headers['Content-Type'] = JSON_TYPE;
      headers['Content-Length'] = Buffer.byteLength(a.body);
      res.writeHead(a.status, Object.assign(headers, a.headers));
      res.end(a.body);
    }
    const seconds = (performance.now() - started) / 1000;
    record({ method, route, status: a.status, seconds, device, pollOutcome: a.outcome, errorCode: a.code });
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
    const started = performance.now();
    let device: DeviceAuth | undefined;
    // What Koa does, in its order: the body, the override, the token, the send.
    readBody(req, 'json', deps.bodyLimitBytes)
      .then(async (parsed: unknown) => {
        if (overriddenToDelete('', parsed)) {
          // Koa turns it into a DELETE, which no route takes: its log line says so too.
          const a = errorAnswer(Errors.methodNotAllowed(deps.allowedMethods('/messages')));
          finish(req, res, 'DELETE', deps.routeFor('DELETE', '/messages'), started, a);
          return;
        }
        const d = await authenticate(core, token);
        device = d;
        deviceSeen(core, d); // where withDevice would: after the body and its override
        finish(req, res, 'POST', '/messages', started, await sendAnswer(core, d, parsed), d);
      })
      .catch((err: unknown) => finish(req, res, 'POST', '/messages', started, failure(err, where('POST', '/messages')), device));
    return true;
  }

  function pollLane(req: IncomingMessage, res: ServerResponse, url: string, token: string): boolean {
    let request: ReturnType<typeof pollRequest>;
    try {
      const q = parseQuery(url);
      if (q.callback !== undefined) return false;
      request = pollRequest(q, core.config);
    } catch {
      return false; // refused before it started: Koa makes the answer (401 first for a bad token)
    }
    const started = performance.now();
    authenticate(core, token).then(
      (device) => {
        deviceSeen(core, device);
        const poll = new LanePoll(core, device, request, pollFinish, res, started);
        poll.start(request.timeoutMs);
        if (!poll.isSettled) cancelWhenGone(req, res, poll);
      },
      (err: unknown) => finish(req, res, 'GET', '/poll', started, failure(err, where('GET', '/poll'))),
    );
    return true;
  }

  /** How a poll's answer is written (res.req: the request it answers). */
  function pollFinish(res: ServerResponse, started: number, device: DeviceAuth, err: unknown, a?: PollAnswer): void {
    finish(res.req, res, 'GET', '/poll', started, a ? pollAnswer(a) : failure(err, where('GET', '/poll')), device);
  }
}
