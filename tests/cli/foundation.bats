#!/usr/bin/env bats
# CLI basics: version, help, usage errors and exit codes, and what
# `make install` puts in place (binary, man page, bash completion).
# Runs as root and as the unprivileged test user.

bats_require_minimum_version 1.5.0
load ../lib/common

COMMANDS="pull images inspect rm prune login logout run exec shell check app help version"

setup() {
	ferry_test_env
}

@test "--version prints the project's version" {
	run "$FERRY" --version
	[ "$status" -eq 0 ]
	want=$(sed -n "s/^ *version : '\(.*\)',/\1/p" "$FERRY_SRC/meson.build")
	[ -n "$want" ]
	[ "$output" = "ferry $want" ]
	run "$FERRY" version
	[ "$status" -eq 0 ]
	[ "$output" = "ferry $want" ]
}

@test "help lists every command with a summary" {
	run "$FERRY" help
	[ "$status" -eq 0 ]
	[[ ${lines[0]} == "Usage: ferry "* ]]
	for c in $COMMANDS; do
		echo "$output" | grep -qE "^  $c +[a-z]" || die "help does not list $c"
	done
	help_out=$output
	run "$FERRY" --help
	[ "$status" -eq 0 ]
	[ "$output" = "$help_out" ]
	run "$FERRY" -h
	[ "$output" = "$help_out" ]
}

@test "help CMD, CMD --help and CMD -h print the same usage for every command" {
	for c in $COMMANDS; do
		run "$FERRY" help "$c"
		[ "$status" -eq 0 ] || die "help $c: exit $status"
		[[ ${lines[0]} == "Usage: ferry $c"* ]] || die "help $c: ${lines[0]}"
		text=$output
		run "$FERRY" "$c" --help
		[ "$status" -eq 0 ] || die "$c --help: exit $status"
		[ "$output" = "$text" ] || die "$c --help differs from help $c"
		run "$FERRY" "$c" -h
		[ "$output" = "$text" ] || die "$c -h differs from help $c"
	done
}

# Usage errors: nothing on stdout, two lines on stderr (what is wrong, and
# where to look), exit 2.
usage_error() { # WANT-IN-FIRST-LINE ARGS...
	local want=$1
	shift
	local out err rc=0
	err=$("$FERRY" "$@" 2>&1 >"$BATS_TEST_TMPDIR/stdout") || rc=$?
	out=$(cat "$BATS_TEST_TMPDIR/stdout")
	[ "$rc" -eq 2 ] || die "ferry $*: exit $rc, want 2"
	[ -z "$out" ] || die "ferry $*: wrote to stdout: $out"
	[ "$(printf '%s\n' "$err" | wc -l)" -eq 2 ] || die "ferry $*: stderr is not two lines: $err"
	[[ $(printf '%s\n' "$err" | head -1) == "ferry: "*"$want"* ]] || die "ferry $*: $err"
	[[ $(printf '%s\n' "$err" | tail -1) == "Try 'ferry "*"--help'." ]] || die "ferry $*: $err"
}

@test "an unknown command is a usage error, with a suggestion when close" {
	usage_error "unknown command 'frobnicate'" frobnicate
	usage_error "did you mean 'pull'?" pul
	usage_error "did you mean 'images'?" imagse
	run "$FERRY" frobnicate
	[[ $output != *"did you mean"* ]]
}

@test "an unknown option is a usage error" {
	usage_error "unknown option '--bogus'" --bogus
	usage_error "unknown option '-x'" -x images
	usage_error "unknown command 'nosuch'" help nosuch
	usage_error "too many arguments" help pull images
}

@test "no command prints the usage on stderr and exits 2" {
	run --separate-stderr "$FERRY"
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	[[ $stderr == *"Usage: ferry"* ]]
	[[ $stderr == *"Commands:"* ]]
}

@test "global options are accepted before the command" {
	for o in -q --quiet -v --verbose -vv "-v -v" --json; do
		# shellcheck disable=SC2086
		run "$FERRY" $o version
		[ "$status" -eq 0 ] || die "ferry $o version: exit $status"
		[[ $output == "ferry "* ]]
	done
}

@test "hostile arguments are refused cleanly" {
	long=$(head -c 100000 /dev/zero | tr '\0' a)
	run "$FERRY" "$long"
	[ "$status" -eq 2 ]
	[ "${#output}" -lt 100300 ]
	run "$FERRY" help "$long"
	[ "$status" -eq 2 ]
	run "$FERRY" $'pull\n' --help
	[ "$status" -eq 2 ]
	run "$FERRY" "%s%s%s%n"
	[ "$status" -eq 2 ]
	[[ $output == *"'%s%s%s%n'"* ]]
	run "$FERRY" ""
	[ "$status" -eq 2 ]
}

@test "a write error on stdout is an error" {
	[ -w /dev/full ] || skip "no /dev/full on this system"
	run bash -c '"$FERRY" help >/dev/full'
	[ "$status" -eq 1 ]
	[[ $output == "ferry: write error: "* ]]
	# A closed pipe is the reader's choice, not ferry's failure.
	run bash -c 'set -o pipefail; "$FERRY" help | head -1'
	[ "$status" -eq 0 ]
}

# `make install` into a private prefix with a private build directory, so it
# works the same as root and as the unprivileged user and never touches the
# tree's build/. The tests are not built there (-Dtests=disabled).
install_prefix() {
	local prefix=$BATS_FILE_TMPDIR/prefix
	if [ ! -x "$prefix/bin/ferry" ]; then
		make -C "$FERRY_SRC" install PREFIX="$prefix" BUILD="$BATS_FILE_TMPDIR/build" \
			MESON_OPTS="-Dtests=disabled -Dbuildtype=plain" \
			>"$BATS_FILE_TMPDIR/install.log" 2>&1 ||
			{ cat "$BATS_FILE_TMPDIR/install.log"; return 1; }
	fi
	echo "$prefix"
}

setup_file() {
	# One install for the tests below (building takes a while).
	install_prefix >/dev/null || true
}

@test "make install PREFIX= installs a working ferry" {
	prefix=$(install_prefix)
	run "$prefix/bin/ferry" --version
	[ "$status" -eq 0 ]
	[[ $output == "ferry "[0-9]* ]]
	run "$prefix/bin/ferry" help
	[ "$status" -eq 0 ]
}

@test "the installed man page renders with man -l" {
	command -v man >/dev/null || skip "man is not installed (package man-db)"
	prefix=$(install_prefix)
	page=$prefix/share/man/man1/ferry.1
	[ -f "$page" ]
	run env MAN_DISABLE_SECCOMP=1 MANPAGER=cat MANWIDTH=80 man -l "$page"
	[ "$status" -eq 0 ]
	[[ $output == *"NAME"* ]]
	[[ $output == *"ferry - carry containerised"* ]]
	# Every command and the environment variables are documented.
	for c in $COMMANDS; do
		[[ $c == version ]] && continue
		echo "$output" | grep -qE "^ +$c( |$)|ferry $c" || die "man page misses $c"
	done
	for v in FERRY_HOME FERRY_STORE_PATH FERRY_BIND FERRYENV_ "EXIT STATUS" 125 126 127; do
		[[ $output == *"$v"* ]] || die "man page misses $v"
	done
}

@test "the installed bash completion completes commands and options" {
	prefix=$(install_prefix)
	comp=$prefix/share/bash-completion/completions/ferry
	[ -f "$comp" ]
	run bash -c '
		source "$1"
		complete -p ferry || exit 1
		COMP_WORDS=("$2" pu); COMP_CWORD=1; _ferry; echo "cmds: ${COMPREPLY[*]}"
		COMP_WORDS=("$2" --ver); COMP_CWORD=1; _ferry; echo "opts: ${COMPREPLY[*]}"
		COMP_WORDS=("$2" help ins); COMP_CWORD=2; _ferry; echo "help: ${COMPREPLY[*]}"
		COMP_WORDS=("$2" app si); COMP_CWORD=2; _ferry; echo "app: ${COMPREPLY[*]}"
		COMP_WORDS=("$2" batch su); COMP_CWORD=2; _ferry; echo "batch: ${COMPREPLY[*]}"
		COMP_WORDS=("$2" catalog sy); COMP_CWORD=2; _ferry; echo "catalog: ${COMPREPLY[*]}"
		COMP_WORDS=("$2" app launch --str); COMP_CWORD=3; _ferry; echo "strict: ${COMPREPLY[*]}"
		COMP_WORDS=("$2" deploy --max); COMP_CWORD=2; _ferry; echo "deploy: ${COMPREPLY[*]}"
		COMP_WORDS=("$2" export --comp); COMP_CWORD=2; _ferry; echo "export: ${COMPREPLY[*]}"
	' _ "$comp" "$prefix/bin/ferry"
	[ "$status" -eq 0 ]
	[[ ${lines[0]} == "complete -F _ferry ferry" ]]
	[[ $output == *"cmds: pull"* ]]
	[[ $output == *"opts: --version"* ]]
	[[ $output == *"help: inspect"* ]]
	[[ $output == *"app: simulate"* ]]
	[[ $output == *"batch: submit"* ]]
	[[ $output == *"catalog: sync"* ]]
	[[ $output == *"strict: --strict"* ]]
	[[ $output == *"deploy: --max-tags"* ]]
	[[ $output == *"export: --compress"* ]]
}
