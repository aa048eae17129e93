# Helpers for the ferry serve tests (tests/cli/serve*.bats): a server on a
# free loopback port with its own state, users with keys, and curl/python
# calls against it.
#   serve_start [serve options...]   sets SV (scratch), URL, SV_PID
#   serve_stop                       SIGTERM, and wait for the exit status
#   serve_user NAME [PASSWORD]       creates NAME, prints a new API key
#   api KEY curl-args...             curl -s with the key; status in $SV/code
# shellcheck disable=SC2034 # SV, URL are read by the test files

serve_dirs() {
	SV=${SV:-$BATS_TEST_TMPDIR/sv}
	mkdir -p "$SV/pl"
}

serve_start() {
	serve_dirs
	rm -f "$SV/url"
	"$FERRY" serve --listen 127.0.0.1:0 --state "$SV/state" --pipelines "$SV/pl" --url-file "$SV/url" \
		"$@" 2>>"$SV/log" &
	SV_PID=$!
	local i
	for i in $(seq 1 100); do
		[ -s "$SV/url" ] && break
		kill -0 "$SV_PID" 2>/dev/null || { cat "$SV/log" >&2; die "ferry serve exited at start"; return 1; }
		sleep 0.1
	done
	[ -s "$SV/url" ] || { cat "$SV/log" >&2; die "ferry serve did not start listening"; return 1; }
	URL=$(cat "$SV/url")
}

serve_stop() {
	[ -n "${SV_PID:-}" ] || return 0
	kill -TERM "$SV_PID" 2>/dev/null || true
	local rc=0
	wait "$SV_PID" || rc=$?
	SV_PID=
	return "$rc"
}

serve_user() { # NAME [PASSWORD]
	serve_dirs
	printf '%s\n' "${2:-pass-$1-123}" | "$FERRY" serve user add "$1" --password-stdin --state "$SV/state" >&2 &&
		"$FERRY" serve user key "$1" --state "$SV/state"
}

api() { # KEY curl-args... : body on stdout, HTTP status in $SV/code
	local key=$1
	shift
	curl -s -o "$SV/body" -w '%{http_code}' -H "apikey: $key" "$@" >"$SV/code"
	cat "$SV/body"
}

code() { cat "$SV/code"; }

# jq-like field access with python3: jf FIELD < JSON
jf() {
	python3 -c 'import json,sys
v=json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v[int(k)] if isinstance(v, list) else v[k]
print(v if not isinstance(v,(dict,list,bool)) else json.dumps(v))' "$1"
}

# A descriptor in $SV/pl: serve_descriptor FILE NAME COMMAND-LINE (busybox image)
serve_descriptor() {
	serve_dirs
	cat >"$SV/pl/$1" <<JSON
{"name": "$2", "tool-version": "1.0", "schema-version": "0.5", "description": "test tool $2",
 "command-line": "$3",
 "container-image": {"type": "docker", "image": "oci:$FERRY_TEST_IMAGES/busybox:latest"},
 "inputs": [
   {"id": "infile", "name": "Input", "type": "File", "value-key": "[IN]", "optional": true},
   {"id": "n", "name": "N", "type": "Number", "integer": true, "value-key": "[N]", "optional": true},
   {"id": "outname", "name": "Out name", "type": "String", "value-key": "[OUT]", "default-value": "out.txt"}
 ],
 "output-files": [{"id": "result", "name": "Result", "path-template": "[OUT]"}],
 "tags": {"domain": "test", "kind": "$2"}}
JSON
}

# Wait until execution ID of KEY is terminal; prints its JSON.
wait_exec() { # KEY ID
	local i s
	for i in $(seq 1 600); do
		s=$(api "$1" "$URL/executions/$2")
		case $(jf status <<<"$s") in
		Finished | ExecutionFailed | Killed | InitializationFailed | Unknown)
			echo "$s"
			return 0
			;;
		esac
		sleep 0.2
	done
	die "execution $2 did not end: $s"
}
