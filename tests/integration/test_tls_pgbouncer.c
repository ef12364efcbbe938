/* test_tls_pgbouncer.c - migrated against the parts production puts around PostgreSQL.
 *
 * Suite "tls": a second cluster of this suite's own (the harness's server binaries, run as
 * the postgres OS user) with ssl=on, a server certificate signed by a throwaway CA made with
 * openssl, SCRAM passwords and a pg_hba.conf that lets TCP in only as `hostssl ...
 * scram-sha-256`. The CLI (deploy, status, drift, backup, restore) and the daemon work over
 * sslmode=verify-full; plain TCP and a foreign CA are refused; the password never shows in any
 * output, log, API answer, state file or child process's command line.
 *
 * Suite "pgbouncer": a real PgBouncer (Debian's) in transaction mode in front of the harness
 * cluster. With DIRECT_URL the reads go through the pooler and the migrations and the advisory
 * lock go direct; without it, a pooled DATABASE_URL is refused before anything runs, whether or
 * not it says pgbouncer=true.
 *
 * Both servers are started once per test case by unchecked fixtures, which run in the runner
 * process: their teardown runs even when a test fails, and the servers get SIGKILL should the
 * runner itself die (PR_SET_PDEATHSIG). */
#include "harness.h"
#include "suites.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* Long and distinctive, so that finding it anywhere is a leak and never a coincidence. */
#define PW   "Sc4am-s3cret-pw-7781"
#define ROLE "md_tls"

/* ---- processes run as the postgres OS user ---- */

static void give_to_server_user(const char *path, mode_t mode)
{
	struct passwd *pw = getpwnam("postgres");
	if (geteuid() == 0 && pw && chown(path, pw->pw_uid, pw->pw_gid) < 0)
		fprintf(stderr, "chown %s: %s\n", path, strerror(errno));
	chmod(path, mode);
}

/* Starts argv as the postgres user when we are root (initdb, postgres and pgbouncer refuse
 * root), output appended to log_path; it gets SIGKILL when this process dies. */
static pid_t spawn_server_user(char *const argv[], const char *log_path)
{
	pid_t parent = getpid(), p = fork();
	if (p != 0)
		return p;
	setpgid(0, 0);
	int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644), devnull = open("/dev/null", O_RDONLY);
	if (fd < 0 || devnull < 0)
		_exit(126);
	dup2(devnull, 0);
	dup2(fd, 1);
	dup2(fd, 2);
	if (geteuid() == 0) {
		struct passwd *pw = getpwnam("postgres");
		if (!pw || setgid(pw->pw_gid) < 0 || initgroups("postgres", pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
			_exit(126);
	}
	/* After setuid: a change of credentials clears the parent-death signal. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	execv(argv[0], argv);
	_exit(127);
}

/* Exit code of p (128+signal), after SIGKILL to its group when it takes over timeout_s. */
static int reap(pid_t p, int timeout_s)
{
	int st;
	for (int i = 0; i < timeout_s * 20; i++) {
		pid_t w = waitpid(p, &st, WNOHANG);
		if (w == p)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		if (w < 0 && errno != EINTR)
			return -1;
		h_sleep_ms(50);
	}
	kill(-p, SIGKILL);
	waitpid(p, &st, 0);
	return 124;
}

static int run_server_user(char *const argv[], const char *log_path)
{
	return reap(spawn_server_user(argv, log_path), 120);
}

/* Runs a root-side tool (openssl, rm) quietly; 0 when it exits 0, else its stderr in why. */
static int run_tool(char *const argv[], char *why, size_t whysz)
{
	struct h_result r;
	h_run_argv(&r, argv, NULL, 60);
	int rc = r.rc;
	if (rc != 0)
		snprintf(why, whysz, "%s failed (exit %d): %.1500s", argv[0], rc, r.err);
	h_result_free(&r);
	return rc == 0 ? 0 : -1;
}

static bool file_contains(const char *path, const char *needle)
{
	char *s = h_read(path, NULL);
	bool yes = h_contains(s, needle);
	free(s);
	return yes;
}

/* ---- where the password must never be ---- */

static void assert_no_secret(const char *what, const char *text)
{
	ck_assert_msg(!h_contains(text, PW), "the password appears in %s:\n%s", what, text);
}

static void assert_cli_clean(const struct h_result *r)
{
	assert_no_secret("stdout", r->out);
	assert_no_secret("stderr", r->err);
}

static const char *secret_file; /* for nftw's callback: the first file found with the password */
static char secret_path[1024];

static int check_file(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)ftw;
	if (type != FTW_F || st->st_size == 0)
		return 0;
	size_t len;
	char *s = h_read(path, &len);
	bool found = s && memmem(s, len, PW, strlen(PW)) != NULL;
	free(s);
	if (found) {
		snprintf(secret_path, sizeof secret_path, "%s", path);
		secret_file = secret_path;
		return 1;
	}
	return 0;
}

/* Every file under dir (backups, journal, caches, logs) is read whole: none has the password.
 * Returns how many files were read, so that a test can check the scan saw something. */
static int files_read;
static int count_file(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	files_read += type == FTW_F;
	return check_file(path, st, type, ftw);
}

static int assert_tree_clean(const char *dir)
{
	secret_file = NULL;
	files_read = 0;
	ck_assert_msg(nftw(dir, count_file, 16, FTW_PHYS) >= 0, "cannot walk %s: %s", dir, strerror(errno));
	ck_assert_msg(!secret_file, "the password appears in %s", secret_file);
	return files_read;
}

/* What a scan of a process's descendants saw. */
struct scan {
	int rounds;              /* scans done */
	int rounds_with_dump;    /* scans that saw a pg_dump child */
	char programs[512];      /* basenames of the descendants seen, space-separated */
	char dump_cmdline[2048]; /* the pg_dump command line, NULs as spaces */
};

static void note_program(struct scan *s, const char *cmdline)
{
	char name[80];
	const char *slash = strrchr(cmdline, '/');
	const char *b = slash && slash < cmdline + strcspn(cmdline, " ") ? slash + 1 : cmdline;
	snprintf(name, sizeof name, " %.*s ", (int)strcspn(b, " "), b);
	if (!strstr(s->programs, name) && strlen(s->programs) + strlen(name) < sizeof s->programs)
		strcat(s->programs, name + (s->programs[0] ? 1 : 0));
}

/* One scan: every process whose parent chain reaches root (from /proc/N/stat), root included;
 * the command line of each must not hold the password. */
static void scan_descendants(pid_t root, struct scan *s)
{
	static struct {
		pid_t pid, ppid;
	} procs[8192];
	pid_t tree[512];
	size_t np = 0, nt = 0;
	DIR *d = opendir("/proc");
	struct dirent *e;
	bool dump_now = false;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) && np < sizeof procs / sizeof procs[0]) {
		char path[300], buf[1024];
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
		int fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		ssize_t n = read(fd, buf, sizeof buf - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		/* "pid (comm) state ppid ...": comm may hold spaces and parentheses, so from the last ')' */
		const char *rp = strrchr(buf, ')');
		int ppid;
		if (!rp || sscanf(rp + 1, " %*c %d", &ppid) != 1)
			continue;
		procs[np].pid = atoi(e->d_name);
		procs[np].ppid = ppid;
		np++;
	}
	closedir(d);
	tree[nt++] = root;
	for (bool grew = true; grew;) {
		grew = false;
		for (size_t i = 0; i < np && nt < sizeof tree / sizeof tree[0]; i++) {
			bool parent_in = false, self_in = false;
			for (size_t j = 0; j < nt; j++) {
				parent_in = parent_in || tree[j] == procs[i].ppid;
				self_in = self_in || tree[j] == procs[i].pid;
			}
			if (parent_in && !self_in) {
				tree[nt++] = procs[i].pid;
				grew = true;
			}
		}
	}
	for (size_t i = 0; i < nt; i++) {
		char path[64];
		size_t len = 0;
		snprintf(path, sizeof path, "/proc/%d/cmdline", (int)tree[i]);
		char *cl = h_read(path, &len);
		if (!cl)
			continue;
		for (size_t k = 0; k + 1 < len; k++)
			if (cl[k] == '\0')
				cl[k] = ' ';
		ck_assert_msg(!strstr(cl, PW), "the password is on the command line of pid %d: %s", (int)tree[i], cl);
		if (len > 0 && tree[i] != root)
			note_program(s, cl);
		if (strstr(cl, "pg_dump") && tree[i] != root) {
			dump_now = true;
			snprintf(s->dump_cmdline, sizeof s->dump_cmdline, "%s", cl);
		}
		free(cl);
	}
	s->rounds++;
	s->rounds_with_dump += dump_now;
}

/* Scans root's descendants every 20 ms until it exits (timeout_s); returns its exit code.
 * on_round, when set, is called after each round (it may end a wait the child is in). */
static int scan_until_exit(pid_t root, struct scan *s, int timeout_s, void (*on_round)(struct scan *, void *),
			   void *ctx)
{
	int st;
	for (int i = 0; i < timeout_s * 50; i++) {
		pid_t w = waitpid(root, &st, WNOHANG);
		if (w == root)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		scan_descendants(root, s);
		if (on_round)
			on_round(s, ctx);
		h_sleep_ms(20);
	}
	kill(-root, SIGKILL);
	waitpid(root, &st, 0);
	ck_abort_msg("pid %d did not end within %d s", (int)root, timeout_s);
	return -1;
}

/* ---- which process owns a TCP connection ---- */

/* The socket inode of the established connection 127.0.0.1:local_port -> remote_port, or 0. */
static unsigned long tcp_inode(int local_port, int remote_port)
{
	FILE *f = fopen("/proc/net/tcp", "r");
	char line[512];
	unsigned long inode = 0;
	if (!f)
		return 0;
	while (!inode && fgets(line, sizeof line, f)) {
		unsigned la, lp, ra, rp, st;
		unsigned long ino;
		if (sscanf(line, " %*d: %8X:%X %8X:%X %X %*X:%*X %*X:%*X %*X %*u %*u %lu", &la, &lp, &ra, &rp, &st,
			   &ino) == 6 &&
		    (int)lp == local_port && (int)rp == remote_port && st == 1)
			inode = ino;
	}
	fclose(f);
	return inode;
}

/* How many established TCP connections to remote_port process pid holds. */
static int count_connections(pid_t pid, int remote_port)
{
	char dir[64], path[400], link[128];
	int n = 0;
	snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
	DIR *d = opendir(dir);
	struct dirent *e;
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		unsigned long ino;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		ssize_t l = readlink(path, link, sizeof link - 1);
		if (l <= 0)
			continue;
		link[l] = '\0';
		if (sscanf(link, "socket:[%lu]", &ino) != 1)
			continue;
		FILE *f = fopen("/proc/net/tcp", "r");
		char line[512];
		while (f && fgets(line, sizeof line, f)) {
			unsigned rp, st;
			unsigned long i2;
			if (sscanf(line, " %*d: %*8X:%*X %*8X:%X %X %*X:%*X %*X:%*X %*X %*u %*u %lu", &rp, &st, &i2) ==
				    3 &&
			    i2 == ino && (int)rp == remote_port && st == 1)
				n++;
		}
		if (f)
			fclose(f);
	}
	closedir(d);
	return n;
}

static bool owns_socket(pid_t pid, unsigned long inode)
{
	char dir[64], path[400], link[128], want[64];
	bool found = false;
	snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
	snprintf(want, sizeof want, "socket:[%lu]", inode);
	DIR *d = opendir(dir);
	struct dirent *e;
	if (!d)
		return false;
	while (!found && (e = readdir(d))) {
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		ssize_t l = readlink(path, link, sizeof link - 1);
		if (l > 0) {
			link[l] = '\0';
			found = strcmp(link, want) == 0;
		}
	}
	closedir(d);
	return found;
}

/* ---- the TLS cluster ---- */

static struct {
	bool ready;
	char why[2048]; /* why not ready */
	char dir[400];
	char sock[512];
	char log[600];
	char ca[600], other_ca[600];
	int port;
	pid_t pid;
} tls;

static void no_notices(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

static PGconn *tls_admin_connect(const char *db)
{
	char ci[800];
	snprintf(ci, sizeof ci, "host=%s port=%d user=postgres dbname=%s application_name=migrated-tests", tls.sock,
		 tls.port, db);
	PGconn *c = PQconnectdb(ci);
	PQsetNoticeProcessor(c, no_notices, NULL);
	return c;
}

/* SQL as the superuser over the TLS cluster's unix socket; NULL, or the error (static). */
static const char *tls_try(const char *db, const char *sql)
{
	static char why[1024];
	PGconn *c = tls_admin_connect(db);
	const char *ret = NULL;
	if (PQstatus(c) != CONNECTION_OK) {
		snprintf(why, sizeof why, "connect: %s", PQerrorMessage(c));
		ret = why;
	} else {
		PGresult *res = PQexec(c, sql);
		if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
			snprintf(why, sizeof why, "%s: %s", sql, PQresultErrorMessage(res));
			ret = why;
		}
		PQclear(res);
	}
	PQfinish(c);
	return ret;
}

static void tls_exec(const char *db, const char *sql)
{
	const char *e = tls_try(db, sql);
	ck_assert_msg(!e, "%s", e);
}

static char *tls_q1(const char *db, const char *sql)
{
	PGconn *c = tls_admin_connect(db);
	ck_assert_msg(PQstatus(c) == CONNECTION_OK, "connect to the TLS cluster: %s", PQerrorMessage(c));
	PGresult *res = PQexec(c, sql);
	ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK, "%s: %s", sql, PQresultErrorMessage(res));
	char *v = PQntuples(res) == 0 ? strdup("") : PQgetisnull(res, 0, 0) ? NULL : strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	PQfinish(c);
	return v;
}

static void tls_assert_q(const char *db, const char *sql, const char *want)
{
	char *v = tls_q1(db, sql);
	ck_assert_msg(v && strcmp(v, want) == 0, "%s\n  got: %s\n want: %s", sql, v ? v : "NULL", want);
	free(v);
}

/* openssl: a CA (self-signed, CA:TRUE) in dir/NAME.crt + .key. */
static int make_ca(const char *name, const char *cn)
{
	char key[700], crt[700], subj[200];
	snprintf(key, sizeof key, "%s/%s.key", tls.dir, name);
	snprintf(crt, sizeof crt, "%s/%s.crt", tls.dir, name);
	snprintf(subj, sizeof subj, "/CN=%s", cn);
	char *argv[] = {"/usr/bin/openssl",
			"req",
			"-x509",
			"-newkey",
			"ec",
			"-pkeyopt",
			"ec_paramgen_curve:prime256v1",
			"-nodes",
			"-days",
			"2",
			"-subj",
			subj,
			"-addext",
			"basicConstraints=critical,CA:TRUE",
			"-addext",
			"keyUsage=critical,keyCertSign,cRLSign",
			"-keyout",
			key,
			"-out",
			crt,
			NULL};
	return run_tool(argv, tls.why, sizeof tls.why);
}

/* The server's key and a certificate for IP:127.0.0.1 and DNS:localhost, signed by the CA. */
static int make_server_cert(void)
{
	char key[700], csr[700], crt[700], ext[700], cakey[700];
	snprintf(key, sizeof key, "%s/server.key", tls.dir);
	snprintf(csr, sizeof csr, "%s/server.csr", tls.dir);
	snprintf(crt, sizeof crt, "%s/server.crt", tls.dir);
	snprintf(ext, sizeof ext, "%s/server.ext", tls.dir);
	snprintf(cakey, sizeof cakey, "%s/ca.key", tls.dir);
	const char *exts = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
			   "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n";
	FILE *f = fopen(ext, "w");
	if (!f || fputs(exts, f) < 0 || fclose(f) != 0) {
		snprintf(tls.why, sizeof tls.why, "cannot write %s", ext);
		return -1;
	}
	char *req[] = {"/usr/bin/openssl",
		       "req",
		       "-new",
		       "-newkey",
		       "ec",
		       "-pkeyopt",
		       "ec_paramgen_curve:prime256v1",
		       "-nodes",
		       "-subj",
		       "/CN=localhost",
		       "-keyout",
		       key,
		       "-out",
		       csr,
		       NULL};
	char *sign[] = {"/usr/bin/openssl", "x509",  "-req", "-in",      csr, "-CA",  tls.ca, "-CAkey", cakey,
			"-CAcreateserial",  "-days", "2",    "-extfile", ext, "-out", crt,    NULL};
	if (run_tool(req, tls.why, sizeof tls.why) < 0 || run_tool(sign, tls.why, sizeof tls.why) < 0)
		return -1;
	give_to_server_user(key, 0600); /* the server refuses a key others can read */
	give_to_server_user(crt, 0644);
	return 0;
}

static int tls_initdb(void)
{
	char data[600], bin[600], hba[700], initlog[600];
	snprintf(data, sizeof data, "%s/data", tls.dir);
	snprintf(bin, sizeof bin, "%s/initdb", h_pg_bindir());
	snprintf(initlog, sizeof initlog, "%s/initdb.log", tls.dir);
	char *initdb[] = {
		bin,         "-D", data,   "-U",         "postgres", "--auth-local=trust", "--auth-host=reject",
		"--no-sync", "-E", "UTF8", "--locale=C", NULL};
	if (run_server_user(initdb, initlog) != 0) {
		snprintf(tls.why, sizeof tls.why, "initdb failed, see %s", initlog);
		return -1;
	}
	/* TCP only with TLS and SCRAM; the unix socket (trust) is for this suite's own setup. */
	snprintf(hba, sizeof hba, "%s/pg_hba.conf", data);
	FILE *f = fopen(hba, "w");
	if (!f) {
		snprintf(tls.why, sizeof tls.why, "cannot write %s", hba);
		return -1;
	}
	fprintf(f, "local   all all                trust\n"
		   "hostssl all all 127.0.0.1/32   scram-sha-256\n"
		   "hostssl all all ::1/128        scram-sha-256\n");
	fclose(f);
	give_to_server_user(hba, 0600);
	return 0;
}

static int tls_start_server(void)
{
	char data[600], bin[600], portbuf[16], sockopt[600], cert[700], key[700];
	snprintf(data, sizeof data, "%s/data", tls.dir);
	snprintf(bin, sizeof bin, "%s/postgres", h_pg_bindir());
	snprintf(cert, sizeof cert, "ssl_cert_file=%s/server.crt", tls.dir);
	snprintf(key, sizeof key, "ssl_key_file=%s/server.key", tls.dir);
	snprintf(sockopt, sizeof sockopt, "unix_socket_directories=%s", tls.sock);
	for (int attempt = 0; attempt < 5; attempt++) {
		tls.port = h_free_port();
		snprintf(portbuf, sizeof portbuf, "port=%d", tls.port);
		char *argv[] = {bin,
				"-D",
				data,
				"-c",
				portbuf,
				"-c",
				sockopt,
				"-c",
				"listen_addresses=127.0.0.1",
				"-c",
				"ssl=on",
				"-c",
				cert,
				"-c",
				key,
				"-c",
				"password_encryption=scram-sha-256",
				"-c",
				"fsync=off",
				"-c",
				"synchronous_commit=off",
				"-c",
				"max_connections=60",
				"-c",
				"log_connections=on",
				"-c",
				"log_line_prefix=%m [%p] %a: ",
				NULL};
		tls.pid = spawn_server_user(argv, tls.log);
		char ci[700];
		snprintf(ci, sizeof ci, "host=%s port=%d user=postgres dbname=postgres connect_timeout=2", tls.sock,
			 tls.port);
		for (int i = 0; i < 300; i++) {
			if (PQping(ci) == PQPING_OK)
				return 0;
			int st;
			if (waitpid(tls.pid, &st, WNOHANG) == tls.pid)
				break; /* port taken between pick and bind: another one */
			h_sleep_ms(50);
		}
		kill(tls.pid, SIGKILL);
		reap(tls.pid, 10);
		tls.pid = 0;
	}
	snprintf(tls.why, sizeof tls.why, "the TLS cluster did not start; its log:\n%.1500s", h_read(tls.log, NULL));
	return -1;
}

static void tls_setup(void)
{
	memset(&tls, 0, sizeof tls);
	snprintf(tls.dir, sizeof tls.dir, "%s/tls", h_base_dir());
	snprintf(tls.sock, sizeof tls.sock, "%s/sock", tls.dir);
	snprintf(tls.log, sizeof tls.log, "%s/server.log", tls.dir);
	snprintf(tls.ca, sizeof tls.ca, "%s/ca.crt", tls.dir);
	snprintf(tls.other_ca, sizeof tls.other_ca, "%s/other-ca.crt", tls.dir);
	mkdir(tls.dir, 0755);
	mkdir(tls.sock, 0755);
	give_to_server_user(tls.dir, 0755);
	give_to_server_user(tls.sock, 0755);
	if (make_ca("ca", "migrated tests CA") < 0 || make_ca("other-ca", "somebody else's CA") < 0 ||
	    make_server_cert() < 0 || tls_initdb() < 0 || tls_start_server() < 0)
		return;
	const char *e = tls_try("postgres", "CREATE ROLE " ROLE " LOGIN CREATEDB PASSWORD '" PW "'");
	if (e) {
		snprintf(tls.why, sizeof tls.why, "%s", e);
		return;
	}
	tls.ready = true;
}

static void tls_teardown(void)
{
	if (tls.pid > 0) {
		kill(tls.pid, SIGINT); /* fast shutdown */
		reap(tls.pid, 30);
		tls.pid = 0;
	}
	if (!getenv("MD_TEST_KEEP")) {
		char *rm[] = {"/bin/rm", "-rf", tls.dir, NULL};
		run_tool(rm, tls.why, sizeof tls.why);
	}
}

static void tls_require(void)
{
	ck_assert_msg(tls.ready, "the TLS cluster is not there: %s", tls.why);
}

/* A fresh database owned by the SCRAM role (static storage). */
static const char *tls_fresh_db(void)
{
	static char name[64];
	char sql[200];
	snprintf(name, sizeof name, "tls_%d", (int)getpid());
	snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
	tls_exec("postgres", sql);
	snprintf(sql, sizeof sql, "CREATE DATABASE %s OWNER " ROLE, name);
	tls_exec("postgres", sql);
	return name;
}

/* "DATABASE_URL=postgresql://md_tls:PW@host:port/db?sslmode=...&sslrootcert=..." (static). */
static const char *tls_env(const char *host, const char *db, const char *sslmode, const char *rootcert,
			   const char *password)
{
	static char env[4][1200];
	static int next;
	char *e = env[next++ % 4];
	snprintf(e, sizeof env[0], "DATABASE_URL=postgresql://" ROLE ":%s@%s:%d/%s?sslmode=%s%s%s", password, host,
		 tls.port, db, sslmode, rootcert ? "&sslrootcert=" : "", rootcert ? rootcert : "");
	return e;
}

static const char *tls_env_ok(const char *db)
{
	return tls_env("localhost", db, "verify-full", tls.ca, PW);
}

static void tls_migrations(const char *dir)
{
	h_mig(dir, "20240101000000_items",
	      "CREATE TABLE items (id int PRIMARY KEY, note text);\n"
	      "INSERT INTO items SELECT g, repeat('x', 64) FROM generate_series(1, 5000) g;\n");
	h_mig(dir, "20240102000000_items_note", "CREATE INDEX CONCURRENTLY items_note ON items (note);\n");
	h_mig(dir, "20240103000000_items_v", "ALTER TABLE items ADD COLUMN v int;\n");
}

/* Holds ACCESS EXCLUSIVE on items from another session, so that a pg_dump started meanwhile
 * waits for it: the test sees the child for as long as it likes, then lets it go. */
struct dump_gate {
	PGconn *holder;
	const char *db;
	bool checked_ssl;
};

static void gate_close(struct scan *s, void *ctx)
{
	struct dump_gate *g = ctx;
	if (!g->holder || s->rounds_with_dump < 10)
		return;
	if (!g->checked_ssl) {
		/* The waiting pg_dump's own session: over TLS, as the SCRAM role. */
		char *v = tls_q1(g->db, "SELECT count(*) || ' ' || bool_and(s.ssl) FROM pg_stat_activity a "
					"JOIN pg_stat_ssl s USING (pid) WHERE a.wait_event_type = 'Lock' "
					"AND a.usename = '" ROLE "'");
		ck_assert_msg(v && strcmp(v, "1 true") == 0, "the waiting pg_dump session (count, ssl): %s", v);
		free(v);
		g->checked_ssl = true;
	}
	PGresult *res = PQexec(g->holder, "COMMIT");
	ck_assert_msg(PQresultStatus(res) == PGRES_COMMAND_OK, "COMMIT: %s", PQerrorMessage(g->holder));
	PQclear(res);
	PQfinish(g->holder);
	g->holder = NULL;
}

static void gate_open(struct dump_gate *g, const char *db)
{
	g->db = db;
	g->checked_ssl = false;
	g->holder = tls_admin_connect(db);
	ck_assert_msg(PQstatus(g->holder) == CONNECTION_OK, "%s", PQerrorMessage(g->holder));
	PGresult *res = PQexec(g->holder, "BEGIN; LOCK TABLE items IN ACCESS EXCLUSIVE MODE");
	ck_assert_msg(PQresultStatus(res) == PGRES_COMMAND_OK, "LOCK: %s", PQerrorMessage(g->holder));
	PQclear(res);
}

static void assert_dump_was_watched(const struct scan *s)
{
	ck_assert_msg(s->rounds_with_dump >= 10, "pg_dump was seen in %d of %d scans (children: %s)",
		      s->rounds_with_dump, s->rounds, s->programs);
	/* The child got the TLS settings (else it could not have connected) but no password. */
	h_assert_contains(s->dump_cmdline, "sslmode='verify-full'");
	h_assert_contains(s->dump_cmdline, "sslrootcert=");
	h_assert_not_contains(s->dump_cmdline, "password=");
}

ITEST(tls_scram_cli_deploy_status_drift_backup_restore_keep_the_password_secret)
{
	tls_require();
	const char *db = tls_fresh_db(), *dir = h_migrations_dir(), *env = tls_env_ok(db);
	char state[700], outp[700], line[400];
	struct h_result r;
	snprintf(state, sizeof state, "%s/state", h_tmpdir());
	mkdir(state, 0700);
	/* The server keeps a SCRAM verifier, not an md5 hash. */
	tls_assert_q("postgres", "SELECT left(rolpassword, 14) FROM pg_authid WHERE rolname = '" ROLE "'",
		     "SCRAM-SHA-256$");
	tls_migrations(dir);

	h_migrated(&r, env, "deploy", "--migrations", dir, NULL);
	ck_assert_msg(r.rc == 0, "deploy: exit %d\n%s%s", r.rc, r.out, r.err);
	assert_cli_clean(&r);
	snprintf(line, sizeof line, "Datasource: " ROLE "@localhost:%d/%s", tls.port, db);
	h_assert_contains(r.out, line);
	h_assert_contains(r.out, "All 3 pending migrations applied");
	h_result_free(&r);
	tls_assert_q(db,
		     "SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL",
		     "3");
	tls_assert_q(db, "SELECT count(*) FROM items WHERE v IS NULL", "5000");
	tls_assert_q(db, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'items_note'::regclass", "t");
	/* The server saw migrated's connections over TLS (log_connections). */
	snprintf(line, sizeof line, "user=" ROLE " database=%s application_name=migrated SSL enabled", db);
	ck_assert_msg(file_contains(tls.log, line), "no \"%s\" in %s", line, tls.log);

	h_migrated(&r, env, "status", "--migrations", dir, NULL);
	ck_assert_msg(r.rc == 0, "status: exit %d\n%s%s", r.rc, r.out, r.err);
	assert_cli_clean(&r);
	h_result_free(&r);

	/* Drift: its temporary shadow database is made over the same verify-full connection. */
	h_migrated(&r, env, "drift", "--migrations", dir, "--state-dir", state, NULL);
	ck_assert_msg(r.rc == 0, "drift (none expected): exit %d\n%s%s", r.rc, r.out, r.err);
	assert_cli_clean(&r);
	h_result_free(&r);
	tls_exec(db, "ALTER TABLE items ADD COLUMN sneaky int");
	h_migrated(&r, env, "drift", "--migrations", dir, "--state-dir", state, NULL);
	ck_assert_msg(r.rc == 1, "drift (a column added by hand): exit %d\n%s%s", r.rc, r.out, r.err);
	h_assert_contains(r.out, "sneaky");
	assert_cli_clean(&r);
	h_result_free(&r);
	tls_exec(db, "ALTER TABLE items DROP COLUMN sneaky");

	/* Backup: pg_dump is a child; it waits on our lock while its command line is read. */
	struct scan s = {0};
	struct dump_gate g;
	snprintf(outp, sizeof outp, "%s/backup.out", h_tmpdir());
	gate_open(&g, db);
	pid_t pid = h_migrated_bg(outp, env, "backup", "--json", "--state-dir", state, "--migrations", dir, NULL);
	int rc = scan_until_exit(pid, &s, 60, gate_close, &g);
	char *out = h_read(outp, NULL);
	ck_assert_msg(rc == 0, "backup: exit %d\n%s", rc, out);
	assert_no_secret("the backup's output", out);
	assert_dump_was_watched(&s);
	ck_assert(g.checked_ssl);
	json_t *j = json_loads(out, 0, NULL);
	ck_assert_msg(j && h_jstr(j, "backup.id"), "backup --json: %s", out);
	char *id = strdup(h_jstr(j, "backup.id"));
	json_decref(j);
	free(out);

	h_migrated(&r, "backup", "--list", "--state-dir", state, NULL);
	ck_assert_int_eq(r.rc, 0);
	h_assert_contains(r.out, id);
	h_result_free(&r);

	/* Restore: pg_restore | psql, both over verify-full; the rows deleted come back. */
	tls_exec(db, "DELETE FROM items WHERE id > 10");
	struct scan s2 = {0};
	pid = h_migrated_bg(outp, env, "rollback", "--restore", id, "--confirm", "--state-dir", state, "--migrations",
			    dir, NULL);
	rc = scan_until_exit(pid, &s2, 120, NULL, NULL);
	out = h_read(outp, NULL);
	ck_assert_msg(rc == 0, "restore: exit %d\n%s", rc, out);
	h_assert_contains(out, "Restored ");
	assert_no_secret("the restore's output", out);
	free(out);
	ck_assert_msg(s2.rounds > 0, "the restore was never scanned");
	tls_assert_q(db, "SELECT count(*) FROM items", "5000");
	tls_assert_q(db, "SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NOT NULL", "3");

	/* Backups (two: the manual one and the restore's safety backup), records, drift cache. */
	ck_assert_int_ge(assert_tree_clean(state), 2);
	free(id);
}

ITEST(tls_daemon_deploys_over_verify_full_and_no_answer_log_or_file_has_the_password)
{
	tls_require();
	struct h_daemon d = {0};
	struct h_http r;
	const char *db = tls_fresh_db(), *dir = h_migrations_dir();
	char url[1300];
	snprintf(url, sizeof url, "%s", tls_env_ok(db));
	tls_migrations(dir);
	h_daemon_start(&d, db, dir, url, NULL);

	h_request(&r, &d, "GET", "/v1/status?fresh=1", H_TOKEN_READ, NULL, NULL, NULL);
	ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r.json, "summary"), "pending")), 3);
	assert_no_secret("GET /v1/status", r.body);
	h_http_free(&r);
	/* Every session the daemon keeps is TLS, as the SCRAM role. */
	tls_assert_q(db,
		     "SELECT count(*) > 0 AND bool_and(s.ssl) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) "
		     "WHERE a.usename = '" ROLE "'",
		     "t");

	char *id = h_post_deploy(&d, NULL);
	json_t *job = h_wait_job(&d, id, 60);
	ck_assert_msg(!strcmp(h_jstr(job, "state"), "succeeded"), "deploy: %s", h_jstr(job, "error.message"));
	json_decref(job);
	tls_assert_q(db, "SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NOT NULL", "3");
	tls_assert_q(db, "SELECT to_regclass('items_note') IS NOT NULL", "t");

	/* A backup job: its pg_dump child waits on our lock while the daemon's tree is scanned. */
	struct scan s = {0};
	struct dump_gate g;
	gate_open(&g, db);
	h_request(&r, &d, "POST", "/v1/backups", H_TOKEN_ADMIN, "application/json", "{}", NULL);
	ck_assert_msg(r.status == 202, "POST /v1/backups: %ld %s", r.status, r.body);
	char *bid = strdup(h_jstr(r.json, "id"));
	h_http_free(&r);
	char jpath[200], state[32] = "queued";
	snprintf(jpath, sizeof jpath, "/v1/jobs/%s", bid);
	for (int i = 0; i < 3000 && (!strcmp(state, "running") || !strcmp(state, "queued")); i++) {
		scan_descendants(d.pid, &s);
		gate_close(&s, &g);
		if (i % 10 == 0) {
			h_request(&r, &d, "GET", jpath, H_TOKEN_READ, NULL, NULL, NULL);
			snprintf(state, sizeof state, "%s", h_jstr(r.json, "state") ? h_jstr(r.json, "state") : "?");
			h_http_free(&r);
		}
		h_sleep_ms(20);
	}
	ck_assert_msg(!strcmp(state, "succeeded"), "the backup job ended %s", state);
	assert_dump_was_watched(&s);

	/* Every read answer, after a deploy, a backup and a live probe. */
	const char *reads[] = {"/v1/health?live=1", "/v1/health", "/readyz",  "/v1/status?fresh=1", "/v1/jobs", jpath,
			       "/v1/backups",       "/v1/plan",   "/v1/lint", "/v1/drift",          "/metrics"};
	char deploy_path[200];
	snprintf(deploy_path, sizeof deploy_path, "/v1/jobs/%s", id);
	for (size_t i = 0; i <= sizeof reads / sizeof reads[0]; i++) {
		const char *p = i < sizeof reads / sizeof reads[0] ? reads[i] : deploy_path;
		h_request(&r, &d, "GET", p, H_TOKEN_READ, NULL, NULL, NULL);
		ck_assert_msg(r.status == 200, "GET %s: %ld %s", p, r.status, r.body);
		assert_no_secret(p, r.body);
		if (i == 0)
			ck_assert_msg(!strcmp(h_jstr(r.json, "status"), "ok"), "health: %s", r.body);
		if (!strcmp(p, "/v1/drift"))
			ck_assert_msg(json_is_false(json_object_get(r.json, "drift")), "drift: %s", r.body);
		h_http_free(&r);
	}
	ck_assert_int_eq(h_daemon_stop(&d), 0);
	char *log = h_daemon_log(&d);
	assert_no_secret("the daemon's log", log);
	free(log);
	/* Journal, backups (pre-deploy and manual), drift cache. */
	ck_assert_int_ge(assert_tree_clean(d.state_dir), 3);
	free(id);
	free(bid);
}

ITEST(tls_server_refuses_plaintext_and_a_foreign_ca_fails_verify_full)
{
	tls_require();
	const char *db = tls_fresh_db(), *dir = h_migrations_dir();
	struct h_result r;
	char ci[800];
	tls_migrations(dir);

	/* libpq alone, as a control: the right password over plain TCP has no pg_hba.conf entry;
	 * the same over TLS gets in; a wrong one over TLS is refused by SCRAM. */
	snprintf(ci, sizeof ci, "host=127.0.0.1 port=%d user=" ROLE " password=" PW " dbname=%s sslmode=disable",
		 tls.port, db);
	PGconn *c = PQconnectdb(ci);
	ck_assert_msg(PQstatus(c) == CONNECTION_BAD, "a plaintext connection got in");
	h_assert_contains(PQerrorMessage(c), "no encryption");
	PQfinish(c);
	snprintf(ci, sizeof ci, "host=127.0.0.1 port=%d user=" ROLE " password=" PW " dbname=%s sslmode=require",
		 tls.port, db);
	c = PQconnectdb(ci);
	ck_assert_msg(PQstatus(c) == CONNECTION_OK, "TLS with the right password: %s", PQerrorMessage(c));
	PQfinish(c);

	/* migrated with sslmode=disable: the server's refusal, as a TLS problem, no password. */
	h_migrated(&r, tls_env("127.0.0.1", db, "disable", NULL, PW), "deploy", "--migrations", dir, NULL);
	ck_assert_msg(r.rc == 1, "plaintext deploy: exit %d\n%s%s", r.rc, r.out, r.err);
	h_assert_contains(r.err, "P1011");
	h_assert_contains(r.err, "no encryption");
	assert_cli_clean(&r);
	h_result_free(&r);

	/* A wrong password over TLS: SCRAM says no, and the wrong password is not shown either. */
	h_migrated(&r, tls_env("localhost", db, "verify-full", tls.ca, "Wr0ng-pw-but-secret-4242"), "status",
		   "--migrations", dir, NULL);
	ck_assert_msg(r.rc == 1, "wrong password: exit %d\n%s%s", r.rc, r.out, r.err);
	h_assert_contains(r.err, "P1000");
	h_assert_contains(r.err, "password authentication failed");
	h_assert_not_contains(r.err, "Wr0ng-pw-but-secret-4242");
	h_result_free(&r);

	/* Another CA: verify-full fails on the certificate, clearly, without the password. */
	h_migrated(&r, tls_env("localhost", db, "verify-full", tls.other_ca, PW), "deploy", "--migrations", dir, NULL);
	ck_assert_msg(r.rc == 1, "foreign CA: exit %d\n%s%s", r.rc, r.out, r.err);
	h_assert_contains(r.err, "P1011");
	h_assert_contains(r.err, "TLS problem");
	h_assert_contains(r.err, "certificate verify failed");
	assert_cli_clean(&r);
	h_result_free(&r);
	h_migrated(&r, tls_env("localhost", db, "verify-full", tls.other_ca, PW), "status", "--json", "--migrations",
		   dir, NULL);
	ck_assert_int_eq(r.rc, 1);
	h_assert_contains(r.out, "certificate verify failed");
	assert_cli_clean(&r);
	h_result_free(&r);

	/* The right CA but a name the certificate does not carry (hostaddr keeps it on loopback). */
	char env[1300];
	snprintf(env, sizeof env,
		 "DATABASE_URL=postgresql://" ROLE ":" PW "@not-in-the-cert.invalid:%d/%s?hostaddr=127.0.0.1"
		 "&sslmode=verify-full&sslrootcert=%s",
		 tls.port, db, tls.ca);
	h_migrated(&r, env, "status", "--migrations", dir, NULL);
	ck_assert_msg(r.rc == 1, "wrong host name: exit %d\n%s%s", r.rc, r.out, r.err);
	h_assert_contains(r.err, "P1011");
	h_assert_contains(r.err, "does not match host name \"not-in-the-cert.invalid\"");
	assert_cli_clean(&r);
	h_result_free(&r);

	/* None of that reached the database. */
	tls_assert_q(db, "SELECT to_regclass('_prisma_migrations') IS NULL AND to_regclass('items') IS NULL", "t");
}

/* ---- PgBouncer ---- */

static struct {
	bool ready;
	char why[2048];
	char dir[400];
	char log[600];
	int port;
	pid_t pid;
} bouncer;

#define PGBOUNCER_BIN "/usr/sbin/pgbouncer"

static void bouncer_setup(void)
{
	char ini[700], users[700], text[2048];
	memset(&bouncer, 0, sizeof bouncer);
	snprintf(bouncer.dir, sizeof bouncer.dir, "%s/pgbouncer", h_base_dir());
	snprintf(bouncer.log, sizeof bouncer.log, "%s/pgbouncer.log", bouncer.dir);
	snprintf(ini, sizeof ini, "%s/pgbouncer.ini", bouncer.dir);
	snprintf(users, sizeof users, "%s/userlist.txt", bouncer.dir);
	if (access(PGBOUNCER_BIN, X_OK) != 0) {
		snprintf(bouncer.why, sizeof bouncer.why, "no %s: run scripts/deps.sh (it installs pgbouncer)",
			 PGBOUNCER_BIN);
		return;
	}
	mkdir(bouncer.dir, 0755);
	give_to_server_user(bouncer.dir, 0755);
	/* auth_type = trust still wants the user in auth_file. */
	FILE *f = fopen(users, "w");
	if (!f || fputs("\"postgres\" \"\"\n", f) < 0 || fclose(f) != 0) {
		snprintf(bouncer.why, sizeof bouncer.why, "cannot write %s", users);
		return;
	}
	give_to_server_user(users, 0600);
	for (int attempt = 0; attempt < 5; attempt++) {
		bouncer.port = h_free_port();
		/* "*": every database of the harness cluster, so each test's fresh one is reachable. */
		snprintf(text, sizeof text,
			 "[databases]\n* = host=127.0.0.1 port=%d\n\n[pgbouncer]\nlisten_addr = 127.0.0.1\n"
			 "listen_port = %d\nunix_socket_dir =\nauth_type = trust\nauth_file = %s\n"
			 "pool_mode = transaction\ndefault_pool_size = 4\nmax_client_conn = 200\n"
			 "ignore_startup_parameters = extra_float_digits\nlogfile = %s\n",
			 h_port(), bouncer.port, users, bouncer.log);
		f = fopen(ini, "w");
		if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
			snprintf(bouncer.why, sizeof bouncer.why, "cannot write %s", ini);
			return;
		}
		give_to_server_user(ini, 0644);
		char out[700];
		snprintf(out, sizeof out, "%s/pgbouncer.out", bouncer.dir);
		char *argv[] = {PGBOUNCER_BIN, ini, NULL};
		bouncer.pid = spawn_server_user(argv, out);
		char ci[300];
		snprintf(ci, sizeof ci, "host=127.0.0.1 port=%d user=postgres dbname=postgres connect_timeout=2",
			 bouncer.port);
		for (int i = 0; i < 200; i++) {
			if (PQping(ci) == PQPING_OK) {
				bouncer.ready = true;
				return;
			}
			int st;
			if (waitpid(bouncer.pid, &st, WNOHANG) == bouncer.pid)
				break;
			h_sleep_ms(50);
		}
		kill(bouncer.pid, SIGKILL);
		reap(bouncer.pid, 10);
		bouncer.pid = 0;
		snprintf(bouncer.why, sizeof bouncer.why, "pgbouncer did not accept connections; its output:\n%.1500s",
			 h_read(out, NULL));
	}
}

static void bouncer_teardown(void)
{
	if (bouncer.pid > 0) {
		kill(bouncer.pid, SIGTERM); /* immediate shutdown */
		reap(bouncer.pid, 10);
		bouncer.pid = 0;
	}
	if (!getenv("MD_TEST_KEEP") && bouncer.dir[0]) {
		char *rm[] = {"/bin/rm", "-rf", bouncer.dir, NULL};
		run_tool(rm, bouncer.why, sizeof bouncer.why);
	}
}

static void bouncer_require(void)
{
	ck_assert_msg(bouncer.ready, "PgBouncer is not there: %s", bouncer.why);
}

/* "DATABASE_URL=postgresql://postgres@127.0.0.1:PGBOUNCER/db[?pgbouncer=true]" (malloc'd). */
static char *pooled_env(const char *db, bool flag)
{
	char *s = NULL;
	if (asprintf(&s, "DATABASE_URL=postgresql://postgres@127.0.0.1:%d/%s%s", bouncer.port, db,
		     flag ? "?pgbouncer=true" : "") < 0)
		abort();
	return s;
}

static char *direct_env(const char *db)
{
	char *s = NULL;
	if (asprintf(&s, "DIRECT_URL=%s", h_url(db)) < 0)
		abort();
	return s;
}

ITEST(pgbouncer_reads_go_pooled_while_migrations_and_the_lock_go_direct)
{
	bouncer_require();
	struct h_daemon d = {0};
	struct h_http r;
	struct h_result res;
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	char *pooled = pooled_env(db, true), *direct = direct_env(db);
	h_mig(dir, "20240101000000_a", "CREATE TABLE a (id int PRIMARY KEY);");

	h_migrated(&res, pooled, direct, "deploy", "--migrations", dir, NULL);
	ck_assert_msg(res.rc == 0, "deploy: exit %d\n%s%s", res.rc, res.out, res.err);
	h_result_free(&res);
	h_assert_q(db, "SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NOT NULL", "1");
	h_migrated(&res, pooled, direct, "status", "--migrations", dir, NULL);
	ck_assert_msg(res.rc == 0, "status: exit %d\n%s%s", res.rc, res.out, res.err);
	h_result_free(&res);

	h_mig(dir, "20240102000000_slow", "SELECT pg_sleep(3);\nCREATE TABLE slow (id int);\n");
	h_daemon_start(&d, db, dir, pooled, direct, NULL);
	h_request(&r, &d, "GET", "/v1/health?live=1", NULL, NULL, NULL, NULL);
	ck_assert_msg(r.status == 200, "health: %ld %s", r.status, r.body);
	h_http_free(&r);
	h_request(&r, &d, "GET", "/v1/status?fresh=1", H_TOKEN_READ, NULL, NULL, NULL);
	ck_assert_msg(r.status == 200, "status: %ld %s", r.status, r.body);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r.json, "summary"), "pending")), 1);
	h_http_free(&r);
	h_request(&r, &d, "GET", "/v1/plan", H_TOKEN_READ, NULL, NULL, NULL);
	ck_assert_msg(r.status == 200, "plan: %ld %s", r.status, r.body);
	h_assert_contains(r.body, "20240102000000_slow");
	h_http_free(&r);
	/* Those reads went through PgBouncer: the daemon holds connections to its port, and
	 * PgBouncer holds server connections to PostgreSQL. */
	ck_assert_int_ge(count_connections(d.pid, bouncer.port), 1);
	ck_assert_int_ge(count_connections(bouncer.pid, h_port()), 1);

	char *id = h_post_deploy(&d, NULL);
	/* The session that holds Prisma's advisory lock while pg_sleep runs. application_name
	 * cannot tell (PgBouncer passes the client's on), nor can client_addr (both loopback): the
	 * proof is the holder's TCP connection itself, found by its client_port in /proc/net/tcp
	 * and owned by the daemon's process, not PgBouncer's. */
	char sql[600], *holder = NULL;
	snprintf(sql, sizeof sql,
		 "SELECT l.pid || ' ' || a.client_port FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
		 "WHERE l.locktype = 'advisory' AND l.objid = 72707369 AND l.granted "
		 "AND a.datname = '%s' AND EXISTS (SELECT 1 FROM pg_stat_activity s WHERE s.datname = '%s' "
		 "AND s.state = 'active' AND s.query LIKE 'SELECT pg_sleep(3)%%')",
		 db, db);
	for (int i = 0; i < 200; i++) {
		free(holder);
		holder = h_q1("postgres", sql);
		if (holder && *holder)
			break;
		h_sleep_ms(25);
	}
	ck_assert_msg(holder && *holder, "no session held the migration lock while the slow migration ran");
	int holder_pid = 0, holder_port = 0;
	ck_assert_int_eq(sscanf(holder, "%d %d", &holder_pid, &holder_port), 2);
	unsigned long inode = tcp_inode(holder_port, h_port());
	ck_assert_msg(inode != 0, "no TCP connection from port %d to %d", holder_port, h_port());
	ck_assert_msg(owns_socket(d.pid, inode), "the lock's session (pid %d, port %d) is not the daemon's own",
		      holder_pid, holder_port);
	ck_assert(!owns_socket(bouncer.pid, inode));
	/* And the slow statement runs on that same session. */
	snprintf(sql, sizeof sql,
		 "SELECT pid FROM pg_stat_activity WHERE datname = '%s' AND query LIKE 'SELECT pg_sleep(3)%%' "
		 "AND state = 'active'",
		 db);
	char *runner = h_q1("postgres", sql), pidbuf[16];
	snprintf(pidbuf, sizeof pidbuf, "%d", holder_pid);
	ck_assert_msg(runner && !strcmp(runner, pidbuf), "pg_sleep ran on pid %s, the lock is held by %s", runner,
		      pidbuf);
	free(runner);
	free(holder);

	json_t *job = h_wait_job(&d, id, 60);
	ck_assert_msg(!strcmp(h_jstr(job, "state"), "succeeded"), "deploy: %s", h_jstr(job, "error.message"));
	json_decref(job);
	h_assert_q(db, "SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NOT NULL", "2");
	h_assert_q(db, "SELECT to_regclass('slow') IS NOT NULL", "t");
	/* The lock went with its session: no server connection (PgBouncer's included) keeps it. */
	snprintf(sql, sizeof sql,
		 "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 72707369 "
		 "AND database = (SELECT oid FROM pg_database WHERE datname = '%s')",
		 db);
	h_assert_q("postgres", sql, "0");
	h_request(&r, &d, "GET", "/v1/health?live=1", NULL, NULL, NULL, NULL);
	ck_assert_msg(r.status == 200 && !strcmp(h_jstr(r.json, "status"), "ok"), "health: %s", r.body);
	h_http_free(&r);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
	free(id);
	free(pooled);
	free(direct);
}

/* A pooled DATABASE_URL without DIRECT_URL: the CLI and a daemon job refuse before anything
 * runs, saying why and what to set; the database has no _prisma_migrations afterwards. */
static void assert_pooled_refused(bool flag, const char *phrase)
{
	struct h_daemon d = {0};
	struct h_result res;
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	char *pooled = pooled_env(db, flag);
	h_mig(dir, "20240101000000_a", "CREATE TABLE a (id int PRIMARY KEY);");

	h_migrated(&res, pooled, "deploy", "--migrations", dir, NULL);
	ck_assert_msg(res.rc == 2, "deploy through PgBouncer without DIRECT_URL: exit %d\n%s%s", res.rc, res.out,
		      res.err);
	h_assert_contains(res.err, phrase);
	h_assert_contains(res.err, "DIRECT_URL");
	h_result_free(&res);

	h_daemon_start(&d, db, dir, pooled, NULL);
	struct h_http r;
	h_request(&r, &d, "POST", "/v1/deploy", H_TOKEN_ADMIN, "application/json", "{}", NULL);
	if (r.status == 202) {
		json_t *job = h_wait_job(&d, h_jstr(r.json, "id"), 30);
		ck_assert_msg(!strcmp(h_jstr(job, "state"), "failed"), "the job ended %s", h_jstr(job, "state"));
		h_assert_contains(h_jstr(job, "error.message"), phrase);
		json_decref(job);
	} else {
		ck_assert_msg(r.status >= 400 && h_contains(r.body, phrase), "POST /v1/deploy: %ld %s", r.status,
			      r.body);
	}
	h_http_free(&r);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
	h_assert_q(db, "SELECT to_regclass('_prisma_migrations') IS NULL AND to_regclass('a') IS NULL", "t");
	free(pooled);
}

ITEST(pgbouncer_true_without_direct_url_is_refused_before_anything_runs)
{
	bouncer_require();
	assert_pooled_refused(true, "pgbouncer=true");
}

ITEST(pgbouncer_without_the_flag_is_detected_and_refused_before_anything_runs)
{
	bouncer_require();
	assert_pooled_refused(false, "connection pooler");
}

Suite *suite_tls(void)
{
	Suite *s = suite_create("tls");
	TCase *tc = tcase_create("tls");
	tcase_set_timeout(tc, 120);
	tcase_add_unchecked_fixture(tc, tls_setup, tls_teardown);
	tcase_add_test(tc, tls_scram_cli_deploy_status_drift_backup_restore_keep_the_password_secret);
	tcase_add_test(tc, tls_daemon_deploys_over_verify_full_and_no_answer_log_or_file_has_the_password);
	tcase_add_test(tc, tls_server_refuses_plaintext_and_a_foreign_ca_fails_verify_full);
	suite_add_tcase(s, tc);
	return s;
}

Suite *suite_pgbouncer(void)
{
	Suite *s = suite_create("pgbouncer");
	TCase *tc = tcase_create("pgbouncer");
	tcase_set_timeout(tc, 120);
	tcase_add_unchecked_fixture(tc, bouncer_setup, bouncer_teardown);
	tcase_add_test(tc, pgbouncer_reads_go_pooled_while_migrations_and_the_lock_go_direct);
	tcase_add_test(tc, pgbouncer_true_without_direct_url_is_refused_before_anything_runs);
	tcase_add_test(tc, pgbouncer_without_the_flag_is_detected_and_refused_before_anything_runs);
	suite_add_tcase(s, tc);
	return s;
}
