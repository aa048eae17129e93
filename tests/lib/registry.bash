# A real registry on loopback for ferry's tests: Debian's docker-registry
# (distribution 2.8) on 127.0.0.1 at a free port, plain HTTP or TLS with a
# throw-away CA made here with openssl, optionally with basic (htpasswd,
# bcrypt) or token auth (tests/fixtures/token-server).
#
#   registry_start [--tls] [--auth basic|token]   sets REGISTRY (host:port),
#       REGISTRY_DIR, REGISTRY_LOG, REGISTRY_CA (with --tls), REGISTRY_USER/
#       REGISTRY_PASSWORD (with --auth)
#   registry_trust          trust REGISTRY_CA for ferry via the test's
#                           $XDG_CONFIG_HOME/ferry/certs.d/HOST:PORT/ca.crt
#   registry_push SRC NAME  skopeo copy SRC (e.g. oci:DIR:latest) to REGISTRY/NAME
#   registry_blob_gets REPO DIGEST  how many GETs of that blob the registry logged
#   registry_stop           kill the registry (and token server); call it in
#                           teardown_file so it goes even when tests fail
# Start it in setup_file; everything lives in $BATS_FILE_TMPDIR.

registry_start() {
	local tls=0 auth=""
	while [ $# -gt 0 ]; do
		case $1 in
		--tls) tls=1 ;;
		--auth) auth=$2; shift ;;
		*) echo "registry_start: unknown option $1" >&2; return 2 ;;
		esac
		shift
	done
	REGISTRY_DIR=$(mktemp -d "$BATS_FILE_TMPDIR/registry.XXXXXX")
	local port
	port=$(free_port)
	REGISTRY=127.0.0.1:$port
	REGISTRY_LOG=$REGISTRY_DIR/log
	mkdir -p "$REGISTRY_DIR/data"
	# skopeo's own credentials file: a private empty one, so an unprivileged
	# user's skopeo never reads /run/containers/UID/auth.json
	echo '{}' >"$REGISTRY_DIR/auth.json"
	export REGISTRY_AUTH_FILE=$REGISTRY_DIR/auth.json
	local conf=$REGISTRY_DIR/config.yml
	cat >"$conf" <<YML
version: 0.1
log: {level: info, accesslog: {disabled: false}}
storage:
  filesystem: {rootdirectory: $REGISTRY_DIR/data}
  delete: {enabled: true}
http:
  addr: $REGISTRY
YML
	if [ $tls = 1 ]; then
		registry_make_certs "$REGISTRY_DIR"
		REGISTRY_CA=$REGISTRY_DIR/ca.crt
		cat >>"$conf" <<YML
  tls:
    certificate: $REGISTRY_DIR/server.crt
    key: $REGISTRY_DIR/server.key
YML
	fi
	REGISTRY_USER=ferryuser
	REGISTRY_PASSWORD=s3cret-pw
	case $auth in
	"") ;;
	basic)
		htpasswd -Bbn "$REGISTRY_USER" "$REGISTRY_PASSWORD" >"$REGISTRY_DIR/htpasswd" 2>/dev/null
		cat >>"$conf" <<YML
auth:
  htpasswd: {realm: ferry-test, path: $REGISTRY_DIR/htpasswd}
YML
		;;
	token)
		local tport
		tport=$(free_port)
		openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=ferry-token \
			-keyout "$REGISTRY_DIR/token.key" -out "$REGISTRY_DIR/token.crt" 2>/dev/null
		TOKEN_REALM=http://127.0.0.1:$tport/token
		python3 "$FERRY_SRC/tests/fixtures/token-server" --port "$tport" --key "$REGISTRY_DIR/token.key" \
			--cert "$REGISTRY_DIR/token.crt" --user "$REGISTRY_USER" --password "$REGISTRY_PASSWORD" \
			--log "$REGISTRY_DIR/token.log" >"$REGISTRY_DIR/token.out" 2>&1 &
		echo $! >"$REGISTRY_DIR/token.pid"
		cat >>"$conf" <<YML
auth:
  token:
    realm: $TOKEN_REALM
    service: ferry-test
    issuer: ferry-token
    rootcertbundle: $REGISTRY_DIR/token.crt
YML
		wait_port "$tport" || return 1
		;;
	esac
	# docker-registry reads REGISTRY_* variables as configuration overrides:
	# keep ours (and any from an outer fixture) away from it.
	local unset=() v
	for v in $(compgen -e | grep '^REGISTRY' || true); do unset+=(-u "$v"); done
	env "${unset[@]}" /usr/bin/docker-registry serve "$conf" >"$REGISTRY_LOG" 2>&1 &
	echo $! >"$REGISTRY_DIR/pid"
	wait_port "$port" || { cat "$REGISTRY_LOG" >&2; return 1; }
	export REGISTRY REGISTRY_DIR REGISTRY_LOG REGISTRY_CA REGISTRY_USER REGISTRY_PASSWORD TOKEN_REALM
}

wait_port() {
	local i
	for i in $(seq 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
			return 0
		fi
		sleep 0.05
	done
	echo "nothing listens on port $1" >&2
	return 1
}

# A CA and a server certificate for 127.0.0.1 signed by it.
registry_make_certs() {
	local d=$1
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=ferry test CA" \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
		-keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$d/ext.cnf"
	openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
		-extfile "$d/ext.cnf" -out "$d/server.crt" 2>/dev/null
	chmod a+r "$d"/*
}

registry_trust() {
	local d=$XDG_CONFIG_HOME/ferry/certs.d/$REGISTRY
	mkdir -p "$d"
	cp "$REGISTRY_CA" "$d/ca.crt"
}

registry_push() {
	local creds=()
	[ -z "${REGISTRY_AUTH_PUSH:-}" ] || creds=(--dest-creds "$REGISTRY_USER:$REGISTRY_PASSWORD")
	skopeo copy --quiet --dest-tls-verify=false "${creds[@]}" "$1" "docker://$REGISTRY/$2"
}

registry_blob_gets() { # REPO DIGEST
	grep -c "\"GET /v2/$1/blobs/$2 " "$REGISTRY_LOG" || true
}

registry_stop() {
	local f
	for f in "${REGISTRY_DIR:-/nonexistent}/pid" "${REGISTRY_DIR:-/nonexistent}/token.pid"; do
		if [ -f "$f" ]; then
			kill "$(cat "$f")" 2>/dev/null || true
			rm -f "$f"
		fi
	done
}
