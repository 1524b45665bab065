#!/usr/bin/env bash
# Measures repair and movement on a local cluster of `kvstore serve`
# processes (loopback only), each with the foreground latency of a
# fixed-rate read load while it runs, next to the same load on the quiet
# cluster:
#
#   converge  a replica misses KEYS writes with hinted handoff off; time from
#             its restart until anti-entropy has repaired them
#   hints     a replica misses KEYS writes with hinted handoff on; time from
#             its restart until the hints kept for it are delivered
#   join      a fourth node joins a cluster holding KEYS keys; time until it
#             has streamed its partitions and is active
#
# Usage: go build -o kvstore ./cmd/kvstore && scripts/repair-bench.sh
# Environment: BIN (./kvstore), KEYS (1000000), RATE (foreground reads/s,
# 500), WINDOW (seconds of foreground load per measurement, 20), BASE (first
# port, 19000), SYNC (WAL mode of the nodes, interval), STEPS (which
# measurements, "converge hints join").
set -euo pipefail

BIN=${BIN:-./kvstore}
KEYS=${KEYS:-1000000}
RATE=${RATE:-500}
WINDOW=${WINDOW:-20}
BASE=${BASE:-19000}
SYNC=${SYNC:-interval}
STEPS=${STEPS:-converge hints join}
DIR=$(mktemp -d /tmp/kvstore-repair.XXXXXX)
declare -A PID

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*"; }
http() { echo "http://127.0.0.1:$((BASE + $1))"; }
metric() { curl -sf "$(http "$1")/metrics" | awk -v m="$2" '$1 == m { print $2 }'; }

cleanup() {
	for i in "${!PID[@]}"; do kill -9 "${PID[$i]}" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$DIR"
}
trap cleanup EXIT

# start I [serve flags...]: starts node I (1-based) on its own ports.
start() {
	local i=$1
	shift
	local join=()
	[ "$i" -ne 1 ] && join=(-join "127.0.0.1:$((BASE + 200 + 1))")
	"$BIN" serve -node "n$i" -data "$DIR/n$i" -http "127.0.0.1:$((BASE + i))" \
		-rpc "127.0.0.1:$((BASE + 100 + i))" -gossip "127.0.0.1:$((BASE + 200 + i))" \
		-advertise 127.0.0.1 -secret-file "$DIR/secret" -sync "$SYNC" "${join[@]}" "$@" \
		>>"$DIR/n$i.log" 2>&1 &
	PID[$i]=$!
}

# stop I: SIGTERM, wait for the exit.
stop() {
	kill "${PID[$1]}"
	wait "${PID[$1]}" || true
	unset "PID[$1]"
}

# wait_active I COUNT: until node I sees COUNT active ring members.
wait_active() {
	for _ in $(seq 1 3000); do
		local n
		n=$(curl -sf "$(http "$1")/status" | grep -o '"ring":"active"' | wc -l || true)
		[ "${n:-0}" -eq "$2" ] && return 0
		sleep 0.1
	done
	log "node $1 never saw $2 active members"
	return 1
}

targets() {
	local t=()
	for i in "$@"; do t+=("$(http "$i")"); done
	(IFS=,; echo "${t[*]}")
}

# foreground LABEL NODES...: the fixed-rate read load for WINDOW seconds
# against NODES, in the background; its summary goes to $DIR/fg-LABEL.
foreground() {
	local label=$1
	shift
	"$BIN" bench -targets "$(targets "$@")" -workload c -records "$KEYS" -load=false \
		-rate "$RATE" -concurrency 32 -duration "${WINDOW}s" -progress 0 >"$DIR/fg-$label" 2>&1 &
	FG=$!
}

report_fg() {
	wait "$FG" || true
	log "foreground reads ($1, $RATE/s):"
	grep -E '^ *(read|op|READ|total)|p99' "$DIR/fg-$1" | sed 's/^/    /' || cat "$DIR/fg-$1"
}

# load KEYS records (keys of workload c) through NODES.
load() {
	"$BIN" bench -targets "$(targets "$@")" -workload c -records "$KEYS" -load=true -ops 1 \
		-concurrency 64 -progress 0 >"$DIR/load.log" 2>&1 || { cat "$DIR/load.log"; exit 1; }
	grep -iE 'load|ops/s' "$DIR/load.log" | head -3 | sed 's/^/    /'
}

head -c 32 /dev/urandom >"$DIR/secret"

cluster() { # a fresh 3-node cluster with the given serve flags
	for i in "${!PID[@]}"; do stop "$i"; done
	rm -rf "$DIR"/n*
	for i in 1 2 3; do start "$i" "$@"; done
	for i in 1 2 3; do wait_active "$i" 3; done
}

for step in $STEPS; do
	case $step in
	converge | hints)
		flags=()
		[ "$step" = converge ] && flags=(-no-hints)
		log "$step: 3 nodes (${flags[*]:-hints on}); n3 stopped while $KEYS keys are written"
		cluster "${flags[@]}"
		stop 3
		load 1 2
		foreground quiet-$step 1 2
		report_fg quiet-$step
		t0=$(date +%s.%N)
		start 3 "${flags[@]}"
		foreground "during-$step" 1 2
		if [ "$step" = converge ]; then
			# Converged: no record repaired (by anti-entropy or read repair)
			# for longer than a full anti-entropy pass (30 s).
			last=-1
			tlast=$t0
			while :; do
				sum=0
				for i in 1 2 3; do
					for m in kvstore_antientropy_keys_repaired_total kvstore_read_repairs_total; do
						v=$(metric "$i" "$m" || true)
						sum=$((sum + ${v:-0}))
					done
				done
				now=$(date +%s.%N)
				if [ "$sum" -ne "$last" ]; then
					last=$sum
					tlast=$now
				elif [ "$(echo "$now - $tlast > 35" | bc)" -eq 1 ]; then
					break
				fi
				sleep 0.2
			done
			t1=$tlast
		else
			while :; do
				p1=$(metric 1 kvstore_hints_pending || true)
				p2=$(metric 2 kvstore_hints_pending || true)
				[ $((${p1:-1} + ${p2:-1})) -eq 0 ] && break
				sleep 0.2
			done
			t1=$(date +%s.%N)
		fi
		secs=$(echo "$t1 - $t0" | bc)
		log "$step: $KEYS keys missed by n3, repaired ${secs}s after its restart ($(echo "$KEYS / $secs" | bc) keys/s)"
		report_fg "during-$step"
		;;
	join)
		log "join: 3 nodes holding $KEYS keys; n4 joins"
		cluster
		load 1 2 3
		foreground quiet-join 1 2 3
		report_fg quiet-join
		t0=$(date +%s.%N)
		start 4
		foreground during-join 1 2 3
		wait_active 4 4
		t1=$(date +%s.%N)
		secs=$(echo "$t1 - $t0" | bc)
		recs=$(metric 4 kvstore_stream_records_received_total)
		owned=$(curl -sf "$(http 4)/status" | grep -o '"partitions_owned":[0-9]*' | cut -d: -f2)
		log "join: n4 active after ${secs}s, $recs records streamed ($(echo "$recs / $secs" | bc) records/s); it replicates $owned of 1024 partitions"
		report_fg during-join
		;;
	esac
done
