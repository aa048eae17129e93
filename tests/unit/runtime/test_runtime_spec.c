/* Pure helpers of the runtime: bind specs, image config, `run` argv,
 * environment order, ELF SONAME. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/str.h"
#include "runtime/internal.h"
#include "runtime/runtime.h"

static void test_binds(void **state)
{
	(void)state;
	struct run_bind *b = NULL;
	size_t n = 0;
	struct ferr err = FERR_INIT;
	assert_int_equal(runtime_parse_binds("/a,/b:/c,/d:/e:ro,,/f//g/:/h/:rw", &b, &n, &err), 0);
	assert_int_equal(n, 4);
	assert_string_equal(b[0].src, "/a");
	assert_string_equal(b[0].dst, "/a");
	assert_false(b[0].ro);
	assert_string_equal(b[1].dst, "/c");
	assert_true(b[2].ro);
	assert_string_equal(b[3].src, "/f/g");
	assert_string_equal(b[3].dst, "/h");
	assert_false(b[3].ro);
	/* relative sources are made absolute against the cwd */
	assert_int_equal(runtime_parse_binds("rel:/x", &b, &n, &err), 0);
	char *cwd = getcwd(NULL, 0);
	char *want = xasprintf("%s/rel", cwd);
	assert_string_equal(b[4].src, strcmp(cwd, "/") ? want : "/rel");
	free(want);
	free(cwd);
	runtime_binds_free(b, n);

	static const char *const bad[] = {"/a:/b:ro:x", ":/b", "/a:rel", "/a:/b:rx", "/a:/b:"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		b = NULL;
		n = 0;
		ferr_clear(&err);
		int r = runtime_parse_binds(bad[i], &b, &n, &err);
		if (i == 4) { /* empty options field: same as none */
			assert_int_equal(r, 0);
		} else {
			assert_int_equal(r, -1);
			assert_int_equal(err.code, FERR_USAGE);
		}
		runtime_binds_free(b, n);
	}
}

/* app launch -v uses the same parser, one spec at a time: a comma is part
 * of a path there, the destination must still be absolute. */
static void test_bind_one(void **state)
{
	(void)state;
	struct run_bind b;
	struct ferr err = FERR_INIT;
	assert_int_equal(runtime_parse_bind("/data,x/./y//:/in/./c:ro", &b, &err), 0);
	assert_string_equal(b.src, "/data,x/y");
	assert_string_equal(b.dst, "/in/c");
	assert_true(b.ro);
	free(b.src);
	free(b.dst);
	assert_int_equal(runtime_parse_bind("/a:relative", &b, &err), -1);
	assert_int_equal(err.code, FERR_USAGE);
	assert_non_null(strstr(err.msg, "must be absolute"));
}

static char **v(const char *a, const char *b, const char *c)
{
	char **x = xcalloc(1, sizeof *x);
	if (a)
		strv_push(&x, a);
	if (b)
		strv_push(&x, b);
	if (c)
		strv_push(&x, c);
	return x;
}

static char *joined(char **a)
{
	struct dstr s = DSTR_INIT;
	for (size_t i = 0; a[i]; i++)
		dstr_printf(&s, "%s%s", i ? " " : "", a[i]);
	return dstr_steal(&s);
}

static void expect_argv(const struct image_config *cfg, const char *ep, char **args, const char *want)
{
	char **out = NULL;
	struct ferr err = FERR_INIT;
	int r = runtime_run_argv(cfg, ep, args, &out, &err);
	if (!want) {
		assert_int_equal(r, -1);
		assert_int_equal(err.code, FERR_USAGE);
		return;
	}
	assert_int_equal(r, 0);
	char *j = joined(out);
	assert_string_equal(j, want);
	free(j);
	strv_free(out);
}

static void test_run_argv(void **state)
{
	(void)state;
	struct image_config cfg = {.entrypoint = v("/ep", "-x", NULL), .cmd = v("c1", "c2", NULL)};
	char **args = v("a1", NULL, NULL);
	char *none[] = {NULL};
	expect_argv(&cfg, NULL, none, "/ep -x c1 c2");
	expect_argv(&cfg, NULL, args, "/ep -x a1");
	expect_argv(&cfg, "/other", none, "/other");          /* CMD dropped with --entrypoint */
	expect_argv(&cfg, "/other", args, "/other a1");
	expect_argv(&cfg, "", args, "a1");                    /* "" resets the entrypoint */
	expect_argv(&cfg, "", none, NULL);
	expect_argv(NULL, NULL, none, NULL);
	expect_argv(NULL, NULL, args, "a1");
	strv_free(args);
	image_config_free(&cfg);
}

static char *write_tmp(const char *text)
{
	char *path = xstrdup("/tmp/ferry-unit-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

/* The image config a directory carries is read by the store's parser
 * (image_config_parse), so a run from a directory and from the store agree. */
static int load_dir_config(const char *text, struct image_config *cfg, struct ferr *err)
{
	char dir[] = "/tmp/ferry-unit-dir-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char *sub = xasprintf("%s/rootfs", dir), *cp = xasprintf("%s/config.json", dir);
	assert_int_equal(mkdir(sub, 0755), 0);
	FILE *f = fopen(cp, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	char *abs = xasprintf("%s", dir);
	struct run_image img;
	int r = runtime_resolve_image(abs, true, NULL, &img, err);
	memset(cfg, 0, sizeof *cfg);
	if (r == 0) {
		assert_true(img.have_config);
		*cfg = img.config;
		memset(&img.config, 0, sizeof img.config);
		runtime_image_free(&img);
	}
	unlink(cp);
	rmdir(sub);
	rmdir(dir);
	free(sub);
	free(cp);
	free(abs);
	return r;
}

static void test_image_config(void **state)
{
	(void)state;
	struct image_config cfg;
	struct ferr err = FERR_INIT;
	assert_int_equal(load_dir_config("{\"config\":{\"Env\":[\"A=1\"],\"Entrypoint\":null,\"Cmd\":[\"sh\"],\"WorkingDir\":\"/w\"}}",
					 &cfg, &err), 0);
	assert_string_equal(cfg.env[0], "A=1");
	assert_null(cfg.entrypoint);
	assert_string_equal(cfg.cmd[0], "sh");
	assert_string_equal(cfg.workdir, "/w");
	image_config_free(&cfg);
	/* hostile: wrong types are errors, not crashes */
	static const char *const bad[] = {"{\"config\":{\"Cmd\":\"sh\"}}", "{\"config\":{\"Env\":[1]}}",
					  "{\"config\":[]}", "not json"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ferr_clear(&err);
		assert_int_equal(load_dir_config(bad[i], &cfg, &err), -1);
		assert_true(err.msg[0] != '\0');
		assert_int_equal(image_config_parse(bad[i], strlen(bad[i]), &cfg, &err), -1);
	}
	assert_int_equal(load_dir_config("{\"architecture\":\"amd64\"}", &cfg, &err), 0);
	assert_null(cfg.cmd);
	image_config_free(&cfg);
}

/* The two parsers that were disagreed, now one: "config": null with a
 * docker "container_config" (the build step) runs nothing from the build
 * step, from a directory or the store alike... */
static void test_image_config_container_config(void **state)
{
	(void)state;
	static const char text[] = "{\"config\":null,\"container_config\":{\"Cmd\":[\"/bin/sh\",\"-c\",\"#(nop) CMD [\\\"x\\\"]\"],"
				   "\"Env\":[\"BUILD=1\"]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}";
	struct image_config cfg;
	struct ferr err = FERR_INIT;
	assert_int_equal(image_config_parse(text, strlen(text), &cfg, &err), 0);
	assert_null(cfg.cmd);
	assert_null(cfg.entrypoint);
	assert_null(cfg.env[0]);
	image_config_free(&cfg);
	assert_int_equal(load_dir_config(text, &cfg, &err), 0);
	assert_null(cfg.cmd);
	image_config_free(&cfg);
}

/* ...and a Cmd item that is not a string is an error for both (dropping it
 * would run another command than the image says). */
static void test_image_config_nonstring_cmd(void **state)
{
	(void)state;
	static const char text[] = "{\"config\":{\"Cmd\":[\"echo\",7,\"x\"]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}";
	struct image_config cfg;
	struct ferr err = FERR_INIT;
	assert_int_equal(image_config_parse(text, strlen(text), &cfg, &err), -1);
	assert_non_null(strstr(err.msg, "Cmd[1] is not a string"));
	ferr_clear(&err);
	assert_int_equal(load_dir_config(text, &cfg, &err), -1);
	assert_non_null(strstr(err.msg, "Cmd[1] is not a string"));
}

static void test_env_order(void **state)
{
	(void)state;
	char *host[] = {"PATH=/host", "LD_LIBRARY_PATH=/hostlib", "KEEP=host", "OVER=host", "HOME=/home/u",
			"FERRYENV_OVER=fe", "FERRYENV_NEW=fe", "FERRYENV_1bad=x", "TERM=t", NULL};
	struct image_config img = {.env = v("PATH=/img", "OVER=img", "IMGONLY=i")};
	char *envfile = write_tmp("# c\nFILE=f\nNEW=file\nexport EXP=e\nKEEP\n");
	char *files[] = {envfile, NULL};
	char *cli[] = {"NEW=cli", "MISSING", NULL};
	struct run_spec spec = {.image = &img, .env = cli, .env_files = files};
	char **out = NULL;
	struct ferr err = FERR_INIT;
	assert_int_equal(env_build(&spec, host, "/inside", "/gpu", &out, &err), 0);
	assert_string_equal(env_get(out, "PATH"), "/img");
	assert_string_equal(env_get(out, "KEEP"), "host");
	assert_string_equal(env_get(out, "OVER"), "fe");
	assert_string_equal(env_get(out, "IMGONLY"), "i");
	assert_string_equal(env_get(out, "HOME"), "/inside");
	assert_string_equal(env_get(out, "NEW"), "cli");
	assert_string_equal(env_get(out, "FILE"), "f");
	assert_string_equal(env_get(out, "EXP"), "e");
	assert_string_equal(env_get(out, "LD_LIBRARY_PATH"), "/gpu");
	assert_null(env_get(out, "MISSING"));
	assert_null(env_get(out, "FERRYENV_NEW"));
	assert_null(env_get(out, "1bad"));
	strv_free(out);

	spec.cleanenv = true;
	spec.env = NULL;
	spec.env_files = NULL;
	assert_int_equal(env_build(&spec, host, NULL, NULL, &out, &err), 0);
	assert_null(env_get(out, "KEEP"));
	assert_string_equal(env_get(out, "TERM"), "t");
	assert_string_equal(env_get(out, "HOME"), "/home/u");
	assert_string_equal(env_get(out, "OVER"), "fe");
	assert_null(env_get(out, "LD_LIBRARY_PATH"));
	strv_free(out);

	/* no image PATH: the standard one, never the host's */
	spec.image = NULL;
	assert_int_equal(env_build(&spec, host, NULL, NULL, &out, &err), 0);
	assert_string_equal(env_get(out, "PATH"), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	strv_free(out);

	char *bad[] = {"A-B=1", NULL};
	spec.env = bad;
	assert_int_equal(env_build(&spec, host, NULL, NULL, &out, &err), -1);
	assert_int_equal(err.code, FERR_USAGE);
	unlink(envfile);
	free(envfile);
	image_config_free(&img);
}

static void test_soname(void **state)
{
	(void)state;
	/* Any shared library of the build host will do: libc's SONAME. */
	static const char *const cands[] = {"/lib/x86_64-linux-gnu/libc.so.6", "/lib/aarch64-linux-gnu/libc.so.6",
					    "/lib64/libc.so.6", "/usr/lib/libc.so.6"};
	for (size_t i = 0; i < sizeof cands / sizeof cands[0]; i++) {
		if (access(cands[i], R_OK))
			continue;
		char *s = elf_soname(cands[i]);
		assert_non_null(s);
		assert_string_equal(s, "libc.so.6");
		free(s);
		break;
	}
	/* Not ELF, empty, missing: NULL, never a crash. */
	char *p = write_tmp("\x7f" "ELF garbage that is far too short");
	assert_null(elf_soname(p));
	unlink(p);
	free(p);
	assert_null(elf_soname("/nonexistent"));
	assert_null(elf_soname("/etc/hostname"));
}

static void test_resolve_paths(void **state)
{
	(void)state;
	struct run_image img;
	struct ferr err = FERR_INIT;
	assert_int_equal(runtime_resolve_image("/nonexistent/ferry-image", true, NULL, &img, &err), -1);
	assert_int_equal(err.code, FERR_NOTFOUND);

	char dir[] = "/tmp/ferry-resolve-XXXXXX";
	assert_non_null(mkdtemp(dir));
	ferr_clear(&err);
	assert_int_equal(runtime_resolve_image(dir, true, NULL, &img, &err), 0);
	assert_string_equal(img.rootfs, dir);
	assert_false(img.have_config);
	runtime_image_free(&img);

	/* rootfs/ + config.json: a store record or a copy of one */
	char *sub = xasprintf("%s/rootfs", dir), *cfg = xasprintf("%s/config.json", dir);
	assert_int_equal(mkdir(sub, 0755), 0);
	FILE *f = fopen(cfg, "w");
	assert_non_null(f);
	fputs("{\"config\":{\"Cmd\":[\"/bin/sh\"],\"WorkingDir\":\"/srv\"}}", f);
	fclose(f);
	assert_int_equal(runtime_resolve_image(dir, true, NULL, &img, &err), 0);
	assert_string_equal(img.rootfs, sub);
	assert_true(img.have_config);
	assert_string_equal(img.config.cmd[0], "/bin/sh");
	assert_string_equal(img.config.workdir, "/srv");
	runtime_image_free(&img);
	unlink(cfg);
	rmdir(sub);
	rmdir(dir);
	free(sub);
	free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_binds),
		cmocka_unit_test(test_bind_one),
		cmocka_unit_test(test_run_argv),
		cmocka_unit_test(test_image_config),
		cmocka_unit_test(test_image_config_container_config),
		cmocka_unit_test(test_image_config_nonstring_cmd),
		cmocka_unit_test(test_env_order),
		cmocka_unit_test(test_soname),
		cmocka_unit_test(test_resolve_paths),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
