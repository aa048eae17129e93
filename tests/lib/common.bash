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
export FERRY_SRC FERRY_BUILD FERRY FERRY_TEST_IMAGES

# A private store and config per test, so tests never share state.
ferry_test_env() {
	export FERRY_HOME="$BATS_TEST_TMPDIR/ferry-home"
	export XDG_CONFIG_HOME="$BATS_TEST_TMPDIR/config"
	export DOCKER_CONFIG="$BATS_TEST_TMPDIR/docker"
	mkdir -p "$FERRY_HOME" "$XDG_CONFIG_HOME" "$DOCKER_CONFIG"
}

is_root() { [ "$(id -u)" -eq 0 ]; }

# Fail with a message (bats prints it).
die() {
	echo "$*" >&2
	return 1
}

# A free TCP port on 127.0.0.1.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
