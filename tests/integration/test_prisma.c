/* test_prisma.c - interoperability with the real Prisma CLIs, 6.19.3 and 7.10.1 (npm latest),
 * installed offline from the npm registry by scripts/prisma-cli.sh (once; engines are never
 * downloaded): a team can switch between `prisma migrate` and migrated in either direction at
 * any point, including in the middle of a failure or of a deploy another tool is running.
 * Every test runs against both CLIs, each on its own database and project folder (Prisma 7
 * projects take the URL from prisma.config.ts, not schema.prisma). Where 7.x differs from
 * 6.19 (a file sent statement by statement since 7.4), the test says so. These tests fail
 * (they do not skip) when a CLI cannot be installed. */
#include "harness.h"
#include "suites.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct cli {
	int major;         /* 6 or 7 */
	char version[16];  /* "6.19.3" */
	char wrapper[512]; /* PRISMA_DIR/prismaN PROJECT ARGS... */
};
static struct cli clis[2];

/* Installs (first time) and finds both CLIs through scripts/prisma-cli.sh. */
static void ensure_prisma(void)
{
	char script[700];
	struct h_result r;
	if (clis[0].major && clis[1].major)
		return;
	snprintf(script, sizeof script, "%s/scripts/prisma-cli.sh", MD_TEST_SRCDIR);
	char *argv[] = {"/bin/bash", script, "6", "7", NULL};
	h_run_argv(&r, argv, NULL, 900);
	ck_assert_msg(r.rc == 0, "installing the Prisma CLIs failed (scripts/prisma-cli.sh):\n%s%s", r.out, r.err);
	char *line = r.out;
	for (int i = 0; i < 2; i++) {
		ck_assert_msg(line && sscanf(line, "%15s %511s", clis[i].version, clis[i].wrapper) == 2,
			      "scripts/prisma-cli.sh printed: %s", r.out);
		clis[i].major = atoi(clis[i].version);
		line = strchr(line, '\n');
		line = line ? line + 1 : NULL;
	}
	ck_assert_int_eq(clis[0].major, 6);
	ck_assert_int_eq(clis[1].major, 7);
	h_result_free(&r);
}

/* A Prisma project folder for cli: <tmp>/p<major>/prisma/{schema.prisma,migrations/}. */
static const char *project(const struct cli *cli, char *migrations, size_t sz)
{
	static char dir[700];
	char path[900];
	snprintf(dir, sizeof dir, "%s/p%d", h_tmpdir(), cli->major);
	snprintf(migrations, sz, "%s/prisma/migrations", dir);
	h_mig(migrations, "x", "");
	snprintf(path, sizeof path, "rm -rf '%s/x'", migrations);
	ck_assert_int_eq(system(path), 0);
	snprintf(path, sizeof path, "%s/migration_lock.toml", migrations);
	h_write(path, "provider = \"postgresql\"\n", 24);
	snprintf(path, sizeof path, "%s/prisma/schema.prisma", dir);
	/* Prisma 7 refuses a url here: its wrapper's prisma.config.ts reads DATABASE_URL. */
	const char *schema =
		cli->major >= 7
			? "datasource db {\n  provider = \"postgresql\"\n}\n"
			: "datasource db {\n  provider = \"postgresql\"\n  url      = env(\"DATABASE_URL\")\n}\n";
	h_write(path, schema, strlen(schema));
	return dir;
}

static void prisma(struct h_result *r, const struct cli *cli, const char *db, const char *proj, const char *a1,
		   const char *a2, const char *a3, const char *a4)
{
	char *argv[] = {(char *)cli->wrapper, (char *)proj, (char *)a1, (char *)a2, (char *)a3, (char *)a4, NULL};
	char *env[] = {h_env_url(db), NULL};
	h_run_argv(r, argv, env, 300);
}

/* `prisma migrate deploy` in the background (own process group), output to out; returns its pid. */
static int prisma_deploy_bg(const struct cli *cli, const char *db, const char *proj, const char *out)
{
	char *url = h_env_url(db);
	int pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		setpgid(0, 0);
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		putenv(url);
		execl(cli->wrapper, cli->wrapper, proj, "migrate", "deploy", (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid);
	return pid;
}

#define FOR_EACH_CLI(cli) \
	ensure_prisma();  \
	for (const struct cli *cli = clis; cli < clis + 2; cli++)

static void migrated(struct h_result *r, const char *db, const char *mig, const char *cmd)
{
	h_migrated(r, h_env_url(db), cmd, "--migrations", mig, NULL);
}

static void odd_names(const char *mig)
{
	h_mig_order_fixture(mig);
	h_mig(mig, "20250627_index", "CREATE INDEX CONCURRENTLY log_n ON log (n);");
}

ITEST(after_migrated_deploy_prisma_sees_an_up_to_date_database)
{
	char mig[800];
	struct h_result r;
	FOR_EACH_CLI(cli)
	{
		const char *db = h_fresh_db(), *proj = project(cli, mig, sizeof mig);
		odd_names(mig);
		migrated(&r, db, mig, "deploy");
		ck_assert_msg(r.rc == 0, "%s%s", r.out, r.err);
		h_result_free(&r);
		prisma(&r, cli, db, proj, "migrate", "status", NULL, NULL);
		ck_assert_msg(r.rc == 0, "prisma status exit %d\n%s%s", r.rc, r.out, r.err);
		h_assert_contains(r.out, "8 migrations found in prisma/migrations");
		h_assert_contains(r.out, "Database schema is up to date!");
		h_result_free(&r);
		prisma(&r, cli, db, proj, "migrate", "deploy", NULL, NULL);
		ck_assert_msg(r.rc == 0, "prisma deploy exit %d\n%s%s", r.rc, r.out, r.err);
		h_assert_contains(r.out, "No pending migrations to apply.");
		h_result_free(&r);
		h_assert_q(db, "SELECT count(*) FROM _prisma_migrations", "8");
	}
}

ITEST(both_tools_apply_odd_folder_names_in_the_same_order)
{
	char mig[800];
	struct h_result r;
	FOR_EACH_CLI(cli)
	{
		const char *proj = project(cli, mig, sizeof mig);
		odd_names(mig);
		char prisma_db[128];
		snprintf(prisma_db, sizeof prisma_db, "%s", h_fresh_db());
		prisma(&r, cli, prisma_db, proj, "migrate", "deploy", NULL, NULL);
		ck_assert_msg(r.rc == 0, "prisma deploy exit %d\n%s%s", r.rc, r.out, r.err);
		h_result_free(&r);
		const char *ours = h_fresh_db();
		migrated(&r, ours, mig, "deploy");
		ck_assert_int_eq(r.rc, 0);
		h_result_free(&r);
		char *a = h_q1(prisma_db, "SELECT string_agg(n, ',' ORDER BY t) FROM log");
		char *b = h_q1(ours, "SELECT string_agg(n, ',' ORDER BY t) FROM log");
		ck_assert_str_eq(a, b);
		ck_assert_str_eq(
			b,
			"20250625_a,20250625_a copy,20250625-x,20250625123456_b,20250625a_z,20250625Z_y,20250626_crlf");
		/* Same checksums in both histories, CRLF file included. */
		char *ca = h_q1(prisma_db,
				"SELECT string_agg(migration_name || '=' || checksum, ',' ORDER BY migration_name) "
				"FROM _prisma_migrations");
		char *cb = h_q1(
			ours, "SELECT string_agg(migration_name || '=' || checksum, ',' ORDER BY migration_name) FROM "
			      "_prisma_migrations");
		ck_assert_str_eq(ca, cb);
		free(a);
		free(b);
		free(ca);
		free(cb);
		/* And each tool reads the other's history as up to date. */
		migrated(&r, prisma_db, mig, "status");
		ck_assert_msg(r.rc == 0, "%s", r.out);
		h_result_free(&r);
	}
}

ITEST(prisma_applies_half_then_migrated_applies_exactly_the_rest)
{
	char mig[800], name[64], sql[200];
	struct h_result r;
	FOR_EACH_CLI(cli)
	{
		const char *db = h_fresh_db(), *proj = project(cli, mig, sizeof mig);
		h_mig(mig, "20240101000000_counter", "CREATE TABLE counter (n int);");
		for (int i = 1; i <= 3; i++) {
			snprintf(name, sizeof name, "2024010200000%d_m%d", i, i);
			snprintf(sql, sizeof sql, "INSERT INTO counter VALUES (%d);", i);
			h_mig(mig, name, sql);
		}
		prisma(&r, cli, db, proj, "migrate", "deploy", NULL, NULL);
		ck_assert_msg(r.rc == 0, "prisma deploy exit %d\n%s%s", r.rc, r.out, r.err);
		h_result_free(&r);
		for (int i = 4; i <= 6; i++) {
			snprintf(name, sizeof name, "2024010200000%d_m%d", i, i);
			snprintf(sql, sizeof sql, "INSERT INTO counter VALUES (%d);", i);
			h_mig(mig, name, sql);
		}
		migrated(&r, db, mig, "deploy");
		ck_assert_msg(r.rc == 0, "%s%s", r.out, r.err);
		h_assert_contains(r.out, "All 3 pending migrations applied");
		h_result_free(&r);
		h_assert_q(db, "SELECT string_agg(n::text, ',' ORDER BY n) FROM counter", "1,2,3,4,5,6");
		h_assert_q(db, "SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NOT NULL", "7");
	}
}

ITEST(failure_recorded_by_prisma_is_seen_resolved_and_redeployed_by_migrated)
{
	char mig[800];
	struct h_result r;
	FOR_EACH_CLI(cli)
	{
		const char *db = h_fresh_db(), *proj = project(cli, mig, sizeof mig);
		h_mig(mig, "20240101000000_ok", "CREATE TABLE a (id int);");
		h_mig(mig, "20240102000000_bad",
		      "CREATE TABLE b_partial (id int); INSERT INTO does_not_exist VALUES (1);");
		prisma(&r, cli, db, proj, "migrate", "deploy", NULL, NULL);
		ck_assert_int_eq(r.rc, 1);
		h_result_free(&r);
		migrated(&r, db, mig, "status");
		ck_assert_int_eq(r.rc, 1);
		h_assert_contains(r.out, "FAILED      20240102000000_bad");
		h_result_free(&r);
		migrated(&r, db, mig, "deploy");
		ck_assert_int_eq(r.rc, 1);
		h_assert_contains(r.err, "P3009");
		h_assert_contains(r.err, "20240102000000_bad");
		h_result_free(&r);
		h_migrated(&r, h_env_url(db), "resolve", "--rolled-back", "20240102000000_bad", "--migrations", mig,
			   NULL);
		ck_assert_int_eq(r.rc, 0);
		h_result_free(&r);
		h_mig(mig, "20240102000000_bad", "CREATE TABLE b (id int);");
		migrated(&r, db, mig, "deploy");
		ck_assert_msg(r.rc == 0, "%s%s", r.out, r.err);
		h_result_free(&r);
		prisma(&r, cli, db, proj, "migrate", "status", NULL, NULL);
		ck_assert_msg(r.rc == 0, "prisma status exit %d\n%s%s", r.rc, r.out, r.err);
		h_assert_contains(r.out, "Database schema is up to date!");
		h_result_free(&r);
	}
}

ITEST(failure_recorded_by_migrated_is_seen_resolved_and_redeployed_by_prisma)
{
	char mig[800];
	struct h_result r;
	FOR_EACH_CLI(cli)
	{
		const char *db = h_fresh_db(), *proj = project(cli, mig, sizeof mig);
		h_mig(mig, "20240101000000_ok", "CREATE TABLE a (id int);");
		h_mig(mig, "20240102000000_bad",
		      "CREATE TABLE b_partial (id int); INSERT INTO does_not_exist VALUES (1);");
		migrated(&r, db, mig, "deploy");
		ck_assert_int_eq(r.rc, 1);
		h_result_free(&r);
		prisma(&r, cli, db, proj, "migrate", "status", NULL, NULL);
		ck_assert_int_eq(r.rc, 1);
		h_assert_contains(r.err, "Following migration have failed:");
		h_assert_contains(r.err, "20240102000000_bad");
		h_result_free(&r);
		prisma(&r, cli, db, proj, "migrate", "deploy", NULL, NULL);
		ck_assert_int_eq(r.rc, 1);
		h_assert_contains(r.err, "P3009");
		h_result_free(&r);
		prisma(&r, cli, db, proj, "migrate", "resolve", "--rolled-back", "20240102000000_bad");
		ck_assert_msg(r.rc == 0, "prisma resolve exit %d\n%s%s", r.rc, r.out, r.err);
		h_result_free(&r);
		h_mig(mig, "20240102000000_bad", "CREATE TABLE b (id int);");
		prisma(&r, cli, db, proj, "migrate", "deploy", NULL, NULL);
		ck_assert_msg(r.rc == 0, "prisma deploy exit %d\n%s%s", r.rc, r.out, r.err);
		h_result_free(&r);
		migrated(&r, db, mig, "status");
		ck_assert_msg(r.rc == 0, "%s", r.out);
		h_result_free(&r);
		h_assert_q(db, "SELECT to_regclass('b') IS NOT NULL AND to_regclass('b_partial') IS NULL", "t");
	}
}

ITEST(prisma_baseline_rows_are_read_as_applied)
{
	char mig[800];
	struct h_result r;
	FOR_EACH_CLI(cli)
	{
		const char *db = h_fresh_db(), *proj = project(cli, mig, sizeof mig);
		h_exec(db, "CREATE TABLE legacy (id int)");
		h_mig(mig, "20240101000000_init", "CREATE TABLE legacy (id int);\r\n");
		h_mig(mig, "20240102000000_next", "ALTER TABLE legacy ADD COLUMN v text;");
		prisma(&r, cli, db, proj, "migrate", "resolve", "--applied", "20240101000000_init");
		ck_assert_msg(r.rc == 0, "prisma resolve exit %d\n%s%s", r.rc, r.out, r.err);
		h_result_free(&r);
		migrated(&r, db, mig, "deploy");
		ck_assert_msg(r.rc == 0, "%s%s", r.out, r.err);
		h_assert_contains(r.out, "All 1 pending migration applied");
		h_result_free(&r);
		migrated(&r, db, mig, "status");
		ck_assert_int_eq(r.rc, 0);
		h_result_free(&r);
	}
}

ITEST(a_down_rollback_by_migrated_is_applied_again_by_prisma_deploy)
{
	char mig[800], path[900];
	struct h_result r;
	FOR_EACH_CLI(cli)
	{
		const char *db = h_fresh_db(), *proj = project(cli, mig, sizeof mig);
		h_mig(mig, "20240101000000_a", "CREATE TABLE a (id int);");
		h_mig(mig, "20240102000000_b", "CREATE TABLE b (id int);");
		snprintf(path, sizeof path, "%s/20240102000000_b/down.sql", mig);
		h_write(path, "DROP TABLE b;\n", 14);
		migrated(&r, db, mig, "deploy");
		ck_assert_int_eq(r.rc, 0);
		h_result_free(&r);
		h_migrated(&r, h_env_url(db), "rollback", "--to", "20240101000000_a", "--migrations", mig, NULL);
		ck_assert_msg(r.rc == 0, "%s%s", r.out, r.err);
		h_result_free(&r);
		h_assert_q(db, "SELECT to_regclass('public.b') IS NULL", "t");
		/* Prisma reads the rolled-back row as "not applied" and applies it again (a new row). */
		prisma(&r, cli, db, proj, "migrate", "deploy", NULL, NULL);
		ck_assert_msg(r.rc == 0, "prisma deploy exit %d\n%s%s", r.rc, r.out, r.err);
		h_assert_contains(r.out, "20240102000000_b");
		h_assert_contains(r.out, "All migrations have been successfully applied.");
		h_result_free(&r);
		h_assert_q(db, "SELECT to_regclass('public.b') IS NOT NULL", "t");
		h_assert_q(db, "SELECT count(*) FROM _prisma_migrations WHERE migration_name = '20240102000000_b'",
			   "2");
		prisma(&r, cli, db, proj, "migrate", "status", NULL, NULL);
		ck_assert_msg(r.rc == 0, "prisma status exit %d\n%s%s", r.rc, r.out, r.err);
		h_result_free(&r);
		migrated(&r, db, mig, "status");
		ck_assert_msg(r.rc == 0, "%s", r.out);
		h_result_free(&r);
	}
}

/* The backend of the session running pg_sleep for another client (0 when none yet). */
static int sleeping_backend(const char *db)
{
	/* Prisma 6 sends the whole file as one query: pg_sleep is somewhere inside it. */
	char *v = h_q1(db, "SELECT coalesce(max(pid), 0) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(%' AND "
			   "query NOT LIKE '%pg_stat_activity%' AND state = 'active' AND pid <> pg_backend_pid()");
	int pid = v ? atoi(v) : 0;
	free(v);
	return pid;
}

/* Waits until another client's session sits in pg_sleep; returns its backend pid. */
static int wait_sleeping(const char *db)
{
	int backend = 0;
	for (int i = 0; i < 600 && !(backend = sleeping_backend(db)); i++)
		h_sleep_ms(50);
	ck_assert_msg(backend, "no session reached its pg_sleep");
	return backend;
}

/* The case: a Prisma deploy dies in the middle of a file. While it runs, migrated
 * reports the migration running (not failed); after the kill it refuses it as Prisma does
 * (P3009) with what may remain, and nothing is applied twice. Prisma 7 (statement by statement)
 * leaves the INSERT before the sleep committed; Prisma 6 (one query) runs the rest of the file
 * in the orphaned backend and commits it, without its finishing update: neither left "nothing",
 * which is why only a row migrated itself started in one transaction is recovered by itself. */
ITEST(a_prisma_deploy_killed_mid_file_is_running_then_refused_and_never_applied_twice)
{
	char mig[800], out[900];
	struct h_result r;
	FOR_EACH_CLI(cli)
	{
		const char *db = h_fresh_db(), *proj = project(cli, mig, sizeof mig);
		h_mig(mig, "20240101000000_ok1", "CREATE TABLE ok1 (v int);");
		prisma(&r, cli, db, proj, "migrate", "deploy", NULL, NULL);
		ck_assert_msg(r.rc == 0, "Prisma %s deploy exit %d\n%s%s", cli->version, r.rc, r.out, r.err);
		h_result_free(&r);
		h_mig(mig, "20240102000000_slow",
		      "INSERT INTO ok1 VALUES (42);\nSELECT pg_sleep(4);\nCREATE TABLE z (id int);\n");
		snprintf(out, sizeof out, "%s/prisma%d-deploy.out", h_tmpdir(), cli->major);
		int pid = prisma_deploy_bg(cli, db, proj, out);
		int backend = wait_sleeping(db);

		/* Running, with the lock holder, not FAILED. */
		h_migrated(&r, h_env_url(db), "status", "--migrations", mig, NULL);
		h_assert_contains(r.out, "RUNNING");
		h_assert_not_contains(r.out, "FAILED");
		char pidtext[32];
		snprintf(pidtext, sizeof pidtext, "%d", backend);
		h_assert_contains(r.out, pidtext);
		h_result_free(&r);

		kill(-pid, SIGKILL);
		h_wait(pid, 10);
		h_wait_advisory_lock_free(db); /* the orphaned backend ends once its statement is done */
		h_assert_q(db,
			   "SELECT (finished_at IS NULL AND rolled_back_at IS NULL)::text FROM _prisma_migrations "
			   "WHERE migration_name = '20240102000000_slow'",
			   "true");
		h_assert_q(db, "SELECT count(*) FROM ok1 WHERE v = 42", "1");
		h_assert_q(db, "SELECT (to_regclass('z') IS NOT NULL)::text", cli->major >= 7 ? "false" : "true");

		h_migrated(&r, h_env_url(db), "status", "--migrations", mig, NULL);
		ck_assert_int_eq(r.rc, 1);
		h_assert_contains(r.out, "FAILED");
		h_result_free(&r);
		h_migrated(&r, h_env_url(db), "deploy", "--migrations", mig, NULL);
		ck_assert_msg(r.rc == 1, "Prisma %s row: deploy exit %d\n%s%s", cli->version, r.rc, r.out, r.err);
		h_assert_contains(r.err, "P3009");
		h_assert_contains(r.err, "started by Prisma or another tool, not by migrated");
		h_assert_contains(r.err, "Prisma 7.4 and later send a file statement by statement");
		h_assert_contains(r.err, "1. line 1: INSERT INTO ok1 VALUES (42)");
		h_assert_contains(r.err, "3. line 3: CREATE TABLE z (id int)");
		h_result_free(&r);
		h_assert_q(db, "SELECT count(*) FROM ok1 WHERE v = 42", "1"); /* never twice */
		/* And the CLI agrees: it refuses too. */
		prisma(&r, cli, db, proj, "migrate", "deploy", NULL, NULL);
		ck_assert_int_eq(r.rc, 1);
		h_assert_contains(r.err, "P3009");
		h_result_free(&r);
		h_assert_q(db, "SELECT count(*) FROM ok1 WHERE v = 42", "1");
	}
}

/* Rows migrated writes carry a marked id (which writer, which mode); both CLIs must still read
 * them as Prisma rows: applied, failed, and interrupted in one transaction (which migrated
 * recovers by itself and Prisma refuses, as it refuses any unfinished row). */
ITEST(rows_migrated_marks_are_read_correctly_by_both_clis)
{
	char mig[800];
	struct h_result r;
	FOR_EACH_CLI(cli)
	{
		const char *db = h_fresh_db(), *proj = project(cli, mig, sizeof mig);
		h_mig(mig, "20240101000000_atomic", "CREATE TABLE a (id int);");
		h_mig(mig, "20240102000000_script", "BEGIN;\nCREATE TABLE b (id int);\nCOMMIT;\n");
		h_mig(mig, "20240103000000_single", "CREATE INDEX CONCURRENTLY a_id ON a (id);");
		migrated(&r, db, mig, "deploy");
		ck_assert_msg(r.rc == 0, "%s%s", r.out, r.err);
		h_result_free(&r);
		h_assert_q(db, "SELECT count(DISTINCT right(id, 4)) FROM _prisma_migrations", "3"); /* three marks */
		prisma(&r, cli, db, proj, "migrate", "status", NULL, NULL);
		ck_assert_msg(r.rc == 0, "Prisma %s status exit %d\n%s%s", cli->version, r.rc, r.out, r.err);
		h_assert_contains(r.out, "Database schema is up to date!");
		h_result_free(&r);
		prisma(&r, cli, db, proj, "migrate", "deploy", NULL, NULL);
		ck_assert_int_eq(r.rc, 0);
		h_assert_contains(r.out, "No pending migrations to apply.");
		h_result_free(&r);

		/* Interrupted inside its one transaction: the server rolls it back (14+ notices the dead
		 * client within a second; on 13 the statement runs to its end). */
		h_mig(mig, "20240104000000_slow", "CREATE TABLE slow (id int);\nSELECT pg_sleep(3);\n");
		char out[900];
		snprintf(out, sizeof out, "%s/migrated%d.out", h_tmpdir(), cli->major);
		int pid = h_migrated_bg(out, h_env_url(db), "deploy", "--migrations", mig, NULL);
		wait_sleeping(db);
		kill(-pid, SIGKILL);
		h_wait(pid, 10);
		h_wait_advisory_lock_free(db);
		if (h_server_major() >= 14) {
			h_assert_q(db, "SELECT (to_regclass('slow') IS NULL)::text", "true");
			prisma(&r, cli, db, proj, "migrate", "deploy", NULL, NULL);
			ck_assert_msg(r.rc == 1, "Prisma %s deploy over an interrupted row: exit %d\n%s%s",
				      cli->version, r.rc, r.out, r.err);
			h_assert_contains(r.err, "P3009");
			h_assert_contains(r.err, "20240104000000_slow");
			h_result_free(&r);
			migrated(&r, db, mig, "deploy");
			ck_assert_msg(r.rc == 0, "%s%s", r.out, r.err);
			h_assert_contains(r.out, "Recovered 20240104000000_slow");
			h_result_free(&r);
		}
		prisma(&r, cli, db, proj, "migrate", "status", NULL, NULL);
		ck_assert_msg(r.rc == 0, "Prisma %s status exit %d\n%s%s", cli->version, r.rc, r.out, r.err);
		h_assert_contains(r.out, "Database schema is up to date!");
		h_result_free(&r);
		h_assert_q(db,
			   "SELECT count(*) FROM _prisma_migrations WHERE migration_name = '20240104000000_slow' AND "
			   "finished_at IS NOT NULL AND rolled_back_at IS NULL",
			   "1");
	}
}

/* One lock for both tools: while one deploys, the other waits, then finds nothing to do. */
ITEST(the_migration_lock_is_shared_both_ways)
{
	char mig[800], out[900];
	struct h_result r;
	FOR_EACH_CLI(cli)
	{
		const char *db = h_fresh_db(), *proj = project(cli, mig, sizeof mig);
		h_mig(mig, "20240101000000_counter", "CREATE TABLE counter (n int);");
		h_mig(mig, "20240102000000_slow", "INSERT INTO counter VALUES (1);\nSELECT pg_sleep(3);\n");
		/* migrated holds it; Prisma waits (its lock timeout is 10 s) and applies nothing. */
		snprintf(out, sizeof out, "%s/migrated%d.out", h_tmpdir(), cli->major);
		int pid = h_migrated_bg(out, h_env_url(db), "deploy", "--migrations", mig, NULL);
		wait_sleeping(db);
		prisma(&r, cli, db, proj, "migrate", "deploy", NULL, NULL);
		ck_assert_msg(r.rc == 0, "Prisma %s deploy during ours: exit %d\n%s%s", cli->version, r.rc, r.out,
			      r.err);
		h_assert_contains(r.out, "No pending migrations to apply.");
		h_result_free(&r);
		ck_assert_int_eq(h_wait(pid, 30), 0);
		h_assert_q(db, "SELECT count(*) FROM counter", "1");

		/* Prisma holds it; migrated waits, names the holder, and applies nothing twice. */
		h_mig(mig, "20240103000000_slow2", "INSERT INTO counter VALUES (2);\nSELECT pg_sleep(3);\n");
		snprintf(out, sizeof out, "%s/prisma%d-deploy.out", h_tmpdir(), cli->major);
		pid = prisma_deploy_bg(cli, db, proj, out);
		wait_sleeping(db);
		h_migrated(&r, h_env_url(db), "deploy", "--lock-wait", "30s", "--migrations", mig, NULL);
		ck_assert_msg(r.rc == 0, "%s%s", r.out, r.err);
		h_assert_contains(r.out, "Waiting up to 30.0 s for the migration lock");
		h_assert_contains(r.out, "No pending migrations");
		h_result_free(&r);
		ck_assert_int_eq(h_wait(pid, 30), 0);
		h_assert_q(db, "SELECT string_agg(n::text, ',' ORDER BY n) FROM counter", "1,2");
	}
}

/* What the README's compatibility section says about 6.19 and 7.x, measured: a file whose
 * second statement fails leaves the first committed on 7 (statement by statement) and nothing
 * on 6; a file mixing CREATE INDEX CONCURRENTLY with other statements fails on 6 (25001) and
 * applies on 7; after `resolve --rolled-back`, 6's status says up to date (exit 0) and 7's lists
 * the migration as not yet applied (exit 1); both count one step for a file. */
ITEST(the_differences_between_prisma_6_and_7_are_as_documented)
{
	char mig[800], path[900];
	struct h_result r;
	FOR_EACH_CLI(cli)
	{
		bool seven = cli->major >= 7;
		/* A file that fails at its third statement. */
		const char *db = h_fresh_db(), *proj = project(cli, mig, sizeof mig);
		h_mig(mig, "20240101000000_m",
		      "CREATE TABLE p1 (id int);\nCREATE TABLE p2 (id int);\nINSERT INTO nope VALUES (1);\n");
		prisma(&r, cli, db, proj, "migrate", "deploy", NULL, NULL);
		ck_assert_int_eq(r.rc, 1);
		h_result_free(&r);
		h_assert_q(db, "SELECT (to_regclass('p1') IS NOT NULL AND to_regclass('p2') IS NOT NULL)::text",
			   seven ? "true" : "false");
		h_assert_q(db, "SELECT applied_steps_count FROM _prisma_migrations", "0");
		/* Status after resolve --rolled-back. */
		prisma(&r, cli, db, proj, "migrate", "resolve", "--rolled-back", "20240101000000_m");
		ck_assert_int_eq(r.rc, 0);
		h_result_free(&r);
		prisma(&r, cli, db, proj, "migrate", "status", NULL, NULL);
		ck_assert_msg(r.rc == (seven ? 1 : 0), "Prisma %s status after --rolled-back: exit %d\n%s%s",
			      cli->version, r.rc, r.out, r.err);
		h_assert_contains(r.out, seven ? "Following migration have not yet been applied"
					       : "Database schema is up to date!");
		h_result_free(&r);

		/* A mixed CONCURRENTLY file, in a new project. */
		db = h_fresh_db();
		snprintf(path, sizeof path, "rm -rf '%s'", proj);
		ck_assert_int_eq(system(path), 0);
		proj = project(cli, mig, sizeof mig);
		h_mig(mig, "20240101000000_c", "CREATE TABLE c (id int);\nCREATE INDEX CONCURRENTLY c_id ON c (id);\n");
		prisma(&r, cli, db, proj, "migrate", "deploy", NULL, NULL);
		ck_assert_msg(r.rc == (seven ? 0 : 1), "Prisma %s mixed CONCURRENTLY: exit %d\n%s%s", cli->version,
			      r.rc, r.out, r.err);
		if (!seven)
			h_assert_contains(r.err, "CREATE INDEX CONCURRENTLY cannot run inside a transaction block");
		h_result_free(&r);
		h_assert_q(db, "SELECT (finished_at IS NOT NULL)::text || applied_steps_count FROM _prisma_migrations",
			   seven ? "true1" : "false0");
		/* migrated applies that file either way, and reads each CLI's row. */
		const char *ours = h_fresh_db();
		migrated(&r, ours, mig, "deploy");
		ck_assert_msg(r.rc == 0, "%s%s", r.out, r.err);
		h_result_free(&r);
		h_assert_q(ours, "SELECT count(*) FROM pg_index WHERE indexrelid = 'c_id'::regclass AND indisvalid",
			   "1");
	}
}

Suite *suite_prisma(void)
{
	Suite *s = suite_create("prisma");
	TCase *tc = tcase_create("prisma");
	tcase_set_timeout(tc, 900);
	tcase_add_test(tc, after_migrated_deploy_prisma_sees_an_up_to_date_database);
	tcase_add_test(tc, both_tools_apply_odd_folder_names_in_the_same_order);
	tcase_add_test(tc, prisma_applies_half_then_migrated_applies_exactly_the_rest);
	tcase_add_test(tc, failure_recorded_by_prisma_is_seen_resolved_and_redeployed_by_migrated);
	tcase_add_test(tc, failure_recorded_by_migrated_is_seen_resolved_and_redeployed_by_prisma);
	tcase_add_test(tc, prisma_baseline_rows_are_read_as_applied);
	tcase_add_test(tc, a_down_rollback_by_migrated_is_applied_again_by_prisma_deploy);
	tcase_add_test(tc, a_prisma_deploy_killed_mid_file_is_running_then_refused_and_never_applied_twice);
	tcase_add_test(tc, rows_migrated_marks_are_read_correctly_by_both_clis);
	tcase_add_test(tc, the_migration_lock_is_shared_both_ways);
	tcase_add_test(tc, the_differences_between_prisma_6_and_7_are_as_documented);
	suite_add_tcase(s, tc);
	return s;
}
