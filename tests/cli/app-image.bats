#!/usr/bin/env bats
# ferry app pull / launch with images: the descriptor's container-image
# fetched into ferry's store from an OCI layout and from a local registry
# (plain HTTP on loopback, `index` honoured), then tools run in it.
load ../lib/common

setup_file() {
	if [ ! -f "$FERRY_TEST_IMAGES/busybox/index.json" ]; then
		"$FERRY_SRC/tests/lib/build-images" "$FERRY_TEST_IMAGES" busybox >&3
	fi
}

setup() {
	ferry_test_env
	export HOME=$BATS_TEST_TMPDIR/home
	mkdir -p "$HOME"
	W=$BATS_TEST_TMPDIR/w
	mkdir -p "$W/job"
	cd "$W/job"
	REG_PID=
}

teardown() {
	if [ -n "$REG_PID" ]; then
		kill "$REG_PID" 2>/dev/null || true
		wait "$REG_PID" 2>/dev/null || true
	fi
}

# start_registry: docker-registry on 127.0.0.1:$PORT holding test/busybox:latest
start_registry() {
	PORT=$(free_port)
	mkdir -p "$W/registry/data"
	cat >"$W/registry/config.yml" <<YML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $W/registry/data}}
http: {addr: 127.0.0.1:$PORT}
YML
	/usr/bin/docker-registry serve "$W/registry/config.yml" >"$W/registry/log" 2>&1 &
	REG_PID=$!
	for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/v2/" >/dev/null && break; sleep 0.1; done
	echo '{}' >"$W/registry/auth.json"
	skopeo copy --quiet --dest-tls-verify=false --dest-authfile "$W/registry/auth.json" "oci:$FERRY_TEST_IMAGES/busybox:latest" \
		"docker://127.0.0.1:$PORT/test/busybox:latest"
}

# desc FILE IMAGE [INDEX]: a tool that writes its argument and the image's
# busybox version into out.txt
desc() {
	local index=${3:+, \"index\": \"$3\"}
	cat >"$1" <<EOF
{"name": "bbtool", "tool-version": "1", "schema-version": "0.5", "description": "d",
 "command-line": "echo [X] > out.txt; busybox | head -1 >> out.txt",
 "container-image": {"type": "docker", "image": "$2"$index},
 "inputs": [{"id": "x", "name": "x", "type": "String", "value-key": "[X]"}],
 "output-files": [{"id": "out", "name": "out", "path-template": "out.txt"}]}
EOF
}

@test "app pull: an OCI layout image into the store, and again" {
	desc "$W/d.json" "oci:$FERRY_TEST_IMAGES/busybox:latest"
	run "$FERRY" app pull "$W/d.json"
	[ "$status" -eq 0 ]
	[[ "$output" == "Container location: Pulled from oci:$FERRY_TEST_IMAGES/busybox:latest" ]]
	run "$FERRY" app pull "$W/d.json"
	[ "$status" -eq 0 ]
	run "$FERRY" images
	[[ "$output" == *busybox* ]]
}

@test "app pull: from a local registry, the descriptor's index naming it" {
	start_registry
	desc "$W/d.json" "test/busybox:latest" "http://127.0.0.1:$PORT"
	run "$FERRY" app pull --insecure "$W/d.json"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Pulled from 127.0.0.1:$PORT/test/busybox:latest"* ]]
	run "$FERRY" images
	[[ "$output" == *"127.0.0.1:$PORT/test/busybox"* ]]
}

@test "app pull: a descriptor without an image says so; an unknown image fails" {
	cat >"$W/n.json" <<'EOF'
{"name": "n", "tool-version": "1", "schema-version": "0.5", "description": "d", "command-line": "true",
 "inputs": [{"id": "x", "name": "x", "type": "String", "optional": true}]}
EOF
	run "$FERRY" app pull "$W/n.json"
	[ "$status" -eq 0 ]
	[ "$output" = "Container location: Descriptor does not specify a container image." ]
	desc "$W/d.json" "oci:$W/no-such-layout:latest"
	run "$FERRY" app pull "$W/d.json"
	[ "$status" -eq 1 ]
	[[ "$output" == *no-such-layout* ]]
}
