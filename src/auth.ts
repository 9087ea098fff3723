// Accounts and devices: sign-up, log-in (one device per login), tokens, log-out, revocation.
//
// Passwords: scrypt with a random salt, parameters stored with the hash so the cost can be
// raised later without breaking old hashes; compared in constant time. A login for a name that
// does not exist still runs scrypt against a dummy hash, so wrong user and wrong password take
// the same time and give the same answer.
//
// Tokens: "<device id>.<secret>" with 256 random bits of secret. The device id selects the row,
// the secret is checked against the stored sha256 with timingSafeEqual (a plain sha256 is
// enough for a random 256-bit secret; slow hashing protects guessable passwords, not this).
import crypto from 'node:crypto';
import { setImmediate } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { Core } from './core';
import { formatCursor } from './cursor';
import { Errors } from './errors';
import type { Device, DeviceAuth, User } from './types';

const scrypt = promisify(crypto.scrypt) as (
  password: string,
  salt: Buffer,
  keylen: number,
  options: crypto.ScryptOptions,
) => Promise<Buffer>;

/**
 * scrypts running at once: one less than libuv's thread pool (UV_THREADPOOL_SIZE, libuv's own
 * setting, 4 when unset), where scrypt runs. The WAL's fsync that every send waits for runs in
 * that pool too (store/sqlite/wal-sync.ts, #18), as do log writes: a burst of log-ins, each
 * scrypt tens of milliseconds, must not hold every thread and queue the fsyncs behind it. The
 * other scrypts wait here, in order.
 */
export const SCRYPT_AT_ONCE = Math.max(1, (Number(process.env.UV_THREADPOOL_SIZE) || 4) - 1);
let scryptsRunning = 0;
const scryptsWaiting: (() => void)[] = [];

function scryptInTurn(password: string, salt: Buffer, keylen: number, options: crypto.ScryptOptions): Promise<Buffer> {
  const start = (): Promise<Buffer> => scrypt(password, salt, keylen, options).finally(passScryptSlot);
  if (scryptsRunning < SCRYPT_AT_ONCE) {
    scryptsRunning++;
    return start();
  }
  return new Promise<void>((resolve) => scryptsWaiting.push(resolve)).then(start);
}

/** A scrypt ended: its slot goes to the next one waiting, if any (so none can jump the queue). */
function passScryptSlot(): void {
  const next = scryptsWaiting.shift();
  if (next) next();
  else scryptsRunning--;
}

/** scrypts running and waiting now (tests). */
export function scryptLoad(): { running: number; waiting: number } {
  return { running: scryptsRunning, waiting: scryptsWaiting.length };
}

/** A username as typed: letter case is ignored (names are stored lowercased). */
export const USERNAME_PATTERN = /^[a-z0-9_.-]{1,32}$/i;
export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 256;
export const DEVICE_NAME_MAX = 64;
/** Rows a sweep of expired devices deletes per transaction (each turn of the event loop). */
const EXPIRY_BATCH = 500;
const KEY_LENGTH = 32;
const SCRYPT_R = 8;
const SCRYPT_P = 1;

/**
 * Checks a username's form and lowercases it; null when it cannot be a username at all. The
 * form is checked first: lowercasing maps some non-ASCII letters to ASCII (the Kelvin sign
 * U+212A becomes "k"), and a name outside a-z A-Z 0-9 _ . - must not pass for one inside.
 */
export function normalizeUsername(raw: string): string | null {
  return USERNAME_PATTERN.test(raw) ? raw.toLowerCase() : null;
}

function maxmem(n: number, r: number): number {
  // scrypt needs 128 * N * r bytes; Node refuses above maxmem (32 MiB by default).
  return 256 * n * r;
}

export async function hashPassword(password: string, cost: number): Promise<string> {
  const n = 2 ** cost;
  const salt = crypto.randomBytes(16);
  const key = await scryptInTurn(password, salt, KEY_LENGTH, { N: n, r: SCRYPT_R, p: SCRYPT_P, maxmem: maxmem(n, SCRYPT_R) });
  return `scrypt$${n}$${SCRYPT_R}$${SCRYPT_P}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [n, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  const salt = Buffer.from(parts[4] ?? '', 'base64');
  const expected = Buffer.from(parts[5] ?? '', 'base64');
  const key = await scryptInTurn(password, salt, expected.length, { N: n, r, p, maxmem: maxmem(n, r) });
  return key.length === expected.length && crypto.timingSafeEqual(key, expected);
}

/** A hash of a password nobody has, at the configured cost, for logins of unknown names. */
const dummyHashes = new Map<number, Promise<string>>();
function dummyHash(cost: number): Promise<string> {
  let h = dummyHashes.get(cost);
  if (!h) dummyHashes.set(cost, (h = hashPassword(crypto.randomBytes(16).toString('hex'), cost)));
  return h;
}

export function checkPassword(password: string): void {
  const len = [...password].length;
  if (len < PASSWORD_MIN || len > PASSWORD_MAX) {
    throw Errors.invalidRequest('password', `must be ${PASSWORD_MIN} to ${PASSWORD_MAX} characters`);
  }
}

/** Creates a user; throws username_taken. Used by POST /users and the command line. */
export async function createUser(core: Pick<Core, 'store' | 'config'>, username: string, password: string): Promise<User> {
  checkPassword(password);
  if (await core.store.findUser(username)) throw Errors.usernameTaken(); // spare the hashing cost
  const hash = await hashPassword(password, core.config.scryptCost);
  const user = await core.store.createUser(username, hash);
  if (!user) throw Errors.usernameTaken(); // lost a race with another sign-up of the same name
  return user;
}

/**
 * The user a name refers to (a recipient, a conversation, an account to administer);
 * user_not_found for a name that cannot exist or does not.
 */
export async function findUserOrThrow(core: Pick<Core, 'store'>, rawName: string): Promise<User> {
  const name = normalizeUsername(rawName);
  const user = name === null ? undefined : await core.store.userByName(name);
  if (!user) throw Errors.userNotFound(rawName);
  return user;
}

const TOKEN_PATTERN = /^([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]{43})$/;

/** sha256 of a new token's secret, as the store keeps it. */
function sha256(s: string): Buffer {
  return crypto.hash('sha256', s, 'buffer');
}

/**
 * Whether a token's secret hashes to the stored hash (hex), in constant time. It runs on every
 * authenticated request: one call, no Hash object, and the digest asked for as hex text, made
 * into bytes by Buffer.from like the stored one: a digest returned as a Buffer costs Node an
 * allocation of its own, about twice the time of the whole comparison (bench/hotpath.ts, #18).
 */
function secretMatches(secret: string, storedHex: string): boolean {
  const given = Buffer.from(crypto.hash('sha256', secret, 'hex'), 'hex');
  return crypto.timingSafeEqual(Buffer.from(storedHex, 'hex'), given);
}

export interface DeviceCredentials {
  id: string;
  token: string;
  tokenHash: Buffer;
}

/** A new device id and token; only tokenHash is ever stored. */
export function newDeviceCredentials(): DeviceCredentials {
  const id = crypto.randomBytes(12).toString('base64url');
  const secret = crypto.randomBytes(32).toString('base64url');
  return { id, token: `${id}.${secret}`, tokenHash: sha256(secret) };
}

export interface Session {
  token: string;
  device: Device;
}

/** Control characters (C0, DEL, C1): they move a terminal's cursor, they are not a name. */
// eslint-disable-next-line no-control-regex -- control characters are what it is for
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;

/** What is left of a User-Agent as a name: no control characters, at most DEVICE_NAME_MAX. */
function nameFromUserAgent(userAgent: string): string {
  const cleaned = userAgent.replace(new RegExp(CONTROL_CHARACTERS.source, 'g'), ' ').trim();
  const name = [...cleaned].slice(0, DEVICE_NAME_MAX).join('').trim();
  return name || 'unnamed device';
}

/**
 * The name of a new device: the client's `device_name` with white space trimmed, or when it
 * gives none (or only white space) its User-Agent ("curl/8.5.0" says a lot), cleaned. A given
 * name holding a control character, or over DEVICE_NAME_MAX characters, is refused: names are
 * shown to people, on pages and in the administrator's terminal, where an escape sequence
 * would clear the screen or fake output (#13). A User-Agent is not the client's choice of
 * name, so it is cleaned instead: control characters become spaces, and it is cut to size.
 */
export function deviceNameFor(given: string | undefined, userAgent: string): string {
  const name = given?.trim();
  if (!name) return nameFromUserAgent(userAgent);
  if (CONTROL_CHARACTERS.test(name)) throw Errors.invalidRequest('device_name', 'must not contain control characters');
  if ([...name].length > DEVICE_NAME_MAX) throw Errors.invalidRequest('device_name', `must be at most ${DEVICE_NAME_MAX} characters`);
  return name;
}

export interface LogInRequest {
  username: string;
  password: string;
  /** device_name as the client gave it (see deviceNameFor). */
  deviceName: string | undefined;
  /** The User-Agent header, or '': names the device when the client does not. */
  userAgent: string;
  /** The client address, for the failed-log-in limits. */
  ip: string;
}

/**
 * A new device for whoever knows the password. The password is checked against the hash read
 * first (scrypt takes tens of milliseconds), and the device is then made only if that hash is
 * still the user's and the account still enabled, in the transaction that inserts it: a reset
 * or a disable that lands meanwhile ends this log-in as if the password had been wrong (or the
 * account disabled), instead of handing out a token the reset was meant to stop (#13).
 *
 * A user keeps at most MAX_DEVICES_PER_USER devices: past it, the log-in ends their least
 * recently used one (its token stops working, its held polls are answered 401), so an account
 * that logs in again and again holds no more rows, cache entries or listing than that (#13).
 *
 * A name that cannot be a username (wrong characters, or longer than any username) is answered
 * like a wrong password, after the same dummy hash, and is never a rate-limit key: only the
 * address's count takes the failure. Keys are then at most a username long (#13).
 */
export async function logIn(core: Core, req: LogInRequest): Promise<Session> {
  const name = deviceNameFor(req.deviceName, req.userAgent);
  const username = normalizeUsername(req.username);
  await core.limits.beginLogin(username, req.ip);
  const user = username === null ? undefined : await core.store.findUser(username);
  const ok = await verifyPassword(req.password, user?.passwordHash ?? (await dummyHash(core.config.scryptCost)));
  if (!user || !ok) throw Errors.invalidCredentials();
  const c = newDeviceCredentials();
  const made =
    user.disabledAt !== null
      ? ({ status: 'disabled' } as const)
      : await core.store.createDevice(
          { id: c.id, userId: user.id, name, tokenHash: c.tokenHash },
          { passwordHash: user.passwordHash },
          core.config.maxDevicesPerUser,
        );
  // Reset since it was checked: a failed log-in, and it keeps its rate-limit points like one.
  if (made.status === 'stale') throw Errors.invalidCredentials();
  await core.limits.loginSucceeded(user.username, req.ip);
  // Said only to someone who knows the password: it tells them nothing they could not guess.
  if (made.status === 'disabled') throw Errors.forbidden('this account is disabled; ask an administrator');
  devicesEnded(core, made.evicted);
  return { token: c.token, device: made.device };
}

/** The device a token belongs to; rejects with unauthorized for anything else. */
export function authenticate(core: Core, token: string): Promise<DeviceAuth> {
  const m = TOKEN_PATTERN.exec(token);
  if (!m || m[1] === undefined || m[2] === undefined) return Promise.reject(Errors.unauthorized('the access token is malformed'));
  const secret = m[2];
  return core.store.getDeviceAuth(m[1]).then((device) => {
    if (!device || !secretMatches(secret, device.tokenHash)) {
      throw Errors.unauthorized('the access token is not valid (logged out or revoked?)');
    }
    return device;
  });
}

/** What ending devices needs: the store, and in the server process the hub and presence. */
type Revoking = Pick<Core, 'store'> & Partial<Pick<Core, 'hub' | 'presence'>>;

/**
 * Devices ended by this process: their held polls here are answered 401 at once (a server
 * that did not end them itself finds out through revokeVanishedDevices).
 */
function devicesEnded(core: Revoking, ids: readonly string[]): void {
  if (ids.length === 0) return;
  core.hub?.revokeDevices(ids);
  for (const id of ids) core.presence?.forgetDevice(id);
}

/**
 * Ends a device: its token stops working and its held polls are answered 401 at once. `caller`
 * is one of the user's devices (with its `id`), or for the command line the user alone. A
 * device asking that was itself logged out after its request authenticated ends nothing (401):
 * checked in the deletion's transaction, as a send checks its device (#13).
 */
export async function revokeDevice(core: Revoking, caller: Pick<DeviceAuth, 'userId'> & { id?: string }, deviceId: string): Promise<void> {
  const done = await core.store.deleteDevice(deviceId, caller.userId, caller.id);
  if (done === 'revoked') throw Errors.deviceEnded();
  // Another user's device is "not found", not "forbidden": its existence is not theirs to learn.
  if (done === 'not_found') throw Errors.notFound('no such device');
  devicesEnded(core, [deviceId]);
}

/**
 * Ends every device of a user (the command line's revoke-device --all), or every one but `keep`
 * (the caller's own: "log out every other device", a kiosk that logged in anew on every reload,
 * #14); returns how many. A device that logs in meanwhile is not among them. A `keep` that was
 * itself logged out after its request authenticated ends nothing (401), as revokeDevice.
 */
export async function revokeAllDevices(core: Revoking, user: Pick<User, 'id'>, keep?: string): Promise<number> {
  const ids = await core.store.deleteDevicesOfUser(user.id, keep);
  if (ids === null) throw Errors.deviceEnded();
  devicesEnded(core, ids);
  return ids.length;
}

/**
 * Deletes the devices nobody has used for DEVICE_EXPIRY (none when it is off), as revocation
 * does: their tokens stop working, their held polls are answered 401, and caches and presence
 * forget them. "Used" is the last request the store knows of, a poll's acknowledgement not yet
 * written included; last_seen_at is kept to about 10 seconds, and every poll records one, so a
 * device that keeps polling never expires. Works in batches, one transaction each, letting
 * other work in between. Resolves with how many devices went.
 */
export async function expireIdleDevices(core: Core, now = Date.now()): Promise<number> {
  if (core.config.deviceExpiryMs <= 0) return 0;
  const usedBefore = now - core.config.deviceExpiryMs;
  let n = 0;
  for (;;) {
    const ids = await core.store.deleteIdleDevices(usedBefore, EXPIRY_BATCH);
    devicesEnded(core, ids);
    n += ids.length;
    if (ids.length < EXPIRY_BATCH) return n;
    await setImmediate(); // other work between batches
  }
}

/** How often to look for expired devices: a tenth of DEVICE_EXPIRY, from a second to an hour. */
export function deviceExpiryIntervalMs(expiryMs: number): number {
  return Math.min(3_600_000, Math.max(1000, Math.round(expiryMs / 10)));
}

/**
 * Devices deleted by another process (the admin command line): answer their held polls 401
 * now rather than at their timeout, and stop counting them as online. Called when the
 * database's data_version shows another connection wrote. Resolves with how many devices
 * holding polls were let go.
 */
export async function revokeVanishedDevices(core: Core): Promise<number> {
  // Asked all at once: with SQLite, within the turn in which data_version was seen to move.
  const ids = core.hub.heldDeviceIds();
  const found = await Promise.all(ids.map((id) => core.store.getDeviceAuth(id)));
  let n = 0;
  ids.forEach((id, i) => {
    if (!found[i]) {
      core.hub.revokeDevice(id);
      n++;
    }
  });
  // And devices counted as online without a held poll (they polled or sent a moment ago).
  const online = core.presence.deviceIds();
  const stillThere = await Promise.all(online.map((id) => core.store.getDeviceAuth(id)));
  online.forEach((id, i) => {
    if (!stillThere[i]) core.presence.forgetDevice(id);
  });
  return n;
}

type AdminCore = Pick<Core, 'store' | 'config'> & Partial<Pick<Core, 'hub' | 'presence'>>;

/** A new password; every device of the user is logged out (whoever had the old one). */
export async function resetPassword(core: AdminCore, rawName: string, password: string): Promise<{ revoked: number }> {
  checkPassword(password);
  const user = await findUserOrThrow(core, rawName);
  const ids = await core.store.setPassword(user.id, await hashPassword(password, core.config.scryptCost));
  devicesEnded(core, ids);
  return { revoked: ids.length };
}

/** Disables (logs out every device, refuses log-ins) or enables a user. */
export async function setUserDisabled(core: AdminCore, rawName: string, disabled: boolean): Promise<{ revoked: number }> {
  const user = await findUserOrThrow(core, rawName);
  const ids = await core.store.setDisabled(user.id, disabled ? Date.now() : null);
  devicesEnded(core, ids);
  return { revoked: ids.length };
}

export interface DeviceView {
  id: string;
  name: string;
  created_at: string;
  last_seen_at: string;
  cursor: string;
  online: boolean;
  current: boolean;
}

/**
 * The caller's devices, oldest first: at most MAX_DEVICES_PER_USER, which a user has more of
 * only while devices made under a higher cap remain (then the most recently used, the caller's
 * own always among them). One answer stays a few tens of KiB (#13).
 */
export async function listDevices(core: Core, caller: DeviceAuth): Promise<DeviceView[]> {
  const max = core.config.maxDevicesPerUser;
  let devices = await core.store.listDevices(caller.userId, max);
  // The caller is using its device now; a use not yet written may still rank it below others.
  if (devices.length >= max && !devices.some((d) => d.id === caller.id)) {
    const byUse = [...devices].sort((a, b) => a.lastSeenAt - b.lastSeenAt);
    const dropped = byUse[0]?.id;
    devices = [...devices.filter((d) => d.id !== dropped), caller].sort((a, b) => a.createdAt - b.createdAt);
  }
  return devices.map((d) => ({
    id: d.id,
    name: d.name,
    created_at: new Date(d.createdAt).toISOString(),
    last_seen_at: new Date(d.lastSeenAt).toISOString(),
    cursor: formatCursor(d.cursor),
    // Holding a poll now (#14): a page closed a minute ago is not "online".
    online: core.presence.isDeviceOnline(d.id),
    current: d.id === caller.id,
  }));
}
