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
