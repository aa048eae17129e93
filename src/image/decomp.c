#include "image/decomp.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>
#ifdef HAVE_ISAL
#include <isa-l/igzip_lib.h>
#endif

#include "base/str.h"

/* libzstd and libisal, loaded with dlopen() when a layer first needs them:
 * linked normally, the dynamic loader maps and relocates both at every
 * start of ferry, which costs `ferry exec` ~0.1 ms of its ~2 ms
 * (bench/start/RESULTS.md). The headers give the types; each name below
 * becomes a call through a pointer filled by dlsym(). */
#define ZSTD_FUNCS(X)                                                                                         \
	X(ZSTD_createDStream)                                                                                 \
	X(ZSTD_initDStream)                                                                                   \
	X(ZSTD_decompressStream)                                                                              \
	X(ZSTD_isError)                                                                                       \
	X(ZSTD_getErrorName)                                                                                  \
	X(ZSTD_freeDStream)
#ifdef HAVE_ISAL
#define ISAL_FUNCS(X) X(isal_inflate_init) X(isal_inflate_reset) X(isal_inflate)
#else
#define ISAL_FUNCS(X)
#endif
#define DL_DEFINE(f) static __typeof__(f) *dl_##f;
ZSTD_FUNCS(DL_DEFINE)
ISAL_FUNCS(DL_DEFINE)
#undef DL_DEFINE

struct codec_lib {
	pthread_once_t once;
	char failure[256]; /* empty when loaded */
};
static struct codec_lib zstd_lib = { PTHREAD_ONCE_INIT, "" };

#define DL_RESOLVE(f)                                                                                         \
	if (!l->failure[0] && !(*(void **)&dl_##f = dlsym(h, #f)))                                            \
		snprintf(l->failure, sizeof l->failure, "symbol %s missing from %s", #f, soname);

static void *open_codec(struct codec_lib *l, const char *soname)
{
	void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		snprintf(l->failure, sizeof l->failure, "cannot load %s: %s", soname, dlerror());
	return h;
}

static void load_zstd(void)
{
	struct codec_lib *l = &zstd_lib;
	const char *soname = "libzstd.so.1";
	void *h = open_codec(l, soname);
	if (h) {
		ZSTD_FUNCS(DL_RESOLVE)
	}
}

#ifdef HAVE_ISAL
static struct codec_lib isal_lib = { PTHREAD_ONCE_INIT, "" };
static void load_isal(void)
{
	struct codec_lib *l = &isal_lib;
	const char *soname = "libisal.so.2";
	void *h = open_codec(l, soname);
	if (h) {
		ISAL_FUNCS(DL_RESOLVE)
	}
}
#endif
#undef DL_RESOLVE

static int codec_load(struct codec_lib *l, void (*load)(void), const char *package, struct ferr *err)
{
	pthread_once(&l->once, load);
	if (l->failure[0])
		return ferr_setc(err, FERR_UNSUPPORTED, 0, "%s", l->failure), ferr_hint(err, "%s", package);
	return 0;
}

#define ZSTD_createDStream dl_ZSTD_createDStream
#define ZSTD_initDStream dl_ZSTD_initDStream
#define ZSTD_decompressStream dl_ZSTD_decompressStream
#define ZSTD_isError dl_ZSTD_isError
#define ZSTD_getErrorName dl_ZSTD_getErrorName
#define ZSTD_freeDStream dl_ZSTD_freeDStream
#define isal_inflate_init dl_isal_inflate_init
#define isal_inflate_reset dl_isal_inflate_reset
#define isal_inflate dl_isal_inflate

enum codec { CODEC_NONE, CODEC_GZIP, CODEC_ZSTD };

#define IN_SIZE (256 * 1024)
#define OUT_SIZE (1024 * 1024)
#define SLOTS 4

/* Decompression and the diff_id hash run in a thread of their own, a few
 * buffers ahead of the tar reader: on a pull, the reader spends its time in
 * the kernel creating files, so the two overlap almost entirely. */

struct decomp {
	int fd;
	enum codec codec;
	unsigned char *in;
	size_t in_len, in_pos;
	bool in_eof;
	bool stream_end; /* the codec reported the end of a member/frame */
	bool done;
	unsigned char *slot[SLOTS];
	size_t slot_len[SLOTS];
	unsigned head, tail; /* produced: [tail, head); consumer holds tail-1 */
	bool holding;
	bool producer_done, stop, joined, thread_started;
	struct ferr producer_err;
	int producer_rc;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct sha256 hash;
	bool hashing;
	uint64_t total_in;
#ifdef HAVE_ISAL
	struct inflate_state isal;
#endif
	z_stream z;
	bool z_init;
	ZSTD_DStream *zs;
};

static void *producer(void *arg);

static int fill(struct decomp *d, struct ferr *err)
{
	if (d->in_pos < d->in_len || d->in_eof)
		return 0;
	ssize_t n;
	do
		n = read(d->fd, d->in, IN_SIZE);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return ferr_set(err, errno, "read layer");
	d->in_len = (size_t)n;
	d->in_pos = 0;
	d->total_in += (uint64_t)n;
	if (n == 0)
		d->in_eof = true;
	return 0;
}

int decomp_open(struct decomp **out, int fd, struct ferr *err)
{
	struct decomp *d = xcalloc(1, sizeof *d);
	d->fd = fd;
	d->in = xmalloc(IN_SIZE);
	for (int i = 0; i < SLOTS; i++)
		d->slot[i] = xmalloc(OUT_SIZE);
	sha256_init(&d->hash);
	d->hashing = true;
	if (fill(d, err) < 0) {
		decomp_close(d);
		return -1;
	}
	if (d->in_len >= 2 && d->in[0] == 0x1f && d->in[1] == 0x8b) {
		d->codec = CODEC_GZIP;
#ifdef HAVE_ISAL
		if (codec_load(&isal_lib, load_isal, "apt-get install libisal2", err) < 0) {
			decomp_close(d);
			return -1;
		}
		isal_inflate_init(&d->isal);
		d->isal.crc_flag = ISAL_GZIP;
#else
		if (inflateInit2(&d->z, 16 + MAX_WBITS) != Z_OK) {
			decomp_close(d);
			return ferr_set(err, 0, "zlib init failed");
		}
		d->z_init = true;
#endif
	} else if (d->in_len >= 4 && d->in[0] == 0x28 && d->in[1] == 0xb5 && d->in[2] == 0x2f && d->in[3] == 0xfd) {
		d->codec = CODEC_ZSTD;
		if (codec_load(&zstd_lib, load_zstd, "apt-get install libzstd1", err) < 0) {
			decomp_close(d);
			return -1;
		}
		d->zs = ZSTD_createDStream();
		if (!d->zs || ZSTD_isError(ZSTD_initDStream(d->zs))) {
			decomp_close(d);
			return ferr_set(err, 0, "zstd init failed");
		}
	} else if (d->in_len >= 3 && d->in[0] == 'B' && d->in[1] == 'Z' && d->in[2] == 'h') {
		decomp_close(d);
		return ferr_setc(err, FERR_UNSUPPORTED, 0, "bzip2-compressed layers are not supported (OCI allows gzip and zstd)");
	} else if (d->in_len >= 6 && !memcmp(d->in, "\xfd" "7zXZ", 6)) {
		decomp_close(d);
		return ferr_setc(err, FERR_UNSUPPORTED, 0, "xz-compressed layers are not supported (OCI allows gzip and zstd)");
	} else {
		d->codec = CODEC_NONE;
	}
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->cv, NULL);
	int e = pthread_create(&d->thread, NULL, producer, d);
	if (e) {
		pthread_mutex_destroy(&d->mu);
		pthread_cond_destroy(&d->cv);
		decomp_close(d);
		return ferr_set(err, e, "start decompression thread");
	}
	d->thread_started = true;
	*out = d;
	return 0;
}

const char *decomp_name(const struct decomp *d)
{
	return d->codec == CODEC_GZIP ? "gzip" : d->codec == CODEC_ZSTD ? "zstd" : "tar";
}

/* Whether the rest of the input (after a finished gzip member or zstd
 * frame) holds another one; trailing zero padding is tolerated. */
static int more_members(struct decomp *d, struct ferr *err)
{
	for (;;) {
		if (fill(d, err) < 0)
			return -1;
		if (d->in_pos >= d->in_len)
			return 0; /* EOF */
		while (d->in_pos < d->in_len && d->in[d->in_pos] == 0)
			d->in_pos++;
		if (d->in_pos < d->in_len)
			return 1;
	}
}

static ssize_t produce(struct decomp *d, unsigned char *out, struct ferr *err)
{
	if (d->done)
		return 0;
	for (;;) {
		if (fill(d, err) < 0)
			return -1;
		if (d->codec == CODEC_NONE) {
			if (d->in_pos >= d->in_len) {
				d->done = true;
				return 0;
			}
			size_t n = d->in_len - d->in_pos;
			memcpy(out, d->in + d->in_pos, n);
			d->in_pos = d->in_len;
			return (ssize_t)n;
		}
		if (d->stream_end) {
			int more = more_members(d, err);
			if (more < 0)
				return -1;
			if (!more) {
				d->done = true;
				return 0;
			}
			d->stream_end = false;
			if (d->codec == CODEC_GZIP) {
#ifdef HAVE_ISAL
				isal_inflate_reset(&d->isal);
				d->isal.crc_flag = ISAL_GZIP;
#else
				inflateReset(&d->z);
#endif
			} else {
				ZSTD_initDStream(d->zs);
			}
		}
		if (d->in_pos >= d->in_len && d->in_eof)
			return ferr_setc(err, FERR_INVALID, 0, "%s stream truncated (after %llu compressed bytes)",
				decomp_name(d), (unsigned long long)d->total_in);
		size_t produced;
		if (d->codec == CODEC_GZIP) {
#ifdef HAVE_ISAL
			d->isal.next_in = d->in + d->in_pos;
			d->isal.avail_in = (uint32_t)(d->in_len - d->in_pos);
			d->isal.next_out = out;
			d->isal.avail_out = OUT_SIZE;
			int r = isal_inflate(&d->isal);
			if (r != ISAL_DECOMP_OK)
				return ferr_setc(err, FERR_INVALID, 0, "corrupt gzip data (igzip error %d)", r);
			d->in_pos = d->in_len - d->isal.avail_in;
			produced = OUT_SIZE - d->isal.avail_out;
			if (d->isal.block_state == ISAL_BLOCK_FINISH)
				d->stream_end = true;
#else
			d->z.next_in = d->in + d->in_pos;
			d->z.avail_in = (uInt)(d->in_len - d->in_pos);
			d->z.next_out = out;
			d->z.avail_out = OUT_SIZE;
			int r = inflate(&d->z, Z_NO_FLUSH);
			if (r != Z_OK && r != Z_STREAM_END && r != Z_BUF_ERROR)
				return ferr_setc(err, FERR_INVALID, 0, "corrupt gzip data (%s)", d->z.msg ? d->z.msg : "zlib error");
			d->in_pos = d->in_len - d->z.avail_in;
			produced = OUT_SIZE - d->z.avail_out;
			if (r == Z_STREAM_END)
				d->stream_end = true;
#endif
		} else {
			ZSTD_inBuffer ib = { d->in, d->in_len, d->in_pos };
			ZSTD_outBuffer ob = { out, OUT_SIZE, 0 };
			size_t r = ZSTD_decompressStream(d->zs, &ob, &ib);
			if (ZSTD_isError(r))
				return ferr_setc(err, FERR_INVALID, 0, "corrupt zstd data (%s)", ZSTD_getErrorName(r));
			d->in_pos = ib.pos;
			produced = ob.pos;
			if (r == 0)
				d->stream_end = true;
		}
		if (produced > 0)
			return (ssize_t)produced;
	}
}

static void *producer(void *arg)
{
	struct decomp *d = arg;
	for (;;) {
		pthread_mutex_lock(&d->mu);
		while (!d->stop && d->head - d->tail + (d->holding ? 1 : 0) >= SLOTS)
			pthread_cond_wait(&d->cv, &d->mu);
		bool stop = d->stop;
		unsigned idx = d->head % SLOTS;
		pthread_mutex_unlock(&d->mu);
		if (stop)
			break;
		ssize_t n = produce(d, d->slot[idx], &d->producer_err);
		if (n > 0)
			sha256_update(&d->hash, d->slot[idx], (size_t)n);
		pthread_mutex_lock(&d->mu);
		if (n > 0) {
			d->slot_len[idx] = (size_t)n;
			d->head++;
		} else {
			d->producer_rc = n < 0 ? -1 : 0;
			d->producer_done = true;
		}
		pthread_cond_broadcast(&d->cv);
		pthread_mutex_unlock(&d->mu);
		if (n <= 0)
			break;
	}
	return NULL;
}

ssize_t decomp_read(struct decomp *d, const void **buf, struct ferr *err)
{
	pthread_mutex_lock(&d->mu);
	if (d->holding) { /* the caller is done with the previous buffer */
		d->holding = false;
		pthread_cond_broadcast(&d->cv);
	}
	while (d->head == d->tail && !d->producer_done)
		pthread_cond_wait(&d->cv, &d->mu);
	ssize_t n;
	if (d->head != d->tail) {
		unsigned idx = d->tail % SLOTS;
		*buf = d->slot[idx];
		n = (ssize_t)d->slot_len[idx];
		d->tail++;
		d->holding = true;
	} else {
		n = d->producer_rc;
		if (n < 0)
			*err = d->producer_err;
	}
	pthread_mutex_unlock(&d->mu);
	return n;
}

static void join(struct decomp *d)
{
	if (d->joined)
		return;
	pthread_mutex_lock(&d->mu);
	d->stop = true;
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
	pthread_join(d->thread, NULL);
	d->joined = true;
}

int decomp_finish(struct decomp *d, char digest[7 + SHA256_HEX_LEN + 1], struct ferr *err)
{
	const void *buf;
	ssize_t n;
	while ((n = decomp_read(d, &buf, err)) > 0)
		;
	join(d);
	if (n < 0)
		return -1;
	char hex[SHA256_HEX_LEN + 1];
	sha256_final_hex(&d->hash, hex);
	d->hashing = false;
	snprintf(digest, 7 + SHA256_HEX_LEN + 1, "sha256:%s", hex);
	return 0;
}

void decomp_close(struct decomp *d)
{
	if (!d)
		return;
	if (d->thread_started) {
		join(d);
		pthread_mutex_destroy(&d->mu);
		pthread_cond_destroy(&d->cv);
	}
	for (int i = 0; i < SLOTS; i++)
		free(d->slot[i]);
	if (d->hashing) {
		char hex[SHA256_HEX_LEN + 1];
		sha256_final_hex(&d->hash, hex); /* frees the context */
	}
#ifndef HAVE_ISAL
	if (d->z_init)
		inflateEnd(&d->z);
#endif
	if (d->zs)
		ZSTD_freeDStream(d->zs);
	free(d->in);
	free(d);
}
