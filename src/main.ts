// The process: loadConfig -> openStore -> createCore -> createApp -> listen; signals; shutdown.
import { type Config, ConfigError, loadConfig } from './config';
import { configHelp } from './config-docs';
import { deviceExpiryIntervalMs, expireIdleDevices, revokeVanishedDevices } from './auth';
import { guardConnections } from './connections';
import { createCore } from './core';
import { createLogger, errorFields, flushLogs, type Logger } from './log';
import { createApp, createHttpServer } from './server';
import { openPostgresStore, openStore, SchemaTooNewError, type SqliteStore, type Store } from './store';
import { wakeOutsideWrites } from './stream';
import { type ClusterLink, createClusterLink, linkHealth, redactUrl } from './cluster';

/** How often to look for writes by other processes (the admin command line). */
const EXTERNAL_CHANGES_CHECK_MS = 2000;

/** Why the server could not listen, in words that say which setting to change. */
const LISTEN_ERRORS: Record<string, string> = {
  EADDRINUSE: 'the port is already in use (another server running?); choose another with PORT=...',
  EACCES: 'not allowed to listen on that port (ports below 1024 need privileges); choose another with PORT=...',
  EADDRNOTAVAIL: 'this machine has no such address; check HOST',
};

/** The host part of a URL for the start-up log: the bound address, or localhost for all. */
function urlHost(host: string): string {
  if (!host || host === '0.0.0.0' || host === '::') return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}

/** The configured backend: SQLite at DB_PATH, or PostgreSQL at DATABASE_URL with its link to the other processes. */
interface Backend {
  store: Store;
  sqlite?: SqliteStore;
  link?: ClusterLink;
}

async function openBackend(config: Config, logger: Logger): Promise<Backend> {
  if (!config.databaseUrl) {
    const sqlite = openStore(config.dbPath, {
      synchronous: config.dbSynchronous,
      // A database from before search (issue #17) has its history indexed once, before the
      // server listens: a large one takes a while, so say how far it is.
      onSearchFill: (p) => {
        logger.info({ indexed: p.indexed, total: p.total }, p.done ? 'search index ready' : 'indexing stored messages for search');
        if (p.done) flushLogs(logger);
      },
    });
    return { store: sqlite, sqlite };
  }
  const store = await openPostgresStore(config.databaseUrl, { poolSize: config.databasePoolSize });
  return { store, link: createClusterLink(config, store, logger) };
}

function main(): void {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    process.stdout.write(`Usage: npm start  (or: node dist/src/main.js)\n\n${configHelp()}\n`);
    return;
  }

  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`configuration error: ${err.message}\n(run with --help for every setting)\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);

  openBackend(config, logger).then(
    (backend) => run(config, logger, backend),
    (err: unknown) => {
      const where = config.databaseUrl ? { databaseUrl: redactUrl(config.databaseUrl) } : { dbPath: config.dbPath };
      if (err instanceof SchemaTooNewError) logger.fatal(where, err.message);
      else logger.fatal({ ...where, err: errorFields(err) }, 'cannot open the database');
      flushLogs(logger);
      process.exit(2);
    },
  );
}

function run(config: Config, logger: Logger, backend: Backend): void {
  const { store, link } = backend;
  const core = createCore(config, store, link ? { observer: link, cluster: linkHealth(link) } : {});
  link?.start(core.hub, core.presence);
  const app = createApp({ core, logger });

  const server = createHttpServer(app, config);
  const guard = guardConnections(server, {
    maxPerAddress: config.trustProxy ? 0 : config.maxConnectionsPerIp,
    firstRequestMs: config.headersTimeoutMs,
    sendTimeoutMs: config.sendTimeoutMs,
  });

  // The admin command line writes to the same file from another process. When it has (SQLite's
  // data_version moved), let go of held polls whose device it revoked, and wake those whose
  // streams it appended to (a group member removed), instead of waiting for their timeouts. One
  // pragma every 2 s costs nothing. On PostgreSQL the cluster link's re-check does both for
  // every process (cluster/link.ts).
  const sqlite = backend.sqlite;
  let dataVersion = sqlite ? sqlite.sqlite.dataVersion() : 0;
  const watch = sqlite
    ? setInterval(() => {
        const v = sqlite.sqlite.dataVersion();
        if (v === dataVersion) return;
        dataVersion = v;
        revokeVanishedDevices(core).then(
          (n) => {
            if (n > 0) logger.info({ devices: n }, 'held polls of devices revoked elsewhere were answered');
          },
          (err: unknown) => logger.error({ err: errorFields(err) }, 'looking for devices revoked elsewhere failed'),
        );
        // It may also have written group events (remove-member, #15): wake the polls they are for.
        wakeOutsideWrites(core).then(
          (n) => {
            if (n > 0) logger.info({ streams: n }, 'held polls woken for events written elsewhere');
          },
          (err: unknown) => logger.error({ err: errorFields(err) }, 'looking for events written elsewhere failed'),
        );
      }, EXTERNAL_CHANGES_CHECK_MS)
    : undefined;
  watch?.unref();

  // Devices unused for DEVICE_EXPIRY are logged out by a sweep (issue #13).
  let sweeping = false;
  const sweep =
    config.deviceExpiryMs > 0
      ? setInterval(() => {
          if (sweeping) return; // a sweep of very many devices outlasting the interval
          sweeping = true;
          void expireIdleDevices(core)
            .then(
              (n) => {
                if (n > 0) logger.info({ devices: n }, 'devices unused for DEVICE_EXPIRY were logged out');
              },
              (err: unknown) => logger.error({ err: errorFields(err) }, 'expiring unused devices failed'),
            )
            .finally(() => {
              sweeping = false;
            });
        }, deviceExpiryIntervalMs(config.deviceExpiryMs))
      : undefined;
  sweep?.unref();

  let stopping = false;
  function shutdown(signal: string): void {
    if (stopping) return;
    stopping = true;
    clearInterval(watch);
    clearInterval(sweep);
    logger.info({ signal, held: core.hub.stats().held }, 'shutting down: answering held polls');
    // Held polls are answered at once with no events; clients poll again after the restart.
    core.hub.closeAll();
    server.close(() => {
      void Promise.resolve(link?.stop())
        .then(() => store.close())
        .then(
          () => {
            logger.info('stopped: database closed');
            return 0;
          },
          (err: unknown) => {
            logger.fatal({ err: errorFields(err) }, 'closing the database failed');
            return 1;
          },
        )
        .then((code) => {
          flushLogs(logger);
          process.exit(code);
        });
    });
    // Answers already written still need their sockets; idle keep-alive sockets do not.
    setImmediate(() => server.closeIdleConnections());
    setTimeout(() => {
      logger.warn({ open: guard.connections }, 'grace period over: closing remaining connections');
      server.closeAllConnections();
    }, config.shutdownGraceMs).unref();
  }
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  server.on('error', (err: NodeJS.ErrnoException) => {
    const why = err.code ? LISTEN_ERRORS[err.code] : undefined;
    if (why) {
      // A set-up mistake, not a fault: say what to change, as for a bad setting, no stack.
      const where = `${config.host || '*'}:${config.port}`;
      logger.fatal({ code: err.code, host: config.host || '*', port: config.port }, `cannot listen on ${where}`);
      process.stderr.write(`cannot listen on ${where}: ${why}\n`);
    } else {
      logger.fatal({ err: errorFields(err) }, 'server error');
    }
    void Promise.resolve(link?.stop())
      .then(() => store.close())
      .finally(() => {
        flushLogs(logger);
        process.exit(1);
      });
  });
  server.listen({ port: config.port, host: config.host || undefined }, () => {
    const addr = server.address();
    const port = typeof addr === 'object' && addr ? addr.port : config.port;
    const where = config.databaseUrl
      ? { databaseUrl: redactUrl(config.databaseUrl), redis: config.redisUrl ? redactUrl(config.redisUrl) : 'off' }
      : { dbPath: config.dbPath };
    logger.info({ port, host: config.host || '*', ...where }, `listening on http://${urlHost(config.host)}:${port}`);
  });
}

main();
