/* Accounts: passwords under PBKDF2-HMAC-SHA256 (600,000 iterations, OWASP's
 * 2023 figure), API keys of 256 random bits stored as their SHA-256 only,
 * and /authenticate rate-limited per client address and per user name. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/path.h"
#include "serve/internal.h"

#define KDF_ITER 600000
#define SALT_LEN 16
#define HASH_LEN 32

static void hex(const unsigned char *b, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[b[i] >> 4];
		out[2 * i + 1] = d[b[i] & 15];
	}
	out[2 * n] = 0;
}

static int nibble(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int unhex(const char *s, unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int hi = nibble(s[2 * i]), lo = hi < 0 ? -1 : nibble(s[2 * i + 1]);
		if (lo < 0)
			return -1;
		b[i] = (unsigned char)(hi << 4 | lo);
	}
	return s[2 * n] == 0 || s[2 * n] == '$' ? 0 : -1;
}

/* Compare without an early exit, so the time taken says nothing about
 * where two secrets differ. */
static bool equal_ct(const void *a, const void *b, size_t n)
{
	const volatile unsigned char *x = a, *y = b;
	unsigned char d = 0;
	for (size_t i = 0; i < n; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

static int random_bytes(void *buf, size_t n, struct ferr *err)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = getrandom((char *)buf + got, n - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return ferr_set(err, errno, "getrandom");
		got += (size_t)r;
	}
	return 0;
}

static int kdf(const char *pw, const unsigned char *salt, unsigned iter, unsigned char out[HASH_LEN])
{
	return PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw), salt, SALT_LEN, (int)iter, EVP_sha256(), HASH_LEN, out) == 1
		       ? 0
		       : -1;
}

/* "pbkdf2-sha256$ITER$SALT$HASH" */
static char *password_hash(const char *pw, struct ferr *err)
{
	unsigned char salt[SALT_LEN], h[HASH_LEN];
	char sh[2 * SALT_LEN + 1], hh[2 * HASH_LEN + 1];
	if (random_bytes(salt, sizeof salt, err) < 0)
		return NULL;
	if (kdf(pw, salt, KDF_ITER, h) < 0) {
		ferr_set(err, 0, "PBKDF2 failed");
		return NULL;
	}
	hex(salt, SALT_LEN, sh);
	hex(h, HASH_LEN, hh);
	return xasprintf("pbkdf2-sha256$%u$%s$%s", KDF_ITER, sh, hh);
}

static bool password_ok(const char *stored, const char *pw)
{
	static const char prefix[] = "pbkdf2-sha256$";
	unsigned char salt[SALT_LEN], want[HASH_LEN], got[HASH_LEN];
	if (!stored || strncmp(stored, prefix, sizeof prefix - 1))
		return false;
	char *end = NULL;
	errno = 0;
	unsigned long iter = strtoul(stored + sizeof prefix - 1, &end, 10);
	if (errno || iter < 1 || iter > 100000000 || *end != '$')
		return false;
	const char *sh = end + 1;
	if (strlen(sh) != 2 * SALT_LEN + 1 + 2 * HASH_LEN || sh[2 * SALT_LEN] != '$' || unhex(sh, salt, SALT_LEN) < 0 ||
	    unhex(sh + 2 * SALT_LEN + 1, want, HASH_LEN) < 0)
		return false;
	if (kdf(pw, salt, (unsigned)iter, got) < 0)
		return false;
	return equal_ct(got, want, HASH_LEN);
}

/* SHA-256 of a key, as hex: what the keys table holds. */
static void key_hash(const char *key, char out[2 * HASH_LEN + 1])
{
	unsigned char h[HASH_LEN];
	unsigned int n = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	EVP_DigestUpdate(ctx, key, strlen(key));
	EVP_DigestFinal_ex(ctx, h, &n);
	EVP_MD_CTX_free(ctx);
	hex(h, HASH_LEN, out);
}

int auth_check_name(const char *name, struct ferr *err)
{
	size_t n = strlen(name);
	bool ok = n >= 1 && n <= 64 && (islower((unsigned char)name[0]) || isdigit((unsigned char)name[0]));
	for (size_t i = 0; ok && i < n; i++)
		ok = islower((unsigned char)name[i]) || isdigit((unsigned char)name[i]) || strchr("._-", name[i]);
	if (!ok)
		return ferr_setc(err, FERR_USAGE, 0, "invalid user name '%s'", name),
		       ferr_hint(err, "use 1 to 64 of a-z 0-9 . _ -, starting with a letter or digit");
	if (!strcmp(name, "vip") || !strcmp(name, "rest"))
		return ferr_setc(err, FERR_USAGE, 0, "user name '%s' is reserved (the path namespace uses it)", name);
	return 0;
}

int auth_key_user(sqlite3 *db, const char *key, char *user, bool *admin, struct ferr *err)
{
	char h[2 * HASH_LEN + 1];
	if (!key || strlen(key) != 64)
		return 0;
	key_hash(key, h);
	sqlite3_stmt *st = db_cached(db, DB_SLOT_KEY,
				     "SELECT k.hash, k.user, u.admin FROM keys k JOIN users u ON u.name = k.user"
				     " WHERE k.hash = ?");
	if (!st)
		return ferr_set(err, 0, "database: %s", sqlite3_errmsg(db));
	sqlite3_bind_text(st, 1, h, -1, SQLITE_TRANSIENT);
	int found = 0;
	if (sqlite3_step(st) == SQLITE_ROW) {
		/* The lookup is by hash; the stored hash is compared again in
		 * constant time so that no byte-by-byte comparison of secrets
		 * is left anywhere on this path. */
		const char *stored = (const char *)sqlite3_column_text(st, 0);
		if (stored && strlen(stored) == 2 * HASH_LEN && equal_ct(stored, h, 2 * HASH_LEN)) {
			snprintf(user, 65, "%s", (const char *)sqlite3_column_text(st, 1));
			*admin = sqlite3_column_int64(st, 2) != 0;
			found = 1;
		}
	}
	sqlite3_reset(st);
	return found;
}

/* ---- the key cache ----
 * Every request shows its key: the SHA-256 and the SQLite look-up (its
 * read transaction takes fcntl locks on the WAL index) were most of a
 * poll's cost. Keys found are kept here, by their text, compared in
 * constant time. A key found is good until STATE/auth.gen changes: every
 * command that removes or changes an account (`user del`, `user add`, in
 * any process) rewrites that file, and each request stat()s it first
 * (one system call). A stamp is taken before the database is read, so a
 * deletion that commits during a look-up still shows at the next request. */
#define KC_SLOTS 256
struct kc_stamp {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
};
static struct {
	char key[65];
	char user[65];
	bool admin;
	struct kc_stamp st;
} kc[KC_SLOTS];
static pthread_mutex_t kc_lock = PTHREAD_MUTEX_INITIALIZER;

static void kc_stamp_of(const char *path, struct kc_stamp *k)
{
	struct stat st;
	memset(k, 0, sizeof *k);
	if (stat(path, &st) == 0) {
		k->dev = st.st_dev;
		k->ino = st.st_ino;
		k->size = st.st_size;
		k->mtime = st.st_mtim;
		k->ctime = st.st_ctim;
	}
}

static bool kc_stamp_eq(const struct kc_stamp *a, const struct kc_stamp *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
	       a->mtime.tv_nsec == b->mtime.tv_nsec && a->ctime.tv_sec == b->ctime.tv_sec &&
	       a->ctime.tv_nsec == b->ctime.tv_nsec;
}

static unsigned kc_slot(const char *key)
{
	uint32_t h = 2166136261u;
	for (const char *p = key; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h % KC_SLOTS;
}

int auth_key_user_cached(struct srv *s, const char *key, char *user, bool *admin, struct ferr *err)
{
	if (!key || strlen(key) != 64)
		return 0;
	struct kc_stamp now;
	kc_stamp_of(s->authgen, &now);
	unsigned i = kc_slot(key);
	int found = 0;
	pthread_mutex_lock(&kc_lock);
	if (kc[i].key[0] && kc_stamp_eq(&kc[i].st, &now) && equal_ct(kc[i].key, key, 64)) {
		memcpy(user, kc[i].user, 65);
		*admin = kc[i].admin;
		found = 1;
	}
	pthread_mutex_unlock(&kc_lock);
	if (found)
		return 1;
	sqlite3 *db = db_get(s, err);
	if (!db)
		return -1;
	found = auth_key_user(db, key, user, admin, err);
	if (found == 1) {
		pthread_mutex_lock(&kc_lock);
		memcpy(kc[i].key, key, 65);
		memcpy(kc[i].user, user, 65);
		kc[i].admin = *admin;
		kc[i].st = now;
		pthread_mutex_unlock(&kc_lock);
	}
	return found;
}

/* After a change to the accounts: the servers' key caches start over. */
static void auth_gen_bump(const char *state)
{
	_cleanup_free_ char *p = path_join(state, AUTH_GEN_FILE);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	unsigned char r[8] = { 0 };
	if (getrandom(r, sizeof r, 0) != sizeof r)
		memset(r, 0, sizeof r);
	char text[80];
	int n = snprintf(text, sizeof text, "%lld.%09ld %02x%02x%02x%02x%02x%02x%02x%02x\n", (long long)ts.tv_sec,
			 ts.tv_nsec, r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
	struct ferr e = FERR_INIT;
	if (fs_write_atomic(p, text, (size_t)n, 0600, &e) < 0) {
		/* could not rewrite it: remove it, which changes its stamp too */
		unlink(p);
	}
}

char *auth_new_key(sqlite3 *db, const char *user, struct ferr *err)
{
	unsigned char raw[32];
	char key[65], h[2 * HASH_LEN + 1];
	if (random_bytes(raw, sizeof raw, err) < 0)
		return NULL;
	hex(raw, sizeof raw, key);
	key_hash(key, h);
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, "INSERT INTO keys (hash, user, created) VALUES (?, ?, ?)", -1, &st, NULL) !=
	    SQLITE_OK) {
		ferr_set(err, 0, "database: %s", sqlite3_errmsg(db));
		return NULL;
	}
	sqlite3_bind_text(st, 1, h, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, user, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)time(NULL));
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		ferr_set(err, 0, "database: %s", sqlite3_errmsg(db));
		return NULL;
	}
	return xstrdup(key);
}

/* ---- the CLI's account commands ---- */

static int open_state(const char *state, sqlite3 **db, struct ferr *err)
{
	if (serve_dl_load(err) < 0 || fs_mkdir_p(state, 0700, err) < 0)
		return -1;
	_cleanup_free_ char *p = path_join(state, "serve.db");
	return db_open(p, db, err);
}

static bool user_exists(sqlite3 *db, const char *name)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, "SELECT 1 FROM users WHERE name = ?", -1, &st, NULL) != SQLITE_OK)
		return false;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	bool r = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return r;
}

int serve_user_add(const char *state, const char *name, const char *password, bool admin, struct ferr *err)
{
	if (auth_check_name(name, err) < 0)
		return -1;
	if (strlen(password) < 8)
		return ferr_setc(err, FERR_USAGE, 0, "user add %s: the password is shorter than 8 characters", name);
	sqlite3 *db = NULL;
	if (open_state(state, &db, err) < 0)
		return -1;
	_cleanup_free_ char *h = password_hash(password, err);
	_cleanup_free_ char *tree = xasprintf("%s/data/%s", state, name);
	int rc = -1;
	sqlite3_stmt *st = NULL;
	if (!h)
		goto out;
	if (user_exists(db, name)) {
		ferr_setc(err, FERR_USAGE, 0, "user %s exists already", name);
		ferr_hint(err, "`ferry serve user key %s` gives it a new API key", name);
		goto out;
	}
	if (sqlite3_prepare_v2(db, "INSERT INTO users (name, admin, pw, created) VALUES (?, ?, ?, ?)", -1, &st,
			       NULL) != SQLITE_OK)
		goto dberr;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, admin);
	sqlite3_bind_text(st, 3, h, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)time(NULL));
	if (sqlite3_step(st) != SQLITE_DONE)
		goto dberr;
	if (fs_mkdir_p(tree, 0700, err) < 0)
		goto out;
	auth_gen_bump(state);
	rc = 0;
	goto out;
dberr:
	ferr_set(err, 0, "user add %s: database: %s", name, sqlite3_errmsg(db));
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc;
}

int serve_user_del(const char *state, const char *name, struct ferr *err)
{
	sqlite3 *db = NULL;
	if (open_state(state, &db, err) < 0)
		return -1;
	if (!user_exists(db, name)) {
		sqlite3_close(db);
		return ferr_setc(err, FERR_NOTFOUND, 0, "no user %s", name), ferr_hint(err, "`ferry serve user list`");
	}
	sqlite3_stmt *st = NULL;
	int rc = -1;
	const char *sql[] = { "DELETE FROM keys WHERE user = ?", "DELETE FROM users WHERE name = ?" };
	for (int i = 0; i < 2; i++) {
		if (sqlite3_prepare_v2(db, sql[i], -1, &st, NULL) != SQLITE_OK)
			goto dberr;
		sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(st) != SQLITE_DONE)
			goto dberr;
		sqlite3_finalize(st);
		st = NULL;
	}
	/* The user's files and runs stay: an administrator removes
	 * STATE/data/NAME when the data is no longer wanted. */
	auth_gen_bump(state);
	rc = 0;
	goto out;
dberr:
	ferr_set(err, 0, "user del %s: database: %s", name, sqlite3_errmsg(db));
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc;
}

int serve_user_key(const char *state, const char *name, char **key, struct ferr *err)
{
	sqlite3 *db = NULL;
	if (open_state(state, &db, err) < 0)
		return -1;
	int rc = -1;
	if (!user_exists(db, name))
		ferr_setc(err, FERR_NOTFOUND, 0, "no user %s", name), ferr_hint(err, "`ferry serve user add %s`", name);
	else if ((*key = auth_new_key(db, name, err)))
		rc = 0;
	sqlite3_close(db);
	return rc;
}

int serve_user_list(const char *state, json_t **out, struct ferr *err)
{
	sqlite3 *db = NULL;
	if (open_state(state, &db, err) < 0)
		return -1;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db,
			       "SELECT u.name, u.admin, u.created, (SELECT count(*) FROM keys k WHERE k.user = u.name)"
			       " FROM users u ORDER BY u.name",
			       -1, &st, NULL) != SQLITE_OK) {
		ferr_set(err, 0, "user list: database: %s", sqlite3_errmsg(db));
		sqlite3_close(db);
		return -1;
	}
	json_t *a = json_array();
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(a, json_pack("{s:s, s:b, s:I, s:I}", "name", sqlite3_column_text(st, 0),
						   "admin", (int)sqlite3_column_int64(st, 1), "created",
						   (json_int_t)sqlite3_column_int64(st, 2), "keys",
						   (json_int_t)sqlite3_column_int64(st, 3)));
	sqlite3_finalize(st);
	sqlite3_close(db);
	*out = a;
	return 0;
}

/* ---- rate limit: a token bucket per client address and per user name.
 * Only failures spend a token; with none left the answer is 429 at once,
 * before any password is hashed, so a flood costs the server nothing and
 * the right password works again once the bucket refills. ---- */

#define RL_SLOTS 4096
struct rl_slot {
	char key[96];
	double tokens;
	double last;
};
struct ratelimit {
	pthread_mutex_t lock;
	struct rl_slot v[RL_SLOTS];
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int ratelimit_new(struct srv *s)
{
	s->rl = xcalloc(1, sizeof *s->rl);
	pthread_mutex_init(&s->rl->lock, NULL);
	return 0;
}

void ratelimit_free(struct srv *s)
{
	if (s->rl)
		pthread_mutex_destroy(&s->rl->lock);
	free(s->rl);
	s->rl = NULL;
}

static struct rl_slot *rl_find(struct srv *s, const char *key)
{
	size_t h = 5381;
	for (const char *p = key; *p; p++)
		h = h * 33 + (unsigned char)*p;
	struct rl_slot *sl = &s->rl->v[h % RL_SLOTS];
	if (strcmp(sl->key, key)) { /* a new key (or a collision): a full bucket */
		snprintf(sl->key, sizeof sl->key, "%s", key);
		sl->tokens = s->o.auth_burst;
		sl->last = now_s();
	}
	double t = now_s(), per = s->o.auth_period ? s->o.auth_period : 1;
	sl->tokens += (t - sl->last) / per;
	if (sl->tokens > (double)s->o.auth_burst)
		sl->tokens = (double)s->o.auth_burst;
	sl->last = t;
	return sl;
}

/* Seconds until both buckets hold a token (0: go ahead). */
static unsigned rl_wait(struct srv *s, const char *addr, const char *name)
{
	pthread_mutex_lock(&s->rl->lock);
	double need = 0;
	const char *keys[2] = { addr, name };
	for (int i = 0; i < 2; i++) {
		struct rl_slot *sl = rl_find(s, keys[i]);
		if (sl->tokens < 1)
			{
			double w = (1 - sl->tokens) * (s->o.auth_period ? s->o.auth_period : 1);
			if (w > need)
				need = w;
		}
	}
	pthread_mutex_unlock(&s->rl->lock);
	return need > 0 ? (unsigned)need + 1 : 0;
}

static void rl_spend(struct srv *s, const char *addr, const char *name)
{
	pthread_mutex_lock(&s->rl->lock);
	rl_find(s, addr)->tokens -= 1;
	rl_find(s, name)->tokens -= 1;
	pthread_mutex_unlock(&s->rl->lock);
}

static void client_addr(struct req *r, char *buf, size_t n)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	snprintf(buf, n, "addr:?");
	if (!ci || !ci->client_addr)
		return;
	char a[INET6_ADDRSTRLEN] = "";
	const struct sockaddr *sa = ci->client_addr;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, a, sizeof a);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, a, sizeof a);
	snprintf(buf, n, "addr:%s", a);
}

void route_authenticate(struct req *r)
{
	_cleanup_json_ json_t *j = req_json_body(r);
	if (!j)
		return;
	const char *name = json_get_str(j, "username"), *pw = json_get_str(j, "password");
	if (!name || !pw)
		return reply_error(r, 400, SC_BAD_VALUE, "authenticate: username and password (strings) are required");
	char addr[80], who[96];
	client_addr(r, addr, sizeof addr);
	snprintf(who, sizeof who, "user:%.80s", name);
	unsigned wait = rl_wait(r->s, addr, who);
	if (wait) {
		char ra[24];
		snprintf(ra, sizeof ra, "%u", wait);
		reply_add_header(r, "Retry-After", ra);
		return reply_error(r, 429, SC_RATE, "authenticate: too many failed attempts; retry in %u s", wait);
	}
	struct ferr err = FERR_INIT;
	sqlite3 *db = db_get(r->s, &err);
	if (!db)
		return reply_error(r, 500, SC_INTERNAL, "authenticate: %s", err.msg);
	sqlite3_stmt *st = NULL;
	char *stored = NULL;
	if (sqlite3_prepare_v2(db, "SELECT pw FROM users WHERE name = ?", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(st) == SQLITE_ROW)
			stored = xstrdup((const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
	/* An unknown name costs the same KDF as a known one: the time taken
	 * does not tell which names exist. */
	bool ok = password_ok(stored ? stored : "pbkdf2-sha256$600000$00000000000000000000000000000000$"
					       "0000000000000000000000000000000000000000000000000000000000000000",
			      pw) &&
		  stored;
	free(stored);
	if (!ok) {
		rl_spend(r->s, addr, who);
		reply_add_header(r, "WWW-Authenticate", "APIKey header=\"apikey\"");
		return reply_error(r, 401, SC_BAD_LOGIN, "authenticate: wrong user name or password");
	}
	_cleanup_free_ char *key = auth_new_key(db, name, &err);
	if (!key)
		return reply_error(r, 500, SC_INTERNAL, "authenticate: %s", err.msg);
	reply_json(r, 200, json_pack("{s:s, s:s}", "httpHeader", "apikey", "httpHeaderValue", key));
}
