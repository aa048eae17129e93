#!/usr/bin/env bats
# Registry authentication: basic (htpasswd) and token (tests/fixtures/token-server),
# credentials from docker's config.json, ferry login / logout.

load ../lib/common
load ../lib/registry

setup_file() {
	[ -f "$FERRY_TEST_IMAGES/busybox/index.json" ] || "$FERRY_SRC/tests/lib/build-images" "$FERRY_TEST_IMAGES" busybox
	registry_start --tls --auth token
	REGISTRY_AUTH_PUSH=1 registry_push "oci:$FERRY_TEST_IMAGES/busybox:latest" busybox:latest
	REGISTRY_AUTH_PUSH=1 registry_push "oci:$FERRY_TEST_IMAGES/busybox:latest" private/busybox:latest
	TOKEN_REGISTRY=$REGISTRY TOKEN_DIR=$REGISTRY_DIR TOKEN_CA=$REGISTRY_CA
	echo "$TOKEN_DIR" >"$BATS_FILE_TMPDIR/token_dir"
	registry_start
	registry_push "oci:$FERRY_TEST_IMAGES/busybox:latest" private/busybox:latest
	PLAIN_REGISTRY=$REGISTRY
	echo "$REGISTRY_DIR" >"$BATS_FILE_TMPDIR/plain_dir"
	registry_start --auth basic
	REGISTRY_AUTH_PUSH=1 registry_push "oci:$FERRY_TEST_IMAGES/busybox:latest" busybox:latest
	export TOKEN_REGISTRY TOKEN_DIR TOKEN_CA PLAIN_REGISTRY
}

teardown_file() {
	registry_stop
	REGISTRY_DIR=$(cat "$BATS_FILE_TMPDIR/token_dir" 2>/dev/null) registry_stop
	REGISTRY_DIR=$(cat "$BATS_FILE_TMPDIR/plain_dir" 2>/dev/null) registry_stop
}

teardown() {
	local p
	for p in "$BATS_TEST_TMPDIR"/*.pid; do
		[ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null || true
	done
}

proxy() { # NAME ARGS...: a flaky-proxy; prints its host:port
	local port
	port=$(free_port)
	python3 "$FERRY_SRC/tests/fixtures/flaky-proxy" --port "$port" "${@:2}" >"$BATS_TEST_TMPDIR/$1.log" 2>&1 &
	echo $! >"$BATS_TEST_TMPDIR/$1.pid"
	wait_port "$port" >&2
	echo "127.0.0.1:$port"
}

setup() {
	ferry_test_env
	mkdir -p "$XDG_CONFIG_HOME/ferry/certs.d/$TOKEN_REGISTRY"
	cp "$TOKEN_CA" "$XDG_CONFIG_HOME/ferry/certs.d/$TOKEN_REGISTRY/ca.crt"
}

docker_auth() { # HOST USER PASSWORD: write docker's config.json as docker login does
	printf '{"auths": {"%s": {"auth": "%s"}}}\n' "$1" "$(printf '%s:%s' "$2" "$3" | base64 -w0)" \
		>"$DOCKER_CONFIG/config.json"
}

@test "token auth: anonymous pull of a public repository" {
	run "$FERRY" pull "$TOKEN_REGISTRY/busybox"
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^sha256: ]]
	grep -q "^anonymous repository:busybox:pull" "$TOKEN_DIR/token.log"
}

@test "token auth: a private repository needs credentials, taken from docker's config.json" {
	run "$FERRY" pull "$TOKEN_REGISTRY/private/busybox"
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == *"ferry login $TOKEN_REGISTRY"* ]]
	docker_auth "$TOKEN_REGISTRY" "$REGISTRY_USER" "$REGISTRY_PASSWORD"
	run "$FERRY" pull "$TOKEN_REGISTRY/private/busybox"
	[ "$status" -eq 0 ]
	grep -q "^user repository:private/busybox:pull" "$TOKEN_DIR/token.log"
}

@test "token auth: wrong credentials are refused in one line" {
	docker_auth "https://$TOKEN_REGISTRY" "$REGISTRY_USER" wrong
	run "$FERRY" pull "$TOKEN_REGISTRY/busybox"
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == *"refused the credentials"* ]]
}

@test "basic auth: pull fails without credentials, works after ferry login; logout removes them" {
	run "$FERRY" pull --insecure "$REGISTRY/busybox"
	[ "$status" -eq 1 ]
	[[ "$output" == *"user name and password"* ]]
	run "$FERRY" login --insecure -u "$REGISTRY_USER" -p wrong "$REGISTRY"
	[ "$status" -eq 1 ]
	[ ! -e "$DOCKER_CONFIG/config.json" ]
	echo "$REGISTRY_PASSWORD" | "$FERRY" login --insecure -u "$REGISTRY_USER" --password-stdin "$REGISTRY"
	[ "$(jq -r --arg h "$REGISTRY" '.auths[$h].auth' "$DOCKER_CONFIG/config.json" | base64 -d)" = "$REGISTRY_USER:$REGISTRY_PASSWORD" ]
	[ "$(stat -c %a "$DOCKER_CONFIG/config.json")" = 600 ]
	run "$FERRY" pull --insecure "$REGISTRY/busybox"
	[ "$status" -eq 0 ]
	run "$FERRY" logout "$REGISTRY"
	[ "$status" -eq 0 ]
	[ "$(jq -r --arg h "$REGISTRY" '.auths[$h]' "$DOCKER_CONFIG/config.json")" = null ]
	run "$FERRY" logout "$REGISTRY"
	[ "$status" -eq 1 ]
}

@test "login keeps other entries of docker's config.json" {
	echo '{"auths": {"other.example": {"auth": "eDp5"}}, "credsStore": "none"}' >"$DOCKER_CONFIG/config.json"
	"$FERRY" login --insecure -u "$REGISTRY_USER" -p "$REGISTRY_PASSWORD" "$REGISTRY" >/dev/null
	[ "$(jq -r '.auths["other.example"].auth' "$DOCKER_CONFIG/config.json")" = eDp5 ]
	[ "$(jq -r '.credsStore' "$DOCKER_CONFIG/config.json")" = none ]
}

@test "token auth: a blob redirected to another host does not get the registry's token" {
	# "storage" stands for object storage: another origin serving the blobs
	storage=$(proxy storage --upstream "http://$PLAIN_REGISTRY")
	front=$(proxy front --upstream "https://$TOKEN_REGISTRY" --redirect-blobs "http://$storage")
	docker_auth "$front" "$REGISTRY_USER" "$REGISTRY_PASSWORD"
	run "$FERRY" pull --insecure "$front/private/busybox"
	[ "$status" -eq 0 ]
	grep -q '^200 GET /v2/private/busybox/manifests/.* auth$' "$BATS_TEST_TMPDIR/front.log"
	grep -q '^307 GET /v2/private/busybox/blobs/.* auth$' "$BATS_TEST_TMPDIR/front.log"
	[ "$(grep -c 'GET /v2/.*/blobs/.* auth$' "$BATS_TEST_TMPDIR/storage.log")" -eq 0 ]
	[ "$(grep -c 'GET /v2/.*/blobs/.* noauth$' "$BATS_TEST_TMPDIR/storage.log")" -ge 2 ]
}

# A TLS registry (real docker-registry) whose token challenge names REALM;
# sets REALM_REGISTRY. The realm is never contacted when ferry refuses it.
realm_registry() {
	local d=$BATS_TEST_TMPDIR/realm-$2
	mkdir -p "$d/data"
	registry_make_certs "$d"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=t -keyout "$d/token.key" -out "$d/token.crt" 2>/dev/null
	local port
	port=$(free_port)
	cat >"$d/config.yml" <<YML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $d/data}}
http:
  addr: 127.0.0.1:$port
  tls: {certificate: $d/server.crt, key: $d/server.key}
auth:
  token: {realm: "$1", service: ferry-test, issuer: t, rootcertbundle: $d/token.crt}
YML
	local unset=() v
	for v in $(compgen -e | grep '^REGISTRY' || true); do unset+=(-u "$v"); done
	env "${unset[@]}" /usr/bin/docker-registry serve "$d/config.yml" >"$d/log" 2>&1 &
	echo $! >"$BATS_TEST_TMPDIR/realm-$2.pid"
	wait_port "$port"
	REALM_REGISTRY=127.0.0.1:$port
	mkdir -p "$XDG_CONFIG_HOME/ferry/certs.d/$REALM_REGISTRY"
	cp "$d/ca.crt" "$XDG_CONFIG_HOME/ferry/certs.d/$REALM_REGISTRY/ca.crt"
}

@test "token auth: a plain-http token realm on another host is refused (credentials would go in clear)" {
	# another host, and a name that merely starts like a loopback address
	for realm in "http://192.0.2.1:9/token" "http://127.0.0.1.example:9/token"; do
		realm_registry "$realm" "$(echo "$realm" | md5sum | cut -c1-8)"
		docker_auth "$REALM_REGISTRY" "$REGISTRY_USER" "$REGISTRY_PASSWORD"
		run "$FERRY" pull "$REALM_REGISTRY/busybox"
		[ "$status" -eq 1 ]
		[ "${#lines[@]}" -eq 1 ]
		[[ "$output" == *"token realm $realm is plain http"*"--insecure"* ]] || die "$output"
	done
}
