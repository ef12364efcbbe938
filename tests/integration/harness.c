/* harness.c - the integration harness (see harness.h). Everything here runs real programs:
 * initdb/pg_ctl/postgres from the PostgreSQL server package, the migrated binary, sha256sum. */
#include "harness.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef MD_TEST_MIGRATED_BIN
#define MD_TEST_MIGRATED_BIN "./migrated"
#endif
#ifndef MD_TEST_SRCDIR
#define MD_TEST_SRCDIR "."
#endif
#ifndef MD_TEST_PG_BINDIR
#define MD_TEST_PG_BINDIR "/usr/lib/postgresql/15/bin"
#endif

static char base_dir[256];
static int port;
static char test_name[128];
static char test_dir[512];
static char db_name[128];
static int db_counter;

const char *h_base_dir(void)
{
	return base_dir;
}
int h_port(void)
{
	return port;
}

const char *h_migrated_bin(void)
{
	const char *e = getenv("MIGRATED_BIN");
	return e && *e ? e : MD_TEST_MIGRATED_BIN;
}

const char *h_client_bindir(void)
{
	return MD_TEST_PG_BINDIR;
}

const char *h_pg_bindir(void)
{
	const char *e = getenv("PG_BINDIR");
	return e && *e ? e : MD_TEST_PG_BINDIR;
}

const char *h_shared_dir(void)
{
	static char dir[4096];
	const char *cands[3] = {getenv("MIGRATED_SHARED_DIR"), NULL, "/work/shared"};
	char rel[4096];
	snprintf(rel, sizeof rel, "%s/../shared", MD_TEST_SRCDIR);
	cands[1] = rel;
	for (int i = 0; i < 3; i++) {
		char probe[4200];
		if (i > 0 && cands[0]) /* set: the only place looked at (MIGRATED_SHARED_DIR=/none: a bare clone) */
			break;
		if (!cands[i] || !*cands[i])
			continue;
		snprintf(probe, sizeof probe, "%s/corpus", cands[i]);
		if (access(probe, R_OK) == 0 && realpath(cands[i], dir))
			return dir;
	}
	return NULL;
}

const char *h_corpus_dir(const char *name)
{
	static char dir[4400];
	const char *shared = h_shared_dir();
	if (!shared)
		return NULL;
	snprintf(dir, sizeof dir, "%s/corpus/%s/migrations", shared, name);
	return access(dir, R_OK) == 0 ? dir : NULL;
}

bool h_contains(const char *hay, const char *needle)
{
	return hay && needle && strstr(hay, needle) != NULL;
}

void h_mount_tmpfs(const char *dir, const char *options)
{
	struct h_result r;
	mkdir(dir, 0700);
	char *argv[] = {"/bin/mount", "-t", "tmpfs", "-o", (char *)options, "tmpfs", (char *)dir, NULL};
	h_run_argv(&r, argv, NULL, 30);
	ck_assert_msg(r.rc == 0, "cannot mount a tmpfs on %s (this test needs root and mount): %s", dir, r.err);
	h_result_free(&r);
}

void h_umount(const char *dir)
{
	struct h_result r;
	char *argv[] = {"/bin/umount", "-l", (char *)dir, NULL};
	h_run_argv(&r, argv, NULL, 30);
	h_result_free(&r);
}

void h_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "harness: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(99);
}

static void rm_rf(const char *path)
{
	char *argv[] = {"/bin/rm", "-rf", (char *)path, NULL};
	pid_t p = fork();
	if (p == 0) {
		execv(argv[0], argv);
		_exit(127);
	}
	if (p > 0)
		waitpid(p, NULL, 0);
}

static void mkdir_p(const char *path)
{
	char tmp[1024];
	snprintf(tmp, sizeof tmp, "%s", path);
	for (char *p = tmp + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(tmp, 0755);
			*p = '/';
		}
	mkdir(tmp, 0755);
}

/* ---- processes ---- */

static bool am_root(void)
{
	return geteuid() == 0;
}

/* Runs argv, as the postgres user when we are root; returns the exit status. */
static int run_as_server_user(char *const argv[], const char *log_path)
{
	pid_t p = fork();
	int st;
	if (p < 0)
		die("fork: %s", strerror(errno));
	if (p == 0) {
		if (log_path) {
			int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
			if (fd >= 0) {
				dup2(fd, 1);
				dup2(fd, 2);
				close(fd);
			}
		}
		if (am_root()) {
			struct passwd *pw = getpwnam("postgres");
			if (!pw) {
				fprintf(stderr, "no postgres user to run the server as\n");
				_exit(126);
			}
			if (setgid(pw->pw_gid) < 0 || initgroups("postgres", pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
				_exit(126);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	while (waitpid(p, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static char *slurp_fd(int fd, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *b = malloc(cap);
	for (;;) {
		if (n + 1 >= cap)
			b = realloc(b, cap *= 2);
		ssize_t r = read(fd, b + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	b[n] = '\0';
	if (len)
		*len = n;
	return b;
}

static void save_last_command(char *const argv[], char *const envp_extra[], const struct h_result *res)
{
	char path[600];
	FILE *f;
	if (!test_dir[0])
		return;
	snprintf(path, sizeof path, "%s/last-command.txt", test_dir);
	f = fopen(path, "w");
	if (!f)
		return;
	fprintf(f, "$");
	for (int i = 0; envp_extra && envp_extra[i]; i++)
		fprintf(f, " %s", envp_extra[i]);
	for (int i = 0; argv[i]; i++)
		fprintf(f, " %s", argv[i]);
	fprintf(f, "\nexit %d\n--- stdout ---\n%s--- stderr ---\n%s", res->rc, res->out, res->err);
	fclose(f);
}

void h_run_argv(struct h_result *res, char *const argv[], char *const envp_extra[], int timeout_s)
{
	int po[2], pe[2];
	pid_t p;
	struct pollfd fds[2];
	size_t cap[2] = {4096, 4096}, len[2] = {0, 0};
	char *buf[2];
	time_t deadline = time(NULL) + timeout_s;
	int st, open_fds = 2;
	bool killed = false;

	if (pipe(po) < 0 || pipe(pe) < 0)
		die("pipe: %s", strerror(errno));
	p = fork();
	if (p < 0)
		die("fork: %s", strerror(errno));
	if (p == 0) {
		setpgid(0, 0);
		dup2(po[1], 1);
		dup2(pe[1], 2);
		close(po[0]);
		close(pe[0]);
		close(po[1]);
		close(pe[1]);
		/* A sanitizer finding must never look like an expected exit code. */
		setenv("ASAN_OPTIONS", "exitcode=86:detect_leaks=1:abort_on_error=0", 1);
		setenv("UBSAN_OPTIONS", "halt_on_error=1:exitcode=87:print_stacktrace=1", 1);
		setenv("LSAN_OPTIONS", "exitcode=88", 1);
		/* No stray configuration from the machine or the runner's environment. */
		setenv("MIGRATED_CONFIG", "/dev/null", 1);
		unsetenv("DATABASE_URL");
		unsetenv("DIRECT_URL");
		for (int i = 0; envp_extra && envp_extra[i]; i++)
			putenv(envp_extra[i]);
		execv(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	buf[0] = malloc(cap[0]);
	buf[1] = malloc(cap[1]);
	fds[0] = (struct pollfd){po[0], POLLIN, 0};
	fds[1] = (struct pollfd){pe[0], POLLIN, 0};
	while (open_fds > 0) {
		int wait_ms = (int)(deadline - time(NULL)) * 1000;
		if (wait_ms <= 0) {
			kill(-p, SIGKILL);
			killed = true;
			break;
		}
		if (poll(fds, 2, wait_ms) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < 2; i++) {
			if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (len[i] + 4096 > cap[i])
				buf[i] = realloc(buf[i], cap[i] *= 2);
			ssize_t r = read(fds[i].fd, buf[i] + len[i], cap[i] - len[i] - 1);
			if (r > 0) {
				len[i] += (size_t)r;
			} else if (r == 0 || errno != EINTR) {
				close(fds[i].fd);
				fds[i].fd = -1;
				open_fds--;
			}
		}
	}
	for (int i = 0; i < 2; i++)
		if (fds[i].fd >= 0)
			close(fds[i].fd);
	while (waitpid(p, &st, 0) < 0 && errno == EINTR)
		;
	buf[0][len[0]] = '\0';
	buf[1][len[1]] = '\0';
	res->out = buf[0];
	res->err = buf[1];
	res->rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	if (killed)
		res->rc = 124;
	save_last_command(argv, envp_extra, res);
}

void h_result_free(struct h_result *res)
{
	free(res->out);
	free(res->err);
	res->out = res->err = NULL;
}

/* argv for migrated, behind MD_TEST_WRAPPER ("valgrind -q ...") when that is set. */
static int collect_args(va_list ap, char **env, char **argv, int max)
{
	int ne = 0, na = 0;
	const char *a, *wrapper = getenv("MD_TEST_WRAPPER");
	bool in_env = true;
	if (wrapper && *wrapper) {
		char *w = strdup(wrapper);
		for (char *tok = strtok(w, " "); tok && na < max / 2; tok = strtok(NULL, " "))
			argv[na++] = tok;
		if (na)
			argv[0] = argv[0][0] == '/'
					  ? argv[0]
					  : (char *)(strcmp(argv[0], "valgrind") == 0 ? "/usr/bin/valgrind" : argv[0]);
	}
	argv[na++] = (char *)h_migrated_bin();
	while ((a = va_arg(ap, const char *))) {
		if (in_env && strchr(a, '=') && a[0] != '-') {
			env[ne++] = strdup(a);
			continue;
		}
		in_env = false;
		if (na < max - 1)
			argv[na++] = (char *)a;
	}
	env[ne] = NULL;
	argv[na] = NULL;
	return na;
}

void h_migrated(struct h_result *res, ...)
{
	char *env[32], *argv[64];
	va_list ap;
	va_start(ap, res);
	collect_args(ap, env, argv, 64);
	va_end(ap);
	h_run_argv(res, argv, env, 600);
}

int h_migrated_bg(const char *stdout_path, ...)
{
	char *env[32], *argv[64];
	va_list ap;
	pid_t p;
	va_start(ap, stdout_path);
	collect_args(ap, env, argv, 64);
	va_end(ap);
	p = fork();
	if (p == 0) {
		setpgid(0, 0);
		int fd = open(stdout_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		setenv("ASAN_OPTIONS", "exitcode=86:detect_leaks=1", 1);
		setenv("MIGRATED_CONFIG", "/dev/null", 1);
		unsetenv("DATABASE_URL");
		unsetenv("DIRECT_URL");
		for (int i = 0; env[i]; i++)
			putenv(env[i]);
		execv(argv[0], argv);
		_exit(127);
	}
	setpgid(p, p);
	return p;
}

int h_wait(int pid, int timeout_s)
{
	int st;
	for (int waited = 0; waited < timeout_s * 10; waited++) {
		pid_t p = waitpid(pid, &st, WNOHANG);
		if (p == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		h_sleep_ms(100);
	}
	kill(-pid, SIGKILL);
	waitpid(pid, &st, 0);
	return 124;
}

/* ---- files ---- */

void h_write(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	ck_assert_msg(f != NULL, "cannot write %s: %s", path, strerror(errno));
	ck_assert(fwrite(data, 1, len, f) == len);
	fclose(f);
}

char *h_read(const char *path, size_t *ret_len)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return NULL;
	char *s = slurp_fd(fd, ret_len);
	close(fd);
	return s;
}

const char *h_tmpdir(void)
{
	ck_assert_msg(test_dir[0], "h_tmpdir outside a test");
	return test_dir;
}

const char *h_migrations_dir(void)
{
	static char dir[600];
	char lock[700];
	snprintf(dir, sizeof dir, "%s/migrations", h_tmpdir());
	mkdir_p(dir);
	snprintf(lock, sizeof lock, "%s/migration_lock.toml", dir);
	if (access(lock, F_OK) != 0)
		h_write(lock, "provider = \"postgresql\"\n", 24);
	return dir;
}

void h_mig(const char *dir, const char *name, const char *sql)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	mkdir_p(path);
	snprintf(path, sizeof path, "%s/%s/migration.sql", dir, name);
	h_write(path, sql, strlen(sql));
}

void h_assert_q(const char *db, const char *sql, const char *want)
{
	char *v = h_q1(db, sql);
	ck_assert_msg(v && strcmp(v, want) == 0, "%s\n  got: %s\n want: %s", sql, v ? v : "NULL", want);
	free(v);
}

void h_deploy_ok(const char *db, const char *dir)
{
	struct h_result r;
	h_migrated(&r, h_env_url(db), "deploy", "--migrations", dir, NULL);
	ck_assert_msg(r.rc == 0, "deploy exit %d\n%s%s", r.rc, r.out, r.err);
	h_result_free(&r);
}

void h_mig_order_fixture(const char *dir)
{
	const char *names[] = {"20250625123456_b", "20250625_a",  "20250625_a copy",
			       "20250625-x",       "20250625Z_y", "20250625a_z"};
	char sql[256], path[1024];
	for (int i = 0; i < 6; i++) {
		snprintf(sql, sizeof sql,
			 "CREATE TABLE IF NOT EXISTS log (n text, t timestamptz DEFAULT clock_timestamp());\n"
			 "INSERT INTO log (n) VALUES ('%s');\n",
			 names[i]);
		h_mig(dir, names[i], sql);
	}
	h_mig(dir, "20250626_crlf", "");
	snprintf(path, sizeof path, "%s/20250626_crlf/migration.sql", dir);
	const char *crlf = "CREATE TABLE crlf_t (id int);\r\nINSERT INTO log (n) VALUES ('20250626_crlf');\r\n";
	h_write(path, crlf, strlen(crlf));
}

char *h_sha256sum(const char *path)
{
	struct h_result r;
	char *argv[] = {"/usr/bin/sha256sum", (char *)path, NULL};
	h_run_argv(&r, argv, NULL, 30);
	ck_assert_msg(r.rc == 0, "sha256sum failed: %s", r.err);
	r.out[strcspn(r.out, " ")] = '\0';
	free(r.err);
	return r.out;
}

/* ---- database ---- */

static void quiet_notices(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

const char *h_url(const char *db)
{
	static char url[256];
	snprintf(url, sizeof url, "postgresql://postgres@127.0.0.1:%d/%s", port, db);
	return url;
}

char *h_env_url(const char *db)
{
	char *s = NULL;
	if (asprintf(&s, "DATABASE_URL=%s", h_url(db)) < 0)
		abort();
	return s;
}

PGconn *h_connect(const char *db, const char *appname)
{
	char conninfo[512];
	snprintf(conninfo, sizeof conninfo, "host=127.0.0.1 port=%d user=postgres dbname=%s application_name=%s", port,
		 db, appname ? appname : "migrated-tests");
	PGconn *c = PQconnectdb(conninfo);
	ck_assert_msg(PQstatus(c) == CONNECTION_OK, "cannot connect to %s: %s", db, PQerrorMessage(c));
	PQsetNoticeProcessor(c, quiet_notices, NULL);
	return c;
}

static PGconn *connect_quiet(const char *db)
{
	char conninfo[512];
	snprintf(conninfo, sizeof conninfo,
		 "host=127.0.0.1 port=%d user=postgres dbname=%s application_name=migrated-tests", port, db);
	PGconn *c = PQconnectdb(conninfo);
	if (PQstatus(c) == CONNECTION_OK)
		PQsetNoticeProcessor(c, quiet_notices, NULL);
	return c;
}

int h_try(const char *db, const char *sql)
{
	PGconn *c = connect_quiet(db);
	int r = -1;
	if (PQstatus(c) == CONNECTION_OK) {
		PGresult *res = PQexec(c, sql);
		ExecStatusType st = PQresultStatus(res);
		r = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : -1;
		PQclear(res);
	}
	PQfinish(c);
	return r;
}

void h_exec(const char *db, const char *sql)
{
	PGconn *c = connect_quiet(db);
	ck_assert_msg(PQstatus(c) == CONNECTION_OK, "connect %s: %s", db, PQerrorMessage(c));
	PGresult *res = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(res);
	ck_assert_msg(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK, "SQL failed on %s: %s\n%s", db,
		      PQresultErrorMessage(res), sql);
	PQclear(res);
	PQfinish(c);
}

char *h_q1(const char *db, const char *sql)
{
	PGconn *c = connect_quiet(db);
	char *v;
	ck_assert_msg(PQstatus(c) == CONNECTION_OK, "connect %s: %s", db, PQerrorMessage(c));
	PGresult *res = PQexec(c, sql);
	ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK, "query failed on %s: %s\n%s", db,
		      PQresultErrorMessage(res), sql);
	if (PQntuples(res) == 0)
		v = strdup("");
	else if (PQgetisnull(res, 0, 0))
		v = NULL;
	else
		v = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	PQfinish(c);
	return v;
}

int h_server_major(void)
{
	static int major;
	if (!major) {
		char *v = h_q1("postgres", "SELECT current_setting('server_version_num')");
		major = v ? atoi(v) / 10000 : 0;
		free(v);
	}
	return major;
}

int h_client_major(void)
{
	static int major;
	if (!major) {
		char bin[512];
		struct h_result r;
		snprintf(bin, sizeof bin, "%s/pg_dump", h_client_bindir());
		char *argv[] = {bin, "--version", NULL};
		h_run_argv(&r, argv, NULL, 10);
		const char *p = r.out ? strstr(r.out, ") ") : NULL; /* "pg_dump (PostgreSQL) 15.18 ..." */
		major = p ? atoi(p + 2) : 0;
		h_result_free(&r);
	}
	return major;
}

void h_admin_exec(const char *sql)
{
	h_exec("postgres", sql);
}

const char *h_fresh_db(void)
{
	char sql[512];
	snprintf(db_name, sizeof db_name, "t_%.40s_%d", test_name[0] ? test_name : "x", ++db_counter);
	for (char *p = db_name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
			*p = '_';
	snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", db_name);
	h_admin_exec(sql);
	snprintf(sql, sizeof sql, "CREATE DATABASE \"%s\"", db_name);
	h_admin_exec(sql);
	return db_name;
}

/* ---- cluster ---- */

int h_free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof a;
	int s = socket(AF_INET, SOCK_STREAM, 0), p = 0;
	if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(s, (struct sockaddr *)&a, &l) == 0)
		p = ntohs(a.sin_port);
	if (s >= 0)
		close(s);
	return p;
}

static void chown_to_server_user(const char *path)
{
	if (am_root()) {
		struct passwd *pw = getpwnam("postgres");
		if (!pw || chown(path, pw->pw_uid, pw->pw_gid) < 0)
			die("cannot give %s to the postgres user", path);
	}
}

static void write_hba(void)
{
	char path[512];
	FILE *f;
	snprintf(path, sizeof path, "%s/data/pg_hba.conf", base_dir);
	f = fopen(path, "w");
	if (!f)
		die("cannot write %s", path);
	/* One role with a real password, to test authentication failures; trust for the rest. */
	fprintf(f, "local all all trust\n"
		   "host all md_pw_user 127.0.0.1/32 scram-sha-256\n"
		   "host all all 127.0.0.1/32 trust\n"
		   "host all all ::1/128 trust\n");
	fclose(f);
	chown_to_server_user(path);
}

/* Starts the cluster in base_dir on `port`; 0 when it runs. */
static int server_start(void)
{
	char data[300], log[300], bin[512], opts[512], ctl_log[320];
	snprintf(data, sizeof data, "%s/data", base_dir);
	snprintf(log, sizeof log, "%s/server.log", base_dir);
	snprintf(bin, sizeof bin, "%s/pg_ctl", h_pg_bindir());
	snprintf(opts, sizeof opts,
		 "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
		 "-c full_page_writes=off -c max_connections=120 -c log_min_messages=warning "
		 "-c log_statement=none -c log_line_prefix='%%m [%%p] %%a: '",
		 port, base_dir);
	char *start[] = {bin, "-D", data, "-w", "-t", "60", "-o", opts, "-l", log, "start", NULL};
	snprintf(ctl_log, sizeof ctl_log, "%s/pg_ctl.log", base_dir);
	return run_as_server_user(start, ctl_log);
}

int h_cluster_start(void)
{
	char data[300], log[300], bin[512], portbuf[16];
	const char *tmp = getenv("TMPDIR");

	snprintf(base_dir, sizeof base_dir, "%s/migrated-it-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(base_dir))
		die("mkdtemp: %s", strerror(errno));
	chmod(base_dir, 0755);
	chown_to_server_user(base_dir);
	snprintf(data, sizeof data, "%s/data", base_dir);
	snprintf(log, sizeof log, "%s/server.log", base_dir);
	snprintf(bin, sizeof bin, "%s/initdb", h_pg_bindir());
	char *initdb[] = {bin,        "-D",        data, "-A",   "trust",      "-U",
			  "postgres", "--no-sync", "-E", "UTF8", "--locale=C", NULL};
	char initlog[320];
	snprintf(initlog, sizeof initlog, "%s/initdb.log", base_dir);
	if (run_as_server_user(initdb, initlog) != 0)
		die("initdb failed (see %s)", initlog);
	write_hba();
	for (int attempt = 0; attempt < 5; attempt++) {
		port = h_free_port();
		if (server_start() == 0) {
			snprintf(portbuf, sizeof portbuf, "%d", port);
			setenv("PGHOST", "127.0.0.1", 1);
			setenv("PGPORT", portbuf, 1);
			setenv("PGUSER", "postgres", 1);
			return 0;
		}
	}
	snprintf(log, sizeof log, "%s/server.log", base_dir);
	die("could not start PostgreSQL (see %s)", log);
}

/* A marker that the server was stopped on purpose (h_server_stop): the next test restarts it
 * even when the test that stopped it failed before it could. */
static void down_marker(char *buf, size_t sz)
{
	snprintf(buf, sz, "%s/server-stopped", base_dir);
}

void h_server_stop(void)
{
	char bin[512], data[300], marker[320];
	snprintf(bin, sizeof bin, "%s/pg_ctl", h_pg_bindir());
	snprintf(data, sizeof data, "%s/data", base_dir);
	down_marker(marker, sizeof marker);
	close(open(marker, O_WRONLY | O_CREAT, 0644));
	char *stop[] = {bin, "-D", data, "-m", "fast", "-w", "stop", NULL};
	if (run_as_server_user(stop, "/dev/null") != 0)
		ck_abort_msg("pg_ctl stop failed");
}

void h_server_start(void)
{
	char marker[320];
	down_marker(marker, sizeof marker);
	if (server_start() != 0)
		ck_abort_msg("PostgreSQL did not start again on port %d", port);
	unlink(marker);
}

void h_cluster_stop(bool keep)
{
	char bin[512], data[300];
	snprintf(bin, sizeof bin, "%s/pg_ctl", h_pg_bindir());
	snprintf(data, sizeof data, "%s/data", base_dir);
	char *stop[] = {bin, "-D", data, "-m", "immediate", "-w", "stop", NULL};
	run_as_server_user(stop, "/dev/null");
	if (!keep)
		rm_rf(base_dir);
	else
		fprintf(stderr, "harness: kept %s\n", base_dir);
}

/* ---- per-test bookkeeping ---- */

static long server_log_size(void)
{
	char log[300];
	struct stat st;
	snprintf(log, sizeof log, "%s/server.log", base_dir);
	return stat(log, &st) == 0 ? (long)st.st_size : 0;
}

/* progress.log: "BEGIN name offset" when a test starts, "PASS name 0" when it passes. */
static void progress(const char *kind, const char *name, long off)
{
	char path[300];
	snprintf(path, sizeof path, "%s/progress.log", base_dir);
	FILE *f = fopen(path, "a");
	if (f) {
		fprintf(f, "%s %s %ld\n", kind, name, off);
		fclose(f);
	}
}

void h_test_begin(const char *name)
{
	snprintf(test_name, sizeof test_name, "%s", name);
	snprintf(test_dir, sizeof test_dir, "%s/tests/%s", base_dir, name);
	rm_rf(test_dir);
	mkdir_p(test_dir);
	db_counter = 0;
	char marker[320];
	down_marker(marker, sizeof marker);
	if (access(marker, F_OK) == 0) /* an earlier test stopped the server and failed */
		h_server_start();
	progress("BEGIN", name, server_log_size());
}

static bool test_skipped;

void h_test_passed(void)
{
	progress(test_skipped ? "SKIP" : "PASS", test_name, 0);
}

void h_skip(const char *fmt, ...)
{
	char why[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	test_skipped = true;
	fprintf(stderr, "SKIP %s: %s\n", test_name, why);
}

int h_skipped_count(void)
{
	char path[300], line[512];
	int n = 0;
	snprintf(path, sizeof path, "%s/progress.log", base_dir);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, "SKIP ", 5) == 0)
			n++;
	fclose(f);
	return n;
}

static void print_file_range(const char *path, long from, long to)
{
	FILE *f = fopen(path, "r");
	char buf[4096];
	if (!f)
		return;
	fseek(f, from, SEEK_SET);
	while (to < 0 || ftell(f) < to) {
		size_t want = sizeof buf;
		if (to >= 0 && (long)want > to - ftell(f))
			want = (size_t)(to - ftell(f));
		size_t n = fread(buf, 1, want, f);
		if (n == 0)
			break;
		fwrite(buf, 1, n, stderr);
	}
	fclose(f);
}

void h_report_failures(void)
{
	char path[300], log[300], line[512];
	struct entry {
		char name[128];
		long off;
		bool passed;
	} *e = NULL;
	size_t n = 0;
	FILE *f;

	snprintf(path, sizeof path, "%s/progress.log", base_dir);
	snprintf(log, sizeof log, "%s/server.log", base_dir);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		char kind[8], name[128];
		long off;
		if (sscanf(line, "%7s %127s %ld", kind, name, &off) != 3)
			continue;
		if (strcmp(kind, "BEGIN") == 0) {
			e = realloc(e, (n + 1) * sizeof *e);
			snprintf(e[n].name, sizeof e[n].name, "%s", name);
			e[n].off = off;
			e[n].passed = false;
			n++;
		} else if (n && strcmp(e[n - 1].name, name) == 0) {
			e[n - 1].passed = true;
		}
	}
	fclose(f);
	for (size_t i = 0; i < n; i++) {
		char last[700];
		if (e[i].passed)
			continue;
		fprintf(stderr, "\n===== %s failed: server log during the test =====\n", e[i].name);
		print_file_range(log, e[i].off, i + 1 < n ? e[i + 1].off : -1);
		snprintf(last, sizeof last, "%s/tests/%s/last-command.txt", base_dir, e[i].name);
		fprintf(stderr, "===== %s: last command =====\n", e[i].name);
		print_file_range(last, 0, -1);
		fprintf(stderr, "===== end of %s =====\n", e[i].name);
	}
	free(e);
}

/* ---- the daemon ---- */

static size_t on_body(char *ptr, size_t size, size_t n, void *ud)
{
	struct h_http *res = ud;
	size_t old = res->body ? strlen(res->body) : 0, add = size * n;
	char *b = realloc(res->body, old + add + 1);
	if (!b)
		return 0;
	memcpy(b + old, ptr, add);
	b[old + add] = '\0';
	res->body = b;
	return add;
}

static void copy_header(char *dst, size_t dstsz, const char *line, size_t len, const char *name)
{
	size_t n = strlen(name);
	if (len > n && strncasecmp(line, name, n) == 0) {
		const char *v = line + n;
		while (*v == ' ')
			v++;
		size_t vl = len - (size_t)(v - line);
		while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
			vl--;
		snprintf(dst, dstsz, "%.*s", (int)vl, v);
	}
}

static size_t on_header(char *ptr, size_t size, size_t n, void *ud)
{
	struct h_http *res = ud;
	size_t len = size * n;
	copy_header(res->location, sizeof res->location, ptr, len, "Location:");
	copy_header(res->allow, sizeof res->allow, ptr, len, "Allow:");
	copy_header(res->content_type, sizeof res->content_type, ptr, len, "Content-Type:");
	size_t had = res->headers ? strlen(res->headers) : 0;
	char *all = realloc(res->headers, had + len + 1);
	if (!all)
		return 0;
	memcpy(all + had, ptr, len);
	all[had + len] = '\0';
	res->headers = all;
	return len;
}

void h_request(struct h_http *res, const struct h_daemon *d, const char *method, const char *path, const char *token,
	       const char *content_type, const char *body, const char *header)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hdrs = NULL;
	char url[512], line[512];

	memset(res, 0, sizeof *res);
	ck_assert_ptr_nonnull(c);
	snprintf(url, sizeof url, "%s%s", d->base, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, res);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, res);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "migrated-tests");
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	if (token) {
		snprintf(line, sizeof line, "Authorization: Bearer %s", token);
		hdrs = curl_slist_append(hdrs, line);
	}
	if (content_type) {
		snprintf(line, sizeof line, "Content-Type: %s", content_type);
		hdrs = curl_slist_append(hdrs, line);
	}
	if (header)
		hdrs = curl_slist_append(hdrs, header);
	hdrs = curl_slist_append(hdrs, "Expect:");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	CURLcode rc = curl_easy_perform(c);
	ck_assert_msg(rc == CURLE_OK, "%s %s: %s", method, path, curl_easy_strerror(rc));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &res->status);
	if (!res->body)
		res->body = strdup("");
	res->json = json_loads(res->body, 0, NULL);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
}

void h_http_free(struct h_http *res)
{
	free(res->body);
	free(res->headers);
	json_decref(res->json);
	memset(res, 0, sizeof *res);
}

const char *h_jstr(json_t *o, const char *path)
{
	char key[128];
	const char *p = path;
	while (o && *p) {
		size_t n = strcspn(p, ".");
		snprintf(key, sizeof key, "%.*s", (int)n, p);
		o = json_object_get(o, key);
		p += n;
		if (*p == '.')
			p++;
	}
	return json_string_value(o);
}

static bool health_ok(const struct h_daemon *d)
{
	CURL *c = curl_easy_init();
	char url[256];
	long code = 0;
	snprintf(url, sizeof url, "%s/healthz", d->base);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 2L);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	return code == 200;
}

void h_daemon_start(struct h_daemon *d, const char *db, const char *migrations, ...)
{
	char *env[32], *argv[64], tokens[700];
	int ne = 0, na = 0;
	va_list ap;
	const char *a;
	bool in_env = true, have_url = false, have_backup_setting = false;

	if (!d->state_dir[0]) {
		snprintf(d->state_dir, sizeof d->state_dir, "%s/state", h_tmpdir());
		mkdir(d->state_dir, 0700);
	}
	snprintf(tokens, sizeof tokens, "%s/tokens", h_tmpdir());
	const char *tok = "ops admin " H_TOKEN_ADMIN "\nci deploy " H_TOKEN_DEPLOY "\nmon read " H_TOKEN_READ "\n";
	h_write(tokens, tok, strlen(tok));
	chmod(tokens, 0600);
	snprintf(d->log_path, sizeof d->log_path, "%s/daemon.log", h_tmpdir());
	snprintf(d->migrations, sizeof d->migrations, "%s", migrations);
	snprintf(d->db, sizeof d->db, "%s", db ? db : "");
	d->port = h_free_port();
	snprintf(d->base, sizeof d->base, "http://127.0.0.1:%d", d->port);

	va_start(ap, migrations);
	while ((a = va_arg(ap, const char *))) {
		if (in_env && strchr(a, '=') && a[0] != '-') {
			env[ne++] = strdup(a);
			have_url = have_url || strncmp(a, "DATABASE_URL=", 13) == 0;
			have_backup_setting =
				have_backup_setting || strncmp(a, "MIGRATED_BACKUP_BEFORE_DEPLOY=", 30) == 0;
			continue;
		}
		in_env = false;
		argv[na++] = (char *)a;
	}
	va_end(ap);
	if (!have_url && db)
		env[ne++] = h_env_url(db);
	/* On a server newer than the client tools (the per-version runs: Debian 12 has pg_dump 15
	 * only), the pre-deploy backup is refused by design (suite versions tests that); the other
	 * daemon tests are about their own subject, so they deploy without it there. */
	if (h_server_major() > h_client_major() && !have_backup_setting)
		env[ne++] = strdup("MIGRATED_BACKUP_BEFORE_DEPLOY=false");
	env[ne] = NULL;
	char listen[64];
	snprintf(listen, sizeof listen, "127.0.0.1:%d", d->port);
	char *full[80];
	int k = 0;
	const char *wrapper = getenv("MD_TEST_WRAPPER");
	if (wrapper && *wrapper) {
		char *w = strdup(wrapper);
		for (char *tokp = strtok(w, " "); tokp && k < 20; tokp = strtok(NULL, " "))
			full[k++] = tokp;
		if (k && strcmp(full[0], "valgrind") == 0)
			full[0] = "/usr/bin/valgrind";
	}
	full[k++] = (char *)h_migrated_bin();
	full[k++] = "serve";
	full[k++] = "--listen";
	full[k++] = listen;
	full[k++] = "--migrations";
	full[k++] = d->migrations;
	full[k++] = "--state-dir";
	full[k++] = d->state_dir;
	full[k++] = "--token-file";
	full[k++] = tokens;
	for (int i = 0; i < na && k < 78; i++)
		full[k++] = argv[i];
	full[k] = NULL;
	pid_t parent = getpid();
	pid_t p = fork();
	if (p == 0) {
		setpgid(0, 0);
		/* Dies with the test process, whatever ends it (a failed assertion included). */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		int fd = open(d->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		setenv("ASAN_OPTIONS", "exitcode=86:detect_leaks=1", 1);
		setenv("MIGRATED_CONFIG", "/dev/null", 1);
		unsetenv("DATABASE_URL");
		unsetenv("DIRECT_URL");
		for (int i = 0; env[i]; i++)
			putenv(env[i]);
		execv(full[0], full);
		_exit(127);
	}
	setpgid(p, p);
	d->pid = p;
	for (int i = 0; i < 200; i++) {
		if (health_ok(d))
			return;
		int st;
		if (waitpid(p, &st, WNOHANG) == p) {
			char *log = h_read(d->log_path, NULL);
			d->pid = 0;
			ck_abort_msg("the daemon exited at start:\n%s", log ? log : "");
		}
		h_sleep_ms(50);
	}
	char *log = h_read(d->log_path, NULL);
	ck_abort_msg("the daemon did not answer /healthz within 10 s:\n%s", log ? log : "");
}

int h_daemon_stop(struct h_daemon *d)
{
	int rc;
	if (!d->pid)
		return -1;
	kill(d->pid, SIGTERM);
	rc = h_wait(d->pid, 60);
	d->pid = 0;
	if (rc != 0) {
		/* A sanitizer's report or the reason for the exit is in the daemon's log: show its end. */
		size_t len = 0;
		char *log = h_read(d->log_path, &len);
		size_t from = log && len > 16384 ? len - 16384 : 0;
		fprintf(stderr, "\n===== daemon exited %d; the end of %s =====\n%s\n=====\n", rc, d->log_path,
			log ? log + from : "(unreadable)");
		free(log);
	}
	return rc;
}

void h_daemon_kill(struct h_daemon *d)
{
	if (!d->pid)
		return;
	kill(-d->pid, SIGKILL);
	h_wait(d->pid, 10);
	d->pid = 0;
}

char *h_daemon_log(const struct h_daemon *d)
{
	char *s = h_read(d->log_path, NULL);
	return s ? s : strdup("");
}

json_t *h_wait_job(const struct h_daemon *d, const char *id, int timeout_s)
{
	char path[200];
	snprintf(path, sizeof path, "/v1/jobs/%s", id);
	for (int i = 0; i < timeout_s * 10; i++) {
		struct h_http r;
		h_request(&r, d, "GET", path, H_TOKEN_READ, NULL, NULL, NULL);
		ck_assert_msg(r.status == 200, "GET %s -> %ld %s", path, r.status, r.body);
		const char *state = h_jstr(r.json, "state");
		if (state && strcmp(state, "queued") != 0 && strcmp(state, "running") != 0) {
			json_t *j = json_incref(r.json);
			h_http_free(&r);
			return j;
		}
		h_http_free(&r);
		h_sleep_ms(100);
	}
	ck_abort_msg("job %s did not end within %d s", id, timeout_s);
	return NULL;
}

char *h_post_deploy(const struct h_daemon *d, const char *body)
{
	struct h_http r;
	h_request(&r, d, "POST", "/v1/deploy", H_TOKEN_ADMIN, "application/json", body ? body : "{}", NULL);
	ck_assert_msg(r.status == 202, "POST /v1/deploy -> %ld %s", r.status, r.body);
	char *id = strdup(h_jstr(r.json, "id"));
	ck_assert_msg(strstr(r.location, id) != NULL, "Location %s does not name job %s", r.location, id);
	h_http_free(&r);
	return id;
}

/* The schema as the catalog describes it, one object a line, in a stable order: what
 * h_schema_dump compares on a server newer than pg_dump. Written for this harness alone, so
 * that it checks migrated's work without using migrated's own schema code. */
static const char catalog_schema_sql[] =
	"SELECT string_agg(line, E'\\n' ORDER BY line) FROM ("
	" SELECT 'rel ' || c.relname || ' ' || c.relkind::text AS line FROM pg_class c JOIN pg_namespace n ON n.oid = "
	"c.relnamespace WHERE n.nspname = 'public' AND c.relname <> '_prisma_migrations' AND c.relkind <> 'i'"
	" UNION ALL SELECT 'col ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || "
	"CASE WHEN a.attnotnull THEN ' not null' ELSE '' END || coalesce(' default ' || pg_get_expr(d.adbin, "
	"d.adrelid), '') FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = "
	"c.relnamespace LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum WHERE n.nspname = "
	"'public' AND c.relname <> '_prisma_migrations' AND c.relkind IN ('r','p','v','m') AND a.attnum > 0 AND NOT "
	"a.attisdropped"
	" UNION ALL SELECT 'con ' || c.relname || '.' || k.conname || ' ' || pg_get_constraintdef(k.oid) FROM "
	"pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE "
	"n.nspname = 'public' AND c.relname <> '_prisma_migrations' AND k.contype <> 'n'"
	" UNION ALL SELECT 'idx ' || pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = "
	"i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relname <> "
	"'_prisma_migrations'"
	" UNION ALL SELECT 'enum ' || t.typname || ' ' || string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM "
	"pg_type t JOIN pg_enum e ON e.enumtypid = t.oid JOIN pg_namespace n ON n.oid = t.typnamespace WHERE "
	"n.nspname = 'public' GROUP BY t.typname"
	" UNION ALL SELECT 'fn ' || md5(pg_get_functiondef(p.oid)) FROM pg_proc p JOIN pg_namespace n ON n.oid = "
	"p.pronamespace WHERE n.nspname = 'public' AND p.prokind IN ('f','p')"
	" UNION ALL SELECT 'trg ' || pg_get_triggerdef(g.oid) FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid "
	"JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND NOT g.tgisinternal"
	" UNION ALL SELECT 'view ' || c.relname || ' ' || pg_get_viewdef(c.oid) FROM pg_class c JOIN pg_namespace n "
	"ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('v','m')"
	") s";

char *h_schema_dump(const char *db)
{
	if (h_server_major() > h_client_major()) {
		char *v = h_q1(db, catalog_schema_sql);
		return v ? v : strdup("");
	}
	struct h_result r;
	char bin[512], url[300];
	snprintf(bin, sizeof bin, "%s/pg_dump", h_client_bindir()); /* the client tools are Debian's */
	snprintf(url, sizeof url, "%s", h_url(db));
	char *argv[] = {bin, "--schema-only", "--no-owner", "-T", "_prisma_migrations", "--restrict-key=t", "-d", url,
			NULL};
	h_run_argv(&r, argv, NULL, 60);
	ck_assert_msg(r.rc == 0, "pg_dump --schema-only failed: %s", r.err);
	/* Drop the header comments, which name the database. */
	char *out = malloc(strlen(r.out) + 1), *w = out;
	for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n"))
		if (strncmp(line, "--", 2) != 0 && strncmp(line, "\\restrict", 9) != 0 &&
		    strncmp(line, "\\unrestrict", 11) != 0)
			w += sprintf(w, "%s\n", line);
	*w = '\0';
	h_result_free(&r);
	return out;
}

void h_wait_advisory_lock_free(const char *db)
{
	for (int i = 0; i < 300; i++) {
		char *n = h_q1(db, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'");
		bool free_now = n && strcmp(n, "0") == 0;
		free(n);
		if (free_now)
			return;
		h_sleep_ms(100);
	}
	ck_abort_msg("an advisory lock was still held after 30 s");
}
