#!/usr/bin/env bats
# Each Apptainer option ferry's apptainer compatibility takes, against the
# same behaviour through `ferry exec` (doc/apptainer.md's table): both
# commands run on the same image and must print the same, and the
# option's effect is checked too, so that an option both ignore fails.
# Runs as root and as the unprivileged user (tests/run does both).

load ../lib/common
load run
load apptainer
bats_require_minimum_version 1.5.0

setup_file() {
	[ -f "$FERRY_TEST_IMAGES/busybox/index.json" ] || "$FERRY_SRC/tests/lib/build-images" "$FERRY_TEST_IMAGES" busybox
	export FERRY_HOME=$BATS_FILE_TMPDIR/home XDG_CONFIG_HOME=$BATS_FILE_TMPDIR/config
	apptainer_shims
	apptainer_fuse
	export IMG=$BATS_FILE_TMPDIR/bb.sif
	singularity pull --name "$IMG" "oci:$FERRY_TEST_IMAGES/busybox:latest" >&2
}

setup() {
	export FERRY_HOME=$BATS_FILE_TMPDIR/home XDG_CONFIG_HOME=$BATS_FILE_TMPDIR/config
	export PATH="$APPTAINER_SHIMS:$PATH"
	unset FERRY_BIND APPTAINER_BIND APPTAINER_BINDPATH SINGULARITY_BIND SINGULARITY_BINDPATH
	cd_scratch
	D=$BATS_TEST_TMPDIR/d
	mkdir -p "$D"
	echo host-data >"$D/file"
	A=()
	F=()
}

teardown() {
	cleanup_scratch
}

# same CMD...: `singularity exec "${A[@]}" IMG CMD` and `ferry exec
# "${F[@]}" IMG CMD` exit alike and print the same; $output is theirs.
same() {
	run singularity exec "${A[@]}" "$IMG" "$@"
	local a_status=$status a_out=$output
	run "$FERRY" exec "${F[@]}" "$IMG" "$@"
	[ "$status" = "$a_status" ] || die "exit: singularity $a_status, ferry $status ($a_out | $output)"
	[ "$output" = "$a_out" ] || die "output differs: singularity [$a_out] ferry [$output]"
}

@test "apptainer options: only ferry answers as apptainer and singularity here" {
	only_ferry_answers
	run -0 singularity exec "$IMG" echo ok
	[ "$output" = ok ]
}

@test "-B/--bind SRC:DST:ro and comma lists, as ferry -B" {
	mkdir -p "$D/two"
	echo second >"$D/two/f"
	A=(-B "$D:/data:ro,$D/two:/two")
	F=(-B "$D:/data:ro" -B "$D/two:/two")
	same sh -c 'cat /data/file /two/f; touch /data/x 2>/dev/null && echo wrote || echo read-only; touch /two/y && echo wrote'
	[ "${lines[0]}" = host-data ] && [ "${lines[1]}" = second ]
	[ "${lines[2]}" = read-only ] && [ "${lines[3]}" = wrote ]
	[ ! -e "$D/x" ]
	A=(--bind="$D:/data")
	F=(-B "$D:/data")
	same cat /data/file
	[ "$output" = host-data ]
}

@test "APPTAINER_BIND, SINGULARITY_BINDPATH and friends, as ferry -B" {
	mkdir -p "$D/b"
	echo b >"$D/b/f"
	F=(-B "$D:/data:ro" -B "$D/b:/b")
	APPTAINER_BIND="$D:/data:ro" SINGULARITY_BINDPATH="$D/b:/b" same sh -c 'cat /data/file /b/f'
	[ "$output" = "$(printf 'host-data\nb')" ]
	SINGULARITY_BIND="$D:/data" APPTAINER_BINDPATH="$D/b:/b" same sh -c 'cat /data/file /b/f'
	[ "${lines[1]}" = b ]
}

@test "--mount type=bind,source=,destination=,readonly as -B SRC:DST:ro" {
	A=(--mount "type=bind,source=$D,destination=/m,readonly")
	F=(-B "$D:/m:ro")
	same sh -c 'cat /m/file; touch /m/x 2>/dev/null && echo wrote || echo read-only'
	[ "${lines[1]}" = read-only ]
	run -255 singularity exec --mount "type=volume,source=x,destination=/m" "$IMG" true
	[ "${#lines[@]}" -eq 1 ] && [[ $output == *"type=volume"*"not supported"* ]]
}

@test "--cleanenv and -e (Apptainer's -e is --cleanenv), as ferry --cleanenv" {
	export FOO=from-host
	A=(--cleanenv)
	F=(--cleanenv)
	same sh -c 'echo ${FOO-unset}'
	[ "$output" = unset ]
	A=(-e)
	same sh -c 'echo ${FOO-unset}'
	[ "$output" = unset ]
	A=() F=()
	same sh -c 'echo ${FOO-unset}'
	[ "$output" = from-host ]
}

@test "--env A=1,B=2 and --env-file, as ferry -e and --env-file" {
	printf 'FILEVAR=from-file\n' >"$D/envfile"
	A=(--env "A=1,B=x,y" --env C=3 --env-file "$D/envfile")
	F=(-e A=1 -e B=x,y -e C=3 --env-file "$D/envfile")
	same sh -c 'echo "$A|$B|$C|$FILEVAR"'
	[ "$output" = "1|x,y|3|from-file" ]
}

@test "SINGULARITYENV_ and APPTAINERENV_ variables, APPTAINERENV_ winning, --env over both" {
	F=(-e X=sing -e Y=sing -e Y=appt)
	SINGULARITYENV_X=sing SINGULARITYENV_Y=sing APPTAINERENV_Y=appt same sh -c 'echo "$X $Y"'
	[ "$output" = "sing appt" ]
	A=(--cleanenv --env Y=cli)
	F=(--cleanenv -e Y=appt -e Y=cli)
	APPTAINERENV_Y=appt same sh -c 'echo "$Y"'
	[ "$output" = cli ]
}

@test "--pwd, as ferry --pwd" {
	A=(--pwd /etc)
	F=(--pwd /etc)
	same pwd
	[ "$output" = /etc ]
}

@test "--home SRC:DST and --no-home, as ferry's" {
	A=(--home "$D:/myhome")
	F=(--home "$D:/myhome")
	same sh -c 'echo $HOME; cat $HOME/file'
	[ "${lines[0]}" = /myhome ] && [ "${lines[1]}" = host-data ]
	A=(-H "$D:/myhome")
	same sh -c 'echo $HOME; cat $HOME/file'
	A=(--no-home)
	F=(--no-home)
	same sh -c 'ls -A "$HOME" 2>/dev/null | wc -l'
}

@test "--contain and -c: private /tmp, as ferry --contain" {
	echo marker >"/tmp/ferry-appt-$$"
	A=(--contain)
	F=(--contain)
	same sh -c "cat /tmp/ferry-appt-$$ 2>/dev/null || echo private"
	[ "$output" = private ]
	A=(-c)
	same sh -c "cat /tmp/ferry-appt-$$ 2>/dev/null || echo private"
	A=() F=()
	same sh -c "cat /tmp/ferry-appt-$$ 2>/dev/null || echo private"
	[ "$output" = marker ]
	rm -f "/tmp/ferry-appt-$$"
}

@test "--containall and -C: --contain and --cleanenv" {
	export FOO=from-host
	echo marker >"/tmp/ferry-appt-$$"
	A=(--containall)
	F=(--contain --cleanenv)
	same sh -c "echo \${FOO-unset}; cat /tmp/ferry-appt-$$ 2>/dev/null || echo private"
	[ "$output" = "$(printf 'unset\nprivate')" ]
	A=(-C)
	same sh -c "echo \${FOO-unset}; cat /tmp/ferry-appt-$$ 2>/dev/null || echo private"
	rm -f "/tmp/ferry-appt-$$"
}

@test "-W/--workdir with --contain: /tmp and /var/tmp from DIR/tmp and DIR/var_tmp; without: no effect" {
	mkdir -p "$D/w"
	A=(--contain -W "$D/w")
	F=(--contain -B "$D/w/tmp:/tmp" -B "$D/w/var_tmp:/var/tmp")
	mkdir -p "$D/w/tmp" "$D/w/var_tmp"
	same sh -c 'echo t >/tmp/in-tmp; echo v >/var/tmp/in-vartmp; ls /tmp /var/tmp'
	[ -f "$D/w/tmp/in-tmp" ] && [ -f "$D/w/var_tmp/in-vartmp" ]
	# bosh's "-W <cwd>" without --contain: the host's /tmp, as Apptainer
	echo marker >"/tmp/ferry-appt-$$"
	A=(-W "$D/w2")
	F=()
	same sh -c "cat /tmp/ferry-appt-$$"
	[ "$output" = marker ]
	rm -f "/tmp/ferry-appt-$$"
}

@test "--writable-tmpfs, as ferry --writable-tmpfs" {
	A=(--writable-tmpfs)
	F=(--writable-tmpfs)
	same sh -c 'echo x >/new-file && cat /new-file'
	[ "$output" = x ]
	A=() F=()
	same sh -c '{ echo x >/new-file; } 2>/dev/null || echo read-only'
	[ "$output" = read-only ]
}

@test "--fakeroot and -f, as ferry --fakeroot" {
	A=(--fakeroot)
	F=(--fakeroot)
	same id -u
	[ "$output" = 0 ]
	A=(-f)
	same id -u
}

@test "--nv, as ferry --nv (the same outcome with or without a GPU)" {
	run singularity exec --nv "$IMG" true
	local a=$status a_out=$output
	run "$FERRY" exec --nv "$IMG" true
	if [ "$status" -eq 0 ]; then
		[ "$a" -eq 0 ] || die "ferry --nv works here, singularity --nv failed: $a_out"
	else
		# ferry's failure before the command, reported as Apptainer does (255)
		[ "$a" -eq 255 ] || die "singularity --nv: exit $a"
		[ "$a_out" = "$output" ] || die "messages differ: [$a_out] [$output]"
	fi
}

@test "--overlay DIR as ferry --scratch DIR: changes land in DIR" {
	mkdir -p "$D/ov1" "$D/ov2"
	A=(--overlay "$D/ov1")
	F=(--scratch "$D/ov2")
	same sh -c 'echo kept >/etc/new-file && cat /etc/new-file'
	[ "$output" = kept ]
	[ -n "$(find "$D/ov1" -name new-file)" ] && [ -n "$(find "$D/ov2" -name new-file)" ]
	# an overlay image file has no ferry equivalent
	touch "$D/overlay.img"
	run -255 singularity exec --overlay "$D/overlay.img" "$IMG" true
	[ "${#lines[@]}" -eq 1 ] && [[ $output == *"--overlay"*"not supported"* ]]
}

@test "--net --network none, as ferry --network none: loopback only" {
	A=(--net --network none)
	F=(--network none)
	same cat /proc/net/dev
	[[ $output == *"lo:"* ]]
	[ "$(grep -c ':' <<<"$output")" -eq 1 ] || die "interfaces besides lo: $output"
	run -255 singularity exec --net --network bridge "$IMG" true
	[ "${#lines[@]}" -eq 1 ] && [[ $output == *"--network none"* ]]
	run -2 "$FERRY" exec --network bridge "$IMG" true
	[[ $output == *"want none or host"* ]]
}

@test "accepted without effect: --userns --ipc --pid --silent --quiet --debug --no-init --no-mount tmp" {
	export FOO=host
	A=(--userns -i -p --no-init --no-mount tmp,cwd)
	F=()
	same sh -c 'echo $FOO; id -u; pwd'
	[ "${lines[0]}" = host ]
	run -0 singularity --silent exec --quiet "$IMG" echo ok
	[ "$output" = ok ]
	run -0 singularity -q exec -u "$IMG" echo ok
	[ "$output" = ok ]
	A=(--no-mount home)
	F=(--no-home)
	same sh -c 'ls -A "$HOME" 2>/dev/null | wc -l'
}

@test "--compat: --containall plus --writable-tmpfs, as Apptainer" {
	export FOO=host
	A=(--compat)
	F=(--contain --cleanenv --writable-tmpfs)
	same sh -c 'echo ${FOO-unset}; echo x >/new && echo writable'
	[ "$output" = "$(printf 'unset\nwritable')" ]
}

@test "bundled short options (-ec) and --flag=false, as pflag parses them" {
	export FOO=host
	echo marker >"/tmp/ferry-appt-$$"
	A=(-ec)
	F=(--cleanenv --contain)
	same sh -c "echo \${FOO-unset}; cat /tmp/ferry-appt-$$ 2>/dev/null || echo private"
	[ "$output" = "$(printf 'unset\nprivate')" ]
	A=(--cleanenv=false)
	F=()
	same sh -c 'echo ${FOO-unset}'
	[ "$output" = host ]
	rm -f "/tmp/ferry-appt-$$"
}

@test "run and shell: as ferry run and ferry shell" {
	run -0 singularity run "$IMG" echo from-run
	[ "$output" = from-run ]
	run -0 "$FERRY" run "$IMG" echo from-run
	[ "$output" = from-run ]
	run -0 singularity shell "$IMG" <<<'echo from-shell'
	[ "$output" = from-shell ]
	run -0 "$FERRY" shell "$IMG" <<<'echo from-shell'
	[ "$output" = from-shell ]
	# shell's -s/--shell PATH has no ferry equivalent
	run -255 singularity shell -s /bin/sh "$IMG" </dev/null
	[ "${#lines[@]}" -eq 1 ] && [[ $output == *"-s/--shell is not supported"* ]]
	run -255 singularity shell --shell /bin/sh "$IMG" </dev/null
	[[ $output == *"--shell is not supported"* ]]
}

@test "the command's exit status and signals pass through; ferry's own failures are 255" {
	run -7 singularity exec "$IMG" sh -c 'exit 7'
	run -137 singularity exec "$IMG" sh -c 'kill -9 $$'
	run -255 singularity exec "$IMG" no-such-command
	[ "${#lines[@]}" -eq 1 ] && [[ $output == *no-such-command* ]]
	run -127 "$FERRY" exec "$IMG" no-such-command
}
