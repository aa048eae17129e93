#!/usr/bin/env bats
# ferry import and ferry inspect FILE: SIF fixtures of the reference SIF
# library, files ferry wrote, old .simg, and hostile or broken files.
# Each bad file gives one line, and nothing half-written stays in the
# store. Runs as root and as the test user.

load ../lib/common
load sfile

setup_file() {
	[ -f "$FERRY_TEST_IMAGES/busybox/index.json" ] || "$FERRY_SRC/tests/lib/build-images" "$FERRY_TEST_IMAGES" busybox
}

setup() {
	ferry_test_env
	W=$BATS_TEST_TMPDIR/w
	mkdir -p "$W"
	cd "$W"
	OUT=$BATS_TEST_TMPDIR/outside
	mkdir -p "$OUT"
	echo original >"$OUT/victim"
}

# Nothing stored, nothing left in tmp/.
assert_nothing_stored() {
	[ -z "$(ls -A "$FERRY_HOME/images" 2>/dev/null)" ] || die "images/ is not empty: $(ls "$FERRY_HOME/images")"
	[ -z "$(ls -A "$FERRY_HOME/tmp" 2>/dev/null)" ] || die "tmp/ is not empty: $(ls "$FERRY_HOME/tmp")"
	[ -z "$(ls -A "$FERRY_HOME/refs" 2>/dev/null)" ] || die "refs/ is not empty"
}

# import_fails FILE TEXT: status 1, one line saying TEXT, nothing stored.
import_fails() {
	run "$FERRY" import "$1"
	[ "$status" -eq 1 ] || die "status $status: $output"
	one_line_saying "$2"
	assert_nothing_stored
}

@test "import: the reference SIF fixtures with a squashfs system partition give /hello.txt" {
	need_sif_fixtures
	for f in one-group one-group-signed-pgp one-group-signed-dsse two-groups; do
		run "$FERRY" import "$SIF_FIXTURES/$f.sif"
		[ "$status" -eq 0 ] || die "$f: $output"
		[ "$(cat "$(stored_rootfs localhost/$f)/hello.txt")" = "Hello from Sylabs!" ]
		[ "$(ls -A "$(stored_rootfs localhost/$f)")" = hello.txt ]
	done
	run "$FERRY" import --name example.org/hello:1 "$SIF_FIXTURES/one-group.sif"
	[ "$status" -eq 0 ]
	[ "$(cat "$(stored_rootfs example.org/hello:1)/hello.txt")" = "Hello from Sylabs!" ]
	[ -z "$(ls -A "$FERRY_HOME/tmp")" ]
}

@test "import: the fixtures without a system partition give one line saying not supported" {
	need_sif_fixtures
	import_fails "$SIF_FIXTURES/empty.sif" "without a primary system partition: not supported"
	import_fails "$SIF_FIXTURES/one-object-oci-root-index.sif" "OCI-SIF"
	[[ $output == *"not supported"* ]]
}

@test "inspect FILE: the fixtures' objects, signatures not verified" {
	need_sif_fixtures
	run "$FERRY" inspect "$SIF_FIXTURES/one-group-signed-pgp.sif"
	[ "$status" -eq 0 ]
	[[ $output == *"1 signature object, not verified"* ]]
	[[ $output == *"squashfs, primary system"* ]]
	run "$FERRY" inspect --json "$SIF_FIXTURES/two-groups.sif"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r '[.sif.objects[] | .fstype] | join(",")')" = raw,squashfs,ext3 ]
	[ "$(echo "$output" | jq -r .runnable)" = true ]
	[ "$(echo "$output" | jq -r .squashfs.compression)" = gzip ]
	run "$FERRY" inspect --json "$SIF_FIXTURES/empty.sif"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r .runnable)" = false ]
	[[ $(echo "$output" | jq -r .error) == *"not supported"* ]]
	[ "$(echo "$output" | jq -r .signatures)" = "not verified" ]
	run "$FERRY" inspect "$SIF_FIXTURES/README.md"
	[ "$status" -eq 1 ]
	one_line_saying "not a single-file image"
}

@test "import: files ferry exported come back as the same tree, with their config" {
	pull_busybox
	want=$(tree_sig "$(stored_rootfs "$BB")")
	for f in bb.sqfs bb.sif; do
		"$FERRY" export "$BB" -o "$f"
	done
	d=$("$FERRY" import -q bb.sqfs; "$FERRY" inspect --json localhost/bb | jq -r .digest)
	[ "$(tree_sig "$(stored_rootfs localhost/bb)")" = "$want" ]
	[ "$("$FERRY" inspect --json localhost/bb | jq -c .config.config.Cmd)" = '["/bin/sh"]' ]
	# the import of ferry's own squashfs is the image: the same manifest as an oci-archive export
	"$FERRY" export "$BB" --format oci-archive -o bb-oci.tar
	[ "$("$FERRY" pull -q "oci-archive:$W/bb-oci.tar")" = "$d" ]
	run "$FERRY" import --name sifbb bb.sif
	[ "$status" -eq 0 ]
	rm -rf sifroot && cp -a "$(stored_rootfs sifbb)" sifroot && rm -rf sifroot/.singularity.d
	[ "$(tree_sig sifroot)" = "$want" ]
	# and the imported tree runs
	run "$FERRY" exec localhost/bb /bin/busybox echo ran
	[ "$status" -eq 0 ] || die "$output"
	[ "$output" = ran ]
}

@test "import: an old .simg (launch script, then squashfs)" {
	pull_busybox
	"$FERRY" export "$BB" -o bb.sqfs
	printf '#!/bin/sh\nexec singularity run "$0" "$@"\n' >old.simg
	hdr=$(stat -c %s old.simg)
	cat bb.sqfs >>old.simg
	run "$FERRY" inspect old.simg
	[ "$status" -eq 0 ]
	[[ $output == *"launch script (.simg)"* ]]
	[[ $output == *"at byte $hdr,"* ]]
	"$FERRY" import -q old.simg
	[ "$(tree_sig "$(stored_rootfs localhost/old)")" = "$(tree_sig "$(stored_rootfs "$BB")")" ]
}

@test "import: devices, setuid, absolute symlinks and hardlinks of a hostile squashfs follow the extraction rules" {
	"$FERRY_SRC/tests/lib/mktar" h.tar '[{"name":"dev","type":"dir"},{"name":"dev/mem2","type":"chr"},
		{"name":"dev/blk","type":"blk"},{"name":"fifo","type":"fifo"},
		{"name":"suid","data":"x","mode":2541},{"name":"sgid-dir","type":"dir","mode":1517},
		{"name":"etc","type":"symlink","target":"'"$OUT"'"},
		{"name":"abs","type":"symlink","target":"/etc/passwd"},
		{"name":"hl","type":"hardlink","target":"suid"}]'
	sqfstar -quiet -no-xattrs h.sqfs <h.tar >/dev/null
	before=$(cd "$OUT" && ls -la && cat victim)
	run "$FERRY" import --name hostile h.sqfs
	[ "$status" -eq 0 ] || die "$output"
	r=$(stored_rootfs hostile)
	[ -z "$(find "$r" -type b -o -type c -o -type p)" ] || die "special files were created"
	[ -z "$(find "$r" -perm /6000)" ] || die "setuid/setgid kept"
	[ "$(readlink "$r/abs")" = /etc/passwd ]
	[ "$(readlink "$r/etc")" = "$OUT" ]
	[ "$(cat "$r/hl")" = x ]
	[ "$(cd "$OUT" && ls -la && cat victim)" = "$before" ]
}

@test "import: a squashfs whose tree names '..' gives one line and stores nothing" {
	"$FERRY_SRC/tests/lib/mktar" d.tar '[{"name":"QQ","data":"evil"},{"name":"ok","data":"fine"}]'
	sqfstar -quiet -no-xattrs -noI -noD -noF -noX d.sqfs <d.tar >/dev/null
	# the directory table is not compressed: turn the name QQ into ..
	python3 -c 'import sys; b=open(sys.argv[1],"rb").read(); i=b.index(b"QQ"); open(sys.argv[2],"wb").write(b[:i]+b".."+b[i+2:])' d.sqfs dotdot.sqfs
	import_fails dotdot.sqfs "'..'"
	[ "$(cat "$OUT/victim")" = original ]
}

@test "import: truncated files and corrupt superblocks give one line and store nothing" {
	pull_busybox
	"$FERRY" export "$BB" -o bb.sqfs
	"$FERRY" export "$BB" -o bb.sif
	rm -rf "$FERRY_HOME"/images/* "$FERRY_HOME"/refs/*
	head -c 300000 bb.sqfs >t.sqfs
	import_fails t.sqfs "truncated squashfs"
	head -c 50 bb.sqfs >t2.sqfs
	import_fails t2.sqfs "truncated squashfs superblock"
	head -c 100000 bb.sif >t.sif
	import_fails t.sif "truncated"
	head -c 60 bb.sif >t2.sif
	import_fails t2.sif "truncated SIF header"
	# block size 2^24 in the superblock
	python3 -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); b[12:16]=bytes([0,0,0,1]); open(sys.argv[2],"wb").write(b)' bb.sqfs badsb.sqfs
	import_fails badsb.sqfs "corrupt squashfs superblock"
	# the tables' offsets pointing past the end
	python3 -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); b[64:72]=(1<<40).to_bytes(8,"little"); open(sys.argv[2],"wb").write(b)' bb.sqfs badtbl.sqfs
	run "$FERRY" import badtbl.sqfs
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ] || die "$output"
	assert_nothing_stored
	# garbage in the middle of the metadata: an error, never a crash
	size=$(stat -c %s bb.sqfs)
	python3 -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); n=int(sys.argv[3]); b[n-8192:n-4096]=b"\xa5"*4096; open(sys.argv[2],"wb").write(b)' bb.sqfs garbage.sqfs "$size"
	run "$FERRY" import garbage.sqfs
	[ "$status" -le 1 ] || die "status $status: $output"
	[ "${#lines[@]}" -le 2 ]
	[ -z "$(ls -A "$FERRY_HOME/tmp" 2>/dev/null)" ]
}

@test "import: SIF partitions that are not a squashfs say which, and not supported" {
	pull_busybox
	"$FERRY" export "$BB" -o bb.sqfs
	rm -rf "$FERRY_HOME"/images/* "$FERRY_HOME"/refs/*
	mksif ext3.sif '{"objects":[{"fstype":2,"parttype":2,"data":"not an ext3 but who checks"}]}'
	import_fails ext3.sif "SIF partition id 1 (ext3, primary system): not supported"
	mksif enc.sif '{"objects":[{"fstype":5,"parttype":2,"data":"sealed"}]}'
	import_fails enc.sif "(encrypted squashfs, primary system): not supported"
	mksif sys.sif '{"objects":[{"fstype":1,"parttype":1,"data_file":"bb.sqfs"}]}'
	import_fails sys.sif "without a primary system partition: not supported"
	mksif lie.sif '{"objects":[{"fstype":1,"parttype":2,"data":"'"$(printf 'not a squashfs %.0s' $(seq 20))"'"}]}'
	import_fails lie.sif "no squashfs superblock"
	# and a good one, for contrast
	mksif good.sif '{"objects":[{"type":"json","data":"{}"},{"fstype":1,"parttype":2,"data_file":"bb.sqfs"}]}'
	run "$FERRY" import good.sif
	[ "$status" -eq 0 ] || die "$output"
}

@test "import: SIF descriptors past the end, overlapping or absurd give one line" {
	pull_busybox
	"$FERRY" export "$BB" -o bb.sqfs
	rm -rf "$FERRY_HOME"/images/* "$FERRY_HOME"/refs/*
	mksif past.sif '{"objects":[{"fstype":1,"parttype":2,"data_file":"bb.sqfs","size":999999999999}]}'
	import_fails past.sif "lie past the end of the file"
	mksif far.sif '{"objects":[{"fstype":1,"parttype":2,"data":"x","offset":1152921504606846976,"size":16}]}'
	import_fails far.sif "past the end of the file"
	mksif wrap.sif '{"objects":[{"fstype":1,"parttype":2,"data":"x","offset":40960,"size":-8192}]}'
	import_fails wrap.sif "SIF descriptor"
	mksif overlap.sif '{"objects":[{"type":"json","data":"0123456789","offset":40960},{"fstype":1,"parttype":2,"data_file":"bb.sqfs","offset":40964}]}'
	import_fails overlap.sif "overlap"
	mksif intable.sif '{"objects":[{"fstype":1,"parttype":2,"data":"x","offset":4100,"size":8}]}'
	import_fails intable.sif "overlaps the header or the descriptor table"
	mksif many.sif '{"objects":[],"total":100000000}'
	import_fails many.sif "absurd"
	mksif tbl.sif '{"objects":[],"table":9999999999}'
	import_fails tbl.sif "descriptor table"
}
