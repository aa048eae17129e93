/* libFuzzer target: descriptor and invocation parsing, validation and
 * command-line building. The input is a descriptor JSON, optionally
 * followed by a NUL byte and an invocation JSON. Build and run with
 * fuzz/run (clang, ASan+UBSan):  fuzz/run [SECONDS] */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t dlen = nul ? (size_t)(nul - data) : size;
	json_error_t je;
	json_t *desc = json_loadb((const char *)data, dlen, JSON_DECODE_ANY, &je);
	if (!desc)
		return 0;
	struct app_problems p = { 0 };
	size_t bad = app_validate_descriptor(desc, &p);
	app_problems_free(&p);
	json_t *schema = app_invocation_schema_generate(desc);
	json_decref(schema);
	if (!bad && nul) {
		json_t *inv = json_loadb((const char *)nul + 1, size - dlen - 1, JSON_DECODE_ANY, &je);
		if (inv) {
			json_t *full = app_invocation_with_defaults(desc, inv);
			if (!app_validate_invocation(desc, full, &p)) {
				struct app_job job;
				struct ferr err = FERR_INIT;
				/* no APP_WRITE_CONFIG: the fuzzer must not write files */
				if (app_job_build(&job, desc, full, 0, &err) == 0)
					app_job_free(&job);
			}
			app_problems_free(&p);
			json_decref(full);
			json_decref(inv);
		}
	}
	json_decref(desc);
	return 0;
}
