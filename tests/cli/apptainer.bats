#!/usr/bin/env bats
# ferry answering as apptainer / singularity: argv[0] dispatch, --version
# as the clients parse it (their own installed code), pull/build through
# the store from the test registry, inspect, cache, Neurodesk's wrapper
# line verbatim, the install layout, and bad input with Apptainer's exit
# status (255). Runs as root and as the unprivileged user.

load ../lib/common
load ../lib/registry
load run
load apptainer
bats_require_minimum_version 1.5.0

setup_file() {
	for img in busybox debian; do
		[ -f "$FERRY_TEST_IMAGES/$img/index.json" ] || "$FERRY_SRC/tests/lib/build-images" "$FERRY_TEST_IMAGES" "$img"
	done
	apptainer_shims
	apptainer_fuse
	registry_start --tls
	export TLS_REGISTRY=$REGISTRY TLS_CA=$REGISTRY_CA TLS_LOG=$REGISTRY_LOG TLS_DIR=$REGISTRY_DIR
	registry_push "oci:$FERRY_TEST_IMAGES/busybox:latest" tools/busybox:1.0
	registry_push "oci:$FERRY_TEST_IMAGES/busybox:latest" once/busybox:latest
	registry_start
	export HTTP_REGISTRY=$REGISTRY HTTP_DIR=$REGISTRY_DIR
	registry_push "oci:$FERRY_TEST_IMAGES/busybox:latest" plain/busybox:latest
}

teardown_file() {
	REGISTRY_DIR=$TLS_DIR registry_stop
	REGISTRY_DIR=$HTTP_DIR registry_stop
}

setup() {
	ferry_test_env
	export PATH="$APPTAINER_SHIMS:$PATH"
	unset FERRY_BIND APPTAINER_NOHTTPS SINGULARITY_NOHTTPS APPTAINER_PULLDIR SINGULARITY_PULLFOLDER
	REGISTRY=$TLS_REGISTRY REGISTRY_CA=$TLS_CA registry_trust
	cd_scratch
}

teardown() {
	cleanup_scratch
}

one_line() {
	[ "${#lines[@]}" -eq 1 ] || die "want one line, got: $output"
}

@test "argv[0]: apptainer and singularity answer as Apptainer, other names stay wrap shims" {
	only_ferry_answers
	run -0 apptainer --version
	[ "$output" = "apptainer version 1.3.0+ferry.$("$FERRY" version | cut -d' ' -f2)" ]
	run -0 singularity --version
	[[ $output == "apptainer version "* ]]
	run -0 singularity version
	[[ $output == 1.3.0+ferry.* ]]
	run -0 "$FERRY" apptainer --version
	[[ $output == "apptainer version "* ]]
	# any other name is still a shim of ferry wrap (doc/wrap.md)
	ln -s "$FERRY" "$BATS_TEST_TMPDIR/sometool"
	run "$BATS_TEST_TMPDIR/sometool" --version
	[[ $output != *"apptainer version"* ]]
}

@test "--version: cwltool's and Snakemake's own parsers accept it" {
	# the clients' own interpreter (Debian's), not another python3 on PATH
	local py=/usr/bin/python3
	[ -x "$py" ] || skip "no /usr/bin/python3"
	"$py" -c 'import cwltool' 2>/dev/null || skip "cwltool not installed (apt-get install cwltool)"
	run -0 "$py" -c '
from cwltool import singularity as s
v, flavor = s.get_version()
assert flavor == "apptainer", flavor
assert s.is_apptainer_1_or_newer() and s.is_version_3_4_or_newer()
print(v, flavor)'
	[[ $output == "[1, 3, 0] apptainer" ]]
	"$py" -c 'import snakemake' 2>/dev/null || skip "snakemake not installed (apt-get install snakemake)"
	run -0 "$py" -W ignore -c '
from snakemake.deployment.singularity import Singularity
s = Singularity(); s.check(); print(s.version)'
	[[ ${lines[-1]} == 1.3.0+ferry.* ]]
}

@test "pull --name FILE docker://: through ferry's store, one download for several pulls; FILE runs" {
	run -0 singularity pull --name a.sif "docker://$TLS_REGISTRY/once/busybox:latest"
	run -0 singularity pull --name b.sif "docker://$TLS_REGISTRY/once/busybox:latest"
	# a real SIF file (header, then the SIF magic), not a link into the store
	[ -f a.sif ] && [ ! -L a.sif ]
	[ "$(head -c 41 a.sif | tail -c 9)" = SIF_MAGIC ]
	cmp a.sif b.sif
	run -0 singularity exec a.sif true
	run -0 singularity exec ./b.sif sh -c 'echo ok'
	[ "$output" = ok ]
	local layer
	layer=$(grep -o '"GET /v2/once/busybox/blobs/sha256:[0-9a-f]*' "$TLS_LOG" | head -1 | sed 's|.*/blobs/||')
	[ -n "$layer" ]
	[ "$(REGISTRY_LOG=$TLS_LOG registry_blob_gets once/busybox "$layer")" -eq 1 ]
	# ferry itself sees the same stored image
	run -0 "$FERRY" images
	[[ $output == *"once/busybox"* ]]
}

@test "pull: an existing FILE needs --force (255 without), --force replaces it" {
	run -0 singularity pull --name x.sif "docker://$TLS_REGISTRY/tools/busybox:1.0"
	run -255 singularity pull --name x.sif "docker://$TLS_REGISTRY/tools/busybox:1.0"
	one_line
	[[ $output == *"already exists"*"--force"* ]]
	run -0 singularity pull --force --name x.sif "docker://$TLS_REGISTRY/tools/busybox:1.0"
	run -0 singularity pull -F --name x.sif "docker://$TLS_REGISTRY/tools/busybox:1.0"
}

@test "pull: default name NAME_TAG.sif, pull FILE URI, --dir and APPTAINER_PULLDIR" {
	run -0 apptainer pull "docker://$TLS_REGISTRY/tools/busybox:1.0"
	[ -e busybox_1.0.sif ]
	run -0 apptainer pull y.sif "docker://$TLS_REGISTRY/tools/busybox:1.0"
	[ -e y.sif ]
	mkdir d1 d2
	run -0 apptainer pull --dir d1 --name z.sif "docker://$TLS_REGISTRY/tools/busybox:1.0"
	[ -e d1/z.sif ]
	APPTAINER_PULLDIR=$PWD/d2 run -0 apptainer pull --name z.sif "docker://$TLS_REGISTRY/tools/busybox:1.0"
	[ -e d2/z.sif ]
}

@test "pull from a plain-HTTP registry: refused with a hint, then --nohttps or APPTAINER_NOHTTPS=1" {
	run -255 singularity pull --name p.sif "docker://$HTTP_REGISTRY/plain/busybox:latest"
	[[ $output == *"--nohttps"* ]]
	[ ! -e p.sif ]
	run -0 singularity pull --nohttps --name p.sif "docker://$HTTP_REGISTRY/plain/busybox:latest"
	rm p.sif
	APPTAINER_NOHTTPS=1 run -0 singularity pull --name p.sif "docker://$HTTP_REGISTRY/plain/busybox:latest"
	run -0 singularity exec p.sif echo ok
	[ "$output" = ok ]
}

@test "exec docker://REF pulls into the store and runs" {
	run -0 singularity exec "docker://$TLS_REGISTRY/tools/busybox:1.0" echo direct
	[ "${lines[-1]}" = direct ]
	APPTAINER_NOHTTPS=1 run -0 singularity exec "docker://$HTTP_REGISTRY/plain/busybox:latest" echo plain
	[ "${lines[-1]}" = plain ]
}

@test "build FILE.sif docker://REF and build FILE.sif SANDBOX_DIR run" {
	run -0 singularity build b.sif "docker://$TLS_REGISTRY/tools/busybox:1.0"
	run -0 singularity exec b.sif echo built
	[ "$output" = built ]
	make_busybox_rootfs "$BATS_TEST_TMPDIR/sandbox"
	run -0 singularity build s.sif "$BATS_TEST_TMPDIR/sandbox"
	[ "$(head -c 41 s.sif | tail -c 9)" = SIF_MAGIC ]
	run -0 singularity exec s.sif cat /etc/image-file
	[ "$output" = image-file ]
	run -255 singularity build s.sif "$BATS_TEST_TMPDIR/sandbox"
	one_line
}

@test "a squashfs file and a SIF made by ferry export run as images" {
	run -0 "$FERRY" pull "oci:$FERRY_TEST_IMAGES/busybox:latest"
	run -0 "$FERRY" export "oci:$FERRY_TEST_IMAGES/busybox:latest" -o bb.sqfs
	run -0 "$FERRY" export "oci:$FERRY_TEST_IMAGES/busybox:latest" -o bb.sif
	run -0 singularity exec bb.sqfs sh -c 'echo sqfs'
	[ "$output" = sqfs ]
	run -0 apptainer exec "$PWD/bb.sif" sh -c 'echo sif'
	[ "$output" = sif ]
	# a truncated SIF: ferry's one line, Apptainer's 255
	head -c 4000 bb.sif >broken.sif
	run -255 singularity exec broken.sif true
	one_line
}

@test "sandbox directories and files are images; bare names are not pulled" {
	make_busybox_rootfs "$BATS_TEST_TMPDIR/sb"
	run -0 singularity exec "$BATS_TEST_TMPDIR/sb" cat /etc/image-file
	cd "$BATS_TEST_TMPDIR"
	run -0 singularity exec sb cat /etc/image-file
	[ "$output" = image-file ]
	run -255 singularity exec busybox true
	one_line
	[[ $output == *"could not open image busybox"* ]]
}

@test "inspect: labels, --json, --environment, --runscript" {
	make_busybox_rootfs "$BATS_TEST_TMPDIR/root"
	make_image_dir "$BATS_TEST_TMPDIR/img" "$BATS_TEST_TMPDIR/root" \
		'{"Env":["PATH=/bin","GREETING=it'"'"'s"],"Entrypoint":["/bin/echo"],"Cmd":["hi"],"Labels":{"org.test.name":"bb","version":"1.0"}}'
	run -0 singularity inspect "$BATS_TEST_TMPDIR/img"
	[[ $output == *"org.test.name: bb"* ]] && [[ $output == *"version: 1.0"* ]]
	run -0 singularity inspect --json "$BATS_TEST_TMPDIR/img"
	[ "$(jq -r '.data.attributes.labels["org.test.name"]' <<<"$output")" = bb ]
	run -0 singularity inspect --environment "$BATS_TEST_TMPDIR/img"
	[[ $output == *"export GREETING='it'\\''s'"* ]]
	run -0 singularity inspect --runscript "$BATS_TEST_TMPDIR/img"
	printf '%s\n' "$output" >"$BATS_TEST_TMPDIR/rs"
	run -0 sh "$BATS_TEST_TMPDIR/rs"
	[ "$output" = hi ]
	run -0 singularity run "$BATS_TEST_TMPDIR/img"
	[ "$output" = hi ]
	run -0 singularity run "$BATS_TEST_TMPDIR/img" other
	[ "$output" = other ]
}

@test "run: an image without ENTRYPOINT or CMD runs its /.singularity.d/runscript, as Apptainer" {
	make_busybox_rootfs "$BATS_TEST_TMPDIR/ap"
	chmod u+w "$BATS_TEST_TMPDIR/ap"
	mkdir -p "$BATS_TEST_TMPDIR/ap/.singularity.d"
	printf '#!/bin/sh\necho "runscript: $*"\n' >"$BATS_TEST_TMPDIR/ap/.singularity.d/runscript"
	chmod 0755 "$BATS_TEST_TMPDIR/ap/.singularity.d/runscript"
	run -0 singularity run "$BATS_TEST_TMPDIR/ap" a b
	[ "$output" = "runscript: a b" ]
	# A SIF built from it keeps that runscript, as apptainer build does.
	run -0 singularity build "$BATS_TEST_TMPDIR/ap.sif" "$BATS_TEST_TMPDIR/ap"
	run -0 singularity run "$BATS_TEST_TMPDIR/ap.sif" c
	[ "$output" = "runscript: c" ]
}

@test "cache list and cache clean: ferry's store" {
	run -0 singularity pull --name c.sif "docker://$TLS_REGISTRY/tools/busybox:1.0"
	run -0 singularity cache list
	[[ ${lines[0]} == "There are 1 container image(s)"* ]]
	run -0 singularity cache list -v
	[[ $output == *tools/busybox* ]]
	run -255 singularity cache clean </dev/null
	one_line
	[[ $output == *"--force"* ]]
	run -0 singularity cache clean --dry-run
	[[ $output == *"would remove"*tools/busybox* ]]
	run -0 singularity cache clean --force
	run -0 singularity cache list
	[[ ${lines[0]} == "There are 0 container image(s)"* ]]
}

@test "Neurodesk's wrapper line, verbatim, runs a tool from the pulled image" {
	mkdir -p containers/bb_1.0_20260101
	singularity pull --name containers/bb_1.0_20260101/bb_1.0_20260101.simg "docker://$TLS_REGISTRY/tools/busybox:1.0"
	# transparent-singularity's generator, with its $bindtmpdir empty
	# (reference/platform/NEURODESK.md, section 2, step 7)
	local _base=$PWD/containers container=bb_1.0_20260101/bb_1.0_20260101.simg executable=wc bindtmpdir=
	{
		echo "#!/usr/bin/env bash"
		echo "export PWD=\`pwd -P\`"
		echo "singularity --silent exec --cleanenv --env DISPLAY=\$DISPLAY $bindtmpdir \$neurodesk_singularity_opts --pwd \"\$PWD\" $_base/$container $executable \"\$@\""
	} >containers/wc
	chmod a+x containers/wc
	mkdir work
	printf 'a b\nc\n' >work/in.txt
	cd work
	export DISPLAY=:7 SECRET=host-only
	run -0 ../containers/wc -l in.txt
	[ "$output" = "2 in.txt" ]
	printf '#!/usr/bin/env bash\nexport PWD=`pwd -P`\nsingularity --silent exec --cleanenv --env DISPLAY=$DISPLAY  $neurodesk_singularity_opts --pwd "$PWD" %s env\n' \
		"$_base/$container" >../containers/env
	chmod a+x ../containers/env
	run -0 ../containers/env
	[[ $output == *"DISPLAY=:7"* ]] && [[ $output != *SECRET* ]]
	neurodesk_singularity_opts="--writable-tmpfs" run -0 ../containers/env
}

@test "make install: apptainer and singularity in \$PREFIX/libexec/ferry/compat, pointing to ferry" {
	[ -f "$FERRY_BUILD/meson-info/intro-installed.json" ] || skip "no meson build directory at $FERRY_BUILD"
	# meson install writes its log into the build directory
	[ -w "$FERRY_BUILD/meson-logs" ] || skip "the build directory is not writable by $(id -un)"
	local dest=$BATS_TEST_TMPDIR/dest prefix
	prefix=$(jq -r '.[] | select(.name=="prefix") | .value' "$FERRY_BUILD/meson-info/intro-buildoptions.json")
	run -0 meson install -C "$FERRY_BUILD" --no-rebuild --destdir "$dest" --quiet
	local n
	for n in apptainer singularity; do
		[ -L "$dest$prefix/libexec/ferry/compat/$n" ] || die "no $n in $dest$prefix/libexec/ferry/compat"
		[ "$(readlink "$dest$prefix/libexec/ferry/compat/$n")" = "$prefix/bin/ferry" ]
	done
	ln -sfn "$dest$prefix/bin/ferry" "$BATS_TEST_TMPDIR/apptainer"
	run -0 "$BATS_TEST_TMPDIR/apptainer" --version
	[[ $output == "apptainer version "* ]]
}

@test "bad input: unknown options and commands, one line, exit 255" {
	run -255 singularity exec --app foo /tmp true
	one_line
	[ "$output" = "ferry: option --app is not supported by ferry's apptainer compatibility (doc/apptainer.md)" ]
	run -255 singularity exec -X /tmp true
	one_line
	[[ $output == *"option -X is not supported"* ]]
	run -255 singularity --frobnicate exec /tmp true
	one_line
	run -255 singularity instance start /tmp x
	one_line
	[[ $output == *"instance"*"not supported"* ]]
	run -255 singularity exec --bind
	one_line
	[[ $output == *"--bind"* ]]
	run -255 singularity exec
	one_line
}

@test "bad input: a definition file, one line, exit 255" {
	printf 'Bootstrap: docker\nFrom: busybox\n%%post\n  echo hi\n' >Singularity.def
	run -255 singularity build out.sif Singularity.def
	one_line
	[[ $output == *"definition files are not supported"* ]]
	[ ! -e out.sif ]
}

@test "bad input: URIs ferry cannot pull, one line, exit 255" {
	local port
	port=$(free_port)
	run -255 singularity pull --name n.sif "docker://127.0.0.1:$port/nothing/here:latest"
	one_line
	[ ! -e n.sif ]
	run -255 singularity pull --name n.sif "docker://$TLS_REGISTRY/no/such:image"
	one_line
	local u
	for u in library://alpine:latest shub://vsoch/hello oras://$TLS_REGISTRY/x:1 https://example.invalid/x.sif; do
		run -255 singularity pull --name n.sif "$u"
		one_line
		[[ $output == *"not supported by ferry's apptainer compatibility"* ]]
		run -255 singularity exec "$u" true
		one_line
	done
	run -255 singularity exec no-such.sif true
	one_line
}

@test "hostile input: odd names and values are one line and 255, nothing written" {
	local long
	long=$(printf 'x%.0s' $(seq 300))
	run -255 singularity exec "--$long" /tmp true
	one_line
	[ ${#output} -lt 300 ] || die "the message repeats the whole option: ${#output} bytes"
	run -255 singularity pull --name no/such/dir/x.sif "docker://$TLS_REGISTRY/tools/busybox:1.0"
	one_line
	mkdir adir
	run -255 singularity pull --force --name adir "docker://$TLS_REGISTRY/tools/busybox:1.0"
	one_line
	[ -d adir ]
	touch afile
	make_busybox_rootfs "$BATS_TEST_TMPDIR/sb"
	run -255 singularity exec --contain -W afile "$BATS_TEST_TMPDIR/sb" true
	one_line
	[[ $output == *"--workdir afile"* ]]
	run -255 singularity exec --mount "type=bind,source=/a:b,destination=/c" "$BATS_TEST_TMPDIR/sb" true
	one_line
	run -255 singularity exec --env-file /nonexistent "$BATS_TEST_TMPDIR/sb" true
	one_line
	run -255 singularity exec "docker://" true
	one_line
	run -255 singularity cache frobnicate
	one_line
	run -255 singularity inspect
	one_line
}

@test "bosh exec launch's command shapes (reference/boutiques.md 4.4), with VIP's --overlay DIR" {
	# bosh's image name and pull: NAME.simg.tmp, then renamed
	local name=tools-busybox-1.0.simg
	run -0 singularity pull --name "$name.tmp" "docker://$TLS_REGISTRY/tools/busybox:1.0"
	mv "$name.tmp" "$name"
	mkdir -p in out overlay
	echo data >in/f.txt
	printf '#!/bin/sh -l\ncat %s/in/f.txt > %s/out/r.txt; echo "$ENVAR" >> %s/out/r.txt; touch /opt/scratch-file\n' \
		"$PWD" "$PWD" "$PWD" >"temp-1-2.localExec.boshjob.sh"
	chmod 755 temp-1-2.localExec.boshjob.sh
	run -0 env SINGULARITYENV_ENVAR='theValue' singularity exec --cleanenv -B "$PWD:$PWD" -B "$PWD/in:$PWD/in" \
		-W "$PWD" --overlay "$PWD/overlay" "$(realpath "$name")" "$PWD/temp-1-2.localExec.boshjob.sh"
	[ "$(cat out/r.txt)" = "$(printf 'data\ntheValue')" ]
	[ -n "$(find overlay -name scratch-file)" ]
}
