#!/usr/bin/env bats
# ferry app: validate, invocation, simulate, example, launch (on the host),
# test, provenance records, and hostile invocation values.
load ../lib/common

setup() {
	ferry_test_env
	export HOME=$BATS_TEST_TMPDIR/home
	mkdir -p "$HOME"
	W=$BATS_TEST_TMPDIR/w
	mkdir -p "$W/job" "$W/inputs"
	cd "$W/job"
}

# A small tool: echoes its arguments one per line into OUT, optionally
# fails with a given code, writes a config file and reads environment.
write_echo_desc() {
	cat >"$W/echo.json" <<'EOF'
{
  "name": "echo args",
  "tool-version": "1",
  "schema-version": "0.5",
  "description": "print arguments, one per line",
  "command-line": "printf '%s\\n' [TEXT] [FILE] [LIST] [NUM] > [OUT]; echo \"env=$GREETING/$LITERAL\" >> [OUT]; exit [CODE]",
  "inputs": [
    {"id": "text", "name": "text", "type": "String", "value-key": "[TEXT]"},
    {"id": "file", "name": "file", "type": "File", "optional": true, "value-key": "[FILE]"},
    {"id": "items", "name": "items", "type": "String", "list": true, "optional": true, "value-key": "[LIST]"},
    {"id": "num", "name": "num", "type": "Number", "optional": true, "value-key": "[NUM]"},
    {"id": "code", "name": "code", "type": "Number", "integer": true, "optional": true,
     "default-value": 0, "value-key": "[CODE]"}
  ],
  "output-files": [
    {"id": "out", "name": "out", "path-template": "result.txt", "value-key": "[OUT]"},
    {"id": "extra", "name": "never written", "path-template": "extra-[TEXT].dat", "optional": true},
    {"id": "config", "name": "config", "path-template": "conf/[TEXT].cfg",
     "file-template": ["text=[TEXT]", "num=[NUM]", "end"]}
  ],
  "environment-variables": [
    {"name": "GREETING", "value": "[TEXT]"},
    {"name": "LITERAL", "value": "x[TEXT]"}
  ],
  "error-codes": [
    {"code": 3, "description": "the tool was asked to fail"}
  ],
  "tests": [
    {"name": "ok", "invocation": {"text": "hello"},
     "assertions": {"exit-code": 0, "output-files": [{"id": "out"}]}},
    {"name": "fails", "invocation": {"text": "bye", "code": 3},
     "assertions": {"exit-code": 0}}
  ]
}
EOF
}

@test "app validate: a valid descriptor prints OK" {
	write_echo_desc
	run "$FERRY" app validate "$W/echo.json"
	[ "$status" -eq 0 ]
	[ "$output" = OK ]
}

@test "app validate: every problem on its own line with its JSON path" {
	cat >"$W/bad.json" <<'EOF'
{"name": "bad", "tool-version": "1", "schema-version": "0.5", "description": "d",
 "command-line": "tool [A]",
 "inputs": [
   {"id": "a", "name": "a", "type": "String", "value-key": "[A]"},
   {"id": "b", "name": "b", "type": "String", "value-key": "[B]"},
   {"id": "f", "name": "f", "type": "Flag", "value-key": "[A]x"},
   {"id": "a", "name": "dup", "type": "Number", "minimum": 5, "maximum": 1}
 ]}
EOF
	run "$FERRY" app validate "$W/bad.json"
	[ "$status" -eq 1 ]
	[[ "$output" == *"bad.json: inputs[1].value-key: KeyError: \"[B]\" not in command-line or file template or environment variables"* ]]
	[[ "$output" == *"bad.json: inputs[2].value-key: KeyError: \"[A]x\" contains \"[A]\""* ]]
	[[ "$output" == *"bad.json: inputs[3].id: IdError: \"a\" is non-unique"* ]]
	[[ "$output" == *"bad.json: inputs[2]: InputError: \"f\" must have a command-line flag"* ]]
	[[ "$output" == *"bad.json: inputs[2]: InputError: \"f\" is of type Flag, it has to be optional"* ]]
	[[ "$output" == *"InputError: \"a\" cannot have greater min (5) than max (1)"* ]]
	[ "${#lines[@]}" -eq 7 ]
	# --json keeps bosh's exact text
	run "$FERRY" app validate --json "$W/bad.json"
	[ "$status" -eq 1 ]
	echo "$output" | jq -e '.valid == false and (.problems | length) == 7'
	echo "$output" | jq -e '.problems[0].message | startswith("   KeyError")'
}

@test "app validate: schema problems name the path; bad JSON names line and column" {
	printf '{"name": "x", "tool-version": "1", "schema-version": "0.4", "description": "d",\n "command-line": "t", "inputs": [{"name": "n", "type": "Strin"}]}\n' >"$W/s.json"
	run "$FERRY" app validate "$W/s.json"
	[ "$status" -eq 1 ]
	[[ "$output" == *"s.json: schema-version: '0.4' is not one of ['0.5']"* ]]
	[[ "$output" == *"s.json: inputs[0]: 'id' is a required property"* ]]
	[[ "$output" == *"s.json: inputs[0].type: 'Strin' is not one of"* ]]
	printf '{"name": "x",\n  "oops"\n}\n' >"$W/j.json"
	run "$FERRY" app validate "$W/j.json"
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == *"j.json:3:"* ]]
	run "$FERRY" app validate "$W/missing.json"
	[ "$status" -eq 1 ]
	[[ "$output" == *missing.json* ]]
}

@test "app validate: a rootfs image is valid (bosh crashes on it)" {
	cat >"$W/r.json" <<'EOF'
{"name": "r", "tool-version": "1", "schema-version": "0.5", "description": "d", "command-line": "t",
 "container-image": {"type": "rootfs", "url": "https://example.org/root.tar"},
 "inputs": [{"id": "a", "name": "a", "type": "String", "optional": true}]}
EOF
	run "$FERRY" app validate "$W/r.json"
	[ "$status" -eq 0 ]
	echo '{}' >"$W/inv.json"
	run "$FERRY" app launch "$W/r.json" "$W/inv.json"
	[ "$status" -eq 125 ]
	[[ "$output" == *"container-image type 'rootfs' is not supported yet"* ]]
}

@test "app invocation: types, required inputs and bounds, with the input named" {
	write_echo_desc
	echo '{"text": 3, "num": "x"}' >"$W/i.json"
	run "$FERRY" app invocation "$W/echo.json" -i "$W/i.json"
	[ "$status" -eq 1 ]
	[[ "$output" == *"i.json: text: 3 is not of type 'string'"* ]]
	[[ "$output" == *"i.json: num: 'x' is not of type 'number'"* ]]
	echo '{"num": 1}' >"$W/i.json"
	run "$FERRY" app invocation "$W/echo.json" -i "$W/i.json"
	[ "$status" -eq 1 ]
	[[ "$output" == *"'text' is a required property"* ]]
	echo '{"text": "t", "code": 1.5}' >"$W/i.json"
	run "$FERRY" app invocation "$W/echo.json" -i "$W/i.json"
	[ "$status" -eq 1 ]
	[[ "$output" == *"code: 1.5 is not of type 'integer'"* ]]
	echo '{"text": "t"}' >"$W/i.json"
	run "$FERRY" app invocation "$W/echo.json" -i "$W/i.json"
	[ "$status" -eq 0 ]
	[ "$output" = OK ]
	run "$FERRY" app invocation --print-schema "$W/echo.json"
	[ "$status" -eq 0 ]
	echo "$output" | jq -e '.required == ["text"] and .properties.items.type == "array"'
}

@test "app invocation: group rules bosh does not enforce (all-or-none, value-requires)" {
	cat >"$W/g.json" <<'EOF'
{"name": "g", "tool-version": "1", "schema-version": "0.5", "description": "d",
 "command-line": "t [A] [B] [M]",
 "inputs": [
   {"id": "a", "name": "a", "type": "String", "optional": true, "value-key": "[A]"},
   {"id": "b", "name": "b", "type": "String", "optional": true, "value-key": "[B]"},
   {"id": "mode", "name": "m", "type": "String", "optional": true, "value-key": "[M]",
    "value-choices": ["x", "y"], "value-requires": {"x": ["a"], "y": []}}
 ],
 "groups": [{"id": "both", "name": "both", "members": ["a", "b"], "all-or-none": true}]}
EOF
	# bosh runs these (a warning by default, tests/cli/app-bosh-compat.bats);
	# --strict refuses them.
	echo '{"a": "1"}' >"$W/i.json"
	run "$FERRY" app invocation --strict "$W/g.json" -i "$W/i.json"
	[ "$status" -eq 1 ]
	[[ "$output" == *"all-or-none group 'both': 'b' must be given too"* ]]
	echo '{"mode": "x"}' >"$W/i.json"
	run "$FERRY" app invocation --strict "$W/g.json" -i "$W/i.json"
	[ "$status" -eq 1 ]
	[[ "$output" == *"value 'x' of 'mode' requires 'a'"* ]]
	echo '{"mode": "y", "a": "1", "b": "2"}' >"$W/i.json"
	run "$FERRY" app invocation "$W/g.json" -i "$W/i.json"
	[ "$status" -eq 0 ]
}

@test "app simulate: hostile values are shell-quoted; config files written as bosh does when asked" {
	write_echo_desc
	cat >"$W/i.json" <<'EOF'
{"text": "x; touch /tmp/pwned", "items": ["$(id)", "a b", "`id`", "it's"], "num": 1e5}
EOF
	run "$FERRY" app simulate "$W/echo.json" -i "$W/i.json"
	[ "$status" -eq 0 ]
	want="printf '%s\\n' 'x; touch /tmp/pwned' '\$(id)' 'a b' '\`id\`' 'it'\"'\"'s' 100000.0 > result.txt; echo \"env=\$GREETING/\$LITERAL\" >> result.txt; exit 0"
	[ "$output" = "$want" ]
	# a dry run: nothing written unless asked
	[ -z "$(ls -A)" ]
	run "$FERRY" app simulate --write-config-files "$W/echo.json" -i "$W/i.json"
	[ "$status" -eq 0 ]
	[ "$output" = "$want" ]
	# the config file: quoted values, no trailing newline, in a created directory
	[ -f "conf/x; touch /tmp/pwned.cfg" ]
	[ "$(cat "conf/x; touch /tmp/pwned.cfg")" = "text='x; touch /tmp/pwned'
num=100000.0
end" ]
	run "$FERRY" app simulate --json "$W/echo.json" -i "$W/i.json"
	[ "$status" -eq 0 ]
	echo "$output" | jq -e '.["output-files"].out == "result.txt" and .inputs.code == 0 and .inputs.file == null'
}

@test "app simulate: without -i uses a generated example; app example is valid" {
	write_echo_desc
	run "$FERRY" app simulate --seed 7 "$W/echo.json"
	[ "$status" -eq 0 ]
	[[ "$output" == "printf '%s\\n' str_text_"* ]]
	run "$FERRY" app example --seed 7 "$W/echo.json"
	[ "$status" -eq 0 ]
	first=$output
	echo "$output" | jq -e 'keys == ["text"]'
	run "$FERRY" app example --seed 7 "$W/echo.json"
	[ "$output" = "$first" ]
	run "$FERRY" app example --complete --seed 3 "$W/echo.json"
	[ "$status" -eq 0 ]
	echo "$output" | jq -e 'has("items") and has("num") and (.code | type) == "number"'
	echo "$output" >"$W/ex.json"
	run "$FERRY" app invocation "$W/echo.json" -i "$W/ex.json"
	[ "$status" -eq 0 ]
}

@test "app launch: injection values reach the tool as one literal argument each" {
	write_echo_desc
	cat >"$W/i.json" <<EOF
{"text": "x; touch $W/pwned", "items": ["\$(touch $W/pwned2)", "\`touch $W/pwned3\`", "a'b"]}
EOF
	run "$FERRY" app launch -q --no-container --skip-data-collection "$W/echo.json" "$W/i.json"
	[ "$status" -eq 0 ]
	[ ! -e "$W/pwned" ] && [ ! -e "$W/pwned2" ] && [ ! -e "$W/pwned3" ]
	[ "$(sed -n 1p result.txt)" = "x; touch $W/pwned" ]
	[ "$(sed -n 2p result.txt)" = "\$(touch $W/pwned2)" ]
	[ "$(sed -n 3p result.txt)" = "\`touch $W/pwned3\`" ]
	[ "$(sed -n 4p result.txt)" = "a'b" ]
}

@test "app launch: outputs, env vars, list input, input from another directory" {
	write_echo_desc
	echo "data" >"$W/inputs/in.txt"
	cat >"$W/i.json" <<EOF
{"text": "hi", "file": "$W/inputs/in.txt", "items": ["one", "two"], "num": 2.50}
EOF
	run "$FERRY" app launch --no-container --skip-data-collection "$W/echo.json" "$W/i.json"
	[ "$status" -eq 0 ]
	[ "$(cat result.txt)" = "hi
$W/inputs/in.txt
one
two
2.5
env=hi/x[TEXT]" ]
	[[ "$output" == *"Output files"*"result.txt (out, Required)"*"conf/hi.cfg (config, Required)"* ]]
	[[ "$output" != *"extra-hi.dat"* ]]
	[ "$(cat conf/hi.cfg)" = "text=hi
num=2.5
end" ]
}

@test "app launch: an error-codes entry is printed and the tool's code returned" {
	write_echo_desc
	echo '{"text": "t", "code": 3}' >"$W/i.json"
	run "$FERRY" app launch --no-container --skip-data-collection "$W/echo.json" "$W/i.json"
	[ "$status" -eq 3 ]
	[[ "$output" == *"Exit code"*"3"*"Error message"*"the tool was asked to fail"* ]]
	run "$FERRY" app launch --json --no-container --skip-data-collection "$W/echo.json" "$W/i.json"
	[ "$status" -eq 3 ]
	echo "$output" | jq -e '.["exit-code"] == 3 and .["error-message"] == "the tool was asked to fail"'
}

@test "app launch: a missing required output fails a successful tool, not a failed one" {
	cat >"$W/m.json" <<'EOF'
{"name": "m", "tool-version": "1", "schema-version": "0.5", "description": "d",
 "command-line": "exit [CODE]",
 "inputs": [{"id": "code", "name": "c", "type": "Number", "value-key": "[CODE]"}],
 "output-files": [
   {"id": "never", "name": "n", "path-template": "never.txt"},
   {"id": "opt", "name": "o", "path-template": "opt.txt", "optional": true}
 ]}
EOF
	echo '{"code": 0}' >"$W/i.json"
	run "$FERRY" app launch --no-container --skip-data-collection "$W/m.json" "$W/i.json"
	[ "$status" -eq 1 ]
	[[ "$output" == *"Missing files"*"never.txt (never, Required)"* ]]
	[[ "$output" == *"1 required output file missing"* ]]
	[[ "$output" != *opt.txt* ]]
	echo '{"code": 4}' >"$W/i.json"
	run "$FERRY" app launch --no-container --skip-data-collection "$W/m.json" "$W/i.json"
	[ "$status" -eq 4 ]
}

@test "app launch: a missing File input stops the launch with one line naming it" {
	write_echo_desc
	echo "{\"text\": \"t\", \"file\": \"$W/nope.txt\"}" >"$W/i.json"
	run "$FERRY" app launch --no-container "$W/echo.json" "$W/i.json"
	[ "$status" -eq 125 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == *"input 'file': $W/nope.txt: No such file or directory"* ]]
	[ ! -e result.txt ]
	[ ! -d "$HOME/.cache/boutiques" ]
}

@test "app launch: an invalid invocation or descriptor stops before the tool" {
	write_echo_desc
	echo '{"num": 1}' >"$W/i.json"
	run "$FERRY" app launch --no-container "$W/echo.json" "$W/i.json"
	[ "$status" -eq 125 ]
	[[ "$output" == *"invalid invocation"*"'text' is a required property"* ]]
	[ ! -e result.txt ]
}

@test "app launch: the provenance record has bosh's fields and ferry's" {
	write_echo_desc
	echo "data" >"$W/inputs/in.txt"
	echo "{\"text\": \"hi\", \"file\": \"$W/inputs/in.txt\"}" >"$W/i.json"
	run "$FERRY" app launch -q --no-container --provenance '{"project": "p1"}' "$W/echo.json" "$W/i.json"
	[ "$status" -eq 0 ]
	data=$HOME/.cache/boutiques/data
	rec=$(ls "$data"/echo-args_*.json)
	[ -f "$rec" ]
	[[ "$(basename "$rec")" =~ ^echo-args_[0-9]{4}-[0-9]{2}-[0-9]{2}_[0-9]{2}h[0-9]{2}m[0-9]{2}s[0-9]{6}ms\.json$ ]]
	md5=$(md5sum "$W/inputs/in.txt" | cut -d' ' -f1)
	outmd5=$(md5sum result.txt | cut -d' ' -f1)
	jq -e --arg md5 "$md5" --arg out "$outmd5" '
		.summary.name == "echo args" and
		(.summary["descriptor-doi"] | startswith("descriptor_echo-args_")) and
		.["public-invocation"].text == "hi" and
		.["public-invocation"].file == {"file-name": "in.txt", "md5sum": $md5} and
		(.["public-invocation"] | has("code") | not) and
		.["public-output"]["exit-code"] == 0 and
		.["public-output"]["error-message"] == "" and
		(.["public-output"]["shell-command"] | startswith("printf")) and
		.["public-output"]["output-files"].out == {"file-name": "result.txt", "md5sum": $out} and
		.["public-output"]["missing-files"] == {} and
		.["public-output"].stdout == "" and
		.["additional-information"] == {"project": "p1"} and
		(.ferry.version | length) > 0 and
		(.ferry["wall-time-s"] | type) == "number" and
		(.ferry["cpu-time-s"] | type) == "number" and
		.ferry["peak-memory-kib"] > 0 and
		(.ferry.host | length) > 0 and
		(.ferry.start < .ferry.end or .ferry.start == .ferry.end)' "$rec"
	desc_copy=$data/$(jq -r '.summary["descriptor-doi"]' "$rec")
	jq -e '.name == "echo args"' "$desc_copy"
	# a second run reuses the identical descriptor copy
	run "$FERRY" app launch -q --no-container "$W/echo.json" "$W/i.json"
	[ "$status" -eq 0 ]
	[ "$(ls "$data"/descriptor_*.json | wc -l)" -eq 1 ]
	[ "$(ls "$data"/echo-args_*.json | wc -l)" -eq 2 ]
}

@test "app launch: --skip-data-collection writes no record; stdout is captured in one" {
	cat >"$W/o.json" <<'EOF'
{"name": "out", "tool-version": "1", "schema-version": "0.5", "description": "d",
 "command-line": "echo to-stdout; echo to-stderr >&2",
 "inputs": [{"id": "a", "name": "a", "type": "String", "optional": true}]}
EOF
	echo '{}' >"$W/i.json"
	run "$FERRY" app launch -q --no-container --skip-data-collection "$W/o.json" "$W/i.json"
	[ "$status" -eq 0 ]
	[[ "$output" == *to-stdout*to-stderr* ]]
	[ ! -d "$HOME/.cache/boutiques" ]
	run "$FERRY" app launch -q "$W/o.json" "$W/i.json"
	[ "$status" -eq 0 ]
	rec=$(ls "$HOME"/.cache/boutiques/data/out_*.json)
	jq -e '.["public-output"].stdout == "to-stdout\n" and .["public-output"].stderr == "to-stderr\n"' "$rec"
}

@test "app test: runs the descriptor's tests and fails when one fails" {
	write_echo_desc
	run "$FERRY" app test --no-container "$W/echo.json"
	[ "$status" -eq 1 ]
	[[ "$output" == *"PASS ok"* ]]
	[[ "$output" == *"FAIL fails: exit code 3, expected 0"* ]]
	[[ "$output" == *"1 passed, 1 failed"* ]]
	jq 'del(.tests[1])' "$W/echo.json" >"$W/pass.json"
	run "$FERRY" app test --no-container "$W/pass.json"
	[ "$status" -eq 0 ]
	[[ "$output" == *"1 passed, 0 failed"* ]]
}

@test "app: usage errors exit 2" {
	run "$FERRY" app
	[ "$status" -eq 2 ]
	run "$FERRY" app frobnicate
	[ "$status" -eq 2 ]
	[[ "$output" == *"unknown command 'frobnicate'"* ]]
	run "$FERRY" app launch only-one.json
	[ "$status" -eq 2 ]
	run "$FERRY" app validate --bogus x.json
	[ "$status" -eq 2 ]
	run "$FERRY" app --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"ferry app COMMAND"* ]]
}

@test "app: descriptors and invocations from stdin or inline JSON (as bosh takes them)" {
	write_echo_desc
	run "$FERRY" app simulate "$W/echo.json" -i '{"text": "inline value"}'
	[ "$status" -eq 0 ]
	[[ "$output" == "printf '%s\\n' 'inline value' > result.txt"* ]]
	run bash -c "'$FERRY' app validate - < '$W/echo.json'"
	[ "$status" -eq 0 ]
	[ "$output" = OK ]
	run "$FERRY" app validate zenodo.1234567
	[ "$status" -eq 1 ]
	[[ "$output" == *"does not fetch descriptors from Zenodo"* ]]
}

@test "app launch: output that is not UTF-8 is recorded as bosh records it" {
	cat >"$W/b.json" <<'EOF'
{"name": "bytes", "tool-version": "1", "schema-version": "0.5", "description": "d",
 "command-line": "printf 'caf\\303\\251 \\377\\000!\\n'",
 "inputs": [{"id": "a", "name": "a", "type": "String", "optional": true}]}
EOF
	echo '{}' >"$W/i.json"
	run "$FERRY" app launch -q "$W/b.json" "$W/i.json"
	[ "$status" -eq 0 ]
	rec=$(ls "$HOME"/.cache/boutiques/data/bytes_*.json)
	jq -e '.["public-output"].stdout == "café \\xff\\x00!\n"' "$rec"
}

@test "app invocation: bounds, choices, list lengths, requires/disables, groups" {
	cat >"$W/r.json" <<'EOF'
{"name": "rules", "tool-version": "1", "schema-version": "0.5", "description": "d",
 "command-line": "t [N] [C] [L] [A] [B] [F] [M1] [M2] [O1] [O2]",
 "inputs": [
   {"id": "n", "name": "n", "type": "Number", "optional": true, "minimum": 0, "exclusive-minimum": true,
    "maximum": 10, "value-key": "[N]"},
   {"id": "c", "name": "c", "type": "String", "optional": true, "value-choices": ["x", "y"], "value-key": "[C]"},
   {"id": "l", "name": "l", "type": "String", "list": true, "optional": true, "min-list-entries": 2,
    "max-list-entries": 3, "value-key": "[L]"},
   {"id": "a", "name": "a", "type": "String", "optional": true, "requires-inputs": ["b"], "value-key": "[A]"},
   {"id": "b", "name": "b", "type": "String", "optional": true, "value-key": "[B]"},
   {"id": "f", "name": "f", "type": "Flag", "optional": true, "command-line-flag": "-f",
    "disables-inputs": ["b"], "value-key": "[F]"},
   {"id": "m1", "name": "m1", "type": "String", "optional": true, "value-key": "[M1]"},
   {"id": "m2", "name": "m2", "type": "String", "optional": true, "value-key": "[M2]"},
   {"id": "o1", "name": "o1", "type": "String", "optional": true, "value-key": "[O1]"},
   {"id": "o2", "name": "o2", "type": "String", "optional": true, "value-key": "[O2]"}
 ],
 "groups": [
   {"id": "mx", "name": "mx", "members": ["m1", "m2"], "mutually-exclusive": true},
   {"id": "one", "name": "one", "members": ["o1", "o2"], "one-is-required": true}
 ]}
EOF
	check() { # INVOCATION EXPECTED-SUBSTRING
		echo "$1" >"$W/i.json"
		run "$FERRY" app invocation "$W/r.json" -i "$W/i.json"
		[ "$status" -eq 1 ] || die "accepted: $1"
		[[ "$output" == *"$2"* ]] || die "for $1: got $output"
	}
	check '{"o1": "x", "n": 0}' "n: 0 is less than or equal to the minimum of 0"
	check '{"o1": "x", "n": 10.5}' "n: 10.5 is greater than the maximum of 10"
	check '{"o1": "x", "c": "z"}' "c: 'z' is not one of ['x', 'y']"
	check '{"o1": "x", "l": ["1"]}' "l: ['1'] is too short"
	check '{"o1": "x", "l": ["1", "2", "3", "4"]}' "l: ['1', '2', '3', '4'] is too long"
	check '{"o1": "x", "a": "1"}' "'b' is a required property"
	check '{"o1": "x", "f": true, "b": "1"}' "is not valid under any of the given schemas"
	check '{"o1": "x", "m1": "1", "m2": "2"}' "OrderedDict() is not allowed for '2'"
	check '{"n": 1}' "is not valid under any of the given schemas"
	check '{"o1": "x", "zzz": 1}' "Additional properties are not allowed ('zzz' was unexpected)"
	echo '{"o2": "x", "n": 10, "c": "y", "l": ["1", "2"], "a": "1", "b": "2", "f": false, "m1": "1"}' >"$W/i.json"
	run "$FERRY" app invocation "$W/r.json" -i "$W/i.json"
	[ "$status" -eq 0 ]
}
