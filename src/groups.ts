// Group conversations (issue #15): creating, reading, renaming, adding and removing members,
// sending, history and read markers of groups. The store does the work in one transaction each
// and says whose streams it appended to; this module turns its answers into the catalog's
// errors and, once committed, wakes those streams' polls.
//
// Authorization: a group the caller is not a member of now is "not found" on every call, the
// same answer as for a group that never existed, so its existence is never revealed. The
// membership is checked by the store inside the transaction that reads or writes.
import { findUserOrThrow } from './auth';
import type { Core } from './core';
import { Errors, isAppError } from './errors';
import type { DeviceAuth, Delivery, GroupChangeResult, GroupRow, GroupSendResult, User } from './types';
import { groupEventJson, groupReadEventJson, groupView, type GroupView, messageEventText, messageTexts, messageView } from './views';
import type { SendOutcome } from './messages';
import type { GroupActor } from './store';

export const GROUP_NAME_MAX = 64;

/** What the group functions need; the admin command line has no hub (nobody to wake) and no limits. */
export type GroupsCore = Pick<Core, 'store' | 'config'> & Partial<Pick<Core, 'hub' | 'limits' | 'presence'>>;

function me(caller: Pick<DeviceAuth, 'userId' | 'username'>): User {
  return { id: caller.userId, username: caller.username };
}

/** The caller as the actor of a group change: their device is checked as the change commits. */
function actorOf(caller: DeviceAuth): GroupActor {
  return { ...me(caller), device: caller.id };
}

/** Not a member, or no such group: one answer. */
export function groupNotFound(id: number): Error {
  return Errors.notFound(`no group ${id} that you are a member of`);
}

/** Wakes the polls of every stream a committed write appended `json` to. */
function publish(core: GroupsCore, deliveries: readonly Delivery[], json: (userId: number) => string): void {
  if (!core.hub) return;
  for (const d of deliveries) core.hub.publish(d.userId, [{ seq: d.seq, json: json(d.userId) }]);
}

/** The group after a change, its event published; the catalog's error for a refusal. */
function afterChange(core: GroupsCore, groupId: number, r: GroupChangeResult): GroupRow {
  switch (r.status) {
    case 'changed': {
      const json = groupEventJson(r.group, r.change);
      publish(core, r.deliveries, () => json);
      return r.group;
    }
    case 'unchanged':
      return r.group;
    case 'not_found':
      throw groupNotFound(groupId);
    case 'full':
      throw Errors.groupFull(core.config.groupMembersMax);
    case 'user_full':
      throw Errors.userInMaxGroups(r.username, core.config.groupsPerUserMax);
    case 'forbidden':
      throw Errors.forbidden('only the owner of a group removes other members; any member may leave');
    case 'not_member':
      throw Errors.notFound(`that user is not a member of group ${groupId}`);
    case 'revoked':
      throw Errors.deviceEnded();
  }
}

export interface NewGroupInput {
  name: string;
  /** Usernames as given, in the order they join. */
  members: string[];
}

export async function createGroup(core: Core, caller: DeviceAuth, input: NewGroupInput): Promise<GroupView> {
  const owner = actorOf(caller);
  // Refused before a name is looked up: a list longer than a group may be costs nothing.
  const names = [...new Set(input.members.map((n) => n.toLowerCase()))].filter((n) => n !== owner.username);
  if (names.length + 1 > core.config.groupMembersMax) throw Errors.groupFull(core.config.groupMembersMax);
  const members: User[] = [];
  for (const n of names) members.push(await findUserOrThrow(core, n));
  await core.limits.group(owner.id);
  let r: GroupChangeResult;
  try {
    r = await core.store.createGroup(owner, input.name, members, core.config);
  } catch (err) {
    await core.limits.groupNotMade(owner.id);
    throw err;
  }
  if (r.status !== 'changed') await core.limits.groupNotMade(owner.id);
  return groupView(afterChange(core, 0, r));
}

export async function getGroup(core: Core, caller: DeviceAuth, groupId: number): Promise<GroupView> {
  const g = await core.store.groupOf(caller.userId, groupId);
  if (!g) throw groupNotFound(groupId);
  return groupView(g);
}

/** The caller's groups, the one with the latest message first. */
export async function listGroups(core: Core, caller: DeviceAuth): Promise<GroupView[]> {
  return (await core.store.groupsOf(caller.userId)).map((c) => groupView(c.group));
}

export async function renameGroup(core: Core, caller: DeviceAuth, groupId: number, name: string): Promise<GroupView> {
  // A change reaches every member as a message does, so it counts as one against the sender's limit.
  await core.limits.message(caller.userId);
  const r = await core.store.renameGroup(actorOf(caller), groupId, name);
  if (r.status !== 'changed') await core.limits.messageNotStored(caller.userId);
  return groupView(afterChange(core, groupId, r));
}

export async function addMember(core: Core, caller: DeviceAuth, groupId: number, username: string): Promise<GroupView> {
  // The caller's membership first: an outsider learns nothing, not even whether the user exists.
  if (!(await core.store.groupOf(caller.userId, groupId))) throw groupNotFound(groupId);
  const user = await findUserOrThrow(core, username);
  await core.limits.message(caller.userId);
  const r = await core.store.addGroupMember(actorOf(caller), groupId, user, core.config);
  if (r.status !== 'changed') await core.limits.messageNotStored(caller.userId);
  return groupView(afterChange(core, groupId, r));
}

/**
 * A member leaves (their own name), or the owner removes a member; `actor` null is an
 * administrator (the command line), who may remove anyone from any group that still exists.
 */
export async function removeMember(core: GroupsCore, actor: GroupActor | null, groupId: number, username: string): Promise<GroupView> {
  if (actor && !(await core.store.groupOf(actor.id, groupId))) throw groupNotFound(groupId);
  let user: User;
  try {
    user = await findUserOrThrow(core, username);
  } catch (err) {
    // For a member, an unknown name is simply not a member of this group.
    if (isAppError(err) && err.code === 'user_not_found') throw Errors.notFound(`that user is not a member of group ${groupId}`);
    throw err;
  }
  return groupView(afterChange(core, groupId, await core.store.removeGroupMember(actor, groupId, user)));
}

export async function removeMemberAsCaller(core: Core, caller: DeviceAuth, groupId: number, username: string): Promise<void> {
  await removeMember(core, actorOf(caller), groupId, username);
}

/** A message to a group: POST /messages with `group` (see sendMessage in messages.ts). */
export async function sendToGroup(
  core: Core,
  sender: DeviceAuth,
  input: { group: number; body: string; clientId: string | null },
): Promise<SendOutcome> {
  const from = me(sender);
  const m = { sender: from, groupId: input.group, body: input.body, clientId: input.clientId, device: sender.id };
  // As a 1:1 send (messages.ts): a retry of a stored send is answered even past the limit.
  let r: GroupSendResult | null = null;
  try {
    await core.limits.message(sender.userId);
  } catch (err) {
    const retry = isAppError(err) && err.code === 'rate_limited' && (await core.store.groupOf(from.id, input.group));
    r = retry ? await core.store.earlierGroupSend(m) : null;
    if (!r) throw err;
  }
  if (!r) {
    r = await core.store.sendGroupMessage(m);
    if (r.status !== 'created') await core.limits.messageNotStored(sender.userId);
  }
  if (r.status === 'not_found') throw groupNotFound(input.group);
  if (r.status === 'conflict') throw Errors.clientIdReused();
  if (r.status === 'revoked') throw Errors.deviceEnded();
  core.presence.touch(sender.userId, sender.username, sender.id);
  if (r.status === 'existing') return { created: false, messageJson: JSON.stringify(messageView(r.message, from.id)) };
  // Committed: wake every member's polls, the sender's other devices included. Two texts in
  // all: the sender's (with its client_id) and everyone else's.
  const texts = messageTexts(r.message);
  const mine = messageEventText(texts.sender);
  const theirs = messageEventText(texts.others);
  publish(core, r.deliveries, (userId) => (userId === from.id ? mine : theirs));
  return { created: true, messageJson: texts.sender };
}

export interface GroupHistoryInput {
  group: number;
  before?: number;
  after?: number;
  limit: number;
}

export async function groupHistory(
  core: Core,
  caller: DeviceAuth,
  input: GroupHistoryInput,
): Promise<{ messages: ReturnType<typeof messageView>[]; has_more: boolean }> {
  const page = await core.store.groupHistory(caller.userId, input.group, input);
  if (!page) throw groupNotFound(input.group);
  return { messages: page.messages.map((m) => messageView(m, caller.userId)), has_more: page.hasMore };
}

/** POST /read with `group`: as markRead (conversations.ts), for a group the caller is in. */
export async function markGroupRead(core: Core, caller: DeviceAuth, groupId: number, upTo: number): Promise<void> {
  const r = await core.store.markGroupRead(me(caller), groupId, upTo, caller.id);
  if (r.status === 'revoked') throw Errors.deviceEnded();
  if (r.status === 'not_found') throw Errors.notFound(`message ${upTo} is not in a group ${groupId} that you are a member of`);
  if (r.status === 'moved') core.hub.publish(caller.userId, [{ seq: r.seq, json: groupReadEventJson(groupId, r.upTo) }]);
}
