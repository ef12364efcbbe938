/* harness.h - integration test harness: ONE throwaway PostgreSQL cluster per run (initdb into
 * a temp dir, fsync off, its own socket dir and free port, run as the postgres OS user when we
 * are root), a fresh database and a temp folder per test, the real migrated binary run as a
 * child process with its output captured, and libpq for looking at the result. When a test
 * fails, the runner prints the server log written during it and the test's last command. */
#ifndef MIGRATED_TEST_HARNESS_H
#define MIGRATED_TEST_HARNESS_H

#include <check.h>
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

/* The cluster (started once by the runner before any suite). */
int h_cluster_start(void);
void h_cluster_stop(bool keep);
int h_port(void);
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
const char *h_pg_bindir(void);
const char *h_shared_dir(void); /* ../shared (corpus, reference tools) or NULL */

/* h_assert_q: the first value of sql on db equals want (NULL never does). */
void h_assert_q(const char *db, const char *sql, const char *want);
/* h_deploy_ok: `migrated deploy` of dir into db must exit 0. */
void h_deploy_ok(const char *db, const char *dir);
/* h_mig_order_fixture: the seven migrations of Prisma's measured apply order (odd names, one
 * CRLF file), each logging its name into table log(n, t). */
void h_mig_order_fixture(const char *dir);
#define H_ORDER_FIXTURE_EXPECTED \
	"20250625_a,20250625_a copy,20250625-x,20250625123456_b,20250625a_z,20250625Z_y,20250626_crlf"

bool h_contains(const char *hay, const char *needle);
/* sha256 hex of a file, via the sha256sum program (independent of our own code). */
char *h_sha256sum(const char *path);
void h_sleep_ms(int ms);

#define h_assert_contains(hay, needle) \
	ck_assert_msg(h_contains((hay), (needle)), "expected \"%s\" in output:\n%s", (needle), (hay) ? (hay) : "(null)")
#define h_assert_not_contains(hay, needle)                                                            \
	ck_assert_msg(!h_contains((hay), (needle)), "did not expect \"%s\" in output:\n%s", (needle), \
		      (hay) ? (hay) : "(null)")

#endif
