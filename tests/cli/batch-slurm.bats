#!/usr/bin/env bats
# ferry batch on a real Slurm: slurmctld + slurmd + munged on loopback
# (tests/lib/slurm.bash; as root this file starts them, and
# batch-slurm.setup-root does before the unprivileged passes). The arrays
# are submitted by whoever runs the file: the test user in the
# unprivileged passes. MaxArraySize is 16 there, so 20 tasks are two arrays.
load ../lib/common
source "$FERRY_SRC/tests/lib/slurm.bash"

setup_file() {
	if [ ! -f "$FERRY_TEST_IMAGES/busybox/index.json" ]; then
		"$FERRY_SRC/tests/lib/build-images" "$FERRY_TEST_IMAGES" busybox >&3
	fi
	if is_root; then
		slurm_start >&3 2>&1 || true
	fi
}

setup() {
	slurm_up || skip "no Slurm answers here (as root this file starts one; tests/run starts it before the unprivileged passes)"
	ferry_test_env
	export HOME=$BATS_TEST_TMPDIR/home
	mkdir -p "$HOME"
	W=$BATS_TEST_TMPDIR/w
	mkdir -p "$W/flag"
	chmod 0755 "$BATS_TEST_TMPDIR"
	cd "$W"
	IMG="oci:$FERRY_TEST_IMAGES/busybox:latest"
	# the tool sleeps while $W/flag/slow exists (bound at /flag)
	cat >d.json <<EOF
{"name": "bbtool", "tool-version": "1", "schema-version": "0.5", "description": "d",
 "command-line": "echo [X] > out.txt; while [ -e /flag/slow ]; do sleep 0.2; done; exit [CODE]",
 "container-image": {"type": "docker", "image": "$IMG"},
 "suggested-resources": {"cpu-cores": 1, "ram": 0.25, "walltime-estimate": 150},
 "inputs": [{"id": "x", "name": "x", "type": "String", "value-key": "[X]"},
  {"id": "code", "name": "code", "type": "Number", "integer": true, "value-key": "[CODE]", "optional": true, "default-value": 0}],
 "output-files": [{"id": "out", "name": "out", "path-template": "out.txt"}]}
EOF
}

teardown() {
	# arrays a failed test left
	if [ -f "$W/R/batch.db" ]; then "$FERRY" batch cancel "$W/R" -q 2>/dev/null || true; fi
}

q() { sqlite3 -cmd '.timeout 30000' "$1/batch.db" "$2"; }

jobs_n() { python3 -c 'import json,sys; print(len(json.loads(sys.argv[1])))' "$(q "$1" "select value from meta where key='slurm_jobs'")"; }

@test "batch slurm: 20 tasks as two arrays (MaxArraySize 16), resources, explicit environment, squeue rarely" {
	python3 -c '
import json
for i in range(20): print(json.dumps({"x": "t%d" % i, "code": 3 if i == 7 else 0}))' >t.jsonl
	# count squeue calls through a wrapper first in PATH
	mkdir shim
	printf '#!/bin/sh\necho x >>%s/squeue.calls\nexec /usr/bin/squeue "$@"\n' "$W" >shim/squeue
	chmod +x shim/squeue
	export SECRET_OF_SUBMITTER=leak
	t0=$(date +%s)
	PATH=$W/shim:$PATH run "$FERRY" batch submit d.json t.jsonl --backend slurm --run-dir R --wait \
		--partition debug --slurm-opt=--comment=ferry-test -v "$W/flag:/flag"
	t1=$(date +%s)
	echo "$output"
	[ "$status" -eq 1 ] # task 7 exits 3
	[ "$(q R "select count(*) from tasks where state='succeeded'")" -eq 19 ]
	[ "$(q R "select exit_code from tasks where id=7")" -eq 3 ]
	[ "$(jobs_n R)" -eq 2 ]
	# tasks 16..19 are indexes 0..3 of the second array
	[ "$(q R "select count(distinct slurm_job) from tasks")" -eq 2 ]
	[ "$(q R "select slurm_index from tasks where id=17")" -eq 1 ]
	[ "$(cat R/tasks/17/out.txt)" = t17 ]
	# the job script: re-submittable, environment explicit, resources
	s=R/slurm/array.sh
	grep -q '^#SBATCH --export=NONE$' "$s"
	grep -q '^#SBATCH --cpus-per-task=1$' "$s"
	grep -q '^#SBATCH --mem=256M$' "$s"
	grep -q '^#SBATCH --time=3$' "$s"
	grep -q '^#SBATCH --partition=debug$' "$s"
	grep -q '^#SBATCH --comment=ferry-test$' "$s"
	grep -q "^FERRY_HOME='$FERRY_HOME'; export FERRY_HOME$" "$s"
	! grep -q SECRET_OF_SUBMITTER "$s"
	job=$(q R "select slurm_job from tasks where id=0")
	scontrol show job "$job" -o | grep -q 'TimeLimit=00:03:00'
	scontrol show job "$job" -o | grep -q 'Comment=ferry-test'
	# squeue: at most once every few seconds, whatever the run's length
	calls=$(wc -l <"$W/squeue.calls")
	[ "$calls" -le $(((t1 - t0) / 4 + 2)) ]
	run "$FERRY" batch status R --json
	[ "$(jq .counts.failed <<<"$output")" -eq 1 ]
}

@test "batch slurm: a task over its --time is recorded failed, with Slurm's timeout" {
	touch flag/slow
	echo '{"x": "slow"}' >t.json
	run "$FERRY" batch submit d.json t.json --backend slurm --run-dir R --time=1 -v "$W/flag:/flag"
	[ "$status" -eq 0 ]
	grep -q '^#SBATCH --time=1$' R/slurm/array.sh
	run timeout 300 "$FERRY" batch wait R
	[ "$status" -eq 1 ]
	[ "$(q R "select state from tasks where id=0")" = failed ]
	[[ "$(q R "select reason from tasks where id=0")" == "timeout: Slurm killed job "*"at its time limit (TimeLimit=00:01:00)" ]]
}

@test "batch cancel on Slurm, then resume runs the cancelled tasks" {
	touch flag/slow
	python3 -c '
import json
for i in range(4): print(json.dumps({"x": "t%d" % i}))' >t.jsonl
	run "$FERRY" batch submit d.json t.jsonl --backend slurm --run-dir R -v "$W/flag:/flag"
	[ "$status" -eq 0 ]
	for _ in $(seq 300); do
		[ "$(q R "select count(*) from tasks where state='running'")" -ge 1 ] && break
		sleep 0.1
	done
	[ "$(q R "select count(*) from tasks where state='running'")" -ge 1 ]
	run "$FERRY" batch cancel R
	[ "$status" -eq 0 ]
	[ "$(q R "select count(*) from tasks where state='cancelled'")" -eq 4 ]
	job=$(q R "select slurm_job from tasks where id=0")
	for _ in $(seq 100); do
		[ -z "$(squeue -h -j "$job" 2>/dev/null)" ] && break
		sleep 0.2
	done
	[ -z "$(squeue -h -j "$job" 2>/dev/null)" ]
	run "$FERRY" batch status R --json
	[ "$(jq .counts.cancelled <<<"$output")" -eq 4 ]
	# resume: the cancelled tasks go out again, and now finish
	rm flag/slow
	run "$FERRY" batch resume R --wait
	[ "$status" -eq 0 ]
	[ "$(q R "select count(*) from tasks where state='succeeded'")" -eq 4 ]
	[ "$(jobs_n R)" -eq 2 ]
}

@test "batch slurm: a store the other nodes cannot see is refused before anything is created" {
	echo '{"x": "a"}' >t.json
	export FERRY_HOME=$BATS_TEST_TMPDIR/store-in-tmp
	# this cluster is one node; say it is not, as a real one would be
	FERRY_BATCH_CHECK_SHARED=always run "$FERRY" batch submit d.json t.json --backend slurm --run-dir R
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == "ferry: Slurm: the store $FERRY_HOME is on a file system local to this node"*"set FERRY_HOME to a directory on a shared file system"* ]]
	[ ! -e R ]
}
