/* libFuzzer target: the SIF header and descriptor parser (image/sif.c) and
 * sfile_probe's recognition of squashfs, SIF and .simg files. The input
 * is the start of a file; its first byte also says how much longer the
 * whole file claims to be, so that offsets past the input are tried too.
 * Every object the parser accepts must lie inside the file and not
 * overlap another: anything else aborts (a finding). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "image/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t file_size = size + (size ? (uint64_t)data[0] << 12 : 0);
	struct sif_info s;
	struct ferr err = FERR_INIT;
	if (sif_parse(data, size, file_size, &s, &err) == 0) {
		for (size_t i = 0; i < s.n_objects; i++) {
			const struct sif_object *o = &s.objects[i];
			if (o->offset > file_size || o->size > file_size - o->offset)
				abort();
			for (size_t j = 0; j < i; j++) {
				const struct sif_object *p = &s.objects[j];
				if (o->size && p->size && o->offset < p->offset + p->size && p->offset < o->offset + o->size)
					abort();
			}
		}
		if (s.primary >= 0 && (size_t)s.primary >= s.n_objects)
			abort();
		(void)sif_type_name(s.n_objects ? s.objects[0].type : 0);
	}
	sif_info_free(&s);

	/* The same bytes as a file, through sfile_probe. */
	int fd = memfd_create("fuzz-sif", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) == (ssize_t)size) {
		struct sfile sf;
		ferr_clear(&err);
		if (sfile_probe(fd, "fuzz", &sf, &err) == 1 && (sf.sqfs_offset > size || sf.sqfs_size > size - sf.sqfs_offset))
			abort();
	}
	close(fd);
	return 0;
}
