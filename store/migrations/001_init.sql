-- Silvermail schema, version 1: domains, accounts, aliases, mailboxes, messages, content-addressed blobs and
-- the per-mailbox change log. Portable between PostgreSQL 15 (Debian) and 18 (PGlite).

CREATE TABLE domains (
  id bigserial PRIMARY KEY,
  name text NOT NULL UNIQUE,                 -- lower case, IDNA A-labels
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE accounts (
  id bigserial PRIMARY KEY,
  domain_id bigint NOT NULL REFERENCES domains (id) ON DELETE RESTRICT,
  address text NOT NULL UNIQUE,              -- local@domain, lower case
  password_hash text NOT NULL,               -- PHC string: $argon2id$v=19$m=…,t=…,p=…$salt$hash
  quota_bytes bigint NOT NULL DEFAULT 0,     -- 0: unlimited
  used_bytes bigint NOT NULL DEFAULT 0,      -- kept by triggers on messages
  disabled boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX accounts_domain ON accounts (domain_id);

CREATE TABLE aliases (
  id bigserial PRIMARY KEY,
  domain_id bigint NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
  address text NOT NULL,                     -- local@domain, or @domain for a catch-all
  target text NOT NULL,                      -- an address: an account, another alias, or an external address
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (address, target)
);
CREATE INDEX aliases_target ON aliases (target);
CREATE INDEX aliases_domain ON aliases (domain_id);

-- UIDVALIDITY comes from one sequence started at the migration's Unix time, so a mailbox deleted and created
-- again under the same name always gets a new, larger UIDVALIDITY (RFC 9051 §2.3.1.1), across instances.
CREATE SEQUENCE uid_validity_seq MAXVALUE 4294967295;
SELECT setval('uid_validity_seq', extract(epoch FROM now())::bigint);

CREATE TABLE mailboxes (
  id bigserial PRIMARY KEY,
  account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  name text NOT NULL,                        -- full name, '/'-separated, UTF-8; "INBOX" for the inbox
  parent_id bigint REFERENCES mailboxes (id) ON DELETE CASCADE,
  special_use text,                          -- \Sent, \Drafts, \Trash, \Junk, \Archive (RFC 6154)
  subscribed boolean NOT NULL DEFAULT true,
  uid_validity bigint NOT NULL DEFAULT nextval('uid_validity_seq'),
  uid_next bigint NOT NULL DEFAULT 1,
  highest_modseq bigint NOT NULL DEFAULT 1,
  message_count bigint NOT NULL DEFAULT 0,   -- kept by triggers on messages
  size_bytes bigint NOT NULL DEFAULT 0,      -- kept by triggers on messages
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (account_id, name)
);
CREATE INDEX mailboxes_parent ON mailboxes (parent_id);

-- One row per distinct message content (sha256), shared by every copy; refcount counts the rows that point at
-- it and is kept by triggers; the blob goes when the last reference goes. What is parsed from the content
-- (MIME tree with byte offsets, ENVELOPE, BODYSTRUCTURE, header fields, search text) depends only on the
-- content, so it lives here too: parsed once, stored once, shared by 100 recipients.
CREATE TABLE blobs (
  hash bytea PRIMARY KEY,
  data bytea NOT NULL,
  size bigint NOT NULL,
  structure jsonb NOT NULL,                  -- parsed once at delivery (mail/parse.ts)
  search_text text NOT NULL DEFAULT '',      -- decoded text used by SEARCH BODY/TEXT
  refcount integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now()
);
-- Uncompressed out-of-line storage: substring() of a large blob reads only the chunks it needs (partial FETCH).
ALTER TABLE blobs ALTER COLUMN data SET STORAGE EXTERNAL;

CREATE TABLE messages (
  id bigserial PRIMARY KEY,
  mailbox_id bigint NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
  uid bigint NOT NULL,
  modseq bigint NOT NULL,
  flags text[] NOT NULL DEFAULT '{}',        -- system flags (\Seen, \Answered, …) and keywords
  internal_date timestamptz NOT NULL,
  size bigint NOT NULL,
  blob_hash bytea NOT NULL REFERENCES blobs (hash),   -- the content, and its parsed structure
  message_id text,                           -- Message-ID header without <>, for Sent de-duplication
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (mailbox_id, uid)
);
CREATE INDEX messages_mailbox_modseq ON messages (mailbox_id, modseq);
CREATE INDEX messages_blob ON messages (blob_hash);
CREATE INDEX messages_message_id ON messages (mailbox_id, message_id) WHERE message_id IS NOT NULL;

-- What changed in a mailbox, in MODSEQ order: IMAP sessions catch up from here (EXISTS, FETCH FLAGS, EXPUNGE,
-- QRESYNC VANISHED). A NOTIFY on channel silvermail_changes announces each commit.
CREATE TABLE mailbox_changes (
  id bigserial PRIMARY KEY,
  mailbox_id bigint NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
  modseq bigint NOT NULL,
  uid bigint NOT NULL,
  kind text NOT NULL CHECK (kind IN ('append', 'flags', 'expunge')),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mailbox_changes_mailbox_modseq ON mailbox_changes (mailbox_id, modseq);

-- Statement-level triggers keep blob reference counts, mailbox counters and account usage exact, including
-- for cascaded deletes (account or mailbox deleted).
CREATE FUNCTION messages_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE blobs b SET refcount = b.refcount + n.c
    FROM (SELECT blob_hash, count(*) AS c FROM new_rows GROUP BY blob_hash) n WHERE b.hash = n.blob_hash;
  UPDATE mailboxes m SET message_count = m.message_count + n.c, size_bytes = m.size_bytes + n.s
    FROM (SELECT mailbox_id, count(*) AS c, sum(size) AS s FROM new_rows GROUP BY mailbox_id) n
    WHERE m.id = n.mailbox_id;
  UPDATE accounts a SET used_bytes = a.used_bytes + n.s
    FROM (SELECT mb.account_id, sum(r.size) AS s FROM new_rows r JOIN mailboxes mb ON mb.id = r.mailbox_id
          GROUP BY mb.account_id) n
    WHERE a.id = n.account_id;
  RETURN NULL;
END $$;

CREATE FUNCTION messages_after_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE blobs b SET refcount = b.refcount - n.c
    FROM (SELECT blob_hash, count(*) AS c FROM old_rows GROUP BY blob_hash) n WHERE b.hash = n.blob_hash;
  DELETE FROM blobs b USING (SELECT DISTINCT blob_hash FROM old_rows) n
    WHERE b.hash = n.blob_hash AND b.refcount <= 0;
  UPDATE mailboxes m SET message_count = m.message_count - n.c, size_bytes = m.size_bytes - n.s
    FROM (SELECT mailbox_id, count(*) AS c, sum(size) AS s FROM old_rows GROUP BY mailbox_id) n
    WHERE m.id = n.mailbox_id;
  UPDATE accounts a SET used_bytes = a.used_bytes - n.s
    FROM (SELECT mb.account_id, sum(r.size) AS s FROM old_rows r JOIN mailboxes mb ON mb.id = r.mailbox_id
          GROUP BY mb.account_id) n
    WHERE a.id = n.account_id;
  RETURN NULL;
END $$;

CREATE TRIGGER messages_counters_insert AFTER INSERT ON messages
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION messages_after_insert();
CREATE TRIGGER messages_counters_delete AFTER DELETE ON messages
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION messages_after_delete();
