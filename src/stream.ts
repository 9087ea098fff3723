// The long poll (GET /poll), following Zulip's fetch_events: if anything is newer than the
// client's cursor, answer now; otherwise park the request until an event or the timeout. The
// client acknowledges by sending back the cursor it was given, which gives exactly-once,
// in-order delivery even when an answer is lost on the way. See hub.ts for why subscribing
// comes before reading.
import type { Core } from './core';
import { formatCursor } from './cursor';
import { Errors } from './errors';
import type { OutcomeKind } from './hub';
import type { DeviceAuth, StreamEvent } from './types';
import { eventRowJson } from './views';

export interface PollRequest {
  /** undefined: continue from the device's stored cursor. */
  since?: number;
  timeoutMs: number;
  limit: number;
}

export interface PollAnswer {
  /**
   * What ended the poll: for metrics and logs. 'immediate': events were already there.
   * 'revoked': the device was logged out while waiting; the caller answers 401.
   */
  outcome: OutcomeKind | 'immediate';
  cursor: string;
  /** JSON text of each event, oldest first. */
  events: string[];
}

function answer(outcome: PollAnswer['outcome'], since: number, events: readonly StreamEvent[]): PollAnswer {
  const last = events[events.length - 1];
  return { outcome, cursor: formatCursor(last ? last.seq : since), events: events.map((e) => e.json) };
}

function readEvents(core: Core, device: DeviceAuth, since: number, limit: number): StreamEvent[] {
  return core.store
    .eventsAfter(device.userId, since, limit)
    .map((e) => ({ seq: e.seq, json: eventRowJson(e, device.userId) }));
}

/** Retry-After for 503: a base plus up to as much again, so a reconnect storm spreads out. */
function overloadRetryAfter(baseS: number): number {
  return baseS + Math.floor(Math.random() * (baseS + 1));
}

/**
 * @param onGone registers a callback for when the client goes away (its connection closed), so
 *   the waiter and its timer are freed at once rather than at the timeout.
 */
export async function poll(core: Core, device: DeviceAuth, req: PollRequest, onGone: (cancel: () => void) => void): Promise<PollAnswer> {
  const since = req.since ?? device.cursor;
  const now = Date.now();
  // Presence counts polls that were accepted (touched below): a refused one (bad cursor,
  // server full) says nothing about a device that is really following its stream.

  const waiter = core.hub.subscribe(device.userId, device.id, since);
  // The head first: one cheap index probe tells "nothing new" (the common case: a client
  // polling again right after its answer) and "ahead of the stream" without reading events.
  const head = core.store.headSeq(device.userId);
  if (since > head) {
    waiter.cancel();
    throw Errors.invalidCursor('the cursor is ahead of the event stream; resynchronise from history');
  }
  core.store.noteDeviceSeen(device.id, now, since);
  if (head > since) {
    const ready = readEvents(core, device, since, req.limit);
    if (ready.length > 0) {
      waiter.cancel();
      core.presence.touch(device.userId, device.username, device.id, now);
      return answer('immediate', since, ready);
    }
  }
  if (req.timeoutMs === 0) {
    waiter.cancel();
    core.presence.touch(device.userId, device.username, device.id, now);
    return answer('timeout', since, []);
  }
  if (waiter.hold(req.timeoutMs) === 'overloaded') {
    waiter.cancel();
    throw Errors.overloaded(overloadRetryAfter(core.config.overloadRetryAfterS));
  }
  core.presence.touch(device.userId, device.username, device.id, now);
  onGone(() => waiter.cancel());
  {
    const outcome = await waiter.promise;
    core.presence.touch(device.userId, device.username, device.id);
    switch (outcome.kind) {
      case 'events': {
        // The published events are the ones committed after we subscribed; they follow on
        // directly from `since` when nothing was missed. If they do not (they always should),
        // read the store rather than risk a gap.
        const first = outcome.events[0];
        const events =
          first && first.seq === since + 1 ? outcome.events.slice(0, req.limit) : readEvents(core, device, since, req.limit);
        return answer('events', since, events);
      }
      case 'revoked':
      case 'timeout':
      case 'superseded':
      case 'shutdown':
      case 'cancelled':
        return answer(outcome.kind, since, []);
    }
  }
}
