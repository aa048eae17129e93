#define SERVE_DL_IMPL 1
#include <openssl/evp.h>
#include "serve/dl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#define SERVE_DL_DEFINE(lib, f) __typeof__(f) *serve_dl_##f;
SERVE_DL_FUNCS(SERVE_DL_DEFINE)
#undef SERVE_DL_DEFINE

/* The sonames Debian ships; the -dev packages of the build pin the same ABI. */
static const struct {
	const char *soname, *package;
} libs[] = {
	{ "libmicrohttpd.so.12", "libmicrohttpd12" },
	{ "libarchive.so.13", "libarchive13" },
	{ "libcrypto.so.3", "libssl3" },
};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char failure[600];

static void load(void)
{
	void *h[sizeof libs / sizeof libs[0]];
	for (size_t i = 0; i < sizeof libs / sizeof libs[0]; i++) {
		h[i] = dlopen(libs[i].soname, RTLD_NOW | RTLD_LOCAL);
		if (!h[i]) {
			snprintf(failure, sizeof failure, "cannot load %s: %s (apt-get install %s)", libs[i].soname,
				 dlerror(), libs[i].package);
			return;
		}
	}
#define SERVE_DL_RESOLVE(lib, f)                                                                              \
	if (!failure[0] && !(*(void **)&serve_dl_##f = dlsym(h[lib], #f)))                                   \
		snprintf(failure, sizeof failure, "symbol %s missing from %s (apt-get install %s)", #f,       \
			 libs[lib].soname, libs[lib].package);
	SERVE_DL_FUNCS(SERVE_DL_RESOLVE)
#undef SERVE_DL_RESOLVE
}

int serve_dl_load(struct ferr *err)
{
	pthread_once(&once, load);
	if (failure[0])
		return ferr_set(err, 0, "ferry serve: %s", failure);
	return sqlitelib_load(err);
}
