#include "base/size.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int size_parse(const char *s, uint64_t *out, struct ferr *err)
{
	char *end = NULL;
	errno = 0;
	double v = s && *s ? strtod(s, &end) : -1;
	if (errno || !end || end == s || !(v >= 0))
		return ferr_setc(err, FERR_USAGE, 0, "'%s' is not a size (say e.g. 64G or 512M)", s ? s : "");
	/* the number, then an optional unit: K M G T, alone or with B or iB */
	int shift = 0;
	const char *u = end;
	static const char letters[] = "KMGT";
	if (*u) {
		const char *l = strchr(letters, *u >= 'a' ? *u - 32 : *u);
		if (l && *u) {
			shift = 10 * (int)(l - letters + 1);
			u++;
		}
		if (!strcasecmp(u, "ib") && shift)
			u += 2;
		else if (!strcasecmp(u, "b"))
			u++;
	}
	if (*u)
		return ferr_setc(err, FERR_USAGE, 0, "'%s' is not a size (say e.g. 64G or 512M)", s);
	double b = v * (double)(1ULL << shift);
	if (b >= 18446744073709551615.0)
		return ferr_setc(err, FERR_USAGE, 0, "size '%s' is too large", s);
	*out = (uint64_t)b;
	return 0;
}
