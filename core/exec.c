/*
 * exec.c -- running model requests: assoc_find, assoc_count, assoc_insert,
 * assoc_insert_many, assoc_update, assoc_delete, and the schema calls
 * assoc_sync and assoc_drop.
 *
 * Each request is built into the db's scratch builder (no allocation once
 * its buffers have grown), its statement is taken from the cache by SQL
 * text, bound and run.  On failure the error is on the db and nothing was
 * written: multi-statement calls (insert_many, sync, drop) run inside their
 * own transaction level and roll it back.
 */
#include "assoc_int.h"

#include <stdlib.h>
#include <string.h>

static int check(assoc_db *db, const assoc_model *m) {
  if (db == NULL || db->sq == NULL) return ASSOC_CLOSED;
  if (m == NULL) return assoc__err(db, ASSOC_MISUSE, "no model");
  if (m->db != db)
    return assoc__err(db, ASSOC_MISUSE,
                      "model %s belongs to another connection", m->name);
  return ASSOC_OK;
}

/* Takes the statement for the built SQL in s and binds its values.
 * Returns ASSOC_OK with *out busy, or the error (on db). */
static int prepare_built(assoc_db *db, const assoc_sql *s, int transient,
                         assoc__stmt **out) {
  assoc__stmt *st;
  int rc;
  *out = NULL;
  if (s->rc != ASSOC_OK) return assoc__err(db, s->rc, "%s", s->errmsg);
  rc = assoc__stmt_get(db, s->text, s->len, 0, &st);
  if (rc != ASSOC_OK) return rc;
  rc = assoc__bind(db, st, s->binds, s->nbinds, transient);
  if (rc != ASSOC_OK) {
    assoc__stmt_put(db, st);
    return rc;
  }
  *out = st;
  return ASSOC_OK;
}

/* Starts a SELECT.  On success *out holds open rows (owned by the db, to be
 * closed with assoc_rows_close) whose assoc_rows_attr maps columns to the
 * request's attributes. */
int assoc_find(assoc_db *db, const assoc_model *m, const assoc_select *req,
               assoc_rows **out) {
  assoc_sql local, *s;
  assoc__stmt *st;
  int rc, i, ncols;
  if (out != NULL) *out = NULL;
  if ((rc = check(db, m)) != ASSOC_OK) return rc;
  if (out == NULL) return assoc__err(db, ASSOC_MISUSE, "assoc_find: no out");
  s = assoc__scratch_get(db, &local);
  assoc_build_select(m, req, s);
  rc = prepare_built(db, s, 1, &st);
  assoc__scratch_put(db, s);
  if (rc != ASSOC_OK) return rc;
  ncols = sqlite3_column_count(st->stmt);
  if (st->amap == NULL) {
    st->amap = malloc((size_t)(ncols > 0 ? ncols : 1) * sizeof *st->amap);
    if (st->amap == NULL) {
      assoc__stmt_put(db, st);
      return assoc__err(db, ASSOC_NOMEM, "out of memory");
    }
    st->ncols = ncols;
  }
  for (i = 0; i < ncols && i < st->ncols; i++)
    st->amap[i] = (req != NULL && req->nattrs > 0) ? req->attrs[i] : i;
  assoc__clear_err(db);
  *out = assoc__rows_open(db, st, m);
  return ASSOC_OK;
}

int assoc_count(assoc_db *db, const assoc_model *m, const assoc_select *req,
                int64_t *out) {
  assoc_sql local, *s;
  assoc__stmt *st;
  double t0;
  int rc;
  if ((rc = check(db, m)) != ASSOC_OK) return rc;
  s = assoc__scratch_get(db, &local);
  assoc_build_count(m, req, s);
  /* transient: the scratch (and the LIKE patterns it owns) is given back
   * before the statement runs */
  rc = prepare_built(db, s, 1, &st);
  assoc__scratch_put(db, s);
  if (rc != ASSOC_OK) return rc;
  t0 = db->trace != NULL ? assoc__now_ms() : 0.0;
  rc = sqlite3_step(st->stmt);
  if (rc == SQLITE_ROW) {
    if (out != NULL) *out = sqlite3_column_int64(st->stmt, 0);
    rc = ASSOC_OK;
  } else {
    rc = assoc__sqlerr(db, rc == SQLITE_DONE ? SQLITE_ERROR : rc, st->sql);
  }
  if (db->trace != NULL)
    db->trace(db->trace_ud, st->sql, t0 > 0.0 ? assoc__now_ms() - t0 : 0.0);
  assoc__stmt_put(db, st);
  if (rc == ASSOC_OK) assoc__clear_err(db);
  return rc;
}

/* Builds with `build` already done in s, then runs it; *changes gets the
 * row count (may be NULL). */
static int run_built(assoc_db *db, assoc_sql *s, int64_t *changes,
                     int64_t *rowid) {
  assoc__stmt *st;
  int rc = prepare_built(db, s, 0, &st);
  if (rc != ASSOC_OK) return rc;
  rc = assoc__run(db, st);
  if (rc == ASSOC_OK) {
    if (changes != NULL) *changes = (int64_t)sqlite3_changes64(db->sq);
    if (rowid != NULL) *rowid = (int64_t)sqlite3_last_insert_rowid(db->sq);
  }
  assoc__stmt_put(db, st);
  if (rc == ASSOC_OK) assoc__clear_err(db);
  return rc;
}

int assoc_insert(assoc_db *db, const assoc_model *m, const int *attrs,
                 const assoc_value *vals, int n, int64_t *rowid) {
  assoc_sql local, *s;
  int rc;
  if ((rc = check(db, m)) != ASSOC_OK) return rc;
  s = assoc__scratch_get(db, &local);
  assoc_build_insert(m, attrs, vals, n, s);
  rc = run_built(db, s, NULL, rowid);
  assoc__scratch_put(db, s);
  return rc;
}

/* Multi-row INSERTs of assoc_insert_many without rowids: the rows are split
 * evenly into the fewest statements of at most INSERT_CHUNK rows (fewer when
 * that would bind more than INSERT_VARS values): q statements of c or c - 1
 * rows, so one call needs two statement shapes at most (a 500-row statement
 * of 4 columns holds about 180 KB in the cache), and a batch size used
 * again finds them cached.  Fewer than INSERT_CHUNK_MIN rows (or a chunk
 * that small) go one row per statement, as before.  One statement for many
 * rows skips most of SQLite's per-statement work (reset, halt, statement
 * journal): it takes about 60% of the time of a row-at-a-time insert.  Few
 * large statements also keep the statement journals inside a savepoint
 * (within a transaction, assoc_begin is one) from spilling to a temporary
 * file: ten 100-row statements in a savepoint cost 15% more than two
 * 500-row ones. */
#define INSERT_CHUNK 512
#define INSERT_CHUNK_MIN 8
#define INSERT_VARS 2048

/* The statement inserting k rows at once: the one-row INSERT `one` (of n > 0
 * values) with k - 1 more "(?, ...)" tuples.  Returns ASSOC_OK with *out
 * busy, or the error (on db). */
static int rows_stmt(assoc_db *db, const char *one, size_t len, int n, int k,
                     assoc__stmt **out) {
  size_t tuple = 3 * (size_t)n + 2; /* ", (?" + ", ?" * (n - 1) + ")" */
  size_t total = len + (size_t)(k - 1) * tuple;
  char *text = malloc(total + 1), *p;
  int rc, r, i;
  *out = NULL;
  if (text == NULL) return assoc__err(db, ASSOC_NOMEM, "out of memory");
  memcpy(text, one, len);
  p = text + len;
  for (r = 1; r < k; r++) {
    memcpy(p, ", (?", 4);
    p += 4;
    for (i = 1; i < n; i++) {
      memcpy(p, ", ?", 3);
      p += 3;
    }
    *p++ = ')';
  }
  *p = '\0';
  rc = assoc__stmt_get(db, text, total, 0, out);
  free(text);
  return rc;
}

/* Checks the values of rows [from, to) of vals (n per row). */
static int rows_ok(assoc_db *db, const assoc_model *m, const int *attrs,
                   int n, const assoc_value *vals, int from, int to) {
  int r, i;
  for (r = from; r < to; r++) {
    const assoc_value *row = vals + (size_t)r * (size_t)n;
    for (i = 0; i < n; i++)
      if (!assoc__value_ok(&row[i]))
        return assoc__err(db, ASSOC_MISUSE,
                          "%s.%s: bad value (type %d) in row %d", m->name,
                          m->attrs[attrs[i]].name, (int)row[i].type, r + 1);
  }
  return ASSOC_OK;
}

/* Inserts nrows rows, all or nothing: one statement on its own, more inside
 * a savepoint.  rowids (may be NULL) receives the new rowids: then every
 * row runs the one cached statement; without, rows go in chunks through
 * multi-row statements. */
int assoc_insert_many(assoc_db *db, const assoc_model *m, const int *attrs,
                      int n, const assoc_value *vals, int nrows,
                      int64_t *rowids) {
  assoc_sql local, *s;
  assoc__stmt *st = NULL, *multi;
  int rc, r = 0, k, one;
  int q = 0, c = 0, big = 0, most; /* statements, rows in the first, those */
  if ((rc = check(db, m)) != ASSOC_OK) return rc;
  if (nrows < 0 || n < 0 || (nrows > 0 && n > 0 && vals == NULL))
    return assoc__err(db, ASSOC_MISUSE, "%s: bad rows for insertMany",
                      m->name);
  if (nrows == 0) {
    assoc__clear_err(db);
    return ASSOC_OK;
  }
  s = assoc__scratch_get(db, &local);
  assoc_build_insert(m, attrs, vals, n, s);
  rc = prepare_built(db, s, 0, &st);
  if (rc != ASSOC_OK) {
    assoc__scratch_put(db, s);
    return rc;
  }
  /* prepare_built bound row 0; the loops rebind every row */
  if (rowids == NULL && n > 0 && nrows >= INSERT_CHUNK_MIN) {
    int maxvars = sqlite3_limit(db->sq, SQLITE_LIMIT_VARIABLE_NUMBER, -1);
    if (maxvars > INSERT_VARS) maxvars = INSERT_VARS;
    most = INSERT_CHUNK;
    if ((long)most * n > maxvars) most = maxvars / n;
    if (most >= INSERT_CHUNK_MIN) {
      q = (nrows + most - 1) / most;
      c = (nrows + q - 1) / q;
      big = nrows - q * (c - 1); /* of c rows, the rest of c - 1 */
    }
  }
  /* one statement is atomic by itself: no savepoint around it */
  one = q == 1 && c == nrows;
  if (!one) {
    rc = assoc_begin(db);
    if (rc != ASSOC_OK) {
      assoc__stmt_put(db, st);
      assoc__scratch_put(db, s);
      return rc;
    }
  }
  if (q > 0) {
    multi = NULL;
    for (k = c; k >= INSERT_CHUNK_MIN && k >= c - 1 && rc == ASSOC_OK &&
                r < nrows;
         k--) {
      int times = k == c ? big : q - big;
      if (times <= 0) continue;
      rc = rows_stmt(db, s->text, s->len, n, k, &multi);
      for (; rc == ASSOC_OK && times > 0; times--) {
        rc = rows_ok(db, m, attrs, n, vals, r, r + k);
        if (rc != ASSOC_OK) break;
        sqlite3_reset(multi->stmt);
        rc = assoc__bind(db, multi, vals + (size_t)r * (size_t)n, n * k, 0);
        if (rc == ASSOC_OK) rc = assoc__run(db, multi);
        r += k;
      }
      if (multi != NULL) assoc__stmt_put(db, multi);
      multi = NULL;
    }
  }
  assoc__scratch_put(db, s);
  for (; r < nrows && rc == ASSOC_OK; r++) {
    const assoc_value *row = vals + (size_t)r * (size_t)n;
    rc = rows_ok(db, m, attrs, n, vals, r, r + 1);
    if (rc != ASSOC_OK) break;
    sqlite3_reset(st->stmt);
    rc = assoc__bind(db, st, row, n, 0);
    if (rc == ASSOC_OK) rc = assoc__run(db, st);
    if (rc == ASSOC_OK && rowids != NULL)
      rowids[r] = (int64_t)sqlite3_last_insert_rowid(db->sq);
  }
  assoc__stmt_put(db, st);
  if (one) {
    if (rc == ASSOC_OK) assoc__clear_err(db);
    return rc;
  }
  if (rc == ASSOC_OK) rc = assoc_commit(db);
  if (rc != ASSOC_OK) return assoc__rollback_keep(db);
  return ASSOC_OK;
}

int assoc_update(assoc_db *db, const assoc_model *m, const int *attrs,
                 const assoc_value *vals, int n, const assoc_where *where,
                 int with_deleted, int64_t *changes) {
  assoc_sql local, *s;
  int rc;
  if ((rc = check(db, m)) != ASSOC_OK) return rc;
  s = assoc__scratch_get(db, &local);
  assoc_build_update(m, attrs, vals, n, where, with_deleted, s);
  rc = run_built(db, s, changes, NULL);
  assoc__scratch_put(db, s);
  return rc;
}

int assoc_delete(assoc_db *db, const assoc_model *m, const assoc_where *where,
                 int64_t *changes) {
  assoc_sql local, *s;
  int rc;
  if ((rc = check(db, m)) != ASSOC_OK) return rc;
  s = assoc__scratch_get(db, &local);
  assoc_build_delete(m, where, s);
  rc = run_built(db, s, changes, NULL);
  assoc__scratch_put(db, s);
  return rc;
}

/* ---- schema -------------------------------------------------------------------- */

/* Runs DDL for every model inside one transaction level: drops (reverse
 * creation order) when `drop`, creates (creation order) when `create`. */
static int schema(assoc_db *db, int drop, int create) {
  assoc_sql local, *s;
  int *order, n, i, rc;
  if (db == NULL || db->sq == NULL) return ASSOC_CLOSED;
  n = db->nmodels;
  if (n == 0) {
    assoc__clear_err(db);
    return ASSOC_OK;
  }
  order = malloc((size_t)n * sizeof *order);
  if (order == NULL) return assoc__err(db, ASSOC_NOMEM, "out of memory");
  assoc__model_order(db, order);
  rc = assoc_begin(db);
  if (rc != ASSOC_OK) {
    free(order);
    return rc;
  }
  s = assoc__scratch_get(db, &local);
  for (i = n - 1; drop && i >= 0 && rc == ASSOC_OK; i--) {
    assoc__build_drop_table(db->models[order[i]], s);
    rc = s->rc != ASSOC_OK ? assoc__err(db, s->rc, "%s", s->errmsg)
                           : assoc__exec_sql(db, s->text, s->len, NULL, 0,
                                             ASSOC__NOCACHE);
  }
  for (i = 0; create && i < n && rc == ASSOC_OK; i++) {
    assoc_build_create_table(db->models[order[i]], s);
    rc = s->rc != ASSOC_OK ? assoc__err(db, s->rc, "%s", s->errmsg)
                           : assoc__exec_sql(db, s->text, s->len, NULL, 0,
                                             ASSOC__NOCACHE);
  }
  for (i = 0; create && i < n && rc == ASSOC_OK; i++)
    db->models[i]->synced = 1;
  assoc__scratch_put(db, s);
  free(order);
  if (rc == ASSOC_OK) rc = assoc_commit(db);
  if (rc != ASSOC_OK) return assoc__rollback_keep(db);
  return ASSOC_OK;
}

int assoc_sync(assoc_db *db, int force) { return schema(db, force != 0, 1); }

int assoc_drop(assoc_db *db) { return schema(db, 1, 0); }
