// Messages, groups and events as the server sends them, for the unit tests of the page's
// group paths (test/unit/page-groups*.test.ts).

export interface Msg {
  id: number;
  from: string;
  to: string | null;
  group: number | null;
  body: string;
  sent_at: string;
  client_id: string | null;
}
export interface Group {
  id: number;
  name: string;
  owner: string | null;
  members: string[];
  created_at: string;
}

export const CREATED = '2026-01-01T00:00:00.000Z';
/** A message to group `group`. */
export function gmsg(id: number, from: string, group: number, extra: Partial<Msg> = {}): Msg {
  return { id, from, to: null, group, body: `g${id}`, sent_at: CREATED, client_id: null, ...extra };
}
/** A 1:1 message. */
export function dm(id: number, from: string, to: string): Msg {
  return { id, from, to, group: null, body: `d${id}`, sent_at: CREATED, client_id: null };
}
export function group(id: number, name: string, owner: string | null, members: string[]): Group {
  return { id, name, owner, members: [...members].sort(), created_at: CREATED };
}
export const message = (m: Msg) => ({ type: 'message', message: m });
export const groupEvent = (g: Group, extra: Record<string, unknown> = {}) => ({ type: 'group', group: g, ...extra });
