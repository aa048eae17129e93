#!/usr/bin/env bats
# ferry deploy: images published into a shared directory, from a real
# registry on loopback (doc/deploy.md). Runs as root and as the test user.

load ../lib/common
load ../lib/registry

setup_file() {
	for img in busybox layered debian; do
		[ -f "$FERRY_TEST_IMAGES/$img/index.json" ] || "$FERRY_SRC/tests/lib/build-images" "$FERRY_TEST_IMAGES" "$img"
	done
	registry_start
	registry_push "oci:$FERRY_TEST_IMAGES/busybox:latest" busybox:latest
	registry_push "oci:$FERRY_TEST_IMAGES/layered:latest" layered:latest
	registry_push "oci:$FERRY_TEST_IMAGES/debian:latest" debian:latest
	registry_push "oci:$FERRY_TEST_IMAGES/debian:latest" kill/debian:latest
	for t in 1.0 1.1 2.0; do registry_push "oci:$FERRY_TEST_IMAGES/busybox:latest" wl/bb:$t; done
	export REGISTRY REGISTRY_LOG REGISTRY_DIR
}

teardown_file() {
	registry_stop
}

setup() {
	ferry_test_env
	# a directory every account can reach (BATS_TEST_TMPDIR may be private)
	SHARE=$(mktemp -d /tmp/ferry-deploy.XXXXXX)
	chmod 0755 "$SHARE"
	D=$SHARE/dir
}

teardown() {
	if [ -f "$BATS_TEST_TMPDIR/proxy.pid" ]; then kill "$(cat "$BATS_TEST_TMPDIR/proxy.pid")" 2>/dev/null || true; fi
	if [ -n "${RO_MOUNT:-}" ]; then umount "$RO_MOUNT" 2>/dev/null || true; fi
	[ -n "${SHARE:-}" ] && chmod -R u+w "$SHARE" 2>/dev/null && rm -rf "$SHARE"
	true
}

deploy() { "$FERRY" deploy -q --insecure --to "$D" "$@"; }
requests() { grep -cE '"(GET|HEAD) /v2/' "$REGISTRY_LOG" || true; }
bb_sha() { sha256sum /bin/busybox | cut -c1-64; }

# Everything the sandbox conventions ask of a published root.
assert_conventions() { # ROOTFS
	local r=$1 bad
	bad=$(find "$r" ! -type l -perm /022 | head -3)
	[ -z "$bad" ] || die "group/other writable: $bad"
	bad=$(find "$r" ! -type l -perm /6000 | head -3)
	[ -z "$bad" ] || die "set-id: $bad"
	bad=$(find "$r" ! -type l ! -type f ! -type d | head -3)
	[ -z "$bad" ] || die "not a file, dir or symlink: $bad"
	bad=$(find "$r" ! -type l ! -perm -0004 | head -3)
	[ -z "$bad" ] || die "not o+r: $bad"
	bad=$(find "$r" -type d ! -perm -0005 | head -3)
	[ -z "$bad" ] || die "dir not o+rx: $bad"
	bad=$(find "$r" -type f -perm -0100 ! -perm -0001 | head -3)
	[ -z "$bad" ] || die "u+x but not o+x: $bad"
	for m in proc sys dev tmp home srv cvmfs mnt; do [ -d "$r/$m" ] || die "no /$m"; done
	{ [ -e "$r/etc/passwd" ] || [ -L "$r/etc/passwd" ]; } && [ -e "$r/etc/group" ] || die "no /etc/passwd or /etc/group"
}

@test "deploy: two images on one base: a root each, relative names, files stored once" {
	run deploy "$REGISTRY/busybox:latest" "$REGISTRY/layered:latest"
	[ "$status" -eq 0 ] || die "$output"
	n1=$D/$REGISTRY/busybox:latest n2=$D/$REGISTRY/layered:latest
	[ -L "$n1" ] && [ -L "$n2" ]
	[[ "$(readlink "$n1")" == ../images/*/rootfs ]] || die "$(readlink "$n1")"
	r1=$(readlink -f "$n1") r2=$(readlink -f "$n2")
	[ "$r1" != "$r2" ]
	for r in "$r1" "$r2"; do
		[ -f "$r/../manifest.json" ] && [ -f "$r/../config.json" ]
		[ "$(sha256sum "$r/bin/busybox" | cut -c1-64)" = "$(bb_sha)" ]
		assert_conventions "$r"
	done
	# one inode for busybox: both trees and files/
	[ "$(stat -c %i "$r1/bin/busybox")" = "$(stat -c %i "$r2/bin/busybox")" ]
	[ "$(stat -c %h "$r1/bin/busybox")" -ge 3 ]
	# the second image adds little: du counts each inode once
	one=$(du -sk "$r1" | cut -f1)
	both=$(du -sk "$r1" "$r2" | awk '{s+=$1} END {print s}')
	[ $((both - one)) -lt $((one / 10)) ] || die "second image added $((both - one)) kB to $one kB"
	[ "$(stat -c %a "$D")" = 755 ]
	run "$FERRY" deploy --to "$D" --images --json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r '.[].name' | sort | tr '\n' ' ')" = "$REGISTRY/busybox:latest $REGISTRY/layered:latest " ]
	[ "$(echo "$output" | jq '.[0].deployed > 0')" = true ]
}

@test "deploy: an unchanged image costs one manifest request, nothing is fetched again" {
	deploy "$REGISTRY/layered:latest" >/dev/null
	before=$(requests)
	run deploy "$REGISTRY/layered:latest"
	[ "$status" -eq 0 ]
	[[ "$output" == *"(unchanged)"* ]]
	[ $(($(requests) - before)) -eq 1 ] || die "$(tail -n +$((before + 1)) "$REGISTRY_LOG" | grep -E '"(GET|HEAD) ')"
	tail -1 "$REGISTRY_LOG" | grep -q '"HEAD /v2/layered/manifests/latest'
}

@test "deploy: a read-only DIR serves both images by name (FERRY_STORE_PATH) and by path, unprivileged, no request" {
	deploy "$REGISTRY/busybox:latest" "$REGISTRY/layered:latest" >/dev/null
	if is_root; then
		source "$FERRY_SRC/tests/lib/user.bash"
		ensure_test_user
		mount --bind "$D" "$D" && mount -o remount,ro,bind "$D" "$D"
		RO_MOUNT=$D
		U=$SHARE/user && mkdir -p "$U" && chown "$FERRY_TEST_USER:" "$U"
		runas() { AS_USER_KEEP="FERRY_HOME FERRY_STORE_PATH" FERRY_HOME=$U/store FERRY_STORE_PATH=$D as_user "$@"; }
	else
		chmod a-w "$D"
		U=$SHARE/user && mkdir -p "$U"
		runas() { FERRY_HOME=$U/store FERRY_STORE_PATH=$D "$@"; }
	fi
	touch "$D/probe" 2>/dev/null && die "DIR is writable"
	before=$(requests)
	for img in busybox layered; do
		run runas "$FERRY" exec "$REGISTRY/$img:latest" sh -c 'echo hi from $(id -u)'
		[ "$status" -eq 0 ] || die "$img by name: $output"
		[[ "$output" == "hi from "* ]]
		run runas "$FERRY" exec "$D/$REGISTRY/$img:latest" /bin/true
		[ "$status" -eq 0 ] || die "$img by path: $output"
	done
	[ "$(requests)" -eq "$before" ] || die "the registry was asked: $(tail -n +$((before + 1)) "$REGISTRY_LOG")"
	[ -z "$(ls -A "$U/store/images" 2>/dev/null)" ]
}

@test "deploy: ch-run runs a deployed image from its name" {
	command -v ch-run >/dev/null || skip "ch-run (charliecloud-runtime) is not installed"
	deploy "$REGISTRY/busybox:latest" >/dev/null
	cd "$SHARE"
	if is_root; then
		source "$FERRY_SRC/tests/lib/user.bash"
		ensure_test_user
		run as_user ch-run "$D/$REGISTRY/busybox:latest" -- /bin/busybox echo ch-ok
	else
		run ch-run "$D/$REGISTRY/busybox:latest" -- /bin/busybox echo ch-ok
	fi
	[ "$status" -eq 0 ] || die "$output"
	[ "$output" = ch-ok ]
}

@test "deploy: a moved tag flips the name, a running job keeps its root, --gc waits for the grace period" {
	registry_push "oci:$FERRY_TEST_IMAGES/layered:latest" move/img:latest
	deploy "$REGISTRY/move/img:latest" >/dev/null
	name=$D/$REGISTRY/move/img:latest
	old=$(readlink -f "$name")
	[ -d "$old/opt/tree/becomes-dir" ] # layered's own
	# a job started on the old root, still running when the tag moves
	"$FERRY" exec "$name" sh -c 'sleep 3; test -d /opt/tree/becomes-dir && echo old-root' >"$SHARE/job.out" 2>&1 &
	job=$!
	sleep 1
	registry_push "oci:$FERRY_TEST_IMAGES/busybox:latest" move/img:latest
	run deploy "$REGISTRY/move/img:latest"
	[ "$status" -eq 0 ] || die "$output"
	new=$(readlink -f "$name")
	[ "$new" != "$old" ] || die "name did not move: $output"
	[ ! -d "$new/opt/tree/becomes-dir" ] || die "new root $new has /opt/tree/becomes-dir"
	wait "$job"
	[ "$(cat "$SHARE/job.out")" = old-root ] || die "job: $(cat "$SHARE/job.out")"
	oldhex=$(basename "$(dirname "$old")")
	[ -f "$D/deploy/unnamed/$oldhex" ]
	# within the grace period: kept
	run "$FERRY" deploy --to "$D" --gc --keep-days 1
	[ "$status" -eq 0 ] || die "$output"
	[ -d "$old" ]
	# lost its name two days ago (planted): removed, and the bytes said
	echo $(($(date +%s) - 2 * 86400)) >"$D/deploy/unnamed/$oldhex"
	run "$FERRY" deploy --to "$D" --gc --keep-days 1
	[ "$status" -eq 0 ] || die "$output"
	[[ "$output" == "freed "* ]] && [[ "$output" != "freed 0 B" ]] || die "$output"
	[ ! -e "$old" ] && [ ! -e "$D/deploy/unnamed/$oldhex" ]
	[ "$(sha256sum "$name/bin/busybox" | cut -c1-64)" = "$(bb_sha)" ]
	# files no root links any more went too
	[ -z "$(find "$D/files" -type f -links 1)" ]
}

@test "deploy: --keep-days 0 removes an unnamed root at once; a named one always stays" {
	registry_push "oci:$FERRY_TEST_IMAGES/layered:latest" move0/img:latest
	deploy "$REGISTRY/move0/img:latest" "$REGISTRY/busybox:latest" >/dev/null
	old=$(readlink -f "$D/$REGISTRY/move0/img:latest")
	registry_push "oci:$FERRY_TEST_IMAGES/busybox:latest" move0/img:latest
	deploy "$REGISTRY/move0/img:latest" >/dev/null
	# a name still on the old root (a deploy killed between refs/ and the
	# name) keeps it, even with no grace at all
	n=$D/$REGISTRY/move0/img:latest
	cur=$(readlink "$n")
	ln -sfn "../../${old#$D/}" "$n"
	[ -d "$n/opt/tree/becomes-dir" ]
	run "$FERRY" deploy --to "$D" --gc --keep-days 0
	[ "$status" -eq 0 ] || die "$output"
	[ -d "$n/opt/tree/becomes-dir" ] || die "gc removed the root a name points to"
	ln -sfn "$cur" "$n"
	run "$FERRY" deploy --to "$D" --gc --keep-days 0
	[ "$status" -eq 0 ] || die "$output"
	[ ! -e "$old" ]
	[ -x "$D/$REGISTRY/busybox:latest/bin/busybox" ] && [ -x "$D/$REGISTRY/move0/img:latest/bin/busybox" ]
}

@test "deploy: a wish list with comments, a wildcard and a broken entry: one line for it, the rest deploys" {
	cat >"$SHARE/list" <<EOF
# images for the cluster
$REGISTRY/wl/bb:1.*     # every 1.x
  $REGISTRY/nothere/img:1

$REGISTRY/busybox:latest
EOF
	run deploy --list "$SHARE/list"
	[ "$status" -eq 1 ]
	errs=$(echo "$output" | grep -c '^ferry:')
	[ "$errs" -eq 1 ] || die "$output"
	[[ "$output" == *"nothere/img"* ]]
	for t in 1.0 1.1; do [ -L "$D/$REGISTRY/wl/bb:$t" ] || die "no $t: $output"; done
	[ ! -e "$D/$REGISTRY/wl/bb:2.0" ]
	[ -L "$D/$REGISTRY/busybox:latest" ]
	# --max-tags keeps the last N of the registry's list
	rm -rf "$D"
	run deploy --max-tags 1 "$REGISTRY/wl/bb:*"
	[ "$status" -eq 0 ] || die "$output"
	[ "$(ls "$D/$REGISTRY/wl")" = "bb:2.0" ] || die "$(ls "$D/$REGISTRY/wl") $output"
	run deploy "$REGISTRY/wl/bb:9.*"
	[ "$status" -eq 1 ]
	[[ "$output" == *"no tag matches"* ]]
}

@test "deploy: hooks run around the change; a failure runs --abort and exits non-zero" {
	log=$SHARE/hooks
	hooks=(--begin "echo begin \$FERRY_DEPLOY_DIR >>$log" --publish "echo publish >>$log" --abort "echo abort >>$log")
	run deploy "${hooks[@]}" "$REGISTRY/busybox:latest"
	[ "$status" -eq 0 ] || die "$output"
	[ "$(cat "$log")" = "$(printf 'begin %s\npublish' "$D")" ]
	: >"$log"
	run deploy "${hooks[@]}" "$REGISTRY/busybox:latest" "$REGISTRY/nothere/img:1"
	[ "$status" -eq 1 ]
	[ "$(echo "$output" | grep -c '^ferry:')" -eq 1 ] || die "$output"
	[ "$(cat "$log")" = "$(printf 'begin %s\nabort' "$D")" ]
	# a failing --begin: nothing changes, no publish
	: >"$log"
	run deploy --begin "exit 3" --publish "echo publish >>$log" "$REGISTRY/layered:latest"
	[ "$status" -eq 1 ]
	[[ "$output" == *"--begin hook 'exit 3' exited with 3"* ]]
	[ ! -e "$D/$REGISTRY/layered:latest" ] && [ ! -s "$log" ]
}

start_proxy() { # ARGS...: flaky-proxy in front of the registry; sets PROXY
	local port
	port=$(free_port)
	python3 "$FERRY_SRC/tests/fixtures/flaky-proxy" --port "$port" --upstream "http://$REGISTRY" "$@" \
		>"$BATS_TEST_TMPDIR/proxy.log" 2>&1 &
	echo $! >"$BATS_TEST_TMPDIR/proxy.pid"
	wait_port "$port"
	PROXY=127.0.0.1:$port
}

# Every name resolves to a whole root; no half-made root is in images/.
# (tmp/ is DIR's staging area, never a name: a tree killed while it was
# being extracted stays there until the next run cleans it.)
assert_whole() {
	for n in $(find "$D" \( -path "$D/images" -o -path "$D/tmp" \) -prune -o -type l -print 2>/dev/null); do
		[ -e "$n/bin/sh" ] || die "dangling or partial name $n"
	done
	for r in "$D"/images/*; do
		[ -e "$r" ] || continue
		[ -f "$r/manifest.json" ] && [ -f "$r/config.json" ] && [ -f "$r/info.json" ] || die "partial root $r"
		[ -x "$r/rootfs/usr/bin/python3" ] || [ -x "$r/rootfs/bin/busybox" ] || die "partial rootfs $r"
		assert_conventions "$r/rootfs"
	done
}

@test "deploy: kill -9 at five points, then a re-run completes; readers never see a partial root" {
	deploy "$REGISTRY/busybox:latest" >/dev/null
	start_proxy --rate 4000000
	for t in 0.2 0.6 1.2 2 3; do
		"$FERRY" deploy -q --insecure --to "$D" "$PROXY/kill/debian:latest" >/dev/null 2>&1 &
		pid=$!
		sleep "$t"
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		assert_whole
		[ -x "$D/$REGISTRY/busybox:latest/bin/busybox" ]
	done
	run "$FERRY" deploy -q --insecure --to "$D" "$PROXY/kill/debian:latest"
	[ "$status" -eq 0 ] || die "$output"
	assert_whole
	[ -x "$D/$PROXY/kill/debian:latest/usr/bin/python3" ]
	run "$FERRY" deploy --to "$D" --gc
	[ "$status" -eq 0 ]
	[ -z "$(ls -A "$D/tmp")" ]
}

@test "deploy: two concurrent deploys serialise on DIR's lock; --no-wait fails in one line" {
	deploy "$REGISTRY/busybox:latest" >/dev/null
	# hold the lock as another deploy would
	flock "$D/locks/deploy.lock" sleep 3 &
	holder=$!
	sleep 0.5
	run deploy --no-wait "$REGISTRY/layered:latest"
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ] || die "$output"
	[[ "$output" == *"another deploy into $D is running"*"--no-wait"* ]]
	run "$FERRY" -v deploy -q --insecure --to "$D" "$REGISTRY/layered:latest"
	[ "$status" -eq 0 ] || die "$output"
	[[ "$output" == *"another deploy into $D"* ]] || die "did not say it waits: $output"
	wait "$holder"
	# and two real ones at once, of images sharing a base
	rm -rf "$D"
	deploy "$REGISTRY/layered:latest" >"$SHARE/a.out" 2>&1 &
	a=$!
	deploy "$REGISTRY/busybox:latest" "$REGISTRY/debian:latest" >"$SHARE/b.out" 2>&1 &
	b=$!
	wait "$a" || die "first: $(cat "$SHARE/a.out")"
	wait "$b" || die "second: $(cat "$SHARE/b.out")"
	D=$D assert_whole
	for i in busybox layered debian; do [ -e "$D/$REGISTRY/$i:latest/bin/sh" ] || die "$i"; done
}

@test "deploy: the hostile-layer set of pull holds for deploy" {
	# pull-hostile.bats, with every pull made by deploy into the test's store directory
	w=$BATS_TEST_TMPDIR/wrap
	mkdir -p "$w"
	cat >"$w/ferry" <<EOF
#!/bin/sh
if [ "\$1" = pull ]; then shift; exec "$FERRY" deploy -q --to "\$FERRY_HOME" "\$@"; fi
exec "$FERRY" "\$@"
EOF
	chmod +x "$w/ferry"
	run env FERRY="$w/ferry" bats "$FERRY_SRC/tests/cli/pull-hostile.bats"
	echo "$output"
	# the one expected difference: deploy's modes are the sandbox conventions
	# (0755 for the 0000 dir where pull gives 0700), checked below
	failed=$(echo "$output" | grep '^not ok' | sed 's/^not ok [0-9]* //')
	[ -z "$failed" ] || [ "$failed" = "hostile: setuid and setgid bits are stripped; odd modes become removable" ] ||
		die "failed through deploy: $failed"
	[ "$(echo "$output" | grep -c '^ok ')" -ge 17 ]
}

@test "deploy: hostile modes (setuid, 0000, sticky, 0777) follow the sandbox conventions" {
	"$FERRY_SRC/tests/lib/mktar" "$SHARE/m.tar" '[{"name":"bin/su","data":"x","mode":3565},{"name":"locked","type":"dir","mode":0},
		{"name":"locked/f","data":"y","mode":0},{"name":"sgid","type":"dir","mode":1517},
		{"name":"open","type":"dir","mode":1023},{"name":"open/w","data":"w","mode":511},
		{"name":"etc/passwd","type":"symlink","target":"/nonexistent"}]'
	"$FERRY_SRC/tests/lib/mklayout" "$SHARE/m" "$SHARE/m.tar" >/dev/null
	skopeo copy --quiet --dest-tls-verify=false "oci:$SHARE/m:latest" "docker://$REGISTRY/modes:latest"
	run deploy "$REGISTRY/modes:latest"
	[ "$status" -eq 0 ] || die "$output"
	r=$D/$REGISTRY/modes:latest
	assert_conventions "$r/"
	[ "$(stat -c %a "$r/bin/su")" = 755 ]
	[ "$(stat -c %a "$r/locked")" = 755 ]
	[ "$(stat -c %a "$r/locked/f")" = 644 ]
	[ "$(stat -c %a "$r/open")" = 755 ]
	[ "$(stat -c %a "$r/open/w")" = 755 ]
	# an /etc/passwd the image made a symlink stays one, never followed
	[ "$(readlink "$r/etc/passwd")" = /nonexistent ]
	[ -f "$r/etc/group" ]
}

@test "deploy: files with unusual modes (0664, 0600, 0700, 0775) are stored once across images" {
	# same contents, modes the sandbox conventions change; b adds 0644 and
	# 0755 copies that end with the same modes as b's 0664 and 0700 ones
	"$FERRY_SRC/tests/lib/mktar" "$SHARE/a.tar" '[{"name":"a/f664","data":"six-six-four","mode":436},
		{"name":"a/f600","data":"six-zero-zero","mode":384},{"name":"a/x700","data":"seven","mode":448},
		{"name":"a/x775","data":"seven-seven-five","mode":509}]'
	"$FERRY_SRC/tests/lib/mktar" "$SHARE/b.tar" '[{"name":"b/f664","data":"six-six-four","mode":436},
		{"name":"b/f600","data":"six-zero-zero","mode":384},{"name":"b/x700","data":"seven","mode":448},
		{"name":"b/x775","data":"seven-seven-five","mode":509},{"name":"b/g644","data":"six-six-four","mode":420},
		{"name":"b/y755","data":"seven","mode":493}]'
	for i in a b; do
		"$FERRY_SRC/tests/lib/mklayout" "$SHARE/$i" "$SHARE/$i.tar" >/dev/null
		skopeo copy --quiet --dest-tls-verify=false "oci:$SHARE/$i:latest" "docker://$REGISTRY/oddmodes-$i:latest"
	done
	run deploy "$REGISTRY/oddmodes-a:latest"
	[ "$status" -eq 0 ] || die "$output"
	run deploy "$REGISTRY/oddmodes-b:latest"
	[ "$status" -eq 0 ] || die "$output"
	a=$D/$REGISTRY/oddmodes-a:latest b=$D/$REGISTRY/oddmodes-b:latest
	assert_conventions "$a/"
	assert_conventions "$b/"
	[ "$(stat -c %a "$b/b/f664")" = 644 ] && [ "$(stat -c %a "$b/b/f600")" = 644 ]
	[ "$(stat -c %a "$b/b/x700")" = 755 ] && [ "$(stat -c %a "$b/b/x775")" = 755 ]
	for f in f664 f600 x700 x775; do
		[ "$(stat -c %i "$a/a/$f")" = "$(stat -c %i "$b/b/$f")" ] || die "$f: not shared across the images"
	done
	[ "$(stat -c %i "$b/b/g644")" = "$(stat -c %i "$b/b/f664")" ] || die "0644 and 0664 copies not shared"
	[ "$(stat -c %i "$b/b/y755")" = "$(stat -c %i "$b/b/x700")" ] || die "0755 and 0700 copies not shared"
	# each files/ entry has the mode its name says (none changed behind it)
	for k in "$D"/files/sha256/*; do
		[ "$(stat -c %04a "$k")" = "${k##*-}" ] || die "$k has mode $(stat -c %04a "$k")"
	done
	# the user's own store keeps the layers' modes (u+rw added), unchanged
	run "$FERRY" -q pull --insecure "$REGISTRY/oddmodes-b:latest"
	[ "$status" -eq 0 ] || die "$output"
	[ "$(stat -c %a "$FERRY_HOME/images/$(ls "$FERRY_HOME/images")/rootfs/b/f664")" = 664 ]
}

@test "deploy: several --platform publish one root each, named <tag>-<os>-<arch>; one --platform as for pull" {
	arm=$SHARE/arm
	"$FERRY_SRC/tests/lib/mktar" "$SHARE/arm.tar" '[{"name":"etc/arch","data":"arm64\n"}]'
	"$FERRY_SRC/tests/lib/mklayout" "$arm" --arch arm64 --variant v8 "$SHARE/arm.tar" >/dev/null
	"$FERRY_SRC/tests/lib/mklayout" "$SHARE/multi" --index "$FERRY_TEST_IMAGES/busybox" "$arm"
	skopeo copy --quiet --all --dest-tls-verify=false "oci:$SHARE/multi:latest" "docker://$REGISTRY/multi:latest"
	run deploy --platform linux/amd64 --platform linux/arm64/v8 "$REGISTRY/multi:latest"
	[ "$status" -eq 0 ] || die "$output"
	a=$D/$REGISTRY/multi:latest-linux-amd64 b=$D/$REGISTRY/multi:latest-linux-arm64-v8
	[ -x "$a/bin/busybox" ] && [ ! -e "$a/etc/arch" ]
	[ "$(cat "$b/etc/arch")" = arm64 ]
	[ "$(readlink -f "$a")" != "$(readlink -f "$b")" ]
	assert_conventions "$b/"
	# both found by name in DIR as a read-only store
	FERRY_HOME=$SHARE/own FERRY_STORE_PATH=$D run "$FERRY" inspect --json "$REGISTRY/multi:latest-linux-arm64-v8"
	[ "$status" -eq 0 ] || die "$output"
	[ "$(echo "$output" | jq -r .rootfs)" = "$(readlink -f "$b")" ]
	# unchanged: nothing new, and no by-digest names left behind
	run deploy --platform linux/amd64 --platform linux/arm64/v8 "$REGISTRY/multi:latest"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | grep -c '(unchanged)')" -eq 2 ] || die "$output"
	[ -z "$(find "$D/refs" -name '@*')" ]
	# a single --platform picks from the index as pull does, under the plain tag
	run deploy --platform linux/arm64/v8 "$REGISTRY/multi:latest"
	[ "$status" -eq 0 ] || die "$output"
	[ "$(cat "$D/$REGISTRY/multi:latest/etc/arch")" = arm64 ]
}
