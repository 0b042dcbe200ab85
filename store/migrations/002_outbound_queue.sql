-- Version 2: the persistent outbound queue. Submission writes one row per external recipient in the same
-- transaction that stores the local copies; the delivery worker (roadmap step 4) claims due rows with
-- FOR UPDATE SKIP LOCKED and removes them only on a definitive answer (delivered, or bounced to the sender).

CREATE TABLE outbound_queue (
  id bigserial PRIMARY KEY,
  blob_hash bytea NOT NULL REFERENCES blobs (hash),
  submission_id text NOT NULL,               -- groups the recipients of one submitted message
  account_id bigint REFERENCES accounts (id) ON DELETE SET NULL,   -- who submitted it (null: system mail)
  mail_from text NOT NULL,                   -- reverse-path; '' is the null sender (never bounced)
  recipient text NOT NULL,
  domain text NOT NULL,                      -- the recipient's domain: deliveries are grouped per destination
  dsn jsonb NOT NULL DEFAULT '{}',           -- RFC 3461: ret, envid, notify, orcpt
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  last_error text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbound_queue_due ON outbound_queue (next_attempt_at);
CREATE INDEX outbound_queue_blob ON outbound_queue (blob_hash);

CREATE FUNCTION queue_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE blobs b SET refcount = b.refcount + n.c
    FROM (SELECT blob_hash, count(*) AS c FROM new_rows GROUP BY blob_hash) n WHERE b.hash = n.blob_hash;
  RETURN NULL;
END $$;

CREATE FUNCTION queue_after_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE blobs b SET refcount = b.refcount - n.c
    FROM (SELECT blob_hash, count(*) AS c FROM old_rows GROUP BY blob_hash) n WHERE b.hash = n.blob_hash;
  DELETE FROM blobs b USING (SELECT DISTINCT blob_hash FROM old_rows) n
    WHERE b.hash = n.blob_hash AND b.refcount <= 0;
  RETURN NULL;
END $$;

CREATE TRIGGER outbound_queue_refs_insert AFTER INSERT ON outbound_queue
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION queue_after_insert();
CREATE TRIGGER outbound_queue_refs_delete AFTER DELETE ON outbound_queue
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION queue_after_delete();
