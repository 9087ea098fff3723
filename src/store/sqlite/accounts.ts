// Users and devices on SQLite: sign-up, log-in's device, password resets, disabling, device
// lists, revocation and expiry, which SqliteStore (index.ts) hands to this class. Every device
// this deletes is forgotten by the device ledger (devices.ts) at once, so its token stops
// working on the next request. Split from index.ts (issue #12).
import type { Database as Db } from 'better-sqlite3';
import type { Device, DeviceAuth, User, UserSummary, UserWithSecret } from '../../types';
import type { CheckedCredentials, CreateDeviceResult, DeleteDeviceResult, NewDevice } from '../store';
import type { DeviceLedger } from './devices';
import type { Queries } from './queries';
import { asError, settled } from './settle';

/** Bound on cached user ids. */
const USER_CACHE_MAX = 200_000;

const NONE: string[] = [];

export class SqliteAccounts {
  private readonly userIds = new Map<string, User>();

  constructor(
    private readonly db: Db,
    private readonly q: Queries,
    private readonly devices: DeviceLedger,
  ) {}

  // --- users --------------------------------------------------------------------------------

  createUser(username: string, passwordHash: string): Promise<User | null> {
    return settled(() => {
      const id = this.q.insertUser.get(username, passwordHash, Date.now());
      return id === undefined ? null : { id, username };
    });
  }

  findUser(username: string): Promise<UserWithSecret | undefined> {
    return settled(() => this.q.selectUserByName.get(username));
  }

  userByName(username: string): Promise<User | undefined> {
    // The hot paths (every send, every authenticated request, every poll) are written out
    // rather than through settled(): no closure per call.
    try {
      let user = this.userIds.get(username);
      if (!user) {
        const row = this.q.selectUserByName.get(username);
        if (!row) return Promise.resolve(undefined);
        user = { id: row.id, username: row.username };
        if (this.userIds.size >= USER_CACHE_MAX) this.userIds.clear();
        this.userIds.set(username, user);
      }
      return Promise.resolve(user);
    } catch (err) {
      return Promise.reject(asError(err));
    }
  }

  listUsers(): Promise<UserSummary[]> {
    return settled(() => this.q.selectUserSummaries.all());
  }

  setPassword(userId: number, passwordHash: string): Promise<string[]> {
    return settled(() =>
      this.deletingDevices(userId, () => {
        this.q.updatePasswordHash.run(passwordHash, userId);
        return true;
      }),
    );
  }

  setDisabled(userId: number, at: number | null): Promise<string[]> {
    return settled(() =>
      this.deletingDevices(userId, () => {
        this.q.updateUserDisabled.run(at, userId);
        return at !== null;
      }),
    );
  }

  /** Runs `change` and, when it says so, deletes the user's devices, in one transaction. */
  private deletingDevices(userId: number, change: () => boolean): string[] {
    const ids = this.db.transaction(() => (change() ? this.q.deleteDevicesOfUser.all(userId, '') : NONE)).immediate();
    for (const id of ids) this.devices.forget(id);
    return ids;
  }

  // --- devices ------------------------------------------------------------------------------

  createDevice(d: NewDevice, checked: CheckedCredentials, maxDevices: number): Promise<CreateDeviceResult> {
    return settled(() => {
      const now = Date.now();
      const made = this.db
        .transaction((): CreateDeviceResult => {
          // Still the credentials the log-in checked? A reset or a disable that committed since
          // then ends the log-in here (issue #13), in the transaction that would add the device.
          const current = this.q.selectCredentials.get(d.userId);
          if (!current || current.passwordHash !== checked.passwordHash) return { status: 'stale' };
          if (current.disabledAt !== null) return { status: 'disabled' };
          // Room for the new device within the user's cap (issue #13): the least recently used go.
          const evicted = this.leastRecentlyUsed(d.userId, maxDevices - 1);
          for (const id of evicted) this.q.deleteDevice.run(id, d.userId);
          const cursor = this.q.selectHeadSeq.get(d.userId) ?? 0;
          this.q.insertDevice.run({ ...d, now, cursor });
          const device = { id: d.id, userId: d.userId, name: d.name, createdAt: now, lastSeenAt: now, cursor };
          return { status: 'created', device, evicted };
        })
        .immediate();
      if (made.status === 'created') for (const id of made.evicted) this.devices.forget(id);
      return made;
    });
  }

  /**
   * The user's devices beyond the `keep` most recently used, least recently used first. Last use
   * as the ledger knows it: a poll's not yet written counts.
   */
  private leastRecentlyUsed(userId: number, keep: number): string[] {
    const rows = this.q.selectDevicesOfUser.all(userId); // oldest created first: ties go by it
    if (rows.length <= keep) return NONE;
    return rows
      .map((r) => ({ id: r.id, used: this.devices.lastUsed(r.id, r.lastSeenAt) }))
      .sort((a, b) => a.used - b.used)
      .slice(0, rows.length - keep)
      .map((r) => r.id);
  }

  getDeviceAuth(id: string): Promise<DeviceAuth | undefined> {
    try {
      return Promise.resolve(this.devices.get(id));
    } catch (err) {
      return Promise.reject(asError(err));
    }
  }

  listDevices(userId: number, limit?: number): Promise<Device[]> {
    return settled(() => {
      if (limit === undefined) return this.q.selectDevicesOfUser.all(userId).map((d) => this.devices.withPending(d));
      return this.q.selectRecentDevicesOfUser
        .all(userId, limit)
        .map((d) => this.devices.withPending(d))
        .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    });
  }

  deleteDevice(id: string, userId: number, by?: string): Promise<DeleteDeviceResult> {
    return settled(() => {
      const done = this.db
        .transaction((): DeleteDeviceResult => {
          if (by !== undefined && !this.stillThere(by)) return 'revoked';
          return this.q.deleteDevice.run(id, userId).changes > 0 ? 'deleted' : 'not_found';
        })
        .immediate();
      if (done === 'deleted') this.devices.forget(id);
      return done;
    });
  }

  deleteDevicesOfUser(userId: number, keep?: string): Promise<string[] | null> {
    return settled(() => {
      const ids = this.db
        .transaction(() => (keep !== undefined && !this.stillThere(keep) ? null : this.q.deleteDevicesOfUser.all(userId, keep ?? '')))
        .immediate();
      for (const id of ids ?? []) this.devices.forget(id);
      return ids;
    });
  }

  /**
   * Whether the device asking for a deletion still exists, read from the file inside the
   * deletion's transaction (BEGIN IMMEDIATE: nothing else commits meanwhile), not from the ledger's
   * cache: a deletion that committed since the request authenticated, from any process, is seen.
   */
  private stillThere(deviceId: string): boolean {
    return this.q.selectDeviceAuth.get(deviceId) !== undefined;
  }

  deleteIdleDevices(usedBefore: number, limit: number): Promise<string[]> {
    return settled(() => {
      const ids = this.db
        .transaction(() => {
          const gone: string[] = [];
          for (const r of this.q.selectIdleDevices.all(usedBefore, limit)) {
            // Its row is old, but a use since then may still be waiting to be written.
            if (this.devices.lastUsed(r.id, 0) >= usedBefore) continue;
            this.q.deleteDevice.run(r.id, r.userId);
            gone.push(r.id);
          }
          return gone;
        })
        .immediate();
      for (const id of ids) this.devices.forget(id);
      return ids;
    });
  }
}
