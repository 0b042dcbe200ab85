-- Version 8: EXPUNGE finds the messages flagged \Deleted through a partial index that holds only those, instead of
-- reading every message of the mailbox (most of its cost with a few hundred messages; 100,000 rows read per EXPUNGE
-- in a mailbox of 100,000). The index's condition is written exactly as in removeMessages (store/messages.ts):
-- Postgres uses a partial index only for a query whose condition implies it.
CREATE INDEX messages_deleted ON messages (mailbox_id, uid) WHERE '\Deleted' = ANY (flags);
