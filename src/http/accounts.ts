// Accounts and devices: POST /users, POST /sessions, DELETE /sessions/current, GET /devices,
// DELETE /devices/:id.
import { createUser, DEVICE_NAME_MAX, listDevices, logIn, normalizeUsername, PASSWORD_MAX, PASSWORD_MIN, revokeDevice } from '../auth';
import type { Core } from '../core';
import { formatCursor } from '../cursor';
import { Errors } from '../errors';
import type { Middleware } from 'koa';
import type { DeviceHandler } from './auth';
import type { AppRouter, AppState } from './context';
import { asFields, optionalString, requiredString } from './validate';

/** A device named by its User-Agent when the client gives no name: "curl/8.5.0" says a lot. */
function defaultDeviceName(userAgent: string): string {
  const ua = [...userAgent.trim()].slice(0, DEVICE_NAME_MAX).join('');
  return ua.isWellFormed() && ua ? ua : 'unnamed device';
}

export function accountRoutes(router: AppRouter, core: Core, authed: (handler: DeviceHandler) => Middleware<AppState>): void {
  router.post('/users', async (ctx) => {
    if (!core.config.signupEnabled) {
      throw Errors.forbidden('sign-up is switched off on this server; ask an administrator for an account');
    }
    const f = asFields(ctx.request.body);
    const raw = requiredString(f, 'username', { min: 1 });
    const username = normalizeUsername(raw);
    if (username === null) throw Errors.invalidRequest('username', 'must be 1 to 32 of a-z 0-9 _ . - (case does not matter)');
    const password = requiredString(f, 'password', { min: PASSWORD_MIN, max: PASSWORD_MAX });
    await core.limits.signup(ctx.ip);
    const user = await createUser(core, username, password);
    ctx.status = 201;
    ctx.body = { user: { username: user.username } };
  });

  router.post('/sessions', async (ctx) => {
    const f = asFields(ctx.request.body);
    const username = requiredString(f, 'username', { min: 1 });
    const password = requiredString(f, 'password', { min: 1 });
    const given = optionalString(f, 'device_name', { max: DEVICE_NAME_MAX })?.trim();
    const name = given ? given : defaultDeviceName(ctx.get('User-Agent'));
    const session = await logIn(core, username, password, name, ctx.ip);
    ctx.status = 201;
    ctx.body = {
      token: session.token,
      device: { id: session.device.id, name: session.device.name },
      cursor: formatCursor(session.device.cursor),
    };
  });

  router.delete(
    '/sessions/current',
    authed(async (ctx, device) => {
      await revokeDevice(core, device, device.id);
      ctx.status = 204;
    }),
  );

  router.get(
    '/devices',
    authed(async (ctx, device) => {
      ctx.body = { devices: await listDevices(core, device) };
    }),
  );

  router.delete(
    '/devices/:id',
    authed(async (ctx, device) => {
      await revokeDevice(core, device, (ctx.params as { id?: string }).id ?? '');
      ctx.status = 204;
    }),
  );
}
