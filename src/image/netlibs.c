#define NETLIBS_IMPL 1
#include "image/netlibs.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

#define NETLIBS_DEFINE(f) __typeof__(f) *netlibs_##f;
NETLIBS_FUNCS(NETLIBS_DEFINE)
#undef NETLIBS_DEFINE

/* Two libraries, each loaded the first time it is needed: a warm pull
 * (one manifest HEAD) needs libcurl only, and libarchive drags in libxml2,
 * ICU and libstdc++ (~10 ms of mapping and relocation at every start). */
struct netlib {
	pthread_once_t once;
	char failure[512]; /* empty when loaded */
	const char *hint;
};
static struct netlib curl_lib = { PTHREAD_ONCE_INIT, "", NULL }, arch_lib = { PTHREAD_ONCE_INIT, "", NULL };

static int is_curl_name(const char *name)
{
	return name[0] == 'c';
}

static void *open_lib(struct netlib *l, const char *soname, const char *package)
{
	void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(l->failure, sizeof l->failure, "cannot load %s: %s", soname, dlerror());
		l->hint = package;
	}
	return h;
}

/* The sonames Debian 12 ships (libcurl4, libarchive13); the -dev packages
 * the build uses pin the same ABI. */
static void resolve(struct netlib *l, bool want_curl, const char *soname, const char *package)
{
	void *h = open_lib(l, soname, package);
	if (!h)
		return;
#define NETLIBS_RESOLVE(f)                                                                                    \
	if (!l->failure[0] && is_curl_name(#f) == want_curl) {                                               \
		*(void **)&netlibs_##f = dlsym(h, #f);                                                        \
		if (!netlibs_##f) {                                                                           \
			snprintf(l->failure, sizeof l->failure, "symbol %s missing from %s", #f, soname);     \
			l->hint = package;                                                                    \
		}                                                                                             \
	}
	NETLIBS_FUNCS(NETLIBS_RESOLVE)
#undef NETLIBS_RESOLVE
}

static void load_curl(void)
{
	resolve(&curl_lib, true, "libcurl.so.4", "apt-get install libcurl4");
	if (!curl_lib.failure[0] && netlibs_curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		snprintf(curl_lib.failure, sizeof curl_lib.failure, "curl_global_init failed");
}

static void load_archive(void)
{
	resolve(&arch_lib, false, "libarchive.so.13", "apt-get install libarchive13");
}

static int check(struct netlib *l, void (*fn)(void), struct ferr *err)
{
	pthread_once(&l->once, fn);
	if (l->failure[0]) {
		ferr_set(err, 0, "%s", l->failure);
		if (l->hint)
			ferr_hint(err, "%s", l->hint);
		return -1;
	}
	return 0;
}

int netlibs_load_curl(struct ferr *err)
{
	return check(&curl_lib, load_curl, err);
}

int netlibs_load_archive(struct ferr *err)
{
	return check(&arch_lib, load_archive, err);
}

int netlibs_load(struct ferr *err)
{
	return netlibs_load_curl(err) < 0 ? -1 : netlibs_load_archive(err);
}
