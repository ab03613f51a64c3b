/*
 * assoc.h -- the public C API of the assoc engine.
 *
 * assoc is an association-aware ORM engine over SQLite.  This header is the
 * whole public surface of the C core (the files in core/), which has no Lua
 * dependency and can be driven from plain C.  The Lua module (assoc.core) is
 * one client of it; `assoc_openlibs` at the end is the one declaration that
 * concerns Lua hosts.
 *
 * Conventions (SQLite's):
 *   - Functions return an int code: ASSOC_OK (0) on success, or an error
 *     code below.  The message of the last failure is kept on the handle:
 *     assoc_errmsg(db), assoc_errcode(db), assoc_errsql(db).
 *   - On failure a function leaves its inputs unchanged and writes nothing
 *     to the database (multi-statement operations roll back their savepoint).
 *   - Every *_open / *_new has a *_close / *_free that accepts NULL.
 *   - Strings passed in are copied when they must outlive the call; strings
 *     handed out are owned by the core and valid as documented.
 *   - Identifiers (tables, columns) come only from model metadata and are
 *     always double-quoted; values are always bound as parameters.  No
 *     string given as a value ever becomes SQL text.
 *   - SQL is deterministic for the same request, and prepared statements
 *     are kept in a bounded LRU cache keyed by SQL text.
 *   - Threads: an assoc_db, and everything made from it (models, rows,
 *     associations), is used by one thread at a time; nothing in it is
 *     locked.  Separate assoc_db handles (on the same file or not) may be
 *     used by separate threads at once.  The connection is opened in
 *     SQLite's multi-thread mode (SQLITE_OPEN_NOMUTEX) accordingly.
 */
#ifndef ASSOC_H
#define ASSOC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ASSOC_VERSION "0.1.0"

/* ---- result codes ------------------------------------------------------ */
enum {
  ASSOC_OK = 0,
  ASSOC_ERROR = 1,      /* an SQL error reported by SQLite (DatabaseError) */
  ASSOC_NOMEM = 2,      /* out of memory */
  ASSOC_CLOSED = 3,     /* the database handle is closed (ConnectionError) */
  ASSOC_MISUSE = 4,     /* a bad request: unknown attribute, operator or
                           model, wrong operand count, bad option.  Nothing
                           was sent to SQLite. */
  ASSOC_UNIQUE = 5,     /* UNIQUE or PRIMARY KEY constraint failed */
  ASSOC_FOREIGNKEY = 6, /* FOREIGN KEY constraint failed */
  ASSOC_NOTNULL = 7,    /* NOT NULL constraint failed */
  ASSOC_CONSTRAINT = 8, /* any other constraint (CHECK, ...) */
  ASSOC_BUSY = 9,       /* database is locked past the busy timeout */
  ASSOC_CANTOPEN = 10,  /* the database file could not be opened */
  ASSOC_ROW = 100,      /* assoc_rows_next: a row is ready */
  ASSOC_DONE = 101      /* assoc_rows_next: no more rows */
};

/* ---- values ------------------------------------------------------------ */
/* A value crossing the API.  Text and blob pointers are borrowed: a value
 * passed in must stay valid for the duration of the call; a value handed out
 * (assoc_rows_value) is valid until the next assoc_rows_next/close. */
typedef enum assoc_vtype {
  ASSOC_V_NULL = 0,
  ASSOC_V_INT = 1,
  ASSOC_V_REAL = 2,
  ASSOC_V_TEXT = 3,
  ASSOC_V_BLOB = 4
} assoc_vtype;

typedef struct assoc_value {
  assoc_vtype type;
  union {
    int64_t i;
    double r;
    struct { const char *p; size_t n; } s; /* TEXT (UTF-8, not NUL-terminated
                                              necessarily) or BLOB */
  } u;
} assoc_value;

/* ---- data types -------------------------------------------------------- */
/* The logical type of an attribute.  SQLite column types used in DDL:
 * STRING -> VARCHAR(n) (n = length, default 255), TEXT -> TEXT,
 * INTEGER -> INTEGER, BIGINT -> BIGINT, FLOAT -> FLOAT, DOUBLE -> DOUBLE
 * PRECISION, DECIMAL -> DECIMAL, BOOLEAN -> TINYINT(1) (stored 0/1),
 * DATE -> DATETIME (ISO-8601 UTC text), DATEONLY -> DATE (YYYY-MM-DD text),
 * JSON -> JSON (text), BLOB -> BLOB, UUID -> UUID (text). */
typedef enum assoc_type {
  ASSOC_T_STRING = 0,
  ASSOC_T_TEXT,
  ASSOC_T_INTEGER,
  ASSOC_T_BIGINT,
  ASSOC_T_FLOAT,
  ASSOC_T_DOUBLE,
  ASSOC_T_DECIMAL,
  ASSOC_T_BOOLEAN,
  ASSOC_T_DATE,
  ASSOC_T_DATEONLY,
  ASSOC_T_JSON,
  ASSOC_T_BLOB,
  ASSOC_T_UUID,
  ASSOC_T__COUNT
} assoc_type;

/* "STRING", "TEXT", ... ; NULL for an out-of-range value. */
const char *assoc_type_name(assoc_type t);
/* The type named `name` (as assoc_type_name spells it), or -1. */
int assoc_type_from_name(const char *name);

/* ---- connection -------------------------------------------------------- */
typedef struct assoc_db assoc_db;

typedef struct assoc_open_opts {
  int busy_timeout_ms; /* < 0: the default, 5000 */
  int cache_size;      /* prepared statements kept; <= 0: the default, 128 */
} assoc_open_opts;

/* Opens `path` (a file, created if missing, or ":memory:").  Always stores a
 * handle in *out unless memory runs out (then *out = NULL, ASSOC_NOMEM);
 * on any other failure the handle carries the message and must still be
 * closed.  Every connection runs PRAGMA foreign_keys=ON, turns double-quoted
 * string literals off (SQLITE_DBCONFIG_DQS_DML/DDL = 0), sets busy_timeout,
 * and on files journal_mode=WAL and synchronous=NORMAL. */
int assoc_open(const char *path, const assoc_open_opts *opts, assoc_db **out);

/* Closes the connection, rolling back an open transaction, finalizing every
 * cached statement and freeing every model.  Accepts NULL.  Any assoc_rows
 * still open on it become invalid. */
void assoc_close(assoc_db *db);

int assoc_errcode(const assoc_db *db);
const char *assoc_errmsg(const assoc_db *db);  /* never NULL */
const char *assoc_errsql(const assoc_db *db);  /* SQL of the failed statement
                                                  or NULL */
/* After ASSOC_UNIQUE or ASSOC_NOTNULL on a model's table: the attribute
 * name(s) involved, comma-separated ("email" or "userId,projectId"), else
 * NULL.  assoc_errmsg then reads "User.email must be unique" /
 * "User.name cannot be null". */
const char *assoc_errfield(const assoc_db *db);

/* Called once per executed statement, when it has finished (stepped to the
 * end, failed, or its rows were closed), with the SQL text (placeholders,
 * never values) and the wall time in milliseconds.  NULL turns it off. */
typedef void (*assoc_trace_fn)(void *ud, const char *sql, double ms);
void assoc_set_trace(assoc_db *db, assoc_trace_fn fn, void *ud);

int64_t assoc_changes(const assoc_db *db);
int64_t assoc_last_insert_rowid(const assoc_db *db);

/* Statement cache figures, for tests and benchmarks. */
typedef struct assoc_cache_stats {
  int64_t hits, misses, evictions;
  int size, capacity;
} assoc_cache_stats;
void assoc_cache_stats_get(const assoc_db *db, assoc_cache_stats *out);

/* ---- transactions ------------------------------------------------------ */
/* assoc_begin opens a transaction (BEGIN IMMEDIATE) or, inside one, a
 * SAVEPOINT; commit releases the innermost level (COMMIT at depth 1);
 * rollback rolls back the innermost level.  Depth 0 = autocommit. */
int assoc_begin(assoc_db *db);
int assoc_commit(assoc_db *db);
int assoc_rollback(assoc_db *db);
int assoc_txn_depth(const assoc_db *db);

/* ---- rows ---------------------------------------------------------------- */
/* A running statement.  Owned by the db: close it with assoc_rows_close
 * (which returns its statement to the cache) before starting another
 * statement with the same SQL.  assoc_close invalidates it. */
typedef struct assoc_rows assoc_rows;

/* ASSOC_ROW, ASSOC_DONE, or an error code (message on the db). */
int assoc_rows_next(assoc_rows *rows);
int assoc_rows_ncols(const assoc_rows *rows);
const char *assoc_rows_colname(const assoc_rows *rows, int col);
/* For model queries: the attribute index of column `col`, else -1. */
int assoc_rows_attr(const assoc_rows *rows, int col);
/* The value of column `col` of the current row. */
void assoc_rows_value(const assoc_rows *rows, int col, assoc_value *out);
void assoc_rows_close(assoc_rows *rows); /* accepts NULL */
/* How many rows the previous complete run of this statement (same SQL)
 * gave, or -1: a size hint for whoever collects the rows. */
int64_t assoc_rows_expect(const assoc_rows *rows);

/* Raw SQL with positional `?` parameters (always bound).  One statement:
 * a trailing second statement is refused with ASSOC_MISUSE. */
int assoc_query(assoc_db *db, const char *sql, const assoc_value *params,
                int nparams, assoc_rows **out);
/* Runs a statement that returns no rows we keep (DDL, PRAGMA, ...). */
int assoc_exec(assoc_db *db, const char *sql, const assoc_value *params,
               int nparams);

/* ---- models -------------------------------------------------------------- */
typedef struct assoc_model assoc_model;

enum {
  ASSOC_ATTR_PK = 1u << 0,
  ASSOC_ATTR_AUTOINC = 1u << 1,
  ASSOC_ATTR_NOTNULL = 1u << 2,
  ASSOC_ATTR_UNIQUE = 1u << 3,
  ASSOC_ATTR_DEFAULT = 1u << 4, /* dflt holds a DDL DEFAULT literal */
  ASSOC_ATTR_AUTO = 1u << 5     /* added by the core (id, timestamps) */
};

typedef struct assoc_attr {
  const char *name;   /* attribute name as scripts see it */
  const char *column; /* column name; NULL: name, snake_cased when the model
                         is underscored */
  assoc_type type;
  int length;         /* STRING(n); 0 = 255 */
  unsigned flags;     /* ASSOC_ATTR_* */
  assoc_value dflt;   /* with ASSOC_ATTR_DEFAULT */
} assoc_attr;

enum {
  ASSOC_MODEL_TIMESTAMPS = 1u << 0, /* createdAt, updatedAt */
  ASSOC_MODEL_PARANOID = 1u << 1,   /* deletedAt (implies soft delete) */
  ASSOC_MODEL_UNDERSCORED = 1u << 2 /* snake_case columns and keys */
};

typedef struct assoc_model_def {
  const char *name;   /* model name, e.g. "User" */
  const char *table;  /* NULL: plural of name ("Users"; snake_case plural
                         "users" when underscored) */
  const assoc_attr *attrs;
  int nattrs;
  unsigned flags;     /* ASSOC_MODEL_* */
} assoc_model_def;

/* Registers a model.  The core copies everything.  When no attribute is a
 * primary key it prepends `id INTEGER PRIMARY KEY AUTOINCREMENT`; with
 * TIMESTAMPS it appends createdAt/updatedAt (DATE, NOT NULL), with PARANOID
 * deletedAt (DATE, NULL) -- snake_cased columns when UNDERSCORED.  Fails with
 * ASSOC_MISUSE on a duplicate model name, duplicate attribute or column,
 * an empty name, or a bad type.  The model lives until assoc_close. */
int assoc_define(assoc_db *db, const assoc_model_def *def, assoc_model **out);

assoc_model *assoc_model_find(const assoc_db *db, const char *name);
int assoc_model_count(const assoc_db *db);
assoc_model *assoc_model_at(const assoc_db *db, int i); /* definition order */

const char *assoc_model_name(const assoc_model *m);
const char *assoc_model_table(const assoc_model *m);
unsigned assoc_model_flags(const assoc_model *m);
int assoc_model_nattrs(const assoc_model *m);
const assoc_attr *assoc_model_attr(const assoc_model *m, int i);
/* Index of the attribute called `name`, or -1. */
int assoc_model_attr_index(const assoc_model *m, const char *name);
/* Index of the (first) primary key attribute. */
int assoc_model_pk(const assoc_model *m);

enum { ASSOC_COL_CREATED = 0, ASSOC_COL_UPDATED = 1, ASSOC_COL_DELETED = 2 };
/* Index of the createdAt / updatedAt / deletedAt attribute, or -1. */
int assoc_model_special(const assoc_model *m, int which);
/* The model whose key attribute `attr` of m references (a REFERENCES clause
 * an association gave it), with that key's attribute index in *key (may be
 * NULL); NULL when attr has no reference. */
const assoc_model *assoc_model_ref(const assoc_model *m, int attr, int *key);

/* ---- requests ------------------------------------------------------------ */
typedef enum assoc_op {
  ASSOC_OP_EQ = 1,      /* = ?            (NULL value: IS NULL)        */
  ASSOC_OP_NE,          /* != ?           (NULL value: IS NOT NULL)    */
  ASSOC_OP_GT, ASSOC_OP_GTE, ASSOC_OP_LT, ASSOC_OP_LTE,
  ASSOC_OP_IN,          /* IN (?, ...)    0 values: always false       */
  ASSOC_OP_NOTIN,       /* NOT IN (...)   0 values: always true        */
  ASSOC_OP_LIKE, ASSOC_OP_NOTLIKE,
  ASSOC_OP_ILIKE,       /* SQLite: LIKE (ASCII case-insensitive)       */
  ASSOC_OP_BETWEEN,     /* BETWEEN ? AND ?  (2 values)                 */
  ASSOC_OP_NOTBETWEEN,
  ASSOC_OP_IS,          /* IS ?   (NULL, or a boolean as 0/1)          */
  ASSOC_OP_NOT,         /* leaf: IS NOT ?; group: NOT (kids ANDed)     */
  ASSOC_OP_STARTSWITH,  /* LIKE ? ESCAPE '\' with the value escaped + % */
  ASSOC_OP_ENDSWITH,
  ASSOC_OP_SUBSTRING,
  ASSOC_OP_AND,         /* group */
  ASSOC_OP_OR,          /* group */
  ASSOC_OP__COUNT
} assoc_op;

const char *assoc_op_name(assoc_op op); /* "eq", "notIn", ... or NULL */

/* A where tree.  A leaf compares attribute `attr` with `values`; a group
 * (AND, OR, NOT with kids) combines `kids`.  An empty AND is true, an empty
 * OR false.  Every attribute index and operand count is checked. */
typedef struct assoc_where {
  assoc_op op;
  int attr;                       /* leaf: attribute index; group: -1 */
  int nvalues;
  const assoc_value *values;
  int nkids;
  const struct assoc_where *kids;
} assoc_where;

typedef struct assoc_order {
  int attr;  /* attribute index */
  int desc;  /* 0: ASC, 1: DESC */
} assoc_order;

typedef struct assoc_select {
  const int *attrs; int nattrs;   /* attribute indexes; nattrs == 0: all */
  const assoc_where *where;       /* NULL: no condition */
  const assoc_order *order; int norder;
  int64_t limit;                  /* < 0: none */
  int64_t offset;                 /* <= 0: none */
  int with_deleted;               /* paranoid model: 1 = keep soft-deleted */
} assoc_select;

/* Runs a SELECT on model `m`.  Rows expose assoc_rows_attr. */
int assoc_find(assoc_db *db, const assoc_model *m, const assoc_select *req,
               assoc_rows **out);
/* SELECT count(*) with req's where/with_deleted (attrs, order, limit and
 * offset are ignored). */
int assoc_count(assoc_db *db, const assoc_model *m, const assoc_select *req,
                int64_t *out);

/* INSERT of one row: attrs[i] gets vals[i].  *rowid (may be NULL) receives
 * the new rowid. */
int assoc_insert(assoc_db *db, const assoc_model *m, const int *attrs,
                 const assoc_value *vals, int n, int64_t *rowid);
/* INSERT of nrows rows with the same columns, vals row-major (nrows * n),
 * atomically (inside a savepoint).  rowids (may be NULL) receives nrows
 * rowids: then every row runs the one cached one-row statement; with NULL,
 * rows go in chunks through cached multi-row statements (faster). */
int assoc_insert_many(assoc_db *db, const assoc_model *m, const int *attrs,
                      int n, const assoc_value *vals, int nrows,
                      int64_t *rowids);
/* UPDATE ... SET attrs = vals WHERE where (NULL: every row).  with_deleted
 * as in assoc_select.  *changes (may be NULL) receives the row count. */
int assoc_update(assoc_db *db, const assoc_model *m, const int *attrs,
                 const assoc_value *vals, int n, const assoc_where *where,
                 int with_deleted, int64_t *changes);
/* DELETE FROM ... WHERE where (a hard delete, also on paranoid models). */
int assoc_delete(assoc_db *db, const assoc_model *m, const assoc_where *where,
                 int64_t *changes);

/* ---- associations ---------------------------------------------------------- */
/* See doc/associations.md for names, keys, DDL and the SQL of each accessor. */
typedef struct assoc_assoc assoc_assoc;

typedef enum assoc_kind {
  ASSOC_HAS_ONE = 1,
  ASSOC_BELONGS_TO = 2,
  ASSOC_HAS_MANY = 3,
  ASSOC_BELONGS_TO_MANY = 4
} assoc_kind;

/* ON DELETE / ON UPDATE actions. */
enum {
  ASSOC_FK_DEFAULT = 0, ASSOC_FK_CASCADE, ASSOC_FK_SET_NULL, ASSOC_FK_RESTRICT,
  ASSOC_FK_NO_ACTION, ASSOC_FK_SET_DEFAULT
};

/* One `attr = value` of an association scope (equality; stamped on writes). */
typedef struct assoc_pair {
  const char *attr;
  assoc_value value;
} assoc_pair;

typedef struct assoc_assoc_def {
  assoc_kind kind;
  assoc_model *source, *target;
  const char *as;                      /* NULL: default; plural for the many
                                          kinds, singular for one-to-one */
  const char *as_singular, *as_plural; /* the { singular, plural } form */
  const char *foreign_key;             /* attribute name; NULL: default */
  int foreign_key_allow_null;          /* -1: default (nullable) */
  const char *source_key, *target_key; /* NULL: primary keys */
  const char *other_key;               /* belongsToMany; NULL: default */
  const char *through;                 /* belongsToMany: junction model name */
  assoc_model *through_model;          /* ... or a defined model */
  int through_unique;                  /* -1: default (unique) */
  int through_timestamps;              /* -1: default (on) */
  const assoc_pair *scope; int nscope;
  const assoc_pair *through_scope; int nthrough_scope;
  int constraints;                     /* -1: default (on) */
  int on_delete, on_update;            /* ASSOC_FK_* */
} assoc_assoc_def;

/* Registers an association, resolving defaults, adding the foreign-key
 * attribute (and a generated junction model) as doc/associations.md says.
 * ASSOC_MISUSE (message naming the models and aliases) for a duplicate alias,
 * conflicting pair definitions, a self belongsToMany without `as`, unknown
 * keys, ...  Lives until assoc_close. */
int assoc_associate(assoc_db *db, const assoc_assoc_def *def, assoc_assoc **out);

enum { ASSOC_KEY_FOREIGN = 0, ASSOC_KEY_SOURCE, ASSOC_KEY_TARGET, ASSOC_KEY_OTHER };
enum {
  ASSOC_ACC_GET = 0, ASSOC_ACC_SET, ASSOC_ACC_CREATE, ASSOC_ACC_COUNT,
  ASSOC_ACC_HAS_ONE, ASSOC_ACC_HAS_MANY, ASSOC_ACC_ADD_ONE, ASSOC_ACC_ADD_MANY,
  ASSOC_ACC_REMOVE_ONE, ASSOC_ACC_REMOVE_MANY, ASSOC_ACC__COUNT
};

assoc_kind assoc_assoc_kind(const assoc_assoc *a);
assoc_model *assoc_assoc_source(const assoc_assoc *a);
assoc_model *assoc_assoc_target(const assoc_assoc *a);
assoc_model *assoc_assoc_through(const assoc_assoc *a); /* NULL unless BTM */
const char *assoc_assoc_as(const assoc_assoc *a, int plural);
/* Attribute name of a key (ASSOC_KEY_*), NULL when the kind has none. */
const char *assoc_assoc_key(const assoc_assoc *a, int which);
/* "getPosts", ... (ASSOC_ACC_*), NULL when the kind has no such accessor. */
const char *assoc_assoc_accessor(const assoc_assoc *a, int which);
int assoc_assoc_nscope(const assoc_assoc *a, int through);
const assoc_pair *assoc_assoc_scope(const assoc_assoc *a, int through, int i);
/* The source attribute whose value identifies the link (`src` below), and
 * the target attribute that identifies targets in lists. */
const char *assoc_assoc_source_attr(const assoc_assoc *a);
const char *assoc_assoc_target_attr(const assoc_assoc *a);
/* The same attributes as indexes in the source and target models. */
int assoc_assoc_source_index(const assoc_assoc *a);
int assoc_assoc_target_index(const assoc_assoc *a);
int assoc_assoc_fk_allow_null(const assoc_assoc *a);

int assoc_model_nassocs(const assoc_model *m);
assoc_assoc *assoc_model_assoc(const assoc_model *m, int i);
assoc_assoc *assoc_model_assoc_find(const assoc_model *m, const char *alias);

/* Junction columns of a belongsToMany read: attrs (through-model attribute
 * indexes; nattrs < 0: all, 0: none) and a where on the junction. */
typedef struct assoc_through_req {
  const int *attrs; int nattrs;
  const assoc_where *where;
} assoc_through_req;

/* The accessors' statements.  `src` is the value of assoc_assoc_source_attr
 * on the source instance; targets are values of assoc_assoc_target_attr.
 * Lists are bound as one JSON array (IN (SELECT value FROM json_each(?))).
 * Multi-statement calls run inside one savepoint: all or nothing. */
int assoc_rel_get(assoc_db *db, const assoc_assoc *a, const assoc_value *src,
                  const assoc_select *req, const assoc_through_req *through,
                  assoc_rows **out);
/* For rows of assoc_rel_get: 0 = a target column, 1 = a junction column. */
int assoc_rows_node(const assoc_rows *rows, int col);
int assoc_rel_count(assoc_db *db, const assoc_assoc *a, const assoc_value *src,
                    const assoc_select *req, int64_t *out);
/* assoc_rel_count with a junction filter: through->where (belongsToMany
 * only; through->attrs are ignored) is ANDed into the join as in
 * assoc_rel_get.  through NULL (or without where) is assoc_rel_count. */
int assoc_rel_count_v2(assoc_db *db, const assoc_assoc *a,
                       const assoc_value *src, const assoc_select *req,
                       const assoc_through_req *through, int64_t *out);
int assoc_rel_has(assoc_db *db, const assoc_assoc *a, const assoc_value *src,
                  const assoc_value *targets, int n, int *all);
/* tattrs: through-model attribute indexes; tvals: n * ntattrs row-major. */
int assoc_rel_add(assoc_db *db, const assoc_assoc *a, const assoc_value *src,
                  const assoc_value *targets, int n, const int *tattrs,
                  int ntattrs, const assoc_value *tvals);
int assoc_rel_remove(assoc_db *db, const assoc_assoc *a, const assoc_value *src,
                     const assoc_value *targets, int n);
int assoc_rel_set(assoc_db *db, const assoc_assoc *a, const assoc_value *src,
                  const assoc_value *targets, int n, const int *tattrs,
                  int ntattrs, const assoc_value *tvals);
/* add / set with "missing" cells: tkeep (NULL: every cell given) holds
 * n * ntattrs flags parallel to tvals.  A nonzero flag marks a cell the
 * caller did not give: a new link gets the cell's tvals value (the
 * attribute's default), an existing link keeps its own value.  Targets
 * should be distinct (a repeated target: the last write wins). */
int assoc_rel_add_v2(assoc_db *db, const assoc_assoc *a,
                     const assoc_value *src, const assoc_value *targets, int n,
                     const int *tattrs, int ntattrs, const assoc_value *tvals,
                     const unsigned char *tkeep);
int assoc_rel_set_v2(assoc_db *db, const assoc_assoc *a,
                     const assoc_value *src, const assoc_value *targets, int n,
                     const int *tattrs, int ntattrs, const assoc_value *tvals,
                     const unsigned char *tkeep);
/* hasOne: unlink (or delete, NOT NULL key) the previous child other than
 * `target`, then link `target` (NULL: only unlink). */
int assoc_rel_set_one(assoc_db *db, const assoc_assoc *a,
                      const assoc_value *src, const assoc_value *target);
/* The accessor forms (the bindings' hasX, addX, removeX with one target,
 * and countX): the results and statement counts of assoc_rel_has, _add_v2,
 * _remove and _count_v2, with statements written for the call -- one
 * target bound as itself (`tk = ?`, no JSON list, no json_each), a
 * belongsToMany upsert as INSERT ... VALUES (...) ON CONFLICT when every
 * through cell is given, and a belongsToMany count as count(*) where no
 * (fk, ok) pair can repeat (unique junction key and target key). */
int assoc_rel_has_one(assoc_db *db, const assoc_assoc *a,
                      const assoc_value *src, const assoc_value *target,
                      int *yes);
int assoc_rel_add_one(assoc_db *db, const assoc_assoc *a,
                      const assoc_value *src, const assoc_value *target,
                      const int *tattrs, int ntattrs, const assoc_value *tvals,
                      const unsigned char *tkeep);
int assoc_rel_remove_one(assoc_db *db, const assoc_assoc *a,
                         const assoc_value *src, const assoc_value *target);
int assoc_rel_count_fast(assoc_db *db, const assoc_assoc *a,
                         const assoc_value *src, const assoc_select *req,
                         const assoc_through_req *through, int64_t *out);

/* ---- eager loading ----------------------------------------------------------- */
/* An include tree node: the association to follow from its parent's model,
 * what to read of its target, and its own children.  See doc/eager.md. */
typedef struct assoc_include {
  const assoc_assoc *assoc;
  const assoc_select *req;        /* target attrs, where, order, per-parent
                                     limit/offset, with_deleted; NULL: all */
  int required;                   /* -1: default (1 when req->where) */
  int separate;                   /* load in its own statement */
  const assoc_through_req *through;
  const struct assoc_include *kids;
  int nkids;
} assoc_include;

/* Top-level order by an included column: node (preorder index of the
 * include tree, 0 = the root model), attribute, direction; junction=1 for a
 * junction column of a belongsToMany node. */
typedef struct assoc_eager_order {
  int node, attr, desc, junction;
} assoc_eager_order;

typedef struct assoc_result assoc_result;

/* Loads the root rows of `m` matching req (limit/offset count root rows)
 * with every include, in a number of statements fixed by the tree.  The
 * result holds, per node (preorder; 0 = root), its rows de-duplicated by
 * primary key, each with the index of its parent row. */
int assoc_find_all(assoc_db *db, const assoc_model *m, const assoc_select *req,
                   const assoc_include *inc, int ninc,
                   const assoc_eager_order *order, int norder,
                   assoc_result **out);
/* Streaming form, for callers that build their own objects (the Lua
 * bindings): plans the same load, running nothing yet, and marks the
 * to-many leaves (hasMany / belongsToMany includes without includes of
 * their own) as streamed.  assoc_result_step then runs the statements in
 * the same order as assoc_find_all: it stores the rows of the other nodes
 * and returns each row of a streamed node as it is read -- ASSOC_ROW with
 * *node, *prow (the index of its parent row, once per parent that has its
 * key, as assoc_find_all would store it) and *vals (its ncols values,
 * valid until the next step; text points into SQLite) -- until
 * ASSOC_DONE, when the result holds every stored node (a streamed node has
 * no rows of its own there), or an error (then only free it).  The
 * streamed rows are never held in memory all at once. */
int assoc_find_stream(assoc_db *db, const assoc_model *m,
                      const assoc_select *req, const assoc_include *inc,
                      int ninc, const assoc_eager_order *order, int norder,
                      assoc_result **out);
int assoc_result_step(assoc_result *r, int *node, int64_t *prow,
                      const assoc_value **vals);
int assoc_result_streamed(const assoc_result *r, int node);
/* count of distinct root rows matching req and the required includes. */
int assoc_count_all(assoc_db *db, const assoc_model *m, const assoc_select *req,
                    const assoc_include *inc, int ninc, int64_t *out);
int assoc_result_nnodes(const assoc_result *r);
const assoc_include *assoc_result_include(const assoc_result *r, int node);
int assoc_result_parent(const assoc_result *r, int node); /* -1 for root */
int64_t assoc_result_nrows(const assoc_result *r, int node);
/* Columns of a node: attribute index, and whether it is a junction column. */
int assoc_result_ncols(const assoc_result *r, int node);
int assoc_result_attr(const assoc_result *r, int node, int col, int *junction);
void assoc_result_value(const assoc_result *r, int node, int64_t row, int col,
                        assoc_value *out);
/* Index (in the parent node's rows) of the parent of `row`. */
int64_t assoc_result_parent_row(const assoc_result *r, int node, int64_t row);
void assoc_result_free(assoc_result *r); /* accepts NULL */
/* Additions for the bindings' one-pass build and for tests: */
/* The model of a node's rows (the root model, or the include's target). */
const assoc_model *assoc_result_model(const assoc_result *r, int node);
/* The ncols values of a row (valid until assoc_result_free), or NULL. */
const assoc_value *assoc_result_row(const assoc_result *r, int node,
                                    int64_t row);
/* The rows of `node` whose parent is parent_row (a row of the parent
 * node), in load order: their count, and in *rows their indexes. */
int64_t assoc_result_children(const assoc_result *r, int node,
                              int64_t parent_row, const int64_t **rows);
/* How many statements the load ran (1 + the to-many includes). */
int assoc_result_nstatements(const assoc_result *r);
/* The SQL text of statement `stmt` of a load (0 = the root statement, then
 * one per hasMany/belongsToMany include in preorder; -1 = the statement of
 * assoc_count_all), without running anything.  *out is malloc'ed (free()
 * it).  For tests and documentation. */
int assoc_eager_sql(assoc_db *db, const assoc_model *m,
                    const assoc_select *req, const assoc_include *inc,
                    int ninc, const assoc_eager_order *order, int norder,
                    int stmt, char **out);

/* ---- schema -------------------------------------------------------------- */
/* Creates every model's table (IF NOT EXISTS) in dependency order; with
 * force, drops them first (reverse order).  Atomic. */
int assoc_sync(assoc_db *db, int force);
/* Drops every model's table (IF EXISTS), dependants first. */
int assoc_drop(assoc_db *db);

/* ---- SQL building (no database needed; used by the calls above) ---------- */
/* Built SQL: NUL-terminated text plus the values to bind, in order.  The
 * builder owns copies of transformed values (LIKE patterns); text/blob
 * pointers of other binds are borrowed from the request.  Errors are sticky:
 * the first one is kept in errmsg and the builder returns ASSOC_MISUSE or
 * ASSOC_NOMEM. */
typedef struct assoc_sql {
  char *text;
  size_t len;
  assoc_value *binds;
  int nbinds;
  int rc;             /* ASSOC_OK or the first error */
  char errmsg[256];
  void *priv_;        /* builder-owned storage */
} assoc_sql;

void assoc_sql_init(assoc_sql *s);
void assoc_sql_free(assoc_sql *s); /* frees what the builder owns; reusable
                                      after assoc_sql_init */

int assoc_build_select(const assoc_model *m, const assoc_select *req,
                       assoc_sql *out);
int assoc_build_count(const assoc_model *m, const assoc_select *req,
                      assoc_sql *out);
int assoc_build_insert(const assoc_model *m, const int *attrs,
                       const assoc_value *vals, int n, assoc_sql *out);
int assoc_build_update(const assoc_model *m, const int *attrs,
                       const assoc_value *vals, int n,
                       const assoc_where *where, int with_deleted,
                       assoc_sql *out);
int assoc_build_delete(const assoc_model *m, const assoc_where *where,
                       assoc_sql *out);
int assoc_build_create_table(const assoc_model *m, assoc_sql *out);

/* ---- naming -------------------------------------------------------------- */
/* English inflection and case conversion (Sequelize's `inflection` rules:
 * Person/People, Category/Categories, Status/Statuses, ...).  Each writes a
 * NUL-terminated result into out (capacity cap) and returns its length, or
 * -1 when it does not fit. */
int assoc_pluralize(const char *word, char *out, size_t cap);
int assoc_singularize(const char *word, char *out, size_t cap);
int assoc_camelize(const char *word, int lower_first, char *out, size_t cap);
int assoc_underscore(const char *word, char *out, size_t cap);

/* ---- misc ---------------------------------------------------------------- */
/* A random (version 4) UUID, 36 characters + NUL, from SQLite's PRNG. */
void assoc_uuid4(char out[37]);
/* The current UTC time as ISO-8601 with milliseconds,
 * "2026-11-25T15:19:31.123Z" (24 characters + NUL). */
void assoc_now_iso(char out[25]);

/* ---- Lua hosts ------------------------------------------------------------ */
/* Defined by the bindings (libassoc.a / libassoc.so), not by the core:
 * registers assoc.core and the embedded Lua modules (assoc, assoc.*) in
 * package.preload so that `require "assoc"` works with no search paths.
 * Returns 0.  Declared here so a host needs only this header. */
struct lua_State;
int assoc_openlibs(struct lua_State *L);
int luaopen_assoc_core(struct lua_State *L);

#ifdef __cplusplus
}
#endif
#endif /* ASSOC_H */
