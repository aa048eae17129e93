# Helpers shared by export.bats and import.bats (single-file images).

SIF_FIXTURES=${SIF_FIXTURES:-$FERRY_SRC/../shared/reference/sif}

need_sif_fixtures() {
	[ -f "$SIF_FIXTURES/one-group.sif" ] && return 0
	if [ "${CI:-}" = true ]; then
		die "SIF fixtures not found at $SIF_FIXTURES: in CI a missing corpus is a failure"
		return 1
	fi
	skip "SIF fixtures not found at $SIF_FIXTURES (set SIF_FIXTURES)"
}

# A tree's content as text: path, type, permission bits, size (not of
# directories: file systems differ), link
# target, and each regular file's checksum. Ownership and times are left
# out (a stored tree belongs to whoever pulled it).
tree_sig() {
	(cd "$1" && { find . -mindepth 1 ! -path './.ferry' ! -path './.ferry/*' ! -type d -printf '%p %y %m %s %l\n' &&
		find . -mindepth 1 ! -path './.ferry' ! -path './.ferry/*' -type d -printf '%p %y %m\n'; } | LC_ALL=C sort &&
		find . -type f ! -path './.ferry/*' -print0 | LC_ALL=C sort -z | xargs -0 -r md5sum)
}

stored_rootfs() { # REF
	"$FERRY" inspect --json "$1" | jq -r .rootfs
}

pull_busybox() {
	"$FERRY" pull -q "oci:$FERRY_TEST_IMAGES/busybox:latest" >/dev/null
	BB="oci:$FERRY_TEST_IMAGES/busybox:latest"
}

# mksif OUT SPEC: a SIF written from a JSON spec by tests/cli/mksif.
mksif() {
	python3 "$FERRY_SRC/tests/cli/mksif" "$@"
}

# Exactly one line of output, saying $1.
one_line_saying() {
	[ "${#lines[@]}" -eq 1 ] || die "expected one line, got: $output"
	[[ $output == *"$1"* ]] || die "expected '$1' in: $output"
}

# unsquashfs, tar and rdsquashfs without the umask (as a user they apply it).
unsq() { (umask 0 && unsquashfs -q "$@" >/dev/null); }
