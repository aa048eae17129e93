#!/usr/bin/env bats
# ferry app against bosh 0.5.33 where the two used to disagree (issue 13):
# never refuse what bosh runs, refuse what bosh refuses.
#   - a boolean for a Number input and null for an input without a default
#     are refused, as bosh's generated invocation schema refuses them;
#   - all-or-none groups, value-requires and value-disables (which bosh never
#     enforces) warn, once per violation, and the invocation goes on;
#     --strict refuses them; what bosh refuses stays refused either way;
#   - integers beyond 64 bits are read and printed exactly (Python ints).
load ../lib/common

setup() {
	ferry_test_env
	export HOME=$BATS_TEST_TMPDIR/home
	mkdir -p "$HOME"
	W=$BATS_TEST_TMPDIR
	cd "$W"
	cat >"$W/num.json" <<'EOF'
{"name": "num", "tool-version": "1", "schema-version": "0.5", "description": "d",
 "command-line": "echo [N] [I] [C] [S] [F] [L] [D]",
 "inputs": [
   {"id": "n", "name": "n", "type": "Number", "optional": true, "value-key": "[N]"},
   {"id": "i", "name": "i", "type": "Number", "integer": true, "optional": true, "value-key": "[I]"},
   {"id": "c", "name": "c", "type": "Number", "value-choices": [1, 0], "optional": true, "value-key": "[C]"},
   {"id": "s", "name": "s", "type": "String", "optional": true, "value-key": "[S]"},
   {"id": "f", "name": "f", "type": "Flag", "command-line-flag": "-f", "optional": true, "value-key": "[F]"},
   {"id": "l", "name": "l", "type": "Number", "list": true, "optional": true, "value-key": "[L]"},
   {"id": "d", "name": "d", "type": "String", "optional": true, "default-value": "dflt", "value-key": "[D]"}
 ]}
EOF
	cat >"$W/groups.json" <<'EOF'
{"name": "groups", "tool-version": "1", "schema-version": "0.5", "description": "d",
 "command-line": "echo run [A] [B] [M] [X] [Y]",
 "inputs": [
   {"id": "a", "name": "a", "type": "String", "optional": true, "value-key": "[A]"},
   {"id": "b", "name": "b", "type": "String", "optional": true, "value-key": "[B]"},
   {"id": "mode", "name": "m", "type": "String", "optional": true, "value-key": "[M]",
    "value-choices": ["fast", "slow"], "value-requires": {"fast": ["x"], "slow": []},
    "value-disables": {"fast": [], "slow": ["y"]}},
   {"id": "x", "name": "x", "type": "String", "optional": true, "value-key": "[X]"},
   {"id": "y", "name": "y", "type": "String", "optional": true, "value-key": "[Y]",
    "requires-inputs": ["a"]}
 ],
 "groups": [{"id": "pair", "name": "pair", "members": ["a", "b"], "all-or-none": true}]}
EOF
}

# refused CMD...: status 1 and the message on every entry point that takes -i.
refused() { # INVOCATION MESSAGE
	local sub
	for sub in invocation simulate; do
		run "$FERRY" app "$sub" "$W/num.json" -i "$1"
		[ "$status" -eq 1 ] || die "$sub accepted $1: $output"
		[[ "$output" == *"$2"* ]] || die "$sub: expected '$2' in: $output"
	done
	run "$FERRY" app launch --no-container --skip-data-collection "$W/num.json" "$1"
	[ "$status" -eq 125 ] || die "launch ran $1 ($status): $output"
	[[ "$output" == *"$2"* ]] || die "launch: expected '$2' in: $output"
}

@test "bosh compat: a boolean for a Number input is refused, with jsonschema's message" {
	refused '{"c": true}' "c: True is not one of [1, 0]"
	refused '{"c": false}' "c: False is not one of [1, 0]"
	refused '{"n": true}' "n: True is not of type 'number'"
	refused '{"i": false}' "i: False is not of type 'integer'"
	refused '{"l": [1, true]}' "l[1]: True is not of type 'number'"
	# the numbers themselves still pass, 1.0 equals the choice 1 as in Python
	run "$FERRY" app simulate "$W/num.json" -i '{"c": 1, "n": 2.5, "i": 3, "l": [1, 0]}'
	[ "$status" -eq 0 ] && [ "$output" = "echo 2.5 3 1 1 0 dflt" ]
	run "$FERRY" app invocation "$W/num.json" -i '{"c": 1.0}'
	[ "$status" -eq 0 ]
}

@test "bosh compat: null for an input without a default is refused; with a default it takes the default" {
	refused '{"s": null}' "s: None is not of type 'string'"
	refused '{"n": null}' "n: None is not of type 'number'"
	refused '{"f": null}' "f: None is not of type 'boolean'"
	refused '{"l": null}' "l: None is not of type 'array'"
	refused '{"c": null}' "c: None is not one of [1, 0]"
	run "$FERRY" app simulate "$W/num.json" -i '{"d": null, "n": 1}'
	[ "$status" -eq 0 ] && [ "$output" = "echo 1 dflt" ]
}

@test "bosh compat: all-or-none, value-requires, value-disables warn once per violation and go on" {
	local inv='{"a": "1", "mode": "fast"}' # pair lacks b; fast requires x
	run "$FERRY" app invocation "$W/groups.json" -i "$inv"
	[ "$status" -eq 0 ]
	[ "$(grep -c 'warning' <<<"$output")" -eq 2 ]
	[[ "$output" == *"warning: $inv: all-or-none group 'pair': 'b' must be given too (bosh runs it; --strict refuses)"* ]]
	[[ "$output" == *"warning: $inv: value 'fast' of 'mode' requires 'x'"* ]]
	[ "${lines[-1]}" = OK ]
	run "$FERRY" app simulate "$W/groups.json" -i "$inv"
	[ "$status" -eq 0 ] && [ "${lines[-1]}" = "echo run 1 fast" ]
	[ "$(grep -c 'warning' <<<"$output")" -eq 2 ]
	# launch runs it, as bosh does
	run "$FERRY" app launch --no-container --skip-data-collection -q "$W/groups.json" "$inv"
	[ "$status" -eq 0 ]
	[[ "$output" == *"run 1 fast"* ]]
	[ "$(grep -c 'warning' <<<"$output")" -eq 2 ]
	# value-disables, named by input
	run "$FERRY" app simulate "$W/groups.json" -i '{"a": "1", "b": "2", "mode": "slow", "y": "3"}'
	[ "$status" -eq 0 ] && [ "${lines[-1]}" = "echo run 1 2 slow 3" ]
	[[ "$output" == *"value 'slow' of 'mode' disables 'y'"* ]]
	[ "$(grep -c 'warning' <<<"$output")" -eq 1 ]
	# --json: warnings listed, still valid
	run "$FERRY" app invocation --json "$W/groups.json" -i "$inv"
	[ "$status" -eq 0 ]
	echo "$output" | jq -e '.valid == true and (.warnings | length) == 2 and (.problems | length) == 0'
	# nothing to warn about: no warning
	run "$FERRY" app simulate "$W/groups.json" -i '{"a": "1", "b": "2"}'
	[ "$status" -eq 0 ] && [ "$output" = "echo run 1 2" ]
}

@test "bosh compat: --strict refuses those violations, each named, on every entry point" {
	local inv='{"a": "1", "mode": "fast"}'
	run "$FERRY" app invocation --strict "$W/groups.json" -i "$inv"
	[ "$status" -eq 1 ]
	[[ "$output" == *"all-or-none group 'pair': 'b' must be given too"* ]]
	[[ "$output" == *"value 'fast' of 'mode' requires 'x'"* ]]
	[[ "$output" != *warning* ]]
	run "$FERRY" app simulate --strict "$W/groups.json" -i "$inv"
	[ "$status" -eq 1 ] && [[ "$output" == *"invalid invocation"* ]]
	run "$FERRY" app launch --strict --no-container --skip-data-collection "$W/groups.json" "$inv"
	[ "$status" -eq 125 ]
	[[ "$output" == *"invalid invocation (--strict): all-or-none group 'pair'"* ]]
	[[ "$output" != *"run 1"* ]]
	run "$FERRY" app invocation --strict --json "$W/groups.json" -i "$inv"
	[ "$status" -eq 1 ]
	echo "$output" | jq -e '.valid == false and (.problems | length) == 2'
}

@test "bosh compat: what bosh refuses stays refused without --strict" {
	# requires-inputs: y needs a (bosh's schema: dependencies)
	run "$FERRY" app invocation "$W/groups.json" -i '{"y": "3"}'
	[ "$status" -eq 1 ] && [[ "$output" == *"'a' is a required property"* ]]
	run "$FERRY" app launch --no-container --skip-data-collection "$W/groups.json" '{"y": "3"}'
	[ "$status" -eq 125 ] && [[ "$output" != *"run "* ]]
	# a value outside value-choices, an unknown input
	run "$FERRY" app invocation "$W/groups.json" -i '{"mode": "medium"}'
	[ "$status" -eq 1 ] && [[ "$output" == *"'medium' is not one of ['fast', 'slow']"* ]]
	run "$FERRY" app invocation "$W/groups.json" -i '{"zzz": 1}'
	[ "$status" -eq 1 ] && [[ "$output" == *"Additional properties are not allowed ('zzz' was unexpected)"* ]]
}

@test "bosh compat: integers beyond 64 bits are read and printed exactly, as Python does" {
	local big=123456789012345678901234567890 neg=-98765432109876543210987654321
	run "$FERRY" app simulate "$W/num.json" -i "{\"n\": $big, \"i\": $neg, \"l\": [1, $big]}"
	[ "$status" -eq 0 ]
	[ "$output" = "echo $big $neg 1 $big dflt" ]
	# 64-bit limits and just beyond, from a file and from stdin
	printf '{"i": 9223372036854775807, "n": 9223372036854775808, "l": [-9223372036854775808, -9223372036854775809]}' >"$W/edge.json"
	run "$FERRY" app simulate "$W/num.json" -i "$W/edge.json"
	[ "$status" -eq 0 ]
	[ "$output" = "echo 9223372036854775808 9223372036854775807 -9223372036854775808 -9223372036854775809 dflt" ]
	run "$FERRY" app simulate "$W/num.json" -i - <"$W/edge.json"
	[ "$status" -eq 0 ] && [[ "$output" == "echo 9223372036854775808 "* ]]
	# --json prints them as numbers, exactly (Python reads them back equal)
	run "$FERRY" app simulate --json "$W/num.json" -i "$W/edge.json"
	[ "$status" -eq 0 ]
	python3 -c 'import json, sys
j = json.loads(sys.argv[1])
assert j["invocation"]["n"] == 9223372036854775808, j
assert j["inputs"]["l"] == [-9223372036854775808, -9223372036854775809], j' "$output"
	# a thousand digits
	local huge
	huge=$(printf '7%.0s' $(seq 1000))
	run "$FERRY" app simulate "$W/num.json" -i "{\"n\": $huge}"
	[ "$status" -eq 0 ] && [ "$output" = "echo $huge dflt" ]
	# still numbers: refused for a String, checked against bounds
	run "$FERRY" app invocation "$W/num.json" -i "{\"s\": $big}"
	[ "$status" -eq 1 ] && [[ "$output" == *"s: $big is not of type 'string'"* ]]
	cat >"$W/bounded.json" <<'EOF'
{"name": "b", "tool-version": "1", "schema-version": "0.5", "description": "d", "command-line": "echo [N]",
 "inputs": [{"id": "n", "name": "n", "type": "Number", "maximum": 100, "value-key": "[N]"}]}
EOF
	run "$FERRY" app invocation "$W/bounded.json" -i "{\"n\": $big}"
	[ "$status" -eq 1 ] && [[ "$output" == *"n: $big is greater than the maximum of 100"* ]]
	run "$FERRY" app invocation "$W/bounded.json" -i "{\"n\": $neg}"
	[ "$status" -eq 0 ]
}

@test "bosh compat: a big integer reaches the tool and the provenance record exactly" {
	local big=123456789012345678901234567890
	run "$FERRY" app launch --no-container -q "$W/num.json" "{\"n\": $big}"
	[ "$status" -eq 0 ] && [ "$output" = "$big dflt" ]
	local rec
	rec=$(ls "$HOME"/.cache/boutiques/data/num_*.json)
	python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
assert r["public-invocation"]["n"] == int(sys.argv[2]), r["public-invocation"]' "$rec" "$big"
}

@test "bosh compat: big-integer parsing keeps strings and other errors as they were" {
	local big=123456789012345678901234567890
	# strings that look like numbers, or like ferry's placeholders, stay strings
	run "$FERRY" app simulate "$W/num.json" -i "{\"s\": \"$big\", \"n\": $big}"
	[ "$status" -eq 0 ] && [ "$output" = "echo $big $big dflt" ]
	run "$FERRY" app simulate --json "$W/num.json" -i "{\"s\": \"\\u00017x\", \"n\": $big}"
	[ "$status" -eq 0 ]
	python3 -c 'import json, sys; j = json.loads(sys.argv[1]); assert j["invocation"]["s"] == "\x017x", j' "$output"
	# a big number with a fraction or an exponent is a float, as in Python
	run "$FERRY" app simulate "$W/num.json" -i "{\"n\": ${big}.5}"
	[ "$status" -eq 0 ] && [ "$output" = "echo 1.2345678901234568e+29 dflt" ]
	# a syntax error after a big integer is reported where it is: at the
	# same line and column as with a float of the same length there
	printf '{"n": %s, "s": "x" "y"}' "$big" >"$W/bad.json"
	printf '{"n": %s, "s": "x" "y"}' "${big:0:28}.0" >"$W/bad2.json"
	run "$FERRY" app invocation "$W/num.json" -i "$W/bad2.json"
	[ "$status" -eq 1 ]
	local want=${output#*bad2.json:}
	[[ "$want" == 1:*"invalid JSON: '}' expected near '\"y\"'" ]]
	run "$FERRY" app invocation "$W/num.json" -i "$W/bad.json"
	[ "$status" -eq 1 ]
	[ "${output#*bad.json:}" = "$want" ]
}
