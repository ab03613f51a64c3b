/*
 * assoc_int.h -- internal declarations shared by the files of the C core.
 *
 * Not installed and not part of the public API (that is assoc.h).  It holds
 * the layout of the opaque handles (assoc_db, assoc_model, assoc_rows), the
 * prepared-statement cache, the error helpers every file reports through,
 * and the few builder entry points the core uses internally.  Internal
 * names carry the `assoc__` prefix.
 */
#ifndef ASSOC_INT_H
#define ASSOC_INT_H

#include "assoc.h"

#include <sqlite3.h>
#include <stdarg.h>

#define ASSOC__DEFAULT_BUSY_MS 5000
#define ASSOC__DEFAULT_CACHE 128
#define ASSOC__MAX_WHERE_DEPTH 64

#if defined(__GNUC__)
#define ASSOC__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define ASSOC__PRINTF(f, a)
#endif

/* ---- rows and cached statements ------------------------------------------ */
typedef struct assoc__stmt assoc__stmt;

enum { ASSOC__ROWS_LIVE = 0, ASSOC__ROWS_DONE = 1, ASSOC__ROWS_ERROR = 2 };

/* A running statement.  Embedded in its statement entry, so opening rows
 * never allocates. */
struct assoc_rows {
  assoc_db *db;
  assoc__stmt *st;
  const assoc_model *m; /* model query: st->amap maps columns to attrs */
  int state;            /* ASSOC__ROWS_* */
  int rc;               /* the error that ended the rows (ROWS_ERROR) */
  int traced;           /* the trace callback has seen this run */
  double t0;            /* start (ms, monotonic) when tracing */
  int64_t nrows;        /* rows of this run so far */
  int64_t last;         /* rows of the statement's previous complete run,
                           -1: none yet (kept across runs: the rows live in
                           their statement entry) */
  int ncols;            /* the statement's columns */
  int onrow;            /* rows_next returned a row that is current */
};

/* One prepared statement, cached (in the hash and LRU list) or loose (a
 * temporary one, or one evicted while busy: finalized when released). */
struct assoc__stmt {
  sqlite3_stmt *stmt;
  assoc__stmt *hnext;        /* hash chain */
  assoc__stmt *prev, *next;  /* LRU list (cached) or loose list */
  uint32_t hash;
  unsigned char busy;        /* handed out and not yet released */
  unsigned char cached;      /* in the hash/LRU (else loose) */
  int *amap;                 /* column -> attribute index, ncols entries */
  int ncols;
  assoc_rows rows;
  size_t len;
  char sql[];                /* the key: SQL text, NUL-terminated */
};

typedef struct assoc__cache {
  assoc__stmt **buckets;
  uint32_t nbuckets;         /* a power of two */
  assoc__stmt *head, *tail;  /* LRU: head is the most recently used */
  assoc__stmt *loose;        /* busy statements outside the cache */
  int size, capacity;
  int64_t hits, misses, evictions;
} assoc__cache;

/* Flags of assoc__stmt_get. */
enum {
  ASSOC__NOCACHE = 1u << 0,  /* prepare a one-off statement */
  ASSOC__ONE = 1u << 1       /* refuse a trailing second statement */
};

/* ---- models -------------------------------------------------------------- */
/* A foreign-key reference of one column (filled in by associations). */
typedef struct assoc__ref {
  char *table;           /* referenced table */
  char *column;          /* referenced column */
  const char *on_delete; /* "CASCADE", "SET NULL", ... or NULL */
  const char *on_update;
} assoc__ref;

struct assoc_model {
  assoc_db *db;
  char *name;
  char *table;
  unsigned flags;
  assoc_attr *attrs;     /* copies: name/column owned, column never NULL */
  int nattrs;
  int pk;                /* first primary key attribute */
  int npk;               /* number of primary key attributes */
  int special[3];        /* ASSOC_COL_* -> attribute index or -1 */
  int *hidx;             /* open-addressing index (attr+1, 0 = empty) or NULL */
  uint32_t hmask;
  assoc__ref **refs;     /* NULL, or nattrs entries (NULL = no reference) */
  assoc_assoc **assocs;  /* associations with this model as source, in order */
  int nassocs, assoccap;
  int nuniq, uniq[2];    /* a composite UNIQUE (uniq[0], uniq[1]) when nuniq
                            == 2 (a junction with a PK of its own) */
  unsigned char junction; /* used as the `through` of a belongsToMany */
  unsigned char synced;   /* assoc_sync created its table */
};

/* ---- associations ---------------------------------------------------------- */
/* A resolved scope entry: attribute index on the scoped model and an owned
 * copy of the value. */
typedef struct assoc__scope {
  int attr;
  assoc_value value;   /* text/blob owned (malloc'ed) */
} assoc__scope;

/* The SQL text of a fixed-shape statement of an association, built once
 * (sqlassoc.c): valid while db->schema_gen is `gen` and the caller's shape
 * key is `shape`.  A hit builds only the binds (same builder code, text
 * switched off: assoc__sql_memo) and prepares the memo's text, hashed once. */
#define ASSOC__MEMO_MAXB 16 /* binds a recipe can hold */
typedef struct assoc__memo {
  unsigned gen;     /* 0: empty */
  uint64_t shape;
  char *sql;
  size_t len;
  uint32_t hash;
  /* The bind recipe: bind i is argument rec[i].arg of the call (see
   * assoc__sql_memo_args), or (arg < 0) the value at rec[i].cst, which the
   * association owns (a scope value).  nrec < 0: no recipe. */
  int nrec;
  struct {
    int arg;
    const assoc_value *cst;
  } rec[ASSOC__MEMO_MAXB];
} assoc__memo;
enum { ASSOC__MEMO_GET, ASSOC__MEMO_COUNT, ASSOC__MEMO_HAS,
       ASSOC__MEMO_ADD, ASSOC__MEMO_REMOVE, ASSOC__MEMO_N };

struct assoc_assoc {
  assoc_db *db;
  assoc_kind kind;
  assoc_model *source, *target;
  assoc_model *through;          /* BTM junction, else NULL */
  char *as_singular, *as_plural; /* owned */
  char *accessors[ASSOC_ACC__COUNT]; /* owned, NULL when not for the kind */
  /* Attribute indexes.  fk lives on: the target (hasOne/hasMany), the source
   * (belongsTo), the junction (BTM, pointing at source_key).  other_key is on
   * the junction (BTM, pointing at target_key). */
  int fk, source_key, target_key, other_key;
  int fk_allow_null;
  int constraints, on_delete, on_update;
  assoc__scope *scope; int nscope;                 /* on the target */
  assoc__scope *through_scope; int nthrough_scope; /* on the junction */
  unsigned explicit_;            /* which options were given (pair checks) */
  /* Added by association.c.  belongsTo has no sourceKey: its source_key is
   * the fk (the source attribute holding the link).  hasOne/hasMany:
   * target_key is the target's primary key.  src_attr / tgt_attr: the
   * source attribute whose value identifies the link (source_key; the fk for
   * belongsTo) and the target attribute identifying targets in accessor
   * lists (target_key).  BTM: other_on_delete/other_on_update are the
   * actions of other_key; upsert: the junction has a PRIMARY KEY or UNIQUE
   * exactly on (fk, other_key), so add is one INSERT ... ON CONFLICT. */
  int src_attr, tgt_attr;
  int other_on_delete, other_on_update;
  int upsert;
  assoc_pair *scope_pairs, *through_scope_pairs; /* assoc_assoc_scope's
                                                    views of the scopes */
  assoc__memo memo[ASSOC__MEMO_N]; /* a cache: written through const */
};

/* Bits of assoc_assoc.explicit_. */
enum {
  ASSOC__EX_AS = 1u << 0,
  ASSOC__EX_FK = 1u << 1,
  ASSOC__EX_ALLOWNULL = 1u << 2,
  ASSOC__EX_CONSTRAINTS = 1u << 3,
  ASSOC__EX_ONDELETE = 1u << 4,
  ASSOC__EX_ONUPDATE = 1u << 5,
  ASSOC__EX_OTHER = 1u << 6
};

/* Frees an association (association.c).  Accepts NULL. */
void assoc__assoc_free(assoc_assoc *a);

/* ---- connection -------------------------------------------------------- */
struct assoc_db {
  sqlite3 *sq;             /* NULL once closed / when opening failed */
  int errcode;
  char errmsg[512];
  char *errsql;
  char *errfield;
  assoc_trace_fn trace;
  void *trace_ud;
  int depth;               /* transaction depth */
  assoc__cache cache;
  assoc_model **models;    /* definition order */
  int nmodels, modelcap;
  assoc_sql scratch;       /* builder buffers reused by requests */
  int scratch_busy;
  unsigned schema_gen;     /* bumped by every change to models or
                              associations (memos of older ones are stale) */
};

/* ---- errors (db.c) --------------------------------------------------------- */
/* Each sets the db's error and returns `code` (no-op on a NULL db). */
int assoc__err(assoc_db *db, int code, const char *fmt, ...) ASSOC__PRINTF(3, 4);

/* Column col of st's current row as a value, text and blobs left in
 * SQLite's memory (valid until the next step or reset): one
 * sqlite3_column_value and the value's own accessors (the value is
 * "unprotected": fine, a connection is used by one thread at a time).
 * ASSOC_NOMEM (set on db) when SQLite runs out of memory converting it;
 * then *v is a NULL value. */
static inline int assoc__column(assoc_db *db, sqlite3_stmt *st, int col,
                                assoc_value *v) {
  sqlite3_value *x = sqlite3_column_value(st, col);
  switch (sqlite3_value_type(x)) {
  case SQLITE_INTEGER:
    v->type = ASSOC_V_INT;
    v->u.i = sqlite3_value_int64(x);
    return ASSOC_OK;
  case SQLITE_FLOAT:
    v->type = ASSOC_V_REAL;
    v->u.r = sqlite3_value_double(x);
    return ASSOC_OK;
  case SQLITE_TEXT: {
    const unsigned char *t = sqlite3_value_text(x);
    if (t == NULL) break;
    v->type = ASSOC_V_TEXT;
    v->u.s.p = (const char *)t;
    v->u.s.n = (size_t)sqlite3_value_bytes(x);
    return ASSOC_OK;
  }
  case SQLITE_BLOB: {
    const void *b = sqlite3_value_blob(x);
    size_t n = (size_t)sqlite3_value_bytes(x);
    if (b == NULL && n != 0) break;
    v->type = ASSOC_V_BLOB;
    v->u.s.p = b != NULL ? (const char *)b : "";
    v->u.s.n = n;
    return ASSOC_OK;
  }
  default:
    v->type = ASSOC_V_NULL;
    v->u.i = 0;
    return ASSOC_OK;
  }
  v->type = ASSOC_V_NULL;
  v->u.i = 0;
  return assoc__err(db, ASSOC_NOMEM, "out of memory");
}
/* Records SQLite's current error for the failed `sql` (may be NULL); maps
 * the extended code; names model attributes on UNIQUE/NOT NULL. */
int assoc__sqlerr(assoc_db *db, int sqlite_rc, const char *sql);
void assoc__clear_err(assoc_db *db);
int assoc__map_code(int sqlite_ext_rc);

/* ---- statements (stmtcache.c) ---------------------------------------------- */
int assoc__cache_init(assoc__cache *c, int capacity);
/* Finalizes every statement (cached and loose) and frees the cache. */
void assoc__cache_free(assoc__cache *c);
/* Hands out a ready statement for `sql` (len bytes), marked busy.  Returns
 * ASSOC_OK, or an error with the message on db (nothing handed out). */
/* As assoc__stmt_get, with the text's hash (assoc__sql_hash) known. */
int assoc__stmt_get_h(assoc_db *db, const char *sql, size_t len,
                      uint32_t hash, unsigned flags, assoc__stmt **out);
uint32_t assoc__sql_hash(const char *sql, size_t len);
int assoc__stmt_get(assoc_db *db, const char *sql, size_t len, unsigned flags,
                    assoc__stmt **out);
/* Resets and clears the statement and gives it back (finalizes it when it
 * is loose).  Accepts NULL. */
void assoc__stmt_put(assoc_db *db, assoc__stmt *st);

/* ---- running statements (db.c) --------------------------------------------- */
double assoc__now_ms(void);
/* Binds n values to st (1-based in order).  transient: copy text/blobs. */
int assoc__bind(assoc_db *db, assoc__stmt *st, const assoc_value *v, int n,
                int transient);
/* Steps st to its end (rows discarded), traces it once.  Does not release
 * st.  Returns ASSOC_OK or the mapped error. */
int assoc__run(assoc_db *db, assoc__stmt *st);
/* Runs one SQL text with binds: get, bind, run, put. */
int assoc__exec_sql(assoc_db *db, const char *sql, size_t len,
                    const assoc_value *v, int n, unsigned flags);
/* Rolls back the innermost transaction level after a failure, keeping the
 * error that caused it on db.  Returns the kept error code. */
int assoc__rollback_keep(assoc_db *db);
/* Turns a busy statement into open rows (model m may be NULL). */
assoc_rows *assoc__rows_open(assoc_db *db, assoc__stmt *st,
                             const assoc_model *m);

/* ---- models (model.c) -------------------------------------------------- */
void assoc__model_free(assoc_model *m);
/* Attribute whose column is `col` (n bytes), or -1. */
int assoc__attr_by_column(const assoc_model *m, const char *col, size_t n);
/* Model indexes in creation order into order[] (db->nmodels entries):
 * referenced tables before the tables referencing them, otherwise
 * definition order (cycles are broken in definition order). */
void assoc__model_order(const assoc_db *db, int *order);
/* Gives column `attr` of m a REFERENCES clause (replacing any).  on_delete
 * and on_update are NULL or one of CASCADE, SET NULL, SET DEFAULT,
 * RESTRICT, NO ACTION (case-insensitive; anything else is ASSOC_MISUSE).
 * Returns ASSOC_OK, ASSOC_MISUSE or ASSOC_NOMEM (m unchanged on failure). */
int assoc__model_set_ref(assoc_model *m, int attr, const char *table,
                         const char *column, const char *on_delete,
                         const char *on_update);
/* Removes the REFERENCES clause of column `attr` (if any).  Never fails. */
void assoc__model_clear_ref(assoc_model *m, int attr);
/* Appends a copy of attribute a (column resolved as assoc_define does),
 * rebuilding the name index.  Returns ASSOC_OK, ASSOC_MISUSE (duplicate
 * name or column; message on m->db) or ASSOC_NOMEM; m unchanged on failure. */
int assoc__model_add_attr(assoc_model *m, const assoc_attr *a);
/* Removes the last attribute (the undo of assoc__model_add_attr). */
void assoc__model_pop_attr(assoc_model *m);
/* Drops the core-added `id` primary key (attribute 0) and makes attributes
 * a and b (indexes before the drop) the composite primary key.  Never
 * fails; every attribute index of m above 0 moves down by one. */
void assoc__model_replace_auto_pk(assoc_model *m, int a, int b);
/* Unregisters and frees the most recently defined model (an undo). */
void assoc__model_pop(assoc_db *db);

/* ---- SQL building (sqlstr.c, sqlwhere.c, sqlselect.c, sqlwrite.c,
 *      sqlddl.c) ----------------------------------------------------------- */
/* The text buffer and bind list of an assoc_sql are sticky: after the
 * first failure (s->rc != ASSOC_OK) every append is a no-op. */
/* Empties s for a new statement, keeping its buffers. */
void assoc__sql_reset(assoc_sql *s);
void assoc__sql_append(assoc_sql *s, const char *text, size_t n);
void assoc__sql_appendz(assoc_sql *s, const char *text);
void assoc__sql_printf(assoc_sql *s, const char *fmt, ...) ASSOC__PRINTF(2, 3);
/* Appends "ident" (double-quoted, embedded quotes doubled). */
void assoc__sql_ident(assoc_sql *s, const char *ident);
/* Appends a bind value (borrowed). */
void assoc__sql_bind(assoc_sql *s, const assoc_value *v);
/* Ties s (just reset) to memo m for shape: when m holds the text for gen
 * and shape, the appends that follow write nothing (the builder still runs
 * and records its binds).  assoc__sql_text then gives the text to prepare:
 * m's on a hit; else s's own, copied into m (when there is memory). */
void assoc__sql_memo(assoc_sql *s, assoc__memo *m, unsigned gen,
                     uint64_t shape);
void assoc__sql_text(assoc_sql *s, const char **text, size_t *len,
                     uint32_t *hash);
/* The call's arguments (n <= 8 pointers) whose binds a memo's recipe names
 * by position; set after assoc__sql_memo, before the build. */
void assoc__sql_memo_args(assoc_sql *s, const assoc_value *const *args, int n);
void assoc__memo_free(assoc__memo *m);
/* Allocates n bytes owned by s (freed on reset/free), or NULL (rc set). */
char *assoc__sql_own(assoc_sql *s, size_t n);
/* Records the first error (later ones are ignored); returns s->rc. */
int assoc__sql_fail(assoc_sql *s, int rc, const char *fmt, ...) ASSOC__PRINTF(3, 4);
/* Checks a value's type and pointer; 0 when bad. */
int assoc__value_ok(const assoc_value *v);
/* Appends " WHERE ..." for w (may be NULL), ANDed after the soft-delete
 * filter `"deletedAt" IS NULL` when filter_deleted and m is paranoid. */
void assoc__sql_where(assoc_sql *s, const assoc_model *m, const assoc_where *w,
                      int filter_deleted);
/* Appends the condition of w alone (one operand of AND; "1 = 1" for NULL)
 * with every column qualified by the table alias qual ("qual"."col"; NULL:
 * unqualified).  Used by the eager loader (eager.c). */
void assoc__sql_cond(assoc_sql *s, const assoc_model *m, const char *qual,
                     const assoc_where *w);
int assoc__build_drop_table(const assoc_model *m, assoc_sql *out);

/* Borrowing the db's scratch builder: returns it reset, or `local`
 * (initialized) when a request is already using it (a re-entrant call). */
assoc_sql *assoc__scratch_get(assoc_db *db, assoc_sql *local);
void assoc__scratch_put(assoc_db *db, assoc_sql *s);

/* ---- naming (naming.c) ---------------------------------------------------- */
/* Allocating forms (malloc'ed, NULL when out of memory). */
char *assoc__pluralize_dup(const char *word);
char *assoc__underscore_dup(const char *word);

#endif /* ASSOC_INT_H */
