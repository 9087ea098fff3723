// Configuration: every setting comes from one environment variable, is parsed once at start-up
// into a frozen Config, and fails fast with a message that names the variable. The same table
// drives `--help` and the README's configuration table (config-docs.ts), so the three cannot
// disagree. The parsers the table uses are in config-parse.ts.
import path from 'node:path';
import {
  bool,
  byteSize,
  ConfigError,
  duration,
  integer,
  nonEmpty,
  oneOf,
  type Parser,
  rate,
  type RateRule,
  seconds,
  text,
  urlOf,
} from './config-parse';

export { ConfigError, type RateRule };

export type SqliteSynchronous = 'FULL' | 'NORMAL' | 'EXTRA';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Config {
  readonly port: number;
  /** Empty string: every interface (Node's default, IPv6 and IPv4 where available). */
  readonly host: string;
  readonly dbPath: string;
  readonly dbSynchronous: SqliteSynchronous;
  /** postgres://... : keep the data in PostgreSQL, shared by any number of processes (#16); empty: SQLite at dbPath. */
  readonly databaseUrl: string;
  /** Connections each process keeps to PostgreSQL. */
  readonly databasePoolSize: number;
  /** redis://... : wake polls held on other processes (#16); empty: they are re-checked on a timer only. */
  readonly redisUrl: string;
  readonly signupEnabled: boolean;
  readonly corsOrigin: string;
  readonly trustProxy: boolean;
  readonly logLevel: LogLevel;
  readonly pollTimeoutDefaultMs: number;
  readonly pollTimeoutMaxMs: number;
  readonly pollLimitDefault: number;
  readonly pollLimitMax: number;
  readonly pollsPerDevice: number;
  /** Held polls of one user, all their devices together. */
  readonly pollsPerUser: number;
  readonly maxHeldPolls: number;
  readonly overloadRetryAfterS: number;
  readonly presenceWindowMs: number;
  readonly bodyLimitBytes: number;
  readonly keepAliveTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly shutdownGraceMs: number;
  /** Devices (log-ins) one user may have; past it a log-in ends their least recently used one. */
  readonly maxDevicesPerUser: number;
  /** A device unused this long (milliseconds) is deleted; 0 = devices never expire. */
  readonly deviceExpiryMs: number;
  /** Open TCP connections per client address (an IPv6 client: per /64); 0 = unlimited. */
  readonly maxConnectionsPerIp: number;
  readonly sendTimeoutMs: number;
  /** log2 of scrypt's N (CPU and memory cost) for new password hashes. */
  readonly scryptCost: number;
  readonly rateLoginUser: RateRule;
  readonly rateLoginIp: RateRule;
  readonly rateSignupIp: RateRule;
  readonly rateMessagesUser: RateRule;
  /** Groups one user may create per window (issue #15). */
  readonly rateGroupsUser: RateRule;
  /** Members a group may have, its owner included (issue #15). */
  readonly groupMembersMax: number;
  /** Groups a user may be a member of (issue #15): others put a user in groups. */
  readonly groupsPerUserMax: number;
}

/** The repository root: this file runs compiled as dist/src/config.js. */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');

export interface Setting<K extends keyof Config = keyof Config> {
  key: K;
  env: string;
  /** The default as a user would type it in the environment. */
  default: string;
  parse: Parser<Config[K]>;
  help: string;
}

function setting<K extends keyof Config>(s: Setting<K>): Setting<K> {
  return s;
}

export const SETTINGS: readonly Setting[] = [
  setting({ key: 'port', env: 'PORT', default: '3000', parse: integer(0, 65535), help: 'TCP port to listen on.' }),
  setting({
    key: 'host',
    env: 'HOST',
    default: '',
    parse: text,
    help: 'Address to listen on; empty means every interface. Use 127.0.0.1 behind a local proxy.',
  }),
  setting({
    key: 'dbPath',
    env: 'DB_PATH',
    default: 'db/chat.sqlite',
    parse: nonEmpty,
    help: 'SQLite database file (created with its directory if missing). Relative paths are taken from the repository root.',
  }),
  setting({
    key: 'dbSynchronous',
    env: 'DB_SYNCHRONOUS',
    default: 'FULL',
    parse: oneOf<SqliteSynchronous>(['FULL', 'NORMAL', 'EXTRA'], true),
    help: 'SQLite synchronous mode. FULL: an acknowledged message survives a power loss (fsync before the 201). NORMAL survives only a process crash.',
  }),
  setting({
    key: 'databaseUrl',
    env: 'DATABASE_URL',
    default: '',
    parse: urlOf(['postgres', 'postgresql']),
    help: 'postgres://user@host:5432/name keeps the data in PostgreSQL instead of SQLite (DB_PATH is then unused), so that any number of server processes, on any number of machines, can share it (README: "Several processes on PostgreSQL"). The schema is made or upgraded at start. Empty: SQLite.',
  }),
  setting({
    key: 'databasePoolSize',
    env: 'DATABASE_POOL_SIZE',
    default: '10',
    parse: integer(1, 1000),
    help: "Connections each server process keeps to PostgreSQL. All processes together must stay below the server's max_connections (docs/DEPLOY.md).",
  }),
  setting({
    key: 'redisUrl',
    env: 'REDIS_URL',
    default: '',
    parse: urlOf(['redis', 'rediss']),
    help: 'redis://host:6379 with DATABASE_URL: a send through one process wakes polls held on every other within milliseconds (Redis pub/sub). Without it, or while Redis is down, those polls are answered by a re-check every few seconds instead.',
  }),
  setting({
    key: 'signupEnabled',
    env: 'SIGNUP_ENABLED',
    default: 'true',
    parse: bool,
    help: 'Allow POST /users (open sign-up). Off: add users with `npm run user:add`.',
  }),
  setting({
    key: 'corsOrigin',
    env: 'CORS_ORIGIN',
    default: '*',
    parse: nonEmpty,
    help: 'Access-Control-Allow-Origin on every answer. Tokens are not cookies, so * is safe.',
  }),
  setting({
    key: 'trustProxy',
    env: 'TRUST_PROXY',
    default: 'false',
    parse: bool,
    help: 'Take the client address from X-Forwarded-For. Turn on only behind a proxy you run.',
  }),
  setting({
    key: 'logLevel',
    env: 'LOG_LEVEL',
    default: 'info',
    parse: oneOf<LogLevel>(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], false),
    help: 'Log level (pino).',
  }),
  setting({
    key: 'pollTimeoutDefaultMs',
    env: 'POLL_TIMEOUT_DEFAULT',
    default: '25',
    parse: seconds(0, 3600),
    help: 'Seconds a poll is held when the client gives no timeout.',
  }),
  setting({
    key: 'pollTimeoutMaxMs',
    env: 'POLL_TIMEOUT_MAX',
    default: '50',
    parse: seconds(0, 3600),
    help: 'Longest hold in seconds; larger requests are clamped. Many proxies cut a silent response at 60 s.',
  }),
  setting({
    key: 'pollLimitDefault',
    env: 'POLL_LIMIT_DEFAULT',
    default: '100',
    parse: integer(1, 100000),
    help: 'Events per poll answer when the client gives no limit.',
  }),
  setting({
    key: 'pollLimitMax',
    env: 'POLL_LIMIT_MAX',
    default: '1000',
    parse: integer(1, 100000),
    help: 'Largest limit a client may ask for.',
  }),
  setting({
    key: 'pollsPerDevice',
    env: 'POLLS_PER_DEVICE',
    default: '4',
    parse: integer(1, 1000),
    help: 'Held polls per device (tabs); past it the oldest is answered at once with no events.',
  }),
  setting({
    key: 'pollsPerUser',
    env: 'POLLS_PER_USER',
    default: '20',
    parse: integer(1, 10_000_000),
    help: 'Held polls per user, all their devices together (at least POLLS_PER_DEVICE), so one account cannot take every slot; past it a poll that would wait gets 429 rate_limited with Retry-After (polls with events waiting are still answered). Counted per server process.',
  }),
  setting({
    key: 'maxHeldPolls',
    env: 'MAX_HELD_POLLS',
    default: '10000',
    parse: integer(1, 10_000_000),
    help: 'Held polls in the whole server; past it new polls get 503 overloaded. Each needs a file descriptor.',
  }),
  setting({
    key: 'overloadRetryAfterS',
    env: 'OVERLOAD_RETRY_AFTER',
    default: '5',
    parse: integer(1, 3600),
    help: 'Base Retry-After in seconds on 503 overloaded; a random 0..base is added so a reconnect storm spreads out.',
  }),
  setting({
    key: 'presenceWindowMs',
    env: 'PRESENCE_WINDOW',
    default: '60',
    parse: seconds(1, 86400),
    help: 'Seconds after its last poll or message sent that a device still counts as online in GET /presence (one that logs out or is revoked stops at once).',
  }),
  setting({
    key: 'bodyLimitBytes',
    env: 'BODY_LIMIT',
    default: '64kb',
    parse: byteSize,
    help: 'Largest request body; bigger ones get 413 without being read.',
  }),
  setting({
    key: 'keepAliveTimeoutMs',
    env: 'KEEP_ALIVE_TIMEOUT',
    default: '65',
    parse: seconds(1, 3600),
    help: 'Seconds an idle keep-alive connection stays open. Above the 60 s that proxies and load balancers keep theirs, so the proxy always closes first.',
  }),
  setting({
    key: 'headersTimeoutMs',
    env: 'HEADERS_TIMEOUT',
    default: '20',
    parse: seconds(1, 3600),
    help: 'Seconds a client has to send its request headers, and a new connection its first request (cuts slow-loris clients and silent sockets).',
  }),
  setting({
    key: 'requestTimeoutMs',
    env: 'REQUEST_TIMEOUT',
    default: '30',
    parse: seconds(1, 3600),
    help: 'Seconds a client has to send its whole request (cuts slow bodies). Held polls are not affected: the request is complete when the hold starts.',
  }),
  setting({
    key: 'sendTimeoutMs',
    env: 'SEND_TIMEOUT',
    default: '30',
    parse: seconds(1, 3600),
    help: 'Seconds an answer may sit unread: a client that takes none of it for that long is disconnected, so unread answers cannot pile up in memory.',
  }),
  setting({
    key: 'maxConnectionsPerIp',
    env: 'MAX_CONNECTIONS_PER_IP',
    default: '1000',
    parse: integer(0, 10_000_000),
    help: 'Open connections one client address (an IPv6 client: its /64) may hold; more are closed at once. 0: no limit. Ignored with TRUST_PROXY=true (every connection then comes from the proxy: limit there, see docs/DEPLOY.md).',
  }),
  setting({
    key: 'maxDevicesPerUser',
    env: 'MAX_DEVICES_PER_USER',
    default: '100',
    parse: integer(1, 1_000_000),
    help: "Devices (log-ins) one user may have; a log-in past it logs out the user's least recently used device (its token stops working, its held polls get 401). Also the most GET /devices lists.",
  }),
  setting({
    key: 'deviceExpiryMs',
    env: 'DEVICE_EXPIRY',
    default: '90d',
    parse: duration(1, 3650 * 86_400),
    help: 'A device that has made no request for this long is logged out (its token stops working): a time like 90d, 12h, 30m or 45s, or off. Checked every hour (every tenth of the time when that is shorter); last use is kept to about 10 seconds, and a device that keeps polling is always in use.',
  }),
  setting({
    key: 'shutdownGraceMs',
    env: 'SHUTDOWN_GRACE',
    default: '5',
    parse: seconds(0, 600),
    help: 'Seconds to let in-flight requests finish on SIGTERM after held polls were answered.',
  }),
  setting({
    key: 'scryptCost',
    env: 'SCRYPT_COST',
    default: '15',
    parse: integer(10, 20),
    help: 'log2 of scrypt N for new password hashes: 15 is about 60 ms and 32 MiB per hash on one core. Existing hashes keep their own cost.',
  }),
  setting({
    key: 'rateLoginUser',
    env: 'RATE_LOGIN_USER',
    default: '10/300',
    parse: rate,
    help: 'Failed log-ins per username (any letter case, any address) per window in seconds; past it every log-in for that name gets 429 until the window ends. A success clears the count. off disables.',
  }),
  setting({
    key: 'rateLoginIp',
    env: 'RATE_LOGIN_IP',
    default: '50/300',
    parse: rate,
    help: 'Failed log-ins per client address (an IPv6 client: its /64) per window; past it log-ins from that address get 429. Successful log-ins never count, so a classroom behind one NAT is not locked out.',
  }),
  setting({
    key: 'rateSignupIp',
    env: 'RATE_SIGNUP_IP',
    default: '50/3600',
    parse: rate,
    help: 'Sign-ups per client address (an IPv6 client: its /64) per window (raise it for a school behind one NAT).',
  }),
  setting({
    key: 'rateMessagesUser',
    env: 'RATE_MESSAGES_USER',
    default: '300/60',
    parse: rate,
    help: 'Messages a user may send (from all their devices together) per window. Renaming a group and adding or removing a member count as messages: each reaches every member.',
  }),
  setting({
    key: 'rateGroupsUser',
    env: 'RATE_GROUPS_USER',
    default: '20/3600',
    parse: rate,
    help: 'Groups a user may create per window in seconds; past it POST /groups gets 429 rate_limited naming the limit. Bounds the groups, and the events of their creation, that one account can make.',
  }),
  setting({
    key: 'groupMembersMax',
    env: 'GROUP_MEMBERS_MAX',
    default: '256',
    parse: integer(1, 100_000),
    help: 'Members a group may have, its owner included; past it adding gets 409 group_full. Every group message is written into the stream of each member, so this bounds the work of one send.',
  }),
  setting({
    key: 'groupsPerUserMax',
    env: 'GROUPS_PER_USER_MAX',
    default: '500',
    parse: integer(1, 100_000),
    help: 'Groups a user may be a member of, as owner or not; past it creating a group with them or adding them gets 409 group_full naming the user and the limit. Others can put a user in groups without their consent, so this bounds what others make the server hold for one user (memberships, and the events of groups in their stream).',
  }),
];

export function loadConfig(env: Record<string, string | undefined>): Config {
  const out: Record<string, unknown> = {};
  for (const s of SETTINGS) {
    const raw = env[s.env];
    out[s.key] = s.parse(raw === undefined ? s.default : raw, s.env);
  }
  const cfg = out as unknown as Config;
  if (cfg.pollTimeoutDefaultMs > cfg.pollTimeoutMaxMs) {
    throw new ConfigError('POLL_TIMEOUT_DEFAULT must not be larger than POLL_TIMEOUT_MAX');
  }
  if (cfg.pollsPerUser < cfg.pollsPerDevice) {
    throw new ConfigError('POLLS_PER_USER must not be smaller than POLLS_PER_DEVICE');
  }
  if (cfg.pollLimitDefault > cfg.pollLimitMax) {
    throw new ConfigError('POLL_LIMIT_DEFAULT must not be larger than POLL_LIMIT_MAX');
  }
  if (cfg.redisUrl && !cfg.databaseUrl) {
    throw new ConfigError('REDIS_URL needs DATABASE_URL: several processes share PostgreSQL, not a SQLite file');
  }
  const dbPath = cfg.dbPath === ':memory:' || path.isAbsolute(cfg.dbPath) ? cfg.dbPath : path.join(REPO_ROOT, cfg.dbPath);
  return Object.freeze({ ...cfg, dbPath });
}
