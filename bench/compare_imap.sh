#!/usr/bin/env bash
# IMAP: Silvermail (on Postgres) against the reference Dovecot in ../shared/bench, interleaved in one run: the
# command mix (10 clients) and idle IDLE connections, after the same SMTP prefill. Prints the ratios.
# Usage: bench/compare_imap.sh [imap-compare.sh options]   (default: --clients 10 --seconds 20 --idle 200 --hold 30)
# The reference logs in as u1..u50@perf.test with password "pass", shorter than Silvermail's password policy
# allows, so the bench users are created through the store with that password set directly.
set -euo pipefail
cd "$(dirname "$0")/.."
B=$(cd ../shared/bench && pwd)
export BENCH_STATE=${BENCH_STATE:-/var/tmp/silvermail-bench}
[ -d "$BENCH_STATE/ref/postfix" ] || "$B/ref-setup.sh"
"$B/ref-stop.sh" >/dev/null 2>&1 || true
"$B/ref-start.sh"

PG=/usr/lib/postgresql/15/bin
WORK=$(mktemp -d /tmp/silvermail-compare-XXXX)
chown postgres "$WORK"
PORT=25433
runuser -u postgres -- "$PG/initdb" -D "$WORK/pg" -U postgres --auth=trust -E UTF8 >/dev/null
runuser -u postgres -- "$PG/pg_ctl" -D "$WORK/pg" -o "-k $WORK -p $PORT -c listen_addresses=127.0.0.1 -c max_connections=300" -l "$WORK/pg.log" -w start >/dev/null
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
  SILVERMAIL_IMAP_IMAP_PORT=2143 SILVERMAIL_IMAP_IMAPS_PORT=2993 SILVERMAIL_SMTP_MAX_CONNECTIONS_PER_IP=500 \
  SILVERMAIL_IMAP_MAX_CONNECTIONS_PER_IP=20000 SILVERMAIL_DEV_ALLOW_PLAINTEXT_AUTH_ON_LOOPBACK=true
DENO="${DENO:-npx -y deno@2.9.6}"
$DENO run -A bench/seed_perf_users.ts
$DENO run -A main.ts serve >/dev/null &
echo $! >"$WORK/mine.pid"
sleep 5
[ $# -gt 0 ] || set -- --clients 10 --seconds 20 --idle 200 --hold 30
"$B/imap-compare.sh" --peer silvermail --port 2143 --smtp-port 2525 --pid "silvermail=$WORK/mine.pid" "$@"
