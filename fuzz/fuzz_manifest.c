/* libFuzzer target: manifests, indexes (with platform selection), configs. */
#include <stddef.h>
#include <stdint.h>

#include "image/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ferr err = FERR_INIT;
	struct image_manifest m;
	if (image_manifest_parse((const char *)data, size, NULL, &m, &err) == 0) {
		if (m.is_index) {
			struct image_platform p;
			const struct image_desc *d;
			image_platform_host(&p);
			image_index_select(&m, &p, &d, &err);
		}
		image_manifest_free(&m);
	}
	struct image_config c;
	if (image_config_parse((const char *)data, size, &c, &err) == 0)
		image_config_free(&c);
	return 0;
}
