#!/usr/bin/env bats
# Hostile and tricky layers: nothing may be written outside the rootfs, and
# the result is either a clean image or a one-line error with nothing stored.
# Layers are made here with tests/lib/mktar and wrapped by tests/lib/mklayout.

load ../lib/common

setup() {
	ferry_test_env
	OUT=$BATS_TEST_TMPDIR/outside
	mkdir -p "$OUT"
	echo original >"$OUT/victim"
	snap_before=$(snapshot)
}

# State of what a hostile layer may try to touch: our sentinel dir, and
# /etc/passwd (root runs these tests too).
snapshot() {
	(cd "$OUT" && find . -printf '%p %y %s %m\n' | sort && cat victim) 2>&1
	sha256sum /etc/passwd
	stat -c '%Y %s' /etc/passwd
}

assert_outside_unchanged() {
	[ "$(snapshot)" = "$snap_before" ] || die "something outside the rootfs changed"
}

# layer NAME JSON...: one tar per JSON spec, then an OCI layout; sets LAYOUT
layers() {
	local name=$1; shift
	local tars=() i=0
	for spec in "$@"; do
		i=$((i + 1))
		"$FERRY_SRC/tests/lib/mktar" "$BATS_TEST_TMPDIR/$name-$i.tar" "$spec"
		tars+=("$BATS_TEST_TMPDIR/$name-$i.tar")
	done
	LAYOUT=$BATS_TEST_TMPDIR/$name
	"$FERRY_SRC/tests/lib/mklayout" "$LAYOUT" "${tars[@]}" >/dev/null
}

rootfs() {
	"$FERRY" inspect --json "oci:$LAYOUT" | jq -r .rootfs
}

assert_store_empty() {
	run "$FERRY" images --json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq length)" -eq 0 ] || die "store lists images: $output"
	[ -z "$(ls -A "$FERRY_HOME/images")" ] || die "images/ is not empty"
	# nor a file of the failed tree in files/ (nothing links it)
	[ -z "$(find "$FERRY_HOME/files" -type f -links 1 2>/dev/null)" ] ||
		die "left in files/: $(find "$FERRY_HOME/files" -type f -links 1 | head -3)"
}

@test "hostile: ../ member paths stay inside the rootfs" {
	layers dotdot '[{"name":"../../../../../../../../'"${OUT#/}"'/victim","data":"pwned"},
		{"name":"a/../../b","data":"inside"}]'
	run "$FERRY" pull "oci:$LAYOUT"
	[ "$status" -eq 0 ]
	assert_outside_unchanged
	r=$(rootfs)
	[ "$(cat "$r/$OUT/victim")" = pwned ] # landed inside, at the same path
	[ "$(cat "$r/b")" = inside ]
}

@test "hostile: absolute member paths stay inside the rootfs" {
	layers abs '[{"name":"'"$OUT"'/victim","data":"pwned"},{"name":"'"$OUT"'/new","data":"x"}]'
	run "$FERRY" pull "oci:$LAYOUT"
	[ "$status" -eq 0 ]
	assert_outside_unchanged
	[ -f "$(rootfs)/$OUT/new" ]
}

@test "hostile: a symlink to a host directory is not followed (one layer): error, nothing stored" {
	# ROOT/$OUT does not exist in the image, so the member has no parent: a one-line error.
	layers sym1 '[{"name":"escape","type":"symlink","target":"'"$OUT"'"},
		{"name":"escape/victim","data":"pwned"},{"name":"escape/new","data":"pwned"}]'
	run "$FERRY" pull "oci:$LAYOUT"
	assert_outside_unchanged
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
	assert_store_empty
}

@test "hostile: relative and absolute symlinks resolve inside the root (one layer)" {
	layers sym1b '[{"name":"'"${OUT#/}"'","type":"dir"},{"name":"escape","type":"symlink","target":"'"$OUT"'"},
		{"name":"escape/victim","data":"pwned"},
		{"name":"rel","type":"symlink","target":"../../../../../../../../'"${OUT#/}"'"},
		{"name":"rel/new2","data":"pwned"}]'
	run "$FERRY" pull "oci:$LAYOUT"
	assert_outside_unchanged
	[ "$status" -eq 0 ]
	r=$(rootfs)
	[ -L "$r/escape" ]
	[ "$(readlink "$r/escape")" = "$OUT" ] # the link itself is kept as is
	[ "$(cat "$r/$OUT/victim")" = pwned ]  # what went through it landed inside
	[ "$(cat "$r/$OUT/new2")" = pwned ]
}

@test "hostile: a symlink planted in one layer is not followed by the next" {
	layers sym2 '[{"name":"'"${OUT#/}"'","type":"dir"},{"name":"etc","type":"symlink","target":"'"$OUT"'"}]' \
		'[{"name":"etc/victim","data":"pwned"},{"name":"etc/added","data":"pwned"}]'
	run "$FERRY" pull "oci:$LAYOUT"
	assert_outside_unchanged
	[ "$status" -eq 0 ]
	[ -f "$(rootfs)/$OUT/added" ]
}

@test "hostile: a dangling symlink planted in one layer fails the next cleanly" {
	layers sym3 '[{"name":"etc","type":"symlink","target":"'"$OUT"'"}]' '[{"name":"etc/victim","data":"pwned"}]'
	run "$FERRY" pull "oci:$LAYOUT"
	assert_outside_unchanged
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
	assert_store_empty
}

@test "hostile: hardlinks to /etc/passwd and ../.. never link host files" {
	layers hard '[{"name":"etc/passwd","data":"root:x:0:0::/:/bin/sh\n"},
		{"name":"h1","type":"hardlink","target":"/etc/passwd"},
		{"name":"h2","type":"hardlink","target":"../../../../../../../etc/passwd"}]'
	run "$FERRY" pull "oci:$LAYOUT"
	[ "$status" -eq 0 ]
	assert_outside_unchanged
	r=$(rootfs)
	[ "$(stat -c %i "$r/h1")" = "$(stat -c %i "$r/etc/passwd")" ]
	[ "$(stat -c %i "$r/h2")" = "$(stat -c %i "$r/etc/passwd")" ]
	[ "$(stat -c %i "$r/h1")" != "$(stat -c %i /etc/passwd)" ]
}

@test "hostile: a hardlink to a file the image lacks is a one-line error, nothing stored" {
	layers hard2 '[{"name":"h","type":"hardlink","target":"../../../../../../../../'"${OUT#/}"'/victim"}]'
	run "$FERRY" pull "oci:$LAYOUT"
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == "ferry: pull "*"hardlink"* ]]
	assert_outside_unchanged
	assert_store_empty
}

@test "hostile: whiteouts through a symlink remove nothing outside" {
	layers wh '[{"name":"link","type":"symlink","target":"'"$OUT"'"}]' \
		'[{"name":"link/.wh.victim"},{"name":"up/../../../../../../../'"${OUT#/}"'/.wh.victim"}]'
	run "$FERRY" pull "oci:$LAYOUT"
	[ "$status" -eq 0 ]
	assert_outside_unchanged
}

@test "hostile: an opaque whiteout through a symlink empties nothing outside" {
	layers opq '[{"name":"d","type":"symlink","target":"'"$OUT"'"}]' '[{"name":"d/.wh..wh..opq"}]'
	run "$FERRY" pull "oci:$LAYOUT"
	[ "$status" -eq 0 ]
	assert_outside_unchanged
}

@test "hostile: device nodes and FIFOs are skipped with one warning per layer" {
	layers dev '[{"name":"dev/null","type":"chr"},{"name":"dev/sda","type":"blk"},{"name":"fifo","type":"fifo"},
		{"name":"ok","data":"fine"}]'
	run "$FERRY" pull "oci:$LAYOUT"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | grep -c 'skipping device')" -eq 1 ]
	r=$(rootfs)
	[ ! -e "$r/dev/null" ]
	[ ! -e "$r/dev/sda" ]
	[ ! -e "$r/fifo" ]
	[ "$(cat "$r/ok")" = fine ]
}

@test "hostile: setuid and setgid bits are stripped; odd modes become removable" {
	layers suid '[{"name":"bin/su","data":"x","mode":3565},{"name":"locked","type":"dir","mode":0},
		{"name":"locked/f","data":"y","mode":0},{"name":"sgid","type":"dir","mode":1517}]'
	run "$FERRY" pull "oci:$LAYOUT"
	[ "$status" -eq 0 ]
	r=$(rootfs)
	[ "$(stat -c %a "$r/bin/su")" = 755 ]  # 06755 minus setuid/setgid
	[ "$(stat -c %a "$r/locked")" = 700 ]  # u+rwx added
	[ "$(stat -c %a "$r/locked/f")" = 600 ] # u+rw added
	[ "$(stat -c %a "$r/sgid")" = 755 ]    # 02755 minus setgid
	[ "$(stat -c %u "$r/bin/su")" = "$(id -u)" ]
	run "$FERRY" rm "oci:$LAYOUT"
	[ "$status" -eq 0 ]
	[ ! -e "$r" ]
}

@test "tricky: whiteouts, opaque dirs, dir<->file, hardlinks, symlinks, long names" {
	long=$(printf 'd%.0s' $(seq 150))/$(printf 'f%.0s' $(seq 200))
	layers tricky '[{"name":"keep","type":"dir"},{"name":"keep/a","data":"a"},{"name":"gone","data":"x"},
		{"name":"opq","type":"dir"},{"name":"opq/old1","data":"1"},{"name":"opq/sub","type":"dir"},
		{"name":"opq/sub/old2","data":"2"},{"name":"d2f","type":"dir"},{"name":"d2f/inner","data":"i"},
		{"name":"f2d","data":"file"},{"name":"wd","type":"dir"},{"name":"wd/x","data":"x"}]' \
		'[{"name":".wh.gone"},{"name":"opq/new","data":"n"},{"name":"opq/.wh..wh..opq"},
		{"name":"d2f","data":"now a file"},{"name":"f2d","type":"dir"},{"name":"f2d/child","data":"c"},
		{"name":".wh.wd"},{"name":"hl","type":"hardlink","target":"keep/a"},
		{"name":"sl","type":"symlink","target":"/keep/a"},{"name":"'"$long"'","data":"long"}]'
	run "$FERRY" pull "oci:$LAYOUT"
	[ "$status" -eq 0 ]
	r=$(rootfs)
	[ ! -e "$r/gone" ]
	[ "$(ls "$r/opq")" = new ]
	[ -f "$r/d2f" ] && [ "$(cat "$r/d2f")" = "now a file" ]
	[ -d "$r/f2d" ] && [ "$(cat "$r/f2d/child")" = c ]
	[ ! -e "$r/wd" ]
	[ "$(stat -c %i "$r/hl")" = "$(stat -c %i "$r/keep/a")" ]
	[ "$(readlink "$r/sl")" = /keep/a ]
	[ "$(cat "$r/$long")" = long ]
}

@test "layers: zstd and uncompressed layers unpack too" {
	"$FERRY_SRC/tests/lib/mktar" "$BATS_TEST_TMPDIR/z.tar" '[{"name":"z","data":"zstd"}]'
	"$FERRY_SRC/tests/lib/mktar" "$BATS_TEST_TMPDIR/u.tar" '[{"name":"u","data":"plain"}]'
	"$FERRY_SRC/tests/lib/mklayout" "$BATS_TEST_TMPDIR/zl" --compress zstd "$BATS_TEST_TMPDIR/z.tar" >/dev/null
	"$FERRY_SRC/tests/lib/mklayout" "$BATS_TEST_TMPDIR/ul" --compress none "$BATS_TEST_TMPDIR/u.tar" >/dev/null
	run "$FERRY" pull "oci:$BATS_TEST_TMPDIR/zl"
	[ "$status" -eq 0 ]
	run "$FERRY" pull "oci:$BATS_TEST_TMPDIR/ul"
	[ "$status" -eq 0 ]
	LAYOUT=$BATS_TEST_TMPDIR/zl
	[ "$(cat "$(rootfs)/z")" = zstd ]
	LAYOUT=$BATS_TEST_TMPDIR/ul
	[ "$(cat "$(rootfs)/u")" = plain ]
}

@test "layers: a truncated gzip layer is a one-line error and nothing is stored" {
	"$FERRY_SRC/tests/lib/mktar" "$BATS_TEST_TMPDIR/t.tar" '[{"name":"big","data":"'"$(head -c 30000 /dev/urandom | base64 -w0)"'"}]'
	gzip -c "$BATS_TEST_TMPDIR/t.tar" | head -c 5000 >"$BATS_TEST_TMPDIR/t.tar.gz"
	"$FERRY_SRC/tests/lib/mklayout" "$BATS_TEST_TMPDIR/tl" --raw \
		--diff-id "sha256:$(sha256sum <"$BATS_TEST_TMPDIR/t.tar" | cut -c1-64)" "$BATS_TEST_TMPDIR/t.tar.gz" >/dev/null
	run "$FERRY" pull "oci:$BATS_TEST_TMPDIR/tl"
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == *"truncated"* ]]
	assert_store_empty
}

@test "layers: corrupt gzip data is a one-line error and nothing is stored" {
	"$FERRY_SRC/tests/lib/mktar" "$BATS_TEST_TMPDIR/c.tar" '[{"name":"f","data":"'"$(head -c 30000 /dev/urandom | base64 -w0)"'"}]'
	gzip -c "$BATS_TEST_TMPDIR/c.tar" >"$BATS_TEST_TMPDIR/c.tar.gz"
	# flip bytes in the middle of the deflate stream
	printf '\xff\xff\xff\xff\xff\xff\xff\xff' | dd of="$BATS_TEST_TMPDIR/c.tar.gz" bs=1 seek=3000 conv=notrunc status=none
	"$FERRY_SRC/tests/lib/mklayout" "$BATS_TEST_TMPDIR/cl" --raw \
		--diff-id "sha256:$(sha256sum <"$BATS_TEST_TMPDIR/c.tar" | cut -c1-64)" "$BATS_TEST_TMPDIR/c.tar.gz" >/dev/null
	run "$FERRY" pull "oci:$BATS_TEST_TMPDIR/cl"
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == *"gzip"* || "$output" == *"diff_id"* ]]
	assert_store_empty
}

@test "layers: a diff_id that does not match the content is refused" {
	"$FERRY_SRC/tests/lib/mktar" "$BATS_TEST_TMPDIR/d.tar" '[{"name":"f","data":"x"}]'
	gzip -c "$BATS_TEST_TMPDIR/d.tar" >"$BATS_TEST_TMPDIR/d.tar.gz"
	"$FERRY_SRC/tests/lib/mklayout" "$BATS_TEST_TMPDIR/dl" --raw --diff-id "sha256:$(printf '0%.0s' $(seq 64))" \
		"$BATS_TEST_TMPDIR/d.tar.gz" >/dev/null
	run "$FERRY" pull "oci:$BATS_TEST_TMPDIR/dl"
	[ "$status" -eq 1 ]
	[[ "$output" == *"diff_id mismatch"* ]]
	assert_store_empty
}

@test "layers: a blob whose bytes do not match its digest is refused" {
	layers bad '[{"name":"f","data":"good"}]'
	blob=$(jq -r '.layers[0].digest' "$LAYOUT/blobs/sha256/$(jq -r '.manifests[0].digest' "$LAYOUT/index.json" | cut -c8-)")
	f=$LAYOUT/blobs/sha256/${blob#sha256:}
	chmod u+w "$f"
	printf 'X' | dd of="$f" bs=1 seek=20 conv=notrunc status=none
	run "$FERRY" pull "oci:$LAYOUT"
	[ "$status" -eq 1 ]
	[[ "$output" == *"digest mismatch"* ]]
	assert_store_empty
	[ ! -e "$FERRY_HOME/blobs/sha256/${blob#sha256:}" ]
}
