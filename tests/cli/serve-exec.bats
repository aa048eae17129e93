#!/usr/bin/env bats
# ferry serve: executions (each a ferry batch run), their life cycle and
# listing, user isolation, what the container sees, and a server killed
# with SIGKILL in the middle of uploads and executions (doc/serve.md).

load ../lib/common
load serve

setup() {
	ferry_test_env
	SV=$BATS_TEST_TMPDIR/sv
	serve_descriptor echo.json echo-tool 'cat [IN] > [OUT]; echo done [N]; echo to-stderr [N] >&2'
	serve_descriptor sleep.json sleeper 'sleep [N]; cat [IN] > [OUT]'
	A=$(serve_user alice)
	B=$(serve_user bob)
	printf 'input data\n' >"$SV/in.txt"
}

teardown() {
	serve_stop || true
}

upload() { # KEY PLATFORM-PATH FILE
	api "$1" -X PUT -H 'Content-Type: application/octet-stream' --data-binary @"$3" "$URL/path$2" >/dev/null
	[ "$(code)" = 201 ] || die "upload $2: $(code)"
}

launch() { # KEY JSON : prints the identifier
	api "$1" -X POST -H 'Content-Type: application/json' -d "$2" "$URL/executions" >"$SV/launch"
	[ "$(code)" = 200 ] || die "launch: $(code): $(cat "$SV/launch")"
	jf identifier <"$SV/launch"
}

@test "serve exec: POST starts it, it finishes; stdout, stderr, results, returnedFiles, dates in seconds" {
	serve_start
	upload "$A" /alice/in.txt "$SV/in.txt"
	id=$(launch "$A" '{"name":"run1","pipelineIdentifier":"echo-tool/1.0","inputValues":{"infile":"/alice/in.txt","n":7}}')
	[[ "$(jf status <"$SV/launch")" =~ ^(Ready|Running)$ ]]
	# returnedFiles is absent until the execution is terminal
	! grep -q returnedFiles "$SV/launch"
	e=$(wait_exec "$A" "$id")
	[ "$(jf status <<<"$e")" = Finished ]
	[ "$(jf returnedFiles.result.0 <<<"$e")" = "/alice/executions/$id/out.txt" ]
	start=$(jf startDate <<<"$e")
	[ "$start" -gt 1000000000 ] && [ "$start" -lt 100000000000 ]
	[ "$(jf endDate <<<"$e")" -ge "$start" ]
	[ "$(api "$A" "$URL/path/alice/executions/$id/out.txt?action=content")" = "input data" ]
	[ "$(api "$A" "$URL/executions/$id/stdout")" = "done 7" ]
	[ "$(api "$A" "$URL/executions/$id/stderr")" = "to-stderr 7" ]
	run api "$A" "$URL/executions/$id/results"
	[ "$(jf 0.platformPath <<<"$output")" = "/alice/executions/$id/out.txt" ]
	[ "$(jf 0.executionId <<<"$output")" = "$id" ]
	api "$A" -X PUT "$URL/executions/$id/play" >/dev/null
	[ "$(code)" = 204 ]
	run curl -s -i -H "apikey: $A" "$URL/executions/count"
	[[ "$output" == *"Content-Type: text/plain"* ]]
	[ "${output##*$'\r\n\r\n'}" = 1 ]
}

@test "serve exec: invalid input values are InitializationFailed with the details, at POST" {
	serve_start
	upload "$A" /alice/in.txt "$SV/in.txt"
	api "$A" -X POST -d '{"name":"x","pipelineIdentifier":"echo-tool/1.0","inputValues":{"infile":"/alice/in.txt","n":"seven"}}' "$URL/executions" >"$SV/out"
	[ "$(code)" = 400 ]
	[ "$(jf errorCode <"$SV/out")" = 40004 ]
	[ "$(jf errorDetails.status <"$SV/out")" = InitializationFailed ]
	[ "$(jf errorDetails.problems.0.input <"$SV/out")" = n ]
	api "$A" -X POST -d '{"name":"x","pipelineIdentifier":"echo-tool/1.0","inputValues":{"nosuch":1}}' "$URL/executions" >"$SV/out"
	[ "$(code)" = 400 ]
	[ "$(jf errorDetails.problems.0.input <"$SV/out")" = nosuch ]
	api "$A" -X POST -d '{"name":"x","pipelineIdentifier":"echo-tool/1.0","inputValues":{"infile":"/alice/missing.txt"}}' "$URL/executions" >"$SV/out"
	[ "$(code)" = 400 ]
	[[ "$(jf errorMessage <"$SV/out")" == *"no such file in your tree"* ]]
	api "$A" -X POST -d '{"name":"x","pipelineIdentifier":"echo-tool/1.0","inputValues":{},"timeout":-1}' "$URL/executions" >/dev/null
	[ "$(code)" = 400 ]
	[ "$(api "$A" "$URL/executions/count")" = 0 ]
}

@test "serve exec: user B cannot see, read, kill, delete or launch with user A's executions and files: 404" {
	serve_start
	echo TOPSECRET-A >"$SV/secret.txt"
	upload "$A" /alice/secret.txt "$SV/secret.txt"
	id=$(launch "$A" '{"name":"a","pipelineIdentifier":"echo-tool/1.0","inputValues":{"infile":"/alice/secret.txt"}}')
	wait_exec "$A" "$id" >/dev/null
	for op in "" /results /stdout /stderr; do
		api "$B" "$URL/executions/$id$op" >/dev/null
		[ "$(code)" = 404 ] || die "GET /executions/$id$op as bob: $(code)"
	done
	api "$B" -X PUT "$URL/executions/$id/kill" >/dev/null
	[ "$(code)" = 404 ]
	api "$B" -X PUT -d '{"name":"mine"}' "$URL/executions/$id" >/dev/null
	[ "$(code)" = 404 ]
	api "$B" -X DELETE "$URL/executions/$id?deleteFiles=true" >/dev/null
	[ "$(code)" = 404 ]
	[ "$(api "$B" "$URL/executions")" = "[]" ]
	[ "$(api "$B" "$URL/executions/count")" = 0 ]
	api "$B" "$URL/path/alice/secret.txt?action=content" >/dev/null
	[ "$(code)" = 404 ]
	api "$B" "$URL/path/alice?action=list" >/dev/null
	[ "$(code)" = 404 ]
	api "$B" -X DELETE "$URL/path/alice/secret.txt" >/dev/null
	[ "$(code)" = 404 ]
	for f in /alice/secret.txt /vip/Home/../../alice/secret.txt /bob/../alice/secret.txt "$SV/state/data/alice/secret.txt" "$URL/path/alice/secret.txt"; do
		api "$B" -X POST -d "{\"name\":\"b\",\"pipelineIdentifier\":\"echo-tool/1.0\",\"inputValues\":{\"infile\":\"$f\"}}" "$URL/executions" >"$SV/out"
		[ "$(code)" = 400 ] || die "bob launched with $f: $(code)"
		[ "$(jf errorCode <"$SV/out")" = 40004 ]
	done
	[ "$(api "$A" "$URL/executions/$id" | jf status)" = Finished ]
	[ -e "$SV/state/data/alice/secret.txt" ]
}

@test "serve exec: the container sees neither other users' trees nor the server's state" {
	serve_descriptor spy.json spy "cat $SV/state/serve.db > [OUT] 2>&1; cat $SV/state/data/bob/secret.txt >> [OUT] 2>&1; cat ../../../../data/bob/secret.txt >> [OUT] 2>&1; echo LS:\$(ls $SV/state/data 2>/dev/null) >> [OUT]; echo [IN] [N] end >> [OUT]"
	serve_start
	echo TOPSECRET-B >"$SV/secret.txt"
	upload "$B" /bob/secret.txt "$SV/secret.txt"
	id=$(launch "$A" '{"name":"spy","pipelineIdentifier":"spy/1.0","inputValues":{}}')
	e=$(wait_exec "$A" "$id")
	[ "$(jf status <<<"$e")" = Finished ]
	out=$(api "$A" "$URL/path/alice/executions/$id/out.txt?action=content")
	[[ "$out" == *end* ]]
	[[ "$out" != *TOPSECRET* ]]
	[[ "$out" != *"SQLite format"* ]]
	[ "$(grep '^LS:' <<<"$out")" = "LS:" ]
}

@test "serve exec: timeout is enforced: the execution is killed" {
	serve_start
	upload "$A" /alice/in.txt "$SV/in.txt"
	id=$(launch "$A" '{"name":"t","pipelineIdentifier":"sleeper/1.0","inputValues":{"infile":"/alice/in.txt","n":300},"timeout":1}')
	e=$(wait_exec "$A" "$id")
	[ "$(jf status <<<"$e")" = Killed ]
	[ "$(jf errorCode <<<"$e")" = 50003 ]
	[ "$(jf timeout <<<"$e")" = 1 ]
}

@test "serve exec: update changes only name and timeout; kill; DELETE ?deleteFiles=true frees the files" {
	serve_start
	upload "$A" /alice/in.txt "$SV/in.txt"
	id=$(launch "$A" '{"name":"t","pipelineIdentifier":"sleeper/1.0","inputValues":{"infile":"/alice/in.txt","n":300}}')
	# read it first (on each pool thread): the server keeps the answer
	# until something changes; the update must show at once
	for _ in 1 2 3 4; do [ "$(api "$A" "$URL/executions/$id" | jf name)" = t ]; done
	api "$A" -X PUT -d '{"name":"renamed","timeout":500,"pipelineIdentifier":"ignored"}' "$URL/executions/$id" >/dev/null
	[ "$(code)" = 204 ]
	e=$(api "$A" "$URL/executions/$id")
	[ "$(jf name <<<"$e")" = renamed ]
	[ "$(jf timeout <<<"$e")" = 500 ]
	[ "$(jf pipelineIdentifier <<<"$e")" = sleeper/1.0 ]
	api "$A" -X PUT -d '{"identifier":"other"}' "$URL/executions/$id" >/dev/null
	[ "$(code)" = 400 ]
	api "$A" -X PUT -d '{"status":"Finished"}' "$URL/executions/$id" >/dev/null
	[ "$(code)" = 400 ]
	api "$A" -X PUT "$URL/executions/$id/kill" >/dev/null
	[ "$(code)" = 204 ]
	[ "$(wait_exec "$A" "$id" | jf status)" = Killed ]
	api "$A" -X PUT "$URL/executions/$id/kill" >/dev/null
	[ "$(code)" = 409 ]
	# a finished one, deleted with its files
	id2=$(launch "$A" '{"name":"f","pipelineIdentifier":"echo-tool/1.0","inputValues":{"infile":"/alice/in.txt"}}')
	wait_exec "$A" "$id2" >/dev/null
	[ -e "$SV/state/data/alice/executions/$id2/out.txt" ]
	api "$A" -X DELETE "$URL/executions/$id2?deleteFiles=true" >/dev/null
	[ "$(code)" = 204 ]
	[ ! -e "$SV/state/data/alice/executions/$id2" ]
	[ ! -e "$SV/state/runs/$id2" ]
	api "$A" "$URL/executions/$id2" >/dev/null
	[ "$(code)" = 404 ]
	# without deleteFiles the results stay
	id3=$(launch "$A" '{"name":"g","pipelineIdentifier":"echo-tool/1.0","inputValues":{"infile":"/alice/in.txt"}}')
	wait_exec "$A" "$id3" >/dev/null
	api "$A" -X DELETE "$URL/executions/$id3" >/dev/null
	[ -e "$SV/state/data/alice/executions/$id3/out.txt" ]
}

@test "serve exec: the list is newest first with offset and limit; results go under resultsLocation" {
	serve_start
	upload "$A" /alice/in.txt "$SV/in.txt"
	api "$A" -X PUT "$URL/path/alice/res" >/dev/null
	ids=()
	for i in 1 2 3; do
		ids+=("$(launch "$A" "{\"name\":\"n$i\",\"pipelineIdentifier\":\"echo-tool/1.0\",\"inputValues\":{\"infile\":\"/vip/Home/in.txt\"},\"resultsLocation\":\"/vip/Home/res\"}")")
	done
	run api "$A" "$URL/executions"
	[ "$(python3 -c 'import json,sys; print(" ".join(e["name"] for e in json.load(sys.stdin)))' <<<"$output")" = "n3 n2 n1" ]
	run api "$A" "$URL/executions?offset=1&limit=1"
	[ "$(python3 -c 'import json,sys; print(" ".join(e["name"] for e in json.load(sys.stdin)))' <<<"$output")" = "n2" ]
	api "$A" "$URL/executions?offset=x" >/dev/null
	[ "$(code)" = 400 ]
	e=$(wait_exec "$A" "${ids[0]}")
	# paths come back in the namespace the client used
	[ "$(jf returnedFiles.result.0 <<<"$e")" = "/vip/Home/res/${ids[0]}/out.txt" ]
	[ -e "$SV/state/data/alice/res/${ids[0]}/out.txt" ]
	api "$A" -X POST -d '{"name":"x","pipelineIdentifier":"echo-tool/1.0","inputValues":{"infile":"/alice/in.txt"},"resultsLocation":"/bob"}' "$URL/executions" >/dev/null
	[ "$(code)" = 400 ]
}

@test "serve exec: SIGKILL mid-upload and mid-execution loses no finished file or record, shows no partial file" {
	serve_start
	upload "$A" /alice/done.txt "$SV/in.txt"
	id=$(launch "$A" '{"name":"k","pipelineIdentifier":"sleeper/1.0","inputValues":{"infile":"/alice/done.txt","n":3}}')
	# an upload stopped half way: headers say 10 MB, 1 MB sent
	python3 - "$URL" "$A" <<'PY' &
import socket, sys, time, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
s = socket.create_connection((u.hostname, u.port))
s.sendall(("PUT /path/alice/partial.bin HTTP/1.1\r\nHost: x\r\napikey: %s\r\n"
           "Content-Type: application/octet-stream\r\nContent-Length: 10000000\r\n\r\n" % sys.argv[2]).encode())
s.sendall(b"x" * 1000000)
time.sleep(30)
PY
	up=$!
	for i in $(seq 1 50); do
		[ -n "$(find /proc/"$SV_PID"/fd -lname '*O_TMPFILE*' 2>/dev/null)$(ls -A "$SV/state/data/alice" | grep -v done.txt)" ] && break
		sleep 0.1
	done
	kill -KILL "$SV_PID"
	wait "$SV_PID" || true
	SV_PID=
	kill "$up" 2>/dev/null || true
	serve_start
	[ "$(ls -A "$SV/state/data/alice" | grep -v -e '^done.txt$' -e '^executions$' || true)" = "" ]
	[ "$(cat "$SV/state/data/alice/done.txt")" = "input data" ]
	e=$(wait_exec "$A" "$id")
	[ "$(jf status <<<"$e")" = Finished ]
	[ "$(api "$A" "$URL/path/alice/executions/$id/out.txt?action=content")" = "input data" ]
	[ "$(api "$A" "$URL/executions/count")" = 1 ]
}
