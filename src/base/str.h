/* Growable strings and small string helpers. Allocation failure aborts:
 * there is no useful recovery from it in ferry. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

struct dstr {
	char *buf; /* always NUL-terminated once anything was appended */
	size_t len;
	size_t cap;
};

#define DSTR_INIT { NULL, 0, 0 }

/* Allocators that abort on failure never return NULL: say so, so the
 * compiler and the static analyzers know it too. */
#define FERRY_NONNULL_RESULT __attribute__((returns_nonnull, warn_unused_result))

void dstr_append(struct dstr *s, const char *text);
void dstr_appendn(struct dstr *s, const char *text, size_t n);
void dstr_appendc(struct dstr *s, char c);
/* v in single quotes for a POSIX shell ('\'' for each quote inside). */
void dstr_append_shquoted(struct dstr *s, const char *v);
void dstr_printf(struct dstr *s, const char *fmt, ...) FERR_PRINTF(2, 3);
void dstr_clear(struct dstr *s);
void dstr_free(struct dstr *s);
/* Hand the buffer to the caller ("" when empty); s is reset. */
char *dstr_steal(struct dstr *s) FERRY_NONNULL_RESULT;

void *xmalloc(size_t n) FERRY_NONNULL_RESULT;
void *xcalloc(size_t n, size_t size) FERRY_NONNULL_RESULT;
void *xrealloc(void *p, size_t n) FERRY_NONNULL_RESULT;
char *xstrdup(const char *s) FERRY_NONNULL_RESULT;
char *xstrndup(const char *s, size_t n) FERRY_NONNULL_RESULT;
char *xasprintf(const char *fmt, ...) FERR_PRINTF(1, 2) FERRY_NONNULL_RESULT;

bool str_starts_with(const char *s, const char *prefix);
bool str_ends_with(const char *s, const char *suffix);

/* NULL-terminated string vectors. */
size_t strv_len(char *const *v);
void strv_push(char ***v, const char *s);
/* Whether the NULL-terminated v (may be NULL) holds s. */
bool strv_contains(char *const *v, const char *s);
void strv_free(char **v);
