/*
 * db.c -- the connection: opening and closing, the last error, tracing,
 * raw statements (assoc_exec, assoc_query), the rows cursor, and
 * transactions.
 *
 * Every statement the core runs goes through here: it is taken from the
 * statement cache (stmtcache.c), bound, stepped, traced once when it
 * finishes, and given back.  Errors from SQLite are mapped to ASSOC_* codes
 * in one place (assoc__sqlerr), which also turns UNIQUE and NOT NULL
 * failures on a model's table into attribute names ("User.email must be
 * unique").  A closed or NULL handle makes every call return ASSOC_CLOSED.
 */
#include "assoc_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHECK_DB(db)                                      \
  do {                                                    \
    if ((db) == NULL || (db)->sq == NULL) return ASSOC_CLOSED; \
  } while (0)

/* ---- errors ---------------------------------------------------------------- */

void assoc__clear_err(assoc_db *db) {
  if (db == NULL || db->errcode == ASSOC_OK) return;
  db->errcode = ASSOC_OK;
  db->errmsg[0] = '\0';
  free(db->errsql);
  db->errsql = NULL;
  free(db->errfield);
  db->errfield = NULL;
}

int assoc__err(assoc_db *db, int code, const char *fmt, ...) {
  va_list ap;
  if (db == NULL) return code;
  free(db->errsql);
  db->errsql = NULL;
  free(db->errfield);
  db->errfield = NULL;
  db->errcode = code;
  va_start(ap, fmt);
  vsnprintf(db->errmsg, sizeof db->errmsg, fmt, ap);
  va_end(ap);
  return code;
}

int assoc__map_code(int rc) {
  switch (rc & 0xff) {
  case SQLITE_OK: return ASSOC_OK;
  case SQLITE_CONSTRAINT:
    switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY: return ASSOC_UNIQUE;
    case SQLITE_CONSTRAINT_FOREIGNKEY: return ASSOC_FOREIGNKEY;
    case SQLITE_CONSTRAINT_NOTNULL: return ASSOC_NOTNULL;
    default: return ASSOC_CONSTRAINT;
    }
  case SQLITE_BUSY:
  case SQLITE_LOCKED: return ASSOC_BUSY;
  case SQLITE_NOMEM: return ASSOC_NOMEM;
  case SQLITE_CANTOPEN: return ASSOC_CANTOPEN;
  default: return ASSOC_ERROR;
  }
}

static char *dupn(const char *s, size_t n) {
  char *p = malloc(n + 1);
  if (p != NULL) {
    memcpy(p, s, n);
    p[n] = '\0';
  }
  return p;
}

/* Rewrites a "UNIQUE/NOT NULL constraint failed: t.c, t.d" message in terms
 * of one model's attributes.  Leaves the error as it is when any column is
 * not an attribute of one same model. */
static void name_constraint(assoc_db *db, int code, const char *msg) {
  static const char key[] = "constraint failed: ";
  const char *p = strstr(msg, key);
  const assoc_model *m = NULL;
  char field[256], text[384];
  size_t flen = 0, tlen = 0;
  if (p == NULL) return;
  p += sizeof key - 1;
  for (;;) {
    const assoc_model *mm = NULL;
    size_t tl = 0;
    const char *q, *e;
    int a, k;
    for (k = 0; k < db->nmodels; k++) {
      const assoc_model *x = db->models[k];
      size_t l = strlen(x->table);
      if (l > tl && strncmp(p, x->table, l) == 0 && p[l] == '.') {
        mm = x;
        tl = l;
      }
    }
    if (mm == NULL || (m != NULL && mm != m)) return;
    m = mm;
    q = p + tl + 1;
    e = strstr(q, ", ");
    if (e == NULL) e = q + strlen(q);
    a = assoc__attr_by_column(m, q, (size_t)(e - q));
    if (a < 0) return;
    {
      const char *an = m->attrs[a].name;
      int w = snprintf(field + flen, sizeof field - flen, "%s%s",
                       flen ? "," : "", an);
      if (w < 0 || (size_t)w >= sizeof field - flen) return;
      flen += (size_t)w;
      w = snprintf(text + tlen, sizeof text - tlen, "%s%s.%s",
                   tlen ? ", " : "", m->name, an);
      if (w < 0 || (size_t)w >= sizeof text - tlen) return;
      tlen += (size_t)w;
    }
    if (*e == '\0') break;
    p = e + 2;
  }
  {
    char *f = dupn(field, flen);
    if (f == NULL) return; /* keep SQLite's message */
    free(db->errfield);
    db->errfield = f;
    snprintf(db->errmsg, sizeof db->errmsg, "%s %s", text,
             code == ASSOC_UNIQUE ? "must be unique" : "cannot be null");
  }
}

int assoc__sqlerr(assoc_db *db, int rc, const char *sql) {
  int ext, code;
  if (db == NULL) return assoc__map_code(rc);
  if (db->sq == NULL) return assoc__err(db, ASSOC_CLOSED, "database is closed");
  ext = sqlite3_extended_errcode(db->sq);
  if ((ext & 0xff) != (rc & 0xff)) ext = rc;
  code = assoc__map_code(ext);
  if (code == ASSOC_OK) code = ASSOC_ERROR;
  /* ON DELETE/UPDATE RESTRICT fails with SQLITE_CONSTRAINT_TRIGGER */
  if (code == ASSOC_CONSTRAINT &&
      strncmp(sqlite3_errmsg(db->sq), "FOREIGN KEY constraint failed", 29) == 0)
    code = ASSOC_FOREIGNKEY;
  assoc__err(db, code, "%s", code == ASSOC_NOMEM ? "out of memory"
                                                  : sqlite3_errmsg(db->sq));
  if (sql != NULL) db->errsql = dupn(sql, strlen(sql)); /* NULL on OOM: ok */
  if (code == ASSOC_UNIQUE || code == ASSOC_NOTNULL)
    name_constraint(db, code, sqlite3_errmsg(db->sq));
  return code;
}

int assoc_errcode(const assoc_db *db) {
  if (db == NULL) return ASSOC_CLOSED;
  return db->errcode;
}

const char *assoc_errmsg(const assoc_db *db) {
  if (db == NULL) return "database is closed";
  if (db->errcode == ASSOC_OK) return "not an error";
  return db->errmsg;
}

const char *assoc_errsql(const assoc_db *db) {
  return db == NULL ? NULL : db->errsql;
}

const char *assoc_errfield(const assoc_db *db) {
  return db == NULL ? NULL : db->errfield;
}

/* ---- open / close ---------------------------------------------------------- */

/* Runs one setup statement with sqlite3_exec; records a failure. */
static int setup_exec(assoc_db *db, const char *sql) {
  int rc = sqlite3_exec(db->sq, sql, NULL, NULL, NULL);
  if (rc != SQLITE_OK) return assoc__sqlerr(db, rc, sql);
  return ASSOC_OK;
}

/* Opens the connection.  Returns ASSOC_OK; ASSOC_NOMEM with *out NULL; or
 * another code with *out holding a handle whose message says why (the
 * caller closes it).  Owned by the caller: free with assoc_close. */
int assoc_open(const char *path, const assoc_open_opts *opts, assoc_db **out) {
  assoc_db *db;
  sqlite3 *sq = NULL;
  int rc, busy, cap;
  const char *fname;
  if (out == NULL) return ASSOC_MISUSE;
  *out = NULL;
  db = calloc(1, sizeof *db);
  if (db == NULL) return ASSOC_NOMEM;
  assoc_sql_init(&db->scratch);
  db->schema_gen = 1; /* a memo of generation 0 is empty */
  cap = (opts != NULL && opts->cache_size > 0) ? opts->cache_size
                                               : ASSOC__DEFAULT_CACHE;
  busy = (opts != NULL && opts->busy_timeout_ms >= 0) ? opts->busy_timeout_ms
                                                      : ASSOC__DEFAULT_BUSY_MS;
  if (assoc__cache_init(&db->cache, cap) != ASSOC_OK) {
    free(db);
    return ASSOC_NOMEM;
  }
  *out = db;
  if (path == NULL) return assoc__err(db, ASSOC_MISUSE, "assoc_open: no path");
  /* NOMUTEX: a connection is used by one thread at a time (its statement
   * cache and transaction depth are unsynchronized anyway; see assoc.h), so
   * SQLite's per-connection mutex would only cost a lock per API call. */
  rc = sqlite3_open_v2(path, &sq,
                       SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                           SQLITE_OPEN_NOMUTEX,
                       NULL);
  if (sq == NULL) {
    assoc__cache_free(&db->cache);
    free(db);
    *out = NULL;
    return ASSOC_NOMEM;
  }
  if (rc != SQLITE_OK) {
    int code = assoc__map_code(sqlite3_extended_errcode(sq));
    if (code == ASSOC_OK) code = ASSOC_CANTOPEN;
    assoc__err(db, code, "cannot open database \"%s\": %s", path,
               sqlite3_errmsg(sq));
    sqlite3_close_v2(sq);
    return code;
  }
  db->sq = sq;
  sqlite3_extended_result_codes(sq, 1);
  rc = sqlite3_db_config(sq, SQLITE_DBCONFIG_DQS_DML, 0, (int *)NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_db_config(sq, SQLITE_DBCONFIG_DQS_DDL, 0, (int *)NULL);
  if (rc == SQLITE_OK) rc = sqlite3_busy_timeout(sq, busy);
  if (rc != SQLITE_OK) {
    rc = assoc__sqlerr(db, rc, NULL);
    goto fail;
  }
  if ((rc = setup_exec(db, "PRAGMA foreign_keys=ON")) != ASSOC_OK) goto fail;
  fname = sqlite3_db_filename(sq, "main");
  if (fname != NULL && fname[0] != '\0') {
    if ((rc = setup_exec(db, "PRAGMA journal_mode=WAL")) != ASSOC_OK) goto fail;
    if ((rc = setup_exec(db, "PRAGMA synchronous=NORMAL")) != ASSOC_OK)
      goto fail;
  }
  return ASSOC_OK;
fail:
  sqlite3_close_v2(sq);
  db->sq = NULL;
  return rc;
}

/* Closes everything: statements (open rows become invalid), the connection
 * (rolling back an open transaction), models, buffers. */
void assoc_close(assoc_db *db) {
  int i;
  if (db == NULL) return;
  assoc__cache_free(&db->cache);
  if (db->sq != NULL) sqlite3_close_v2(db->sq);
  db->sq = NULL;
  for (i = 0; i < db->nmodels; i++) assoc__model_free(db->models[i]);
  free(db->models);
  assoc_sql_free(&db->scratch);
  free(db->errsql);
  free(db->errfield);
  free(db);
}

void assoc_set_trace(assoc_db *db, assoc_trace_fn fn, void *ud) {
  if (db == NULL) return;
  db->trace = fn;
  db->trace_ud = fn != NULL ? ud : NULL;
}

int64_t assoc_changes(const assoc_db *db) {
  if (db == NULL || db->sq == NULL) return 0;
  return (int64_t)sqlite3_changes64(db->sq);
}

int64_t assoc_last_insert_rowid(const assoc_db *db) {
  if (db == NULL || db->sq == NULL) return 0;
  return (int64_t)sqlite3_last_insert_rowid(db->sq);
}

void assoc_cache_stats_get(const assoc_db *db, assoc_cache_stats *out) {
  if (out == NULL) return;
  memset(out, 0, sizeof *out);
  if (db == NULL) return;
  out->hits = db->cache.hits;
  out->misses = db->cache.misses;
  out->evictions = db->cache.evictions;
  out->size = db->cache.size;
  out->capacity = db->cache.capacity;
}

/* ---- running statements ------------------------------------------------------ */

double assoc__now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* t0 is 0 when tracing was off as the statement started. */
static void trace(assoc_db *db, const assoc__stmt *st, double t0) {
  if (db->trace != NULL)
    db->trace(db->trace_ud, st->sql, t0 > 0.0 ? assoc__now_ms() - t0 : 0.0);
}

static const char empty[1] = "";

/* Binds values in order.  Returns ASSOC_OK, ASSOC_MISUSE (bad value type:
 * message on db) or the mapped SQLite error. */
int assoc__bind(assoc_db *db, assoc__stmt *st, const assoc_value *v, int n,
                int transient) {
  sqlite3_destructor_type d = transient ? SQLITE_TRANSIENT : SQLITE_STATIC;
  int i, rc = SQLITE_OK;
  for (i = 0; i < n && rc == SQLITE_OK; i++) {
    const assoc_value *x = &v[i];
    switch (x->type) {
    case ASSOC_V_NULL: rc = sqlite3_bind_null(st->stmt, i + 1); break;
    case ASSOC_V_INT: rc = sqlite3_bind_int64(st->stmt, i + 1, x->u.i); break;
    case ASSOC_V_REAL: rc = sqlite3_bind_double(st->stmt, i + 1, x->u.r); break;
    case ASSOC_V_TEXT:
      if (x->u.s.p == NULL && x->u.s.n != 0) goto bad;
      rc = sqlite3_bind_text64(st->stmt, i + 1,
                               x->u.s.p ? x->u.s.p : empty,
                               (sqlite3_uint64)x->u.s.n, d, SQLITE_UTF8);
      break;
    case ASSOC_V_BLOB:
      if (x->u.s.p == NULL && x->u.s.n != 0) goto bad;
      rc = sqlite3_bind_blob64(st->stmt, i + 1, x->u.s.p ? x->u.s.p : empty,
                               (sqlite3_uint64)x->u.s.n, d);
      break;
    default: goto bad;
    }
  }
  if (rc != SQLITE_OK) return assoc__sqlerr(db, rc, st->sql);
  return ASSOC_OK;
bad:
  return assoc__err(db, ASSOC_MISUSE, "bad value (type %d) for parameter %d",
                    (int)v[i].type, i + 1);
}

int assoc__run(assoc_db *db, assoc__stmt *st) {
  double t0 = db->trace != NULL ? assoc__now_ms() : 0.0;
  int rc;
  while ((rc = sqlite3_step(st->stmt)) == SQLITE_ROW) {
  }
  rc = (rc == SQLITE_DONE) ? ASSOC_OK : assoc__sqlerr(db, rc, st->sql);
  trace(db, st, t0);
  return rc;
}

int assoc__exec_sql(assoc_db *db, const char *sql, size_t len,
                    const assoc_value *v, int n, unsigned flags) {
  assoc__stmt *st;
  int rc = assoc__stmt_get(db, sql, len, flags, &st);
  if (rc != ASSOC_OK) return rc;
  rc = assoc__bind(db, st, v, n, 0);
  if (rc == ASSOC_OK) rc = assoc__run(db, st);
  assoc__stmt_put(db, st);
  return rc;
}

/* Checks that a raw statement takes exactly n parameters. */
static int check_nparams(assoc_db *db, assoc__stmt *st, int n) {
  int want = sqlite3_bind_parameter_count(st->stmt);
  if (want != n)
    return assoc__err(db, ASSOC_MISUSE,
                      "statement takes %d parameter%s, %d given", want,
                      want == 1 ? "" : "s", n);
  return ASSOC_OK;
}

/* Runs one raw statement to its end.  Returns ASSOC_OK or an error. */
int assoc_exec(assoc_db *db, const char *sql, const assoc_value *params,
               int nparams) {
  assoc__stmt *st;
  int rc;
  CHECK_DB(db);
  if (sql == NULL || nparams < 0 || (nparams > 0 && params == NULL))
    return assoc__err(db, ASSOC_MISUSE, "assoc_exec: bad arguments");
  rc = assoc__stmt_get(db, sql, strlen(sql), ASSOC__ONE, &st);
  if (rc != ASSOC_OK) return rc;
  rc = check_nparams(db, st, nparams);
  if (rc == ASSOC_OK) rc = assoc__bind(db, st, params, nparams, 0);
  if (rc == ASSOC_OK) rc = assoc__run(db, st);
  assoc__stmt_put(db, st);
  if (rc == ASSOC_OK) assoc__clear_err(db);
  return rc;
}

/* Starts one raw statement.  On success *out holds open rows (owned by the
 * db; close them with assoc_rows_close); on failure *out is NULL. */
int assoc_query(assoc_db *db, const char *sql, const assoc_value *params,
                int nparams, assoc_rows **out) {
  assoc__stmt *st;
  int rc;
  if (out != NULL) *out = NULL;
  CHECK_DB(db);
  if (sql == NULL || out == NULL || nparams < 0 ||
      (nparams > 0 && params == NULL))
    return assoc__err(db, ASSOC_MISUSE, "assoc_query: bad arguments");
  rc = assoc__stmt_get(db, sql, strlen(sql), ASSOC__ONE, &st);
  if (rc != ASSOC_OK) return rc;
  rc = check_nparams(db, st, nparams);
  if (rc == ASSOC_OK) rc = assoc__bind(db, st, params, nparams, 1);
  if (rc != ASSOC_OK) {
    assoc__stmt_put(db, st);
    return rc;
  }
  assoc__clear_err(db);
  *out = assoc__rows_open(db, st, NULL);
  return ASSOC_OK;
}

/* ---- rows ------------------------------------------------------------------ */

assoc_rows *assoc__rows_open(assoc_db *db, assoc__stmt *st,
                             const assoc_model *m) {
  assoc_rows *r = &st->rows;
  r->db = db;
  r->st = st;
  r->m = m;
  r->state = ASSOC__ROWS_LIVE;
  r->rc = ASSOC_OK;
  r->traced = 0;
  r->t0 = db->trace != NULL ? assoc__now_ms() : 0.0;
  r->nrows = 0;
  r->ncols = sqlite3_column_count(st->stmt);
  r->onrow = 0;
  return r;
}

int64_t assoc_rows_expect(const assoc_rows *r) {
  return r == NULL ? -1 : r->last;
}

static void rows_trace(assoc_rows *r) {
  if (!r->traced) {
    r->traced = 1;
    trace(r->db, r->st, r->t0);
  }
}

int assoc_rows_next(assoc_rows *r) {
  int rc;
  if (r == NULL) return ASSOC_MISUSE;
  if (r->state == ASSOC__ROWS_DONE) return ASSOC_DONE;
  if (r->state == ASSOC__ROWS_ERROR) return r->rc;
  rc = sqlite3_step(r->st->stmt);
  r->onrow = rc == SQLITE_ROW;
  if (rc == SQLITE_ROW) {
    r->nrows++;
    return ASSOC_ROW;
  }
  if (rc == SQLITE_DONE) {
    r->state = ASSOC__ROWS_DONE;
    r->last = r->nrows;
    rows_trace(r);
    return ASSOC_DONE;
  }
  r->state = ASSOC__ROWS_ERROR;
  r->rc = rc = assoc__sqlerr(r->db, rc, r->st->sql);
  rows_trace(r);
  return rc;
}

int assoc_rows_ncols(const assoc_rows *r) {
  return r == NULL ? 0 : sqlite3_column_count(r->st->stmt);
}

const char *assoc_rows_colname(const assoc_rows *r, int col) {
  if (r == NULL || col < 0 || col >= sqlite3_column_count(r->st->stmt))
    return NULL;
  return sqlite3_column_name(r->st->stmt, col);
}

int assoc_rows_attr(const assoc_rows *r, int col) {
  int v;
  if (r == NULL || r->m == NULL || r->st->amap == NULL || col < 0 ||
      col >= r->st->ncols)
    return -1;
  v = r->st->amap[col]; /* attr | node << 16 (sqlassoc.c: junction columns) */
  return v < 0 ? -1 : (v & 0xffff);
}

/* The column's value, valid until the next assoc_rows_next/close.  NULL
 * when there is no current row or the column is out of range; also NULL
 * when SQLite runs out of memory converting it, and then the db's error is
 * ASSOC_NOMEM (callers that care check assoc_errcode). */
void assoc_rows_value(const assoc_rows *r, int col, assoc_value *out) {
  if (out == NULL) return;
  out->type = ASSOC_V_NULL;
  out->u.i = 0;
  if (r == NULL || r->state != ASSOC__ROWS_LIVE || !r->onrow || col < 0 ||
      col >= r->ncols)
    return;
  (void)assoc__column(r->db, r->st->stmt, col, out);
}

void assoc_rows_close(assoc_rows *r) {
  if (r == NULL) return;
  rows_trace(r);
  r->state = ASSOC__ROWS_DONE;
  assoc__stmt_put(r->db, r->st);
}

/* ---- transactions ------------------------------------------------------------ */

static int txn_exec(assoc_db *db, const char *sql) {
  return assoc__exec_sql(db, sql, strlen(sql), NULL, 0, 0);
}

/* Opens a transaction (depth 0) or a savepoint.  Returns ASSOC_OK (depth
 * grows by one) or an error (depth unchanged). */
int assoc_begin(assoc_db *db) {
  char sql[48];
  int rc;
  CHECK_DB(db);
  if (db->depth == 0) {
    rc = txn_exec(db, "BEGIN IMMEDIATE");
  } else {
    snprintf(sql, sizeof sql, "SAVEPOINT assoc_sp_%d", db->depth);
    rc = txn_exec(db, sql);
  }
  if (rc != ASSOC_OK) return rc;
  db->depth++;
  assoc__clear_err(db);
  return ASSOC_OK;
}

/* Commits the innermost level.  On failure the depth is kept, so the
 * caller can still roll back. */
int assoc_commit(assoc_db *db) {
  char sql[48];
  int rc;
  CHECK_DB(db);
  if (db->depth == 0)
    return assoc__err(db, ASSOC_MISUSE, "no transaction to commit");
  if (sqlite3_get_autocommit(db->sq))
    return assoc__err(db, ASSOC_ERROR,
                      "cannot commit: the transaction was already rolled back");
  if (db->depth == 1) {
    rc = txn_exec(db, "COMMIT");
  } else {
    snprintf(sql, sizeof sql, "RELEASE assoc_sp_%d", db->depth - 1);
    rc = txn_exec(db, sql);
  }
  if (rc != ASSOC_OK) return rc;
  db->depth--;
  assoc__clear_err(db);
  return ASSOC_OK;
}

/* Rolls back the innermost level.  When SQLite already rolled the whole
 * transaction back (after some errors it does), each level just unwinds. */
int assoc_rollback(assoc_db *db) {
  char sql[64];
  int rc;
  CHECK_DB(db);
  if (db->depth == 0)
    return assoc__err(db, ASSOC_MISUSE, "no transaction to roll back");
  if (sqlite3_get_autocommit(db->sq)) {
    db->depth--;
    assoc__clear_err(db);
    return ASSOC_OK;
  }
  if (db->depth == 1) {
    rc = txn_exec(db, "ROLLBACK");
    if (rc != ASSOC_OK && !sqlite3_get_autocommit(db->sq)) return rc;
    db->depth = 0; /* rolled back, even if the statement complained */
    assoc__clear_err(db);
    return ASSOC_OK;
  }
  snprintf(sql, sizeof sql, "ROLLBACK TO assoc_sp_%d", db->depth - 1);
  rc = txn_exec(db, sql);
  if (rc == ASSOC_OK) {
    snprintf(sql, sizeof sql, "RELEASE assoc_sp_%d", db->depth - 1);
    rc = txn_exec(db, sql);
  }
  if (rc != ASSOC_OK) return rc;
  db->depth--;
  assoc__clear_err(db);
  return ASSOC_OK;
}

int assoc__rollback_keep(assoc_db *db) {
  int code = db->errcode;
  char msg[sizeof db->errmsg];
  char *sql = db->errsql, *field = db->errfield;
  memcpy(msg, db->errmsg, sizeof msg);
  db->errsql = db->errfield = NULL;
  if (db->depth > 0) assoc_rollback(db);
  free(db->errsql);
  free(db->errfield);
  db->errcode = code;
  memcpy(db->errmsg, msg, sizeof msg);
  db->errsql = sql;
  db->errfield = field;
  return code;
}

int assoc_txn_depth(const assoc_db *db) {
  return (db == NULL || db->sq == NULL) ? 0 : db->depth;
}
