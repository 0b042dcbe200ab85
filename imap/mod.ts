/**
 * @module
 * IMAP4rev1/IMAP4rev2 server (step 3 of the roadmap; not built yet). It will use `store/mod.ts` (mailboxes,
 * messages, the change log and notifications already exist there) and the parse-once structures in `mail/`.
 */
export {};
