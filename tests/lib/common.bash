# Common set-up for ferry's bats tests. Load with: load ../lib/common
# Works both as root and as the unprivileged test user (the runner runs
# every tests/cli/*.bats file both ways).

FERRY_SRC=${FERRY_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
FERRY_BUILD=${FERRY_BUILD:-$FERRY_SRC/build}
FERRY=${FERRY:-$FERRY_BUILD/src/cli/ferry}
# OCI image layouts built once per run by tests/lib/build-images:
#   $FERRY_TEST_IMAGES/busybox  (one layer, busybox-static, tag "latest")
#   $FERRY_TEST_IMAGES/layered  (busybox + a layer with whiteouts, an opaque
#                                dir and added files, tag "latest")
#   $FERRY_TEST_IMAGES/debian   (mmdebstrap minbase + python3-minimal, two
#                                layers, tag "latest")
FERRY_TEST_IMAGES=${FERRY_TEST_IMAGES:-$FERRY_BUILD/test-images}
# The shared conformance corpora (bosh's real outputs), one directory per
# format: $FERRY_CONFORMANCE/boutiques/cases.json ... By default the
# shared/ folder beside the checkout.
FERRY_CONFORMANCE=${FERRY_CONFORMANCE:-$FERRY_SRC/../shared/conformance}
export FERRY_SRC FERRY_BUILD FERRY FERRY_TEST_IMAGES FERRY_CONFORMANCE

# A private store and config per test, so tests never share state.
ferry_test_env() {
	export FERRY_HOME="$BATS_TEST_TMPDIR/ferry-home"
	export XDG_CONFIG_HOME="$BATS_TEST_TMPDIR/config"
	export DOCKER_CONFIG="$BATS_TEST_TMPDIR/docker"
	mkdir -p "$FERRY_HOME" "$XDG_CONFIG_HOME" "$DOCKER_CONFIG"
}

is_root() { [ "$(id -u)" -eq 0 ]; }

# need_corpus DIR WHAT: skip when the corpus DIR is missing, but fail in
# CI (CI=true), where a missing corpus means the suite tested nothing.
need_corpus() {
	[ -f "$1/cases.json" ] && return 0
	local msg="$2 not found at $1 (set FERRY_CONFORMANCE to the conformance folder; by default shared/conformance beside the checkout)"
	if [ "${CI:-}" = true ]; then
		die "$msg: in CI (CI=true) a missing corpus is a failure"
		return 1
	fi
	skip "$msg"
}

# Fail with a message (bats prints it).
die() {
	echo "$*" >&2
	return 1
}

# A free TCP port on 127.0.0.1.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
