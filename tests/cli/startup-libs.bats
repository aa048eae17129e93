#!/usr/bin/env bats
# What a start of ferry loads: the libraries that only pulls need
# (libcurl, libarchive, libcrypto, libzstd, libisal), those that only
# single-file images need (libsquashfs and its decompressors liblzma and
# liblz4) and the journal of `ferry batch` (libsqlite3) come with dlopen()
# when first used, so `ferry exec` of a tree and `ferry version` never map
# them (bench/start/RESULTS.md: each costs 0.05 ms or more at every start).
# libm and libjansson are not there at all (linked in, or not needed);
# the sanitizer runtimes of an ASan build bring libm and others with them.

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

# the libraries a start must not map
LAZY_LIBS='lib(curl|archive|crypto|zstd|isal|squashfs|lzma|lz4|sqlite3)\.so'

@test "start-up: ferry version and exec of a tree load none of the libraries loaded on first use" {
	local libs
	libs=$(loaded_libs "$FERRY" version)
	[ -n "$libs" ] || die "LD_DEBUG=libs printed nothing: cannot check"
	if grep -E "$LAZY_LIBS" <<<"$libs"; then
		die "ferry version loads a library it does not use"
	fi
	local scratch
	scratch=$(mktemp -d "$BATS_TEST_TMPDIR/libs.XXXXXX")
	libs=$(cd "$scratch" && loaded_libs "$FERRY" exec "$ROOTFS" true)
	if grep -E "$LAZY_LIBS" <<<"$libs"; then
		die "ferry exec of a tree loads a library it does not use"
	fi
	# and nothing but libc: jansson is linked in, libm not needed (each
	# shared object is ~0.06 ms of every start). Not for a sanitizer
	# build, whose runtimes bring their own.
	if ! ldd "$FERRY" | grep -qE 'lib(asan|ubsan)'; then
		if grep -vE '/(libc\.so\.6|ld-linux[^/]*)$' <<<"$libs"; then
			die "ferry exec of a tree maps a shared object besides libc"
		fi
	fi
}

@test "start-up: exec of a squashfs file reads its config through the library that serves the mount, not libsquashfs as well" {
	local scratch libs
	scratch=$(mktemp -d "$BATS_TEST_TMPDIR/libs.XXXXXX")
	cd "$scratch"
	"$FERRY" export "$ROOTFS" -o x.sqfs
	libs=$(loaded_libs "$FERRY" exec ./x.sqfs true)
	grep -q 'libsquashfuse_ll\.so' <<<"$libs" || die "ferry exec FILE did not load libsquashfuse_ll: $libs"
	if grep -E 'libsquashfs\.so' <<<"$libs"; then
		die "ferry exec FILE loads libsquashfs too: a second library and a second open of the squashfs"
	fi
	# (what it reads there, the config and Apptainer's env scripts:
	# exec-file.bats, "from ferry export" and "an Apptainer image's env scripts")
}

# A stand-in for a library that is there but broken (another ABI): the
# loader finds it first through LD_LIBRARY_PATH.
stub_lib() { # DIR SONAME
	command -v cc >/dev/null || skip "cc is needed to build a stand-in library"
	mkdir -p "$1"
	echo 'int ferry_stub_lib;' | cc -shared -fPIC -x c -o "$1/$2" -
}

@test "start-up: a broken libsquashfs or libsqlite3 gives one line naming the package, when first needed" {
	local stubs=$BATS_TEST_TMPDIR/stubs scratch
	stub_lib "$stubs" libsquashfs.so.1
	stub_lib "$stubs" libsqlite3.so.0
	scratch=$(mktemp -d "$BATS_TEST_TMPDIR/libs.XXXXXX")
	cd "$scratch"
	# what does not need them still runs
	run env LD_LIBRARY_PATH="$stubs" "$FERRY" exec "$ROOTFS" true
	[ "$status" -eq 0 ] || die "exec of a tree with a broken libsquashfs: $output"
	run env LD_LIBRARY_PATH="$stubs" "$FERRY" export "$ROOTFS" -o x.sqfs
	[ "$status" -ne 0 ]
	[ "${#lines[@]}" -eq 1 ] || die "expected one line: $output"
	[[ $output == *"libsquashfs.so.1"* && $output == *"apt-get install libsquashfs1"* ]] || die "$output"
	[ ! -e x.sqfs ]
	mkdir run && touch run/batch.db
	run env LD_LIBRARY_PATH="$stubs" "$FERRY" batch status run
	[ "$status" -ne 0 ]
	[ "${#lines[@]}" -eq 1 ] || die "expected one line: $output"
	[[ $output == *"libsqlite3.so.0"* && $output == *"apt-get install libsqlite3-0"* ]] || die "$output"
}
