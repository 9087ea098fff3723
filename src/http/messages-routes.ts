// Messages: POST /messages (send, idempotent with client_id; to a user or a group),
// GET /messages (history of a conversation or a group), GET /conversations (the list with
// unread counts, groups included) and POST /read (read markers).
import type { Middleware } from 'koa';
import type { Core } from '../core';
import { listConversations, markRead } from '../conversations';
import { Errors } from '../errors';
import { groupHistory, markGroupRead } from '../groups';
import { BODY_MAX, CLIENT_ID_MAX, HISTORY_LIMIT_DEFAULT, HISTORY_LIMIT_MAX, history, sendMessage } from '../messages';
import type { DeviceAuth } from '../types';
import type { DeviceHandler } from './access-token';
import { type Answer, json, jsonText, NO_CONTENT, reply } from './answer';
import type { AppRouter, AppState } from './context';
import { asFields, type Fields, optionalInt, optionalString, requiredString } from './validate';

/** A group's id as a field (issue #15). */
const GROUP_ID = { min: 1, max: Number.MAX_SAFE_INTEGER };

/** POST /messages from its parsed body: shared by the route and the fast lane (fast-lane.ts). */
export async function sendAnswer(core: Core, device: DeviceAuth, parsed: unknown): Promise<Answer> {
  const f = asFields(parsed);
  const to = optionalString(f, 'to', { min: 1 });
  const group = optionalInt(f, 'group', GROUP_ID);
  const body = requiredString(f, 'body', { min: 1, max: BODY_MAX, notBlank: true });
  const clientId = optionalString(f, 'client_id', { min: 1, max: CLIENT_ID_MAX }) ?? null;
  const out = await sendMessage(core, device, { to, group, body, clientId });
  // JSON.stringify({ message }), from the text the send made once (views.ts, messageTexts).
  return jsonText(out.created ? 201 : 200, `{"message":${out.messageJson}}`);
}

/** The conversation a history page or a read marker is for: `with` a user, or a `group` (#15). */
function conversationOf(f: Fields): { with: string; group?: undefined } | { group: number } {
  const withUser = optionalString(f, 'with', { min: 1 });
  const group = optionalInt(f, 'group', GROUP_ID);
  if (withUser !== undefined && group !== undefined) throw Errors.invalidRequest('with', 'give either with or group, not both');
  if (group !== undefined) return { group };
  if (withUser === undefined) throw Errors.invalidRequest('with', 'is required (or group, for a group)');
  return { with: withUser };
}

export function messageRoutes(router: AppRouter, core: Core, authed: (handler: DeviceHandler) => Middleware<AppState>): void {
  router.post(
    '/messages',
    authed(async (ctx, device) => {
      reply(ctx, await sendAnswer(core, device, ctx.state.body));
    }),
  );

  router.get(
    '/messages',
    authed(async (ctx, device) => {
      const q = ctx.state.query;
      const c = conversationOf(q);
      const before = optionalInt(q, 'before', { min: 0, max: Number.MAX_SAFE_INTEGER });
      const after = optionalInt(q, 'after', { min: 0, max: Number.MAX_SAFE_INTEGER });
      if (before !== undefined && after !== undefined) throw Errors.invalidRequest('before', 'give either before or after, not both');
      const limit = optionalInt(q, 'limit', { min: 1, max: HISTORY_LIMIT_MAX }) ?? HISTORY_LIMIT_DEFAULT;
      const page =
        c.group !== undefined
          ? await groupHistory(core, device, { group: c.group, before, after, limit })
          : await history(core, device, { with: c.with, before, after, limit });
      reply(ctx, json(200, page));
    }),
  );

  router.get(
    '/conversations',
    authed(async (ctx, device) => {
      reply(ctx, json(200, { conversations: await listConversations(core, device) }));
    }),
  );

  router.post(
    '/read',
    authed(async (ctx, device) => {
      const f = asFields(ctx.state.body);
      const c = conversationOf(f);
      const upTo = optionalInt(f, 'up_to', { min: 1, max: Number.MAX_SAFE_INTEGER });
      if (upTo === undefined) throw Errors.invalidRequest('up_to', 'is required');
      if (c.group !== undefined) await markGroupRead(core, device, c.group, upTo);
      else await markRead(core, device, c.with, upTo);
      reply(ctx, NO_CONTENT);
    }),
  );
}
