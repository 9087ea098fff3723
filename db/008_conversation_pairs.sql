-- 008: one row per conversation instead of one per side (issue #18).
--
-- 002 kept a row for each (user, peer), so every 1:1 send updated two rows, which live on two
-- unrelated pages of the table: on a history of a million messages each such page is a page
-- the commit writes to the WAL, syncs and later checkpoints, and the two rows were about a
-- quarter of what a send cost the store (bench/README.md, #18). Here a conversation is one row,
-- keyed by its ordered pair as the messages are (conv_lo, conv_hi): each side's read marker and
-- unread count are columns of it, so a send updates one row on one page.
--
-- Listing a user's conversations reads the rows where they are lo (a range of the primary key)
-- and those where they are hi (a range of conversation_pairs_by_hi). That index holds only the
-- pair, which never changes: a send that updates the row leaves the index alone, so 002's
-- reason for having no index here (two more index entries rewritten by every send) stays true.
CREATE TABLE conversation_pairs (
  lo              INTEGER NOT NULL REFERENCES users(id),
  hi              INTEGER NOT NULL REFERENCES users(id),  -- lo = hi: notes to self
  last_message_id INTEGER NOT NULL,
  lo_read_up_to   INTEGER NOT NULL DEFAULT 0,  -- lo's read marker, only ever moves forward
  lo_unread       INTEGER NOT NULL DEFAULT 0,  -- messages from hi with id > lo_read_up_to
  hi_read_up_to   INTEGER NOT NULL DEFAULT 0,
  hi_unread       INTEGER NOT NULL DEFAULT 0,  -- messages from lo with id > hi_read_up_to
  PRIMARY KEY (lo, hi)
) STRICT, WITHOUT ROWID;
CREATE INDEX conversation_pairs_by_hi ON conversation_pairs(hi, lo);

-- Every send wrote both sides' rows in one transaction, so they come in pairs; the second
-- statement keeps a side whose partner is missing all the same.
INSERT INTO conversation_pairs (lo, hi, last_message_id, lo_read_up_to, lo_unread, hi_read_up_to, hi_unread)
SELECT a.user_id, a.peer_id, max(a.last_message_id, coalesce(b.last_message_id, 0)),
       a.read_up_to, a.unread,
       CASE WHEN a.user_id = a.peer_id THEN 0 ELSE coalesce(b.read_up_to, 0) END,
       CASE WHEN a.user_id = a.peer_id THEN 0 ELSE coalesce(b.unread, 0) END
FROM conversations a
LEFT JOIN conversations b ON b.user_id = a.peer_id AND b.peer_id = a.user_id
WHERE a.user_id <= a.peer_id;
INSERT INTO conversation_pairs (lo, hi, last_message_id, hi_read_up_to, hi_unread)
SELECT b.peer_id, b.user_id, b.last_message_id, b.read_up_to, b.unread
FROM conversations b
WHERE b.user_id > b.peer_id
  AND NOT EXISTS (SELECT 1 FROM conversations a WHERE a.user_id = b.peer_id AND a.peer_id = b.user_id);

DROP TABLE conversations;
