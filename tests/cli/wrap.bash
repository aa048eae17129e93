# Test images for ferry wrap, built at test time from the busybox layout
# (tests/lib/build-images) with umoci: one more layer of tools and the
# image config a recipe would write (DEPLOY_PATH, DEPLOY_BINS,
# DEPLOY_ENV_*, labels). Sourced by tests/cli/wrap.bats and bench/wrap/run.
#
#   wrap_make_image OUT LAYERDIR [umoci config options...]
#       OUT: an OCI layout holding OUT:latest = busybox + LAYERDIR's files
#   wrap_make_fixtures DIR   the images below, under DIR/
#     fsl         DEPLOY_PATH=/opt/fsl/bin, DEPLOY_BINS=fslversion,
#                 DEPLOY_ENV_FSLDIR=BASEPATH/opt/fsl, /README.md, labels fsl 6.0.3
#     freesurfer  /boutique/recon.json (command-line /opt/fs/bin/recon-all ...),
#                 labels freesurfer 7.4.1
#     plain       tools in /opt/plain/bin on PATH, nothing declared
# shellcheck disable=SC2016 # the tools' scripts expand their own variables

wrap_make_image() { # OUT LAYERDIR [config options...]
	local out=$1 layer=$2
	shift 2
	rm -rf "$out"
	cp -r "$FERRY_TEST_IMAGES/busybox" "$out"
	chmod -R u+w "$out"
	tar -C "$layer" --owner=0 --group=0 --numeric-owner -cf "$out.layer.tar" .
	umoci --log error raw add-layer --image "$out:latest" "$out.layer.tar"
	rm -f "$out.layer.tar"
	if [ $# -gt 0 ]; then
		umoci --log error config --image "$out:latest" "$@"
	fi
	umoci --log error gc --layout "$out"
}

wrap_tool() { # FILE BODY: an executable #!/bin/sh script
	mkdir -p "$(dirname "$1")"
	printf '#!/bin/sh\n%s\n' "$2" >"$1"
	chmod 0755 "$1"
}

wrap_make_fixtures() { # DIR
	local d=$1 l
	mkdir -p "$d"
	l=$d/fsl.files
	rm -rf "$l"
	# args one per line in brackets: shows how each argument arrived
	wrap_tool "$l/opt/fsl/bin/bet" 'for a in "$@"; do printf "[%s]\n" "$a"; done'
	wrap_tool "$l/opt/fsl/bin/fslmaths" 'tr a-z A-Z'
	wrap_tool "$l/opt/fsl/bin/fslexit" 'exit "$1"'
	wrap_tool "$l/opt/fsl/bin/fslpwd" 'pwd; ls'
	wrap_tool "$l/opt/fsl/bin/fslenv" 'env | sort'
	wrap_tool "$l/opt/fsl/bin/fsltrap" 'trap "echo got TERM; exit 42" TERM; : >"$1"; while :; do sleep 0.1; done'
	wrap_tool "$l/usr/local/bin/fslversion" 'echo "fsl 6.0.3"'
	# a link to a tool, and a link named like a host command (left out)
	ln -s fslmaths "$l/opt/fsl/bin/fslmaths-link"
	ln -s /bin/busybox "$l/opt/fsl/bin/ls"
	# a README that closes a plain Lua long string, and a value with quotes,
	# backslashes, $ and brackets: the module must carry them unchanged
	printf '# FSL\nThe FMRIB Software Library (test image). ]] ]=] [[ $HOME "q" \\ {x}\n' >"$l/README.md"
	wrap_make_image "$d/fsl" "$l" --config.env DEPLOY_PATH=/opt/fsl/bin --config.env DEPLOY_BINS=fslversion \
		--config.env DEPLOY_ENV_FSLDIR=BASEPATH/opt/fsl --config.env DEPLOY_ENV_FSLOUTPUTTYPE=NIFTI_GZ \
		--config.env 'DEPLOY_ENV_WEIRD=a"b\c$d]]e[x]{y}' \
		--config.label org.opencontainers.image.title=fsl --config.label org.opencontainers.image.version=6.0.3

	l=$d/freesurfer.files
	rm -rf "$l"
	wrap_tool "$l/opt/fs/bin/recon-all" 'echo "recon-all $*"'
	wrap_tool "$l/opt/fs/bin/mri_convert" 'echo "converted: $(cat)"'
	mkdir -p "$l/boutique"
	cat >"$l/boutique/recon.json" <<'JSON'
{"name": "recon-all", "tool-version": "7.4.1", "schema-version": "0.5",
 "description": "FreeSurfer's cortical reconstruction (test image).",
 "command-line": "/opt/fs/bin/recon-all [SUBJECT]",
 "inputs": [{"id": "subject", "name": "subject", "type": "String", "value-key": "[SUBJECT]"}]}
JSON
	cat >"$l/boutique/convert.json" <<'JSON'
{"name": "mri_convert", "tool-version": "7.4.1", "schema-version": "0.5",
 "description": "convert", "command-line": "mri_convert [IN]",
 "inputs": [{"id": "in", "name": "in", "type": "String", "value-key": "[IN]"}]}
JSON
	wrap_make_image "$d/freesurfer" "$l" \
		--config.env PATH=/opt/fs/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		--config.label org.opencontainers.image.title=freesurfer --config.label org.opencontainers.image.version=7.4.1

	l=$d/plain.files
	rm -rf "$l"
	wrap_tool "$l/opt/plain/bin/plaintool" 'echo "plain $*"'
	wrap_tool "$l/opt/plain/bin/othertool" 'echo other'
	wrap_make_image "$d/plain" "$l" \
		--config.env PATH=/opt/plain/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
}
