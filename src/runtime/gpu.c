/* --gpu: find the host's NVIDIA driver without copying anything into the
 * image. Preferred source: a CDI spec (JSON) under /etc/cdi or /var/run/cdi
 * whose kind is nvidia.com/gpu, as `nvidia-ctk cdi generate --format=json`
 * writes it; otherwise the linker cache (`ldconfig -p`) filtered with the
 * driver's library names, as Apptainer's nvliblist.conf does.
 * $FERRY_GPU_ROOT prefixes every place searched, so tests run on a fake
 * driver tree (tests/fixtures/fake-nvidia) without a GPU. */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/log.h"
#include "base/path.h"
#include "base/str.h"
#include "runtime/internal.h"

/* The driver's user-space libraries (by name prefix), after Apptainer's
 * etc/nvliblist.conf; the ICD loaders (libOpenCL, libGL) stay the image's. */
static const char *const lib_prefixes[] = {
	"libcuda.so", "libcudadebugger.so", "libnvidia-", "libnvcuvid.so", "libnvoptix.so",
	"libEGL_nvidia.so", "libGLESv1_CM_nvidia.so", "libGLESv2_nvidia.so", "libGLX_nvidia.so",
	"libvdpau_nvidia.so", "libnvidia-ml.so",
};
static const char *const bin_names[] = {
	"nvidia-smi", "nvidia-debugdump", "nvidia-persistenced", "nvidia-cuda-mps-control", "nvidia-cuda-mps-server",
};

char *elf_soname(const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	Elf64_Ehdr eh;
	if (pread(fd, &eh, sizeof eh, 0) != sizeof eh || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shnum == 0 ||
	    eh.e_shnum > 4096)
		return NULL;
	_cleanup_free_ Elf64_Shdr *sh = xcalloc(eh.e_shnum, sizeof *sh);
	if (pread(fd, sh, eh.e_shnum * sizeof *sh, (off_t)eh.e_shoff) != (ssize_t)(eh.e_shnum * sizeof *sh))
		return NULL;
	for (size_t i = 0; i < eh.e_shnum; i++) {
		if (sh[i].sh_type != SHT_DYNAMIC || sh[i].sh_link >= eh.e_shnum || sh[i].sh_size > (1 << 20))
			continue;
		const Elf64_Shdr *str = &sh[sh[i].sh_link];
		size_t n = sh[i].sh_size / sizeof(Elf64_Dyn);
		_cleanup_free_ Elf64_Dyn *dyn = xcalloc(n + 1, sizeof *dyn);
		if (pread(fd, dyn, n * sizeof *dyn, (off_t)sh[i].sh_offset) != (ssize_t)(n * sizeof *dyn))
			return NULL;
		for (size_t j = 0; j < n && dyn[j].d_tag != DT_NULL; j++) {
			if (dyn[j].d_tag != DT_SONAME || dyn[j].d_un.d_val >= str->sh_size)
				continue;
			char name[256];
			ssize_t r = pread(fd, name, sizeof name - 1, (off_t)(str->sh_offset + dyn[j].d_un.d_val));
			if (r <= 0)
				return NULL;
			name[r] = '\0';
			if (!memchr(name, '\0', (size_t)r) || !name[0] || strchr(name, '/'))
				return NULL;
			return xstrdup(name);
		}
	}
	return NULL;
}

static void add_file(struct gpu_file **v, size_t *n, const char *host, const char *name)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp((*v)[i].name, name))
			return;
	*v = xrealloc(*v, (*n + 1) * sizeof **v);
	(*v)[*n].host = xstrdup(host);
	(*v)[*n].name = xstrdup(name);
	(*n)++;
}

static bool is_driver_lib(const char *base)
{
	for (size_t i = 0; i < sizeof lib_prefixes / sizeof lib_prefixes[0]; i++)
		if (str_starts_with(base, lib_prefixes[i]))
			return true;
	return false;
}

static void add_lib(struct gpu_plan *p, const char *path)
{
	_cleanup_free_ char *real = realpath(path, NULL);
	if (!real)
		return;
	_cleanup_free_ char *base = path_basename(path);
	_cleanup_free_ char *so = elf_soname(real);
	add_file(&p->libs, &p->n_libs, real, so ? so : base);
}

static void apply_edits(struct gpu_plan *p, const json_t *edits)
{
	if (!json_is_object(edits))
		return;
	size_t i;
	json_t *x;
	json_array_foreach (json_object_get(edits, "deviceNodes"), i, x) {
		const char *path = json_get_str(x, "path");
		const char *host = json_get_str(x, "hostPath");
		if (path)
			add_file(&p->devs, &p->n_devs, host ? host : path, path);
	}
	json_array_foreach (json_object_get(edits, "mounts"), i, x) {
		const char *host = json_get_str(x, "hostPath");
		if (!host)
			continue;
		_cleanup_free_ char *base = path_basename(host);
		if (strstr(base, ".so") && is_driver_lib(base)) {
			add_lib(p, host);
		} else {
			for (size_t b = 0; b < sizeof bin_names / sizeof bin_names[0]; b++)
				if (!strcmp(base, bin_names[b])) {
					_cleanup_free_ char *real = realpath(host, NULL);
					if (real)
						add_file(&p->bins, &p->n_bins, real, base);
				}
		}
	}
	json_array_foreach (json_object_get(edits, "env"), i, x)
		if (json_is_string(x) && strchr(json_string_value(x), '='))
			strv_push(&p->env, json_string_value(x));
}

/* The first JSON spec of kind nvidia.com/gpu: global edits and those of
 * every device (--gpu means all GPUs, as --nv does). */
static int try_cdi(struct gpu_plan *p, const char *root)
{
	static const char *const dirs[] = {"/etc/cdi", "/var/run/cdi"};
	for (size_t d = 0; d < 2; d++) {
		_cleanup_free_ char *dir = xasprintf("%s%s", root, dirs[d]);
		_cleanup_closedir_ DIR *dh = opendir(dir);
		if (!dh)
			continue;
		struct dirent *e;
		while ((e = readdir(dh)) != NULL) {
			if (!str_ends_with(e->d_name, ".json")) {
				if (str_ends_with(e->d_name, ".yaml"))
					log_debug("--gpu: %s/%s: only JSON CDI specs are read", dir, e->d_name);
				continue;
			}
			_cleanup_free_ char *path = path_join(dir, e->d_name);
			struct ferr err = FERR_INIT;
			_cleanup_json_ json_t *spec = json_load_path(path, &err);
			const char *kind = spec ? json_get_str(spec, "kind") : NULL;
			if (!kind || strcmp(kind, "nvidia.com/gpu")) {
				if (!spec)
					log_warn("--gpu: ignoring CDI spec %s: %s", path, err.msg);
				continue;
			}
			apply_edits(p, json_object_get(spec, "containerEdits"));
			size_t i;
			json_t *dev;
			json_array_foreach (json_object_get(spec, "devices"), i, dev)
				apply_edits(p, json_object_get(dev, "containerEdits"));
			p->source_buf = xasprintf("CDI spec %s", path);
			p->source = p->source_buf;
			return 1;
		}
	}
	return 0;
}

static int try_ldconfig(struct gpu_plan *p, const char *root, struct ferr *err)
{
	const char *ldconfig = access("/sbin/ldconfig", X_OK) == 0 ? "/sbin/ldconfig" : "/usr/sbin/ldconfig";
	_cleanup_free_ char *cache = root[0] ? xasprintf("%s/etc/ld.so.cache", root) : NULL;
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return ferr_set(err, errno, "pipe");
	pid_t pid = fork();
	if (pid < 0)
		return close(pfd[0]), close(pfd[1]), ferr_set(err, errno, "fork");
	if (pid == 0) {
		dup2(pfd[1], 1);
		if (cache)
			execl(ldconfig, "ldconfig", "-p", "-C", cache, (char *)NULL);
		else
			execl(ldconfig, "ldconfig", "-p", (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	_cleanup_fclose_ FILE *f = fdopen(pfd[0], "r");
	if (!f) {
		close(pfd[0]);
		waitpid(pid, NULL, 0);
		return ferr_set(err, errno, "fdopen");
	}
	char line[PATH_MAX + 256];
	while (fgets(line, sizeof line, f)) {
		/* "\tlibcuda.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcuda.so.1" */
		char name[256], flags[128], path[PATH_MAX];
		if (sscanf(line, " %255s (%127[^)]) => %4095s", name, flags, path) != 3)
			continue;
		if (!strstr(flags, "64") || !is_driver_lib(name))
			continue; /* 32-bit copies would shadow the 64-bit ones */
		_cleanup_free_ char *real = realpath(path, NULL);
		if (real)
			add_file(&p->libs, &p->n_libs, real, name);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	p->source = "the linker cache";
	static const char *const bindirs[] = {"/usr/bin", "/usr/sbin", "/bin", "/usr/local/bin"};
	for (size_t b = 0; b < sizeof bin_names / sizeof bin_names[0]; b++)
		for (size_t d = 0; d < sizeof bindirs / sizeof bindirs[0]; d++) {
			_cleanup_free_ char *cand = xasprintf("%s%s/%s", root, bindirs[d], bin_names[b]);
			_cleanup_free_ char *real = realpath(cand, NULL);
			if (real && access(real, X_OK) == 0) {
				add_file(&p->bins, &p->n_bins, real, bin_names[b]);
				break;
			}
		}
	_cleanup_free_ char *devdir = xasprintf("%s/dev", root);
	_cleanup_closedir_ DIR *dh = opendir(devdir);
	struct dirent *e;
	while (dh && (e = readdir(dh)) != NULL)
		if (str_starts_with(e->d_name, "nvidia")) {
			_cleanup_free_ char *dp = path_join(devdir, e->d_name);
			_cleanup_free_ char *in = path_join("/dev", e->d_name);
			add_file(&p->devs, &p->n_devs, dp, in);
		}
	return 0;
}

int gpu_discover(struct gpu_plan *p, struct ferr *err)
{
	memset(p, 0, sizeof *p);
	const char *root = getenv("FERRY_GPU_ROOT");
	if (!root)
		root = "";
	if (!try_cdi(p, root) && try_ldconfig(p, root, err) < 0)
		return ferr_wrap(err, "--gpu");
	bool have_cuda = false;
	for (size_t i = 0; i < p->n_libs; i++)
		have_cuda |= str_starts_with(p->libs[i].name, "libcuda.so");
	if (!have_cuda)
		return ferr_setc(err, FERR_NOTFOUND, 0, "--gpu: no NVIDIA driver found (no libcuda.so in %s%s)",
				 p->source ? p->source : "the linker cache",
				 p->source_buf ? "" : ", no JSON CDI spec in /etc/cdi or /var/run/cdi"),
		       ferr_hint(err, "is the NVIDIA driver installed on this machine? 'nvidia-ctk cdi generate --format=json' writes a CDI spec");
	bool have_dev = false;
	for (size_t i = 0; i < p->n_devs; i++)
		have_dev |= access(p->devs[i].host, F_OK) == 0;
	if (!have_dev)
		return ferr_setc(err, FERR_NOTFOUND, 0, "--gpu: the NVIDIA driver is installed but no /dev/nvidia* device exists"),
		       ferr_hint(err, "run on a node with a GPU (under Slurm: --gres=gpu)");
	log_debug("--gpu: %zu libraries, %zu programs, %zu devices from %s", p->n_libs, p->n_bins, p->n_devs, p->source);
	return 0;
}

static void files_free(struct gpu_file *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(f[i].host);
		free(f[i].name);
	}
	free(f);
}

void gpu_plan_free(struct gpu_plan *p)
{
	files_free(p->devs, p->n_devs);
	files_free(p->libs, p->n_libs);
	files_free(p->bins, p->n_bins);
	strv_free(p->env);
	free(p->source_buf);
	memset(p, 0, sizeof *p);
}
