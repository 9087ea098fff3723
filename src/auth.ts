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
import { promisify } from 'node:util';
import type { Core } from './core';
import { formatCursor } from './cursor';
import { Errors } from './errors';
import type { Device, DeviceAuth, User, UserWithSecret } from './types';

const scrypt = promisify(crypto.scrypt) as (
  password: string,
  salt: Buffer,
  keylen: number,
  options: crypto.ScryptOptions,
) => Promise<Buffer>;

/** A username as typed: letter case is ignored (names are stored lowercased). */
export const USERNAME_PATTERN = /^[a-z0-9_.-]{1,32}$/i;
export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 256;
export const DEVICE_NAME_MAX = 64;
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
  const key = await scrypt(password, salt, KEY_LENGTH, { N: n, r: SCRYPT_R, p: SCRYPT_P, maxmem: maxmem(n, SCRYPT_R) });
  return `scrypt$${n}$${SCRYPT_R}$${SCRYPT_P}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [n, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  const salt = Buffer.from(parts[4] ?? '', 'base64');
  const expected = Buffer.from(parts[5] ?? '', 'base64');
  const key = await scrypt(password, salt, expected.length, { N: n, r, p, maxmem: maxmem(n, r) });
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
  if (core.store.findUser(username)) throw Errors.usernameTaken(); // spare the hashing cost
  const hash = await hashPassword(password, core.config.scryptCost);
  const user = core.store.createUser(username, hash);
  if (!user) throw Errors.usernameTaken(); // lost a race with another sign-up of the same name
  return user;
}

const TOKEN_PATTERN = /^([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]{43})$/;

function sha256(s: string): Buffer {
  return crypto.createHash('sha256').update(s).digest();
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

/** @param ip the client address, for the failed-log-in limits */
export async function logIn(core: Core, rawUsername: string, password: string, deviceName: string, ip: string): Promise<Session> {
  await core.limits.beginLogin(rawUsername, ip);
  const username = normalizeUsername(rawUsername);
  const user = username === null ? undefined : core.store.findUser(username);
  const ok = await verifyPassword(password, user?.passwordHash ?? (await dummyHash(core.config.scryptCost)));
  if (!user || !ok) throw Errors.invalidCredentials();
  await core.limits.loginSucceeded(rawUsername, ip);
  // Said only to someone who knows the password: it tells them nothing they could not guess.
  if (user.disabledAt !== null) throw Errors.forbidden('this account is disabled; ask an administrator');
  const c = newDeviceCredentials();
  const device = core.store.createDevice({ id: c.id, userId: user.id, name: deviceName, tokenHash: c.tokenHash });
  return { token: c.token, device };
}

/** The device a token belongs to; throws unauthorized for anything else. */
export function authenticate(core: Core, token: string): DeviceAuth {
  const m = TOKEN_PATTERN.exec(token);
  if (!m || m[1] === undefined || m[2] === undefined) throw Errors.unauthorized('the access token is malformed');
  const device = core.store.getDeviceAuth(m[1]);
  if (!device || !crypto.timingSafeEqual(Buffer.from(device.tokenHash, 'hex'), sha256(m[2]))) {
    throw Errors.unauthorized('the access token is not valid (logged out or revoked?)');
  }
  return device;
}

/** Ends a device: its token stops working and its held polls are answered 401 at once. */
export function revokeDevice(core: Core, caller: DeviceAuth, deviceId: string): void {
  // Another user's device is "not found", not "forbidden": its existence is not theirs to learn.
  if (!core.store.deleteDevice(deviceId, caller.userId)) throw Errors.notFound('no such device');
  core.hub.revokeDevice(deviceId);
  core.presence.forgetDevice(deviceId);
}

/**
 * Ends every device of the caller but the one making the request (a kiosk that logged in anew
 * on every reload, #14): each one as revokeDevice does, its held polls answered 401 at once.
 * Returns how many were ended. A device that logs in while this runs is not among them.
 */
export function revokeOtherDevices(core: Core, caller: DeviceAuth): number {
  let n = 0;
  for (const d of core.store.listDevices(caller.userId)) {
    if (d.id === caller.id || !core.store.deleteDevice(d.id, caller.userId)) continue;
    core.hub.revokeDevice(d.id);
    core.presence.forgetDevice(d.id);
    n++;
  }
  return n;
}

/**
 * Devices deleted by another process (the admin command line): answer their held polls 401
 * now rather than at their timeout, and stop counting them as online. Called when the
 * database's data_version shows another connection wrote. Returns how many devices holding
 * polls were let go.
 */
export function revokeVanishedDevices(core: Core): number {
  let n = 0;
  for (const id of core.hub.heldDeviceIds()) {
    if (!core.store.getDeviceAuth(id)) {
      core.hub.revokeDevice(id);
      n++;
    }
  }
  for (const id of core.presence.deviceIds()) {
    if (!core.store.getDeviceAuth(id)) core.presence.forgetDevice(id);
  }
  return n;
}

type AdminCore = Pick<Core, 'store' | 'config'>;

function existingUser(core: AdminCore, rawName: string): UserWithSecret {
  const name = normalizeUsername(rawName);
  const user = name === null ? undefined : core.store.findUser(name);
  if (!user) throw Errors.userNotFound(rawName);
  return user;
}

/** A new password; every device of the user is logged out (whoever had the old one). */
export async function resetPassword(core: AdminCore, rawName: string, password: string): Promise<{ revoked: number }> {
  checkPassword(password);
  const user = existingUser(core, rawName);
  core.store.setPasswordHash(user.id, await hashPassword(password, core.config.scryptCost));
  return { revoked: core.store.deleteDevicesOfUser(user.id).length };
}

/** Disables (logs out every device, refuses log-ins) or enables a user. */
export function setUserDisabled(core: AdminCore, rawName: string, disabled: boolean): { revoked: number } {
  const user = existingUser(core, rawName);
  core.store.setUserDisabled(user.id, disabled ? Date.now() : null);
  return { revoked: disabled ? core.store.deleteDevicesOfUser(user.id).length : 0 };
}

export function findUserForAdmin(core: AdminCore, rawName: string): User {
  const u = existingUser(core, rawName);
  return { id: u.id, username: u.username };
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

export function listDevices(core: Core, caller: DeviceAuth): DeviceView[] {
  return core.store.listDevices(caller.userId).map((d) => ({
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
