// Sending messages and reading history.
import { findUserOrThrow } from './auth';
import type { Core } from './core';
import { Errors, isAppError } from './errors';
import { sendToGroup } from './groups';
import type { DeviceAuth, SendResult, User } from './types';
import { messageEventText, messageTexts, messageView, type MessageView } from './views';

export const BODY_MAX = 4000;
export const CLIENT_ID_MAX = 64;
export const HISTORY_LIMIT_DEFAULT = 50;
export const HISTORY_LIMIT_MAX = 200;

export interface SendInput {
  /** A username: a 1:1 message. Exactly one of `to` and `group`. */
  to?: string;
  /** A group's id: a group message (issue #15). */
  group?: number;
  body: string;
  clientId: string | null;
}

export interface SendOutcome {
  /** false: an idempotent retry that returned the original message. */
  created: boolean;
  /** The message's JSON text (a MessageView) as the sender sees it, for the answer. */
  messageJson: string;
}

export async function sendMessage(core: Core, sender: DeviceAuth, input: SendInput): Promise<SendOutcome> {
  if (input.to !== undefined && input.group !== undefined) throw Errors.invalidRequest('to', 'give either to (a user) or group, not both');
  if (input.group !== undefined) return sendToGroup(core, sender, { group: input.group, body: input.body, clientId: input.clientId });
  if (input.to === undefined) throw Errors.invalidRequest('to', 'is required (or group, to send to a group)');
  const recipient = await findUserOrThrow(core, input.to);
  const from: User = { id: sender.userId, username: sender.username };
  const m = { sender: from, recipient, body: input.body, clientId: input.clientId, device: sender.id };
  // A retry of a stored send creates nothing, so it costs no point and is answered even past
  // the limit: a client on a flaky link that retries as told is never refused for it. Looked
  // up only when it matters (past the limit, or after the store found the client_id), so a
  // plain send pays no extra query.
  let r: SendResult | null = null;
  try {
    await core.limits.message(sender.userId);
  } catch (err) {
    r = isAppError(err) && err.code === 'rate_limited' ? await core.store.earlierSend(m) : null;
    if (!r) throw err;
  }
  if (!r) {
    r = await core.store.sendMessage(m);
    if (r.status !== 'created') await core.limits.messageNotStored(sender.userId);
  }
  if (r.status === 'conflict') throw Errors.clientIdReused();
  if (r.status === 'revoked') throw Errors.deviceEnded();
  // Someone who has just sent a message is online, whether or not they also poll (#14).
  core.presence.touch(sender.userId, sender.username, sender.id);
  if (r.status === 'existing') return { created: false, messageJson: JSON.stringify(messageView(r.message, from.id)) };
  // Committed: now, and only now, wake the polls. The sender's other devices get it too.
  const texts = messageTexts(r.message);
  core.hub.publish(from.id, [{ seq: r.senderSeq, json: messageEventText(texts.sender) }]);
  if (r.recipientSeq !== null) {
    const theirs = recipient.id === from.id ? texts.sender : texts.others;
    core.hub.publish(recipient.id, [{ seq: r.recipientSeq, json: messageEventText(theirs) }]);
  }
  return { created: true, messageJson: texts.sender };
}

export interface HistoryInput {
  with: string;
  before?: number;
  after?: number;
  limit: number;
}

export async function history(
  core: Core,
  caller: DeviceAuth,
  input: HistoryInput,
): Promise<{ messages: MessageView[]; has_more: boolean }> {
  const peer = await findUserOrThrow(core, input.with);
  const page = await core.store.history(caller.userId, peer.id, input);
  return { messages: page.messages.map((m) => messageView(m, caller.userId)), has_more: page.hasMore };
}
