/* bosh's Boutiques rules (validator.py), one function per rule, run in
 * bosh's order by desc_rules_check() after the JSON schema has passed, with
 * bosh's messages, so every verdict and every line agrees with `bosh
 * validate`. Where bosh crashes (a KeyError or TypeError in its own code)
 * ferry reports a problem or applies the evident intent instead; doc/app.md
 * lists each case. rules.h lists the rules; tests/unit/app/test_app_rules.c
 * tests each alone. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/rules.h"
#include "base/cleanup.h"
#include "base/json.h"

void rule_ctx_init(struct rule_ctx *rc, const json_t *d)
{
	memset(rc, 0, sizeof *rc);
	rc->d = d;
	rc->inputs = json_object_get(d, "inputs");
	rc->outputs = json_object_get(d, "output-files");
	rc->groups = json_object_get(d, "groups");
	rc->cmdline = json_get_str(d, "command-line");
	rc->nin = json_array_size(rc->inputs);
	rc->nout = json_array_size(rc->outputs);
	rc->ngr = json_array_size(rc->groups);
	char pb[256];
	/* value-keys of inputs then outputs, with their paths */
	rc->keys = xcalloc(1, sizeof(char *));
	rc->keypaths = xcalloc(1, sizeof(char *));
	for (size_t s = 0; s < 2; s++) {
		const json_t *arr = s ? rc->outputs : rc->inputs;
		for (size_t i = 0; i < json_array_size(arr); i++) {
			const char *k = json_get_str(json_array_get(arr, i), "value-key");
			if (!k)
				continue;
			strv_push(&rc->keys, k);
			snprintf(pb, sizeof pb, "%s[%zu].value-key", s ? "output-files" : "inputs", i);
			strv_push(&rc->keypaths, pb);
		}
	}
	rc->nkeys = strv_len(rc->keys);
	/* ids of inputs, outputs and groups, with their paths */
	rc->ids = xcalloc(1, sizeof(char *));
	rc->idpaths = xcalloc(1, sizeof(char *));
	rc->in_ids = xcalloc(1, sizeof(char *));
	rc->out_ids = xcalloc(1, sizeof(char *));
	rc->grp_ids = xcalloc(1, sizeof(char *));
	static const char *const sections[] = { "inputs", "output-files", "groups" };
	for (size_t s = 0; s < 3; s++) {
		const json_t *arr = json_object_get(d, sections[s]);
		for (size_t i = 0; i < json_array_size(arr); i++) {
			const char *id = json_get_str(json_array_get(arr, i), "id");
			if (!id)
				continue;
			strv_push(&rc->ids, id);
			snprintf(pb, sizeof pb, "%s[%zu].id", sections[s], i);
			strv_push(&rc->idpaths, pb);
			strv_push(s == 0 ? &rc->in_ids : s == 1 ? &rc->out_ids : &rc->grp_ids, id);
		}
	}
}

void rule_ctx_free(struct rule_ctx *rc)
{
	strv_free(rc->keys);
	strv_free(rc->keypaths);
	strv_free(rc->ids);
	strv_free(rc->idpaths);
	strv_free(rc->in_ids);
	strv_free(rc->out_ids);
	strv_free(rc->grp_ids);
	memset(rc, 0, sizeof *rc);
}

/* 1. every value-key used in the command line, a file template, a path
 *    template or an environment variable value */
void rule_keys_used(const struct rule_ctx *rc, struct app_problems *out)
{
	const json_t *outputs = rc->outputs;
	size_t nout = rc->nout;
	size_t nkeys = rc->nkeys;
	char **keys = rc->keys;
	char **keypaths = rc->keypaths;
	const char *cmdline = rc->cmdline;
	const json_t *d = rc->d;
	struct dstr hay = DSTR_INIT;
	dstr_append(&hay, cmdline ? cmdline : "");
	bool first = true;
	for (size_t i = 0; i < nout; i++) {
		const json_t *ft = json_object_get(json_array_get(outputs, i), "file-template");
		for (size_t j = 0; j < json_array_size(ft); j++) {
			if (!first)
				dstr_appendc(&hay, '.');
			first = false;
			dstr_append(&hay, json_string_value(json_array_get(ft, j)) ?: "");
		}
	}
	for (size_t i = 0; i < nout; i++) {
		const char *pt = json_get_str(json_array_get(outputs, i), "path-template");
		if (!pt)
			continue;
		if (!first)
			dstr_appendc(&hay, '.');
		first = false;
		dstr_append(&hay, pt);
	}
	const json_t *envs = json_object_get(d, "environment-variables");
	for (size_t i = 0; i < json_array_size(envs); i++) {
		dstr_append(&hay, "||");
		dstr_append(&hay, json_get_str(json_array_get(envs, i), "value") ?: "");
	}
	for (size_t i = 0; i < nkeys; i++)
		if (!strstr(hay.buf, keys[i]))
			P(keypaths[i],
			  "   KeyError: \"%s\" not in command-line or file template or environment variables",
			  keys[i]);
	dstr_free(&hay);
}

/* 2. no key contains another */
void rule_keys_distinct(const struct rule_ctx *rc, struct app_problems *out)
{
	size_t nkeys = rc->nkeys;
	char **keys = rc->keys;
	char **keypaths = rc->keypaths;
	for (size_t i = 0; i < nkeys; i++)
		for (size_t j = 0; j < nkeys; j++)
			if (strstr(keys[i], keys[j]) && strcmp(keys[i], keys[j]))
				P(keypaths[i], "   KeyError: \"%s\" contains \"%s\"", keys[i], keys[j]);
}

/* 3. ids unique across inputs, outputs and groups */
void rule_ids_unique(const struct rule_ctx *rc, struct app_problems *out)
{
	char **ids = rc->ids;
	char **idpaths = rc->idpaths;
	for (size_t i = 0; ids[i]; i++)
		for (size_t j = i + 1; ids[j]; j++)
			if (!strcmp(ids[i], ids[j]))
				P(idpaths[j], "    IdError: \"%s\" is non-unique", ids[i]);
}

/* 4. a value-key shared by several inputs needs a mutually-exclusive
 *    group made of exactly those inputs. bosh crashes when the
 *    descriptor has no groups at all; ferry reports the problem. */
void rule_shared_keys(const struct rule_ctx *rc, struct app_problems *out)
{
	const json_t *inputs = rc->inputs;
	const json_t *groups = rc->groups;
	size_t nin = rc->nin;
	size_t ngr = rc->ngr;
	size_t nkeys = rc->nkeys;
	char **keys = rc->keys;
	char **keypaths = rc->keypaths;
	for (size_t i = 0; i < nkeys; i++)
		for (size_t j = i + 1; j < nkeys; j++) {
			if (strcmp(keys[i], keys[j]))
				continue;
			_cleanup_strv_ char **mids = xcalloc(1, sizeof(char *));
			for (size_t k = 0; k < nin; k++) {
				const json_t *in = json_array_get(inputs, k);
				const char *vk = json_get_str(in, "value-key");
				if (vk && !strcmp(vk, keys[i]) && json_get_str(in, "id"))
					strv_push(&mids, json_get_str(in, "id"));
			}
			if (!ngr)
				P(keypaths[j], " MutExError: \"%s\" belongs to 2+ non exclusive IDs",
				  keys[i]);
			for (size_t g = 0; g < ngr; g++) {
				const json_t *grp = json_array_get(groups, g);
				const json_t *mem = json_object_get(grp, "members");
				bool same = true;
				for (size_t m = 0; m < json_array_size(mem); m++)
					same &= str_in_list(json_string_value(json_array_get(mem, m)) ?: "",
							    mids);
				for (size_t m = 0; mids[m]; m++)
					same &= json_str_in(mem, mids[m]);
				const json_t *mutex = json_object_get(grp, "mutually-exclusive");
				if (same && !json_is_true(mutex))
					P(keypaths[j], " MutExError: \"%s\" belongs to 2+ non exclusive IDs",
					  keys[i]);
			}
		}
}

/* 5. unique path-templates (each pair reported in both orders) */
void rule_path_templates_unique(const struct rule_ctx *rc, struct app_problems *out)
{
	const json_t *outputs = rc->outputs;
	size_t nout = rc->nout;
	char pb[256];
	for (size_t i = 0; i < nout; i++) {
		const json_t *o1 = json_array_get(outputs, i);
		const char *p1 = json_get_str(o1, "path-template");
		for (size_t j = 0; j < nout && p1; j++) {
			const json_t *o2 = json_array_get(outputs, j);
			const char *p2 = json_get_str(o2, "path-template");
			if (p2 && i != j && !strcmp(p1, p2)) {
				snprintf(pb, sizeof pb, "output-files[%zu].path-template", i);
				P(pb, "OutputError: \"%s\" and \"%s\" have the same path-template",
				  json_get_str(o1, "id") ?: "", json_get_str(o2, "id") ?: "");
			}
		}
	}
}

/* 7a. Flags need a flag and must be optional; Number bounds in order;
 *     String/File choices non-empty and holding the default */
static void input_type_rules(const struct rule_ctx *rc, size_t i, const json_t *in, const char *id,
			     struct app_problems *out)
{
	char pb[256];
	bool opt = is_optional(in);
	const char *type = json_get_str(in, "type") ?: "";
	snprintf(pb, sizeof pb, "inputs[%zu]", i);
	if (!strcmp(type, "Flag")) {
		if (!json_object_get(in, "command-line-flag"))
			P(pb, " InputError: \"%s\" must have a command-line flag", id);
		if (!opt)
			P(pb, " InputError: \"%s\" is of type Flag, it has to be optional", id);
	} else if (!strcmp(type, "Number")) {
		const json_t *mn = json_object_get(in, "minimum"), *mx = json_object_get(in, "maximum");
		if (mn && mx && json_number_value(mn) > json_number_value(mx)) {
			_cleanup_free_ char *a = num_text(mn);
			_cleanup_free_ char *b = num_text(mx);
			P(pb, " InputError: \"%s\" cannot have greater min (%s) than max (%s)", id, a, b);
		}
	} else if (json_object_get(in, "value-choices")) {
		const json_t *ch = json_object_get(in, "value-choices");
		if (json_array_size(ch) < 1)
			P(pb, " InputError: \"%s\" must have at least one value choice", id);
		const json_t *dv = json_object_get(in, "default-value");
		if (dv) {
			size_t n = json_is_array(dv) ? json_array_size(dv) : 1;
			for (size_t k = 0; k < n; k++) {
				const json_t *x = json_is_array(dv) ? json_array_get(dv, k) : dv;
				bool found = false;
				for (size_t c = 0; c < json_array_size(ch) && !found; c++)
					found = py_equal(x, json_array_get(ch, c));
				if (!found)
					P(pb,
					  " InputError: \"%s\" cannot have default value outside its choices",
					  id);
			}
		}
	}
}

/* 7b. list bounds (whenever the key `list` is present) */
static void input_list_rules(const struct rule_ctx *rc, size_t i, const json_t *in, const char *id,
			     struct app_problems *out)
{
	char pb[256];
	snprintf(pb, sizeof pb, "inputs[%zu]", i);
	if (json_object_get(in, "list")) {
		const json_t *mn = json_object_get(in, "min-list-entries");
		const json_t *mx = json_object_get(in, "max-list-entries");
		double vmin = json_is_number(mn) ? json_number_value(mn) : 0;
		/* Python truthiness: 0 means unset */
		double vmax =
			json_is_number(mx) && json_number_value(mx) != 0 ? json_number_value(mx) : INFINITY;
		_cleanup_free_ char *smin = vmin != 0 ? num_text(mn) : xstrdup("0");
		_cleanup_free_ char *smax = isinf(vmax) ? xstrdup("inf") : num_text(mx);
		if (vmin > vmax)
			P(pb,
			  " InputError: \"%s\" cannot have greater min entries (%s) than max entries (%s)",
			  id, smin, smax);
		if (vmin < 0)
			P(pb, " InputError: \"%s\" cannot have negative min entries (%s)", id, smin);
		if (vmax <= 0)
			P(pb, " InputError: \"%s\" cannot have non-positive max entries (%s)", id, smax);
	}
}

/* 7c. requires-inputs / disables-inputs targets */
static void input_requires_rules(const struct rule_ctx *rc, size_t i, const json_t *in, const char *id,
				 struct app_problems *out)
{
	char **in_ids = rc->in_ids;
	char **grp_ids = rc->grp_ids;
	const json_t *d = rc->d;
	char pb[256];
	char pb2[256];
	bool opt = is_optional(in);
	snprintf(pb, sizeof pb, "inputs[%zu]", i);
	const json_t *req = json_object_get(in, "requires-inputs");
	const json_t *dis = json_object_get(in, "disables-inputs");
	for (size_t k = 0; k < json_array_size(req); k++) {
		const char *r = json_string_value(json_array_get(req, k)) ?: "";
		if (!str_in_list(r, in_ids) && !str_in_list(r, grp_ids)) {
			snprintf(pb2, sizeof pb2, "inputs[%zu].requires-inputs[%zu]", i, k);
			P(pb2, " InputError: \"%s\" required id \"%s\" not found", id, r);
		}
	}
	for (size_t k = 0; k < json_array_size(dis); k++) {
		const char *r = json_string_value(json_array_get(dis, k)) ?: "";
		if (!str_in_list(r, in_ids)) {
			snprintf(pb2, sizeof pb2, "inputs[%zu].disables-inputs[%zu]", i, k);
			P(pb2, " InputError: \"%s\" disables id \"%s\" not found", id, r);
		}
	}
	if (req && dis)
		for (size_t a = 0; a < json_array_size(req); a++)
			for (size_t b = 0; b < json_array_size(dis); b++) {
				const char *x = json_string_value(json_array_get(req, a)) ?: "";
				const char *y = json_string_value(json_array_get(dis, b)) ?: "";
				if (!strcmp(x, y))
					P(pb, " InputError: \"%s\" requires and disables \"%s\"", id, x);
			}
	for (size_t k = 0; k < json_array_size(dis); k++) {
		const char *r = json_string_value(json_array_get(dis, k)) ?: "";
		if (str_in_list(r, in_ids) && !is_optional(desc_find(d, "inputs", r))) {
			snprintf(pb2, sizeof pb2, "inputs[%zu].disables-inputs[%zu]", i, k);
			P(pb2, " InputError: \"%s\" disables required id \"%s\"", id, r);
		}
	}
	if ((req || dis) && !opt)
		P(pb, " InputError: \"%s\" cannot require or disable other inputs", id);
}

/* 7d. value-requires / value-disables against the value-choices */
static void input_value_opts_rules(const struct rule_ctx *rc, size_t i, const json_t *in, const char *id,
				   struct app_problems *out)
{
	char **in_ids = rc->in_ids;
	const json_t *d = rc->d;
	char pb[256];
	char pb2[256];
	snprintf(pb, sizeof pb, "inputs[%zu]", i);
	const json_t *ch = json_object_get(in, "value-choices");
	const json_t *vreq = json_object_get(in, "value-requires");
	const json_t *vdis = json_object_get(in, "value-disables");
	if ((vreq || vdis) && !ch)
		P(pb, " InputError: \"%s\" cannot have have value-opts without value-choices defined.", id);
	if (!ch)
		return;
	if (vreq && vdis)
		for (size_t c = 0; c < json_array_size(ch); c++) {
			_cleanup_free_ char *choice = app_py_str(json_array_get(ch, c));
			const json_t *dl = json_object_get(vdis, choice);
			const json_t *rl = json_object_get(vreq, choice);
			for (size_t k = 0; k < json_array_size(dl); k++) {
				const char *x = json_string_value(json_array_get(dl, k)) ?: "";
				if (json_str_in(rl, x))
					P(pb,
					  " InputError: \"%s\" choice \"%s\" requires and disables \"%s\"",
					  id, choice, x);
			}
		}
	static const char *const params[] = { "value-requires", "value-disables" };
	for (size_t q = 0; q < 2; q++) {
		const json_t *pm = json_object_get(in, params[q]);
		if (!pm)
			continue;
		snprintf(pb2, sizeof pb2, "inputs[%zu].%s", i, params[q]);
		bool same = true;
		const char *k;
		json_t *x;
		json_object_foreach((json_t *)pm, k, x)
		{
			bool f = false;
			for (size_t c = 0; c < json_array_size(ch) && !f; c++) {
				const json_t *cv = json_array_get(ch, c);
				f = json_is_string(cv) && !strcmp(json_string_value(cv), k);
			}
			same &= f;
		}
		for (size_t c = 0; c < json_array_size(ch); c++) {
			const json_t *cv = json_array_get(ch, c);
			same &= json_is_string(cv) && json_object_get(pm, json_string_value(cv)) != NULL;
		}
		if (!same)
			P(pb2, " InputError: \"%s\" %s list is not the same as the value-choices", id,
			  params[q]);
		/* bosh prints the whole list in this message; ferry names the id */
		json_object_foreach((json_t *)pm, k, x)
		{
			for (size_t m = 0; m < json_array_size(x); m++) {
				const char *item = json_string_value(json_array_get(x, m)) ?: "";
				if (!str_in_list(item, in_ids))
					P(pb2, " InputError: \"%s\" %s id \"%s\" not found", id, params[q],
					  item);
			}
		}
		json_object_foreach((json_t *)pm, k, x)
		{
			for (size_t m = 0; m < json_array_size(x); m++) {
				const char *item = json_string_value(json_array_get(x, m)) ?: "";
				if (!is_optional(desc_find(d, "inputs", item)))
					P(pb2,
					  " InputError: \"%s\" %s cannot be used with required input \"%s\"",
					  id, params[q], item);
			}
		}
	}
}

/* 7. each input, its checks in bosh's order */
void rule_inputs(const struct rule_ctx *rc, struct app_problems *out)
{
	for (size_t i = 0; i < rc->nin; i++) {
		const json_t *in = json_array_get(rc->inputs, i);
		const char *id = json_get_str(in, "id") ?: "";
		input_type_rules(rc, i, in, id, out);
		input_list_rules(rc, i, in, id, out);
		input_requires_rules(rc, i, in, id, out);
		input_value_opts_rules(rc, i, in, id, out);
	}
}

/* A group as the group rules see it: its members as listed and as a
 * Python set() (first occurrences, in order). */
struct group {
	size_t g;
	const json_t *grp;
	const char *gid;
	char **ms, **uniq;
	char pb[256];
};

/* 8a. members exist, none twice */
static void group_member_rules(const struct rule_ctx *rc, const struct group *G, struct app_problems *out)
{
	size_t g = G->g;
	const char *gid = G->gid;
	char **ms = G->ms, **uniq = G->uniq;
	const char *pb = G->pb;
	char **in_ids = rc->in_ids;
	char pb2[256];
	for (size_t m = 0; ms[m]; m++)
		if (!str_in_list(ms[m], in_ids)) {
			snprintf(pb2, sizeof pb2, "groups[%zu].members[%zu]", g, m);
			P(pb2, " GroupError: \"%s\" member \"%s\" does not exist", gid, ms[m]);
		}
	for (size_t m = 0; uniq[m]; m++)
		if (count_in(uniq[m], ms) > 1)
			P(pb, " GroupError: \"%s\" member \"%s\" appears twice", gid, uniq[m]);
}

/* 8b. mutually-exclusive groups: no required member, no member requiring
 *     another, no pair shared with an all-or-none group */
static void group_mutex_rules(const struct rule_ctx *rc, const struct group *G, struct app_problems *out)
{
	size_t g = G->g;
	const json_t *grp = G->grp;
	const char *gid = G->gid;
	char **ms = G->ms, **uniq = G->uniq;
	const char *pb = G->pb;
	size_t ngr = rc->ngr;
	const json_t *groups = rc->groups;
	const json_t *d = rc->d;
	if (json_is_true(json_object_get(grp, "mutually-exclusive"))) {
		for (size_t m = 0; uniq[m]; m++) {
			const json_t *in = desc_find(d, "inputs", uniq[m]);
			if (in && !is_optional(in))
				P(pb,
				  " GroupError: \"%s\" is mutually-exclusive and cannot have required "
				  "members, such as \"%s\"",
				  gid, uniq[m]);
		}
		for (size_t m = 0; uniq[m]; m++) {
			const json_t *req =
				json_object_get(desc_find(d, "inputs", uniq[m]), "requires-inputs");
			for (size_t k = 0; k < json_array_size(req); k++) {
				const char *r = json_string_value(json_array_get(req, k)) ?: "";
				if (str_in_list(r, uniq))
					P(pb,
					  " GroupError: \"%s\" is mutually-exclusive and cannot have members "
					  "require one another, such as \"%s\" and \"%s\"",
					  gid, uniq[m], r);
			}
		}
		for (size_t h = 0; h < ngr; h++) {
			const json_t *g2 = json_array_get(groups, h);
			if (!json_is_true(json_object_get(g2, "all-or-none")) || h == g)
				continue;
			const json_t *m2 = json_object_get(g2, "members");
			for (size_t a = 0; ms[a]; a++)
				for (size_t b = 0; ms[b]; b++)
					if (strcmp(ms[a], ms[b]) && json_str_in(m2, ms[a]) &&
					    json_str_in(m2, ms[b]))
						P(pb,
						  " GroupError: mutually-exclusive group \"%s\" and "
						  "all-or-none group \"%s\" cannot both contain input pairs "
						  "\"%s\" and \"%s\"",
						  gid, json_get_str(g2, "id") ?: "", ms[a], ms[b]);
		}
	}
}

/* 8c. one-is-required groups: no required member, not inside an
 *     all-or-none group */
static void group_one_required_rules(const struct rule_ctx *rc, const struct group *G,
				     struct app_problems *out)
{
	size_t g = G->g;
	const json_t *grp = G->grp;
	const char *gid = G->gid;
	char **ms = G->ms, **uniq = G->uniq;
	const char *pb = G->pb;
	size_t ngr = rc->ngr;
	const json_t *groups = rc->groups;
	char **in_ids = rc->in_ids;
	const json_t *d = rc->d;
	if (json_is_true(json_object_get(grp, "one-is-required"))) {
		for (size_t m = 0; uniq[m]; m++)
			if (str_in_list(uniq[m], in_ids) && !is_optional(desc_find(d, "inputs", uniq[m])))
				P(pb,
				  " GroupError: \"%s\" is a one-is-required group and contains a required "
				  "member, \"%s\"",
				  gid, uniq[m]);
		for (size_t h = 0; h < ngr; h++) {
			const json_t *g2 = json_array_get(groups, h);
			if (!json_is_true(json_object_get(g2, "all-or-none")) || h == g)
				continue;
			bool subset = true;
			for (size_t m = 0; ms[m]; m++)
				subset &= json_str_in(json_object_get(g2, "members"), ms[m]);
			if (subset)
				P(pb,
				  " GroupError: \"%s\" is one-is-required and cannot be a subset of the "
				  "all-or-none group \"%s\"",
				  gid, json_get_str(g2, "id") ?: "");
		}
	}
}

/* 8d. all-or-none groups: not combined with the other kinds, no required
 *     member */
static void group_all_or_none_rules(const struct rule_ctx *rc, const struct group *G,
				    struct app_problems *out)
{
	const json_t *grp = G->grp;
	const char *gid = G->gid;
	char **uniq = G->uniq;
	const char *pb = G->pb;
	char **in_ids = rc->in_ids;
	const json_t *d = rc->d;
	if (json_is_true(json_object_get(grp, "all-or-none"))) {
		if (json_is_true(json_object_get(grp, "one-is-required")) ||
		    json_is_true(json_object_get(grp, "mutually-exclusive")))
			P(pb,
			  " GroupError: \"%s\" is an all-or-none group and cannot be paired with "
			  "one-is-required or mutually-exclusive groups",
			  gid);
		for (size_t m = 0; uniq[m]; m++)
			if (str_in_list(uniq[m], in_ids) && !is_optional(desc_find(d, "inputs", uniq[m])))
				P(pb,
				  " GroupError: \"%s\" is an all-or-none group and contains a required "
				  "member, \"%s\"",
				  gid, uniq[m]);
	}
}

/* 8. each group, its checks in bosh's order */
void rule_groups(const struct rule_ctx *rc, struct app_problems *out)
{
	for (size_t g = 0; g < rc->ngr; g++) {
		struct group G = { .g = g, .grp = json_array_get(rc->groups, g) };
		G.gid = json_get_str(G.grp, "id") ?: "";
		const json_t *mem = json_object_get(G.grp, "members");
		snprintf(G.pb, sizeof G.pb, "groups[%zu]", g);
		G.ms = xcalloc(1, sizeof(char *));
		G.uniq = xcalloc(1, sizeof(char *));
		for (size_t m = 0; m < json_array_size(mem); m++) {
			const char *x = json_string_value(json_array_get(mem, m)) ?: "";
			strv_push(&G.ms, x);
			if (!str_in_list(x, G.uniq))
				strv_push(&G.uniq, x);
		}
		group_member_rules(rc, &G, out);
		group_mutex_rules(rc, &G, out);
		group_one_required_rules(rc, &G, out);
		group_all_or_none_rules(rc, &G, out);
		strv_free(G.ms);
		strv_free(G.uniq);
	}
}

/* 9. tests: asserted outputs exist, once per test; test names unique */
void rule_tests(const struct rule_ctx *rc, struct app_problems *out)
{
	char **out_ids = rc->out_ids;
	const json_t *d = rc->d;
	char pb[256];
	const json_t *tests = json_object_get(d, "tests");
	if (tests) {
		_cleanup_strv_ char **names = xcalloc(1, sizeof(char *));
		for (size_t t = 0; t < json_array_size(tests); t++) {
			const json_t *test = json_array_get(tests, t);
			const char *tname = json_get_str(test, "name") ?: "";
			strv_push(&names, tname);
			const json_t *of =
				json_object_get(json_object_get(test, "assertions"), "output-files");
			if (!of)
				continue;
			snprintf(pb, sizeof pb, "tests[%zu].assertions.output-files", t);
			_cleanup_strv_ char **oids = xcalloc(1, sizeof(char *));
			for (size_t k = 0; k < json_array_size(of); k++) {
				const char *oid = json_get_str(json_array_get(of, k), "id");
				if (oid)
					strv_push(&oids, oid);
			}
			for (size_t k = 0; oids[k]; k++)
				if (!str_in_list(oids[k], out_ids))
					P(pb, "TestError: \"%s\" output id not found, in test \"%s\"",
					  oids[k], tname);
			for (size_t k = 0; oids[k]; k++) {
				bool seen = false;
				for (size_t j = 0; j < k; j++)
					seen |= !strcmp(oids[j], oids[k]);
				if (!seen && count_in(oids[k], oids) > 1)
					P(pb,
					  "TestError: \"%s\" output id cannot appear more than once within "
					  "same test, in test \"%s\"",
					  oids[k], tname);
			}
		}
		for (size_t k = 0; names[k]; k++) {
			bool seen = false;
			for (size_t j = 0; j < k; j++)
				seen |= !strcmp(names[j], names[k]);
			if (!seen && count_in(names[k], names) > 1)
				P("tests", "TestError: \"%s\" test name is non-unique", names[k]);
		}
	}
}

/* 10. an index prefixed to the image must match `index`. (bosh crashes on
 *     "rootfs" images, which have no `image`.) */
void rule_container_index(const struct rule_ctx *rc, struct app_problems *out)
{
	const json_t *d = rc->d;
	const json_t *ci = json_object_get(d, "container-image");
	const char *image = json_get_str(ci, "image");
	const char *index = json_get_str(ci, "index");
	if (image && index) {
		const char *p = image;
		while (isalnum((unsigned char)*p))
			p++;
		if (p > image && !strncmp(p, "://", 3)) {
			size_t n = (size_t)(p - image) + 3;
			if (strlen(index) != n || strncmp(index, image, n))
				P("container-image.index",
				  "ContainerError: container image \"%s\" is prepended by index that doesn't "
				  "match container index value \"%s\"",
				  image, index);
		}
	}
}

const struct desc_rule desc_rules[] = {
	{ "keys-used", rule_keys_used },
	{ "keys-distinct", rule_keys_distinct },
	{ "ids-unique", rule_ids_unique },
	{ "shared-keys", rule_shared_keys },
	{ "path-templates-unique", rule_path_templates_unique },
	{ "conditional-paths", rule_conditional_paths },
	{ "condition-depth", rule_condition_depth },
	{ "inputs", rule_inputs },
	{ "groups", rule_groups },
	{ "tests", rule_tests },
	{ "container-index", rule_container_index },
	{ NULL, NULL },
};

void desc_rules_check(const json_t *d, struct app_problems *out)
{
	struct rule_ctx rc;
	rule_ctx_init(&rc, d);
	for (const struct desc_rule *r = desc_rules; r->name; r++)
		r->fn(&rc, out);
	rule_ctx_free(&rc);
}
