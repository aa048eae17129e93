#!/usr/bin/env bats
# What a start of ferry loads: the libraries that only pulls need
# (libcurl, libarchive, libcrypto, libzstd, libisal) and those that only
# squashfs reading and writing needs (libsquashfs, liblzma, liblz4) come with dlopen()
# when first used, so `ferry exec` and `ferry version` never map them
# (bench/start/RESULTS.md: each costs 0.05 ms or more at every start).
# libm is not checked here: the sanitizer runtimes of an ASan build need it.

load ../lib/common
load run

setup_file() {
	export ROOTFS="$BATS_FILE_TMPDIR/bb"
	make_busybox_rootfs "$ROOTFS"
}

setup() {
	ferry_test_env
}

loaded_libs() { # CMD... : the shared objects the dynamic loader maps
	LD_DEBUG=libs "$@" 2>&1 >/dev/null | sed -n 's/.*calling init: //p'
}

@test "start-up: ferry version and exec load none of the pull-only libraries" {
	local libs
	libs=$(loaded_libs "$FERRY" version)
	[ -n "$libs" ] || die "LD_DEBUG=libs printed nothing: cannot check"
	if grep -E 'lib(curl|archive|crypto|zstd|isal|squashfs|lzma|lz4)\.so' <<<"$libs"; then
		die "ferry version loads a pull-only library"
	fi
	local scratch
	scratch=$(mktemp -d "$BATS_TEST_TMPDIR/libs.XXXXXX")
	libs=$(cd "$scratch" && loaded_libs "$FERRY" exec "$ROOTFS" true)
	if grep -E 'lib(curl|archive|crypto|zstd|isal|squashfs|lzma|lz4)\.so' <<<"$libs"; then
		die "ferry exec loads a pull-only library"
	fi
}
