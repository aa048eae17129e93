/* Provenance records of `ferry app launch`, in bosh's format (plus a
 * "ferry" object): the invocation with File values hashed, the tool's
 * output, the output files found, hashed without following links. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "app/launch-int.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/home.h"
#include "base/json.h"
#include "base/libcrypto.h"
#include "base/log.h"
#include "base/path.h"
#include "base/sha256.h"

static int md5_fd(int fd, char hex[33])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	if (!c || EVP_DigestInit_ex(c, EVP_md5(), NULL) != 1) {
		EVP_MD_CTX_free(c);
		errno = ENOMEM;
		return -1;
	}
	char buf[65536];
	ssize_t n;
	while ((n = read(fd, buf, sizeof buf)) > 0)
		EVP_DigestUpdate(c, buf, (size_t)n);
	int e = errno;
	unsigned char md[EVP_MAX_MD_SIZE] = { 0 };
	unsigned int len = 0;
	int ok = EVP_DigestFinal_ex(c, md, &len) == 1 && len == 16;
	EVP_MD_CTX_free(c);
	if (n < 0 || !ok) {
		errno = n < 0 ? e : EIO;
		return -1;
	}
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}

int app_md5_file(const char *path, char hex[33])
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	return md5_fd(fd, hex);
}

#define PUBLIC_MAX_DEPTH 32

/* bosh's _buildPublicFile: a file's name and md5, a directory's files.
 * `name` is opened in `at` without following a symbolic link (unless
 * `follow`: a File input the user named): a link is recorded as itself,
 * {"file-name", "symlink": target}, so a tool that makes out/a -> . or
 * out/home -> $HOME neither hangs the launch nor puts host files' names
 * and md5s in the record (bosh follows them). Anything but a file, a
 * directory or a link (a FIFO the tool left, say) is never opened for
 * reading: {"file-name", "special-file": true}. */
static json_t *public_file_at(int at, const char *name, const char *shown, bool follow, int depth)
{
	struct stat st;
	if (fstatat(at, name, &st, follow ? 0 : AT_SYMLINK_NOFOLLOW) < 0)
		return json_pack("{s:s,s:b}", "file-name", shown, "not_found", 1);
	if (S_ISLNK(st.st_mode)) {
		char target[4096];
		ssize_t n = readlinkat(at, name, target, sizeof target - 1);
		target[n < 0 ? 0 : n] = '\0';
		return json_pack("{s:s,s:s}", "file-name", shown, "symlink", target);
	}
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
		return json_pack("{s:s,s:b}", "file-name", shown, "special-file", 1);
	int flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | (follow ? 0 : O_NOFOLLOW) |
		    (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0);
	int fd = openat(at, name, flags);
	struct stat fst;
	if (fd < 0 || fstat(fd, &fst) < 0 || (fst.st_mode & S_IFMT) != (st.st_mode & S_IFMT)) {
		if (fd >= 0)
			close(fd);
		return json_pack("{s:s,s:b}", "file-name", shown, "not_found", 1);
	}
	if (S_ISDIR(st.st_mode)) {
		json_t *files = json_array();
		_cleanup_closedir_ DIR *d = depth < PUBLIC_MAX_DEPTH ? fdopendir(fd) : NULL;
		if (!d)
			close(fd);
		struct dirent *e;
		while (d && (e = readdir(d))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			json_array_append_new(
				files, public_file_at(dirfd(d), e->d_name, e->d_name, false, depth + 1));
		}
		return json_pack("{s:s,s:o}", "file-name", shown, "files", files);
	}
	char hex[33];
	int r = md5_fd(fd, hex);
	close(fd);
	if (r < 0)
		return json_pack("{s:s,s:b}", "file-name", shown, "not_found", 1);
	return json_pack("{s:s,s:s}", "file-name", shown, "md5sum", hex);
}

static json_t *public_file(const char *path, bool follow)
{
	_cleanup_free_ char *trim = xstrdup(path);
	size_t L = strlen(trim);
	while (L > 1 && trim[L - 1] == '/')
		trim[--L] = '\0';
	_cleanup_free_ char *name = path_basename(trim);
	return public_file_at(AT_FDCWD, trim, name, follow, 0);
}

bool input_is_file(const json_t *desc, const char *id)
{
	const char *t = json_get_str(desc_find(desc, "inputs", id), "type");
	return t && !strcmp(t, "File");
}

static json_t *public_invocation(const json_t *desc, const json_t *inv)
{
	json_t *pub = json_deep_copy(inv);
	const char *k;
	json_t *v;
	json_object_foreach(pub, k, v)
	{
		if (!input_is_file(desc, k))
			continue;
		if (json_is_string(v))
			json_object_set_new(pub, k, public_file(json_string_value(v), true));
		else if (json_is_array(v)) {
			json_t *a = json_array();
			for (size_t i = 0; i < json_array_size(v); i++)
				if (json_is_string(json_array_get(v, i)))
					json_array_append_new(
						a,
						public_file(json_string_value(json_array_get(v, i)), true));
			json_object_set_new(pub, k, a);
		}
	}
	return pub;
}

char *app_data_dir(void)
{
	struct ferr e = FERR_INIT;
	_cleanup_free_ char *home = home_dir(&e);
	return xasprintf("%s/.cache/boutiques/data", home ? home : "/");
}

static void stamp_now(char *buf, size_t size, struct timeval *tv)
{
	struct tm tm;
	localtime_r(&tv->tv_sec, &tm);
	char base[64];
	strftime(base, sizeof base, "%Y-%m-%d_%Hh%Mm%S", &tm);
	snprintf(buf, size, "%ss%06ldms", base, (long)tv->tv_usec);
}

static void iso_time(char *buf, size_t size, const struct timeval *tv)
{
	struct tm tm;
	gmtime_r(&tv->tv_sec, &tm);
	char base[64];
	strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, size, "%s.%06ldZ", base, (long)tv->tv_usec);
}

static char *dashed_name(const json_t *desc)
{
	char *n = xstrdup(json_get_str(desc, "name") ?: "tool");
	for (char *p = n; *p; p++)
		if (*p == ' ' || *p == '/')
			*p = '-';
	return n;
}

/* descriptor-doi: the descriptor's doi, else a copy of the descriptor in the
 * data directory. bosh writes a new copy, named by date, on every run (its
 * "already cached" test compares strings with `is`); ferry names the copy
 * by a digest of the descriptor's content, so an identical descriptor is
 * found with one stat() however many records the directory holds. */
static char *descriptor_ref(const json_t *desc, const char *arg, const char *dir)
{
	const char *doi = json_get_str(desc, "doi");
	if (doi)
		return xstrdup(doi);
	if (arg && str_starts_with(arg, "10.5281/"))
		return xstrdup(arg);
	_cleanup_free_ char *name = dashed_name(desc);
	_cleanup_free_ char *canon = json_dumps(desc, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
	char hex[SHA256_HEX_LEN + 1];
	sha256_hex(canon ? canon : "", canon ? strlen(canon) : 0, hex);
	hex[16] = '\0';
	char *fname = xasprintf("descriptor_%s_%s.json", name, hex);
	_cleanup_free_ char *p = path_join(dir, fname);
	if (!fs_exists(p)) {
		struct ferr err = FERR_INIT;
		if (json_write_atomic(p, desc, 4, &err) < 0)
			log_warn("provenance: %s", err.msg);
	}
	return fname;
}

int record_write(const struct app_plan *plan, struct app_result *res, struct ferr *err)
{
	const json_t *desc = plan->desc, *inv = plan->invocation;
	const struct app_launch_opts *opts = &plan->opts;
	const struct app_job *job = &plan->job;
	const char *out = res->out_text ? res->out_text : "", *errs = res->err_text ? res->err_text : "";
	struct timeval *t0 = &res->start, *t1 = &res->end;
	_cleanup_free_ char *dir = app_data_dir();
	if (fs_mkdir_p(dir, 0755, err) < 0)
		return ferr_wrap(err, "provenance record");
	char stamp[96], start[64], end[64], host[256] = "";
	stamp_now(stamp, sizeof stamp, t0);
	iso_time(start, sizeof start, t0);
	iso_time(end, sizeof end, t1);
	gethostname(host, sizeof host - 1);
	_cleanup_free_ char *ref = descriptor_ref(desc, opts->desc_arg, dir);
	json_t *outfiles = json_object();
	const char *k;
	json_t *v;
	json_object_foreach(res->found_map, k, v)
		json_object_set_new(outfiles, k, public_file(json_string_value(v), false));
	_cleanup_json_ json_t *rec = json_pack(
		"{s:{s:s,s:s,s:s},s:o,s:{s:s%,s:s%,s:i,s:s,s:s,s:O,s:o},s:O,s:{s:s,s:s?,s:s,s:s,s:f,s:f,s:I,"
		"s:s,s:s?}}",
		"summary", "name", json_get_str(desc, "name") ?: "", "descriptor-doi", ref, "date-time",
		stamp, "public-invocation", public_invocation(desc, inv), "public-output", "stdout", out,
		strlen(out), "stderr", errs, strlen(errs), "exit-code", res->exit_code, "error-message",
		res->error_message ? res->error_message : "", "shell-command", job->cmdline, "missing-files",
		res->missing_map, "output-files", outfiles, "additional-information",
		opts->provenance ? opts->provenance : json_null(), "ferry", "version", FERRY_VERSION,
		"image-digest", res->image_digest, "start", start, "end", end, "wall-time-s", res->wall_s,
		"cpu-time-s", res->cpu_s, "peak-memory-kib", (json_int_t)res->maxrss_kib, "host", host,
		"container-location", res->container_location);
	if (!rec)
		return ferr_set(err, 0,
				"provenance record: cannot encode (invalid UTF-8 in the tool's output?)");
	_cleanup_free_ char *name = dashed_name(desc);
	char *text = app_json_dumps(rec, JSON_INDENT(4) | JSON_ENSURE_ASCII); /* big integers as numbers */
	if (!text)
		return ferr_set(err, 0, "provenance record: cannot encode");
	/* bosh's name, NAME_STAMP.json; two launches in the same microsecond
	 * (a batch's workers) must not overwrite each other's records, so a
	 * taken name gets -2, -3 ... */
	char *path = NULL;
	int r = -1;
	for (int n = 1; n < 1000; n++) {
		_cleanup_free_ char *fname =
			n == 1 ? xasprintf("%s_%s.json", name, stamp) : xasprintf("%s_%s-%d.json", name, stamp, n);
		path = path_join(opts->record_dir ? opts->record_dir : dir, fname);
		ferr_clear(err);
		r = fs_write_new(path, text, strlen(text), 0644, err);
		if (r == 0 || err->errnum != EEXIST)
			break;
		free(path);
		path = NULL;
	}
	free(text);
	if (r < 0) {
		free(path);
		return ferr_wrap(err, "provenance record");
	}
	res->record_path = path;
	return 0;
}
