#!/usr/bin/env bats
# ferry serve --catalog: a catalog.json of `ferry catalog`/`ferry wrap`
# names images; the Boutiques descriptors those images carry
# (/boutique/*.json) are its pipelines, run in the image the catalog
# deployed. Images are built here (tests/cli/wrap.bash). Runs as root and
# as the unprivileged user.

load ../lib/common
load serve
load wrap

setup_file() {
	[ -f "$FERRY_TEST_IMAGES/busybox/index.json" ] || "$FERRY_SRC/tests/lib/build-images" "$FERRY_TEST_IMAGES" busybox
	wrap_make_fixtures "$BATS_FILE_TMPDIR/img"
}

setup() {
	ferry_test_env
	SV=$BATS_TEST_TMPDIR/sv
	D=$BATS_TEST_TMPDIR/apps
	A=$(serve_user alice)
	mkdir -p "$BATS_TEST_TMPDIR/work"
	cd "$BATS_TEST_TMPDIR/work"
}

teardown() {
	serve_stop || true
}

ids() { python3 -c 'import json,sys; print(" ".join(sorted(p["identifier"] for p in json.load(sys.stdin))))'; }

@test "serve catalog: an app's /boutique descriptors are its pipelines; one runs in the catalog's image" {
	img=oci:$BATS_FILE_TMPDIR/img/freesurfer:latest
	"$FERRY" wrap "$img" --prefix "$D" >/dev/null
	grep -q '"image": "'"$img"'"' "$D/catalog.json"
	! grep -q '"descriptor"' "$D/catalog.json"
	serve_start --catalog "$D/catalog.json"
	[ "$(api "$A" "$URL/pipelines" | ids)" = "mri_convert/7.4.1 recon-all/7.4.1" ]
	d=$(api "$A" "$URL/pipelines/recon-all/7.4.1/boutiquesdescriptor")
	[ "$(code)" = 200 ]
	[ "$(jf container-image.image <<<"$d")" = "$img" ]
	[ "$(jf command-line <<<"$d")" = "/opt/fs/bin/recon-all [SUBJECT]" ]
	[ "$(api "$A" "$URL/pipelines/recon-all/7.4.1" | jf parameters.0.name)" = subject ]
	api "$A" -X POST -H 'Content-Type: application/json' \
		-d '{"name":"r","pipelineIdentifier":"recon-all/7.4.1","inputValues":{"subject":"bert"}}' "$URL/executions" >"$SV/launch"
	[ "$(code)" = 200 ]
	id=$(jf identifier <"$SV/launch")
	[ "$(wait_exec "$A" "$id" | jf status)" = Finished ]
	[ "$(api "$A" "$URL/executions/$id/stdout")" = "recon-all bert" ]
}

@test "serve catalog: a descriptor linked to a host file is read inside the image; no descriptor is one warning" {
	mkdir -p "$BATS_TEST_TMPDIR/host"
	printf '{"name": "host", "tool-version": "1", "schema-version": "0.5", "description": "host file", "command-line": "hosttool", "inputs": []}' \
		>"$BATS_TEST_TMPDIR/host/d.json"
	l=$BATS_TEST_TMPDIR/hostile.files
	mkdir -p "$l/boutique"
	wrap_tool "$l/opt/h/bin/good" 'echo good'
	ln -s "/../..$BATS_TEST_TMPDIR/host/d.json" "$l/boutique/d.json"
	wrap_make_image "$BATS_TEST_TMPDIR/hostile" "$l" --config.env DEPLOY_PATH=/opt/h/bin
	"$FERRY" wrap "oci:$BATS_TEST_TMPDIR/hostile:latest" --prefix "$D" --name hostile/1 >/dev/null
	"$FERRY" wrap "oci:$BATS_FILE_TMPDIR/img/plain:latest" --prefix "$D" --name plain/1.0 --path /opt/plain/bin >/dev/null
	serve_start --catalog "$D/catalog.json"
	[ "$(api "$A" "$URL/pipelines")" = "[]" ]
	grep -q "hostile/1: /boutique/d.json: " "$SV/log"
	grep -q "plain/1.0: its image carries no Boutiques descriptor" "$SV/log"
	! grep -q "host file" "$SV/body"
}
