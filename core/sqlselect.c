/*
 * sqlselect.c -- builds SELECT and SELECT count(*) for one model:
 *
 *   SELECT "id", "name" FROM "Users" WHERE "deletedAt" IS NULL AND
 *     ("name" = ? AND "age" > ?) ORDER BY "name" DESC, "id" ASC
 *     LIMIT ? OFFSET ?
 *   SELECT count(*) FROM "Users" WHERE ...
 *
 * Columns are always listed (never *), in the request's order; LIMIT and
 * OFFSET are bound (`LIMIT -1 OFFSET ?` for an offset alone).  Results and
 * errors are in the assoc_sql (see assoc.h).
 */
#include "assoc_int.h"

#include <string.h>

static const assoc_select defaults = {NULL, 0, NULL, NULL, 0, -1, 0, 0};

/* Resets out and checks the model; returns out->rc. */
static int start(const assoc_model *m, assoc_sql *out) {
  assoc__sql_reset(out);
  if (m == NULL) return assoc__sql_fail(out, ASSOC_MISUSE, "no model");
  return ASSOC_OK;
}

int assoc_build_select(const assoc_model *m, const assoc_select *req,
                       assoc_sql *out) {
  int i;
  if (out == NULL) return ASSOC_MISUSE;
  if (start(m, out) != ASSOC_OK) return out->rc;
  if (req == NULL) req = &defaults;
  if (req->nattrs < 0 || (req->nattrs > 0 && req->attrs == NULL))
    return assoc__sql_fail(out, ASSOC_MISUSE, "%s: bad attribute list",
                           m->name);
  if (req->norder < 0 || (req->norder > 0 && req->order == NULL))
    return assoc__sql_fail(out, ASSOC_MISUSE, "%s: bad order list", m->name);
  assoc__sql_append(out, "SELECT ", 7);
  if (req->nattrs == 0) {
    for (i = 0; i < m->nattrs; i++) {
      if (i) assoc__sql_append(out, ", ", 2);
      assoc__sql_ident(out, m->attrs[i].column);
    }
  } else {
    for (i = 0; i < req->nattrs; i++) {
      int a = req->attrs[i];
      if (a < 0 || a >= m->nattrs)
        return assoc__sql_fail(out, ASSOC_MISUSE,
                               "%s: attributes name attribute #%d, the model "
                               "has %d", m->name, a, m->nattrs);
      if (i) assoc__sql_append(out, ", ", 2);
      assoc__sql_ident(out, m->attrs[a].column);
    }
  }
  assoc__sql_append(out, " FROM ", 6);
  assoc__sql_ident(out, m->table);
  assoc__sql_where(out, m, req->where, !req->with_deleted);
  for (i = 0; i < req->norder; i++) {
    int a = req->order[i].attr;
    if (a < 0 || a >= m->nattrs)
      return assoc__sql_fail(out, ASSOC_MISUSE,
                             "%s: order names attribute #%d, the model has %d",
                             m->name, a, m->nattrs);
    assoc__sql_appendz(out, i ? ", " : " ORDER BY ");
    assoc__sql_ident(out, m->attrs[a].column);
    assoc__sql_appendz(out, req->order[i].desc ? " DESC" : " ASC");
  }
  if (req->limit >= 0) {
    assoc_value v;
    v.type = ASSOC_V_INT;
    v.u.i = req->limit;
    assoc__sql_appendz(out, " LIMIT ?");
    assoc__sql_bind(out, &v);
    if (req->offset > 0) {
      v.u.i = req->offset;
      assoc__sql_appendz(out, " OFFSET ?");
      assoc__sql_bind(out, &v);
    }
  } else if (req->offset > 0) {
    assoc_value v;
    v.type = ASSOC_V_INT;
    v.u.i = req->offset;
    assoc__sql_appendz(out, " LIMIT -1 OFFSET ?");
    assoc__sql_bind(out, &v);
  }
  return out->rc;
}

int assoc_build_count(const assoc_model *m, const assoc_select *req,
                      assoc_sql *out) {
  if (out == NULL) return ASSOC_MISUSE;
  if (start(m, out) != ASSOC_OK) return out->rc;
  if (req == NULL) req = &defaults;
  assoc__sql_appendz(out, "SELECT count(*) FROM ");
  assoc__sql_ident(out, m->table);
  assoc__sql_where(out, m, req->where, !req->with_deleted);
  return out->rc;
}
