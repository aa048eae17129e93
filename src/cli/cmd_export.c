/* ferry export, ferry import, and `ferry inspect FILE` (doc/export.md). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/str.h"
#include "cli/cli.h"
#include "image/image.h"
#include "store/store.h"

static const char export_usage[] =
	"Usage: ferry export IMAGE -o FILE [--format F] [--compress C] [--threads N]\n"
	"Write IMAGE (what `ferry exec` takes: a stored or pullable reference, a\n"
	"directory, an OCI layout) to one file, reproducibly (doc/export.md).\n"
	"  -o, --output FILE   the file to write (replaced only when complete)\n"
	"  --format F          sqfs, sif, oci-archive, docker-archive or tar;\n"
	"                      default: from FILE's extension (.sqfs .sif .tar)\n"
	"  --compress C        zstd (default), gzip, xz or lz4 (sqfs, sif)\n"
	"  --threads N         compression threads (default: every CPU)\n"
	"  --name NAME         the name recorded in oci-archive/docker-archive\n"
	"  --no-pull           fail instead of pulling an image not stored\n"
	"  --insecure          plain HTTP / unverified TLS for that pull\n"
	"  -q, --quiet         no progress\n";

static const char import_usage[] =
	"Usage: ferry import FILE [--name NAME]\n"
	"Unpack a single-file image (squashfs, SIF, old .simg) into the store as\n"
	"a tree, with the safety rules of layer extraction, named NAME (default\n"
	"localhost/<FILE without extension>:latest). The tree runs without FUSE.\n"
	"  --name NAME   the image's name in the store\n"
	"  -q, --quiet   print nothing but errors\n";

static int export_main(int argc, char **argv)
{
	static const struct option lo[] = { { "output", required_argument, 0, 'o' },
		{ "format", required_argument, 0, 'f' }, { "compress", required_argument, 0, 'c' },
		{ "threads", required_argument, 0, 't' }, { "name", required_argument, 0, 'n' },
		{ "no-pull", no_argument, 0, 'N' }, { "insecure", no_argument, 0, 'k' }, { "quiet", no_argument, 0, 'q' },
		{ "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 } };
	struct export_opts o = { 0 };
	struct pull_opts po = { 0 };
	const char *out = NULL;
	bool no_pull = false;
	struct ferr err = FERR_INIT;
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "o:qh", lo, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'f':
			if (export_format_parse(optarg, &o.format, &err) < 0)
				return cli_usage_error("export", "--format: %s", err.msg);
			break;
		case 'c':
			if (export_compress_parse(optarg, &o.compress, &err) < 0)
				return cli_usage_error("export", "--compress: %s", err.msg);
			break;
		case 't': {
			char *end;
			long n = strtol(optarg, &end, 10);
			if (*end || end == optarg || n <= 0 || n > 1024)
				return cli_usage_error("export", "--threads: '%s' is not a number of threads (1-1024)", optarg);
			o.threads = (unsigned)n;
			break;
		}
		case 'n': o.name = optarg; break;
		case 'N': no_pull = true; break;
		case 'k': po.insecure = true; break;
		case 'q': po.quiet = true; break;
		case 'h': {
			fputs(export_usage, stdout);
			return EXIT_OK;
		}
		default: return cli_usage_error("export", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return cli_usage_error("export", "expected one IMAGE");
	if (!out)
		return cli_usage_error("export", "-o FILE is required");
	if (!o.format && export_format_from_path(out, &o.format, &err) < 0)
		return cli_fail(&err, EXIT_USAGE);
	struct cli_pull_bar bar;
	cli_pull_bar_init(&bar);
	if (!po.quiet)
		po.events = &bar.events;
	struct store *st;
	if (store_open(&st, &err) < 0)
		return cli_fail(&err, EXIT_ERR);
	int rc = store_export(st, argv[optind], no_pull, &po, out, &o, &err);
	store_close(st);
	if (rc < 0)
		return cli_fail(&err, EXIT_ERR);
	return EXIT_OK;
}

static int import_main(int argc, char **argv)
{
	static const struct option lo[] = { { "name", required_argument, 0, 'n' }, { "quiet", no_argument, 0, 'q' },
		{ "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 } };
	const char *name = NULL;
	bool quiet = false;
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "qh", lo, NULL)) != -1) {
		switch (c) {
		case 'n': name = optarg; break;
		case 'q': quiet = true; break;
		case 'h': fputs(import_usage, stdout); return EXIT_OK;
		default: return cli_usage_error("import", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return cli_usage_error("import", "expected one FILE");
	struct ferr err = FERR_INIT;
	struct store *st;
	if (store_open(&st, &err) < 0)
		return cli_fail(&err, EXIT_ERR);
	struct pull_opts po = { .quiet = true };
	_cleanup_free_ char *digest = NULL;
	int rc = store_import(st, argv[optind], name, &po, &digest, &err);
	store_close(st);
	if (rc < 0)
		return cli_fail(&err, EXIT_ERR);
	if (!quiet)
		printf("%s\n", digest);
	return EXIT_OK;
}

const struct cli_command cmd_export = { "export", "write an image to one file (squashfs, SIF, archives)", export_usage,
	export_main };
const struct cli_command cmd_import = { "import", "unpack a single-file image into the store", import_usage,
	import_main };

/* ---- ferry inspect FILE ------------------------------------------------------ */

static void when(int64_t t, char *buf, size_t n)
{
	if (t <= 0) {
		snprintf(buf, n, "-");
		return;
	}
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *kind_name(enum sfile_kind k)
{
	return k == SFILE_SIF ? "SIF" : k == SFILE_SIMG ? "squashfs with a launch script (.simg)" : "squashfs";
}

bool cli_inspect_is_file(const char *arg)
{
	struct stat sb;
	return stat(arg, &sb) == 0 && S_ISREG(sb.st_mode);
}

int cli_inspect_file(const char *file, bool json)
{
	struct ferr err = FERR_INIT;
	_cleanup_close_ int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ferr_set(&err, errno, "inspect %s", file), cli_fail(&err, EXIT_ERR);
	unsigned char head[128] = { 0 };
	ssize_t hn = pread(fd, head, sizeof head, 0);
	struct sif_info sif = { .primary = -1 };
	bool is_sif = hn > 0 && sif_is_sif(head, (size_t)hn);
	if (is_sif && sif_read(fd, file, &sif, &err) < 0)
		return cli_fail(&err, EXIT_ERR);
	struct sfile sf;
	struct ferr perr = FERR_INIT;
	int p = sfile_probe(fd, file, &sf, &perr);
	if (p == 0 && !is_sif) {
		ferr_setc(&err, FERR_INVALID, 0, "inspect %s: not a single-file image (squashfs, SIF or .simg)", file);
		ferr_hint(&err, "ferry inspect REF shows a stored image");
		return cli_fail(&err, EXIT_ERR);
	}
	if (p < 0 && !is_sif) {
		sif_info_free(&sif);
		return cli_fail(&perr, EXIT_ERR);
	}
	struct sfile_super sb = { 0 };
	bool have_sb = false;
	_cleanup_free_ char *cfg = NULL;
	size_t clen = 0;
	if (p > 0) {
		if (sfile_super(fd, file, &sf, &sb, &perr) < 0) {
			sif_info_free(&sif);
			return cli_fail(&perr, EXIT_ERR);
		}
		have_sb = true;
		struct ferr e2 = FERR_INIT;
		if (sfile_read_file(fd, file, &sf, SFILE_CONFIG_PATH, 4 << 20, &cfg, &clen, &e2) < 0)
			cfg = NULL;
	}
	size_t nsig = 0;
	for (size_t i = 0; i < sif.n_objects; i++)
		nsig += sif.objects[i].type == SIF_DATA_SIGNATURE;
	int64_t created = p > 0 ? sf.created : sif.created;
	char cbuf[32];
	when(created, cbuf, sizeof cbuf);
	const char *sigs = "not verified (ferry does not verify signatures yet)";

	if (json) {
		json_t *o = json_pack("{s:s, s:s, s:s}", "file", file, "format", is_sif ? "sif" : p > 0 && sf.kind == SFILE_SIMG ? "simg" : "squashfs",
			"signatures", "not verified");
		json_object_set_new(o, "created", created > 0 ? json_string(cbuf) : json_null());
		json_object_set_new(o, "signature_objects", json_integer((json_int_t)nsig));
		if (p < 0)
			json_object_set_new(o, "runnable", json_false()), json_object_set_new(o, "error", json_string(perr.msg));
		else
			json_object_set_new(o, "runnable", json_true());
		if (is_sif) {
			json_t *objs = json_array();
			for (size_t i = 0; i < sif.n_objects; i++) {
				const struct sif_object *ob = &sif.objects[i];
				json_t *j = json_pack("{s:I, s:I, s:s, s:I, s:I, s:b}", "id", (json_int_t)ob->id, "group",
					(json_int_t)ob->group, "type", sif_type_name(ob->type), "offset", (json_int_t)ob->offset, "size",
					(json_int_t)ob->size, "primary", (int)i == sif.primary);
				if (ob->type == SIF_DATA_PARTITION) {
					json_object_set_new(j, "fstype", json_string(sif_fstype_name(ob->fstype)));
					json_object_set_new(j, "parttype", json_string(sif_parttype_name(ob->parttype)));
					json_object_set_new(j, "arch", json_string(ob->arch));
				}
				if (ob->name[0])
					json_object_set_new(j, "name", json_string(ob->name));
				json_array_append_new(objs, j);
			}
			json_object_set_new(o, "sif", json_pack("{s:s, s:s, s:o}", "arch", sif.arch, "uuid", sif.uuid, "objects", objs));
		}
		if (have_sb)
			json_object_set_new(o, "squashfs", json_pack("{s:I, s:I, s:s, s:i, s:i}", "offset", (json_int_t)sf.sqfs_offset,
				"size", (json_int_t)sb.bytes_used, "compression", sb.compression, "block_size", (int)sb.block_size,
				"inodes", (int)sb.inodes));
		json_t *cj = cfg ? json_loads(cfg, 0, NULL) : NULL;
		json_object_set_new(o, "config", cj ? cj : json_null());
		char *s = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
		puts(s);
		free(s);
		json_decref(o);
	} else {
		printf("%-12s %s\n%-12s %s\n%-12s %s\n", "File", file, "Format", is_sif ? "SIF" : kind_name(sf.kind),
			"Created", cbuf);
		if (is_sif) {
			printf("%-12s %s, uuid %s\n", "SIF", sif.arch, sif.uuid);
			printf("  %-4s %-5s %-14s %-26s %-4s %10s %10s  %s\n", "ID", "GROUP", "TYPE", "PARTITION", "ARCH",
				"OFFSET", "SIZE", "NAME");
			for (size_t i = 0; i < sif.n_objects; i++) {
				const struct sif_object *ob = &sif.objects[i];
				char part[64] = "-";
				if (ob->type == SIF_DATA_PARTITION)
					snprintf(part, sizeof part, "%s, %s", sif_fstype_name(ob->fstype), sif_parttype_name(ob->parttype));
				printf("  %-4u %-5u %-14s %-26s %-4s %10llu %10llu  %s\n", ob->id, ob->group, sif_type_name(ob->type),
					part, ob->type == SIF_DATA_PARTITION ? ob->arch : "-", (unsigned long long)ob->offset,
					(unsigned long long)ob->size, ob->name);
			}
			printf("%-12s %zu signature object%s, %s\n", "Signatures", nsig, nsig == 1 ? "" : "s", sigs);
		} else {
			printf("%-12s %s\n", "Signatures", sigs);
		}
		if (p < 0) {
			char buf[FERR_MSG_MAX + 600];
			printf("%-12s no: %s\n", "Runnable", ferr_str(&perr, buf, sizeof buf));
		}
		if (have_sb) {
			char mk[32];
			when(sb.mkfs_time, mk, sizeof mk);
			printf("%-12s at byte %llu, %llu bytes, %s, block %u, %u inodes, made %s\n", "Squashfs",
				(unsigned long long)sf.sqfs_offset, (unsigned long long)sb.bytes_used, sb.compression,
				sb.block_size, sb.inodes, mk);
		}
		struct image_config ic = { 0 };
		struct ferr e3 = FERR_INIT;
		if (cfg && image_config_parse(cfg, clen, &ic, &e3) == 0) {
			printf("%-12s %s (written by ferry export)\n", "Config", SFILE_CONFIG_PATH);
			printf("  %-10s", "Entrypoint");
			for (char **a = ic.entrypoint; a && *a; a++)
				printf(" %s", *a);
			printf("\n  %-10s", "Cmd");
			for (char **a = ic.cmd; a && *a; a++)
				printf(" %s", *a);
			printf("\n  %-10s %s\n", "WorkingDir", ic.workdir ? ic.workdir : "-");
			for (char **e = ic.env; e && *e; e++)
				printf("  Env        %s\n", *e);
			for (char **l = ic.labels; l && *l; l++)
				printf("  Label      %s\n", *l);
			image_config_free(&ic);
		} else {
			printf("%-12s none embedded (not written by ferry export)\n", "Config");
		}
	}
	sif_info_free(&sif);
	return EXIT_OK;
}
