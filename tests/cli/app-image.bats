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

# start_registry [IMAGE...]: docker-registry on 127.0.0.1:$PORT holding
# test/IMAGE:latest for each test image named (default: busybox)
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
	local img
	for img in "${@:-busybox}"; do
		skopeo copy --quiet --dest-tls-verify=false --dest-authfile "$W/registry/auth.json" \
			"oci:$FERRY_TEST_IMAGES/$img:latest" "docker://127.0.0.1:$PORT/test/$img:latest"
	done
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

# tool FILE IMAGE: inputs from anywhere, outputs in the working directory,
# environment, a list, a config file, an exit code of the caller's choice
tool() {
	cat >"$1" <<EOF
{"name": "bb tool", "tool-version": "1", "schema-version": "0.5", "description": "d",
 "command-line": "printf '%s\\\\n' [X] [LIST] > out.txt; cat [IN] >> out.txt; id -u >> out.txt; echo \"\$GREET\" >> out.txt; pwd >> out.txt; exit [CODE]",
 "container-image": {"type": "docker", "image": "$2"},
 "environment-variables": [{"name": "GREET", "value": "[X]"}],
 "inputs": [
   {"id": "x", "name": "x", "type": "String", "value-key": "[X]"},
   {"id": "items", "name": "items", "type": "Number", "list": true, "optional": true, "value-key": "[LIST]"},
   {"id": "in", "name": "in", "type": "File", "value-key": "[IN]"},
   {"id": "code", "name": "c", "type": "Number", "integer": true, "optional": true, "default-value": 0, "value-key": "[CODE]"}],
 "output-files": [
   {"id": "out", "name": "out", "path-template": "out.txt"},
   {"id": "cfg", "name": "cfg", "path-template": "cfg/[X].conf", "file-template": ["x=[X]"]},
   {"id": "never", "name": "never", "path-template": "never-[CODE].txt", "optional": true}],
 "error-codes": [{"code": 3, "description": "asked to fail"}]}
EOF
}

@test "app launch: in the busybox image, as the caller, inputs bound, outputs in the cwd" {
	tool "$W/t.json" "oci:$FERRY_TEST_IMAGES/busybox:latest"
	mkdir -p "$W/inputs"
	echo "input data" >"$W/inputs/in.txt"
	echo "{\"x\": \"hello; id\", \"items\": [1, 2.5], \"in\": \"$W/inputs/in.txt\"}" >"$W/i.json"
	run "$FERRY" app launch "$W/t.json" "$W/i.json"
	[ "$status" -eq 0 ]
	[ "$(cat out.txt)" = "hello; id
1
2.5
input data
$(id -u)
hello; id
$W/job" ]
	[ "$(cat "cfg/hello; id.conf")" = "x='hello; id'" ]
	[[ "$output" == *"Pulled from oci:$FERRY_TEST_IMAGES/busybox:latest"* ]]
	rec=$(ls "$HOME"/.cache/boutiques/data/bb-tool_*.json)
	jq -e '(.ferry["image-digest"] | startswith("sha256:")) and .["public-output"]["exit-code"] == 0' "$rec"
	# the second launch uses the stored image
	run "$FERRY" app launch -q --no-pull "$W/t.json" "$W/i.json"
	[ "$status" -eq 0 ]
}

@test "app launch: in the image, error codes, missing outputs, hostile values" {
	tool "$W/t.json" "oci:$FERRY_TEST_IMAGES/busybox:latest"
	echo "x" >"$W/in.txt"
	echo "{\"x\": \"\$(touch $W/pwned)\", \"in\": \"$W/in.txt\", \"code\": 3}" >"$W/i.json"
	run "$FERRY" app launch --skip-data-collection "$W/t.json" "$W/i.json"
	[ "$status" -eq 3 ]
	[[ "$output" == *"asked to fail"* ]]
	[ ! -e "$W/pwned" ]
	[ "$(head -1 out.txt)" = "\$(touch $W/pwned)" ]
	# a required output that never appears fails a tool that exits 0
	jq '.["output-files"][2].optional = false' "$W/t.json" >"$W/t2.json"
	echo "{\"x\": \"a\", \"in\": \"$W/in.txt\"}" >"$W/i.json"
	run "$FERRY" app launch --skip-data-collection "$W/t2.json" "$W/i.json"
	[ "$status" -eq 1 ]
	[[ "$output" == *"never-0.txt (never, Required)"* ]]
}

@test "app launch: pulls from a local registry on first use" {
	start_registry
	tool "$W/t.json" "127.0.0.1:$PORT/test/busybox:latest"
	echo "x" >"$W/in.txt"
	echo "{\"x\": \"r\", \"in\": \"$W/in.txt\"}" >"$W/i.json"
	run "$FERRY" app launch --insecure --skip-data-collection "$W/t.json" "$W/i.json"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Pulled from 127.0.0.1:$PORT/test/busybox:latest"* ]]
	[ "$(head -1 out.txt)" = r ]
}

@test "app launch: in the Debian image from the local registry, with the descriptor's shell" {
	if [ ! -f "$FERRY_TEST_IMAGES/debian/index.json" ]; then
		"$FERRY_SRC/tests/lib/build-images" "$FERRY_TEST_IMAGES" debian >&3
	fi
	start_registry debian
	cat >"$W/py.json" <<EOF
{"name": "py", "tool-version": "1", "schema-version": "0.5", "description": "d", "shell": "/bin/bash",
 "command-line": "python3 -c 'import sys; print(sys.argv[1:])' [A] > py.txt; echo \"\$BASH_VERSION\" | cut -c1 >> py.txt",
 "container-image": {"type": "docker", "image": "test/debian:latest", "index": "http://127.0.0.1:$PORT"},
 "inputs": [{"id": "a", "name": "a", "type": "String", "list": true, "value-key": "[A]"}],
 "output-files": [{"id": "o", "name": "o", "path-template": "py.txt"}]}
EOF
	echo '{"a": ["x y", "$(id)", "z"]}' >"$W/i.json"
	run "$FERRY" app launch --insecure --skip-data-collection "$W/py.json" "$W/i.json"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Pulled from 127.0.0.1:$PORT/test/debian:latest"* ]]
	[ "$(head -1 py.txt)" = "['x y', '\$(id)', 'z']" ]
	[ "$(sed -n 2p py.txt)" = 5 ]
}

@test "app launch: -v binds a host directory, read-only with :ro" {
	mkdir -p "$W/data"
	echo "from the host" >"$W/data/note.txt"
	cat >"$W/v.json" <<EOF
{"name": "v", "tool-version": "1", "schema-version": "0.5", "description": "d",
 "command-line": "cat /data/note.txt > seen.txt; touch /data/new [X] 2>/dev/null && echo writable >> seen.txt || echo read-only >> seen.txt",
 "container-image": {"type": "docker", "image": "oci:$FERRY_TEST_IMAGES/busybox:latest"},
 "inputs": [{"id": "x", "name": "x", "type": "String", "optional": true, "value-key": "[X]"}]}
EOF
	echo '{}' >"$W/i.json"
	run "$FERRY" app launch -q --skip-data-collection -v "$W/data:/data:ro" "$W/v.json" "$W/i.json"
	[ "$status" -eq 0 ]
	[ "$(cat seen.txt)" = "from the host
read-only" ]
	[ ! -e "$W/data/new" ]
	run "$FERRY" app launch -q --skip-data-collection -v "$W/data:/data" "$W/v.json" "$W/i.json"
	[ "$status" -eq 0 ]
	[ "$(tail -1 seen.txt)" = writable ]
	[ -e "$W/data/new" ]
}
