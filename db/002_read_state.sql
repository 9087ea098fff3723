-- 002: read state and the conversation list.
-- One row per (user, peer): the newest message between them, the user's read marker and the
-- exact number of messages from the peer after it. Kept up to date in the same transaction as
-- every send and every read, so GET /conversations is one query over the caller's own rows
-- (a range of the primary key) with no per-row counting, however long the histories are.
-- Deliberately no index on (user_id, last_message_id): every send would update two entries of
-- it, measured at a seventh of the server's time under load, to spare a sort of one user's few
-- hundred rows when they list their conversations.
CREATE TABLE conversations (
  user_id         INTEGER NOT NULL REFERENCES users(id),
  peer_id         INTEGER NOT NULL REFERENCES users(id),
  last_message_id INTEGER NOT NULL,
  read_up_to      INTEGER NOT NULL DEFAULT 0,  -- only ever moves forward
  unread          INTEGER NOT NULL DEFAULT 0,  -- messages from peer_id with id > read_up_to
  PRIMARY KEY (user_id, peer_id)
) STRICT, WITHOUT ROWID;

-- Conversations that existed before this migration: nothing has been marked read yet, so
-- every message from the peer counts as unread (never one's own, never a note to self).
INSERT INTO conversations (user_id, peer_id, last_message_id, read_up_to, unread)
SELECT owner, peer, max(id), 0, sum(CASE WHEN sender_id = peer AND peer <> owner THEN 1 ELSE 0 END)
FROM (
  SELECT sender_id AS owner, recipient_id AS peer, id, sender_id FROM messages
  UNION ALL
  SELECT recipient_id AS owner, sender_id AS peer, id, sender_id FROM messages WHERE recipient_id <> sender_id
)
GROUP BY owner, peer;
