#!/usr/bin/env bats
# The shared Boutiques conformance corpus: 92 cases with bosh 0.5.33's real
# outputs, each run through ferry's CLI by tests/conformance/boutiques.py
# (verdicts, exact messages, invocation schemas, exact command lines, files
# written by simulate, output paths, launches). Every case is listed in the
# output; any mismatch fails the test and is printed.
load ../lib/common

setup() {
	# $FERRY_CONFORMANCE (tests/lib/common.bash): skipped when missing,
	# except in CI, where that fails.
	CORPUS=$FERRY_CONFORMANCE/boutiques
	need_corpus "$CORPUS" "Boutiques conformance corpus"
	command -v python3 >/dev/null || skip "python3 is needed to read the corpus"
	ferry_test_env
	export HOME=$BATS_TEST_TMPDIR/home
	mkdir -p "$HOME"
}

run_group() {
	cd "$BATS_TEST_TMPDIR"
	run python3 "$FERRY_SRC/tests/conformance/boutiques.py" "$FERRY" "$CORPUS" "$1"
	echo "$output" | grep -v '^ok ' || true
	[ "$status" -eq 0 ]
	[[ "${lines[-1]}" =~ ^([0-9]+)\ of\ ([0-9]+)\ cases\ agree ]]
	[ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ]
	n=${BASH_REMATCH[1]}
}

@test "conformance: the corpus has its 92 cases" {
	run python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$CORPUS/cases.json"
	[ "$status" -eq 0 ]
	[ "$output" = 92 ]
}

@test "conformance: example1 family (quoting, lists, config files, containers)" { run_group upstream/example1; }
@test "conformance: conImage, automount, example2/3, fsl_bet" {
	run_group upstream/conImage; run_group upstream/automount; run_group upstream/example2
	run_group upstream/example3; run_group upstream/fsl_bet
}
@test "conformance: flags, simulate, invocation, naval_fate, docopt" {
	run_group upstream/example_flag; run_group upstream/simulate; run_group upstream/invocation
	run_group upstream/naval_fate; run_group upstream/docopt
}
@test "conformance: conditional outputs" { run_group upstream/output_files; }
@test "conformance: launches (exit code, outputs found and missing)" { run_group upstream/exec; run_group upstream/example2; }
@test "conformance: validator messages, tests, imports, exports, bids, pprint" {
	for g in upstream/validator upstream/test/ upstream/import upstream/export upstream/bids upstream/pprint \
		upstream/validate/ upstream/example/ upstream/crash_python3 upstream/data_collection; do
		run_group "$g"
	done
}

@test "conformance: all 92 cases agree with bosh" {
	run_group ""
	[ "$n" -eq 92 ]
}
