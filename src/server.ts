// createApp(deps): the two ways a request is answered (the Koa application with its middleware,
// routes and the page; the fast lane for plain polls and sends, http/fast-lane.ts), both made
// from the same endpoint code and answer core (http/answer.ts). createHttpServer puts them
// behind one node:http server. Neither listens: main.ts does, and the tests (test/support/app.ts).
import http from 'node:http';
import Koa from 'koa';
import Router from '@koa/router';
import serve from 'koa-static';
import fs from 'node:fs';
import path from 'node:path';
import { type Config, REPO_ROOT } from './config';
import { onePerConnection } from './connections';
import type { Core } from './core';
import { Errors, isAppError } from './errors';
import { accountRoutes } from './http/accounts-routes';
import { withDevice } from './http/access-token';
import { parseBody } from './http/body';
import type { AppState } from './http/context';
import { answerClientErrors } from './http/client-errors';
import { preflight } from './http/cors';
import { groupRoutes } from './http/groups-routes';
import { messageRoutes } from './http/messages-routes';
import { exactPath } from './http/paths';
import { respond } from './http/respond';
import { searchRoutes } from './http/search-routes';
import { streamRoutes } from './http/stream-routes';
import type { Logger } from './log';
import { Metrics } from './metrics';
import { fastLane, type Lane } from './http/fast-lane';
import { observer, recorder, routeOf, type RouteFor } from './http/observe';

export const PUBLIC_DIR = path.join(REPO_ROOT, 'public');
/** The OpenAPI description kept in the repository; test/ops/openapi*.test.ts hold it to the code. */
export const OPENAPI_FILE = path.join(REPO_ROOT, 'docs', 'openapi.json');

export interface AppDeps {
  core: Core;
  logger: Logger;
}

/**
 * The page's own policy (#13, item 13): its scripts, styles and images from this server only,
 * nothing inline, no eval, no plugins, and never inside a frame (clickjacking; X-Frame-Options
 * for browsers older than frame-ancestors). test/browser/csp.test.ts runs the page under it.
 */
export const PAGE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'Content-Security-Policy': [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; '),
  'X-Frame-Options': 'DENY',
});

/** The two request handlers of one app, over the same core. */
export interface App {
  /** Every request; what the lane does not take goes here. */
  koa: Koa<AppState>;
  /** GET /poll and POST /messages in their plain form; false for a request it leaves to Koa. */
  lane: Lane;
}

export function createApp(deps: AppDeps): App {
  const { core, logger } = deps;
  const app = new Koa<AppState>();
  app.proxy = core.config.trustProxy;
  // Behind one proxy that appends to X-Forwarded-For, only the last entry was written by
  // someone we trust; the ones before it are whatever the client sent.
  app.maxIpsCount = 1;
  // Errors are rendered and logged by respond(); Koa's own handler would only print them again.
  app.silent = true;

  // One spelling per endpoint: paths are case-sensitive and a trailing slash is another path
  // (404), so a proxy rule written for `/metrics` covers every path that reaches it (#13).
  const router = new Router<AppState>({ sensitive: true, strict: true });
  const authed = withDevice(core);
  const metrics = new Metrics(core);
  router.get('/healthz', (ctx) => {
    // Always 200 while the process answers; with several processes, also whether wake-ups from
    // the others flow (#16): `"degraded": true` while they arrive by re-check only.
    ctx.body = core.cluster ? { ok: true, ...core.cluster.health() } : { ok: true };
  });
  // Read once: it is part of the release, not something that changes while the server runs.
  const openapi = fs.readFileSync(OPENAPI_FILE, 'utf8');
  router.get('/openapi.json', (ctx) => {
    ctx.type = 'application/json; charset=utf-8';
    ctx.body = openapi;
  });
  router.get('/metrics', async (ctx) => {
    ctx.type = metrics.contentType;
    ctx.body = await metrics.text();
  });
  accountRoutes(router, core, authed);
  messageRoutes(router, core, authed);
  searchRoutes(router, core, authed);
  groupRoutes(router, core, authed);
  streamRoutes(router, core, authed);

  const record = recorder(metrics, logger);
  // The methods the router has for a path, whatever was asked: for a 405's Allow.
  const allowedMethods = (p: string): string[] => [...new Set(router.match(p, 'GET').path.flatMap((layer) => layer.methods))].sort();
  const routeFor: RouteFor = (method, p) => {
    const route = router.match(p, method).pathAndMethod.findLast((layer) => layer.methods.length > 0)?.path;
    return typeof route === 'string' ? route : undefined;
  };
  const { bodyLimitBytes, corsOrigin } = core.config;
  const lane = fastLane(core, {
    corsOrigin,
    bodyLimitBytes,
    record,
    logger,
    allowedMethods,
    routeFor: (method, p) => routeFor(method, p) ?? 'unmatched',
  });
  app.use(
    respond({
      logger,
      bodyLimitBytes,
      corsOrigin,
      routeOf: (ctx) => routeOf(ctx, routeFor),
      observe: observer(record, routeFor),
      closing: () => core.hub.closed,
    }),
  );
  app.use(exactPath);
  // Preflight, or the body and its method override: a GET (the held poll) passes straight on.
  const parse = parseBody(bodyLimitBytes);
  app.use(async (ctx, next) => {
    if (ctx.method === 'GET' || ctx.method === 'HEAD') await next();
    else if (ctx.method === 'OPTIONS') await preflight(ctx, next);
    else await parse(ctx, next);
  });
  app.use(router.routes());
  const files = serve(PUBLIC_DIR, { index: 'index.html', hidden: false });
  app.use(async (ctx, next) => {
    try {
      await files(ctx, next);
      if (ctx.body !== undefined && ctx.body !== null) ctx.set(PAGE_HEADERS);
    } catch (err) {
      // koa-send refuses paths it will not resolve ("//healthz" is absolute: 400 "malicious
      // path") with an error of its own; to a client that is simply no such page.
      const status = (err as { status?: unknown } | null)?.status;
      if (isAppError(err) || typeof status !== 'number' || status >= 500) throw err;
      throw Errors.notFound(`no such endpoint: ${ctx.method} ${ctx.path}`);
    }
  });
  // Nothing answered: a known path with another method is 405 with Allow, anything else 404.
  app.use((ctx) => {
    const allowed = allowedMethods(ctx.path);
    if (allowed.length === 0) throw Errors.notFound(`no such endpoint: ${ctx.method} ${ctx.path}`);
    if (ctx.method === 'OPTIONS') {
      ctx.set('Allow', [...allowed, 'OPTIONS'].join(', '));
      ctx.status = 204;
      return;
    }
    throw Errors.methodNotAllowed(allowed);
  });
  return { koa: app, lane };
}

/** Requests the fast lane takes are answered there; every other one goes to Koa. */
function handler(app: App, withLane: boolean): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  const koa = app.koa.callback();
  if (!withLane) return (req, res) => void koa(req, res);
  return (req, res) => {
    if (!app.lane(req, res)) void koa(req, res);
  };
}

export interface HttpServerOptions {
  /** false: every request goes to Koa. For tests only: the HTTP suite runs both ways. */
  fastLane?: boolean;
}

/**
 * The node:http server around the app, with the options and timeouts it must run with; not
 * listening yet. main.ts listens (and adds the connection guards); the HTTP tests use the same.
 */
export function createHttpServer(app: App, config: Config, opts: HttpServerOptions = {}): http.Server {
  const server = http.createServer(
    {
      // How often Node checks headersTimeout and requestTimeout. Its default (30 s) would let
      // a slow-loris client hold a socket up to 30 s past its deadline.
      connectionsCheckingInterval: 1000,
      // A request without Host goes on to the app, which refuses it in the contract's shape
      // (respond.ts); Node's own refusal is a bare, chunked 400.
      requireHostHeader: false,
    },
    onePerConnection(handler(app, opts.fastLane ?? true)),
  );
  // Keep-alive above the 60 s that proxies keep idle upstream connections, so the proxy
  // always closes first and never sends a request on a socket we are closing.
  server.keepAliveTimeout = config.keepAliveTimeoutMs;
  server.headersTimeout = config.headersTimeoutMs;
  // requestTimeout bounds receiving the request only; a held poll's request is complete when
  // the hold starts, so holds up to POLL_TIMEOUT_MAX are not cut (tested in test/process).
  server.requestTimeout = config.requestTimeoutMs;
  answerClientErrors(server, config.corsOrigin);
  return server;
}
