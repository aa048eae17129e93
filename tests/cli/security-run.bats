#!/usr/bin/env bats
# What a container must not reach (issue 16): the store, lifted read-only
# flags, host files through image symlinks, symlinks planted by an earlier
# --scratch run, a directory planted under a bare image name.
# Runs as root and as an unprivileged user (tests/run does both); every test
# runs from a scratch directory of its own.

load ../lib/common
load run
bats_require_minimum_version 1.5.0

setup_file() {
	export ROOTFS="$BATS_FILE_TMPDIR/bb"
	make_busybox_rootfs "$ROOTFS"
}

setup() {
	ferry_test_env
	unset FERRY_BIND FERRY_STORE_PATH FERRY_NO_OVERLAY
	BB="oci:$FERRY_TEST_IMAGES/busybox:latest"
	mkdir -p "$BATS_TEST_TMPDIR/work"
	cd "$BATS_TEST_TMPDIR/work"
}

need_images() {
	[ -f "$FERRY_TEST_IMAGES/busybox/index.json" ] || skip "no test images: run tests/lib/build-images"
}

need_overlay() {
	"$FERRY" check | grep -q '^ok   overlay' || skip "this kernel refuses overlay in a user namespace"
}

# tree_sum of every image tree in a store.
store_sum() {
	(cd "$1/images" && find . -printf '%p %m %s %l\n' | LC_ALL=C sort && find . -type f -exec cat {} + 2>/dev/null) | sha256sum
}

# ---- Medium 3: the store is read-only inside ---------------------------------

@test "store: a container cannot rewrite the store under \$HOME (the default store)" {
	need_images
	# The default store: ~/.local/share/ferry, under the $HOME bind.
	export HOME="$BATS_TEST_TMPDIR/home"
	mkdir -p "$HOME"
	unset FERRY_HOME XDG_DATA_HOME
	local store="$HOME/.local/share/ferry"
	run "$FERRY" pull -q "$BB"
	[ "$status" -eq 0 ]
	"$FERRY" pull -q "oci:$FERRY_TEST_IMAGES/layered:latest" >/dev/null 2>&1 || true
	local before
	before=$(store_sum "$store")
	run "$FERRY" exec "$BB" sh -c 'for f in $HOME/.local/share/ferry/images/*/rootfs/etc/os-release; do echo TAMPERED > $f && echo WROTE; done'
	[[ "$output" != *WROTE* ]]
	[[ "$output" == *"Read-only file system"* ]]
	run "$FERRY" exec "$BB" sh -c 'rm -rf $HOME/.local/share/ferry/refs && echo REMOVED; touch $HOME/.local/share/ferry/new && echo CREATED'
	[[ "$output" != *REMOVED* ]] && [[ "$output" != *CREATED* ]]
	[ "$(store_sum "$store")" = "$before" ]
	run "$FERRY" exec --no-pull "$BB" cat /etc/os-release
	[ "$status" -eq 0 ] && [[ "$output" == *"NAME=ferry-busybox-test"* ]]
	# The rest of $HOME stays writable.
	run "$FERRY" exec "$BB" sh -c 'echo ok > $HOME/file && cat $HOME/file'
	[ "$status" -eq 0 ] && [ "$output" = ok ]
}

@test "store: a store under \$XDG_DATA_HOME, bound by its parent, is read-only inside" {
	need_images
	# The store ferry opens and the store the runtime protects come from
	# one rule (store_default_root): XDG_DATA_HOME without FERRY_HOME.
	unset FERRY_HOME
	export XDG_DATA_HOME="$BATS_TEST_TMPDIR/xdg"
	mkdir -p "$XDG_DATA_HOME"
	run "$FERRY" pull -q "$BB"
	[ "$status" -eq 0 ]
	local before
	before=$(store_sum "$XDG_DATA_HOME/ferry")
	run "$FERRY" exec --no-pull -B "$XDG_DATA_HOME:/xdg" "$BB" sh -c '
		for f in /xdg/ferry/images/*/rootfs/etc/os-release; do echo TAMPERED > $f && echo WROTE; done
		touch /xdg/ferry/new && echo CREATED; touch /xdg/other && echo OTHER'
	[[ "$output" != *WROTE* ]] && [[ "$output" != *CREATED* ]]
	[[ "$output" == *OTHER* ]]
	[ "$(store_sum "$XDG_DATA_HOME/ferry")" = "$before" ]
}

@test "store: FERRY_HOME under /tmp, FERRY_STORE_PATH entries and a -B of the store are read-only inside" {
	need_images
	local ro="$BATS_TEST_TMPDIR/ro-store"
	FERRY_HOME="$ro" run "$FERRY" pull -q "$BB"
	[ "$status" -eq 0 ]
	"$FERRY" pull -q "$BB" >/dev/null
	local b1 b2
	b1=$(store_sum "$FERRY_HOME")
	b2=$(store_sum "$ro")
	export FERRY_STORE_PATH="$ro"
	run "$FERRY" exec --no-pull -B "$FERRY_HOME:/store" "$BB" sh -c "
		for f in $FERRY_HOME/images/*/rootfs/etc/os-release $ro/images/*/rootfs/etc/os-release /store/images/*/rootfs/etc/os-release; do
			echo TAMPERED > \$f && echo WROTE \$f
		done
		touch $BATS_TEST_TMPDIR/work/writable && echo WORK-OK"
	[[ "$output" != *WROTE* ]]
	[[ "$output" == *WORK-OK* ]]
	[ "$(store_sum "$FERRY_HOME")" = "$b1" ] && [ "$(store_sum "$ro")" = "$b2" ]
	# A bind that covers the store inside hides it: nothing to protect there.
	mkdir -p "$BATS_TEST_TMPDIR/cover"
	run "$FERRY" exec --no-pull -B "$BATS_TEST_TMPDIR/cover:$FERRY_HOME" "$BB" sh -c "touch $FERRY_HOME/x && echo covered"
	[ "$status" -eq 0 ] && [ "$output" = covered ] && [ -e "$BATS_TEST_TMPDIR/cover/x" ]
	# The working directory inside the store: still read-only.
	cd "$FERRY_HOME/images"
	run "$FERRY" exec --no-pull "$BB" sh -c 'touch ./x && echo WROTE'
	[[ "$output" != *WROTE* ]]
	[ ! -e "$FERRY_HOME/images/x" ]
}

# ---- Medium 4: no remount can lift read-only flags ---------------------------

# remount_attempts: the writes a remount would enable, one line each.
remount_script='
mount -o remount,rw,bind /data 2>/dev/null; mount -o remount,rw /data 2>/dev/null
echo x > /data/f 2>/dev/null && echo DATA-WRITTEN
mount -o remount,rw,bind / 2>/dev/null; mount -o remount,rw / 2>/dev/null
touch /ferry-new 2>/dev/null && echo ROOT-WRITTEN
mount -o remount,rw,bind /etc 2>/dev/null; mount -o remount,rw /etc 2>/dev/null
echo x >> /etc/image-file 2>/dev/null && echo IMAGE-WRITTEN
mount -o remount,rw,bind /etc/passwd 2>/dev/null; mount -o remount,rw /etc/passwd 2>/dev/null
echo "x:x:1:1::/:/bin/sh" >> /etc/passwd 2>/dev/null && echo PASSWD-WRITTEN
echo done'

@test "fakeroot: mount -o remount,rw lifts no :ro bind, image root or /etc file (overlay and underlay)" {
	local img="$BATS_TEST_TMPDIR/img"
	cp -a "$ROOTFS" "$img"
	local sum
	sum=$(tree_sum "$img")
	mkdir -p "$BATS_TEST_TMPDIR/data"
	local mode fr
	for mode in overlay underlay; do
		for fr in "" --fakeroot; do
			if [ "$mode" = underlay ]; then export FERRY_NO_OVERLAY=1; else unset FERRY_NO_OVERLAY; fi
			run "$FERRY" exec $fr --no-home -B "$BATS_TEST_TMPDIR/data:/data:ro" "$img" sh -c "$remount_script"
			echo "$mode $fr: $output"
			[ "$status" -eq 0 ]
			[[ "$output" == *done* ]]
			[[ "$output" != *WRITTEN* ]]
			[ ! -e "$BATS_TEST_TMPDIR/data/f" ]
			[ "$(tree_sum "$img")" = "$sum" ]
		done
	done
}

@test "fakeroot: the stored tree stays unwritable in underlay mode" {
	need_images
	"$FERRY" pull -q "$BB" >/dev/null
	local before
	before=$(store_sum "$FERRY_HOME")
	FERRY_NO_OVERLAY=1 run "$FERRY" exec --fakeroot --no-pull "$BB" sh -c 'mount -o remount,rw,bind /etc 2>/dev/null; echo x > /etc/os-release && echo WRITTEN; echo done'
	[[ "$output" == *done* ]] && [[ "$output" != *WRITTEN* ]]
	[ "$(store_sum "$FERRY_HOME")" = "$before" ]
}

# ---- Low 7: image symlinks never redirect ferry's binds onto host paths -----

@test "symlinks: an image's /etc/passwd and /etc/hosts pointing into \$HOME and /tmp create no host file" {
	local img="$BATS_TEST_TMPDIR/img"
	cp -a "$ROOTFS" "$img"
	export HOME="$BATS_TEST_TMPDIR/home"
	mkdir -p "$HOME"
	local x="$BATS_TEST_TMPDIR/hosts-target"
	rm -f "$img/etc/passwd" "$img/etc/group"
	ln -s "$HOME/.bash_profile" "$img/etc/passwd"
	ln -s "$HOME/.profile" "$img/etc/group"
	ln -s "$x" "$img/etc/hosts"
	for mode in overlay underlay; do
		if [ "$mode" = underlay ]; then export FERRY_NO_OVERLAY=1; else unset FERRY_NO_OVERLAY; fi
		run "$FERRY" exec "$img" true
		echo "$mode: $output"
		[ "$status" -eq 0 ]
		[ ! -e "$HOME/.bash_profile" ] && [ ! -e "$HOME/.profile" ] && [ ! -e "$x" ]
	done
}

@test "symlinks: an image's /tmp -> / never lets the host's /tmp cover the container's root" {
	local img="$BATS_TEST_TMPDIR/img"
	cp -a "$ROOTFS" "$img"
	rm -rf "$img/tmp"
	ln -s / "$img/tmp"
	for mode in overlay underlay; do
		if [ "$mode" = underlay ]; then export FERRY_NO_OVERLAY=1; else unset FERRY_NO_OVERLAY; fi
		run "$FERRY" exec --no-home "$img" cat /etc/image-file
		echo "$mode: $output"
		[ "$status" -eq 0 ]
		[[ "$output" == *image-file* ]]
	done
}

# ---- Low 8: --scratch: symlinks planted in the upper layer are not followed --

@test "scratch: mount points are created inside the root, never through a symlink an earlier run planted" {
	need_overlay
	local s="$BATS_TEST_TMPDIR/scratch" victim="$BATS_TEST_TMPDIR/victim"
	mkdir -p "$s" "$victim" "$BATS_TEST_TMPDIR/d"
	# An earlier run replaces /opt by a symlink to a host directory.
	run "$FERRY" exec --no-home --scratch "$s" "$ROOTFS" sh -c "rm -rf /opt && ln -s $victim /opt && echo planted"
	[ "$status" -eq 0 ] && [ "$output" = planted ]
	[ -L "$s/upper/opt" ]
	run "$FERRY" exec --no-home --scratch "$s" -B "$BATS_TEST_TMPDIR/d:/opt/deep/mnt" "$ROOTFS" true
	echo "$output"
	[ -z "$(ls -A "$victim")" ]
}

# ---- Low 9: a bare name is never a directory of the current directory -------

@test "names: a bare image name is a reference even when a directory of that name exists" {
	cp -a "$ROOTFS" "$BATS_TEST_TMPDIR/work/planted"
	run "$FERRY" exec --no-pull planted true
	[ "$status" -eq 125 ]
	[[ "$output" == *"./planted"* ]]
	run "$FERRY" exec --no-home ./planted cat /etc/image-file
	[ "$status" -eq 0 ] && [ "$output" = image-file ]
	run "$FERRY" exec --no-home "$BATS_TEST_TMPDIR/work/planted" cat /etc/image-file
	[ "$status" -eq 0 ] && [ "$output" = image-file ]
}

@test "pre-5.12 path (no open_tree/mount_setattr): the store and :ro binds stay read-only, no remount lifts them" {
	need_images
	export FERRY_TEST_NO_MOUNT_SETATTR=1
	"$FERRY" pull -q "$BB" >/dev/null
	local before
	before=$(store_sum "$FERRY_HOME")
	mkdir -p "$BATS_TEST_TMPDIR/data"
	run "$FERRY" exec --fakeroot --no-pull -B "$BATS_TEST_TMPDIR/data:/data:ro" "$BB" sh -c "
		for f in $FERRY_HOME/images/*/rootfs/etc/os-release; do echo TAMPERED > \$f && echo WROTE; done
		$remount_script"
	[[ "$output" == *done* ]] && [[ "$output" != *WROTE* ]] && [[ "$output" != *WRITTEN* ]]
	[ ! -e "$BATS_TEST_TMPDIR/data/f" ]
	[ "$(store_sum "$FERRY_HOME")" = "$before" ]
}
