# Helpers for the runtime's bats files (run*.bats, exec*.bats, gpu*.bats).
# load ../lib/common first.

# cd_scratch: make the current directory one of this test's own, under /tmp
# (which ferry always binds). ferry binds the current directory into the
# container, so without this the checkout's place (under $HOME, deep, with
# a space) would change what the container sees: /root not empty, a warning
# that an underlay cannot create the directory. Tests that look at the cwd
# handling itself cd where they want afterwards.
cd_scratch() {
	local d=$BATS_TEST_TMPDIR/cwd
	case "$d" in
	/tmp/*) mkdir -p "$d" ;;
	*)
		# TMPDIR elsewhere (under $HOME?): /tmp is the place that is bound.
		d=$(mktemp -d /tmp/ferry-cwd.XXXXXX) || return 1
		SCRATCH_CWD_CLEANUP=$d
		;;
	esac
	cd "$d" || return 1
}

# cleanup_scratch: remove what cd_scratch made outside $BATS_TEST_TMPDIR.
cleanup_scratch() {
	if [ -n "${SCRATCH_CWD_CLEANUP:-}" ]; then
		cd / && rm -rf "$SCRATCH_CWD_CLEANUP"
	fi
	SCRATCH_CWD_CLEANUP=
}

# make_busybox_rootfs DIR: a root file system with busybox-static and its
# applets, the directories an image usually has, a read-only image for the
# caller (as a shared store tree would be for its users).
make_busybox_rootfs() {
	local r=$1
	mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,home,dev,proc,sys,var/tmp,opt}
	chmod 1777 "$r/tmp" "$r/var/tmp"
	chmod 700 "$r/root"
	cp /bin/busybox "$r/bin/busybox"
	local a
	for a in $(/bin/busybox --list-full); do
		[ "$a" = bin/busybox ] || [ -e "$r/$a" ] || ln -s /bin/busybox "$r/$a"
	done
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$r/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
	echo "image-file" >"$r/etc/image-file"
	# A hostile entry: an absolute symlink that would lead to the host's
	# /etc if followed outside the image.
	ln -s /etc "$r/evil"
	chmod -R a+rX "$r"
}

# A store-like image directory (images/<hex>/): rootfs/ + an OCI image
# config with the given config object (JSON).
make_image_dir() { # DIR ROOTFS CONFIG_JSON
	mkdir -p "$1"
	ln -sfn "$2" "$1/rootfs"
	printf '{"architecture":"amd64","os":"linux","config":%s,"rootfs":{"type":"layers","diff_ids":[]}}\n' "$3" >"$1/config.json"
}

# Checksum of a whole tree (names, modes, contents) to prove nothing changed.
tree_sum() {
	(cd "$1" && find . -printf '%p %m %s %l\n' | LC_ALL=C sort && find . -type f -exec cat {} + 2>/dev/null) | sha256sum
}
