/* Logging to stderr, filtered by level (-q / -v / -vv). The library logs
 * warnings and progress notes through here; errors travel as struct ferr. */
#pragma once

#include "base/err.h"

enum log_level { LOG_QUIET = -1, LOG_WARN = 0, LOG_INFO = 1, LOG_DEBUG = 2 };

extern int log_level;

void log_warn(const char *fmt, ...) FERR_PRINTF(1, 2);
void log_info(const char *fmt, ...) FERR_PRINTF(1, 2);
void log_debug(const char *fmt, ...) FERR_PRINTF(1, 2);
/* Warnings are also kept and can be printed again at exit, so they are not
 * lost in a flood of job output (as ch-run does). */
void log_reprint_warnings(void);
size_t log_warning_count(void);
