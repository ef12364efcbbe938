/* systemd.h - what the daemon says to and takes from systemd, all optional: without systemd
 * every call is a no-op and the daemon binds its own address and logs to stderr.
 *   notify: READY=1, STATUS=, WATCHDOG=1, RELOADING=1, STOPPING=1 ($NOTIFY_SOCKET)
 *   socket activation: the listening socket from migrated.socket ($LISTEN_FDS)
 *   journal: structured records (JOB_ID=, MIGRATION=, SQLSTATE=) when $JOURNAL_STREAM says
 *            stderr is the journal */
#ifndef MIGRATED_SYSTEMD_H
#define MIGRATED_SYSTEMD_H

#include <stdbool.h>
#include <stdint.h>

struct md_error;

/* md_sd_listen_fd: *ret_fd gets the socket systemd passed, or -1 when it passed none; returns
 * 0, or MD_E_CONFIG (with err) when it passed more than one, or something that is not a
 * listening stream socket. */
int md_sd_listen_fd(int *ret_fd, struct md_error *err);

/* md_sd_journal_stderr: whether stderr is a stream to the systemd journal. */
bool md_sd_journal_stderr(void);
/* md_sd_log_to_journal: send md_log messages to the journal, structured, from now on. */
void md_sd_log_to_journal(void);

void md_sd_ready(void);
void md_sd_status(const char *status); /* one line; sent only when it changed */
void md_sd_reloading(void);
void md_sd_stopping(void);
/* md_sd_watchdog_usec: WatchdogSec in microseconds when the watchdog is on, else 0. */
uint64_t md_sd_watchdog_usec(void);
void md_sd_watchdog(void);

#endif
