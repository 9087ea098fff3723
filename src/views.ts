// How stored rows look on the wire. One place, so a message is the same object in a send
// answer, a history page and a poll event, and a group the same in every answer and event.
import type { EventRow, GroupChange, GroupRow, MessageRow } from './types';

export interface MessageView {
  id: number;
  from: string;
  /** The recipient of a 1:1 message; null for a group message. */
  to: string | null;
  /** The group of a group message; null for a 1:1 message (issue #15). */
  group: number | null;
  body: string;
  client_id: string | null;
  sent_at: string;
}

export interface GroupView {
  id: number;
  name: string;
  owner: string | null;
  members: string[];
  created_at: string;
}

/** client_id is the sender's own key: shown to the sender's devices, null for anyone else. */
export function messageView(m: MessageRow, viewerId: number): MessageView {
  return {
    id: m.id,
    from: m.from,
    to: m.to,
    group: m.groupId,
    body: m.body,
    client_id: m.senderId === viewerId ? m.clientId : null,
    sent_at: new Date(m.sentAt).toISOString(),
  };
}

export function groupView(g: GroupRow): GroupView {
  return { id: g.id, name: g.name, owner: g.owner, members: g.members, created_at: new Date(g.createdAt).toISOString() };
}

/** The JSON text of a message event, built once per message and viewer, then reused. */
export function messageEventJson(m: MessageRow, viewerId: number): string {
  return JSON.stringify({ type: 'message', message: messageView(m, viewerId) });
}

export function readEventJson(withUser: string, upTo: number): string {
  return JSON.stringify({ type: 'read', with: withUser, up_to: upTo });
}

export function groupReadEventJson(groupId: number, upTo: number): string {
  return JSON.stringify({ type: 'read', group: groupId, up_to: upTo });
}

/**
 * A change to a group: the contract's `{"type": "group", "group": GROUP}` with the group as it
 * was right after the change, plus what happened (`change`: action, by whom, to whom), so a
 * client can say "bob added carol" without comparing member lists. The same text for every
 * member it reaches.
 */
export function groupEventJson(g: GroupRow, c: GroupChange): string {
  return JSON.stringify({ type: 'group', group: groupView(g), change: { action: c.action, by: c.actor, user: c.subject } });
}

export function eventRowJson(e: EventRow, viewerId: number): string {
  switch (e.kind) {
    case 'message':
      return messageEventJson(e.message, viewerId);
    case 'read':
      return readEventJson(e.with, e.upTo);
    case 'group':
      return groupEventJson(e.group, e.change);
    case 'group_read':
      return groupReadEventJson(e.group, e.upTo);
  }
}
