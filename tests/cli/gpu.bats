#!/usr/bin/env bats
# --gpu / --nv on a fake NVIDIA driver tree (tests/fixtures/fake-nvidia):
# discovery from the linker cache and from a CDI spec, binding into a
# private directory on LD_LIBRARY_PATH, nvidia-smi on PATH, clear errors.

load ../lib/common
load run
bats_require_minimum_version 1.5.0

setup_file() {
	export ROOTFS="$BATS_FILE_TMPDIR/bb"
	make_busybox_rootfs "$ROOTFS"
	export LDTREE="$BATS_FILE_TMPDIR/nv-ld" CDITREE="$BATS_FILE_TMPDIR/nv-cdi"
	"$FERRY_SRC/tests/fixtures/fake-nvidia/make-tree" "$LDTREE" ldconfig
	"$FERRY_SRC/tests/fixtures/fake-nvidia/make-tree" "$CDITREE" cdi
	local layout="$FERRY_TEST_IMAGES/debian"
	if [ -f "$layout/index.json" ]; then
		umoci --log error unpack --rootless --image "$layout:latest" "$BATS_FILE_TMPDIR/deb"
		export DEB="$BATS_FILE_TMPDIR/deb/rootfs"
	fi
}

setup() {
	ferry_test_env
	cd "$BATS_TEST_TMPDIR"
}

@test "gpu: driver libraries from the linker cache, bound under /.ferry/gpu, on LD_LIBRARY_PATH and PATH" {
	FERRY_GPU_ROOT=$LDTREE run "$FERRY" exec --gpu "$ROOTFS" sh -c 'ls /.ferry/gpu/lib; echo "$LD_LIBRARY_PATH"; nvidia-smi; sha256sum /.ferry/gpu/lib/libcuda.so.1 | cut -d" " -f1'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = libcuda.so.1 ] && [ "${lines[1]}" = libnvidia-ml.so.1 ]
	[ "${lines[2]}" = /.ferry/gpu/lib ]
	[ "${lines[3]}" = "NVIDIA-SMI fake 550.54.15" ]
	[ "${lines[4]}" = "$(sha256sum "$LDTREE"/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15 | cut -d' ' -f1)" ]
}

@test "gpu: --nv is an alias; the driver files are read-only; LD_LIBRARY_PATH from the user is kept in front" {
	FERRY_GPU_ROOT=$LDTREE run "$FERRY" exec --nv -e LD_LIBRARY_PATH=/opt/lib "$ROOTFS" sh -c 'echo "$LD_LIBRARY_PATH"; echo x > /.ferry/gpu/lib/libcuda.so.1'
	[ "$status" -ne 0 ]
	[ "${lines[0]}" = /opt/lib:/.ferry/gpu/lib ]
	[[ "$output" == *"Read-only file system"* ]]
}

@test "gpu: a CUDA program in the Debian image loads the (fake) driver" {
	[ -n "${DEB:-}" ] || skip "no Debian test image: run tests/lib/build-images"
	# cuda-probe lives under /tmp, which is bound; it links against libcuda.so.1.
	cp "$LDTREE/cuda-probe" "$BATS_TEST_TMPDIR/cuda-probe"
	FERRY_GPU_ROOT=$LDTREE run "$FERRY" exec --gpu "$DEB" "$BATS_TEST_TMPDIR/cuda-probe"
	[ "$status" -eq 0 ] && [ "$output" = "cuda driver 12040" ]
	# Without --gpu the loader cannot find it.
	run -127 "$FERRY" exec "$DEB" "$BATS_TEST_TMPDIR/cuda-probe"
	[[ "$output" == *"libcuda.so.1"* ]]
}

@test "gpu: a CDI spec is preferred; library names come from the ELF SONAME; its env is applied" {
	FERRY_GPU_ROOT=$CDITREE run "$FERRY" exec --gpu "$ROOTFS" sh -c 'ls /.ferry/gpu/lib; nvidia-smi; echo "$FERRY_FAKE_CDI"'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = libcuda.so.1 ] && [ "${lines[1]}" = libnvidia-ml.so.1 ]
	[ "${lines[2]}" = "NVIDIA-SMI fake 550.54.15" ] && [ "${lines[3]}" = 1 ]
	# The versioned file names of the spec are not what the loader looks for.
	[ ! -e "$CDITREE/etc/ld.so.cache" ]
}

@test "gpu: no driver is one clear error, exit 125" {
	mkdir -p "$BATS_TEST_TMPDIR/empty/etc"
	touch "$BATS_TEST_TMPDIR/empty/etc/ld.so.cache"
	FERRY_GPU_ROOT=$BATS_TEST_TMPDIR/empty run "$FERRY" exec --gpu "$ROOTFS" true
	[ "$status" -eq 125 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == *"no NVIDIA driver found"* ]]
}

@test "gpu: a driver without /dev/nvidia* is reported" {
	cp -a "$LDTREE" "$BATS_TEST_TMPDIR/nodev"
	rm "$BATS_TEST_TMPDIR"/nodev/dev/nvidia*
	# The cache names the libraries by their path in $LDTREE: still valid.
	FERRY_GPU_ROOT=$BATS_TEST_TMPDIR/nodev run "$FERRY" exec --gpu "$ROOTFS" true
	[ "$status" -eq 125 ]
	[[ "$output" == *"no /dev/nvidia* device"* ]]
}

@test "gpu: a malformed CDI spec is ignored with a warning, the linker cache is used" {
	cp -a "$LDTREE" "$BATS_TEST_TMPDIR/badcdi"
	mkdir -p "$BATS_TEST_TMPDIR/badcdi/etc/cdi"
	echo '{"kind": "nvidia.com/gpu", ' >"$BATS_TEST_TMPDIR/badcdi/etc/cdi/broken.json"
	FERRY_GPU_ROOT=$BATS_TEST_TMPDIR/badcdi run "$FERRY" exec --gpu "$ROOTFS" ls /.ferry/gpu/lib
	[ "$status" -eq 0 ]
	[[ "$output" == *"ignoring CDI spec"* ]]
	[[ "$output" == *libcuda.so.1* ]]
}
