/* libFuzzer target: layer extraction of arbitrary bytes (gzip/zstd/tar are
 * sniffed) into a scratch root. The invariant checked: nothing appears in
 * the sentinel directory beside the root, whatever the input. */
#include <dirent.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fs.h"
#include "image/image.h"

static char base[256];

static void cleanup(void)
{
	struct ferr err = FERR_INIT;
	fs_rm_rf(base, &err);
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	struct dirent *e;
	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ferr err = FERR_INIT;
	if (!base[0]) {
		snprintf(base, sizeof base, "/tmp/ferry-fuzz-tar-%d", (int)getpid());
		char p[300];
		snprintf(p, sizeof p, "%s/sentinel", base);
		fs_mkdir_p(p, 0755, &err);
		atexit(cleanup);
	}
	char root[300], sentinel[300];
	snprintf(root, sizeof root, "%s/root", base);
	snprintf(sentinel, sizeof sentinel, "%s/sentinel", base);
	fs_rm_rf(root, &err);
	mkdir(root, 0755);
	int rootfd = open(root, O_RDONLY | O_DIRECTORY);
	int fd = memfd_create("layer", MFD_CLOEXEC);
	if (rootfd < 0 || fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	lseek(fd, 0, SEEK_SET);
	layer_extract(fd, NULL, rootfd, -1, NULL, &err);
	close(fd);
	close(rootfd);
	if (count_entries(sentinel) != 0 || count_entries(base) != 2)
		abort(); /* something was written outside the root */
	return 0;
}
