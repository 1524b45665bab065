#!/usr/bin/env bash
# Compares the CPU cost of an operation in two builds under the same host
# noise: ROUNDS rounds, each starting one `kvstore dev` cluster of each
# build at the same time (NODES nodes each, one process per build,
# loopback), then running WORKLOAD against both at once, open loop at RATE
# operations/s each for DURATION (reads first load RECORDS records). One
# line per round: p50, p99 and p99.9, and the cluster's CPU time per
# operation (user and system, from /proc) for each build; then the
# medians, and in how many rounds the second build used less CPU per
# operation than the first.
#
# On a shared machine one cluster at a time spreads more from run to run
# than two builds differ by; two clusters running together see the same
# steal time, caches and scheduler, so a difference of a few percent shows
# as a consistent sign. The builds swap ports every round.
#
# Usage: scripts/cpu-pair.sh ./kvstore-before ./kvstore-after
# Environment: WORKLOAD (c: reads; write: the synced random-write stream;
# any kvstore bench workload), ROUNDS (6), RATE (2500; keep both together
# well below one cluster's saturation), RECORDS (50000), CLIENTS (64),
# DURATION (20s), NODES (3), PORT (24180; the second cluster uses
# PORT+1000, see devcluster.sh).
set -euo pipefail
A=$1
B=$2
WORKLOAD=${WORKLOAD:-c}
ROUNDS=${ROUNDS:-6}
RATE=${RATE:-2500}
RECORDS=${RECORDS:-50000}
CLIENTS=${CLIENTS:-64}
DURATION=${DURATION:-20s}
NODES=${NODES:-3}
PORT0=${PORT:-24180}
. "$(dirname "$0")/devcluster.sh"
devcluster_init pair
BASE=$DIR
declare -A bin=([a]=$A [b]=$B) dev=() url=() port=() c0=() c1=() job=()
stop_both() {
	for side in "${!dev[@]}"; do
		kill "${dev[$side]}" 2>/dev/null || true
		wait "${dev[$side]}" 2>/dev/null || true
	done
	dev=()
}
trap 'stop_both; rm -rf "$BASE"' EXIT

printf '%-5s | %-36s | %-36s\n' round "$A p50 p99 p99.9 cpu/op" "$B p50 p99 p99.9 cpu/op"
for round in $(seq 1 "$ROUNDS"); do
	port[a]=$PORT0 port[b]=$((PORT0 + 1000))
	if ((round % 2 == 0)); then port[a]=$((PORT0 + 1000)) port[b]=$PORT0; fi
	for side in a b; do
		PORT=${port[$side]} DIR=$BASE/$side
		mkdir -p "$DIR"
		dev_start "${bin[$side]}" # waits until the cluster is up
		dev[$side]=$DEV url[$side]=$T
		DEV=""
		if [ "$WORKLOAD" != write ]; then
			"${bin[$side]}" bench -targets "$T" -workload "$WORKLOAD" -records "$RECORDS" -duration 1s \
				-concurrency "$CLIENTS" -progress 0 >/dev/null 2>&1
		fi
	done
	for side in a b; do c0[$side]=$(cpu_ticks "${dev[$side]}"); done
	for side in a b; do
		"${bin[$side]}" bench -targets "${url[$side]}" -workload "$WORKLOAD" -records "$RECORDS" -load=false \
			-rate "$RATE" -duration "$DURATION" -concurrency "$CLIENTS" -progress 0 >"$BASE/$side/run.out" 2>&1 &
		job[$side]=$!
	done
	wait "${job[a]}" "${job[b]}"
	for side in a b; do c1[$side]=$(cpu_ticks "${dev[$side]}"); done
	line=$(printf '%-5d' "$round")
	for side in a b; do
		read -r n p50 p99 p999 < <(all_line 1 "$BASE/$side/run.out" | awk '{ print $2, $4, $6, $7 }')
		cpu=$(((c1[$side] - c0[$side]) * 1000000000 / HZ / n)) # ns per operation
		line="$line | $(printf '%7s %7s %7s %7d us' "$p50" "$p99" "$p999" $((cpu / 1000)))"
		echo "$side $cpu" >>"$BASE/cpu"
	done
	echo "$line"
	stop_both
	rm -rf "$BASE/a" "$BASE/b"
done
echo
awk "$AWK_MEDIAN"'
$1 == "a" { a[++na] = $2 } $1 == "b" { b[++nb] = $2 }
END {
	for (i = 1; i <= na; i++) { if (b[i] < a[i]) less++; d[i] = b[i] - a[i] }
	printf "cpu per operation, median: first %.0f us, second %.0f us; paired difference median %+.1f us; second lower in %d of %d rounds\n",
		median(a, na) / 1000, median(b, nb) / 1000, median(d, na) / 1000, less, na
}' "$BASE/cpu"
