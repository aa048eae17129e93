/* The generated /etc/passwd and /etc/group: the image's entries, minus
 * those that clash with the caller's, then the caller's (from the host's
 * NSS, base/users.h), written to the staging tmpfs and bound read-only over the image's. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/inroot.h"
#include "base/path.h"
#include "base/str.h"
#include "base/users.h"
#include "runtime/internal.h"

/* Read a small file of the image (e.g. /etc/passwd), or NULL. */
static char *read_image_file(struct ctx *c, const char *path)
{
	struct ferr e = FERR_INIT;
	_cleanup_close_ int fd = inroot_open(c->imgfd, path, O_RDONLY | O_CLOEXEC, 0, &e);
	if (fd < 0)
		return NULL;
	struct dstr s = DSTR_INIT;
	char buf[4096];
	ssize_t n;
	while ((n = read(fd, buf, sizeof buf)) > 0 && s.len < (1 << 20))
		dstr_appendn(&s, buf, (size_t)n);
	return dstr_steal(&s);
}

/* The image's entries, minus those that clash with ours by name or id,
 * then ours. Fields of ours come from the host's passwd (NSS). */
static char *merge_db(const char *image, const char *ours, const char *name, unsigned id)
{
	struct dstr s = DSTR_INIT;
	if (image) {
		_cleanup_free_ char *copy = xstrdup(image);
		for (char *p = copy, *line; (line = strsep(&p, "\n")) != NULL;) {
			if (!line[0])
				continue;
			char *c1 = strchr(line, ':');
			char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
			if (c1 && (size_t)(c1 - line) == strlen(name) && !strncmp(line, name, strlen(name)))
				continue;
			if (c2 && strtoul(c2 + 1, NULL, 10) == id && c2[1] >= '0' && c2[1] <= '9')
				continue;
			dstr_append(&s, line);
			dstr_appendc(&s, '\n');
		}
	}
	dstr_append(&s, ours);
	return dstr_steal(&s);
}

void prepare_passwd(struct ctx *c)
{
	unsigned uid = c->spec->fakeroot ? 0 : c->uid, gid = c->spec->fakeroot ? 0 : c->gid;
	const char *name = "root", *gecos = "root", *shell = "/bin/sh", *gname = "root";
	_cleanup_free_ char *home = xstrdup(c->home ? c->home : "/");
	char nbuf[64], gbuf[64];
	struct host_user hu = { 0 };
	if (!c->spec->fakeroot) {
		host_user_get(c->uid, c->gid, &hu);
		snprintf(nbuf, sizeof nbuf, "user%u", uid);
		snprintf(gbuf, sizeof gbuf, "group%u", gid);
		name = hu.name ? hu.name : nbuf;
		gecos = hu.name ? hu.gecos : "";
		shell = hu.name && hu.shell[0] ? hu.shell : "/bin/sh";
		gname = hu.group ? hu.group : gbuf;
	} else {
		free(home);
		home = xstrdup("/root");
	}
	const char *hin = c->spec->home_dst ? c->spec->home_dst : c->spec->home_src;
	if (hin && !c->spec->no_home) {
		free(home);
		home = xstrdup(hin);
	}
	_cleanup_free_ char *img_pw = read_image_file(c, "/etc/passwd");
	_cleanup_free_ char *img_gr = read_image_file(c, "/etc/group");
	_cleanup_free_ char *pw_line = xasprintf("%s:x:%u:%u:%s:%s:%s\n", name, uid, gid, gecos, home, shell);
	_cleanup_free_ char *gr_line = xasprintf("%s:x:%u:\n", gname, gid);
	c->passwd = merge_db(img_pw, pw_line, name, uid);
	c->group = merge_db(img_gr, gr_line, gname, gid);
	host_user_free(&hu);
}

/* Write generated passwd/group into the staging tmpfs and bind them over
 * the image's: the image is never written. */
int place_db(struct ctx *c, const char *file, const char *text, struct ferr *err)
{
	_cleanup_close_ int fd = openat(c->stagefd, file, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || fs_write_all(fd, text, strlen(text)) < 0)
		return ferr_set(err, errno, "write %s in the staging tmpfs", file);
	_cleanup_free_ char *src = path_join(c->rootfs, file);
	_cleanup_free_ char *dst = path_join("/etc", file);
	/* Read-only, so that no remount (lock_mounts) can make them writable. */
	return place_bind(c, src, dst, BIND_RO, err) < 0 ? -1 : 0;
}

