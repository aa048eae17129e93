/* Placeholder: replaced by the issue that implements these commands. */
#include <stdio.h>

#include "cli/cli.h"

static int not_yet(int argc, char **argv)
{
	(void)argc;
	fprintf(stderr, "ferry: %s: not implemented yet\n", argv[0]);
	return EXIT_ERR;
}

const struct cli_command cmd_run = {
	"run", "run an image's entrypoint without root",
	"Usage: ferry run ...\n", not_yet,
};

const struct cli_command cmd_exec = {
	"exec", "run a command in an image without root",
	"Usage: ferry exec ...\n", not_yet,
};

const struct cli_command cmd_shell = {
	"shell", "start an interactive shell in an image",
	"Usage: ferry shell ...\n", not_yet,
};

const struct cli_command cmd_check = {
	"check", "say what this machine allows (user namespaces, overlay, FUSE)",
	"Usage: ferry check ...\n", not_yet,
};
