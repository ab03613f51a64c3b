/*
 * sqlwhere.c -- compiles an assoc_where tree into SQL text plus binds.
 *
 * Every node is checked before anything is emitted for it: the operator
 * (range, and leaf vs group), the attribute index, the operand count and
 * the value types.  Values are always bound; the only text that comes from
 * a request is the column name of an attribute, quoted.  Shapes:
 *
 *   "a" = ?          "a" IS NULL (EQ null)     "a" != ?   "a" IS NOT NULL
 *   "a" > ? >= < <=  "a" IN (?, ?)             "a" NOT IN (?, ?)
 *   IN ()  -> 1 = 0  NOT IN () -> 1 = 1
 *   "a" LIKE ?       "a" NOT LIKE ?            (iLike: LIKE)
 *   "a" BETWEEN ? AND ?                        "a" NOT BETWEEN ? AND ?
 *   "a" IS ?         "a" IS NOT ?              (not as a leaf)
 *   "a" LIKE ? ESCAPE '\'  (startsWith/endsWith/substring; the pattern is a
 *                           builder-owned escaped copy of the value)
 *   (x AND y)  (x OR y)  NOT (x AND y)   empty and: 1 = 1, empty or: 1 = 0,
 *   empty not: NOT (1 = 1)
 *
 * Each rendered condition is a single operand of AND (groups are
 * parenthesized), so the WHERE clause can AND it after the soft-delete
 * filter without more parentheses:
 *   WHERE "deletedAt" IS NULL AND <condition>
 */
#include "assoc_int.h"

#include <stdio.h>
#include <string.h>

static int is_group(const assoc_where *w) {
  return w->op == ASSOC_OP_AND || w->op == ASSOC_OP_OR ||
         (w->op == ASSOC_OP_NOT && w->attr == -1);
}

static int want_values(assoc_sql *s, const assoc_model *m,
                       const assoc_where *w, int n) {
  if (w->nvalues != n)
    return assoc__sql_fail(s, ASSOC_MISUSE,
                           "%s.%s: operator '%s' needs %d value%s, got %d",
                           m->name, m->attrs[w->attr].name,
                           assoc_op_name(w->op), n, n == 1 ? "" : "s",
                           w->nvalues) == ASSOC_OK;
  return 1;
}

/* The column of attr, qualified by the table alias q when q is not NULL:
 * "q"."col" (the eager loader joins tables). */
static void column(assoc_sql *s, const char *q, const assoc_model *m,
                   int attr) {
  if (q != NULL) {
    assoc__sql_ident(s, q);
    assoc__sql_append(s, ".", 1);
  }
  assoc__sql_ident(s, m->attrs[attr].column);
}

static void bind_q(assoc_sql *s, const assoc_value *v) {
  assoc__sql_append(s, "?", 1);
  assoc__sql_bind(s, v);
}

/* The LIKE pattern of startsWith/endsWith/substring: the value as text
 * with %, _ and \ escaped by \, and % added before and/or after. */
static void like_pattern(assoc_sql *s, const char *q, const assoc_model *m,
                         const assoc_where *w) {
  const assoc_value *v = &w->values[0];
  char num[40];
  const char *src;
  size_t n, i, k = 0;
  char *p;
  assoc_value b;
  switch (v->type) {
  case ASSOC_V_TEXT:
    src = v->u.s.p ? v->u.s.p : "";
    n = v->u.s.n;
    break;
  case ASSOC_V_INT:
    n = (size_t)snprintf(num, sizeof num, "%lld", (long long)v->u.i);
    src = num;
    break;
  case ASSOC_V_REAL:
    n = (size_t)snprintf(num, sizeof num, "%.17g", v->u.r);
    src = num;
    break;
  default:
    assoc__sql_fail(s, ASSOC_MISUSE, "%s.%s: operator '%s' needs a string",
                    m->name, m->attrs[w->attr].name, assoc_op_name(w->op));
    return;
  }
  if (n > ((size_t)-1 - 3) / 2) {
    assoc__sql_fail(s, ASSOC_NOMEM, "out of memory");
    return;
  }
  p = assoc__sql_own(s, 2 * n + 3);
  if (p == NULL) return;
  if (w->op != ASSOC_OP_STARTSWITH) p[k++] = '%';
  for (i = 0; i < n; i++) {
    if (src[i] == '%' || src[i] == '_' || src[i] == '\\') p[k++] = '\\';
    p[k++] = src[i];
  }
  if (w->op != ASSOC_OP_ENDSWITH) p[k++] = '%';
  p[k] = '\0';
  b.type = ASSOC_V_TEXT;
  b.u.s.p = p;
  b.u.s.n = k;
  column(s, q, m, w->attr);
  assoc__sql_appendz(s, " LIKE ? ESCAPE '\\'");
  assoc__sql_bind(s, &b);
}

static void leaf(assoc_sql *s, const char *q, const assoc_model *m,
                 const assoc_where *w) {
  int i;
  const char *an;
  if (w->attr < 0 || w->attr >= m->nattrs) {
    assoc__sql_fail(s, ASSOC_MISUSE,
                    "%s: operator '%s' names attribute #%d, the model has %d",
                    m->name, assoc_op_name(w->op), w->attr, m->nattrs);
    return;
  }
  an = m->attrs[w->attr].name;
  if (w->nkids != 0) {
    assoc__sql_fail(s, ASSOC_MISUSE,
                    "%s.%s: operator '%s' takes values, not conditions",
                    m->name, an, assoc_op_name(w->op));
    return;
  }
  if (w->nvalues < 0 || (w->nvalues > 0 && w->values == NULL)) {
    assoc__sql_fail(s, ASSOC_MISUSE, "%s.%s: bad value list for '%s'",
                    m->name, an, assoc_op_name(w->op));
    return;
  }
  for (i = 0; i < w->nvalues; i++) {
    if (!assoc__value_ok(&w->values[i])) {
      assoc__sql_fail(s, ASSOC_MISUSE, "%s.%s: bad value #%d (type %d)",
                      m->name, an, i + 1, (int)w->values[i].type);
      return;
    }
  }
  switch (w->op) {
  case ASSOC_OP_EQ:
  case ASSOC_OP_NE:
    if (!want_values(s, m, w, 1)) return;
    column(s, q, m, w->attr);
    if (w->values[0].type == ASSOC_V_NULL) {
      assoc__sql_appendz(s, w->op == ASSOC_OP_EQ ? " IS NULL" : " IS NOT NULL");
    } else {
      assoc__sql_appendz(s, w->op == ASSOC_OP_EQ ? " = " : " != ");
      bind_q(s, &w->values[0]);
    }
    return;
  case ASSOC_OP_GT:
  case ASSOC_OP_GTE:
  case ASSOC_OP_LT:
  case ASSOC_OP_LTE: {
    static const char *const ops[] = {" > ", " >= ", " < ", " <= "};
    if (!want_values(s, m, w, 1)) return;
    column(s, q, m, w->attr);
    assoc__sql_appendz(s, ops[w->op - ASSOC_OP_GT]);
    bind_q(s, &w->values[0]);
    return;
  }
  case ASSOC_OP_IN:
  case ASSOC_OP_NOTIN:
    if (w->nvalues == 0) {
      assoc__sql_appendz(s, w->op == ASSOC_OP_IN ? "1 = 0" : "1 = 1");
      return;
    }
    column(s, q, m, w->attr);
    assoc__sql_appendz(s, w->op == ASSOC_OP_IN ? " IN (" : " NOT IN (");
    for (i = 0; i < w->nvalues; i++) {
      if (i) assoc__sql_append(s, ", ", 2);
      bind_q(s, &w->values[i]);
    }
    assoc__sql_append(s, ")", 1);
    return;
  case ASSOC_OP_LIKE:
  case ASSOC_OP_NOTLIKE:
  case ASSOC_OP_ILIKE:
    if (!want_values(s, m, w, 1)) return;
    column(s, q, m, w->attr);
    assoc__sql_appendz(s, w->op == ASSOC_OP_NOTLIKE ? " NOT LIKE " : " LIKE ");
    bind_q(s, &w->values[0]);
    return;
  case ASSOC_OP_BETWEEN:
  case ASSOC_OP_NOTBETWEEN:
    if (!want_values(s, m, w, 2)) return;
    column(s, q, m, w->attr);
    assoc__sql_appendz(s, w->op == ASSOC_OP_BETWEEN ? " BETWEEN "
                                                    : " NOT BETWEEN ");
    bind_q(s, &w->values[0]);
    assoc__sql_appendz(s, " AND ");
    bind_q(s, &w->values[1]);
    return;
  case ASSOC_OP_IS:
  case ASSOC_OP_NOT: {
    const assoc_value *v;
    if (!want_values(s, m, w, 1)) return;
    v = &w->values[0];
    if (v->type != ASSOC_V_NULL &&
        !(v->type == ASSOC_V_INT && (v->u.i == 0 || v->u.i == 1))) {
      assoc__sql_fail(s, ASSOC_MISUSE,
                      "%s.%s: operator '%s' takes null or a boolean", m->name,
                      an, assoc_op_name(w->op));
      return;
    }
    column(s, q, m, w->attr);
    assoc__sql_appendz(s, w->op == ASSOC_OP_IS ? " IS " : " IS NOT ");
    bind_q(s, v);
    return;
  }
  case ASSOC_OP_STARTSWITH:
  case ASSOC_OP_ENDSWITH:
  case ASSOC_OP_SUBSTRING:
    if (!want_values(s, m, w, 1)) return;
    like_pattern(s, q, m, w);
    return;
  default:
    assoc__sql_fail(s, ASSOC_MISUSE, "%s: bad operator %d in where", m->name,
                    (int)w->op);
    return;
  }
}

static void node(assoc_sql *s, const char *q, const assoc_model *m,
                 const assoc_where *w, int depth) {
  int i;
  const char *sep;
  if (s->rc != ASSOC_OK) return;
  if (depth > ASSOC__MAX_WHERE_DEPTH) {
    assoc__sql_fail(s, ASSOC_MISUSE,
                    "%s: where nests too deeply (more than %d levels)",
                    m->name, ASSOC__MAX_WHERE_DEPTH);
    return;
  }
  if ((int)w->op < ASSOC_OP_EQ || w->op >= ASSOC_OP__COUNT) {
    assoc__sql_fail(s, ASSOC_MISUSE, "%s: bad operator %d in where", m->name,
                    (int)w->op);
    return;
  }
  if (!is_group(w)) {
    leaf(s, q, m, w);
    return;
  }
  if (w->attr != -1) {
    assoc__sql_fail(s, ASSOC_MISUSE,
                    "%s: operator '%s' combines conditions and takes no "
                    "attribute (got #%d)",
                    m->name, assoc_op_name(w->op), w->attr);
    return;
  }
  if (w->nvalues != 0) {
    assoc__sql_fail(s, ASSOC_MISUSE,
                    "%s: operator '%s' takes conditions, not values", m->name,
                    assoc_op_name(w->op));
    return;
  }
  if (w->nkids < 0 || (w->nkids > 0 && w->kids == NULL)) {
    assoc__sql_fail(s, ASSOC_MISUSE, "%s: bad condition list for '%s'",
                    m->name, assoc_op_name(w->op));
    return;
  }
  if (w->nkids == 0) {
    assoc__sql_appendz(s, w->op == ASSOC_OP_AND  ? "1 = 1"
                          : w->op == ASSOC_OP_OR ? "1 = 0"
                                                 : "NOT (1 = 1)");
    return;
  }
  sep = w->op == ASSOC_OP_OR ? " OR " : " AND ";
  assoc__sql_appendz(s, w->op == ASSOC_OP_NOT ? "NOT (" : "(");
  for (i = 0; i < w->nkids && s->rc == ASSOC_OK; i++) {
    if (i) assoc__sql_appendz(s, sep);
    node(s, q, m, &w->kids[i], depth + 1);
  }
  assoc__sql_append(s, ")", 1);
}

void assoc__sql_where(assoc_sql *s, const assoc_model *m, const assoc_where *w,
                      int filter_deleted) {
  int del = -1;
  if (filter_deleted && (m->flags & ASSOC_MODEL_PARANOID))
    del = m->special[ASSOC_COL_DELETED];
  if (del < 0 && w == NULL) return;
  assoc__sql_appendz(s, " WHERE ");
  if (del >= 0) {
    column(s, NULL, m, del);
    assoc__sql_appendz(s, " IS NULL");
    if (w != NULL) assoc__sql_appendz(s, " AND ");
  }
  if (w != NULL) node(s, NULL, m, w, 1);
}

void assoc__sql_cond(assoc_sql *s, const assoc_model *m, const char *qual,
                     const assoc_where *w) {
  if (w == NULL) {
    assoc__sql_appendz(s, "1 = 1");
    return;
  }
  node(s, qual, m, w, 1);
}
