/* ddl.h - what a migration statement does, recognised from its tokens (sqllex: keywords in
 * strings, comments and dollar-quoted bodies never count): which kind of statement, on which
 * relation, with which ALTER TABLE actions and column properties; and, from PostgreSQL's
 * documented table of lock levels, which lock it takes on which relation and whether it
 * rewrites or scans the table. Lint and the live plan both read this. Pure: never logs, never
 * talks to the database. Not a full SQL parser: forms it does not know come out as
 * MD_DDL_OTHER and are never guessed at. */
#ifndef MIGRATED_DDL_H
#define MIGRATED_DDL_H

#include <stdbool.h>
#include <stddef.h>

struct md_sqlstmt;

#define MD_DDL_NAME 256

enum md_ddl_kind {
	MD_DDL_OTHER = 0,       /* anything not below */
	MD_DDL_CREATE_TABLE,    /* CREATE TABLE (columns, inline references) */
	MD_DDL_CREATE_INDEX,    /* CREATE [UNIQUE] INDEX [CONCURRENTLY] */
	MD_DDL_DROP_INDEX,      /* DROP INDEX [CONCURRENTLY] */
	MD_DDL_ALTER_TABLE,     /* ALTER TABLE with its actions */
	MD_DDL_DROP_TABLE,      /* DROP TABLE */
	MD_DDL_TRUNCATE,        /* TRUNCATE */
	MD_DDL_UPDATE,          /* UPDATE */
	MD_DDL_DELETE,          /* DELETE */
	MD_DDL_INSERT,          /* INSERT */
	MD_DDL_CREATE_TRIGGER,  /* CREATE TRIGGER ... ON table */
	MD_DDL_VACUUM_FULL,     /* VACUUM FULL */
	MD_DDL_CLUSTER,         /* CLUSTER table */
	MD_DDL_REINDEX,         /* REINDEX [CONCURRENTLY] */
	MD_DDL_REFRESH_MATVIEW, /* REFRESH MATERIALIZED VIEW [CONCURRENTLY] */
	MD_DDL_ADD_ENUM_VALUE,  /* ALTER TYPE ... ADD VALUE */
	MD_DDL_DROP_SCHEMA,     /* DROP SCHEMA */
	MD_DDL_DROP_DATABASE,   /* DROP DATABASE */
	MD_DDL_CREATE_OTHER,    /* CREATE of another object (type, function, view, sequence, ...) */
	MD_DDL_DROP_OTHER,      /* DROP of another object */
	MD_DDL_SET,             /* SET [LOCAL|SESSION] name = value */
	MD_DDL_TXN,             /* BEGIN, COMMIT, ROLLBACK, ... */
	MD_DDL_RENAME_TYPE,     /* ALTER TYPE name RENAME TO new_name */
};

enum md_ddl_action_kind {
	MD_ACT_OTHER = 0,
	MD_ACT_ADD_COLUMN,
	MD_ACT_DROP_COLUMN,
	MD_ACT_ALTER_TYPE,   /* ALTER COLUMN ... [SET DATA] TYPE */
	MD_ACT_SET_NOT_NULL, /* ALTER COLUMN ... SET NOT NULL */
	MD_ACT_DROP_NOT_NULL,
	MD_ACT_SET_DEFAULT,
	MD_ACT_DROP_DEFAULT,
	MD_ACT_ADD_CONSTRAINT,
	MD_ACT_DROP_CONSTRAINT,
	MD_ACT_VALIDATE_CONSTRAINT,
	MD_ACT_RENAME_COLUMN,
	MD_ACT_RENAME_CONSTRAINT,
	MD_ACT_RENAME_TABLE,
	MD_ACT_SET_LOGGED, /* SET LOGGED / UNLOGGED: a rewrite */
	MD_ACT_ATTACH_PARTITION,
	MD_ACT_DETACH_PARTITION,
	MD_ACT_TRIGGER, /* ENABLE / DISABLE TRIGGER */
};

/* A part of the script: byte offsets [start, end); start == end is "none". */
struct md_ddl_span {
	size_t start, end;
};

enum md_ddl_constraint {
	MD_CON_NONE = 0,
	MD_CON_FOREIGN_KEY,
	MD_CON_CHECK,
	MD_CON_UNIQUE,
	MD_CON_PRIMARY_KEY,
	MD_CON_EXCLUDE,
	MD_CON_OTHER,
};

/* A column as an ADD COLUMN or a CREATE TABLE defines it. */
struct md_ddl_column {
	char name[MD_DDL_NAME];
	char type[128]; /* as written, spaces normalised: "varchar(255)", "timestamp(3)" */
	bool not_null, has_default, primary_key, unique, identity, generated_stored, serial;
	char volatile_fn[64];         /* a volatile function in its default ("gen_random_uuid"), or "" */
	char references[MD_DDL_NAME]; /* an inline REFERENCES table, or "" */
};

struct md_ddl_action {
	enum md_ddl_action_kind kind;
	size_t offset; /* byte offset of the action in the script */
	unsigned line, col;
	char column[MD_DDL_NAME];     /* the column acted on, "" if none */
	struct md_ddl_column def;     /* MD_ACT_ADD_COLUMN */
	char new_type[128];           /* MD_ACT_ALTER_TYPE */
	enum md_ddl_constraint con;   /* MD_ACT_ADD_CONSTRAINT */
	bool not_valid, using_index;  /* ... NOT VALID / ... USING INDEX */
	char references[MD_DDL_NAME]; /* a FOREIGN KEY's table */
	bool concurrently;            /* DETACH PARTITION CONCURRENTLY */
	char constraint[MD_DDL_NAME]; /* ADD CONSTRAINT name, VALIDATE CONSTRAINT name: as written */
	struct md_ddl_span cols;      /* UNIQUE / PRIMARY KEY / FOREIGN KEY (these), inside the parentheses */
	struct md_ddl_span ref_cols;  /* REFERENCES t (these), or none */
	struct md_ddl_span expr;      /* CHECK (this); ALTER TYPE ... USING this */
	bool nulls_not_distinct;      /* UNIQUE NULLS NOT DISTINCT */
	bool match_full;              /* FOREIGN KEY ... MATCH FULL */
};

struct md_ddl {
	enum md_ddl_kind kind;
	char table[MD_DDL_NAME];     /* the relation as written ("\"Asset\"", "public.big"), for to_regclass */
	char table_key[MD_DDL_NAME]; /* its last name part as PostgreSQL folds it, to match relations */
	char index[MD_DDL_NAME];     /* CREATE/DROP INDEX: the index as written ("" when unnamed) */
	char object[32];             /* CREATE/DROP OTHER: "TYPE", "FUNCTION", "VIEW", ... */
	bool concurrently, if_exists, if_not_exists, or_replace, unique, has_where, cascade;
	struct md_ddl_action *actions; /* ALTER TABLE; owned */
	size_t n_actions;
	struct md_ddl_column *columns; /* CREATE TABLE; owned */
	size_t n_columns;
	char (*refs)[MD_DDL_NAME]; /* CREATE TABLE: tables its foreign keys reference; owned */
	size_t n_refs;
	char set_name[64], set_value[64]; /* MD_DDL_SET */
	char type_name[MD_DDL_NAME];      /* CREATE TYPE, ALTER TYPE (ADD VALUE, RENAME TO): as written */
	char new_name[MD_DDL_NAME];       /* MD_DDL_RENAME_TYPE: the new name as written */
	struct md_ddl_span labels;        /* CREATE TYPE ... AS ENUM (these); ADD VALUE 'this' */
	struct md_ddl_span index_cols;    /* CREATE INDEX ... (these), inside the parentheses */
	struct md_ddl_span where;         /* CREATE INDEX ... WHERE this */
	bool nulls_not_distinct;          /* CREATE UNIQUE INDEX ... NULLS NOT DISTINCT */
};

/* md_ddl_parse: recognise statement st of script sql. Returns 0 (MD_DDL_OTHER for anything it
 * does not know) or MD_E_NOMEM. Free with md_ddl_free. */
int md_ddl_parse(const char *sql, const struct md_sqlstmt *st, struct md_ddl *ret);
void md_ddl_free(struct md_ddl *d);
/* md_ddl_list_items: splits the list in span (inside its parentheses) of script sql at its
 * top-level commas into at most max item spans; with index_item, each item loses what an index
 * adds after the expression (COLLATE x, an operator class, ASC/DESC, NULLS FIRST/LAST). Returns
 * how many items there are (which may exceed max: only max are written). */
size_t md_ddl_list_items(const char *sql, struct md_ddl_span list, bool index_item, struct md_ddl_span *out,
			 size_t max);
/* md_ddl_key: the folded last part of a (possibly qualified, possibly quoted) name as written. */
void md_ddl_key(const char *name, char *out, size_t outsz);

/* What a statement does to a relation, from PostgreSQL's table of lock levels
 * (https://www.postgresql.org/docs/current/explicit-locking.html). */
struct md_ddl_lock {
	const char *mode;     /* "ACCESS EXCLUSIVE", "SHARE", "SHARE UPDATE EXCLUSIVE", ... */
	const char *relation; /* as written; points into the md_ddl */
	bool rewrite;         /* the table (and its indexes) is rewritten */
	bool scan;            /* the table is read in full (validation, index build, backfill) */
	const char *why;      /* "index build", "table rewrite: column type change", ... or NULL */
};
#define MD_DDL_MAX_LOCKS 8
/* md_ddl_locks: the locks d takes, strongest first (at most MD_DDL_MAX_LOCKS). */
size_t md_ddl_locks(const struct md_ddl *d, struct md_ddl_lock *out);
/* md_lock_rank: 1 (ACCESS SHARE) .. 8 (ACCESS EXCLUSIVE), 0 for NULL. */
int md_lock_rank(const char *mode);
/* md_lock_blocks: what a lock stops others from doing: "blocks reads and writes", ... */
const char *md_lock_blocks(const char *mode);

#endif
