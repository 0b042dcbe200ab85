-- Version 3: what SEARCH needs beyond the body text, parsed once at delivery: the decoded header block
-- (HEADER, FROM, SUBJECT, …, TEXT) and the Date: header as a time (SENTBEFORE/SENTON/SENTSINCE).
-- blobs.search_text and blobs.header_text are stored lower-cased (SEARCH is case-insensitive): a search compares
-- with strpos() and never runs lower() over every message.
ALTER TABLE blobs ADD COLUMN header_text text NOT NULL DEFAULT '';
ALTER TABLE blobs ADD COLUMN sent_at timestamptz;
