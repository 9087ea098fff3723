-- 009: the search index follows the messages, a batch at a time, instead of being written in the
-- transaction of every send (issue #18; src/store/sqlite/search.ts, SearchIndexer).
--
-- FTS5 writes what a transaction indexed as a segment of its own and merges segments later: a
-- fixed cost per commit, about 50 µs of CPU when a commit holds one message, as many do on a
-- server that is not saturated (bench/README.md, #18). The index now takes the messages stored
-- since it last caught up, at least 256 at a time or after a second, and before every search, so
-- a search still finds every message stored before it.
--
-- up_to: every message with an id up to this is in the index, none above it is. Moved in the
-- transaction that indexes, so the two never disagree; what a crash left above it is indexed
-- when the server opens the database. Messages older than 006 that search_fill still lists
-- are at or below it, and indexed by that fill, which runs first.
CREATE TABLE search_indexed (
  up_to INTEGER NOT NULL
) STRICT;
INSERT INTO search_indexed (up_to) SELECT coalesce(max(id), 0) FROM messages;
