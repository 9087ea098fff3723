// Search in history (issue #17): GET /search?q=WORDS&with=NAME|group=ID&limit=N&before=ID.
import type { Middleware } from 'koa';
import type { Core } from '../core';
import { Errors } from '../errors';
import { SEARCH_LIMIT_DEFAULT, SEARCH_LIMIT_MAX, SEARCH_QUERY_MAX, search } from '../search';
import type { DeviceHandler } from './access-token';
import { json, reply } from './answer';
import type { AppRouter, AppState } from './context';
import { optionalInt, optionalString, requiredString } from './validate';

export function searchRoutes(router: AppRouter, core: Core, authed: (handler: DeviceHandler) => Middleware<AppState>): void {
  router.get(
    '/search',
    authed(async (ctx, device) => {
      const q = ctx.state.query;
      const words = requiredString(q, 'q', { min: 1, max: SEARCH_QUERY_MAX });
      const withUser = optionalString(q, 'with', { min: 1 });
      const group = optionalInt(q, 'group', { min: 1, max: Number.MAX_SAFE_INTEGER });
      if (withUser !== undefined && group !== undefined) throw Errors.invalidRequest('group', 'give either with or group, not both');
      const before = optionalInt(q, 'before', { min: 0, max: Number.MAX_SAFE_INTEGER });
      const limit = optionalInt(q, 'limit', { min: 1, max: SEARCH_LIMIT_MAX }) ?? SEARCH_LIMIT_DEFAULT;
      reply(ctx, json(200, await search(core, device, { q: words, with: withUser, group, before, limit })));
    }),
  );
}
