/* main.c - the migrated binary: hands argv to the command-line front end. The only place
 * that turns a result into a process exit code. */
#include "migrated/cli.h"

#include <stdio.h>

int main(int argc, char **argv)
{
	int rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	rc = md_cli_main(argc, argv);
	fflush(stdout);
	return rc;
}
