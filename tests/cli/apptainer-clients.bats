#!/usr/bin/env bats
# Real clients that speak Singularity, run unchanged with ferry's shims
# first on PATH and no Apptainer installed: cwltool --singularity and
# Snakemake --use-singularity (Debian packages), pulling from the test
# registry (TLS, the test CA trusted through ferry's certs.d). Runs as
# root and as the unprivileged user.

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
	registry_push "oci:$FERRY_TEST_IMAGES/busybox:latest" cwl/busybox:latest
	registry_push "oci:$FERRY_TEST_IMAGES/debian:latest" cwl/debian:latest
	registry_push "oci:$FERRY_TEST_IMAGES/debian:latest" smk/debian:latest
}

teardown_file() {
	registry_stop
}

setup() {
	ferry_test_env
	export PATH="$APPTAINER_SHIMS:$PATH"
	unset FERRY_BIND
	registry_trust
	cd_scratch
}

teardown() {
	cleanup_scratch
}

need() { # MODULE PACKAGE
	[ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import $1" 2>/dev/null ||
		skip "$2 is not installed (apt-get install $2)"
}

# A CommandLineTool with a DockerRequirement: counts the lines of its
# input File and upper-cases it, two output Files.
write_tool() { # IMAGE
	cat >tool.cwl <<EOF
cwlVersion: v1.2
class: CommandLineTool
requirements:
  DockerRequirement:
    dockerPull: $1
baseCommand: [sh, -c]
arguments:
  - 'wc -l < "\$0" > count.txt; tr a-z A-Z < "\$0" > upper.txt; id -u > uid.txt'
  - \$(inputs.infile.path)
inputs:
  infile: {type: File}
outputs:
  count: {type: File, outputBinding: {glob: count.txt}}
  upper: {type: File, outputBinding: {glob: upper.txt}}
  uid: {type: File, outputBinding: {glob: uid.txt}}
EOF
	printf 'one\ntwo\nthree\n' >in.txt
	printf 'infile: {class: File, path: in.txt}\n' >job.yml
}

@test "cwltool --singularity: a DockerRequirement on the registry's busybox, inputs staged, outputs checked" {
	need cwltool cwltool
	only_ferry_answers
	write_tool "$REGISTRY/cwl/busybox:latest"
	mkdir tmp
	run -0 cwltool --singularity --tmpdir-prefix "$PWD/tmp/" --outdir out tool.cwl job.yml
	[ "$(tr -d ' ' <out/count.txt)" = 3 ]
	[ "$(cat out/upper.txt)" = "$(printf 'ONE\nTWO\nTHREE')" ]
	[ "$(cat out/uid.txt)" = "$(id -u)" ]
	# cwltool's own pull went through ferry's store, and left the SIF name
	# it looks for next time
	[ -e "${REGISTRY}_cwl_busybox:latest.sif" ]
	run -0 "$FERRY" images
	[[ $output == *cwl/busybox* ]]
}

@test "cwltool --singularity: the Debian image, a second run reuses the stored image" {
	need cwltool cwltool
	write_tool "$REGISTRY/cwl/debian:latest"
	run -0 cwltool --singularity --outdir out1 tool.cwl job.yml
	run -0 cwltool --singularity --outdir out2 tool.cwl job.yml
	[ "$(tr -d ' ' <out2/count.txt)" = 3 ]
	local layer n
	for layer in $(grep -o '"GET /v2/cwl/debian/blobs/sha256:[0-9a-f]*' "$REGISTRY_LOG" | sed 's|.*/blobs/||' | sort -u); do
		n=$(registry_blob_gets cwl/debian "$layer")
		[ "$n" -eq 1 ] || die "blob $layer fetched $n times"
	done
}

@test "cwltool --singularity: the job has no network but loopback (--net --network none)" {
	need cwltool cwltool
	cat >net.cwl <<EOF
cwlVersion: v1.2
class: CommandLineTool
requirements:
  DockerRequirement: {dockerPull: $REGISTRY/cwl/busybox:latest}
baseCommand: [sh, -c, 'cut -d: -f1 /proc/net/dev | tail -n +3 | tr -d " " > ifs.txt']
inputs: []
outputs:
  ifs: {type: File, outputBinding: {glob: ifs.txt}}
EOF
	run -0 cwltool --singularity --outdir out net.cwl
	[ "$(cat out/ifs.txt)" = lo ]
}

@test "Snakemake --use-singularity: two rules, --singularity-args -B, --cores 2 in parallel on one store" {
	need snakemake snakemake
	only_ferry_answers
	mkdir -p data rendezvous
	echo "hello world" >data/in.txt
	# Each rule waits for the other's marker: the workflow finishes only
	# when both ran at the same time (a serial run gives up after 120 s).
	cat >Snakefile <<EOF
rule all:
    input: "out/a.txt", "out/b.txt"

rule a:
    output: "out/a.txt"
    container: "docker://$REGISTRY/smk/debian:latest"
    shell: "touch /meet/a; for i in \$(seq 1200); do [ -e /meet/b ] && break; sleep 0.1; done; [ -e /meet/b ]; tr a-z A-Z < /data/in.txt > {output}"

rule b:
    output: "out/b.txt"
    container: "docker://$REGISTRY/smk/debian:latest"
    shell: "touch /meet/b; for i in \$(seq 1200); do [ -e /meet/a ] && break; sleep 0.1; done; [ -e /meet/a ]; python3 -c 'print(open(\"/data/in.txt\").read().strip()[::-1])' > {output}"
EOF
	run -0 snakemake --use-singularity --singularity-args "-B $PWD/data:/data:ro -B $PWD/rendezvous:/meet" --cores 2
	[ "$(cat out/a.txt)" = "HELLO WORLD" ]
	[ "$(cat out/b.txt)" = "dlrow olleh" ]
	# one image pulled once, into ferry's store
	run -0 "$FERRY" images
	[ "$(grep -c smk/debian <<<"$output")" -eq 1 ]
	[ "$(ls .snakemake/singularity | wc -l)" -eq 1 ]
}

@test "Snakemake --use-singularity: the data bind is read-only as -B SRC:DST:ro says" {
	need snakemake snakemake
	mkdir -p data
	echo x >data/in.txt
	cat >Snakefile <<EOF
rule w:
    output: "out/w.txt"
    container: "docker://$REGISTRY/smk/debian:latest"
    shell: "if touch /data/new 2>/dev/null; then echo writable; else echo read-only; fi > {output}"
EOF
	run -0 snakemake --use-singularity --singularity-args "-B $PWD/data:/data:ro" --cores 1
	[ "$(cat out/w.txt)" = read-only ]
	[ ! -e data/new ]
}
