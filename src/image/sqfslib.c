#define SQFSLIB_IMPL 1
#include "image/sqfslib.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#define SQFSLIB_DEFINE(f) __typeof__(f) *sqfslib_##f;
SQFSLIB_FUNCS(SQFSLIB_DEFINE)
#undef SQFSLIB_DEFINE

/* The soname Debian 12 ships (libsquashfs1); the -dev package the build
 * uses pins the same ABI. */
#define SQFSLIB_SONAME "libsquashfs.so.1"
#define SQFSLIB_HINT "apt-get install libsquashfs1"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char failure[512]; /* empty when loaded */

static void load(void)
{
	void *h = dlopen(SQFSLIB_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(failure, sizeof failure, "cannot load %s", dlerror());
		return;
	}
#define SQFSLIB_RESOLVE(f)                                                                                    \
	if (!failure[0]) {                                                                                    \
		*(void **)&sqfslib_##f = dlsym(h, #f);                                                        \
		if (!sqfslib_##f)                                                                             \
			snprintf(failure, sizeof failure, "symbol %s missing from %s", #f, SQFSLIB_SONAME);   \
	}
	SQFSLIB_FUNCS(SQFSLIB_RESOLVE)
#undef SQFSLIB_RESOLVE
}

int sqfslib_load(struct ferr *err)
{
	pthread_once(&once, load);
	if (failure[0])
		return ferr_set(err, 0, "%s", failure), ferr_hint(err, SQFSLIB_HINT);
	return 0;
}
