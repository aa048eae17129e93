#include "base/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int log_level = LOG_WARN;

#define KEEP_MAX 16
static char kept[KEEP_MAX][256];
static size_t nkept, nwarn;
/* Layers may warn from worker threads (parallel downloads, unpacking). */
static pthread_mutex_t kept_lock = PTHREAD_MUTEX_INITIALIZER;

FERR_PRINTF(2, 0) static void vlog(const char *prefix, const char *fmt, va_list ap)
{
	char line[4096];
	vsnprintf(line, sizeof line, fmt, ap);
	fprintf(stderr, "ferry: %s%s\n", prefix, line);
	if (prefix[0] == 'w') {
		pthread_mutex_lock(&kept_lock);
		nwarn++;
		if (nkept < KEEP_MAX)
			snprintf(kept[nkept++], sizeof kept[0], "%s", line);
		pthread_mutex_unlock(&kept_lock);
	}
}

void log_warn(const char *fmt, ...)
{
	if (log_level < LOG_WARN)
		return;
	va_list ap;
	va_start(ap, fmt);
	vlog("warning: ", fmt, ap);
	va_end(ap);
}

void log_info(const char *fmt, ...)
{
	if (log_level < LOG_INFO)
		return;
	va_list ap;
	va_start(ap, fmt);
	vlog("", fmt, ap);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	if (log_level < LOG_DEBUG)
		return;
	va_list ap;
	va_start(ap, fmt);
	vlog("debug: ", fmt, ap);
	va_end(ap);
}

size_t log_warning_count(void)
{
	pthread_mutex_lock(&kept_lock);
	size_t n = nwarn;
	pthread_mutex_unlock(&kept_lock);
	return n;
}

void log_reprint_warnings(void)
{
	pthread_mutex_lock(&kept_lock);
	if (nwarn >= 2 && log_level >= LOG_WARN) {
		fprintf(stderr, "ferry: %zu warning(s) were printed:\n", nwarn);
		for (size_t i = 0; i < nkept; i++)
			fprintf(stderr, "ferry: warning: %s\n", kept[i]);
	}
	pthread_mutex_unlock(&kept_lock);
}
