#!/usr/bin/env bash
# Compares builds on the synced random-write stream, side by side: ROUNDS
# rounds, each running every given binary in turn against its own fresh
# `kvstore dev` cluster (3 nodes, one process, loopback) with the ceiling
# measured in the same invocation. One line per run, then per binary the
# medians of the ratio to the ceiling, writes/s, the cluster's CPU time per
# client write (user and system, from /proc), WAL records per fsync, and
# the host's steal time during the run.
#
# On a shared machine single runs of one binary spread widely (ratios of
# 0.24-0.48 have been seen); compare medians of alternating runs, and look
# at steal: runs with several percent of it are the slow ones of any build.
#
# Usage: go build -o kvstore ./cmd/kvstore && scripts/write-ratio.sh ./kvstore [./kvstore-other ...]
# Environment: ROUNDS (5), CLIENTS (64), DURATION (10s), NODES (3), PORT
# (first HTTP port, 24180; see devcluster.sh).
set -euo pipefail
[ $# -ge 1 ] || { sed -n '2,16p' "$0"; exit 2; }
ROUNDS=${ROUNDS:-5}
CLIENTS=${CLIENTS:-64}
DURATION=${DURATION:-10s}
NODES=${NODES:-3}
PORT=${PORT:-24180}
. "$(dirname "$0")/devcluster.sh"
devcluster_init ratio

# steal_ticks: the host's steal ticks so far, and all ticks.
steal_ticks() { awk '$1 == "cpu" { t = 0; for (i = 2; i <= NF; i++) t += $i; print $9, t }' /proc/stat; }
metric_sum() {
	local s=0 v
	for i in $(seq 0 $((NODES - 1))); do
		v=$(curl -sf "http://127.0.0.1:$((PORT + i))/metrics" | awk -v m="$1" '$1 == m { printf "%d", $2 }')
		s=$((s + ${v:-0}))
	done
	echo "$s"
}

printf '%-20s %6s %9s %12s %11s %6s\n' binary ratio writes/s "cpu us/write" "recs/fsync" steal%
for round in $(seq 1 "$ROUNDS"); do
	for bin in "$@"; do
		dev_start "$bin"
		c0=$(cpu_ticks "$DEV")
		read -r st0 all0 < <(steal_ticks)
		"$bin" bench -targets "$T" -ceiling -workload write -duration "$DURATION" \
			-concurrency "$CLIENTS" -progress 0 >"$DIR/bench.out" 2>&1 || true
		read -r st1 all1 < <(steal_ticks)
		c1=$(cpu_ticks "$DEV")
		syncs=$(metric_sum kvstore_storage_wal_syncs_total)
		recs=$(metric_sum kvstore_replica_records_written_total)
		dev_stop
		writes=$(awk '$1 == "all" { print $2; exit }' "$DIR/bench.out")
		rate=$(awk '$1 == "all" { print $3; exit }' "$DIR/bench.out")
		ratio=$(awk '/^throughput:/ { print $NF }' "$DIR/bench.out")
		if [ -z "$writes" ] || [ "$writes" = 0 ] || [ -z "$ratio" ]; then
			echo "$bin: no result" >&2
			cat "$DIR/bench.out" >&2
			continue
		fi
		# The ceiling ran in the same invocation: the cluster idled through it.
		awk -v b="$bin" -v r="$ratio" -v w="$rate" -v n="$writes" -v c=$((c1 - c0)) -v hz="$HZ" \
			-v s="$syncs" -v rec="$recs" -v st=$((st1 - st0)) -v all=$((all1 - all0)) 'BEGIN {
			printf "%-20s %6s %9.0f %12.0f %11.1f %6.1f\n", b, r, w, c / hz / n * 1e6,
				(s > 0 ? rec / s : 0), (all > 0 ? 100 * st / all : 0) }' | tee -a "$DIR/runs"
	done
done
echo
echo "medians over $ROUNDS rounds"
printf '%-20s %6s %9s %12s %11s %6s\n' binary ratio writes/s "cpu us/write" "recs/fsync" steal%
for bin in "$@"; do
	awk -v b="$bin" "$AWK_MEDIAN"'
	$1 == b { n++; for (i = 2; i <= 6; i++) v[i, n] = $i }
	function col(c,   a, i) {
		for (i = 1; i <= n; i++) a[i] = v[c, i] + 0
		return median(a, n)
	}
	END { if (n) printf "%-20s %6.3f %9.0f %12.0f %11.1f %6.1f\n", b, col(2), col(3), col(4), col(5), col(6) }' "$DIR/runs"
done
