/* child.c - running programs without a shell (see child.h). fork + execve: everything the
 * child needs (the program's path, its environment, its argv) is prepared before the fork,
 * because after it only async-signal-safe calls are allowed in a threaded process. An exec
 * failure comes back through a close-on-exec pipe as the errno value. */
#include "migrated/child.h"
#include "migrated/error.h"
#include "migrated/macro.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define KILL_GRACE_MS 5000 /* SIGTERM, then SIGKILL this much later */
#define MAX_CHILDREN  4

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

int md_child_which(const char *name, char *ret_path, size_t pathsz)
{
	if (strchr(name, '/')) {
		if (access(name, X_OK) != 0)
			return MD_E_NOT_FOUND;
		snprintf(ret_path, pathsz, "%s", name);
		return 0;
	}
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");
		struct stat st;
		if (n > 0 && (size_t)snprintf(ret_path, pathsz, "%.*s/%s", (int)n, path, name) < pathsz &&
		    stat(ret_path, &st) == 0 && S_ISREG(st.st_mode) && access(ret_path, X_OK) == 0)
			return 0;
		path += n;
		if (*path == ':')
			path++;
	}
	return MD_E_NOT_FOUND;
}

/* The daemon's environment with extra's entries added or replacing those of the same name.
 * The strings are borrowed; only the array is allocated. */
static char **build_env(char *const *extra)
{
	size_t n = 0, k = 0, x = 0;
	while (environ && environ[n])
		n++;
	while (extra && extra[x])
		x++;
	char **env = calloc(n + x + 1, sizeof *env);
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		size_t len = strcspn(environ[i], "=");
		bool replaced = false;
		for (size_t j = 0; j < x && !replaced; j++)
			replaced = strncmp(extra[j], environ[i], len) == 0 && extra[j][len] == '=';
		if (!replaced)
			env[k++] = environ[i];
	}
	for (size_t j = 0; j < x; j++)
		env[k++] = extra[j];
	return env;
}

/* Keeps the last `cap` bytes of a stream in *buf. */
static int capture(char **buf, size_t *len, size_t *dropped, size_t cap, const char *data, size_t n)
{
	if (!*buf && !(*buf = malloc(cap + 1)))
		return MD_E_NOMEM;
	if (n >= cap) {
		*dropped += *len + (n - cap);
		memcpy(*buf, data + (n - cap), cap);
		*len = cap;
	} else {
		if (*len + n > cap) {
			size_t cut = *len + n - cap;
			memmove(*buf, *buf + cut, *len - cut);
			*len -= cut;
			*dropped += cut;
		}
		memcpy(*buf + *len, data, n);
		*len += n;
	}
	(*buf)[*len] = '\0';
	return 0;
}

/* In the child: async-signal-safe calls only. */
static void __attribute__((noreturn))
exec_child(const char *path, char *const *argv, char **env, int in, int out, int errfd, int report, pid_t parent)
{
	sigset_t none;
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	int sigs[] = {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGQUIT, SIGUSR1, SIGUSR2};

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127); /* the daemon died between fork and prctl */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (size_t i = 0; i < MD_ARRAY_SIZE(sigs); i++)
		sigaction(sigs[i], &dfl, NULL);
	/* Move our fds out of the way of 0..3 first, then into place. */
	int fds[4] = {in, out, errfd, report};
	for (int i = 0; i < 4; i++)
		if (fds[i] < 4) {
			int moved = fcntl(fds[i], F_DUPFD, 10);
			if (moved < 0)
				goto fail;
			fds[i] = moved;
		}
	for (int i = 0; i < 4; i++)
		if (dup2(fds[i], i) < 0)
			goto fail;
	fcntl(3, F_SETFD, FD_CLOEXEC);
	close_range(4, ~0U, 0);
	execve(path, argv, env);
fail:;
	int e = errno;
	ssize_t w = write(3, &e, sizeof e);
	(void)w;
	_exit(127);
}

struct running {
	pid_t pid;
	bool reaped;
	int out_fd; /* captured stdout, or -1 */
	int err_fd; /* captured stderr, or -1 */
};

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Starts child i with stdin in_fd and stdout out_fd (-1: a capture pipe). */
static int start_one(struct md_child *c, char **env, int in_fd, int out_fd, struct running *rn, struct md_error *err)
{
	int errp[2], outp[2] = {-1, -1}, rep[2];
	pid_t parent = getpid();

	if (pipe2(errp, O_CLOEXEC) < 0)
		return md_error_set(err, MD_E_IO, "cannot create a pipe: %s", strerror(errno));
	if (out_fd < 0 && pipe2(outp, O_CLOEXEC) < 0) {
		close(errp[0]);
		close(errp[1]);
		return md_error_set(err, MD_E_IO, "cannot create a pipe: %s", strerror(errno));
	}
	if (pipe2(rep, O_CLOEXEC) < 0) {
		close(errp[0]);
		close(errp[1]);
		close_fd(&outp[0]);
		close_fd(&outp[1]);
		return md_error_set(err, MD_E_IO, "cannot create a pipe: %s", strerror(errno));
	}
	pid_t pid = fork();
	if (pid == 0)
		exec_child(c->path, c->argv, env, in_fd, out_fd >= 0 ? out_fd : outp[1], errp[1], rep[1], parent);
	close(errp[1]);
	close_fd(&outp[1]);
	close(rep[1]);
	if (pid < 0) {
		int e = errno;
		close(errp[0]);
		close_fd(&outp[0]);
		close(rep[0]);
		return md_error_set(err, MD_E_IO, "cannot start %s: %s", c->path, strerror(e));
	}
	int child_errno = 0;
	ssize_t got;
	while ((got = read(rep[0], &child_errno, sizeof child_errno)) < 0 && errno == EINTR)
		;
	close(rep[0]);
	rn->pid = pid;
	rn->out_fd = outp[0];
	rn->err_fd = errp[0];
	if (got == (ssize_t)sizeof child_errno) {
		waitpid(pid, NULL, 0);
		rn->reaped = true;
		close_fd(&rn->out_fd);
		close_fd(&rn->err_fd);
		return md_error_set(err, MD_E_CONFIG, "cannot run %s: %s", c->path, strerror(child_errno));
	}
	if (rn->out_fd >= 0)
		fcntl(rn->out_fd, F_SETFL, O_NONBLOCK);
	fcntl(rn->err_fd, F_SETFL, O_NONBLOCK);
	return 0;
}

static void signal_all(struct running *rn, size_t n, int sig)
{
	for (size_t i = 0; i < n; i++)
		if (rn[i].pid > 0 && !rn[i].reaped)
			kill(rn[i].pid, sig);
}

/* Reads what is there; returns false at end of file. */
static bool drain(int fd, char **buf, size_t *len, size_t *dropped, size_t cap)
{
	char chunk[8192];
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof chunk);
		if (r > 0) {
			capture(buf, len, dropped, cap, chunk, (size_t)r);
			continue;
		}
		if (r < 0 && (errno == EINTR))
			continue;
		return !(r == 0 || (r < 0 && errno != EAGAIN));
	}
}

/* The relay between the two programs of a pipeline (limits->relay_fail_text). */
struct relay {
	int in, out; /* first program's stdout (read), second's stdin (write); -1 when closed */
	char *buf;
	size_t len, off;
	const char *fail_text;
	bool fail_sent;
};

#define RELAY_BUF (256 * 1024)

/* Moves data one step; `first` is the first program (reaped or not). */
static void relay_step(struct relay *rl, struct running *first, const struct md_child *first_child)
{
	if (rl->out >= 0 && rl->off < rl->len) {
		ssize_t w = write(rl->out, rl->buf + rl->off, rl->len - rl->off);
		if (w > 0)
			rl->off += (size_t)w;
		else if (w < 0 && errno != EAGAIN && errno != EINTR) {
			close_fd(&rl->out); /* the second program is gone: nothing more to give it */
			close_fd(&rl->in);
		}
		if (rl->off == rl->len)
			rl->off = rl->len = 0;
	}
	if (rl->in >= 0 && rl->len == 0) {
		ssize_t r = read(rl->in, rl->buf, RELAY_BUF);
		if (r > 0)
			rl->len = (size_t)r;
		else if (r == 0 || (errno != EAGAIN && errno != EINTR))
			close_fd(&rl->in);
	}
	/* Input ended and delivered: once the first program's exit is known, say how it went. */
	if (rl->in < 0 && rl->len == 0 && rl->out >= 0 && first->reaped) {
		if (first_child->exit_code != 0 && !rl->fail_sent && rl->fail_text) {
			size_t n = strlen(rl->fail_text);
			if (n > RELAY_BUF)
				n = RELAY_BUF;
			memcpy(rl->buf, rl->fail_text, n);
			rl->len = n;
			rl->off = 0;
			rl->fail_sent = true;
			return;
		}
		close_fd(&rl->out);
	}
}

static void wait_all(struct md_child *children, struct running *rn, size_t n, const struct md_child_limits *lim,
		     size_t cap, struct relay *rl, bool *timed_out, bool *cancelled)
{
	double t0 = now_ms(), killed_at = 0;
	for (;;) {
		struct pollfd pfd[2 * MAX_CHILDREN + 2];
		size_t np = 0, alive = 0;
		for (size_t i = 0; i < n; i++) {
			if (rn[i].out_fd >= 0)
				pfd[np++] = (struct pollfd){.fd = rn[i].out_fd, .events = POLLIN};
			if (rn[i].err_fd >= 0)
				pfd[np++] = (struct pollfd){.fd = rn[i].err_fd, .events = POLLIN};
			alive += !rn[i].reaped;
		}
		if (rl && rl->out >= 0 && rl->off < rl->len)
			pfd[np++] = (struct pollfd){.fd = rl->out, .events = POLLOUT};
		else if (rl && rl->in >= 0)
			pfd[np++] = (struct pollfd){.fd = rl->in, .events = POLLIN};
		if (!alive && !np)
			return;
		if (np) {
			poll(pfd, np, 100);
		} else {
			struct timespec ts = {0, 20 * 1000000L};
			nanosleep(&ts, NULL);
		}
		if (rl)
			relay_step(rl, &rn[0], &children[0]);
		for (size_t i = 0; i < n; i++) {
			struct md_child *c = &children[i];
			if (rn[i].out_fd >= 0 && !drain(rn[i].out_fd, &c->out, &c->out_len, &c->out_dropped, cap))
				close_fd(&rn[i].out_fd);
			if (rn[i].err_fd >= 0 && !drain(rn[i].err_fd, &c->err, &c->err_len, &c->err_dropped, cap))
				close_fd(&rn[i].err_fd);
			int status;
			if (!rn[i].reaped && waitpid(rn[i].pid, &status, WNOHANG) == rn[i].pid) {
				rn[i].reaped = true;
				if (WIFEXITED(status)) {
					c->exit_code = WEXITSTATUS(status);
				} else {
					c->exit_code = -1;
					c->term_signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
				}
			}
		}
		bool all_reaped = true;
		for (size_t i = 0; i < n; i++)
			all_reaped = all_reaped && rn[i].reaped;
		if (all_reaped) {
			/* What a grandchild still holds open is not ours to wait for. */
			for (size_t i = 0; i < n; i++) {
				close_fd(&rn[i].out_fd);
				close_fd(&rn[i].err_fd);
			}
			if (rl) {
				close_fd(&rl->in);
				close_fd(&rl->out);
			}
			return;
		}
		double now = now_ms();
		if (!killed_at) {
			bool want_cancel = lim && lim->cancel && *lim->cancel;
			bool want_timeout = lim && lim->timeout_ms > 0 && now - t0 >= lim->timeout_ms;
			if (want_cancel || want_timeout) {
				*cancelled = want_cancel;
				*timed_out = !want_cancel;
				signal_all(rn, n, SIGTERM);
				killed_at = now;
			}
		} else if (now - killed_at >= KILL_GRACE_MS) {
			signal_all(rn, n, SIGKILL);
			killed_at = now + 1e12; /* once */
		}
	}
}

int md_child_run(struct md_child *children, size_t n, const struct md_child_limits *limits, bool *ret_timed_out,
		 bool *ret_cancelled, struct md_error *err)
{
	struct running rn[MAX_CHILDREN];
	size_t cap = limits && limits->capture_bytes ? limits->capture_bytes : 16 * 1024;
	bool timed_out = false, cancelled = false;
	bool relayed = limits && limits->relay_fail_text && n == 2;
	struct relay rl = {.in = -1, .out = -1};
	int r = 0, in_fd = -1, last_out = -1;
	size_t started = 0;
	struct sigaction ign = {.sa_handler = SIG_IGN}, old_pipe;

	if (n == 0 || n > MAX_CHILDREN)
		return md_error_set(err, MD_E_INTERNAL, "a pipeline of %zu programs", n);
	for (size_t i = 0; i < n; i++) {
		struct md_child *c = &children[i];
		c->exit_code = -1;
		c->term_signal = 0;
		if (md_child_which(c->argv[0], c->path, sizeof c->path) < 0)
			return md_error_set(err, MD_E_CONFIG, "%s not found%s", c->argv[0],
					    strchr(c->argv[0], '/') ? " (or not executable)" : " on PATH");
		rn[i] = (struct running){.pid = -1, .out_fd = -1, .err_fd = -1};
	}
	if (relayed && !(rl.buf = malloc(RELAY_BUF)))
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	rl.fail_text = relayed ? limits->relay_fail_text : NULL;
	/* A write to a program that died must be an error here, not the end of the process. */
	sigaction(SIGPIPE, &ign, &old_pipe);
	if (old_pipe.sa_handler != SIG_DFL)
		sigaction(SIGPIPE, &old_pipe, NULL);
	_cleanup_free_ char **env = NULL;
	const char *in_path = children[0].stdin_path ? children[0].stdin_path : "/dev/null";
	in_fd = open(in_path, O_RDONLY | O_CLOEXEC);
	if (in_fd < 0) {
		free(rl.buf);
		return md_error_set(err, MD_E_IO, "cannot open %s: %s", in_path, strerror(errno));
	}
	if (children[n - 1].stdout_path) {
		last_out = open(children[n - 1].stdout_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (last_out < 0) {
			r = md_error_set(err, MD_E_IO, "cannot create %s: %s", children[n - 1].stdout_path,
					 strerror(errno));
			close(in_fd);
			free(rl.buf);
			return r;
		}
	}
	for (size_t i = 0; i < n && r == 0; i++) {
		int link[2] = {-1, -1}, out = -1, next_in = -1;
		free(env);
		env = build_env(children[i].env);
		if (!env) {
			r = md_error_set(err, MD_E_NOMEM, "out of memory");
			break;
		}
		if (i + 1 < n) {
			if (pipe2(link, O_CLOEXEC) < 0) {
				r = md_error_set(err, MD_E_IO, "cannot create a pipe: %s", strerror(errno));
				break;
			}
			out = link[1];
			next_in = link[0];
			if (relayed) {
				/* first -> link -> us -> link2 -> second */
				int link2[2];
				if (pipe2(link2, O_CLOEXEC) < 0) {
					close(link[0]);
					close(link[1]);
					r = md_error_set(err, MD_E_IO, "cannot create a pipe: %s", strerror(errno));
					break;
				}
				rl.in = link[0];
				rl.out = link2[1];
				fcntl(rl.in, F_SETFL, O_NONBLOCK);
				fcntl(rl.out, F_SETFL, O_NONBLOCK);
				next_in = link2[0];
			}
		} else {
			out = last_out;
		}
		r = start_one(&children[i], env, in_fd, out, &rn[i], err);
		started = i + 1;
		close(in_fd);
		in_fd = next_in;
		if (link[1] >= 0)
			close(link[1]);
	}
	if (in_fd >= 0)
		close(in_fd);
	if (last_out >= 0)
		close(last_out);
	if (r < 0)
		signal_all(rn, started, SIGTERM); /* a later program could not start */
	wait_all(children, rn, started, limits, cap, relayed ? &rl : NULL, &timed_out, &cancelled);
	close_fd(&rl.in);
	close_fd(&rl.out);
	free(rl.buf);
	if (ret_timed_out)
		*ret_timed_out = timed_out;
	if (ret_cancelled)
		*ret_cancelled = cancelled;
	return r;
}

void md_child_clear(struct md_child *c)
{
	if (!c)
		return;
	free(c->out);
	free(c->err);
	c->out = c->err = NULL;
	c->out_len = c->err_len = c->out_dropped = c->err_dropped = 0;
}

/* ---- splitting a command line ---- */

void md_argv_free(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

int md_argv_split(const char *line, char ***ret, struct md_error *err)
{
	size_t cap = 8, n = 0, len = strlen(line);
	char **argv = calloc(cap, sizeof *argv);
	char *word = malloc(len + 1);
	const char *p = line;

	if (!argv || !word) {
		free(argv);
		free(word);
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	}
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		size_t w = 0;
		while (*p && *p != ' ' && *p != '\t') {
			if (*p == '\'') {
				const char *end = strchr(p + 1, '\'');
				if (!end)
					goto unterminated;
				memcpy(word + w, p + 1, (size_t)(end - p - 1));
				w += (size_t)(end - p - 1);
				p = end + 1;
			} else if (*p == '"') {
				p++;
				while (*p && *p != '"') {
					if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
						p++;
					word[w++] = *p++;
				}
				if (*p != '"')
					goto unterminated;
				p++;
			} else {
				if (*p == '\\' && p[1])
					p++;
				word[w++] = *p++;
			}
		}
		if (n + 2 > cap) {
			char **g = realloc(argv, (cap *= 2) * sizeof *g);
			if (!g)
				goto nomem;
			argv = g;
		}
		if (!(argv[n] = strndup(word, w)))
			goto nomem;
		argv[++n] = NULL;
	}
	free(word);
	if (n == 0) {
		md_argv_free(argv);
		return md_error_set(err, MD_E_CONFIG, "empty command");
	}
	*ret = argv;
	return 0;
unterminated:
	free(word);
	md_argv_free(argv);
	return md_error_set(err, MD_E_CONFIG, "unterminated quote in the command `%s`", line);
nomem:
	free(word);
	md_argv_free(argv);
	return md_error_set(err, MD_E_NOMEM, "out of memory");
}
