/* main.c - the migrated binary and the top of the layers: hands argv to the command-line
 * front end, giving it the daemon (serve.c wires the daemon's parts together). The only place
 * that turns a result into a process exit code. */
#include "migrated/cli.h"
#include "migrated/serve.h"

#include <stdio.h>

int main(int argc, char **argv)
{
	int rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	rc = md_cli_main(argc, argv, md_serve);
	fflush(stdout);
	return rc;
}
