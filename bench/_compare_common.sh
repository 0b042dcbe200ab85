# Sourced by bench/compare_smtp.sh and bench/compare_imap.sh: starts the Postfix→Dovecot reference from
# ../shared/bench and a throwaway Postgres for Silvermail (stopped on exit; reached over its Unix socket); sets B,
# WORK, URL, DENO and the SILVERMAIL_* environment of the server under test (MX 2525, IMAP 2143, plaintext login allowed on loopback).
B=$(cd ../shared/bench && pwd)
export BENCH_STATE=${BENCH_STATE:-/var/tmp/silvermail-bench}  # every parent must be world-searchable (postfix)
[ -d "$BENCH_STATE/ref/postfix" ] || "$B/ref-setup.sh"
"$B/ref-stop.sh" >/dev/null 2>&1 || true
"$B/ref-start.sh"

PG=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
WORK=$(mktemp -d /tmp/silvermail-compare-XXXX)
chown postgres "$WORK"
PGPORT=${PGPORT:-25432}
runuser -u postgres -- "$PG/initdb" -D "$WORK/pg" -U postgres --auth=trust -E UTF8 >/dev/null
runuser -u postgres -- "$PG/pg_ctl" -D "$WORK/pg" \
  -o "-k $WORK -p $PGPORT -c listen_addresses=127.0.0.1 -c max_connections=300" -l "$WORK/pg.log" -w start >/dev/null
URL="postgres://postgres@127.0.0.1:$PGPORT/postgres?host=$WORK"  # the Unix socket in $WORK, as on one machine
cleanup() {
  # The server's whole process group (it runs under `npx` when deno is not installed).
  [ -f "$WORK/mine.pid" ] && kill -- "-$(cat "$WORK/mine.pid")" 2>/dev/null || true
  sleep 1
  runuser -u postgres -- "$PG/pg_ctl" -D "$WORK/pg" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

export SILVERMAIL_DATA_DIR="$WORK/data" SILVERMAIL_DATABASE_URL="$URL" SILVERMAIL_LOG_LEVEL=warn \
  SILVERMAIL_SMTP_MX_PORT=2525 SILVERMAIL_SMTP_SUBMISSION_PORT=0 SILVERMAIL_SMTP_SUBMISSIONS_PORT=0 \
  SILVERMAIL_IMAP_IMAP_PORT=2143 SILVERMAIL_IMAP_IMAPS_PORT=2993 SILVERMAIL_SMTP_MAX_CONNECTIONS_PER_IP=500 \
  SILVERMAIL_IMAP_MAX_CONNECTIONS_PER_IP=20000 SILVERMAIL_IMAP_MAX_CONNECTIONS_PER_ACCOUNT=20000 \
  SILVERMAIL_DEV_ALLOW_PLAINTEXT_AUTH_ON_LOOPBACK=true
# Like the reference (Postfix at Debian defaults checks no SPF/DKIM/DMARC): set it to true to measure with them.
export SILVERMAIL_MAIL_AUTH_ENABLED=${SILVERMAIL_MAIL_AUTH_ENABLED:-false}
# The deno binary itself when installed: killing an `npx` wrapper would leave the server running.
DENO="${DENO:-$(command -v deno || echo "npx -y deno@2.9.6")}"

# Starts the server under test in the background (its pid in $WORK/mine.pid).
start_silvermail() {
  setsid $DENO run -A main.ts serve >/dev/null &
  echo $! >"$WORK/mine.pid"
  sleep 5
}
