/*
 * sqlwrite.c -- builds INSERT, UPDATE and DELETE for one model:
 *
 *   INSERT INTO "Users" ("name", "createdAt") VALUES (?, ?)
 *   INSERT INTO "Users" DEFAULT VALUES                      (no attributes)
 *   UPDATE "Users" SET "name" = ?, "updatedAt" = ? WHERE ...
 *   DELETE FROM "Users" WHERE ...                  (NULL where: no WHERE)
 *
 * UPDATE of a paranoid model skips soft-deleted rows unless with_deleted;
 * DELETE is always a hard delete.  Attribute lists are checked (range,
 * duplicates) and values must be well-formed.  Results and errors are in
 * the assoc_sql (see assoc.h).
 */
#include "assoc_int.h"

#include <stdlib.h>
#include <string.h>

/* Checks attrs[0..n) (indexes in range, no duplicate) and vals.  Returns
 * ASSOC_OK or the builder's error. */
static int check_set(const assoc_model *m, const int *attrs,
                     const assoc_value *vals, int n, assoc_sql *out) {
  uint64_t small[64];
  uint64_t *seen = small;
  size_t words = ((size_t)m->nattrs + 63) / 64;
  int i, rc = ASSOC_OK;
  if (n < 0 || (n > 0 && (attrs == NULL || vals == NULL)))
    return assoc__sql_fail(out, ASSOC_MISUSE, "%s: bad attribute/value list",
                           m->name);
  if (words > 64) {
    seen = calloc(words, sizeof *seen);
    if (seen == NULL) return assoc__sql_fail(out, ASSOC_NOMEM, "out of memory");
  } else {
    memset(small, 0, sizeof small);
  }
  for (i = 0; i < n; i++) {
    int a = attrs[i];
    if (a < 0 || a >= m->nattrs) {
      rc = assoc__sql_fail(out, ASSOC_MISUSE,
                           "%s: values name attribute #%d, the model has %d",
                           m->name, a, m->nattrs);
      break;
    }
    if (seen[a / 64] & ((uint64_t)1 << (a % 64))) {
      rc = assoc__sql_fail(out, ASSOC_MISUSE, "%s.%s: attribute given twice",
                           m->name, m->attrs[a].name);
      break;
    }
    seen[a / 64] |= (uint64_t)1 << (a % 64);
    if (!assoc__value_ok(&vals[i])) {
      rc = assoc__sql_fail(out, ASSOC_MISUSE, "%s.%s: bad value (type %d)",
                           m->name, m->attrs[a].name, (int)vals[i].type);
      break;
    }
  }
  if (seen != small) free(seen);
  return rc;
}

int assoc_build_insert(const assoc_model *m, const int *attrs,
                       const assoc_value *vals, int n, assoc_sql *out) {
  int i;
  if (out == NULL) return ASSOC_MISUSE;
  assoc__sql_reset(out);
  if (m == NULL) return assoc__sql_fail(out, ASSOC_MISUSE, "no model");
  if (check_set(m, attrs, vals, n, out) != ASSOC_OK) return out->rc;
  assoc__sql_appendz(out, "INSERT INTO ");
  assoc__sql_ident(out, m->table);
  if (n == 0) {
    assoc__sql_appendz(out, " DEFAULT VALUES");
    return out->rc;
  }
  assoc__sql_append(out, " (", 2);
  for (i = 0; i < n; i++) {
    if (i) assoc__sql_append(out, ", ", 2);
    assoc__sql_ident(out, m->attrs[attrs[i]].column);
  }
  assoc__sql_appendz(out, ") VALUES (");
  for (i = 0; i < n; i++) {
    assoc__sql_appendz(out, i ? ", ?" : "?");
    assoc__sql_bind(out, &vals[i]);
  }
  assoc__sql_append(out, ")", 1);
  return out->rc;
}

int assoc_build_update(const assoc_model *m, const int *attrs,
                       const assoc_value *vals, int n,
                       const assoc_where *where, int with_deleted,
                       assoc_sql *out) {
  int i;
  if (out == NULL) return ASSOC_MISUSE;
  assoc__sql_reset(out);
  if (m == NULL) return assoc__sql_fail(out, ASSOC_MISUSE, "no model");
  if (n == 0)
    return assoc__sql_fail(out, ASSOC_MISUSE,
                           "%s: update needs at least one attribute", m->name);
  if (check_set(m, attrs, vals, n, out) != ASSOC_OK) return out->rc;
  assoc__sql_appendz(out, "UPDATE ");
  assoc__sql_ident(out, m->table);
  assoc__sql_appendz(out, " SET ");
  for (i = 0; i < n; i++) {
    if (i) assoc__sql_append(out, ", ", 2);
    assoc__sql_ident(out, m->attrs[attrs[i]].column);
    assoc__sql_appendz(out, " = ?");
    assoc__sql_bind(out, &vals[i]);
  }
  assoc__sql_where(out, m, where, !with_deleted);
  return out->rc;
}

int assoc_build_delete(const assoc_model *m, const assoc_where *where,
                       assoc_sql *out) {
  if (out == NULL) return ASSOC_MISUSE;
  assoc__sql_reset(out);
  if (m == NULL) return assoc__sql_fail(out, ASSOC_MISUSE, "no model");
  assoc__sql_appendz(out, "DELETE FROM ");
  assoc__sql_ident(out, m->table);
  assoc__sql_where(out, m, where, 0);
  return out->rc;
}
