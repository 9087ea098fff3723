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

/** A message's JSON text as its sender's devices see it, and as everyone else does. */
export interface MessageTexts {
  sender: string;
  /** The same text as `sender` when the message has no client_id. */
  others: string;
}

/**
 * A new message's two texts, made once: a send's answer and every event it publishes are built
 * from them. Written out field by field in messageView's order, one date and one JSON.stringify
 * per string, where a view and a JSON.stringify per use cost a 1:1 send three of each
 * (bench/hotpath.ts, #18); test/unit/views.test.ts holds them to JSON.stringify(messageView()).
 */
export function messageTexts(m: MessageRow): MessageTexts {
  // Numbers and null print as JSON.stringify prints them; the date holds nothing to escape.
  const head = `{"id":${m.id},"from":${JSON.stringify(m.from)},"to":${JSON.stringify(m.to)},"group":${m.groupId},"body":${JSON.stringify(m.body)},"client_id":`;
  const tail = `,"sent_at":"${new Date(m.sentAt).toISOString()}"}`;
  const others = head + 'null' + tail;
  return { sender: m.clientId === null ? others : head + JSON.stringify(m.clientId) + tail, others };
}

/** A message event's JSON text from the message's own: JSON.stringify({ type, message }). */
export function messageEventText(messageJson: string): string {
  return `{"type":"message","message":${messageJson}}`;
}

/** The JSON text of a message event, built once per message and viewer, then reused. */
export function messageEventJson(m: MessageRow, viewerId: number): string {
  return messageEventText(JSON.stringify(messageView(m, viewerId)));
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
