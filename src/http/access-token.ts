// Authentication at the edge: the token from `Authorization: Bearer`, or `access_token` in the
// query string or the body (clients that cannot set headers). The header wins when present.
import type { Middleware } from 'koa';
import { authenticate } from '../auth';
import type { Core } from '../core';
import { Errors } from '../errors';
import type { DeviceAuth } from '../types';
import type { AppContext, AppState } from './context';

/** last_seen_at is written at most this often per device: it is for people, not for ordering. */
const LAST_SEEN_RESOLUTION_MS = 10_000;

const BEARER = /^Bearer[ ]+(\S+)\s*$/i;

/** The token of an `Authorization: Bearer` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  return header === undefined ? undefined : BEARER.exec(header)?.[1];
}

function tokenFrom(ctx: AppContext): string | undefined {
  const fromHeader = bearerToken(ctx.get('Authorization'));
  if (fromHeader) return fromHeader;
  const q = ctx.state.query.access_token;
  if (typeof q === 'string' && q) return q;
  const body: unknown = ctx.state.body;
  if (body && typeof body === 'object' && !Array.isArray(body)) {
    const b = (body as Record<string, unknown>).access_token;
    if (typeof b === 'string' && b) return b;
  }
  return undefined;
}

/** A route handler that runs for an authenticated device. */
export type DeviceHandler = (ctx: AppContext, device: DeviceAuth) => unknown;

/**
 * Wraps a handler so that it runs only for a valid token. A wrapper rather than a middleware of
 * its own: one step less in the chain each request, and one frame less kept alive by each
 * held poll.
 */
export function withDevice(core: Core): (handler: DeviceHandler) => Middleware<AppState> {
  return (handler) => (ctx) => {
    const token = tokenFrom(ctx);
    if (!token) throw Errors.unauthorized();
    return authenticate(core, token).then((device) => {
      ctx.state.device = device;
      deviceSeen(core, device);
      return handler(ctx, device);
    });
  };
}

/** Notes that an authenticated device made a request (its last_seen_at, for people). */
export function deviceSeen(core: Core, device: DeviceAuth): void {
  const now = Date.now();
  if (now - device.lastSeenAt >= LAST_SEEN_RESOLUTION_MS) core.store.noteDeviceSeen(device.id, now);
}
