#!/usr/bin/env bats
# VIP's Python client against ferry serve: the HTTP sequences of both of its
# layers (utils/vip.py and VipSession), replayed with python3-requests by
# tests/cli/serve-vip.py, with only the base URL changed (doc/serve.md,
# "VIP clients").

load ../lib/common
load serve

setup() {
	ferry_test_env
	python3 -c 'import requests' 2>/dev/null || skip "python3-requests is not installed (scripts/deps/test-serve.txt)"
	SV=$BATS_TEST_TMPDIR/sv
	serve_descriptor echo.json echo-tool 'cat [IN] > [OUT]; echo done [N]'
	serve_user alice 'alice-password' >/dev/null
}

teardown() {
	serve_stop || true
}

@test "serve vip: both layers of VIP's Python client work with only the base URL changed" {
	serve_start
	mkdir -p "$SV/work/dataset"
	printf 'vip input\n' >"$SV/work/input.txt"
	printf 'a\n' >"$SV/work/dataset/a.txt"
	printf 'b\n' >"$SV/work/dataset/b.txt"
	run python3 "$FERRY_SRC/tests/cli/serve-vip.py" "$URL" alice alice-password echo-tool/1.0 infile "$SV/work"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"downloaded: "*"/out.txt"* ]]
	[[ "$output" == *"VIP client sequences: OK"* ]]
	[ "$(cat "$SV/work/vip_outputs/VipSession-test/"*/out.txt)" = a ]
}
