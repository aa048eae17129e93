#!/usr/bin/env bats
# ferry exec / run / shell on a directory root file system: identity, binds,
# read-only image, environment, exit codes, signals, hostile images.
# Runs as root and as an unprivileged user (tests/run does both).

load ../lib/common
load run
bats_require_minimum_version 1.5.0

setup_file() {
	export ROOTFS="$BATS_FILE_TMPDIR/bb"
	make_busybox_rootfs "$ROOTFS"
	tree_sum "$ROOTFS" >"$BATS_FILE_TMPDIR/bb.sum"
}

setup() {
	ferry_test_env
	unset FERRY_BIND
	cd_scratch
	# A directory outside /tmp (which is bound anyway) to test home and cwd.
	case "$HOME" in
	/tmp | /tmp/* | /var/tmp/*) OUTSIDE="" ;;
	*) OUTSIDE=$(mktemp -d "$HOME/.ferry-run-test.XXXXXX") ;;
	esac
}

teardown() {
	cleanup_scratch
	[ -z "$OUTSIDE" ] || rm -rf "$OUTSIDE"
	[ ! -f "$BATS_TEST_TMPDIR/cleanup" ] || rm -rf "$(cat "$BATS_TEST_TMPDIR/cleanup")"
	# The image must never be written by any test.
	[ "$(tree_sum "$ROOTFS")" = "$(cat "$BATS_FILE_TMPDIR/bb.sum")" ] || die "the image changed"
}

need_outside() {
	[ -n "$OUTSIDE" ] || skip "HOME ($HOME) is under /tmp, which is always bound"
}

@test "exec: the uid and gid inside are the caller's" {
	run "$FERRY" exec "$ROOTFS" id -u
	[ "$status" -eq 0 ] && [ "$output" = "$(id -u)" ]
	run "$FERRY" exec "$ROOTFS" id -g
	[ "$status" -eq 0 ] && [ "$output" = "$(id -g)" ]
}

@test "exec: whoami and id name the user from a generated /etc/passwd" {
	run "$FERRY" exec "$ROOTFS" whoami
	[ "$status" -eq 0 ]
	[ "$output" = "$(id -un)" ]
	run "$FERRY" exec "$ROOTFS" id -gn
	[ "$output" = "$(id -gn)" ]
	# The image's own entries are kept.
	run "$FERRY" exec "$ROOTFS" grep -c '^nobody:' /etc/passwd
	[ "$output" = 1 ]
}

@test "exec --fakeroot: uid 0 inside, named root" {
	run "$FERRY" exec --fakeroot "$ROOTFS" id -u
	[ "$status" -eq 0 ] && [ "$output" = 0 ]
	run "$FERRY" exec --fakeroot "$ROOTFS" whoami
	[ "$output" = root ]
	# Files the caller creates are still the caller's on the host.
	"$FERRY" exec --fakeroot "$ROOTFS" touch "$BATS_TEST_TMPDIR/made-by-fakeroot"
	[ "$(stat -c %u "$BATS_TEST_TMPDIR/made-by-fakeroot")" = "$(id -u)" ]
}

@test "exec: the working directory is the host's when visible, else /, and --pwd sets it" {
	cd "$BATS_TEST_TMPDIR"
	run "$FERRY" exec "$ROOTFS" pwd
	[ "$output" = "$BATS_TEST_TMPDIR" ]
	run "$FERRY" exec --pwd /etc "$ROOTFS" pwd
	[ "$output" = /etc ]
	run "$FERRY" exec --pwd /no/such/dir "$ROOTFS" pwd
	[ "$status" -eq 125 ]
	[[ "$output" == *"--pwd /no/such/dir"* ]]
	# A system directory is not bound: the image's / is the fallback.
	cd /usr/bin
	run "$FERRY" exec "$ROOTFS" pwd
	[ "$output" = / ]
}

@test "exec: a current directory outside home and /tmp is bound at the same path" {
	need_outside
	echo cwd-marker >"$OUTSIDE/marker"
	cd "$OUTSIDE"
	run "$FERRY" exec --no-home "$ROOTFS" sh -c 'pwd; cat marker'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "$OUTSIDE" ] && [ "${lines[1]}" = cwd-marker ]
}

@test "exec: \$HOME is visible at the same path; --no-home hides it; --home SRC:DST moves it" {
	need_outside
	echo home-marker >"$OUTSIDE/marker"
	cd /
	HOME=$OUTSIDE run "$FERRY" exec "$ROOTFS" sh -c 'cat "$HOME/marker"'
	[ "$status" -eq 0 ] && [ "$output" = home-marker ]
	HOME=$OUTSIDE run "$FERRY" exec --no-home "$ROOTFS" sh -c 'test -e "$HOME/marker" && echo visible || echo hidden'
	[ "$output" = hidden ]
	HOME=$OUTSIDE run "$FERRY" exec --home "$OUTSIDE:/myhome" "$ROOTFS" sh -c 'echo "$HOME"; cat /myhome/marker; grep "^$(id -un):" /etc/passwd | cut -d: -f6'
	[ "${lines[0]}" = /myhome ] && [ "${lines[1]}" = home-marker ] && [ "${lines[2]}" = /myhome ]
}

@test "exec -B: a rw bind writes to the host; a :ro bind refuses writes" {
	mkdir -p "$BATS_TEST_TMPDIR/data"
	run "$FERRY" exec -B "$BATS_TEST_TMPDIR/data:/data" "$ROOTFS" sh -c 'echo written > /data/out'
	[ "$status" -eq 0 ]
	[ "$(cat "$BATS_TEST_TMPDIR/data/out")" = written ]
	run "$FERRY" exec -B "$BATS_TEST_TMPDIR/data:/data:ro" "$ROOTFS" sh -c 'cat /data/out; echo again > /data/out'
	[ "$status" -ne 0 ]
	[ "${lines[0]}" = written ]
	[[ "$output" == *"Read-only file system"* ]]
	[ "$(cat "$BATS_TEST_TMPDIR/data/out")" = written ]
	# ro on a file bind too, and even for root inside.
	run "$FERRY" exec --fakeroot -B "$BATS_TEST_TMPDIR/data/out:/etc/image-file:ro" "$ROOTFS" sh -c 'echo x > /etc/image-file'
	[ "$status" -ne 0 ]
	[ "$(cat "$BATS_TEST_TMPDIR/data/out")" = written ]
}

@test "exec -B: comma-separated lists, FERRY_BIND, SRC alone, bad specs" {
	mkdir -p "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b"
	echo A >"$BATS_TEST_TMPDIR/a/f"
	echo B >"$BATS_TEST_TMPDIR/b/f"
	run "$FERRY" exec -B "$BATS_TEST_TMPDIR/a:/mnt/a,$BATS_TEST_TMPDIR/b:/mnt/b:ro" "$ROOTFS" cat /mnt/a/f /mnt/b/f
	[ "$status" -eq 0 ] && [ "$output" = "$(printf 'A\nB')" ]
	FERRY_BIND="$BATS_TEST_TMPDIR/a:/envbind" run "$FERRY" exec "$ROOTFS" cat /envbind/f
	[ "$output" = A ]
	run "$FERRY" exec -B /etc/hostname "$ROOTFS" true
	[ "$status" -eq 0 ]
	run "$FERRY" exec -B "$BATS_TEST_TMPDIR/a:/x:rx" "$ROOTFS" true
	[ "$status" -eq 2 ] && [[ "$output" == *"unknown option 'rx'"* ]]
	run "$FERRY" exec -B "$BATS_TEST_TMPDIR/a:relative" "$ROOTFS" true
	[ "$status" -eq 2 ] && [[ "$output" == *"must be absolute"* ]]
	run "$FERRY" exec -B "$BATS_TEST_TMPDIR/missing:/m" "$ROOTFS" true
	[ "$status" -eq 125 ] && [[ "$output" == *"bind source $BATS_TEST_TMPDIR/missing"* ]]
}

@test "exec -B: destinations missing in the image are created (overlay), deep ones under an underlay are reported" {
	mkdir -p "$BATS_TEST_TMPDIR/d"
	echo deep >"$BATS_TEST_TMPDIR/d/f"
	run "$FERRY" exec -B "$BATS_TEST_TMPDIR/d:/usr/share/not/in/image" "$ROOTFS" cat /usr/share/not/in/image/f
	if [ "$status" -ne 0 ] && "$FERRY" check | grep -q '^no   overlay'; then
		skip "this kernel refuses overlay in a user namespace"
	fi
	[ "$status" -eq 0 ] && [ "$output" = deep ]
	# Without overlay: top level works, deeper is a warning, not a failure.
	FERRY_NO_OVERLAY=1 run "$FERRY" exec --no-home -B "$BATS_TEST_TMPDIR/d:/toplevel" "$ROOTFS" cat /toplevel/f
	[ "$status" -eq 0 ] && [ "$output" = deep ]
	FERRY_NO_OVERLAY=1 run "$FERRY" exec --no-home -B "$BATS_TEST_TMPDIR/d:/usr/share/not/in/image" "$ROOTFS" sh -c 'test -e /usr/share/not && echo there || echo absent'
	[ "$status" -eq 0 ]
	[[ "$output" == *"cannot create /usr/share/not/in/image"*"not bound"* ]]
	[[ "$output" == *absent* ]]
}

@test "exec: a bind through an image symlink stays inside the image" {
	mkdir -p "$BATS_TEST_TMPDIR/s"
	echo planted >"$BATS_TEST_TMPDIR/s/f"
	# /evil -> /etc in the image: the destination is the image's /etc, never the host's.
	run "$FERRY" exec -B "$BATS_TEST_TMPDIR/s:/evil/ferry-planted" "$ROOTFS" cat /etc/ferry-planted/f
	[ "$status" -eq 0 ] && [ "$output" = planted ]
	[ ! -e /etc/ferry-planted ]
}

@test "exec: the image root is read-only; --writable-tmpfs makes it writable; nothing reaches the image" {
	run "$FERRY" exec "$ROOTFS" touch /new-file
	[ "$status" -ne 0 ] && [[ "$output" == *"Read-only file system"* ]]
	run "$FERRY" exec --fakeroot "$ROOTFS" sh -c 'echo x >> /etc/image-file'
	[ "$status" -ne 0 ]
	run "$FERRY" exec --writable-tmpfs "$ROOTFS" sh -c 'echo new > /new-file && cat /new-file && echo more >> /etc/image-file && rm /etc/image-file && echo done'
	if [[ "$output" == *"needs overlay in a user namespace"* ]]; then
		skip "this kernel refuses overlay in a user namespace"
	fi
	[ "$status" -eq 0 ] && [ "${lines[0]}" = new ] && [ "${lines[1]}" = done ]
	[ ! -e "$ROOTFS/new-file" ]
	[ "$(cat "$ROOTFS/etc/image-file")" = image-file ]
	run "$FERRY" exec --writable-tmpfs=1M "$ROOTFS" sh -c 'dd if=/dev/zero of=/big bs=1k count=4096'
	[ "$status" -ne 0 ] && [[ "$output" == *"No space left"* ]]
	run "$FERRY" exec --writable-tmpfs=lots "$ROOTFS" true
	[ "$status" -eq 2 ]
}

@test "exec: a read-only root is an overlay without an upper layer; --writable-tmpfs has one" {
	# no upper layer: no work directory to make and probe at every start
	run "$FERRY" exec "$ROOTFS" awk '$5 == "/" && $9 == "overlay"' /proc/self/mountinfo
	[ "$status" -eq 0 ] || die "$output"
	[ -n "$output" ] || skip "the root is no overlay here (no overlay in a user namespace)"
	[[ "$output" == *"lowerdir="*":"* ]] || die "want two lower layers: $output"
	[[ "$output" != *"upperdir="* && "$output" != *"workdir="* ]] || die "a read-only root with an upper layer: $output"
	run "$FERRY" exec --writable-tmpfs "$ROOTFS" awk '$5 == "/" && $9 == "overlay"' /proc/self/mountinfo
	[ "$status" -eq 0 ] || die "$output"
	[[ "$output" == *"upperdir="* ]] || die "--writable-tmpfs without an upper layer: $output"
	# what precreate made (a bind destination the image lacks) is there
	mkdir -p "$BATS_TEST_TMPDIR/src" && echo in >"$BATS_TEST_TMPDIR/src/f"
	run "$FERRY" exec -B "$BATS_TEST_TMPDIR/src:/not/in/image" "$ROOTFS" cat /not/in/image/f
	[ "$status" -eq 0 ] && [ "$output" = in ] || die "$output"
}

@test "exec --scratch DIR: the writable layer lands in DIR, the image is untouched" {
	mkdir -p "$BATS_TEST_TMPDIR/scratch"
	run "$FERRY" exec --scratch "$BATS_TEST_TMPDIR/scratch" "$ROOTFS" sh -c 'echo kept > /opt/result'
	if [[ "$output" == *"needs overlay"* ]]; then
		skip "overlay on this file system is refused in a user namespace: $output"
	fi
	[ "$status" -eq 0 ]
	[ "$(cat "$BATS_TEST_TMPDIR/scratch/upper/opt/result")" = kept ]
	[ ! -e "$ROOTFS/opt/result" ]
}

@test "exec: host files outside the binds are not visible" {
	# bats is on the host, not in the image; the host's /root is not the image's.
	[ -e "$(command -v bats)" ]
	run "$FERRY" exec "$ROOTFS" sh -c "test -e $(command -v bats) && echo leak || echo ok"
	[ "$output" = ok ]
	run "$FERRY" exec --no-home "$ROOTFS" sh -c 'ls -A /root | wc -l'
	[ "$output" = 0 ] || [[ "$output" == *"Permission denied"* ]]
	run "$FERRY" exec "$ROOTFS" cat /etc/image-file
	[ "$output" = image-file ]
}

@test "exec --contain: private /tmp" {
	echo host >"$BATS_TEST_TMPDIR/visible"
	run "$FERRY" exec "$ROOTFS" cat "$BATS_TEST_TMPDIR/visible"
	[ "$output" = host ]
	run "$FERRY" exec --contain "$ROOTFS" sh -c "test -e $BATS_TEST_TMPDIR/visible && echo leak; ls -A /tmp | wc -l"
	[ "$output" = 0 ]
}

@test "exec: environment order: host < image ENV < FERRYENV_ < --env-file < --env" {
	local img="$BATS_TEST_TMPDIR/img"
	make_image_dir "$img" "$ROOTFS" '{"Env":["PATH=/bin:/usr/bin","FROM_IMAGE=image","SHARED=image","A=image"]}'
	printf '# comment\nA=file\nB=file\n\nexport C=file\nHOSTVAR\n' >"$BATS_TEST_TMPDIR/env"
	export SHARED=host ONLY_HOST=host PATH="/host/only:$PATH" LD_PRELOAD= HOSTVAR=fromhost
	FERRYENV_B=ferryenv FERRYENV_D=ferryenv run "$FERRY" exec --env-file "$BATS_TEST_TMPDIR/env" -e C=cli -e E=cli \
		"$img" sh -c 'echo "$PATH|$FROM_IMAGE|$SHARED|$ONLY_HOST|$A|$B|$C|$D|$E|$HOSTVAR|${FERRYENV_B-unset}"'
	[ "$status" -eq 0 ]
	[ "$output" = "/bin:/usr/bin|image|image|host|file|file|cli|ferryenv|cli|fromhost|unset" ]
}

@test "exec --cleanenv: only the image ENV and HOME USER TERM LANG" {
	local img="$BATS_TEST_TMPDIR/img"
	make_image_dir "$img" "$ROOTFS" '{"Env":["FROM_IMAGE=image"]}'
	ONLY_HOST=host TERM=xterm-test LANG=C.UTF-8 FERRYENV_X=still run "$FERRY" exec --cleanenv -e Y=cli "$img" env
	[ "$status" -eq 0 ]
	[[ "$output" == *"FROM_IMAGE=image"* ]]
	[[ "$output" == *"TERM=xterm-test"* ]] && [[ "$output" == *"LANG=C.UTF-8"* ]] && [[ "$output" == *"HOME="* ]]
	[[ "$output" == *"X=still"* ]] && [[ "$output" == *"Y=cli"* ]]
	[[ "$output" != *"ONLY_HOST"* ]]
	# Without an image PATH, the standard one (never the host's).
	PATH="/host/only:$PATH" run "$FERRY" exec "$ROOTFS" sh -c 'echo $PATH'
	[ "$output" = /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin ]
}

@test "exec: bad environment input is a usage error" {
	run "$FERRY" exec -e '1BAD=x' "$ROOTFS" true
	[ "$status" -eq 125 ] && [[ "$output" == *"not a valid variable name"* ]]
	printf 'GOOD=1\nbad name=2\n' >"$BATS_TEST_TMPDIR/env"
	run "$FERRY" exec --env-file "$BATS_TEST_TMPDIR/env" "$ROOTFS" true
	[ "$status" -eq 125 ] && [[ "$output" == *"env:2"* ]]
	run "$FERRY" exec --env-file "$BATS_TEST_TMPDIR/nope" "$ROOTFS" true
	[ "$status" -eq 125 ]
}

@test "run: ENTRYPOINT + CMD, ARGs replace CMD, --entrypoint overrides" {
	local img="$BATS_TEST_TMPDIR/img"
	make_image_dir "$img" "$ROOTFS" '{"Entrypoint":["/bin/echo","ep"],"Cmd":["default","cmd"],"WorkingDir":"/etc"}'
	cd /
	run "$FERRY" run "$img"
	[ "$status" -eq 0 ] && [ "$output" = "ep default cmd" ]
	run "$FERRY" run "$img" given args
	[ "$output" = "ep given args" ]
	run "$FERRY" run --entrypoint /bin/pwd "$img"
	[ "$output" = /etc ]
	run "$FERRY" run --entrypoint "" "$img" echo no-ep
	[ "$output" = no-ep ]
	make_image_dir "$img" "$ROOTFS" '{"Cmd":["/bin/echo","only","cmd"]}'
	run "$FERRY" run "$img"
	[ "$output" = "only cmd" ]
	make_image_dir "$img" "$ROOTFS" '{}'
	run "$FERRY" run "$img"
	[ "$status" -eq 125 ] && [[ "$output" == *"no ENTRYPOINT or CMD"* ]]
	run "$FERRY" exec --entrypoint /bin/true "$img" true
	[ "$status" -eq 2 ]
}

@test "exec: the command's exit status is ferry's" {
	run "$FERRY" exec "$ROOTFS" sh -c 'exit 42'
	[ "$status" -eq 42 ]
	run "$FERRY" exec "$ROOTFS" true
	[ "$status" -eq 0 ] && [ -z "$output" ]
}

@test "exec: SIGTERM to ferry's pid reaches the command (exec in place), status 143" {
	"$FERRY" exec "$ROOTFS" sh -c 'echo $$ > '"$BATS_TEST_TMPDIR"'/pid; trap "echo got-term > '"$BATS_TEST_TMPDIR"'/trap; exit 143" TERM; while :; do sleep 0.05; done' &
	local pid=$!
	for _ in $(seq 100); do [ -s "$BATS_TEST_TMPDIR/pid" ] && break; sleep 0.05; done
	[ -s "$BATS_TEST_TMPDIR/pid" ]
	kill -TERM "$pid"
	local st=0
	wait "$pid" || st=$?
	[ "$st" -eq 143 ]
	[ "$(cat "$BATS_TEST_TMPDIR/trap")" = got-term ]
	# The shell's pid inside is ferry's pid: no process in between.
	[ "$(cat "$BATS_TEST_TMPDIR/pid")" = "$pid" ]
	# Without a trap the default action kills it: 128+15.
	"$FERRY" exec "$ROOTFS" sleep 30 &
	pid=$!
	sleep 0.3
	kill -TERM "$pid"
	st=0
	wait "$pid" || st=$?
	[ "$st" -eq 143 ]
}

@test "exec: 127 not found, 126 not executable, 125 ferry failed, one clear line each" {
	run -127 "$FERRY" exec "$ROOTFS" no-such-command
	[ "$status" -eq 127 ] && [ "${#lines[@]}" -eq 1 ] && [[ "$output" == *"no-such-command: command not found"* ]]
	run -127 "$FERRY" exec "$ROOTFS" /no/such/path
	[ "$status" -eq 127 ]
	run "$FERRY" exec "$ROOTFS" /etc/image-file
	[ "$status" -eq 126 ] && [ "${#lines[@]}" -eq 1 ] && [[ "$output" == *"not executable"* ]]
	run "$FERRY" exec "$ROOTFS" /etc
	[ "$status" -eq 126 ]
	run "$FERRY" exec "$BATS_TEST_TMPDIR/no-image" true
	[ "$status" -eq 125 ] && [ "${#lines[@]}" -eq 1 ] && [[ "$output" == *"no-image"* ]]
	run "$FERRY" exec "$ROOTFS"
	[ "$status" -eq 2 ] && [[ "$output" == *"missing COMMAND"* ]]
	run "$FERRY" exec --bogus "$ROOTFS" true
	[ "$status" -eq 2 ]
	run "$FERRY" exec / true
	[ "$status" -eq 125 ]
}

@test "shell: \$SHELL if the image has it, else /bin/bash, else /bin/sh" {
	SHELL=/bin/ash run "$FERRY" shell "$ROOTFS" <<<'echo "shell=$0"'
	[ "$status" -eq 0 ] && [ "$output" = "shell=/bin/ash" ]
	SHELL=/usr/bin/zsh-not-in-image run "$FERRY" shell "$ROOTFS" <<<'echo "shell=$0"'
	[ "$status" -eq 0 ]
	if [ -e "$ROOTFS/bin/bash" ]; then [ "$output" = "shell=/bin/bash" ]; else [ "$output" = "shell=/bin/sh" ]; fi
	run "$FERRY" shell "$ROOTFS" extra
	[ "$status" -eq 2 ]
}

@test "exec: a setuid-root binary in the image gives no root to an unprivileged caller" {
	local fx="$FERRY_BUILD/test-fixtures/setuid-rootfs"
	if is_root; then
		# As root, build the fixture here and test as an unprivileged uid.
		# Somewhere an unprivileged uid can reach (bats' temp dirs are 0700).
		fx=$(mktemp -d /tmp/ferry-setuid.XXXXXX)
		echo "$fx" >"$BATS_TEST_TMPDIR/cleanup"
		chmod 755 "$fx"
		make_busybox_rootfs "$fx"
		printf '#include <stdio.h>\n#include <unistd.h>\nint main(void){printf("euid=%%d\\n",(int)geteuid());printf("setuid0=%%s\\n",setuid(0)==0?"ok":"refused");return 0;}\n' >"$BATS_TEST_TMPDIR/suid.c"
		cc -static -O2 -o "$fx/bin/suid" "$BATS_TEST_TMPDIR/suid.c"
		chmod 4755 "$fx/bin/suid"
		# Root itself would run it as root (it is root): check the bit is live.
		run "$fx/bin/suid"
		[ "${lines[0]}" = euid=0 ]
		# From a directory that uid can reach: ferry binds the cwd.
		cd "$fx"
		run setpriv --reuid=65534 --regid=65534 --clear-groups -- "$FERRY" exec --no-home "$fx" /bin/suid
	else
		[ -u "$fx/bin/suid" ] || skip "fixture missing: run tests/cli/run.setup-root as root first"
		run "$FERRY" exec "$fx" /bin/suid
	fi
	[ "$status" -eq 0 ]
	[ "${lines[0]}" != euid=0 ]
	[ "${lines[1]}" = setuid0=refused ]
}

@test "exec: refuses to run when ferry is installed setuid" {
	is_root || skip "only root can make a setuid-root copy of ferry"
	local dir="$BATS_TEST_TMPDIR/suid-ferry"
	mkdir -p "$dir"
	cp "$FERRY" "$dir/ferry"
	chmod 4755 "$dir/ferry"
	chmod a+rx "$BATS_TEST_TMPDIR" "$dir"
	run setpriv --reuid=65534 --regid=65534 --clear-groups -- "$dir/ferry" exec --no-home "$ROOTFS" id -u
	[ "$status" -eq 125 ]
	[[ "$output" == *"installed setuid"* ]]
}

@test "exec: an image whose /etc/passwd points at the host's shadow file leaks nothing" {
	local img="$BATS_TEST_TMPDIR/hostile"
	cp -a "$ROOTFS" "$img"
	rm "$img/etc/passwd" "$img/etc/group"
	ln -s ../../../../../../../../etc/shadow "$img/etc/passwd"
	ln -s /etc/gshadow "$img/etc/group"
	run "$FERRY" exec "$img" cat /etc/passwd /etc/group
	[ "$status" -eq 0 ]
	[[ "$output" == *"$(id -un):x:$(id -u):$(id -g):"* ]]
	if [ -r /etc/shadow ]; then
		local first
		first=$(head -1 /etc/shadow)
		[[ "$output" != *"$first"* ]]
	fi
	# The generated files replace the image's, the image itself is unchanged.
	[ -L "$img/etc/passwd" ] && [ "$(readlink "$img/etc/passwd")" = ../../../../../../../../etc/shadow ]
}

@test "exec: read-only binds hold on the pre-5.12 remount path too" {
	mkdir -p "$BATS_TEST_TMPDIR/data"
	FERRY_TEST_NO_MOUNT_SETATTR=1 run "$FERRY" exec -B "$BATS_TEST_TMPDIR/data:/data:ro" "$ROOTFS" sh -c 'touch /data/x; touch /y; touch '"$BATS_TEST_TMPDIR"'/rw-still'
	[[ "$output" == *"/data/x: Read-only file system"* ]]
	[[ "$output" == *"/y: Read-only file system"* ]]
	[ ! -e "$BATS_TEST_TMPDIR/data/x" ] && [ -e "$BATS_TEST_TMPDIR/rw-still" ]
}

@test "exec without overlay (underlay): the image stays read-only; --writable-tmpfs says why it cannot" {
	FERRY_NO_OVERLAY=1 run "$FERRY" exec --no-home "$ROOTFS" sh -c 'touch /new 2>&1; touch /etc/new 2>&1; touch /bin/new 2>&1; cat /etc/image-file; id -un'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "touch: /new: Read-only file system" ]
	[ "${lines[1]}" = "touch: /etc/new: Read-only file system" ]
	[ "${lines[2]}" = "touch: /bin/new: Read-only file system" ]
	[ "${lines[3]}" = image-file ] && [ "${lines[4]}" = "$(id -un)" ]
	FERRY_NO_OVERLAY=1 run "$FERRY" exec --no-home --writable-tmpfs "$ROOTFS" true
	[ "$status" -eq 125 ] && [[ "$output" == *"--writable-tmpfs needs overlay in a user namespace"* ]]
}
