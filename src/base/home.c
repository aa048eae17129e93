#include "base/home.h"

#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/str.h"

char *home_dir(struct ferr *err)
{
	const char *h = getenv("HOME");
	if (h && h[0] == '/')
		return xstrdup(h);
	struct passwd pw, *res = NULL;
	char buf[4096];
	int e = getpwuid_r(getuid(), &pw, buf, sizeof buf, &res);
	if (res && res->pw_dir && res->pw_dir[0] == '/')
		return xstrdup(res->pw_dir);
	ferr_setc(err, FERR_NOTFOUND, e, "no home directory: HOME is not set and uid %u has no entry in the password database",
		(unsigned)getuid());
	ferr_hint(err, "set HOME, or FERRY_HOME for the store");
	return NULL;
}
