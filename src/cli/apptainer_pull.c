/* `apptainer pull [--name FILE] URI` and `apptainer build FILE SOURCE`:
 * the image goes through ferry's store (one download, verified and
 * deduplicated, for every job that names it) and FILE is what ferry runs
 * (doc/apptainer.md, "What pull writes"): a SIF file, written by ferry
 * export's writer. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/path.h"
#include "base/str.h"
#include "cli/apptainer.h"
#include "cli/cli.h"
#include "store/store.h"

/* Apptainer's default name for docker://host/repo/name:tag: name_tag.sif */
static char *default_name(const char *ref)
{
	struct image_ref r;
	struct ferr err = FERR_INIT;
	if (image_ref_parse(ref, &r, &err) < 0)
		return xstrdup("image.sif");
	const char *slash = strrchr(r.repo, '/');
	char *n = xasprintf("%s_%s.sif", slash ? slash + 1 : r.repo, r.tag ? r.tag : "latest");
	image_ref_free(&r);
	return n;
}

/* Write `image` (a stored reference, or an absolute path to a sandbox
 * directory) as a SIF file at `file`: ferry export's writer, which puts
 * the file in place by rename once complete, so that a reader (another
 * job of the same workflow) sees the old file or the new one. */
static int write_sif(const char *image, const char *name, const char *file, bool force)
{
	struct stat sb;
	if (!force && lstat(file, &sb) == 0)
		return apptainer_fatal("image file already exists: %s - will not overwrite (add --force)", file);
	if (lstat(file, &sb) == 0 && S_ISDIR(sb.st_mode))
		return apptainer_fatal("%s is a directory: will not replace it by an image", file);
	struct ferr err = FERR_INIT;
	struct store *st;
	if (store_open(&st, &err) < 0)
		return apptainer_fail(&err);
	/* SIF whatever the name says: Apptainer writes SIF to FILE.simg too
	 * (Snakemake's names). lz4, not export's zstd: a pulled file is a
	 * local copy that a workflow waits for, and lz4 writes the Debian
	 * test image's 200 MB in 1.8 s where zstd takes 47 s on two busy CPUs
	 * (a file 1.5x larger; squashfuse and the kernel read both). */
	struct export_opts o = { .format = EXPORT_SIF, .compress = EXPORT_LZ4, .name = name };
	int rc = store_export(st, image, true, NULL, file, &o, &err);
	store_close(st);
	if (rc < 0)
		return apptainer_fail(&err);
	return EXIT_OK;
}

enum { P_NAME = 1, P_FORCE, P_DIR, P_NOHTTPS, P_NOEFFECT, P_ARCH, P_SANDBOX };
static const struct ap_opt pull_opts[] = {
	{ "name", 0, true, P_NAME },
	{ "force", 'F', false, P_FORCE },
	{ "dir", 0, true, P_DIR },
	{ "nohttps", 0, false, P_NOHTTPS },
	{ "no-https", 0, false, P_NOHTTPS },
	{ "disable-cache", 0, false, P_NOEFFECT },
	{ "arch", 0, true, P_ARCH },
	{ "quiet", 'q', false, P_NOEFFECT },
	{ "silent", 's', false, P_NOEFFECT },
	{ NULL, 0, false, 0 },
};

static int pull_to(const char *uri, const char *name, const char *dir, bool force, bool nohttps)
{
	bool remote;
	int rc = APPTAINER_EXIT_FATAL;
	_cleanup_free_ char *ref = apptainer_image(uri, &remote, &rc);
	if (!ref)
		return rc;
	if (!remote)
		return apptainer_fatal("pull %s: not a docker:// or oci: reference (a local file needs no pull)", uri);
	_cleanup_free_ char *n = name ? xstrdup(name) : default_name(ref);
	/* --dir (or APPTAINER_PULLDIR) places a relative name, as Apptainer does. */
	_cleanup_free_ char *file = dir && dir[0] && n[0] != '/' ? path_join(dir, n) : xstrdup(n);
	struct stat sb;
	if (!force && lstat(file, &sb) == 0)
		return apptainer_fatal("image file already exists: %s - will not overwrite (add --force)", file);
	if ((rc = apptainer_store_pull(ref, nohttps)) != 0)
		return rc;
	return write_sif(ref, remote && strncmp(ref, "oci", 3) && strncmp(ref, "docker-archive:", 15) ? ref : NULL, file, force);
}

int apptainer_pull_main(int argc, char **argv)
{
	struct ap_parser p;
	ap_init(&p, argc, argv, 1);
	const char *name = NULL, *dir = NULL;
	bool force = false, nohttps = apptainer_env_nohttps();
	int r;
	while ((r = ap_next(&p, pull_opts)) != 0) {
		switch (r) {
		case P_NAME: name = p.val; break;
		case P_FORCE: force = true; break;
		case P_DIR: dir = p.val; break;
		case P_NOHTTPS: nohttps = true; break;
		case P_NOEFFECT: break;
		case P_ARCH: return apptainer_unsupported("--arch");
		default: return apptainer_bad_option(&p, r);
		}
	}
	if (!dir)
		dir = getenv("APPTAINER_PULLDIR") ? getenv("APPTAINER_PULLDIR") : getenv("SINGULARITY_PULLDIR");
	if (!dir)
		dir = getenv("APPTAINER_PULLFOLDER") ? getenv("APPTAINER_PULLFOLDER") : getenv("SINGULARITY_PULLFOLDER");
	/* pull [FILE] URI, as Apptainer takes it */
	int left = argc - p.i;
	if (left == 2 && !name)
		return pull_to(argv[p.i + 1], argv[p.i], dir, force, nohttps);
	if (left != 1)
		return apptainer_fatal("pull: want [--name FILE] URI");
	return pull_to(argv[p.i], name, dir, force, nohttps);
}

static const struct ap_opt build_opts[] = {
	{ "force", 'F', false, P_FORCE },
	{ "nohttps", 0, false, P_NOHTTPS },
	{ "no-https", 0, false, P_NOHTTPS },
	{ "disable-cache", 0, false, P_NOEFFECT },
	{ "sandbox", 's', false, P_SANDBOX },
	{ "quiet", 'q', false, P_NOEFFECT },
	{ NULL, 0, false, 0 },
};

int apptainer_build_main(int argc, char **argv)
{
	struct ap_parser p;
	ap_init(&p, argc, argv, 1);
	bool force = false, nohttps = apptainer_env_nohttps();
	int r;
	while ((r = ap_next(&p, build_opts)) != 0) {
		switch (r) {
		case P_FORCE: force = true; break;
		case P_NOHTTPS: nohttps = true; break;
		case P_NOEFFECT: break;
		case P_SANDBOX: return apptainer_unsupported("--sandbox");
		default: return apptainer_bad_option(&p, r);
		}
	}
	if (argc - p.i != 2)
		return apptainer_fatal("build: want FILE.sif SOURCE (docker://REF or a sandbox directory)");
	const char *file = argv[p.i], *src = argv[p.i + 1];
	struct stat sb;
	if (!strstr(src, "://") && !str_starts_with(src, "oci") && !str_starts_with(src, "docker-archive:") &&
	    stat(src, &sb) == 0 && !S_ISDIR(sb.st_mode))
		return apptainer_fatal("build %s: definition files are not supported by ferry's apptainer compatibility "
				       "(build from docker://REF or a sandbox directory)", src);
	if (stat(src, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		/* A sandbox directory: its tree (and config, for a directory
		 * holding rootfs/ and config.json) into FILE. */
		bool remote;
		int rc = APPTAINER_EXIT_FATAL;
		_cleanup_free_ char *abs = apptainer_image(src, &remote, &rc);
		if (!abs)
			return rc;
		return write_sif(abs, NULL, file, force);
	}
	return pull_to(src, file, NULL, force, nohttps);
}
