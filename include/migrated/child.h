/* child.h - child processes without a shell: pg_dump, pg_restore piped into psql, and the
 * post-deploy verification commands. Each runs with the daemon's environment plus the entries
 * given (a password goes in PGPASSWORD, never on a command line), an empty signal mask, no
 * file descriptor of ours but its stdin/stdout/stderr, and dies with the thread that started
 * it (PR_SET_PDEATHSIG). Its output is captured up to a bound (the tail is kept: errors come
 * last); a timeout or a cancel flag ends it with SIGTERM, then SIGKILL. */
#ifndef MIGRATED_CHILD_H
#define MIGRATED_CHILD_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

struct md_error;

struct md_child {
	/* in */
	char *const *argv;       /* argv[0]: a path, or a program name looked up in PATH */
	char *const *env;        /* extra "NAME=value" entries, NULL-terminated; NULL for none */
	const char *stdout_path; /* last child of a pipeline: write stdout here (created 0600); NULL captures it */
	const char *stdin_path;  /* first child of a pipeline: read stdin from this file; NULL: /dev/null */
	/* out (md_child_run fills them; md_child_clear frees them) */
	char path[4096]; /* the program that ran */
	int exit_code;   /* 0..255, or -1 when a signal ended it */
	int term_signal; /* the signal, when exit_code is -1 */
	char *out, *err; /* captured stdout (when not redirected or piped) and stderr tails; NUL-terminated */
	size_t out_len, err_len;
	size_t out_dropped, err_dropped; /* bytes cut from the front to stay within the bound */
};

struct md_child_limits {
	int timeout_ms;                      /* 0: none */
	size_t capture_bytes;                /* per stream; 0: 16 KiB */
	const volatile sig_atomic_t *cancel; /* may be NULL */
	/* Pipelines of two only: the output of the first passes through us, and when the first
	 * program fails this text is written to the second after what it produced (psql is told
	 * to roll back instead of committing a partial restore). NULL: a direct pipe. */
	const char *relay_fail_text;
};

/* md_child_run: run children[0..n) as a pipeline (the stdout of each feeds the stdin of the
 * next; the first reads /dev/null, or its stdin_path) and wait for all of them. Returns 0 when they ran and ended
 * (whatever their exit codes: see exit_code); *ret_timed_out / *ret_cancelled say whether the
 * limits ended them. MD_E_CONFIG when a program cannot be found or executed (err names it and
 * why), MD_E_IO when stdout_path cannot be created, MD_E_NOMEM. */
int md_child_run(struct md_child *children, size_t n, const struct md_child_limits *limits, bool *ret_timed_out,
		 bool *ret_cancelled, struct md_error *err);
/* md_child_clear: free what md_child_run captured. */
void md_child_clear(struct md_child *c);
/* md_child_which: the path execve would run for name ("pg_dump", or a path): 0, or
 * MD_E_NOT_FOUND when nothing executable is on PATH. */
int md_child_which(const char *name, char *ret_path, size_t pathsz);

/* md_argv_split: a command line split into words the way a shell splits a simple command,
 * without running one: whitespace separates words, '...' and "..." quote (backslash escapes
 * inside "..." and outside quotes), nothing is expanded. *ret is NULL-terminated; free with
 * md_argv_free. MD_E_CONFIG for an unterminated quote or an empty command. */
int md_argv_split(const char *line, char ***ret, struct md_error *err);
void md_argv_free(char **argv);

#endif
