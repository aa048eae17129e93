#!/usr/bin/env bash
# Running a single-file image, the exec part of bench/squash (issue 8):
#   ferry exec FILE.sqfs CMD      vs  ch-run FILE.sqfs -- CMD (Debian's ch-run
#                                     links libsquashfuse, as ferry's helper loads it)
#                                 vs  ferry exec TREE CMD (the same image unpacked)
#   ferry exec FILE.sif CMD       vs  the .sqfs (the same squashfs inside a SIF)
# CMD is /bin/true, then python3 importing a dozen packages (many small
# reads through the mount: the issue names json, email, http.client,
# xml.dom, which the test image's python3-minimal lacks, so the nearest set
# it has). The Debian test image, squashed with mksquashfs -all-root
# -comp zstd, then again with gzip (mksquashfs's and Apptainer's default).
# All commands of a table run in one interleaved run, from a fresh working
# directory made for this run; prints
# a markdown table of min, median and max and the ratios of medians.
# Usage: bench/squash/exec.sh [RUNS]   (default 30); as an unprivileged
# user for the figures that matter. FERRY_BASE=/path/to/an/older/ferry adds
# its FILE.sqfs and TREE rows to the same interleaved run (before/after).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
FERRY_BUILD=${FERRY_BUILD:-$src/build}
FERRY=${FERRY:-$FERRY_BUILD/src/cli/ferry}
FERRY_TEST_IMAGES=${FERRY_TEST_IMAGES:-$FERRY_BUILD/test-images}
runs=${1:-30}
layout=$FERRY_TEST_IMAGES/debian
[ -f "$layout/index.json" ] || "$src/tests/lib/build-images" "$FERRY_TEST_IMAGES" >&2
for t in cc python3 umoci mksquashfs ch-run; do
	command -v $t >/dev/null || { echo "bench/squash: $t missing (scripts/install-deps bench)" >&2; exit 1; }
done
export USER=${USER:-$(id -un)}

work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-bench-squash.XXXXXX")
trap 'rm -rf "$work"' EXIT
umoci --log error unpack --rootless --image "$layout:latest" "$work/bundle" >&2
tree=$work/bundle/rootfs
chmod 755 "$work" "$work/bundle"
mksquashfs "$tree" "$work/debian.sqfs" -all-root -comp zstd -noappend -quiet -no-progress >&2
# The SIF holds the very same squashfs as its primary system partition
# (tests/cli/mksif writes the SIF layout around it), so the SIF row measures
# what a SIF adds (the header, the partition's offset) and nothing else.
sif=$work/debian.sif
python3 "$src/tests/cli/mksif" "$sif" "{\"objects\": [{\"data_file\": \"$work/debian.sqfs\"}]}"
mkdir "$work/cwd" && cd "$work/cwd" # fresh, and bound by both tools as a job directory

# Interleaved (bench/start/interleave.c): each round runs every command
# once, in a rotating order, so the load of a shared machine falls on all
# alike; 10 warm-up rounds.
cc -O2 -o "$work/interleave" "$src/bench/start/interleave.c"
chrun=$(command -v ch-run)
bench() { # LABEL SQFS CMD...
	local label=$1 file=$2
	shift 2
	local args=("ferry exec FILE.sqfs" "$FERRY" exec "$file" "$@" ';;'
		"ch-run FILE.sqfs" "$chrun" "$file" -- "$@" ';;'
		"ferry exec TREE" "$FERRY" exec "$tree" "$@")
	[ -z "$sif" ] || [ "$file" != "$work/debian.sqfs" ] || args+=(';;' "ferry exec FILE.sif" "$FERRY" exec "$sif" "$@")
	[ -z "${FERRY_BASE:-}" ] || args+=(';;' "ferry (base) exec FILE.sqfs" "$FERRY_BASE" exec "$file" "$@"
		';;' "ferry (base) exec TREE" "$FERRY_BASE" exec "$tree" "$@")
	"$work/interleave" "$runs" "${args[@]}" >"$work/$label.tab"
}

report() { # LABEL TITLE
	echo
	echo "### $2"
	echo
	echo "| command | min (ms) | p25 | median (ms) | mean | max (ms) | median vs ch-run | median − tree (ms) |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|"
	awk -F'|' '{n[NR]=$2; for (i=3;i<=7;i++) v[NR,i]=$i+0; if ($2 ~ /ch-run/) ch=$5+0; if ($2 ~ /TREE/ && $2 !~ /base/) tr=$5+0}
		END {for (r=1;r<=NR;r++) printf "|%s| %.2f | %.2f | %.2f | %.2f | %.2f | %.2f× | %+.2f |\n", n[r], v[r,3], v[r,4], v[r,5], v[r,6], v[r,7], v[r,5]/ch, v[r,5]-tr}' "$work/$1.tab"
}

bench true "$work/debian.sqfs" /bin/true
mods='import email.message, email.parser, logging, argparse, typing, pathlib, subprocess, urllib.parse, tempfile, inspect, ast, csv, configparser'
bench py "$work/debian.sqfs" python3 -c "$mods"
# The same tree with gzip, mksquashfs's and Apptainer's default (most SIFs
# in the wild): its blocks inflate several times slower than zstd's.
mksquashfs "$tree" "$work/debian-gzip.sqfs" -all-root -comp gzip -noappend -quiet -no-progress >&2
bench gztrue "$work/debian-gzip.sqfs" /bin/true
bench gzpy "$work/debian-gzip.sqfs" python3 -c "$mods"
echo "## ferry exec of a single-file image ($(date -u +%Y-%m-%d), $(uname -r), $(nproc) CPUs, user $(id -un), $runs runs)"
echo
echo "ferry $("$FERRY" version 2>/dev/null | head -1); $(ch-run --version 2>&1 | head -1 | sed 's/^/ch-run /'); $(mksquashfs -version 2>&1 | head -1); squashfs $(du -k "$work/debian.sqfs" | cut -f1) KiB (zstd)"
report true "/bin/true"
report py "python3 -c '$mods'"
echo
echo "gzip: squashfs $(du -k "$work/debian-gzip.sqfs" | cut -f1) KiB"
report gztrue "/bin/true, gzip squashfs"
report gzpy "python3 -c '$mods', gzip squashfs"
