/* `ferry app launch`: what bosh's LocalExecutor.execute does, in ferry's own
 * runtime instead of docker or singularity, plus what bosh leaves out: a
 * missing File input stops the launch before anything runs, and the
 * provenance record carries the image digest, times and peak memory. */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include "base/libcrypto.h"
#include <poll.h>
#include <pthread.h>
#include <sys/mman.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include "app/internal.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/log.h"
#include "base/path.h"
#include "base/sha256.h"

#define CAPTURE_MAX (4u << 20) /* kept per stream for the provenance record */

/* ---- tee: the tool's output goes to ours and into the record ----
 * A thread copies the tool's stdout and stderr to ours and keeps a copy for
 * the record in two memfds. The tool (or the runtime setting up its
 * container) is forked while the thread runs, so the thread touches no lock
 * a forked child could inherit held: it only polls, reads and writes file
 * descriptors, with its buffer on its own stack (no malloc, no stdio). */

struct tee {
	int wr[2];  /* the tool's stdout and stderr */
	int rd[2];  /* the other ends, read by the thread */
	int cap[2]; /* what was captured (memfds) */
	bool running;
	pthread_t th;
};

static void *tee_main(void *arg)
{
	const struct tee *t = arg;
	struct pollfd pf[2] = { { t->rd[0], POLLIN, 0 }, { t->rd[1], POLLIN, 0 } };
	const int *cap = t->cap;
	size_t kept[2] = { 0, 0 };
	int open_n = 2;
	char chunk[65536];
	while (open_n > 0) {
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < 2; i++) {
			if (pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t n = read(pf[i].fd, chunk, sizeof chunk);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				pf[i].fd = -1;
				open_n--;
				continue;
			}
			for (ssize_t off = 0; off < n;) {
				ssize_t w = write(i + 1, chunk + off, (size_t)(n - off));
				if (w < 0 && errno == EINTR)
					continue;
				if (w <= 0)
					break; /* our own stdout is gone: keep draining the tool */
				off += w;
			}
			size_t k = (size_t)n < CAPTURE_MAX - kept[i] ? (size_t)n : CAPTURE_MAX - kept[i];
			if (k && write(cap[i], chunk, k) == (ssize_t)k)
				kept[i] += k;
		}
	}
	return NULL;
}

static int tee_start(struct tee *t, struct ferr *err)
{
	int po[2], pe[2];
	t->cap[0] = memfd_create("ferry-stdout", MFD_CLOEXEC);
	t->cap[1] = memfd_create("ferry-stderr", MFD_CLOEXEC);
	if (t->cap[0] < 0 || t->cap[1] < 0)
		return ferr_set(err, errno, "memfd_create");
	if (pipe2(po, O_CLOEXEC) < 0)
		return ferr_set(err, errno, "pipe");
	if (pipe2(pe, O_CLOEXEC) < 0) {
		close(po[0]);
		close(po[1]);
		return ferr_set(err, errno, "pipe");
	}
	t->rd[0] = po[0];
	t->rd[1] = pe[0];
	t->wr[0] = po[1];
	t->wr[1] = pe[1];
	/* the tool may close our stdout: a write error, not a SIGPIPE for ferry */
	signal(SIGPIPE, SIG_IGN);
	int e = pthread_create(&t->th, NULL, tee_main, t);
	if (e) {
		close(po[0]), close(po[1]), close(pe[0]), close(pe[1]);
		t->wr[0] = 1;
		t->wr[1] = 2;
		return ferr_set(err, e, "start the output copy");
	}
	t->running = true;
	return 0;
}

/* Length of the valid UTF-8 sequence at p (n bytes left), 0 if invalid. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	if (p[0] < 0x80)
		return 1;
	size_t len = (p[0] & 0xe0) == 0xc0 ? 2 : (p[0] & 0xf0) == 0xe0 ? 3 : (p[0] & 0xf8) == 0xf0 ? 4 : 0;
	if (!len || len > n || (len == 2 && p[0] < 0xc2))
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	unsigned cp = p[0] & (0x7f >> len);
	for (size_t i = 1; i < len; i++)
		cp = (cp << 6) | (p[i] & 0x3f);
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* What the tool printed, as text for the JSON record: invalid UTF-8 bytes
 * become \xNN, as bosh's decode(errors="backslashreplace") writes them;
 * NUL bytes become \x00. */
static void append_utf8_text(struct dstr *d, const char *buf, size_t n)
{
	const unsigned char *p = (const unsigned char *)buf;
	for (size_t i = 0; i < n;) {
		size_t k = p[i] ? utf8_seq(p + i, n - i) : 0;
		if (k) {
			dstr_appendn(d, buf + i, k);
			i += k;
		} else {
			dstr_printf(d, "\\x%02x", p[i]);
			i++;
		}
	}
}

static char *read_capture(int fd)
{
	struct dstr d = DSTR_INIT;
	dstr_append(&d, "");
	char buf[65536];
	ssize_t n;
	off_t off = 0;
	struct dstr raw = DSTR_INIT;
	while ((n = pread(fd, buf, sizeof buf, off)) > 0) {
		dstr_appendn(&raw, buf, (size_t)n);
		off += n;
	}
	if (raw.len)
		append_utf8_text(&d, raw.buf, raw.len);
	dstr_free(&raw);
	return dstr_steal(&d);
}

/* Close the tool's ends, wait for the copy to finish, collect the capture. */
static void tee_finish(struct tee *t, char **out, char **errs)
{
	if (!t->running) { /* no tee: the tool used our own stdout and stderr */
		*out = xstrdup("");
		*errs = xstrdup("");
		return;
	}
	close(t->wr[0]);
	close(t->wr[1]);
	pthread_join(t->th, NULL);
	close(t->rd[0]);
	close(t->rd[1]);
	t->running = false;
	*out = read_capture(t->cap[0]);
	*errs = read_capture(t->cap[1]);
	close(t->cap[0]);
	close(t->cap[1]);
}

/* The environment for the tool: ours plus the descriptor's variables
 * (which win), built before fork so the child only calls execve. */
static char **merged_env(char **add)
{
	char **env = xcalloc(1, sizeof *env);
	for (char **e = environ; *e; e++) {
		size_t n = strcspn(*e, "=");
		bool overridden = false;
		for (char **a = add; *a && !overridden; a++)
			overridden = !strncmp(*a, *e, n) && (*a)[n] == '=';
		if (!overridden)
			strv_push(&env, *e);
	}
	for (char **a = add; *a; a++)
		strv_push(&env, *a);
	return env;
}

static int run_host(char **argv, char **add_env, const struct tee *t, int *status, struct rusage *ru,
		    struct ferr *err)
{
	_cleanup_strv_ char **envp = merged_env(add_env);
	pid_t pid = fork();
	if (pid < 0)
		return ferr_set(err, errno, "fork");
	if (pid == 0) {
		if (dup2(t->wr[0], 1) < 0 || dup2(t->wr[1], 2) < 0)
			_exit(125);
		signal(SIGPIPE, SIG_DFL);
		execve(argv[0], argv, envp);
		int e = errno;
		static const char pre[] = "ferry: app launch: cannot run the shell ";
		(void)!write(2, pre, sizeof pre - 1);
		(void)!write(2, argv[0], strlen(argv[0]));
		(void)!write(2, "\n", 1);
		_exit(e == ENOENT ? 127 : 126);
	}
	while (wait4(pid, status, 0, ru) < 0)
		if (errno != EINTR)
			return ferr_set(err, errno, "wait for the tool");
	return 0;
}

/* ---- helpers ---- */

int app_md5_file(const char *path, char hex[33])
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
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

/* bosh's _buildPublicFile: a file's name and md5, a directory's files. */
static json_t *public_file(const char *path, int depth)
{
	_cleanup_free_ char *trim = xstrdup(path);
	size_t L = strlen(trim);
	while (L > 1 && trim[L - 1] == '/')
		trim[--L] = '\0';
	_cleanup_free_ char *name = path_basename(trim);
	struct stat st;
	if (stat(path, &st) < 0)
		return json_pack("{s:s,s:b}", "file-name", name, "not_found", 1);
	if (S_ISDIR(st.st_mode)) {
		json_t *files = json_array();
		_cleanup_closedir_ DIR *d = depth < 32 ? opendir(path) : NULL;
		struct dirent *e;
		while (d && (e = readdir(d))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			_cleanup_free_ char *p = path_join(path, e->d_name);
			json_array_append_new(files, public_file(p, depth + 1));
		}
		return json_pack("{s:s,s:o}", "file-name", name, "files", files);
	}
	char hex[33];
	if (app_md5_file(path, hex) < 0)
		return json_pack("{s:s,s:b}", "file-name", name, "not_found", 1);
	return json_pack("{s:s,s:s}", "file-name", name, "md5sum", hex);
}

static bool input_is_file(const json_t *desc, const char *id)
{
	const char *t = json_get_str(desc_find(desc, "inputs", id), "type");
	return t && !strcmp(t, "File");
}

static json_t *public_invocation(const json_t *desc, const json_t *inv)
{
	json_t *pub = json_deep_copy(inv);
	const char *k;
	json_t *v;
	json_object_foreach(pub, k, v) {
		if (!input_is_file(desc, k))
			continue;
		if (json_is_string(v))
			json_object_set_new(pub, k, public_file(json_string_value(v), 0));
		else if (json_is_array(v)) {
			json_t *a = json_array();
			for (size_t i = 0; i < json_array_size(v); i++)
				if (json_is_string(json_array_get(v, i)))
					json_array_append_new(a, public_file(json_string_value(json_array_get(v, i)), 0));
			json_object_set_new(pub, k, a);
		}
	}
	return pub;
}

char *app_data_dir(void)
{
	const char *home = getenv("HOME");
	if (!home || !*home)
		home = "/";
	return xasprintf("%s/.cache/boutiques/data", home);
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

static int write_record(const json_t *desc, const json_t *inv, const struct app_launch_opts *opts,
			const struct app_job *job, struct app_result *res, const char *out, const char *errs,
			struct timeval *t0, struct timeval *t1, struct ferr *err)
{
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
		json_object_set_new(outfiles, k, public_file(json_string_value(v), 0));
	_cleanup_json_ json_t *rec = json_pack(
		"{s:{s:s,s:s,s:s},s:o,s:{s:s%,s:s%,s:i,s:s,s:s,s:O,s:o},s:O,s:{s:s,s:s?,s:s,s:s,s:f,s:f,s:I,s:s,s:s?}}",
		"summary", "name", json_get_str(desc, "name") ?: "", "descriptor-doi", ref, "date-time", stamp,
		"public-invocation", public_invocation(desc, inv),
		"public-output", "stdout", out, strlen(out), "stderr", errs, strlen(errs), "exit-code", res->exit_code,
		"error-message", res->error_message ? res->error_message : "", "shell-command", job->cmdline,
		"missing-files", res->missing_map, "output-files", outfiles,
		"additional-information", opts->provenance ? opts->provenance : json_null(),
		"ferry", "version", FERRY_VERSION, "image-digest", res->image_digest, "start", start, "end", end,
		"wall-time-s", res->wall_s, "cpu-time-s", res->cpu_s, "peak-memory-kib", (json_int_t)res->maxrss_kib,
		"host", host, "container-location", res->container_location);
	if (!rec)
		return ferr_set(err, 0, "provenance record: cannot encode (invalid UTF-8 in the tool's output?)");
	_cleanup_free_ char *name = dashed_name(desc);
	_cleanup_free_ char *fname = xasprintf("%s_%s.json", name, stamp);
	char *path = path_join(dir, fname);
	char *text = app_json_dumps(rec, JSON_INDENT(4) | JSON_ENSURE_ASCII); /* big integers as numbers */
	int r = text ? fs_write_atomic(path, text, strlen(text), 0644, err) : ferr_set(err, 0, "encode record");
	free(text);
	if (r < 0) {
		free(path);
		return ferr_wrap(err, "provenance record");
	}
	res->record_path = path;
	return 0;
}

/* Output files after the run: each path globbed, the first match reported;
 * required outputs without a match are "missing". */
static void check_outputs(const json_t *desc, const struct app_job *job, struct app_result *res)
{
	res->found = json_array();
	res->missing = json_array();
	res->found_map = json_object();
	res->missing_map = json_object();
	const json_t *outputs = json_object_get(desc, "output-files");
	for (size_t i = 0; i < json_array_size(outputs); i++) {
		const json_t *o = json_array_get(outputs, i);
		const char *id = json_get_str(o, "id");
		const char *path = id ? json_get_str(job->outputs, id) : NULL;
		if (!path)
			continue;
		bool optional = json_is_true(json_object_get(o, "optional"));
		glob_t g;
		memset(&g, 0, sizeof g);
		int r = glob(path, 0, NULL, &g);
		_cleanup_free_ char *line = NULL;
		if (r == 0 && g.gl_pathc > 0) {
			line = xasprintf("%s (%s, %s)", g.gl_pathv[0], id, optional ? "Optional" : "Required");
			json_array_append_new(res->found, json_string(line));
			json_object_set_new(res->found_map, id, json_string(g.gl_pathv[0]));
		} else if (!optional) {
			line = xasprintf("%s (%s, Required)", path, id);
			json_array_append_new(res->missing, json_string(line));
			json_object_set_new(res->missing_map, id, json_string(path));
		}
		globfree(&g);
	}
}

static const char *error_description(const json_t *desc, int code)
{
	const json_t *ec = json_object_get(desc, "error-codes");
	for (size_t i = 0; i < json_array_size(ec); i++) {
		const json_t *e = json_array_get(ec, i);
		const json_t *c = json_object_get(e, "code");
		if (json_is_integer(c) && json_integer_value(c) == code)
			return json_get_str(e, "description") ?: "";
	}
	return "";
}

/* Every File value must exist before anything runs: bosh only notices
 * for container runs, as a failed mount. */
static int check_file_inputs(const json_t *desc, const json_t *inv, struct ferr *err)
{
	const json_t *inputs = json_object_get(desc, "inputs");
	for (size_t i = 0; i < json_array_size(inputs); i++) {
		const json_t *in = json_array_get(inputs, i);
		const char *id = json_get_str(in, "id") ?: "";
		if (!input_is_file(desc, id))
			continue;
		const json_t *v = json_object_get(inv, id);
		size_t n = json_is_array(v) ? json_array_size(v) : v ? 1 : 0;
		for (size_t k = 0; k < n; k++) {
			const char *p = json_string_value(json_is_array(v) ? json_array_get(v, k) : v);
			struct stat st;
			if (p && stat(p, &st) < 0)
				return ferr_setc(err, FERR_NOTFOUND, errno, "input '%s': %s", id, p);
		}
	}
	return 0;
}

/* environment-variables: a value equal to an input's value-key (the whole
 * value) becomes that input's value; anything else is taken literally. */
static char **tool_env(const json_t *desc, const json_t *inv)
{
	char **env = xcalloc(1, sizeof *env);
	const json_t *ev = json_object_get(desc, "environment-variables");
	const json_t *inputs = json_object_get(desc, "inputs");
	for (size_t i = 0; i < json_array_size(ev); i++) {
		const json_t *e = json_array_get(ev, i);
		const char *name = json_get_str(e, "name"), *value = json_get_str(e, "value");
		if (!name || !value)
			continue;
		_cleanup_free_ char *val = xstrdup(value);
		for (size_t k = 0; k < json_array_size(inputs); k++) {
			const json_t *in = json_array_get(inputs, k);
			const char *vk = json_get_str(in, "value-key");
			const json_t *iv = json_object_get(inv, json_get_str(in, "id") ?: "");
			if (vk && iv && !strcmp(vk, value)) {
				free(val);
				val = app_py_str(iv);
				break;
			}
		}
		_cleanup_free_ char *kv = xasprintf("%s=%s", name, val);
		strv_push(&env, kv);
	}
	return env;
}

int app_launch(const json_t *desc, const json_t *inv, const struct app_launch_opts *opts, struct app_result *res,
	       struct ferr *err)
{
	memset(res, 0, sizeof *res);
	res->exit_code = -1;
	struct app_problems p = { 0 };
	if (app_validate_descriptor(desc, &p)) {
		ferr_setc(err, FERR_INVALID, 0, "invalid descriptor: %s%s%s", p.v[0].path, *p.v[0].path ? ": " : "",
			  p.v[0].msg + strspn(p.v[0].msg, " "));
		app_problems_free(&p);
		return ferr_hint(err, "'ferry app validate' lists every problem");
	}
	_cleanup_json_ json_t *full = app_invocation_with_defaults(desc, inv);
	if (app_validate_invocation(desc, full, &p)) {
		ferr_setc(err, FERR_INVALID, 0, "invalid invocation: %s%s%s", p.v[0].path, *p.v[0].path ? ": " : "",
			  p.v[0].msg);
		app_problems_free(&p);
		return ferr_hint(err, "'ferry app invocation' lists every problem");
	}
	if (check_file_inputs(desc, full, err) < 0)
		return -1;

	const json_t *ci = json_object_get(desc, "container-image");
	const char *ctype = json_get_str(ci, "type");
	bool container = ci && !opts->no_container;
	if (container) {
		const char *index = json_get_str(ci, "index");
		if (!ctype || (strcmp(ctype, "docker") && strcmp(ctype, "singularity")))
			return ferr_setc(err, FERR_UNSUPPORTED, 0, "container-image type '%s' is not supported yet",
					 ctype ? ctype : "?"),
			       ferr_hint(err, "use --no-container to run the command on this host");
		const char *image = json_get_str(ci, "image") ?: "";
		if (!strcmp(ctype, "singularity") && !(index && str_starts_with(index, "docker://")) &&
		    !str_starts_with(image, "docker://"))
			return ferr_setc(err, FERR_UNSUPPORTED, 0,
					 "singularity image '%s' is not supported yet: only docker:// indexes are", image),
			       ferr_hint(err, "use --no-container to run the command on this host");
	}

	if (container && json_array_size(json_object_get(ci, "container-opts")))
		log_warn("container-opts are options of docker or singularity: ferry's runtime ignores them");

	struct app_job job;
	if (app_job_build(&job, desc, full, APP_WRITE_CONFIG, err) < 0)
		return -1;

	const char *shell = json_get_str(desc, "shell") ?: "/bin/sh";
	char **argv = xcalloc(1, sizeof *argv);
	strv_push(&argv, shell);
	/* bosh's job script starts "#!/bin/sh -l" in containers: a login shell,
	 * so images that set PATH in /etc/profile work. */
	if (container && !strcmp(shell, "/bin/sh"))
		strv_push(&argv, "-l");
	strv_push(&argv, "-c");
	strv_push(&argv, job.cmdline);
	char **env = tool_env(desc, full);

	/* Output is captured only for the record: without one, the tool writes
	 * to our stdout and stderr directly (one process fewer). */
	struct tee t = { { 1, 2 }, { -1, -1 }, { -1, -1 }, false, 0 };
	if (!opts->skip_data_collection && tee_start(&t, err) < 0) {
		strv_free(argv);
		strv_free(env);
		app_job_free(&job);
		return -1;
	}

	struct timeval t0, t1;
	gettimeofday(&t0, NULL);
	int status = 0, r;
	struct rusage ru;
	memset(&ru, 0, sizeof ru);
	if (container) {
		char cwd[4096];
		if (!getcwd(cwd, sizeof cwd))
			cwd[0] = '\0';
		/* bosh's mounts: user -v first, then the working directory, then each
		 * File input at the same absolute path */
		struct app_bind *binds = xcalloc(opts->nbinds + 64, sizeof *binds);
		size_t nb = 0, cap = opts->nbinds + 64;
		for (size_t i = 0; i < opts->nbinds; i++)
			binds[nb++] = opts->binds[i];
		binds[nb++] = (struct app_bind){ cwd, cwd, false };
		char **owned = xcalloc(1, sizeof *owned);
		const json_t *inputs = json_object_get(desc, "inputs");
		for (size_t i = 0; i < json_array_size(inputs); i++) {
			const char *id = json_get_str(json_array_get(inputs, i), "id") ?: "";
			const json_t *v = json_object_get(full, id);
			if (!input_is_file(desc, id) || !v)
				continue;
			size_t n = json_is_array(v) ? json_array_size(v) : 1;
			for (size_t k = 0; k < n; k++) {
				const char *pth = json_string_value(json_is_array(v) ? json_array_get(v, k) : v);
				if (!pth)
					continue;
				/* the tool sees the path it was given: bind the file's real
				 * location at that path made absolute */
				char *real = realpath(pth, NULL);
				if (!real)
					continue;
				_cleanup_free_ char *joined = pth[0] == '/' ? xstrdup(pth) : path_join(cwd, pth);
				char *abs = path_normalize(joined);
				bool covered = path_is_inside(cwd, abs);
				for (size_t b = 0; b < opts->nbinds; b++)
					covered |= path_is_inside(opts->binds[b].cont, abs);
				strv_push(&owned, real);
				strv_push(&owned, abs);
				size_t no = strv_len(owned);
				free(real);
				free(abs);
				if (!covered) {
					if (nb == cap)
						binds = xrealloc(binds, (cap *= 2) * sizeof *binds);
					binds[nb++] = (struct app_bind){ owned[no - 2], owned[no - 1], false };
				}
			}
		}
		struct app_container_req req = {
			ctype, json_get_str(ci, "image"), json_get_str(ci, "index"), opts->no_pull, opts->insecure, argv, env, cwd,
			binds, nb, t.wr[0], t.wr[1], !opts->skip_data_collection,
		};
		r = app_container_run(&req, &status, &ru, &res->image_digest, &res->container_location, err);
		free(binds);
		strv_free(owned);
	} else
		r = run_host(argv, env, &t, &status, &ru, err);
	_cleanup_free_ char *cap_out = NULL;
	_cleanup_free_ char *cap_err = NULL;
	tee_finish(&t, &cap_out, &cap_err);
	gettimeofday(&t1, NULL);
	strv_free(argv);
	strv_free(env);
	if (r < 0) {
		app_job_free(&job);
		return -1;
	}
	res->started = true;
	if (WIFEXITED(status))
		res->exit_code = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		res->exit_code = 128 + WTERMSIG(status);
	res->wall_s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_usec - t0.tv_usec) / 1e6;
	res->cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
		     (double)ru.ru_stime.tv_usec / 1e6;
	res->maxrss_kib = ru.ru_maxrss;
	res->error_message = xstrdup(error_description(desc, res->exit_code));
	if (!res->container_location)
		res->container_location = xstrdup("");
	check_outputs(desc, &job, res);
	if (!opts->skip_data_collection) {
		struct ferr werr = FERR_INIT;
		if (write_record(desc, inv, opts, &job, res, cap_out, cap_err, &t0, &t1, &werr) < 0)
			log_warn("%s", werr.msg);
	}
	app_job_free(&job);
	return 0;
}

void app_result_free(struct app_result *res)
{
	free(res->error_message);
	json_decref(res->found);
	json_decref(res->missing);
	json_decref(res->found_map);
	json_decref(res->missing_map);
	free(res->record_path);
	free(res->container_location);
	free(res->image_digest);
	memset(res, 0, sizeof *res);
}

int app_pull_image(const json_t *desc, bool insecure, char **location, struct ferr *err)
{
	const json_t *ci = json_object_get(desc, "container-image");
	if (!ci) {
		*location = xstrdup("Descriptor does not specify a container image.");
		return 0;
	}
	const char *type = json_get_str(ci, "type") ?: "";
	if (strcmp(type, "docker") && strcmp(type, "singularity"))
		return ferr_setc(err, FERR_UNSUPPORTED, 0, "container-image type '%s' is not supported yet", type);
	char *digest = NULL;
	int r = app_container_pull(type, json_get_str(ci, "image") ?: "", json_get_str(ci, "index"), insecure, &digest,
				   location, err);
	free(digest);
	return r;
}
