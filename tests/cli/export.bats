#!/usr/bin/env bats
# ferry export: squashfs, SIF, oci-archive, docker-archive and tar files,
# reproducible, owned by 0:0, with the config inside (doc/export.md).
# Runs as root and as the test user.

load ../lib/common
load sfile

setup_file() {
	for img in busybox debian; do
		[ -f "$FERRY_TEST_IMAGES/$img/index.json" ] || "$FERRY_SRC/tests/lib/build-images" "$FERRY_TEST_IMAGES" "$img"
	done
}

setup() {
	ferry_test_env
	W=$BATS_TEST_TMPDIR/w
	mkdir -p "$W"
	cd "$W"
}

@test "export: a stored image to .sqfs holds its tree, everything 0:0, and its config" {
	pull_busybox
	run "$FERRY" export "$BB" -o bb.sqfs
	[ "$status" -eq 0 ] || die "$output"
	[ -z "$output" ]
	unsq -d x bb.sqfs
	[ "$(tree_sig x)" = "$(tree_sig "$(stored_rootfs "$BB")")" ] || die "tree differs"
	# owner 0/0 everywhere, whoever exports
	[ -z "$(unsquashfs -lln bb.sqfs | awk 'NR > 3 && $2 != "0/0"')" ] || die "not all 0/0: $(unsquashfs -lln bb.sqfs | head)"
	# the config travels at /.ferry/config.json, as the image has it
	[ "$(jq -c .config.Cmd x/.ferry/config.json)" = "$(jq -c .config.Cmd "$FERRY_HOME"/images/*/config.json)" ]
	unsquashfs -s bb.sqfs | grep -q 'Compression zstd'
}

@test "export: the same image gives byte-identical files, whatever the thread count" {
	pull_busybox
	"$FERRY" export "$BB" -o a.sqfs
	"$FERRY" export "$BB" -o b.sqfs --threads 1
	"$FERRY" export "$BB" -o c.sqfs --threads 7
	cmp a.sqfs b.sqfs
	cmp a.sqfs c.sqfs
	# and from a fresh store (another tree, other inode numbers and times)
	FERRY_HOME=$BATS_TEST_TMPDIR/home2 "$FERRY" export "$BB" -o d.sqfs
	cmp a.sqfs d.sqfs
	for f in sif tar; do
		"$FERRY" export "$BB" -o "a.$f"
		FERRY_HOME=$BATS_TEST_TMPDIR/home2 "$FERRY" export "$BB" -o "d.$f"
		cmp "a.$f" "d.$f"
	done
	# time stamps come from the image's created date, not from now
	created=$(jq -r .created "$FERRY_HOME"/images/*/config.json)
	[ "$(unsquashfs -s a.sqfs | sed -n 's/^Creation or last append time //p' | xargs -I{} date -u -d {} +%s)" = \
		"$(date -u -d "$created" +%s)" ]
}

# MTIME NAME of each entry of a squashfs (the root aside), as libsquashfs reads it
sqfs_mtimes() { # FILE
	sqfs2tar "$1" | python3 -c 'import sys, tarfile
for m in tarfile.open(fileobj=sys.stdin.buffer, mode="r|"):
    print(m.mtime, m.name)'
}

@test "export: each entry keeps its mtime from the tree, at most the image's created (a plain directory: as they are)" {
	command -v sqfs2tar >/dev/null || skip "sqfs2tar (squashfs-tools-ng) is not installed"
	mkdir -p plain/sub && echo hi >plain/sub/f && ln -s f plain/sub/l
	touch -d @1000000000 plain/sub/f && touch -h -d @1000000001 plain/sub/l && touch -d @1000000002 plain/sub
	env -u SOURCE_DATE_EPOCH "$FERRY" export ./plain -o p.sqfs
	sqfs_mtimes p.sqfs | grep -v ' .ferry' >got
	printf '%s\n' '1000000002 sub' '1000000000 sub/f' '1000000001 sub/l' >want
	diff want got || die "a plain directory's mtimes are not kept"
	# and so does a tar (the layer of an oci-archive: the same rule)
	env -u SOURCE_DATE_EPOCH "$FERRY" export ./plain -o p.tar
	python3 -c 'import sys, tarfile
for m in tarfile.open(sys.argv[1]):
    print(m.mtime, m.name)' p.tar >got
	diff want got || die "a tar export's mtimes are not kept"
	[ "$(unsquashfs -s p.sqfs | sed -n 's/^Creation or last append time //p' | xargs -I{} date -u -d {} +%s)" = 0 ]
	# SOURCE_DATE_EPOCH bounds them, as an image's created does
	SOURCE_DATE_EPOCH=1000000001 "$FERRY" export ./plain -o e.sqfs
	sqfs_mtimes e.sqfs | grep -v ' .ferry' >got
	printf '%s\n' '1000000001 sub' '1000000000 sub/f' '1000000001 sub/l' >want
	diff want got || die "SOURCE_DATE_EPOCH does not bound the mtimes"
	# an image: what is older than created is kept, what is newer becomes created
	pull_busybox
	cp -a "$(dirname "$(stored_rootfs "$BB")")" rec
	created=$(date -u -d "$(jq -r .created rec/config.json)" +%s)
	touch -d @$((created - 86400)) rec/rootfs/bin/busybox
	echo "$BATS_TEST_TMPDIR" >rec/rootfs/own && touch -d @$((created - 3600)) rec/rootfs/own
	touch -d @$((created + 86400)) rec/rootfs/bin
	"$FERRY" export ./rec -o r.sqfs
	sqfs_mtimes r.sqfs >got
	grep -qx "$((created - 86400)) bin/busybox" got || die "bin/busybox: $(grep ' bin/busybox$' got)"
	grep -qx "$created bin" got || die "bin: $(grep ' bin$' got)"
	grep -qx "$created .ferry/config.json" got || die "the config: $(grep ' .ferry/config.json$' got)"
	[ -z "$(awk -v c="$created" '$1 > c' got)" ] || die "newer than created: $(awk -v c="$created" '$1 > c' got)"
	[ "$(unsquashfs -s r.sqfs | sed -n 's/^Creation or last append time //p' | xargs -I{} date -u -d {} +%s)" = "$created" ]
	grep -qx "$((created - 3600)) own" got || die "own: $(grep ' own$' got)"
	# and an import keeps them (the store sets regular files' mtimes; a
	# file whose content the store has already keeps the stored copy's)
	"$FERRY" import -q --name mt r.sqfs >/dev/null
	[ "$(stat -c %Y "$(stored_rootfs mt)/own")" = "$((created - 3600))" ]
}

@test "export: python's .pyc stay valid in the Debian image run in place (the .py files keep their mtimes)" {
	[ -c /dev/fuse ] && [ -r /dev/fuse ] && [ -w /dev/fuse ] || skip "/dev/fuse is missing or not usable (tests/cli/exec-file.setup-root)"
	D="oci:$FERRY_TEST_IMAGES/debian:latest"
	"$FERRY" pull -q "$D" >/dev/null 2>&1
	"$FERRY" export "$D" -o deb.sqfs
	root=$(stored_rootfs "$D")
	mkdir scratch && cd scratch
	# mtimes inside, through the mount, equal the stored tree's
	run "$FERRY" exec ../deb.sqfs python3 -c 'import enum, argparse, importlib.util, os
for m in (enum, argparse):
    for p in (m.__file__, importlib.util.cache_from_source(m.__file__)):
        print(int(os.stat(p).st_mtime), p)'
	[ "$status" -eq 0 ] || die "$output"
	[ "${#lines[@]}" -eq 4 ] || die "$output"
	for l in "${lines[@]}"; do
		[ "$(stat -c %Y "$root${l#* }")" = "${l%% *}" ] || die "${l#* }: ${l%% *} inside, $(stat -c %Y "$root${l#* }") in the tree"
	done
	# and python takes its modules from their .pyc: none is stale
	run "$FERRY" exec ../deb.sqfs python3 -v -c 'import enum, argparse'
	[ "$status" -eq 0 ] || die "$output"
	if grep 'bytecode is stale' <<<"$output"; then
		die "stale .pyc in the exported image"
	fi
	grep -q "code object from '\?/usr/lib/python3[^ ]*/__pycache__/argparse\.cpython-[0-9]*\.pyc" <<<"$output" ||
		die "argparse not loaded from its .pyc: $(grep argparse <<<"$output")"
}

@test "export: --compress gzip, xz and lz4 give readable squashfs files" {
	pull_busybox
	for c in gzip xz lz4; do
		"$FERRY" export "$BB" -o "bb-$c.sqfs" --compress "$c"
		unsquashfs -s "bb-$c.sqfs" | grep -q "Compression $c"
		rm -rf x
		# unsquashfs 4.5.1 cannot read libsquashfs's lz4 id table (gensquashfs's
		# neither); the kernel, squashfuse and squashfs-tools-ng read it
		if [ "$c" = lz4 ]; then (umask 0 && rdsquashfs -q -C -u / -p x "bb-$c.sqfs"); else unsq -d x "bb-$c.sqfs"; fi
		[ "$(tree_sig x)" = "$(tree_sig "$(stored_rootfs "$BB")")" ]
	done
	run "$FERRY" export "$BB" -o bb.sqfs --compress lzo
	[ "$status" -eq 2 ]
	[[ $output == *"unknown compression 'lzo'"* ]]
}

@test "export: SIF with the squashfs as primary system partition and Apptainer's /.singularity.d" {
	pull_busybox
	"$FERRY" export "$BB" -o bb.sif
	run "$FERRY" inspect --json bb.sif
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r '.sif.objects[0] | "\(.type) \(.fstype) \(.parttype) \(.primary)"')" = "partition squashfs primary system true" ]
	[ "$(echo "$output" | jq -r .signatures)" = "not verified" ]
	off=$(echo "$output" | jq .squashfs.offset)
	[ "$off" -eq 32768 ]
	unsq -o "$off" -d x bb.sif
	[ -x x/.singularity.d/runscript ]
	[ -f x/.singularity.d/env/90-environment.sh ]
	grep -q "^export PATH='/usr/local/sbin" x/.singularity.d/env/90-environment.sh
	# busybox: CMD /bin/sh and no ENTRYPOINT: arguments replace CMD, as ferry run does
	[ "$(sh x/.singularity.d/runscript echo from-runscript)" = from-runscript ]
	grep -q "exec '/bin/sh'" x/.singularity.d/runscript
	# the rest of the tree is the image's
	rm -rf x/.singularity.d
	[ "$(tree_sig x)" = "$(tree_sig "$(stored_rootfs "$BB")")" ]
}

@test "export: a tree with its own /.singularity.d (an Apptainer sandbox) keeps its runscript and env in the SIF" {
	load run
	make_busybox_rootfs "$W/sb"
	chmod u+w "$W/sb"
	mkdir -p "$W/sb/.singularity.d/env"
	printf '#!/bin/sh\necho "sandbox runscript: $*"\n' >"$W/sb/.singularity.d/runscript"
	printf 'export FROM_SANDBOX=yes\n' >"$W/sb/.singularity.d/env/90-environment.sh"
	chmod 0755 "$W/sb/.singularity.d/runscript" "$W/sb/.singularity.d/env/90-environment.sh"
	"$FERRY" export "$W/sb" -o sb.sif
	off=$("$FERRY" inspect --json sb.sif | jq .squashfs.offset)
	unsq -o "$off" -d x sb.sif
	cmp x/.singularity.d/runscript "$W/sb/.singularity.d/runscript"
	cmp x/.singularity.d/env/90-environment.sh "$W/sb/.singularity.d/env/90-environment.sh"
	# what the tree lacks, ferry still writes
	[ -x x/.singularity.d/actions/run ]
	[ "$(sh x/.singularity.d/runscript a b)" = "sandbox runscript: a b" ]
}

@test "export: a runscript keeps ENTRYPOINT and quotes what the shell would expand" {
	mkdir -p img/rootfs/bin
	cat >img/config.json <<'JSON'
{"architecture":"amd64","os":"linux","created":"2024-01-02T03:04:05Z",
 "config":{"Entrypoint":["/bin/echo","it's $HOME"],"Cmd":["default arg"],"Env":["A=x y","B=$(nope)"]}}
JSON
	"$FERRY" export ./img -o e.sif
	unsq -o 32768 -d x e.sif
	# run with sh on the host: /bin/echo is the host's, enough to see the words
	[ "$(sh x/.singularity.d/runscript)" = "it's \$HOME default arg" ]
	[ "$(sh x/.singularity.d/runscript one two)" = "it's \$HOME one two" ]
	[ "$(sh -c '. x/.singularity.d/env/90-environment.sh; echo "$A|$B"')" = 'x y|$(nope)' ]
	# SIF and squashfs dates are the config's
	[ "$("$FERRY" inspect --json e.sif | jq -r .created)" = 2024-01-02T03:04:05Z ]
}

@test "export: the kernel mounts the squashfs and the SIF partition (root with loop devices)" {
	is_root || skip "mounting a loop device needs root"
	pull_busybox
	"$FERRY" export "$BB" -o bb.sqfs
	"$FERRY" export "$BB" -o bb.sif
	mkdir m
	mount -t squashfs -o loop,ro bb.sqfs m 2>/dev/null || skip "no loop device or squashfs in this kernel"
	sig=$(tree_sig m)
	umount m
	[ "$sig" = "$(tree_sig "$(stored_rootfs "$BB")")" ]
	mount -t squashfs -o loop,ro,offset=32768 bb.sif m
	[ -x m/.singularity.d/runscript ]
	umount m
}

@test "export: oci-archive and docker-archive pull back to the same tree" {
	pull_busybox
	"$FERRY" export "$BB" --format oci-archive -o bb-oci.tar
	"$FERRY" export "$BB" --format docker-archive -o bb-docker.tar --name example.org/bb:1
	tar tf bb-docker.tar | grep -qx manifest.json
	tar tf bb-oci.tar | grep -qx index.json
	want=$(tree_sig "$(stored_rootfs "$BB")")
	d1=$("$FERRY" pull -q oci-archive:"$W"/bb-oci.tar)
	[ "$(tree_sig "$(stored_rootfs "$d1")")" = "$want" ]
	d2=$("$FERRY" pull -q docker-archive:"$W"/bb-docker.tar)
	[ "$(tree_sig "$(stored_rootfs "$d2")")" = "$want" ]
	# the config travels: same Cmd and Env
	[ "$("$FERRY" inspect --json "$d2" | jq -c '.config.config | [.Cmd, .Env]')" = \
		"$("$FERRY" inspect --json "$BB" | jq -c '.config.config | [.Cmd, .Env]')" ]
	# and skopeo reads what we wrote, where it is installed
	if command -v skopeo >/dev/null; then
		skopeo inspect --raw oci-archive:bb-oci.tar | jq -e '.layers | length == 1'
		skopeo inspect docker-archive:bb-docker.tar | jq -e '.RepoTags // [] | length >= 0'
	fi
}

@test "export: tar is a flat root file system, 0:0, readable by tar" {
	pull_busybox
	"$FERRY" export "$BB" -o bb.tar
	tar tvf bb.tar --numeric-owner | awk '{print $2}' | sort -u | grep -qx 0/0
	[ "$(tar tvf bb.tar --numeric-owner | awk '{print $2}' | sort -u | wc -l)" -eq 1 ]
	mkdir t && (umask 0 && tar xpf bb.tar -C t --no-same-owner)
	[ "$(tree_sig t)" = "$(tree_sig "$(stored_rootfs "$BB")")" ]
}

@test "export: a plain directory and a tree with rootfs/ beside config.json" {
	mkdir -p plain/sub && echo hi >plain/sub/f && ln -s /etc/passwd plain/abs
	"$FERRY" export ./plain -o p.sqfs
	unsq -d x p.sqfs
	[ "$(cat x/sub/f)" = hi ]
	[ "$(readlink x/abs)" = /etc/passwd ]
	jq -e '.config.Env[0] | startswith("PATH=")' x/.ferry/config.json
	pull_busybox
	cp -a "$(dirname "$(stored_rootfs "$BB")")" rec
	"$FERRY" export ./rec -o r.sqfs
	"$FERRY" export "$BB" -o s.sqfs
	cmp r.sqfs s.sqfs
	# an OCI layout directory is taken as oci:DIR, as ferry exec takes it
	"$FERRY" export "$FERRY_TEST_IMAGES/busybox" -o l.sqfs
	cmp l.sqfs s.sqfs
}

@test "export: bad arguments and targets give one line and leave nothing" {
	pull_busybox
	run "$FERRY" export "$BB" -o bb.img
	[ "$status" -eq 2 ]
	one_line_saying "no format for this file name"
	run "$FERRY" export "$BB"
	[ "$status" -eq 2 ]
	run "$FERRY" export "$BB" -o nodir/bb.sqfs
	[ "$status" -eq 1 ]
	one_line_saying "nodir/bb.sqfs"
	run "$FERRY" export --no-pull example.invalid/none:1 -o x.sqfs
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
	run "$FERRY" export ./missing -o x.sqfs
	[ "$status" -eq 1 ]
	one_line_saying "no such directory"
	echo x >afile.sqfs
	run "$FERRY" export ./afile.sqfs -o x.sqfs
	[ "$status" -eq 1 ]
	one_line_saying "ferry import ./afile.sqfs"
	rm afile.sqfs
	[ -z "$(ls -A "$W")" ] || die "left: $(ls -A "$W")"
}

@test "export: an unreadable file fails the export with one line and leaves nothing" {
	is_root && skip "root reads every file"
	mkdir -p p && echo secret >p/s && chmod 000 p/s
	echo old >p.sqfs
	run "$FERRY" export ./p -o p.sqfs
	[ "$status" -eq 1 ]
	one_line_saying "/s"
	[ "$(cat p.sqfs)" = old ]
	[ "$(ls -A "$W" | sort | tr '\n' ' ')" = "p p.sqfs " ]
}

@test "export: a killed export leaves nothing at FILE and no temporary file" {
	"$FERRY" pull -q "oci:$FERRY_TEST_IMAGES/debian:latest" >/dev/null
	mkdir out
	echo old >out/d.sqfs
	"$FERRY" export "oci:$FERRY_TEST_IMAGES/debian:latest" -o out/d.sqfs --compress xz --threads 1 &
	pid=$!
	# wait until it is writing (its output file is open), then kill it
	while kill -0 "$pid" 2>/dev/null && ! ls -l /proc/"$pid"/fd 2>/dev/null | grep -q "$W/out"; do sleep 0.01; done
	kill -0 "$pid" 2>/dev/null || die "the export ended before it could be killed"
	kill -9 "$pid"
	wait "$pid" || true
	[ "$(cat out/d.sqfs)" = old ]
	[ "$(ls -A out)" = d.sqfs ] || die "left: $(ls -A out)"
}

@test "export: Debian's image, exported and unpacked, is the stored tree" {
	D="oci:$FERRY_TEST_IMAGES/debian:latest"
	"$FERRY" pull -q "$D" >/dev/null
	"$FERRY" export "$D" -o d.sqfs
	unsq -d x d.sqfs
	[ "$(tree_sig x)" = "$(tree_sig "$(stored_rootfs "$D")")" ]
}
