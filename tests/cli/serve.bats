#!/usr/bin/env bats
# ferry serve: the server core (platform, errors, keys, authentication and
# its rate limit, slow clients), accounts, pipelines and the path API with
# its hostile inputs (doc/serve.md). Executions: serve-exec.bats.

load ../lib/common
load serve

setup() {
	ferry_test_env
	SV=$BATS_TEST_TMPDIR/sv
	serve_descriptor echo.json echo-tool 'cat [IN] > [OUT]; echo done [N]'
}

teardown() {
	serve_stop || true
}

@test "serve: GET /platform needs no key and publishes the error-code table" {
	serve_start
	run curl -s "$URL/platform"
	[ "$status" -eq 0 ]
	[ "$(jf supportedAPIVersion <<<"$output")" = 0.3.1 ]
	[[ "$(jf APIErrorCodesAndMessages <<<"$output")" == *'"errorCode": 40101'* ]]
	[[ "$(jf APIErrorCodesAndMessages <<<"$output")" == *'"errorCode": 41301'* ]]
	[[ "$(jf supportedPipelineProperties <<<"$output")" == *'"domain"'* ]]
}

@test "serve: no key or a wrong key: 401 with WWW-Authenticate and the two-key envelope" {
	serve_start
	run curl -s -i "$URL/pipelines"
	[[ "$output" == *"HTTP/1.1 401"* ]]
	[[ "$output" == *"WWW-Authenticate: APIKey"* ]]
	[[ "$output" == *'{"errorCode":40101,"errorMessage":'* ]]
	run curl -s -i -H "apikey: $(printf '%064d' 0)" "$URL/executions"
	[[ "$output" == *"HTTP/1.1 401"* ]]
	# the VIP client checks a key with PUT /plateform (sic)
	key=$(serve_user alice)
	api "$key" -X PUT "$URL/rest/plateform" >/dev/null
	[ "$(code)" = 200 ]
	api nope -X PUT "$URL/rest/plateform" >/dev/null
	[ "$(code)" = 401 ]
}

@test "serve user: add, key, list, del; keys stored hashed, passwords under PBKDF2 600000" {
	serve_dirs
	key=$(serve_user alice 'correct horse')
	[[ "$key" =~ ^[0-9a-f]{64}$ ]]
	run "$FERRY" serve user list --state "$SV/state"
	[[ "$output" == "alice  keys: 1" ]]
	run "$FERRY" serve user list --json --state "$SV/state"
	[ "$(jf 0.name <<<"$output")" = alice ]
	run sqlite3 "$SV/state/serve.db" "SELECT hash FROM keys; SELECT pw FROM users"
	[[ "$output" != *"$key"* ]]
	[[ "$output" == *'pbkdf2-sha256$600000$'* ]]
	[[ "$output" != *"correct horse"* ]]
	run "$FERRY" serve user add alice --password-stdin --state "$SV/state" <<<"another-pass"
	[ "$status" -eq 1 ]
	[[ "$output" == *"user alice exists already"* ]]
	run "$FERRY" serve user add vip --password-stdin --state "$SV/state" <<<"another-pass"
	[ "$status" -eq 1 ]
	[[ "$output" == *reserved* ]]
	run "$FERRY" serve user add '../x' --password-stdin --state "$SV/state" <<<"another-pass"
	[ "$status" -eq 1 ]
	serve_start
	api "$key" "$URL/pipelines" >/dev/null
	[ "$(code)" = 200 ]
	"$FERRY" serve user del alice --state "$SV/state"
	api "$key" "$URL/pipelines" >/dev/null
	[ "$(code)" = 401 ]
	run "$FERRY" serve user key alice --state "$SV/state"
	[ "$status" -eq 1 ]
	[[ "$output" == *"no user alice"* ]]
}

@test "serve: /authenticate gives a working key; a wrong password is 401" {
	serve_user alice 'secret-pass' >/dev/null
	serve_start
	run curl -s -X POST -H 'Content-Type: application/json' -d '{"username":"alice","password":"secret-pass"}' "$URL/authenticate"
	[ "$(jf httpHeader <<<"$output")" = apikey ]
	key=$(jf httpHeaderValue <<<"$output")
	api "$key" "$URL/pipelines" >/dev/null
	[ "$(code)" = 200 ]
	api x -X POST -d '{"username":"alice","password":"wrong"}' "$URL/authenticate" >/dev/null
	[ "$(code)" = 401 ]
	api x -X POST -d '{"username":"nobody","password":"wrong"}' "$URL/authenticate" >/dev/null
	[ "$(code)" = 401 ]
	api x -X POST -d '{"username":1}' "$URL/authenticate" >/dev/null
	[ "$(code)" = 400 ]
}

@test "serve: 1000 wrong passwords are rate-limited, and the right one works afterwards" {
	serve_user alice 'secret-pass' >/dev/null
	# one more attempt every 30 s: the 1000 come much faster than that on
	# any machine, and the right password must wait for one token only
	serve_start --auth-limit 5/30
	run python3 - "$URL" <<'PY'
import http.client, json, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
c = http.client.HTTPConnection(u.hostname, u.port)
codes = {}
for i in range(1000):
    c.request("POST", "/authenticate", json.dumps({"username": "alice", "password": "wrong%d" % i}),
              {"Content-Type": "application/json"})
    r = c.getresponse(); r.read()
    codes[r.status] = codes.get(r.status, 0) + 1
    if r.status not in (401, 429):
        print("unexpected", r.status); sys.exit(1)
print(json.dumps(codes))
PY
	[ "$status" -eq 0 ]
	# at most the burst, plus what the refill allowed, ran the KDF
	[ "$(jf 429 <<<"$output")" -gt 900 ]
	for i in $(seq 1 120); do
		api x -X POST -d '{"username":"alice","password":"secret-pass"}' "$URL/authenticate" >/dev/null
		[ "$(code)" = 200 ] && break
		[ "$(code)" = 429 ] || die "authenticate: $(code)"
		sleep 1
	done
	[ "$(code)" = 200 ]
}

@test "serve: a client that never finishes its headers is cut off" {
	serve_start --client-timeout 2
	run python3 - "$URL" <<'PY'
import socket, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
s = socket.create_connection((u.hostname, u.port))
s.sendall(b"GET /platform HTTP/1.1\r\nHost: x\r\nX-Slow: ")
s.settimeout(60)
try:
    data = s.recv(100)
except socket.timeout:
    print("still open after 60 s"); sys.exit(1)
print("closed", data[:20])
PY
	[ "$status" -eq 0 ]
	[[ "$output" == closed* ]]
	# the server still answers others
	run curl -s "$URL/platform"
	[[ "$output" == *supportedAPIVersion* ]]
}

@test "serve: malformed JSON, wrong types and unknown pipelines: 400 with the envelope" {
	key=$(serve_user alice)
	serve_start
	api "$key" -X POST -H 'Content-Type: application/json' -d '{"name": ' "$URL/executions" >"$SV/out"
	[ "$(code)" = 400 ]
	[ "$(jf errorCode <"$SV/out")" = 40001 ]
	api "$key" -X POST -d '[1,2]' "$URL/executions" >/dev/null
	[ "$(code)" = 400 ]
	api "$key" -X POST -d '{"name": 3, "pipelineIdentifier": "echo-tool/1.0", "inputValues": {}}' "$URL/executions" >"$SV/out"
	[ "$(code)" = 400 ]
	[ "$(jf errorCode <"$SV/out")" = 40002 ]
	api "$key" -X POST -d '{"name": "x", "pipelineIdentifier": "no/such", "inputValues": {}}' "$URL/executions" >"$SV/out"
	[ "$(code)" = 400 ]
	[ "$(jf errorCode <"$SV/out")" = 40403 ]
	api "$key" "$URL/no/such/route" >/dev/null
	[ "$(code)" = 404 ]
}

@test "serve: pipelines from descriptors: ids with '/', the descriptor verbatim, property filters" {
	serve_descriptor other.json other 'echo [IN] [N] > [OUT]'
	printf '{"name": "hostonly", "tool-version": "1", "schema-version": "0.5", "description": "d", "command-line": "true [X]", "inputs": [{"id": "x", "name": "x", "type": "String", "value-key": "[X]", "optional": true}]}' >"$SV/pl/host.json"
	echo '{ not json' >"$SV/pl/broken.json"
	key=$(serve_user alice)
	serve_start
	grep -q 'host.json: left out: it names no container-image' "$SV/log"
	grep -q 'broken.json' "$SV/log"
	run api "$key" "$URL/pipelines"
	[ "$(code)" = 200 ]
	[ "$(python3 -c 'import json,sys; print(sorted(p["identifier"] for p in json.load(sys.stdin)))' <<<"$output")" = "['echo-tool/1.0', 'other/1.0']" ]
	run api "$key" "$URL/pipelines/echo-tool/1.0"
	[ "$(jf identifier <<<"$output")" = echo-tool/1.0 ]
	[ "$(jf parameters.0.name <<<"$output")" = infile ]
	[ "$(jf parameters.1.type <<<"$output")" = Int64 ]
	[ "$(jf parameters.3.isReturnedValue <<<"$output")" = true ]
	run api "$key" "$URL/pipelines/echo-tool%2F1.0"
	[ "$(code)" = 200 ]
	api "$key" "$URL/pipelines/echo-tool/1.0/boutiquesdescriptor" >"$SV/desc"
	cmp "$SV/desc" "$SV/pl/echo.json"
	run api "$key" "$URL/pipelines?property=kind&propertyValue=other"
	[ "$(jf 0.identifier <<<"$output")" = other/1.0 ]
	[ "$(python3 -c 'import json,sys; print(len(json.load(sys.stdin)))' <<<"$output")" = 1 ]
	api "$key" "$URL/pipelines?property=nosuch" >/dev/null
	[ "$(code)" = 400 ]
	api "$key" "$URL/pipelines/none/1.0" >/dev/null
	[ "$(code)" = 404 ]
}

@test "serve path: mkdir, streamed upload, exists, properties, list, md5, content, 201 + Location" {
	key=$(serve_user alice)
	serve_start
	run curl -s -i -X PUT -H "apikey: $key" "$URL/path/alice/in"
	[[ "$output" == *"HTTP/1.1 201"* ]]
	[[ "$output" == *"Location: $URL/path/alice/in"* ]]
	api "$key" -X PUT "$URL/path/alice/in" >/dev/null
	[ "$(code)" = 409 ]
	printf 'hello\n' >"$SV/h.txt"
	api "$key" -X PUT -H 'Content-Type: application/octet-stream' --data-binary @"$SV/h.txt" "$URL/path/alice/in/h%20x.txt" >"$SV/out"
	[ "$(code)" = 201 ]
	[ "$(jf platformPath <"$SV/out")" = "/alice/in/h x.txt" ]
	[ "$(cat "$SV/state/data/alice/in/h x.txt")" = hello ]
	api "$key" -X PUT -H 'Content-Type: application/octet-stream' --data-binary @"$SV/h.txt" "$URL/path/alice/nodir/h.txt" >/dev/null
	[ "$(code)" = 404 ]
	[ "$(api "$key" "$URL/path/alice/in/h%20x.txt?action=exists" | jf exists)" = true ]
	[ "$(api "$key" "$URL/path/alice/none?action=exists" | jf exists)" = false ]
	[ "$(api "$key" "$URL/path/bob/x?action=exists" | jf exists)" = false ]
	run api "$key" "$URL/path/alice/in?action=properties"
	[ "$(jf isDirectory <<<"$output")" = true ]
	[ "$(jf size <<<"$output")" = 6 ]
	run api "$key" "$URL/path/alice/in?action=list"
	[ "$(jf 0.platformPath <<<"$output")" = "/alice/in/h x.txt" ]
	api "$key" "$URL/path/alice/in/h%20x.txt?action=list" >/dev/null
	[ "$(code)" = 400 ]
	[ "$(api "$key" "$URL/path/alice/in/h%20x.txt?action=md5" | jf md5)" = "$(md5sum <"$SV/h.txt" | cut -d' ' -f1)" ]
	[ "$(api "$key" "$URL/path/alice/in/h%20x.txt?action=content")" = hello ]
	api "$key" "$URL/path/alice/in/h%20x.txt" >/dev/null
	[ "$(code)" = 400 ]
	api "$key" "$URL/path/alice/none?action=properties" >/dev/null
	[ "$(code)" = 404 ]
	# overwrite
	printf 'bye\n' | api "$key" -X PUT -H 'Content-Type: text/plain' --data-binary @- "$URL/path/alice/in/h%20x.txt" >/dev/null
	[ "$(code)" = 201 ]
	[ "$(cat "$SV/state/data/alice/in/h x.txt")" = bye ]
}

@test "serve path: a directory's content is a .tar.gz; DELETE is recursive; /vip/Home is the same tree" {
	key=$(serve_user alice)
	serve_start
	mkdir -p "$SV/state/data/alice/d/sub"
	echo one >"$SV/state/data/alice/d/a.txt"
	echo two >"$SV/state/data/alice/d/sub/b.txt"
	ln -s /etc/passwd "$SV/state/data/alice/d/link"
	api "$key" "$URL/path/vip/Home/d?action=content" >"$SV/d.tgz"
	[ "$(code)" = 200 ]
	run tar -tzf "$SV/d.tgz"
	[[ "$output" == *"a.txt"* ]]
	[[ "$output" == *"sub/b.txt"* ]]
	[[ "$output" != *"link"* ]]
	[ "$(tar -xzOf "$SV/d.tgz" sub/b.txt)" = two ]
	run api "$key" "$URL/path/vip/Home/d?action=list"
	[ "$(jf 0.platformPath <<<"$output")" = /vip/Home/d/a.txt ]
	api "$key" -X DELETE "$URL/path/vip/Home/d" >/dev/null
	[ "$(code)" = 204 ]
	[ ! -e "$SV/state/data/alice/d" ]
	api "$key" -X DELETE "$URL/path/alice/d" >/dev/null
	[ "$(code)" = 404 ]
	api "$key" -X DELETE "$URL/path/alice" >/dev/null
	[ "$(code)" = 403 ]
	[ -d "$SV/state/data/alice" ]
}

@test "serve path: application/carmin+json uploads a base64 File, a zip or a tar.gz Archive" {
	key=$(serve_user alice)
	serve_start
	b64=$(printf 'data\n' | base64 -w0)
	api "$key" -X PUT -H 'Content-Type: application/carmin+json' -d "{\"base64Content\":\"$b64\",\"type\":\"File\",\"md5\":\"$(printf 'data\n' | md5sum | cut -d' ' -f1)\"}" "$URL/path/alice/f.txt" >/dev/null
	[ "$(code)" = 201 ]
	[ "$(cat "$SV/state/data/alice/f.txt")" = data ]
	api "$key" -X PUT -H 'Content-Type: application/carmin+json' -d "{\"base64Content\":\"$b64\",\"type\":\"File\",\"md5\":\"00\"}" "$URL/path/alice/g.txt" >/dev/null
	[ "$(code)" = 400 ]
	[ ! -e "$SV/state/data/alice/g.txt" ]
	api "$key" -X PUT -H 'Content-Type: application/carmin+json' -d '{"base64Content":"!!!","type":"File"}' "$URL/path/alice/g.txt" >/dev/null
	[ "$(code)" = 400 ]
	mkdir -p "$SV/z/in/deep" && echo z >"$SV/z/in/deep/z.txt"
	(cd "$SV/z/in" && python3 -c 'import zipfile; z=zipfile.ZipFile("../a.zip","w"); z.write("deep/z.txt"); z.close()')
	api "$key" -X PUT -H 'Content-Type: application/carmin+json' -d "{\"base64Content\":\"$(base64 -w0 "$SV/z/a.zip")\",\"type\":\"Archive\"}" "$URL/path/alice/zipped" >/dev/null
	[ "$(code)" = 201 ]
	[ "$(cat "$SV/state/data/alice/zipped/deep/z.txt")" = z ]
	tar -C "$SV/z/in" -czf "$SV/z/a.tgz" deep
	api "$key" -X PUT -H 'Content-Type: application/carmin+json' -d "{\"base64Content\":\"$(base64 -w0 "$SV/z/a.tgz")\",\"type\":\"Archive\"}" "$URL/path/alice/tgz" >/dev/null
	[ "$(code)" = 201 ]
	[ "$(cat "$SV/state/data/alice/tgz/deep/z.txt")" = z ]
	# an archive whose member climbs out is refused and leaves nothing
	python3 -c 'import zipfile; z=zipfile.ZipFile("'"$SV"'/z/evil.zip","w"); z.writestr("../../escaped.txt","x"); z.close()'
	api "$key" -X PUT -H 'Content-Type: application/carmin+json' -d "{\"base64Content\":\"$(base64 -w0 "$SV/z/evil.zip")\",\"type\":\"Archive\"}" "$URL/path/alice/evil" >/dev/null
	[ "$(code)" = 400 ]
	[ ! -e "$SV/state/data/alice/evil" ]
	[ ! -e "$SV/state/data/escaped.txt" ] && [ ! -e "$SV/state/escaped.txt" ]
}

@test "serve path: traversal (.., %2e%2e, %2F, absolute paths, planted symlinks) and other users' trees" {
	key=$(serve_user alice)
	serve_user bob >/dev/null
	serve_start
	echo TOPSECRET-CONTENT >"$SV/state/data/bob/secret.txt"
	mkdir -p "$SV/state/data/alice/d"
	ln -s /etc "$SV/state/data/alice/abs"
	ln -s ../bob "$SV/state/data/alice/up"
	ln -s ../../serve.db "$SV/state/data/alice/d/db"
	for p in /path/bob/secret.txt /path/alice/../bob/secret.txt /path/alice/%2e%2e/bob/secret.txt \
		/path/alice/d/..%2F..%2Fbob/secret.txt /path/vip/Home/../../bob/secret.txt /path//bob/secret.txt \
		/path/alice/up/secret.txt /path/alice/abs/passwd /path/alice/d/db /path/%2Fetc/passwd /path/etc/passwd; do
		api "$key" --path-as-is "$URL$p?action=content" >"$SV/out"
		case $(code) in 403 | 404) ;; *) die "$p: HTTP $(code): $(cat "$SV/out")" ;; esac
		[[ "$(cat "$SV/out")" != *TOPSECRET* ]] || die "$p leaked"
		[[ "$(cat "$SV/out")" == *errorCode* ]]
	done
	api "$key" --path-as-is "$URL/path/alice/../bob?action=list" >/dev/null
	[ "$(code)" != 200 ]
	api "$key" --path-as-is -X DELETE "$URL/path/alice/up/secret.txt" >/dev/null
	[ -e "$SV/state/data/bob/secret.txt" ]
	api "$key" --path-as-is -X DELETE "$URL/path/alice/%2e%2e/bob/secret.txt" >/dev/null
	[ -e "$SV/state/data/bob/secret.txt" ]
	printf 'x' | api "$key" --path-as-is -X PUT -H 'Content-Type: text/plain' --data-binary @- "$URL/path/alice/up/new.txt" >/dev/null
	[ ! -e "$SV/state/data/bob/new.txt" ]
	printf 'x' | api "$key" --path-as-is -X PUT -H 'Content-Type: text/plain' --data-binary @- "$URL/path/alice/%2e%2e/bob/new.txt" >/dev/null
	[ ! -e "$SV/state/data/bob/new.txt" ]
	# a symlink pointing inside the tree still works
	ln -s d "$SV/state/data/alice/same"
	api "$key" "$URL/path/alice/same?action=exists" | grep -q true
}

@test "serve path: a body over --max-upload is 413 and leaves no partial file" {
	key=$(serve_user alice)
	serve_start --max-upload 1M
	head -c 3000000 /dev/zero >"$SV/big"
	api "$key" -X PUT -H 'Content-Type: application/octet-stream' --data-binary @"$SV/big" "$URL/path/alice/big" >"$SV/out"
	[ "$(code)" = 413 ]
	[ "$(jf errorCode <"$SV/out")" = 41301 ]
	# no Content-Length: chunked, refused while it streams
	api "$key" -X PUT -H 'Content-Type: application/octet-stream' -H 'Transfer-Encoding: chunked' --data-binary @- "$URL/path/alice/big2" <"$SV/big" >/dev/null
	[ "$(code)" = 413 ]
	[ -z "$(ls -A "$SV/state/data/alice")" ]
	head -c 1000 /dev/zero | api "$key" -X PUT -H 'Content-Type: application/octet-stream' --data-binary @- "$URL/path/alice/small" >/dev/null
	[ "$(code)" = 201 ]
}

@test "serve: SIGTERM stops it with status 0; a busy port is one clear error" {
	serve_start
	port=${URL##*:}
	run timeout 20 "$FERRY" serve --listen "127.0.0.1:$port" --state "$SV/state2"
	[ "$status" -eq 1 ]
	[[ "$output" == *"cannot listen on 127.0.0.1:$port"* ]]
	serve_stop
	run timeout 20 "$FERRY" serve --listen nowhere --state "$SV/state2"
	[ "$status" -eq 2 ]
}

@test "serve: --tls-cert/--tls-key serve HTTPS" {
	serve_dirs
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$SV/key.pem" -out "$SV/cert.pem" -days 1 \
		-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null
	serve_start --tls-cert "$SV/cert.pem" --tls-key "$SV/key.pem"
	[[ "$URL" == https://* ]]
	run curl -s --cacert "$SV/cert.pem" "$URL/platform"
	[[ "$output" == *supportedAPIVersion* ]]
	run curl -s "http://${URL#https://}/platform"
	[[ "$output" != *supportedAPIVersion* ]]
	run timeout 20 "$FERRY" serve --listen 127.0.0.1:0 --state "$SV/s2" --tls-cert "$SV/cert.pem"
	[ "$status" -eq 2 ]
	[[ "$output" == *"needs both --tls-cert and --tls-key"* ]]
}

@test "serve: SIGTERM drains a request in flight, then exits 0" {
	key=$(serve_user alice)
	serve_start
	# larger than what the socket buffers hold, so the answer is still being
	# sent when the signal comes
	head -c 48000000 /dev/urandom >"$SV/state/data/alice/big.bin"
	curl -s --limit-rate 8M -H "apikey: $key" -o "$SV/got.bin" "$URL/path/alice/big.bin?action=content" &
	dl=$!
	for i in $(seq 1 50); do [ -s "$SV/got.bin" ] && break; sleep 0.1; done
	[ -s "$SV/got.bin" ]
	kill -TERM "$SV_PID"
	wait "$dl"
	cmp "$SV/got.bin" "$SV/state/data/alice/big.bin"
	serve_stop
	# and it accepts nothing new meanwhile: the port is closed now
	run curl -s -m 5 "$URL/platform"
	[ "$status" -ne 0 ]
}
