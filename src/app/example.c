/* Example invocations (bosh example): random values shaped like bosh's
 * (str_<id>_xx, f_<id>_NN.ext, numbers inside the bounds, lists of 2-5
 * items, flags true, a random choice), one member of every one-is-required
 * group, and with `complete` the optional inputs that requires/disables and
 * mutually-exclusive groups allow. Candidates are checked against the
 * invocation rules and retried, so what is returned is always valid. */
#include <stdlib.h>
#include <string.h>

#include "app/internal.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/num.h"

static unsigned rnd(unsigned *st)
{
	/* xorshift32: reproducible across libcs for a given --seed */
	unsigned x = *st ? *st : 0x9e3779b9u;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *st = x;
}

static json_t *one_value(const json_t *in, unsigned *st)
{
	const char *id = json_get_str(in, "id") ?: "x";
	const char *type = json_get_str(in, "type") ?: "String";
	const json_t *ch = json_object_get(in, "value-choices");
	if (json_array_size(ch))
		return json_incref(json_array_get(ch, rnd(st) % json_array_size(ch)));
	if (!strcmp(type, "Flag"))
		return json_true();
	if (!strcmp(type, "Number")) {
		const json_t *mn = json_object_get(in, "minimum"), *mx = json_object_get(in, "maximum");
		bool integer = json_is_true(json_object_get(in, "integer"));
		double lo = json_is_number(mn) ? json_number_value(mn) : -50;
		double hi = json_is_number(mx) ? json_number_value(mx) : 50;
		if (!json_is_number(mn) && json_is_number(mx))
			lo = hi - 100;
		if (json_is_number(mn) && !json_is_number(mx))
			hi = lo + 100;
		double eps = integer ? 1 : 0.001;
		if (json_is_true(json_object_get(in, "exclusive-minimum")))
			lo += eps;
		if (json_is_true(json_object_get(in, "exclusive-maximum")))
			hi -= eps;
		if (hi < lo)
			hi = lo;
		if (integer) {
			long long a = (long long)num_ceil(lo), b = (long long)num_floor(hi);
			if (b < a)
				b = a;
			return json_integer(a + (long long)(rnd(st) % (unsigned)(b - a + 1)));
		}
		double x = lo + (hi - lo) * (rnd(st) % 100001) / 100000.0;
		x = num_round(x * 1000) / 1000;
		if (x < lo)
			x += 0.001;
		if (x > hi)
			x -= 0.001;
		return json_real(x);
	}
	static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	static const char *const exts[] = { ".csv", ".tex", ".j", ".cpp", ".m", ".mnc", ".nii.gz", "" };
	char buf[512];
	if (!strcmp(type, "File"))
		snprintf(buf, sizeof buf, "f_%s_%u%u%s", id, rnd(st) % 10, rnd(st) % 10, exts[rnd(st) % 8]);
	else
		snprintf(buf, sizeof buf, "str_%s_%c%c", id, alnum[rnd(st) % 62], alnum[rnd(st) % 62]);
	return json_string(buf);
}

static json_t *value_for(const json_t *in, unsigned *st)
{
	if (!json_is_true(json_object_get(in, "list")))
		return one_value(in, st);
	const json_t *mn = json_object_get(in, "min-list-entries"), *mx = json_object_get(in, "max-list-entries");
	long lo = json_is_number(mn) && json_number_value(mn) > 0 ? (long)json_number_value(mn) : 2;
	long hi = json_is_number(mx) && json_number_value(mx) > 0 ? (long)json_number_value(mx) : 5;
	if (hi < lo)
		hi = json_is_number(mx) && json_number_value(mx) > 0 ? hi : lo;
	if (lo > hi)
		lo = hi;
	long n = lo + (long)(rnd(st) % (unsigned)(hi - lo + 1));
	json_t *a = json_array();
	for (long i = 0; i < n; i++)
		json_array_append_new(a, one_value(in, st));
	return a;
}

static bool conflicts(const json_t *desc, const json_t *inv, const json_t *in)
{
	const char *id = json_get_str(in, "id") ?: "";
	const json_t *dis = json_object_get(in, "disables-inputs");
	for (size_t k = 0; k < json_array_size(dis); k++)
		if (json_object_get(inv, json_string_value(json_array_get(dis, k)) ?: ""))
			return true;
	const json_t *inputs = json_object_get(desc, "inputs");
	for (size_t i = 0; i < json_array_size(inputs); i++) {
		const json_t *o = json_array_get(inputs, i);
		if (!json_object_get(inv, json_get_str(o, "id") ?: ""))
			continue;
		const json_t *od = json_object_get(o, "disables-inputs");
		for (size_t k = 0; k < json_array_size(od); k++)
			if (!strcmp(json_string_value(json_array_get(od, k)) ?: "", id))
				return true;
	}
	const json_t *groups = json_object_get(desc, "groups");
	for (size_t g = 0; g < json_array_size(groups); g++) {
		const json_t *grp = json_array_get(groups, g);
		if (!json_object_get(grp, "mutually-exclusive"))
			continue;
		const json_t *mem = json_object_get(grp, "members");
		bool member = false, other = false;
		for (size_t m = 0; m < json_array_size(mem); m++) {
			const char *mid = json_string_value(json_array_get(mem, m)) ?: "";
			if (!strcmp(mid, id))
				member = true;
			else if (json_object_get(inv, mid))
				other = true;
		}
		if (member && other)
			return true;
	}
	return false;
}

static json_t *candidate(const json_t *desc, bool complete, unsigned *st)
{
	json_t *inv = json_object();
	const json_t *inputs = json_object_get(desc, "inputs");
	for (size_t i = 0; i < json_array_size(inputs); i++) {
		const json_t *in = json_array_get(inputs, i);
		if (!json_is_true(json_object_get(in, "optional")))
			json_object_set_new(inv, json_get_str(in, "id") ?: "", value_for(in, st));
	}
	const json_t *groups = json_object_get(desc, "groups");
	for (size_t g = 0; g < json_array_size(groups); g++) {
		const json_t *grp = json_array_get(groups, g);
		if (!json_is_true(json_object_get(grp, "one-is-required")))
			continue;
		const json_t *mem = json_object_get(grp, "members");
		bool have = false;
		for (size_t m = 0; m < json_array_size(mem); m++)
			have |= json_object_get(inv, json_string_value(json_array_get(mem, m)) ?: "") != NULL;
		if (have || !json_array_size(mem))
			continue;
		const char *mid = json_string_value(json_array_get(mem, rnd(st) % json_array_size(mem))) ?: "";
		const json_t *in = desc_find(desc, "inputs", mid);
		if (in)
			json_object_set_new(inv, mid, value_for(in, st));
	}
	if (complete) {
		for (size_t i = 0; i < json_array_size(inputs); i++) {
			const json_t *in = json_array_get(inputs, i);
			const char *id = json_get_str(in, "id") ?: "";
			if (json_object_get(inv, id) || conflicts(desc, inv, in))
				continue;
			json_object_set_new(inv, id, value_for(in, st));
		}
	}
	/* drop inputs whose requirements are missing, until stable */
	for (bool changed = true; changed;) {
		changed = false;
		for (size_t i = 0; i < json_array_size(inputs); i++) {
			const json_t *in = json_array_get(inputs, i);
			const char *id = json_get_str(in, "id") ?: "";
			if (!json_object_get(inv, id) || !json_is_true(json_object_get(in, "optional")))
				continue;
			const json_t *req = json_object_get(in, "requires-inputs");
			for (size_t k = 0; k < json_array_size(req); k++) {
				const char *r = json_string_value(json_array_get(req, k)) ?: "";
				const json_t *grp = desc_find(desc, "groups", r);
				bool ok = json_object_get(inv, r) != NULL;
				for (size_t m = 0; grp && m < json_array_size(json_object_get(grp, "members")); m++)
					ok |= json_object_get(inv, json_string_value(json_array_get(
									   json_object_get(grp, "members"), m)) ?: "") != NULL;
				if (!ok) {
					json_object_del(inv, id);
					changed = true;
					break;
				}
			}
		}
	}
	return inv;
}

json_t *app_example(const json_t *desc, bool complete, unsigned seed, struct ferr *err)
{
	unsigned st = seed ? seed : 1;
	for (int attempt = 0; attempt < 200; attempt++) {
		json_t *inv = candidate(desc, complete, &st);
		_cleanup_json_ json_t *full = app_invocation_with_defaults(desc, inv);
		struct app_problems p = { 0 };
		/* an example keeps the rules bosh does not enforce too */
		size_t n = app_validate_invocation(desc, full, &p) + app_invocation_soft_rules(desc, full, &p);
		app_problems_free(&p);
		if (!n)
			return inv;
		json_decref(inv);
		/* the second half of the attempts leaves optional inputs out */
		if (attempt == 100)
			complete = false;
	}
	return ferr_setc(err, FERR_INVALID, 0, "could not generate a valid example invocation"), NULL;
}
