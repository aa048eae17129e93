#!/usr/bin/env bats
# ferry app against hostile invocations and tools (issue 16): values that
# carry other inputs' value-keys and shell syntax, NUL, config-file paths
# that climb out of the working directory, a tool that tries to reach the
# store or the provenance records, deep conditional expressions, and
# output symlinks that would make provenance hashing follow them.
load ../lib/common

setup() {
	ferry_test_env
	export HOME=$BATS_TEST_TMPDIR/home
	mkdir -p "$HOME"
	W=$BATS_TEST_TMPDIR/w
	mkdir -p "$W/job"
	cd "$W/job"
	BUSYBOX="oci:$FERRY_TEST_IMAGES/busybox:latest"
}

# hostile_desc FILE [IMAGE]: every input and output has a value-key, and the
# tool writes each value it receives, byte for byte, into its own file.
hostile_desc() {
	local ci=
	[ -z "${2:-}" ] || ci=", \"container-image\": {\"type\": \"docker\", \"image\": \"$2\"}"
	cat >"$1" <<EOF
{"name": "hostile", "tool-version": "1", "schema-version": "0.5", "description": "d",
 "command-line": "printf %s [A] > a.out; printf %s [B] > b.out; printf '%s|' [L] > l.out; cat [F] > f.out; printf %s [A] > [O]; echo [N] > n.out"$ci,
 "inputs": [
   {"id": "a", "name": "a", "type": "String", "value-key": "[A]"},
   {"id": "b", "name": "b", "type": "String", "value-key": "[B]"},
   {"id": "l", "name": "l", "type": "String", "list": true, "value-key": "[L]"},
   {"id": "f", "name": "f", "type": "File", "value-key": "[F]"},
   {"id": "n", "name": "n", "type": "Number", "optional": true, "value-key": "[N]"}],
 "output-files": [{"id": "o", "name": "o", "path-template": "o_[B].txt", "value-key": "[O]"}]}
EOF
}

# A value holding every value-key of hostile_desc, quotes, $(), backticks,
# a newline and shell separators; the commands, if run, create p1..p3.
V=$'k[A]k[B]k[L]k[F]k[O]k[N] \'q"$(touch p1)`touch p2`\n;touch p3; [A] \'[B]\''

# hostile_inv FILE: that value in every String input, list item and the
# File input's name (the file exists, in the working directory).
hostile_inv() {
	printf 'file data\n' >"f_$V"
	jq -n --arg v "$V" '{a: $v, b: $v, l: [$v, $v], f: ("f_" + $v), n: 3}' >"$1"
}

# check_hostile DIR: the tool got each value as one literal argument, and
# nothing the values hold was run.
check_hostile() {
	local d=$1
	printf '%s' "$V" >"$BATS_TEST_TMPDIR/want"
	cmp "$d/a.out" "$BATS_TEST_TMPDIR/want"
	cmp "$d/b.out" "$BATS_TEST_TMPDIR/want"
	cmp "$d/o_$V.txt" "$BATS_TEST_TMPDIR/want"
	printf '%s|%s|' "$V" "$V" >"$BATS_TEST_TMPDIR/want"
	cmp "$d/l.out" "$BATS_TEST_TMPDIR/want"
	[ "$(cat "$d/f.out")" = "file data" ]
	[ "$(cat "$d/n.out")" = 3 ]
	[ ! -e "$d/p1" ] && [ ! -e "$d/p2" ] && [ ! -e "$d/p3" ]
}

@test "security app: a value holding another input's value-key stays literal (issue's repro)" {
	cat >"$W/d.json" <<'EOF'
{"name": "t", "tool-version": "1", "schema-version": "0.5", "description": "d",
 "command-line": "echo [A] [B]",
 "inputs": [{"id": "a", "name": "a", "type": "String", "value-key": "[A]"},
            {"id": "b", "name": "b", "type": "String", "value-key": "[B]"}]}
EOF
	inv="{\"a\": \"[B]\", \"b\": \"; touch $W/INJECTED ;\"}"
	run "$FERRY" app simulate "$W/d.json" -i "$inv"
	[ "$status" -eq 0 ]
	[ "$output" = "echo '[B]' '; touch $W/INJECTED ;'" ]
	run "$FERRY" app launch -q --no-container --skip-data-collection "$W/d.json" "$inv"
	[ "$status" -eq 0 ]
	[ "$output" = "[B] ; touch $W/INJECTED ;" ]
	[ ! -e "$W/INJECTED" ]
}

@test "security app: value-keys, quotes, \$(), backticks, newlines: one literal argument (simulate)" {
	hostile_desc "$W/d.json"
	hostile_inv "$W/i.json"
	run "$FERRY" app simulate "$W/d.json" -i "$W/i.json"
	[ "$status" -eq 0 ]
	# the command line simulate prints, run by a shell, gives the same result
	cmd=$output
	sh -c "$cmd"
	check_hostile .
}

@test "security app: value-keys, quotes, \$(), backticks, newlines: one literal argument (launch on the host)" {
	hostile_desc "$W/d.json"
	hostile_inv "$W/i.json"
	run "$FERRY" app launch -q --no-container "$W/d.json" "$W/i.json"
	[ "$status" -eq 0 ]
	check_hostile .
	# the record's shell-command is the command that ran
	rec=$(ls "$HOME"/.cache/boutiques/data/hostile_*.json)
	run "$FERRY" app simulate "$W/d.json" -i "$W/i.json"
	[ "$(jq -r '.["public-output"]["shell-command"]' "$rec")" = "$output" ]
}

@test "security app: value-keys, quotes, \$(), backticks, newlines: one literal argument (launch in busybox)" {
	hostile_desc "$W/d.json" "$BUSYBOX"
	hostile_inv "$W/i.json"
	run "$FERRY" app launch -q --skip-data-collection "$W/d.json" "$W/i.json"
	[ "$status" -eq 0 ]
	check_hostile .
}

@test "security app: a NUL in a value is refused with one line, and nothing runs" {
	hostile_desc "$W/d.json"
	printf 'x\n' >f
	printf '{"a": "x\\u0000; touch %s/nul", "b": "b", "l": [], "f": "f"}' "$W" >"$W/i.json"
	for sub in simulate invocation; do
		run "$FERRY" app "$sub" "$W/d.json" -i "$W/i.json"
		[ "$status" -eq 1 ]
		[ "${#lines[@]}" -eq 1 ]
		[[ "$output" == *"i.json:1:"*"a NUL character (\\u0000) in a string"* ]]
	done
	run "$FERRY" app launch -q --no-container "$W/d.json" "$W/i.json"
	[ "$status" -eq 125 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == *"a NUL character (\\u0000) in a string"* ]]
	[ ! -e "$W/nul" ] && [ ! -e a.out ]
}

# conf_desc FILE TEMPLATE: a tool whose config file's path comes from NAME
conf_desc() {
	cat >"$1" <<EOF
{"name": "conf", "tool-version": "1", "schema-version": "0.5", "description": "d",
 "command-line": "cat [CONF]",
 "inputs": [{"id": "name", "name": "n", "type": "String", "value-key": "[NAME]"}],
 "output-files": [{"id": "conf", "name": "c", "path-template": "$2", "value-key": "[CONF]",
                   "file-template": ["echo pwned"]}]}
EOF
}

@test "security app: a config-file path cannot climb out of the working directory (issue's repro)" {
	mkdir -p "$W/out"
	conf_desc "$W/d.json" "job_[NAME].conf"
	evil='{"name": "x/../../../../../../../../../../../../'"${W#/}"'/out/evil.sh"}'
	check_refused() {
		[ "$status" -eq "$1" ]
		[ "${#lines[@]}" -eq 1 ]
		[[ "$output" == *"output 'conf': config file job_x/../"*"evil.sh.conf is not beneath the working directory"* ]]
		[ -z "$(ls -A "$W/out")" ]
	}
	run "$FERRY" app simulate --write-config-files "$W/d.json" -i "$evil"
	check_refused 1
	run "$FERRY" app simulate "$W/d.json" -i "$evil"
	check_refused 1
	run "$FERRY" app launch -q --no-container --skip-data-collection "$W/d.json" "$evil"
	check_refused 125
	# a value that stays inside is fine, and lands where bosh puts it
	run "$FERRY" app launch -q --no-container --skip-data-collection "$W/d.json" '{"name": "a/../b"}'
	[ "$status" -eq 0 ]
	[ "$output" = "echo pwned" ]
	[ "$(cat b.conf)" = "echo pwned" ]
}

@test "security app: a config file is not written through a symlink in the working directory" {
	mkdir -p "$W/out"
	conf_desc "$W/d.json" "[NAME]/job.conf"
	ln -s "$W/out" link
	run "$FERRY" app launch -q --no-container --skip-data-collection "$W/d.json" '{"name": "link"}'
	[ "$status" -eq 125 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == *"config file of output 'conf'"* ]]
	[ -z "$(ls -A "$W/out")" ]
	# the final name a symlink: refused too
	conf_desc "$W/d.json" "[NAME].conf"
	ln -s "$W/out/planted" x.conf
	run "$FERRY" app launch -q --no-container --skip-data-collection "$W/d.json" '{"name": "x"}'
	[ "$status" -eq 125 ]
	[ -z "$(ls -A "$W/out")" ]
}

@test "security app: an absolute template keeps its directory; values cannot leave it" {
	mkdir -p "$W/abs" "$W/out"
	conf_desc "$W/d.json" "$W/abs/[NAME].conf"
	run "$FERRY" app launch -q --no-container --skip-data-collection "$W/d.json" '{"name": "ok"}'
	[ "$status" -eq 0 ]
	[ "$(cat "$W/abs/ok.conf")" = "echo pwned" ]
	run "$FERRY" app launch -q --no-container --skip-data-collection "$W/d.json" '{"name": "../out/evil"}'
	[ "$status" -eq 125 ]
	[[ "$output" == *"config file $W/abs/../out/evil.conf is not in $W/abs, where the template puts it"* ]]
	[ -z "$(ls -A "$W/out")" ]
}

@test "security app: simulate is a dry run: it writes nothing unless asked" {
	conf_desc "$W/d.json" "sub/[NAME].conf"
	run "$FERRY" app simulate "$W/d.json" -i '{"name": "n"}'
	[ "$status" -eq 0 ]
	[ "$output" = "cat sub/n.conf" ]
	[ -z "$(ls -A)" ]
	run "$FERRY" app simulate --write-config-files "$W/d.json" -i '{"name": "n"}'
	[ "$status" -eq 0 ]
	[ "$(cat sub/n.conf)" = "echo pwned" ]
}

@test "security app: a tool in its image reaches neither the store, the records, \$HOME nor the host's /tmp" {
	cat >"$W/d.json" <<'EOF'
{"name": "peek", "tool-version": "1", "schema-version": "0.5", "description": "d",
 "command-line": "for p in [STORE] [DATA] [HOMEFILE] [TMPFILE]; do ls -d \"$p\" >/dev/null 2>&1 && echo \"seen $p\"; done > seen.txt; ls -A \"$HOME\" > home.txt; touch \"$HOME/planted\" /tmp/[MARK] /var/tmp/[MARK]; rm -rf [STORE] [DATA] 2>/dev/null; true",
 "container-image": {"type": "docker", "image": "IMAGE"},
 "inputs": [{"id": "store", "name": "s", "type": "String", "value-key": "[STORE]"},
            {"id": "data", "name": "d", "type": "String", "value-key": "[DATA]"},
            {"id": "homefile", "name": "h", "type": "String", "value-key": "[HOMEFILE]"},
            {"id": "tmpfile", "name": "t", "type": "String", "value-key": "[TMPFILE]"},
            {"id": "mark", "name": "m", "type": "String", "value-key": "[MARK]"}]}
EOF
	sed -i "s|IMAGE|$BUSYBOX|" "$W/d.json"
	echo secret >"$HOME/secret"
	tmpfile=$(mktemp /tmp/ferry-app-host.XXXXXX)
	mark=ferry-app-mark-$$-$RANDOM
	jq -n --arg s "$FERRY_HOME" --arg d "$HOME/.cache/boutiques/data" --arg h "$HOME/secret" \
		--arg t "$tmpfile" --arg m "$mark" '{store: $s, data: $d, homefile: $h, tmpfile: $t, mark: $m}' >"$W/i.json"
	# the first launch pulls the image and writes a record: both exist now
	run "$FERRY" app launch -q "$W/d.json" "$W/i.json"
	[ "$status" -eq 0 ]
	[ -n "$(ls -A "$FERRY_HOME")" ]
	[ "$(ls "$HOME"/.cache/boutiques/data/peek_*.json | wc -l)" -eq 1 ]
	run "$FERRY" app launch -q "$W/d.json" "$W/i.json"
	[ "$status" -eq 0 ]
	rm -f "$tmpfile"
	[ ! -s seen.txt ]
	[ ! -s home.txt ]
	[ ! -e "$HOME/planted" ] && [ ! -e "/tmp/$mark" ] && [ ! -e "/var/tmp/$mark" ]
	# the store and the records are intact, and the second record was written
	[ "$(ls "$HOME"/.cache/boutiques/data/peek_*.json | wc -l)" -eq 2 ]
	run "$FERRY" images
	[[ "$output" == *busybox* ]]
}

# deep_desc FILE DEPTH OPTIONAL [not]: an output whose condition nests DEPTH
# parentheses (or DEPTH `not`s)
deep_desc() {
	python3 - "$@" <<'EOF'
import json, sys
path, n, optional = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "true"
cond = "not " * n + "x == 1" if len(sys.argv) > 4 else "(" * n + "x == 1" + ")" * n
json.dump({"name": "deep", "tool-version": "1", "schema-version": "0.5", "description": "d",
           "command-line": "echo [X] [O]",
           "inputs": [{"id": "x", "name": "x", "type": "Number", "value-key": "[X]"}],
           "output-files": [{"id": "o", "name": "o", "optional": optional, "value-key": "[O]",
                             "conditional-path-template": [{cond: "a.txt"}, {"default": "b.txt"}]}]},
          open(path, "w"))
EOF
}

@test "security app: a condition nested 30,000 deep is refused with one line, not a crash" {
	for optional in true false; do
		deep_desc "$W/d.json" 30000 "$optional"
		run "$FERRY" app validate "$W/d.json"
		[ "$status" -eq 1 ]
		[ "${#lines[@]}" -eq 1 ]
		[ "$output" = "$W/d.json: output-files[0].conditional-path-template[0]: OutputError: \"o\" has a condition nested deeper than 100 levels" ]
		run "$FERRY" app simulate "$W/d.json" -i '{"x": 1}'
		[ "$status" -eq 1 ]
		[ "${lines[0]}" = "$W/d.json: output-files[0].conditional-path-template[0]: OutputError: \"o\" has a condition nested deeper than 100 levels" ]
		run "$FERRY" app launch -q --no-container --skip-data-collection "$W/d.json" '{"x": 1}'
		[ "$status" -eq 125 ]
		[ "${#lines[@]}" -eq 1 ]
		[[ "$output" == *"nested deeper than 100 levels"* ]]
	done
	deep_desc "$W/d.json" 30000 true not
	run "$FERRY" app validate "$W/d.json"
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == *"nested deeper than 100 levels" ]]
}

@test "security app: a condition nested 100 deep still works" {
	deep_desc "$W/d.json" 100 false
	run "$FERRY" app validate "$W/d.json"
	[ "$status" -eq 0 ]
	run "$FERRY" app simulate "$W/d.json" -i '{"x": 1}'
	[ "$status" -eq 0 ]
	[ "$output" = "echo 1 a.txt" ]
	run "$FERRY" app simulate "$W/d.json" -i '{"x": 2}'
	[ "$output" = "echo 2 b.txt" ]
	deep_desc "$W/d.json" 101 false
	run "$FERRY" app validate "$W/d.json"
	[ "$status" -eq 1 ]
}

@test "security app: provenance records links as links: out/{a,b,c} -> . does not hang, a link to \$HOME records nothing of it" {
	cat >"$W/d.json" <<'EOF'
{"name": "links", "tool-version": "1", "schema-version": "0.5", "description": "d",
 "command-line": "mkdir out && ln -s . out/a && ln -s . out/b && ln -s . out/c && echo x > out/file && mkfifo out/fifo && ln -s \"$HOME\" out/home && ln -s \"$HOME\" homelink && ln -s \"$HOME/secret\" secretlink",
 "inputs": [{"id": "x", "name": "x", "type": "String", "optional": true}],
 "output-files": [{"id": "out", "name": "out", "path-template": "out"},
                  {"id": "home", "name": "home", "path-template": "homelink"},
                  {"id": "sl", "name": "sl", "path-template": "secretlink"}]}
EOF
	echo "the user's secret" >"$HOME/secret"
	secret_md5=$(md5sum <"$HOME/secret" | cut -d' ' -f1)
	# timeout only guards against the hang this test is about
	run timeout 300 "$FERRY" app launch -q --no-container "$W/d.json" '{}'
	[ "$status" -eq 0 ]
	rec=$(ls "$HOME"/.cache/boutiques/data/links_*.json)
	jq -e '.["public-output"]["output-files"].out.files | map({(.["file-name"]): .}) | add |
		.a.symlink == "." and .b.symlink == "." and .c.symlink == "." and
		.file.md5sum == "401b30e3b8b5d629635a5c613cdb7919" and .fifo["special-file"] == true and
		(.home.symlink | endswith("/home"))' "$rec"
	jq -e '.["public-output"]["output-files"].home == {"file-name": "homelink", "symlink": env.HOME}' "$rec"
	jq -e '.["public-output"]["output-files"].sl.symlink == (env.HOME + "/secret")' "$rec"
	! grep -q "$secret_md5" "$rec"
	! grep -q '"file-name": "secret"' "$rec"
}

@test "security app: launched from a directory under \$HOME, the tool sees that directory and nothing else of \$HOME" {
	mkdir -p "$HOME/project"
	echo secret >"$HOME/secret"
	cd "$HOME/project"
	cat >"$W/d.json" <<EOF
{"name": "peek home", "tool-version": "1", "schema-version": "0.5", "description": "d",
 "command-line": "pwd > where.txt; ls -A \"\$HOME\" > home.txt; ls -A \"\$HOME/.cache\" > cache.txt 2>&1; echo [X] > x.txt",
 "container-image": {"type": "docker", "image": "$BUSYBOX"},
 "inputs": [{"id": "x", "name": "x", "type": "String", "value-key": "[X]"}]}
EOF
	run "$FERRY" app launch -q "$W/d.json" '{"x": "hi"}'
	[ "$status" -eq 0 ]
	[ "$(cat where.txt)" = "$HOME/project" ]
	[ "$(cat home.txt)" = project ]
	! grep -q boutiques cache.txt
	[ "$(cat x.txt)" = hi ]
	# the record was written on the host all the same
	ls "$HOME"/.cache/boutiques/data/peek-home_*.json
}
