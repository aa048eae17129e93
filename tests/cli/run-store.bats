#!/usr/bin/env bats
# ferry exec / run with images from the store: pulled on first use (here
# from the OCI layouts of tests/lib/build-images), --no-pull, the image's
# own config, the stored tree never written.

load ../lib/common

setup() {
	[ -f "$FERRY_TEST_IMAGES/busybox/index.json" ] || skip "no test images: run tests/lib/build-images"
	ferry_test_env
	BB="oci:$FERRY_TEST_IMAGES/busybox:latest"
	cd "$BATS_TEST_TMPDIR"
}

@test "store: --no-pull refuses an image that is not stored, with the fix" {
	run "$FERRY" exec --no-pull "$BB" true
	[ "$status" -eq 125 ]
	[[ "$output" == *"not in the store"* ]] && [[ "$output" == *"ferry pull"* ]]
	[ -z "$(ls -A "$FERRY_HOME/images" 2>/dev/null)" ]
}

@test "store: exec pulls on first use, then runs from the store" {
	run "$FERRY" exec "$BB" cat /etc/os-release
	[ "$status" -eq 0 ]
	[[ "$output" == *"NAME=ferry-busybox-test"* ]]
	run "$FERRY" exec --no-pull "$BB" id -u
	[ "$status" -eq 0 ] && [ "$output" = "$(id -u)" ]
}

@test "store: a path to an OCI image layout is that image (oci:DIR), not a root file system" {
	run "$FERRY" exec "$FERRY_TEST_IMAGES/busybox" cat /etc/os-release
	[ "$status" -eq 0 ]
	[[ "$output" == *"NAME=ferry-busybox-test"* ]]
	# it went through the store, under the oci: name
	run "$FERRY" exec --no-pull "$BB" true
	[ "$status" -eq 0 ]
}

@test "store: the stored tree is never written, even with --writable-tmpfs" {
	"$FERRY" pull "$BB" >/dev/null 2>&1 || "$FERRY" exec "$BB" true
	local before after
	before=$(cd "$FERRY_HOME/images" && find . -printf '%p %m %s\n' | LC_ALL=C sort | sha256sum)
	run "$FERRY" exec --writable-tmpfs "$BB" sh -c 'echo x > /etc/os-release && rm -f /bin/ls && touch /new'
	[ "$status" -eq 0 ] || [[ "$output" == *"needs overlay"* ]]
	run "$FERRY" exec "$BB" sh -c 'touch /new'
	[ "$status" -ne 0 ]
	after=$(cd "$FERRY_HOME/images" && find . -printf '%p %m %s\n' | LC_ALL=C sort | sha256sum)
	[ "$before" = "$after" ]
}

@test "store: run uses the stored image's Env (its PATH, not the host's)" {
	PATH="/host/only:$PATH" run "$FERRY" run "$BB" sh -c 'echo "$PATH"'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin ]
}
