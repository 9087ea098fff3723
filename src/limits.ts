// Rate limits (rate-limiter-flexible, in memory: counts restart with the process, which only
// ever errs towards letting people in). Every limit answers 429 rate_limited with Retry-After.
//
// Log-ins count failures, not attempts: guessing passwords is what is slowed, and a user is
// never locked out by their own or their classmates' successful log-ins. The per-username count
// is keyed by the lowercased name, so changing letter case does not dodge it; a wrong password
// typed by someone else can lock a name out for at most RATE_LOGIN_USER's window.
import { RateLimiterMemory, type RateLimiterRes } from 'rate-limiter-flexible';
import type { Config, RateRule } from './config';
import { Errors } from './errors';

type Limiter = RateLimiterMemory | null;

function limiter(rule: RateRule, prefix: string): Limiter {
  return rule ? new RateLimiterMemory({ points: rule.points, duration: rule.windowS, keyPrefix: prefix }) : null;
}

function retryAfterS(res: RateLimiterRes): number {
  return Math.max(1, Math.ceil(res.msBeforeNext / 1000));
}

/** Throws 429 when the key has already used up its points (without using one). */
async function check(l: Limiter, key: string): Promise<void> {
  if (!l) return;
  const res = await l.get(key);
  if (res && res.consumedPoints >= l.points) throw Errors.rateLimited(retryAfterS(res));
}

/** Uses one point; throws 429 when that was one too many. */
async function consume(l: Limiter, key: string): Promise<void> {
  if (!l) return;
  try {
    await l.consume(key);
  } catch (res) {
    if (res instanceof Error) throw res;
    throw Errors.rateLimited(retryAfterS(res as RateLimiterRes));
  }
}

export class Limits {
  private readonly loginUser: Limiter;
  private readonly loginIp: Limiter;
  private readonly signupIp: Limiter;
  private readonly messagesUser: Limiter;

  constructor(config: Pick<Config, 'rateLoginUser' | 'rateLoginIp' | 'rateSignupIp' | 'rateMessagesUser'>) {
    this.loginUser = limiter(config.rateLoginUser, 'login-user');
    this.loginIp = limiter(config.rateLoginIp, 'login-ip');
    this.signupIp = limiter(config.rateSignupIp, 'signup-ip');
    this.messagesUser = limiter(config.rateMessagesUser, 'messages-user');
  }

  /** Before checking a password: refuse at once (no scrypt cost) if either count is used up. */
  async beforeLogin(username: string, ip: string): Promise<void> {
    await check(this.loginIp, ip);
    await check(this.loginUser, username.toLowerCase());
  }

  async loginFailed(username: string, ip: string): Promise<void> {
    await Promise.all([this.loginIp?.penalty(ip), this.loginUser?.penalty(username.toLowerCase())]);
  }

  async loginSucceeded(username: string): Promise<void> {
    await this.loginUser?.delete(username.toLowerCase());
  }

  async signup(ip: string): Promise<void> {
    await consume(this.signupIp, ip);
  }

  async message(userId: number): Promise<void> {
    await consume(this.messagesUser, String(userId));
  }
}
