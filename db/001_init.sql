-- 001: accounts, devices, messages and the per-user event stream.
-- Times are integer milliseconds since the Unix epoch (UTC), set by the server.

CREATE TABLE users (
  id            INTEGER PRIMARY KEY,
  username      TEXT    NOT NULL UNIQUE,  -- always lowercase: names compare case-insensitively
  password_hash TEXT    NOT NULL,         -- scrypt$N$r$p$salt$hash, never the password
  created_at    INTEGER NOT NULL
) STRICT;

-- Every login is a device. The token is "<id>.<secret>"; only sha256(secret) is stored, so a
-- copy of the database does not let anyone act as a device.
CREATE TABLE devices (
  id           TEXT    PRIMARY KEY,
  user_id      INTEGER NOT NULL REFERENCES users(id),
  name         TEXT    NOT NULL,
  token_hash   BLOB    NOT NULL,
  created_at   INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  cursor       INTEGER NOT NULL  -- furthest stream position this device has polled with
) STRICT;
CREATE INDEX devices_by_user ON devices(user_id);

-- AUTOINCREMENT: an id is never handed out twice, even after the newest row is gone, so
-- "before"/"after" paging and clients' caches stay right.
CREATE TABLE messages (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  sender_id    INTEGER NOT NULL REFERENCES users(id),
  recipient_id INTEGER NOT NULL REFERENCES users(id),
  -- The conversation as an ordered pair (smaller user id first), so one index range holds a
  -- whole conversation in id order, both directions: history is a range scan.
  conv_lo      INTEGER NOT NULL,
  conv_hi      INTEGER NOT NULL,
  body         TEXT    NOT NULL,
  client_id    TEXT,
  sent_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX messages_by_conversation ON messages(conv_lo, conv_hi, id);
-- Idempotent sends: one message per (sender, client_id), also when retries race.
CREATE UNIQUE INDEX messages_by_client_id ON messages(sender_id, client_id) WHERE client_id IS NOT NULL;

-- The event stream: one row per event per user who should see it, numbered 1, 2, 3... per
-- user. A cursor is a position in its owner's stream, so it reveals nothing about anyone
-- else's traffic, and "ahead of the stream" is simply seq > the user's last seq. Keeping the
-- stream a list of events per user lets a group message later be written into each member's
-- stream without touching the poll path.
CREATE TABLE events (
  user_id    INTEGER NOT NULL REFERENCES users(id),
  seq        INTEGER NOT NULL,
  kind       INTEGER NOT NULL,  -- 1 = message, 2 = read marker
  message_id INTEGER,           -- kind 1: the message; kind 2: the read marker's up_to
  peer_id    INTEGER,           -- kind 2: the other side of the conversation that was read
  PRIMARY KEY (user_id, seq)
) STRICT, WITHOUT ROWID;
