// What the HTTP layer keeps on ctx.state, typed once.
import type { ParameterizedContext } from 'koa';
import type Router from '@koa/router';
import type { DeviceAuth } from '../types';

export interface AppState {
  /** The authenticated device (set by requireDevice). */
  device?: DeviceAuth;
  /** The error code of the answer, when it is an error: for logs and metrics. */
  errorCode?: string;
  /** How a poll ended: for logs and metrics. */
  pollOutcome?: string;
}

export type AppContext = ParameterizedContext<AppState>;
export type AppRouter = Router<AppState>;
