/* The progress bar draws on a terminal only: nothing on a pipe or file,
 * nothing at -q; on a pseudo-terminal it draws and ends with a newline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <poll.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/progress.h"
#include "testutil.h"

static void run_bar(void)
{
	struct progress p;
	progress_start(&p, "sha256:0123456789abcdef0123456789", 1000);
	for (int i = 0; i < 20; i++)
		progress_add(&p, 100); /* goes past total: clamped at 100% */
	progress_end(&p);
	struct progress q;
	progress_start(&q, "unknown size", 0);
	progress_add(&q, 5000000);
	progress_end(&q);
}

static void test_not_a_tty(void **state)
{
	(void)state;
	struct capture c;
	capture_start(&c);
	run_bar();
	_cleanup_free_ char *out = capture_end(&c);
	assert_string_equal(out, "");
}

/* Point stderr at a new pseudo-terminal; returns the master side. */
static int stderr_to_pty(int *saved)
{
	int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0)
		return -1;
	const char *name = ptsname(master);
	int slave = name ? open(name, O_RDWR | O_NOCTTY | O_CLOEXEC) : -1;
	if (slave < 0) {
		close(master);
		return -1;
	}
	fflush(stderr);
	*saved = dup(STDERR_FILENO);
	assert_true(*saved >= 0);
	assert_int_equal(dup2(slave, STDERR_FILENO), STDERR_FILENO);
	close(slave);
	return master;
}

static char *drain(int master)
{
	struct dstr s = DSTR_INIT;
	char buf[4096];
	struct pollfd pfd = { .fd = master, .events = POLLIN };
	while (poll(&pfd, 1, 200) > 0) {
		ssize_t n = read(master, buf, sizeof buf);
		if (n <= 0)
			break;
		dstr_appendn(&s, buf, (size_t)n);
	}
	return dstr_steal(&s);
}

static void test_tty(void **state)
{
	(void)state;
	int saved = -1;
	int master = stderr_to_pty(&saved);
	if (master < 0)
		skip(); /* no /dev/ptmx in this environment */
	run_bar();
	log_level = LOG_QUIET;
	struct progress p;
	progress_start(&p, "quiet-label", 10);
	progress_add(&p, 10);
	progress_end(&p);
	log_level = LOG_WARN;
	fflush(stderr);
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	_cleanup_free_ char *out = drain(master);
	close(master);
	assert_non_null(strstr(out, "sha256:0123456789abcdef0"));
	assert_non_null(strstr(out, "100%"));
	assert_null(strstr(out, "200%"));
	assert_non_null(strstr(out, "unknown size"));
	assert_non_null(strstr(out, "5.0 MB"));
	assert_non_null(strchr(out, '\r'));
	assert_non_null(strchr(out, '\n'));
	assert_null(strstr(out, "quiet-label"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_not_a_tty),
		cmocka_unit_test(test_tty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
