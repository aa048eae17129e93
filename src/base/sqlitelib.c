#define SQLITELIB_IMPL 1
#include "base/sqlitelib.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#define SQLITELIB_DEFINE(f) __typeof__(f) *sqlitelib_##f;
SQLITELIB_FUNCS(SQLITELIB_DEFINE)
#undef SQLITELIB_DEFINE

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char failure[512]; /* empty when loaded */

/* The soname Debian 12 ships (libsqlite3-0). */
static void load(void)
{
	const char *soname = "libsqlite3.so.0";
	void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(failure, sizeof failure, "cannot load %s: %s", soname, dlerror());
		return;
	}
#define SQLITELIB_RESOLVE(f)                                                                                  \
	if (!failure[0] && !(*(void **)&sqlitelib_##f = dlsym(h, #f)))                                       \
		snprintf(failure, sizeof failure, "symbol %s missing from %s", #f, soname);
	SQLITELIB_FUNCS(SQLITELIB_RESOLVE)
#undef SQLITELIB_RESOLVE
}

int sqlitelib_load(struct ferr *err)
{
	pthread_once(&once, load);
	if (failure[0]) {
		ferr_set(err, 0, "%s", failure);
		ferr_hint(err, "apt-get install libsqlite3-0");
		return -1;
	}
	return 0;
}
