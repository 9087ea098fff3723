// Indexing the messages a database held before it had a search index (db/006_search.sql left
// what is to do in search_fill). Runs when the store opens, before it serves anything, so a
// search never misses an old message; a large history takes a while (about 30 s a million
// messages), so it goes in batches, each committed with its progress: a server stopped half
// way resumes where it was, and `progress` (the log, from main.ts) shows how far it is.
import type { Database } from 'better-sqlite3';
import { prepareQueries, type UnindexedMessage } from './queries';
import { scopeOf, SearchIndexer } from './search';

/** Messages per transaction: long enough to be quick, short enough to resume close to where it stopped. */
const FILL_BATCH = 5000;

export interface FillProgress {
  /** Messages indexed so far in this run. */
  indexed: number;
  /** Messages this run set out to index. */
  total: number;
  done: boolean;
}

/** Indexes what search_fill says is left; calls `progress` after each batch. */
export function fillSearchIndex(db: Database, progress?: (p: FillProgress) => void): void {
  const selectFill = db.prepare<[], { done: number; upTo: number }>(`SELECT done, up_to AS upTo FROM search_fill`);
  const first = selectFill.get();
  if (!first) return;
  const selectBatch = db.prepare<[number, number, number], UnindexedMessage>(
    `SELECT id, sender_id AS senderId, recipient_id AS recipientId, group_id AS groupId, body
     FROM messages WHERE id > ? AND id <= ? ORDER BY id LIMIT ?`,
  );
  // The statements of the index (queries.ts), prepared here: the store's are not yet.
  const index = new SearchIndexer(prepareQueries(db));
  const moveOn = db.prepare<[number]>(`UPDATE search_fill SET done = ?`);
  const finish = db.prepare(`DELETE FROM search_fill`);
  const countLeft = db.prepare<[number, number], number>(`SELECT count(*) FROM messages WHERE id > ? AND id <= ?`).pluck();
  const total = countLeft.get(first.done, first.upTo) ?? 0;
  let indexed = 0;
  const batch = db.transaction((): boolean => {
    const fill = selectFill.get();
    if (!fill) return true;
    const rows = selectBatch.all(fill.done, fill.upTo, FILL_BATCH);
    for (const m of rows) index.add(m.id, m.body, scopeOf(m));
    index.writeAdded();
    indexed += rows.length;
    const last = rows.at(-1);
    if (!last || last.id >= fill.upTo) {
      finish.run();
      return true;
    }
    moveOn.run(last.id);
    return false;
  });
  for (;;) {
    let done: boolean;
    try {
      done = batch.immediate();
    } catch (err) {
      index.rolledBack();
      throw err;
    }
    index.committed();
    progress?.({ indexed, total, done });
    if (done) return;
  }
}
