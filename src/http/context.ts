// What the HTTP layer keeps on ctx.state, typed once.
import type { ParameterizedContext } from 'koa';
import type Router from '@koa/router';
import type { DeviceAuth } from '../types';
import type { Fields } from './validate';

export interface AppState {
  /** The query string, parsed once by respond() (urlencoded.ts: strict, bounded). */
  query: Fields;
  /** The parsed body of a POST or DELETE (body.ts); unset for other methods. */
  body?: unknown;
  /** The authenticated device (set by withDevice, access-token.ts). */
  device?: DeviceAuth;
  /** The error code of the answer, when it is an error: for logs and metrics. */
  errorCode?: string;
  /** How a poll ended: for logs and metrics. */
  pollOutcome?: string;
}

export type AppContext = ParameterizedContext<AppState>;
export type AppRouter = Router<AppState>;
