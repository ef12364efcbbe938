/* journal.h - the daemon's local, append-only job journal: one JSON object per line, each
 * written and fdatasync'ed before anything may report it. Replay on open rebuilds whatever the
 * caller builds from the records; a torn last line (the process died mid-write) is cut off; a
 * damaged line before the end stops the daemon from starting, with the line and byte offset,
 * instead of silently losing history. Compaction rewrites the file with the records the
 * caller keeps and renames it into place. The journal knows nothing about jobs: records are
 * opaque JSON objects with a "seq" it assigns and a "ts" it stamps. */
#ifndef MIGRATED_JOURNAL_H
#define MIGRATED_JOURNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct md_error;
struct md_journal;

#define MD_JOURNAL_VERSION  1
#define MD_JOURNAL_MAX_LINE (1024 * 1024) /* a longer line is damage, not a record */

struct md_journal_stats {
	size_t records; /* replayed */
	uint64_t bytes; /* file size after open */
	uint64_t last_seq;
	bool cut_torn_tail; /* a partial last line was removed */
	uint64_t cut_bytes;
};

/* Called for each record in file order; offset is the byte offset of its line. Returning a
 * negative code stops the replay with that error. The record is borrowed. */
typedef int (*md_journal_record_fn)(void *ctx, json_t *record, uint64_t offset, struct md_error *err);

/* md_journal_open: open or create path (mode 0600) and replay it through fn (may be NULL).
 * Takes an exclusive lock on the file: a second daemon on the same state directory gets
 * MD_E_CONFIG. A damaged line before the last gives MD_E_IO with "line N (byte offset X)" and
 * the hint to run `migrated journal check|repair`. */
int md_journal_open(const char *path, md_journal_record_fn fn, void *ctx, struct md_journal **ret,
		    struct md_journal_stats *stats, struct md_error *err);
/* md_journal_append: stamp record with "v", "seq" and "ts", write it as one line and
 * fdatasync. On failure nothing of the line stays in the file (it is truncated back) and
 * MD_E_IO is returned. *ret_seq (may be NULL) gets the record's seq. Thread-safe. */
int md_journal_append(struct md_journal *j, json_t *record, uint64_t *ret_seq, struct md_error *err);
/* md_journal_write + md_journal_sync: md_journal_append in two halves, so that writers can
 * wait for durability together (one fdatasync covers every line written before it). write
 * puts the line in the file (not yet durable: nothing may act on it) and fills *ret_mark;
 * sync returns once that line is durable, or MD_E_IO when a sync failed first (the line is
 * then gone from the file, with every line after the last durable one). Thread-safe. */
struct md_journal_mark {
	uint64_t start;       /* where the line starts in the file */
	uint64_t end;         /* the file size just after the line */
	uint64_t truncations; /* private */
};
int md_journal_write(struct md_journal *j, json_t *record, uint64_t *ret_seq, struct md_journal_mark *ret_mark,
		     struct md_error *err);
int md_journal_sync(struct md_journal *j, const struct md_journal_mark *mark, struct md_error *err);
/* md_journal_compact: rewrite the file keeping the records keep() accepts (temp file, fsync,
 * rename, fsync of the directory). Thread-safe against appends. */
int md_journal_compact(struct md_journal *j, bool (*keep)(void *ctx, const json_t *record), void *ctx,
		       struct md_error *err);
/* md_journal_read_range: replay again the records whose lines start in [from, to) (from must
 * be the start of a line). */
int md_journal_read_range(struct md_journal *j, uint64_t from, uint64_t to, md_journal_record_fn fn, void *ctx,
			  struct md_error *err);
uint64_t md_journal_size(struct md_journal *j);
const char *md_journal_path(const struct md_journal *j);
void md_journal_close(struct md_journal *j);

/* md_journal_parse_line: one line (without its newline) to a record: a JSON object with an
 * integer "v" we understand, a positive integer "seq" and a string "type". Pure. */
int md_journal_parse_line(const char *line, size_t len, json_t **ret, struct md_error *err);

/* Offline tools behind `migrated journal check|repair`. check: MD_OK when every line is a
 * record (a torn tail is reported, not an error); repair: keeps every valid record, writes the
 * original to path.damaged-<time> first. Both print what they find to out. */
int md_journal_check(const char *path, FILE *out, struct md_error *err);
int md_journal_repair(const char *path, FILE *out, struct md_error *err);

#endif
