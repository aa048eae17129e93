/* Placeholder: replaced by the issue that implements these commands. */
#include <stdio.h>

#include "cli/cli.h"

static int not_yet(int argc, char **argv)
{
	(void)argc;
	fprintf(stderr, "ferry: %s: not implemented yet\n", argv[0]);
	return EXIT_ERR;
}

const struct cli_command cmd_app = {
	"app", "validate, simulate and launch Boutiques descriptors",
	"Usage: ferry app ...\n", not_yet,
};
