// Configuration: defaults, parsing, failing fast (issue #2).
import assert from 'node:assert/strict';
import path from 'node:path';
import { ConfigError, loadConfig, REPO_ROOT, SETTINGS } from '../../src/config';
import { configHelp } from '../../src/config-docs';

describe('config (unit, #2)', () => {
  it('has working defaults with no environment at all', () => {
    const c = loadConfig({});
    assert.equal(c.port, 3000);
    assert.equal(c.dbPath, path.join(REPO_ROOT, 'db', 'chat.sqlite'));
    assert.equal(c.dbSynchronous, 'FULL');
    assert.equal(c.signupEnabled, true);
    assert.equal(c.corsOrigin, '*');
    assert.equal(c.pollTimeoutDefaultMs, 25_000);
    assert.equal(c.pollTimeoutMaxMs, 50_000);
    assert.equal(c.pollsPerDevice, 4);
    assert.equal(c.presenceWindowMs, 60_000);
    assert.ok(c.keepAliveTimeoutMs > 60_000, 'keep-alive outlives the 60 s proxies keep theirs');
    assert.ok(c.requestTimeoutMs > 0 && c.headersTimeoutMs > 0);
    assert.ok(Object.isFrozen(c));
  });

  it('reads every variable', () => {
    const c = loadConfig({
      PORT: '8080',
      HOST: '127.0.0.1',
      DB_PATH: '/tmp/x.sqlite',
      SIGNUP_ENABLED: 'off',
      POLL_TIMEOUT_MAX: '30',
      POLL_TIMEOUT_DEFAULT: '10',
      DB_SYNCHRONOUS: 'normal',
      CORS_ORIGIN: 'https://a.example',
      BODY_LIMIT: '32kb',
    });
    assert.equal(c.port, 8080);
    assert.equal(c.host, '127.0.0.1');
    assert.equal(c.dbPath, '/tmp/x.sqlite');
    assert.equal(c.signupEnabled, false);
    assert.equal(c.pollTimeoutMaxMs, 30_000);
    assert.equal(c.pollTimeoutDefaultMs, 10_000);
    assert.equal(c.dbSynchronous, 'NORMAL');
    assert.equal(c.corsOrigin, 'https://a.example');
    assert.equal(c.bodyLimitBytes, 32 * 1024);
  });

  it('fails fast and names the variable', () => {
    assert.throws(
      () => loadConfig({ PORT: 'eighty' }),
      (e: Error) => e instanceof ConfigError && /PORT/.test(e.message),
    );
    assert.throws(() => loadConfig({ PORT: '70000' }), /PORT must be between/);
    assert.throws(() => loadConfig({ SIGNUP_ENABLED: 'maybe' }), /SIGNUP_ENABLED/);
    assert.throws(() => loadConfig({ DB_SYNCHRONOUS: 'OFF' }), /DB_SYNCHRONOUS/);
    assert.throws(() => loadConfig({ POLL_TIMEOUT_DEFAULT: '60' }), /POLL_TIMEOUT_DEFAULT must not be larger/);
    assert.throws(() => loadConfig({ BODY_LIMIT: 'lots' }), /BODY_LIMIT/);
  });

  it('per-user caps and device expiry: defaults, units, off, and their bounds (#13)', () => {
    const d = loadConfig({});
    assert.equal(d.pollsPerUser, 20);
    assert.equal(d.maxDevicesPerUser, 100);
    assert.equal(d.deviceExpiryMs, 90 * 86_400_000);
    const units: Array<[string, number]> = [
      ['45s', 45_000],
      ['45', 45_000],
      ['30m', 1_800_000],
      ['12H', 43_200_000],
      [' 7 d ', 7 * 86_400_000],
      ['off', 0],
      ['0', 0],
    ];
    for (const [raw, ms] of units) assert.equal(loadConfig({ DEVICE_EXPIRY: raw }).deviceExpiryMs, ms, raw);
    for (const bad of ['-1d', '1.5d', '1w', 'soon', '', '3651d'])
      assert.throws(() => loadConfig({ DEVICE_EXPIRY: bad }), /DEVICE_EXPIRY/, JSON.stringify(bad));
    assert.equal(loadConfig({ POLLS_PER_USER: '8', POLLS_PER_DEVICE: '8' }).pollsPerUser, 8);
    assert.throws(() => loadConfig({ POLLS_PER_USER: '3' }), /POLLS_PER_USER must not be smaller than POLLS_PER_DEVICE/);
    assert.throws(() => loadConfig({ MAX_DEVICES_PER_USER: '0' }), /MAX_DEVICES_PER_USER/);
  });

  it('--help lists every setting with its default', () => {
    const help = configHelp();
    for (const s of SETTINGS) assert.ok(help.includes(s.env), `${s.env} in --help`);
  });

  it('DATABASE_URL and REDIS_URL: off by default, URLs of their own schemes, Redis only with PostgreSQL (#16)', () => {
    const none = loadConfig({});
    assert.equal(none.databaseUrl, '');
    assert.equal(none.redisUrl, '');
    assert.equal(none.databasePoolSize, 10);
    const c = loadConfig({ DATABASE_URL: ' postgresql://chat@db/chat ', REDIS_URL: 'rediss://cache:6380', DATABASE_POOL_SIZE: '4' });
    assert.equal(c.databaseUrl, 'postgresql://chat@db/chat');
    assert.equal(c.redisUrl, 'rediss://cache:6380');
    assert.equal(c.databasePoolSize, 4);
    assert.throws(() => loadConfig({ DATABASE_URL: 'mysql://db/chat' }), /DATABASE_URL must start with postgres:\/\/ or postgresql:\/\//);
    assert.throws(() => loadConfig({ DATABASE_URL: 'not a url' }), /DATABASE_URL must be a URL/);
    assert.throws(
      () => loadConfig({ DATABASE_URL: 'postgres://db/chat', REDIS_URL: 'http://cache' }),
      /REDIS_URL must start with redis:\/\//,
    );
    assert.throws(
      () => loadConfig({ REDIS_URL: 'redis://cache' }),
      (err: unknown) => err instanceof ConfigError && /REDIS_URL needs DATABASE_URL/.test(err.message),
    );
    assert.throws(() => loadConfig({ DATABASE_POOL_SIZE: '0' }), /DATABASE_POOL_SIZE/);
  });
});
