#!/usr/bin/env bats
# ferry exec / run / shell on a single-file image (squashfs; SIF once
# image/sfile.c reads it): the file is mounted with FUSE inside the
# container's namespaces by ferry's own helper. Content, every exec option,
# exit status, signals, nothing left behind (normal end, SIGKILL of ferry,
# SIGKILL of the helper), nodev/nosuid, bad files, no FUSE, ferry check,
# ferry run's Apptainer conventions.
# Runs as root and as an unprivileged user (tests/run does both).

load ../lib/common
load run
load sfile
bats_require_minimum_version 1.5.0

setup_file() {
	command -v mksquashfs >/dev/null || skip "mksquashfs (squashfs-tools) is not installed"
	# Somewhere every uid can read (a second user runs one test).
	FIXDIR=$(mktemp -d /tmp/ferry-exec-file.XXXXXX)
	chmod 755 "$FIXDIR"
	export FIXDIR
	local r="$FIXDIR/bb"
	make_busybox_rootfs "$r"
	mkdir -p "$r/.singularity.d/env"
	mksquashfs "$r" "$FIXDIR/bb.sqfs" -all-root -noappend -quiet -no-progress >/dev/null
	# Apptainer's conventions: an environment script and a runscript.
	printf 'export FROM_ENV=env-script\n' >"$r/.singularity.d/env/90-environment.sh"
	printf '#!/bin/sh\necho "runscript $FROM_ENV $*"\n' >"$r/.singularity.d/runscript"
	chmod 755 "$r/.singularity.d/runscript"
	mksquashfs "$r" "$FIXDIR/app.sqfs" -all-root -noappend -quiet -no-progress >/dev/null
	chmod 644 "$FIXDIR"/*.sqfs
	export IMG="$FIXDIR/bb.sqfs"
}

teardown_file() {
	[ -z "${FIXDIR:-}" ] || rm -rf "$FIXDIR"
}

setup() {
	ferry_test_env
	unset FERRY_BIND
	cd_scratch
}

teardown() {
	cleanup_scratch
}

# What a run of FILE may leave: live processes whose command line names it
# (the helper keeps ferry's), and mounts of it in any mount table we can
# read. Waits up to 10 s for them to go (the kernel tears a namespace down
# after its last process); prints what is left, fails if anything is.
no_leftovers() { # FILE
	local f=$1 i procs mounts
	for i in $(seq 100); do
		procs=$(pgrep -a -f -- "$f" || true)
		mounts=$(grep -lF -- "$f" /proc/[0-9]*/mountinfo 2>/dev/null || true)
		[ -z "$procs$mounts" ] && return 0
		sleep 0.1
	done
	die "left behind: processes [$procs] mounts in [$mounts]"
}

# The helper of a running `ferry exec FILE` (its comm is ferry-sqfs).
helper_of() { # FILE
	local i p
	for i in $(seq 100); do
		for p in $(pgrep -x ferry-sqfs); do
			grep -qF -- "$1" "/proc/$p/cmdline" 2>/dev/null && { echo "$p"; return 0; }
		done
		sleep 0.1
	done
	return 1
}

wait_for_line() { # FILE TEXT
	local i
	for i in $(seq 100); do
		grep -qF -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	die "never printed '$2': $(cat "$1")"
}

@test "exec FILE.sqfs: the image's files, owned by the caller as a tree's are" {
	run "$FERRY" exec "$IMG" sh -c 'cat /etc/image-file; stat -c %u:%g /bin/busybox; id -u'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = image-file ]
	[ "${lines[1]}" = "$(id -u):$(id -g)" ]
	[ "${lines[2]}" = "$(id -u)" ]
	no_leftovers "$IMG"
}

@test "exec FILE.sqfs: every compressor mksquashfs writes reads back byte for byte (gzip through ISA-L where it is installed)" {
	# ferry's helper decompresses zstd with a context of its own and gzip
	# with ISA-L (squash_helper.c); the others are libsquashfuse's. Blocks
	# that compress, blocks stored raw (random data), tails in fragments.
	local t=$BATS_TEST_TMPDIR/comp comp
	make_busybox_rootfs "$t"
	mkdir -p "$t/data"
	head -c 1000000 /dev/urandom >"$t/data/random"
	seq 1 120000 >"$t/data/text"
	for i in $(seq 20); do echo "small $i" >"$t/data/s$i"; done
	cp "$t/bin/busybox" "$t/data/busybox"
	local want
	want=$(cd "$t/data" && sha256sum random text busybox s1 s20)
	for comp in gzip zstd xz lz4 lzo; do
		mksquashfs "$t" "$BATS_TEST_TMPDIR/$comp.sqfs" -all-root -comp "$comp" -noappend -quiet -no-progress >/dev/null 2>&1 || {
			echo "# mksquashfs here has no $comp" >&3
			continue
		}
		run "$FERRY" exec "$BATS_TEST_TMPDIR/$comp.sqfs" sh -c 'cd /data && sha256sum random text busybox s1 s20'
		[ "$status" -eq 0 ] || die "$comp: $output"
		[ "$output" = "$want" ] || die "$comp: read back differs: $output"
	done
	if ldconfig -p | grep -q 'libisal\.so\.2 '; then
		local libs
		libs=$(LD_DEBUG=libs "$FERRY" exec "$BATS_TEST_TMPDIR/gzip.sqfs" true 2>&1 >/dev/null | sed -n 's/.*calling init: //p')
		grep -q 'libisal\.so\.2' <<<"$libs" || die "a gzip squashfs with libisal installed did not load it: $libs"
	fi
}

@test "exec FILE.sqfs: a bare name ending in .sqfs is the file in the current directory" {
	cp "$IMG" ./local.sqfs
	run "$FERRY" exec local.sqfs cat /etc/image-file
	[ "$status" -eq 0 ]
	[ "$output" = image-file ]
}

@test "exec FILE.sqfs: the mount is the container's only: read-only, nosuid, nodev, not in the host's mount table" {
	local out="$BATS_TEST_TMPDIR/out"
	"$FERRY" exec "$IMG" sh -c 'grep fuse.squashfuse /proc/self/mountinfo; echo ready; sleep 100' >"$out" 2>&1 &
	local pid=$!
	wait_for_line "$out" ready
	local h
	h=$(helper_of "$IMG")
	# Neither this shell's nor the helper's mount table has it.
	! grep -F -- "$IMG" /proc/self/mountinfo
	! grep -F -- "$IMG" "/proc/$h/mountinfo"
	kill -KILL "$pid"
	wait "$pid" || true
	grep -E '(^| )ro,nosuid,nodev' "$out"
	no_leftovers "$IMG"
}

@test "exec FILE.sqfs: -B with :ro, a bind to a path missing in the image, -e, --pwd" {
	mkdir -p "$BATS_TEST_TMPDIR/data"
	echo host-data >"$BATS_TEST_TMPDIR/data/f"
	run "$FERRY" exec -B "$BATS_TEST_TMPDIR/data:/data:ro" -B "$BATS_TEST_TMPDIR/data:/new/deep/dir" \
		-e FOO=bar --pwd /etc "$IMG" sh -c 'cat /data/f; cat /new/deep/dir/f; echo "$FOO"; pwd; echo x >/data/g || echo ro-refused'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = host-data ]
	[ "${lines[1]}" = host-data ]
	[ "${lines[2]}" = bar ]
	[ "${lines[3]}" = /etc ]
	[[ "$output" == *ro-refused* ]]
	[ ! -e "$BATS_TEST_TMPDIR/data/g" ]
}

@test "exec FILE.sqfs: read-only by default; --writable-tmpfs writes vanish at exit" {
	run "$FERRY" exec "$IMG" sh -c 'echo x >/etc/new'
	[ "$status" -ne 0 ]
	run "$FERRY" exec --writable-tmpfs "$IMG" sh -c 'echo changed >/etc/image-file && cat /etc/image-file && echo n >/new && cat /new'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = changed ]
	[ "${lines[1]}" = n ]
	run "$FERRY" exec "$IMG" cat /etc/image-file
	[ "$output" = image-file ]
}

@test "exec FILE.sqfs: --fakeroot is uid 0 over files owned by 0" {
	run "$FERRY" exec --fakeroot "$IMG" sh -c 'id -u; stat -c %u /bin/busybox'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = 0 ]
	[ "${lines[1]}" = 0 ]
}

@test "exec FILE.sqfs: --gpu binds a driver as on a tree" {
	local tree="$BATS_TEST_TMPDIR/nv-ld"
	"$FERRY_SRC/tests/fixtures/fake-nvidia/make-tree" "$tree" ldconfig
	FERRY_GPU_ROOT=$tree run "$FERRY" exec --gpu "$IMG" sh -c 'ls /.ferry/gpu/lib'
	[ "$status" -eq 0 ]
	[[ "$output" == *libcuda.so.1* ]]
}

@test "exec FILE.sqfs: the command's exit status, 127 and 126 as on a tree" {
	run "$FERRY" exec "$IMG" sh -c 'exit 7'
	[ "$status" -eq 7 ]
	run -127 "$FERRY" exec "$IMG" no-such-command
	[ "$status" -eq 127 ]
	run -126 "$FERRY" exec "$IMG" /etc/image-file
	[ "$status" -eq 126 ]
	no_leftovers "$IMG"
}

@test "exec FILE.sqfs: SIGTERM and SIGINT sent to ferry reach the command" {
	local sig out
	for sig in TERM INT; do
		out="$BATS_TEST_TMPDIR/out.$sig"
		# A background job starts with SIGINT ignored: give it back.
		env --default-signal=INT "$FERRY" exec "$IMG" sh -c "trap 'echo got-$sig; exit 3' $sig; echo ready; while :; do sleep 0.1; done" >"$out" 2>&1 &
		local pid=$!
		wait_for_line "$out" ready
		kill "-$sig" "$pid"
		local st=0
		wait "$pid" || st=$?
		[ "$st" -eq 3 ] || die "$sig: exit $st: $(cat "$out")"
		grep -q "got-$sig" "$out"
	done
	no_leftovers "$IMG"
}

@test "exec FILE.sqfs: SIGKILL of ferry leaves no process and no mount" {
	local out="$BATS_TEST_TMPDIR/out"
	"$FERRY" exec "$IMG" sh -c 'echo ready; exec sleep 1000' >"$out" 2>&1 &
	local pid=$!
	wait_for_line "$out" ready
	helper_of "$IMG" >/dev/null
	kill -KILL "$pid"
	wait "$pid" || true
	no_leftovers "$IMG"
}

@test "exec FILE.sqfs: SIGKILL of the FUSE helper ends the command; nothing is left" {
	local out="$BATS_TEST_TMPDIR/out"
	"$FERRY" exec "$IMG" sh -c 'echo ready; exec sleep 1000' >"$out" 2>&1 &
	local pid=$!
	wait_for_line "$out" ready
	local h
	h=$(helper_of "$IMG")
	kill -KILL "$h"
	# The command must end (killed by the watcher), not sleep on.
	local i
	for i in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid"
		die "the command outlived its FUSE helper"
	fi
	local st=0
	wait "$pid" || st=$?
	[ "$st" -eq 137 ] || die "exit $st"
	no_leftovers "$IMG"
}

@test "exec FILE.sqfs: device nodes and setuid files of the image are inert (nodev, nosuid)" {
	local src="$BATS_TEST_TMPDIR/src"
	cp -a "$FIXDIR/bb" "$src"
	printf '#include <stdio.h>\n#include <unistd.h>\nint main(void){printf("euid=%%d\\n",(int)geteuid());printf("setuid0=%%s\\n",setuid(0)==0?"ok":"refused");return 0;}\n' >"$BATS_TEST_TMPDIR/suid.c"
	cc -static -O2 -o "$src/bin/suid" "$BATS_TEST_TMPDIR/suid.c"
	local img="$FIXDIR/hostile-$BATS_TEST_NUMBER-$(id -u).sqfs"
	# Pseudo-definitions: no root needed to put them in the file.
	mksquashfs "$src" "$img" -all-root -noappend -quiet -no-progress -p "mem c 666 0 0 1 1" -p "bin/suid m 4755 0 0" >/dev/null
	chmod 644 "$img"
	run "$FERRY" exec "$img" sh -c 'ls -l /mem /bin/suid; head -c1 /mem >/dev/null && echo dev-opened'
	[[ "$output" == *"crw-rw-rw-"* ]]
	[[ "$output" == *"-rwsr-xr-x"* ]]
	[[ "$output" != *dev-opened* ]]
	if is_root; then
		cd "$FIXDIR"
		run setpriv --reuid=65534 --regid=65534 --clear-groups -- "$FERRY" exec --no-home "$img" /bin/suid
	else
		run "$FERRY" exec "$img" /bin/suid
	fi
	[ "$status" -eq 0 ]
	[ "${lines[0]}" != euid=0 ]
	[ "${lines[1]}" = setuid0=refused ]
	rm -f "$img"
}

@test "exec FILE.sqfs: a truncated file, a corrupt superblock, a file that is no image: one line, nothing left" {
	local t="$BATS_TEST_TMPDIR/trunc.sqfs" c="$BATS_TEST_TMPDIR/corrupt.sqfs" n="$BATS_TEST_TMPDIR/none.sqfs"
	head -c 100000 "$IMG" >"$t"
	cp "$IMG" "$c"
	# The compression id (superblock offset 20) set to one that does not exist.
	printf '\x09\x00' | dd of="$c" bs=1 seek=20 conv=notrunc 2>/dev/null
	echo "not an image" >"$n"
	local f
	for f in "$t" "$c" "$n"; do
		run "$FERRY" exec "$f" true
		[ "$status" -eq 125 ]
		[ "${#lines[@]}" -eq 1 ] || die "$f: $output"
		[[ "$output" == *"$f"* ]]
		no_leftovers "$f"
	done
	run "$FERRY" exec "$t" true
	[[ "$output" == *truncated* ]]
	run "$FERRY" exec "$c" true
	[[ "$output" == *"corrupt squashfs superblock"* ]]
	run "$FERRY" exec "$n" true
	[[ "$output" == *"not a directory, a squashfs or a SIF file"* ]]
}

@test "exec FILE.sqfs: no FUSE device: one line naming it and the way out (ferry import)" {
	FERRY_TEST_FUSE_DEV="$BATS_TEST_TMPDIR/no-such-fuse" run "$FERRY" exec "$IMG" true
	[ "$status" -eq 125 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == *"FUSE is unavailable"*"$BATS_TEST_TMPDIR/no-such-fuse"*"ferry import $IMG"* ]]
	no_leftovers "$IMG"
}

@test "exec FILE.sqfs: a FUSE device the user may not open (crw------- root, no udev): one line, the way out" {
	is_root || skip "only root can make a device node"
	local d
	d=$(mktemp -d /tmp/ferry-fusedev.XXXXXX)
	chmod 755 "$d"
	mknod "$d/fuse" c 10 229
	chmod 600 "$d/fuse"
	cd "$FIXDIR"
	FERRY_TEST_FUSE_DEV="$d/fuse" run setpriv --reuid=65534 --regid=65534 --clear-groups -- "$FERRY" exec --no-home "$IMG" true
	rm -rf "$d"
	[ "$status" -eq 125 ]
	[ "${#lines[@]}" -eq 1 ] || die "$output"
	[[ "$output" == *"FUSE is unavailable here: cannot open $d/fuse: Permission denied"*"ferry import"* ]]
	no_leftovers "$IMG"
}

@test "check: reports whether squashfs mounts work, and why not" {
	run "$FERRY" check
	[[ "$output" == *"ok   squashfs mounts"* ]]
	FERRY_TEST_FUSE_DEV="$BATS_TEST_TMPDIR/no-such-fuse" run "$FERRY" check
	[[ "$output" == *"no   squashfs mounts: $BATS_TEST_TMPDIR/no-such-fuse cannot be opened"* ]]
	[[ "$output" == *"ferry import FILE"* ]]
}

@test "run FILE.sqfs: Apptainer's environment scripts, then the runscript, with the arguments" {
	run "$FERRY" run "$FIXDIR/app.sqfs" a b
	[ "$status" -eq 0 ]
	[ "$output" = "runscript env-script a b" ]
}

@test "run FILE.sqfs: no runscript and no config: a shell, as Apptainer's run action" {
	run "$FERRY" run "$IMG" -c 'echo in-shell $0'
	[ "$status" -eq 0 ]
	[[ "$output" == "in-shell "* ]]
}

@test "shell FILE.sqfs: a shell in the image" {
	run "$FERRY" shell "$IMG" <<<'cat /etc/image-file'
	[ "$status" -eq 0 ]
	[ "$output" = image-file ]
}

@test "exec FILE.sif: the reference SIF fixtures give their content or one line" {
	need_sif_fixtures
	local f
	# The fixtures hold /hello.txt and no program: the host's static busybox runs it.
	for f in one-group one-group-signed-pgp one-group-signed-dsse two-groups; do
		run "$FERRY" exec -B /bin/busybox:/busybox "$SIF_FIXTURES/$f.sif" /busybox cat /hello.txt
		[ "$status" -eq 0 ] || die "$f: $output"
		[ "$output" = "Hello from Sylabs!" ]
		no_leftovers "$SIF_FIXTURES/$f.sif"
	done
	run "$FERRY" exec "$SIF_FIXTURES/empty.sif" true
	[ "$status" -eq 125 ]
	one_line_saying "not supported"
	run "$FERRY" exec "$SIF_FIXTURES/one-object-oci-root-index.sif" true
	[ "$status" -eq 125 ]
	one_line_saying "not supported"
}

@test "exec/run FILE.sif from ferry export: the image's config, as ferry run IMAGE; SIF and .sqfs alike" {
	pull_busybox
	local sif="$BATS_TEST_TMPDIR/bb.sif" sq="$BATS_TEST_TMPDIR/bb.sqfs"
	"$FERRY" export "$BB" -o "$sif" >/dev/null
	"$FERRY" export "$BB" -o "$sq" >/dev/null
	local want
	want=$("$FERRY" run "$BB" echo from-run 2>&1)
	run "$FERRY" run "$sif" echo from-run
	[ "$status" -eq 0 ]
	[ "$output" = "$want" ]
	run "$FERRY" run "$sq" echo from-run
	[ "$output" = "$want" ]
	# The image's environment (ENV) applies to exec too.
	want=$("$FERRY" exec "$BB" sh -c 'echo "$PATH"')
	run "$FERRY" exec "$sif" sh -c 'echo "$PATH"'
	[ "$output" = "$want" ]
	no_leftovers "$sif"
	no_leftovers "$sq"
}

@test "exec FILE.simg: a squashfs after a launch-script header" {
	local f="$BATS_TEST_TMPDIR/old.simg"
	{ printf '#!/usr/bin/env run-singularity\n'; cat "$IMG"; } >"$f"
	run "$FERRY" exec "$f" cat /etc/image-file
	[ "$status" -eq 0 ] || die "$output"
	[ "$output" = image-file ]
	no_leftovers "$f"
}

@test "exec FILE.sif: descriptors past the end of the file or overlapping: one line, nothing left" {
	local f="$BATS_TEST_TMPDIR/past.sif" g="$BATS_TEST_TMPDIR/trunc.sif"
	mksif "$f" "{\"objects\": [{\"data_file\": \"$IMG\", \"size\": 99999999999}]}"
	run "$FERRY" exec "$f" true
	[ "$status" -eq 125 ]
	[ "${#lines[@]}" -eq 1 ] || die "$output"
	mksif "$g" "{\"objects\": [{\"data_file\": \"$IMG\"}], \"truncate\": 40000}"
	run "$FERRY" exec "$g" true
	[ "$status" -eq 125 ]
	[ "${#lines[@]}" -eq 1 ] || die "$output"
	no_leftovers "$f"
	no_leftovers "$g"
}

@test "exec FILE: an Apptainer image's env scripts give exec its PATH and variables (plain assignments only)" {
	local src="$BATS_TEST_TMPDIR/ae" img="$BATS_TEST_TMPDIR/ae.sqfs"
	cp -a "$FIXDIR/bb" "$src"
	mkdir -p "$src/.singularity.d/env" "$src/opt/tool/bin"
	printf '#!/bin/sh\necho tool-ran\n' >"$src/opt/tool/bin/mytool"
	chmod 755 "$src/opt/tool/bin/mytool"
	cat >"$src/.singularity.d/env/10-docker2singularity.sh" <<'SH'
#!/bin/sh
export PATH="/opt/tool/bin:$PATH"
export GREETING="${GREETING:-"hello there"}"
export QUOTED='a b $c'
export SUB="$(id -u)"
SH
	printf 'export FROM90=${QUOTED}-x\nif true; then export NOPE=1; fi\n' >"$src/.singularity.d/env/90-environment.sh"
	mksquashfs "$src" "$img" -all-root -noappend -quiet -no-progress >/dev/null
	run "$FERRY" exec "$img" sh -c 'mytool; echo "$PATH"; echo "$GREETING|$QUOTED|$FROM90|${SUB-unset}|${NOPE-unset}"'
	[ "$status" -eq 0 ] || die "$output"
	[ "${lines[0]}" = tool-ran ]
	[ "${lines[1]}" = /opt/tool/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin ]
	[ "${lines[2]}" = 'hello there|a b $c|a b $c-x|unset|unset' ]
}

@test "exec FILE.sqfs: a command that waits for all its children is not held up by the helper" {
	local src="$BATS_TEST_TMPDIR/w" img="$BATS_TEST_TMPDIR/w.sqfs"
	cp -a "$FIXDIR/bb" "$src"
	printf '#include <stdio.h>\n#include <errno.h>\n#include <sys/wait.h>\nint main(void){int n=0;while(wait(NULL)>0)n++;printf("reaped %%d, %%s\\n",n,errno==ECHILD?"no children left":"error");return 0;}\n' >"$BATS_TEST_TMPDIR/waitall.c"
	cc -static -O2 -o "$src/bin/waitall" "$BATS_TEST_TMPDIR/waitall.c"
	mksquashfs "$src" "$img" -all-root -noappend -quiet -no-progress >/dev/null
	run timeout 30 "$FERRY" exec "$img" /bin/waitall
	[ "$status" -eq 0 ] || die "status $status: $output"
	[ "$output" = "reaped 0, no children left" ]
	run timeout 30 "$FERRY" exec "$img" sh -c 'sleep 0.1 & wait; echo waited'
	[ "$output" = waited ]
}

# The helper lets its hold on the outer mount namespace go when the command
# ends (squash_helper.c), but serves on while a process the command left
# running still uses the container's mount: that process still reads the
# image, and when it ends, nothing is left.
@test "exec FILE.sqfs: a process the command leaves running reads the image after the command ended; then nothing is left" {
	local out="$PWD/late.out"
	run timeout 30 "$FERRY" exec "$IMG" sh -c "(sleep 1; ls / >/dev/null && wc -c </bin/busybox && echo late-done) >'$out' 2>&1 </dev/null &"
	[ "$status" -eq 0 ] || die "status $status: $output"
	[ -n "$(helper_of "$IMG")" ] || die "no helper while the late process runs"
	wait_for_line "$out" late-done || die "the late process wrote: $(cat "$out" 2>/dev/null)"
	[ "$(head -1 "$out")" -eq "$(stat -c %s "$FIXDIR/bb/bin/busybox")" ] || die "the late process read: $(cat "$out")"
	no_leftovers "$IMG"
}
