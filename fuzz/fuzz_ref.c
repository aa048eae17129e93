/* libFuzzer target: image reference and platform parsing. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	struct image_ref r;
	struct ferr err = FERR_INIT;
	if (image_ref_parse(s, &r, &err) == 0) {
		char *str = image_ref_str(&r);
		/* what we print must parse back to the same reference */
		struct image_ref r2;
		if (r.transport == TRANSPORT_DOCKER && image_ref_parse(str, &r2, &err) == 0) {
			if (strcmp(r.registry, r2.registry) || strcmp(r.repo, r2.repo))
				abort();
			image_ref_free(&r2);
		}
		free(str);
		image_ref_free(&r);
	}
	struct image_platform p;
	image_platform_parse(s, &p, &err);
	free(s);
	return 0;
}
