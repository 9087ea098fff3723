// Several server processes on one PostgreSQL database (#16): the link that wakes polls across
// them (link.ts), on Redis when REDIS_URL is set (redis-bus.ts), for main.ts to start.
import crypto from 'node:crypto';
import os from 'node:os';
import type { Config } from '../config';
import type { ClusterHealth } from '../core';
import type { Logger } from '../log';
import { errorFields } from '../log';
import type { PostgresStore } from '../store';
import { ClusterLink } from './link';
import { channelFor, RedisBus } from './redis-bus';

export { ClusterLink, RECHECK_MS, type Bus, type StreamReads } from './link';

/** A name for this process on the bus, unique across machines and restarts. */
function processId(): string {
  return `${os.hostname()}:${process.pid}:${crypto.randomBytes(4).toString('hex')}`;
}

/** The link for a server process on PostgreSQL, with a Redis bus when REDIS_URL is set; not started yet. */
export function createClusterLink(config: Config, store: PostgresStore, logger: Logger): ClusterLink {
  const bus = config.redisUrl
    ? new RedisBus(config.redisUrl, channelFor(config.databaseUrl), {
        onError: (err) =>
          logger.warn({ err: errorFields(err) }, 'Redis unreachable: polls on other processes are woken by re-check until it is back'),
      })
    : null;
  return new ClusterLink(store, bus, processId(), {
    readLimit: config.pollLimitMax,
    onError: (err, what) => logger.error({ err: errorFields(err) }, `cluster: ${what} failed`),
  });
}

/**
 * /healthz's fields for the link: degraded while Redis is configured but away, or while
 * PostgreSQL cannot be reached (requests that need it get 503 with Retry-After meanwhile).
 */
export function linkHealth(link: ClusterLink): ClusterHealth {
  return {
    health() {
      const { bus, database } = link.status();
      const fields: Record<string, string | boolean> = { store: 'postgresql', redis: bus };
      if (database === 'down') fields.database = 'down';
      if (bus === 'down' || database === 'down') fields.degraded = true;
      return fields;
    },
  };
}

/** A database URL without its password, for logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable URL)';
  }
}
