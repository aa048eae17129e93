#define LIBCRYPTO_IMPL 1
#include "base/libcrypto.h"

#include <dlfcn.h>
#include <openssl/crypto.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define LIBCRYPTO_DEFINE(f) __typeof__(f) *libcrypto_##f;
LIBCRYPTO_FUNCS(LIBCRYPTO_DEFINE)
#undef LIBCRYPTO_DEFINE

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
	/* The soname of Debian 12's libssl3 package, which the build's
	 * libssl-dev pins. */
	void *h = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "ferry: cannot load libcrypto.so.3: %s (apt-get install libssl3)\n", dlerror());
		abort();
	}
	/* ferry only digests and base64-encodes: skip reading openssl.cnf
	 * (0.3 ms) — no setting there changes what these functions compute. */
	int (*init)(uint64_t, const void *) = (int (*)(uint64_t, const void *))dlsym(h, "OPENSSL_init_crypto");
	if (init)
		init(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
#define LIBCRYPTO_RESOLVE(f)                                                                                  \
	*(void **)&libcrypto_##f = dlsym(h, #f);                                                              \
	if (!libcrypto_##f) {                                                                                 \
		fprintf(stderr, "ferry: libcrypto.so.3 lacks %s (reinstall libssl3)\n", #f);                  \
		abort();                                                                                      \
	}
	LIBCRYPTO_FUNCS(LIBCRYPTO_RESOLVE)
#undef LIBCRYPTO_RESOLVE
}

void libcrypto_need(void)
{
	pthread_once(&once, load);
}
