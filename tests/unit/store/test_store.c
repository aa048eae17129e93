/* The store on oci: layouts made here (libarchive's writer, real digests):
 * an empty store's contract with runtime/ and app/ (an image that is not
 * there is FERR_NOTFOUND), refs, locks, tree building (dedup, modes, a tree
 * built into another root) and gc (rm, prune). */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/fs.h"
#include "base/path.h"
#include "base/sha256.h"
#include "base/str.h"
#include "store/internal.h"
#include "store/store.h"

static char tmp[256];

struct member {
	const char *name;
	const char *data; /* NULL: a directory */
	int mode;
};

static char *put_blob(const char *layout, const void *data, size_t len)
{
	char hex[SHA256_HEX_LEN + 1];
	sha256_hex(data, len, hex);
	char *dir = xasprintf("%s/blobs/sha256", layout);
	struct ferr err = FERR_INIT;
	assert_int_equal(fs_mkdir_p(dir, 0755, &err), 0);
	char *p = xasprintf("%s/%s", dir, hex);
	assert_int_equal(fs_write_atomic(p, data, len, 0644, &err), 0);
	free(p);
	free(dir);
	return xasprintf("sha256:%s", hex);
}

/* An OCI layout at tmp/NAME with one uncompressed layer of members, tagged
 * tag; returns "oci:PATH:tag" (caller frees). */
static char *make_layout(const char *name, const char *tag, const struct member *m)
{
	char *layout = xasprintf("%s/%s", tmp, name);
	struct ferr err = FERR_INIT;
	assert_int_equal(fs_mkdir_p(layout, 0755, &err), 0);
	char *tarp = xasprintf("%s/layer.tar", tmp);
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	assert_int_equal(archive_write_open_filename(a, tarp), ARCHIVE_OK);
	for (; m->name; m++) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, m->name);
		archive_entry_set_perm(e, m->mode ? (mode_t)m->mode : m->data ? 0644 : 0755);
		archive_entry_set_filetype(e, m->data ? AE_IFREG : AE_IFDIR);
		size_t len = m->data ? strlen(m->data) : 0;
		archive_entry_set_size(e, (la_int64_t)len);
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		if (len)
			archive_write_data(a, m->data, len);
		archive_entry_free(e);
	}
	archive_write_close(a);
	archive_write_free(a);
	char *layer = NULL;
	size_t llen = 0;
	assert_int_equal(fs_read_file(tarp, &layer, &llen, &err), 0);
	char *ld = put_blob(layout, layer, llen);
	char *cfg = xasprintf("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"sh\"]},"
			      "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}", ld);
	char *cd = put_blob(layout, cfg, strlen(cfg));
	char *man = xasprintf("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
			      "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"%s\","
			      "\"size\":%zu},\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\","
			      "\"digest\":\"%s\",\"size\":%zu}]}", cd, strlen(cfg), ld, llen);
	char *md = put_blob(layout, man, strlen(man));
	char *idx = xasprintf("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
			      "\"digest\":\"%s\",\"size\":%zu,\"annotations\":{\"org.opencontainers.image.ref.name\":\"%s\"}}]}",
		md, strlen(man), tag);
	char *ip = xasprintf("%s/index.json", layout);
	assert_int_equal(fs_write_atomic(ip, idx, strlen(idx), 0644, &err), 0);
	char *ref = xasprintf("oci:%s:%s", layout, tag);
	free(ip), free(idx), free(md), free(man), free(cd), free(cfg), free(ld), free(layer), free(tarp), free(layout);
	return ref;
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmp, sizeof tmp, "%s/ferry-test-store-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(tmp));
	char *home = xasprintf("%s/store", tmp);
	setenv("FERRY_HOME", home, 1);
	free(home);
	unsetenv("FERRY_STORE_PATH");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	struct ferr err = FERR_INIT;
	fs_rm_rf(tmp, &err);
	return 0;
}

static void test_empty_store(void **state)
{
	(void)state;
	struct store *st;
	struct ferr err = FERR_INIT;
	assert_int_equal(store_open(&st, &err), 0);
	struct image_info *info = NULL;
	assert_true(store_resolve(st, "busybox", &info, &err) < 0);
	assert_int_equal(err.code, FERR_NOTFOUND);
	assert_non_null(strstr(err.msg, "docker.io/library/busybox:latest"));
	ferr_clear(&err);
	assert_true(store_resolve(st, "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", &info, &err) < 0);
	assert_int_equal(err.code, FERR_NOTFOUND);
	ferr_clear(&err);
	assert_true(store_resolve(st, "Not A Ref", &info, &err) < 0);
	assert_int_equal(err.code, FERR_USAGE);
	struct store_image *imgs;
	size_t n;
	assert_int_equal(store_list(st, &imgs, &n, &err), 0);
	assert_int_equal(n, 0);
	store_list_free(imgs, n);
	uint64_t freed = 1;
	assert_int_equal(store_prune(st, &freed, &err), 0);
	assert_int_equal(freed, 0);
	/* private: the root 0700 */
	struct stat sb;
	assert_int_equal(stat(store_home(st), &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0700);
	store_close(st);
	/* a read-only store path that does not exist is no error */
	setenv("FERRY_STORE_PATH", "/nonexistent/ferry-store", 1);
	assert_int_equal(store_open(&st, &err), 0);
	assert_true(store_resolve(st, "busybox", &info, &err) < 0);
	assert_int_equal(err.code, FERR_NOTFOUND);
	store_close(st);
	unsetenv("FERRY_STORE_PATH");
}

static const struct member img_a[] = { { "etc", NULL, 0 }, { "etc/shared", "the same in both\n", 0 },
	{ "etc/only-a", "a\n", 0 }, { "bin", NULL, 0 }, { "bin/tool", "#!/bin/sh\n", 0777 }, { NULL, NULL, 0 } };
static const struct member img_b[] = { { "etc", NULL, 0 }, { "etc/shared", "the same in both\n", 0 },
	{ "etc/only-b", "b\n", 0 }, { NULL, NULL, 0 } };

static struct store *open_at(const char *sub)
{
	char *root = xasprintf("%s/%s", tmp, sub);
	struct store *st;
	struct ferr err = FERR_INIT;
	assert_int_equal(store_open_at(&st, root, &err), 0);
	free(root);
	return st;
}

static void test_refs(void **state)
{
	(void)state;
	char *ra = make_layout("a", "v1", img_a);
	struct store *st = open_at("refs-store");
	struct ferr err = FERR_INIT;
	char *digest = NULL;
	assert_int_equal(store_pull(st, ra, NULL, &digest, &err), 0);
	assert_true(sha256_digest_valid(digest));
	/* by name, by digest, by id prefix */
	struct image_info *info = NULL;
	assert_int_equal(store_resolve(st, ra, &info, &err), 0);
	assert_string_equal(info->manifest_digest, digest);
	image_info_free(info);
	assert_int_equal(store_resolve(st, digest, &info, &err), 0);
	image_info_free(info);
	char prefix[16];
	snprintf(prefix, sizeof prefix, "%.10s", digest + 7);
	assert_int_equal(store_resolve(st, prefix, &info, &err), 0);
	image_info_free(info);
	/* the ref file holds the digest; a malformed one is no name */
	struct image_ref ref;
	assert_int_equal(image_ref_parse(ra, &ref, &err), 0);
	char *rp = store_ref_path(store_home(st), &ref, false);
	char *held = store_ref_read(rp);
	assert_string_equal(held, digest);
	free(held);
	struct store_name *names;
	size_t n;
	assert_int_equal(store_refs_scan(store_home(st), &names, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(names[0].digest, digest);
	assert_non_null(strstr(names[0].name, "oci:/"));
	store_names_free(names, n);
	assert_int_equal(fs_write_atomic(rp, "garbage\n", 8, 0644, &err), 0);
	assert_null(store_ref_read(rp));
	assert_true(store_resolve(st, ra, &info, &err) < 0);
	assert_int_equal(err.code, FERR_NOTFOUND);
	ferr_clear(&err);
	assert_int_equal(store_ref_write(store_home(st), &ref, false, digest, &err), 0);
	assert_int_equal(store_resolve(st, ra, &info, &err), 0);
	image_info_free(info);
	/* rm: the name, then (nothing else naming it) the image */
	assert_int_equal(store_rm(st, ra, &err), 0);
	assert_false(store_image_present(store_home(st), digest));
	assert_true(store_resolve(st, ra, &info, &err) < 0);
	assert_int_equal(err.code, FERR_NOTFOUND);
	image_ref_free(&ref);
	free(rp);
	free(digest);
	free(ra);
	store_close(st);
}

static void test_locks(void **state)
{
	(void)state;
	struct store *st = open_at("lock-store");
	struct ferr err = FERR_INIT;
	char *lp = xasprintf("%s/locks/x.lock", store_home(st));
	int other = open(lp, O_RDWR | O_CREAT, 0600);
	assert_true(other >= 0);
	assert_int_equal(flock(other, LOCK_EX), 0); /* another process's hold (an open file description) */
	assert_int_equal(store_lock_take(store_home(st), "x", LOCK_EX | LOCK_NB, NULL, NULL, &err), STORE_LOCK_BUSY);
	assert_int_equal(store_lock_take(store_home(st), "x", LOCK_SH | LOCK_NB, NULL, NULL, &err), STORE_LOCK_BUSY);
	assert_int_equal(flock(other, LOCK_UN), 0);
	int fd = store_lock_take(store_home(st), "x", LOCK_SH | LOCK_NB, NULL, NULL, &err);
	assert_true(fd >= 0);
	int fd2 = store_lock_take(store_home(st), "x", LOCK_SH, NULL, NULL, &err); /* shared: both */
	assert_true(fd2 >= 0);
	assert_int_equal(flock(other, LOCK_EX | LOCK_NB), -1);
	store_lock_release(fd);
	store_lock_release(fd2);
	assert_int_equal(flock(other, LOCK_EX | LOCK_NB), 0);
	close(other);
	/* a lock that cannot even be opened is an error naming it */
	char *locks = xasprintf("%s/locks", store_home(st));
	char *away = xasprintf("%s/locks-away", store_home(st));
	assert_int_equal(rename(locks, away), 0);
	assert_int_equal(store_lock_take(store_home(st), "y", LOCK_EX, NULL, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "open lock"));
	assert_int_equal(rename(away, locks), 0);
	free(locks);
	free(away);
	free(lp);
	store_close(st);
}

static ino_t ino_of(const char *root, const char *digest, const char *rel)
{
	char *p = xasprintf("%s/images/%s/rootfs/%s", root, digest + 7, rel);
	struct stat sb;
	assert_int_equal(lstat(p, &sb), 0);
	free(p);
	return sb.st_ino;
}

static void test_tree(void **state)
{
	(void)state;
	char *ra = make_layout("ta", "latest", img_a);
	char *rb = make_layout("tb", "latest", img_b);
	struct store *st = open_at("tree-store");
	struct ferr err = FERR_INIT;
	/* a files/ entry of ours whose mode is not the one its name says is
	 * not reused: the pull stores its own copy */
	char hex[SHA256_HEX_LEN + 1];
	sha256_hex("b\n", 2, hex);
	char *planted = xasprintf("%s/files/sha256/%s-0644", store_home(st), hex);
	assert_int_equal(fs_write_atomic(planted, "evil\n", 5, 0666, &err), 0);
	char *da = NULL, *db = NULL;
	const struct pull_opts keep = { .keep_layers = true };
	assert_int_equal(store_pull(st, ra, &keep, &da, &err), 0);
	assert_int_equal(store_pull(st, rb, NULL, &db, &err), 0);
	/* layers: kept when asked, else dropped once the tree is in place */
	char *mb0 = NULL;
	size_t ml0;
	struct image_manifest m0;
	assert_int_equal(store_blob_read(store_home(st), db, &mb0, &ml0, &err), 0);
	assert_int_equal(image_manifest_parse(mb0, ml0, NULL, &m0, &err), 0);
	char *lb = store_blob_path(store_home(st), m0.layers[0].digest);
	assert_false(fs_exists(lb));
	char *cbp = store_blob_path(store_home(st), m0.config.digest);
	assert_true(fs_exists(cbp));
	free(lb), free(cbp), free(mb0);
	image_manifest_free(&m0);
	/* the shared content is one inode, in both trees */
	assert_int_equal(ino_of(store_home(st), da, "etc/shared"), ino_of(store_home(st), db, "etc/shared"));
	assert_int_not_equal(ino_of(store_home(st), da, "etc/only-a"), ino_of(store_home(st), db, "etc/only-b"));
	char *p = xasprintf("%s/images/%s/rootfs/etc/only-b", store_home(st), db + 7);
	char *data = NULL;
	size_t len;
	assert_int_equal(fs_read_file(p, &data, &len, &err), 0);
	assert_string_equal(data, "b\n");
	free(data);
	free(p);
	/* modes as the layer gave them */
	p = xasprintf("%s/images/%s/rootfs/bin/tool", store_home(st), da + 7);
	struct stat sb;
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0777);
	free(p);
	/* a tree built into another root, from this store's blobs (what
	 * deploy does): same content, its own files/ */
	struct store *other = open_at("deployed");
	char *mb = NULL, *cb = NULL;
	size_t ml, cl;
	assert_int_equal(store_blob_read(store_home(st), da, &mb, &ml, &err), 0);
	struct image_manifest m;
	assert_int_equal(image_manifest_parse(mb, ml, NULL, &m, &err), 0);
	assert_int_equal(store_blob_read(store_home(st), m.config.digest, &cb, &cl, &err), 0);
	struct image_config cfg;
	assert_int_equal(image_config_parse(cb, cl, &cfg, &err), 0);
	struct store_tree t = { .name = "deployed/a", .mdigest = da, .mbody = mb, .mlen = ml, .m = &m, .cbody = cb,
		.clen = cl, .cfg = &cfg, .blobs = store_home(st) };
	assert_int_equal(store_tree_build(store_home(other), &t, &err), 0);
	assert_true(store_image_present(store_home(other), da));
	p = xasprintf("%s/images/%s/rootfs/etc/shared", store_home(other), da + 7);
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_nlink, 2); /* the tree and the other root's files/ */
	free(p);
	/* the cap on the apparent size */
	t.max_size = 4;
	struct store *third = open_at("capped");
	assert_true(store_tree_build(store_home(third), &t, &err) < 0);
	assert_non_null(strstr(err.msg, "add up to more than 4 bytes"));
	store_close(third);
	image_config_free(&cfg);
	image_manifest_free(&m);
	free(mb), free(cb), free(planted), free(da), free(db), free(ra), free(rb);
	store_close(other);
	store_close(st);
}

static void test_gc(void **state)
{
	(void)state;
	char *ra = make_layout("ga", "latest", img_a);
	char *rb = make_layout("gb", "latest", img_b);
	struct store *st = open_at("gc-store");
	struct ferr err = FERR_INIT;
	char *da = NULL, *db = NULL;
	assert_int_equal(store_pull(st, ra, NULL, &da, &err), 0);
	assert_int_equal(store_pull(st, rb, NULL, &db, &err), 0);
	struct store_image *imgs;
	size_t n;
	assert_int_equal(store_list(st, &imgs, &n, &err), 0);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++)
		assert_true(imgs[i].shared > 0 && imgs[i].size > imgs[i].shared);
	store_list_free(imgs, n);
	/* leftovers of an interrupted pull go with prune */
	char *left = xasprintf("%s/tmp/image-dead-XXXX", store_home(st));
	assert_int_equal(mkdir(left, 0755), 0);
	assert_int_equal(store_rm(st, ra, &err), 0);
	uint64_t freed = 0;
	assert_int_equal(store_prune(st, &freed, &err), 0);
	assert_true(freed > 0);
	assert_false(fs_exists(left));
	assert_false(store_image_present(store_home(st), da));
	char *ab = store_blob_path(store_home(st), da);
	assert_false(fs_exists(ab));
	assert_true(store_image_present(store_home(st), db));
	char *bb = store_blob_path(store_home(st), db);
	assert_true(fs_exists(bb));
	/* an image nothing names is prune's */
	struct image_ref ref;
	assert_int_equal(image_ref_parse(rb, &ref, &err), 0);
	assert_int_equal(store_ref_remove(store_home(st), &ref, false, &err), 0);
	assert_int_equal(store_prune(st, &freed, &err), 0);
	assert_false(store_image_present(store_home(st), db));
	char *files = xasprintf("%s/files/sha256", store_home(st));
	char *blobs = xasprintf("%s/blobs/sha256", store_home(st));
	DIR *d = opendir(files);
	int entries = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		entries += e->d_name[0] != '.';
	closedir(d);
	assert_int_equal(entries, 0);
	d = opendir(blobs);
	entries = 0;
	while ((e = readdir(d)))
		entries += e->d_name[0] != '.';
	closedir(d);
	assert_int_equal(entries, 0);
	image_ref_free(&ref);
	free(files), free(blobs), free(ab), free(bb), free(left), free(da), free(db), free(ra), free(rb);
	store_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_store),
		cmocka_unit_test(test_refs),
		cmocka_unit_test(test_locks),
		cmocka_unit_test(test_tree),
		cmocka_unit_test(test_gc),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
