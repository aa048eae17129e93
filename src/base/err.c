#include "base/err.h"

#include <stdio.h>
#include <string.h>

/* Every message is formatted into a local buffer first and then copied, so
 * arguments may point into the error itself (ferr_wrap(err, "%s", err->msg))
 * without overlapping reads and writes. vsnprintf truncates long messages;
 * the result is always NUL-terminated. */

FERR_PRINTF(4, 0) static void vset(struct ferr *err, int code, int errnum, const char *fmt, va_list ap)
{
	char msg[FERR_MSG_MAX];
	vsnprintf(msg, sizeof msg, fmt, ap);
	if (errnum) {
		size_t n = strlen(msg);
		snprintf(msg + n, sizeof msg - n, ": %s", strerror(errnum));
	}
	memcpy(err->msg, msg, sizeof msg);
	err->code = code;
	err->errnum = errnum;
	err->hint[0] = '\0';
}

int ferr_setc(struct ferr *err, int code, int errnum, const char *fmt, ...)
{
	if (!err)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	vset(err, code, errnum, fmt, ap);
	va_end(ap);
	return -1;
}

int ferr_set(struct ferr *err, int errnum, const char *fmt, ...)
{
	if (!err)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	vset(err, FERR_GENERIC, errnum, fmt, ap);
	va_end(ap);
	return -1;
}

int ferr_wrap(struct ferr *err, const char *fmt, ...)
{
	if (!err)
		return -1;
	char ctx[FERR_MSG_MAX];
	char old[FERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ctx, sizeof ctx, fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof old);
	old[sizeof old - 1] = '\0';
	if (err->code == FERR_OK)
		err->code = FERR_GENERIC;
	if (old[0])
		snprintf(err->msg, sizeof err->msg, "%s: %s", ctx, old);
	else
		snprintf(err->msg, sizeof err->msg, "%s", ctx);
	return -1;
}

int ferr_hint(struct ferr *err, const char *fmt, ...)
{
	if (!err)
		return -1;
	char hint[sizeof err->hint];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(hint, sizeof hint, fmt, ap);
	va_end(ap);
	memcpy(err->hint, hint, sizeof hint);
	return -1;
}

void ferr_clear(struct ferr *err)
{
	if (err)
		memset(err, 0, sizeof *err);
}

const char *ferr_str(const struct ferr *err, char *buf, size_t size)
{
	const char *msg = err->msg[0] ? err->msg : "unknown error";
	if (err->hint[0])
		snprintf(buf, size, "%s (%s)", msg, err->hint);
	else
		snprintf(buf, size, "%s", msg);
	return buf;
}
