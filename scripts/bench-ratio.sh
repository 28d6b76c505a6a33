#!/usr/bin/env bash
# bench-ratio.sh FILE: the median fixes/s of the watchtower webhook and of the
# bare XADD handler in a `go test -bench` output, and their ratio (the
# issue's target is >= 0.7). Portable awk: Debian's default awk is mawk.
set -euo pipefail
median() {
	{ grep "BenchmarkWebhook/handler=$1" "$2" || true; } |
		awk '{ for (i = 1; i < NF; i++) if ($(i + 1) == "fixes/s") print $i }' | sort -n |
		awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}
ours=$(median watchtower "$1")
bare=$(median bare-xadd "$1")
if [ -n "$ours" ] && [ -n "$bare" ]; then
	awk -v o="$ours" -v b="$bare" 'BEGIN { printf "webhook throughput (medians): watchtower %d fixes/s, bare XADD %d fixes/s, ratio %.2f\n", o, b, o / b }'
else
	echo "no BenchmarkWebhook results in $1"
fi

# The trips' follow against the bare fold (target: costs under 10%).
foldmed() {
	{ grep "BenchmarkFoldFollowing/follow=$1" "$2" || true; } |
		awk '{ for (i = 1; i < NF; i++) if ($(i + 1) == "rows/s") print $i }' | sort -n |
		awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}
on=$(foldmed true "$1")
off=$(foldmed false "$1")
if [ -n "$on" ] && [ -n "$off" ]; then
	awk -v a="$on" -v b="$off" 'BEGIN { printf "fold throughput (medians): following trips %d rows/s, without %d rows/s, ratio %.3f\n", a, b, a / b }'
fi

# GET /api/v1/trucks/{number}/location against a bare handler reading the
# same row (target: 10,000 requests/s, p99 under 10 ms).
apimed() {
	{ grep -E "BenchmarkLocation/handler=$1-[0-9]+ " "$2" || true; } |
		awk -v unit="$3" '{ for (i = 1; i < NF; i++) if ($(i + 1) == unit) print $i }' | sort -n |
		awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}
api=$(apimed api "$1" req/s)
unc=$(apimed api-uncached "$1" req/s)
bare=$(apimed bare "$1" req/s)
if [ -n "$api" ] && [ -n "$bare" ]; then
	awk -v a="$api" -v u="$unc" -v b="$bare" -v p="$(apimed api "$1" p99_ms)" -v q="$(apimed api-uncached "$1" p99_ms)" 'BEGIN {
		printf "API location (medians): %d req/s p99 %s ms; uncached %d req/s p99 %s ms; bare row read %d req/s; ratios %.2f and %.2f\n", a, p, u, q, b, a / b, u / b }'
fi
