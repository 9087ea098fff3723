// Accounts and devices: POST /users, POST /sessions, DELETE /sessions/current, GET /devices,
// DELETE /devices?except=current, DELETE /devices/:id.
import { createUser, listDevices, logIn, normalizeUsername, PASSWORD_MAX, PASSWORD_MIN, revokeAllDevices, revokeDevice } from '../auth';
import type { Core } from '../core';
import { formatCursor } from '../cursor';
import { Errors } from '../errors';
import type { Middleware } from 'koa';
import type { DeviceHandler } from './access-token';
import { json, NO_CONTENT, reply } from './answer';
import type { AppRouter, AppState } from './context';
import { asFields, optionalString, requiredString } from './validate';

export function accountRoutes(router: AppRouter, core: Core, authed: (handler: DeviceHandler) => Middleware<AppState>): void {
  router.post('/users', async (ctx) => {
    if (!core.config.signupEnabled) {
      throw Errors.forbidden('sign-up is switched off on this server; ask an administrator for an account');
    }
    const f = asFields(ctx.state.body);
    const raw = requiredString(f, 'username', { min: 1 });
    const username = normalizeUsername(raw);
    if (username === null) throw Errors.invalidRequest('username', 'must be 1 to 32 of a-z 0-9 _ . - (case does not matter)');
    const password = requiredString(f, 'password', { min: PASSWORD_MIN, max: PASSWORD_MAX });
    await core.limits.signup(ctx.ip);
    const user = await createUser(core, username, password);
    reply(ctx, json(201, { user: { username: user.username } }));
  });

  router.post('/sessions', async (ctx) => {
    const f = asFields(ctx.state.body);
    const username = requiredString(f, 'username', { min: 1 });
    const password = requiredString(f, 'password', { min: 1 });
    const deviceName = optionalString(f, 'device_name');
    const session = await logIn(core, { username, password, deviceName, userAgent: ctx.get('User-Agent'), ip: ctx.ip });
    reply(
      ctx,
      json(201, {
        token: session.token,
        device: { id: session.device.id, name: session.device.name },
        cursor: formatCursor(session.device.cursor),
      }),
    );
  });

  router.delete(
    '/sessions/current',
    authed(async (ctx, device) => {
      await revokeDevice(core, device, device.id);
      reply(ctx, NO_CONTENT);
    }),
  );

  router.get(
    '/devices',
    authed(async (ctx, device) => {
      reply(ctx, json(200, { devices: await listDevices(core, device) }));
    }),
  );

  // Every device but this one (#14). `except=current` is required: a bare DELETE /devices
  // that ended this device too would be one typo away from logging everyone out.
  router.delete(
    '/devices',
    authed(async (ctx, device) => {
      if (optionalString(ctx.state.query, 'except') !== 'current')
        throw Errors.invalidRequest('except', 'must be "current" (every device but this one)');
      reply(ctx, json(200, { revoked: await revokeAllDevices(core, { id: device.userId }, device.id) }));
    }),
  );

  router.delete(
    '/devices/:id',
    authed(async (ctx, device) => {
      await revokeDevice(core, device, (ctx.params as { id?: string }).id ?? '');
      reply(ctx, NO_CONTENT);
    }),
  );
}
