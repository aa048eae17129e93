# Helpers for the apptainer*.bats files: ferry answering as apptainer and
# singularity through symlinks first on PATH, as a site installs them
# ($PREFIX/libexec/ferry/compat/). Load ../lib/common first.

# apptainer_shims: $BATS_FILE_TMPDIR/compat/{apptainer,singularity} -> $FERRY,
# first on PATH; fails when another apptainer or singularity would answer
# (the tests are about clients that find no Apptainer but ferry's).
apptainer_shims() {
	APPTAINER_SHIMS=$BATS_FILE_TMPDIR/compat
	mkdir -p "$APPTAINER_SHIMS"
	ln -sfn "$FERRY" "$APPTAINER_SHIMS/apptainer"
	ln -sfn "$FERRY" "$APPTAINER_SHIMS/singularity"
	export APPTAINER_SHIMS PATH="$APPTAINER_SHIMS:$PATH"
	local n
	for n in apptainer singularity; do
		[ "$(command -v "$n")" = "$APPTAINER_SHIMS/$n" ] || die "$n is not ferry's shim: $(command -v "$n")"
	done
}

# Only ferry's shims answer to these names on PATH (no Apptainer installed).
only_ferry_answers() {
	local n p
	for n in apptainer singularity; do
		for p in $(type -ap "$n"); do
			[ "$(readlink -f "$p")" = "$(readlink -f "$FERRY")" ] || die "a real $n is installed at $p"
		done
	done
}

# SIF and squashfs files run through FUSE: /dev/fuse must be usable by the
# unprivileged user (a fresh machine has it 0600); only root can fix it.
apptainer_fuse() {
	if [ -c /dev/fuse ] && is_root && [ "$(stat -c %a /dev/fuse)" != 666 ]; then
		chmod 0666 /dev/fuse
	fi
}
