/* `ferry app launch`: what bosh's LocalExecutor.execute does, in ferry's own
 * runtime instead of docker or singularity, plus what bosh leaves out: a
 * missing File input stops the launch before anything runs, and the
 * provenance record carries the image digest, times and peak memory.
 * Three steps (app.h): plan, run, record; the tool's process and output are
 * in tee.c, the record in record.c. */
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app/launch-int.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/log.h"
#include "base/path.h"

/* Output files after the run: each path globbed, the first match reported;
 * required outputs without a match are "missing". */
static void check_outputs(const json_t *desc, const struct app_job *job, struct app_result *res)
{
	res->found = json_array();
	res->missing = json_array();
	res->found_map = json_object();
	res->missing_map = json_object();
	const json_t *outputs = json_object_get(desc, "output-files");
	for (size_t i = 0; i < json_array_size(outputs); i++) {
		const json_t *o = json_array_get(outputs, i);
		const char *id = json_get_str(o, "id");
		const char *path = id ? json_get_str(job->outputs, id) : NULL;
		if (!path)
			continue;
		bool optional = json_is_true(json_object_get(o, "optional"));
		glob_t g;
		memset(&g, 0, sizeof g);
		int r = glob(path, 0, NULL, &g);
		_cleanup_free_ char *line = NULL;
		struct stat st;
		/* a path that exists as written counts even where its brackets,
		 * taken as a pattern, match nothing (bosh only globs) */
		const char *match = r == 0 && g.gl_pathc > 0 ? g.gl_pathv[0]
				    : lstat(path, &st) == 0  ? path
							     : NULL;
		if (match) {
			line = xasprintf("%s (%s, %s)", match, id, optional ? "Optional" : "Required");
			json_array_append_new(res->found, json_string(line));
			json_object_set_new(res->found_map, id, json_string(match));
		} else if (!optional) {
			line = xasprintf("%s (%s, Required)", path, id);
			json_array_append_new(res->missing, json_string(line));
			json_object_set_new(res->missing_map, id, json_string(path));
		}
		globfree(&g);
	}
}

const char *app_error_description(const json_t *desc, int code)
{
	const json_t *ec = json_object_get(desc, "error-codes");
	for (size_t i = 0; i < json_array_size(ec); i++) {
		const json_t *e = json_array_get(ec, i);
		const json_t *c = json_object_get(e, "code");
		if (json_is_integer(c) && json_integer_value(c) == code)
			return json_get_str(e, "description");
	}
	return NULL;
}

/* Every File value must exist before anything runs: bosh only notices
 * for container runs, as a failed mount. */
static int check_file_inputs(const json_t *desc, const json_t *inv, struct ferr *err)
{
	const json_t *inputs = json_object_get(desc, "inputs");
	for (size_t i = 0; i < json_array_size(inputs); i++) {
		const json_t *in = json_array_get(inputs, i);
		const char *id = json_get_str(in, "id") ?: "";
		if (!input_is_file(desc, id))
			continue;
		const json_t *v = json_object_get(inv, id);
		size_t n = json_is_array(v) ? json_array_size(v) : v ? 1 : 0;
		for (size_t k = 0; k < n; k++) {
			const char *p = json_string_value(json_is_array(v) ? json_array_get(v, k) : v);
			struct stat st;
			if (p && stat(p, &st) < 0)
				return ferr_setc(err, FERR_NOTFOUND, errno, "input '%s': %s", id, p);
		}
	}
	return 0;
}

/* environment-variables: a value equal to an input's value-key (the whole
 * value) becomes that input's value; anything else is taken literally. */
static char **tool_env(const json_t *desc, const json_t *inv)
{
	char **env = xcalloc(1, sizeof *env);
	const json_t *ev = json_object_get(desc, "environment-variables");
	const json_t *inputs = json_object_get(desc, "inputs");
	for (size_t i = 0; i < json_array_size(ev); i++) {
		const json_t *e = json_array_get(ev, i);
		const char *name = json_get_str(e, "name"), *value = json_get_str(e, "value");
		if (!name || !value)
			continue;
		_cleanup_free_ char *val = xstrdup(value);
		for (size_t k = 0; k < json_array_size(inputs); k++) {
			const json_t *in = json_array_get(inputs, k);
			const char *vk = json_get_str(in, "value-key");
			const json_t *iv = json_object_get(inv, json_get_str(in, "id") ?: "");
			if (vk && iv && !strcmp(vk, value)) {
				free(val);
				val = app_py_str(iv);
				break;
			}
		}
		_cleanup_free_ char *kv = xasprintf("%s=%s", name, val);
		strv_push(&env, kv);
	}
	return env;
}

/* The container-image must be one ferry's runtime can run. */
static int check_image(const json_t *ci, struct ferr *err)
{
	const char *ctype = json_get_str(ci, "type");
	const char *index = json_get_str(ci, "index");
	if (!ctype || (strcmp(ctype, "docker") && strcmp(ctype, "singularity")))
		return ferr_setc(err, FERR_UNSUPPORTED, 0, "container-image type '%s' is not supported yet",
				 ctype ? ctype : "?"),
		       ferr_hint(err, "use --no-container to run the command on this host");
	const char *image = json_get_str(ci, "image") ?: "";
	if (!strcmp(ctype, "singularity") && !(index && str_starts_with(index, "docker://")) &&
	    !str_starts_with(image, "docker://"))
		return ferr_setc(err, FERR_UNSUPPORTED, 0,
				 "singularity image '%s' is not supported yet: only docker:// indexes are",
				 image),
		       ferr_hint(err, "use --no-container to run the command on this host");
	return 0;
}

static void plan_bind(struct app_plan *pl, const char *host, const char *cont, bool ro)
{
	pl->binds = xrealloc(pl->binds, (pl->nbinds + 1) * sizeof *pl->binds);
	pl->binds[pl->nbinds++] = (struct app_bind){ (char *)host, (char *)cont, ro };
}

/* bosh's mounts: user -v first, then the working directory, then each File
 * input at the same absolute path (unless a bind already covers it). */
static void plan_binds(struct app_plan *pl)
{
	const struct app_launch_opts *opts = &pl->opts;
	for (size_t i = 0; i < opts->nbinds; i++)
		plan_bind(pl, opts->binds[i].host, opts->binds[i].cont, opts->binds[i].ro);
	plan_bind(pl, pl->cwd, pl->cwd, false);
	pl->owned = xcalloc(1, sizeof *pl->owned);
	/* the binds point into owned: fill it first, bind afterwards */
	bool *add = NULL;
	size_t nadd = 0;
	const json_t *inputs = json_object_get(pl->desc, "inputs");
	for (size_t i = 0; i < json_array_size(inputs); i++) {
		const char *id = json_get_str(json_array_get(inputs, i), "id") ?: "";
		const json_t *v = json_object_get(pl->full, id);
		if (!input_is_file(pl->desc, id) || !v)
			continue;
		size_t n = json_is_array(v) ? json_array_size(v) : 1;
		for (size_t k = 0; k < n; k++) {
			const char *pth = json_string_value(json_is_array(v) ? json_array_get(v, k) : v);
			if (!pth)
				continue;
			/* the tool sees the path it was given: bind the file's real
			 * location at that path made absolute */
			_cleanup_free_ char *real = realpath(pth, NULL);
			if (!real)
				continue;
			_cleanup_free_ char *joined = pth[0] == '/' ? xstrdup(pth) : path_join(pl->cwd, pth);
			_cleanup_free_ char *abs = path_normalize(joined);
			bool covered = path_is_inside(pl->cwd, abs);
			for (size_t b = 0; b < opts->nbinds; b++)
				covered |= path_is_inside(opts->binds[b].cont, abs);
			strv_push(&pl->owned, real);
			strv_push(&pl->owned, abs);
			add = xrealloc(add, (nadd + 1) * sizeof *add);
			add[nadd++] = !covered;
		}
	}
	for (size_t i = 0; i < nadd; i++)
		if (add[i])
			plan_bind(pl, pl->owned[2 * i], pl->owned[2 * i + 1], false);
	free(add);
}

static int invalid(struct ferr *err, const char *what, struct app_problems *p, bool trim, const char *hint)
{
	const char *msg = p->v[0].msg;
	ferr_setc(err, FERR_INVALID, 0, "invalid %s: %s%s%s", what, p->v[0].path, *p->v[0].path ? ": " : "",
		  trim ? msg + strspn(msg, " ") : msg);
	app_problems_free(p);
	return ferr_hint(err, "%s", hint);
}

int app_launch_plan(const json_t *desc, const json_t *inv, const struct app_launch_opts *opts,
		    struct app_plan *pl, struct ferr *err)
{
	memset(pl, 0, sizeof *pl);
	struct app_problems p = { 0 };
	if (app_validate_descriptor(desc, &p))
		return invalid(err, "descriptor", &p, true, "'ferry app validate' lists every problem");
	_cleanup_json_ json_t *full = app_invocation_with_defaults(desc, inv);
	if (app_validate_invocation(desc, full, &p))
		return invalid(err, "invocation", &p, false, "'ferry app invocation' lists every problem");
	if (check_file_inputs(desc, full, err) < 0)
		return -1;
	const json_t *ci = json_object_get(desc, "container-image");
	bool container = ci && !opts->no_container;
	if (container && check_image(ci, err) < 0)
		return -1;
	if (container && json_array_size(json_object_get(ci, "container-opts")))
		log_warn("container-opts are options of docker or singularity: ferry's runtime ignores them");
	char cwd[4096];
	if (!getcwd(cwd, sizeof cwd))
		return ferr_set(err, errno, "the working directory");
	struct app_job job;
	if (app_job_build(&job, desc, full, APP_WRITE_CONFIG, err) < 0)
		return -1;

	pl->desc = desc;
	pl->invocation = json_deep_copy(inv);
	pl->full = json_incref(full);
	pl->opts = *opts;
	pl->job = job;
	pl->container = container;
	pl->cwd = xstrdup(cwd);
	const char *shell = json_get_str(desc, "shell") ?: "/bin/sh";
	pl->argv = xcalloc(1, sizeof *pl->argv);
	strv_push(&pl->argv, shell);
	/* bosh's job script starts "#!/bin/sh -l" in containers: a login shell,
	 * so images that set PATH in /etc/profile work. */
	if (container && !strcmp(shell, "/bin/sh"))
		strv_push(&pl->argv, "-l");
	strv_push(&pl->argv, "-c");
	strv_push(&pl->argv, job.cmdline);
	pl->env = tool_env(desc, full);
	if (container)
		plan_binds(pl);
	return 0;
}

int app_launch_run(const struct app_plan *pl, struct app_result *res, struct ferr *err)
{
	memset(res, 0, sizeof *res);
	res->exit_code = -1;
	bool capture = !pl->opts.skip_data_collection;
	/* Output is captured only for the record: without one, the tool writes
	 * to our stdout and stderr directly (one process fewer). */
	struct tee t = TEE_INIT;
	if (capture && tee_open(&t, err) < 0)
		return -1;
	gettimeofday(&res->start, NULL);
	int status = 0, r;
	struct rusage ru;
	memset(&ru, 0, sizeof ru);
	if (pl->container) {
		const json_t *ci = json_object_get(pl->desc, "container-image");
		struct app_container_req req = {
			json_get_str(ci, "type"),
			json_get_str(ci, "image"),
			json_get_str(ci, "index"),
			pl->opts.no_pull,
			pl->opts.insecure,
			pl->argv,
			pl->env,
			pl->cwd,
			pl->binds,
			pl->nbinds,
			t.wr[0],
			t.wr[1],
			capture,
			capture ? tee_forked : NULL,
			&t,
		};
		r = app_container_run(&req, &status, &ru, &res->image_digest, &res->container_location, err);
	} else
		r = run_host(pl->argv, pl->env, &t, &status, &ru, err);
	tee_finish(&t, &res->out_text, &res->err_text);
	gettimeofday(&res->end, NULL);
	if (r < 0)
		return -1;
	res->started = true;
	if (WIFEXITED(status))
		res->exit_code = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		res->exit_code = 128 + WTERMSIG(status);
	res->wall_s = (double)(res->end.tv_sec - res->start.tv_sec) +
		      (double)(res->end.tv_usec - res->start.tv_usec) / 1e6;
	res->cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
		     (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	res->maxrss_kib = ru.ru_maxrss;
	res->error_message = xstrdup(app_error_description(pl->desc, res->exit_code) ?: "");
	if (!res->container_location)
		res->container_location = xstrdup("");
	check_outputs(pl->desc, &pl->job, res);
	return 0;
}

int app_launch_record(const struct app_plan *pl, struct app_result *res, struct ferr *err)
{
	return record_write(pl, res, err);
}

void app_plan_free(struct app_plan *pl)
{
	json_decref(pl->invocation);
	json_decref(pl->full);
	app_job_free(&pl->job);
	free(pl->cwd);
	strv_free(pl->argv);
	strv_free(pl->env);
	free(pl->binds);
	strv_free(pl->owned);
	memset(pl, 0, sizeof *pl);
}

int app_launch(const json_t *desc, const json_t *inv, const struct app_launch_opts *opts,
	       struct app_result *res, struct ferr *err)
{
	memset(res, 0, sizeof *res);
	res->exit_code = -1;
	struct app_plan pl;
	if (app_launch_plan(desc, inv, opts, &pl, err) < 0)
		return -1;
	int r = app_launch_run(&pl, res, err);
	if (r == 0 && !opts->skip_data_collection) {
		struct ferr werr = FERR_INIT;
		if (app_launch_record(&pl, res, &werr) < 0)
			log_warn("%s", werr.msg);
	}
	app_plan_free(&pl);
	return r;
}

void app_result_free(struct app_result *res)
{
	free(res->error_message);
	json_decref(res->found);
	json_decref(res->missing);
	json_decref(res->found_map);
	json_decref(res->missing_map);
	free(res->record_path);
	free(res->container_location);
	free(res->image_digest);
	free(res->out_text);
	free(res->err_text);
	memset(res, 0, sizeof *res);
}

int app_pull_image(const json_t *desc, bool insecure, char **location, struct ferr *err)
{
	const json_t *ci = json_object_get(desc, "container-image");
	if (!ci) {
		*location = xstrdup("Descriptor does not specify a container image.");
		return 0;
	}
	const char *type = json_get_str(ci, "type") ?: "";
	if (strcmp(type, "docker") && strcmp(type, "singularity"))
		return ferr_setc(err, FERR_UNSUPPORTED, 0, "container-image type '%s' is not supported yet",
				 type);
	char *digest = NULL;
	int r = app_container_pull(type, json_get_str(ci, "image") ?: "", json_get_str(ci, "index"), insecure,
				   &digest, location, err);
	free(digest);
	return r;
}
