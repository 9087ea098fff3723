// The bus of cluster/link.ts on Redis pub/sub (REDIS_URL): one channel per database, every
// server process subscribed to it. `ioredis` is loaded only here, only when REDIS_URL is set.
//
// Two connections: a subscribed connection can do nothing but listen. Publishing never queues
// while Redis is away (enableOfflineQueue off): a hint that cannot be sent now is dropped, and
// the re-check of every process (link.ts) makes up for it, so an outage holds no memory here and
// never slows a send. Both connections reconnect on their own, backing off up to RETRY_MAX_MS;
// once the subscription is back, the link re-checks at once.
import crypto from 'node:crypto';
import type { Redis, RedisOptions } from 'ioredis';
import type { Bus } from './link';

/** Longest wait between reconnection attempts. */
const RETRY_MAX_MS = 2000;

/** The channel for a database: processes on the same data share it, others never mix in. */
export function channelFor(databaseUrl: string): string {
  const u = new URL(databaseUrl);
  const where = `${u.hostname}:${u.port || '5432'}${u.pathname}`;
  return `longpoll-chat:${crypto.createHash('sha256').update(where).digest('hex').slice(0, 16)}`;
}

export interface RedisBusOptions {
  /** Told of connection errors (at most once per outage: the caller logs). */
  onError?: (err: Error) => void;
}

export class RedisBus implements Bus {
  private readonly pub: Redis;
  private readonly sub: Redis;
  private subscribed = false;
  private erred = false;

  constructor(
    url: string,
    private readonly channel: string,
    private readonly opts: RedisBusOptions = {},
  ) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded only when REDIS_URL is set
    const { Redis: RedisClient } = require('ioredis') as typeof import('ioredis');
    const common: RedisOptions = {
      retryStrategy: (times) => Math.min(times * 100, RETRY_MAX_MS),
      maxRetriesPerRequest: 1,
      lazyConnect: true,
    };
    this.pub = new RedisClient(url, { ...common, enableOfflineQueue: false });
    this.sub = new RedisClient(url, { ...common, autoResubscribe: false });
    for (const c of [this.pub, this.sub]) {
      c.on('error', (err: Error) => this.failed(err));
      c.on('ready', () => {
        this.erred = false;
      });
    }
  }

  get healthy(): boolean {
    return this.subscribed && this.pub.status === 'ready' && this.sub.status === 'ready';
  }

  private failed(err: Error): void {
    if (this.erred) return;
    this.erred = true;
    this.opts.onError?.(err);
  }

  start(handlers: { message(text: string): void; subscribed(): void }): void {
    this.sub.on('message', (channel: string, text: string) => {
      if (channel === this.channel) handlers.message(text);
    });
    this.sub.on('close', () => {
      this.subscribed = false;
    });
    // Subscribed anew on every (re)connection, then the link re-checks what it may have missed.
    this.sub.on('ready', () => {
      this.sub.subscribe(this.channel).then(
        () => {
          this.subscribed = true;
          handlers.subscribed();
        },
        (err: unknown) => this.failed(err instanceof Error ? err : new Error(String(err))),
      );
    });
    this.sub.connect().catch(() => undefined); // failures go to 'error' and are retried
    this.pub.connect().catch(() => undefined);
  }

  publish(text: string): void {
    if (this.pub.status !== 'ready') return;
    this.pub.publish(this.channel, text).catch((err: unknown) => this.failed(err instanceof Error ? err : new Error(String(err))));
  }

  /** Presence of processes: one key per process, and a sorted set of them by expiry. */
  private get statesKey(): string {
    return `${this.channel}:states`;
  }

  async putState(id: string, text: string, ttlMs: number): Promise<void> {
    const now = Date.now();
    await this.pub
      .multi()
      .set(`${this.statesKey}:${id}`, text, 'PX', ttlMs)
      .zadd(this.statesKey, now + ttlMs, id)
      .zremrangebyscore(this.statesKey, '-inf', now)
      .exec();
  }

  async readStates(): Promise<Map<string, string>> {
    const ids = await this.pub.zrangebyscore(this.statesKey, Date.now(), '+inf');
    if (ids.length === 0) return new Map();
    const texts = await this.pub.mget(...ids.map((id) => `${this.statesKey}:${id}`));
    const out = new Map<string, string>();
    ids.forEach((id, i) => {
      const t = texts[i];
      if (typeof t === 'string') out.set(id, t);
    });
    return out;
  }

  async close(): Promise<void> {
    this.subscribed = false;
    this.pub.disconnect();
    this.sub.disconnect();
    return Promise.resolve();
  }
}
