-- Version 7: the statements that delete messages (EXPUNGE and MOVE, mailbox and account deletion) lower the
-- counters themselves, as the inserting ones do since version 5: blobs.refcount (freeing unreferenced contents),
-- mailboxes.message_count/size_bytes and accounts.used_bytes. The statement-level delete trigger they replace ran
-- four more statements per delete, two of them joining all mailboxes with a sequential scan (10 ms per EXPUNGE with
-- 100,000 mailboxes) — and half of EXPUNGE's cost with a few. Stop every instance before upgrading: an older
-- instance would delete without lowering the counters.
DROP TRIGGER messages_counters_delete ON messages;
DROP FUNCTION messages_after_delete();
