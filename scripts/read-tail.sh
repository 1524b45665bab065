#!/usr/bin/env bash
# Measures the read tail at half of the saturation throughput, next to a
# bare net/http server at the same rate in the same invocation: ROUNDS
# rounds, each with a fresh `kvstore dev` cluster (NODES nodes, one
# process, loopback) loaded with RECORDS records; the closed-loop read
# throughput (YCSB C, CLIENTS clients, 8 s) is the saturation, then an open
# loop at half of it runs for DURATION against the cluster and then against
# the bare server (`-ceiling`). One line per round, then the medians.
#
# The bare server's tail is what the machine allows any HTTP service at
# that rate: on a busy host it misses a few milliseconds too.
#
# Usage: go build -o kvstore ./cmd/kvstore && scripts/read-tail.sh [./kvstore]
# Environment: ROUNDS (3), RECORDS (50000), CLIENTS (64), DURATION (15s),
# NODES (3), PORT (first HTTP port, 24180; see devcluster.sh).
set -euo pipefail
BIN=${1:-./kvstore}
ROUNDS=${ROUNDS:-3}
RECORDS=${RECORDS:-50000}
CLIENTS=${CLIENTS:-64}
DURATION=${DURATION:-15s}
NODES=${NODES:-3}
PORT=${PORT:-24180}
. "$(dirname "$0")/devcluster.sh"
devcluster_init tail

# The latency columns in milliseconds: p50 p99 p99.9.
ms() {
	awk '
	function m(s) {
		if (s ~ /ns$/) return substr(s, 1, length(s) - 2) / 1e6
		if (s ~ /us$/) return substr(s, 1, length(s) - 2) / 1e3
		if (s ~ /ms$/) return substr(s, 1, length(s) - 2) + 0
		if (s ~ /s$/) return substr(s, 1, length(s) - 1) * 1e3
		return s
	}
	{ printf "%.2f %.2f %.2f\n", m($4), m($6), m($7) }'
}

printf '%9s %9s | %-25s | %-25s\n' saturated half "cluster p50/p99/p99.9 ms" "bare server p50/p99/p99.9"
for round in $(seq 1 "$ROUNDS"); do
	dev_start "$BIN"
	"$BIN" bench -targets "$T" -workload c -records "$RECORDS" -duration 2s \
		-concurrency "$CLIENTS" -progress 0 >"$DIR/load.out" 2>&1
	"$BIN" bench -targets "$T" -workload c -records "$RECORDS" -load=false -duration 8s \
		-concurrency "$CLIENTS" -progress 0 >"$DIR/sat.out" 2>&1
	sat=$(all_line 1 "$DIR/sat.out" | awk '{ printf "%d", $3 }')
	half=$((sat / 2))
	"$BIN" bench -targets "$T" -ceiling -workload c -records "$RECORDS" -load=false \
		-rate "$half" -duration "$DURATION" -concurrency "$CLIENTS" -progress 0 >"$DIR/half.out" 2>&1
	dev_stop
	read -r c50 c99 c999 < <(all_line 1 "$DIR/half.out" | ms)
	read -r b50 b99 b999 < <(all_line 2 "$DIR/half.out" | ms)
	printf '%9d %9d | %7s %7s %9s | %7s %7s %9s\n' "$sat" "$half" "$c50" "$c99" "$c999" "$b50" "$b99" "$b999" |
		tee -a "$DIR/rounds"
done
echo
awk "$AWK_MEDIAN"'
{ c[NR] = $5; b[NR] = $9 }
END { printf "median p99 over %d rounds: cluster %.2f ms, bare server %.2f ms\n", NR, median(c, NR), median(b, NR) }' "$DIR/rounds"
