/* Internal to the runtime layer: the steps runtime_exec() strings together. */
#pragma once

#include <stdbool.h>

#include "base/err.h"
#include "runtime/runtime.h"

/* env.c: the container's environment, in the documented order. home is the
 * value HOME gets inside (NULL: leave it as the layers put it); extra_ldpath
 * is appended to LD_LIBRARY_PATH (GPU libraries) when non-NULL. */
int env_build(const struct run_spec *spec, char **host_env, const char *home, const char *extra_ldpath,
	      char ***out, struct ferr *err);
/* The value of NAME in a strv environment, or NULL. */
const char *env_get(char **env, const char *name);
/* Is NAME a valid variable name ([A-Za-z_][A-Za-z0-9_]*)? */
bool env_name_valid(const char *name, size_t len);

/* gpu.c: the host driver's pieces to bind. */
struct gpu_file {
	char *host; /* host path (symlinks resolved) */
	char *name; /* for libs: the name in the private lib dir (SONAME);
		       for binaries: the basename; for devices: the path inside */
};
struct gpu_plan {
	struct gpu_file *devs, *libs, *bins;
	size_t n_devs, n_libs, n_bins;
	char **env; /* extra NAME=value from a CDI spec */
	const char *source; /* "CDI spec PATH" or "ldconfig cache" */
	char *source_buf;
};
/* Discover the driver (CDI spec under /etc/cdi or /var/run/cdi preferred,
 * else the linker cache); roots prefixed by $FERRY_GPU_ROOT when set. */
int gpu_discover(struct gpu_plan *plan, struct ferr *err);
void gpu_plan_free(struct gpu_plan *plan);
/* The ELF DT_SONAME of a shared library, or NULL. */
char *elf_soname(const char *path);

/* Directory inside the container where GPU libs and binaries go. */
#define GPU_DIR "/.ferry/gpu"
