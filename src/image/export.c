/* `ferry export`'s writer (doc/export.md): a tree and its OCI config to
 * one file: a squashfs, a SIF, an oci-archive, a docker-archive or a flat
 * tarball. The output is built in an unnamed file (O_TMPFILE) of OUT's
 * directory and only given its name, by link and rename, once complete:
 * a killed export leaves nothing behind. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/inroot.h"
#include "base/json.h"
#include "base/path.h"
#include "base/sha256.h"
#include "base/str.h"
#include "image/image.h"
#include "image/sfile_int.h"

/* SIF: header and 48 descriptors end at 32176; the partition starts at
 * the next 4 KiB boundary, as the SIF tools place it. */
#define SIF_DATA_START (SIF_DESC_OFFSET + SIF_DESC_DEFAULT * SIF_DESC_SIZE)
#define SIF_PART_START (((uint64_t)SIF_DATA_START + SIF_ALIGN - 1) & ~(uint64_t)(SIF_ALIGN - 1))

static const char *const format_names[] = { "auto", "sqfs", "sif", "oci-archive", "docker-archive", "tar" };

const char *export_format_name(enum export_format f)
{
	return (unsigned)f < sizeof format_names / sizeof *format_names ? format_names[f] : "?";
}

int export_format_parse(const char *s, enum export_format *f, struct ferr *err)
{
	if (!strcmp(s, "squashfs"))
		s = "sqfs";
	for (unsigned i = 1; i < sizeof format_names / sizeof *format_names; i++)
		if (!strcmp(s, format_names[i])) {
			*f = (enum export_format)i;
			return 0;
		}
	return ferr_setc(err, FERR_USAGE, 0, "unknown format '%s' (sqfs, sif, oci-archive, docker-archive or tar)", s);
}

int export_compress_parse(const char *s, enum export_compress *c, struct ferr *err)
{
	static const char *const names[] = { "zstd", "gzip", "xz", "lz4" };
	for (unsigned i = 0; i < 4; i++)
		if (!strcmp(s, names[i])) {
			*c = (enum export_compress)i;
			return 0;
		}
	return ferr_setc(err, FERR_USAGE, 0, "unknown compression '%s' (zstd, gzip, xz or lz4)", s);
}

int export_format_from_path(const char *out, enum export_format *f, struct ferr *err)
{
	static const char *const ext[][2] = { { ".sqfs", "sqfs" }, { ".squashfs", "sqfs" }, { ".sif", "sif" },
		{ ".simg", "sif" }, { ".tar", "tar" } };
	for (size_t i = 0; i < sizeof ext / sizeof *ext; i++)
		if (str_ends_with(out, ext[i][0]))
			return export_format_parse(ext[i][1], f, err);
	ferr_setc(err, FERR_USAGE, 0, "%s: no format for this file name", out);
	return ferr_hint(err, "name it .sqfs, .sif or .tar, or say --format sqfs|sif|oci-archive|docker-archive|tar");
}

/* The config's "created" (RFC 3339, UTC or with an offset) as seconds;
 * SOURCE_DATE_EPOCH when there is none (or it is before 1970); else 0 for
 * an image, -1 for a plain directory (its mtimes are then taken as they
 * are: an image's tree has directories written at extraction time). */
static int64_t config_created(json_t *cfg, bool image)
{
	const char *c = json_get_str(cfg, "created");
	if (c) {
		struct tm tm = { 0 };
		const char *rest = strptime(c, "%Y-%m-%dT%H:%M:%S", &tm);
		if (rest) {
			int64_t t = (int64_t)timegm(&tm);
			while (*rest == '.' || (*rest >= '0' && *rest <= '9'))
				rest++;
			if (*rest == '+' || *rest == '-') {
				char *end;
				long sh = strtol(rest + 1, &end, 10), sm = *end == ':' ? strtol(end + 1, NULL, 10) : 0;
				t -= (*rest == '+' ? 1 : -1) * (int64_t)(sh * 3600 + sm * 60);
			}
			if (t >= 0)
				return t;
		}
	}
	const char *e = getenv("SOURCE_DATE_EPOCH");
	if (e && *e) {
		char *end;
		long long v = strtoll(e, &end, 10);
		if (!*end && v >= 0)
			return v;
	}
	return image ? 0 : -1;
}

/* ---- the output file ------------------------------------------------------ */

struct outf {
	int fd;
	char *dir, *out;
	char *tmpname; /* without O_TMPFILE: the visible temporary name */
};

static int outf_open(struct outf *f, const char *out, struct ferr *err)
{
	memset(f, 0, sizeof *f);
	f->out = xstrdup(out);
	f->dir = path_dirname(out);
	f->fd = open(f->dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0666);
	if (f->fd >= 0)
		return 0;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return ferr_set(err, errno, "create %s", out);
	_cleanup_free_ char *base = path_basename(out);
	f->tmpname = xasprintf("%s/.%s.ferry-tmp-XXXXXX", f->dir, base);
	f->fd = mkostemp(f->tmpname, O_CLOEXEC);
	if (f->fd < 0)
		return ferr_set(err, errno, "create %s", f->tmpname);
	mode_t um = umask(0);
	umask(um);
	if (fchmod(f->fd, 0666 & ~um) < 0)
		return ferr_set(err, errno, "chmod %s", f->tmpname);
	return 0;
}

static void outf_abort(struct outf *f)
{
	if (f->fd >= 0)
		close(f->fd);
	if (f->tmpname)
		unlink(f->tmpname);
	free(f->tmpname);
	free(f->dir);
	free(f->out);
	memset(f, 0, sizeof *f);
	f->fd = -1;
}

static int outf_commit(struct outf *f, struct ferr *err)
{
	int rc = 0;
	if (!f->tmpname) {
		/* Link the unnamed file under a temporary name, then rename it
		 * over OUT (linkat cannot replace). */
		char proc[64];
		snprintf(proc, sizeof proc, "/proc/self/fd/%d", f->fd);
		_cleanup_free_ char *base = path_basename(f->out);
		for (int i = 0; i < 100; i++) {
			free(f->tmpname);
			f->tmpname = xasprintf("%s/.%s.ferry-tmp-%d-%d", f->dir, base, (int)getpid(), i);
			if (linkat(AT_FDCWD, proc, AT_FDCWD, f->tmpname, AT_SYMLINK_FOLLOW) == 0)
				break;
			if (errno != EEXIST) {
				rc = ferr_set(err, errno, "name %s", f->out);
				free(f->tmpname);
				f->tmpname = NULL;
				break;
			}
		}
	}
	if (rc == 0 && rename(f->tmpname, f->out) < 0)
		rc = ferr_set(err, errno, "rename to %s", f->out);
	if (rc == 0) {
		free(f->tmpname);
		f->tmpname = NULL;
	}
	outf_abort(f);
	return rc;
}

/* ---- squashfs and SIF ------------------------------------------------------- */

static void sh_words(struct dstr *s, char *const *v)
{
	for (; v && *v; v++) {
		dstr_appendc(s, ' ');
		dstr_append_shquoted(s, *v);
	}
}

/* Apptainer's conventions (/.singularity.d/): the environment as a script
 * its actions source, and a runscript that does what `ferry run` does:
 * ENTRYPOINT, then the arguments, or CMD when there are none. */
struct sdot {
	char *env, *runscript, *labels, *exec, *run, *shell, *test;
};

static void sdot_build(struct sdot *d, const struct image_config *c)
{
	struct dstr s = DSTR_INIT;
	dstr_append(&s, "#!/bin/sh\n# The image's environment, written by ferry export.\n");
	for (char **e = c->env; e && *e; e++) {
		const char *eq = strchr(*e, '=');
		if (!eq || eq == *e)
			continue;
		bool ok = true;
		for (const char *k = *e; k < eq; k++)
			ok &= (*k == '_' || (*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') ||
				(k > *e && *k >= '0' && *k <= '9'));
		if (!ok)
			continue; /* not a shell name: cannot be exported */
		dstr_printf(&s, "export %.*s=", (int)(eq - *e), *e);
		dstr_append_shquoted(&s, eq + 1);
		dstr_appendc(&s, '\n');
	}
	d->env = dstr_steal(&s);

	dstr_append(&s, "#!/bin/sh\n# ENTRYPOINT and CMD, as `ferry run` applies them (written by ferry export).\n");
	if (c->entrypoint && c->entrypoint[0]) {
		dstr_append(&s, "if [ $# -gt 0 ]; then exec");
		sh_words(&s, c->entrypoint);
		dstr_append(&s, " \"$@\"; fi\nexec");
		sh_words(&s, c->entrypoint);
		sh_words(&s, c->cmd);
		dstr_append(&s, "\n");
	} else if (c->cmd && c->cmd[0]) {
		dstr_append(&s, "if [ $# -gt 0 ]; then exec \"$@\"; fi\nexec");
		sh_words(&s, c->cmd);
		dstr_append(&s, "\n");
	} else {
		dstr_append(&s, "exec /bin/sh \"$@\"\n");
	}
	d->runscript = dstr_steal(&s);

	json_t *l = json_object();
	for (char **e = c->labels; e && *e; e++) {
		const char *eq = strchr(*e, '=');
		if (eq)
			json_object_set_new(l, xstrndup(*e, (size_t)(eq - *e)), json_string(eq + 1));
	}
	d->labels = json_dumps(l, JSON_SORT_KEYS | JSON_INDENT(1));
	json_decref(l);
	const char *src = "for f in /.singularity.d/env/*.sh; do [ -f \"$f\" ] && . \"$f\"; done\n";
	d->exec = xasprintf("#!/bin/sh\n%sexec \"$@\"\n", src);
	d->run = xasprintf("#!/bin/sh\n%sexec /.singularity.d/runscript \"$@\"\n", src);
	d->shell = xasprintf("#!/bin/sh\n%sexec /bin/sh \"$@\"\n", src);
	d->test = xasprintf("#!/bin/sh\n%sexit 0\n", src);
}

static void sdot_free(struct sdot *d)
{
	free(d->env);
	free(d->runscript);
	free(d->labels); /* jansson uses malloc */
	free(d->exec);
	free(d->run);
	free(d->shell);
	free(d->test);
}

static int write_squash(int fd, const char *rootfs, const char *config, size_t config_len, int64_t created,
	bool sif, const struct image_config *c, const struct export_opts *o, uint64_t *size, struct ferr *err)
{
	struct sdot d = { 0 };
	struct sqfs_extra x[8];
	size_t n = 0;
	if (config)
		x[n++] = (struct sqfs_extra){ SFILE_CONFIG_PATH, config, config_len, 0644 };
	if (sif) {
		sdot_build(&d, c);
		struct sqfs_extra sd[] = {
			{ "/.singularity.d/env/90-environment.sh", d.env, strlen(d.env), 0755 },
			{ "/.singularity.d/runscript", d.runscript, strlen(d.runscript), 0755 },
			{ "/.singularity.d/labels.json", d.labels, strlen(d.labels), 0644 },
			{ "/.singularity.d/actions/exec", d.exec, strlen(d.exec), 0755 },
			{ "/.singularity.d/actions/run", d.run, strlen(d.run), 0755 },
			{ "/.singularity.d/actions/shell", d.shell, strlen(d.shell), 0755 },
			{ "/.singularity.d/actions/test", d.test, strlen(d.test), 0755 },
		};
		/* A tree that has its own Apptainer files (a sandbox built by
		 * Apptainer, an imported SIF) keeps them, as `apptainer build
		 * X.sif SANDBOX/` does: its runscript and %environment are the
		 * image's; ferry writes only the ones it lacks. */
		_cleanup_close_ int rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
		for (size_t i = 0; i < sizeof sd / sizeof sd[0]; i++) {
			struct ferr ignore = FERR_INIT;
			int f = rootfd < 0 ? -1 : inroot_open(rootfd, sd[i].path, O_PATH | O_NOFOLLOW, 0, &ignore);
			struct stat st;
			bool has = f >= 0 && fstat(f, &st) == 0 && S_ISREG(st.st_mode);
			if (f >= 0)
				close(f);
			if (!has)
				x[n++] = sd[i];
		}
	}
	unsigned threads = o->threads;
	if (!threads) {
		long c2 = sysconf(_SC_NPROCESSORS_ONLN);
		threads = c2 > 0 ? (unsigned)c2 : 1;
	}
	/* each entry keeps its own mtime, at most created (-1: none) */
	int rc = sqfs_write_tree(fd, sif ? SIF_PART_START : 0, rootfs, x, n, created, o->compress, threads, size, err);
	sdot_free(&d);
	return rc;
}

/* A SIF's uuid: from the squashfs's bytes, so that the same image gives
 * the same file (a random one would break reproducibility). */
static int content_uuid(int fd, uint64_t off, uint64_t len, unsigned char uuid[16], struct ferr *err)
{
	struct sha256 h;
	sha256_init(&h);
	_cleanup_free_ unsigned char *buf = xmalloc(1 << 20);
	for (uint64_t done = 0; done < len;) {
		size_t want = len - done < (1 << 20) ? (size_t)(len - done) : (1 << 20);
		ssize_t n = pread(fd, buf, want, (off_t)(off + done));
		if (n <= 0) {
			sha256_abort(&h);
			return ferr_set(err, n < 0 ? errno : EIO, "read back the squashfs");
		}
		sha256_update(&h, buf, (size_t)n);
		done += (uint64_t)n;
	}
	char hex[SHA256_HEX_LEN + 1];
	sha256_final_hex(&h, hex);
	for (int i = 0; i < 16; i++) {
		char byte[3] = { hex[2 * i], hex[2 * i + 1], 0 };
		uuid[i] = (unsigned char)strtoul(byte, NULL, 16);
	}
	uuid[6] = (uuid[6] & 0x0f) | 0x50; /* a name-based uuid (version 5 layout) */
	uuid[8] = (uuid[8] & 0x3f) | 0x80;
	return 0;
}

static int write_sif(int fd, const char *rootfs, const char *config, size_t config_len, int64_t created,
	const struct image_config *c, const struct export_opts *o, struct ferr *err)
{
	uint64_t size = 0;
	if (write_squash(fd, rootfs, config, config_len, created, true, c, o, &size, err) < 0)
		return -1;
	unsigned char uuid[16];
	if (content_uuid(fd, SIF_PART_START, size, uuid, err) < 0)
		return -1;
	char host[8];
	struct image_platform p;
	image_platform_host(&p);
	snprintf(host, sizeof host, "%s", sif_arch_code(c->arch ? c->arch : p.arch));
	if (created < 0)
		created = 0; /* a plain directory */
	struct sif_out_object part = { .type = SIF_DATA_PARTITION, .id = 1, .group = 1, .offset = SIF_PART_START,
		.size = size, .size_padded = size + (SIF_PART_START - SIF_DATA_START), .created = created,
		.fstype = SIF_FS_SQUASHFS, .parttype = SIF_PART_PRIMARY_SYSTEM, .arch = host };
	return sif_write_header(fd, host, uuid, created, &part, 1, SIF_DATA_START, SIF_PART_START + size - SIF_DATA_START,
		err);
}

/* ---- archives ----------------------------------------------------------------- */

struct blob {
	char digest[72];
	uint64_t size;
	char *data; /* small blobs; the layer stays in its file */
};

static void blob_of(struct blob *b, char *data)
{
	char hex[SHA256_HEX_LEN + 1];
	b->data = data;
	b->size = strlen(data);
	sha256_hex(data, b->size, hex);
	snprintf(b->digest, sizeof b->digest, "sha256:%s", hex);
}

/* Copy the layer file into the archive as one member. */
static int tar_copy(struct tarw *t, const char *path, int fd, uint64_t size, struct ferr *err)
{
	if (tarw_file(t, path, 0644, size, err) < 0)
		return -1;
	_cleanup_free_ unsigned char *buf = xmalloc(1 << 20);
	for (uint64_t off = 0; off < size;) {
		ssize_t n = pread(fd, buf, size - off < (1 << 20) ? (size_t)(size - off) : (1 << 20), (off_t)off);
		if (n <= 0)
			return ferr_set(err, n < 0 ? errno : EIO, "read the layer back");
		if (tarw_data(t, buf, (size_t)n, err) < 0)
			return -1;
		off += (uint64_t)n;
	}
	return tarw_end_file(t, err);
}

static int write_archive(int fd, const char *dir, const char *rootfs, json_t *cfg, int64_t created,
	const struct export_opts *o, struct ferr *err)
{
	/* The layer: the tree as one tar, in a scratch file beside OUT. */
	_cleanup_close_ int lfd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (lfd < 0) {
		_cleanup_free_ char *t = xasprintf("%s/.ferry-layer-XXXXXX", dir);
		lfd = mkostemp(t, O_CLOEXEC);
		if (lfd < 0)
			return ferr_set(err, errno, "create a scratch file in %s", dir);
		unlink(t);
	}
	struct blob layer = { 0 };
	struct tarw *t = tarw_new(lfd, created);
	int rc = tarw_tree(t, rootfs, created, err);
	if (rc == 0)
		rc = tarw_finish(t, layer.digest, &layer.size, err);
	tarw_free(t);
	if (rc < 0)
		return ferr_wrap(err, "layer");

	/* The config, describing that one layer. */
	json_t *rootfs_j = json_pack("{s:s, s:[s]}", "type", "layers", "diff_ids", layer.digest);
	json_object_set_new(cfg, "rootfs", rootfs_j);
	json_object_del(cfg, "history");
	struct blob config = { 0 }, manifest = { 0 };
	blob_of(&config, json_dumps(cfg, JSON_SORT_KEYS | JSON_COMPACT));
	bool oci = o->format == EXPORT_OCI_ARCHIVE;
	struct image_ref ref = { 0 };
	struct ferr e2 = FERR_INIT;
	const char *tag = "latest";
	_cleanup_free_ char *repo_tag = NULL;
	if (o->name && image_ref_parse(o->name, &ref, &e2) == 0) {
		if (ref.tag)
			tag = ref.tag;
		repo_tag = xasprintf("%s/%s:%s", ref.registry, ref.repo, tag);
	}
	_cleanup_free_ char *tagc = xstrdup(tag);
	image_ref_free(&ref);
	tag = tagc;

	t = tarw_new(fd, created);
	char lhex[SHA256_HEX_LEN + 1], chex[SHA256_HEX_LEN + 1];
	snprintf(lhex, sizeof lhex, "%s", layer.digest + 7);
	snprintf(chex, sizeof chex, "%s", config.digest + 7);
	if (oci) {
		json_t *m = json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:[{s:s, s:s, s:I}]}", "schemaVersion", 2, "mediaType",
			MT_OCI_MANIFEST, "config", "mediaType", "application/vnd.oci.image.config.v1+json", "digest",
			config.digest, "size", (json_int_t)config.size, "layers", "mediaType",
			"application/vnd.oci.image.layer.v1.tar", "digest", layer.digest, "size", (json_int_t)layer.size);
		blob_of(&manifest, json_dumps(m, JSON_SORT_KEYS | JSON_COMPACT));
		json_decref(m);
		json_t *idx = json_pack("{s:i, s:[{s:s, s:s, s:I, s:{s:s}}]}", "schemaVersion", 2, "manifests", "mediaType",
			MT_OCI_MANIFEST, "digest", manifest.digest, "size", (json_int_t)manifest.size, "annotations",
			"org.opencontainers.image.ref.name", tag);
		_cleanup_free_ char *index = json_dumps(idx, JSON_SORT_KEYS | JSON_COMPACT);
		json_decref(idx);
		const char *layout = "{\"imageLayoutVersion\":\"1.0.0\"}";
		char mhex[SHA256_HEX_LEN + 1];
		snprintf(mhex, sizeof mhex, "%s", manifest.digest + 7);
		_cleanup_free_ char *cp = xasprintf("blobs/sha256/%s", chex);
		_cleanup_free_ char *lp = xasprintf("blobs/sha256/%s", lhex);
		_cleanup_free_ char *mp = xasprintf("blobs/sha256/%s", mhex);
		rc = tarw_bytes(t, "oci-layout", 0644, layout, strlen(layout), err);
		if (!rc)
			rc = tarw_bytes(t, "index.json", 0644, index, strlen(index), err);
		if (!rc)
			rc = tarw_dir(t, "blobs", 0755, err);
		if (!rc)
			rc = tarw_dir(t, "blobs/sha256", 0755, err);
		if (!rc)
			rc = tarw_bytes(t, cp, 0644, config.data, config.size, err);
		if (!rc)
			rc = tar_copy(t, lp, lfd, layer.size, err);
		if (!rc)
			rc = tarw_bytes(t, mp, 0644, manifest.data, manifest.size, err);
	} else {
		_cleanup_free_ char *cp = xasprintf("%s.json", chex);
		_cleanup_free_ char *lp = xasprintf("%s/layer.tar", lhex);
		json_t *m = json_pack("[{s:s, s:[], s:[s]}]", "Config", cp, "RepoTags", "Layers", lp);
		if (repo_tag)
			json_array_append_new(json_object_get(json_array_get(m, 0), "RepoTags"), json_string(repo_tag));
		_cleanup_free_ char *mj = json_dumps(m, JSON_SORT_KEYS | JSON_COMPACT);
		json_decref(m);
		rc = tarw_bytes(t, cp, 0644, config.data, config.size, err);
		if (!rc)
			rc = tarw_dir(t, lhex, 0755, err);
		if (!rc)
			rc = tar_copy(t, lp, lfd, layer.size, err);
		if (!rc)
			rc = tarw_bytes(t, "manifest.json", 0644, mj, strlen(mj), err);
	}
	if (!rc)
		rc = tarw_finish(t, NULL, NULL, err);
	tarw_free(t);
	free(config.data);
	free(manifest.data);
	return rc;
}

/* ---- the entry point ---------------------------------------------------------- */

int image_export(const char *rootfs, const char *config, size_t config_len, const char *out,
	const struct export_opts *opts, struct ferr *err)
{
	struct export_opts o = *opts;
	if (!o.format && export_format_from_path(out, &o.format, err) < 0)
		return -1;
	_cleanup_json_ json_t *cfg = NULL;
	if (config) {
		if (!(cfg = json_load_buf(config, config_len, "image config", err)))
			return -1;
	} else {
		/* A plain tree: the config an image without one would have. */
		struct image_platform p;
		image_platform_host(&p);
		cfg = json_pack("{s:s, s:s, s:{s:[s]}}", "architecture", p.arch, "os", "linux", "config", "Env",
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	}
	_cleanup_free_ char *cfg_text = json_dumps(cfg, JSON_SORT_KEYS | JSON_INDENT(1));
	struct image_config c = { 0 };
	if (image_config_parse(cfg_text, strlen(cfg_text), &c, err) < 0)
		return ferr_wrap(err, "image config");
	int64_t created = config_created(cfg, config != NULL);

	struct outf f;
	int rc = outf_open(&f, out, err);
	if (rc == 0) {
		uint64_t size;
		switch (o.format) {
		case EXPORT_SQFS:
			rc = write_squash(f.fd, rootfs, cfg_text, strlen(cfg_text), created, false, &c, &o, &size, err);
			break;
		case EXPORT_SIF:
			rc = write_sif(f.fd, rootfs, cfg_text, strlen(cfg_text), created, &c, &o, err);
			break;
		case EXPORT_TAR: {
			struct tarw *t = tarw_new(f.fd, created);
			rc = tarw_tree(t, rootfs, created, err);
			if (rc == 0)
				rc = tarw_finish(t, NULL, NULL, err);
			tarw_free(t);
			break;
		}
		default:
			rc = write_archive(f.fd, f.dir, rootfs, cfg, created, &o, err);
			break;
		}
	}
	image_config_free(&c);
	if (rc < 0) {
		outf_abort(&f);
		return ferr_wrap(err, "export %s", out);
	}
	return outf_commit(&f, err);
}
