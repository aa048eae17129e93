#!/usr/bin/env bats
# ferry pull from a real registry (Debian's docker-registry on loopback), over
# TLS with a throw-away CA and over plain HTTP, plus the store commands.

load ../lib/common
load ../lib/registry

setup_file() {
	for img in busybox layered; do
		[ -f "$FERRY_TEST_IMAGES/$img/index.json" ] || "$FERRY_SRC/tests/lib/build-images" "$FERRY_TEST_IMAGES" "$img"
	done
	# an arm64 image and a two-platform index over it and busybox
	local arm=$BATS_FILE_TMPDIR/arm
	"$FERRY_SRC/tests/lib/mktar" "$BATS_FILE_TMPDIR/arm.tar" '[{"name":"etc/arch","data":"arm64\n"}]'
	"$FERRY_SRC/tests/lib/mklayout" "$arm" --arch arm64 --variant v8 "$BATS_FILE_TMPDIR/arm.tar" >/dev/null
	"$FERRY_SRC/tests/lib/mklayout" "$BATS_FILE_TMPDIR/multi" --index "$FERRY_TEST_IMAGES/busybox" "$arm"

	registry_start
	HTTP_REGISTRY=$REGISTRY HTTP_LOG=$REGISTRY_LOG HTTP_DIR=$REGISTRY_DIR
	registry_push "oci:$FERRY_TEST_IMAGES/busybox:latest" busybox:latest
	registry_push "oci:$FERRY_TEST_IMAGES/busybox:latest" conc/busybox:latest
	registry_push "oci:$FERRY_TEST_IMAGES/busybox:latest" kill/busybox:latest
	registry_push "oci:$FERRY_TEST_IMAGES/busybox:latest" flaky/busybox:latest
	registry_push "oci:$FERRY_TEST_IMAGES/busybox:latest" tamper/busybox:latest
	registry_start --tls
	registry_push "oci:$FERRY_TEST_IMAGES/busybox:latest" busybox:latest
	registry_push "oci:$FERRY_TEST_IMAGES/layered:latest" layered:latest
	skopeo copy --quiet --all --dest-tls-verify=false "oci:$BATS_FILE_TMPDIR/multi:latest" "docker://$REGISTRY/multi:latest"
	export HTTP_REGISTRY HTTP_LOG HTTP_DIR
	# registry_stop only knows the last one started
	echo "$HTTP_DIR" >"$BATS_FILE_TMPDIR/http_dir"
}

teardown_file() {
	registry_stop
	REGISTRY_DIR=$(cat "$BATS_FILE_TMPDIR/http_dir" 2>/dev/null) registry_stop
	if [ -f "$BATS_FILE_TMPDIR/proxy.pid" ]; then kill "$(cat "$BATS_FILE_TMPDIR/proxy.pid")" 2>/dev/null || true; fi
}

setup() {
	ferry_test_env
}

teardown() {
	if [ -f "$BATS_TEST_TMPDIR/proxy.pid" ]; then kill "$(cat "$BATS_TEST_TMPDIR/proxy.pid")" 2>/dev/null || true; fi
	undo_readonly
}

# Make a directory of the store refuse writes: a read-only bind mount as
# root (whom modes do not stop), mode 0500 otherwise. undo_readonly reverts.
make_readonly() {
	RO_DIR=$1
	if is_root; then
		mount --bind "$RO_DIR" "$RO_DIR" && mount -o remount,ro,bind "$RO_DIR" "$RO_DIR"
	else
		chmod 0500 "$RO_DIR"
	fi
}
undo_readonly() {
	[ -n "${RO_DIR:-}" ] || return 0
	if is_root; then umount "$RO_DIR" 2>/dev/null || true; else chmod 0755 "$RO_DIR"; fi
	RO_DIR=
}

busybox_sha() { sha256sum "$FERRY_TEST_IMAGES/../test-images/busybox" >/dev/null 2>&1; sha256sum /bin/busybox | cut -c1-64; }

store_names() { "$FERRY" images --json | jq -r '.[].name' | sort; }

@test "pull: TLS registry with an unknown CA fails in one line with a hint" {
	run "$FERRY" pull "$REGISTRY/busybox:latest"
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == *"certificate"*"certs.d/$REGISTRY/ca.crt"* ]]
	[ -z "$(ls -A "$FERRY_HOME/images")" ]
}

@test "pull: TLS registry trusted through certs.d: by tag, prints the digest" {
	registry_trust
	run "$FERRY" pull "docker://$REGISTRY/busybox:latest"
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^sha256:[0-9a-f]{64}$ ]]
	digest=$output
	run "$FERRY" inspect --json "$REGISTRY/busybox"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r .digest)" = "$digest" ]
	r=$(echo "$output" | jq -r .rootfs)
	[ "$(sha256sum "$r/bin/busybox" | cut -c1-64)" = "$(busybox_sha)" ]
	[ "$(readlink "$r/bin/ls")" = /bin/busybox ]
	[ "$(store_names)" = "$REGISTRY/busybox:latest" ]
}

@test "pull: system trust anchors are read from the hashed directory (SSL_CERT_DIR), lazily" {
	# a hashed certificate directory holding only the test CA, as
	# /etc/ssl/certs holds the system's: ferry verifies with it, no certs.d
	d=$BATS_TEST_TMPDIR/certs
	mkdir -p "$d"
	cp "$REGISTRY_CA" "$d/test-ca.pem"
	ln -s test-ca.pem "$d/$(openssl x509 -hash -noout -in "$REGISTRY_CA").0"
	SSL_CERT_DIR=$d run "$FERRY" pull "$REGISTRY/busybox"
	[ "$status" -eq 0 ] || die "$output"
	[[ "$output" =~ ^sha256: ]]
	# and without the link, the same CA file is not found: a directory, not a bundle
	rm "$d"/*.0
	rm -rf "$FERRY_HOME"
	SSL_CERT_DIR=$d run "$FERRY" pull "$REGISTRY/busybox"
	[ "$status" -eq 1 ]
	[[ "$output" == *"certs.d"* ]]
}

@test "pull: --insecure accepts an unverified certificate for that pull only" {
	run "$FERRY" pull --insecure "$REGISTRY/busybox:latest"
	[ "$status" -eq 0 ]
	rm -rf "$FERRY_HOME"
	run "$FERRY" pull "$REGISTRY/busybox:latest"
	[ "$status" -eq 1 ]
}

@test "pull: plain HTTP needs --insecure or the registry marked insecure in config.json" {
	run "$FERRY" pull "$HTTP_REGISTRY/busybox"
	[ "$status" -eq 1 ]
	run "$FERRY" pull --insecure "$HTTP_REGISTRY/busybox"
	[ "$status" -eq 0 ]
	rm -rf "$FERRY_HOME"
	mkdir -p "$XDG_CONFIG_HOME/ferry"
	echo '{"registries": {"'"$HTTP_REGISTRY"'": {"insecure": true}}}' >"$XDG_CONFIG_HOME/ferry/config.json"
	run "$FERRY" pull "$HTTP_REGISTRY/busybox"
	[ "$status" -eq 0 ]
}

@test "pull: by digest, and the image resolves by digest and by id prefix" {
	registry_trust
	digest=$("$FERRY" pull "$REGISTRY/busybox:latest")
	rm -rf "$FERRY_HOME"
	run "$FERRY" pull "$REGISTRY/busybox@$digest"
	[ "$status" -eq 0 ]
	[ "$output" = "$digest" ]
	run "$FERRY" inspect "$REGISTRY/busybox@$digest"
	[ "$status" -eq 0 ]
	run "$FERRY" inspect "${digest:7:12}"
	[ "$status" -eq 0 ]
	run "$FERRY" pull "$REGISTRY/busybox@sha256:$(printf '0%.0s' $(seq 64))"
	[ "$status" -eq 1 ]
	[[ "$output" == *"HTTP 404"* ]]
}

@test "pull: the progress bar is drawn by the CLI on a terminal, never with -q or without a terminal" {
	command -v script >/dev/null || skip "script(1) (util-linux) is not installed"
	script -qec "$(printf %q "$FERRY") pull --insecure $HTTP_REGISTRY/busybox" /dev/null >"$BATS_TEST_TMPDIR/tty.out"
	tr '\r' '\n' <"$BATS_TEST_TMPDIR/tty.out" | grep -q 'downloading.*100%' || die "no bar: $(cat -v "$BATS_TEST_TMPDIR/tty.out")"
	rm -rf "$FERRY_HOME"
	script -qec "$(printf %q "$FERRY") pull -q --insecure $HTTP_REGISTRY/busybox" /dev/null >"$BATS_TEST_TMPDIR/tty-q.out"
	! grep -q downloading "$BATS_TEST_TMPDIR/tty-q.out"
	rm -rf "$FERRY_HOME"
	run "$FERRY" pull --insecure "$HTTP_REGISTRY/busybox"
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^sha256:[0-9a-f]{64}$ ]]
}

@test "exec: the pull it makes of an image not yet stored draws the same bar on a terminal" {
	command -v script >/dev/null || skip "script(1) (util-linux) is not installed"
	registry_trust
	cd "$BATS_TEST_TMPDIR"
	script -qec "$(printf %q "$FERRY") exec $REGISTRY/busybox:latest /bin/busybox echo ran-it" /dev/null >"$BATS_TEST_TMPDIR/tty.out"
	tr '\r' '\n' <"$BATS_TEST_TMPDIR/tty.out" | grep -q 'downloading.*100%' || die "no bar: $(cat -v "$BATS_TEST_TMPDIR/tty.out")"
	grep -q ran-it "$BATS_TEST_TMPDIR/tty.out"
}

@test "pull: a warm pull asks the registry once and downloads nothing" {
	registry_trust
	first=$("$FERRY" pull "$REGISTRY/busybox:latest")
	before=$(grep -c '"GET /v2/busybox/blobs/' "$REGISTRY_LOG" || true)
	mbefore=$(grep -c '"[A-Z]* /v2/busybox/manifests/' "$REGISTRY_LOG" || true)
	run "$FERRY" pull "$REGISTRY/busybox:latest"
	[ "$status" -eq 0 ]
	[ "$output" = "$first" ]
	[ "$(grep -c '"GET /v2/busybox/blobs/' "$REGISTRY_LOG")" -eq "$before" ]
	[ "$(grep -c '"[A-Z]* /v2/busybox/manifests/' "$REGISTRY_LOG")" -eq $((mbefore + 1)) ]
}

@test "pull: layered image: whiteouts, opaque dir, dir/file swaps applied" {
	registry_trust
	run "$FERRY" pull "$REGISTRY/layered"
	[ "$status" -eq 0 ]
	r=$("$FERRY" inspect --json "$REGISTRY/layered" | jq -r .rootfs)
	[ ! -e "$r/etc/doomed" ]
	[ -f "$r/opt/tree/becomes-file" ]
	[ -d "$r/opt/tree/becomes-dir" ]
	[ ! -e "$r/etc/conf.d/old-a" ]
	# alone in the store, an image shares nothing with other images, even
	# though its hardlink (opt/added-hardlink) gives one inode several links
	[ "$("$FERRY" images --json | jq '.[0].shared')" -eq 0 ]
	# two images share busybox: the second adds little to the store
	"$FERRY" pull "$REGISTRY/busybox" >/dev/null
	shared=$("$FERRY" images --json | jq '[.[].shared] | min')
	[ "$shared" -gt 1000000 ]
}

@test "pull: multi-platform index picks the host's platform, --platform another" {
	registry_trust
	run "$FERRY" pull "$REGISTRY/multi"
	[ "$status" -eq 0 ]
	host=$output
	[ -x "$("$FERRY" inspect --json "$REGISTRY/multi" | jq -r .rootfs)/bin/busybox" ]
	run "$FERRY" pull --platform linux/arm64 "$REGISTRY/multi:latest"
	[ "$status" -eq 0 ]
	[ "$output" != "$host" ]
	[ "$(cat "$FERRY_HOME/images/${output#sha256:}/rootfs/etc/arch")" = arm64 ]
	run "$FERRY" pull --platform linux/s390x "$REGISTRY/multi"
	[ "$status" -eq 1 ]
	[[ "$output" == *"no image for platform linux/s390x"*"linux/arm64/v8"* ]]
}

@test "pull: 16 concurrent pulls of one image all succeed, each blob fetched once" {
	pids=()
	for i in $(seq 16); do
		"$FERRY" pull --insecure "$HTTP_REGISTRY/conc/busybox" >"$BATS_TEST_TMPDIR/out.$i" 2>&1 &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p"; done
	first=$(cat "$BATS_TEST_TMPDIR/out.1")
	[[ "$first" =~ ^sha256: ]]
	for i in $(seq 16); do
		[ "$(tail -1 "$BATS_TEST_TMPDIR/out.$i")" = "$first" ] || die "pull $i: $(cat "$BATS_TEST_TMPDIR/out.$i")"
	done
	m=$FERRY_HOME/images/${first#sha256:}/manifest.json
	for d in $(jq -r '.config.digest, .layers[].digest' "$m"); do
		n=$(REGISTRY_LOG=$HTTP_LOG registry_blob_gets conc/busybox "$d")
		[ "$n" -eq 1 ] || die "blob $d: registry logged $n GETs"
		n=$(grep -c "\"GET /v2/conc/busybox/blobs/$d " "$HTTP_LOG" || true)
		[ "$n" -eq 1 ] || die "blob $d fetched $n times"
	done
	[ "$("$FERRY" images --json | jq length)" -eq 1 ]
}

start_proxy() { # ARGS...: flaky-proxy in front of the HTTP registry; sets PROXY
	local port
	port=$(free_port)
	python3 "$FERRY_SRC/tests/fixtures/flaky-proxy" --port "$port" --upstream "http://$HTTP_REGISTRY" "$@" \
		>"$BATS_TEST_TMPDIR/proxy.log" 2>&1 &
	echo $! >"$BATS_TEST_TMPDIR/proxy.pid"
	wait_port "$port"
	PROXY=127.0.0.1:$port
}

@test "pull: a registry that answers 429 with Retry-After, then 200, is retried" {
	start_proxy --busy 2 --retry-after 1
	run "$FERRY" -v pull --insecure "$PROXY/flaky/busybox"
	[ "$status" -eq 0 ]
	[ "$(grep -c '^429 GET' "$BATS_TEST_TMPDIR/proxy.log")" -eq 2 ]
	[[ "$output" == *"HTTP 429"*"retrying in 1.0 s"* || "$output" == *"server busy, retrying in 1.0 s"* ]]
}

@test "pull: a registry that keeps answering 429 fails with a clear message" {
	start_proxy --busy 1000 --retry-after 0
	run "$FERRY" pull --insecure "$PROXY/flaky/busybox"
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == *"HTTP 429"*"mirror"* ]]
	[ -z "$(ls -A "$FERRY_HOME/images")" ]
}

@test "pull: SIGKILL at several points, then a re-run completes; never a broken image" {
	start_proxy --rate 1500000
	for t in 0.1 0.3 0.6 0.9 1.2; do
		"$FERRY" pull --insecure "$PROXY/kill/busybox" >/dev/null 2>&1 &
		pid=$!
		sleep "$t"
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		# whatever is listed is whole
		for r in "$FERRY_HOME"/images/*/rootfs; do
			[ -e "$r" ] || continue
			[ "$(sha256sum "$r/bin/busybox" | cut -c1-64)" = "$(busybox_sha)" ]
		done
	done
	run "$FERRY" pull --insecure "$PROXY/kill/busybox"
	echo "$output"
	[ "$status" -eq 0 ]
	r=$("$FERRY" inspect --json "$PROXY/kill/busybox" | jq -r .rootfs)
	[ "$(sha256sum "$r/bin/busybox" | cut -c1-64)" = "$(busybox_sha)" ]
	grep -q '^206 GET' "$BATS_TEST_TMPDIR/proxy.log" || grep -q '^200 GET' "$BATS_TEST_TMPDIR/proxy.log"
	run "$FERRY" prune
	[ "$status" -eq 0 ]
	[ -z "$(ls -A "$FERRY_HOME/tmp")" ]
}

@test "pull: the tree is extracted while its layer downloads, and goes in only once the blob is verified" {
	start_proxy --rate 200000
	m=$(skopeo inspect --raw --tls-verify=false "docker://$HTTP_REGISTRY/busybox")
	hex=$(echo "$m" | jq -r '.layers[0].digest') hex=${hex#sha256:}
	size=$(echo "$m" | jq -r '.layers[0].size')
	"$FERRY" -q pull --insecure "$PROXY/busybox" >"$BATS_TEST_TMPDIR/pull.out" 2>&1 &
	pid=$!
	seen=0
	for _ in $(seq 600); do
		# images/ first: it fills only after the blob is complete, so
		# "empty, then the blob still short" holds at one moment
		if [ -z "$(ls -A "$FERRY_HOME/images" 2>/dev/null)" ] && compgen -G "$FERRY_HOME/tmp/image-*/rootfs/bin" >/dev/null &&
			p=$FERRY_HOME/tmp/blob-$hex.partial && [ -f "$p" ] && [ "$(stat -c %s "$p")" -lt "$size" ]; then
			seen=1
			break
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	wait "$pid" || die "pull failed: $(cat "$BATS_TEST_TMPDIR/pull.out")"
	[ "$seen" = 1 ] || die "never saw the tree being extracted while the layer was still downloading"
	r=$("$FERRY" inspect --json "$PROXY/busybox" | jq -r .rootfs)
	[ "$(sha256sum "$r/bin/busybox" | cut -c1-64)" = "$(busybox_sha)" ]
	[ -z "$(ls -A "$FERRY_HOME/tmp")" ]
}

@test "pull: an endless error body for a blob is not read beyond a cap" {
	# blob GETs are redirected (as to object storage) to a server that
	# answers 404 with a 64 MiB body, and says how much of it went out
	local port
	port=$(free_port)
	python3 - "$port" >"$BATS_TEST_TMPDIR/huge.log" 2>&1 <<'PY' &
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        total = 64 << 20
        self.send_response(404)
        self.send_header("Content-Length", str(total))
        self.end_headers()
        sent, chunk = 0, b"x" * 65536
        try:
            while sent < total:
                self.wfile.write(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        print("SENT", sent, flush=True)
        self.close_connection = True
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
	echo $! >"$BATS_TEST_TMPDIR/huge.pid"
	wait_port "$port"
	start_proxy --redirect-blobs "http://127.0.0.1:$port"
	run "$FERRY" pull --insecure "$PROXY/flaky/busybox"
	kill "$(cat "$BATS_TEST_TMPDIR/huge.pid")" 2>/dev/null || true
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == *"HTTP 404 with an error body over 64 KiB"* ]] || die "$output"
	sent=$(awk '/^SENT/ {s += $2} END {print s + 0}' "$BATS_TEST_TMPDIR/huge.log")
	[ "$sent" -lt $((32 << 20)) ] || die "the server sent $sent bytes of error body before ferry stopped reading"
	[ -z "$(ls -A "$FERRY_HOME/images")" ]
}

@test "pull: a blob served with the wrong content is refused, nothing stored" {
	digest=$(skopeo inspect --raw --tls-verify=false "docker://$HTTP_REGISTRY/tamper/busybox" | jq -r '.layers[0].digest')
	hex=${digest#sha256:}
	data=$HTTP_DIR/data/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data
	cp "$data" "$BATS_TEST_TMPDIR/orig"
	# near the start, then near the end through a slow proxy, so that the
	# tree, extracted while the blob downloads, holds every file by then
	start_proxy --rate 400000
	for at in 1000 $(($(stat -c %s "$data") - 40)); do
		from=$HTTP_REGISTRY
		[ "$at" = 1000 ] || from=$PROXY
		cp "$BATS_TEST_TMPDIR/orig" "$data"
		printf 'XXXX' | dd of="$data" bs=1 seek="$at" conv=notrunc status=none
		run "$FERRY" pull --insecure "$from/tamper/busybox"
		cp "$BATS_TEST_TMPDIR/orig" "$data"
		[ "$status" -eq 1 ]
		[ "${#lines[@]}" -eq 1 ] || die "$output"
		[[ "$output" == *"blob $digest: digest mismatch"* ]] || die "$output"
		[ -z "$(ls -A "$FERRY_HOME/images")" ]
		[ ! -e "$FERRY_HOME/blobs/sha256/$hex" ]
		[ -z "$(ls -A "$FERRY_HOME/tmp")" ]
		[ -z "$(find "$FERRY_HOME/files" -type f)" ] || die "left in files/: $(find "$FERRY_HOME/files" -type f | head -3)"
	done
}

@test "pull: mirrors are tried in order before the registry; a dead one is skipped" {
	registry_trust
	dead=127.0.0.1:$(free_port)
	mkdir -p "$XDG_CONFIG_HOME/ferry"
	echo '{"registries": {"'"$REGISTRY"'": {"mirrors": ["http://'"$dead"'", "http://'"$HTTP_REGISTRY"'"]}}}' \
		>"$XDG_CONFIG_HOME/ferry/config.json"
	before=$(grep -c '"GET /v2/busybox/blobs/' "$REGISTRY_LOG" || true)
	mbefore=$(grep -c '"GET /v2/busybox/blobs/' "$HTTP_LOG" || true)
	run "$FERRY" pull "$REGISTRY/busybox"
	[ "$status" -eq 0 ]
	[ "$(grep -c '"GET /v2/busybox/blobs/' "$REGISTRY_LOG")" -eq "$before" ]
	[ "$(grep -c '"GET /v2/busybox/blobs/' "$HTTP_LOG")" -gt "$mbefore" ]
	[ "$(store_names)" = "$REGISTRY/busybox:latest" ]
}

@test "pull: oci:, oci-archive: and docker-archive: imports" {
	run "$FERRY" pull "oci:$FERRY_TEST_IMAGES/busybox:latest"
	[ "$status" -eq 0 ]
	d1=$output
	tar -C "$FERRY_TEST_IMAGES/busybox" -cf "$BATS_TEST_TMPDIR/bb-oci.tar" .
	run "$FERRY" pull "oci-archive:$BATS_TEST_TMPDIR/bb-oci.tar"
	[ "$status" -eq 0 ]
	[ "$output" = "$d1" ]
	skopeo copy --quiet "oci:$FERRY_TEST_IMAGES/busybox:latest" "docker-archive:$BATS_TEST_TMPDIR/bb-docker.tar:bb:1"
	run "$FERRY" pull "docker-archive:$BATS_TEST_TMPDIR/bb-docker.tar"
	[ "$status" -eq 0 ]
	r=$("$FERRY" inspect --json "$output" | jq -r .rootfs)
	[ "$(sha256sum "$r/bin/busybox" | cut -c1-64)" = "$(busybox_sha)" ]
	[ "$("$FERRY" images --json | jq length)" -eq 3 ]
	run "$FERRY" pull "oci:$BATS_TEST_TMPDIR/nonexistent"
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
}

@test "rm and prune: references go, then the image, then its files and blobs" {
	"$FERRY" pull "oci:$FERRY_TEST_IMAGES/busybox" >/dev/null
	d=$("$FERRY" pull "oci:$FERRY_TEST_IMAGES/layered")
	run "$FERRY" rm "oci:$FERRY_TEST_IMAGES/layered"
	[ "$status" -eq 0 ]
	[ ! -e "$FERRY_HOME/images/${d#sha256:}" ]
	[ "$("$FERRY" images --json | jq length)" -eq 1 ]
	run "$FERRY" rm "oci:$FERRY_TEST_IMAGES/layered"
	[ "$status" -eq 1 ]
	[[ "$output" == *"not in the store"* ]]
	run "$FERRY" prune
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^freed\ [0-9.]+\ (B|kB|MB)$ ]]
	[ "$output" != "freed 0 B" ] # the layered image's own blobs
	run "$FERRY" rm "oci:$FERRY_TEST_IMAGES/busybox"
	[ "$status" -eq 0 ]
	run "$FERRY" prune
	[ "$status" -eq 0 ]
	[ -z "$(ls -A "$FERRY_HOME/files/sha256")" ]
	[ -z "$(ls -A "$FERRY_HOME/blobs/sha256")" ]
	[ -z "$(ls -A "$FERRY_HOME/images")" ]
	run "$FERRY" images --json
	[ "$output" = "[]" ]
}

@test "rm: a reference that cannot be removed is an error, never 'removed'" {
	"$FERRY" -q pull "oci:$FERRY_TEST_IMAGES/busybox" >/dev/null
	refdir=$(dirname "$(find "$FERRY_HOME/refs" -type f | head -1)")
	make_readonly "$refdir"
	run "$FERRY" rm "oci:$FERRY_TEST_IMAGES/busybox"
	undo_readonly
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == *"rm oci:$FERRY_TEST_IMAGES/busybox: remove $refdir/latest"* ]] || die "$output"
	[[ "$output" != *removed* ]]
	[ "$("$FERRY" images --json | jq length)" -eq 1 ]
}

@test "prune: an image it cannot remove is reported, and prune fails" {
	"$FERRY" -q pull "oci:$FERRY_TEST_IMAGES/busybox" >/dev/null
	rm -rf "$FERRY_HOME/refs/oci" # the image is now unnamed: prune's to remove
	make_readonly "$FERRY_HOME/images"
	run "$FERRY" prune
	undo_readonly
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == *"prune: remove $FERRY_HOME/images/"* ]] || die "$output"
	run "$FERRY" prune
	[ "$status" -eq 0 ]
	[ -z "$(ls -A "$FERRY_HOME/images")" ]
}

@test "images: a store that cannot be listed fails with the reason, not an empty list" {
	mkdir -p "$BATS_TEST_TMPDIR/ro"
	touch "$BATS_TEST_TMPDIR/ro/images"
	FERRY_STORE_PATH=$BATS_TEST_TMPDIR/ro run "$FERRY" images --json
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == *"list $BATS_TEST_TMPDIR/ro/images: Not a directory"* ]] || die "$output"
}

@test "pull: bad references are usage errors in one line" {
	run "$FERRY" pull "UPPER/case"
	[ "$status" -eq 1 ]
	[[ "$output" == *"invalid repository name"* ]]
	run "$FERRY" pull
	[ "$status" -eq 2 ]
	run "$FERRY" pull --platform nonsense busybox
	[ "$status" -eq 1 ]
	[[ "$output" == *"invalid platform"* ]]
}

@test "FERRY_STORE_PATH: read-only stores are searched first and never changed" {
	"$FERRY" pull "oci:$FERRY_TEST_IMAGES/busybox" >/dev/null
	shared=$BATS_TEST_TMPDIR/shared-store
	mv "$FERRY_HOME" "$shared"
	chmod -R a-w "$shared"
	export FERRY_HOME=$BATS_TEST_TMPDIR/own FERRY_STORE_PATH=$shared
	run "$FERRY" images --json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r '.[0].readonly')" = true ]
	run "$FERRY" inspect --json "oci:$FERRY_TEST_IMAGES/busybox"
	[ "$status" -eq 0 ]
	[[ "$(echo "$output" | jq -r .rootfs)" == "$shared/"* ]]
	run "$FERRY" rm "oci:$FERRY_TEST_IMAGES/busybox"
	[ "$status" -eq 1 ]
	[ -d "$shared/images" ] && [ -n "$(ls "$shared/images")" ]
	chmod -R u+w "$shared"
}

@test "FERRY_STORE_PATH: pulling an image a read-only store has downloads nothing" {
	registry_trust
	"$FERRY" pull "$REGISTRY/busybox" >/dev/null
	shared=$BATS_TEST_TMPDIR/shared-store
	mv "$FERRY_HOME" "$shared"
	chmod -R a-w "$shared"
	export FERRY_HOME=$BATS_TEST_TMPDIR/own FERRY_STORE_PATH=$shared
	before=$(grep -c '"GET /v2/busybox/blobs/' "$REGISTRY_LOG" || true)
	run "$FERRY" pull "$REGISTRY/busybox"
	[ "$status" -eq 0 ]
	[ "$(grep -c '"GET /v2/busybox/blobs/' "$REGISTRY_LOG")" -eq "$before" ]
	[ -z "$(ls -A "$FERRY_HOME/images")" ]
	run "$FERRY" inspect --json "$REGISTRY/busybox"
	[ "$status" -eq 0 ]
	[[ "$(echo "$output" | jq -r .rootfs)" == "$shared/"* ]]
	chmod -R u+w "$shared"
}

@test "images: sizes come from the record written at unpack; a tree without one is walked, same result" {
	"$FERRY" -q pull "oci:$FERRY_TEST_IMAGES/busybox" >/dev/null
	"$FERRY" -q pull "oci:$FERRY_TEST_IMAGES/layered" >/dev/null
	for d in "$FERRY_HOME"/images/*; do [ -s "$d/usage" ] || die "no usage record in $d"; done
	recorded=$("$FERRY" images --json | jq -c 'sort_by(.name) | map([.name, .size, .shared])')
	[ "$(echo "$recorded" | jq '[.[][2]] | min')" -gt 0 ] # layered is busybox plus a layer: they share
	# a copy of the store (other inodes): its records are not trusted, the trees are walked
	cp -a "$FERRY_HOME" "$BATS_TEST_TMPDIR/copy"
	copied=$(FERRY_HOME=$BATS_TEST_TMPDIR/copy "$FERRY" images --json | jq -c 'sort_by(.name) | map([.name, .size, .shared])')
	[ "$recorded" = "$copied" ] || die "recorded $recorded, in the copy $copied"
	rm "$FERRY_HOME"/images/*/usage
	walked=$("$FERRY" images --json | jq -c 'sort_by(.name) | map([.name, .size, .shared])')
	[ "$recorded" = "$walked" ] || die "recorded $recorded, walked $walked"
}

layer_blobs() { # DIGEST: the layer blob paths of a stored image
	jq -r '.layers[].digest' "$FERRY_HOME/images/${1#sha256:}/manifest.json" | sed "s|^sha256:|$FERRY_HOME/blobs/sha256/|"
}

@test "pull: layer blobs are dropped once the tree is in place, unless kept; a later image sharing one fetches it again" {
	d=$("$FERRY" -q pull "oci:$FERRY_TEST_IMAGES/busybox")
	for b in $(layer_blobs "$d"); do [ ! -e "$b" ] || die "layer kept: $b"; done
	cfg=$(jq -r .config.digest "$FERRY_HOME/images/${d#sha256:}/manifest.json")
	[ -f "$FERRY_HOME/blobs/sha256/${cfg#sha256:}" ]
	[ -f "$FERRY_HOME/blobs/sha256/${d#sha256:}" ]
	# what images shows is what is on disk: the tree (its layers are gone)
	size=$("$FERRY" images --json | jq '.[0].size')
	[ "$size" -le "$(du -sxB1 "$FERRY_HOME" | cut -f1)" ]
	# layered shares busybox's layer: it is fetched again from the source
	d2=$("$FERRY" -q pull "oci:$FERRY_TEST_IMAGES/layered")
	r=$("$FERRY" inspect --json "oci:$FERRY_TEST_IMAGES/layered" | jq -r .rootfs)
	[ -x "$r/bin/busybox" ]
	for b in $(layer_blobs "$d2"); do [ ! -e "$b" ]; done
	# kept when asked, per pull or for all
	rm -rf "$FERRY_HOME"
	d=$("$FERRY" -q pull --keep-layers "oci:$FERRY_TEST_IMAGES/busybox")
	for b in $(layer_blobs "$d"); do [ -f "$b" ] || die "layer not kept: $b"; done
	rm -rf "$FERRY_HOME"
	d=$(FERRY_KEEP_LAYERS=1 "$FERRY" -q pull "oci:$FERRY_TEST_IMAGES/busybox")
	for b in $(layer_blobs "$d"); do [ -f "$b" ]; done
	kept=$("$FERRY" images --json | jq '.[0].size')
	# prune keeps them where layers are kept, and drops them otherwise
	FERRY_KEEP_LAYERS=1 "$FERRY" prune >/dev/null
	for b in $(layer_blobs "$d"); do [ -f "$b" ]; done
	"$FERRY" prune >/dev/null
	for b in $(layer_blobs "$d"); do [ ! -e "$b" ]; done
	[ "$("$FERRY" images --json | jq '.[0].size')" -lt "$kept" ]
	[ "$(store_names)" = "oci:$FERRY_TEST_IMAGES/busybox:latest" ]
}

@test "images and inspect: human output names the image, its size and layers" {
	"$FERRY" pull "oci:$FERRY_TEST_IMAGES/layered" >/dev/null
	run "$FERRY" images
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == NAME*DIGEST*SIZE*SHARED*PULLED ]]
	[[ "${lines[1]}" == "oci:$FERRY_TEST_IMAGES/layered:latest"*" MB"* ]]
	run "$FERRY" inspect "oci:$FERRY_TEST_IMAGES/layered"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Cmd          /bin/sh"* ]]
	[ "$(echo "$output" | sed -n '/^Layers/,$p' | grep -c sha256:)" -eq 2 ]
}
