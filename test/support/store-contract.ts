// The Store interface's promises (src/store/store.ts), as one test body that runs against any
// backend: each backend's test file calls storeContract() with a factory of fresh stores (ntfy
// runs its message-cache tests against each cache implementation the same way). Only the
// interface is used here, no SQL and nothing backend-specific; what only one backend has (its
// pragmas, its batching, its files) is tested beside the call, in that backend's own file.
//
// This is the one entry point; the body is split by concern (#12): the event stream, messages
// and running (store-contract-messages.ts), users and devices (store-contract-accounts.ts), search
// (search-contract.ts), groups (store-contract-groups.ts), and the shared set-up
// (store-contract-fixture.ts).
import { searchContract } from './search-contract';
import { storeAccountsContract } from './store-contract-accounts';
import { type StoreFactory, StoreFixture } from './store-contract-fixture';
import { storeGroupsContract } from './store-contract-groups';
import { storeMessagesContract } from './store-contract-messages';

export type { StoreFactory } from './store-contract-fixture';

export function storeContract(backend: string, factory: StoreFactory): void {
  describe(`Store contract: ${backend} (#2, #12)`, () => {
    const fx = new StoreFixture(factory);
    storeAccountsContract(fx);
    storeMessagesContract(fx);
  });
  searchContract(backend, factory);
  storeGroupsContract(backend, factory);
}
