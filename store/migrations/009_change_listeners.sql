-- Version 9: the instances that listen for change notifications (store/changes.ts). A statement that changes a
-- mailbox NOTIFYs only when an instance other than its own has a row here: on a single instance, a NOTIFY per flag
-- change woke a second Postgres backend and the instance itself for nothing. Each instance announces its own
-- changes to its own sessions without Postgres.
-- Upgrading: restart every instance sharing the database (as for versions 5, 7 and 8). An instance of an earlier
-- version does not register here, so newer ones would not notify it.
CREATE TABLE change_listeners (
  instance bigint PRIMARY KEY,
  seen_at timestamptz NOT NULL DEFAULT now()
);
