/* Registry credentials in docker's config.json (as docker and podman write
 * it: {"auths": {"HOST": {"auth": base64("user:password")}}}), ferry's
 * registry config (mirrors, insecure) and certs.d look-ups. */
#include <errno.h>
#include "base/libcrypto.h"
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/home.h"
#include "base/json.h"
#include "base/path.h"
#include "base/str.h"
#include "image/image.h"
#include "image/internal.h"

/* The home directory (base/home.c), or "/" where none can be found: the
 * files looked for there then simply do not exist. */
static char *home_or_root(void)
{
	struct ferr e = FERR_INIT;
	char *h = home_dir(&e);
	return h ? h : xstrdup("/");
}

char *docker_config_path(void)
{
	const char *d = getenv("DOCKER_CONFIG");
	if (d && *d)
		return path_join(d, "config.json");
	_cleanup_free_ char *home = home_or_root();
	return xasprintf("%s/.docker/config.json", home);
}

/* Docker Hub's credentials live under its v1 URL, as docker login writes them. */
static const char *const hub_keys[] = { "docker.io", "index.docker.io", "registry-1.docker.io",
	"https://index.docker.io/v1/", NULL };

static json_t *find_auth(json_t *auths, const char *host)
{
	if (!json_is_object(auths))
		return NULL;
	if (!strcmp(host, "docker.io")) {
		for (const char *const *k = hub_keys; *k; k++)
			if (json_object_get(auths, *k))
				return json_object_get(auths, *k);
		return NULL;
	}
	json_t *a = json_object_get(auths, host);
	if (a)
		return a;
	/* keys written as URLs: "https://host[:port]" */
	const char *k;
	json_t *v;
	json_object_foreach(auths, k, v) {
		const char *s = k;
		if (str_starts_with(s, "https://"))
			s += 8;
		else if (str_starts_with(s, "http://"))
			s += 7;
		size_t n = strlen(host);
		if (!strncmp(s, host, n) && (s[n] == '\0' || s[n] == '/'))
			return v;
	}
	return NULL;
}

char *auth_basic_b64(const char *user, const char *password)
{
	_cleanup_free_ char *plain = xasprintf("%s:%s", user, password);
	size_t n = strlen(plain);
	char *b64 = xmalloc(4 * ((n + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)plain, (int)n);
	explicit_bzero(plain, n);
	return b64;
}

int docker_config_get_auth(const char *host, char **user, char **password, struct ferr *err)
{
	_cleanup_free_ char *path = docker_config_path();
	if (!fs_exists(path))
		return ferr_setc(err, FERR_NOTFOUND, 0, "no credentials for %s", host);
	_cleanup_json_ json_t *j = json_load_path(path, err);
	if (!j)
		return -1;
	json_t *a = find_auth(json_object_get(j, "auths"), host);
	const char *b64 = a ? json_get_str(a, "auth") : NULL;
	if (!b64 || !*b64)
		return ferr_setc(err, FERR_NOTFOUND, 0, "no credentials for %s in %s", host, path);
	size_t n = strlen(b64);
	_cleanup_free_ unsigned char *dec = xmalloc(n + 4);
	int len = EVP_DecodeBlock(dec, (const unsigned char *)b64, (int)n);
	if (len < 0)
		return ferr_setc(err, FERR_INVALID, 0, "%s: auths.%s.auth is not base64", path, host);
	while (n > 0 && b64[n - 1] == '=') { /* EVP_DecodeBlock counts padding as zero bytes */
		len--;
		n--;
	}
	dec[len] = '\0';
	char *colon = strchr((char *)dec, ':');
	if (!colon)
		return ferr_setc(err, FERR_INVALID, 0, "%s: auths.%s.auth is not user:password", path, host);
	*colon = '\0';
	*user = xstrdup((char *)dec);
	*password = xstrdup(colon + 1);
	return 0;
}

static int write_config(const char *path, json_t *j, struct ferr *err)
{
	_cleanup_free_ char *dir = path_dirname(path);
	if (fs_mkdir_p(dir, 0700, err) < 0)
		return -1;
	char *s = json_dumps(j, JSON_INDENT(8));
	if (!s)
		return ferr_set(err, 0, "encode %s", path);
	int r = fs_write_atomic(path, s, strlen(s), 0600, err);
	free(s);
	return r;
}

int docker_config_set_auth(const char *host, const char *user, const char *password, struct ferr *err)
{
	_cleanup_free_ char *path = docker_config_path();
	_cleanup_json_ json_t *j = NULL;
	if (fs_exists(path)) {
		j = json_load_path(path, err);
		if (!j)
			return -1;
		if (!json_is_object(j))
			return ferr_setc(err, FERR_INVALID, 0, "%s: not a JSON object", path);
	} else {
		j = json_object();
	}
	json_t *auths = json_object_get(j, "auths");
	if (!json_is_object(auths)) {
		auths = json_object();
		json_object_set_new(j, "auths", auths);
	}
	_cleanup_free_ char *b64 = auth_basic_b64(user, password);
	const char *key = !strcmp(host, "docker.io") ? "https://index.docker.io/v1/" : host;
	json_t *entry = json_object_get(auths, key);
	if (!json_is_object(entry)) {
		entry = json_object();
		json_object_set_new(auths, key, entry);
	}
	json_object_set_new(entry, "auth", json_string(b64));
	return write_config(path, j, err);
}

int docker_config_remove_auth(const char *host, struct ferr *err)
{
	_cleanup_free_ char *path = docker_config_path();
	if (!fs_exists(path))
		return ferr_setc(err, FERR_NOTFOUND, 0, "not logged in to %s", host);
	_cleanup_json_ json_t *j = json_load_path(path, err);
	if (!j)
		return -1;
	json_t *auths = json_object_get(j, "auths");
	int removed = 0;
	if (json_is_object(auths)) {
		if (!strcmp(host, "docker.io")) {
			for (const char *const *k = hub_keys; *k; k++)
				removed += json_object_del(auths, *k) == 0;
		} else {
			removed += json_object_del(auths, host) == 0;
			_cleanup_free_ char *u1 = xasprintf("https://%s", host);
			_cleanup_free_ char *u2 = xasprintf("http://%s", host);
			removed += json_object_del(auths, u1) == 0;
			removed += json_object_del(auths, u2) == 0;
		}
	}
	if (!removed)
		return ferr_setc(err, FERR_NOTFOUND, 0, "not logged in to %s", host);
	return write_config(path, j, err);
}

static char *config_home(void)
{
	const char *x = getenv("XDG_CONFIG_HOME");
	if (x && *x)
		return xstrdup(x);
	_cleanup_free_ char *home = home_or_root();
	return xasprintf("%s/.config", home);
}

static void conf_merge(const char *path, const char *host, struct registry_conf *c, bool *found)
{
	if (*found || !fs_exists(path))
		return;
	struct ferr err = FERR_INIT;
	_cleanup_json_ json_t *j = json_load_path(path, &err);
	if (!j)
		return; /* a broken config should not stop pulls; ferry check reports it */
	json_t *r = json_object_get(json_object_get(j, "registries"), host);
	if (!json_is_object(r))
		return;
	*found = true;
	json_t *m = json_object_get(r, "mirrors");
	for (size_t i = 0; json_is_array(m) && i < json_array_size(m); i++)
		if (json_is_string(json_array_get(m, i)))
			strv_push(&c->mirrors, json_string_value(json_array_get(m, i)));
	c->insecure = json_is_true(json_object_get(r, "insecure"));
}

void registry_conf_get(const char *host, struct registry_conf *c)
{
	memset(c, 0, sizeof *c);
	_cleanup_free_ char *ch = config_home();
	_cleanup_free_ char *user = path_join(ch, "ferry/config.json");
	bool found = false;
	/* The user's file wins over the system's for a registry both name. */
	conf_merge(user, host, c, &found);
	conf_merge("/etc/ferry/config.json", host, c, &found);
}

void registry_conf_free(struct registry_conf *c)
{
	strv_free(c->mirrors);
	memset(c, 0, sizeof *c);
}

void registry_certs(const char *hostport, char **ca, char **cert, char **key)
{
	*ca = *cert = *key = NULL;
	_cleanup_free_ char *ch = config_home();
	_cleanup_free_ char *user = path_join(ch, "ferry/certs.d");
	const char *dirs[] = { user, "/etc/containers/certs.d", "/etc/docker/certs.d" };
	for (size_t i = 0; i < 3; i++) {
		_cleanup_free_ char *d = xasprintf("%s/%s", dirs[i], hostport);
		if (!fs_is_dir(d))
			continue;
		_cleanup_free_ char *c = path_join(d, "ca.crt");
		_cleanup_free_ char *ce = path_join(d, "client.cert");
		_cleanup_free_ char *k = path_join(d, "client.key");
		if (fs_exists(c))
			*ca = steal_ptr(&c);
		if (fs_exists(ce) && fs_exists(k)) {
			*cert = steal_ptr(&ce);
			*key = steal_ptr(&k);
		}
		return;
	}
}
