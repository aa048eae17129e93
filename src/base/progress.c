#include "base/progress.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void draw(struct progress *p)
{
	if (p->total) {
		uint64_t done = p->done < p->total ? p->done : p->total;
		int pct = (int)(done * 100 / p->total);
		int bar = pct * 30 / 100;
		fprintf(stderr, "\r%-24.24s [%.*s%*s] %3d%% %6.1f MB", p->label, bar,
		        "##############################", 30 - bar, "", pct, (double)p->done / 1e6);
	} else {
		fprintf(stderr, "\r%-24.24s %6.1f MB", p->label, (double)p->done / 1e6);
	}
	fflush(stderr);
}

void progress_start(struct progress *p, const char *label, uint64_t total)
{
	memset(p, 0, sizeof *p);
	snprintf(p->label, sizeof p->label, "%s", label);
	p->total = total;
	p->active = log_level >= LOG_WARN && isatty(STDERR_FILENO);
	if (p->active)
		draw(p);
}

void progress_add(struct progress *p, uint64_t n)
{
	p->done += n;
	if (!p->active)
		return;
	long long t = now_ms();
	if (t - p->last_draw_ms < 100)
		return;
	p->last_draw_ms = t;
	draw(p);
}

void progress_end(struct progress *p)
{
	if (!p->active)
		return;
	draw(p);
	fputc('\n', stderr);
	p->active = 0;
}
