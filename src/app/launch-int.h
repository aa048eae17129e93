/* Internal to src/app: the pieces of `ferry app launch` (launch.c) kept in
 * their own files: the tool's process and its output (tee.c), the
 * provenance record (record.c). */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <sys/resource.h>

#include "app/internal.h"

/* tee.c: the tool's stdout and stderr go to ours and into memfds for the
 * record. tee_open makes the pipes before the fork; tee_forked, called in
 * the parent right after it, starts the thread that copies them (no thread
 * runs at fork time, see tee.c). */
struct tee {
	int wr[2];  /* the tool's stdout and stderr */
	int rd[2];  /* the other ends, read by the thread */
	int cap[2]; /* what was captured (memfds) */
	bool open;    /* tee_open succeeded */
	bool running; /* the copying thread runs */
	pthread_t th;
};
#define TEE_INIT                                           \
	{                                                  \
		{ 1, 2 }, { -1, -1 }, { -1, -1 }, false, false, 0 \
	}
int tee_open(struct tee *t, struct ferr *err);
void tee_forked(void *tee);
/* Close the tool's ends, wait for the copy, return the capture as text. */
void tee_finish(struct tee *t, char **out, char **errs);
/* argv on this host, our environment plus add_env, output into t. */
int run_host(char **argv, char **add_env, struct tee *t, int *status, struct rusage *ru,
	     struct ferr *err);

/* record.c */
int record_write(const struct app_plan *plan, struct app_result *res, struct ferr *err);
bool input_is_file(const json_t *desc, const char *id);
