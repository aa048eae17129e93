/* image/: image references, the registry client (libcurl), manifests and
 * indexes, platform choice, and layer extraction (libarchive). This header
 * is the layer's public face; store/ builds the store on top of it. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* ---- references --------------------------------------------------------- */

enum image_transport {
	TRANSPORT_DOCKER = 0,     /* docker://host/repo:tag, or a bare repo[:tag] */
	TRANSPORT_OCI,            /* oci:DIR[:tag] (OCI image layout) */
	TRANSPORT_OCI_ARCHIVE,    /* oci-archive:FILE.tar[:tag] */
	TRANSPORT_DOCKER_ARCHIVE, /* docker-archive:FILE.tar (docker save) */
};

struct image_ref {
	enum image_transport transport;
	char *registry; /* "docker.io", "127.0.0.1:5000"; for local transports "oci" etc. */
	char *repo;     /* "library/busybox"; for local transports the absolute path */
	char *tag;      /* "latest" when neither tag nor digest was given; may be NULL */
	char *digest;   /* "sha256:<hex>" or NULL */
};

/* Parse a reference as docker does: "busybox" is docker.io/library/busybox:latest,
 * the first component is a registry if it has a '.' or ':' or is "localhost". */
int image_ref_parse(const char *s, struct image_ref *ref, struct ferr *err);
void image_ref_free(struct image_ref *ref);
/* "registry/repo:tag" or "registry/repo@digest" (caller frees). */
char *image_ref_str(const struct image_ref *ref);

/* ---- platforms ---------------------------------------------------------- */

struct image_platform {
	char os[32];
	char arch[32];
	char variant[32]; /* "" when none */
};
/* The host's platform in OCI terms (linux/amd64, linux/arm64/v8 ...). */
void image_platform_host(struct image_platform *p);
/* "os/arch[/variant]" */
int image_platform_parse(const char *s, struct image_platform *p, struct ferr *err);

/* ---- manifests ---------------------------------------------------------- */

#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_SCHEMA1 "application/vnd.docker.distribution.manifest.v1+json"
#define MT_DOCKER_SCHEMA1_SIGNED "application/vnd.docker.distribution.manifest.v1+prettyjws"

struct image_desc {
	char *media_type;
	char *digest;
	int64_t size;
	struct image_platform platform; /* index entries only */
	bool has_platform;
};

struct image_manifest {
	bool is_index;
	char *media_type;
	struct image_desc config;  /* manifests */
	struct image_desc *layers; /* manifests */
	size_t n_layers;
	struct image_desc *manifests; /* indexes */
	size_t n_manifests;
};

/* Parse a manifest or index; content_type (may be NULL) is the HTTP
 * Content-Type. Schema 1 fails with FERR_UNSUPPORTED and a hint. */
int image_manifest_parse(const char *buf, size_t len, const char *content_type, struct image_manifest *m,
	struct ferr *err);
void image_manifest_free(struct image_manifest *m);
/* Pick the entry of an index for a platform. */
int image_index_select(const struct image_manifest *idx, const struct image_platform *p,
	const struct image_desc **out, struct ferr *err);

/* What runtime/ and app/ need from an image config. */
struct image_config {
	char **env;        /* "K=V" strings, NULL-terminated (never NULL) */
	char **entrypoint; /* NULL when unset */
	char **cmd;        /* NULL when unset */
	char *workdir;     /* NULL when unset */
	char *user;        /* NULL when unset */
	char **labels;     /* "K=V" strings, NULL-terminated (never NULL) */
	char **diff_ids;   /* rootfs.diff_ids, NULL-terminated (never NULL) */
	char *os, *arch;
};
int image_config_parse(const char *buf, size_t len, struct image_config *c, struct ferr *err);
void image_config_free(struct image_config *c);

/* ---- sources: registries and local layouts/archives --------------------- */

/* What a pull reports while it runs: the library never prints, its caller
 * (cli/) draws progress and shows notes. Any member may be NULL. */
struct pull_events {
	/* Bytes of blobs downloaded: called when a set of downloads starts
	 * (done 0), as bytes arrive (at most every 100 ms), and once at the
	 * end with finished set. total is 0 when unknown. */
	void (*progress)(void *arg, const char *what, uint64_t done, uint64_t total, bool finished);
	/* A note worth showing with -v: a retry, a wait for another pull. */
	void (*note)(void *arg, const char *msg);
	void *arg;
};

/* Hand a note to ev's callback, or to the log when there is none. */
void pull_events_note(const struct pull_events *ev, const char *fmt, ...) FERR_PRINTF(2, 3);

struct pull_opts {
	const char *platform; /* "os/arch[/variant]" or NULL for the host's */
	bool insecure;        /* plain HTTP / unverified TLS for this pull's registry */
	bool quiet;           /* no progress output */
	const struct pull_events *events; /* progress and notes, or NULL */
	uint64_t max_image_size; /* cap on the files' apparent size; 0: FERRY_MAX_IMAGE_SIZE, else 64 GiB */
	bool keep_layers;        /* keep layer blobs once the tree is in place (also FERRY_KEEP_LAYERS=1) */
};

struct image_source;

/* One blob to fetch into an open file (fd positioned anywhere; the source
 * writes from offset `have`, which holds `have` bytes already verified to
 * be a prefix: Range resume). The source verifies size and digest. */
struct blob_fetch {
	const char *digest;
	int64_t size;
	int fd;
	int64_t have;
	struct ferr err; /* per-blob error */
	int failed;
	int done; /* complete and verified: the file holds exactly the blob */
};

int image_source_open(const struct image_ref *ref, const struct pull_opts *o, struct image_source **out,
	struct ferr *err);
void image_source_close(struct image_source *src);
/* The digest the reference currently points to (one HEAD request for a
 * registry tag; no request when the reference holds a digest). */
int image_source_resolve(struct image_source *src, char **digest, struct ferr *err);
/* Fetch a manifest or index by digest, verified against it. */
int image_source_manifest(struct image_source *src, const char *digest, char **body, size_t *len,
	char **media_type, struct ferr *err);
/* Fetch blobs, in parallel where the source allows; returns <0 if any failed
 * (err says the first failure). */
int image_source_blobs(struct image_source *src, struct blob_fetch *b, size_t n, struct ferr *err);

/* ---- registry credentials (docker's config.json) ------------------------ */

/* Path of docker's config.json: $DOCKER_CONFIG/config.json or ~/.docker/config.json. */
char *docker_config_path(void);
/* user/password for host from config.json; 0 found, FERR_NOTFOUND-coded <0 if none. */
int docker_config_get_auth(const char *host, char **user, char **password, struct ferr *err);
int docker_config_set_auth(const char *host, const char *user, const char *password, struct ferr *err);
int docker_config_remove_auth(const char *host, struct ferr *err);
/* Every tag of ref's repository (/v2/<name>/tags/list, all pages), as the
 * registry lists them. */
int image_tags_list(const struct image_ref *ref, const struct pull_opts *o, char ***tags, struct ferr *err);
/* Check credentials against a registry's /v2/ (follows a token challenge). */
int registry_login_check(const char *host, const char *user, const char *password, bool insecure,
	struct ferr *err);

/* ---- layers -------------------------------------------------------------- */

struct layer_stats {
	uint64_t files, dirs, links, bytes;
	uint64_t deduped; /* files hardlinked to an existing copy in files/ */
	uint64_t skipped; /* devices, FIFOs */
	/* The apparent size of the image's regular files so far (holes
	 * included): apparent_before (in) plus this layer's. When max_apparent
	 * (in) is non-zero, a layer that takes the sum beyond it fails. */
	uint64_t apparent_before, apparent, max_apparent;
};

/* Extract a layer blob (gzip, zstd or plain tar: sniffed from its bytes)
 * into the tree open at rootfd, applying OCI whiteouts. Every path is
 * resolved inside the root (base/inroot.h): nothing outside it is touched.
 * diff_id (may be NULL) is checked against the uncompressed stream.
 * filesfd (or -1) is files/sha256/ of the store: regular files are stored
 * there once per (content, mode) and hardlinked into the tree. */
int layer_extract(int blobfd, const char *diff_id, int rootfd, int filesfd, struct layer_stats *stats,
	struct ferr *err);

/* ---- single-file images (image/sfile.c) ------------------------------------
 * A squashfs file, a SIF file whose primary system partition is a squashfs,
 * or an old .simg (a launch-script header, then a squashfs). sfile_probe
 * says which, and where the squashfs lies in the file, so that the runtime
 * can mount it at that offset and `ferry import` can read it. */

enum sfile_kind {
	SFILE_SQUASHFS = 1,
	SFILE_SIF,
	SFILE_SIMG,
};

struct sfile {
	enum sfile_kind kind;
	uint64_t sqfs_offset; /* where the squashfs starts in the file */
	uint64_t sqfs_size;   /* its length in bytes */
	int64_t created;      /* creation time (seconds since the epoch), or 0 */
};

/* Is the file open at fd (named name, for messages) a single-file image
 * ferry can read? Returns 1 and fills *out when it is, 0 when it is not
 * one at all (a caller may then try other kinds of IMAGE), and -1 with err
 * set when it is one but cannot be used (truncated, corrupt, an ext3 or
 * encrypted SIF partition, a SIF without a system partition: "not
 * supported"). */
int sfile_probe(int fd, const char *name, struct sfile *out, struct ferr *err);

/* The image config that `ferry export` embedded in the file, if any: *have
 * says whether one was found. */
int sfile_config(int fd, const char *name, const struct sfile *sf, struct image_config *cfg, bool *have,
	struct ferr *err);

/* ---- SIF (image/sif.c) ----------------------------------------------------
 * The Singularity Image Format: a 128-byte global header, a table of
 * fixed-size object descriptors, then the objects (doc/export.md). One
 * parser serves sfile_probe, `ferry inspect FILE` and the fuzz target. */

#define SIF_NAME_LEN 128

struct sif_object {
	int32_t type;     /* SIF_DATA_* */
	uint32_t id;
	uint32_t group;   /* group number, the 0xf0000000 flag removed; 0: none */
	uint32_t link;
	uint64_t offset, size;
	int64_t created;
	char name[SIF_NAME_LEN + 1];
	/* partitions only */
	int32_t fstype;   /* SIF_FS_* */
	int32_t parttype; /* SIF_PART_* */
	char arch[3];     /* "02" ... (NUL-terminated) */
};

enum {
	SIF_DATA_DEFFILE = 0x4001,
	SIF_DATA_ENVVAR,
	SIF_DATA_LABELS,
	SIF_DATA_PARTITION,
	SIF_DATA_SIGNATURE,
	SIF_DATA_GENERIC_JSON,
	SIF_DATA_GENERIC,
	SIF_DATA_CRYPTO_MESSAGE,
	SIF_DATA_SBOM,
	SIF_DATA_OCI_ROOT_INDEX,
	SIF_DATA_OCI_BLOB,
};
enum { SIF_FS_SQUASHFS = 1, SIF_FS_EXT3, SIF_FS_IMMUTABLE, SIF_FS_RAW, SIF_FS_ENCRYPTED_SQUASHFS };
enum { SIF_PART_SYSTEM = 1, SIF_PART_PRIMARY_SYSTEM, SIF_PART_DATA, SIF_PART_OVERLAY };

struct sif_info {
	char arch[3];
	char uuid[37];
	int64_t created, modified;
	uint64_t descriptors_total;
	struct sif_object *objects; /* the used descriptors, in table order */
	size_t n_objects;
	int primary; /* index in objects of the primary system partition, or -1 */
};

/* Does buf (the file's first bytes) start with a SIF header? */
bool sif_is_sif(const unsigned char *buf, size_t len);
/* Parse a whole SIF header and descriptor table from memory: buf holds the
 * file's first len bytes, file_size is the file's size (objects must lie
 * inside it). Every offset and size is checked; one line on error. */
int sif_parse(const unsigned char *buf, size_t len, uint64_t file_size, struct sif_info *out, struct ferr *err);
/* The same, reading the file open at fd. */
int sif_read(int fd, const char *name, struct sif_info *out, struct ferr *err);
void sif_info_free(struct sif_info *s);
/* "squashfs", "ext3", "System", "Partition" ... for messages and inspect. */
const char *sif_type_name(int32_t type);
const char *sif_fstype_name(int32_t fstype);
const char *sif_parttype_name(int32_t parttype);
/* SIF's arch code ("02") for an OCI architecture ("amd64"), "00" if unknown. */
const char *sif_arch_code(const char *oci_arch);

/* ---- writing images to files (image/export.c, image/sqfs_write.c) --------
 * The writer behind `ferry export`: a root file system tree plus its OCI
 * image config to one file. Reproducible: the same tree and config give
 * the same bytes (everything owned by 0:0, every time stamp the config's
 * `created`, or SOURCE_DATE_EPOCH, or 0). The file is written under a
 * temporary name next to OUT and renamed at the end. */

enum export_format {
	EXPORT_AUTO = 0, /* from OUT's extension */
	EXPORT_SQFS,     /* .sqfs .squashfs */
	EXPORT_SIF,      /* .sif .simg */
	EXPORT_OCI_ARCHIVE,
	EXPORT_DOCKER_ARCHIVE,
	EXPORT_TAR, /* a flat root file system tarball (.tar) */
};

enum export_compress { EXPORT_ZSTD = 0, EXPORT_GZIP, EXPORT_XZ, EXPORT_LZ4 };

struct export_opts {
	enum export_format format;
	enum export_compress compress; /* squashfs and SIF */
	unsigned threads;              /* compression threads; 0: every online CPU */
	const char *name;              /* "registry/repo:tag" recorded in the archives; may be NULL */
};

/* "sqfs", "sif", "oci-archive", "docker-archive", "tar". */
int export_format_parse(const char *s, enum export_format *f, struct ferr *err);
/* "zstd", "gzip", "xz", "lz4". */
int export_compress_parse(const char *s, enum export_compress *c, struct ferr *err);
/* The format OUT's extension names; fails with a hint to use --format. */
int export_format_from_path(const char *out, enum export_format *f, struct ferr *err);
const char *export_format_name(enum export_format f);

/* Write the tree at rootfs (and config, an OCI image config JSON of
 * config_len bytes; NULL for a plain tree) to out. */
int image_export(const char *rootfs, const char *config, size_t config_len, const char *out,
	const struct export_opts *o, struct ferr *err);

/* Where `ferry export` puts the image config inside the squashfs. Other
 * runtimes ignore it (Apptainer reads /.singularity.d/, Charliecloud
 * /ch/); `ferry import` leaves the directory out of the tree. */
#define SFILE_CONFIG_DIR ".ferry"
#define SFILE_CONFIG_PATH "/.ferry/config.json"

/* ---- reading squashfs trees (image/sqfs_read.c) ----------------------------
 * The squashfs of sf in the file open at fd, as a tar stream written to
 * outfd (a layer for layer_extract: one rule set for every tree ferry
 * unpacks). Members are written as stored, devices included: the
 * extraction rules decide. SFILE_CONFIG_DIR is left out. */
int sfile_to_tar(int fd, const char *name, const struct sfile *sf, int outfd, struct ferr *err);
/* Read the file at path inside the squashfs into memory (at most max bytes). */
int sfile_read_file(int fd, const char *name, const struct sfile *sf, const char *path, size_t max, char **data,
	size_t *len, struct ferr *err);

/* The squashfs superblock, for `ferry inspect FILE`. */
struct sfile_super {
	uint32_t inodes, block_size, mkfs_time;
	uint64_t bytes_used;
	const char *compression; /* "zstd", "gzip" ... */
};
int sfile_super(int fd, const char *name, const struct sfile *sf, struct sfile_super *out, struct ferr *err);
