-- Version 3: what SEARCH needs beyond the body text, parsed once at delivery: the decoded header block
-- (HEADER, FROM, SUBJECT, …, TEXT) and the day the Date: header names, in its own time zone
-- (SENTBEFORE/SENTON/SENTSINCE disregard time and timezone, RFC 9051 §6.4.4).
-- blobs.search_text and blobs.header_text are stored lower-cased (SEARCH is case-insensitive): a search compares
-- with strpos() and never runs lower() over every message.
ALTER TABLE blobs ADD COLUMN header_text text NOT NULL DEFAULT '';
ALTER TABLE blobs ADD COLUMN sent_on date;
