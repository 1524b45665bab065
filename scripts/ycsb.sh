#!/usr/bin/env bash
# Runs the random-write stream and YCSB A-F with the ceiling against a local
# `kvstore dev` cluster of NODES nodes (one process, loopback), 64 clients,
# 10 s each, 50,000 records; prints each workload's summary lines.
#
# Usage: go build -o kvstore ./cmd/kvstore && scripts/ycsb.sh 3
# Environment: BIN (./kvstore), PORT (first HTTP port, 28080; see devcluster.sh).
set -euo pipefail
BIN=${BIN:-./kvstore}
NODES=${1:-3}
PORT=${PORT:-28080}
. "$(dirname "$0")/devcluster.sh"
devcluster_init ycsb
dev_start "$BIN"
load=-load=true
for w in write a b c d e f; do
	flags=()
	if [ "$w" != write ]; then
		flags=("$load")
		load=-load=false
	fi
	echo "== $NODES nodes, workload $w"
	"$BIN" bench -targets "$T" -ceiling -workload "$w" -records 50000 "${flags[@]}" \
		-duration 10s -concurrency 64 -progress 0 2>&1 |
		grep -E '^(read|update|insert|scan|rmw|all) |^throughput' || true
done
