/* serve.h - `migrated serve`: the daemon process. Opens the journal (replaying the jobs), the
 * status cache and the HTTP API, then waits for signals in the main thread: SIGTERM or SIGINT
 * stop accepting, let the running migration finish (shutdown_timeout), cancel it if it does
 * not, and exit 0. */
#ifndef MIGRATED_SERVE_H
#define MIGRATED_SERVE_H

struct md_config;

/* md_serve: runs until a stop signal; returns the process exit code (0 after a clean stop, 1
 * when the daemon cannot start, 2 for a configuration error). */
int md_serve(const struct md_config *cfg);

#endif
