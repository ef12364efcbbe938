/* serve.h - `migrated serve`: the daemon process. Opens the journal (replaying the jobs), the
 * connection pool, the status cache, the health probe and the HTTP API (on the socket systemd
 * passed, else its own), tells systemd it is ready, then waits for signals in the main thread:
 * SIGHUP reloads the configuration and the tokens (a bad configuration keeps the running one);
 * SIGTERM or SIGINT stop accepting, let the running migration finish (shutdown_timeout), cancel
 * it if it does not, and exit 0. */
#ifndef MIGRATED_SERVE_H
#define MIGRATED_SERVE_H

struct md_config;
struct md_config_flags;

/* md_serve: runs until a stop signal; returns the process exit code (0 after a clean stop, 1
 * when the daemon cannot start, 2 for a configuration error). cfg stays the caller's; flags
 * (the command line) are read again with the configuration on SIGHUP. */
int md_serve(struct md_config *cfg, const struct md_config_flags *flags);

#endif
