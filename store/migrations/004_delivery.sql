-- Version 4: outbound delivery. The queue gains what the worker needs (a lease by next_attempt_at, the delay
-- notice flag, the last remote host for DSNs), a log row per delivery attempt, and DKIM keys per domain.

ALTER TABLE outbound_queue ADD COLUMN delay_notified boolean NOT NULL DEFAULT false;
ALTER TABLE outbound_queue ADD COLUMN last_mx text;
ALTER TABLE outbound_queue ADD COLUMN last_attempt_at timestamptz;
-- The claim a worker holds (a random token; null when nobody is delivering the row). Settling a row requires the
-- token, so a worker whose lease ran out cannot overwrite the row another worker claimed since.
ALTER TABLE outbound_queue ADD COLUMN lease text;

-- One row per recipient per attempt: what happened, where, over what TLS. The admin panel shows it.
CREATE TABLE delivery_log (
  id bigserial PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  submission_id text NOT NULL,
  mail_from text NOT NULL,
  recipient text NOT NULL,
  result text NOT NULL CHECK (result IN ('delivered', 'deferred', 'bounced', 'expired')),
  mx_host text,                              -- the host name that answered (or the smarthost)
  mx_ip text,
  tls_version text,                          -- null: the session was not encrypted
  tls_cipher text,
  reply text,                                -- the remote reply, or our reason when there was none
  attempt integer NOT NULL
);
CREATE INDEX delivery_log_at ON delivery_log (at);
CREATE INDEX delivery_log_submission ON delivery_log (submission_id);

-- DKIM keys. A key is published in DNS from created_at until retire_at, and signs from sign_from until
-- sign_until; a rotation overlaps them so no message is ever signed with a key that is not published.
CREATE TABLE dkim_keys (
  id bigserial PRIMARY KEY,
  domain_id bigint NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
  selector text NOT NULL,
  algorithm text NOT NULL CHECK (algorithm IN ('rsa', 'ed25519')),
  private_key text NOT NULL,                 -- PKCS#8 PEM
  public_key text NOT NULL,                  -- base64, the DNS p= value
  created_at timestamptz NOT NULL DEFAULT now(),
  sign_from timestamptz NOT NULL DEFAULT now(),
  sign_until timestamptz,
  retire_at timestamptz,
  UNIQUE (domain_id, selector)
);

-- MTA-STS policies (RFC 8461 §5.1: a policy is cached until it expires and applied when a fresh one cannot be had),
-- kept in the database so a restart or another instance does not forget an enforce policy.
CREATE TABLE mta_sts_policies (
  domain text PRIMARY KEY,
  policy jsonb NOT NULL,                     -- as mailauth's getPolicy returns it (id, mode, mx, max_age, expires)
  expires_at timestamptz NOT NULL
);

-- Instance-wide settings generated once and shared by every instance (e.g. the SRS secret).
CREATE TABLE settings (
  key text PRIMARY KEY,
  value text NOT NULL
);
