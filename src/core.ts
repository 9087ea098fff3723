// The core the HTTP layer calls into: configuration, the store, the hub, presence and rate
// limits. Built
// once in main.ts (or per test), passed down explicitly: no module-level singletons.
import type { Config } from './config';
import { Hub } from './hub';
import { Limits } from './limits';
import { Presence } from './presence';
import type { Store } from './store';
import type { StreamEvent } from './types';

export interface Core {
  readonly config: Config;
  readonly store: Store;
  readonly hub: Hub<StreamEvent>;
  readonly presence: Presence;
  readonly limits: Limits;
}

export function createCore(config: Config, store: Store): Core {
  const hub = new Hub<StreamEvent>({
    pollsPerDevice: config.pollsPerDevice,
    pollsPerUser: config.pollsPerUser,
    maxHeld: config.maxHeldPolls,
  });
  const presence = new Presence(config.presenceWindowMs, hub);
  return { config, store, hub, presence, limits: new Limits(config) };
}
