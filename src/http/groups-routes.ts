// Groups (issue #15): POST /groups, GET /groups, GET /groups/:id, POST /groups/:id (rename),
// POST /groups/:id/members (add) and DELETE /groups/:id/members/:username (leave or remove).
// Sends, history and read markers of groups are on /messages and /read (messages-routes.ts).
import type { Middleware } from 'koa';
import type { Core } from '../core';
import { Errors } from '../errors';
import { addMember, createGroup, GROUP_NAME_MAX, getGroup, listGroups, removeMemberAsCaller, renameGroup } from '../groups';
import type { DeviceHandler } from './access-token';
import { json, NO_CONTENT, reply } from './answer';
import type { AppContext, AppRouter, AppState } from './context';
import { asFields, type Fields, requiredString } from './validate';

/** The group in the path; anything that cannot be a group's id is no group either (404, as for any other). */
function groupId(ctx: AppContext): number {
  const raw = (ctx.params as { id?: string }).id ?? '';
  const n = /^[1-9]\d{0,15}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n)) throw Errors.notFound(`no group ${JSON.stringify(raw.slice(0, 20))} that you are a member of`);
  return n;
}

function groupName(f: Fields): string {
  return requiredString(f, 'name', { min: 1, max: GROUP_NAME_MAX, notBlank: true });
}

/**
 * `members`: a JSON array of usernames, or in a form the field repeated (an array here too) or
 * one comma-separated value. Order is kept: it is the order of joining.
 */
export function memberNames(f: Fields): string[] {
  const v = f.members;
  if (v === undefined || v === null) return [];
  const items: unknown[] = Array.isArray(v) ? v : [v];
  const names: string[] = [];
  for (const item of items) {
    if (typeof item !== 'string') throw Errors.invalidRequest('members', 'must be a list of usernames');
    for (const part of item.split(',')) {
      const name = part.trim();
      if (name !== '') names.push(name);
    }
  }
  return names;
}

export function groupRoutes(router: AppRouter, core: Core, authed: (handler: DeviceHandler) => Middleware<AppState>): void {
  router.post(
    '/groups',
    authed(async (ctx, device) => {
      const f = asFields(ctx.state.body);
      const name = groupName(f);
      const members = memberNames(f);
      reply(ctx, json(201, { group: await createGroup(core, device, { name, members }) }));
    }),
  );

  router.get(
    '/groups',
    authed(async (ctx, device) => {
      reply(ctx, json(200, { groups: await listGroups(core, device) }));
    }),
  );

  router.get(
    '/groups/:id',
    authed(async (ctx, device) => {
      reply(ctx, json(200, { group: await getGroup(core, device, groupId(ctx)) }));
    }),
  );

  router.post(
    '/groups/:id',
    authed(async (ctx, device) => {
      const id = groupId(ctx);
      const name = groupName(asFields(ctx.state.body));
      reply(ctx, json(200, { group: await renameGroup(core, device, id, name) }));
    }),
  );

  router.post(
    '/groups/:id/members',
    authed(async (ctx, device) => {
      const id = groupId(ctx);
      const username = requiredString(asFields(ctx.state.body), 'username', { min: 1 });
      reply(ctx, json(200, { group: await addMember(core, device, id, username) }));
    }),
  );

  router.delete(
    '/groups/:id/members/:username',
    authed(async (ctx, device) => {
      const id = groupId(ctx);
      await removeMemberAsCaller(core, device, id, (ctx.params as { username?: string }).username ?? '');
      reply(ctx, NO_CONTENT);
    }),
  );
}
