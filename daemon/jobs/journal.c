/* journal.c - the append-only JSON-lines journal (see journal.h). Writes are serialised by a
 * mutex; each line goes out in one write() and is made durable with fdatasync() before
 * md_journal_append (or md_journal_sync) returns. Syncs are shared: one fdatasync covers every
 * line written before it started, so writers waiting at once (a fleet deploy's target jobs)
 * pay for one sync between them (group commit). */
#include "migrated/journal.h"
#include "migrated/error.h"
#include "migrated/macro.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct md_journal {
	char *path;
	int fd;
	uint64_t size;
	uint64_t next_seq;
	pthread_mutex_t lock;      /* fd, size, next_seq, truncations */
	pthread_mutex_t sync_lock; /* one fdatasync at a time; synced */
	uint64_t synced;           /* bytes known durable */
	uint64_t truncations;      /* lines dropped after a failed sync (their writers fail) */
	uint64_t cut_at[16];       /* where truncation number k cut the file (k % 16): never below synced */
	bool broken;               /* a cut failed: the file no longer matches what writers were told */
};

int md_journal_parse_line(const char *line, size_t len, json_t **ret, struct md_error *err)
{
	json_error_t je;
	json_t *rec, *v, *seq, *type;

	if (len == 0)
		return md_error_set(err, MD_E_IO, "empty line");
	if (len > MD_JOURNAL_MAX_LINE)
		return md_error_set(err, MD_E_IO, "line longer than %d bytes", MD_JOURNAL_MAX_LINE);
	rec = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
	if (!rec)
		return md_error_set(err, MD_E_IO, "not JSON (%s at column %d)", je.text, je.column);
	if (!json_is_object(rec)) {
		json_decref(rec);
		return md_error_set(err, MD_E_IO, "not a JSON object");
	}
	v = json_object_get(rec, "v");
	seq = json_object_get(rec, "seq");
	type = json_object_get(rec, "type");
	if (!json_is_integer(v) || json_integer_value(v) != MD_JOURNAL_VERSION) {
		json_decref(rec);
		return md_error_set(err, MD_E_IO, "no record version %d (\"v\")", MD_JOURNAL_VERSION);
	}
	if (!json_is_integer(seq) || json_integer_value(seq) <= 0) {
		json_decref(rec);
		return md_error_set(err, MD_E_IO, "no positive \"seq\"");
	}
	if (!json_is_string(type)) {
		json_decref(rec);
		return md_error_set(err, MD_E_IO, "no \"type\"");
	}
	*ret = rec;
	return 0;
}

static char *read_all(int fd, uint64_t *ret_len, struct md_error *err)
{
	struct stat st;
	char *buf;
	size_t got = 0;

	if (fstat(fd, &st) < 0) {
		md_error_set(err, MD_E_IO, "cannot stat the journal: %s", strerror(errno));
		return NULL;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		md_error_set(err, MD_E_NOMEM, "out of memory reading the journal (%lld bytes)", (long long)st.st_size);
		return NULL;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = pread(fd, buf + got, (size_t)st.st_size - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(buf);
			md_error_set(err, MD_E_IO, "cannot read the journal: %s",
				     n < 0 ? strerror(errno) : "short read");
			return NULL;
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	*ret_len = got;
	return buf;
}

/* Walks buf[from, to) line by line. Returns 0, or the error of a damaged line with
 * *ret_bad_offset set; a damaged (or unterminated) final line is reported through
 * *ret_torn instead. */
struct scan {
	md_journal_record_fn fn;
	void *ctx;
	uint64_t last_seq;
	size_t records;
	bool torn;
	uint64_t torn_offset;
	uint64_t bad_offset;
	size_t bad_line;
};

/* buf holds the file's bytes [base, base + to); offsets reported are file offsets. */
static int scan_lines(const char *buf, uint64_t base, uint64_t to, struct scan *sc, struct md_error *err)
{
	uint64_t off = 0;
	size_t line_no = 0;

	while (off < to) {
		const char *p = buf + off, *nl = memchr(p, '\n', to - off);
		size_t len = nl ? (size_t)(nl - p) : (size_t)(to - off);
		json_t *rec = NULL;
		struct md_error perr = {0};
		int r;

		line_no++;
		r = md_journal_parse_line(p, len, &rec, &perr);
		if (r == 0) {
			uint64_t seq = (uint64_t)json_integer_value(json_object_get(rec, "seq"));
			if (seq <= sc->last_seq) {
				json_decref(rec);
				rec = NULL;
				r = md_error_set(&perr, MD_E_IO, "seq %llu does not follow %llu",
						 (unsigned long long)seq, (unsigned long long)sc->last_seq);
			} else {
				sc->last_seq = seq;
			}
		}
		if (r < 0 || !nl) {
			json_decref(rec);
			if (!nl || off + len + 1 >= to) {
				/* The last line: a write that did not finish. */
				sc->torn = true;
				sc->torn_offset = base + off;
				return 0;
			}
			sc->bad_offset = base + off;
			sc->bad_line = line_no;
			return md_error_set(err, MD_E_IO, "line %zu (byte offset %llu): %s", line_no,
					    (unsigned long long)(base + off), perr.message);
		}
		sc->records++;
		if (sc->fn) {
			r = sc->fn(sc->ctx, rec, base + off, err);
			if (r < 0) {
				json_decref(rec);
				return r;
			}
		}
		json_decref(rec);
		off += len + 1;
	}
	return 0;
}

static int fsync_dir_of(const char *path)
{
	char *copy = strdup(path);
	int fd, r = 0;
	if (!copy)
		return -ENOMEM;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		if (fsync(fd) < 0)
			r = -errno;
		close(fd);
	}
	free(copy);
	return r;
}

int md_journal_open(const char *path, md_journal_record_fn fn, void *ctx, struct md_journal **ret,
		    struct md_journal_stats *stats, struct md_error *err)
{
	struct md_journal *j;
	struct scan sc = {.fn = fn, .ctx = ctx};
	uint64_t len = 0;
	char *buf;
	int r;

	if (stats)
		memset(stats, 0, sizeof *stats);
	j = calloc(1, sizeof *j);
	if (!j || !(j->path = strdup(path))) {
		free(j);
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	}
	pthread_mutex_init(&j->lock, NULL);
	pthread_mutex_init(&j->sync_lock, NULL);
	j->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (j->fd < 0) {
		r = md_error_set(err, MD_E_IO, "cannot open the journal %s: %s", path, strerror(errno));
		goto fail;
	}
	if (flock(j->fd, LOCK_EX | LOCK_NB) < 0) {
		md_error_hint(err, "run one daemon per state directory (--state-dir)");
		r = md_error_set(err, MD_E_CONFIG, "the journal %s is in use by another migrated process", path);
		goto fail;
	}
	buf = read_all(j->fd, &len, err);
	if (!buf) {
		r = err->code;
		goto fail;
	}
	r = scan_lines(buf, 0, len, &sc, err);
	free(buf);
	if (r < 0) {
		if (sc.bad_line) {
			md_error_hint(err,
				      "nothing was changed. Inspect it with `migrated journal check --state-dir DIR`; "
				      "`migrated journal repair` keeps every valid record and saves the damaged file "
				      "beside it");
			md_error_prefix(err, MD_E_IO, "the journal %s is damaged before its end, at ", path);
		}
		goto fail;
	}
	if (sc.torn) {
		if (ftruncate(j->fd, (off_t)sc.torn_offset) < 0 || fdatasync(j->fd) < 0) {
			r = md_error_set(err, MD_E_IO, "cannot cut the torn end of the journal %s: %s", path,
					 strerror(errno));
			goto fail;
		}
		if (stats) {
			stats->cut_torn_tail = true;
			stats->cut_bytes = len - sc.torn_offset;
		}
		len = sc.torn_offset;
	}
	j->size = j->synced = len;
	j->next_seq = sc.last_seq + 1;
	if (stats) {
		stats->records = sc.records;
		stats->bytes = len;
		stats->last_seq = sc.last_seq;
	}
	*ret = j;
	return 0;
fail:
	if (j->fd >= 0)
		close(j->fd);
	pthread_mutex_destroy(&j->lock);
	pthread_mutex_destroy(&j->sync_lock);
	free(j->path);
	free(j);
	return r;
}

static void stamp(json_t *rec, uint64_t seq)
{
	struct timespec ts;
	struct tm tm;
	char when[64], date[24];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when, sizeof when, "%.19s.%06ldZ", date, (long)(ts.tv_nsec / 1000) % 1000000);
	json_object_set_new(rec, "v", json_integer(MD_JOURNAL_VERSION));
	json_object_set_new(rec, "seq", json_integer((json_int_t)seq));
	json_object_set_new(rec, "ts", json_string(when));
}

int md_journal_write(struct md_journal *j, json_t *record, uint64_t *ret_seq, struct md_journal_mark *ret_mark,
		     struct md_error *err)
{
	char *line;
	size_t len, done = 0;
	int r = 0;

	pthread_mutex_lock(&j->lock);
	ret_mark->start = ret_mark->end = j->size;
	if (j->broken) {
		pthread_mutex_unlock(&j->lock);
		return md_error_set(err, MD_E_IO,
				    "the journal %s could not be cut back after a failed sync: restart the daemon "
				    "(the replay checks every line)",
				    j->path);
	}
	stamp(record, j->next_seq);
	line = json_dumps(record, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!line) {
		pthread_mutex_unlock(&j->lock);
		return md_error_set(err, MD_E_NOMEM, "out of memory writing the journal");
	}
	len = strlen(line);
	line[len++] = '\n'; /* json_dumps leaves room: it NUL-terminated at len */
	while (done < len) {
		ssize_t n = write(j->fd, line + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		done += (size_t)n;
	}
	if (r < 0) {
		/* Leave no partial line behind: the next write must start on a line boundary. */
		if (ftruncate(j->fd, (off_t)j->size) == 0)
			(void)fdatasync(j->fd);
		md_error_set(err, MD_E_IO, "cannot write the journal %s: %s", j->path, strerror(-r));
		ret_mark->start = ret_mark->end = j->size;
		r = MD_E_IO;
	} else {
		ret_mark->start = j->size;
		j->size += len;
		ret_mark->end = j->size;
		ret_mark->truncations = j->truncations;
		if (ret_seq)
			*ret_seq = j->next_seq;
		j->next_seq++;
	}
	pthread_mutex_unlock(&j->lock);
	free(line);
	return r;
}

int md_journal_sync(struct md_journal *j, const struct md_journal_mark *mark, struct md_error *err)
{
	int r = 0;
	pthread_mutex_lock(&j->sync_lock);
	pthread_mutex_lock(&j->lock);
	/* Cuts only go back to what was durable, and never lower than an earlier cut: the line is
	 * gone when the first cut after it was written fell below its end (or is too old to know). */
	uint64_t cuts = j->truncations - mark->truncations;
	bool lost = cuts > 0 && (cuts > 16 || j->cut_at[(mark->truncations + 1) % 16] < mark->end);
	uint64_t upto = j->size;
	pthread_mutex_unlock(&j->lock);
	if (lost) {
		r = md_error_set(err, MD_E_IO,
				 "cannot write the journal %s: a sync failed before this record was durable", j->path);
	} else if (j->synced < mark->end) {
		if (fdatasync(j->fd) == 0) {
			j->synced = upto;
		} else {
			int e = errno;
			/* What was not made durable goes, with every writer still waiting for it. */
			pthread_mutex_lock(&j->lock);
			if (ftruncate(j->fd, (off_t)j->synced) == 0)
				(void)fdatasync(j->fd);
			else
				j->broken = true;
			j->size = j->synced;
			j->truncations++;
			j->cut_at[j->truncations % 16] = j->synced;
			pthread_mutex_unlock(&j->lock);
			r = md_error_set(err, MD_E_IO, "cannot write the journal %s: %s", j->path, strerror(e));
		}
	}
	pthread_mutex_unlock(&j->sync_lock);
	return r;
}

int md_journal_append(struct md_journal *j, json_t *record, uint64_t *ret_seq, struct md_error *err)
{
	struct md_journal_mark mark;
	int r = md_journal_write(j, record, ret_seq, &mark, err);
	return r < 0 ? r : md_journal_sync(j, &mark, err);
}

struct compact_ctx {
	bool (*keep)(void *ctx, const json_t *record);
	void *ctx;
	FILE *out;
	int werr;
};

static int compact_one(void *ctx, json_t *record, uint64_t offset, struct md_error *err)
{
	struct compact_ctx *c = ctx;
	(void)offset;
	(void)err;
	if (!c->keep(c->ctx, record))
		return 0;
	if (json_dumpf(record, c->out, JSON_COMPACT | JSON_PRESERVE_ORDER) < 0 || fputc('\n', c->out) == EOF)
		c->werr = errno ? errno : EIO;
	return 0;
}

int md_journal_compact(struct md_journal *j, bool (*keep)(void *ctx, const json_t *record), void *ctx,
		       struct md_error *err)
{
	_cleanup_free_ char *tmp = NULL;
	struct compact_ctx c = {keep, ctx, NULL, 0};
	struct scan sc = {.fn = compact_one, .ctx = &c};
	uint64_t len;
	char *buf;
	int fd, r;

	if (asprintf(&tmp, "%s.compact", j->path) < 0) {
		tmp = NULL;
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	}
	pthread_mutex_lock(&j->sync_lock); /* no sync of the old file while it is replaced */
	pthread_mutex_lock(&j->lock);
	buf = read_all(j->fd, &len, err);
	if (!buf) {
		r = err->code;
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || !(c.out = fdopen(fd, "w"))) {
		if (fd >= 0)
			close(fd);
		free(buf);
		r = md_error_set(err, MD_E_IO, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	r = scan_lines(buf, 0, len, &sc, err);
	free(buf);
	if (r == 0) {
		/* A marker that carries the sequence on: after a restart seq never goes back, even
		 * when the newest records were the ones dropped. */
		json_t *marker = json_pack("{s:s, s:I}", "type", "compacted", "kept", (json_int_t)sc.records);
		stamp(marker, j->next_seq++);
		if (json_dumpf(marker, c.out, JSON_COMPACT | JSON_PRESERVE_ORDER) < 0 || fputc('\n', c.out) == EOF)
			c.werr = errno ? errno : EIO;
		json_decref(marker);
	}
	if (r == 0 && (c.werr || fflush(c.out) == EOF || fdatasync(fileno(c.out)) < 0))
		r = md_error_set(err, MD_E_IO, "cannot write %s: %s", tmp, strerror(c.werr ? c.werr : errno));
	fclose(c.out);
	if (r == 0 && rename(tmp, j->path) < 0)
		r = md_error_set(err, MD_E_IO, "cannot replace %s: %s", j->path, strerror(errno));
	if (r < 0) {
		unlink(tmp);
		goto out;
	}
	fsync_dir_of(j->path);
	/* The old descriptor (and its lock) now points at the replaced file: move to the new one. */
	fd = open(j->path, O_RDWR | O_APPEND | O_CLOEXEC);
	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (fd >= 0)
			close(fd);
		r = md_error_set(err, MD_E_IO, "cannot reopen the compacted journal %s: %s", j->path, strerror(errno));
		goto out;
	}
	close(j->fd);
	j->fd = fd;
	{
		struct stat st;
		j->size = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
		j->synced = j->size; /* written, fsynced and renamed above */
	}
out:
	pthread_mutex_unlock(&j->lock);
	pthread_mutex_unlock(&j->sync_lock);
	return r;
}

struct range_ctx {
	md_journal_record_fn fn;
	void *ctx;
	uint64_t to;
};

static int range_one(void *ctx, json_t *record, uint64_t offset, struct md_error *err)
{
	struct range_ctx *rc = ctx;
	return offset < rc->to ? rc->fn(rc->ctx, record, offset, err) : 0;
}

int md_journal_read_range(struct md_journal *j, uint64_t from, uint64_t to, md_journal_record_fn fn, void *ctx,
			  struct md_error *err)
{
	struct range_ctx rc = {fn, ctx, to};
	struct scan sc = {.fn = range_one, .ctx = &rc};
	uint64_t len, end;
	char *buf;
	int r = 0;

	pthread_mutex_lock(&j->lock);
	/* A line that starts before `to` is at most MD_JOURNAL_MAX_LINE long: read that far. */
	end = to + MD_JOURNAL_MAX_LINE + 1 < j->size ? to + MD_JOURNAL_MAX_LINE + 1 : j->size;
	len = end > from ? end - from : 0;
	buf = malloc(len + 1);
	if (!buf) {
		pthread_mutex_unlock(&j->lock);
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	}
	for (uint64_t got = 0; got < len;) {
		ssize_t n = pread(j->fd, buf + got, len - got, (off_t)(from + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = md_error_set(err, MD_E_IO, "cannot read the journal: %s",
					 n < 0 ? strerror(errno) : "short read");
			break;
		}
		got += (uint64_t)n;
	}
	pthread_mutex_unlock(&j->lock);
	if (r == 0)
		r = scan_lines(buf, from, len, &sc, err);
	free(buf);
	return r;
}

uint64_t md_journal_size(struct md_journal *j)
{
	pthread_mutex_lock(&j->lock);
	uint64_t s = j->size;
	pthread_mutex_unlock(&j->lock);
	return s;
}

const char *md_journal_path(const struct md_journal *j)
{
	return j->path;
}

void md_journal_close(struct md_journal *j)
{
	if (!j)
		return;
	close(j->fd);
	pthread_mutex_destroy(&j->lock);
	free(j->path);
	free(j);
}

/* ---- offline check and repair ---- */

static int file_into_memory(const char *path, char **ret, uint64_t *ret_len, struct md_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return md_error_set(err, MD_E_IO, "cannot open %s: %s", path, strerror(errno));
	*ret = read_all(fd, ret_len, err);
	close(fd);
	return *ret ? 0 : err->code;
}

int md_journal_check(const char *path, FILE *out, struct md_error *err)
{
	char *buf;
	uint64_t len, off = 0;
	size_t line_no = 0, good = 0, bad = 0;
	uint64_t last_seq = 0;
	int r = file_into_memory(path, &buf, &len, err);

	if (r < 0)
		return r;
	while (off < len) {
		const char *p = buf + off, *nl = memchr(p, '\n', len - off);
		size_t l = nl ? (size_t)(nl - p) : (size_t)(len - off);
		json_t *rec = NULL;
		struct md_error perr = {0};
		line_no++;
		if (md_journal_parse_line(p, l, &rec, &perr) == 0) {
			uint64_t seq = (uint64_t)json_integer_value(json_object_get(rec, "seq"));
			if (seq <= last_seq)
				md_error_set(&perr, MD_E_IO, "seq %llu does not follow %llu", (unsigned long long)seq,
					     (unsigned long long)last_seq);
			else
				last_seq = seq;
			json_decref(rec);
		}
		if (perr.code) {
			bad++;
			fprintf(out, "line %zu (byte offset %llu): %s%s\n", line_no, (unsigned long long)off,
				perr.message,
				nl ? "" : " (unterminated last line: a torn write the daemon cuts off at start)");
		} else if (!nl) {
			fprintf(out,
				"line %zu (byte offset %llu): unterminated last line (a torn write the daemon cuts off "
				"at start)\n",
				line_no, (unsigned long long)off);
		} else {
			good++;
		}
		off += l + 1;
	}
	free(buf);
	fprintf(out, "%s: %zu records, %zu damaged line%s, last seq %llu\n", path, good, bad, bad == 1 ? "" : "s",
		(unsigned long long)last_seq);
	if (bad)
		return md_error_set(err, MD_E_IO, "%zu damaged line%s in %s", bad, bad == 1 ? "" : "s", path);
	return 0;
}

int md_journal_repair(const char *path, FILE *out, struct md_error *err)
{
	char *buf, backup[4096], tmp[4096];
	uint64_t len, off = 0, last_seq = 0;
	size_t kept = 0, dropped = 0;
	FILE *f;
	int r = file_into_memory(path, &buf, &len, err);

	if (r < 0)
		return r;
	snprintf(backup, sizeof backup, "%s.damaged-%ld", path, (long)time(NULL));
	snprintf(tmp, sizeof tmp, "%s.repair", path);
	f = fopen(backup, "wx");
	if (!f || fwrite(buf, 1, len, f) != len || fflush(f) || fdatasync(fileno(f))) {
		if (f)
			fclose(f);
		free(buf);
		return md_error_set(err, MD_E_IO, "cannot save a copy of the journal as %s: %s", backup,
				    strerror(errno));
	}
	fclose(f);
	f = fopen(tmp, "w");
	if (!f) {
		free(buf);
		return md_error_set(err, MD_E_IO, "cannot write %s: %s", tmp, strerror(errno));
	}
	while (off < len) {
		const char *p = buf + off, *nl = memchr(p, '\n', len - off);
		size_t l = nl ? (size_t)(nl - p) : (size_t)(len - off);
		json_t *rec = NULL;
		if (nl && md_journal_parse_line(p, l, &rec, NULL) == 0 &&
		    (uint64_t)json_integer_value(json_object_get(rec, "seq")) > last_seq) {
			last_seq = (uint64_t)json_integer_value(json_object_get(rec, "seq"));
			fwrite(p, 1, l + 1, f);
			kept++;
		} else {
			dropped++;
		}
		json_decref(rec);
		off += l + 1;
	}
	free(buf);
	if (fflush(f) || fdatasync(fileno(f))) {
		fclose(f);
		unlink(tmp);
		return md_error_set(err, MD_E_IO, "cannot write %s: %s", tmp, strerror(errno));
	}
	fclose(f);
	if (rename(tmp, path) < 0) {
		unlink(tmp);
		return md_error_set(err, MD_E_IO, "cannot replace %s: %s", path, strerror(errno));
	}
	fsync_dir_of(path);
	fprintf(out, "%s: kept %zu records, dropped %zu damaged line%s; the original is saved as %s\n", path, kept,
		dropped, dropped == 1 ? "" : "s", backup);
	return 0;
}
