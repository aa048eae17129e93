#include "base/users.h"

#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/str.h"

/* Does nsswitch.conf (its text) name "files" first for db, on the one
 * line it has for it? (Two lines for one database: NSS decides.) */
static bool files_first(const char *conf, const char *db)
{
	size_t n = strlen(db);
	int lines = 0;
	bool files = false;
	for (const char *l = conf; l;) {
		const char *s = l + strspn(l, " \t");
		if (!strncmp(s, db, n) && s[n] == ':') {
			const char *v = s + n + 1;
			v += strspn(v, " \t");
			files = strcspn(v, " \t\n#[") == 5 && !strncmp(v, "files", 5);
			lines++;
		}
		l = strchr(l, '\n');
		l = l ? l + 1 : NULL;
	}
	return lines == 1 && files;
}

/* Field i (0-based, ':'-separated) of line [l, e), malloc'd, or NULL. */
static char *field(const char *l, const char *e, int i)
{
	for (; i > 0 && l < e; i--) {
		const char *c = memchr(l, ':', (size_t)(e - l));
		if (!c)
			return NULL;
		l = c + 1;
	}
	const char *c = memchr(l, ':', (size_t)(e - l));
	return xstrndup(l, (size_t)((c ? c : e) - l));
}

/* The first line of a files database whose third field is id, as glibc's
 * files source reads it: [*l, *e). */
static bool find_id(const char *text, unsigned long id, const char **ls, const char **le)
{
	for (const char *l = text; l && *l;) {
		const char *e = strchr(l, '\n');
		if (!e)
			e = l + strlen(l);
		_cleanup_free_ char *f = *l == '#' ? NULL : field(l, e, 2);
		char *end = NULL;
		if (f && f[0] >= '0' && f[0] <= '9' && strtoul(f, &end, 10) == id && *end == '\0') {
			*ls = l;
			*le = e;
			return true;
		}
		l = *e ? e + 1 : NULL;
	}
	return false;
}

void host_user_get_from(const char *nsswitch, const char *passwd, const char *group, uid_t uid, gid_t gid,
			struct host_user *out)
{
	memset(out, 0, sizeof *out);
	_cleanup_free_ char *conf = NULL, *pw = NULL, *gr = NULL;
	struct ferr e = FERR_INIT;
	if (fs_read_file(nsswitch, &conf, NULL, &e) < 0)
		ferr_clear(&e);
	const char *ls, *le;
	if (conf && files_first(conf, "passwd") && fs_read_file(passwd, &pw, NULL, &e) == 0 &&
	    find_id(pw, uid, &ls, &le)) {
		out->name = field(ls, le, 0);
		out->gecos = field(ls, le, 4);
		out->dir = field(ls, le, 5);
		out->shell = field(ls, le, 6);
	} else {
		ferr_clear(&e);
		struct passwd *p = getpwuid(uid);
		if (p) {
			out->name = xstrdup(p->pw_name);
			out->gecos = xstrdup(p->pw_gecos ? p->pw_gecos : "");
			out->dir = xstrdup(p->pw_dir ? p->pw_dir : "");
			out->shell = xstrdup(p->pw_shell ? p->pw_shell : "");
		}
	}
	if (out->name) { /* a short line: empty fields, as NSS gives them */
		if (!out->gecos)
			out->gecos = xstrdup("");
		if (!out->dir)
			out->dir = xstrdup("");
		if (!out->shell)
			out->shell = xstrdup("");
	}
	if (conf && files_first(conf, "group") && fs_read_file(group, &gr, NULL, &e) == 0 && find_id(gr, gid, &ls, &le)) {
		out->group = field(ls, le, 0);
	} else {
		ferr_clear(&e);
		struct group *g = getgrgid(gid);
		if (g)
			out->group = xstrdup(g->gr_name);
	}
}

void host_user_get(uid_t uid, gid_t gid, struct host_user *out)
{
	host_user_get_from("/etc/nsswitch.conf", "/etc/passwd", "/etc/group", uid, gid, out);
}

void host_user_free(struct host_user *u)
{
	free(u->name);
	free(u->gecos);
	free(u->dir);
	free(u->shell);
	free(u->group);
	memset(u, 0, sizeof *u);
}
