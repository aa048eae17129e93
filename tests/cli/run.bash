# Helpers for the runtime's bats files (run*.bats, exec*.bats, gpu*.bats).
# load ../lib/common first.

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
