/* The seam between `ferry app launch` and ferry's own runtime and store:
 * resolve (pulling if needed) the descriptor's image, then run argv in it
 * with the binds, environment and working directory bosh would give a
 * container. Kept in one file so the rest of src/app does not depend on
 * the runtime's and store's interfaces. */
#include <string.h>

#include "app/internal.h"

int app_container_pull(const char *type, const char *image, const char *index, char **digest,
		       char **location, struct ferr *err)
{
	(void)type, (void)image, (void)index, (void)digest, (void)location;
	return ferr_setc(err, FERR_UNSUPPORTED, 0, "pulling %s: container launch needs the runtime", image);
}

int app_container_run(const struct app_container_req *req, int *status, struct rusage *ru, char **digest,
		      char **location, struct ferr *err)
{
	(void)status, (void)ru, (void)digest, (void)location;
	ferr_setc(err, FERR_UNSUPPORTED, 0, "image %s: container launch needs the runtime", req->image);
	return ferr_hint(err, "use --no-container to run the command on this host");
}
