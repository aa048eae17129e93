#define SQFSLIB_IMPL 1
#include "image/sqfslib.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#define SQFSLIB_DEFINE(f) __typeof__(f) *sqfslib_##f;
SQFSLIB_FUNCS(SQFSLIB_DEFINE)
#undef SQFSLIB_DEFINE

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char failure[512]; /* empty when loaded */

/* The soname Debian 12 ships (libsquashfs1); the -dev package the build
 * uses pins the same ABI. */
static void load(void)
{
	const char *soname = "libsquashfs.so.1";
	void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(failure, sizeof failure, "cannot load %s: %s", soname, dlerror());
		return;
	}
#define SQFSLIB_RESOLVE(f)                                                                                    \
	if (!failure[0] && !(*(void **)&sqfslib_##f = dlsym(h, #f)))                                         \
		snprintf(failure, sizeof failure, "symbol %s missing from %s", #f, soname);
	SQFSLIB_FUNCS(SQFSLIB_RESOLVE)
#undef SQFSLIB_RESOLVE
}

int sqfslib_load(struct ferr *err)
{
	pthread_once(&once, load);
	if (failure[0]) {
		ferr_set(err, 0, "single-file images: %s", failure);
		ferr_hint(err, "apt-get install libsquashfs1");
		return -1;
	}
	return 0;
}
