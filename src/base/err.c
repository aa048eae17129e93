#include "base/err.h"

#include <stdio.h>
#include <string.h>

static void vformat(char *dst, size_t size, const char *fmt, va_list ap)
{
	vsnprintf(dst, size, fmt, ap);
}

int ferr_setc(struct ferr *err, int code, int errnum, const char *fmt, ...)
{
	if (!err)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	vformat(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
	err->code = code;
	err->errnum = errnum;
	err->hint[0] = '\0';
	if (errnum) {
		size_t n = strlen(err->msg);
		snprintf(err->msg + n, sizeof err->msg - n, ": %s", strerror(errnum));
	}
	return -1;
}

int ferr_set(struct ferr *err, int errnum, const char *fmt, ...)
{
	if (!err)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	vformat(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
	err->code = FERR_GENERIC;
	err->errnum = errnum;
	err->hint[0] = '\0';
	if (errnum) {
		size_t n = strlen(err->msg);
		snprintf(err->msg + n, sizeof err->msg - n, ": %s", strerror(errnum));
	}
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
	vformat(ctx, sizeof ctx, fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof old);
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
	va_list ap;
	va_start(ap, fmt);
	vformat(err->hint, sizeof err->hint, fmt, ap);
	va_end(ap);
	return -1;
}

void ferr_clear(struct ferr *err)
{
	if (err)
		memset(err, 0, sizeof *err);
}

const char *ferr_str(const struct ferr *err, char *buf, size_t size)
{
	if (err->hint[0])
		snprintf(buf, size, "%s (%s)", err->msg[0] ? err->msg : "unknown error", err->hint);
	else
		snprintf(buf, size, "%s", err->msg[0] ? err->msg : "unknown error");
	return buf;
}
