/* test_hostile.c - the HTTP API against clients that do not play by the rules, over raw
 * sockets (no HTTP library between the test and the daemon): the requests that once crashed
 * the daemon, then a seeded hostile client of more than 10,000 requests (odd methods, paths,
 * versions and headers; bad, duplicate, negative and huge Content-Length; chunked bodies;
 * pipelining; keep-alive reuse; truncated and slow requests; random bytes). Under the
 * ASan+UBSan build (scripts/test.sh runs every suite there too) any memory error or undefined
 * behaviour aborts the daemon, so "it is still alive and its log has no sanitizer report" is
 * the proof. Afterwards health answers and a real deploy works.
 * MD_HOSTILE_SEED=N replays one run; MD_HOSTILE_REQUESTS=N changes its size. */
#include "harness.h"
#include "suites.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int connect_to(int port)
{
	struct sockaddr_in a = {
		.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_msg(fd >= 0, "socket: %s", strerror(errno));
	ck_assert_msg(connect(fd, (struct sockaddr *)&a, sizeof a) == 0, "connect to the daemon: %s", strerror(errno));
	return fd;
}

/* Status codes of the responses in a received byte stream: every line that starts with
 * "HTTP/1." (bodies are JSON or text views, whose lines never start so). */
static int statuses(const char *buf, size_t len, int *codes, int max)
{
	int n = 0;
	for (size_t i = 0; i + 12 <= len; i++) {
		if ((i == 0 || buf[i - 1] == '\n') && memcmp(buf + i, "HTTP/1.", 7) == 0 && buf[i + 8] == ' ') {
			if (n < max)
				codes[n] = atoi(buf + i + 9);
			n++;
		}
	}
	return n;
}

/* One exchange on a fresh connection: send len bytes, read until the server closes or
 * wait_ms pass, close. Returns the bytes received (malloc'd, NUL-terminated). */
static char *exchange(int port, const char *req, size_t len, int wait_ms, size_t *ret_len)
{
	int fd = connect_to(port);
	size_t cap = 4096, got = 0;
	char *out = malloc(cap);
	long long end = now_ms() + wait_ms;
	ssize_t w = send(fd, req, len, MSG_NOSIGNAL);
	(void)w; /* the server may close before it read everything: that is an answer too */
	for (;;) {
		long long left = end - now_ms();
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		if (got + 1024 > cap)
			out = realloc(out, cap *= 2);
		ssize_t n = recv(fd, out + got, cap - got - 1, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	out[got] = '\0';
	*ret_len = got;
	return out;
}

static bool alive(const struct h_daemon *d)
{
	int st;
	return waitpid(d->pid, &st, WNOHANG) == 0 && kill(d->pid, 0) == 0;
}

static void assert_no_sanitizer_report(const struct h_daemon *d)
{
	char *log = h_daemon_log(d);
	ck_assert_msg(log, "no daemon log");
	h_assert_not_contains(log, "runtime error");
	h_assert_not_contains(log, "AddressSanitizer");
	h_assert_not_contains(log, "LeakSanitizer");
	free(log);
}

static void assert_health_ok(const struct h_daemon *d)
{
	struct h_http r;
	h_request(&r, d, "GET", "/v1/health", NULL, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	h_http_free(&r);
}

ITEST(requests_that_once_crashed_the_daemon_are_refused_and_it_lives)
{
	struct h_daemon d = {0};
	const char *db = h_fresh_db();
	h_daemon_start(&d, db, h_migrations_dir(), NULL);

	/* The report: invalid UTF-8 in the path of an unknown route, a body, read then closed. Its
	 * 404 message quoted the path; jansson refused the string, no refusal was queued, and the
	 * next call ran the handler of a NULL route. */
	static const char crash[] = "DELETE /v1/jobs/%ff%fe HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
				    "Content-Length: 18\r\n\r\n{\"dry_run\": \"yes\"}";
	static const char nul_method[] = "G\0ET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n";
	struct {
		const char *what;
		const char *bytes;
		size_t len;
		int want; /* the first status expected, 0: any 4xx */
	} cases[] = {
		{"invalid UTF-8 in an unknown path", crash, sizeof crash - 1, 404},
		{"invalid UTF-8 in a known path, wrong method", "BREW /v1/jobs/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n", 0,
		 0},
		{"a multibyte character cut by the message's length limit", NULL, 0, 404},
		{"odd method", "BREW /v1/status HTTP/1.1\r\nHost: x\r\n\r\n", 0, 405},
		{"NUL in the method", nul_method, sizeof nul_method - 1, 0},
		{"dot-dot path", "GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", 0, 404},
		{"dot-dot inside the API", "GET /v1/jobs/../../v1/status HTTP/1.1\r\nHost: x\r\n\r\n", 0, 0},
		{"body pipelined after Content-Length: 0",
		 "POST /v1/deploy HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n{\"dry_run\": \"yes\"}\r\n\r\n", 0,
		 401},
		{"invalid UTF-8 in a query string", "GET /v1/jobs?limit=%ff%fe&pretty=%c3 HTTP/1.1\r\nHost: x\r\n\r\n",
		 0, 0},
	};
	/* A 401-byte path of two-byte characters: "%.300s" in the 404 message cuts one in half. */
	char cut[1200];
	int k = snprintf(cut, sizeof cut, "GET /");
	for (int i = 0; i < 200; i++)
		k += snprintf(cut + k, sizeof cut - (size_t)k, "\xc3\xa9");
	snprintf(cut + k, sizeof cut - (size_t)k, " HTTP/1.1\r\nHost: x\r\n\r\n");
	cases[2].bytes = cut;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].bytes), got;
		for (int round = 0; round < 3; round++) { /* the crash needed the connection's later calls */
			char *out = exchange(d.port, cases[i].bytes, len, 3000, &got);
			int codes[8];
			int n = statuses(out, got, codes, 8);
			ck_assert_msg(alive(&d), "%s: the daemon died", cases[i].what);
			if (n > 0) {
				ck_assert_msg(codes[0] >= 400 && codes[0] < 500, "%s: status %d:\n%s", cases[i].what,
					      codes[0], out);
				if (cases[i].want)
					ck_assert_msg(codes[0] == cases[i].want, "%s: status %d, want %d:\n%s",
						      cases[i].what, codes[0], cases[i].want, out);
				/* The answer is JSON in the one error shape, with the bytes made printable. */
				const char *body = strstr(out, "\r\n\r\n");
				ck_assert_msg(body && strstr(body, "\"error\""), "%s: no error document:\n%s",
					      cases[i].what, out);
			} else {
				ck_assert_msg(cases[i].want == 0, "%s: no answer at all", cases[i].what);
			}
			free(out);
		}
	}
	ck_assert(alive(&d));
	assert_health_ok(&d);
	assert_no_sanitizer_report(&d);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
}

/* ---- the seeded hostile client ---- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* xorshift64*: reproducible from the seed, good enough to pick cases */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

static unsigned below(unsigned n)
{
	return (unsigned)(rnd() % n);
}

static bool chance(unsigned percent)
{
	return below(100) < percent;
}

struct buf {
	char *p;
	size_t len, cap;
};

static void put(struct buf *b, const void *data, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		while (b->len + n + 1 > b->cap)
			b->cap = b->cap ? b->cap * 2 : 256;
		b->p = realloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void puts_(struct buf *b, const char *s)
{
	put(b, s, strlen(s));
}

static void putf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct buf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	put(b, tmp, (size_t)(n < (int)sizeof tmp ? n : (int)sizeof tmp - 1));
}

static void put_repeat(struct buf *b, char c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		put(b, &c, 1);
}

static void put_random_bytes(struct buf *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = (char)below(256);
		put(b, &c, 1);
	}
}

static const char *const good_methods[] = {"GET", "POST", "HEAD", "DELETE", "PUT", "OPTIONS", "PATCH"};
static const char *const odd_methods[] = {"BREW",     "TRACE", "CONNECT",  "PROPFIND", "get",     "G ET",
					  "M-SEARCH", "PRI",   "\x01\x02", "GET\t",    "POST\xff"};
static const char *const paths[] = {
	"/v1/health",
	"/healthz",
	"/readyz",
	"/v1/status",
	"/v1/plan",
	"/v1/lint",
	"/v1/drift",
	"/v1/deploy",
	"/v1/resolve",
	"/v1/jobs",
	"/v1/jobs/does-not-exist",
	"/v1/jobs/does-not-exist/events",
	"/v1/jobs/does-not-exist/cancel",
	"/v1/rollback",
	"/v1/backups",
	"/metrics",
	"/",
	"*",
	"/v1/jobs/%ff%fe",
	"/v1/jobs/%00",
	"/v1/jobs/a%2fb",
	"/../../etc/passwd",
	"/v1/../v1/status",
	"//v1//status",
	"/v1/status/",
	"/v1/status?pretty",
	"/v1/status?pretty=0&pretty=1",
	"/v1/jobs?limit=-1",
	"/v1/jobs?limit=99999999999999999999",
	"/v1/jobs?limit=%ff",
	"/v1/health?live=%zz",
	"/v1/lint?pending=maybe",
	"http://127.0.0.1/v1/status",
	"/v1/jobs/\xc3\xa9\xe2\x82",
	"/v1/%",
	"/v1/status#frag",
};
static const char *const versions[] = {"HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/9.9", "", "HTTP/1.1x", "http/1.1"};

struct gen {
	struct buf b;
	bool clean;   /* well-formed: it must be answered */
	bool control; /* GET /v1/health, which must answer 200 */
};

/* Appends one request to g->b; g->clean says whether it is beyond doubt well-formed and
 * complete (a known method, an ordinary path, HTTP/1.1, a right Content-Length). */
static void gen_request(struct gen *g, bool want_clean)
{
	struct buf *b = &g->b;
	bool clean = true;
	const char *method;
	const char *path = paths[below(sizeof paths / sizeof paths[0])];

	if (want_clean) {
		method = "GET"; /* a request that is answered and keeps the connection: see below */
	} else if (chance(75)) {
		method = good_methods[below(sizeof good_methods / sizeof good_methods[0])];
	} else {
		method = odd_methods[below(sizeof odd_methods / sizeof odd_methods[0])];
		clean = false;
	}
	if (!want_clean && chance(2)) { /* a huge method */
		put_repeat(b, 'X', 1000 + below(9000));
		clean = false;
	} else {
		puts_(b, method);
	}
	puts_(b, " ");
	if (!want_clean && chance(3)) { /* a huge path */
		puts_(b, "/v1/");
		put_repeat(b, chance(50) ? 'a' : '\xe9', 2000 + below(120000));
		clean = false;
	} else if (!want_clean && chance(3)) { /* control bytes and spaces in the path */
		puts_(b, "/v1/st");
		put_random_bytes(b, 1 + below(8));
		clean = false;
	} else {
		/* Refusals (401, 404, ...) close the connection, so the well-formed requests of a
		 * keep-alive exchange are the open routes. */
		static const char *const open_routes[] = {"/v1/health", "/healthz", "/readyz"};
		puts_(b, want_clean ? open_routes[g->control ? 0 : below(3)] : path);
	}
	const char *version = "HTTP/1.1";
	if (!want_clean && chance(8)) {
		version = versions[below(sizeof versions / sizeof versions[0])];
		clean = clean && strcmp(version, "HTTP/1.1") == 0;
	}
	if (*version) {
		puts_(b, " ");
		puts_(b, version);
	}
	puts_(b, chance(3) && !want_clean ? "\n" : "\r\n");
	if (!want_clean && chance(70))
		puts_(b, "Host: 127.0.0.1\r\n");
	else if (want_clean)
		puts_(b, "Host: 127.0.0.1\r\n");

	/* The body and how its length is told. */
	struct buf body = {0};
	unsigned bk = want_clean ? 0 : below(10);
	switch (bk) {
	case 0:
	case 1:
	case 2: break; /* none */
	case 3: puts_(&body, "{\"dry_run\": \"yes\"}"); break;
	case 4: puts_(&body, "{}"); break;
	case 5: puts_(&body, "{\"to\": \"20240101000000_x\", \"migration\": 1, \"state\": [\"applied\"]}"); break;
	case 6: put_repeat(&body, '[', 2000 + below(20000)); break; /* deep nesting */
	case 7: put_random_bytes(&body, below(4096)); break;
	case 8: puts_(&body, "{\"a\": \"\xff\xfe\"}"); break;
	default: put_repeat(&body, ' ', below(70000)); break; /* beyond max_body sometimes */
	}
	if (!want_clean && chance(20)) { /* headers that try things */
		switch (below(14)) {
		case 0: puts_(b, "Authorization: Bearer " H_TOKEN_READ "\r\n"); break;
		case 1: puts_(b, "Authorization: Bearer not-a-token\r\n"); break;
		case 2:
			puts_(b, "Authorization: Bearer ");
			put_repeat(b, 'k', 5000 + below(60000));
			puts_(b, "\r\n");
			clean = false;
			break;
		case 3: puts_(b, "Authorization: Basic Zm9vOmJhcg==\r\n"); break;
		case 4: puts_(b, "Accept: text/plain\r\nUser-Agent: curl/8.0\r\n"); break;
		case 5:
			puts_(b, "Idempotency-Key: ");
			put_random_bytes(b, 1 + below(300));
			puts_(b, "\r\n");
			clean = false;
			break;
		case 6: puts_(b, "Last-Event-ID: -99999999999999999999\r\n"); break;
		case 7:
			for (unsigned i = 0, n = 50 + below(600); i < n; i++)
				putf(b, "X-H%u: %u\r\n", i, i);
			clean = false;
			break;
		case 8:
			puts_(b, "X-Huge: ");
			put_repeat(b, 'h', 30000 + below(70000));
			puts_(b, "\r\n");
			clean = false;
			break;
		case 9:
			puts_(b, "no colon here\r\n");
			clean = false;
			break;
		case 10:
			puts_(b, "X-Folded: a\r\n  b\r\n");
			clean = false;
			break;
		case 11: puts_(b, "Content-Type: text/plain\r\n"); break;
		case 12:
			puts_(b, "X-Nul: a");
			put(b, "\0", 1);
			puts_(b, "b\r\n");
			clean = false;
			break;
		default: puts_(b, "Expect: 100-continue\r\n"); break;
		}
	}
	if (body.len || (!want_clean && chance(10))) {
		if (!want_clean && chance(70))
			puts_(b, "Content-Type: application/json\r\n");
		unsigned lk = below(10);
		if (want_clean || lk < 5) {
			putf(b, "Content-Length: %zu\r\n\r\n", body.len);
			put(b, body.p ? body.p : "", body.len);
		} else if (lk == 5) { /* chunked, well or badly */
			puts_(b, "Transfer-Encoding: chunked\r\n\r\n");
			size_t off = 0;
			while (off < body.len) {
				size_t n = 1 + below(700);
				if (n > body.len - off)
					n = body.len - off;
				putf(b, chance(95) ? "%zx\r\n" : "%zx;ext=1\r\n", n);
				put(b, body.p + off, n);
				puts_(b, "\r\n");
				off += n;
			}
			puts_(b, chance(90) ? "0\r\n\r\n" : "zz\r\n\r\n");
			clean = false;
		} else {
			static const char *const bad[] = {"Content-Length: -1\r\n",
							  "Content-Length: 18446744073709551616\r\n",
							  "Content-Length: 99999999999\r\n",
							  "Content-Length: 2\r\nContent-Length: 3\r\n",
							  "Content-Length: abc\r\n",
							  "Content-Length:  1 2\r\n",
							  "Content-Length: 0\r\nTransfer-Encoding: chunked\r\n"};
			puts_(b, bad[below(sizeof bad / sizeof bad[0])]);
			puts_(b, "\r\n");
			put(b, body.p ? body.p : "", body.len);
			clean = false;
		}
	} else {
		puts_(b, "\r\n");
	}
	/* A random body of an invalid type makes a 415, still an answer: clean is only about form. */
	if (body.len > 65536)
		clean = false; /* beyond max_body: answered 413, and the connection may close early */
	free(body.p);
	/* Only the open routes keep a connection after answering: any other request may be refused,
	 * which closes it, so a connection is expected to answer everything only when every request
	 * on it was one of those. */
	g->clean = g->clean && want_clean && clean;
}

enum conn_kind { C_SINGLE, C_PIPELINED, C_KEEPALIVE, C_TRUNCATED, C_RANDOM, C_SLOW, C_CONTROL };

struct slot {
	int fd;
	enum conn_kind kind;
	struct buf out;        /* every request, back to back */
	size_t ends[8];        /* where each request ends in out */
	int nreq;              /* requests in out */
	bool clean;            /* all of them well-formed */
	size_t sent;           /* bytes sent */
	struct buf in;         /* bytes received */
	long long deadline_ms; /* give up then */
	long long next_send_ms;
};

struct tally {
	int requests, connections, answers, by_class[6], timeouts;
	char failure[600];
};

static void fill(struct slot *s, int port, struct tally *t)
{
	unsigned pick = below(100);
	struct gen g = {.clean = true};
	memset(s, 0, sizeof *s);
	s->kind = pick < 50   ? C_SINGLE
		  : pick < 64 ? C_PIPELINED
		  : pick < 78 ? C_KEEPALIVE
		  : pick < 86 ? C_TRUNCATED
		  : pick < 92 ? C_RANDOM
		  : pick < 93 ? C_SLOW
			      : C_CONTROL;
	g.control = s->kind == C_CONTROL;
	int n = s->kind == C_PIPELINED || s->kind == C_KEEPALIVE ? 2 + (int)below(6) : 1;
	for (int i = 0; i < n; i++) {
		if (s->kind == C_RANDOM) {
			put_random_bytes(&g.b, 1 + below(3000));
			if (chance(50))
				puts_(&g.b, "\r\n\r\n");
			g.clean = false;
		} else {
			gen_request(&g, s->kind == C_CONTROL || (s->kind == C_KEEPALIVE && chance(50)));
		}
		s->ends[i] = g.b.len;
	}
	s->nreq = n;
	s->out = g.b;
	s->clean = g.clean && s->kind != C_RANDOM;
	if (s->kind == C_TRUNCATED) { /* cut anywhere; the client then waits, or goes */
		s->out.len = s->out.len ? below((unsigned)s->out.len) : 0;
		s->ends[0] = s->out.len;
		s->clean = false;
	}
	s->fd = connect_to(port);
	long long now = now_ms();
	s->deadline_ms = now + (s->clean ? 15000 : s->kind == C_SLOW ? 4000 : 800);
	t->requests += n;
	t->connections++;
}

/* Checks what a finished connection got; returns false (with t->failure) on a wrong answer. */
static bool judge(struct slot *s, struct tally *t, bool timed_out)
{
	int codes[64];
	int n = statuses(s->in.p ? s->in.p : "", s->in.len, codes, 64);
	t->answers += n;
	for (int i = 0; i < n && i < 64; i++) {
		int c = codes[i] / 100;
		if (c >= 0 && c < 6)
			t->by_class[c]++;
		/* 503: a route that needs the database may say it is busy; 505: libmicrohttpd's own
		 * answer to HTTP/2.0 or HTTP/9.9 on a request line. Any other 5xx is a bug. */
		if (codes[i] >= 500 && codes[i] != 503 && codes[i] != 505) {
			snprintf(t->failure, sizeof t->failure, "status %d to a request beginning: %.200s", codes[i],
				 s->out.p ? s->out.p : "");
			return false;
		}
	}
	if (timed_out)
		t->timeouts++;
	if (s->clean && s->kind != C_PIPELINED && n < s->nreq) {
		snprintf(t->failure, sizeof t->failure, "a well-formed request got %d of %d answers%s: %.200s", n,
			 s->nreq, timed_out ? " (timed out)" : "", s->out.p ? s->out.p : "");
		return false;
	}
	if (s->kind == C_CONTROL && (n < 1 || codes[0] != 200)) {
		snprintf(t->failure, sizeof t->failure, "GET /v1/health during the storm: %d", n ? codes[0] : 0);
		return false;
	}
	return true;
}

static void release(struct slot *s)
{
	if (s->fd >= 0)
		close(s->fd);
	free(s->out.p);
	free(s->in.p);
	s->fd = -1;
	s->out.p = s->in.p = NULL;
}

/* Runs `total` requests through `width` connections at once; returns false on the first
 * wrong answer or a dead daemon. */
static bool storm(const struct h_daemon *d, int total, int width, struct tally *t)
{
	struct slot slots[32];
	struct pollfd pfd[32];
	int live = 0;
	for (int i = 0; i < width; i++)
		slots[i].fd = -1;
	for (;;) {
		for (int i = 0; i < width; i++)
			if (slots[i].fd < 0 && t->requests < total) {
				fill(&slots[i], d->port, t);
				live++;
			}
		if (live == 0)
			return true;
		long long now = now_ms();
		for (int i = 0; i < width; i++) {
			struct slot *s = &slots[i];
			pfd[i].fd = s->fd;
			pfd[i].events = POLLIN;
			if (s->fd < 0)
				continue;
			/* What may be sent now: keep-alive waits for each answer, slow sends a few bytes
			 * every 20 ms, the others everything at once. */
			size_t limit = s->out.len;
			if (s->kind == C_KEEPALIVE) {
				int got = statuses(s->in.p ? s->in.p : "", s->in.len, (int[1]){0}, 1);
				limit = s->ends[got < s->nreq ? got : s->nreq - 1];
			} else if (s->kind == C_SLOW) {
				limit = now >= s->next_send_ms ? s->sent + 1 + below(3) : s->sent;
				if (limit > s->out.len)
					limit = s->out.len;
			}
			if (s->sent < limit) {
				ssize_t w =
					send(s->fd, s->out.p + s->sent, limit - s->sent, MSG_NOSIGNAL | MSG_DONTWAIT);
				if (w > 0)
					s->sent += (size_t)w;
				s->next_send_ms = now + 20;
			}
		}
		int ready = poll(pfd, (nfds_t)width, 10);
		if (ready < 0 && errno != EINTR)
			return false;
		now = now_ms();
		for (int i = 0; i < width; i++) {
			struct slot *s = &slots[i];
			if (s->fd < 0)
				continue;
			bool done = false, timed_out = false;
			if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) {
				char chunk[16384];
				ssize_t n = recv(s->fd, chunk, sizeof chunk, MSG_DONTWAIT);
				if (n > 0)
					put(&s->in, chunk, (size_t)n);
				else if (n == 0 || (errno != EAGAIN && errno != EINTR))
					done = true;
			}
			int got = statuses(s->in.p ? s->in.p : "", s->in.len, (int[1]){0}, 1);
			/* Answers are counted when their headers are in; give a last body a moment. */
			if (!done && s->sent == s->out.len && got >= s->nreq && s->kind != C_TRUNCATED) {
				const char *last =
					s->in.p ? strstr(s->in.p + s->in.len - (s->in.len > 2 ? 2 : s->in.len), "\n")
						: NULL;
				done = last != NULL;
			}
			if (!done && now >= s->deadline_ms)
				done = timed_out = true;
			if (!done)
				continue;
			bool ok = judge(s, t, timed_out);
			release(s);
			live--;
			if (!ok || !alive(d)) {
				for (int j = 0; j < width; j++)
					release(&slots[j]);
				if (ok)
					snprintf(t->failure, sizeof t->failure, "the daemon died (after %d requests)",
						 t->requests);
				return false;
			}
		}
	}
}

ITEST(ten_thousand_hostile_requests_never_crash_or_500_and_a_deploy_works_after)
{
	struct h_daemon d = {0};
	const char *db = h_fresh_db();
	const char *seed_env = getenv("MD_HOSTILE_SEED");
	const char *count_env = getenv("MD_HOSTILE_REQUESTS");
	uint64_t seed = seed_env && *seed_env ? strtoull(seed_env, NULL, 10) : (uint64_t)time(NULL);
	int total = count_env && *count_env ? atoi(count_env) : 10500;
	struct tally t = {0};

	rng_state = seed ? seed : 1;
	/* The default limits, as shipped: 256 connections, 128 per address, max_body 64 KiB. */
	h_daemon_start(&d, db, h_migrations_dir(), NULL);
	long long t0 = now_ms();
	bool ok = storm(&d, total, 24, &t);
	fprintf(stderr,
		"hostile: seed %llu: %d requests on %d connections in %lld ms: %d answers "
		"(%d 2xx, %d 3xx, %d 4xx, %d 5xx), %d connections given up\n",
		(unsigned long long)seed, t.requests, t.connections, now_ms() - t0, t.answers, t.by_class[2],
		t.by_class[3], t.by_class[4], t.by_class[5], t.timeouts);
	ck_assert_msg(ok, "seed %llu (MD_HOSTILE_SEED=%llu replays it): %s", (unsigned long long)seed,
		      (unsigned long long)seed, t.failure);
	ck_assert_int_ge(t.requests, 10000);
	ck_assert_msg(t.by_class[4] > t.requests / 4, "most hostile requests should be refused with a 4xx");
	ck_assert(alive(&d));
	assert_no_sanitizer_report(&d);

	/* It still does its job: health, then a real deploy. */
	assert_health_ok(&d);
	h_mig(h_migrations_dir(), "20240101000000_after_the_storm", "CREATE TABLE after_storm (id int);");
	char *id = h_post_deploy(&d, "{}");
	json_t *job = h_wait_job(&d, id, 60);
	ck_assert_str_eq(h_jstr(job, "state"), "succeeded");
	h_assert_q(db, "SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NOT NULL", "1");
	h_assert_q(db, "SELECT to_regclass('after_storm') IS NOT NULL", "t");
	json_decref(job);
	free(id);
	assert_no_sanitizer_report(&d);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
}

Suite *suite_hostile(void)
{
	Suite *s = suite_create("hostile");
	TCase *tc = tcase_create("hostile");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, requests_that_once_crashed_the_daemon_are_refused_and_it_lives);
	tcase_add_test(tc, ten_thousand_hostile_requests_never_crash_or_500_and_a_deploy_works_after);
	suite_add_tcase(s, tc);
	return s;
}
