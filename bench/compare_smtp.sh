#!/usr/bin/env bash
# SMTP ingest: Silvermail (on Postgres) against the Postfix→Dovecot reference in ../shared/bench, interleaved in
# one run so both see the same machine noise; prints the reference's Markdown report with the ratios. Silvermail is
# charged with the CPU and memory of its Postgres cluster too (every process of it).
# Usage: bench/compare_smtp.sh [smtp-compare.sh options]   (default: --sizes 4096:2000 --sessions 10 --reps 1)
# Needs root (the reference stack is installed with apt-get the first time) and PostgreSQL installed.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/_compare_common.sh
$DENO run -A bench/seed_perf_users.ts
start_silvermail
[ $# -gt 0 ] || set -- --sizes 4096:2000 --sessions 10 --reps 1
"$B/smtp-compare.sh" --peer silvermail --port 2525 --pid "silvermail=$WORK/mine.pid" --pid "postgres=$WORK/pg/postmaster.pid" \
  --count-cmd "psql -Atq '$URL' -c 'SELECT count(*) FROM messages'" "$@"
