# The unprivileged test user: create it, give it access to the tree, run
# commands as it. Source from bash (tests/run, bats files):
#   source tests/lib/user.bash
#   ensure_test_user                   # as root: create $FERRY_TEST_USER if missing
#   grant_access /path/to/tree         # as root: o+x on parents, o+rX inside
#   as_user cmd args...                # run as the user, clean environment
# as_user keeps only HOME, USER, LOGNAME, SHELL, PATH, LANG, TERM, a private
# writable TMPDIR, and the variables named in $AS_USER_KEEP (space separated,
# e.g. AS_USER_KEEP="FERRY_BUILD FERRY_TEST_IMAGES"). It needs root, and uses
# setpriv (no PAM session, no login records) or else runuser.

FERRY_TEST_USER=${FERRY_TEST_USER:-ferrytest}

test_user_home() {
	getent passwd "$FERRY_TEST_USER" | cut -d: -f6
}

ensure_test_user() {
	if ! id -u "$FERRY_TEST_USER" >/dev/null 2>&1; then
		if [ "$(id -u)" -ne 0 ]; then
			echo "user.bash: user $FERRY_TEST_USER is missing and only root can create it" >&2
			return 1
		fi
		useradd --create-home --shell /bin/bash --user-group "$FERRY_TEST_USER" || return 1
	fi
	local home
	home=$(test_user_home)
	# A user created elsewhere without -m has no home: make one.
	if [ -n "$home" ] && [ ! -d "$home" ] && [ "$(id -u)" -eq 0 ]; then
		mkdir -p "$home" && chown "$FERRY_TEST_USER:" "$home" && chmod 0755 "$home"
	fi
}

# Make PATH readable by the test user: every parent directory gets o+x
# (a clone under /root or a 0700 home would otherwise be unreachable), the
# tree itself o+rX. Only what is missing is changed, and it is said.
grant_access() {
	local p
	p=$(cd "$1" && pwd) || return 1
	local d=$p
	while [ "$d" != / ]; do
		d=$(dirname "$d")
		if ! runuser_test -x "$d"; then
			echo "user.bash: chmod o+x $d (so $FERRY_TEST_USER can reach $p)" >&2
			chmod o+x "$d" || return 1
		fi
	done
	chmod -R o+rX "$p" 2>/dev/null || true
}

# test(1) as the test user, without a clean environment (cheap probe).
runuser_test() {
	setpriv --reuid="$FERRY_TEST_USER" --regid="$FERRY_TEST_USER" --init-groups test "$@" 2>/dev/null
}

# A private, writable TMPDIR for the user, made once per shell: call it in
# the main shell (not in $(...) or a pipeline) so the name is remembered and
# cleanup_test_user_tmpdir can remove it.
ensure_test_user_tmpdir() {
	if [ -z "${FERRY_USER_TMPDIR:-}" ] || [ ! -d "$FERRY_USER_TMPDIR" ]; then
		FERRY_USER_TMPDIR=$(mktemp -d /tmp/ferrytest-tmp.XXXXXX) || return 1
		chown "$FERRY_TEST_USER:" "$FERRY_USER_TMPDIR" || return 1
		chmod 0700 "$FERRY_USER_TMPDIR"
	fi
}

as_user() {
	local home
	home=$(test_user_home)
	ensure_test_user_tmpdir || return 1
	local tmp=$FERRY_USER_TMPDIR
	local envs=(
		"HOME=$home" "USER=$FERRY_TEST_USER" "LOGNAME=$FERRY_TEST_USER" "SHELL=/bin/bash"
		"PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"
		"LANG=${LANG:-C.UTF-8}" "TERM=${TERM:-dumb}" "TMPDIR=$tmp"
	)
	local v
	for v in ${AS_USER_KEEP:-}; do
		[ -n "${!v+x}" ] && envs+=("$v=${!v}")
	done
	if command -v setpriv >/dev/null; then
		setpriv --reuid="$FERRY_TEST_USER" --regid="$FERRY_TEST_USER" --init-groups \
			-- env -i "${envs[@]}" "$@"
	else
		runuser -u "$FERRY_TEST_USER" -- env -i "${envs[@]}" "$@"
	fi
}

# Remove the private TMPDIR (call at exit).
cleanup_test_user_tmpdir() {
	if [ -n "${FERRY_USER_TMPDIR:-}" ] && [ -d "$FERRY_USER_TMPDIR" ]; then
		rm -rf "$FERRY_USER_TMPDIR"
	fi
}
