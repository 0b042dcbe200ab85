#!/usr/bin/env bash
# SMTP ingest: Silvermail (on Postgres) against the Postfix→Dovecot reference in ../shared/bench, interleaved in
# one run so both see the same machine noise; prints the reference's Markdown report with the ratios.
# Usage: bench/compare_smtp.sh [smtp-compare.sh options]   (default: --sizes 4096:2000 --sessions 10 --reps 1)
# Needs root (the reference stack is installed with apt-get the first time) and PostgreSQL installed.
set -euo pipefail
cd "$(dirname "$0")/.."
B=$(cd ../shared/bench && pwd)
export BENCH_STATE=${BENCH_STATE:-/var/tmp/silvermail-bench}  # every parent must be world-searchable (postfix)
[ -d "$BENCH_STATE/ref/postfix" ] || "$B/ref-setup.sh"
"$B/ref-stop.sh" >/dev/null 2>&1 || true
"$B/ref-start.sh"

PG=/usr/lib/postgresql/15/bin
WORK=$(mktemp -d /tmp/silvermail-compare-XXXX)
chown postgres "$WORK"
PORT=25432
runuser -u postgres -- "$PG/initdb" -D "$WORK/pg" -U postgres --auth=trust -E UTF8 >/dev/null
runuser -u postgres -- "$PG/pg_ctl" -D "$WORK/pg" -o "-k $WORK -p $PORT -c listen_addresses=127.0.0.1" -l "$WORK/pg.log" -w start >/dev/null
URL="postgres://postgres@127.0.0.1:$PORT/postgres"
cleanup() {
  [ -f "$WORK/mine.pid" ] && kill "$(cat "$WORK/mine.pid")" 2>/dev/null || true
  sleep 1
  runuser -u postgres -- "$PG/pg_ctl" -D "$WORK/pg" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

export SILVERMAIL_DATA_DIR="$WORK/data" SILVERMAIL_DATABASE_URL="$URL" SILVERMAIL_LOG_LEVEL=warn \
  SILVERMAIL_SMTP_MX_PORT=2525 SILVERMAIL_SMTP_SUBMISSION_PORT=0 SILVERMAIL_SMTP_SUBMISSIONS_PORT=0 \
  SILVERMAIL_IMAP_IMAP_PORT=0 SILVERMAIL_IMAP_IMAPS_PORT=0 SILVERMAIL_SMTP_MAX_CONNECTIONS_PER_IP=500
DENO="${DENO:-npx -y deno@2.9.6}"
$DENO run -A main.ts domain add perf.test >/dev/null
for i in $(seq 1 50); do echo "perf user passphrase $i" | $DENO run -A main.ts user add "u$i@perf.test" --password-stdin >/dev/null; done
$DENO run -A main.ts serve >/dev/null &
echo $! >"$WORK/mine.pid"
sleep 5
[ $# -gt 0 ] || set -- --sizes 4096:2000 --sessions 10 --reps 1
COUNT="psql -Atq '$URL' -c 'SELECT count(*) FROM messages'"
"$B/smtp-compare.sh" --peer silvermail --port 2525 --pid "silvermail=$WORK/mine.pid" --count-cmd "$COUNT" \
  "$@"
