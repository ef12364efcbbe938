/* harness.h - integration test harness: ONE throwaway PostgreSQL cluster per run (initdb into
 * a temp dir, fsync off, its own socket dir and free port, run as the postgres OS user when we
 * are root), a fresh database and a temp folder per test, the real migrated binary run as a
 * child process with its output captured, and libpq for looking at the result. When a test
 * fails, the runner prints the server log written during it and the test's last command. */
#ifndef MIGRATED_TEST_HARNESS_H
#define MIGRATED_TEST_HARNESS_H

#include <check.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

/* A test: like START_TEST, plus bookkeeping so failures get the server log. */
#define ITEST(name)                    \
	static void name##_body(void); \
	START_TEST(name)               \
	{                              \
		h_test_begin(#name);   \
		name##_body();         \
		h_test_passed();       \
	}                              \
	END_TEST                       \
	static void name##_body(void)

void h_test_begin(const char *name);
void h_test_passed(void);

/* H_SKIP: the current test cannot run here (no ../shared/corpus in a bare clone, a server too
 * old for the feature): it says why, is counted as skipped (never as passed) and returns. */
#define H_SKIP(...)                  \
	do {                         \
		h_skip(__VA_ARGS__); \
		return;              \
	} while (0)
void h_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* h_skipped_count: how many tests of this run skipped themselves (read from the progress log
 * the forked tests write, so call it after the runner is done). */
int h_skipped_count(void);

/* The cluster (started once by the runner before any suite). */
int h_cluster_start(void);
void h_cluster_stop(bool keep);
/* h_server_stop / h_server_start: stop the shared server (fast shutdown: sessions are ended)
 * and start it again on the same port. A test that stops it must start it; if it fails first,
 * the next test starts it. */
void h_server_stop(void);
void h_server_start(void);
int h_port(void);
/* h_free_port: a TCP port on 127.0.0.1 nothing listens on now (0 if none could be had). */
int h_free_port(void);
/* h_wait_advisory_lock_free: until no session of db's server holds an advisory lock (fails
 * the test after 30 s). */
void h_wait_advisory_lock_free(const char *db);
const char *h_base_dir(void);
void h_report_failures(void);

/* A fresh database for the current test; returns its name (static storage until the next
 * call). h_url gives a URL for it; h_url_user for another user/password/options. */
const char *h_fresh_db(void);
const char *h_url(const char *db);
/* "DATABASE_URL=<url of db>", malloc'd, for h_migrated's environment arguments. */
char *h_env_url(const char *db);
/* h_admin_exec: run SQL on the "postgres" database as superuser; fails the test on error. */
void h_admin_exec(const char *sql);

/* h_server_major: the running server's major version (13..18); h_client_major: that of the
 * client tools the tests and migrated use (Debian's pg_dump, 15). */
int h_server_major(void);
int h_client_major(void);

/* SQL on a database: h_exec fails the test on error; h_q1 returns the first value (malloc'd,
 * "" for no rows, NULL for SQL NULL); h_try returns 0 or -1 without failing. */
void h_exec(const char *db, const char *sql);
char *h_q1(const char *db, const char *sql);
int h_try(const char *db, const char *sql);
PGconn *h_connect(const char *db, const char *appname);

/* A temp folder for the test, and migration files in it. */
const char *h_tmpdir(void);
const char *h_migrations_dir(void); /* <tmpdir>/migrations, with migration_lock.toml */
void h_mig(const char *dir, const char *name, const char *sql);
void h_write(const char *path, const void *data, size_t len);
char *h_read(const char *path, size_t *ret_len);

/* Running migrated. Output is captured whole. */
struct h_result {
	int rc;    /* exit code, or 128+signal */
	char *out; /* stdout (malloc'd) */
	char *err; /* stderr (malloc'd) */
};
/* h_migrated(&res, "DATABASE_URL=...", "deploy", "--migrations", dir, NULL): env entries
 * (containing '=') before the arguments are added to the child's environment. */
void h_migrated(struct h_result *res, ...) __attribute__((sentinel));
/* Start migrated in the background (own process group); returns its pid. */
int h_migrated_bg(const char *stdout_path, ...) __attribute__((sentinel));
void h_result_free(struct h_result *res);
/* h_wait: exit code of a background run (128+signal), killing it after timeout_s (124). */
int h_wait(int pid, int timeout_s);
/* h_run_cmd: any program (argv[0] a path), same capture; timeout in seconds. */
void h_run_argv(struct h_result *res, char *const argv[], char *const envp_extra[], int timeout_s);

/* Paths to things the tests use. */
const char *h_migrated_bin(void);
const char *h_pg_bindir(void);     /* the server's binaries: PG_BINDIR, else Debian's 15 */
const char *h_client_bindir(void); /* pg_dump, pg_restore, psql: always Debian's (15) */
const char *h_shared_dir(void);    /* ../shared (corpus, reference tools) or NULL */
/* h_corpus_dir: <shared>/corpus/<name>/migrations when it exists, else NULL (skip then). */
const char *h_corpus_dir(const char *name);

/* h_assert_q: the first value of sql on db equals want (NULL never does). */
void h_assert_q(const char *db, const char *sql, const char *want);
/* h_deploy_ok: `migrated deploy` of dir into db must exit 0. */
void h_deploy_ok(const char *db, const char *dir);
/* h_mig_order_fixture: the seven migrations of Prisma's measured apply order (odd names, one
 * CRLF file), each logging its name into table log(n, t). */
void h_mig_order_fixture(const char *dir);
#define H_ORDER_FIXTURE_EXPECTED \
	"20250625_a,20250625_a copy,20250625-x,20250625123456_b,20250625a_z,20250625Z_y,20250626_crlf"

/* h_schema_dump: pg_dump --schema-only of db without _prisma_migrations and header comments
 * (malloc'd): two databases with equal dumps have the same schema. On a server newer than
 * pg_dump, the schema as the harness's own catalog query lists it (same use). */
char *h_schema_dump(const char *db);

bool h_contains(const char *hay, const char *needle);
/* sha256 hex of a file, via the sha256sum program (independent of our own code). */
char *h_sha256sum(const char *path);
void h_sleep_ms(int ms);
/* h_mount_tmpfs: mount a tmpfs with options ("size=256k") on dir (created); h_umount: lazily. */
void h_mount_tmpfs(const char *dir, const char *options);
void h_umount(const char *dir);

#define h_assert_contains(hay, needle) \
	ck_assert_msg(h_contains((hay), (needle)), "expected \"%s\" in output:\n%s", (needle), (hay) ? (hay) : "(null)")
#define h_assert_not_contains(hay, needle)                                                            \
	ck_assert_msg(!h_contains((hay), (needle)), "did not expect \"%s\" in output:\n%s", (needle), \
		      (hay) ? (hay) : "(null)")

#endif

/* ---- the daemon and HTTP (libcurl, a real client) ---- */

#define H_TOKEN_ADMIN  "test-admin-token-0123456789abcdef"
#define H_TOKEN_DEPLOY "test-deploy-token-0123456789abcdef"
#define H_TOKEN_READ   "test-read-token-0123456789abcdef"

struct h_daemon {
	int pid;
	int port;
	char base[128]; /* http://127.0.0.1:PORT */
	char state_dir[600];
	char log_path[600];
	char migrations[600];
	char db[128];
};

/* h_daemon_start: `migrated serve` on a free port for db and migrations, state in the test's
 * folder (kept across restarts of the same test), tokens for admin, deploy and read; extra
 * NULL-terminated arguments after the environment entries ("DATABASE_URL=..." overrides the
 * database). Waits for /v1/health (10 s). */
void h_daemon_start(struct h_daemon *d, const char *db, const char *migrations, ...) __attribute__((sentinel));
/* h_daemon_stop: SIGTERM, wait (30 s); returns the exit code. */
int h_daemon_stop(struct h_daemon *d);
/* h_daemon_kill: SIGKILL the process group, wait. */
void h_daemon_kill(struct h_daemon *d);
char *h_daemon_log(const struct h_daemon *d);

struct h_http {
	long status;
	char *body; /* malloc'd */
	char location[256];
	char allow[128];
	char content_type[128];
	json_t *json;  /* parsed body, or NULL */
	char *headers; /* every header line of the answer, as received (malloc'd) */
};
/* h_request: method on base+path with a bearer token (NULL: none), a body (NULL: none) sent
 * as content_type, and one extra header line (NULL: none). */
void h_request(struct h_http *res, const struct h_daemon *d, const char *method, const char *path, const char *token,
	       const char *content_type, const char *body, const char *header);
void h_http_free(struct h_http *res);
/* h_wait_job: polls GET /v1/jobs/{id} until it ends (timeout_s); returns its final JSON. */
json_t *h_wait_job(const struct h_daemon *d, const char *id, int timeout_s);
/* h_post_deploy: POST /v1/deploy {} with the admin token; returns the job id (asserts 202). */
char *h_post_deploy(const struct h_daemon *d, const char *body);
const char *h_jstr(json_t *o, const char *path); /* "a.b.c" lookup of a string, or NULL */
