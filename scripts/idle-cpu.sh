#!/usr/bin/env bash
# Measures what a cluster costs at rest: starts a `kvstore dev` cluster of
# each given build in turn (NODES nodes, one process, loopback), loads
# RECORDS records (workload c's load phase), then prints the process's CPU
# time (user and system) in WINDOWS windows of WINDOW seconds each, in ticks and
# as a share of one core. The first windows after the load include the
# anti-entropy pass that compares every partition written by the load;
# the later ones are the cluster at rest.
#
# Usage: go build -o kvstore ./cmd/kvstore && scripts/idle-cpu.sh ./kvstore [./kvstore-other ...]
# Environment: NODES (3), RECORDS (50000), WINDOWS (7), WINDOW (seconds,
# 12), PORT (24180; see devcluster.sh).
set -euo pipefail
[ $# -ge 1 ] || { sed -n '2,13p' "$0"; exit 2; }
NODES=${NODES:-3}
RECORDS=${RECORDS:-50000}
WINDOWS=${WINDOWS:-7}
WINDOW=${WINDOW:-12}
PORT=${PORT:-24180}
. "$(dirname "$0")/devcluster.sh"
devcluster_init idle

for bin in "$@"; do
	dev_start "$bin"
	"$bin" bench -targets "$T" -workload c -records "$RECORDS" -duration 1s -concurrency 64 -progress 0 >/dev/null
	line="$bin:"
	for _ in $(seq 1 "$WINDOWS"); do
		c0=$(cpu_ticks "$DEV")
		sleep "$WINDOW"
		c1=$(cpu_ticks "$DEV")
		line="$line $((c1 - c0))"
	done
	dev_stop
	echo "$line" | awk -v hz="$HZ" -v s="$WINDOW" '{
		printf "%s ticks per %d s window:", $1, s
		for (i = 2; i <= NF; i++) printf " %d", $i
		printf "  (last: %.1f%% of one core)\n", 100 * $NF / (hz * s) }'
done
