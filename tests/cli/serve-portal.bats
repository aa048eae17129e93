#!/usr/bin/env bats
# The web portal of ferry serve in headless Chromium, driven by
# puppeteer-core from npm (installed here, once, into
# ${FERRY_NODE_DIR:-$FERRY_BUILD/test-node}). A failed step saves a
# screenshot ($SV/portal-failure.png, kept in the test's directory).

load ../lib/common
load serve

setup_file() {
	NODE_DIR=${FERRY_NODE_DIR:-$FERRY_BUILD/test-node}
	# An unprivileged run may not write the build tree: it reads the copy
	# an earlier run installed there, else installs one in its own cache.
	if [ ! -r "$NODE_DIR/node_modules/puppeteer-core/package.json" ] &&
		{ ! mkdir -p "$NODE_DIR" 2>/dev/null || [ ! -w "$NODE_DIR" ]; }; then
		NODE_DIR=${XDG_CACHE_HOME:-$HOME/.cache}/ferry-test-node
	fi
	export NODE_DIR
	command -v node >/dev/null && command -v npm >/dev/null || return 0
	if [ ! -d "$NODE_DIR/node_modules/puppeteer-core" ]; then
		mkdir -p "$NODE_DIR"
		# node trusts its own CA list, not the system's: a site whose
		# registry access goes through a TLS proxy with a local CA (in the
		# system's bundle) needs that bundle named.
		local ca=${NODE_EXTRA_CA_CERTS:-}
		[ -n "$ca" ] || [ ! -r /etc/ssl/certs/ca-certificates.crt ] || ca=/etc/ssl/certs/ca-certificates.crt
		NODE_EXTRA_CA_CERTS=$ca npm install --no-audit --no-fund --prefix "$NODE_DIR" puppeteer-core@22 \
			>"$NODE_DIR/npm.log" 2>&1 || true
	fi
}

setup() {
	ferry_test_env
	command -v chromium >/dev/null || skip "chromium is not installed (scripts/deps/test-serve.txt)"
	command -v node >/dev/null || skip "nodejs is not installed (scripts/deps/test-serve.txt)"
	if [ ! -d "$NODE_DIR/node_modules/puppeteer-core" ]; then
		[ "${CI:-}" = true ] && die "npm could not install puppeteer-core: $(tail -3 "$NODE_DIR/npm.log")"
		skip "npm could not install puppeteer-core (offline?): see $NODE_DIR/npm.log"
	fi
	SV=$BATS_TEST_TMPDIR/sv
	serve_descriptor echo.json echo-tool 'cat [IN] > [OUT]; echo done [N]'
	serve_descriptor other.json other-tool 'cat [IN] [N] > [OUT]'
	serve_user alice 'alice-password' >/dev/null
}

teardown() {
	serve_stop || true
}

@test "serve portal: log in, upload, launch from the generated form, watch, download, delete (Chromium)" {
	serve_start
	printf 'portal input\n' >"$SV/input.txt"
	mkdir -p "$SV/downloads"
	export HOME=$BATS_TEST_TMPDIR/home
	mkdir -p "$HOME"
	run env NODE_PATH="$NODE_DIR/node_modules" node "$FERRY_SRC/tests/cli/serve-portal.js" "$URL" alice alice-password \
		"$SV/input.txt" "$SV/downloads" "$SV/portal-failure.png"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"portal: OK"* ]]
	[ "$(cat "$SV/downloads/out.txt")" = "portal input" ]
}

@test "serve portal: the files are embedded and served with a strict CSP, no external source" {
	serve_start
	run curl -s -i "$URL/"
	[[ "$output" == *"HTTP/1.1 200"* ]]
	[[ "$output" == *"Content-Security-Policy: default-src 'self'"* ]]
	for f in index.html app.js style.css; do
		curl -s "$URL/portal/$f" | cmp - "$FERRY_SRC/src/serve/portal/$f"
	done
	! grep -Eq '(src|href)="(https?:)?//' "$FERRY_SRC/src/serve/portal/index.html"
	! grep -Eq "https?://" "$FERRY_SRC/src/serve/portal/app.js"
}
