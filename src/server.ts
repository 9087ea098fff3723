// createApp(deps): the Koa application with its middleware, routes and the page. It never
// listens: main.ts does, and tests drive app.callback() with supertest without a port.
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
import { methodOverride, parseBody } from './http/body';
import type { AppState } from './http/context';
import { answerClientErrors } from './http/client-errors';
import { corsHeaders, preflight } from './http/cors';
import { messageRoutes } from './http/messages-routes';
import { exactPath } from './http/paths';
import { respond } from './http/respond';
import { streamRoutes } from './http/stream-routes';
import type { Logger } from './log';
import { Metrics } from './metrics';
import { fastLane, type Lane } from './http/fast-lane';
import { observer, recorder } from './http/observe';

export const PUBLIC_DIR = path.join(REPO_ROOT, 'public');
/** The OpenAPI description kept in the repository; test/ops/openapi.test.ts holds it to the code. */
export const OPENAPI_FILE = path.join(REPO_ROOT, 'docs', 'openapi.json');

export interface AppDeps {
  core: Core;
  logger: Logger;
}

/** The fast lane of each app (see http/fast-poll.ts), for createHttpServer. */
const fastLanes = new WeakMap<Koa<AppState>, Lane>();

export function createApp(deps: AppDeps): Koa<AppState> {
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
  streamRoutes(router, core, authed);

  const record = recorder(metrics, logger);
  // The methods the router has for a path, whatever was asked: for a 405's Allow.
  const allowedMethods = (p: string): string[] => [...new Set(router.match(p, 'GET').path.flatMap((layer) => layer.methods))].sort();
  fastLanes.set(
    app,
    fastLane(core, { corsOrigin: core.config.corsOrigin, bodyLimitBytes: core.config.bodyLimitBytes, record, logger, allowedMethods }),
  );
  app.use(
    respond({
      logger,
      bodyLimitBytes: core.config.bodyLimitBytes,
      cors: corsHeaders(core.config.corsOrigin),
      observe: observer(record),
      closing: () => core.hub.closed,
    }),
  );
  app.use(exactPath);
  // Preflight, body and method override in one step: a GET (the held poll) passes straight on.
  const parse = parseBody(core.config.bodyLimitBytes);
  app.use(async (ctx, next) => {
    if (ctx.method === 'GET' || ctx.method === 'HEAD') await next();
    else if (ctx.method === 'OPTIONS') await preflight(ctx, next);
    else
      await parse(ctx, async () => {
        await methodOverride(ctx, next);
      });
  });
  app.use(router.routes());
  const files = serve(PUBLIC_DIR, { index: 'index.html', hidden: false });
  app.use(async (ctx, next) => {
    try {
      await files(ctx, next);
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
  return app;
}

/** Requests the fast lane takes are answered there; every other one goes to Koa. */
function withFastLane(app: Koa<AppState>): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  const koa = app.callback();
  const lane = fastLanes.get(app);
  return (req, res) => {
    if (!lane) {
      void koa(req, res);
      return;
    }
    if (!lane(req, res)) void koa(req, res);
  };
}

/**
 * The node:http server around the app, with the options and timeouts it must run with; not
 * listening yet. main.ts listens (and adds the connection guards); the HTTP tests use the same.
 */
export function createHttpServer(app: Koa<AppState>, config: Config): http.Server {
  const server = http.createServer(
    {
      // How often Node checks headersTimeout and requestTimeout. Its default (30 s) would let
      // a slow-loris client hold a socket up to 30 s past its deadline.
      connectionsCheckingInterval: 1000,
      // A request without Host goes on to the app, which refuses it in the contract's shape
      // (respond.ts); Node's own refusal is a bare, chunked 400.
      requireHostHeader: false,
    },
    onePerConnection(withFastLane(app)),
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
