/* systemd.c - libsystemd glue (see systemd.h). Notification failures are ignored: a daemon
 * must not stop because nobody listens. */
#include "migrated/systemd.h"
#include "migrated/error.h"
#include "migrated/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#include <time.h>
#include <unistd.h>

int md_sd_listen_fd(int *ret_fd, struct md_error *err)
{
	/* unset_environment: our children (none today) must not think they were activated. */
	int n = sd_listen_fds(1);
	*ret_fd = -1;
	if (n <= 0)
		return 0;
	if (n > 1)
		return md_error_set(err, MD_E_CONFIG,
				    "systemd passed %d sockets; migrated listens on one (check ListenStream= in "
				    "migrated.socket)",
				    n);
	if (sd_is_socket(SD_LISTEN_FDS_START, AF_UNSPEC, SOCK_STREAM, 1) <= 0)
		return md_error_set(err, MD_E_CONFIG,
				    "the socket systemd passed is not a listening stream socket (use ListenStream= "
				    "in migrated.socket)");
	*ret_fd = SD_LISTEN_FDS_START;
	return 0;
}

bool md_sd_journal_stderr(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	return js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
	       (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

static void journal_sink(int level, const char *message, const struct md_log_fields *f)
{
	char prio[16];
	snprintf(prio, sizeof prio, "PRIORITY=%d", level);
	/* Empty fields are left out: journalctl -F JOB_ID lists only real values. */
	const char *fields[3][2] = {{"JOB_ID=", f->job_id}, {"MIGRATION=", f->migration}, {"SQLSTATE=", f->sqlstate}};
	char buf[3][320];
	const char *extra[3] = {NULL, NULL, NULL};
	int n = 0;
	for (int i = 0; i < 3; i++)
		if (fields[i][1] && *fields[i][1]) {
			snprintf(buf[n], sizeof buf[n], "%s%s", fields[i][0], fields[i][1]);
			extra[n] = buf[n];
			n++;
		}
	sd_journal_send("MESSAGE=%s", message, prio, "SYSLOG_IDENTIFIER=migrated", extra[0] ? "%s" : NULL, extra[0],
			extra[1] ? "%s" : NULL, extra[1], extra[2] ? "%s" : NULL, extra[2], NULL);
}

void md_sd_log_to_journal(void)
{
	md_log_set_sink(journal_sink);
}

void md_sd_ready(void)
{
	sd_notify(0, "READY=1");
}

static pthread_mutex_t status_lock = PTHREAD_MUTEX_INITIALIZER;
static char last_status[512];

void md_sd_status(const char *status)
{
	char line[512];
	snprintf(line, sizeof line, "%s", status);
	line[strcspn(line, "\n")] = '\0';
	pthread_mutex_lock(&status_lock);
	if (strcmp(line, last_status) != 0) {
		snprintf(last_status, sizeof last_status, "%s", line);
		sd_notifyf(0, "STATUS=%s", line);
	}
	pthread_mutex_unlock(&status_lock);
}

void md_sd_reloading(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
		   (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
}

void md_sd_stopping(void)
{
	sd_notify(0, "STOPPING=1");
}

uint64_t md_sd_watchdog_usec(void)
{
	uint64_t usec = 0;
	return sd_watchdog_enabled(0, &usec) > 0 ? usec : 0;
}

void md_sd_watchdog(void)
{
	sd_notify(0, "WATCHDOG=1");
}
