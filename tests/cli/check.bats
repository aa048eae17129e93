#!/usr/bin/env bats
# ferry check: what this machine allows, each missing piece with its fix.

load ../lib/common

setup() {
	ferry_test_env
}

@test "check: names every probe; a failed one comes with a fix" {
	run "$FERRY" check
	for name in "not setuid" "user namespaces" "overlay in a user namespace" "squashfs mounts" "openat2" "store writable"; do
		[[ "$output" == *" $name: "* ]] || die "no line for $name"
	done
	# Every line that is not ok is followed by a fix.
	local prev=""
	while IFS= read -r line; do
		case "$prev" in "no "* | "FAIL "*) [[ "$line" == "     fix: "* ]] || die "no fix after: $prev" ;; esac
		prev=$line
	done <<<"$output"
	# Exit status follows the required probes.
	if [[ "$output" == *"FAIL "* ]]; then [ "$status" -eq 1 ]; else [ "$status" -eq 0 ]; fi
}

@test "check: agrees with what exec can do" {
	run "$FERRY" check
	local rootfs="$BATS_TEST_TMPDIR/r"
	mkdir -p "$rootfs"
	cp /bin/busybox "$rootfs/busybox"
	if [[ "$output" == *"ok   user namespaces"* ]]; then
		run "$FERRY" exec "$rootfs" /busybox true
		[ "$status" -eq 0 ]
	fi
	run "$FERRY" check
	if [[ "$output" == *"ok   overlay in a user namespace"* ]]; then
		run "$FERRY" exec --writable-tmpfs "$rootfs" /busybox touch /x
		[ "$status" -eq 0 ]
	fi
}

@test "check --json: machine-readable, same verdict" {
	run "$FERRY" check --json
	local st=$status
	echo "$output" | jq -e '.checks | length >= 6' >/dev/null
	echo "$output" | jq -e '.checks[] | select(.name == "user namespaces") | .required == true' >/dev/null
	[ "$(echo "$output" | jq -r '.ok')" = "$([ "$st" -eq 0 ] && echo true || echo false)" ]
	echo "$output" | jq -e '[.checks[] | select(.ok == false and .fix == "")] | length == 0' >/dev/null
}

@test "check: an unwritable store is reported with its fix" {
	mkdir -p "$BATS_TEST_TMPDIR/ro"
	chmod 555 "$BATS_TEST_TMPDIR/ro"
	if is_root; then
		# root writes anywhere: use a path below a file instead.
		touch "$BATS_TEST_TMPDIR/file"
		FERRY_HOME="$BATS_TEST_TMPDIR/file/store" run "$FERRY" check
	else
		FERRY_HOME="$BATS_TEST_TMPDIR/ro/store" run "$FERRY" check
	fi
	[[ "$output" == *"no   store writable"* ]]
	[[ "$output" == *"fix: set FERRY_HOME"* ]]
}

@test "check: usage" {
	run "$FERRY" check --bogus
	[ "$status" -eq 2 ]
	run "$FERRY" check --help
	[ "$status" -eq 0 ] && [[ "$output" == *"Usage: ferry check"* ]]
}
