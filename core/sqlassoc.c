/*
 * sqlassoc.c -- the accessors' statements: assoc_rel_get, _count, _has,
 * _add, _remove, _set and _set_one (doc/associations.md "Accessor SQL").
 *
 * Every list of targets is bound as ONE parameter holding a JSON array and
 * read back with `IN (SELECT value FROM json_each(?))`, so the SQL text of
 * an accessor never depends on the list's length: it comes from the
 * statement cache and no variable limit applies.  The accessor forms the
 * bindings call (assoc_rel_has_one, _add_one, _remove_one, _count_fast)
 * bind ONE target as itself and compare with `= ?` instead: the same
 * statements, without JSON nor json_each's ephemeral tables (has,
 * hasMany add/remove, belongsToMany remove, and the belongsToMany upsert
 * when every through cell is given: INSERT ... VALUES (...) ON CONFLICT
 * ...); and count a belongsToMany with count(*) rather than count(DISTINCT
 * target key) where the junction's (fk, ok) and the target key are unique
 * (no pair can repeat).  With per-target through
 * values the array holds one array per target, [key, v1, v2, ...], read
 * with json_extract(value, '$[i]').  The JSON text is written here (numbers,
 * strings; BLOB keys and non-finite numbers are refused).
 *
 * Shapes (T target table, J junction, fk/ok its keys, tk the target key):
 *   get      SELECT <T cols> FROM T WHERE fk = ? AND <scope> AND (<where>)
 *            SELECT T.c.., J.c.. FROM T INNER JOIN J ON J.ok = T.tk AND
 *              J.fk = ? AND <through scope> [AND (<through where>)]
 *              WHERE <scope> AND (<where>) ORDER .. LIMIT ..
 *   count    SELECT count(*) / count(DISTINCT T.tk) with the same joins
 *   has      SELECT count(DISTINCT tk) = (SELECT count(DISTINCT value) FROM
 *              json_each(?)) ... AND tk IN (SELECT value FROM json_each(?))
 *   add      UPDATE T SET fk = ?, <scope>, updatedAt = ? WHERE tk IN (..)
 *            INSERT INTO J (fk, ok, <through attrs>, <through scope>,
 *              createdAt, updatedAt) SELECT ... FROM json_each(?) WHERE true
 *              ON CONFLICT (fk, ok) DO UPDATE SET .. | DO NOTHING
 *   remove   UPDATE T SET fk = NULL .. / DELETE FROM T .. (NOT NULL fk)
 *            DELETE FROM J WHERE fk = ? AND <through scope> AND ok IN (..)
 *            (paranoid J: UPDATE J SET deletedAt = ?, updatedAt = ? ...)
 *   set      savepoint, unlink/delete what is not in the list, add, release
 *   setOne   savepoint, unlink/delete the other children, link, release
 * Soft-deleted rows of a paranoid target are hidden from get, count and
 * has, and left alone by the UPDATEs; so are the soft-deleted links of a
 * paranoid junction, whose links remove/set soft-delete and add revives.
 * Through cells a caller did not give (tkeep, "missing") are [default] in
 * the JSON list: a new link gets the default, an existing one keeps its
 * value.  Each call clears the db's error on success; on failure nothing
 * was written.
 */
#include "assoc_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[] = {"?", "hasOne", "belongsTo",
                                         "hasMany", "belongsToMany"};

static int check(assoc_db *db, const assoc_assoc *a, const char *what) {
  if (db == NULL || db->sq == NULL) return ASSOC_CLOSED;
  if (a == NULL) return assoc__err(db, ASSOC_MISUSE, "%s: no association", what);
  if (a->db != db)
    return assoc__err(db, ASSOC_MISUSE,
                      "%s: the association belongs to another connection",
                      what);
  return ASSOC_OK;
}

static int is_btm(const assoc_assoc *a) {
  return a->kind == ASSOC_BELONGS_TO_MANY;
}

/* ---- JSON lists ----------------------------------------------------------------- */

/* Appends v as JSON to js; records ASSOC_MISUSE in js for a BLOB or a
 * non-finite number. */
static void json_value(assoc_sql *js, const assoc_value *v, const char *what) {
  char buf[48];
  size_t i, start;
  switch (v->type) {
  case ASSOC_V_NULL: assoc__sql_append(js, "null", 4); return;
  case ASSOC_V_INT: assoc__sql_printf(js, "%lld", (long long)v->u.i); return;
  case ASSOC_V_REAL:
    if (!isfinite(v->u.r)) {
      assoc__sql_fail(js, ASSOC_MISUSE, "%s: %s is not a finite number", what,
                      isnan(v->u.r) ? "NaN" : "an infinity");
      return;
    }
    snprintf(buf, sizeof buf, "%.17g", v->u.r);
    if (strpbrk(buf, ".eE") == NULL) strcat(buf, ".0");
    assoc__sql_appendz(js, buf);
    return;
  case ASSOC_V_TEXT:
    assoc__sql_append(js, "\"", 1);
    for (i = start = 0; i < v->u.s.n; i++) {
      unsigned char c = (unsigned char)v->u.s.p[i];
      if (c == '"' || c == '\\' || c < 0x20) {
        if (i > start) assoc__sql_append(js, v->u.s.p + start, i - start);
        if (c == '"') assoc__sql_append(js, "\\\"", 2);
        else if (c == '\\') assoc__sql_append(js, "\\\\", 2);
        else assoc__sql_printf(js, "\\u%04x", c);
        start = i + 1;
      }
    }
    if (v->u.s.n > start)
      assoc__sql_append(js, v->u.s.p + start, v->u.s.n - start);
    assoc__sql_append(js, "\"", 1);
    return;
  case ASSOC_V_BLOB:
    assoc__sql_fail(js, ASSOC_MISUSE,
                    "%s: BLOB values cannot be association keys or through "
                    "values", what);
    return;
  default:
    assoc__sql_fail(js, ASSOC_MISUSE, "%s: bad value (type %d)", what,
                    (int)v->type);
    return;
  }
}

/* Writes the JSON array of targets (and, with ntattrs > 0, one array
 * [target, tvals...] per target) into js.  A cell flagged in tkeep (may be
 * NULL) is written as a one-element array [value]: a "missing" cell, whose
 * value is for a new link only.  NULL targets are refused. */
static int json_list(assoc_db *db, const assoc_assoc *a, assoc_sql *js,
                     const assoc_value *targets, int n, int ntattrs,
                     const assoc_value *tvals, const unsigned char *tkeep,
                     const char *what) {
  int i, k;
  assoc__sql_reset(js);
  if (n < 0 || (n > 0 && targets == NULL) ||
      (ntattrs > 0 && n > 0 && tvals == NULL))
    return assoc__err(db, ASSOC_MISUSE, "%s: bad target list", what);
  assoc__sql_append(js, "[", 1);
  for (i = 0; i < n && js->rc == ASSOC_OK; i++) {
    if (!assoc__value_ok(&targets[i]))
      return assoc__err(db, ASSOC_MISUSE, "%s: bad target #%d (type %d)",
                        what, i + 1, (int)targets[i].type);
    if (targets[i].type == ASSOC_V_NULL)
      return assoc__err(db, ASSOC_MISUSE, "%s: target #%d is null (%s.%s)",
                        what, i + 1, a->target->name,
                        a->target->attrs[a->tgt_attr].name);
    if (i) assoc__sql_append(js, ",", 1);
    if (ntattrs > 0) {
      assoc__sql_append(js, "[", 1);
      json_value(js, &targets[i], what);
      for (k = 0; k < ntattrs; k++) {
        const assoc_value *v = &tvals[(size_t)i * (size_t)ntattrs + k];
        if (!assoc__value_ok(v))
          return assoc__err(db, ASSOC_MISUSE,
                            "%s: bad through value #%d of target #%d", what,
                            k + 1, i + 1);
        int kept = tkeep != NULL && tkeep[(size_t)i * (size_t)ntattrs + k];
        assoc__sql_append(js, kept ? ",[" : ",", kept ? 2 : 1);
        json_value(js, v, what);
        if (kept) assoc__sql_append(js, "]", 1);
      }
      assoc__sql_append(js, "]", 1);
    } else {
      json_value(js, &targets[i], what);
    }
  }
  assoc__sql_append(js, "]", 1);
  if (js->rc != ASSOC_OK) return assoc__err(db, js->rc, "%s", js->errmsg);
  return ASSOC_OK;
}

/* The checks json_list makes of a list of one target (and its through
 * cells, ntattrs of them), with the same messages, for the statements that
 * bind a single target as itself. */
static int json_check(assoc_sql *js, const assoc_value *v, const char *what) {
  if (v->type == ASSOC_V_BLOB ||
      (v->type == ASSOC_V_REAL && !isfinite(v->u.r)) ||
      (v->type != ASSOC_V_NULL && v->type != ASSOC_V_INT &&
       v->type != ASSOC_V_REAL && v->type != ASSOC_V_TEXT))
    json_value(js, v, what); /* records the error */
  return js->rc;
}

static int one_target_ok(assoc_db *db, const assoc_assoc *a,
                         const assoc_value *t, int ntattrs,
                         const assoc_value *tvals, const char *what) {
  assoc_sql js;
  int k, rc = ASSOC_OK;
  if (t == NULL || (ntattrs > 0 && tvals == NULL))
    return assoc__err(db, ASSOC_MISUSE, "%s: bad target list", what);
  if (!assoc__value_ok(t))
    return assoc__err(db, ASSOC_MISUSE, "%s: bad target #%d (type %d)", what,
                      1, (int)t->type);
  if (t->type == ASSOC_V_NULL)
    return assoc__err(db, ASSOC_MISUSE, "%s: target #%d is null (%s.%s)",
                      what, 1, a->target->name,
                      a->target->attrs[a->tgt_attr].name);
  assoc_sql_init(&js);
  rc = json_check(&js, t, what);
  for (k = 0; k < ntattrs && rc == ASSOC_OK; k++) {
    if (!assoc__value_ok(&tvals[k])) {
      assoc_sql_free(&js);
      return assoc__err(db, ASSOC_MISUSE,
                        "%s: bad through value #%d of target #%d", what, k + 1,
                        1);
    }
    rc = json_check(&js, &tvals[k], what);
  }
  if (rc != ASSOC_OK) rc = assoc__err(db, js.rc, "%s", js.errmsg);
  assoc_sql_free(&js);
  return rc;
}

/* ---- SQL pieces ------------------------------------------------------------------- */

/* "q"."col" (q NULL: "col"). */
static void qcol(assoc_sql *s, const char *q, const assoc_model *m, int attr) {
  if (q != NULL) {
    assoc__sql_ident(s, q);
    assoc__sql_append(s, ".", 1);
  }
  assoc__sql_ident(s, m->attrs[attr].column);
}

/* " WHERE " for the first condition, " AND " afterwards. */
static void and_(assoc_sql *s, int *first) {
  assoc__sql_appendz(s, *first ? " WHERE " : " AND ");
  *first = 0;
}

static void bind_q(assoc_sql *s, const assoc_value *v) {
  assoc__sql_append(s, "?", 1);
  assoc__sql_bind(s, v);
}

/* `col = ?` (`col IS NULL` for a NULL value). */
static void eq_cond(assoc_sql *s, const char *q, const assoc_model *m,
                    int attr, const assoc_value *v) {
  qcol(s, q, m, attr);
  if (v->type == ASSOC_V_NULL) {
    assoc__sql_appendz(s, " IS NULL");
  } else {
    assoc__sql_appendz(s, " = ");
    bind_q(s, v);
  }
}

/* `col = ?` whatever the value: a NULL source links nothing. */
static void link_cond(assoc_sql *s, const char *q, const assoc_model *m,
                      int attr, const assoc_value *v) {
  qcol(s, q, m, attr);
  assoc__sql_appendz(s, " = ");
  bind_q(s, v);
}

/* AND each scope pair (equality) on m. */
static void scope_conds(assoc_sql *s, const char *q, const assoc_model *m,
                        const assoc__scope *sc, int n, int *first) {
  int i;
  for (i = 0; i < n; i++) {
    and_(s, first);
    eq_cond(s, q, m, sc[i].attr, &sc[i].value);
  }
}

/* AND `deletedAt IS NULL` when m is paranoid. */
static void alive_cond(assoc_sql *s, const char *q, const assoc_model *m,
                       int *first) {
  int del = m->special[ASSOC_COL_DELETED];
  if (!(m->flags & ASSOC_MODEL_PARANOID) || del < 0) return;
  and_(s, first);
  qcol(s, q, m, del);
  assoc__sql_appendz(s, " IS NULL");
}

/* The key expression of a JSON list element. */
static const char *key_expr(int ntattrs) {
  return ntattrs > 0 ? "json_extract(value, '$[0]')" : "value";
}

/* AND `col = ?` for a single target (never NULL: one_target_ok). */
static void one_cond(assoc_sql *s, const char *q, const assoc_model *m,
                     int attr, const assoc_value *v, int *first) {
  and_(s, first);
  qcol(s, q, m, attr);
  assoc__sql_appendz(s, " = ");
  bind_q(s, v);
}

/* AND `col IN (SELECT key FROM json_each(?))` (or NOT IN). */
static void in_list(assoc_sql *s, const char *q, const assoc_model *m,
                    int attr, const assoc_value *json, int ntattrs, int not,
                    int *first) {
  and_(s, first);
  qcol(s, q, m, attr);
  assoc__sql_appendz(s, not ? " NOT IN (SELECT " : " IN (SELECT ");
  assoc__sql_appendz(s, key_expr(ntattrs));
  assoc__sql_appendz(s, " FROM json_each(?))");
  assoc__sql_bind(s, json);
}

/* FROM T [INNER JOIN J ON ...] and the link condition; *first tells
 * whether a WHERE was started.  q is the qualifier (BTM: the tables). */
static void from_link(assoc_sql *s, const assoc_assoc *a,
                      const assoc_value *src, const assoc_where *twhere,
                      int *first) {
  const assoc_model *T = a->target, *J = a->through;
  assoc__sql_appendz(s, " FROM ");
  assoc__sql_ident(s, T->table);
  if (is_btm(a)) {
    int jfirst = 1;
    assoc__sql_appendz(s, " INNER JOIN ");
    assoc__sql_ident(s, J->table);
    assoc__sql_appendz(s, " ON ");
    qcol(s, J->table, J, a->other_key);
    assoc__sql_appendz(s, " = ");
    qcol(s, T->table, T, a->target_key);
    assoc__sql_appendz(s, " AND ");
    link_cond(s, J->table, J, a->fk, src);
    jfirst = 0;
    scope_conds(s, J->table, J, a->through_scope, a->nthrough_scope, &jfirst);
    alive_cond(s, J->table, J, &jfirst);
    if (twhere != NULL) {
      assoc__sql_appendz(s, " AND ");
      assoc__sql_cond(s, J, J->table, twhere);
    }
    return;
  }
  and_(s, first);
  link_cond(s, NULL, T, a->kind == ASSOC_BELONGS_TO ? a->target_key : a->fk,
            src);
}

static const char *tq(const assoc_assoc *a) {
  return is_btm(a) ? a->target->table : NULL;
}

/* The target conditions of a read: alive, scope, where. */
static void target_conds(assoc_sql *s, const assoc_assoc *a,
                         const assoc_where *w, int with_deleted, int *first) {
  const char *q = tq(a);
  if (!with_deleted) alive_cond(s, q, a->target, first);
  scope_conds(s, q, a->target, a->scope, a->nscope, first);
  if (w != NULL) {
    and_(s, first);
    assoc__sql_cond(s, a->target, q, w);
  }
}

/* ---- running ------------------------------------------------------------------- */

/* Ties the statement being built in s to memo slot k of a (see
 * assoc__sql_memo): only for the fixed-shape forms, whose text depends on
 * nothing but the definitions (db->schema_gen) and `shape`. */
static void memo(assoc_sql *s, const assoc_assoc *a, int k, uint64_t shape) {
  assoc__sql_memo(s, (assoc__memo *)&a->memo[k], a->db->schema_gen, shape);
}

/* Is req a request with nothing in it (every attribute, no where, order,
 * limit or offset, live rows only)? */
static int plain_req(const assoc_select *req) {
  return req->nattrs == 0 && req->where == NULL && req->norder == 0 &&
         req->limit < 0 && req->offset <= 0 && !req->with_deleted;
}

/* Prepares the built statement in s and binds it (text/blobs copied when
 * transient).  *out busy on success. */
static int prepare(assoc_db *db, assoc_sql *s, int transient,
                   assoc__stmt **out) {
  int rc;
  const char *text;
  size_t len;
  uint32_t hash;
  *out = NULL;
  if (s->rc != ASSOC_OK) return assoc__err(db, s->rc, "%s", s->errmsg);
  assoc__sql_text(s, &text, &len, &hash); /* the memo's on a hit */
  rc = assoc__stmt_get_h(db, text, len, hash, 0, out);
  if (rc != ASSOC_OK) return rc;
  rc = assoc__bind(db, *out, s->binds, s->nbinds, transient);
  if (rc != ASSOC_OK) {
    assoc__stmt_put(db, *out);
    *out = NULL;
  }
  return rc;
}

/* Runs the prepared and bound st: to its end, or (out) as a one-row
 * one-column query whose integer goes to *out.  Gives st back. */
static int exec_st(assoc_db *db, assoc__stmt *st, int64_t *out) {
  double t0;
  int rc;
  if (out == NULL) {
    rc = assoc__run(db, st);
    assoc__stmt_put(db, st);
    return rc;
  }
  t0 = db->trace != NULL ? assoc__now_ms() : 0.0;
  rc = sqlite3_step(st->stmt);
  if (rc == SQLITE_ROW) {
    *out = sqlite3_column_int64(st->stmt, 0);
    rc = ASSOC_OK;
  } else {
    rc = assoc__sqlerr(db, rc == SQLITE_DONE ? SQLITE_ERROR : rc, st->sql);
  }
  if (db->trace != NULL)
    db->trace(db->trace_ud, st->sql, t0 > 0.0 ? assoc__now_ms() - t0 : 0.0);
  assoc__stmt_put(db, st);
  return rc;
}

/* Runs the statement built in s to its end. */
static int run(assoc_db *db, assoc_sql *s) {
  assoc__stmt *st;
  int rc = prepare(db, s, 0, &st);
  return rc != ASSOC_OK ? rc : exec_st(db, st, NULL);
}

/* Runs a one-row one-column query built in s; *out gets its integer. */
static int run_scalar(assoc_db *db, assoc_sql *s, int64_t *out) {
  assoc__stmt *st;
  int rc = prepare(db, s, 0, &st);
  return rc != ASSOC_OK ? rc : exec_st(db, st, out);
}

/* Is v one of the association's own values (a scope value)? */
static int own_value(const assoc_assoc *a, const assoc_value *v) {
  int i;
  for (i = 0; i < a->nscope; i++)
    if (v == &a->scope[i].value) return 1;
  for (i = 0; i < a->nthrough_scope; i++)
    if (v == &a->through_scope[i].value) return 1;
  return 0;
}

/* Prepares and binds the statement of memo slot k straight from its text
 * and recipe when the memo holds this generation and shape: the binds are
 * the call's args and the association's own values, so no builder runs.
 * 1 with *rc set (and *st, busy, when ASSOC_OK); 0 when the memo cannot
 * (then the caller builds as usual). */
static int memo_prepare(assoc_db *db, const assoc_assoc *a, int k,
                        uint64_t shape, const assoc_value *const *args,
                        int nargs, int transient, assoc__stmt **st, int *rc) {
  const assoc__memo *m = &a->memo[k];
  assoc_value binds[ASSOC__MEMO_MAXB];
  int i;
  *st = NULL;
  if (m->sql == NULL || m->gen != db->schema_gen || m->shape != shape ||
      m->nrec < 0)
    return 0;
  for (i = 0; i < m->nrec; i++) {
    if (m->rec[i].arg >= 0 && m->rec[i].arg < nargs)
      binds[i] = *args[m->rec[i].arg];
    else if (m->rec[i].arg < 0 && own_value(a, m->rec[i].cst))
      binds[i] = *m->rec[i].cst;
    else
      return 0;
  }
  *rc = assoc__stmt_get_h(db, m->sql, m->len, m->hash, 0, st);
  if (*rc == ASSOC_OK) {
    *rc = assoc__bind(db, *st, binds, m->nrec, transient);
    if (*rc != ASSOC_OK) {
      assoc__stmt_put(db, *st);
      *st = NULL;
    }
  }
  return 1;
}

/* memo_prepare, then the statement run (exec_st): 1 with *rc set (and
 * *out, for a scalar), or 0 as memo_prepare. */
static int memo_run(assoc_db *db, const assoc_assoc *a, int k, uint64_t shape,
                    const assoc_value *const *args, int nargs, int64_t *out,
                    int *rc) {
  assoc__stmt *st;
  if (!memo_prepare(db, a, k, shape, args, nargs, 0, &st, rc)) return 0;
  if (*rc == ASSOC_OK) *rc = exec_st(db, st, out);
  return 1;
}

/* ---- reads ------------------------------------------------------------------- */

/* Can a belongsToMany join yield a target twice?  Not when the junction's
 * (fk, ok) is unique (a->upsert) and so is the target key: then count(*)
 * counts distinct targets. */
static int pairs_unique(const assoc_assoc *a) {
  const assoc_model *T = a->target;
  unsigned f;
  if (!a->upsert || a->target_key < 0 || a->target_key >= T->nattrs) return 0;
  f = T->attrs[a->target_key].flags;
  return (f & ASSOC_ATTR_UNIQUE) || ((f & ASSOC_ATTR_PK) && T->npk == 1);
}

static const assoc_select no_req = {NULL, 0, NULL, NULL, 0, -1, 0, 0};

/* Can a belongsToMany count/has read the junction alone?  When the
 * junction's otherKey is NOT NULL and REFERENCES the target key (constraints
 * on; every connection runs PRAGMA foreign_keys=ON, so no link dangles), the
 * target is not paranoid (or soft-deleted rows are asked for), and there is
 * no target scope nor target where, the join with the target only
 * re-checks what the foreign key guarantees. */
static int junction_only(const assoc_assoc *a, const assoc_where *w,
                         int with_deleted) {
  const assoc_model *T = a->target, *J = a->through;
  int key = -1;
  if (!is_btm(a) || J == NULL || !a->constraints || w != NULL ||
      a->nscope > 0)
    return 0;
  if (!with_deleted && (T->flags & ASSOC_MODEL_PARANOID) &&
      T->special[ASSOC_COL_DELETED] >= 0)
    return 0;
  if (a->other_key < 0 || a->other_key >= J->nattrs ||
      !(J->attrs[a->other_key].flags & ASSOC_ATTR_NOTNULL))
    return 0;
  return assoc_model_ref(J, a->other_key, &key) == T && key == a->target_key;
}

/* FROM J WHERE fk = ? AND <through scope> AND <J alive> [AND (<twhere>)]. */
static void from_junction(assoc_sql *s, const assoc_assoc *a,
                          const assoc_value *src, const assoc_where *twhere,
                          int *first) {
  const assoc_model *J = a->through;
  assoc__sql_appendz(s, " FROM ");
  assoc__sql_ident(s, J->table);
  and_(s, first);
  link_cond(s, J->table, J, a->fk, src);
  scope_conds(s, J->table, J, a->through_scope, a->nthrough_scope, first);
  alive_cond(s, J->table, J, first);
  if (twhere != NULL) {
    assoc__sql_appendz(s, " AND ");
    assoc__sql_cond(s, J, J->table, twhere);
  }
}

static int check_src(assoc_db *db, const assoc_assoc *a,
                     const assoc_value *src, const char *what) {
  if (src == NULL || !assoc__value_ok(src))
    return assoc__err(db, ASSOC_MISUSE, "%s: bad source value", what);
  if (src->type == ASSOC_V_BLOB)
    return assoc__err(db, ASSOC_MISUSE,
                      "%s: BLOB values cannot be association keys", what);
  return ASSOC_OK;
}

/* Checks an attribute list of m (attrs may be NULL with n <= 0). */
static int check_attrs(assoc_db *db, const assoc_model *m, const int *attrs,
                       int n, const char *what) {
  int i;
  if (n > 0 && attrs == NULL)
    return assoc__err(db, ASSOC_MISUSE, "%s: bad attribute list", what);
  for (i = 0; i < n; i++)
    if (attrs[i] < 0 || attrs[i] >= m->nattrs)
      return assoc__err(db, ASSOC_MISUSE,
                        "%s: attributes name attribute #%d, %s has %d", what,
                        attrs[i], m->name, m->nattrs);
  return ASSOC_OK;
}

int assoc_rel_get(assoc_db *db, const assoc_assoc *a, const assoc_value *src,
                  const assoc_select *req, const assoc_through_req *through,
                  assoc_rows **out) {
  assoc_sql local, *s;
  assoc__stmt *st;
  const assoc_model *T, *J;
  const char *q;
  int rc, i, first = 1, nt, nj, ncols, plain;
  if (out != NULL) *out = NULL;
  if ((rc = check(db, a, "get")) != ASSOC_OK) return rc;
  if (out == NULL) return assoc__err(db, ASSOC_MISUSE, "get: no out");
  if ((rc = check_src(db, a, src, "get")) != ASSOC_OK) return rc;
  if (req == NULL) req = &no_req;
  T = a->target;
  J = a->through;
  q = tq(a);
  if (req->nattrs < 0)
    return assoc__err(db, ASSOC_MISUSE, "get: bad attribute list");
  if ((rc = check_attrs(db, T, req->attrs, req->nattrs, "get")) != ASSOC_OK)
    return rc;
  if (req->norder < 0 || (req->norder > 0 && req->order == NULL))
    return assoc__err(db, ASSOC_MISUSE, "get: bad order list");
  for (i = 0; i < req->norder; i++)
    if (req->order[i].attr < 0 || req->order[i].attr >= T->nattrs)
      return assoc__err(db, ASSOC_MISUSE,
                        "get: order names attribute #%d, %s has %d",
                        req->order[i].attr, T->name, T->nattrs);
  nt = req->nattrs > 0 ? req->nattrs : T->nattrs;
  nj = 0;
  if (is_btm(a)) {
    if (through == NULL || through->nattrs < 0) {
      nj = J->nattrs;
    } else {
      rc = check_attrs(db, J, through->attrs, through->nattrs, "get");
      if (rc != ASSOC_OK) return rc;
      nj = through->nattrs;
    }
  } else if (through != NULL && (through->nattrs > 0 || through->where)) {
    return assoc__err(db, ASSOC_MISUSE,
                      "get: %s.%s(%s) has no junction", a->source->name,
                      kind_names[a->kind], T->name);
  }
  plain = plain_req(req) && src->type != ASSOC_V_NULL &&
          (through == NULL || (through->nattrs < 0 && through->where == NULL));
  if (plain && memo_prepare(db, a, ASSOC__MEMO_GET, 1, &src, 1, 1, &st, &rc)) {
    if (rc != ASSOC_OK) return rc;
    goto prepared;
  }
  s = assoc__scratch_get(db, &local);
  if (plain) {
    memo(s, a, ASSOC__MEMO_GET, 1);
    assoc__sql_memo_args(s, &src, 1);
  }
  assoc__sql_appendz(s, "SELECT ");
  for (i = 0; i < nt; i++) {
    if (i) assoc__sql_append(s, ", ", 2);
    qcol(s, q, T, req->nattrs > 0 ? req->attrs[i] : i);
  }
  for (i = 0; i < nj; i++) {
    assoc__sql_append(s, ", ", 2);
    qcol(s, J->table, J,
         (through == NULL || through->nattrs < 0) ? i : through->attrs[i]);
  }
  from_link(s, a, src, (is_btm(a) && through) ? through->where : NULL,
            &first);
  target_conds(s, a, req->where, req->with_deleted, &first);
  for (i = 0; i < req->norder; i++) {
    assoc__sql_appendz(s, i ? ", " : " ORDER BY ");
    qcol(s, q, T, req->order[i].attr);
    assoc__sql_appendz(s, req->order[i].desc ? " DESC" : " ASC");
  }
  if (req->limit >= 0 || req->offset > 0) {
    assoc_value v;
    v.type = ASSOC_V_INT;
    if (req->limit >= 0) {
      v.u.i = req->limit;
      assoc__sql_appendz(s, " LIMIT ?");
      assoc__sql_bind(s, &v);
    } else {
      assoc__sql_appendz(s, " LIMIT -1");
    }
    if (req->offset > 0) {
      v.u.i = req->offset;
      assoc__sql_appendz(s, " OFFSET ?");
      assoc__sql_bind(s, &v);
    }
  }
  rc = prepare(db, s, 1, &st);
  assoc__scratch_put(db, s);
  if (rc != ASSOC_OK) return rc;
prepared:
  ncols = sqlite3_column_count(st->stmt);
  if (st->amap == NULL) {
    st->amap = malloc((size_t)(ncols > 0 ? ncols : 1) * sizeof *st->amap);
    if (st->amap == NULL) {
      assoc__stmt_put(db, st);
      return assoc__err(db, ASSOC_NOMEM, "out of memory");
    }
    st->ncols = ncols;
  }
  for (i = 0; i < nt && i < st->ncols; i++)
    st->amap[i] = req->nattrs > 0 ? req->attrs[i] : i;
  for (i = 0; i < nj && nt + i < st->ncols; i++)
    st->amap[nt + i] =
        ((through == NULL || through->nattrs < 0) ? i : through->attrs[i]) |
        (1 << 16);
  assoc__clear_err(db);
  *out = assoc__rows_open(db, st, T);
  return ASSOC_OK;
}

int assoc_rows_node(const assoc_rows *r, int col) {
  int v;
  if (r == NULL || r->m == NULL || r->st->amap == NULL || col < 0 ||
      col >= r->st->ncols)
    return 0;
  v = r->st->amap[col];
  return v < 0 ? 0 : v >> 16;
}

int assoc_rel_count(assoc_db *db, const assoc_assoc *a, const assoc_value *src,
                    const assoc_select *req, int64_t *out) {
  return assoc_rel_count_v2(db, a, src, req, NULL, out);
}

static int rel_count(assoc_db *db, const assoc_assoc *a,
                     const assoc_value *src, const assoc_select *req,
                     const assoc_through_req *through, int64_t *out,
                     int fast) {
  assoc_sql local, *s;
  const assoc_where *twhere = NULL;
  int rc, first = 1;
  int64_t n = 0;
  if ((rc = check(db, a, "count")) != ASSOC_OK) return rc;
  if ((rc = check_src(db, a, src, "count")) != ASSOC_OK) return rc;
  if (req == NULL) req = &no_req;
  if (through != NULL && through->where != NULL) {
    if (!is_btm(a))
      return assoc__err(db, ASSOC_MISUSE, "count: %s.%s(%s) has no junction",
                        a->source->name, kind_names[a->kind],
                        a->target->name);
    twhere = through->where;
  }
  if (fast && plain_req(req) && twhere == NULL && src->type != ASSOC_V_NULL &&
      memo_run(db, a, ASSOC__MEMO_COUNT, 1, &src, 1, &n, &rc)) {
    if (rc != ASSOC_OK) return rc;
    if (out != NULL) *out = n;
    assoc__clear_err(db);
    return ASSOC_OK;
  }
  s = assoc__scratch_get(db, &local);
  if (fast && plain_req(req) && twhere == NULL && src->type != ASSOC_V_NULL) {
    memo(s, a, ASSOC__MEMO_COUNT, 1);
    assoc__sql_memo_args(s, &src, 1);
  }
  if (fast && pairs_unique(a) && junction_only(a, req->where,
                                               req->with_deleted)) {
    assoc__sql_appendz(s, "SELECT count(*)");
    from_junction(s, a, src, twhere, &first);
  } else if (is_btm(a) && !(fast && pairs_unique(a))) {
    assoc__sql_appendz(s, "SELECT count(DISTINCT ");
    qcol(s, a->target->table, a->target, a->target_key);
    assoc__sql_append(s, ")", 1);
  } else {
    assoc__sql_appendz(s, "SELECT count(*)");
  }
  if (first) { /* not the junction-only form */
    from_link(s, a, src, twhere, &first);
    target_conds(s, a, req->where, req->with_deleted, &first);
  }
  rc = run_scalar(db, s, &n);
  assoc__scratch_put(db, s);
  if (rc != ASSOC_OK) return rc;
  if (out != NULL) *out = n;
  assoc__clear_err(db);
  return ASSOC_OK;
}

int assoc_rel_count_v2(assoc_db *db, const assoc_assoc *a,
                       const assoc_value *src, const assoc_select *req,
                       const assoc_through_req *through, int64_t *out) {
  return rel_count(db, a, src, req, through, out, 0);
}

int assoc_rel_count_fast(assoc_db *db, const assoc_assoc *a,
                         const assoc_value *src, const assoc_select *req,
                         const assoc_through_req *through, int64_t *out) {
  return rel_count(db, a, src, req, through, out, 1);
}

static int rel_has(assoc_db *db, const assoc_assoc *a, const assoc_value *src,
                   const assoc_value *targets, int n, int *all, int fast) {
  assoc_sql local, *s, js;
  assoc_value json;
  const char *q;
  int rc, first = 1;
  int64_t ok = 0;
  if (all != NULL) *all = 0;
  if ((rc = check(db, a, "has")) != ASSOC_OK) return rc;
  if ((rc = check_src(db, a, src, "has")) != ASSOC_OK) return rc;
  if (fast && n == 1) {
    /* SELECT EXISTS (SELECT 1 FROM <link> WHERE <conds> AND tk = ?) */
    if ((rc = one_target_ok(db, a, targets, 0, NULL, "has")) != ASSOC_OK)
      return rc;
    const assoc_value *args[2] = {src, &targets[0]};
    if (src->type != ASSOC_V_NULL &&
        memo_run(db, a, ASSOC__MEMO_HAS, 1, args, 2, &ok, &rc)) {
      if (rc != ASSOC_OK) return rc;
      if (all != NULL) *all = ok != 0;
      assoc__clear_err(db);
      return ASSOC_OK;
    }
    q = tq(a);
    s = assoc__scratch_get(db, &local);
    if (src->type != ASSOC_V_NULL) {
      memo(s, a, ASSOC__MEMO_HAS, 1);
      assoc__sql_memo_args(s, args, 2);
    }
    assoc__sql_appendz(s, "SELECT EXISTS (SELECT 1");
    if (junction_only(a, NULL, 0)) {
      from_junction(s, a, src, NULL, &first);
      and_(s, &first);
      qcol(s, a->through->table, a->through, a->other_key);
    } else {
      from_link(s, a, src, NULL, &first);
      target_conds(s, a, NULL, 0, &first);
      and_(s, &first);
      qcol(s, q, a->target, a->tgt_attr);
    }
    assoc__sql_appendz(s, " = ");
    bind_q(s, &targets[0]);
    assoc__sql_append(s, ")", 1);
    rc = run_scalar(db, s, &ok);
    assoc__scratch_put(db, s);
    if (rc != ASSOC_OK) return rc;
    if (all != NULL) *all = ok != 0;
    assoc__clear_err(db);
    return ASSOC_OK;
  }
  assoc_sql_init(&js);
  rc = json_list(db, a, &js, targets, n, 0, NULL, NULL, "has");
  if (rc != ASSOC_OK) {
    assoc_sql_free(&js);
    return rc;
  }
  if (n == 0) { /* all of none */
    assoc_sql_free(&js);
    if (all != NULL) *all = 1;
    assoc__clear_err(db);
    return ASSOC_OK;
  }
  json.type = ASSOC_V_TEXT;
  json.u.s.p = js.text;
  json.u.s.n = js.len;
  q = tq(a);
  s = assoc__scratch_get(db, &local);
  assoc__sql_appendz(s, "SELECT count(DISTINCT ");
  qcol(s, q, a->target, a->tgt_attr);
  assoc__sql_appendz(s, ") = (SELECT count(DISTINCT value) FROM json_each(?))");
  assoc__sql_bind(s, &json);
  from_link(s, a, src, NULL, &first);
  target_conds(s, a, NULL, 0, &first);
  in_list(s, q, a->target, a->tgt_attr, &json, 0, 0, &first);
  rc = run_scalar(db, s, &ok);
  assoc__scratch_put(db, s);
  assoc_sql_free(&js);
  if (rc != ASSOC_OK) return rc;
  if (all != NULL) *all = ok != 0;
  assoc__clear_err(db);
  return ASSOC_OK;
}

int assoc_rel_has(assoc_db *db, const assoc_assoc *a, const assoc_value *src,
                  const assoc_value *targets, int n, int *all) {
  return rel_has(db, a, src, targets, n, all, 0);
}

int assoc_rel_has_one(assoc_db *db, const assoc_assoc *a,
                      const assoc_value *src, const assoc_value *target,
                      int *yes) {
  return rel_has(db, a, src, target, 1, yes, 1);
}

/* ---- writes: hasMany / hasOne -------------------------------------------------------- */

/* UPDATE T SET fk = <src>, <scope>, updatedAt WHERE <cond built by caller>:
 * this appends up to the WHERE (exclusive). */
static void link_update(assoc_sql *s, const assoc_assoc *a,
                        const assoc_value *src, const assoc_value *now) {
  const assoc_model *T = a->target;
  int i, upd = T->special[ASSOC_COL_UPDATED];
  assoc__sql_appendz(s, "UPDATE ");
  assoc__sql_ident(s, T->table);
  assoc__sql_appendz(s, " SET ");
  qcol(s, NULL, T, a->fk);
  assoc__sql_appendz(s, " = ");
  bind_q(s, src);
  for (i = 0; i < a->nscope; i++) {
    assoc__sql_append(s, ", ", 2);
    qcol(s, NULL, T, a->scope[i].attr);
    assoc__sql_appendz(s, " = ");
    bind_q(s, &a->scope[i].value);
  }
  if (upd >= 0 && upd != a->fk) {
    assoc__sql_append(s, ", ", 2);
    qcol(s, NULL, T, upd);
    assoc__sql_appendz(s, " = ");
    bind_q(s, now);
  }
}

/* Starts the statement that drops children of src: UPDATE ... SET fk =
 * NULL (nullable fk), a soft delete (NOT NULL fk, paranoid target) or
 * DELETE (NOT NULL fk); then `WHERE fk = ? AND <scope>`. */
static void unlink_start(assoc_sql *s, const assoc_assoc *a,
                         const assoc_value *src, const assoc_value *now,
                         int *first) {
  const assoc_model *T = a->target;
  int upd = T->special[ASSOC_COL_UPDATED], del = T->special[ASSOC_COL_DELETED];
  int paranoid = (T->flags & ASSOC_MODEL_PARANOID) && del >= 0;
  if (a->fk_allow_null || paranoid) {
    assoc__sql_appendz(s, "UPDATE ");
    assoc__sql_ident(s, T->table);
    assoc__sql_appendz(s, " SET ");
    if (a->fk_allow_null) {
      qcol(s, NULL, T, a->fk);
      assoc__sql_appendz(s, " = NULL");
      if (upd >= 0 && upd != a->fk) {
        assoc__sql_append(s, ", ", 2);
        qcol(s, NULL, T, upd);
        assoc__sql_appendz(s, " = ");
        bind_q(s, now);
      }
    } else {
      qcol(s, NULL, T, del);
      assoc__sql_appendz(s, " = ");
      bind_q(s, now);
    }
  } else {
    assoc__sql_appendz(s, "DELETE FROM ");
    assoc__sql_ident(s, T->table);
  }
  and_(s, first);
  link_cond(s, NULL, T, a->fk, src);
  scope_conds(s, NULL, T, a->scope, a->nscope, first);
  if (paranoid) alive_cond(s, NULL, T, first);
}

/* hasMany add: one UPDATE of the listed targets. */
static void hm_add_sql(assoc_sql *s, const assoc_assoc *a,
                       const assoc_value *src, const assoc_value *json,
                       const assoc_value *now) {
  int first = 1;
  link_update(s, a, src, now);
  in_list(s, NULL, a->target, a->tgt_attr, json, 0, 0, &first);
  alive_cond(s, NULL, a->target, &first);
}

/* ---- writes: belongsToMany ------------------------------------------------------------- */

/* The through attributes given (tattrs) are checked: junction attributes,
 * not a key, a scope attribute, a timestamp or twice. */
static int check_tattrs(assoc_db *db, const assoc_assoc *a, const int *tattrs,
                        int ntattrs, const char *what) {
  const assoc_model *J = a->through;
  int i, k;
  if (ntattrs == 0) return ASSOC_OK;
  if (!is_btm(a))
    return assoc__err(db, ASSOC_MISUSE,
                      "%s: through values need a belongsToMany", what);
  if (ntattrs < 0 || tattrs == NULL)
    return assoc__err(db, ASSOC_MISUSE, "%s: bad through attribute list",
                      what);
  for (i = 0; i < ntattrs; i++) {
    int t = tattrs[i];
    if (t < 0 || t >= J->nattrs)
      return assoc__err(db, ASSOC_MISUSE,
                        "%s: through values name attribute #%d, %s has %d",
                        what, t, J->name, J->nattrs);
    if (t == a->fk || t == a->other_key || t == J->special[0] ||
        t == J->special[1] || t == J->special[2])
      return assoc__err(db, ASSOC_MISUSE,
                        "%s: through values cannot set %s.%s (a key or a "
                        "timestamp)",
                        what, J->name, J->attrs[t].name);
    for (k = 0; k < a->nthrough_scope; k++)
      if (a->through_scope[k].attr == t)
        return assoc__err(db, ASSOC_MISUSE,
                          "%s: through values cannot set %s.%s (the through "
                          "scope sets it)",
                          what, J->name, J->attrs[t].name);
    for (k = 0; k < i; k++)
      if (tattrs[k] == t)
        return assoc__err(db, ASSOC_MISUSE,
                          "%s: through attribute %s.%s given twice", what,
                          J->name, J->attrs[t].name);
  }
  return ASSOC_OK;
}

/* Is J paranoid (its links are soft-deleted)? */
static int j_paranoid(const assoc_model *J) {
  return (J->flags & ASSOC_MODEL_PARANOID) && J->special[ASSOC_COL_DELETED] >= 0;
}

/* `"q"."fk" = ? AND <through scope>` for statements on J alone, and on a
 * paranoid junction `AND "q"."deletedAt" IS NULL`: writes see live links
 * only (the upsert excepted: it revives a soft-deleted link). */
static void j_link(assoc_sql *s, const assoc_assoc *a, const char *q,
                   const assoc_value *src, int *first) {
  and_(s, first);
  link_cond(s, q, a->through, a->fk, src);
  scope_conds(s, q, a->through, a->through_scope, a->nthrough_scope, first);
  alive_cond(s, q, a->through, first);
}

/* Through cells.  Element `row` of the JSON list is [key, c1, ..., cn]; a
 * cell the caller did not give is a one-element array [default] (kept
 * cells: see json_list).  With keep = 0 no cell is kept and the SQL is the
 * plain json_extract(row, '$[i]'). */

/* The value written for cell i of `row` (attribute attr of J).  A kept cell
 * takes the value of the existing link joined as "assoc_old" when `old`
 * (NULL "assoc_k": no link), else its default. */
static void cell_value(assoc_sql *s, const assoc_model *J, const char *row,
                       int i, int attr, int keep, int old) {
  if (!keep) {
    assoc__sql_printf(s, "json_extract(%s, '$[%d]')", row, i);
    return;
  }
  assoc__sql_printf(s, "CASE WHEN json_type(%s, '$[%d]') = 'array' THEN ",
                    row, i);
  if (old) {
    assoc__sql_printf(s, "CASE WHEN \"assoc_old\".\"assoc_k\" IS NULL THEN "
                         "json_extract(%s, '$[%d][0]') ELSE ", row, i);
    qcol(s, "assoc_old", J, attr);
    assoc__sql_appendz(s, " END");
  } else {
    assoc__sql_printf(s, "json_extract(%s, '$[%d][0]')", row, i);
  }
  assoc__sql_printf(s, " ELSE json_extract(%s, '$[%d]') END", row, i);
}

/* `json_extract(row, '$[i]') IS "q"."col"`: cell i matches the link's
 * value (a kept cell matches any value). */
static void cell_match(assoc_sql *s, const assoc_model *J, const char *q,
                       const char *row, int i, int attr, int keep) {
  if (keep)
    assoc__sql_printf(s, "(json_type(%s, '$[%d]') = 'array' OR ", row, i);
  assoc__sql_printf(s, "json_extract(%s, '$[%d]') IS ", row, i);
  qcol(s, q, J, attr);
  if (keep) assoc__sql_append(s, ")", 1);
}

/* ` LEFT JOIN (SELECT ok AS "assoc_k", <through attrs> FROM J WHERE ...
 * GROUP BY 1) AS "assoc_old" ON "assoc_old"."assoc_k" = <key>`: the
 * existing link of each listed target, whose values the kept cells keep.
 * any_link: the row an upsert conflicts with (fk, ok), dead or alive;
 * otherwise a live link of the through scope. */
static void old_join(assoc_sql *s, const assoc_assoc *a,
                     const assoc_value *src, const int *tattrs, int ntattrs,
                     const char *key, int any_link) {
  const assoc_model *J = a->through;
  int i, first = 1;
  assoc__sql_appendz(s, " LEFT JOIN (SELECT ");
  qcol(s, NULL, J, a->other_key);
  assoc__sql_appendz(s, " AS \"assoc_k\"");
  for (i = 0; i < ntattrs; i++) {
    assoc__sql_append(s, ", ", 2);
    qcol(s, NULL, J, tattrs[i]);
  }
  assoc__sql_appendz(s, " FROM ");
  assoc__sql_ident(s, J->table);
  if (any_link) {
    and_(s, &first);
    link_cond(s, NULL, J, a->fk, src);
  } else {
    j_link(s, a, NULL, src, &first);
  }
  assoc__sql_appendz(s, " GROUP BY 1) AS \"assoc_old\" ON "
                        "\"assoc_old\".\"assoc_k\" = ");
  assoc__sql_appendz(s, key);
}

/* The column list and SELECT list of an INSERT INTO J: fk, ok, through
 * attributes, through scope, timestamps.  `key` is the expression of a
 * list element's key and `row` of the element (for json_extract); keep and
 * old as in cell_value. */
static void btm_insert_head(assoc_sql *s, const assoc_assoc *a,
                            const assoc_value *src, const int *tattrs,
                            int ntattrs, const char *key, const char *row,
                            const assoc_value *now, int keep, int old,
                            const assoc_value *one, const assoc_value *onev) {
  const assoc_model *J = a->through;
  int i, cr = J->special[ASSOC_COL_CREATED], up = J->special[ASSOC_COL_UPDATED];
  assoc__sql_appendz(s, "INSERT INTO ");
  assoc__sql_ident(s, J->table);
  assoc__sql_append(s, " (", 2);
  qcol(s, NULL, J, a->fk);
  assoc__sql_append(s, ", ", 2);
  qcol(s, NULL, J, a->other_key);
  for (i = 0; i < ntattrs; i++) {
    assoc__sql_append(s, ", ", 2);
    qcol(s, NULL, J, tattrs[i]);
  }
  for (i = 0; i < a->nthrough_scope; i++) {
    assoc__sql_append(s, ", ", 2);
    qcol(s, NULL, J, a->through_scope[i].attr);
  }
  if (cr >= 0) {
    assoc__sql_append(s, ", ", 2);
    qcol(s, NULL, J, cr);
  }
  if (up >= 0) {
    assoc__sql_append(s, ", ", 2);
    qcol(s, NULL, J, up);
  }
  assoc__sql_appendz(s, one ? ") VALUES (" : ") SELECT ");
  bind_q(s, src);
  assoc__sql_append(s, ", ", 2);
  if (one)
    bind_q(s, one);
  else
    assoc__sql_appendz(s, key);
  for (i = 0; i < ntattrs; i++) {
    assoc__sql_append(s, ", ", 2);
    if (one)
      bind_q(s, &onev[i]);
    else
      cell_value(s, J, row, i + 1, tattrs[i], keep, old);
  }
  for (i = 0; i < a->nthrough_scope; i++) {
    assoc__sql_append(s, ", ", 2);
    bind_q(s, &a->through_scope[i].value);
  }
  if (cr >= 0) {
    assoc__sql_append(s, ", ", 2);
    bind_q(s, now);
  }
  if (up >= 0) {
    assoc__sql_append(s, ", ", 2);
    bind_q(s, now);
  }
  if (one) assoc__sql_append(s, ")", 1);
}

/* The upsert (junction with a unique (fk, ok)): one statement.  It revives
 * a soft-deleted link of a paranoid junction.  With kept cells the list is
 * joined with the existing links, so that a kept cell writes back the
 * link's own value. */
static void btm_upsert_sql(assoc_sql *s, const assoc_assoc *a,
                           const assoc_value *src, const int *tattrs,
                           int ntattrs, const assoc_value *json,
                           const assoc_value *now, int keep,
                           const assoc_value *one, const assoc_value *onev) {
  static const char lkey[] = "json_extract(\"assoc_l\".\"value\", '$[0]')";
  const assoc_model *J = a->through;
  int i, up = J->special[ASSOC_COL_UPDATED], del = J->special[ASSOC_COL_DELETED];
  int paranoid = j_paranoid(J);
  if (one) { /* one target, every cell given */
    btm_insert_head(s, a, src, tattrs, ntattrs, NULL, NULL, now, 0, 0, one,
                    onev);
    assoc__sql_appendz(s, " ON CONFLICT (");
  } else if (keep) {
    btm_insert_head(s, a, src, tattrs, ntattrs, lkey, "\"assoc_l\".\"value\"",
                    now, 1, 1, NULL, NULL);
    assoc__sql_appendz(s, " FROM json_each(?) AS \"assoc_l\"");
    assoc__sql_bind(s, json);
    old_join(s, a, src, tattrs, ntattrs, lkey, 1);
    assoc__sql_appendz(s, " WHERE true ON CONFLICT (");
  } else {
    btm_insert_head(s, a, src, tattrs, ntattrs, key_expr(ntattrs), "value",
                    now, 0, 0, NULL, NULL);
    assoc__sql_appendz(s, " FROM json_each(?) WHERE true ON CONFLICT (");
    assoc__sql_bind(s, json);
  }
  qcol(s, NULL, J, a->fk);
  assoc__sql_append(s, ", ", 2);
  qcol(s, NULL, J, a->other_key);
  if (ntattrs == 0 && !paranoid) {
    assoc__sql_appendz(s, ") DO NOTHING");
    return;
  }
  assoc__sql_appendz(s, ") DO UPDATE SET ");
  for (i = 0; i < ntattrs; i++) {
    if (i) assoc__sql_append(s, ", ", 2);
    qcol(s, NULL, J, tattrs[i]);
    assoc__sql_appendz(s, " = excluded.");
    qcol(s, NULL, J, tattrs[i]);
  }
  if (paranoid) {
    if (ntattrs) assoc__sql_append(s, ", ", 2);
    qcol(s, NULL, J, del);
    assoc__sql_appendz(s, " = NULL");
  }
  if (up >= 0 && ntattrs > 0) {
    assoc__sql_append(s, ", ", 2);
    qcol(s, NULL, J, up);
    assoc__sql_appendz(s, " = excluded.");
    qcol(s, NULL, J, up);
  } else if (up >= 0 && paranoid) { /* a revived link is updated */
    assoc__sql_append(s, ", ", 2);
    qcol(s, NULL, J, up);
    assoc__sql_appendz(s, " = CASE WHEN ");
    qcol(s, NULL, J, del);
    assoc__sql_appendz(s, " IS NULL THEN ");
    qcol(s, NULL, J, up);
    assoc__sql_appendz(s, " ELSE excluded.");
    qcol(s, NULL, J, up);
    assoc__sql_appendz(s, " END");
  }
}

/* Without a unique (fk, ok): INSERT of the listed targets that have no
 * live link yet (one statement).  match (set with through values): also of
 * the targets whose links all differ in a given cell, taking kept cells
 * from such a link (the caller then deletes the differing links). */
static void btm_insert_missing_sql(assoc_sql *s, const assoc_assoc *a,
                                   const assoc_value *src, const int *tattrs,
                                   int ntattrs, const assoc_value *json,
                                   const assoc_value *now, int keep,
                                   int match) {
  static const char jv[] = "\"assoc_j\".\"v\"", jr[] = "\"assoc_j\".\"r\"";
  const assoc_model *J = a->through;
  int i, first = 1;
  btm_insert_head(s, a, src, tattrs, ntattrs, jv, jr, now, keep,
                  keep && match, NULL, NULL);
  assoc__sql_appendz(s, " FROM (SELECT ");
  assoc__sql_appendz(s, key_expr(ntattrs));
  assoc__sql_appendz(s, " AS \"v\", value AS \"r\" FROM json_each(?) "
                        "GROUP BY 1) AS \"assoc_j\"");
  assoc__sql_bind(s, json);
  if (keep && match) old_join(s, a, src, tattrs, ntattrs, jv, 0);
  assoc__sql_appendz(s, " WHERE NOT EXISTS (SELECT 1 FROM ");
  assoc__sql_ident(s, J->table);
  j_link(s, a, J->table, src, &first);
  assoc__sql_appendz(s, " AND ");
  qcol(s, J->table, J, a->other_key);
  assoc__sql_appendz(s, " = \"assoc_j\".\"v\"");
  for (i = 0; match && i < ntattrs; i++) {
    assoc__sql_appendz(s, " AND ");
    cell_match(s, J, J->table, jr, i + 1, tattrs[i], keep);
  }
  assoc__sql_append(s, ")", 1);
}

/* Without a unique (fk, ok): UPDATE the through values of existing links of
 * the listed targets (a kept cell writes the link's own value back). */
static void btm_update_existing_sql(assoc_sql *s, const assoc_assoc *a,
                                    const assoc_value *src, const int *tattrs,
                                    int ntattrs, const assoc_value *json,
                                    const assoc_value *now, int keep) {
  const assoc_model *J = a->through;
  int i, first = 1, up = J->special[ASSOC_COL_UPDATED];
  assoc__sql_appendz(s, "UPDATE ");
  assoc__sql_ident(s, J->table);
  assoc__sql_appendz(s, " SET ");
  for (i = 0; i < ntattrs; i++) {
    if (i) assoc__sql_append(s, ", ", 2);
    qcol(s, NULL, J, tattrs[i]);
    if (keep) {
      assoc__sql_printf(s, " = (SELECT CASE WHEN json_type(value, '$[%d]') = "
                           "'array' THEN ", i + 1);
      qcol(s, J->table, J, tattrs[i]);
      assoc__sql_printf(s, " ELSE json_extract(value, '$[%d]') END FROM "
                           "json_each(?) WHERE json_extract(value, '$[0]') = ",
                        i + 1);
    } else {
      assoc__sql_printf(s, " = (SELECT json_extract(value, '$[%d]') FROM "
                           "json_each(?) WHERE json_extract(value, '$[0]') = ",
                        i + 1);
    }
    assoc__sql_bind(s, json);
    qcol(s, J->table, J, a->other_key);
    assoc__sql_appendz(s, " LIMIT 1)");
  }
  if (up >= 0) {
    assoc__sql_append(s, ", ", 2);
    qcol(s, NULL, J, up);
    assoc__sql_appendz(s, " = ");
    bind_q(s, now);
  }
  j_link(s, a, NULL, src, &first);
  in_list(s, NULL, J, a->other_key, json, ntattrs, 0, &first);
}

/* Starts the statement that drops live links of src: DELETE FROM J, or on
 * a paranoid junction the soft delete UPDATE J SET deletedAt = now [,
 * updatedAt = now]; then WHERE <live link>. */
static void j_unlink_start(assoc_sql *s, const assoc_assoc *a,
                           const assoc_value *src, const assoc_value *now,
                           int *first) {
  const assoc_model *J = a->through;
  if (j_paranoid(J)) {
    int up = J->special[ASSOC_COL_UPDATED];
    assoc__sql_appendz(s, "UPDATE ");
    assoc__sql_ident(s, J->table);
    assoc__sql_appendz(s, " SET ");
    qcol(s, NULL, J, J->special[ASSOC_COL_DELETED]);
    assoc__sql_appendz(s, " = ");
    bind_q(s, now);
    if (up >= 0) {
      assoc__sql_append(s, ", ", 2);
      qcol(s, NULL, J, up);
      assoc__sql_appendz(s, " = ");
      bind_q(s, now);
    }
  } else {
    assoc__sql_appendz(s, "DELETE FROM ");
    assoc__sql_ident(s, J->table);
  }
  j_link(s, a, NULL, src, first);
}

/* ---- write drivers ------------------------------------------------------------- */

/* A list of statement builders run in order, inside one savepoint when
 * there is more than one. */
typedef void (*build_fn)(assoc_sql *s, void *ctx);

typedef struct wctx {
  const assoc_assoc *a;
  const assoc_value *src, *json, *now, *target;
  const assoc_value *one, *onev; /* a single target bound as itself, and its
                                    through cells (ntattrs) */
  const int *tattrs;
  int ntattrs;
  int keep; /* some through cell is kept (not given) */
  int n;
  int memo;       /* the memo slot of a one-step write (0: none; slot + 1) */
  uint64_t shape; /* and its shape */
} wctx;

/* The start of a write's context: the association, the source value, the
 * JSON list of targets (or NULL), and the time stamp (formatted into nowbuf
 * when a written model has a time stamp column); the rest zeroed. */
static void now_value(const assoc_assoc *a, char buf[25], assoc_value *v);
static void write_start(wctx *w, const assoc_assoc *a, const assoc_value *src,
                        const assoc_value *json, char nowbuf[25],
                        assoc_value *now) {
  now_value(a, nowbuf, now);
  memset(w, 0, sizeof *w);
  w->a = a;
  w->src = src;
  w->json = json;
  w->now = now;
}

static int run_steps(assoc_db *db, build_fn *steps, int nsteps, wctx *w) {
  assoc_sql local, *s;
  int rc = ASSOC_OK, i, tx = nsteps > 1, nargs = 0;
  const assoc_value *args[8];
  if (nsteps == 1 && w->memo > 0) { /* src, the target, now, its cells */
    args[nargs++] = w->src;
    args[nargs++] = w->one;
    args[nargs++] = w->now;
    for (i = 0; i < w->ntattrs && nargs < 8 && w->onev != NULL; i++)
      args[nargs++] = &w->onev[i];
    if (memo_run(db, w->a, w->memo - 1, w->shape, args, nargs, NULL, &rc)) {
      if (rc == ASSOC_OK) assoc__clear_err(db);
      return rc;
    }
  }
  if (tx && (rc = assoc_begin(db)) != ASSOC_OK) return rc;
  for (i = 0; i < nsteps && rc == ASSOC_OK; i++) {
    s = assoc__scratch_get(db, &local);
    if (nsteps == 1 && w->memo > 0) {
      memo(s, w->a, w->memo - 1, w->shape);
      assoc__sql_memo_args(s, args, nargs);
    }
    steps[i](s, w);
    rc = run(db, s);
    assoc__scratch_put(db, s);
  }
  if (tx) {
    if (rc == ASSOC_OK) rc = assoc_commit(db);
    if (rc != ASSOC_OK) return assoc__rollback_keep(db);
  }
  if (rc == ASSOC_OK) assoc__clear_err(db);
  return rc;
}

static void step_hm_add(assoc_sql *s, void *p) {
  wctx *w = p;
  int first = 1;
  if (!w->one) {
    hm_add_sql(s, w->a, w->src, w->json, w->now);
    return;
  }
  link_update(s, w->a, w->src, w->now);
  one_cond(s, NULL, w->a->target, w->a->tgt_attr, w->one, &first);
  alive_cond(s, NULL, w->a->target, &first);
}

/* ANDs "attr of m is one of the call's targets": `= ?` for a single target,
 * the JSON list otherwise (remove of hasMany and belongsToMany). */
static void targets_cond(assoc_sql *s, const wctx *w, const assoc_model *m,
                         int attr, int *first) {
  if (w->one)
    one_cond(s, NULL, m, attr, w->one, first);
  else
    in_list(s, NULL, m, attr, w->json, 0, 0, first);
}

static void step_hm_remove(assoc_sql *s, void *p) {
  wctx *w = p;
  int first = 1;
  unlink_start(s, w->a, w->src, w->now, &first);
  targets_cond(s, w, w->a->target, w->a->tgt_attr, &first);
}

static void step_hm_unlink_others(assoc_sql *s, void *p) {
  wctx *w = p;
  int first = 1;
  unlink_start(s, w->a, w->src, w->now, &first);
  if (w->n > 0)
    in_list(s, NULL, w->a->target, w->a->tgt_attr, w->json, 0, 1, &first);
}

static void step_ho_unlink(assoc_sql *s, void *p) {
  wctx *w = p;
  const assoc_assoc *a = w->a;
  int first = 1;
  unlink_start(s, a, w->src, w->now, &first);
  and_(s, &first);
  qcol(s, NULL, a->target, a->tgt_attr);
  assoc__sql_appendz(s, " IS NOT ");
  bind_q(s, w->target);
}

static void step_ho_link(assoc_sql *s, void *p) {
  wctx *w = p;
  int first = 1;
  link_update(s, w->a, w->src, w->now);
  and_(s, &first);
  eq_cond(s, NULL, w->a->target, w->a->tgt_attr, w->target);
  alive_cond(s, NULL, w->a->target, &first);
}

static void step_btm_add(assoc_sql *s, void *p) {
  wctx *w = p;
  if (w->a->upsert)
    btm_upsert_sql(s, w->a, w->src, w->tattrs, w->ntattrs, w->json, w->now,
                   w->keep, w->one, w->onev);
  else
    btm_insert_missing_sql(s, w->a, w->src, w->tattrs, w->ntattrs, w->json,
                           w->now, w->keep, 0);
}

/* set without a unique key, with through values: INSERT the targets that
 * have no link with their given values (before step_btm_delete_others). */
static void step_btm_insert_unmatched(assoc_sql *s, void *p) {
  wctx *w = p;
  btm_insert_missing_sql(s, w->a, w->src, w->tattrs, w->ntattrs, w->json,
                         w->now, w->keep, 1);
}

static void step_btm_update(assoc_sql *s, void *p) {
  wctx *w = p;
  btm_update_existing_sql(s, w->a, w->src, w->tattrs, w->ntattrs, w->json,
                          w->now, w->keep);
}

static void step_btm_remove(assoc_sql *s, void *p) {
  wctx *w = p;
  int first = 1;
  j_unlink_start(s, w->a, w->src, w->now, &first);
  targets_cond(s, w, w->a->through, w->a->other_key, &first);
}

/* set: delete (soft-delete on a paranoid junction) the links not in the
 * list; with through values and no unique key also the links whose given
 * values differ (step_btm_insert_unmatched inserted their replacements). */
static void step_btm_delete_others(assoc_sql *s, void *p) {
  wctx *w = p;
  const assoc_assoc *a = w->a;
  const assoc_model *J = a->through;
  int i, first = 1;
  j_unlink_start(s, a, w->src, w->now, &first);
  if (w->n == 0) return;
  if (a->upsert || w->ntattrs == 0) {
    in_list(s, NULL, J, a->other_key, w->json, w->ntattrs, 1, &first);
    return;
  }
  and_(s, &first);
  assoc__sql_appendz(s, "NOT EXISTS (SELECT 1 FROM json_each(?) WHERE "
                        "json_extract(value, '$[0]') = ");
  assoc__sql_bind(s, w->json);
  qcol(s, J->table, J, a->other_key);
  for (i = 0; i < w->ntattrs; i++) {
    assoc__sql_appendz(s, " AND ");
    cell_match(s, J, J->table, "value", i + 1, w->tattrs[i], w->keep);
  }
  assoc__sql_append(s, ")", 1);
}

/* Common checks and the JSON list of a write. */
static int write_prep(assoc_db *db, const assoc_assoc *a,
                      const assoc_value *src, const assoc_value *targets,
                      int n, const int *tattrs, int ntattrs,
                      const assoc_value *tvals, const unsigned char *tkeep,
                      const char *what, assoc_sql *js, assoc_value *json,
                      int one) {
  int rc;
  if ((rc = check(db, a, what)) != ASSOC_OK) return rc;
  if (a->kind != ASSOC_HAS_MANY && a->kind != ASSOC_BELONGS_TO_MANY)
    return assoc__err(db, ASSOC_MISUSE,
                      "%s: %s.%s(%s) is not a to-many association", what,
                      a->source->name, kind_names[a->kind], a->target->name);
  if ((rc = check_src(db, a, src, what)) != ASSOC_OK) return rc;
  if (src->type == ASSOC_V_NULL)
    return assoc__err(db, ASSOC_MISUSE,
                      "%s: the source's %s.%s is null (save it first)", what,
                      a->source->name, a->source->attrs[a->src_attr].name);
  if ((rc = check_tattrs(db, a, tattrs, ntattrs, what)) != ASSOC_OK)
    return rc;
  if (one) return one_target_ok(db, a, targets, ntattrs, tvals, what);
  rc = json_list(db, a, js, targets, n, ntattrs, tvals, tkeep, what);
  if (rc != ASSOC_OK) return rc;
  json->type = ASSOC_V_TEXT;
  json->u.s.p = js->text;
  json->u.s.n = js->len;
  return ASSOC_OK;
}

/* Is any of the n * ntattrs cells kept? */
static int any_kept(const unsigned char *tkeep, int n, int ntattrs) {
  size_t i, cells;
  if (tkeep == NULL || n <= 0 || ntattrs <= 0) return 0;
  cells = (size_t)n * (size_t)ntattrs;
  for (i = 0; i < cells; i++)
    if (tkeep[i]) return 1;
  return 0;
}

/* The time stamp the writes bind where a model they touch has a createdAt,
 * updatedAt or deletedAt column (else NULL: nothing binds it). */
static void now_value(const assoc_assoc *a, char buf[25], assoc_value *v) {
  const assoc_model *ms[3] = {a->source, a->target, a->through};
  int i, w, any = 0;
  for (i = 0; i < 3; i++)
    for (w = 0; ms[i] != NULL && w < 3; w++)
      if (ms[i]->special[w] >= 0) any = 1;
  if (!any) {
    memset(v, 0, sizeof *v);
    v->type = ASSOC_V_NULL;
    return;
  }
  assoc_now_iso(buf);
  v->type = ASSOC_V_TEXT;
  v->u.s.p = buf;
  v->u.s.n = 24;
}

int assoc_rel_add(assoc_db *db, const assoc_assoc *a, const assoc_value *src,
                  const assoc_value *targets, int n, const int *tattrs,
                  int ntattrs, const assoc_value *tvals) {
  return assoc_rel_add_v2(db, a, src, targets, n, tattrs, ntattrs, tvals,
                          NULL);
}

static int rel_add(assoc_db *db, const assoc_assoc *a,
                   const assoc_value *src, const assoc_value *targets, int n,
                   const int *tattrs, int ntattrs, const assoc_value *tvals,
                   const unsigned char *tkeep, int fast) {
  assoc_sql js;
  assoc_value json, now;
  char nowbuf[25];
  build_fn steps[2];
  int rc, k = 0, keep = any_kept(tkeep, n, ntattrs);
  /* one target bound as itself: hasMany, or a belongsToMany upsert with
   * every through cell given */
  int one = fast && n == 1 &&
            (a->kind == ASSOC_HAS_MANY ||
             (a->kind == ASSOC_BELONGS_TO_MANY && a->upsert && !keep));
  wctx w;
  assoc_sql_init(&js);
  rc = write_prep(db, a, src, targets, n, tattrs, ntattrs, tvals, tkeep, "add",
                  &js, &json, one);
  if (rc != ASSOC_OK || n == 0) {
    assoc_sql_free(&js);
    if (rc == ASSOC_OK) assoc__clear_err(db);
    return rc;
  }
  write_start(&w, a, src, &json, nowbuf, &now);
  w.tattrs = tattrs;
  w.ntattrs = ntattrs;
  w.keep = keep;
  w.n = n;
  if (one) {
    w.one = &targets[0];
    w.onev = tvals;
    /* the text depends on the through attributes given: up to 6, each
     * under 256, make the shape */
    if (ntattrs <= 6) {
      int i;
      w.memo = ASSOC__MEMO_ADD + 1;
      w.shape = 1u | ((uint64_t)ntattrs << 1);
      for (i = 0; i < ntattrs; i++) {
        if (tattrs[i] < 0 || tattrs[i] > 255) w.memo = 0;
        else w.shape |= (uint64_t)tattrs[i] << (4 + 8 * i);
      }
    }
  }
  if (a->kind == ASSOC_HAS_MANY) {
    steps[k++] = step_hm_add;
  } else {
    if (!a->upsert && ntattrs > 0) steps[k++] = step_btm_update;
    steps[k++] = step_btm_add;
  }
  rc = run_steps(db, steps, k, &w);
  assoc_sql_free(&js);
  return rc;
}

int assoc_rel_add_v2(assoc_db *db, const assoc_assoc *a,
                     const assoc_value *src, const assoc_value *targets, int n,
                     const int *tattrs, int ntattrs, const assoc_value *tvals,
                     const unsigned char *tkeep) {
  return rel_add(db, a, src, targets, n, tattrs, ntattrs, tvals, tkeep, 0);
}

int assoc_rel_add_one(assoc_db *db, const assoc_assoc *a,
                      const assoc_value *src, const assoc_value *target,
                      const int *tattrs, int ntattrs, const assoc_value *tvals,
                      const unsigned char *tkeep) {
  return rel_add(db, a, src, target, 1, tattrs, ntattrs, tvals, tkeep, 1);
}

static int rel_remove(assoc_db *db, const assoc_assoc *a,
                      const assoc_value *src, const assoc_value *targets,
                      int n, int fast) {
  assoc_sql js;
  assoc_value json, now;
  char nowbuf[25];
  build_fn step;
  int rc, one = fast && n == 1;
  wctx w;
  assoc_sql_init(&js);
  rc = write_prep(db, a, src, targets, n, NULL, 0, NULL, NULL, "remove", &js,
                  &json, one);
  if (rc != ASSOC_OK || n == 0) {
    assoc_sql_free(&js);
    if (rc == ASSOC_OK) assoc__clear_err(db);
    return rc;
  }
  write_start(&w, a, src, &json, nowbuf, &now);
  w.n = n;
  if (one) {
    w.one = &targets[0];
    w.memo = ASSOC__MEMO_REMOVE + 1;
    w.shape = 1;
  }
  step = a->kind == ASSOC_HAS_MANY ? step_hm_remove : step_btm_remove;
  rc = run_steps(db, &step, 1, &w);
  assoc_sql_free(&js);
  return rc;
}

int assoc_rel_remove(assoc_db *db, const assoc_assoc *a, const assoc_value *src,
                     const assoc_value *targets, int n) {
  return rel_remove(db, a, src, targets, n, 0);
}

int assoc_rel_remove_one(assoc_db *db, const assoc_assoc *a,
                         const assoc_value *src, const assoc_value *target) {
  return rel_remove(db, a, src, target, 1, 1);
}

int assoc_rel_set(assoc_db *db, const assoc_assoc *a, const assoc_value *src,
                  const assoc_value *targets, int n, const int *tattrs,
                  int ntattrs, const assoc_value *tvals) {
  return assoc_rel_set_v2(db, a, src, targets, n, tattrs, ntattrs, tvals,
                          NULL);
}

int assoc_rel_set_v2(assoc_db *db, const assoc_assoc *a,
                     const assoc_value *src, const assoc_value *targets, int n,
                     const int *tattrs, int ntattrs, const assoc_value *tvals,
                     const unsigned char *tkeep) {
  assoc_sql js;
  assoc_value json, now;
  char nowbuf[25];
  build_fn steps[2];
  int rc, k = 0;
  wctx w;
  assoc_sql_init(&js);
  rc = write_prep(db, a, src, targets, n, tattrs, ntattrs, tvals, tkeep, "set",
                  &js, &json, 0);
  if (rc != ASSOC_OK) {
    assoc_sql_free(&js);
    return rc;
  }
  write_start(&w, a, src, &json, nowbuf, &now);
  w.tattrs = tattrs;
  w.ntattrs = ntattrs;
  w.keep = any_kept(tkeep, n, ntattrs);
  w.n = n;
  if (a->kind == ASSOC_HAS_MANY) {
    steps[k++] = step_hm_unlink_others;
    if (n > 0) steps[k++] = step_hm_add;
  } else if (!a->upsert && ntattrs > 0 && n > 0) {
    /* insert first: a link whose values differ is replaced, its kept
     * cells copied into the new link before it goes */
    steps[k++] = step_btm_insert_unmatched;
    steps[k++] = step_btm_delete_others;
  } else {
    steps[k++] = step_btm_delete_others;
    if (n > 0) steps[k++] = step_btm_add;
  }
  rc = run_steps(db, steps, k, &w);
  assoc_sql_free(&js);
  return rc;
}

int assoc_rel_set_one(assoc_db *db, const assoc_assoc *a,
                      const assoc_value *src, const assoc_value *target) {
  assoc_value now, none;
  char nowbuf[25];
  build_fn steps[2];
  int rc, k = 0;
  wctx w;
  if ((rc = check(db, a, "setOne")) != ASSOC_OK) return rc;
  if (a->kind != ASSOC_HAS_ONE)
    return assoc__err(db, ASSOC_MISUSE,
                      "setOne: %s.%s(%s) is not a hasOne association",
                      a->source->name, kind_names[a->kind], a->target->name);
  if ((rc = check_src(db, a, src, "setOne")) != ASSOC_OK) return rc;
  if (src->type == ASSOC_V_NULL)
    return assoc__err(db, ASSOC_MISUSE,
                      "setOne: the source's %s.%s is null (save it first)",
                      a->source->name, a->source->attrs[a->src_attr].name);
  memset(&none, 0, sizeof none);
  if (target == NULL) target = &none;
  if (!assoc__value_ok(target) || target->type == ASSOC_V_BLOB ||
      (target->type == ASSOC_V_REAL && !isfinite(target->u.r)))
    return assoc__err(db, ASSOC_MISUSE, "setOne: bad target value");
  write_start(&w, a, src, NULL, nowbuf, &now);
  w.target = target;
  steps[k++] = step_ho_unlink;
  if (target->type != ASSOC_V_NULL) steps[k++] = step_ho_link;
  return run_steps(db, steps, k, &w);
}
