/* backup.c - taking, listing and pruning pg_dump backups (see backup.h). The archive is
 * written by pg_dump itself (-f: a seekable file, so pg_restore can reach any entry directly)
 * under a hidden temporary name; only a complete, synced archive is renamed into view, and
 * its sidecar is written the same way after it. A crash leaves at most a hidden partial file,
 * removed by the next backup once it has stopped growing. */
#include "migrated/backup.h"
#include "migrated/units.h"
#include "migrated/child.h"
#include "migrated/clock.h"
#include "migrated/config.h"
#include "migrated/db.h"
#include "migrated/dburl.h"
#include "migrated/error.h"
#include "migrated/history.h"
#include "migrated/log.h"
#include "migrated/macro.h"
#include "migrated/pgtool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define PARTIAL_STALE_S 600 /* a partial archive this long unchanged belongs to a dead pg_dump */

/* ---- options ---- */

static int dup_opt(char **dst, const char *src)
{
	*dst = NULL;
	if (!src || !*src)
		return 0;
	return (*dst = strdup(src)) ? 0 : MD_E_NOMEM;
}

int md_backup_options_from(const struct md_config *cfg, struct md_backup_options *ret, struct md_error *err)
{
	memset(ret, 0, sizeof *ret);
	ret->dir = md_config_backup_dir(cfg);
	ret->keep = cfg->backup_keep;
	ret->keep_within_s = cfg->backup_keep_within_s;
	ret->timeout_ms = cfg->backup_timeout_ms;
	ret->before_deploy = cfg->backup_before_deploy;
	if (!ret->dir || dup_opt(&ret->pg_dump, cfg->pg_dump_path) < 0 ||
	    dup_opt(&ret->pg_restore, cfg->pg_restore_path) < 0 || dup_opt(&ret->psql, cfg->psql_path) < 0) {
		md_backup_options_free(ret);
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	}
	return 0;
}

int md_backup_options_copy(const struct md_backup_options *src, struct md_backup_options *ret, struct md_error *err)
{
	*ret = *src;
	ret->dir = ret->pg_dump = ret->pg_restore = ret->psql = NULL;
	if (dup_opt(&ret->dir, src->dir) < 0 || dup_opt(&ret->pg_dump, src->pg_dump) < 0 ||
	    dup_opt(&ret->pg_restore, src->pg_restore) < 0 || dup_opt(&ret->psql, src->psql) < 0) {
		md_backup_options_free(ret);
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	}
	return 0;
}

void md_backup_options_free(struct md_backup_options *o)
{
	if (!o)
		return;
	free(o->dir);
	free(o->pg_dump);
	free(o->pg_restore);
	free(o->psql);
	o->dir = o->pg_dump = o->pg_restore = o->psql = NULL;
}

/* ---- small helpers ---- */

static int fsync_path(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int r = fsync(fd);
	close(fd);
	return r;
}

bool md_backup_id_valid(const char *id)
{
	size_t n = id ? strlen(id) : 0;
	if (n == 0 || n >= MD_BACKUP_ID_MAX || id[0] == '.' || id[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
		      c == '_'))
			return false;
	}
	return true;
}

/* mkdir -p of the backups folder (0700: archives hold the whole database). */
static int ensure_dir(const char *dir, struct md_error *err)
{
	char path[4096];
	snprintf(path, sizeof path, "%s", dir);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0750) < 0 && errno != EEXIST)
			return md_error_set(err, MD_E_IO, "cannot create %s: %s", path, strerror(errno));
		*p = '/';
	}
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return md_error_set(err, MD_E_IO, "cannot create the backup folder %s: %s", path, strerror(errno));
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		return md_error_set(err, MD_E_IO, "the backup folder %s is not a directory", path);
	return 0;
}

/* Hidden partial archives of a pg_dump that died (crash): removed once they stop changing. */
static void remove_stale_partials(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4096 + 256];
	time_t now = time(NULL);
	if (!d)
		return;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		struct stat st;
		if (e->d_name[0] != '.' || n < 9 || strcmp(e->d_name + n - 8, ".partial") != 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (stat(path, &st) == 0 && now - st.st_mtime > PARTIAL_STALE_S && unlink(path) == 0)
			md_log(MD_LOG_WARNING, "backup: removed %s, left by a backup that did not finish", path);
	}
	closedir(d);
}

/* Free space against the database's size: a custom-format archive is usually much smaller
 * (compressed, no index data), but can come close for a database of incompressible data. */
static int check_space(struct md_db *db, const char *dir, uint64_t *ret_db_size, struct md_error *err)
{
	_cleanup_pgresult_ PGresult *res = NULL;
	struct statvfs vfs;
	char have[32], need[32];
	int r = md_db_query(db, "SELECT pg_catalog.pg_database_size(pg_catalog.current_database())", 0, NULL, &res,
			    "reading the database size", err);
	if (r < 0)
		return r;
	uint64_t size = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	*ret_db_size = size;
	if (statvfs(dir, &vfs) < 0)
		return md_error_set(err, MD_E_IO, "cannot read the free space of %s: %s", dir, strerror(errno));
	if (vfs.f_flag & ST_RDONLY)
		return md_error_set(err, MD_E_IO, "the backup folder %s is on a read-only filesystem", dir);
	uint64_t free_b = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	if (free_b < size) {
		md_format_bytes((double)free_b, have, sizeof have);
		md_format_bytes((double)size, need, sizeof need);
		md_error_hint(err, "free space there, point backup_dir at a larger filesystem, or deploy with "
				   "{\"backup\": false} to skip the backup for this deploy");
		return md_error_set(err, MD_E_IO,
				    "not enough free space for a backup in %s: %s free, the database is %s", dir, have,
				    need);
	}
	return 0;
}

/* The newest applied migration and how many are applied, for the record. */
static int read_head(struct md_db *db, struct md_backup *b, struct md_error *err)
{
	struct md_history *h = NULL;
	int r = md_history_load(db, &h, err);
	if (r < 0)
		return r;
	b->head[0] = '\0';
	b->applied = 0;
	for (size_t i = 0; i < h->n; i++) {
		const struct md_history_row *row = &h->rows[i];
		if (row->finished_at && !row->rolled_back_at) {
			snprintf(b->head, sizeof b->head, "%s", row->migration_name);
			b->applied++;
		}
	}
	md_history_free(h);
	return 0;
}

static int write_sidecar(const char *dir, const struct md_backup *b, struct md_error *err)
{
	char tmp[4200], path[4200];
	json_t *j = md_backup_json(b);
	snprintf(tmp, sizeof tmp, "%s/.%s.json.partial", dir, b->id);
	snprintf(path, sizeof path, "%s/%s.json", dir, b->id);
	int r = j ? json_dump_file(j, tmp, JSON_INDENT(2) | JSON_SORT_KEYS) : -1;
	json_decref(j);
	if (r < 0 || fsync_path(tmp, O_RDONLY) < 0 || rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		return md_error_set(err, MD_E_IO, "cannot write %s: %s", path, strerror(e));
	}
	fsync_path(dir, O_RDONLY | O_DIRECTORY);
	return 0;
}

/* pg_dump's own words: its last lines, without our password. */
static void quote_stderr(char *out, size_t sz, const struct md_child *c)
{
	const char *e = c->err ? c->err : "";
	size_t n = strlen(e);
	while (n && (e[n - 1] == '\n' || e[n - 1] == ' '))
		n--;
	const char *start = e;
	if (n > 600)
		start = e + n - 600;
	snprintf(out, sz, "%.*s", (int)(n - (size_t)(start - e)), start);
	md_redact_inplace(out);
	for (char *p = out; *p; p++)
		if (*p == '\n')
			*p = ' ';
}

int md_backup_take(const struct md_backup_options *o, struct md_db *db, const char *url, const char *kind,
		   const char *job_id, const volatile sig_atomic_t *cancel, struct md_backup *ret, struct md_error *err)
{
	struct md_backup b = {0};
	struct md_pgtool tool;
	struct md_dburl *u = NULL;
	_cleanup_free_ char *conninfo = NULL, *pwenv = NULL, *dbarg = NULL, *filearg = NULL;
	char partial[4200], uuid[MD_HISTORY_ID_LEN + 1], stamp[32], why[800];
	struct md_child c = {0};
	double t0 = md_clock_mono_ms();
	uint64_t db_size = 0;
	unsigned long long size = 0;
	bool timed_out = false, cancelled = false;
	struct timespec now_ts;
	clock_gettime(CLOCK_REALTIME, &now_ts);
	time_t now = now_ts.tv_sec;
	struct tm tm;
	int r;

	r = ensure_dir(o->dir, err);
	if (r == 0)
		r = check_space(db, o->dir, &db_size, err);
	if (r == 0)
		r = md_pgtool_find("pg_dump", o->pg_dump, db->server_version_num / 10000, &tool, err);
	if (r == 0)
		r = md_dburl_parse(url, "migrated-backup", 0, &u, err);
	if (r == 0)
		r = md_pgtool_conn(u, &conninfo, &pwenv, err);
	md_dburl_free(u);
	if (r == 0)
		r = read_head(db, &b, err);
	if (r < 0)
		return r;
	remove_stale_partials(o->dir);

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
	if (job_id && *job_id)
		snprintf(uuid, sizeof uuid, "%s", job_id);
	else
		md_history_new_id(uuid);
	snprintf(b.id, sizeof b.id, "%s-%s", stamp, uuid);
	strftime(b.created_at, sizeof b.created_at, "%Y-%m-%dT%H:%M:%SZ", &tm);
	b.created_unix = (double)now_ts.tv_sec + (double)now_ts.tv_nsec / 1e9; /* orders backups of one second */
	snprintf(b.job_id, sizeof b.job_id, "%s", job_id ? job_id : "");
	snprintf(b.kind, sizeof b.kind, "%s", kind);
	snprintf(b.server_version, sizeof b.server_version, "%s", db->server_version);
	snprintf(b.pg_dump_version, sizeof b.pg_dump_version, "%.31s", tool.version);
	snprintf(b.database, sizeof b.database, "%s", db->display);
	snprintf(partial, sizeof partial, "%s/.%s.dump.partial", o->dir, b.id);
	snprintf(b.path, sizeof b.path, "%s/%s.dump", o->dir, b.id);

	if (asprintf(&dbarg, "--dbname=%s", conninfo) < 0 || asprintf(&filearg, "--file=%s", partial) < 0)
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	char *argv[] = {tool.path, "--format=custom", "--no-password", filearg, dbarg, NULL};
	char *env[] = {pwenv, NULL};
	c.argv = argv;
	c.env = pwenv ? env : NULL;
	struct md_child_limits lim = {.timeout_ms = o->timeout_ms, .capture_bytes = 16 * 1024, .cancel = cancel};
	r = md_child_run(&c, 1, &lim, &timed_out, &cancelled, err);
	if (r == 0 && (cancelled || timed_out || c.exit_code != 0)) {
		quote_stderr(why, sizeof why, &c);
		if (cancelled)
			r = md_error_set(err, MD_E_CANCELLED, "the backup was cancelled; nothing was changed");
		else if (timed_out)
			r = md_error_set(err, MD_E_IO, "pg_dump did not finish within backup_timeout (%d s)%s%s",
					 o->timeout_ms / 1000, why[0] ? ": " : "", why);
		else if (c.exit_code < 0)
			r = md_error_set(err, MD_E_IO, "pg_dump was killed by signal %d%s%s", c.term_signal,
					 why[0] ? ": " : "", why);
		else
			r = md_error_set(err, MD_E_IO, "pg_dump failed (exit %d): %s", c.exit_code,
					 why[0] ? why : "no message");
	}
	md_child_clear(&c);
	if (r == 0)
		r = md_sha256_file(partial, b.sha256, &size, err);
	if (r == 0) {
		b.size_bytes = size;
		if (size == 0)
			r = md_error_set(err, MD_E_IO, "pg_dump wrote an empty archive");
	}
	if (r == 0 && rename(partial, b.path) < 0)
		r = md_error_set(err, MD_E_IO, "cannot rename %s to %s: %s", partial, b.path, strerror(errno));
	if (r < 0) {
		unlink(partial);
		return r;
	}
	fsync_path(o->dir, O_RDONLY | O_DIRECTORY);
	b.duration_ms = md_clock_mono_ms() - t0;
	r = write_sidecar(o->dir, &b, err);
	if (r < 0) {
		unlink(b.path);
		return r;
	}
	(void)db_size;
	*ret = b;
	return 0;
}

/* ---- listing ---- */

static void copy_str(char *dst, size_t sz, json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));
	snprintf(dst, sz, "%s", v ? v : "");
}

static int from_json(const char *dir, json_t *j, struct md_backup *b)
{
	memset(b, 0, sizeof *b);
	copy_str(b->id, sizeof b->id, j, "id");
	if (!md_backup_id_valid(b->id))
		return -1;
	copy_str(b->created_at, sizeof b->created_at, j, "created_at");
	copy_str(b->job_id, sizeof b->job_id, j, "job_id");
	copy_str(b->kind, sizeof b->kind, j, "kind");
	copy_str(b->sha256, sizeof b->sha256, j, "sha256");
	copy_str(b->server_version, sizeof b->server_version, j, "server_version");
	copy_str(b->pg_dump_version, sizeof b->pg_dump_version, j, "pg_dump_version");
	copy_str(b->database, sizeof b->database, j, "database");
	copy_str(b->head, sizeof b->head, j, "head");
	b->size_bytes = (uint64_t)json_integer_value(json_object_get(j, "size_bytes"));
	b->duration_ms = json_number_value(json_object_get(j, "duration_ms"));
	b->applied = (size_t)json_integer_value(json_object_get(j, "applied"));
	b->created_unix = json_number_value(json_object_get(j, "created_unix"));
	snprintf(b->path, sizeof b->path, "%s/%s.dump", dir, b->id);
	return access(b->path, R_OK) == 0 ? 0 : -1;
}

static int newest_first(const void *a, const void *b)
{
	const struct md_backup *x = a, *y = b;
	if (x->created_unix != y->created_unix)
		return x->created_unix < y->created_unix ? 1 : -1;
	return strcmp(y->id, x->id);
}

int md_backup_list(const char *dir, struct md_backup **ret, size_t *ret_n, size_t *ret_skipped, struct md_error *err)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	struct md_backup *list = NULL;
	size_t n = 0, cap = 0, skipped = 0;
	char path[4200];

	*ret = NULL;
	*ret_n = 0;
	if (ret_skipped)
		*ret_skipped = 0;
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return md_error_set(err, MD_E_IO, "cannot read the backup folder %s: %s", dir, strerror(errno));
	}
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (e->d_name[0] == '.' || len < 6 || strcmp(e->d_name + len - 5, ".json") != 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		json_t *j = json_load_file(path, 0, NULL);
		if (n == cap) {
			struct md_backup *g = realloc(list, (cap = cap ? cap * 2 : 16) * sizeof *g);
			if (!g) {
				json_decref(j);
				free(list);
				closedir(d);
				return md_error_set(err, MD_E_NOMEM, "out of memory");
			}
			list = g;
		}
		if (j && from_json(dir, j, &list[n]) == 0)
			n++;
		else
			skipped++;
		json_decref(j);
	}
	closedir(d);
	if (n)
		qsort(list, n, sizeof *list, newest_first);
	*ret = list;
	*ret_n = n;
	if (ret_skipped)
		*ret_skipped = skipped;
	return 0;
}

int md_backup_find(const char *dir, const char *id, struct md_backup *ret, struct md_error *err)
{
	char path[4200];
	if (!md_backup_id_valid(id))
		return md_error_set(
			err, MD_E_USAGE,
			"\"%.100s\" is not a backup id (`migrated backup --list` or GET /v1/backups lists them)", id);
	snprintf(path, sizeof path, "%s/%s.json", dir, id);
	json_t *j = json_load_file(path, 0, NULL);
	int r = j ? from_json(dir, j, ret) : -1;
	json_decref(j);
	if (r < 0)
		return md_error_set(err, MD_E_NOT_FOUND, "no backup %s in %s", id, dir);
	return 0;
}

/* ---- retention ---- */

size_t md_backup_select_prune(const struct md_backup *list, size_t n, int keep, long keep_within_s, double now,
			      bool *prune)
{
	size_t count = 0;
	for (size_t i = 0; i < n; i++) {
		bool by_count = keep > 0 && i < (size_t)keep;
		bool by_age = keep_within_s > 0 && now - list[i].created_unix < (double)keep_within_s;
		prune[i] = i > 0 && (keep > 0 || keep_within_s > 0) && !by_count && !by_age;
		count += prune[i];
	}
	return count;
}

int md_backup_prune(const struct md_backup_options *o, json_t *ret_pruned, struct md_error *err)
{
	struct md_backup *list = NULL;
	size_t n = 0;
	int r = md_backup_list(o->dir, &list, &n, NULL, err);
	if (r < 0)
		return r;
	bool *prune = calloc(n ? n : 1, sizeof *prune);
	if (!prune) {
		free(list);
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	}
	md_backup_select_prune(list, n, o->keep, o->keep_within_s, (double)time(NULL), prune);
	int removed = 0;
	char path[4200];
	for (size_t i = 0; i < n; i++) {
		if (!prune[i])
			continue;
		/* The sidecar first: a backup without it is no longer listed, so a crash between
		 * the two unlinks leaves an orphan archive, never a listing of a missing one. */
		snprintf(path, sizeof path, "%s/%s.json", o->dir, list[i].id);
		if (unlink(path) < 0 && errno != ENOENT) {
			r = md_error_set(err, MD_E_IO, "cannot remove %s: %s", path, strerror(errno));
			break;
		}
		if (unlink(list[i].path) < 0 && errno != ENOENT)
			md_log(MD_LOG_WARNING, "backup retention: cannot remove %s: %s", list[i].path, strerror(errno));
		if (ret_pruned)
			json_array_append_new(ret_pruned, json_string(list[i].id));
		removed++;
	}
	free(prune);
	free(list);
	if (removed)
		fsync_path(o->dir, O_RDONLY | O_DIRECTORY);
	return r < 0 ? r : removed;
}

json_t *md_backup_json(const struct md_backup *b)
{
	return json_pack("{s:s, s:s, s:f, s:s?, s:s, s:I, s:s, s:f, s:s, s:s, s:s, s:s?, s:I, s:s}", "id", b->id,
			 "created_at", b->created_at, "created_unix", b->created_unix, "job_id",
			 b->job_id[0] ? b->job_id : NULL, "kind", b->kind, "size_bytes", (json_int_t)b->size_bytes,
			 "sha256", b->sha256, "duration_ms", b->duration_ms, "server_version", b->server_version,
			 "pg_dump_version", b->pg_dump_version, "database", b->database, "head",
			 b->head[0] ? b->head : NULL, "applied", (json_int_t)b->applied, "file", b->path);
}
