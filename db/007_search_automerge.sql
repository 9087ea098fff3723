-- 007: how eagerly the search index (006) merges its segments (issue #18).
--
-- FTS5 writes what each commit indexed as a new segment and, by default, merges segments four
-- at a time ("automerge" 4), doing merge work at every commit in proportion to what it wrote
-- and to the number of levels. On a history of a million messages that is about ten levels,
-- and the merging was about a fifth of what a send cost the store (bench/README.md, #18).
-- Sixteen at a time halves the levels every entry is rewritten through. A search reads more
-- segments in return (up to fifteen a level instead of three); measured in bench/README.md
-- against #17's bound.
--
-- "crisismerge" is where FTS5 stops merging a little at each commit and merges a whole level
-- at once, inside one commit: at its default, 16, that is where automerge 16 starts, so every
-- level was merged all at once, holding one commit, and every send waiting on it, for over half
-- a second on that history. At 64 the merges stay incremental.
--
-- Settings of the index, kept in its own config table: nothing is rewritten now, later merges
-- follow them.
INSERT INTO message_search (message_search, rank) VALUES ('automerge', 16);
INSERT INTO message_search (message_search, rank) VALUES ('crisismerge', 64);
