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
// seconds. Maps only: no HTTP, no SQL.

export interface HeldQuery {
  isDeviceHeld(deviceId: string): boolean;
}

interface Seen {
  userId: number;
  username: string;
  at: number;
}

export class Presence {
  /** Devices that polled or sent, with when they last did. */
  private readonly devices = new Map<string, Seen>();

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
  }

  /** Devices remembered now (held or within the window): for finding ones deleted elsewhere. */
  deviceIds(): string[] {
    return [...this.devices.keys()];
  }

  /** GET /devices's `online`: the device holds a poll now. */
  isDeviceOnline(deviceId: string): boolean {
    return this.held.isDeviceHeld(deviceId);
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
    return [...names].sort();
  }

  /** Devices holding a poll or seen within the window: for metrics. */
  onlineDeviceCount(now = Date.now()): number {
    let n = 0;
    for (const [id, seen] of this.devices) if (this.counts(id, seen, now)) n++;
    return n;
  }
}
