-- PostgreSQL 003: search in history (issue #17), with the results of SQLite's db/006_search.sql.
--
-- search: each message's words as a tsvector written by the server, not by a text search
-- configuration: src/store/postgres/search.ts prepares the text exactly as the SQLite index does
-- (NFKC; each character of a script written without spaces a word of its own; case and
-- diacritics folded) and gives each word its position, so a query word is a prefix at the start
-- of a word, or a phrase of words side by side, through tsquery's :* and <->. Who may find the
-- message is in the same vector, as words no text can produce (they start with "#"): "#u<id>"
-- for each side of a 1:1 message, "#c<lo>x<hi>" for its conversation, "#g<id>" for its group.
-- A search ANDs the caller's scope with the words, so authorization is part of the index walk.
-- Written in the transaction that stores the message; NULL only for a message stored before
-- this migration, until the server that migrated fills it in (search.ts, fillSearch).
ALTER TABLE messages ADD COLUMN search tsvector;
CREATE INDEX messages_search ON messages USING gin (search);
