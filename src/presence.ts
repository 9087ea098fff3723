// Presence: who is online. A user (or device) is online while it holds a poll, and for a
// window after its last poll ended (a client between two polls, or one on a slow network, is
// still there). Kept in memory only: after a restart everyone who is really online polls
// again within seconds. Maps only: no HTTP, no SQL.

export interface HeldQuery {
  isUserHeld(userId: number): boolean;
  isDeviceHeld(deviceId: string): boolean;
}

export class Presence {
  private readonly users = new Map<number, { username: string; at: number }>();
  private readonly devices = new Map<string, number>();

  constructor(
    private readonly windowMs: number,
    private readonly held: HeldQuery,
  ) {}

  /** A device of the user polled (at the start and again at the end of every poll). */
  touch(userId: number, username: string, deviceId: string, now = Date.now()): void {
    this.users.set(userId, { username, at: now });
    this.devices.set(deviceId, now);
  }

  forgetDevice(deviceId: string): void {
    this.devices.delete(deviceId);
  }

  isDeviceOnline(deviceId: string, now = Date.now()): boolean {
    if (this.held.isDeviceHeld(deviceId)) return true;
    const at = this.devices.get(deviceId);
    return at !== undefined && now - at <= this.windowMs;
  }

  /** Online usernames, sorted. Also drops entries that have aged out, so the maps stay small. */
  onlineUsers(now = Date.now()): string[] {
    const names: string[] = [];
    for (const [id, u] of this.users) {
      if (this.held.isUserHeld(id) || now - u.at <= this.windowMs) names.push(u.username);
      else this.users.delete(id);
    }
    for (const [id, at] of this.devices) {
      if (now - at > this.windowMs && !this.held.isDeviceHeld(id)) this.devices.delete(id);
    }
    return names.sort();
  }

  /** Devices online now: for metrics. */
  onlineDeviceCount(now = Date.now()): number {
    let n = 0;
    for (const id of this.devices.keys()) if (this.isDeviceOnline(id, now)) n++;
    return n;
  }
}
