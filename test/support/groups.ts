// Helpers for the group tests (issue #15): make a group, send to it, read a stream.
import assert from 'node:assert/strict';
import type request from 'supertest';
import type { Login, TestApp } from './app';

export interface GroupBody {
  id: number;
  name: string;
  owner: string | null;
  members: string[];
  created_at: string;
}

export interface MessageBody {
  id: number;
  from: string;
  to: string | null;
  group: number | null;
  body: string;
  client_id: string | null;
  sent_at: string;
}

export interface EventBody {
  type: string;
  message?: MessageBody;
  group?: GroupBody | number;
  change?: { action: string; by: string | null; user: string | null };
  with?: string;
  up_to?: number;
}

export async function makeGroup(t: TestApp, owner: Login, name: string, members: Login[] = []): Promise<GroupBody> {
  const res = await t
    .http()
    .post('/groups')
    .set(owner.auth)
    .send({ name, members: members.map((m) => m.username) })
    .expect(201);
  return res.body.group as GroupBody;
}

export function groupSend(t: TestApp, from: Login, group: number, body: string, clientId?: string): request.Test {
  return t.http().post('/messages').set(from.auth).send({ group, body, client_id: clientId });
}

export async function sentToGroup(t: TestApp, from: Login, group: number, body: string, clientId?: string): Promise<MessageBody> {
  return (await groupSend(t, from, group, body, clientId).expect(201)).body.message as MessageBody;
}

/** Every event after `since` (polling on with the cursor until none is left), and the last cursor. */
export async function drain(t: TestApp, who: Login, since: string): Promise<{ events: EventBody[]; cursor: string }> {
  const events: EventBody[] = [];
  let cursor = since;
  for (;;) {
    const res = await t.http().get(`/poll?since=${cursor}&timeout=0&limit=3`).set(who.auth).expect(200);
    const got = res.body.events as EventBody[];
    if (got.length === 0) return { events, cursor };
    events.push(...got);
    assert.notEqual(res.body.cursor, cursor);
    cursor = res.body.cursor as string;
  }
}

/** An event in short: what tests compare. */
export function short(e: EventBody): string {
  if (e.type === 'message' && e.message) return `msg ${e.message.from}>${e.message.group ?? e.message.to}: ${e.message.body}`;
  if (e.type === 'group' && typeof e.group === 'object') {
    return `group ${e.change?.action ?? '?'} ${e.group.name} [${e.group.members.join(',')}] owner ${e.group.owner ?? '-'}`;
  }
  if (e.type === 'read') return `read ${e.with ?? `group ${typeof e.group === 'number' ? e.group : '?'}`} ${e.up_to ?? '?'}`;
  return e.type;
}
