// How stored rows look on the wire. One place, so a message is the same object in a send
// answer, a history page and a poll event.
import type { EventRow, MessageRow } from './types';

export interface MessageView {
  id: number;
  from: string;
  to: string;
  body: string;
  client_id: string | null;
  sent_at: string;
}

/** client_id is the sender's own key: shown to the sender's devices, null for anyone else. */
export function messageView(m: MessageRow, viewerId: number): MessageView {
  return {
    id: m.id,
    from: m.from,
    to: m.to,
    body: m.body,
    client_id: m.senderId === viewerId ? m.clientId : null,
    sent_at: new Date(m.sentAt).toISOString(),
  };
}

/** The JSON text of a message event, built once per message and viewer, then reused. */
export function messageEventJson(m: MessageRow, viewerId: number): string {
  return JSON.stringify({ type: 'message', message: messageView(m, viewerId) });
}

export function readEventJson(withUser: string, upTo: number): string {
  return JSON.stringify({ type: 'read', with: withUser, up_to: upTo });
}

export function eventRowJson(e: EventRow, viewerId: number): string {
  return e.kind === 'message' ? messageEventJson(e.message, viewerId) : readEventJson(e.with, e.upTo);
}
