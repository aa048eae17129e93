#!/usr/bin/env bats
# ferry batch on the local backend: many busybox tasks with failures by
# design, retries, resume after a SIGKILL of the driver (no task run twice
# once it succeeded), inputs (CSV typed from the descriptor, bad rows, VIP
# cross and dot expansion), cancellation, the image pulled once for the
# whole run (the registry's log), and bad input that creates nothing.
load ../lib/common
load ../lib/registry

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
	mkdir -p "$W"
	cd "$W"
	IMG="oci:$FERRY_TEST_IMAGES/busybox:latest"
}

teardown() {
	# a driver or workers left by a failed test
	if [ -n "${BG:-}" ]; then kill -KILL "$BG" 2>/dev/null || true; fi
	registry_stop
}

# desc FILE [IMAGE]: echo X into out.txt (and into /log/runs when bound),
# then exit CODE; FLAKY=1 fails with 4 on the first attempt only.
desc() {
	cat >"$1" <<EOF
{"name": "bbtool", "tool-version": "1", "schema-version": "0.5", "description": "d",
 "command-line": "echo [X] > out.txt; if [ -d /log ]; then echo [X] >> /log/runs; fi; sleep [SLEEP]; if [ [FLAKY] = 1 ] && [ ! -e tried ]; then touch tried; exit 4; fi; exit [CODE]",
 "container-image": {"type": "docker", "image": "${2:-$IMG}"},
 "inputs": [{"id": "x", "name": "x", "type": "String", "value-key": "[X]"},
  {"id": "code", "name": "code", "type": "Number", "integer": true, "value-key": "[CODE]", "optional": true, "default-value": 0},
  {"id": "flaky", "name": "flaky", "type": "Number", "integer": true, "value-key": "[FLAKY]", "optional": true, "default-value": 0},
  {"id": "sleep", "name": "sleep", "type": "Number", "value-key": "[SLEEP]", "optional": true, "default-value": 0}],
 "error-codes": [{"code": 3, "description": "three by design"}],
 "output-files": [{"id": "out", "name": "out", "path-template": "out.txt"}]}
EOF
}

# tasks N [SLEEP]: N invocations as JSON Lines; every 10th exits 3, every
# 10th+5 is flaky
tasks() {
	python3 - "$1" "${2:-0}" <<'PY'
import json, sys
n, s = int(sys.argv[1]), float(sys.argv[2])
for i in range(n):
    print(json.dumps({"x": "t%d" % i, "code": 3 if i % 10 == 0 else 0, "flaky": 1 if i % 10 == 5 else 0, "sleep": s}))
PY
}

q() { sqlite3 -cmd '.timeout 30000' "$1/batch.db" "$2"; }

@test "batch: 200 busybox tasks, failures by design, retries except --no-retry-codes" {
	desc d.json
	tasks 200 >t.jsonl
	run "$FERRY" batch submit d.json t.jsonl --run-dir R -j 4 --retries 2 --no-retry-codes 3 -q
	[ "$status" -eq 1 ] # not every task succeeded
	[ "$(q R "select count(*) from tasks where state='succeeded'")" -eq 180 ]
	[ "$(q R "select count(*) from tasks where state='failed'")" -eq 20 ]
	# exit 3 is not retried; the flaky ones succeeded on their second attempt
	[ "$(q R "select count(*) from tasks where state='failed' and exit_code=3 and attempt=1")" -eq 20 ]
	[ "$(q R "select count(*) from tasks where id % 10 = 5 and state='succeeded' and attempt=2")" -eq 20 ]
	[ "$(q R "select count(*) from tasks where id % 10 not in (0, 5) and attempt=1")" -eq 160 ]
	# each task's directory: invocation, output, provenance record
	[ "$(cat R/tasks/42/out.txt)" = t42 ]
	[ "$(jq -r .x R/tasks/42/invocation.json)" = t42 ]
	rec=$(ls R/tasks/42/bbtool_*.json)
	[ "$(jq -r '.summary.name' "$rec")" = bbtool ]
	[ "$(jq -r '."additional-information"."ferry-batch".task' "$rec")" = 42 ]
	# status: counts, the failed tasks with the error-codes description
	run "$FERRY" batch status R --json
	[ "$status" -eq 0 ]
	[ "$(jq .counts.succeeded <<<"$output")" -eq 180 ]
	[ "$(jq -r '.failed[0].error' <<<"$output")" = "three by design" ]
	[ "$(jq '.failed | length' <<<"$output")" -eq 20 ]
	run "$FERRY" batch status R
	[[ "$output" == *"task 10: exit 3 (three by design)"* ]]
	# outputs: absolute paths in each task's directory
	run "$FERRY" batch outputs R --json
	[ "$(jq -r '.[7].outputs.out' <<<"$output")" = "$W/R/tasks/7/out.txt" ]
	run "$FERRY" batch wait R
	[ "$status" -eq 1 ]
}

@test "batch: resume after a SIGKILL of the driver never runs a task twice" {
	desc d.json
	mkdir log
	python3 -c '
import json
for i in range(200): print(json.dumps({"x": "t%d" % i, "sleep": 0.05}))' >t.jsonl
	"$FERRY" batch submit d.json t.jsonl --run-dir R -j 4 -v "$W/log:/log" -q &
	BG=$!
	# mid-run: some tasks succeeded, most not
	for _ in $(seq 600); do
		n=$(q R "select count(*) from tasks where state='succeeded'" 2>/dev/null || echo 0)
		[ "${n:-0}" -ge 30 ] && break
		sleep 0.05
	done
	kill -KILL "$BG"
	wait "$BG" || true
	BG=
	before=$(q R "select count(*) from tasks where state='succeeded'")
	[ "$before" -ge 30 ]
	[ "$before" -lt 200 ]
	run "$FERRY" batch resume R -q
	[ "$status" -eq 0 ]
	[ "$(q R "select count(*) from tasks where state='succeeded'")" -eq 200 ]
	# every task ran exactly once: its line is in the log once
	[ "$(wc -l <log/runs)" -eq 200 ]
	[ "$(sort -u log/runs | wc -l)" -eq 200 ]
	run "$FERRY" batch wait R
	[ "$status" -eq 0 ]
	# a second resume has nothing to do
	run "$FERRY" batch resume R -q
	[ "$status" -eq 0 ]
	[ "$(wc -l <log/runs)" -eq 200 ]
}

@test "batch: workers that outlive a SIGKILLed driver leave result.json; resume records it and reruns nothing" {
	# the driver's ack never comes: each running worker must see its
	# driver gone, write result.json and exit, not wait for it forever
	desc d.json
	mkdir log
	python3 -c '
import json
for i in range(4): print(json.dumps({"x": "t%d" % i, "sleep": 2}))' >t.jsonl
	"$FERRY" batch submit d.json t.jsonl --run-dir R -j 2 -v "$W/log:/log" -q &
	BG=$!
	for _ in $(seq 400); do
		[ "$(q R "select count(*) from tasks where state='running'" 2>/dev/null)" = 2 ] && break
		sleep 0.05
	done
	[ "$(q R "select count(*) from tasks where state='running'")" = 2 ]
	kill -KILL "$BG"
	wait "$BG" || true
	BG=
	# the two workers finish on their own, within their task's time
	for _ in $(seq 200); do
		[ "$(ls R/tasks/*/result.json 2>/dev/null | wc -l)" -eq 2 ] && break
		sleep 0.05
	done
	[ "$(ls R/tasks/*/result.json | wc -l)" -eq 2 ]
	[ "$(q R "select count(*) from tasks where state='running'")" = 2 ]
	run "$FERRY" batch resume R -q
	[ "$status" -eq 0 ]
	[ "$(q R "select count(*) from tasks where state='succeeded'")" -eq 4 ]
	[ "$(wc -l <log/runs)" -eq 4 ]
	[ "$(sort -u log/runs | wc -l)" -eq 4 ]
}

@test "batch: SIGTERM stops the running tasks and records them cancelled; resume finishes" {
	desc d.json
	python3 -c '
import json
for i in range(6): print(json.dumps({"x": "t%d" % i, "sleep": 59.125}))' >t.jsonl
	"$FERRY" batch submit d.json t.jsonl --run-dir R -j 2 -q &
	BG=$!
	for _ in $(seq 400); do
		[ "$(q R "select count(*) from tasks where state='running'" 2>/dev/null)" = 2 ] && break
		sleep 0.05
	done
	[ "$(q R "select count(*) from tasks where state='running'")" = 2 ]
	kill -TERM "$BG"
	st=0
	wait "$BG" || st=$?
	BG=
	[ "$st" -eq 130 ]
	[ "$(q R "select count(*) from tasks where state='cancelled'")" -eq 2 ]
	[ "$(q R "select count(*) from tasks where state='pending'")" -eq 4 ]
	[[ "$(q R "select reason from tasks where state='cancelled' limit 1")" == *cancelled* ]]
	# no tool left running (its sleep 60)
	! pgrep -f "sleep 59.125" -u "$(id -u)" >/dev/null
	run "$FERRY" batch wait R
	[ "$status" -eq 1 ]
	[[ "$output" == *"no driver runs it"*"ferry batch resume"* ]]
}

@test "batch cancel: a detached run stops; resume runs what was cancelled" {
	desc d.json
	python3 -c '
import json
for i in range(4): print(json.dumps({"x": "t%d" % i, "sleep": 59.125}))' >t.jsonl
	run "$FERRY" batch submit d.json t.jsonl --run-dir R -j 1 --detach
	[ "$status" -eq 0 ]
	for _ in $(seq 400); do
		[ "$(q R "select count(*) from tasks where state='running'" 2>/dev/null)" = 1 ] && break
		sleep 0.05
	done
	run "$FERRY" batch cancel R
	[ "$status" -eq 0 ]
	[ "$(q R "select count(*) from tasks where state='cancelled'")" -eq 4 ]
	run "$FERRY" batch status R --json
	[ "$(jq .\"driver-alive\" <<<"$output")" = false ]
	# resume runs the cancelled tasks again (they sleep again: cancel once
	# more to end)
	"$FERRY" batch resume R -q &
	BG=$!
	for _ in $(seq 400); do
		[ "$(q R "select count(*) from tasks where state='running'" 2>/dev/null)" = 1 ] && break
		sleep 0.05
	done
	[ "$(q R "select count(*) from tasks where state='running'")" = 1 ]
	run "$FERRY" batch cancel R -q
	wait "$BG" || true
	BG=
	[ "$(q R "select count(*) from tasks where state='cancelled'")" -eq 4 ]
}

@test "batch: CSV typed from the descriptor, lists with --list-sep, bad rows all reported" {
	cat >d.json <<EOF
{"name": "csvtool", "tool-version": "1", "schema-version": "0.5", "description": "d",
 "command-line": "echo [N] [F] [L] > out.txt",
 "container-image": {"type": "docker", "image": "$IMG"},
 "inputs": [{"id": "n", "name": "n", "type": "Number", "integer": true, "value-key": "[N]"},
  {"id": "f", "name": "f", "type": "Flag", "command-line-flag": "-f", "value-key": "[F]", "optional": true},
  {"id": "l", "name": "l", "type": "String", "list": true, "value-key": "[L]", "optional": true}],
 "output-files": [{"id": "out", "name": "out", "path-template": "out.txt"}]}
EOF
	printf 'n,f,l\n1,true,a|b\n2,false,"c,d"\nx,true,e\n3,maybe,f\n4,true\n' >bad.csv
	run "$FERRY" batch submit d.json bad.csv --list-sep '|' --run-dir R
	[ "$status" -eq 1 ]
	[[ "$output" == *"bad.csv:4: input 'n': 'x' is not an integer"* ]]
	[[ "$output" == *"bad.csv:5: input 'f': 'maybe' is not a flag"* ]]
	[[ "$output" == *"bad.csv:6: 2 cells where the header has 3"* ]]
	[[ "$output" == *"nothing was submitted"* ]]
	[ ! -e R ]
	printf 'n,f,l\n1,true,a|b\n2,false,"c,d"\n' >good.csv
	run "$FERRY" batch submit d.json good.csv --list-sep '|' --run-dir R -q
	[ "$status" -eq 0 ]
	[ "$(jq -c . R/tasks/0/invocation.json)" = '{"n":1,"f":true,"l":["a","b"]}' ]
	[ "$(jq -c . R/tasks/1/invocation.json)" = '{"n":2,"f":false,"l":["c,d"]}' ]
	[ "$(cat R/tasks/0/out.txt)" = "1 -f a b" ]
	# TSV, the same types
	printf 'n\tl\n7\tx;y\n' >t.tsv
	run "$FERRY" batch submit d.json t.tsv --run-dir R2 -q
	[ "$status" -eq 0 ]
	[ "$(jq -c . R2/tasks/0/invocation.json)" = '{"n":7,"l":["x","y"]}' ]
	# a header naming no input
	printf 'n,zz\n1,2\n' >h.csv
	run "$FERRY" batch submit d.json h.csv --run-dir R3
	[ "$status" -eq 1 ]
	[[ "$output" == *"h.csv:1: column 'zz' is no input id of the descriptor"* ]]
	[ ! -e R3 ]
}

@test "batch --expand: VIP's cross product, and pairwise for vip:dot" {
	cat >d.json <<EOF
{"name": "vip", "tool-version": "1", "schema-version": "0.5", "description": "d",
 "command-line": "echo [A] [B] [C] > out.txt",
 "container-image": {"type": "docker", "image": "$IMG"},
 "custom": {"vip:dot": ["a", "b"]},
 "inputs": [{"id": "a", "name": "a", "type": "String", "value-key": "[A]"},
  {"id": "b", "name": "b", "type": "String", "value-key": "[B]"},
  {"id": "c", "name": "c", "type": "String", "value-key": "[C]"}],
 "output-files": [{"id": "out", "name": "out", "path-template": "out.txt"}]}
EOF
	echo '{"a": ["1", "2", "3"], "b": ["x", "y", "z"], "c": ["p", "q"]}' >inv.json
	run "$FERRY" batch submit d.json --expand inv.json --run-dir R -q
	[ "$status" -eq 0 ]
	[ "$(q R 'select count(*) from tasks')" -eq 6 ]
	got=$(cat R/tasks/*/out.txt | sort | tr '\n' ,)
	[ "$got" = "1 x p,1 x q,2 y p,2 y q,3 z p,3 z q," ]
	# without vip:dot every list is crossed: 3 x 3 x 2
	jq 'del(.custom)' d.json >cross.json
	run "$FERRY" batch submit cross.json --expand inv.json --run-dir R2 -q
	[ "$status" -eq 0 ]
	[ "$(q R2 'select count(*) from tasks')" -eq 18 ]
	# dot lists of unequal lengths
	echo '{"a": ["1", "2"], "b": ["x", "y", "z"], "c": "p"}' >bad.json
	run "$FERRY" batch submit d.json --expand bad.json --run-dir R3
	[ "$status" -eq 1 ]
	[[ "$output" == *"vip:dot inputs 'a' (2 values) and 'b' (3 values) must have equal lengths"* ]]
	[ ! -e R3 ]
}

@test "batch: N tasks, one pull: the registry's log shows the run talked to it as one pull does" {
	registry_start
	registry_push "oci:$FERRY_TEST_IMAGES/busybox:latest" test/busybox:latest
	desc d.json "$REGISTRY/test/busybox:latest"
	# what one pull asks of the registry (ferry's requests: the push was
	# skopeo's), from an empty store
	FERRY_HOME=$W/other "$FERRY" pull -q --insecure "$REGISTRY/test/busybox:latest"
	one=$(grep -c '"ferry/' "$REGISTRY_LOG")
	python3 -c '
import json
for i in range(30): print(json.dumps({"x": "t%d" % i}))' >t.jsonl
	run "$FERRY" batch submit d.json t.jsonl --run-dir R -j 4 --insecure -q
	[ "$status" -eq 0 ]
	all=$(grep -c '"ferry/' "$REGISTRY_LOG")
	[ "$((all - one))" -eq "$one" ]
	# a resume finds it stored: no request at all
	run "$FERRY" batch resume R -q
	[ "$status" -eq 0 ]
	[ "$(grep -c '"ferry/' "$REGISTRY_LOG")" -eq "$all" ]
}

@test "batch: invalid invocations are all reported with their source; nothing is created" {
	desc d.json
	printf '{"x": "a"}\n{"code": 1}\n{"x": "b", "code": "three"}\n[1]\n' >t.jsonl
	run "$FERRY" batch submit d.json t.jsonl --run-dir R
	[ "$status" -eq 1 ]
	[[ "$output" == *"t.jsonl:2: "* ]]
	[[ "$output" == *"t.jsonl:3: "* ]]
	[[ "$output" == *"t.jsonl:4: an invocation is a JSON object, not an array"* ]]
	[[ "$output" != *"t.jsonl:1:"* ]]
	[ ! -e R ]
	# a File input that does not exist
	cat >f.json <<EOF
{"name": "ftool", "tool-version": "1", "schema-version": "0.5", "description": "d",
 "command-line": "cat [F] > out.txt", "container-image": {"type": "docker", "image": "$IMG"},
 "inputs": [{"id": "f", "name": "f", "type": "File", "value-key": "[F]"}]}
EOF
	echo hello >in.txt
	echo '[{"f": "in.txt"}, {"f": "missing.txt"}]' >fl.json
	run "$FERRY" batch submit f.json fl.json --run-dir R
	[ "$status" -eq 1 ]
	[[ "$output" == *"fl.json[1]: input 'f': missing.txt: No such file or directory"* ]]
	[ ! -e R ]
	# relative File inputs are taken from where the run was submitted
	echo '[{"f": "in.txt"}]' >ok.json
	run "$FERRY" batch submit f.json ok.json --run-dir R -q
	[ "$status" -eq 0 ]
	[ "$(cat R/tasks/0/out.txt)" = hello ]
}

@test "batch: bad descriptor, existing or unwritable RUN, Slurm unreachable: one line each" {
	cat >noimg.json <<EOF
{"name": "t", "tool-version": "1", "schema-version": "0.5", "description": "d",
 "command-line": "echo [X]", "inputs": [{"id": "x", "name": "x", "type": "String", "value-key": "[X]"}]}
EOF
	echo '{"x": "a"}' >i.json
	run "$FERRY" batch submit noimg.json i.json --run-dir R
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == "ferry: the descriptor names no container-image"*"--no-container"* ]]
	[ ! -e R ]
	# ... which --no-container runs on this host
	run "$FERRY" batch submit noimg.json i.json --run-dir R --no-container -q
	[ "$status" -eq 0 ]
	desc d.json
	run "$FERRY" batch submit d.json i.json --run-dir R
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == *"run directory R: File exists"*"ferry batch resume R"* ]]
	mkdir ro
	chmod 0555 ro
	if ! is_root; then
		run "$FERRY" batch submit d.json i.json --run-dir ro/R
		[ "$status" -eq 1 ]
		[ "${#lines[@]}" -eq 1 ]
		[[ "$output" == *"run directory ro/R: Permission denied"* ]]
		[ ! -e ro/R ]
	fi
	run "$FERRY" batch submit d.json i.json --run-dir "$W/nofile/R"
	[ "$status" -eq 1 ]
	[[ "$output" == *"nofile/R: No such file or directory"* ]]
	run "$FERRY" batch status nothere
	[ "$status" -eq 1 ]
	[[ "$output" == "ferry: nothere is no ferry batch run (no batch.db there)" ]]
	if command -v scontrol >/dev/null; then
		printf 'ClusterName=none\nSlurmctldHost=localhost\nSlurmctldPort=1\nAuthType=auth/none\n' >slurm.conf
		SLURM_CONF=$W/slurm.conf run "$FERRY" batch submit d.json i.json --run-dir S --backend slurm
		[ "$status" -eq 1 ]
		[[ "${lines[-1]}" == "ferry: Slurm unreachable: "*"or use --backend local"* ]]
		[ ! -e S ]
	fi
}

@test "batch: the journal's mode follows the file system, and can be forced" {
	desc d.json
	echo '{"x": "a"}' >i.json
	run "$FERRY" batch submit d.json i.json --run-dir R -q
	[ "$status" -eq 0 ]
	# a local file system: WAL
	[ "$(q R 'pragma journal_mode')" = wal ]
	[ "$(q R "select value from meta where key='journal_mode'")" = wal ]
	FERRY_BATCH_JOURNAL_MODE=delete run "$FERRY" batch submit d.json i.json --run-dir R2 -q
	[ "$status" -eq 0 ]
	[ "$(q R2 'pragma journal_mode')" = delete ]
	run "$FERRY" batch status R2 --json
	[ "$(jq -r '."journal-mode"' <<<"$output")" = delete ]
}

@test "batch: another user can neither read nor stop a run: one line, the run untouched" {
	is_root || skip "needs root to act as a second user"
	source "$FERRY_SRC/tests/lib/user.bash"
	ensure_test_user
	desc d.json
	echo '{"x": "a"}' >i.json
	run "$FERRY" batch submit d.json i.json --run-dir R --hold -q
	[ "$status" -eq 0 ]
	chmod -R a+rX "$BATS_TEST_TMPDIR"
	grant_access "$W" 2>/dev/null
	for sub in status cancel resume; do
		run setpriv --reuid="$FERRY_TEST_USER" --regid="$FERRY_TEST_USER" --init-groups "$FERRY" batch "$sub" "$W/R"
		[ "$status" -eq 1 ]
		[ "${#lines[@]}" -eq 1 ]
		[[ "$output" == "ferry: journal $W/R/batch.db: you cannot write it: Permission denied"* ]]
	done
	[ "$(q R "select state from tasks")" = pending ]
}
