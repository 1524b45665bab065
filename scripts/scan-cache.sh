#!/usr/bin/env bash
# Measures the block cache and reads while anti-entropy rebuilds trees: for
# each given build in turn, starts a `kvstore dev` cluster (NODES nodes, one
# process, loopback, CACHE MiB of block cache per node), loads RECORDS
# records of VALUE bytes (workload b's load phase), then runs YCSB B open
# loop at RATE operations/s for DURATION (the 5% updates leave nearly every
# tree stale at each 30 s pass, so each pass reads the whole data set).
# Prints, over the run: block cache hits and misses of all nodes, exchanges,
# CPU ticks and bytes read from disk by the process, its RSS at the end,
# and the read line (ops, ops/s, p50, p90, p99, p99.9, max, errors).
#
# With SCANS set, a YCSB E client (short range reads through the cache)
# runs beside it at SCANS scans/s for the same time, and its line is
# printed too: what client range reads cost the point reads' cache.
#
# With CGROUP set to the name of a cgroup v1 memory group (created by root
# beforehand under /sys/fs/cgroup/memory, with memory.limit_in_bytes set),
# the cluster runs in it: a data set larger than the memory it may use.
#
# Usage: go build -o kvstore ./cmd/kvstore && scripts/scan-cache.sh ./kvstore [./kvstore-other ...]
# Environment: NODES (3), CACHE (16), RECORDS (400000), VALUE (300), RATE
# (2000), DURATION (65s), SCANS (none), CGROUP (none), PORT (24380; see
# devcluster.sh).
set -euo pipefail
[ $# -ge 1 ] || { sed -n '2,18p' "$0"; exit 2; }
NODES=${NODES:-3}
CACHE=${CACHE:-16}
RECORDS=${RECORDS:-400000}
VALUE=${VALUE:-300}
RATE=${RATE:-2000}
DURATION=${DURATION:-65s}
SCANS=${SCANS:-}
CGROUP=${CGROUP:-}
PORT=${PORT:-24380}
. "$(dirname "$0")/devcluster.sh"
devcluster_init scan-cache

# totals NAME...: the sum over the nodes of each metric, in order.
totals() {
	for i in $(seq 0 $((NODES - 1))); do curl -sf "http://127.0.0.1:$((PORT + i))/metrics"; done |
		awk -v names="$*" 'BEGIN { n = split(names, want, " ") }
		{ for (i = 1; i <= n; i++) if ($1 == want[i]) sum[i] += $2 }
		END { for (i = 1; i <= n; i++) printf "%d ", sum[i]; print "" }'
}
METRICS="kvstore_storage_cache_hits_total kvstore_storage_cache_misses_total
kvstore_antientropy_partitions_compared_total kvstore_antientropy_root_matches_total"
read_bytes() { awk '$1 == "read_bytes:" { print $2 }' "/proc/$1/io"; }

for bin in "$@"; do
	dev_start "$bin" -cache-mib "$CACHE"
	if [ -n "$CGROUP" ]; then echo "$DEV" >"/sys/fs/cgroup/memory/$CGROUP/cgroup.procs"; fi
	flags=(-targets "$T" -workload b -records "$RECORDS" -value-size "$VALUE" -concurrency 64 -progress 0)
	"$bin" bench "${flags[@]}" -duration 1s >/dev/null
	read -r h0 m0 c0 r0 < <(totals $METRICS)
	t0=$(cpu_ticks "$DEV") io0=$(read_bytes "$DEV")
	scanner=
	if [ -n "$SCANS" ]; then
		"$bin" bench -targets "$T" -workload e -records "$RECORDS" -value-size "$VALUE" -concurrency 16 \
			-progress 0 -load=false -rate "$SCANS" -duration "$DURATION" >"$DIR/scan.out" 2>&1 &
		scanner=$!
	fi
	"$bin" bench "${flags[@]}" -load=false -rate "$RATE" -duration "$DURATION" >"$DIR/run.out" 2>&1
	if [ -n "$scanner" ]; then wait "$scanner" || true; fi
	read -r h1 m1 c1 r1 < <(totals $METRICS)
	t1=$(cpu_ticks "$DEV") io1=$(read_bytes "$DEV")
	rss=$(awk '$1 == "VmRSS:" { print int($2 / 1024) }' "/proc/$DEV/status")
	dev_stop
	echo "$bin: cache hits $((h1 - h0)) misses $((m1 - m0)), exchanges $(((c1 - r1) - (c0 - r0))), cpu ticks $((t1 - t0)), disk read $(((io1 - io0) >> 20)) MiB, rss $rss MiB"
	awk '$1 == "read" { print "  " $0; exit }' "$DIR/run.out"
	if [ -n "$scanner" ]; then awk '$1 == "scan" { print "  " $0; exit }' "$DIR/scan.out"; fi
done
