/* Error objects: a fallible function returns a negative int and fills a
 * struct ferr; callers add context while unwinding with ferr_wrap(), so the
 * final message reads from the user's action down to the failing call:
 *   "pull x:1: layer sha256:ab..: digest mismatch (got sha256:cd..)".
 * The library never prints errors; cli/ does. */
#pragma once

#include <stdarg.h>
#include <stddef.h>

#define FERR_MSG_MAX 2048

/* Broad kinds, so callers can branch without parsing messages. */
enum ferr_code {
	FERR_OK = 0,
	FERR_GENERIC = 1,   /* anything else */
	FERR_USAGE = 2,     /* bad arguments from the user */
	FERR_NOTFOUND = 3,  /* image, file, tag ... does not exist */
	FERR_INVALID = 4,   /* malformed input (manifest, descriptor, tar) */
	FERR_NETWORK = 5,   /* registry unreachable, HTTP error */
	FERR_AUTH = 6,      /* credentials refused */
	FERR_INTEGRITY = 7, /* digest mismatch, tampering */
	FERR_UNSUPPORTED = 8,
	FERR_PERM = 9,      /* kernel or file system refuses */
	FERR_NOEXEC = 126,  /* command found but not executable */
	FERR_NOCMD = 127,   /* command not found */
};

struct ferr {
	int code;     /* enum ferr_code */
	int errnum;   /* errno of the failing call, or 0 */
	char msg[FERR_MSG_MAX];
	char hint[512]; /* how to fix it, or "" */
};

#define FERR_INIT { 0, 0, "", "" }
#define FERR_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Set the error (replacing any earlier one). errnum may be 0; when non-zero
 * strerror(errnum) is appended. Returns -1 so callers can `return ferr_set(...)`. */
int ferr_set(struct ferr *err, int errnum, const char *fmt, ...) FERR_PRINTF(3, 4);
/* Same with a code other than FERR_GENERIC. */
int ferr_setc(struct ferr *err, int code, int errnum, const char *fmt, ...) FERR_PRINTF(4, 5);
/* Prefix context: "CONTEXT: previous message". Returns -1. */
int ferr_wrap(struct ferr *err, const char *fmt, ...) FERR_PRINTF(2, 3);
/* Attach a suggestion shown after the message. Returns -1. */
int ferr_hint(struct ferr *err, const char *fmt, ...) FERR_PRINTF(2, 3);
void ferr_clear(struct ferr *err);
/* The whole error as one line: "message (hint)". */
const char *ferr_str(const struct ferr *err, char *buf, size_t size);
