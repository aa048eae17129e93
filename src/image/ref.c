/* Image references, parsed the way docker and skopeo read them. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "base/cleanup.h"
#include "base/path.h"
#include "base/sha256.h"
#include "base/str.h"
#include "image/image.h"

void image_ref_free(struct image_ref *ref)
{
	free(ref->registry);
	free(ref->repo);
	free(ref->tag);
	free(ref->digest);
	memset(ref, 0, sizeof *ref);
}

static bool valid_tag(const char *t)
{
	size_t n = strlen(t);
	if (n == 0 || n > 128 || !(isalnum((unsigned char)t[0]) || t[0] == '_'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)t[i]) && !strchr("_.-", t[i]))
			return false;
	return true;
}

/* Repository path components: [a-z0-9]+ separated by ".", "_", "__" or "-"s
 * (distribution's grammar, simplified: separators may not lead or trail). */
static bool valid_repo(const char *r)
{
	if (!*r || strlen(r) > 255)
		return false;
	const char *c = r;
	while (*c) {
		const char *e = strchr(c, '/');
		size_t n = e ? (size_t)(e - c) : strlen(c);
		if (n == 0 || !isalnum((unsigned char)c[0]) || !isalnum((unsigned char)c[n - 1]))
			return false;
		for (size_t i = 0; i < n; i++) {
			unsigned char ch = (unsigned char)c[i];
			if (!(islower(ch) || isdigit(ch) || ch == '.' || ch == '_' || ch == '-'))
				return false;
		}
		if (!e)
			break;
		c = e + 1;
		if (!*c)
			return false;
	}
	return true;
}

static bool valid_host(const char *h)
{
	/* a host name or address, never ".." or ".x": it becomes a directory name */
	if (!*h || strlen(h) > 255 || !(isalnum((unsigned char)h[0]) || h[0] == '[') || strstr(h, ".."))
		return false;
	for (const char *c = h; *c; c++)
		if (!isalnum((unsigned char)*c) && !strchr(".-:[]", *c))
			return false;
	return true;
}

static int parse_local(enum image_transport t, const char *name, const char *rest, struct image_ref *ref,
	struct ferr *err)
{
	_cleanup_free_ char *p = xstrdup(rest);
	char *tag = NULL;
	if (t != TRANSPORT_DOCKER_ARCHIVE) {
		/* oci:DIR[:tag] — a ':' after the last '/' starts the tag. */
		char *slash = strrchr(p, '/');
		char *colon = strrchr(slash ? slash : p, ':');
		if (colon) {
			*colon = '\0';
			tag = colon + 1;
		}
	}
	if (!*p)
		return ferr_setc(err, FERR_USAGE, 0, "%s: reference has no path", name);
	if (tag && !valid_tag(tag))
		return ferr_setc(err, FERR_USAGE, 0, "%s:%s: invalid tag '%s'", name, rest, tag);
	_cleanup_free_ char *abs = NULL;
	if (p[0] == '/') {
		abs = path_normalize(p);
	} else {
		char cwd[4096];
		if (!getcwd(cwd, sizeof cwd))
			return ferr_set(err, errno, "getcwd");
		_cleanup_free_ char *j = path_join(cwd, p);
		abs = path_normalize(j);
	}
	ref->transport = t;
	ref->registry = xstrdup(name);
	ref->repo = steal_ptr(&abs);
	ref->tag = xstrdup(tag ? tag : "latest");
	return 0;
}

int image_ref_parse(const char *s, struct image_ref *ref, struct ferr *err)
{
	memset(ref, 0, sizeof *ref);
	if (!s || !*s)
		return ferr_setc(err, FERR_USAGE, 0, "empty image reference");
	if (strlen(s) > 4096)
		return ferr_setc(err, FERR_USAGE, 0, "image reference too long");
	if (str_starts_with(s, "oci:"))
		return parse_local(TRANSPORT_OCI, "oci", s + 4, ref, err);
	if (str_starts_with(s, "oci-archive:"))
		return parse_local(TRANSPORT_OCI_ARCHIVE, "oci-archive", s + 12, ref, err);
	if (str_starts_with(s, "docker-archive:"))
		return parse_local(TRANSPORT_DOCKER_ARCHIVE, "docker-archive", s + 15, ref, err);

	const char *in = s;
	if (str_starts_with(in, "docker://"))
		in = s + 9;
	_cleanup_free_ char *name = xstrdup(in);
	char *at = strchr(name, '@');
	if (at) {
		*at = '\0';
		if (!sha256_digest_valid(at + 1))
			return ferr_setc(err, FERR_USAGE, 0, "%s: invalid digest '%s' (want sha256:<64 hex>)", s, at + 1);
		ref->digest = xstrdup(at + 1);
	}
	char *slash = strrchr(name, '/');
	char *colon = strrchr(slash ? slash : name, ':');
	if (colon) {
		*colon = '\0';
		if (!valid_tag(colon + 1)) {
			image_ref_free(ref);
			return ferr_setc(err, FERR_USAGE, 0, "%s: invalid tag '%s'", s, colon + 1);
		}
		ref->tag = xstrdup(colon + 1);
	}
	char *first = strchr(name, '/');
	const char *repo = name;
	if (first) {
		*first = '\0';
		if (strchr(name, '.') || strchr(name, ':') || !strcmp(name, "localhost")) {
			ref->registry = xstrdup(name);
			repo = first + 1;
		} else {
			*first = '/';
		}
	}
	if (!ref->registry || !strcmp(ref->registry, "index.docker.io") ||
		!strcmp(ref->registry, "registry-1.docker.io") || !strcmp(ref->registry, "registry.hub.docker.com")) {
		free(ref->registry);
		ref->registry = xstrdup("docker.io");
	}
	if (!valid_host(ref->registry)) {
		image_ref_free(ref);
		return ferr_setc(err, FERR_USAGE, 0, "%s: invalid registry name", s);
	}
	if (!strcmp(ref->registry, "docker.io") && !strchr(repo, '/'))
		ref->repo = xasprintf("library/%s", repo);
	else
		ref->repo = xstrdup(repo);
	if (!valid_repo(ref->repo)) {
		image_ref_free(ref);
		return ferr_setc(err, FERR_USAGE, 0, "%s: invalid repository name (lower-case letters, digits, '.', '_', '-', '/')", s);
	}
	if (!ref->tag && !ref->digest)
		ref->tag = xstrdup("latest");
	ref->transport = TRANSPORT_DOCKER;
	return 0;
}

char *image_ref_str(const struct image_ref *ref)
{
	struct dstr d = DSTR_INIT;
	if (ref->transport != TRANSPORT_DOCKER)
		dstr_printf(&d, "%s:%s", ref->registry, ref->repo);
	else
		dstr_printf(&d, "%s/%s", ref->registry, ref->repo);
	if (ref->tag)
		dstr_printf(&d, ":%s", ref->tag);
	if (ref->digest)
		dstr_printf(&d, "@%s", ref->digest);
	return dstr_steal(&d);
}

void image_platform_host(struct image_platform *p)
{
	memset(p, 0, sizeof *p);
	strcpy(p->os, "linux");
	struct utsname u;
	const char *m = uname(&u) == 0 ? u.machine : "x86_64";
	if (!strcmp(m, "x86_64"))
		strcpy(p->arch, "amd64");
	else if (!strcmp(m, "aarch64")) {
		strcpy(p->arch, "arm64");
		strcpy(p->variant, "v8");
	} else if (!strncmp(m, "armv7", 5)) {
		strcpy(p->arch, "arm");
		strcpy(p->variant, "v7");
	} else if (!strncmp(m, "armv6", 5)) {
		strcpy(p->arch, "arm");
		strcpy(p->variant, "v6");
	} else if (!strcmp(m, "i686") || !strcmp(m, "i386"))
		strcpy(p->arch, "386");
	else
		snprintf(p->arch, sizeof p->arch, "%s", m);
}

int image_platform_parse(const char *s, struct image_platform *p, struct ferr *err)
{
	memset(p, 0, sizeof *p);
	_cleanup_free_ char *c = xstrdup(s);
	char *parts[4] = { 0 };
	int n = 0;
	char *save = NULL;
	for (char *tok = strtok_r(c, "/", &save); tok && n < 4; tok = strtok_r(NULL, "/", &save))
		parts[n++] = tok;
	if (n < 2 || n > 3 || strlen(parts[0]) >= sizeof p->os || strlen(parts[1]) >= sizeof p->arch ||
		(n == 3 && strlen(parts[2]) >= sizeof p->variant))
		return ferr_setc(err, FERR_USAGE, 0, "invalid platform '%s' (want os/arch[/variant], e.g. linux/arm64)", s);
	/* Lengths checked above: these cannot truncate. */
	snprintf(p->os, sizeof p->os, "%s", parts[0]);
	snprintf(p->arch, sizeof p->arch, "%s", parts[1]);
	if (n == 3)
		snprintf(p->variant, sizeof p->variant, "%s", parts[2]);
	return 0;
}
