/* Image sources behind one interface: a registry, or a local OCI layout
 * (oci:), an OCI layout in a tar (oci-archive:), or `docker save` output
 * (docker-archive:), whose manifest.json is turned into a schema 2 manifest. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/inroot.h"
#include "base/json.h"
#include "base/path.h"
#include "base/sha256.h"
#include "base/str.h"
#include "image/image.h"
#include "image/internal.h"

struct blob_file {
	char *digest;
	int fd; /* opened inside the archive, see member_open() */
};

struct image_source {
	struct image_ref ref;
	struct registry *reg;
	char *dir;    /* OCI layout directory */
	char *tmpdir; /* unpacked archive, removed on close */
	int tmpfd;    /* tmpdir, open: archive members are resolved inside it */
	/* docker-archive: a synthesized manifest and where each blob lives */
	char *synth;
	char synth_digest[7 + SHA256_HEX_LEN + 1];
	struct blob_file *files;
	size_t n_files;
};

static int unpack_archive(struct image_source *s, const char *file, struct ferr *err)
{
	_cleanup_close_ int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ferr_setc(err, errno == ENOENT ? FERR_NOTFOUND : FERR_GENERIC, errno, "open %s", file);
	const char *t = getenv("TMPDIR");
	_cleanup_free_ char *tmpl = xasprintf("%s/ferry-import-XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(tmpl))
		return ferr_set(err, errno, "mkdtemp %s", tmpl);
	s->tmpdir = steal_ptr(&tmpl);
	s->tmpfd = open(s->tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->tmpfd < 0)
		return ferr_set(err, errno, "open %s", s->tmpdir);
	/* The same hardened extraction as layers: an archive cannot write outside. */
	if (layer_extract(fd, NULL, s->tmpfd, -1, NULL, err) < 0)
		return ferr_wrap(err, "unpack %s", file);
	return 0;
}

/* Open the member REL of an unpacked archive for reading, by name inside
 * the archive only: links are followed within it (docker save writes
 * layer.tar links to blobs/), and a link that leads out of it (absolute, or
 * climbing above its top) is refused rather than followed to a host file. */
static int member_open(const struct image_source *s, const char *rel, struct ferr *err)
{
	_cleanup_free_ char *norm = path_normalize(rel);
	if (str_starts_with(norm, "../") || !strcmp(norm, "..") || norm[0] == '/' || !norm[0] || !strcmp(norm, "."))
		return ferr_setc(err, FERR_INVALID, 0, "%s: member %s is outside the archive", s->ref.repo, rel);
	_cleanup_free_ char *cur = xstrdup(norm);
	for (int hops = 0; hops < 40; hops++) {
		_cleanup_free_ char *leaf = NULL;
		_cleanup_close_ int pfd = inroot_open_parent(s->tmpfd, cur, &leaf, err);
		if (pfd < 0)
			return ferr_wrap(err, "%s: member %s", s->ref.repo, rel);
		char target[4096];
		ssize_t n = readlinkat(pfd, leaf, target, sizeof target - 1);
		if (n < 0)
			break; /* not a link (or not there: the open below says) */
		target[n] = '\0';
		_cleanup_free_ char *dir = path_dirname(cur);
		_cleanup_free_ char *joined = target[0] == '/' ? NULL : xasprintf("%s/%s", dir, target);
		_cleanup_free_ char *next = joined ? path_normalize(joined) : NULL;
		if (!next || str_starts_with(next, "../") || !strcmp(next, "..")) {
			ferr_setc(err, FERR_INVALID, 0, "%s: member %s is a link that leaves the archive (to %.200s)", s->ref.repo,
				rel, target);
			return ferr_hint(err, "the archive is not a plain docker save / OCI archive; refusing to read host files");
		}
		free(cur);
		cur = steal_ptr(&next);
	}
	int fd = inroot_open(s->tmpfd, cur, O_RDONLY | O_NOFOLLOW, 0, err);
	if (fd < 0)
		return ferr_wrap(err, "%s: member %s", s->ref.repo, rel);
	struct stat sb;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return ferr_setc(err, FERR_INVALID, 0, "%s: member %s is not a regular file", s->ref.repo, rel);
	}
	return fd;
}

static int fd_read_all(int fd, char **data, size_t *len, struct ferr *err)
{
	struct dstr buf = DSTR_INIT;
	char chunk[65536];
	for (off_t off = 0;;) {
		ssize_t r = pread(fd, chunk, sizeof chunk, off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			dstr_free(&buf);
			return ferr_set(err, errno, "read");
		}
		if (r == 0)
			break;
		dstr_appendn(&buf, chunk, (size_t)r);
		off += r;
	}
	*len = buf.len;
	*data = buf.buf ? dstr_steal(&buf) : xstrdup("");
	return 0;
}

/* The whole of an archive member (see member_open) or, for an oci: layout
 * directory (the user's own), of the file REL under it. */
static int member_read(const struct image_source *s, const char *rel, char **data, size_t *len, struct ferr *err)
{
	if (s->tmpfd < 0) {
		_cleanup_free_ char *p = path_join(s->dir, rel);
		return fs_read_file(p, data, len, err);
	}
	_cleanup_close_ int fd = member_open(s, rel, err);
	if (fd < 0)
		return -1;
	if (fd_read_all(fd, data, len, err) < 0)
		return ferr_wrap(err, "%s: %s", s->ref.repo, rel);
	return 0;
}

static json_t *member_json(const struct image_source *s, const char *rel, struct ferr *err)
{
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	if (member_read(s, rel, &data, &len, err) < 0)
		return NULL;
	_cleanup_free_ char *what = xasprintf("%s: %s", s->ref.repo, rel);
	return json_load_buf(data, len, what, err);
}

static int blob_path_check(const char *digest, struct ferr *err)
{
	if (!sha256_digest_valid(digest))
		return ferr_setc(err, FERR_INVALID, 0, "invalid digest '%.80s'", digest);
	return 0;
}

static char *oci_blob_path(const struct image_source *s, const char *digest)
{
	return xasprintf("%s/blobs/sha256/%s", s->dir, digest + 7);
}

/* Hash an open file from its start; "sha256:<hex>" and its size. */
static int fd_digest(int fd, const char *what, char out[7 + SHA256_HEX_LEN + 1], int64_t *size, struct ferr *err)
{
	struct sha256 h;
	sha256_init(&h);
	char buf[65536];
	int64_t total = 0;
	for (;;) {
		ssize_t r = pread(fd, buf, sizeof buf, total);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			sha256_abort(&h);
			return ferr_set(err, errno, "read %s", what);
		}
		if (r == 0)
			break;
		sha256_update(&h, buf, (size_t)r);
		total += r;
	}
	char hex[SHA256_HEX_LEN + 1];
	sha256_final_hex(&h, hex);
	snprintf(out, 7 + SHA256_HEX_LEN + 1, "sha256:%s", hex);
	*size = total;
	return 0;
}

static int docker_archive_open(struct image_source *s, struct ferr *err)
{
	struct stat probe;
	if (fstatat(s->tmpfd, "manifest.json", &probe, AT_SYMLINK_NOFOLLOW) < 0)
		return ferr_setc(err, FERR_INVALID, 0, "%s: no manifest.json (not a docker save archive?)", s->ref.repo);
	_cleanup_json_ json_t *j = member_json(s, "manifest.json", err);
	if (!j)
		return -1;
	json_t *m = json_array_get(j, 0);
	const char *cfg = json_get_str(m, "Config");
	json_t *layers = json_object_get(m, "Layers");
	if (!cfg || !json_is_array(layers))
		return ferr_setc(err, FERR_INVALID, 0, "%s: manifest.json lacks Config or Layers", s->ref.repo);
	if (json_array_size(j) > 1)
		return ferr_setc(err, FERR_UNSUPPORTED, 0, "%s: archive holds %zu images; ferry imports one", s->ref.repo,
			json_array_size(j));
	size_t n = json_array_size(layers);
	s->files = xcalloc(n + 1, sizeof *s->files);
	json_t *out = json_object();
	json_object_set_new(out, "schemaVersion", json_integer(2));
	json_object_set_new(out, "mediaType", json_string(MT_DOCKER_MANIFEST));
	for (size_t i = 0; i <= n; i++) {
		const char *rel = i == 0 ? cfg : json_string_value(json_array_get(layers, i - 1));
		if (!rel) {
			json_decref(out);
			return ferr_setc(err, FERR_INVALID, 0, "%s: bad layer entry in manifest.json", s->ref.repo);
		}
		/* members by name inside the archive only (member_open) */
		int fd = member_open(s, rel, err);
		if (fd < 0) {
			json_decref(out);
			return ferr_wrap(err, "manifest.json");
		}
		char digest[7 + SHA256_HEX_LEN + 1];
		int64_t size = 0;
		s->files[s->n_files].fd = fd;
		if (fd_digest(fd, rel, digest, &size, err) < 0) {
			json_decref(out);
			close(fd);
			return ferr_wrap(err, "%s", s->ref.repo);
		}
		s->files[s->n_files].digest = xstrdup(digest);
		s->n_files++;
		json_t *d = json_object();
		json_object_set_new(d, "digest", json_string(digest));
		json_object_set_new(d, "size", json_integer(size));
		if (i == 0) {
			json_object_set_new(d, "mediaType", json_string("application/vnd.docker.container.image.v1+json"));
			json_object_set_new(out, "config", d);
			json_object_set_new(out, "layers", json_array());
		} else {
			json_object_set_new(d, "mediaType", json_string("application/vnd.docker.image.rootfs.diff.tar"));
			json_array_append_new(json_object_get(out, "layers"), d);
		}
	}
	s->synth = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(out);
	char hex[SHA256_HEX_LEN + 1];
	sha256_hex(s->synth, strlen(s->synth), hex);
	snprintf(s->synth_digest, sizeof s->synth_digest, "sha256:%s", hex);
	return 0;
}

int image_source_open(const struct image_ref *ref, const struct pull_opts *o, struct image_source **out,
	struct ferr *err)
{
	struct image_source *s = xcalloc(1, sizeof *s);
	s->tmpfd = -1;
	s->ref.transport = ref->transport;
	s->ref.registry = xstrdup(ref->registry);
	s->ref.repo = xstrdup(ref->repo);
	s->ref.tag = ref->tag ? xstrdup(ref->tag) : NULL;
	s->ref.digest = ref->digest ? xstrdup(ref->digest) : NULL;
	int rc = 0;
	switch (ref->transport) {
	case TRANSPORT_DOCKER:
		rc = registry_open(&s->reg, ref, o, err);
		break;
	case TRANSPORT_OCI:
		s->dir = xstrdup(ref->repo);
		break;
	case TRANSPORT_OCI_ARCHIVE:
		rc = unpack_archive(s, ref->repo, err);
		if (rc == 0)
			s->dir = xstrdup(s->tmpdir);
		break;
	case TRANSPORT_DOCKER_ARCHIVE:
		rc = unpack_archive(s, ref->repo, err);
		if (rc == 0)
			rc = docker_archive_open(s, err);
		break;
	}
	if (rc == 0 && s->dir) {
		_cleanup_free_ char *idx = path_join(s->dir, "index.json");
		struct stat probe;
		if (s->tmpfd >= 0 ? fstatat(s->tmpfd, "index.json", &probe, AT_SYMLINK_NOFOLLOW) < 0 : !fs_exists(idx))
			rc = ferr_setc(err, FERR_NOTFOUND, 0, "%s: not an OCI image layout (no index.json)", ref->repo);
	}
	if (rc < 0) {
		image_source_close(s);
		return -1;
	}
	*out = s;
	return 0;
}

void image_source_close(struct image_source *s)
{
	if (!s)
		return;
	registry_close(s->reg);
	if (s->tmpdir) {
		struct ferr e = FERR_INIT;
		fs_rm_rf(s->tmpdir, &e);
	}
	for (size_t i = 0; i < s->n_files; i++) {
		free(s->files[i].digest);
		close(s->files[i].fd);
	}
	if (s->tmpfd >= 0)
		close(s->tmpfd);
	free(s->files);
	free(s->synth);
	free(s->tmpdir);
	free(s->dir);
	image_ref_free(&s->ref);
	free(s);
}

static int oci_resolve(struct image_source *s, char **digest, struct ferr *err)
{
	_cleanup_free_ char *ipath = path_join(s->dir, "index.json");
	_cleanup_json_ json_t *j = member_json(s, "index.json", err);
	if (!j)
		return -1;
	json_t *ms = json_object_get(j, "manifests");
	if (!json_is_array(ms) || json_array_size(ms) == 0)
		return ferr_setc(err, FERR_INVALID, 0, "%s: index.json lists no manifests", ipath);
	const char *found = NULL;
	for (size_t i = 0; i < json_array_size(ms); i++) {
		json_t *m = json_array_get(ms, i);
		const char *name = json_get_str(json_object_get(m, "annotations"), "org.opencontainers.image.ref.name");
		if (name && s->ref.tag && !strcmp(name, s->ref.tag))
			found = json_get_str(m, "digest");
	}
	if (!found && json_array_size(ms) == 1 && s->ref.tag && !strcmp(s->ref.tag, "latest"))
		found = json_get_str(json_array_get(ms, 0), "digest");
	if (!found)
		return ferr_setc(err, FERR_NOTFOUND, 0, "%s: no image tagged '%s' in index.json", s->dir,
			s->ref.tag ? s->ref.tag : "");
	if (blob_path_check(found, err) < 0)
		return ferr_wrap(err, "%s", ipath);
	*digest = xstrdup(found);
	return 0;
}

int image_source_resolve(struct image_source *s, char **digest, struct ferr *err)
{
	if (s->ref.digest) {
		*digest = xstrdup(s->ref.digest);
		return 0;
	}
	if (s->reg)
		return registry_resolve(s->reg, s->ref.tag, digest, err);
	if (s->synth) {
		*digest = xstrdup(s->synth_digest);
		return 0;
	}
	return oci_resolve(s, digest, err);
}

/* An open fd on a local blob (an archive member or a layout's file), or -1:
 * FERR_NOTFOUND when the source does not have it. */
static int local_blob_open(struct image_source *s, const char *digest, struct ferr *err)
{
	for (size_t i = 0; i < s->n_files; i++)
		if (!strcmp(s->files[i].digest, digest)) {
			int fd = fcntl(s->files[i].fd, F_DUPFD_CLOEXEC, 0);
			return fd < 0 ? ferr_set(err, errno, "dup") : fd;
		}
	if (!s->dir)
		return ferr_setc(err, FERR_NOTFOUND, 0, "blob %s not in %s", digest, s->ref.repo);
	_cleanup_free_ char *rel = xasprintf("blobs/sha256/%s", digest + 7);
	if (s->tmpfd >= 0)
		return member_open(s, rel, err);
	_cleanup_free_ char *p = oci_blob_path(s, digest);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ferr_setc(err, errno == ENOENT ? FERR_NOTFOUND : FERR_GENERIC, errno, "blob %s: open %s", digest, p);
	return fd;
}

int image_source_manifest(struct image_source *s, const char *digest, char **body, size_t *len, char **media_type,
	struct ferr *err)
{
	if (blob_path_check(digest, err) < 0)
		return -1;
	if (s->reg)
		return registry_manifest(s->reg, digest, body, len, media_type, err);
	if (s->synth && !strcmp(digest, s->synth_digest)) {
		*body = xstrdup(s->synth);
		*len = strlen(s->synth);
		*media_type = xstrdup(MT_DOCKER_MANIFEST);
		return 0;
	}
	_cleanup_close_ int fd = local_blob_open(s, digest, err);
	if (fd < 0) {
		if (err->code == FERR_NOTFOUND)
			return ferr_setc(err, FERR_NOTFOUND, 0, "manifest %s not in %s", digest, s->ref.repo);
		return -1;
	}
	if (fd_read_all(fd, body, len, err) < 0)
		return ferr_wrap(err, "manifest %s in %s", digest, s->ref.repo);
	char hex[SHA256_HEX_LEN + 1];
	sha256_hex(*body, *len, hex);
	if (strcmp(hex, digest + 7)) {
		free(*body);
		*body = NULL;
		return ferr_setc(err, FERR_INTEGRITY, 0, "%s: manifest %s: digest mismatch (got sha256:%s)", s->ref.repo, digest, hex);
	}
	*media_type = xstrdup("");
	return 0;
}

static int copy_blob(int in, struct blob_fetch *b, struct ferr *err)
{
	if (ftruncate(b->fd, 0) < 0 || lseek(b->fd, 0, SEEK_SET) < 0)
		return ferr_set(err, errno, "blob %s: truncate", b->digest);
	struct sha256 h;
	sha256_init(&h);
	char buf[65536];
	int64_t total = 0;
	for (;;) {
		ssize_t n = pread(in, buf, sizeof buf, total);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			sha256_abort(&h);
			return ferr_set(err, errno, "blob %s: read", b->digest);
		}
		if (n == 0)
			break;
		sha256_update(&h, buf, (size_t)n);
		if (fs_write_all(b->fd, buf, (size_t)n) < 0) {
			sha256_abort(&h);
			return ferr_set(err, errno, "blob %s: write", b->digest);
		}
		total += n;
	}
	char hex[SHA256_HEX_LEN + 1];
	sha256_final_hex(&h, hex);
	if (strcmp(hex, b->digest + 7))
		return ferr_setc(err, FERR_INTEGRITY, 0, "blob %s: digest mismatch (got sha256:%s)", b->digest, hex);
	if (b->size >= 0 && total != b->size)
		return ferr_setc(err, FERR_INTEGRITY, 0, "blob %s: size %lld, manifest says %lld", b->digest, (long long)total,
			(long long)b->size);
	b->have = total;
	b->done = 1;
	return 0;
}

int image_source_blobs(struct image_source *s, struct blob_fetch *b, size_t n, struct ferr *err)
{
	for (size_t i = 0; i < n; i++)
		if (blob_path_check(b[i].digest, err) < 0)
			return -1;
	if (s->reg)
		return registry_blobs(s->reg, b, n, err);
	for (size_t i = 0; i < n; i++) {
		_cleanup_close_ int fd = local_blob_open(s, b[i].digest, err);
		if (fd < 0)
			return -1;
		if (copy_blob(fd, &b[i], &b[i].err) < 0) {
			b[i].failed = 1;
			*err = b[i].err;
			return ferr_wrap(err, "%s", s->ref.repo);
		}
	}
	return 0;
}
