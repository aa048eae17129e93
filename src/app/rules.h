/* Internal to src/app: bosh's Boutiques rules on a descriptor that passed
 * the JSON schema, one function per rule (rules.c), in bosh's order. */
#pragma once

#include <stddef.h>
#include <string.h>

#include "app/internal.h"
#include "base/json.h"

#define P(path, ...) app_problems_add(out, path, __VA_ARGS__)

/* Small helpers the rules share. */
static inline bool str_in_list(const char *s, char **v)
{
	return strv_contains(v, s);
}

static inline size_t count_in(const char *s, char **v)
{
	size_t n = 0;
	for (; v && *v; v++)
		n += !strcmp(*v, s);
	return n;
}

static inline bool json_str_in(const json_t *arr, const char *s)
{
	for (size_t i = 0; i < json_array_size(arr); i++) {
		const char *x = json_string_value(json_array_get(arr, i));
		if (x && !strcmp(x, s))
			return true;
	}
	return false;
}

static inline bool is_optional(const json_t *x)
{
	return x && json_is_true(json_object_get(x, "optional"));
}

/* Python str.format of a JSON number ("{}"): str(). */
static inline char *num_text(const json_t *v)
{
	return app_py_str(v);
}

/* What the rules share, computed once per descriptor. */
struct rule_ctx {
	const json_t *d, *inputs, *outputs, *groups;
	const char *cmdline;
	size_t nin, nout, ngr, nkeys;
	char **keys, **keypaths; /* value-keys of inputs then outputs, and their JSON paths */
	char **ids, **idpaths;   /* ids of inputs, outputs, groups, and their JSON paths */
	char **in_ids, **out_ids, **grp_ids;
};
void rule_ctx_init(struct rule_ctx *c, const json_t *d);
void rule_ctx_free(struct rule_ctx *c);

typedef void desc_rule_fn(const struct rule_ctx *c, struct app_problems *out);
desc_rule_fn rule_keys_used, rule_keys_distinct, rule_ids_unique, rule_shared_keys,
	rule_path_templates_unique, rule_conditional_paths, rule_condition_depth, rule_inputs, rule_groups,
	rule_tests, rule_container_index;

struct desc_rule {
	const char *name;
	desc_rule_fn *fn;
};
/* Every rule in bosh's order, ending with { NULL, NULL }. */
extern const struct desc_rule desc_rules[];

/* All of them, problems appended to out. */
void desc_rules_check(const json_t *d, struct app_problems *out);
