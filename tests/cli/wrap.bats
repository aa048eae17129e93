#!/usr/bin/env bats
# ferry wrap / catalog: command discovery (each rule, and the refusal),
# names, shims (arguments, stdin, exit codes, SIGTERM, cwd, clean
# environment, FERRY_WRAP_OPTS), relocation, real Lmod, catalog sync with a
# real registry. Images are built here (tests/cli/wrap.bash). Runs as root
# and as the unprivileged user.

load ../lib/common
load ../lib/registry
load wrap

setup_file() {
	[ -f "$FERRY_TEST_IMAGES/busybox/index.json" ] || "$FERRY_SRC/tests/lib/build-images" "$FERRY_TEST_IMAGES" busybox
	wrap_make_fixtures "$BATS_FILE_TMPDIR/img"
	registry_start
	registry_push "oci:$BATS_FILE_TMPDIR/img/fsl:latest" fsl_6.0.3:20200820
	registry_push "oci:$BATS_FILE_TMPDIR/img/freesurfer:latest" freesurfer_7.4.1:20230101
	registry_push "oci:$BATS_FILE_TMPDIR/img/plain:latest" plain_1.0:20240101
	registry_push "oci:$BATS_FILE_TMPDIR/img/fsl:latest" vnmd/fsl_6.0.3:20200820
}

teardown_file() {
	registry_stop
}

setup() {
	ferry_test_env
	IMG=$BATS_FILE_TMPDIR/img
	FSL=oci:$IMG/fsl:latest
	FS=oci:$IMG/freesurfer:latest
	PLAIN=oci:$IMG/plain:latest
	D=$BATS_TEST_TMPDIR/apps
	mkdir -p "$BATS_TEST_TMPDIR/work"
	cd "$BATS_TEST_TMPDIR/work"
	mkdir -p "$XDG_CONFIG_HOME/ferry"
	echo '{"registries": {"'"$REGISTRY"'": {"insecure": true}}}' >"$XDG_CONFIG_HOME/ferry/config.json"
}

# what a user's batch script does: Lmod's init (a non-interactive bash reads
# no profile), then the lines given
lmod_script() { # SCRIPT-BODY
	[ -f /usr/share/lmod/lmod/init/bash ] || skip "Lmod is not installed (apt-get install lmod)"
	printf '#!/bin/bash\nset -e\nsource /usr/share/lmod/lmod/init/bash\n%s\n' "$1" >"$BATS_TEST_TMPDIR/job.sh"
	env -i HOME="$HOME" USER="${USER:-$(id -un)}" PATH=/usr/bin:/bin FERRY_HOME="$FERRY_HOME" \
		XDG_CONFIG_HOME="$XDG_CONFIG_HOME" bash "$BATS_TEST_TMPDIR/job.sh"
}

manifest_requests() { # REPO
	grep -c "\"[A-Z]* /v2/$1/manifests/" "$REGISTRY_LOG" || true
}

# --- discovery ---------------------------------------------------------------

@test "wrap: rule 1: DEPLOY_PATH executables (files and links) and DEPLOY_BINS names" {
	run "$FERRY" wrap "$FSL" --prefix "$D"
	[ "$status" -eq 0 ]
	[[ "$output" == *"wrapped fsl/6.0.3"*"from DEPLOY_PATH/DEPLOY_BINS"* ]]
	run ls "$D/fsl/6.0.3/bin"
	[ "$output" = "$(printf '%s\n' bet fslenv fslexit fslmaths fslmaths-link fslpwd fsltrap fslversion)" ]
	# a shim is a relative symlink to DIR's own ferry
	[ "$(readlink "$D/fsl/6.0.3/bin/bet")" = ../../../.ferry/ferry ]
	[ -x "$D/.ferry/ferry" ]
	[ "$(jq -r '.commands.bet' "$D/fsl/6.0.3/wrap.json")" = /opt/fsl/bin/bet ]
	[ "$(jq -r '.commands.fslversion' "$D/fsl/6.0.3/wrap.json")" = fslversion ]
	"$D/fsl/6.0.3/bin/fslversion" | grep -qx 'fsl 6.0.3'
	echo hi | "$D/fsl/6.0.3/bin/fslmaths-link" | grep -qx HI
}

@test "wrap: rule 1: a DEPLOY_PATH entry named like a host command (ls) is left out, and said" {
	run "$FERRY" wrap "$FSL" --prefix "$D"
	[ "$status" -eq 0 ]
	[ ! -e "$D/fsl/6.0.3/bin/ls" ]
	[[ "$output" == *"left out 1 commands the host's /bin or /usr/bin also has"* ]]
}

@test "wrap: rule 1 wins over --bins/--path, with a warning that they were not used" {
	run "$FERRY" wrap "$FSL" --prefix "$D" --bins sh
	[ "$status" -eq 0 ]
	[[ "$output" == *"--bins and --path were not used"* ]]
	[ ! -e "$D/fsl/6.0.3/bin/sh" ]
}

@test "wrap: rule 2: --path and --bins for an image that declares nothing" {
	run "$FERRY" wrap "$PLAIN" --prefix "$D" --name plain/1.0 --path /opt/plain/bin
	[ "$status" -eq 0 ]
	[[ "$output" == *"from --bins/--path: othertool plaintool"* ]]
	run "$D/plain/1.0/bin/plaintool" x
	[ "$output" = "plain x" ]
	run "$FERRY" wrap "$PLAIN" --prefix "$D" --name plain/2.0 --bins plaintool,/bin/busybox
	[ "$status" -eq 0 ]
	run ls "$D/plain/2.0/bin"
	[ "$output" = "$(printf '%s\n' busybox plaintool)" ]
	run "$D/plain/2.0/bin/busybox" echo via-path
	[ "$output" = via-path ]
}

@test "wrap: rule 3: /boutique/*.json command lines; name and version from the labels" {
	run "$FERRY" wrap "$FS" --prefix "$D"
	[ "$status" -eq 0 ]
	[[ "$output" == *"wrapped freesurfer/7.4.1"*"from /boutique/*.json: mri_convert recon-all"* ]]
	run "$D/freesurfer/7.4.1/bin/recon-all" bert
	[ "$output" = "recon-all bert" ]
	# no README.md: the descriptor's description is the module's help
	grep -q "recon-all: FreeSurfer's cortical reconstruction" "$D/modules/freesurfer/7.4.1.lua"
	grep -q "mri_convert: convert" "$D/modules/freesurfer/7.4.1.lua"
}

@test "wrap: rule 4: no commands found: one line listing PATH directories with counts; nothing written" {
	run "$FERRY" wrap "$PLAIN" --prefix "$D" --name plain/1.0
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == *"no commands found"*"/opt/plain/bin (2)"*"/bin ("[0-9]*")"*"--path"* ]]
	[[ "$output" == *"/usr/local/bin (missing)"* ]]
	[ ! -e "$D/plain" ] && [ ! -e "$D/modules" ] && [ ! -e "$D/catalog.json" ]
}

# --- names -------------------------------------------------------------------

@test "wrap: names: from the reference when there are no labels, never split on '_'" {
	run "$FERRY" wrap --insecure "$REGISTRY/plain_1.0:20240101" --prefix "$D" --path /opt/plain/bin
	[ "$status" -eq 0 ]
	[ -x "$D/plain_1.0/20240101/bin/plaintool" ]
	[ -f "$D/modules/plain_1.0/20240101.lua" ]
}

@test "wrap: names: --name wins over labels" {
	run "$FERRY" wrap "$FSL" --prefix "$D" --name myfsl/6.0.3-b
	[ "$status" -eq 0 ]
	[ -f "$D/modules/myfsl/6.0.3-b.lua" ] && [ ! -e "$D/fsl" ]
}

@test "wrap: bad input: a name that is not a valid file name: one line, nothing written" {
	for bad in '../x/1' 'a/../../b' 'a b/1' 'x/.hidden' 'modules/1' 'only-tool'; do
		run "$FERRY" wrap "$FSL" --prefix "$D" --name "$bad"
		[ "$status" -ne 0 ] || die "accepted --name $bad"
		[ "${#lines[@]}" -le 2 ]
		[[ "$output" == *"--name"* || "$output" == *"name"* ]]
	done
	[ ! -e "$D/modules" ] && [ ! -e "$D/catalog.json" ]
	[ -z "$(find "$D" -mindepth 1 -maxdepth 1 ! -name .ferry)" ]
}

@test "wrap: bad input: DIR not writable: one line" {
	touch "$BATS_TEST_TMPDIR/afile"
	run "$FERRY" wrap "$FSL" --prefix "$BATS_TEST_TMPDIR/afile/apps"
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == *"prefix $BATS_TEST_TMPDIR/afile/apps: cannot write there"* ]]
	if ! is_root; then
		mkdir -p "$BATS_TEST_TMPDIR/ro"
		chmod 0555 "$BATS_TEST_TMPDIR/ro"
		run "$FERRY" wrap "$FSL" --prefix "$BATS_TEST_TMPDIR/ro"
		[ "$status" -eq 1 ]
		[ "${#lines[@]}" -eq 1 ]
		[[ "$output" == *"cannot write there"* ]]
		[ -z "$(ls -A "$BATS_TEST_TMPDIR/ro")" ]
	fi
}

# --- shims -------------------------------------------------------------------

@test "shim: arguments with spaces, quotes, globs and empty ones arrive unchanged" {
	"$FERRY" wrap "$FSL" --prefix "$D" >/dev/null
	run "$D/fsl/6.0.3/bin/bet" "a b" 'c"d' "e'f" '*' '' '$HOME' '-x'
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf '[%s]\n' "a b" 'c"d' "e'f" '*' '' '$HOME' '-x')" ]
}

@test "shim: stdin, stdout and exit codes are the tool's" {
	"$FERRY" wrap "$FSL" --prefix "$D" >/dev/null
	run bash -c "printf 'abc\n' | '$D/fsl/6.0.3/bin/fslmaths' | cat"
	[ "$output" = ABC ]
	for code in 0 1 3 42 125 126 127; do
		rc=0
		"$D/fsl/6.0.3/bin/fslexit" "$code" || rc=$?
		[ "$rc" -eq "$code" ]
	done
}

@test "shim: SIGTERM reaches the tool" {
	"$FERRY" wrap "$FSL" --prefix "$D" >/dev/null
	"$D/fsl/6.0.3/bin/fsltrap" ready >out 2>&1 &
	pid=$!
	for _ in $(seq 200); do [ -e ready ] && break; sleep 0.05; done
	[ -e ready ]
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 42 ]
	grep -qx 'got TERM' out
}

@test "shim: the current directory is bound and is the working directory" {
	"$FERRY" wrap "$FSL" --prefix "$D" >/dev/null
	mkdir -p "$BATS_TEST_TMPDIR/data dir/sub"
	touch "$BATS_TEST_TMPDIR/data dir/sub/input.nii"
	cd "$BATS_TEST_TMPDIR/data dir/sub"
	run "$D/fsl/6.0.3/bin/fslpwd"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "$(pwd -P)" ]
	[ "${lines[1]}" = input.nii ]
}

@test "shim: the host environment is cleaned, keeping DISPLAY TERM LANG HOME USER" {
	"$FERRY" wrap "$FSL" --prefix "$D" >/dev/null
	run env SECRET_TOKEN=x DISPLAY=:7 TERM=xterm LANG=C.UTF-8 USER=someone "$D/fsl/6.0.3/bin/fslenv"
	[ "$status" -eq 0 ]
	[[ "$output" != *SECRET_TOKEN* ]]
	[[ "$output" == *"DISPLAY=:7"* ]] && [[ "$output" == *"TERM=xterm"* ]] && [[ "$output" == *"LANG=C.UTF-8"* ]]
	[[ "$output" == *"HOME="* ]] && [[ "$output" == *"USER="* ]]
	# the image's own environment is there
	[[ "$output" == *"DEPLOY_PATH=/opt/fsl/bin"* ]]
}

@test "shim: FERRY_WRAP_OPTS is read at each call" {
	"$FERRY" wrap "$FSL" --prefix "$D" >/dev/null
	mkdir -p "$BATS_TEST_TMPDIR/data"
	echo payload >"$BATS_TEST_TMPDIR/data/file"
	run env FERRY_WRAP_OPTS="-e WRAPPED=yes -B $BATS_TEST_TMPDIR/data:/data:ro" "$D/fsl/6.0.3/bin/fslenv"
	[[ "$output" == *"WRAPPED=yes"* ]]
	run env FERRY_WRAP_OPTS="-B $BATS_TEST_TMPDIR/data:/data:ro" "$D/fsl/6.0.3/bin/fslmaths" </dev/null
	[ "$status" -eq 0 ]
	run "$D/fsl/6.0.3/bin/fslenv"
	[[ "$output" != *"WRAPPED=yes"* ]]
	# quoted values keep their spaces
	run env FERRY_WRAP_OPTS="-e 'MSG=two words'" "$D/fsl/6.0.3/bin/fslenv"
	[[ "$output" == *"MSG=two words"* ]]
	# a stray word is refused in one line, not taken for the image
	run env FERRY_WRAP_OPTS="--gpuu stray" "$D/fsl/6.0.3/bin/bet"
	[ "$status" -eq 125 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == *"FERRY_WRAP_OPTS: 'stray' is not an option"* ]]
}

@test "shim: relocation: DIR moved (and reached through a link) still works" {
	"$FERRY" wrap "$FSL" --prefix "$D" >/dev/null
	! grep -rq "$D" "$D" --exclude-dir=.ferry --exclude=catalog.json
	mv "$D" "$BATS_TEST_TMPDIR/moved"
	run "$BATS_TEST_TMPDIR/moved/fsl/6.0.3/bin/bet" moved
	[ "$status" -eq 0 ] && [ "$output" = "[moved]" ]
	# called by name through PATH, and through a symlink elsewhere
	PATH="$BATS_TEST_TMPDIR/moved/fsl/6.0.3/bin:$PATH" run bet by-name
	[ "$output" = "[by-name]" ]
	mkdir -p "$BATS_TEST_TMPDIR/mybin"
	ln -s "$BATS_TEST_TMPDIR/moved/fsl/6.0.3/bin/bet" "$BATS_TEST_TMPDIR/mybin/brain-extract"
	run "$BATS_TEST_TMPDIR/mybin/brain-extract" linked
	[ "$output" = "[linked]" ]
}

@test "shim: a shim whose sidecar is gone says so in one line" {
	"$FERRY" wrap "$FSL" --prefix "$D" >/dev/null
	rm "$D/fsl/6.0.3/wrap.json"
	run "$D/fsl/6.0.3/bin/bet"
	[ "$status" -eq 125 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == *"without its wrap.json"* ]]
}

@test "shim: an image no longer in the caller's store is pulled again by its pinned digest" {
	run "$FERRY" wrap --insecure "$REGISTRY/fsl_6.0.3:20200820" --prefix "$D"
	[ "$status" -eq 0 ]
	rm -rf "$FERRY_HOME"
	run "$D/fsl/6.0.3/bin/fslversion"
	[ "$status" -eq 0 ]
	[ "$output" = "fsl 6.0.3" ]
	grep -q "manifests/sha256:" "$REGISTRY_LOG"
}

# --- modules (real Lmod) -----------------------------------------------------

@test "module: help, whatis, PATH and DEPLOY_ENV_* (BASEPATH = the image's root)" {
	"$FERRY" wrap "$FSL" --prefix "$D" >/dev/null
	m=$D/modules/fsl/6.0.3.lua
	grep -q 'The FMRIB Software Library' "$m"
	grep -q 'whatis("Digest: sha256:' "$m"
	run lmod_script "module use '$D/modules'; module load fsl/6.0.3; echo \"FSLDIR=\$FSLDIR\"; ls \"\$FSLDIR/bin/bet\"; echo \"T=\$FSLOUTPUTTYPE\"; printf 'W=%s\\n' \"\$WEIRD\"; module whatis fsl/6.0.3 2>&1; module help fsl/6.0.3 2>&1"
	[ "$status" -eq 0 ]
	[[ "$output" == *"FSLDIR=$FERRY_HOME/images/"*"/rootfs/opt/fsl"* ]]
	[[ "$output" == *"T=NIFTI_GZ"* ]]
	[[ "$output" == *'W=a"b\c$d]]e[x]{y}'* ]]
	[[ "$output" == *']] ]=] [[ $HOME "q" \ {x}'* ]]
	[[ "$output" == *"Version: 6.0.3"* ]]
	[[ "$output" == *"FMRIB Software Library"* ]]
}

@test "module: load in a non-interactive script, module avail lists the tools, unload removes them" {
	"$FERRY" wrap "$FSL" --prefix "$D" >/dev/null
	"$FERRY" wrap "$FS" --prefix "$D" >/dev/null
	run lmod_script "module use '$D/modules'
module --terse avail 2>&1
module load fsl/6.0.3
fslversion
command -v bet
module unload fsl
command -v bet || echo 'bet gone'"
	[ "$status" -eq 0 ]
	[[ "$output" == *"fsl/6.0.3"* ]] && [[ "$output" == *"freesurfer/7.4.1"* ]]
	[[ "$output" == *"fsl 6.0.3"* ]]
	[[ "$output" == *"$D/fsl/6.0.3/bin/bet"* ]]
	[[ "$output" == *"bet gone"* ]]
}

@test "module: two tools from two images in one pipeline" {
	"$FERRY" wrap "$FSL" --prefix "$D" >/dev/null
	"$FERRY" wrap "$FS" --prefix "$D" >/dev/null
	run lmod_script "module use '$D/modules'; module load fsl/6.0.3 freesurfer/7.4.1
echo brain | fslmaths | mri_convert"
	[ "$status" -eq 0 ]
	[ "$output" = "converted: BRAIN" ]
}

@test "module: relocated DIR: the module finds the moved shims" {
	"$FERRY" wrap "$FSL" --prefix "$D" >/dev/null
	mv "$D" "$BATS_TEST_TMPDIR/elsewhere"
	run lmod_script "module use '$BATS_TEST_TMPDIR/elsewhere/modules'; module load fsl/6.0.3; command -v bet; bet ok"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "$BATS_TEST_TMPDIR/elsewhere/fsl/6.0.3/bin/bet" ]
	[ "${lines[1]}" = "[ok]" ]
}

@test "module: --module-format tcl writes a #%Module1.0 file Lmod loads" {
	run "$FERRY" wrap "$FSL" --prefix "$D" --module-format tcl
	[ "$status" -eq 0 ]
	[ "$(head -1 "$D/modules/fsl/6.0.3")" = '#%Module1.0' ]
	[ ! -e "$D/modules/fsl/6.0.3.lua" ]
	run lmod_script "module use '$D/modules'; module load fsl/6.0.3; bet tcl; echo \"FSLDIR=\$FSLDIR\"; printf 'W=%s\\n' \"\$WEIRD\"; module unload fsl; command -v bet || echo gone"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "[tcl]" ]
	[[ "${lines[1]}" == "FSLDIR=$FERRY_HOME/images/"*"/rootfs/opt/fsl" ]]
	[ "${lines[2]}" = 'W=a"b\c$d]]e[x]{y}' ]
	[ "${lines[3]}" = gone ]
}

@test "wrap: re-wrapping an unchanged image writes nothing" {
	"$FERRY" wrap "$FSL" --prefix "$D" >/dev/null
	before=$(find "$D" -printf '%p %T@ %i\n' | sort)
	run "$FERRY" -q wrap "$FSL" --prefix "$D"
	[ "$status" -eq 0 ]
	[[ "$output" == "unchanged fsl/6.0.3"* ]]
	[ "$(find "$D" -printf '%p %T@ %i\n' | sort)" = "$before" ]
}

# --- catalog -----------------------------------------------------------------

write_catalog() { # FILE: apps.json with ferry's image-template and the registry
	cat >"$1" <<JSON
{
  "image-template": "{registry}/{tool}_{version}:{builddate}",
  "registry": "$REGISTRY",
  "fsl": {"apps": {"fsl 6.0.3": {"version": "20200820", "exec": ""},
                   "fsleyes-fsl 6.0.3": {"version": "20200820", "exec": "fslversion"}},
          "categories": ["functional imaging", "structural imaging"]},
  "freesurfer": {"apps": {"freesurfer 7.4.1": {"version": "20230101", "exec": ""}},
                 "categories": ["structural imaging"]}
}
JSON
}

@test "catalog sync: apps pulled, wrapped, modules by tool and by category, catalog.json" {
	write_catalog cat.json
	run "$FERRY" catalog sync cat.json --prefix "$D"
	[ "$status" -eq 0 ]
	[[ "$output" == *"catalog: 2 apps: 2 synced, 0 unchanged, 0 failed, 0 pruned"* ]]
	[ -f "$D/modules/fsl/6.0.3.lua" ] && [ -f "$D/modules/freesurfer/7.4.1.lua" ]
	[ -f "$D/modules-by-category/functional_imaging/fsl/6.0.3.lua" ]
	[ -f "$D/modules-by-category/structural_imaging/fsl/6.0.3.lua" ]
	[ -f "$D/modules-by-category/structural_imaging/freesurfer/7.4.1.lua" ]
	[ "$(jq -r '.apps | map(.module) | join(" ")' "$D/catalog.json")" = "freesurfer/7.4.1 fsl/6.0.3" ]
	[ "$(jq -r '.apps[] | select(.tool=="fsl") | .digest' "$D/catalog.json")" = "$(jq -r .digest "$D/fsl/6.0.3/wrap.json")" ]
	[ "$(jq -r '.apps[] | select(.tool=="fsl") | .exec | join(",")' "$D/catalog.json")" = fslversion ]
	[ "$(jq -r '.apps[] | select(.tool=="fsl") | .categories | join(",")' "$D/catalog.json")" = "functional imaging,structural imaging" ]
	run lmod_script "module use '$D/modules-by-category/functional_imaging'; module load fsl/6.0.3; fslversion"
	[ "$output" = "fsl 6.0.3" ]
	run "$FERRY" catalog list --prefix "$D"
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == freesurfer/7.4.1*recon-all* ]] && [[ "${lines[1]}" == fsl/6.0.3*bet* ]]
	run "$FERRY" catalog list --prefix "$D" --category "functional imaging" --json
	[ "$(echo "$output" | jq -r 'map(.module) | join(" ")')" = fsl/6.0.3 ]
	run "$FERRY" catalog list --prefix "$D" RECON
	[ "${#lines[@]}" -eq 1 ] && [[ "$output" == freesurfer/7.4.1* ]]
}

@test "catalog sync: re-sync of an unchanged catalog: one manifest request per image, nothing written; none --offline" {
	write_catalog cat.json
	"$FERRY" catalog sync cat.json --prefix "$D" >/dev/null
	before=$(find "$D" -printf '%p %T@ %i\n' | sort)
	f0=$(manifest_requests fsl_6.0.3) s0=$(manifest_requests freesurfer_7.4.1)
	b0=$(grep -c '"GET /v2/[^ ]*/blobs/' "$REGISTRY_LOG")
	run "$FERRY" catalog sync cat.json --prefix "$D"
	[ "$status" -eq 0 ]
	[[ "$output" == *"0 synced, 2 unchanged"* ]]
	[ "$(manifest_requests fsl_6.0.3)" -le $((f0 + 1)) ]
	[ "$(manifest_requests freesurfer_7.4.1)" -le $((s0 + 1)) ]
	[ "$(grep -c '"GET /v2/[^ ]*/blobs/' "$REGISTRY_LOG")" -eq "$b0" ]
	[ "$(find "$D" -printf '%p %T@ %i\n' | sort)" = "$before" ]
	f1=$(manifest_requests fsl_6.0.3) s1=$(manifest_requests freesurfer_7.4.1)
	run "$FERRY" catalog sync cat.json --prefix "$D" --offline
	[ "$status" -eq 0 ]
	[ "$(manifest_requests fsl_6.0.3)" -eq "$f1" ] && [ "$(manifest_requests freesurfer_7.4.1)" -eq "$s1" ]
	[ "$(find "$D" -printf '%p %T@ %i\n' | sort)" = "$before" ]
}

@test "catalog sync: two images on one base download the base layer once" {
	write_catalog cat.json
	base=$(jq -r '.manifests[0].digest' "$FERRY_TEST_IMAGES/busybox/index.json")
	layer=$(jq -r '.layers[0].digest' "$FERRY_TEST_IMAGES/busybox/blobs/sha256/${base#sha256:}")
	n0=$(grep -c "\"GET /v2/[^ ]*/blobs/$layer " "$REGISTRY_LOG" || true)
	"$FERRY" catalog sync cat.json --prefix "$D" >/dev/null
	[ "$(grep -c "\"GET /v2/[^ ]*/blobs/$layer " "$REGISTRY_LOG")" -eq $((n0 + 1)) ]
	# kept while the catalog synced, dropped once all its trees were in
	[ ! -e "$FERRY_HOME/blobs/sha256/${layer#sha256:}" ]
}

@test "catalog sync: --prune removes apps that left the catalog, and only those" {
	write_catalog cat.json
	"$FERRY" catalog sync cat.json --prefix "$D" >/dev/null
	"$FERRY" wrap "$PLAIN" --prefix "$D" --name plain/1.0 --path /opt/plain/bin >/dev/null
	jq 'del(.freesurfer)' cat.json >cat2.json
	run "$FERRY" catalog sync cat2.json --prefix "$D"
	[ "$status" -eq 0 ]
	[ -d "$D/freesurfer/7.4.1" ]
	run "$FERRY" catalog sync cat2.json --prefix "$D" --prune
	[ "$status" -eq 0 ]
	[[ "$output" == *"1 pruned"* ]]
	[ ! -e "$D/freesurfer" ] && [ ! -e "$D/modules/freesurfer" ]
	[ ! -e "$D/modules-by-category/structural_imaging/freesurfer" ]
	[ -f "$D/modules-by-category/structural_imaging/fsl/6.0.3.lua" ]
	[ -x "$D/plain/1.0/bin/plaintool" ]    # wrapped by hand: not the catalog's to prune
	[ "$(jq -r '.apps | map(.module) | join(" ")' "$D/catalog.json")" = "fsl/6.0.3 plain/1.0" ]
}

@test "catalog sync: a broken entry is one line; the others sync; exit status 1" {
	write_catalog cat.json
	jq '.ghost = {"apps": {"ghost 1.0": {"version": "20990101", "exec": ""}}, "categories": []}
	    | .plain = {"apps": {"plain 1.0": {"version": "20240101", "exec": ""}}}
	    | .noimg = {"apps": {"noimg 1.0": {"version": "1"}}, "image-template": "{nope}"}' cat.json >bad.json
	run "$FERRY" catalog sync bad.json --prefix "$D"
	[ "$status" -eq 1 ]
	[ "$(grep -c '^ferry: catalog sync: ' <<<"$output")" -eq 3 ]
	[[ "$output" == *'ghost/1.0 ($.ghost.apps["ghost 1.0"])'*"404"* ]] || [[ "$output" == *'ghost/1.0 ($.ghost.apps["ghost 1.0"])'* ]]
	[[ "$output" == *'plain/1.0 ($.plain.apps["plain 1.0"])'*"no commands found"* ]]
	[[ "$output" == *'noimg/1.0'*"unknown {nope}"* ]]
	[[ "$output" == *"2 synced, 0 unchanged, 3 failed"* ]]
	[ -x "$D/fsl/6.0.3/bin/bet" ] && [ -x "$D/freesurfer/7.4.1/bin/recon-all" ]
	[ ! -e "$D/ghost" ] && [ ! -e "$D/plain" ]
}

@test "catalog sync: an unmodified Neurodesk apps.json with --image-template" {
	cat >apps.json <<'JSON'
{
    "fsl": {
        "apps": {
            "fsl 6.0.3": {"version": "20200820", "exec": ""},
            "fsleyes-fsl 6.0.3": {"version": "20200820", "exec": "fslversion"}
        },
        "categories": ["functional imaging"]
    }
}
JSON
	run "$FERRY" catalog sync apps.json --prefix "$D" --image-template "$REGISTRY/vnmd/{tool}_{version}:{builddate}"
	[ "$status" -eq 0 ]
	[ "$(jq -r '.apps[0].image' "$D/catalog.json")" = "$REGISTRY/vnmd/fsl_6.0.3:20200820" ]
	run lmod_script "module use '$D/modules'; module load fsl/6.0.3; fslversion"
	[ "$output" = "fsl 6.0.3" ]
	# without a template: every app fails in one line
	run "$FERRY" catalog sync apps.json --prefix "$BATS_TEST_TMPDIR/other"
	[ "$status" -eq 1 ]
	[[ "$output" == *"no image"*"--image-template"* ]]
}

@test "catalog sync: a malformed catalog fails with the JSON path of the problem; nothing written" {
	printf '{"fsl": {"apps": {"fsl 6.0.3": {"version": 20200820}}}}' >bad1.json
	run "$FERRY" catalog sync bad1.json --prefix "$D" --image-template "x/{tool}"
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == *'$.fsl.apps["fsl 6.0.3"].version: want a string'* ]]
	printf '{"fsl": {"apps": {"fsl": {"version": "1"}}}}' >bad2.json
	run "$FERRY" catalog sync bad2.json --prefix "$D"
	[[ "$output" == *'$.fsl.apps.fsl: the key must be "NAME VERSION"'* ]]
	printf '{"fsl": {"apps": [], "categories": ["a"]}}' >bad3.json
	run "$FERRY" catalog sync bad3.json --prefix "$D"
	[[ "$output" == *'$.fsl.apps: want an object'* ]]
	printf '{"fsl": {"apps": {}, "categories": ["a", 3]}}' >bad4.json
	run "$FERRY" catalog sync bad4.json --prefix "$D"
	[[ "$output" == *'$.fsl.categories[1]: want a string'* ]]
	printf '{"fsl": ' >bad5.json
	run "$FERRY" catalog sync bad5.json --prefix "$D"
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == *"bad5.json:1:"*"invalid JSON"* ]]
	[ ! -e "$D" ]
}

@test "catalog sync --to: images deployed into a shared DIR, the shims run from it with no request and no pull" {
	write_catalog cat.json
	dep=$BATS_TEST_TMPDIR/deploy
	run "$FERRY" catalog sync cat.json --prefix "$D" --to "$dep"
	[ "$status" -eq 0 ]
	[[ "$output" == *"catalog: 2 apps: 2 synced, 0 unchanged, 0 failed, 0 pruned"* ]]
	# the images are in the deploy DIR, named, and not in the caller's store
	[ -L "$dep/$REGISTRY/fsl_6.0.3:20200820" ] && [ -L "$dep/$REGISTRY/freesurfer_7.4.1:20230101" ]
	[ -z "$(ls -A "$FERRY_HOME/images" 2>/dev/null)" ]
	digest=$(jq -r .digest "$D/fsl/6.0.3/wrap.json")
	[ -d "$dep/images/${digest#sha256:}/rootfs" ]
	# a job with an empty store of its own runs the tool from DIR: no request
	n0=$(wc -l <"$REGISTRY_LOG")
	mkdir -p "$BATS_TEST_TMPDIR/job" && cd "$BATS_TEST_TMPDIR/job"
	run env FERRY_HOME="$BATS_TEST_TMPDIR/job/store" "$D/fsl/6.0.3/bin/fslversion"
	[ "$status" -eq 0 ]
	[ "$output" = "fsl 6.0.3" ]
	[ "$(wc -l <"$REGISTRY_LOG")" -eq "$n0" ]
	[ -z "$(ls -A "$BATS_TEST_TMPDIR/job/store/images" 2>/dev/null)" ]
	# the module's BASEPATH names the deployed root
	grep -q "$dep/images/${digest#sha256:}/rootfs" "$D/modules/fsl/6.0.3.lua"
	# re-sync: one manifest request per image, nothing changes
	cd "$BATS_TEST_TMPDIR/work"
	run "$FERRY" catalog sync cat.json --prefix "$D" --to "$dep"
	[ "$status" -eq 0 ]
	[[ "$output" == *"0 synced, 2 unchanged"* ]]
}

@test "catalog sync: an app's exec names its command when the image declares none" {
	printf '{"plain": {"apps": {"plain 1.0": {"version": "20240101", "exec": "plaintool ortho"}}}}' >exec.json
	run "$FERRY" catalog sync exec.json --prefix "$D" --image-template "$REGISTRY/{tool}_{version}:{builddate}"
	[ "$status" -eq 0 ]
	run "$D/plain/1.0/bin/plaintool" hi
	[ "$output" = "plain hi" ]
	[ "$(jq -r .rule "$D/plain/1.0/wrap.json")" = "the catalog's exec" ]
	run ls "$D/plain/1.0/bin"
	[ "$output" = plaintool ]   # the first word only
}

@test "wrap: hostile image: links out of the root are resolved inside it, odd names left out" {
	mkdir -p "$BATS_TEST_TMPDIR/host/bin"
	wrap_tool "$BATS_TEST_TMPDIR/host/bin/hosttool" 'echo host'
	l=$BATS_TEST_TMPDIR/hostile.files
	mkdir -p "$l/opt/h/bin" "$l/boutique"
	wrap_tool "$l/opt/h/bin/good" 'echo good'
	wrap_tool "$l/opt/h/bin/bad"$'\n'"name" 'echo bad'
	# a DEPLOY_PATH directory and a tool that are links climbing out of the root
	ln -s "../../../../../../../../..$BATS_TEST_TMPDIR/host/bin" "$l/opt/escape"
	ln -s "/../../..$BATS_TEST_TMPDIR/host/bin/hosttool" "$l/opt/h/bin/escaped"
	# a descriptor that is a link to a host file
	printf '{"command-line": "hosttool", "description": "host"}' >"$BATS_TEST_TMPDIR/host/d.json"
	ln -s "/../..$BATS_TEST_TMPDIR/host/d.json" "$l/boutique/d.json"
	wrap_make_image "$BATS_TEST_TMPDIR/hostile" "$l" --config.env DEPLOY_PATH=/opt/h/bin:/opt/escape:relative/dir
	run "$FERRY" wrap "oci:$BATS_TEST_TMPDIR/hostile:latest" --prefix "$D" --name hostile/1
	[ "$status" -eq 0 ]
	run ls "$D/hostile/1/bin"
	[ "$output" = good ]
	run "$FERRY" wrap "oci:$BATS_TEST_TMPDIR/hostile:latest" --prefix "$D" --name hostile/1
	[[ "$output" == *"not a valid command file name"* ]]
	[[ "$output" == *"directory /opt/escape is not in the image"* ]]
}

@test "wrap: two wraps into one DIR at once: both land, catalog.json lists both" {
	"$FERRY" wrap "$FSL" --prefix "$D" >/dev/null 2>&1 &
	p1=$!
	"$FERRY" wrap "$FS" --prefix "$D" >/dev/null 2>&1 &
	p2=$!
	wait "$p1"
	wait "$p2"
	[ -x "$D/fsl/6.0.3/bin/bet" ] && [ -x "$D/freesurfer/7.4.1/bin/recon-all" ]
	[ "$(jq -r '.apps | map(.module) | join(" ")' "$D/catalog.json")" = "freesurfer/7.4.1 fsl/6.0.3" ]
	[ -z "$(ls -A "$D/.ferry/tmp")" ]
}

@test "catalog list: a DIR with nothing wrapped says so in one line, with the fix" {
	mkdir -p "$D"
	run "$FERRY" catalog list --prefix "$D"
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == *"nothing wrapped there"*"ferry wrap IMAGE --prefix"* ]]
	FERRY_WRAP_PREFIX=$D run "$FERRY" catalog list
	[ "$status" -eq 1 ]
	run "$FERRY" catalog list
	[ "$status" -eq 2 ]
	[[ "$output" == *"missing --prefix"* ]]
}

@test "shim: a second user runs a site's wraps from the site's store (FERRY_STORE_PATH), pulling nothing" {
	is_root || skip "needs root to set up a second user"
	source "$FERRY_SRC/tests/lib/user.bash"
	FERRY_TEST_USER=ferrytest2 ensure_test_user
	site=$BATS_TEST_TMPDIR/site
	FERRY_HOME=$site/store "$FERRY" -q wrap "$FSL" --prefix "$site/apps" >/dev/null
	chmod -R a+rX "$site"
	FERRY_TEST_USER=ferrytest2 grant_access "$site" 2>/dev/null
	mkdir -p "$BATS_TEST_TMPDIR/u2" && chmod 0777 "$BATS_TEST_TMPDIR/u2"
	cd "$BATS_TEST_TMPDIR/u2"
	run setpriv --reuid=ferrytest2 --regid=ferrytest2 --init-groups env -i HOME="$BATS_TEST_TMPDIR/u2" \
		PATH=/usr/bin:/bin FERRY_HOME="$BATS_TEST_TMPDIR/u2/store" FERRY_STORE_PATH="$site/store" \
		"$site/apps/fsl/6.0.3/bin/fslversion"
	[ "$status" -eq 0 ]
	[ "$output" = "fsl 6.0.3" ]
	[ -z "$(ls -A "$BATS_TEST_TMPDIR/u2/store/images" 2>/dev/null)" ]
}
