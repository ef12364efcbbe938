/* cli.h - the one-shot commands (status, deploy, resolve) on the engine, for CI pipelines and
 * break-glass use. Exit codes: 0 success / up to date, 1 something pending, failed or wrong,
 * 2 usage or configuration error. */
#ifndef MIGRATED_CLI_H
#define MIGRATED_CLI_H

#define MD_EXIT_OK      0
#define MD_EXIT_PROBLEM 1
#define MD_EXIT_USAGE   2

struct md_config;
struct md_config_flags;

/* The daemon, for `migrated serve`: given by the composition root (main.c passes md_serve), so
 * the command line does not depend on the layers the daemon wires together. */
typedef int (*md_cli_serve_fn)(struct md_config *cfg, const struct md_config_flags *flags);

/* md_cli_main: parse argv and run the command (serve through serve); returns the process exit
 * code. */
int md_cli_main(int argc, char **argv, md_cli_serve_fn serve);

#endif
