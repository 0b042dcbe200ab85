#!/usr/bin/env bash
# IMAP: Silvermail (on Postgres) against the reference Dovecot in ../shared/bench, interleaved in one run: the
# command mix and idle IDLE connections, after the same SMTP prefill. Prints the ratios. Silvermail is charged with
# the CPU and memory of its Postgres cluster too (every process of it), as the reference is with all of its own.
# Usage: bench/compare_imap.sh [imap-compare.sh options]   (default: --clients 10 --seconds 20 --idle 200 --hold 30)
# The reference logs in as u1..u50@perf.test with password "pass", shorter than Silvermail's password policy
# allows, so bench/seed_perf_users.ts sets that password directly (bench only).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/_compare_common.sh
$DENO run -A bench/seed_perf_users.ts
start_silvermail
[ $# -gt 0 ] || set -- --clients 10 --seconds 20 --idle 200 --hold 30
"$B/imap-compare.sh" --peer silvermail --port 2143 --smtp-port 2525 --pid "silvermail=$WORK/mine.pid" --pid "postgres=$WORK/pg/postmaster.pid" "$@"
