-- 006: search in history (issue #17). One full-text index over every message, written in the
-- transaction of each send until 009, which has it follow the messages a batch at a time
-- (src/store/sqlite/search.ts, SearchIndexer).
--
-- Contentless (content=''): the text is in messages already, and the index holds a prepared
-- form of it (src/store/sqlite/search-text.ts: NFKC, and each character of a script written
-- without spaces, Chinese or Japanese, set apart as a word of its own), so it could not be an
-- external-content index over messages.body. The rowid is the message's id. Messages are
-- never deleted, so the index is only ever appended to.
--
-- body:  the prepared text. unicode61 splits it into words at anything that is not a letter or
--        a digit, folds case and removes diacritics (remove_diacritics 2: "cafe" finds "café").
-- scope: who may find the message, as words no text can produce in this column (a query puts
--        user text only in body): "u<id>" for each side of a 1:1 message, "g<id>" for a group
--        (src/store/sqlite/search-text.ts, directScope and groupScope, says how a conversation
--        is found). Authorization is part of the MATCH: the index intersects the caller's
--        scope with the words, so a search never reads other people's matches to skip them.
-- prefix: indexes of the first 1, 2 and 3 characters of every word, so a short prefix ("m*") is one
--        list to walk instead of the merge of every word that starts with it (bench/README.md).
--        Longer prefixes go through search_terms below.
-- columnsize=0: no per-message row of word counts (only ranking would use it; matches are
--        listed newest first), one write less per send.
CREATE VIRTUAL TABLE message_search USING fts5(
  body,
  scope,
  content = '',
  columnsize = 0,
  tokenize = 'unicode61 remove_diacritics 2',
  prefix = '1 2 3'
);

-- The words of the index longer than the prefix index reaches, by their folded form (no case,
-- no diacritics): a query word of four or more characters is looked up here and becomes "any of
-- these words", which FTS5 walks lazily, instead of a prefix query, which FTS5 answers by first
-- merging every message holding such a word (src/store/sqlite/search-text.ts).
CREATE TABLE search_terms (
  key  TEXT NOT NULL,
  term TEXT NOT NULL,
  PRIMARY KEY (key, term)
) STRICT, WITHOUT ROWID;

-- Messages stored before this migration are indexed by the server when it opens the database,
-- in batches that each commit with their progress, oldest first, and the log shows how far it
-- is (src/store/sqlite/search-fill.ts). This row says what is left: ids in (done, up_to].
-- It is deleted when the last batch is in.
CREATE TABLE search_fill (
  done  INTEGER NOT NULL,
  up_to INTEGER NOT NULL
) STRICT;
INSERT INTO search_fill (done, up_to) SELECT 0, max(id) FROM messages WHERE id IS NOT NULL HAVING count(*) > 0;
