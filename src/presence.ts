// Presence: who is online. Kept per device, and a user is online while any of their devices is
// (#14): a device logged out or revoked is forgotten at once, so a user whose only device it
// was drops out of GET /presence at once, not a window later.
//
// A device counts for GET /presence (the contract's rule) while it holds a poll, and for a
// window after it last polled or sent a message (a client between two polls, or on a slow
// network, is still there; someone who has just sent a message is there). For GET /devices a
// device is online only while it holds a poll: that list is for telling a live kiosk from a
// dead one, and a page closed a moment ago is not live.
//
// Kept in memory only: after a restart everyone who is really online polls again within
// seconds. Maps only: no HTTP, no SQL. With several server processes (#16), each shares what it
// sees every second (snapshot(), through cluster/link.ts) and counts what the others share
// (setElsewhere()): a user online through any process is online in every GET /presence, a
// second or so later; a device logged out anywhere is forgotten everywhere at once.

export interface HeldQuery {
  isDeviceHeld(deviceId: string): boolean;
}

interface Seen {
  userId: number;
  username: string;
  at: number;
}

/** A device online on another server process, as it last said. */
export interface SeenElsewhere {
  username: string;
  /** Holding a poll there. */
  held: boolean;
}

export class Presence {
  /** Devices that polled or sent, with when they last did. */
  private readonly devices = new Map<string, Seen>();
  /** Devices online on other server processes (#16), by id. */
  private elsewhere: Map<string, SeenElsewhere> = new Map();

  constructor(
    private readonly windowMs: number,
    private readonly held: HeldQuery,
  ) {}

  /**
   * A device of the user showed it is there: it polled (at the start and again at the end of
   * every poll) or sent a message.
   */
  touch(userId: number, username: string, deviceId: string, now = Date.now()): void {
    const seen = this.devices.get(deviceId);
    if (seen) seen.at = now;
    else this.devices.set(deviceId, { userId, username, at: now });
  }

  /** The device was logged out or revoked: it stops counting now. */
  forgetDevice(deviceId: string): void {
    this.devices.delete(deviceId);
    this.elsewhere.delete(deviceId);
  }

  /** What the other server processes said they see online now (replaces what they said before). */
  setElsewhere(devices: Map<string, SeenElsewhere>): void {
    this.elsewhere = devices;
  }

  /** The devices that count here now, for the other processes: [device id, username, holding a poll]. */
  snapshot(now = Date.now()): [string, string, boolean][] {
    const out: [string, string, boolean][] = [];
    for (const [id, seen] of this.devices) if (this.counts(id, seen, now)) out.push([id, seen.username, this.held.isDeviceHeld(id)]);
    return out;
  }

  /** Devices remembered now (held or within the window): for finding ones deleted elsewhere. */
  deviceIds(): string[] {
    return [...this.devices.keys()];
  }

  /** GET /devices's `online`: the device holds a poll now. */
  isDeviceOnline(deviceId: string): boolean {
    return this.held.isDeviceHeld(deviceId) || this.elsewhere.get(deviceId)?.held === true;
  }

  private counts(id: string, seen: Seen, now: number): boolean {
    return now - seen.at <= this.windowMs || this.held.isDeviceHeld(id);
  }

  /** Online usernames, sorted. Also drops devices that have aged out, so the map stays small. */
  onlineUsers(now = Date.now()): string[] {
    const names = new Set<string>();
    for (const [id, seen] of this.devices) {
      if (this.counts(id, seen, now)) names.add(seen.username);
      else this.devices.delete(id);
    }
    for (const d of this.elsewhere.values()) names.add(d.username);
    return [...names].sort();
  }

  /** Devices holding a poll or seen within the window, on this process: for metrics. */
  onlineDeviceCount(now = Date.now()): number {
    let n = 0;
    for (const [id, seen] of this.devices) if (this.counts(id, seen, now)) n++;
    return n;
  }
}
