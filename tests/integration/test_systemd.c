/* test_systemd.c - the daemon under systemd's protocols, each spoken by the test itself or by
 * systemd's own tools: sd_notify messages caught on a test NOTIFY_SOCKET (READY, STATUS,
 * WATCHDOG, RELOADING, STOPPING), SIGHUP with a good and a bad configuration, socket
 * activation through systemd-socket-activate, a unix socket, and structured journal records
 * caught on a stand-in journal socket. */
#include "harness.h"
#include "suites.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A datagram socket bound at path; messages are appended to *log, one per line group. */
static int dgram_socket(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	unlink(path);
	ck_assert_msg(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "bind %s: %s", path, strerror(errno));
	int big = 1 << 20;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
	return fd;
}

struct inbox {
	int fd;
	char *text; /* every message so far, each followed by "\n--\n" */
	size_t len;
};

/* Reads messages until `want` appears in the inbox or timeout_s passes; returns whether it did. */
static bool inbox_wait(struct inbox *in, const char *want, double timeout_s)
{
	double end = now_s() + timeout_s;
	for (;;) {
		if (in->text && strstr(in->text, want))
			return true;
		double left = end - now_s();
		if (left <= 0)
			return false;
		struct pollfd p = {.fd = in->fd, .events = POLLIN};
		if (poll(&p, 1, (int)(left * 1000) + 1) <= 0)
			continue;
		char buf[65536];
		ssize_t n = recv(in->fd, buf, sizeof buf - 1, 0);
		if (n <= 0)
			continue;
		in->text = realloc(in->text, in->len + (size_t)n + 5);
		memcpy(in->text + in->len, buf, (size_t)n);
		in->len += (size_t)n;
		memcpy(in->text + in->len, "\n--\n", 5);
		in->len += 4;
	}
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; p && (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static bool log_wait(const struct h_daemon *d, const char *want, double timeout_s)
{
	double end = now_s() + timeout_s;
	while (now_s() < end) {
		char *log = h_daemon_log(d);
		bool found = log && strstr(log, want);
		free(log);
		if (found)
			return true;
		h_sleep_ms(25);
	}
	return false;
}

ITEST(sd_notify_says_ready_status_watchdog_reloading_and_stopping)
{
	struct h_daemon d = {0};
	struct inbox in = {0};
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	char sock[600], env_sock[640];

	snprintf(sock, sizeof sock, "%s/notify.sock", h_tmpdir());
	snprintf(env_sock, sizeof env_sock, "NOTIFY_SOCKET=%s", sock);
	in.fd = dgram_socket(sock);
	h_mig(dir, "20240101000000_slow", "CREATE TABLE a (id int);\nSELECT pg_sleep(1.5);");
	h_daemon_start(&d, db, dir, env_sock, "WATCHDOG_USEC=600000", "MIGRATED_PROBE_INTERVAL=200ms", NULL);

	ck_assert_msg(inbox_wait(&in, "READY=1", 5), "no READY=1:\n%s", in.text ? in.text : "");
	ck_assert_msg(inbox_wait(&in, "STATUS=idle, 1 pending", 5), "no idle status:\n%s", in.text);
	/* READY comes after the journal replay and the listening socket: nothing before it says ready. */
	ck_assert_ptr_nonnull(strstr(in.text, "STATUS=starting: replaying the journal"));
	ck_assert(strstr(in.text, "STATUS=starting: replaying the journal") < strstr(in.text, "READY=1"));
	/* Watchdog pings at half the period (0.3 s): several within 1.5 s. */
	inbox_wait(&in, "never", 1.5);
	ck_assert_msg(count(in.text, "WATCHDOG=1") >= 3, "watchdog pings: %zu\n%s", count(in.text, "WATCHDOG=1"),
		      in.text);

	char *id = h_post_deploy(&d, "{}");
	ck_assert_msg(inbox_wait(&in, "STATUS=deploying 1/1 20240101000000_slow", 5), "no progress status:\n%s",
		      in.text);
	json_decref(h_wait_job(&d, id, 60));
	free(id);
	ck_assert_msg(inbox_wait(&in, "STATUS=idle, 0 pending", 5), "no idle status after the deploy:\n%s", in.text);

	size_t ready_before = count(in.text, "READY=1");
	kill(d.pid, SIGHUP);
	ck_assert_msg(inbox_wait(&in, "RELOADING=1", 5), "no RELOADING=1:\n%s", in.text);
	ck_assert_ptr_nonnull(strstr(strstr(in.text, "RELOADING=1"), "MONOTONIC_USEC="));
	for (double end = now_s() + 5; count(in.text, "READY=1") == ready_before && now_s() < end;)
		inbox_wait(&in, "never", 0.1);
	ck_assert_msg(count(in.text, "READY=1") > ready_before, "no READY=1 after the reload:\n%s", in.text);

	ck_assert_int_eq(h_daemon_stop(&d), 0);
	ck_assert_msg(inbox_wait(&in, "STOPPING=1", 2), "no STOPPING=1:\n%s", in.text);
	close(in.fd);
	free(in.text);
}

ITEST(sighup_rotates_tokens_and_a_bad_configuration_keeps_the_running_one)
{
	struct h_daemon d = {0};
	struct h_http r;
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	char conf[600], tokens[600];

	snprintf(conf, sizeof conf, "%s/migrated.conf", h_tmpdir());
	snprintf(tokens, sizeof tokens, "%s/tokens", h_tmpdir());
	h_write(conf, "log_level = info\nlock_timeout = 5s\n", 35);
	h_mig(dir, "20240101000000_a", "CREATE TABLE a (id int);");
	h_daemon_start(&d, db, dir, "--config", conf, NULL);
	h_request(&r, &d, "GET", "/v1/status", H_TOKEN_READ, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	h_http_free(&r);

	/* Rotate: the read token goes, a new one comes. */
	const char *rotated = "ops admin " H_TOKEN_ADMIN "\nmon2 read rotated-read-token-0123456789abcdef\n";
	h_write(tokens, rotated, strlen(rotated));
	kill(d.pid, SIGHUP);
	ck_assert(log_wait(&d, "configuration reloaded (2 tokens)", 5));
	h_request(&r, &d, "GET", "/v1/status", H_TOKEN_READ, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 401);
	h_http_free(&r);
	h_request(&r, &d, "GET", "/v1/status", "rotated-read-token-0123456789abcdef", NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	h_http_free(&r);

	/* A broken configuration file: the reload fails, says why, and nothing changes. */
	h_write(conf, "log_level = info\nno_such_key = 1\n", 33);
	kill(d.pid, SIGHUP);
	ck_assert(log_wait(&d, "reload failed, the running configuration stays", 5));
	char *log = h_daemon_log(&d);
	h_assert_contains(log, "no_such_key");
	h_assert_contains(log, "migrated.conf");
	free(log);
	h_request(&r, &d, "GET", "/v1/status", "rotated-read-token-0123456789abcdef", NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	h_http_free(&r);
	/* A broken token file is refused the same way. */
	h_write(conf, "log_level = info\n", 17);
	h_write(tokens, "ops superuser x\n", 16);
	kill(d.pid, SIGHUP);
	for (double end = now_s() + 5; now_s() < end; h_sleep_ms(25)) {
		log = h_daemon_log(&d);
		bool twice = count(log, "reload failed") >= 2;
		free(log);
		if (twice)
			break;
	}
	log = h_daemon_log(&d);
	ck_assert_msg(count(log, "reload failed") >= 2, "%s", log);
	h_assert_not_contains(log, "rotated-read-token-0123456789abcdef");
	free(log);
	h_request(&r, &d, "GET", "/v1/status", "rotated-read-token-0123456789abcdef", NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	h_http_free(&r);
	/* A restart-only key is named, not silently ignored. */
	h_write(tokens, rotated, strlen(rotated));
	h_write(conf, "http_threads = 2\n", 17);
	kill(d.pid, SIGHUP);
	ck_assert(log_wait(&d, "reload: http_threads changed; it takes effect after a restart", 5));
	ck_assert_int_eq(h_daemon_stop(&d), 0);
}

/* `migrated token add` on the daemon's own token file, then SIGHUP (what `systemctl reload`
 * sends): the new secret is admitted, the removed one refused, and no secret reaches the log. */
ITEST(token_add_and_remove_take_effect_on_sighup_without_logging_the_secret)
{
	struct h_daemon d = {0};
	struct h_http r;
	struct h_result cli;
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	char tokens[600], secret[128];

	snprintf(tokens, sizeof tokens, "%s/tokens", h_tmpdir());
	h_mig(dir, "20240101000000_a", "CREATE TABLE a (id int);");
	h_daemon_start(&d, db, dir, NULL);
	h_migrated(&cli, "token", "add", "--token-file", tokens, "newci", "read", NULL);
	ck_assert_msg(cli.rc == 0, "%s", cli.err);
	const char *last = strrchr(cli.out, '\n');
	while (last && last > cli.out && last[-1] != '\n')
		last--; /* the start of the last line */
	ck_assert_ptr_nonnull(last);
	snprintf(secret, sizeof secret, "%.*s", (int)strcspn(last, "\n"), last);
	ck_assert_uint_eq(strlen(secret), 64);
	h_result_free(&cli);
	h_request(&r, &d, "GET", "/v1/status", secret, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 401); /* not before the reload */
	h_http_free(&r);
	kill(d.pid, SIGHUP);
	ck_assert(log_wait(&d, "configuration reloaded (4 tokens)", 5));
	h_request(&r, &d, "GET", "/v1/status", secret, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	h_http_free(&r);
	h_migrated(&cli, "token", "remove", "--token-file", tokens, "newci", NULL);
	ck_assert_msg(cli.rc == 0, "%s", cli.err);
	h_result_free(&cli);
	kill(d.pid, SIGHUP);
	ck_assert(log_wait(&d, "configuration reloaded (3 tokens)", 5));
	h_request(&r, &d, "GET", "/v1/status", secret, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 401);
	h_http_free(&r);
	char *log = h_daemon_log(&d);
	h_assert_not_contains(log, secret);
	free(log);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
}

/* Runs argv in the background with the environment extra added; returns its pid. */
static pid_t spawn(char *const argv[], char *const extra[], const char *log_path)
{
	pid_t p = fork();
	if (p == 0) {
		setpgid(0, 0);
		int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		unsetenv("DATABASE_URL");
		setenv("MIGRATED_CONFIG", "/dev/null", 1);
		for (int i = 0; extra && extra[i]; i++)
			putenv(extra[i]);
		execv(argv[0], argv);
		_exit(127);
	}
	return p;
}

static int curl_status(char *const extra_args[], const char *url)
{
	char *argv[16];
	int k = 0;
	struct h_result r;
	argv[k++] = "/usr/bin/curl";
	argv[k++] = "-s";
	argv[k++] = "-o";
	argv[k++] = "/dev/null";
	argv[k++] = "-w";
	argv[k++] = "%{http_code}";
	argv[k++] = "--max-time";
	argv[k++] = "5";
	for (int i = 0; extra_args && extra_args[i] && k < 14; i++)
		argv[k++] = extra_args[i];
	argv[k++] = (char *)url;
	argv[k] = NULL;
	h_run_argv(&r, argv, NULL, 10);
	int code = atoi(r.out ? r.out : "0");
	h_result_free(&r);
	return code;
}

static void stop_and_wait(pid_t p)
{
	int st;
	kill(p, SIGTERM);
	for (int i = 0; i < 400; i++) {
		if (waitpid(p, &st, WNOHANG) == p) {
			ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %d", st);
			return;
		}
		h_sleep_ms(25);
	}
	kill(-p, SIGKILL);
	waitpid(p, &st, 0);
	ck_abort_msg("did not stop within 10 s");
}

ITEST(socket_activation_serves_on_the_socket_systemd_passes)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	char listen[64], url[128], state[600], log[600], env_url[400];
	int port;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof sa;

	/* A free port, as systemd would have from ListenStream=. */
	int probe = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(probe, (struct sockaddr *)&sa, sizeof sa);
	getsockname(probe, (struct sockaddr *)&sa, &sl);
	port = ntohs(sa.sin_port);
	close(probe);
	snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
	snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz", port);
	snprintf(state, sizeof state, "%s/state", h_tmpdir());
	snprintf(log, sizeof log, "%s/activated.log", h_tmpdir());
	snprintf(env_url, sizeof env_url, "DATABASE_URL=%s", h_url(db));
	h_mig(dir, "20240101000000_a", "CREATE TABLE a (id int);");

	char *argv[] = {"/usr/bin/systemd-socket-activate",
			"-l",
			listen,
			"-E",
			env_url,
			(char *)h_migrated_bin(),
			"serve",
			"--listen",
			"127.0.0.1:1", /* must be ignored: the passed socket wins */
			"--migrations",
			(char *)dir,
			"--state-dir",
			state,
			NULL};
	pid_t p = spawn(argv, NULL, log);
	int code = 0;
	for (int i = 0; i < 100 && code != 200; i++) {
		h_sleep_ms(50);
		code = curl_status(NULL, url);
	}
	ck_assert_int_eq(code, 200);
	/* The socket can answer before the line that says so is written (seen under ASan). */
	char *text = NULL;
	for (int i = 0; i < 40; i++) {
		free(text);
		text = h_read(log, NULL);
		if (h_contains(text, "listening on socket from systemd (fd 3)"))
			break;
		h_sleep_ms(50);
	}
	h_assert_contains(text, "listening on socket from systemd (fd 3)");
	free(text);
	stop_and_wait(p);
}

ITEST(a_unix_socket_is_served_and_removed_at_stop)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	char path[300], listen[320], state[600], log[600], env_url[400];
	struct stat st;

	snprintf(path, sizeof path, "%s/api.sock", h_tmpdir());
	snprintf(listen, sizeof listen, "unix:%s", path);
	snprintf(state, sizeof state, "%s/state", h_tmpdir());
	snprintf(log, sizeof log, "%s/unix.log", h_tmpdir());
	snprintf(env_url, sizeof env_url, "DATABASE_URL=%s", h_url(db));
	h_mig(dir, "20240101000000_a", "CREATE TABLE a (id int);");
	char *argv[] = {(char *)h_migrated_bin(),
			"serve",
			"--listen",
			listen,
			"--migrations",
			(char *)dir,
			"--state-dir",
			state,
			NULL};
	char *extra[] = {env_url, NULL};
	pid_t p = spawn(argv, extra, log);
	char *curl_args[] = {"--unix-socket", path, NULL};
	int code = 0;
	for (int i = 0; i < 100 && code != 200; i++) {
		h_sleep_ms(50);
		code = curl_status(curl_args, "http://localhost/healthz");
	}
	ck_assert_int_eq(code, 200);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_int_eq(st.st_mode & 0777, 0660);
	stop_and_wait(p);
	ck_assert_int_ne(stat(path, &st), 0);
}

ITEST(logs_go_to_the_journal_with_job_migration_and_sqlstate_fields)
{
	struct h_daemon d = {0};
	struct inbox in = {0};
	struct stat st;
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	const char *jsock = "/run/systemd/journal/socket";
	char env_stream[96], logp[600];

	/* libsystemd writes to this fixed path; stand in for journald where none runs. */
	ck_assert_msg(stat(jsock, &st) != 0,
		      "a journald socket exists at %s: this test stands in for journald and needs it absent "
		      "(run the suite in a container or as a user namespace)",
		      jsock);
	ck_assert_msg(mkdir("/run/systemd", 0755) == 0 || errno == EEXIST, "mkdir /run/systemd: %s", strerror(errno));
	ck_assert_msg(mkdir("/run/systemd/journal", 0755) == 0 || errno == EEXIST, "mkdir: %s", strerror(errno));
	in.fd = dgram_socket(jsock);

	/* JOURNAL_STREAM names the daemon's stderr (the harness appends to this file). */
	snprintf(logp, sizeof logp, "%s/daemon.log", h_tmpdir());
	h_write(logp, "", 0);
	ck_assert_int_eq(stat(logp, &st), 0);
	snprintf(env_stream, sizeof env_stream, "JOURNAL_STREAM=%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	h_mig(dir, "20240101000000_ok", "CREATE TABLE a (id int);");
	h_mig(dir, "20240102000000_bad", "SELECT * FROM nowhere;");
	h_daemon_start(&d, db, dir, env_stream, NULL);
	char *id = h_post_deploy(&d, "{}");
	json_decref(h_wait_job(&d, id, 60));
	char job_field[96];
	snprintf(job_field, sizeof job_field, "JOB_ID=%s", id);
	ck_assert_msg(inbox_wait(&in, "SQLSTATE=42P01", 5), "no record with the SQLSTATE:\n%s", in.text ? in.text : "");
	ck_assert_int_eq(h_daemon_stop(&d), 0);
	unlink(jsock);
	rmdir("/run/systemd/journal");

	/* The failure's record carries all three fields; a success carries the job and migration. */
	char *fail = strstr(in.text, "SQLSTATE=42P01");
	char *start = fail;
	while (start > in.text && strncmp(start, "\n--\n", 4) != 0)
		start--;
	char *end = strstr(fail, "\n--\n");
	char recbuf[8192];
	snprintf(recbuf, sizeof recbuf, "%.*s", (int)(end - start), start);
	const char *rec = recbuf;
	h_assert_contains(rec, job_field);
	h_assert_contains(rec, "MIGRATION=20240102000000_bad");
	h_assert_contains(rec, "PRIORITY=3");
	h_assert_contains(rec, "SYSLOG_IDENTIFIER=migrated");
	h_assert_contains(in.text, "MIGRATION=20240101000000_ok");
	h_assert_contains(in.text, "applied in");
	/* Nothing went to stderr while the journal took the records. */
	char *log = h_daemon_log(&d);
	h_assert_not_contains(log, "applied in");
	free(log);
	free(id);
	close(in.fd);
	free(in.text);
}

/* Runs a command line through /bin/sh; returns its result (caller frees). */
static void sh(struct h_result *r, const char *cmd)
{
	char *const argv[] = {"/bin/sh", "-c", (char *)cmd, NULL};
	h_run_argv(r, argv, NULL, 120);
}

ITEST(the_shipped_units_verify_and_rate_ok_in_systemd_analyze_security)
{
	struct h_result r;
	char cmd[2048], bindir[600];
	const char *tmp = h_tmpdir();

	/* The unit as `make` generated it next to the binary, pointed at this build's binary. */
	snprintf(bindir, sizeof bindir, "%s", h_migrated_bin());
	*strrchr(bindir, '/') = '\0';
	snprintf(cmd, sizeof cmd,
		 "set -e; mkdir -p %s/units; sed 's|^ExecStart=.*/migrated serve|ExecStart=%s serve|' "
		 "%s/systemd/migrated.service > %s/units/migrated.service; "
		 "cp %s/systemd/migrated.socket %s/units/",
		 tmp, h_migrated_bin(), bindir, tmp, MD_TEST_SRCDIR, tmp);
	sh(&r, cmd);
	ck_assert_msg(r.rc == 0, "%s%s", r.out, r.err);
	h_result_free(&r);

	snprintf(cmd, sizeof cmd, "systemd-analyze verify %s/units/migrated.service %s/units/migrated.socket", tmp,
		 tmp);
	sh(&r, cmd);
	ck_assert_msg(r.rc == 0 && !r.err[0] && !r.out[0], "systemd-analyze verify (%d):\n%s%s", r.rc, r.out, r.err);
	h_result_free(&r);

	snprintf(cmd, sizeof cmd, "systemd-analyze security --offline=true %s/units/migrated.service", tmp);
	sh(&r, cmd);
	const char *at = strstr(r.out, "Overall exposure level for migrated.service: ");
	ck_assert_msg(at, "no exposure level in:\n%s%s", r.out, r.err);
	double level = atof(at + strlen("Overall exposure level for migrated.service: "));
	ck_assert_msg(level <= 2.0, "exposure %.1f (goal <= 2.0):\n%s", level, r.out);
	h_result_free(&r);

	/* The sysusers.d and tmpfiles.d entries, applied to a scratch root. */
	snprintf(
		cmd, sizeof cmd,
		"set -e; src=%s/systemd; mkdir -p %s/root/etc; "
		"systemd-sysusers --root=%s/root $src/migrated.sysusers; "
		"systemd-tmpfiles --root=%s/root --create $src/migrated.tmpfiles; "
		"grep '^migrated:' %s/root/etc/passwd; uid=$(awk -F: '$1==\"migrated\"{print $3}' %s/root/etc/passwd); "
		"[ \"$(stat -c %%u %s/root/var/lib/migrated)\" = \"$uid\" ] && echo owner-is-migrated; "
		"stat -c 'mode %%a' %s/root/var/lib/migrated",
		MD_TEST_SRCDIR, tmp, tmp, tmp, tmp, tmp, tmp, tmp);
	sh(&r, cmd);
	ck_assert_msg(r.rc == 0, "%s%s", r.out, r.err);
	h_assert_contains(r.out, "migrated:x:");
	h_assert_contains(r.out, "owner-is-migrated");
	h_assert_contains(r.out, "mode 750");
	h_result_free(&r);
}

Suite *suite_systemd(void)
{
	Suite *s = suite_create("systemd");
	TCase *tc = tcase_create("systemd");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, sd_notify_says_ready_status_watchdog_reloading_and_stopping);
	tcase_add_test(tc, sighup_rotates_tokens_and_a_bad_configuration_keeps_the_running_one);
	tcase_add_test(tc, token_add_and_remove_take_effect_on_sighup_without_logging_the_secret);
	tcase_add_test(tc, socket_activation_serves_on_the_socket_systemd_passes);
	tcase_add_test(tc, a_unix_socket_is_served_and_removed_at_stop);
	tcase_add_test(tc, logs_go_to_the_journal_with_job_migration_and_sqlstate_fields);
	tcase_add_test(tc, the_shipped_units_verify_and_rate_ok_in_systemd_analyze_security);
	suite_add_tcase(s, tc);
	return s;
}
