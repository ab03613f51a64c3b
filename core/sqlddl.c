/*
 * sqlddl.c -- builds the DDL of a model's table:
 *
 *   CREATE TABLE IF NOT EXISTS "Users" ("id" INTEGER PRIMARY KEY
 *     AUTOINCREMENT, "name" VARCHAR(255) NOT NULL DEFAULT 'anon' UNIQUE,
 *     "createdAt" DATETIME NOT NULL, ...)
 *   DROP TABLE IF EXISTS "Users"
 *
 * A column reads `"col" TYPE [PRIMARY KEY [AUTOINCREMENT]] [NOT NULL]
 * [DEFAULT literal] [UNIQUE] [REFERENCES "t" ("c") [ON DELETE x]
 * [ON UPDATE y]]`.  A single INTEGER primary key is the rowid
 * (`INTEGER PRIMARY KEY`, never NULL); any other primary key column is
 * NOT NULL; several primary key attributes make a table constraint
 * `PRIMARY KEY ("a", "b")`.  DEFAULT literals come from model metadata and
 * are the only values rendered as SQL text: strings single-quoted (' doubled),
 * integers %lld, reals %.17g (infinities as 9e999), blobs X'..', NULL.
 */
#include "assoc_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void type_sql(assoc_sql *s, const assoc_attr *a) {
  static const char *const names[ASSOC_T__COUNT] = {
    NULL, "TEXT", "INTEGER", "BIGINT", "FLOAT", "DOUBLE PRECISION", "DECIMAL",
    "TINYINT(1)", "DATETIME", "DATE", "JSON", "BLOB", "UUID"};
  if (a->type == ASSOC_T_STRING)
    assoc__sql_printf(s, "VARCHAR(%d)", a->length > 0 ? a->length : 255);
  else
    assoc__sql_appendz(s, names[a->type]);
}

static void literal(assoc_sql *s, const assoc_value *v) {
  size_t i, start;
  switch (v->type) {
  case ASSOC_V_INT: assoc__sql_printf(s, "%lld", (long long)v->u.i); break;
  case ASSOC_V_REAL:
    if (isinf(v->u.r)) {
      assoc__sql_appendz(s, v->u.r > 0 ? "9e999" : "-9e999");
    } else if (isnan(v->u.r)) {
      assoc__sql_appendz(s, "NULL");
    } else {
      char buf[40];
      snprintf(buf, sizeof buf, "%.17g", v->u.r);
      if (strpbrk(buf, ".eE") == NULL) strcat(buf, ".0");
      assoc__sql_appendz(s, buf);
    }
    break;
  case ASSOC_V_TEXT:
    assoc__sql_append(s, "'", 1);
    for (i = start = 0; i < v->u.s.n; i++) {
      if (v->u.s.p[i] == '\'') {
        assoc__sql_append(s, v->u.s.p + start, i - start + 1);
        assoc__sql_append(s, "'", 1);
        start = i + 1;
      }
    }
    if (v->u.s.n > start) assoc__sql_append(s, v->u.s.p + start, v->u.s.n - start);
    assoc__sql_append(s, "'", 1);
    break;
  case ASSOC_V_BLOB: {
    static const char hex[] = "0123456789ABCDEF";
    assoc__sql_append(s, "X'", 2);
    for (i = 0; i < v->u.s.n; i++) {
      char h[2];
      h[0] = hex[(unsigned char)v->u.s.p[i] >> 4];
      h[1] = hex[(unsigned char)v->u.s.p[i] & 15];
      assoc__sql_append(s, h, 2);
    }
    assoc__sql_append(s, "'", 1);
    break;
  }
  default: assoc__sql_appendz(s, "NULL"); break;
  }
}

/* The REFERENCES clause of column i, when associations gave it one. */
static void references(assoc_sql *s, const assoc_model *m, int i) {
  const assoc__ref *r;
  if (m->refs == NULL || (r = m->refs[i]) == NULL) return;
  assoc__sql_appendz(s, " REFERENCES ");
  assoc__sql_ident(s, r->table);
  assoc__sql_append(s, " (", 2);
  assoc__sql_ident(s, r->column);
  assoc__sql_append(s, ")", 1);
  if (r->on_delete != NULL) {
    assoc__sql_appendz(s, " ON DELETE ");
    assoc__sql_appendz(s, r->on_delete);
  }
  if (r->on_update != NULL) {
    assoc__sql_appendz(s, " ON UPDATE ");
    assoc__sql_appendz(s, r->on_update);
  }
}

static void column_def(assoc_sql *s, const assoc_model *m, int i) {
  const assoc_attr *a = &m->attrs[i];
  int pk = (a->flags & ASSOC_ATTR_PK) != 0;
  int rowid = pk && m->npk == 1 &&
              (a->type == ASSOC_T_INTEGER ||
               (a->type == ASSOC_T_BIGINT && (a->flags & ASSOC_ATTR_AUTOINC)));
  assoc__sql_ident(s, a->column);
  assoc__sql_append(s, " ", 1);
  if (rowid) {
    assoc__sql_appendz(s, "INTEGER PRIMARY KEY");
    if (a->flags & ASSOC_ATTR_AUTOINC) assoc__sql_appendz(s, " AUTOINCREMENT");
  } else {
    type_sql(s, a);
    if (pk && m->npk == 1) assoc__sql_appendz(s, " PRIMARY KEY");
    if (pk || (a->flags & ASSOC_ATTR_NOTNULL))
      assoc__sql_appendz(s, " NOT NULL");
  }
  if (a->flags & ASSOC_ATTR_DEFAULT) {
    assoc__sql_appendz(s, " DEFAULT ");
    literal(s, &a->dflt);
  }
  if (a->flags & ASSOC_ATTR_UNIQUE) assoc__sql_appendz(s, " UNIQUE");
  references(s, m, i);
}

int assoc_build_create_table(const assoc_model *m, assoc_sql *out) {
  int i, k;
  if (out == NULL) return ASSOC_MISUSE;
  assoc__sql_reset(out);
  if (m == NULL) return assoc__sql_fail(out, ASSOC_MISUSE, "no model");
  if (m->nattrs == 0)
    return assoc__sql_fail(out, ASSOC_MISUSE, "%s has no attributes", m->name);
  assoc__sql_appendz(out, "CREATE TABLE IF NOT EXISTS ");
  assoc__sql_ident(out, m->table);
  assoc__sql_append(out, " (", 2);
  for (i = 0; i < m->nattrs; i++) {
    if (i) assoc__sql_append(out, ", ", 2);
    column_def(out, m, i);
  }
  if (m->npk > 1) {
    assoc__sql_appendz(out, ", PRIMARY KEY (");
    for (i = k = 0; i < m->nattrs; i++) {
      if (!(m->attrs[i].flags & ASSOC_ATTR_PK)) continue;
      if (k++) assoc__sql_append(out, ", ", 2);
      assoc__sql_ident(out, m->attrs[i].column);
    }
    assoc__sql_append(out, ")", 1);
  }
  if (m->nuniq == 2) { /* a junction's (foreignKey, otherKey) */
    assoc__sql_appendz(out, ", UNIQUE (");
    assoc__sql_ident(out, m->attrs[m->uniq[0]].column);
    assoc__sql_append(out, ", ", 2);
    assoc__sql_ident(out, m->attrs[m->uniq[1]].column);
    assoc__sql_append(out, ")", 1);
  }
  assoc__sql_append(out, ")", 1);
  return out->rc;
}

int assoc__build_drop_table(const assoc_model *m, assoc_sql *out) {
  assoc__sql_reset(out);
  assoc__sql_appendz(out, "DROP TABLE IF EXISTS ");
  assoc__sql_ident(out, m->table);
  return out->rc;
}
