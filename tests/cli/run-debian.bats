#!/usr/bin/env bats
# ferry exec / run on the Debian test image (mmdebstrap + python3-minimal),
# unpacked from its OCI layout with umoci (as ferry pull will store it).

load ../lib/common
load run

setup_file() {
	local layout="$FERRY_TEST_IMAGES/debian"
	[ -f "$layout/index.json" ] || return 0
	export DEB="$BATS_FILE_TMPDIR/debian"
	umoci --log error unpack --rootless --image "$layout:latest" "$BATS_FILE_TMPDIR/bundle"
	# A store-like record: rootfs/ + the image's own config.
	mkdir -p "$DEB"
	mv "$BATS_FILE_TMPDIR/bundle/rootfs" "$DEB/rootfs"
	local manifest config
	manifest=$(jq -r '.manifests[0].digest' "$layout/index.json")
	config=$(jq -r '.config.digest' "$layout/blobs/sha256/${manifest#sha256:}")
	cp "$layout/blobs/sha256/${config#sha256:}" "$DEB/config.json"
}

setup() {
	[ -n "${DEB:-}" ] || skip "no Debian test image: run tests/lib/build-images"
	ferry_test_env
	cd "$BATS_TEST_TMPDIR"
}

@test "debian: python3 -c 'print(1)'" {
	run "$FERRY" exec "$DEB" python3 -c 'print(1)'
	[ "$status" -eq 0 ] && [ "$output" = 1 ]
}

@test "debian: the image's PATH and WorkingDir; the user is named" {
	run "$FERRY" exec "$DEB" sh -c 'echo $PATH; whoami; id -u'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin ]
	[ "${lines[1]}" = "$(id -un)" ] && [ "${lines[2]}" = "$(id -u)" ]
	cd /usr
	run "$FERRY" exec "$DEB" pwd
	[ "$output" = / ]
}

@test "debian: run uses the image's CMD (/bin/bash), ARGs replace it; the image's users survive" {
	run "$FERRY" run "$DEB" <<<'echo "bash=$BASH_VERSION"'
	[ "$status" -eq 0 ] && [[ "$output" == bash=5* ]]
	run "$FERRY" run "$DEB" python3 -c 'import sys; print(sys.version_info[0])'
	[ "$status" -eq 0 ] && [ "$output" = 3 ]
	run "$FERRY" exec "$DEB" grep -c '^_apt:' /etc/passwd
	[ "$output" = 1 ]
}

@test "debian: python writes through a bind, the image stays read-only" {
	mkdir -p "$BATS_TEST_TMPDIR/out"
	run "$FERRY" exec -B "$BATS_TEST_TMPDIR/out:/out" "$DEB" python3 -c 'open("/out/r","w").write("ok")'
	[ "$status" -eq 0 ] && [ "$(cat "$BATS_TEST_TMPDIR/out/r")" = ok ]
	run "$FERRY" exec "$DEB" python3 -c 'open("/usr/x","w")'
	[ "$status" -ne 0 ] && [[ "$output" == *"Read-only file system"* ]]
}
