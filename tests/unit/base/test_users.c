/* The caller's passwd and group entries: read from the files when
 * nsswitch.conf names "files" first, else from NSS. The ids used here are
 * in the test's own files only, so an answer from NSS (getpwuid of an id
 * no real database has) is NULL, and tells the two paths apart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <cmocka.h>

#include <string.h>

#include "base/users.h"
#include "testutil.h"

#define UID 4242421
#define GID 4242422

struct files {
	char *dir, *ns, *pw, *gr;
};

static void files_make(struct files *f, const char *nsswitch)
{
	f->dir = make_tmpdir();
	f->ns = xasprintf("%s/nsswitch.conf", f->dir);
	f->pw = xasprintf("%s/passwd", f->dir);
	f->gr = xasprintf("%s/group", f->dir);
	put_file(f->ns, nsswitch);
	put_file(f->pw, "root:x:0:0:root:/root:/bin/bash\n"
			"# ann:x:4242421:1::/nope:/bin/false\n"
			"bob:x:42424210:42424220:prefix id:/home/bob:/bin/sh\n"
			"ann:x:4242421:4242422:Ann A,,,:/home/ann:/bin/zsh\n"
			"ann2:x:4242421:4242422:second:/x:/bin/sh\n"
			"short:x:4242423:1\n");
	put_file(f->gr, "root:x:0:\nlab:x:4242422:ann\n");
}

static void files_free(struct files *f)
{
	rm_tmpdir(f->dir);
	free(f->ns);
	free(f->pw);
	free(f->gr);
}

static void test_files_first(void **state)
{
	(void)state;
	struct files f;
	files_make(&f, "# comment\npasswd:         files systemd\ngroup:          files [NOTFOUND=return] sss\n");
	struct host_user u;
	host_user_get_from(f.ns, f.pw, f.gr, UID, GID, &u);
	/* the first line with the id, not a comment, not an id that has it as a prefix */
	assert_non_null(u.name);
	assert_string_equal(u.name, "ann");
	assert_string_equal(u.gecos, "Ann A,,,");
	assert_string_equal(u.dir, "/home/ann");
	assert_string_equal(u.shell, "/bin/zsh");
	assert_non_null(u.group);
	assert_string_equal(u.group, "lab");
	host_user_free(&u);
	/* a short line: the missing fields empty, as NSS gives them */
	host_user_get_from(f.ns, f.pw, f.gr, 4242423, 4242499, &u);
	assert_non_null(u.name);
	assert_string_equal(u.name, "short");
	assert_string_equal(u.gecos, "");
	assert_string_equal(u.shell, "");
	assert_null(u.group); /* not in the file, then not in NSS */
	host_user_free(&u);
	files_free(&f);
}

static void test_other_sources_first(void **state)
{
	(void)state;
	/* anything but "files" first, two lines for one database, no line,
	 * or no nsswitch.conf: NSS answers (and knows nothing of these ids) */
	const char *confs[] = {
		"passwd: sss files\ngroup: sss files\n",
		"passwd: files\npasswd: ldap\ngroup: files\ngroup: ldap\n",
		"hosts: files dns\n",
		"passwd: compat\ngroup: compat\n",
		"passwd: filesx\ngroup: filesx\n",
	};
	for (size_t i = 0; i < sizeof confs / sizeof *confs; i++) {
		struct files f;
		files_make(&f, confs[i]);
		struct host_user u;
		host_user_get_from(f.ns, f.pw, f.gr, UID, GID, &u);
		if (u.name || u.group)
			fail_msg("nsswitch.conf \"%s\": read the files (%s, %s)", confs[i], u.name ? u.name : "-",
				 u.group ? u.group : "-");
		host_user_free(&u);
		files_free(&f);
	}
	struct host_user u;
	host_user_get_from("/nonexistent/nsswitch.conf", "/nonexistent/passwd", "/nonexistent/group", UID, GID, &u);
	assert_null(u.name);
	host_user_free(&u);
}

static void test_real_databases(void **state)
{
	(void)state;
	/* root is in every host's passwd, files or not: both paths agree */
	struct host_user u;
	host_user_get(0, 0, &u);
	assert_non_null(u.name);
	assert_string_equal(u.name, "root");
	assert_non_null(u.group);
	host_user_free(&u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_files_first),
		cmocka_unit_test(test_other_sources_first),
		cmocka_unit_test(test_real_databases),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
