/* The path API: /path/{completePath} beneath each user's tree,
 * STATE/data/<user>/. A platform path is /<user>/... or, for VIP's
 * clients, /vip/Home/...; both name the caller's tree, and nothing else
 * can be named (another user's tree is a 404). Every open below the tree
 * is openat2(RESOLVE_BENEATH): "..", absolute symlinks and symlinks that
 * climb out (planted by a tool's outputs, say) fail instead of escaping. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/inroot.h"
#include "base/json.h"
#include "base/path.h"
#include "serve/internal.h"

int beneath_open(int root, const char *rel, int flags, mode_t mode)
{
	struct open_how how = { 0 };
	how.flags = (uint64_t)(flags | O_CLOEXEC);
	how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
	const char *p = rel && *rel ? rel : ".";
	long fd = syscall(SYS_openat2, root, p, &how, sizeof how);
	if (fd < 0 && errno == ENOSYS) {
		/* Before Linux 5.6: base/inroot's walk, which confines the same
		 * way (every path resolved as if the tree were "/"). */
		struct ferr e = FERR_INIT;
		int r = inroot_open(root, p, flags | O_CLOEXEC, mode, &e);
		if (r < 0)
			errno = e.errnum ? e.errnum : EACCES;
		return r;
	}
	return (int)fd;
}

int user_tree_fd(struct srv *s, const char *user, struct ferr *err)
{
	_cleanup_free_ char *p = path_join(s->data, user);
	int fd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		if (mkdir(p, 0700) < 0 && errno != EEXIST)
			return ferr_set(err, errno, "mkdir %s", p);
		fd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
	}
	if (fd < 0)
		return ferr_set(err, errno, "open %s", p);
	return fd;
}

/* "a//b/" -> "a/b"; NULL when a component is empty after that (never). */
static char *clean_rel(const char *p)
{
	struct dstr d = DSTR_INIT;
	dstr_append(&d, "");
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (d.len)
			dstr_appendc(&d, '/');
		dstr_appendn(&d, p, n);
		p += n;
	}
	return dstr_steal(&d);
}

int platform_to_rel(const char *user, const char *p, char **rel, bool *vip)
{
	while (*p == '/')
		p++;
	size_t ul = strlen(user);
	*vip = false;
	if (!strncmp(p, "vip/Home", 8) && (!p[8] || p[8] == '/')) {
		*vip = true;
		*rel = clean_rel(p + 8);
		return 0;
	}
	if (!strncmp(p, user, ul) && (!p[ul] || p[ul] == '/')) {
		*rel = clean_rel(p + ul);
		return 0;
	}
	return -1;
}

char *rel_to_platform(const char *user, const char *rel, bool vip)
{
	const char *top = vip ? "/vip/Home" : "";
	if (!vip)
		return *rel ? xasprintf("/%s/%s", user, rel) : xasprintf("/%s", user);
	return *rel ? xasprintf("%s/%s", top, rel) : xstrdup(top);
}

static const char *mime_of(const char *name)
{
	static const char *const t[][2] = {
		{ ".txt", "text/plain" },	 { ".json", "application/json" }, { ".csv", "text/csv" },
		{ ".tsv", "text/tab-separated-values" }, { ".html", "text/html" }, { ".gz", "application/gzip" },
		{ ".tar", "application/x-tar" }, { ".zip", "application/zip" },	 { ".png", "image/png" },
		{ ".jpg", "image/jpeg" },	 { ".pdf", "application/pdf" },	 { ".xml", "application/xml" },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		if (str_ends_with(name, t[i][0]))
			return t[i][1];
	return "application/octet-stream";
}

/* Bytes of the regular files below dirfd (a directory's CARMIN size). */
static int64_t tree_size(int dirfd, int depth)
{
	if (depth > 64)
		return 0;
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return 0;
	}
	int64_t sum = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		struct stat st;
		if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISREG(st.st_mode))
			sum += st.st_size;
		else if (S_ISDIR(st.st_mode)) {
			int sub = openat(fd, e->d_name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0) {
				sum += tree_size(sub, depth + 1);
				close(sub);
			}
		}
	}
	closedir(d);
	return sum;
}

json_t *path_json(const char *platform, int dirfd, const char *name, const char *exec_id)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW | (*name ? 0 : AT_EMPTY_PATH)) < 0)
		return NULL;
	bool dir = S_ISDIR(st.st_mode);
	int64_t size = st.st_size;
	if (dir) {
		int sub = *name ? openat(dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : dup(dirfd);
		size = sub >= 0 ? tree_size(sub, 0) : 0;
		if (sub >= 0)
			close(sub);
	}
	/* "path" and "exists" are VIP's (its clients read results by "path");
	 * the rest is CARMIN's Path. */
	json_t *j = json_pack("{s:s, s:s, s:I, s:b, s:I, s:b}", "platformPath", platform, "path", platform,
			      "lastModificationDate", (json_int_t)st.st_mtime, "isDirectory", dir, "size",
			      (json_int_t)size, "exists", 1);
	if (!dir)
		json_object_set_new(j, "mimeType", json_string(mime_of(platform)));
	if (exec_id)
		json_object_set_new(j, "executionId", json_string(exec_id));
	return j;
}

/* An errno of a failed open beneath the tree, as the answer. */
static void reply_open_error(struct req *r, int e, const char *platform)
{
	if (e == EXDEV || e == ELOOP)
		return reply_error(r, 403, SC_ESCAPE, "%s: the path leads outside your tree", platform);
	if (e == ENOENT || e == ENOTDIR)
		return reply_error(r, 404, SC_NO_PATH, "%s: no such path", platform);
	if (e == EACCES || e == EPERM)
		return reply_error(r, 403, SC_ESCAPE, "%s: permission denied", platform);
	reply_error(r, 500, SC_INTERNAL, "%s: %s", platform, strerror(e));
}

static void do_list(struct req *r, int fd, const char *platform)
{
	int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return errno == ENOTDIR ? reply_error(r, 400, SC_NOT_DIR, "%s: not a directory", platform)
					: reply_open_error(r, errno, platform);
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return reply_open_error(r, errno, platform);
	}
	char **names = fs_dir_names(d, NULL);
	json_t *a = json_array();
	for (size_t i = 0; names[i]; i++) {
		_cleanup_free_ char *pp = xasprintf("%s/%s", platform, names[i]);
		json_t *j = path_json(pp, dfd, names[i], NULL);
		if (j)
			json_array_append_new(a, j);
	}
	strv_free(names);
	closedir(d);
	reply_json(r, 200, a);
}

static void do_md5(struct req *r, int fd, const char *platform)
{
	int f = openat(fd, ".", O_RDONLY | O_CLOEXEC);
	if (f < 0 && errno == EISDIR)
		return reply_error(r, 400, SC_IS_DIR, "%s: md5 of a directory", platform);
	/* fd is O_PATH: reopen the file itself through /proc would be a magic
	 * link; fd came from beneath_open on the same path, so reopen it. */
	if (f < 0) {
		char pp[64];
		snprintf(pp, sizeof pp, "/proc/self/fd/%d", fd);
		f = open(pp, O_RDONLY | O_CLOEXEC);
	}
	if (f < 0)
		return reply_open_error(r, errno, platform);
	struct stat st;
	if (fstat(f, &st) < 0 || S_ISDIR(st.st_mode)) {
		close(f);
		return reply_error(r, 400, SC_IS_DIR, "%s: md5 of a directory", platform);
	}
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
	char buf[1 << 16];
	ssize_t n;
	while ((n = read(f, buf, sizeof buf)) > 0)
		EVP_DigestUpdate(ctx, buf, (size_t)n);
	int e = n < 0 ? errno : 0;
	close(f);
	unsigned char h[16];
	unsigned int hl = 0;
	EVP_DigestFinal_ex(ctx, h, &hl);
	EVP_MD_CTX_free(ctx);
	if (e)
		return reply_error(r, 500, SC_INTERNAL, "%s: read: %s", platform, strerror(e));
	char hex[33];
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	reply_json(r, 200, json_pack("{s:s}", "md5", hex));
}

static void do_content(struct req *r, int root, const char *rel, const char *platform)
{
	int f = beneath_open(root, rel, O_RDONLY, 0);
	if (f < 0 && errno != EISDIR)
		return reply_open_error(r, errno, platform);
	struct stat st;
	if (f >= 0 && fstat(f, &st) < 0) {
		close(f);
		return reply_open_error(r, errno, platform);
	}
	_cleanup_free_ char *base = path_basename(*rel ? rel : platform);
	if (f >= 0 && !S_ISDIR(st.st_mode)) {
		if (!S_ISREG(st.st_mode)) {
			close(f);
			return reply_error(r, 400, SC_BAD_VALUE, "%s: not a regular file", platform);
		}
		/* Always a download: a user's HTML served as text/html on the
		 * portal's origin could read the portal's key. */
		reply_add_header(r, "Content-Security-Policy", "sandbox");
		return reply_fd(r, f, (uint64_t)st.st_size, "application/octet-stream", base);
	}
	if (f < 0)
		f = beneath_open(root, rel, O_RDONLY | O_DIRECTORY, 0);
	if (f < 0)
		return reply_open_error(r, errno, platform);
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		close(f);
		return reply_error(r, 500, SC_INTERNAL, "pipe: %s", strerror(errno));
	}
	struct ferr err = FERR_INIT;
	if (archive_dir_stream(f, p[1], &err) < 0) { /* takes f and p[1] */
		close(p[0]);
		return reply_error(r, 500, SC_INTERNAL, "%s: %s", platform, err.msg);
	}
	_cleanup_free_ char *name = xasprintf("%s.tar.gz", base);
	reply_pipe(r, p[0], "application/gzip", name);
}

/* Split rel into its parent (opened beneath the tree) and last name. */
static int open_parent(struct req *r, int root, const char *rel, const char *platform, char **leaf)
{
	const char *slash = strrchr(rel, '/');
	_cleanup_free_ char *parent = slash ? xstrndup(rel, (size_t)(slash - rel)) : xstrdup("");
	const char *name = slash ? slash + 1 : rel;
	if (!*name || !strcmp(name, ".") || !strcmp(name, "..")) {
		reply_error(r, 400, SC_BAD_VALUE, "%s: the last component must be a name", platform);
		return -1;
	}
	int fd = beneath_open(root, parent, O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			reply_error(r, 404, SC_NO_PARENT, "%s: the parent directory does not exist", platform);
		else
			reply_open_error(r, errno, platform);
		return -1;
	}
	*leaf = xstrdup(name);
	return fd;
}

static void do_delete(struct req *r, int root, const char *rel, const char *platform)
{
	if (!*rel)
		return reply_error(r, 403, SC_ESCAPE, "%s: the root of your tree cannot be deleted", platform);
	_cleanup_free_ char *leaf = NULL;
	_cleanup_close_ int dir = open_parent(r, root, rel, platform, &leaf);
	if (dir < 0)
		return;
	struct stat st;
	if (fstatat(dir, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return reply_open_error(r, errno, platform);
	struct ferr err = FERR_INIT;
	if (fs_rm_rf_at(dir, leaf, &err) < 0)
		return reply_error(r, 500, SC_INTERNAL, "%s: %s", platform, err.msg);
	reply_empty(r, 204);
}

void route_path(struct req *r, const char *p)
{
	_cleanup_free_ char *rel = NULL;
	bool vip = false;
	const char *action = req_query(r, "action");
	bool get = !strcmp(r->method, "GET");
	if (get && !action)
		return reply_error(r, 400, SC_BAD_ACTION, "getPath needs ?action=content|exists|properties|list|md5");
	bool exists = get && !strcmp(action, "exists");
	if (platform_to_rel(r->user, p, &rel, &vip) < 0) {
		/* "exists" never errors; another user's tree does not exist */
		if (exists)
			return reply_json(r, 200, json_pack("{s:b}", "exists", 0));
		return reply_error(r, 404, SC_NO_PATH, "%s: no such path", *p ? p : "/");
	}
	_cleanup_free_ char *platform = rel_to_platform(r->user, rel, vip);
	struct ferr err = FERR_INIT;
	_cleanup_close_ int root = user_tree_fd(r->s, r->user, &err);
	if (root < 0)
		return reply_error(r, 500, SC_INTERNAL, "%s", err.msg);
	if (!strcmp(r->method, "DELETE"))
		return do_delete(r, root, rel, platform);
	if (!get)
		return reply_error(r, 405, SC_METHOD, "%s on /path: use GET, PUT or DELETE", r->method);
	_cleanup_close_ int fd = beneath_open(root, rel, O_PATH, 0);
	if (exists)
		return reply_json(r, 200, json_pack("{s:b}", "exists", fd >= 0));
	if (fd < 0)
		return reply_open_error(r, errno, platform);
	if (!strcmp(action, "properties")) {
		json_t *j = path_json(platform, fd, "", NULL);
		return j ? reply_json(r, 200, j) : reply_open_error(r, errno, platform);
	}
	if (!strcmp(action, "list"))
		return do_list(r, fd, platform);
	if (!strcmp(action, "md5"))
		return do_md5(r, fd, platform);
	if (!strcmp(action, "content"))
		return do_content(r, root, rel, platform);
	reply_error(r, 400, SC_BAD_ACTION, "unknown action '%s' (content, exists, properties, list, md5)", action);
}

/* ---- PUT ---- */

static void reply_created(struct req *r, int dir, const char *leaf)
{
	_cleanup_free_ char *base = req_base_url(r);
	struct dstr loc = DSTR_INIT;
	dstr_printf(&loc, "%s/path", base);
	for (const unsigned char *c = (const unsigned char *)r->up_platform; *c; c++) {
		if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
		    strchr("/-._~", *c))
			dstr_appendc(&loc, (char)*c);
		else
			dstr_printf(&loc, "%%%02X", *c);
	}
	reply_add_header(r, "Location", loc.buf);
	dstr_free(&loc);
	json_t *j = path_json(r->up_platform, dir, leaf, NULL);
	reply_json(r, 201, j ? j : json_object());
}

static int tmp_name(char out[40])
{
	unsigned char b[8];
	if (getrandom(b, sizeof b, 0) != sizeof b)
		return -1;
	snprintf(out, 40, ".ferry-upload-%02x%02x%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5], b[6],
		 b[7]);
	return 0;
}

/* An unnamed file in dir (O_TMPFILE): killed mid-upload, nothing of it
 * is ever visible. Where the file system refuses O_TMPFILE, a hidden
 * name that is removed when the request ends, however it ends. */
static int open_upload(struct req *r)
{
	r->up_fd = openat(r->up_dir, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
	if (r->up_fd >= 0)
		return 0;
	char name[40];
	if (tmp_name(name) < 0)
		return -1;
	r->up_fd = openat(r->up_dir, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (r->up_fd < 0)
		return -1;
	r->up_tmpname = xstrdup(name);
	return 0;
}

/* Give the finished upload its name (replacing a file of that name). */
static int publish_upload(struct req *r)
{
	char name[40];
	if (r->up_tmpname) {
		if (renameat(r->up_dir, r->up_tmpname, r->up_dir, r->up_leaf) < 0)
			return -1;
		free(r->up_tmpname);
		r->up_tmpname = NULL;
		return 0;
	}
	char proc[64];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", r->up_fd);
	if (linkat(AT_FDCWD, proc, r->up_dir, r->up_leaf, AT_SYMLINK_FOLLOW) == 0)
		return 0;
	if (errno != EEXIST || tmp_name(name) < 0)
		return -1;
	if (linkat(AT_FDCWD, proc, r->up_dir, name, AT_SYMLINK_FOLLOW) < 0)
		return -1;
	if (renameat(r->up_dir, name, r->up_dir, r->up_leaf) < 0) {
		int e = errno;
		unlinkat(r->up_dir, name, 0);
		errno = e;
		return -1;
	}
	return 0;
}

/* 512 KiB: 20 uploads at once hold 10 MiB */
#define UPLOAD_BUF (512u << 10)

static int upload_flush(struct req *r)
{
	if (r->up_len && !r->up_errno && r->up_fd >= 0 && fs_write_all(r->up_fd, r->up_buf, r->up_len) < 0)
		r->up_errno = errno;
	r->up_len = 0;
	return r->up_errno ? -1 : 0;
}

void upload_feed(struct req *r, const char *data, size_t n)
{
	if (r->too_big || r->up_errno || r->up_fd < 0)
		return;
	if (r->s->o.max_upload && r->received > r->s->o.max_upload) {
		r->too_big = true;
		close(r->up_fd); /* an O_TMPFILE file vanishes with its last fd */
		r->up_fd = -1;
		if (r->up_tmpname) {
			unlinkat(r->up_dir, r->up_tmpname, 0);
			free(r->up_tmpname);
			r->up_tmpname = NULL;
		}
		return;
	}
	/* libmicrohttpd hands the body over in pieces of its read buffer
	 * (tens of KiB): they are gathered into writes of UPLOAD_BUF */
	if (!r->up_buf)
		r->up_buf = xmalloc(UPLOAD_BUF);
	while (n) {
		size_t k = UPLOAD_BUF - r->up_len < n ? UPLOAD_BUF - r->up_len : n;
		memcpy(r->up_buf + r->up_len, data, k);
		r->up_len += k;
		data += k;
		n -= k;
		if (r->up_len == UPLOAD_BUF && upload_flush(r) < 0)
			return;
	}
}

static void finish_raw(struct req *r)
{
	if (r->too_big)
		return reply_error(r, 413, SC_TOO_LARGE, "%s: the upload is over --max-upload (%llu bytes)",
				   r->up_platform, (unsigned long long)r->s->o.max_upload);
	upload_flush(r);
	if (r->up_errno)
		return reply_error(r, 500, SC_INTERNAL, "%s: write: %s", r->up_platform, strerror(r->up_errno));
	if (publish_upload(r) < 0)
		return errno == EISDIR ? reply_error(r, 409, SC_IS_DIR, "%s is a directory", r->up_platform)
				       : reply_error(r, 500, SC_INTERNAL, "%s: %s", r->up_platform, strerror(errno));
	reply_created(r, r->up_dir, r->up_leaf);
}

static unsigned char *b64_decode(const char *s, size_t *len)
{
	struct dstr clean = DSTR_INIT;
	for (const char *p = s; *p; p++)
		if (*p != '\n' && *p != '\r' && *p != ' ' && *p != '\t')
			dstr_appendc(&clean, *p);
	if (!clean.len || clean.len % 4) {
		dstr_free(&clean);
		return NULL;
	}
	unsigned char *out = xmalloc(clean.len / 4 * 3 + 1);
	int n = EVP_DecodeBlock(out, (const unsigned char *)clean.buf, (int)clean.len);
	if (n < 0) {
		free(out);
		dstr_free(&clean);
		return NULL;
	}
	size_t pad = clean.buf[clean.len - 1] == '=' ? (clean.buf[clean.len - 2] == '=' ? 2 : 1) : 0;
	*len = (size_t)n - pad;
	dstr_free(&clean);
	return out;
}

static void finish_carmin(struct req *r)
{
	_cleanup_json_ json_t *j = req_json_body(r);
	if (!j)
		return;
	const char *b64 = json_get_str(j, "base64Content"), *type = json_get_str(j, "type");
	if (!b64 || !type || (strcmp(type, "File") && strcmp(type, "Archive")))
		return reply_error(r, 400, SC_BAD_UPLOAD,
				   "UploadData needs base64Content (string) and type (\"File\" or \"Archive\")");
	size_t n = 0;
	_cleanup_free_ unsigned char *data = b64_decode(b64, &n);
	if (!data)
		return reply_error(r, 400, SC_BAD_UPLOAD, "%s: base64Content is not base64", r->up_platform);
	if (r->s->o.max_upload && n > r->s->o.max_upload)
		return reply_error(r, 413, SC_TOO_LARGE, "%s: the upload is over --max-upload", r->up_platform);
	const char *md5 = json_get_str(j, "md5");
	if (md5) {
		unsigned char h[16];
		unsigned hl = 0;
		char hex[33];
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();
		EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
		EVP_DigestUpdate(ctx, data, n);
		EVP_DigestFinal_ex(ctx, h, &hl);
		EVP_MD_CTX_free(ctx);
		for (int i = 0; i < 16; i++)
			snprintf(hex + 2 * i, 3, "%02x", h[i]);
		if (strcasecmp(hex, md5))
			return reply_error(r, 400, SC_BAD_UPLOAD, "%s: md5 %s does not match the content (%s)",
					   r->up_platform, md5, hex);
	}
	if (!strcmp(type, "File")) {
		if (open_upload(r) < 0)
			return reply_error(r, 500, SC_INTERNAL, "%s: %s", r->up_platform, strerror(errno));
		if (fs_write_all(r->up_fd, data, n) < 0)
			return reply_error(r, 500, SC_INTERNAL, "%s: write: %s", r->up_platform, strerror(errno));
		return finish_raw(r);
	}
	/* Archive: a new directory at the path, the archive extracted in it. */
	if (mkdirat(r->up_dir, r->up_leaf, 0755) < 0)
		return errno == EEXIST ? reply_error(r, 409, SC_EXISTS, "%s exists already", r->up_platform)
				       : reply_error(r, 500, SC_INTERNAL, "%s: %s", r->up_platform, strerror(errno));
	int d = openat(r->up_dir, r->up_leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct ferr err = FERR_INIT;
	if (d < 0 || archive_extract_mem(d, data, n, &err) < 0) {
		if (d >= 0)
			close(d);
		struct ferr e2 = FERR_INIT;
		fs_rm_rf_at(r->up_dir, r->up_leaf, &e2);
		return reply_error(r, 400, SC_BAD_UPLOAD, "%s: %s", r->up_platform, err.msg[0] ? err.msg : "extract");
	}
	close(d);
	reply_created(r, r->up_dir, r->up_leaf);
}

void route_path_begin(struct req *r, const char *p)
{
	_cleanup_free_ char *rel = NULL;
	bool vip = false;
	if (platform_to_rel(r->user, p, &rel, &vip) < 0)
		return reply_error(r, 404, SC_NO_PATH, "%s: no such directory", *p ? p : "/");
	r->up_platform = rel_to_platform(r->user, rel, vip);
	r->up_vip = vip;
	if (!*rel)
		return reply_error(r, 409, SC_EXISTS, "%s exists already", r->up_platform);
	struct ferr err = FERR_INIT;
	_cleanup_close_ int root = user_tree_fd(r->s, r->user, &err);
	if (root < 0)
		return reply_error(r, 500, SC_INTERNAL, "%s", err.msg);
	r->up_dir = open_parent(r, root, rel, r->up_platform, &r->up_leaf);
	if (r->up_dir < 0)
		return;
	const char *ctype = req_header(r, "Content-Type");
	const char *cl = req_header(r, "Content-Length");
	const char *te = req_header(r, "Transfer-Encoding");
	unsigned long long len = cl ? strtoull(cl, NULL, 10) : 0;
	if (ctype && !strncasecmp(ctype, "application/carmin+json", 23)) {
		r->body = BODY_MEM;
		r->mem_max = r->s->o.max_upload ? (size_t)(r->s->o.max_upload / 3 * 4 + 8192) : (size_t)1 << 31;
		if (cl && len > r->mem_max)
			return reply_error(r, 413, SC_TOO_LARGE, "%s: the upload is over --max-upload", r->up_platform);
		r->finish = finish_carmin;
		return;
	}
	if (!ctype && (!cl || len == 0) && !te) {
		/* no body: a directory */
		if (mkdirat(r->up_dir, r->up_leaf, 0755) < 0)
			return errno == EEXIST ? reply_error(r, 409, SC_EXISTS, "%s exists already", r->up_platform)
					       : reply_open_error(r, errno, r->up_platform);
		return reply_created(r, r->up_dir, r->up_leaf);
	}
	if (r->s->o.max_upload && cl && len > r->s->o.max_upload)
		return reply_error(r, 413, SC_TOO_LARGE, "%s: %llu bytes is over --max-upload (%llu bytes)",
				   r->up_platform, len, (unsigned long long)r->s->o.max_upload);
	struct stat st;
	if (fstatat(r->up_dir, r->up_leaf, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
		return reply_error(r, 409, SC_IS_DIR, "%s is a directory", r->up_platform);
	if (open_upload(r) < 0)
		return reply_error(r, 500, SC_INTERNAL, "%s: %s", r->up_platform, strerror(errno));
	r->body = BODY_FILE;
	r->finish = finish_raw;
}
