// Read state that follows the user across devices, and the conversation list.
import { findUserOrThrow } from './auth';
import type { Core } from './core';
import { Errors } from './errors';
import type { DeviceAuth } from './types';
import { type GroupView, groupView, type MessageView, messageView, readEventJson } from './views';

export type ConversationView =
  | { with: string; last_message: MessageView; unread: number }
  /** A group the caller is in (issue #15): last_message null until its first message. */
  | { group: GroupView; last_message: MessageView | null; unread: number };

/**
 * The caller's 1:1 conversations and groups, the most recent first. Each list comes sorted from
 * the store (1:1 by last message, groups by last message or creation); they are merged by the
 * time of that last activity, so each keeps its own order.
 */
export async function listConversations(core: Core, caller: DeviceAuth): Promise<ConversationView[]> {
  const [pairs, groups] = await Promise.all([core.store.conversations(caller.userId), core.store.groupsOf(caller.userId)]);
  const out: ConversationView[] = [];
  let i = 0;
  let j = 0;
  while (i < pairs.length || j < groups.length) {
    const p = pairs[i];
    const g = groups[j];
    if (p && (!g || p.lastMessage.sentAt >= (g.lastMessage?.sentAt ?? g.group.createdAt))) {
      out.push({ with: p.peer, last_message: messageView(p.lastMessage, caller.userId), unread: p.unread });
      i++;
    } else if (g) {
      const last = g.lastMessage ? messageView(g.lastMessage, caller.userId) : null;
      out.push({ group: groupView(g.group), last_message: last, unread: g.unread });
      j++;
    }
  }
  return out;
}

/**
 * Marks the conversation with `withName` read up to message `upTo` for all of the caller's
 * devices. The marker never moves backwards: an older `upTo` is accepted and changes nothing.
 * When it moves, a read event goes into the caller's stream, so every other device of theirs
 * (the laptop, when reading on the phone) learns of it through its poll.
 */
export async function markRead(core: Core, caller: DeviceAuth, withName: string, upTo: number): Promise<void> {
  const peer = await findUserOrThrow(core, withName);
  const me = { id: caller.userId, username: caller.username };
  const r = await core.store.markRead(me, peer, upTo, caller.id);
  if (r.status === 'revoked') throw Errors.deviceEnded();
  if (r.status === 'not_found') throw Errors.notFound(`message ${upTo} is not in your conversation with ${peer.username}`);
  if (r.status === 'moved') core.hub.publish(me.id, [{ seq: r.seq, json: readEventJson(peer.username, r.upTo) }]);
}
