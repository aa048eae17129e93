/* A one-line progress bar on stderr, drawn only when stderr is a terminal
 * and the log level is not quiet; otherwise every call does nothing. */
#pragma once

#include <stdint.h>

struct progress {
	char label[64];
	uint64_t total; /* 0 when unknown */
	uint64_t done;
	int active;
	long long last_draw_ms;
};

void progress_start(struct progress *p, const char *label, uint64_t total);
void progress_add(struct progress *p, uint64_t n);
void progress_end(struct progress *p);
