// TEST_TARGET=cluster (#16): the contract's HTTP tests (test/http) against three server
// processes on PostgreSQL and Redis behind nginx round-robin (the shipped site), instead of an
// in-process app on SQLite. `npm run test:http:cluster` runs them so.
//
// startApp() (app.ts) then starts, for each app a test asks for, a fresh database on PG_URL,
// three processes with the settings the test gave (on top of clusterEnv()) and nginx in front;
// its supertest agent and url go through nginx, waitHeld() counts the polls held by all three.
// A test that touches what only an in-process app has (core, store, config, app, server,
// logger, a log sink) is skipped at that moment; the tests in SKIPS below, which cannot hold
// against several processes for other reasons, are skipped before they start. Every skip is
// listed with its reason after each file's tests.
import path from 'node:path';
import request from 'supertest';
import { clusterSite, startNginx } from '../../src/cli/cluster';
import type { TestApp } from './app';
import { heldPolls, REDIS_TEST_URL, startCluster, stopAll } from './cluster';
import { freshDatabase } from './postgres';
import type { RunningServer } from './server';
import { freePort, sleep } from './util';

export const CLUSTER_TARGET = process.env.TEST_TARGET === 'cluster';

/** Processes behind nginx for each app. */
const PROCESSES = 3;

/** Why a test cannot run against the cluster: by file (all of it) or by file and title. */
interface Skip {
  file: string;
  title?: RegExp;
  reason: string;
}

/** Why a test that touched something only an in-process app has was skipped. */
const internals = (what: string) => `reads ${what}, which only an in-process app has (found when the test touched it)`;
const PER_PROCESS =
  "counts a limit, cap or metric that each process keeps for itself (README, 'Several processes': per process), which round-robin spreads over three";
const PRESENCE =
  "expects presence at once through any process; another process sees it within about a second (README, 'Shared across processes')";
const ACK_BATCH =
  "uses a device and acts on that use through another process at once; uses and cursors reach the others within 0.2 s (README, 'Per process')";
const HEALTHZ = "compares /healthz's body whole: on PostgreSQL it also names the store and Redis (docs/API.md, /healthz)";
const NGINX = 'sends what nginx answers or closes itself before any process sees it (a path above the root, raw malformed requests)';

/**
 * Tests that cannot hold against the cluster though they touch nothing in-process, and why
 * (title: a part of the full title). A test that touches the app's core, store, config, server,
 * handlers, logger or a log sink skips itself at that moment (inProcessOnly below).
 */
export const SKIPS: readonly Skip[] = [
  { file: 'fast-lane.test.js', reason: 'tests the in-process request handlers (the fast lane and Koa) and their log lines' },
  {
    file: 'bad-input.test.js',
    title: /wrong types and odd strings|odd query strings|malformed bodies|the acknowledged message is still there/,
    reason: 'compares the rows of the SQLite file before and after hostile input (and checks its integrity)',
  },
  { file: 'bad-input.test.js', title: /unknown routes and methods answer in the contract shape/, reason: NGINX },
  { file: 'devices-bounds.test.js', title: /a log-in past MAX_DEVICES_PER_USER logs out/, reason: ACK_BATCH },
  { file: 'conventions.test.js', title: /answers JSONP on GET with the status inside|ignores unknown query parameters/, reason: HEALTHZ },
  { file: 'conventions.test.js', title: /answers unknown routes 404 and wrong methods 405/, reason: NGINX },
  { file: 'groups.test.js', title: /limits the groups a user creates per hour/, reason: PER_PROCESS },
  {
    file: 'operations.test.js',
    title:
      /exposes the text format|counts superseded, revoked and overloaded|trip at the configured count|an IPv6 client is counted|retries of a stored send \(same client_id\) cost no point/,
    reason: PER_PROCESS,
  },
  {
    file: 'poll.test.js',
    title: /answers the oldest held poll of a device past its limit|at the global cap|server's held-poll slots/,
    reason: PER_PROCESS,
  },
  { file: 'poll.test.js', title: /remembers each device cursor/, reason: ACK_BATCH },
  { file: 'poll.test.js', title: /shows who is online/, reason: PRESENCE },
  { file: 'presence.test.js', reason: PRESENCE },
  { file: 'strict-input.test.js', title: /the query is parsed strictly, once, for both ways|answers Expect: foo/, reason: NGINX },
];

const skipped = new Map<string, string[]>();
/** The test running now (between the root beforeEach and afterEach), for inProcessOnly(). */
let current: Mocha.Runnable | undefined;

function noteSkip(reason: string, title: string): void {
  skipped.set(reason, [...(skipped.get(reason) ?? []), title]);
}
/** Databases of closed apps being dropped (slow on a busy server): awaited once, at the end. */
const drops: Promise<void>[] = [];

function skipReason(test: Mocha.Runnable | undefined): string | undefined {
  if (!test?.file) return undefined;
  const file = path.basename(test.file);
  const title = test.fullTitle();
  return SKIPS.find((s) => s.file === file && (!s.title || s.title.test(title)))?.reason;
}

/**
 * Mocha root hooks (`--require dist/test/support/cluster-target.js`): skips SKIPS and lists them
 * after each file's tests (with --parallel, root afterAll runs once per file).
 */
export const mochaHooks = {
  beforeEach(this: Mocha.Context): void {
    if (!CLUSTER_TARGET) return;
    current = this.currentTest;
    const reason = skipReason(this.currentTest);
    if (!reason) return;
    noteSkip(reason, this.currentTest?.fullTitle() ?? '?');
    this.skip();
  },
  afterEach(): void {
    current = undefined;
  },
  async afterAll(): Promise<void> {
    await Promise.all(drops);
    if (!CLUSTER_TARGET || skipped.size === 0) return;
    const lines = [...skipped].map(([reason, titles]) => `  ${titles.length} skipped: ${reason}`);
    skipped.clear();
    process.stdout.write(`\nAgainst the cluster (TEST_TARGET=cluster), not run:\n${lines.join('\n')}\n`);
  },
};

/** The processes behind each cluster app, for waitHeld(). */
const processesOf = new WeakMap<TestApp, RunningServer[]>();

/**
 * What a test touches that only an in-process app has: the test running now is marked pending
 * (mocha then reports it skipped, whatever it throws) with the reason noted, and this throws to
 * end it. Outside a test (a before hook) it is an error.
 */
function inProcessOnly(what: string): never {
  if (current) {
    current.pending = true;
    noteSkip(internals(what), current.fullTitle());
  }
  throw new Error(`TEST_TARGET=cluster: ${what} exists only in an in-process app`);
}

/** startApp() for TEST_TARGET=cluster: three processes with `env` on a fresh database, nginx in front. */
export async function startClusterApp(env: Record<string, string>, logTo?: unknown): Promise<TestApp> {
  if (logTo) inProcessOnly('the log lines');
  const db = await freshDatabase('chat_http_cluster');
  // Behind nginx, as deployed: the client's address comes from X-Forwarded-For.
  const servers = await startCluster(PROCESSES, db.url, REDIS_TEST_URL, { TRUST_PROXY: 'true', ...env }).catch(async (err: unknown) => {
    await db.drop();
    throw err;
  });
  const port = await freePort();
  const nginx = await startNginx(
    clusterSite(
      servers.map((s) => s.port),
      port,
    ),
    port,
  );
  const url = `http://127.0.0.1:${port}`;
  const t = {
    url,
    http: () => request.agent(url),
    async close() {
      await nginx.stop();
      await stopAll(servers);
      drops.push(db.drop());
    },
  };
  const fields = {
    core: 'the core (hub, store)',
    store: 'the SQLite store',
    config: 'the config',
    app: 'the request handlers',
    server: 'the HTTP server',
    logger: 'the logger',
  };
  for (const [field, what] of Object.entries(fields)) {
    Object.defineProperty(t, field, { get: () => inProcessOnly(what) });
  }
  const app = t as unknown as TestApp;
  processesOf.set(app, servers);
  return app;
}

/** waitHeld() for a cluster app: the polls held by all its processes together (their /metrics). */
export async function clusterWaitHeld(t: TestApp, n: number, timeoutMs: number): Promise<void> {
  const servers = processesOf.get(t) ?? inProcessOnly('waitHeld on an app not started by startClusterApp');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const held = (await Promise.all(servers.map(heldPolls))).reduce((a, b) => a + b, 0);
    if (held >= n) return;
    if (Date.now() > deadline) throw new Error(`expected ${n} held polls across the cluster, have ${held}`);
    await sleep(10);
  }
}
