/* lint.h - rules for unsafe migrations (the squawk / strong_migrations / Atlas set, peers.md
 * §2): locks that stop the application, table rewrites and full scans under a lock, data
 * loss, renames that break the running code, timeouts, backfills inside the DDL transaction,
 * DDL that cannot be retried after a partial run, plus advisory type choices. Each finding
 * has a rule id, a severity, the migration, line and column, the statement, why it is
 * dangerous and the safe pattern. A table created earlier in the same migration is new and
 * empty, so locks on it are not findings. `-- migrated:lint-ignore RULE[,RULE] reason` before
 * a statement silences those rules for it; the reason is kept. Pure: reads only the text. */
#ifndef MIGRATED_LINT_H
#define MIGRATED_LINT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct md_error;
struct md_migration;
struct md_strlist;

enum md_lint_severity {
	MD_LINT_OFF = 0, /* the rule is disabled */
	MD_LINT_INFO,    /* a better choice exists */
	MD_LINT_WARNING, /* dangerous in some cases: read it */
	MD_LINT_ERROR,   /* blocks writes or loses data on a table in use: a deploy gate stops it */
};

struct md_lint_rule {
	const char *id; /* "require-concurrent-index-creation" */
	enum md_lint_severity severity;
	const char *summary; /* one line: what it catches */
	const char *why;     /* why it is dangerous */
	const char *safe;    /* the safe pattern */
};

/* md_lint_rules: the rule table (*ret_n rules). */
const struct md_lint_rule *md_lint_rules(size_t *ret_n);
const char *md_lint_severity_name(enum md_lint_severity s);

struct md_lint_options {
	enum md_lint_severity severity[64]; /* per rule, in md_lint_rules() order */
	int lock_timeout_ms;                /* what deploy sets (0: none: require-lock-timeout applies) */
	int server_version_num;             /* for statements that need a transaction or not */
};

/* md_lint_options_init: every rule at its default severity, lock_timeout_ms as given.
 * rules (may be NULL) holds "RULE off|info|warning|error" lines (the lint_rule key).
 * MD_E_CONFIG naming an unknown rule or severity. */
int md_lint_options_init(struct md_lint_options *o, const struct md_strlist *rules, int lock_timeout_ms,
			 int server_version_num, struct md_error *err);

struct md_lint_finding {
	const char *rule; /* static */
	enum md_lint_severity severity;
	char migration[256];
	unsigned line, col;
	char *statement; /* owned, up to 500 bytes */
	char message[512];
	const char *why;  /* static */
	const char *safe; /* static */
	bool ignored;     /* silenced by a lint-ignore comment */
	char reason[256]; /* its reason */
};

struct md_lint_report {
	struct md_lint_finding *items; /* owned, in file and statement order */
	size_t n, cap;
	size_t count[4]; /* by severity, ignored ones not counted */
	size_t n_ignored;
	size_t migrations; /* linted */
	char **unparsed;   /* migrations whose SQL could not be split; owned */
	size_t n_unparsed;
};

/* md_lint_migration: lint one migration's migration.sql into rep (appended). MD_E_NOMEM. A
 * file that cannot be split is recorded in rep->unparsed (deploy refuses it anyway). */
int md_lint_migration(const struct md_lint_options *o, const struct md_migration *m, struct md_lint_report *rep);
void md_lint_report_free(struct md_lint_report *rep);
/* md_lint_report_json: {"findings": [...], "ignored": [...], "summary": {"error", "warning",
 * "info", "ignored", "migrations"}, "unparsed": [...]}; only_errors keeps error findings. */
json_t *md_lint_report_json(const struct md_lint_report *rep, bool only_errors);
json_t *md_lint_finding_json(const struct md_lint_finding *f);

#endif
