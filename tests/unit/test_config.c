/* test_config.c - configuration precedence (defaults < file < environment < flags), durations,
 * and errors that name the file and line. */
#include "migrated/config.h"
#include "migrated/error.h"
#include "migrated/log.h"
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[64];

static void write_conf(const char *text)
{
	snprintf(path, sizeof path, "/tmp/md-unit-conf-XXXXXX");
	int fd = mkstemp(path);
	ck_assert(fd >= 0);
	ck_assert(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
}

static void clear_env(void)
{
	unsetenv("DATABASE_URL");
	unsetenv("DIRECT_URL");
	unsetenv("MIGRATED_CONFIG");
	unsetenv("MIGRATED_LOCK_TIMEOUT");
	unsetenv("MIGRATED_MIGRATIONS");
	unsetenv("CREDENTIALS_DIRECTORY");
	unsetenv("MIGRATED_TARGETS_FILE");
	unsetenv("MIGRATED_FLEET_MAX_CONNECTIONS");
}

START_TEST(durations_parse_with_units)
{
	int ms;
	ck_assert_int_eq(md_parse_duration_ms("500ms", &ms), 0);
	ck_assert_int_eq(ms, 500);
	ck_assert_int_eq(md_parse_duration_ms("10s", &ms), 0);
	ck_assert_int_eq(ms, 10000);
	ck_assert_int_eq(md_parse_duration_ms("1.5s", &ms), 0);
	ck_assert_int_eq(ms, 1500);
	ck_assert_int_eq(md_parse_duration_ms("2m", &ms), 0);
	ck_assert_int_eq(ms, 120000);
	ck_assert_int_eq(md_parse_duration_ms("1h", &ms), 0);
	ck_assert_int_eq(ms, 3600000);
	ck_assert_int_eq(md_parse_duration_ms("250", &ms), 0);
	ck_assert_int_eq(ms, 250);
	ck_assert_int_lt(md_parse_duration_ms("ten", &ms), 0);
	ck_assert_int_lt(md_parse_duration_ms("5 parsecs", &ms), 0);
	ck_assert_int_lt(md_parse_duration_ms("-1s", &ms), 0);
}
END_TEST

START_TEST(defaults_file_env_flags_in_that_order)
{
	struct md_config *cfg;
	struct md_config_flags flags = {0};
	struct md_error err = {0};

	clear_env();
	write_conf("# migrated\nmigrations = \"from/file\"\nlock_timeout = 3s\nlock_retries = 7\n"
		   "database_url = postgresql://u:filesecret@h/db\n");
	flags.config_file = path;
	setenv("MIGRATED_LOCK_TIMEOUT", "4s", 1);
	flags.lock_retries = "9";
	ck_assert_int_eq(md_config_load(&flags, &cfg, &err), 0);
	ck_assert_str_eq(cfg->migrations_dir, "from/file");
	ck_assert_int_eq(cfg->lock_timeout_ms, 4000);
	ck_assert_int_eq(cfg->lock_retries, 9);
	ck_assert_int_eq(cfg->statement_timeout_ms, 0);
	ck_assert_int_eq(cfg->advisory_lock_wait_ms, 10000);
	ck_assert_str_eq(md_config_migration_url(cfg), "postgresql://u:filesecret@h/db");
	/* The whole URL is a secret from the moment it is read (dburl adds the bare password). */
	char out[128];
	md_redact("url postgresql://u:filesecret@h/db here", out, sizeof out);
	ck_assert_str_eq(out, "url **** here");
	md_config_free(cfg);
	unlink(path);
	clear_env();
}
END_TEST

START_TEST(direct_url_wins_for_migrations)
{
	struct md_config *cfg;
	struct md_config_flags flags = {.config_file = "/dev/null"};
	struct md_error err = {0};
	clear_env();
	setenv("DATABASE_URL", "postgresql://pooler/db", 1);
	setenv("DIRECT_URL", "postgresql://direct/db", 1);
	ck_assert_int_eq(md_config_load(&flags, &cfg, &err), 0);
	ck_assert_str_eq(md_config_migration_url(cfg), "postgresql://direct/db");
	md_config_free(cfg);
	clear_env();
}
END_TEST

START_TEST(bad_files_name_the_line)
{
	struct md_config *cfg = NULL;
	struct md_config_flags flags = {0};
	struct md_error err = {0};
	clear_env();
	write_conf("migrations = x\n\nlok_timeout = 3s\n");
	flags.config_file = path;
	ck_assert_int_eq(md_config_load(&flags, &cfg, &err), MD_E_CONFIG);
	ck_assert_msg(strstr(err.message, "line 3") && strstr(err.message, "unknown key \"lok_timeout\""), "%s",
		      err.message);
	unlink(path);
	write_conf("lock_timeout = soon\n");
	flags.config_file = path;
	ck_assert_int_eq(md_config_load(&flags, &cfg, &err), MD_E_CONFIG);
	ck_assert(strstr(err.message, "not a duration"));
	unlink(path);
	flags.config_file = "/nonexistent/migrated.conf";
	ck_assert_int_eq(md_config_load(&flags, &cfg, &err), MD_E_CONFIG);
	ck_assert(strstr(err.message, "/nonexistent/migrated.conf"));
}
END_TEST

START_TEST(credentials_directory_supplies_the_url)
{
	struct md_config *cfg;
	struct md_config_flags flags = {.config_file = "/dev/null"};
	struct md_error err = {0};
	char dir[] = "/tmp/md-unit-cred-XXXXXX", file[64];
	clear_env();
	ck_assert(mkdtemp(dir));
	snprintf(file, sizeof file, "%s/database-url", dir);
	FILE *f = fopen(file, "w");
	fputs("postgresql://cred:credsecret@h/db\n", f);
	fclose(f);
	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	ck_assert_int_eq(md_config_load(&flags, &cfg, &err), 0);
	ck_assert_str_eq(cfg->database_url, "postgresql://cred:credsecret@h/db");
	md_config_free(cfg);
	unlink(file);
	rmdir(dir);
	clear_env();
}
END_TEST

START_TEST(targets_file_comes_from_file_credential_environment_or_flag_and_fleet_connections_are_bounded)
{
	struct md_config *cfg = NULL;
	struct md_config_flags flags = {.config_file = "/dev/null"};
	struct md_error err = {0};
	char dir[] = "/tmp/md-unit-cred-XXXXXX", file[64], want[64];
	clear_env();

	ck_assert_int_eq(md_config_load(&flags, &cfg, &err), 0);
	ck_assert_ptr_null(cfg->targets_file);
	ck_assert_int_eq(cfg->fleet_max_connections, 64);
	md_config_free(cfg);

	/* The credential "targets" is the file itself: targets_file names it when nothing else did. */
	ck_assert(mkdtemp(dir));
	snprintf(file, sizeof file, "%s/targets", dir);
	FILE *f = fopen(file, "w");
	fputs("a postgresql://u:pw@h/db\n", f);
	fclose(f);
	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	ck_assert_int_eq(md_config_load(&flags, &cfg, &err), 0);
	snprintf(want, sizeof want, "%s/targets", dir);
	ck_assert_str_eq(cfg->targets_file, want);
	md_config_free(cfg);
	write_conf("targets_file = /etc/migrated/targets\nfleet_max_connections = 200\n");
	flags.config_file = path;
	ck_assert_int_eq(md_config_load(&flags, &cfg, &err), 0);
	ck_assert_str_eq(cfg->targets_file, "/etc/migrated/targets"); /* the file's key wins */
	ck_assert_int_eq(cfg->fleet_max_connections, 200);
	md_config_free(cfg);
	setenv("MIGRATED_TARGETS_FILE", "/from/env", 1);
	setenv("MIGRATED_FLEET_MAX_CONNECTIONS", "10000", 1);
	ck_assert_int_eq(md_config_load(&flags, &cfg, &err), 0);
	ck_assert_str_eq(cfg->targets_file, "/from/env");
	ck_assert_int_eq(cfg->fleet_max_connections, 10000);
	md_config_free(cfg);
	flags.targets_file = "/from/flag";
	ck_assert_int_eq(md_config_load(&flags, &cfg, &err), 0);
	ck_assert_str_eq(cfg->targets_file, "/from/flag");
	md_config_free(cfg);
	unlink(file);
	rmdir(dir);
	unlink(path);

	static const char *const bad[] = {"0", "10001", "-1", "many", ""};
	flags.config_file = "/dev/null";
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (!*bad[i])
			continue; /* an empty variable is unset */
		setenv("MIGRATED_FLEET_MAX_CONNECTIONS", bad[i], 1);
		memset(&err, 0, sizeof err);
		cfg = NULL;
		ck_assert_int_eq(md_config_load(&flags, &cfg, &err), MD_E_CONFIG);
		ck_assert_ptr_null(cfg);
		ck_assert_msg(strstr(err.message, "fleet_max_connections") && strstr(err.message, "from 1 to 10000"),
			      "%s", err.message);
	}
	clear_env();
}
END_TEST

START_TEST(ages_lists_and_choices_for_backups_and_verification)
{
	struct md_config_flags flags = {0};
	struct md_config *cfg = NULL;
	struct md_error err = {0};
	long s;

	ck_assert_int_eq(md_parse_age_s("7d", &s), 0);
	ck_assert_int_eq(s, 7 * 86400);
	ck_assert_int_eq(md_parse_age_s("12h", &s), 0);
	ck_assert_int_eq(s, 12 * 3600);
	ck_assert_int_eq(md_parse_age_s("2w", &s), 0);
	ck_assert_int_eq(s, 14 * 86400);
	ck_assert_int_eq(md_parse_age_s("90", &s), 0);
	ck_assert_int_eq(s, 90);
	ck_assert_int_lt(md_parse_age_s("3 fortnights", &s), 0);
	ck_assert_int_lt(md_parse_age_s("-1d", &s), 0);

	clear_env();
	unsetenv("MIGRATED_VERIFY_COMMAND");
	write_conf("backup_keep = 3\nbackup_keep_within = 30d\nverify_command = npx prisma generate\n"
		   "verify_command = systemctl restart app\nverify_url = http://app.internal/health\n"
		   "verify_on_failure = rollback\n");
	flags.config_file = path;
	ck_assert_int_eq(md_config_load(&flags, &cfg, &err), 0);
	ck_assert_int_eq(cfg->backup_keep, 3);
	ck_assert_int_eq(cfg->backup_keep_within_s, 30L * 86400);
	ck_assert(cfg->backup_before_deploy); /* default */
	ck_assert_uint_eq(cfg->verify_commands.n, 2);
	ck_assert_str_eq(cfg->verify_commands.items[1], "systemctl restart app");
	ck_assert_uint_eq(cfg->verify_urls.n, 1);
	ck_assert(cfg->verify_rollback);
	char *dir = md_config_backup_dir(cfg);
	ck_assert_str_eq(dir, "/var/lib/migrated/backups");
	free(dir);
	md_config_free(cfg);
	/* The environment replaces the file's list, one item per line. */
	setenv("MIGRATED_VERIFY_COMMAND", "/bin/true\n/bin/echo ok", 1);
	ck_assert_int_eq(md_config_load(&flags, &cfg, &err), 0);
	ck_assert_uint_eq(cfg->verify_commands.n, 2);
	ck_assert_str_eq(cfg->verify_commands.items[0], "/bin/true");
	md_config_free(cfg);
	unsetenv("MIGRATED_VERIFY_COMMAND");
	unlink(path);
	write_conf("verify_on_failure = restore\n");
	ck_assert_int_lt(md_config_load(&flags, &cfg, &err), 0);
	ck_assert_ptr_nonnull(strstr(err.message, "line 1"));
	ck_assert_ptr_nonnull(strstr(err.message, "fail or rollback"));
	unlink(path);
}
END_TEST

Suite *suite_config(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");
	tcase_add_test(tc, durations_parse_with_units);
	tcase_add_test(tc, defaults_file_env_flags_in_that_order);
	tcase_add_test(tc, direct_url_wins_for_migrations);
	tcase_add_test(tc, bad_files_name_the_line);
	tcase_add_test(tc, credentials_directory_supplies_the_url);
	tcase_add_test(tc,
		       targets_file_comes_from_file_credential_environment_or_flag_and_fleet_connections_are_bounded);
	tcase_add_test(tc, ages_lists_and_choices_for_backups_and_verification);
	suite_add_tcase(s, tc);
	return s;
}
