/* floor, ceil and round of a double, without libm: linking libm costs
 * every start of ferry (`ferry exec` included) a library in the dynamic
 * loader (tests/cli/startup-libs.bats), for a handful of calls. Exact:
 * beyond 2^52 every double is an integer. */
#pragma once

static inline double num_trunc(double x)
{
	return __builtin_fabs(x) < 0x1p52 ? (double)(long long)x : x;
}

static inline double num_floor(double x)
{
	double t = num_trunc(x);
	return t > x ? t - 1 : t;
}

static inline double num_ceil(double x)
{
	double t = num_trunc(x);
	return t < x ? t + 1 : t;
}

/* half away from zero, as round(3) */
static inline double num_round(double x)
{
	double t = num_trunc(x), d = x - t;
	return d >= 0.5 ? t + 1 : d <= -0.5 ? t - 1 : t;
}
