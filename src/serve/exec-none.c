/* Executions before the batch layer is in the build: every route answers
 * 503 with the envelope. Replaced by exec.c. */
#include "serve/internal.h"

int execs_start(struct srv *s, struct ferr *err)
{
	(void)s;
	(void)err;
	return 0;
}

void execs_stop(struct srv *s)
{
	(void)s;
}

void route_executions(struct req *r, const char *rest)
{
	(void)rest;
	reply_error(r, 503, SC_UNAVAILABLE, "executions are not available on this server");
}
