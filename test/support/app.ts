// An in-process app on a fresh temporary database for HTTP tests: the real Koa app, store, hub
// and presence, listening on an ephemeral 127.0.0.1 port so held polls, sends and
// disconnects interact as they do in production. No child process, no fixed port.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { type Config, loadConfig } from '../../src/config';
import { type Core, createCore } from '../../src/core';
import { createLogger, type Logger } from '../../src/log';
import { type App, createApp, createHttpServer } from '../../src/server';
import { openStore, type SqliteStore } from '../../src/store';
import { CLUSTER_TARGET, clusterWaitHeld, startClusterApp } from './cluster-target';
import { tempDbPath } from './server';
import { sleep } from './util';

export interface TestApp {
  core: Core;
  /** core.store as what it is here, for what only SQLite has (the file, integrity checks). */
  store: SqliteStore;
  config: Config;
  /** Both handlers (Koa, the fast lane), as createApp made them. */
  app: App;
  server: http.Server;
  url: string;
  logger: Logger;
  /** supertest bound to the running server */
  http: () => request.Agent;
  close(): Promise<void>;
}

/**
 * Whether the servers made here put the fast lane in front of Koa (http/fast-lane.ts).
 * `npm test` runs test/http twice, the second time with TEST_FAST_LANE=off, so every HTTP test
 * holds for both ways of answering (#12).
 */
export const FAST_LANE = process.env.TEST_FAST_LANE !== 'off';

/**
 * Settings tests change; everything else is the production default. A fresh database, unless
 * env.DB_PATH names one (a restart on the same data). With TEST_TARGET=cluster, three server
 * processes on PostgreSQL and Redis behind nginx instead (cluster-target.ts).
 */
export async function startApp(env: Record<string, string> = {}, logTo?: { write(line: string): void }): Promise<TestApp> {
  if (CLUSTER_TARGET) return startClusterApp(env, logTo);
  const dbPath = env.DB_PATH ?? tempDbPath('chat-http-');
  // scrypt at its lowest allowed cost keeps sign-ups fast in tests; cost is tested on its own.
  const config = loadConfig({ SCRYPT_COST: '10', LOG_LEVEL: 'silent', ...env, DB_PATH: dbPath });
  const store = openStore(config.dbPath, { synchronous: config.dbSynchronous });
  const core = createCore(config, store);
  const logger = createLogger(config.logLevel, logTo);
  const app = createApp({ core, logger });
  const server = createHttpServer(app, config, { fastLane: FAST_LANE });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    core,
    store,
    config,
    app,
    server,
    logger,
    url: `http://127.0.0.1:${port}`,
    http: () => request.agent(server),
    async close() {
      core.hub.closeAll();
      // let the answers to held polls be written before their sockets go
      await sleep(20);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await store.close();
    },
  };
}

export interface Login {
  username: string;
  token: string;
  deviceId: string;
  cursor: string;
  auth: { Authorization: string };
}

let counter = 0;
export function uniqueName(prefix = 'u'): string {
  counter += 1;
  return `${prefix}${counter}`;
}

export async function signUp(t: TestApp, username: string, password = 'correct horse'): Promise<void> {
  await t.http().post('/users').send({ username, password }).expect(201);
}

export async function logIn(t: TestApp, username: string, password = 'correct horse', deviceName = 'test device'): Promise<Login> {
  const res = await t.http().post('/sessions').send({ username, password, device_name: deviceName }).expect(201);
  return {
    username,
    token: res.body.token,
    deviceId: res.body.device.id,
    cursor: res.body.cursor,
    auth: { Authorization: `Bearer ${res.body.token}` },
  };
}

/** A new user with one logged-in device. */
export async function newUser(t: TestApp, prefix = 'u'): Promise<Login> {
  const name = uniqueName(prefix);
  await signUp(t, name);
  return logIn(t, name);
}

export async function send(t: TestApp, from: Login, to: string, body: string, clientId?: string): Promise<request.Response> {
  return t.http().post('/messages').set(from.auth).send({ to, body, client_id: clientId }).expect(201);
}

/** The contract's error shape, with the expected status and code. */
export function expectError(res: request.Response, status: number, code: string): void {
  if (res.status !== status || res.body?.error?.code !== code) {
    throw new Error(`expected ${status} ${code}, got ${res.status} ${JSON.stringify(res.body)}`);
  }
  if (typeof res.body.error.message !== 'string' || res.body.error.message.length === 0) {
    throw new Error(`error without a message: ${JSON.stringify(res.body)}`);
  }
}

/** Waits until the hub holds n polls (the requests reached the server and parked). */
export async function waitHeld(t: TestApp, n: number, timeoutMs = 5000): Promise<void> {
  if (CLUSTER_TARGET) return clusterWaitHeld(t, n, timeoutMs);
  const deadline = Date.now() + timeoutMs;
  while (t.core.hub.stats().held < n) {
    if (Date.now() > deadline) throw new Error(`expected ${n} held polls, have ${t.core.hub.stats().held}`);
    await sleep(5);
  }
}

/** Starts a request now (supertest is lazy) and returns its promise. */
export function begin(req: request.Test): Promise<request.Response> {
  return new Promise((resolve, reject) => {
    req.then(resolve, reject);
  });
}
