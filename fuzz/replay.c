/* Runs a fuzz target without libFuzzer: every file of the corpus
 * directories (or files) given as arguments, then 5000 deterministic
 * pseudo-random inputs built from bytes that matter to path and parser
 * code. Exit 0 when the target neither crashed nor aborted. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int run_file(const char *path)
{
	struct ferr err = FERR_INIT;
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	if (fs_read_file(path, &data, &len, &err) < 0) {
		fprintf(stderr, "replay: %s\n", err.msg);
		return 1;
	}
	LLVMFuzzerTestOneInput((const uint8_t *)data, len);
	return 0;
}

static int run_path(const char *path)
{
	if (!fs_is_dir(path))
		return fs_exists(path) ? run_file(path) : 0; /* no corpus yet is fine */
	_cleanup_closedir_ DIR *d = opendir(path);
	if (!d)
		return 1;
	int n = 0, bad = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		_cleanup_free_ char *f = xasprintf("%s/%s", path, e->d_name);
		bad |= run_file(f);
		n++;
	}
	printf("replay: %d corpus files from %s\n", n, path);
	return bad;
}

int main(int argc, char **argv)
{
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	int bad = 0;
	for (int i = 1; i < argc; i++)
		bad |= run_path(argv[i]);
	static const char alphabet[] = "/./../a/b/..//\0xyz.\n:@sha256:0f{}[]\",";
	uint64_t s = 0x9e3779b97f4a7c15ULL;
	uint8_t buf[512];
	for (int i = 0; i < 5000; i++) {
		s ^= s << 13, s ^= s >> 7, s ^= s << 17;
		size_t len = (size_t)(s % sizeof buf);
		for (size_t j = 0; j < len; j++) {
			s ^= s << 13, s ^= s >> 7, s ^= s << 17;
			buf[j] = (s & 7) == 0 ? (uint8_t)(s >> 8)
					      : (uint8_t)alphabet[(s >> 8) % (sizeof alphabet - 1)];
		}
		LLVMFuzzerTestOneInput(buf, len);
	}
	printf("replay: 5000 generated inputs\n");
	return bad;
}
