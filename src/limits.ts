// Rate limits (rate-limiter-flexible, in memory: counts restart with the process, which only
// ever errs towards letting people in). Every limit answers 429 rate_limited with Retry-After.
//
// Log-ins count failures, not successes: guessing passwords is what is slowed, and a user is
// never locked out by their own or their classmates' successful log-ins. Every attempt takes a
// point *before* its password is checked and a success gives it back: counting only after the
// (slow, on purpose) hash would let a burst of concurrent guesses all pass the check before the
// first one was counted. The per-username count is keyed by the lowercased name, so changing
// letter case does not dodge it; a wrong password typed by someone else can lock a name out for
// at most RATE_LOGIN_USER's window.
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

  /**
   * Before checking a password: takes a point from the address and from the name, refusing at
   * once (no hashing cost) when either is used up. A failure simply keeps its points.
   */
  async beginLogin(username: string, ip: string): Promise<void> {
    await consume(this.loginIp, ip);
    try {
      await consume(this.loginUser, username.toLowerCase());
    } catch (err) {
      await this.loginIp?.reward(ip); // refused for the name's sake: the address checked nothing
      throw err;
    }
  }

  /** The password was right: the address gets its point back and the name's count starts over. */
  async loginSucceeded(username: string, ip: string): Promise<void> {
    await Promise.all([this.loginIp?.reward(ip), this.loginUser?.delete(username.toLowerCase())]);
  }

  async signup(ip: string): Promise<void> {
    await consume(this.signupIp, ip);
  }

  async message(userId: number): Promise<void> {
    await consume(this.messagesUser, String(userId));
  }

  /** The send turned out to be a retry of a stored one (or a reused client_id): no point. */
  async messageNotStored(userId: number): Promise<void> {
    await this.messagesUser?.reward(String(userId));
  }
}
