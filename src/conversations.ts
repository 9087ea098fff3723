// Read state that follows the user across devices, and the conversation list.
import { findUserOrThrow } from './auth';
import type { Core } from './core';
import { Errors } from './errors';
import type { DeviceAuth } from './types';
import { type MessageView, messageView, readEventJson } from './views';

export interface ConversationView {
  with: string;
  last_message: MessageView;
  unread: number;
}

export async function listConversations(core: Core, caller: DeviceAuth): Promise<ConversationView[]> {
  return (await core.store.conversations(caller.userId)).map((c) => ({
    with: c.peer,
    last_message: messageView(c.lastMessage, caller.userId),
    unread: c.unread,
  }));
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
  const r = await core.store.markRead(me, peer, upTo);
  if (r.status === 'not_found') throw Errors.notFound(`message ${upTo} is not in your conversation with ${peer.username}`);
  if (r.status === 'moved') core.hub.publish(me.id, [{ seq: r.seq, json: readEventJson(peer.username, r.upTo) }]);
}
