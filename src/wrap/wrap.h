/* wrap/: containerised commands that look native (doc/wrap.md).
 *
 *   ferry wrap IMAGE --prefix DIR   writes, for the image's commands,
 *     DIR/<tool>/<version>/bin/NAME -> ../../../.ferry/ferry   (one symlink a command)
 *     DIR/<tool>/<version>/wrap.json                          (the sidecar the shim reads)
 *     DIR/modules/<tool>/<version>.lua  (or a Tcl file with --module-format tcl)
 *     DIR/.ferry/ferry                  (a copy of ferry: the shims' target)
 *     DIR/catalog.json                  (every wrapped app, for portals)
 *   ferry catalog sync CATALOG --prefix DIR  does it for every app of an
 *     apps.json, plus DIR/modules-by-category/<category>/<tool>/<version>.lua.
 *
 * Nothing under DIR holds an absolute path written at wrap time (moving DIR
 * keeps it working): shims point to ../../../.ferry/ferry, modules find
 * their shims from their own file name, the sidecar names the image by
 * digest. Uses store/ (pulls, image trees) and runtime/ (the exec the shim
 * turns into); the library never prints. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "base/err.h"
#include "image/image.h"

#define WRAP_SIDECAR "wrap.json"
#define WRAP_FERRY_LINK "../../../.ferry/ferry" /* from DIR/<tool>/<version>/bin/ */

enum wrap_module_format { WRAP_MODULE_LUA = 0, WRAP_MODULE_TCL };

/* Which discovery rule found the commands (doc/wrap.md, "Commands"). */
enum wrap_rule { WRAP_RULE_DEPLOY = 1, WRAP_RULE_OPTIONS, WRAP_RULE_BOUTIQUES, WRAP_RULE_EXEC /* catalog exec alone */ };
const char *wrap_rule_name(enum wrap_rule r);

struct wrap_opts {
	const char *image;  /* reference, as ferry pull takes it */
	const char *prefix; /* DIR */
	const char *name;   /* "TOOL/VERSION" or NULL: labels, else the reference */
	char **bins;        /* --bins names (NULL-terminated, may be NULL) */
	char **paths;       /* --path directories inside the image */
	enum wrap_module_format format;
	bool offline;        /* the image must be stored already: no request at all */
	struct pull_opts pull;
	const char *deploy_dir; /* deploy the image into this DIR (ferry deploy) instead of
				 * pulling it into the caller's store; its shims then find it there */
	/* Set by catalog sync (else NULL/false). */
	char **categories;   /* also the module trees DIR/modules-by-category/<c>/ */
	char **execs;        /* apps.json "exec" commands: always shimmed */
	const char *builddate;
	const char *tool;    /* tool and version when the catalog decides them */
	const char *version;
	bool from_catalog;   /* recorded: --prune removes only these */
	bool defer_index;    /* the caller rewrites DIR/catalog.json (once, after many apps) */
};

struct wrap_result {
	char *tool, *version;
	char *digest;   /* manifest digest of the image */
	char **commands; /* shim names, sorted */
	enum wrap_rule rule;
	bool unchanged;  /* everything was already in place: nothing written */
	char **ignored;  /* notes for the user (options ignored, names left out) */
};
void wrap_result_free(struct wrap_result *r);

/* Pull (unless offline) and wrap one image into o->prefix. Takes DIR's
 * lock; writes each piece to a temporary name and renames it into place,
 * so a failure leaves the earlier state (or nothing). */
int wrap_image(const struct wrap_opts *o, struct wrap_result *res, struct ferr *err);

/* ---- names and small parsers (unit-tested) ---- */

/* A tool, version, command or category name that is a safe file and
 * module name: 1-128 of [A-Za-z0-9._+-], not starting with '.' or '-'. */
bool wrap_name_valid(const char *s);
/* "TOOL/VERSION" -> two valid names. */
int wrap_parse_name(const char *s, char **tool, char **version, struct ferr *err);
/* FERRY_WRAP_OPTS -> words (shell-like: blanks split, '...' and "..."
 * quote, backslash escapes). Every word must be an option of ferry exec or
 * the argument of the one before: a stray word would be taken as the image. */
int wrap_split_opts(const char *text, char ***words, struct ferr *err);
/* Lua and Tcl string literals for any bytes. Caller frees. */
char *wrap_lua_quote(const char *s);
char *wrap_tcl_quote(const char *s);

/* ---- the shim side (what runs when NAME is called) ---- */

struct wrap_shim {
	char *sidecar;   /* path of the wrap.json that was found */
	char *name;      /* command name (the shim's name in bin/) */
	char *command;   /* what to run inside: absolute path, or a name for PATH */
	char *image;     /* what to give ferry exec: a stored image directory, or a pinned reference */
	bool no_pull;
};
void wrap_shim_free(struct wrap_shim *s);
/* Find the sidecar for the shim that was executed as `execfn` (the path
 * given to execve: AT_EXECFN), following symlinks to it one at a time
 * (a link ~/bin/x -> DIR/t/v/bin/x works too), and the image in the
 * caller's stores. */
int wrap_shim_find(const char *execfn, struct wrap_shim *s, struct ferr *err);

/* ---- modules ---- */

struct wrap_module_info {
	const char *tool, *version, *digest, *image;
	char **categories;
	const char *help;  /* README.md or the descriptor's description, or NULL */
	char **env;        /* NAME=value from DEPLOY_ENV_*, BASEPATH already replaced */
	int depth;         /* directories between DIR and the module file's directory: 2 or 3 */
};
/* The module file's text (caller frees). */
char *wrap_module_text(const struct wrap_module_info *m, enum wrap_module_format f);

/* ---- catalog ---- */

struct catalog_sync_opts {
	const char *catalog;        /* path of the JSON file */
	const char *prefix;
	const char *image_template; /* overrides the catalog's own */
	const char *registry;       /* {registry} in templates */
	bool prune, offline;
	enum wrap_module_format format;
	struct pull_opts pull;
	const char *deploy_dir;     /* --to DIR: deploy each image there (ferry deploy) */
	/* Called once per app (for the CLI to print); err is NULL on success. */
	void (*report)(void *arg, const char *app, const struct wrap_result *res, const struct ferr *err);
	void *report_arg;
};
struct catalog_sync_stats {
	size_t apps, synced, unchanged, failed, pruned;
};
/* Returns -1 with err for a catalog that cannot be used at all (unreadable,
 * malformed: the JSON path of the problem in the message): nothing is
 * written then. Apps that fail are reported one each and counted in
 * stats->failed; the rest still sync. */
int catalog_sync(const struct catalog_sync_opts *o, struct catalog_sync_stats *stats, struct ferr *err);

/* DIR/catalog.json rebuilt from the sidecars (wrap_image and catalog_sync
 * call it; exposed for tests). */
int catalog_write_index(const char *prefix, struct ferr *err);
/* The apps of DIR/catalog.json matching category (NULL: any) and text
 * (NULL: any; case-insensitive in tool, version, commands, categories).
 * A JSON array (caller decrefs). */
int catalog_list(const char *prefix, const char *category, const char *text, json_t **apps,
	struct ferr *err);
