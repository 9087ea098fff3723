// The shared set-up of the Store contract's parts (store-contract*.ts): the factory a backend
// gives, a fresh store with alice and bob before each test, and the helpers the tests share.
import assert from 'node:assert/strict';
import type { NewDevice, Store } from '../../src/store';
import type { EventRow, User } from '../../src/types';

export interface StoreFactory {
  /** A store on a new, empty database. */
  open(): Promise<Store>;
  /**
   * Another store on the same database as `store`: another process beside it, or the same
   * server restarted once `store` is closed.
   */
  another(store: Store): Promise<Store>;
  /** Waits until what one store wrote is seen by every other store on the same database. */
  propagated(): Promise<void>;
}

/** A cap on devices per user that the tests never reach, unless they mean to. */
export const ROOMY = 100;

/** Test-only device tokens: what is stored is all that matters here. */
export function newDevice(id: string, userId: number): NewDevice {
  return { id, userId, name: `device ${id}`, tokenHash: Buffer.alloc(32, 7) };
}

export function seqs(events: readonly EventRow[]): number[] {
  return events.map((e) => e.seq);
}

export function bodies(events: readonly EventRow[]): string[] {
  return events.map((e) => {
    switch (e.kind) {
      case 'message':
        return e.message.body;
      case 'read':
        return `read ${e.with} ${e.upTo}`;
      case 'group':
        return `group ${e.change.action} ${e.group.members.join(',')}`;
      case 'group_read':
        return `read group ${e.upTo}`;
    }
  });
}

/**
 * Made inside a describe(): before each of its tests, a store on a new database with alice and
 * bob (the fields below); after each, that store and every other() closed. The helpers are bound
 * (they may be destructured) and work on the current store.
 */
export class StoreFixture {
  store!: Store;
  alice!: User;
  bob!: User;
  private readonly others: Store[] = [];

  constructor(readonly factory: StoreFactory) {
    beforeEach(async () => {
      this.store = await factory.open();
      this.alice = (await this.store.createUser('alice', 'hash-a')) ?? assert.fail('alice');
      this.bob = (await this.store.createUser('bob', 'hash-b')) ?? assert.fail('bob');
    });
    afterEach(async () => {
      for (const o of this.others.splice(0)) await o.close();
      await this.store.close();
    });
  }

  /** Another store on the same database, closed after the test. */
  readonly another = async (): Promise<Store> => {
    const o = await this.factory.another(this.store);
    this.others.push(o);
    return o;
  };

  /** The store again on the same database once it is closed (a restart); it becomes `store`. */
  readonly reopen = async (): Promise<Store> => {
    this.store = await this.factory.another(this.store);
    return this.store;
  };

  /** A device the log-in way: checked against the user's current password hash. */
  readonly device = async (id: string, user: User, s?: Store) => (await this.deviceEvicting(id, user, ROOMY, s)).device;

  /** device(), under a cap on the user's devices: what it made and what it deleted for room. */
  readonly deviceEvicting = async (id: string, user: User, maxDevices: number, s: Store = this.store) => {
    const u = (await s.findUser(user.username)) ?? assert.fail(user.username);
    const made = await s.createDevice(newDevice(id, user.id), { passwordHash: u.passwordHash }, maxDevices);
    return made.status === 'created' ? made : assert.fail(`no device: ${made.status}`);
  };

  readonly send = (from: User, to: User, body: string, clientId: string | null = null) =>
    this.store.sendMessage({ sender: from, recipient: to, body, clientId });
}
