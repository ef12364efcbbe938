/* test_pipeline.c - deploys pipelined across migrations (apply_pipeline.c), through a proxy
 * that adds latency (bench/lagproxy.py) where the wire matters: a failure in the middle of a
 * batch stops exactly there; a lock timeout and a cancel in the middle of a batch; statements
 * that refuse transaction blocks and files with their own transactions in the middle; the
 * corpora give the same schema and history as one migration at a time; kill -9 at random
 * points never applies a migration twice; status and a no-op deploy cost a few round trips. */
#include "harness.h"
#include "suites.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- the latency proxy ---- */

struct proxy {
	int pid, port;
	char counts[700]; /* one line of round trips per closed connection */
};

static void proxy_start(struct proxy *p, int delay_ms)
{
	char lport[16], tport[16], delay[16];
	p->port = h_free_port();
	ck_assert_int_gt(p->port, 0);
	snprintf(lport, sizeof lport, "%d", p->port);
	snprintf(tport, sizeof tport, "%d", h_port());
	snprintf(delay, sizeof delay, "%d", delay_ms);
	snprintf(p->counts, sizeof p->counts, "%s/proxy-%d.counts", h_tmpdir(), p->port);
	unlink(p->counts);
	char *argv[] = {"python3", MD_TEST_SRCDIR "/bench/lagproxy.py", lport, tport, delay, p->counts, NULL};
	p->pid = fork();
	ck_assert_int_ge(p->pid, 0);
	if (p->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execvp("python3", argv);
		_exit(127);
	}
	/* Up when it accepts a connection. */
	char conninfo[256];
	snprintf(conninfo, sizeof conninfo, "host=127.0.0.1 port=%d user=postgres dbname=postgres connect_timeout=2",
		 p->port);
	for (int i = 0; i < 100; i++) {
		if (PQping(conninfo) == PQPING_OK) {
			h_sleep_ms(100); /* the ping's own connection is counted; let it close */
			unlink(p->counts);
			return;
		}
		h_sleep_ms(50);
	}
	ck_abort_msg("the latency proxy did not start on port %d", p->port);
}

static void proxy_stop(struct proxy *p)
{
	if (p->pid > 0) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
		p->pid = 0;
	}
}

/* DATABASE_URL for db through the proxy (malloc'd, for h_migrated). */
static char *proxy_env(const struct proxy *p, const char *db)
{
	char *s = NULL;
	if (asprintf(&s, "DATABASE_URL=postgresql://postgres@127.0.0.1:%d/%s", p->port, db) < 0)
		abort();
	return s;
}

/* Round trips of the connections closed since the last call (waits for the line to appear). */
static long proxy_round_trips(struct proxy *p)
{
	long sum = 0;
	for (int i = 0; i < 40; i++) {
		if (access(p->counts, F_OK) == 0)
			break;
		h_sleep_ms(50);
	}
	h_sleep_ms(200);
	FILE *f = fopen(p->counts, "r");
	ck_assert_msg(f != NULL, "the proxy counted no connection");
	long v;
	while (fscanf(f, "%ld", &v) == 1)
		sum += v;
	fclose(f);
	unlink(p->counts);
	return sum;
}

/* ---- fixtures ---- */

/* The acceptance check's 30: a leaking SET (05), a CONCURRENTLY index (07), an own-transaction
 * file (10), a statement-by-statement file with CONCURRENTLY in its middle (12), and number 15
 * divides by zero on its second line. */
static void thirty(const char *dir)
{
	char name[64], sql[256];
	for (int i = 1; i <= 30; i++) {
		snprintf(name, sizeof name, "2024030100%04d_w%02d", i, i);
		switch (i) {
		case 5:
			snprintf(sql, sizeof sql,
				 "CREATE TABLE w_05 (id int); INSERT INTO w_05 VALUES (5); SET search_path TO "
				 "wan_nowhere;");
			break;
		case 7: snprintf(sql, sizeof sql, "CREATE INDEX CONCURRENTLY w_06_id ON w_06 (id);"); break;
		case 10:
			snprintf(sql, sizeof sql,
				 "BEGIN;\nCREATE TABLE w_10 (id int);\nINSERT INTO w_10 VALUES (10);\nCOMMIT;");
			break;
		case 12:
			snprintf(sql, sizeof sql,
				 "CREATE TABLE w_12 (id int);\nCREATE INDEX CONCURRENTLY w_12_id ON w_12 (id);\n"
				 "INSERT INTO w_12 VALUES (12);");
			break;
		case 15:
			snprintf(sql, sizeof sql, "CREATE TABLE w_15 (id int);\nINSERT INTO w_15 VALUES (1/0);");
			break;
		default:
			snprintf(sql, sizeof sql, "CREATE TABLE w_%02d (id int); INSERT INTO w_%02d VALUES (%d);", i, i,
				 i);
		}
		h_mig(dir, name, sql);
	}
}

/* What a history says, row by row, without ids and times: the same for two equal deploys. */
#define HISTORY_SHAPE                                                                                               \
	"SELECT string_agg(migration_name || ':' || checksum || ':' || applied_steps_count || ':' ||              \
	 (finished_at IS NOT NULL)::text || ':' || (rolled_back_at IS NOT NULL)::text || ':' ||               \
	 coalesce(regexp_replace(logs, 'started at [^ ]+ [^ ]+', ''), '-'), E'\\n' ORDER BY migration_name) " \
	"FROM _prisma_migrations"

ITEST(a_failure_in_the_middle_of_a_pipelined_batch_stops_exactly_there)
{
	const char *dir = h_migrations_dir();
	struct proxy p = {0};
	struct h_result r;
	char db1[64];
	thirty(dir);
	proxy_start(&p, 2);
	snprintf(db1, sizeof db1, "%s", h_fresh_db());
	h_migrated(&r, proxy_env(&p, db1), "deploy", "--migrations", dir, NULL);
	proxy_stop(&p);
	ck_assert_msg(r.rc == 1, "deploy with 15 failing exited %d\n%s%s", r.rc, r.out, r.err);
	h_assert_contains(r.out, "1/0");
	h_assert_contains(r.out, "line 2");
	h_assert_contains(r.out, "22012");
	h_result_free(&r);
	h_assert_q(db1,
		   "SELECT string_agg(right(migration_name, 3), ',' ORDER BY migration_name) FROM _prisma_migrations "
		   "WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL",
		   "w01,w02,w03,w04,w05,w06,w07,w08,w09,w10,w11,w12,w13,w14");
	h_assert_q(db1,
		   "SELECT string_agg(migration_name, ',') || ' ' || count(*) FROM _prisma_migrations WHERE "
		   "finished_at IS NULL AND rolled_back_at IS NULL AND logs LIKE '%division by zero%'",
		   "20240301000015_w15 1");
	h_assert_q(db1, "SELECT count(*) FROM _prisma_migrations", "15");
	h_assert_q(db1, "SELECT applied_steps_count FROM _prisma_migrations WHERE migration_name LIKE '%w12'", "3");
	h_assert_q(db1,
		   "SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class WHERE relname ~ '^w_[0-9]+(_id)?$' "
		   "AND relnamespace = 'public'::regnamespace",
		   "w_01,w_02,w_03,w_04,w_05,w_06,w_06_id,w_08,w_09,w_10,w_11,w_12,w_12_id,w_13,w_14");
	/* The same deploy one migration at a time: the same history, row for row. */
	char *shape = h_q1(db1, HISTORY_SHAPE);
	const char *db2 = h_fresh_db();
	h_migrated(&r, h_env_url(db2), "MIGRATED_PIPELINE_DEPTH=1", "deploy", "--migrations", dir, NULL);
	ck_assert_int_eq(r.rc, 1);
	h_result_free(&r);
	h_assert_q(db2, HISTORY_SHAPE, shape);
	free(shape);
}

ITEST(a_lock_timeout_in_the_middle_of_a_batch_is_retried_and_applied_once)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	char out[700];
	h_mig(dir, "20240101000000_busy", "CREATE TABLE busy (id int);");
	h_deploy_ok(db, dir);
	h_mig(dir, "20240101000001_a", "CREATE TABLE a (id int);");
	h_mig(dir, "20240101000002_b", "CREATE TABLE b (id int);");
	h_mig(dir, "20240101000003_busy", "ALTER TABLE busy ADD COLUMN n int; INSERT INTO a VALUES (3);");
	h_mig(dir, "20240101000004_d", "CREATE TABLE d (id int);");
	h_mig(dir, "20240101000005_e", "CREATE TABLE e (id int);");
	PGconn *holder = h_connect(db, "lock-holder");
	PQclear(PQexec(holder, "BEGIN"));
	PQclear(PQexec(holder, "LOCK TABLE busy IN ACCESS SHARE MODE"));
	snprintf(out, sizeof out, "%s/deploy.out", h_tmpdir());
	/* MIGRATED_PREFLIGHT_GATE=off: the data preflight's own lock_timeout would stop first. */
	int pid = h_migrated_bg(out, h_env_url(db), "MIGRATED_PREFLIGHT_GATE=off", "deploy", "--migrations", dir,
				"--lock-timeout", "300ms", "--lock-retries", "5", NULL);
	h_sleep_ms(1200);
	PQclear(PQexec(holder, "COMMIT"));
	PQfinish(holder);
	int rc = h_wait(pid, 60);
	char *text = h_read(out, NULL);
	ck_assert_msg(rc == 0, "deploy exit %d\n%s", rc, text);
	h_assert_contains(text, "retrying");
	free(text);
	h_assert_q(db, "SELECT count(*) FROM _prisma_migrations", "6");
	h_assert_q(db, "SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NOT NULL AND logs IS NULL", "6");
	h_assert_q(db, "SELECT count(*) FROM a", "1");
	h_assert_q(db, "SELECT count(*) FROM pg_attribute WHERE attrelid = 'busy'::regclass AND attname = 'n'", "1");
}

ITEST(cancel_in_the_middle_of_a_batch_stops_there_and_records_it)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	char name[64], sql[128], out[700];
	for (int i = 1; i <= 30; i++) {
		snprintf(name, sizeof name, "2024010100%04d_m%02d", i, i);
		if (i == 12)
			snprintf(sql, sizeof sql, "CREATE TABLE m_12 (id int); SELECT pg_sleep(20);");
		else
			snprintf(sql, sizeof sql, "CREATE TABLE m_%02d (id int);", i);
		h_mig(dir, name, sql);
	}
	snprintf(out, sizeof out, "%s/deploy.out", h_tmpdir());
	int pid = h_migrated_bg(out, h_env_url(db), "deploy", "--migrations", dir, NULL);
	for (int i = 0; i < 100; i++) {
		char *n =
			h_q1(db, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(20)%' AND state = "
				 "'active' AND pid <> pg_backend_pid()");
		bool running = n && strcmp(n, "1") == 0;
		free(n);
		if (running)
			break;
		h_sleep_ms(100);
	}
	kill(pid, SIGINT);
	int rc = h_wait(pid, 30);
	char *text = h_read(out, NULL);
	ck_assert_msg(rc != 0, "a cancelled deploy exited 0\n%s", text);
	free(text);
	h_assert_q(db,
		   "SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL",
		   "11");
	h_assert_q(db,
		   "SELECT (rolled_back_at IS NOT NULL)::text FROM _prisma_migrations WHERE migration_name LIKE '%m12'",
		   "true");
	h_assert_q(db, "SELECT count(*) FROM _prisma_migrations", "12");
	h_assert_q(db, "SELECT count(*) FROM pg_class WHERE relname ~ '^m_[0-9]+$'", "11");
}

static void corpus_same_with_and_without(const char *corpus)
{
	const char *dir = h_corpus_dir(corpus);
	struct h_result r;
	char db1[64];
	if (!dir)
		H_SKIP("../shared/corpus/%s is not here (a bare clone)", corpus);
	snprintf(db1, sizeof db1, "%s", h_fresh_db());
	h_migrated(&r, h_env_url(db1), "deploy", "--migrations", dir, NULL);
	ck_assert_msg(r.rc == 0, "pipelined deploy of %s exit %d\n%.2000s", corpus, r.rc, r.err);
	h_result_free(&r);
	const char *db2 = h_fresh_db();
	h_migrated(&r, h_env_url(db2), "MIGRATED_PIPELINE_DEPTH=1", "deploy", "--migrations", dir, NULL);
	ck_assert_msg(r.rc == 0, "deploy of %s one at a time exit %d\n%.2000s", corpus, r.rc, r.err);
	h_result_free(&r);
	char *a = h_schema_dump(db1), *b = h_schema_dump(db2);
	ck_assert_msg(strcmp(a, b) == 0, "%s: the schemas differ with and without pipelining", corpus);
	free(a);
	free(b);
	char *ha = h_q1(db1, HISTORY_SHAPE), *hb = h_q1(db2, HISTORY_SHAPE);
	ck_assert_msg(ha && hb && strcmp(ha, hb) == 0, "%s: the histories differ with and without pipelining", corpus);
	free(ha);
	free(hb);
	/* Prisma's values: one started row per migration, started before finished, in order. */
	h_assert_q(db1,
		   "SELECT count(*) FROM (SELECT migration_name, lag(finished_at) OVER (ORDER BY started_at) AS prev, "
		   "started_at, finished_at FROM _prisma_migrations) s WHERE finished_at < started_at OR started_at < "
		   "prev",
		   "0");
	h_assert_q(db1, "SELECT count(*) - count(DISTINCT migration_name) FROM _prisma_migrations", "0");
}

ITEST(langfuse_gives_the_same_schema_and_history_with_and_without_pipelining)
{
	corpus_same_with_and_without("langfuse");
}

ITEST(trigger_dev_gives_the_same_schema_and_history_with_and_without_pipelining)
{
	corpus_same_with_and_without("trigger.dev");
}

#define KILL_MIGRATIONS   200
#define KILL_MIGRATIONS_S "200"

/* For a migration cut mid-way whose file builds one index CONCURRENTLY: the index is there
 * and valid (the build finished: --applied), or absent or INVALID (dropped: --rolled-back). */
static const char *resolution_of(const char *db, const char *dir, const char *name)
{
	char path[900], idx[200] = "", sql[400];
	snprintf(path, sizeof path, "%s/%s/migration.sql", dir, name);
	char *text = h_read(path, NULL);
	const char *q = strstr(text, "CONCURRENTLY \"");
	ck_assert_msg(q != NULL, "%s was cut but builds no index concurrently:\n%s", name, text);
	q += strlen("CONCURRENTLY \"");
	snprintf(idx, sizeof idx, "%.*s", (int)strcspn(q, "\""), q);
	free(text);
	snprintf(sql, sizeof sql,
		 "SELECT coalesce((SELECT x.indisvalid::text FROM pg_index x WHERE x.indexrelid = "
		 "to_regclass('\"%s\"')), "
		 "'absent')",
		 idx);
	char *state = h_q1(db, sql);
	bool valid = strcmp(state, "true") == 0;
	if (strcmp(state, "false") == 0) {
		snprintf(sql, sizeof sql, "DROP INDEX \"%s\"", idx);
		h_exec(db, sql);
	}
	free(state);
	return valid ? "--applied" : "--rolled-back";
}

/* Kill -9 at random points of a pipelined deploy through the proxy, then deploy again (as a
 * human would after reading the refusal, when a statement-by-statement file was cut: drop
 * what it left and resolve it). Every migration is applied exactly once. */
ITEST(kill_9_at_random_points_of_a_pipelined_deploy_never_applies_a_migration_twice)
{
	const char *dir = h_migrations_dir();
	struct proxy p = {0};
	char out[700], mname[64], sql[200];
	/* 200 migrations: tables with rows, and every seventh an index built CONCURRENTLY (files
	 * with their own BEGIN/COMMIT are not pipelined; test_crash.c covers them). */
	for (int i = 1; i <= KILL_MIGRATIONS; i++) {
		snprintf(mname, sizeof mname, "2024010100%04d_k%03d", i, i);
		if (i % 7 == 0)
			snprintf(sql, sizeof sql, "CREATE INDEX CONCURRENTLY \"k_%03d_idx\" ON k_%03d (id);", i - 1,
				 i - 1);
		else
			snprintf(sql, sizeof sql,
				 "CREATE TABLE k_%03d (id int);\nINSERT INTO k_%03d SELECT generate_series(1, 300);", i,
				 i);
		h_mig(dir, mname, sql);
	}
	srand((unsigned)getpid());
	char clean[64];
	snprintf(clean, sizeof clean, "%s", h_fresh_db());
	h_deploy_ok(clean, dir);
	char *want = h_schema_dump(clean);
	proxy_start(&p, 2);
	for (int round = 0; round < 4; round++) {
		const char *db = h_fresh_db();
		struct h_result r;
		int delay = 50 + rand() % 900;
		snprintf(out, sizeof out, "%s/kill-%d.out", h_tmpdir(), round);
		int pid = h_migrated_bg(out, proxy_env(&p, db), "deploy", "--migrations", dir, NULL);
		h_sleep_ms(delay);
		kill(-pid, SIGKILL);
		h_wait(pid, 10);
		h_wait_advisory_lock_free(db);
		for (int attempt = 0; attempt < 3; attempt++) {
			h_migrated(&r, h_env_url(db), "deploy", "--lock-wait", "20s", "--migrations", dir, NULL);
			if (r.rc == 0 || !h_contains(r.err, "P3009")) {
				break;
			}
			/* A cut single-statement CONCURRENTLY file: what a human does after reading the
			 * refusal: look at the index it builds. */
			char *name = h_q1(db, "SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NULL "
					      "AND rolled_back_at IS NULL");
			ck_assert_msg(name && *name, "P3009 without a failed row\n%s", r.err);
			const char *as = resolution_of(db, dir, name);
			struct h_result rr;
			h_migrated(&rr, h_env_url(db), "resolve", as, name, "--migrations", dir, NULL);
			ck_assert_msg(rr.rc == 0, "resolve exit %d\n%s", rr.rc, rr.err);
			h_result_free(&rr);
			free(name);
			h_result_free(&r);
		}
		ck_assert_msg(r.rc == 0, "round %d (killed after %d ms): redeploy exit %d\n%.3000s", round, delay, r.rc,
			      r.err);
		h_result_free(&r);
		h_assert_q(
			db,
			"SELECT count(*) FROM (SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT "
			"NULL AND rolled_back_at IS NULL GROUP BY 1 HAVING count(*) > 1) d",
			"0");
		h_assert_q(
			db,
			"SELECT count(DISTINCT migration_name) FROM _prisma_migrations WHERE finished_at IS NOT NULL "
			"AND rolled_back_at IS NULL",
			KILL_MIGRATIONS_S);
		char *got = h_schema_dump(db);
		ck_assert_msg(strcmp(got, want) == 0,
			      "round %d (killed after %d ms): the schema differs from a clean deploy's", round, delay);
		free(got);
	}
	free(want);
	proxy_stop(&p);
}

ITEST(status_and_a_no_op_deploy_cost_at_most_four_round_trips)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	struct proxy p = {0};
	struct h_result r;
	thirty(dir);
	/* Without the failing one: every migration applies. */
	char bad[700];
	snprintf(bad, sizeof bad, "%s/20240301000015_w15/migration.sql", dir);
	h_write(bad, "CREATE TABLE w_15 (id int);", 27);
	h_deploy_ok(db, dir);
	proxy_start(&p, 1);
	h_migrated(&r, proxy_env(&p, db), "status", "--migrations", dir, NULL);
	ck_assert_msg(r.rc == 0, "status exit %d\n%s", r.rc, r.err);
	h_result_free(&r);
	long st = proxy_round_trips(&p);
	h_migrated(&r, proxy_env(&p, db), "deploy", "--migrations", dir, NULL);
	ck_assert_msg(r.rc == 0, "no-op deploy exit %d\n%s", r.rc, r.err);
	h_result_free(&r);
	long dp = proxy_round_trips(&p);
	proxy_stop(&p);
	ck_assert_msg(st >= 2 && st <= 4, "status made %ld round trips (connection included), want 2..4", st);
	ck_assert_msg(dp >= 2 && dp <= 4, "a no-op deploy made %ld round trips, want 2..4", dp);
}

ITEST(thirty_migrations_cost_a_round_trip_each_at_most)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	struct proxy p = {0};
	struct h_result r;
	char name[64], sql[128];
	for (int i = 1; i <= 30; i++) {
		snprintf(name, sizeof name, "2024010100%04d_m%02d", i, i);
		snprintf(sql, sizeof sql, "CREATE TABLE m_%02d (id int); INSERT INTO m_%02d VALUES (%d);", i, i, i);
		h_mig(dir, name, sql);
	}
	proxy_start(&p, 1);
	h_migrated(&r, proxy_env(&p, db), "deploy", "--migrations", dir, NULL);
	ck_assert_msg(r.rc == 0, "deploy exit %d\n%s", r.rc, r.err);
	h_result_free(&r);
	long rt = proxy_round_trips(&p);
	proxy_stop(&p);
	/* Connection, history, preflight, lock, history again, the batch, unlock: a constant. */
	ck_assert_msg(rt <= 20, "30 migrations took %ld round trips, want at most 20", rt);
}

Suite *suite_pipeline(void)
{
	Suite *s = suite_create("pipeline");
	TCase *tc = tcase_create("pipeline");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, a_failure_in_the_middle_of_a_pipelined_batch_stops_exactly_there);
	tcase_add_test(tc, a_lock_timeout_in_the_middle_of_a_batch_is_retried_and_applied_once);
	tcase_add_test(tc, cancel_in_the_middle_of_a_batch_stops_there_and_records_it);
	tcase_add_test(tc, langfuse_gives_the_same_schema_and_history_with_and_without_pipelining);
	tcase_add_test(tc, trigger_dev_gives_the_same_schema_and_history_with_and_without_pipelining);
	tcase_add_test(tc, kill_9_at_random_points_of_a_pipelined_deploy_never_applies_a_migration_twice);
	tcase_add_test(tc, status_and_a_no_op_deploy_cost_at_most_four_round_trips);
	tcase_add_test(tc, thirty_migrations_cost_a_round_trip_each_at_most);
	suite_add_tcase(s, tc);
	return s;
}
