#!/usr/bin/env bash
# Runs the random-write stream and YCSB A-F with the ceiling against a local
# `kvstore dev` cluster of NODES nodes (one process, loopback), 64 clients,
# 10 s each, 50,000 records; prints each workload's summary lines.
#
# Usage: go build -o kvstore ./cmd/kvstore && scripts/ycsb.sh 3
# Environment: BIN (./kvstore), PORT (first HTTP port, 28080; below the ephemeral port range).
set -euo pipefail
BIN=${BIN:-./kvstore}
N=${1:-3}
PORT=${PORT:-28080}
DIR=$(mktemp -d /tmp/kvstore-ycsb.XXXXXX)
"$BIN" dev -nodes "$N" -data "$DIR" -port "$PORT" >"$DIR/dev.log" 2>&1 &
DEV=$!
trap 'kill $DEV 2>/dev/null; wait $DEV 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 1 600); do grep -q "is up" "$DIR/dev.log" && break; sleep 0.1; done
T=""
for i in $(seq 0 $((N - 1))); do T="$T${T:+,}http://127.0.0.1:$((PORT + i))"; done
load=-load=true
for w in write a b c d e f; do
	flags=()
	if [ "$w" != write ]; then
		flags=("$load")
		load=-load=false
	fi
	echo "== $N nodes, workload $w"
	"$BIN" bench -targets "$T" -ceiling -workload "$w" -records 50000 "${flags[@]}" \
		-duration 10s -concurrency 64 -progress 0 2>&1 |
		grep -E '^(read|update|insert|scan|rmw|all) |^throughput' || true
done
