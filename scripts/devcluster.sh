# Sourced by the benchmark scripts: a local `kvstore dev` cluster in a
# temporary directory, stopped and removed when the script exits, and the
# helpers the scripts share.
#
#   devcluster_init NAME   make DIR (/tmp/kvstore-NAME.XXXXXX) and the exit trap
#   dev_start BIN [ARG...] start BIN dev with NODES nodes from PORT, data in
#                          DIR/data (emptied first), and the extra dev flags
#                          ARG; wait until it is up; sets DEV (its PID) and T
#                          (the nodes' URLs)
#   dev_stop               stop it (SIGTERM) and wait for it
#   cpu_ticks PID          user+system clock ticks of the process (HZ a second)
#   all_line N FILE        the N-th "all" line of a kvstore bench output
#   AWK_MEDIAN             an awk function, median(x, n), of x[1..n] (sorts x)
#
# NODES and PORT must be set. The nodes use PORT..PORT+NODES-1 and the same
# plus 100 and 200: keep them below the kernel's ephemeral port range
# (/proc/sys/net/ipv4/ip_local_port_range), or a client connection can take
# one first.

devcluster_init() {
	DIR=$(mktemp -d "/tmp/kvstore-$1.XXXXXX")
	DEV=""
	trap 'dev_stop; rm -rf "$DIR"' EXIT
}

dev_start() {
	rm -rf "$DIR/data"
	: >"$DIR/dev.log"
	"$1" dev -nodes "$NODES" -port "$PORT" -data "$DIR/data" "${@:2}" >"$DIR/dev.log" 2>&1 &
	DEV=$!
	for _ in $(seq 1 600); do grep -q "is up" "$DIR/dev.log" && break; sleep 0.1; done
	grep -q "is up" "$DIR/dev.log" || { cat "$DIR/dev.log" >&2; return 1; }
	T=""
	for i in $(seq 0 $((NODES - 1))); do T="$T${T:+,}http://127.0.0.1:$((PORT + i))"; done
}

dev_stop() {
	if [ -n "${DEV:-}" ]; then
		kill "$DEV" 2>/dev/null || true
		wait "$DEV" 2>/dev/null || true
	fi
	DEV=""
}

HZ=$(getconf CLK_TCK)

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

all_line() { awk -v n="$1" '$1 == "all" && ++seen == n { print; exit }' "$2"; }

AWK_MEDIAN='
function median(x, n,   i, j, t) {
	for (i = 2; i <= n; i++) for (j = i; j > 1 && x[j - 1] > x[j]; j--) { t = x[j]; x[j] = x[j - 1]; x[j - 1] = t }
	return n % 2 ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2
}'
