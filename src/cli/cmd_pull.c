/* Placeholder: replaced by the issue that implements these commands. */
#include <stdio.h>

#include "cli/cli.h"

static int not_yet(int argc, char **argv)
{
	(void)argc;
	fprintf(stderr, "ferry: %s: not implemented yet\n", argv[0]);
	return EXIT_ERR;
}

const struct cli_command cmd_pull = {
	"pull", "fetch an image from a registry or archive into the store",
	"Usage: ferry pull ...\n", not_yet,
};

const struct cli_command cmd_images = {
	"images", "list stored images",
	"Usage: ferry images ...\n", not_yet,
};

const struct cli_command cmd_inspect = {
	"inspect", "show an image's manifest and config",
	"Usage: ferry inspect ...\n", not_yet,
};

const struct cli_command cmd_rm = {
	"rm", "remove images from the store",
	"Usage: ferry rm ...\n", not_yet,
};

const struct cli_command cmd_prune = {
	"prune", "free unreferenced blobs, files and leftovers",
	"Usage: ferry prune ...\n", not_yet,
};

const struct cli_command cmd_login = {
	"login", "store credentials for a registry",
	"Usage: ferry login ...\n", not_yet,
};

const struct cli_command cmd_logout = {
	"logout", "remove stored credentials for a registry",
	"Usage: ferry logout ...\n", not_yet,
};
