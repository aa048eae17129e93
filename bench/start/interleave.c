/* Interleaved start-up timing, for before/after figures on a noisy machine:
 * each round runs every command once, in a rotating order, so that load
 * from other jobs falls on all of them alike (hyperfine runs one command's
 * runs back to back). Prints min, p25, median, mean and max in ms.
 *   cc -O2 -o interleave bench/start/interleave.c
 *   interleave RUNS NAME [VAR=VAL...] /abs/cmd ARGS... ';;' NAME ... */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct cmd {
	const char *name;
	char **env, **argv;
	int n_env;
	double *ms;
};

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s RUNS NAME [VAR=VAL...] /abs/cmd ARGS... [';;' NAME ...]\n", argv[0]);
		return 2;
	}
	int runs = atoi(argv[1]), n = 0;
	struct cmd c[32];
	for (int i = 2; i < argc && n < 32; n++) {
		c[n].name = argv[i++];
		c[n].env = &argv[i];
		c[n].n_env = 0;
		while (i < argc && argv[i][0] != '/' && strchr(argv[i], '='))
			c[n].n_env++, i++;
		c[n].argv = &argv[i];
		while (i < argc && strcmp(argv[i], ";;"))
			i++;
		if (i < argc)
			argv[i++] = NULL;
		c[n].ms = calloc((size_t)runs, sizeof(double));
	}
	for (int r = -10; r < runs; r++) /* 10 warm-up rounds */
		for (int k = 0; k < n; k++) {
			struct cmd *x = &c[((r + k) % n + n) % n];
			struct timespec a, b;
			clock_gettime(CLOCK_MONOTONIC, &a);
			pid_t p = fork();
			if (p == 0) {
				if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
					_exit(126);
				for (int e = 0; e < x->n_env; e++)
					putenv(x->env[e]);
				execv(x->argv[0], x->argv);
				_exit(127);
			}
			int st;
			waitpid(p, &st, 0);
			clock_gettime(CLOCK_MONOTONIC, &b);
			if (!WIFEXITED(st) || WEXITSTATUS(st)) {
				fprintf(stderr, "%s failed (status %d)\n", x->name, st);
				return 1;
			}
			if (r >= 0)
				x->ms[r] = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
		}
	for (int k = 0; k < n; k++) {
		double sum = 0;
		qsort(c[k].ms, (size_t)runs, sizeof(double), by_value);
		for (int r = 0; r < runs; r++)
			sum += c[k].ms[r];
		printf("| %s | %.2f | %.2f | %.2f | %.2f | %.2f |\n", c[k].name, c[k].ms[0], c[k].ms[runs / 4],
		       c[k].ms[runs / 2], sum / runs, c[k].ms[runs - 1]);
		free(c[k].ms);
	}
	return 0;
}
