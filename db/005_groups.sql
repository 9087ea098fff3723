-- 005: group conversations (issue #15).
--
-- A group message is stored once, in messages (with group_id instead of recipient_id), and an
-- event pointing at it is appended to the stream of every member, as Zulip's UserMessage rows
-- do: per-device cursors, exactly-once delivery and read markers work on groups unchanged.
-- Membership changes are events too (kind 3), written in the same transaction as the change,
-- so they are ordered with the messages in every stream they reach.

-- A group that lost its last member keeps its row (owner_id NULL, no members): its messages
-- stay where the former members' streams point, and its id is never handed out again
-- (AUTOINCREMENT), so an old event never names a different group.
CREATE TABLE groups (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  name            TEXT    NOT NULL,
  owner_id        INTEGER REFERENCES users(id),  -- NULL once the last member has left
  created_at      INTEGER NOT NULL,
  last_message_id INTEGER                        -- NULL until the first message
) STRICT;

-- Members, with their join order (the owner's successor is the member who joined earliest)
-- and their read state, kept exact in the same transaction as every send and every read, as
-- conversations (002) does for 1:1 conversations.
CREATE TABLE group_members (
  group_id   INTEGER NOT NULL REFERENCES groups(id),
  user_id    INTEGER NOT NULL REFERENCES users(id),
  joined     INTEGER NOT NULL,            -- join order within the group: larger joined later
  joined_at  INTEGER NOT NULL,
  read_up_to INTEGER NOT NULL DEFAULT 0,  -- only ever moves forward
  unread     INTEGER NOT NULL DEFAULT 0,  -- messages from others with id > read_up_to
  PRIMARY KEY (group_id, user_id)
) STRICT, WITHOUT ROWID;
-- A user's groups (GET /groups, GET /conversations).
CREATE INDEX group_members_by_user ON group_members(user_id, group_id);

-- Every change to a group as its members saw it: the state after the change (name, owner,
-- members sorted, as JSON) and what happened. A group event (events.kind 3) points at one, so a
-- stream read again later shows each change as it was, never a newer state (a removed member
-- replaying an old cursor learns nothing that happened after their removal).
CREATE TABLE group_changes (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  group_id   INTEGER NOT NULL REFERENCES groups(id),
  name       TEXT    NOT NULL,
  owner      TEXT,                 -- the owner's username; NULL when the group is gone
  members    TEXT    NOT NULL,     -- JSON array of usernames, sorted
  action     TEXT    NOT NULL,     -- created, renamed, added, removed, left
  actor      TEXT,                 -- who did it; NULL: an administrator
  subject    TEXT,                 -- who was added, removed or left
  at         INTEGER NOT NULL
) STRICT;

-- messages again, with room for group messages: recipient_id and the conversation pair are
-- NULL for them and group_id is set (exactly one of the two, checked). SQLite cannot drop a
-- NOT NULL in place, so the table is rebuilt: every row is copied with its id, and the
-- AUTOINCREMENT high-water mark is carried over so no id is ever handed out twice.
CREATE TABLE messages_v5 (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  sender_id    INTEGER NOT NULL REFERENCES users(id),
  recipient_id INTEGER REFERENCES users(id),   -- 1:1 messages
  group_id     INTEGER REFERENCES groups(id),  -- group messages
  conv_lo      INTEGER,                        -- 1:1 only: see 001
  conv_hi      INTEGER,
  body         TEXT    NOT NULL,
  client_id    TEXT,
  sent_at      INTEGER NOT NULL,
  CHECK ((recipient_id IS NULL) <> (group_id IS NULL))
) STRICT;
INSERT INTO messages_v5 (id, sender_id, recipient_id, group_id, conv_lo, conv_hi, body, client_id, sent_at)
SELECT id, sender_id, recipient_id, NULL, conv_lo, conv_hi, body, client_id, sent_at FROM messages ORDER BY id;
-- The copy set messages_v5's mark to its largest id; the old mark may be higher.
UPDATE sqlite_sequence SET seq = (SELECT max(seq) FROM sqlite_sequence WHERE name IN ('messages', 'messages_v5'))
WHERE name = 'messages_v5';
INSERT INTO sqlite_sequence (name, seq)
SELECT 'messages_v5', seq FROM sqlite_sequence
WHERE name = 'messages' AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'messages_v5');
DROP TABLE messages;
ALTER TABLE messages_v5 RENAME TO messages;
CREATE INDEX messages_by_conversation ON messages(conv_lo, conv_hi, id);
CREATE UNIQUE INDEX messages_by_client_id ON messages(sender_id, client_id) WHERE client_id IS NOT NULL;
-- A group's history is a range of this index; partial, so 1:1 sends do not maintain it.
CREATE INDEX messages_by_group ON messages(group_id, id) WHERE group_id IS NOT NULL;

-- events.kind gains 3 = group change (message_id: the group_changes row) and 4 = group read
-- marker (message_id: up_to, peer_id: the group's id). Kinds 1 and 2 are unchanged.
