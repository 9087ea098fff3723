// Rate limits, in memory: counts restart with the process, which only ever errs towards letting
// people in. Every limit answers 429 rate_limited with Retry-After.
//
// Log-ins count failures, not successes: guessing passwords is what is slowed, and a user is
// never locked out by their own or their classmates' successful log-ins. Every attempt takes a
// point *before* its password is checked and a success gives it back: counting only after the
// (slow, on purpose) hash would let a burst of concurrent guesses all pass the check before the
// first one was counted. The per-username count is keyed by the lowercased name, so changing
// letter case does not dodge it; a wrong password typed by someone else can lock a name out for
// at most RATE_LOGIN_USER's window.
//
// Keys come from clients, so what they can make the server keep is bounded (#13): a username
// is checked before it becomes a key (auth.ts: at most 32 characters), an address is counted by
// addressKey() (an IPv6 client by its /64), and each limiter keeps at most LIMITER_KEYS_MAX keys,
// dropping those unused longest when full. rate-limiter-flexible, used before, has no such bound:
// its memory limiter keeps every key, and a timer for each, until its window ends.
import { addressKey } from './address';
import type { Config, RateRule } from './config';
import { Errors } from './errors';

/**
 * Keys one limiter keeps at most: a few MiB when full (test/unit/limits.test.ts). More than a
 * server sees within a window (distinct addresses failing log-ins in 5 minutes, users sending in
 * a minute); past it, keys not used for a while lose their counts. Making the per-name count of
 * a password being guessed go that way takes LIMITER_KEYS_MAX / 2 other names tried meanwhile,
 * each passing the address limit and costing a scrypt hash: longer than the window, at the
 * default SCRYPT_COST.
 */
export const LIMITER_KEYS_MAX = 20_000;

interface Window {
  count: number;
  /** When the window ends (milliseconds since the epoch). */
  endsAt: number;
}

/**
 * Points per key in fixed windows: a key's window starts with its first point and lasts
 * `windowMs`; past `points` in it, take() refuses until it ends. Holds at most `maxKeys` keys in
 * two generations of maxKeys / 2 (quick-lru's scheme): new keys go into the current one; when it
 * is full it becomes the previous one, and the previous one is dropped whole, with every key
 * nobody used since, ended windows included. A key used again moves up to the current
 * generation. Constant time per call, no timers, nothing per key but its entry.
 */
export class WindowLimiter {
  private current = new Map<string, Window>();
  private previous = new Map<string, Window>();

  constructor(
    readonly points: number,
    readonly windowMs: number,
    readonly maxKeys = LIMITER_KEYS_MAX,
  ) {}

  /** Keys held now (some may hold ended windows, dropped with their generation). */
  get size(): number {
    return this.current.size + this.previous.size;
  }

  /** Takes a point: 0 when allowed, else the milliseconds until the window ends. */
  take(key: string, now = Date.now()): number {
    let w = this.lookup(key);
    if (!w || w.endsAt <= now) {
      w = { count: 0, endsAt: now + this.windowMs };
      this.keep(key, w);
    }
    w.count++;
    return w.count > this.points ? w.endsAt - now : 0;
  }

  /** Gives a point back, within the key's current window (none: nothing to give back). */
  give(key: string, now = Date.now()): void {
    const w = this.lookup(key);
    if (w && w.endsAt > now && w.count > 0) w.count--;
  }

  /** Forgets the key's count. */
  forget(key: string): void {
    this.current.delete(key);
    this.previous.delete(key);
  }

  /** The key's window, moved up to the current generation when it was in the previous one. */
  private lookup(key: string): Window | undefined {
    const w = this.current.get(key);
    if (w) return w;
    const old = this.previous.get(key);
    if (old) {
      this.previous.delete(key);
      this.keep(key, old);
    }
    return old;
  }

  /** Puts the key in the current generation, starting a new one first when it is full. */
  private keep(key: string, w: Window): void {
    if (!this.current.has(key) && this.current.size >= Math.max(1, Math.floor(this.maxKeys / 2))) {
      this.previous = this.current;
      this.current = new Map();
    }
    this.current.set(key, w);
  }
}

type Limiter = WindowLimiter | null;

function limiter(rule: RateRule): Limiter {
  return rule ? new WindowLimiter(rule.points, rule.windowS * 1000) : null;
}

/** Uses one point; throws 429 when that was one too many. */
function consume(l: Limiter, key: string): void {
  const waitMs = l?.take(key) ?? 0;
  if (waitMs > 0) throw Errors.rateLimited(Math.max(1, Math.ceil(waitMs / 1000)));
}

/**
 * A settled promise of `fn`'s outcome. The limits answer as promises, though counted here in
 * memory, so that counts shared between server processes (#16) can come later without
 * changing a caller.
 */
function settled(fn: () => void): Promise<void> {
  try {
    fn();
    return Promise.resolve();
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

export class Limits {
  private readonly loginUser: Limiter;
  private readonly loginIp: Limiter;
  private readonly signupIp: Limiter;
  private readonly messagesUser: Limiter;
  private readonly groupsUser: Limiter;

  constructor(config: Pick<Config, 'rateLoginUser' | 'rateLoginIp' | 'rateSignupIp' | 'rateMessagesUser' | 'rateGroupsUser'>) {
    this.loginUser = limiter(config.rateLoginUser);
    this.loginIp = limiter(config.rateLoginIp);
    this.signupIp = limiter(config.rateSignupIp);
    this.messagesUser = limiter(config.rateMessagesUser);
    this.groupsUser = limiter(config.rateGroupsUser);
  }

  /** Keys held by all the limiters together: for tests and metrics. */
  get keys(): number {
    return [this.loginUser, this.loginIp, this.signupIp, this.messagesUser, this.groupsUser].reduce((n, l) => n + (l?.size ?? 0), 0);
  }

  /**
   * Before checking a password: takes a point from the address and from the name, refusing at
   * once (no hashing cost) when either is used up. A failure simply keeps its points.
   *
   * @param username the name, lowercased, or null when it cannot be a username: then only the
   *   address counts the attempt (a key is never longer than a username).
   */
  beginLogin(username: string | null, ip: string): Promise<void> {
    return settled(() => {
      const address = addressKey(ip);
      consume(this.loginIp, address);
      if (username === null) return;
      try {
        consume(this.loginUser, username);
      } catch (err) {
        this.loginIp?.give(address); // refused for the name's sake: the address checked nothing
        throw err;
      }
    });
  }

  /** The password was right: the address gets its point back and the name's count starts over. */
  loginSucceeded(username: string, ip: string): Promise<void> {
    return settled(() => {
      this.loginIp?.give(addressKey(ip));
      this.loginUser?.forget(username);
    });
  }

  signup(ip: string): Promise<void> {
    return settled(() => consume(this.signupIp, addressKey(ip)));
  }

  message(userId: number): Promise<void> {
    return settled(() => consume(this.messagesUser, String(userId)));
  }

  /** The send turned out to be a retry of a stored one (or a reused client_id): no point. */
  messageNotStored(userId: number): Promise<void> {
    return settled(() => this.messagesUser?.give(String(userId)));
  }

  /** A new group (issue #15): 429 naming the limit once the user has made as many as they may. */
  group(userId: number): Promise<void> {
    return settled(() => {
      const l = this.groupsUser;
      const waitMs = l?.take(String(userId)) ?? 0;
      if (l && waitMs > 0) throw Errors.tooManyGroups(l.points, l.windowMs / 1000, Math.max(1, Math.ceil(waitMs / 1000)));
    });
  }

  /** The group was not made after all (refused by the store): no point. */
  groupNotMade(userId: number): Promise<void> {
    return settled(() => this.groupsUser?.give(String(userId)));
  }
}
