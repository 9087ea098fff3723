// The core the HTTP layer calls into: configuration, the store, the hub, presence and rate
// limits. Built
// once in main.ts (or per test), passed down explicitly: no module-level singletons.
import type { Config } from './config';
import { Hub, type HubObserver } from './hub';
import { Limits } from './limits';
import { Presence } from './presence';
import { RecentEvents } from './recent-events';
import type { Store } from './store';
import type { StreamEvent } from './types';

export interface Core {
  readonly config: Config;
  readonly store: Store;
  readonly hub: Hub<StreamEvent>;
  readonly presence: Presence;
  readonly limits: Limits;
  /** Other server processes sharing the data (#16); absent for one process on SQLite. */
  readonly cluster?: ClusterHealth;
}

/** What /healthz says about the link to other processes. */
export interface ClusterHealth {
  /** Fields for /healthz: empty when all is well, `degraded` and why when not. */
  health(): Record<string, string | boolean>;
}

export interface CoreOptions {
  /** Told of what this process publishes and revokes (src/cluster/link.ts). */
  observer?: HubObserver;
  cluster?: ClusterHealth;
}

export function createCore(config: Config, store: Store, opts: CoreOptions = {}): Core {
  const hub = new Hub<StreamEvent>(
    {
      pollsPerDevice: config.pollsPerDevice,
      pollsPerUser: config.pollsPerUser,
      maxHeld: config.maxHeldPolls,
    },
    opts.observer ?? null,
    new RecentEvents<StreamEvent>((e) => e.json.length),
  );
  const presence = new Presence(config.presenceWindowMs, hub);
  return { config, store, hub, presence, limits: new Limits(config), cluster: opts.cluster };
}
