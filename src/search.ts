// Search in history (issue #17): GET /search. What the words of a query are, and the answer.
// Who may find what is decided by the store, inside the query (src/store/store.ts, search).
import { findUserOrThrow } from './auth';
import type { Core } from './core';
import { Errors } from './errors';
import { groupNotFound } from './groups';
import type { DeviceAuth } from './types';
import { messageView, type MessageView } from './views';

export const SEARCH_LIMIT_DEFAULT = 20;
export const SEARCH_LIMIT_MAX = 100;
/** Characters (code points) of a query: enough for any sentence one remembers, bounded work. */
export const SEARCH_QUERY_MAX = 200;

const LETTER_OR_DIGIT = /[\p{L}\p{N}]/u;

/**
 * The words of a query: what white space separates, keeping only those with a letter or a
 * digit (a lone "-" or "*" finds nothing and asks nothing). Punctuation inside a word stays:
 * the store treats it as text, so "x-ray" finds the two words side by side.
 */
export function searchWords(q: string): string[] {
  return q.split(/\s+/u).filter((w) => LETTER_OR_DIGIT.test(w));
}

export interface SearchInput {
  q: string;
  with?: string;
  group?: number;
  before?: number;
  limit: number;
}

export async function search(core: Core, caller: DeviceAuth, input: SearchInput): Promise<{ messages: MessageView[]; has_more: boolean }> {
  const words = searchWords(input.q);
  if (words.length === 0) throw Errors.invalidRequest('q', 'must hold at least one letter or digit');
  const peerId = input.with === undefined ? undefined : (await findUserOrThrow(core, input.with)).id;
  const page = await core.store.search(caller.userId, { words, peerId, groupId: input.group, before: input.before, limit: input.limit });
  // Not a member (now), or no such group: the one answer every group endpoint gives.
  if (!page) throw groupNotFound(input.group ?? 0);
  return { messages: page.messages.map((m) => messageView(m, caller.userId)), has_more: page.hasMore };
}
