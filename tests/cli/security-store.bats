#!/usr/bin/env bats
# The store against another local user and against hostile archives:
# the store is private (root 0700, nothing in it writable by others, blobs
# not readable by others), a files/ entry is reused only when it is the
# store owner's own, docker-archive members never lead to host files,
# sparse files keep their holes and an image's apparent size is capped,
# and HOME unset never puts the store in /tmp.
# Tests that need a second account create it (root only) and skip otherwise.

load ../lib/common

SECOND_USER=ferrytest2

setup() {
	ferry_test_env
}

teardown() {
	if [ -n "${SHARED:-}" ] && [ -d "$SHARED" ]; then
		rm -rf "$SHARED"
	fi
}

need_root() {
	is_root || skip "needs root to create a second account and switch users"
	# shellcheck source=../lib/user.bash
	source "$FERRY_SRC/tests/lib/user.bash"
	ensure_test_user
	if ! id -u "$SECOND_USER" >/dev/null 2>&1; then
		useradd --no-create-home --shell /usr/sbin/nologin --user-group "$SECOND_USER" 2>/dev/null ||
			id -u "$SECOND_USER" >/dev/null || skip "cannot create $SECOND_USER"
	fi
}

# Run as a given account with a minimal environment.
as() { # USER CMD...
	local u=$1
	shift
	setpriv --reuid="$u" --regid="$u" --init-groups -- env -i PATH=/usr/bin:/bin HOME=/nonexistent "$@"
}

# A directory both accounts can traverse (BATS_TEST_TMPDIR is root's own).
shared_dir() {
	SHARED=$(mktemp -d /tmp/ferry-security.XXXXXX)
	chmod 0755 "$SHARED"
}

# layout DIR SPEC: a one-layer OCI layout from a mktar spec
layout() {
	"$FERRY_SRC/tests/lib/mktar" "$1.tar" "$2"
	"$FERRY_SRC/tests/lib/mklayout" "$1" "$1.tar" >/dev/null
	chmod -R a+rX "$1"
}

@test "store: another user can neither read blobs nor rewrite a 0777 file's files/ entry" {
	need_root
	shared_dir
	chown "$FERRY_TEST_USER:" "$SHARED"
	layout "$SHARED/img" '[{"name":"opt/bin","type":"dir"},
		{"name":"opt/bin/tool","data":"#!/bin/sh\necho genuine\n","mode":511}]'
	store=$SHARED/store
	run as "$FERRY_TEST_USER" FERRY_HOME="$store" "$FERRY" -q pull "oci:$SHARED/img"
	[ "$status" -eq 0 ] || die "pull as $FERRY_TEST_USER: $output"
	[ "$(stat -c %a "$store")" = 700 ]
	hex=$(printf '#!/bin/sh\necho genuine\n' | sha256sum | cut -d' ' -f1)
	entry=$store/files/sha256/$hex-0777
	[ -f "$entry" ]
	# the image keeps the mode its layer gave it
	[ "$(stat -c %a "$store"/images/*/rootfs/opt/bin/tool)" = 777 ]
	# the second user: no blob can be read, the entry cannot be written
	for b in "$store"/blobs/sha256/*; do
		run as "$SECOND_USER" cat "$b"
		[ "$status" -ne 0 ] || die "$SECOND_USER read $b"
	done
	run as "$SECOND_USER" sh -c "echo 'echo trojan' > '$entry'"
	[ "$status" -ne 0 ] || die "$SECOND_USER overwrote $entry"
	[ "$(cat "$entry")" = "$(printf '#!/bin/sh\necho genuine')" ]
	# and nothing in the store is writable by group or others
	[ -z "$(find "$store" -type d -perm /022)" ] || die "group/other-writable dirs: $(find "$store" -type d -perm /022)"
	# blobs are not readable by others either, whatever the root's mode
	[ -z "$(find "$store/blobs" -type f -perm /044)" ] || die "readable blobs"
}

@test "store: a files/ entry planted by another user is not reused" {
	need_root
	"$FERRY" images >/dev/null
	hex=$(printf 'genuine\n' | sha256sum | cut -d' ' -f1)
	planted=$FERRY_HOME/files/sha256/$hex-0644
	echo evil >"$planted"
	chown "$SECOND_USER:" "$planted"
	chmod 0644 "$planted"
	# and one of ours whose mode does not match its name
	hex2=$(printf 'second\n' | sha256sum | cut -d' ' -f1)
	echo tampered >"$FERRY_HOME/files/sha256/$hex2-0644"
	chmod 0666 "$FERRY_HOME/files/sha256/$hex2-0644"
	layout "$BATS_TEST_TMPDIR/img" '[{"name":"etc","type":"dir"},{"name":"etc/motd","data":"genuine\n"},
		{"name":"etc/two","data":"second\n"}]'
	run "$FERRY" -q pull "oci:$BATS_TEST_TMPDIR/img"
	[ "$status" -eq 0 ] || die "$output"
	r=$("$FERRY" inspect --json "oci:$BATS_TEST_TMPDIR/img" | jq -r .rootfs)
	[ "$(cat "$r/etc/motd")" = genuine ]
	[ "$(cat "$r/etc/two")" = second ]
	# the entry is the store's own copy now
	[ "$(stat -c %U "$planted")" = "$(id -un)" ]
	[ "$(cat "$planted")" = genuine ]
}

@test "store: a store root created open to others (0777) is made private, with a warning" {
	rm -rf "$FERRY_HOME"
	mkdir -m 0777 "$FERRY_HOME"
	chmod 0777 "$FERRY_HOME"
	mkdir -p "$FERRY_HOME/blobs/sha256"
	chmod 0777 "$FERRY_HOME/blobs"
	run "$FERRY" images
	[ "$status" -eq 0 ]
	[[ "$output" == *"was open to other users (mode 0777): made it private (0700)"* ]] || die "$output"
	[ "$(stat -c %a "$FERRY_HOME")" = 700 ]
	[ "$(stat -c %a "$FERRY_HOME/blobs")" = 755 ]
	# once private, nothing more is said
	run "$FERRY" images
	[ "$status" -eq 0 ]
	[[ "$output" != *warning* ]]
}

@test "store: a fresh store is created 0700; an empty directory made for it is tightened silently" {
	rm -rf "$FERRY_HOME"
	run "$FERRY" images
	[ "$status" -eq 0 ]
	[ "$(stat -c %a "$FERRY_HOME")" = 700 ]
	rm -rf "$FERRY_HOME"
	mkdir -m 0755 "$FERRY_HOME"
	run "$FERRY" images
	[ "$status" -eq 0 ]
	[[ "$output" != *warning* ]]
	[ "$(stat -c %a "$FERRY_HOME")" = 700 ]
}

@test "store: a store root that belongs to another user is refused" {
	need_root
	shared_dir
	mkdir "$SHARED/theirs"
	chown "$SECOND_USER:" "$SHARED/theirs"
	chmod 0777 "$SHARED/theirs"
	FERRY_HOME=$SHARED/theirs run "$FERRY" images
	[ "$status" -eq 1 ]
	[[ "$output" == *"belongs to uid $(id -u "$SECOND_USER"), not to you"* ]] || die "$output"
	[ "$(echo "$output" | wc -l)" -eq 1 ]
	[ -z "$(ls -A "$SHARED/theirs")" ]
}

@test "store: HOME unset never means /tmp: another user's /tmp/.local/share/ferry is not used" {
	need_root
	# another user pre-creates the directory a HOME-less ferry once used
	if [ -e /tmp/.local ]; then
		[ "$(stat -c %U /tmp/.local)" = "$SECOND_USER" ] || skip "/tmp/.local exists and is not ours to plant"
	fi
	as "$SECOND_USER" mkdir -p /tmp/.local/share/ferry
	chmod -R 0777 /tmp/.local
	home=$(getent passwd "$FERRY_TEST_USER" | cut -d: -f6)
	run setpriv --reuid="$FERRY_TEST_USER" --regid="$FERRY_TEST_USER" --init-groups -- \
		env -i PATH=/usr/bin:/bin FERRY_TEST_IMAGES="$FERRY_TEST_IMAGES" \
		"$FERRY" -q pull "oci:$FERRY_TEST_IMAGES/busybox"
	planted=$(ls -A /tmp/.local/share/ferry)
	rm -rf /tmp/.local
	[ "$status" -eq 0 ] || die "$output"
	[ -z "$planted" ] || die "ferry wrote into /tmp/.local/share/ferry: $planted"
	[ -d "$home/.local/share/ferry/images" ]
	[ "$(stat -c %a "$home/.local/share/ferry")" = 700 ]
	rm -rf "$home/.local/share/ferry"
}

@test "docker-archive: a member that is a link to a host file is refused, its content never stored" {
	echo '{"auths":{"r.example":{"auth":"c2VjcmV0OnB3"}}}' >"$BATS_TEST_TMPDIR/secret.json"
	chmod 0600 "$BATS_TEST_TMPDIR/secret.json"
	python3 - "$BATS_TEST_TMPDIR/evil.tar" "$BATS_TEST_TMPDIR/secret.json" <<'PY'
import io, json, sys, tarfile
out, secret = sys.argv[1], sys.argv[2]
layer = io.BytesIO()
with tarfile.open(fileobj=layer, mode="w") as t:
    i = tarfile.TarInfo("hello"); d = b"hi\n"; i.size = len(d); t.addfile(i, io.BytesIO(d))
def add(t, name, data=None, link=None):
    i = tarfile.TarInfo(name)
    if link is not None:
        i.type, i.linkname = tarfile.SYMTYPE, link
        t.addfile(i)
    else:
        i.size = len(data); t.addfile(i, io.BytesIO(data))
with tarfile.open(out, "w") as t:
    add(t, "manifest.json", json.dumps([{"Config": "cfg.json", "RepoTags": ["x:1"], "Layers": ["l/layer.tar"]}]).encode())
    add(t, "cfg.json", link=secret)
    add(t, "l/layer.tar", layer.getvalue())
PY
	run "$FERRY" pull "docker-archive:$BATS_TEST_TMPDIR/evil.tar"
	[ "$status" -eq 1 ]
	[[ "$output" == *"cfg.json is a link that leaves the archive"* ]] || die "$output"
	[ "$(echo "$output" | wc -l)" -eq 1 ]
	! grep -rqs c2VjcmV0OnB3 "$FERRY_HOME" || die "the host file reached the store"
	# a relative link climbing out is refused the same way
	python3 - "$BATS_TEST_TMPDIR/evil2.tar" <<'PY'
import io, json, sys, tarfile
with tarfile.open(sys.argv[1], "w") as t:
    d = json.dumps([{"Config": "cfg.json", "Layers": []}]).encode()
    i = tarfile.TarInfo("manifest.json"); i.size = len(d); t.addfile(i, io.BytesIO(d))
    i = tarfile.TarInfo("cfg.json"); i.type, i.linkname = tarfile.SYMTYPE, "sub/../../../../../../etc/passwd"; t.addfile(i)
PY
	run "$FERRY" pull "docker-archive:$BATS_TEST_TMPDIR/evil2.tar"
	[ "$status" -eq 1 ]
	[[ "$output" == *"cfg.json is a link that leaves the archive"* ]] || die "$output"
}

@test "docker-archive: links inside the archive (docker save's layer.tar -> blobs/) still import" {
	"$FERRY" -q pull "oci:$FERRY_TEST_IMAGES/busybox" >/dev/null
	r=$("$FERRY" inspect --json "oci:$FERRY_TEST_IMAGES/busybox" | jq -r .rootfs)
	tar -C "$r" -cf "$BATS_TEST_TMPDIR/layer.tar" .
	python3 - "$BATS_TEST_TMPDIR/good.tar" "$BATS_TEST_TMPDIR/layer.tar" <<'PY'
import hashlib, io, json, sys, tarfile
out, layer = sys.argv[1], open(sys.argv[2], "rb").read()
h = hashlib.sha256(layer).hexdigest()
cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                  "rootfs": {"type": "layers", "diff_ids": ["sha256:" + h]}}).encode()
ch = hashlib.sha256(cfg).hexdigest()
def add(t, name, data=None, link=None):
    i = tarfile.TarInfo(name)
    if link is not None:
        i.type, i.linkname = tarfile.SYMTYPE, link; t.addfile(i)
    else:
        i.size = len(data); t.addfile(i, io.BytesIO(data))
with tarfile.open(out, "w") as t:
    add(t, "blobs/sha256/" + h, layer)
    add(t, "blobs/sha256/" + ch, cfg)
    add(t, "x/layer.tar", link="../blobs/sha256/" + h)
    add(t, ch + ".json", link="blobs/sha256/" + ch)
    add(t, "manifest.json", json.dumps([{"Config": ch + ".json", "RepoTags": ["x:1"], "Layers": ["x/layer.tar"]}]).encode())
PY
	run "$FERRY" -q pull "docker-archive:$BATS_TEST_TMPDIR/good.tar"
	[ "$status" -eq 0 ] || die "$output"
	run "$FERRY" inspect --json "docker-archive:$BATS_TEST_TMPDIR/good.tar"
	[ "$status" -eq 0 ]
	[ -x "$(echo "$output" | jq -r .rootfs)/bin/busybox" ]
}

@test "sparse: a layer holding a 1 GiB sparse file keeps its holes; --max-image-size caps the apparent size" {
	mkdir -p "$BATS_TEST_TMPDIR/sp/data"
	truncate -s 1G "$BATS_TEST_TMPDIR/sp/data/big"
	printf 'head' | dd of="$BATS_TEST_TMPDIR/sp/data/big" conv=notrunc status=none
	printf 'tail' | dd of="$BATS_TEST_TMPDIR/sp/data/big" bs=1 seek=$((512 * 1024 * 1024)) conv=notrunc status=none
	tar --sparse -C "$BATS_TEST_TMPDIR/sp" -cf "$BATS_TEST_TMPDIR/sparse.tar" data
	rm -rf "$BATS_TEST_TMPDIR/sp"
	[ "$(stat -c %s "$BATS_TEST_TMPDIR/sparse.tar")" -lt 1048576 ]
	"$FERRY_SRC/tests/lib/mklayout" "$BATS_TEST_TMPDIR/sparse" "$BATS_TEST_TMPDIR/sparse.tar" >/dev/null
	run "$FERRY" pull --max-image-size 512M "oci:$BATS_TEST_TMPDIR/sparse"
	[ "$status" -eq 1 ]
	[[ "$output" == *"data/big: the image's files add up to more than 536870912 bytes"*"--max-image-size"* ]] || die "$output"
	[ "$(echo "$output" | wc -l)" -eq 1 ]
	[ -z "$(ls -A "$FERRY_HOME/images")" ]
	FERRY_MAX_IMAGE_SIZE=100M run "$FERRY" pull "oci:$BATS_TEST_TMPDIR/sparse"
	[ "$status" -eq 1 ]
	[[ "$output" == *"more than 104857600 bytes"* ]] || die "$output"
	run "$FERRY" pull --max-image-size x "oci:$BATS_TEST_TMPDIR/sparse"
	[ "$status" -eq 2 ]
	run "$FERRY" -q pull "oci:$BATS_TEST_TMPDIR/sparse"
	[ "$status" -eq 0 ] || die "$output"
	f=$("$FERRY" inspect --json "oci:$BATS_TEST_TMPDIR/sparse" | jq -r .rootfs)/data/big
	[ "$(stat -c %s "$f")" -eq 1073741824 ]
	# holes kept: a few blocks, not a gigabyte
	[ "$(($(stat -c %b "$f") * $(stat -c %B "$f")))" -lt 16777216 ] || die "$(du -h "$f")"
	[ "$(head -c 4 "$f")" = head ]
	[ "$(dd if="$f" bs=1 skip=$((512 * 1024 * 1024)) count=4 status=none)" = tail ]
}

@test "store: a store its owner opens (chmod 755 of the root) serves another user read-only" {
	need_root
	shared_dir
	FERRY_HOME=$SHARED/site "$FERRY" -q pull "oci:$FERRY_TEST_IMAGES/busybox" >/dev/null
	chmod 0755 "$SHARED/site"
	mkdir "$SHARED/own"
	chown "$FERRY_TEST_USER:" "$SHARED/own"
	run as "$FERRY_TEST_USER" FERRY_HOME="$SHARED/own/store" FERRY_STORE_PATH="$SHARED/site" \
		"$FERRY" inspect --json "oci:$FERRY_TEST_IMAGES/busybox"
	[ "$status" -eq 0 ] || die "$output"
	r=$(echo "$output" | jq -r .rootfs)
	[[ "$r" == "$SHARED/site/"* ]]
	run as "$FERRY_TEST_USER" test -x "$r/bin/busybox"
	[ "$status" -eq 0 ]
	run as "$FERRY_TEST_USER" sh -c "echo x > '$r/bin/busybox'"
	[ "$status" -ne 0 ]
	# the site's store was only read
	[ "$(stat -c %a "$SHARED/site")" = 755 ]
}
