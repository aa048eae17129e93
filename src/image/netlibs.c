#define NETLIBS_IMPL 1
#include "image/netlibs.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#define NETLIBS_DEFINE(f) __typeof__(f) *netlibs_##f;
NETLIBS_FUNCS(NETLIBS_DEFINE)
#undef NETLIBS_DEFINE

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char failure[512]; /* empty when loaded */
static const char *failure_hint;

static int str_starts_with_curl(const char *name)
{
	return name[0] == 'c';
}

static void *open_lib(const char *soname, const char *package)
{
	void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (!h && !failure[0]) {
		snprintf(failure, sizeof failure, "cannot load %s: %s", soname, dlerror());
		failure_hint = package;
	}
	return h;
}

static void load(void)
{
	/* The sonames Debian 12 ships (libcurl4, libarchive13); the -dev
	 * packages the build uses pin the same ABI. */
	void *curl = open_lib("libcurl.so.4", "apt-get install libcurl4");
	void *arch = open_lib("libarchive.so.13", "apt-get install libarchive13");
	if (!curl || !arch)
		return;
#define NETLIBS_RESOLVE(f)                                                                                    \
	if (!failure[0]) {                                                                                    \
		*(void **)&netlibs_##f = dlsym(str_starts_with_curl(#f) ? curl : arch, #f);                   \
		if (!netlibs_##f) {                                                                           \
			snprintf(failure, sizeof failure, "symbol %s missing from its library", #f);          \
			failure_hint = "reinstall libcurl4 and libarchive13";                                 \
		}                                                                                             \
	}
	NETLIBS_FUNCS(NETLIBS_RESOLVE)
#undef NETLIBS_RESOLVE
	if (!failure[0] && netlibs_curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		snprintf(failure, sizeof failure, "curl_global_init failed");
}

int netlibs_load(struct ferr *err)
{
	pthread_once(&once, load);
	if (failure[0]) {
		ferr_set(err, 0, "%s", failure);
		if (failure_hint)
			ferr_hint(err, "%s", failure_hint);
		return -1;
	}
	return 0;
}
