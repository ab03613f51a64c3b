/*
 * eager.c -- eager loading: assoc_find_all, assoc_count_all and the
 * assoc_result they hand out (see doc/eager.md for the statements of every
 * include shape).
 *
 * The include tree is flattened into nodes in preorder (0 = the root
 * model).  Every to-one node (belongsTo, hasOne) is loaded by a JOIN in the
 * statement of its nearest to-many ancestor (or the root); every to-many
 * node (hasMany, belongsToMany) is loaded by one statement of its own,
 *
 *   ... WHERE "t3"."fk" IN (SELECT value FROM json_each(?))
 *
 * with the distinct parent keys bound as one JSON array: the SQL text never
 * depends on the number of rows (the statement cache hits, no variable
 * limit).  So an eager load runs 1 + (number of to-many nodes) statements,
 * whatever the data.  Required includes become INNER JOINs where the chain
 * of joins allows it and EXISTS (...) conditions elsewhere, so LIMIT/OFFSET
 * on the root statement always count root rows; ordering by a column of a
 * to-many include orders parents by (SELECT MIN|MAX(col) ...) of their
 * matching children.  A per-parent limit is ROW_NUMBER() OVER (PARTITION BY
 * the parent key ORDER BY the include's order).
 *
 * Rows are copied out of SQLite as they are stepped: values in one array
 * per node, text and blobs in a chunked arena (no allocation per value).
 * Stitching maps each parent key to the parent rows having it (a hash on
 * values); a child row shared by several parents (belongsToMany) becomes
 * one row per parent.  Rows are de-duplicated by primary key within their
 * parent where duplicates can arise (a junction linking a pair twice, a
 * hasOne with two children).  At the end each node gets a children index
 * grouped by parent row, in load order, so that the bindings build every
 * object in one pass.
 */
#include "assoc_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EAGER_MAX_NODES 256
#define ARENA_BLOCK (256 * 1024)

/* ---- arena ------------------------------------------------------------------ */

typedef struct eblock {
  struct eblock *next;
  size_t used, cap;
  char data[];
} eblock;

typedef struct earena {
  eblock *head;
} earena;

static void *arena_alloc(earena *a, size_t n) {
  eblock *b = a->head;
  if (b == NULL || b->cap - b->used < n) {
    size_t cap = n > ARENA_BLOCK / 4 ? n : ARENA_BLOCK;
    eblock *nb = malloc(sizeof *nb + cap);
    if (nb == NULL) return NULL;
    nb->used = 0;
    nb->cap = cap;
    if (b != NULL && cap != ARENA_BLOCK) {
      /* a big value gets its own block behind the current one */
      nb->next = b->next;
      b->next = nb;
      nb->used = n;
      return nb->data;
    }
    nb->next = b;
    a->head = b = nb;
  }
  void *p = b->data + b->used;
  b->used += n;
  return p;
}

static void arena_free(earena *a) {
  eblock *b = a->head, *n;
  for (; b != NULL; b = n) {
    n = b->next;
    free(b);
  }
  a->head = NULL;
}

/* ---- values: hashing and equality --------------------------------------------- */

static uint64_t mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

static int real_is_int(double r, int64_t *i) {
  if (r >= -9223372036854775808.0 && r < 9223372036854775808.0 &&
      (double)(int64_t)r == r) {
    *i = (int64_t)r;
    return 1;
  }
  return 0;
}

static uint64_t vhash(const assoc_value *v) {
  uint64_t h;
  size_t i;
  int64_t k;
  switch (v->type) {
  case ASSOC_V_INT: return mix64((uint64_t)v->u.i);
  case ASSOC_V_REAL:
    if (real_is_int(v->u.r, &k)) return mix64((uint64_t)k);
    memcpy(&h, &v->u.r, sizeof h);
    return mix64(h ^ 0x9e3779b97f4a7c15ULL);
  case ASSOC_V_TEXT:
  case ASSOC_V_BLOB:
    h = 1469598103934665603ULL ^ (uint64_t)v->type;
    for (i = 0; i < v->u.s.n; i++) {
      h ^= (unsigned char)v->u.s.p[i];
      h *= 1099511628211ULL;
    }
    return mix64(h);
  default: return 0x5bd1e995u;
  }
}

/* Equality as SQL keys compare: integers and integral reals are equal;
 * NULL equals NULL here (only used for de-duplication tuples). */
static int veq(const assoc_value *a, const assoc_value *b) {
  if (a->type == ASSOC_V_INT && b->type == ASSOC_V_INT) return a->u.i == b->u.i;
  if ((a->type == ASSOC_V_INT || a->type == ASSOC_V_REAL) &&
      (b->type == ASSOC_V_INT || b->type == ASSOC_V_REAL)) {
    double x = a->type == ASSOC_V_INT ? (double)a->u.i : a->u.r;
    double y = b->type == ASSOC_V_INT ? (double)b->u.i : b->u.r;
    return x == y;
  }
  if (a->type != b->type) return 0;
  if (a->type == ASSOC_V_NULL) return 1;
  if (a->type == ASSOC_V_TEXT || a->type == ASSOC_V_BLOB)
    return a->u.s.n == b->u.s.n &&
           (a->u.s.n == 0 || memcmp(a->u.s.p, b->u.s.p, a->u.s.n) == 0);
  return 0;
}

/* ---- nodes ---------------------------------------------------------------------- */

typedef struct enode {
  const assoc_include *inc;     /* NULL for the root */
  const assoc_assoc *a;         /* NULL for the root */
  const assoc_model *m;         /* the node's model */
  const assoc_model *j;         /* junction model (belongsToMany) */
  const assoc_select *req;      /* never NULL */
  const assoc_through_req *thr; /* may be NULL */
  int parent;                   /* -1 for the root */
  int many;                     /* loaded by a statement of its own */
  int anchor;                   /* the node whose statement loads it */
  int required;                 /* effective required */
  int inner;                    /* INNER JOIN in its anchor's statement */
  int *kids;
  int nkids;
  /* exposed columns */
  int ncols;
  int *attr;
  unsigned char *junc;
  int *pkc;                     /* columns of the primary key */
  int npkc;
  int keycol;                   /* many nodes: column of the parent's key in
                                   the parent's columns */
  int col0;                     /* first column in its statement's rows */
  int dedup;                    /* anchors: rows may repeat */
  int stmtcols;                 /* anchors: columns of the statement */
  int jsonbind;                 /* to-many anchors: index of the bind that
                                   takes the JSON array of parent keys, or
                                   -1 (a complete parent) */
  int complete;                 /* the root: every row of its table is
                                   loaded (no filter, no limit) */
  int stream;                   /* rows handed out by assoc_result_step,
                                   not stored (a to-many leaf) */
  /* rows */
  int64_t nrows, cap;
  assoc_value *vals;
  int64_t *prow;
  /* children grouped by parent row (non-root nodes) */
  int64_t *kstart;              /* parent's nrows + 1 */
  int64_t *korder;              /* nrows */
} enode;

/* The statement of an anchor being run: its rows are stored (run_anchor)
 * or, for a streamed node, handed out one by one (assoc_result_step). */
typedef struct acur {
  int s;                        /* the anchor node, -1: none open */
  struct assoc__stmt *st;
  assoc_value *row, *key;
  int64_t *cur;
  struct dedup *dd;
  struct keymap *km;            /* to-many: the parent's keys (else NULL) */
  char *json;                   /* to-many: the bound JSON array of keys */
  int64_t prow;                 /* streamed: the next parent of the current
                                   row, -1: the next statement row is due */
  double t0;
  int ran;                      /* the statement started (trace it) */
} acur;

struct assoc_result {
  assoc_db *db;
  int nnodes;
  enode *nodes;
  int *kidbuf;
  earena arena;
  int nstatements;
  /* loading, step by step (assoc_result_step) */
  const assoc_eager_order *order;
  int norder;
  int next;                     /* the next node to load; nnodes: done */
  int done;
  assoc_sql sql;
  acur c;
};

static const assoc_select no_select = {NULL, 0, NULL, NULL, 0, -1, 0, 0};

/* The planner's working state for one call. */
typedef struct eplan {
  assoc_db *db;
  assoc_result *r;
  const assoc_eager_order *order;
  int norder;
} eplan;

static const char *kind_name(int k) {
  switch (k) {
  case ASSOC_HAS_ONE: return "hasOne";
  case ASSOC_BELONGS_TO: return "belongsTo";
  case ASSOC_HAS_MANY: return "hasMany";
  case ASSOC_BELONGS_TO_MANY: return "belongsToMany";
  default: return "?";
  }
}

static const char *assoc_label(const assoc_assoc *a) {
  if (a->kind == ASSOC_HAS_MANY || a->kind == ASSOC_BELONGS_TO_MANY)
    return a->as_plural ? a->as_plural : "?";
  return a->as_singular ? a->as_singular : "?";
}

static int count_nodes(assoc_db *db, const assoc_include *inc, int n,
                       int depth, int *total) {
  int i;
  if (n < 0 || (n > 0 && inc == NULL))
    return assoc__err(db, ASSOC_MISUSE, "include: bad include list");
  if (depth > 64)
    return assoc__err(db, ASSOC_MISUSE, "include: nested more than 64 deep");
  for (i = 0; i < n; i++) {
    if (++*total > EAGER_MAX_NODES)
      return assoc__err(db, ASSOC_MISUSE, "include: more than %d includes",
                        EAGER_MAX_NODES);
    if (count_nodes(db, inc[i].kids, inc[i].nkids, depth + 1, total) !=
        ASSOC_OK)
      return db->errcode;
  }
  return ASSOC_OK;
}

static int attr_ok(const assoc_model *m, int a) {
  return m != NULL && a >= 0 && a < m->nattrs;
}

/* Checks one include against its parent model and fills node i. */
static int check_node(assoc_db *db, enode *n, const assoc_include *inc,
                      const enode *parent) {
  const assoc_assoc *a = inc->assoc;
  const assoc_select *q;
  int i, k;
  if (a == NULL)
    return assoc__err(db, ASSOC_MISUSE, "include: an include of %s has no "
                      "association", parent->m->name);
  k = (int)a->kind;
  if (k < ASSOC_HAS_ONE || k > ASSOC_BELONGS_TO_MANY || a->target == NULL ||
      a->source == NULL)
    return assoc__err(db, ASSOC_MISUSE, "include: bad association");
  if (a->source != parent->m)
    return assoc__err(db, ASSOC_MISUSE,
                      "include: %s is an association of %s, not of %s",
                      assoc_label(a), a->source->name, parent->m->name);
  if (a->target->db != db)
    return assoc__err(db, ASSOC_MISUSE,
                      "include: model %s belongs to another connection",
                      a->target->name);
  n->inc = inc;
  n->a = a;
  n->m = a->target;
  n->many = k == ASSOC_HAS_MANY || k == ASSOC_BELONGS_TO_MANY;
  n->j = k == ASSOC_BELONGS_TO_MANY ? a->through : NULL;
  n->req = inc->req ? inc->req : &no_select;
  n->thr = inc->through;
  q = n->req;
  /* keys */
  switch (k) {
  case ASSOC_BELONGS_TO:
    if (!attr_ok(a->source, a->fk) || !attr_ok(a->target, a->target_key))
      return assoc__err(db, ASSOC_MISUSE, "include: %s.%s has bad keys",
                        a->source->name, assoc_label(a));
    break;
  case ASSOC_HAS_ONE:
  case ASSOC_HAS_MANY:
    if (!attr_ok(a->target, a->fk) || !attr_ok(a->source, a->source_key))
      return assoc__err(db, ASSOC_MISUSE, "include: %s.%s has bad keys",
                        a->source->name, assoc_label(a));
    break;
  default:
    if (n->j == NULL || !attr_ok(n->j, a->fk) || !attr_ok(n->j, a->other_key) ||
        !attr_ok(a->source, a->source_key) ||
        !attr_ok(a->target, a->target_key))
      return assoc__err(db, ASSOC_MISUSE, "include: %s.%s has bad keys",
                        a->source->name, assoc_label(a));
    break;
  }
  for (i = 0; i < a->nscope; i++)
    if (!attr_ok(a->target, a->scope[i].attr))
      return assoc__err(db, ASSOC_MISUSE, "include: %s.%s has a bad scope",
                        a->source->name, assoc_label(a));
  for (i = 0; i < a->nthrough_scope; i++)
    if (!attr_ok(n->j, a->through_scope[i].attr))
      return assoc__err(db, ASSOC_MISUSE,
                        "include: %s.%s has a bad through scope",
                        a->source->name, assoc_label(a));
  /* options */
  if (inc->separate && !n->many)
    return assoc__err(db, ASSOC_MISUSE,
                      "include %s.%s: separate applies to hasMany and "
                      "belongsToMany includes, and %s is a %s association",
                      a->source->name, assoc_label(a), assoc_label(a),
                      kind_name(k));
  if (!n->many && (q->limit >= 0 || q->offset > 0))
    return assoc__err(db, ASSOC_MISUSE,
                      "include %s.%s: limit and offset apply to hasMany and "
                      "belongsToMany includes (%s is a %s association)",
                      a->source->name, assoc_label(a), assoc_label(a),
                      kind_name(k));
  if (inc->through != NULL && k != ASSOC_BELONGS_TO_MANY)
    return assoc__err(db, ASSOC_MISUSE,
                      "include %s.%s: through applies to belongsToMany "
                      "includes only",
                      a->source->name, assoc_label(a));
  if (inc->through != NULL) {
    const assoc_through_req *t = inc->through;
    if (t->nattrs > 0 && t->attrs == NULL)
      return assoc__err(db, ASSOC_MISUSE, "include: bad through attributes");
    for (i = 0; i < t->nattrs; i++)
      if (!attr_ok(n->j, t->attrs[i]))
        return assoc__err(db, ASSOC_MISUSE,
                          "include %s.%s: through attribute #%d is not an "
                          "attribute of %s",
                          a->source->name, assoc_label(a), t->attrs[i],
                          n->j->name);
  }
  n->required = inc->required >= 0 ? inc->required != 0 : q->where != NULL;
  return ASSOC_OK;
}

static int check_select(assoc_db *db, const assoc_model *m,
                        const assoc_select *q) {
  int i;
  if (q->nattrs < 0 || (q->nattrs > 0 && q->attrs == NULL) || q->norder < 0 ||
      (q->norder > 0 && q->order == NULL))
    return assoc__err(db, ASSOC_MISUSE, "%s: bad attribute or order list",
                      m->name);
  for (i = 0; i < q->nattrs; i++)
    if (!attr_ok(m, q->attrs[i]))
      return assoc__err(db, ASSOC_MISUSE,
                        "%s: attributes name attribute #%d, the model has %d",
                        m->name, q->attrs[i], m->nattrs);
  for (i = 0; i < q->norder; i++)
    if (!attr_ok(m, q->order[i].attr))
      return assoc__err(db, ASSOC_MISUSE,
                        "%s: order names attribute #%d, the model has %d",
                        m->name, q->order[i].attr, m->nattrs);
  return ASSOC_OK;
}

/* Flattens the tree into r->nodes (preorder).  *next is the next free
 * node; kids lists are carved from r->kidbuf at *kb. */
static int flatten(assoc_db *db, assoc_result *r, int pi,
                   const assoc_include *inc, int n, int *next, int *kb) {
  enode *p = &r->nodes[pi];
  int i, rc;
  p->kids = r->kidbuf + *kb;
  p->nkids = n;
  *kb += n;
  for (i = 0; i < n; i++) {
    int ci = (*next)++;
    enode *c = &r->nodes[ci];
    p->kids[i] = ci;
    c->parent = pi;
    if ((rc = check_node(db, c, &inc[i], p)) != ASSOC_OK) return rc;
    if ((rc = check_select(db, c->m, c->req)) != ASSOC_OK) return rc;
    if ((rc = flatten(db, r, ci, inc[i].kids, inc[i].nkids, next, kb)) !=
        ASSOC_OK)
      return rc;
  }
  return ASSOC_OK;
}

/* Adds attribute a (junction column when junc) to n's columns unless
 * there; returns its column. */
static int add_col(enode *n, int a, int junc) {
  int i;
  for (i = 0; i < n->ncols; i++)
    if (n->attr[i] == a && n->junc[i] == junc) return i;
  n->attr[n->ncols] = a;
  n->junc[n->ncols] = (unsigned char)junc;
  return n->ncols++;
}

static int plan_columns(assoc_db *db, enode *nodes, int i) {
  enode *n = &nodes[i];
  const assoc_model *m = n->m;
  int cap = m->nattrs + (n->j ? n->j->nattrs : 0) + 1, k;
  n->attr = malloc((size_t)cap * sizeof *n->attr);
  n->junc = malloc((size_t)cap);
  n->pkc = malloc((size_t)(m->nattrs + 1) * sizeof *n->pkc);
  if (n->attr == NULL || n->junc == NULL || n->pkc == NULL)
    return assoc__err(db, ASSOC_NOMEM, "out of memory");
  n->ncols = 0;
  if (n->req->nattrs == 0) {
    for (k = 0; k < m->nattrs; k++) add_col(n, k, 0);
  } else {
    for (k = 0; k < n->req->nattrs; k++) add_col(n, n->req->attrs[k], 0);
  }
  /* the primary key, for de-duplication (re-added like Sequelize does) */
  n->npkc = 0;
  for (k = 0; k < m->nattrs; k++)
    if (m->attrs[k].flags & ASSOC_ATTR_PK) n->pkc[n->npkc++] = add_col(n, k, 0);
  /* the keys the node's to-many kids are loaded by */
  for (k = 0; k < n->nkids; k++) {
    enode *c = &nodes[n->kids[k]];
    if (c->many) c->keycol = add_col(n, c->a->source_key, 0);
  }
  if (n->j != NULL) {
    const assoc_through_req *t = n->thr;
    if (t == NULL || t->nattrs < 0) {
      for (k = 0; k < n->j->nattrs; k++) add_col(n, k, 1);
    } else {
      for (k = 0; k < t->nattrs; k++) add_col(n, t->attrs[k], 1);
    }
  }
  return ASSOC_OK;
}

/* ---- SQL text --------------------------------------------------------------- */

/* Alias of node i with a one-letter prefix: t (statement tables), j (their
 * junctions), x / y (EXISTS), o / p (order subqueries). */
static void alias_of(char *buf, char prefix, int i) {
  snprintf(buf, 16, "%c%d", prefix, i);
}

static void qcol(assoc_sql *s, const char *al, const assoc_model *m, int a) {
  assoc__sql_ident(s, al);
  assoc__sql_append(s, ".", 1);
  assoc__sql_ident(s, m->attrs[a].column);
}

static void table_as(assoc_sql *s, const assoc_model *m, const char *al) {
  assoc__sql_ident(s, m->table);
  assoc__sql_appendz(s, " AS ");
  assoc__sql_ident(s, al);
}

/* A list of conditions joined by AND, the first one preceded by `lead`. */
typedef struct conds {
  assoc_sql *s;
  const char *lead;
  int n;
} conds;

static void cnext(conds *c) {
  assoc__sql_appendz(c->s, c->n++ ? " AND " : c->lead);
}

static void scope_conds(conds *c, const assoc__scope *sc, int n,
                        const assoc_model *m, const char *al) {
  int i;
  for (i = 0; i < n; i++) {
    cnext(c);
    qcol(c->s, al, m, sc[i].attr);
    if (sc[i].value.type == ASSOC_V_NULL) {
      assoc__sql_appendz(c->s, " IS NULL");
    } else {
      assoc__sql_appendz(c->s, " = ?");
      assoc__sql_bind(c->s, &sc[i].value);
    }
  }
}

static void paranoid_cond(conds *c, const assoc_model *m, const char *al) {
  int d = m->special[ASSOC_COL_DELETED];
  if (!(m->flags & ASSOC_MODEL_PARANOID) || d < 0) return;
  cnext(c);
  qcol(c->s, al, m, d);
  assoc__sql_appendz(c->s, " IS NULL");
}

static void node_conds(const enode *nodes, int i, conds *c, const char *al,
                       int in_stmt);

/* Conditions on the junction of BTM node n (alias jal). */
static void junction_conds(const enode *n, conds *c, const char *jal) {
  const assoc_assoc *a = n->a;
  scope_conds(c, a->through_scope, a->nthrough_scope, n->j, jal);
  paranoid_cond(c, n->j, jal);
  if (n->thr != NULL && n->thr->where != NULL) {
    cnext(c);
    assoc__sql_cond(c->s, n->j, jal, n->thr->where);
  }
}

/* The link of node n (alias al, junction alias jal) to its parent row
 * (alias pal): one condition. */
static void link_cond(const enode *nodes, const enode *n, conds *c,
                      const char *al, const char *jal, const char *pal) {
  const assoc_assoc *a = n->a;
  const enode *p = &nodes[n->parent];
  cnext(c);
  switch (a->kind) {
  case ASSOC_BELONGS_TO:
    qcol(c->s, al, n->m, a->target_key);
    assoc__sql_appendz(c->s, " = ");
    qcol(c->s, pal, p->m, a->fk);
    break;
  case ASSOC_HAS_ONE:
  case ASSOC_HAS_MANY:
    qcol(c->s, al, n->m, a->fk);
    assoc__sql_appendz(c->s, " = ");
    qcol(c->s, pal, p->m, a->source_key);
    break;
  default:
    qcol(c->s, jal, n->j, a->fk);
    assoc__sql_appendz(c->s, " = ");
    qcol(c->s, pal, p->m, a->source_key);
    break;
  }
}

/* "T" AS "al" INNER JOIN "J" AS "jal" ON "jal"."otherKey" = "al"."tk" AND
 * <junction conditions> -- the FROM of a BTM node. */
static void btm_from(const enode *n, assoc_sql *s, const char *al,
                     const char *jal) {
  conds c = {s, " ON ", 0};
  table_as(s, n->m, al);
  assoc__sql_appendz(s, " INNER JOIN ");
  table_as(s, n->j, jal);
  cnext(&c);
  qcol(s, jal, n->j, n->a->other_key);
  assoc__sql_appendz(s, " = ");
  qcol(s, al, n->m, n->a->target_key);
  junction_conds(n, &c, jal);
}

/* EXISTS (SELECT 1 FROM <node i> WHERE <link to pal> AND <conditions>) */
static void exists_cond(const enode *nodes, int i, conds *c, const char *pal) {
  const enode *n = &nodes[i];
  char al[16], jal[16];
  conds w;
  alias_of(al, 'x', i);
  alias_of(jal, 'y', i);
  cnext(c);
  assoc__sql_appendz(c->s, "EXISTS (SELECT 1 FROM ");
  if (n->j != NULL) btm_from(n, c->s, al, jal);
  else table_as(c->s, n->m, al);
  w.s = c->s;
  w.lead = " WHERE ";
  w.n = 0;
  link_cond(nodes, n, &w, al, jal, pal);
  node_conds(nodes, i, &w, al, 0);
  assoc__sql_append(c->s, ")", 1);
}

/* The conditions of node i on its own table (alias al): scope, soft
 * delete, where, and its required kids (EXISTS, except kids INNER JOINed
 * in the same statement when in_stmt). */
static void node_conds(const enode *nodes, int i, conds *c, const char *al,
                       int in_stmt) {
  const enode *n = &nodes[i];
  int k;
  if (n->a != NULL) scope_conds(c, n->a->scope, n->a->nscope, n->m, al);
  if (!n->req->with_deleted) paranoid_cond(c, n->m, al);
  if (n->req->where != NULL) {
    cnext(c);
    assoc__sql_cond(c->s, n->m, al, n->req->where);
  }
  for (k = 0; k < n->nkids; k++) {
    const enode *kid = &nodes[n->kids[k]];
    if (!kid->required) continue;
    if (in_stmt && kid->inner) continue;
    exists_cond(nodes, n->kids[k], c, al);
  }
}

/* The alias a node's columns are read from in its anchor's statement. */
static void stmt_alias(char *buf, int i, int junc) {
  alias_of(buf, junc ? 'j' : 't', i);
}

/* Column `col` of node i in its statement: "t3"."title" / "j3"."role". */
static void node_col(assoc_sql *s, const enode *nodes, int i, int col) {
  const enode *n = &nodes[i];
  char al[16];
  stmt_alias(al, i, n->junc[col]);
  qcol(s, al, n->junc[col] ? n->j : n->m, n->attr[col]);
}

/* Is node i joined in the statement of anchor s? */
static int in_statement(const enode *nodes, int i, int s) {
  return nodes[i].anchor == s;
}

/* Is node i node s or below it? */
static int is_under(const enode *nodes, int i, int s) {
  for (; i >= 0; i = nodes[i].parent)
    if (i == s) return 1;
  return 0;
}

/* The JOINs of the to-one nodes under node i in statement s (preorder). */
static void joins(const enode *nodes, int i, int s, assoc_sql *sql) {
  const enode *n = &nodes[i];
  int k;
  for (k = 0; k < n->nkids; k++) {
    int ci = n->kids[k];
    const enode *c = &nodes[ci];
    char al[16], pal[16];
    conds on;
    if (!in_statement(nodes, ci, s) || ci == s) continue;
    alias_of(al, 't', ci);
    alias_of(pal, 't', i);
    assoc__sql_appendz(sql, c->inner ? " INNER JOIN " : " LEFT JOIN ");
    table_as(sql, c->m, al);
    on.s = sql;
    on.lead = " ON ";
    on.n = 0;
    link_cond(nodes, c, &on, al, NULL, pal);
    node_conds(nodes, ci, &on, al, 1);
    joins(nodes, ci, s, sql);
  }
}

/* The path of node i from the root: path[0] = 0 ... path[n-1] = i. */
static int node_path(const enode *nodes, int i, int *path) {
  int n = 0, k, t;
  for (k = i; k >= 0; k = nodes[k].parent) path[n++] = k;
  for (k = 0; k < n / 2; k++) {
    t = path[k];
    path[k] = path[n - 1 - k];
    path[n - 1 - k] = t;
  }
  return n;
}

/* An ORDER BY term for order entry e in the statement of anchor s:
 * a column of a node in the statement, or for a node under a to-many node
 * of it, (SELECT MIN|MAX(col) ...) over the node's matching rows. */
static void order_term(const enode *nodes, int nnodes, int s,
                       const assoc_eager_order *e, assoc_sql *sql) {
  const enode *n = &nodes[e->node];
  int path[EAGER_MAX_NODES + 1], np, k, f;
  char al[16], jal[16], pal[16];
  (void)nnodes;
  if (in_statement(nodes, e->node, s)) {
    if (e->junction) {
      alias_of(jal, 'j', e->node);
      qcol(sql, jal, n->j, e->attr);
    } else {
      alias_of(al, 't', e->node);
      qcol(sql, al, n->m, e->attr);
    }
    return;
  }
  /* the first node of the path below s that is not in s's statement */
  np = node_path(nodes, e->node, path);
  for (f = 0; f < np && path[f] != s; f++) {
  }
  for (f = f + 1; f < np && in_statement(nodes, path[f], s); f++) {
  }
  assoc__sql_appendz(sql, e->desc ? "(SELECT max(" : "(SELECT min(");
  if (e->junction) {
    alias_of(jal, 'p', e->node);
    qcol(sql, jal, n->j, e->attr);
  } else {
    alias_of(al, 'o', e->node);
    qcol(sql, al, n->m, e->attr);
  }
  assoc__sql_appendz(sql, ") FROM ");
  for (k = f; k < np; k++) {
    const enode *g = &nodes[path[k]];
    alias_of(al, 'o', path[k]);
    alias_of(jal, 'p', path[k]);
    if (k == f) {
      if (g->j != NULL) btm_from(g, sql, al, jal);
      else table_as(sql, g->m, al);
    } else {
      conds on = {sql, " ON ", 0};
      alias_of(pal, 'o', path[k - 1]);
      if (g->j != NULL) {
        /* J first, linked to the previous node, then T */
        assoc__sql_appendz(sql, " INNER JOIN ");
        table_as(sql, g->j, jal);
        link_cond(nodes, g, &on, al, jal, pal);
        junction_conds(g, &on, jal);
        on.n = 0;
        assoc__sql_appendz(sql, " INNER JOIN ");
        table_as(sql, g->m, al);
        cnext(&on);
        qcol(sql, jal, g->j, g->a->other_key);
        assoc__sql_appendz(sql, " = ");
        qcol(sql, al, g->m, g->a->target_key);
      } else {
        assoc__sql_appendz(sql, " INNER JOIN ");
        table_as(sql, g->m, al);
        link_cond(nodes, g, &on, al, jal, pal);
      }
      node_conds(nodes, path[k], &on, al, 0);
    }
  }
  {
    conds w = {sql, " WHERE ", 0};
    const enode *g = &nodes[path[f]];
    alias_of(al, 'o', path[f]);
    alias_of(jal, 'p', path[f]);
    alias_of(pal, 't', path[f - 1]);
    link_cond(nodes, g, &w, al, jal, pal);
    node_conds(nodes, path[f], &w, al, 0);
  }
  assoc__sql_append(sql, ")", 1);
}

static void bind_int(assoc_sql *s, int64_t v) {
  assoc_value x;
  x.type = ASSOC_V_INT;
  x.u.i = v;
  assoc__sql_bind(s, &x);
}

/* ORDER BY terms of anchor s's own rows (no keyword); returns how many. */
static int anchor_order(const eplan *p, int s, assoc_sql *sql, int sep) {
  const enode *nodes = p->r->nodes;
  const enode *n = &nodes[s];
  char al[16];
  int k, count = sep;
  alias_of(al, 't', s);
  for (k = 0; k < n->req->norder; k++) {
    if (count++) assoc__sql_appendz(sql, ", ");
    qcol(sql, al, n->m, n->req->order[k].attr);
    assoc__sql_appendz(sql, n->req->order[k].desc ? " DESC" : " ASC");
  }
  /* top-level order entries on this node and the nodes below it order its
   * rows too (as the rows of a joined result would come out) */
  for (k = 0; k < p->norder; k++) {
    const assoc_eager_order *e = &p->order[k];
    if (s == 0 || !is_under(nodes, e->node, s)) continue;
    if (count++) assoc__sql_appendz(sql, ", ");
    order_term(nodes, p->r->nnodes, s, e, sql);
    assoc__sql_appendz(sql, e->desc ? " DESC" : " ASC");
  }
  return count - sep;
}

/* Builds the statement of anchor s into sql.  Columns: for a to-many
 * anchor, first the parent key (link); then the anchor's columns and those
 * of every node joined into it (preorder). */
static void build_stmt(const eplan *p, int s, assoc_sql *sql) {
  enode *nodes = p->r->nodes;
  enode *n = &nodes[s];
  int i, k, first = 1, ncols = 0, windowed;
  char al[16], jal[16];
  conds w;
  alias_of(al, 't', s);
  alias_of(jal, 'j', s);
  windowed = s > 0 && (n->req->limit >= 0 || n->req->offset > 0);
  assoc__sql_reset(sql);
  if (windowed) assoc__sql_appendz(sql, "SELECT * FROM (");
  assoc__sql_appendz(sql, "SELECT ");
  if (s > 0) {
    if (n->j != NULL) qcol(sql, jal, n->j, n->a->fk);
    else qcol(sql, al, n->m, n->a->fk);
    first = 0;
    ncols = 1;
  }
  for (i = s; i < p->r->nnodes; i++) {
    if (!in_statement(nodes, i, s)) continue;
    nodes[i].col0 = ncols;
    for (k = 0; k < nodes[i].ncols; k++) {
      if (!first) assoc__sql_appendz(sql, ", ");
      first = 0;
      node_col(sql, nodes, i, k);
    }
    ncols += nodes[i].ncols;
  }
  n->stmtcols = ncols;
  if (windowed) {
    assoc__sql_appendz(sql, ", row_number() OVER (PARTITION BY ");
    if (n->j != NULL) qcol(sql, jal, n->j, n->a->fk);
    else qcol(sql, al, n->m, n->a->fk);
    assoc__sql_appendz(sql, " ORDER BY ");
    if (anchor_order(p, s, sql, 0) > 0) assoc__sql_appendz(sql, ", ");
    for (k = 0; k < n->npkc; k++) {
      if (k) assoc__sql_appendz(sql, ", ");
      qcol(sql, al, n->m, n->attr[n->pkc[k]]);
      assoc__sql_appendz(sql, " ASC");
    }
    assoc__sql_appendz(sql, ") AS \"rn_\"");
  }
  assoc__sql_appendz(sql, " FROM ");
  if (n->j != NULL) btm_from(n, sql, al, jal);
  else table_as(sql, n->m, al);
  joins(nodes, s, s, sql);
  w.s = sql;
  w.lead = " WHERE ";
  w.n = 0;
  n->jsonbind = -1;
  if (s > 0 && nodes[n->parent].complete) {
    /* the parents are every row of their table: a scan of the children
     * (those of no parent are dropped while stitching) beats one index
     * search per parent key */
    cnext(&w);
    if (n->j != NULL) qcol(sql, jal, n->j, n->a->fk);
    else qcol(sql, al, n->m, n->a->fk);
    assoc__sql_appendz(sql, " IS NOT NULL");
  } else if (s > 0) {
    cnext(&w);
    if (n->j != NULL) qcol(sql, jal, n->j, n->a->fk);
    else qcol(sql, al, n->m, n->a->fk);
    assoc__sql_appendz(sql, " IN (SELECT value FROM json_each(?))");
    {
      /* a placeholder: load_many binds the JSON array of parent keys */
      assoc_value ph;
      ph.type = ASSOC_V_TEXT;
      ph.u.s.p = "[]";
      ph.u.s.n = 2;
      n->jsonbind = sql->nbinds;
      assoc__sql_bind(sql, &ph);
    }
  }
  node_conds(nodes, s, &w, al, 1);
  if (s == 0 && n->dedup && (n->req->limit >= 0 || n->req->offset > 0)) {
    /* a hasOne joined in may repeat a root row (two children): one row
     * per root row, so that LIMIT/OFFSET count root rows */
    assoc__sql_appendz(sql, " GROUP BY ");
    for (k = 0; k < n->npkc; k++) {
      if (k) assoc__sql_appendz(sql, ", ");
      qcol(sql, al, n->m, n->attr[n->pkc[k]]);
    }
  }
  if (windowed) {
    assoc__sql_appendz(sql, ") WHERE \"rn_\" > ?");
    bind_int(sql, n->req->offset > 0 ? n->req->offset : 0);
    if (n->req->limit >= 0) {
      assoc__sql_appendz(sql, " AND \"rn_\" <= ?");
      bind_int(sql, (n->req->offset > 0 ? n->req->offset : 0) +
                        n->req->limit);
    }
    assoc__sql_appendz(sql, " ORDER BY \"rn_\"");
    return;
  }
  /* ORDER BY */
  {
    int count = 0;
    if (s == 0) {
      const assoc_select *q = n->req;
      for (k = 0; k < q->norder; k++) {
        assoc__sql_appendz(sql, count++ ? ", " : " ORDER BY ");
        qcol(sql, al, n->m, q->order[k].attr);
        assoc__sql_appendz(sql, q->order[k].desc ? " DESC" : " ASC");
      }
      for (k = 0; k < p->norder; k++) {
        assoc__sql_appendz(sql, count++ ? ", " : " ORDER BY ");
        order_term(nodes, p->r->nnodes, 0, &p->order[k], sql);
        assoc__sql_appendz(sql, p->order[k].desc ? " DESC" : " ASC");
      }
      if (count > 0) {
        /* a total order, so that pages are stable (the primary key, unless
         * the order already has it) */
        for (k = 0; k < n->npkc; k++) {
          int a = n->attr[n->pkc[k]], j, seen = 0;
          for (j = 0; j < q->norder; j++) seen |= q->order[j].attr == a;
          for (j = 0; j < p->norder; j++)
            seen |= p->order[j].node == 0 && !p->order[j].junction &&
                    p->order[j].attr == a;
          if (seen) continue;
          assoc__sql_appendz(sql, ", ");
          qcol(sql, al, n->m, a);
          assoc__sql_appendz(sql, " ASC");
        }
      }
      if (q->limit >= 0) {
        assoc__sql_appendz(sql, " LIMIT ?");
        bind_int(sql, q->limit);
        if (q->offset > 0) {
          assoc__sql_appendz(sql, " OFFSET ?");
          bind_int(sql, q->offset);
        }
      } else if (q->offset > 0) {
        assoc__sql_appendz(sql, " LIMIT -1 OFFSET ?");
        bind_int(sql, q->offset);
      }
    } else {
      /* no ORDER BY unless asked: a sort of every child row costs more
       * than the rest of the load (the rows of a parent come in index or
       * rowid order anyway) */
      size_t mark = sql->len;
      assoc__sql_appendz(sql, " ORDER BY ");
      count = anchor_order(p, s, sql, 0);
      if (count == 0) {
        sql->len = mark;
        if (sql->text != NULL) sql->text[mark] = '\0';
      } else {
        for (k = 0; k < n->npkc; k++) {
          int a = n->attr[n->pkc[k]], j, seen = 0;
          for (j = 0; j < n->req->norder; j++) seen |= n->req->order[j].attr == a;
          if (seen) continue;
          assoc__sql_appendz(sql, ", ");
          qcol(sql, al, n->m, a);
          assoc__sql_appendz(sql, " ASC");
        }
      }
    }
  }
}

/* ---- planning ------------------------------------------------------------------- */

static int check_order(assoc_db *db, const assoc_result *r,
                       const assoc_eager_order *o, int n) {
  int i;
  if (n < 0 || (n > 0 && o == NULL))
    return assoc__err(db, ASSOC_MISUSE, "include order: bad order list");
  for (i = 0; i < n; i++) {
    const enode *x;
    if (o[i].node < 0 || o[i].node >= r->nnodes)
      return assoc__err(db, ASSOC_MISUSE,
                        "include order: entry %d names include #%d, there "
                        "are %d", i + 1, o[i].node, r->nnodes - 1);
    x = &r->nodes[o[i].node];
    if (o[i].junction) {
      if (x->j == NULL)
        return assoc__err(db, ASSOC_MISUSE,
                          "include order: entry %d names a junction column "
                          "of %s, which has no junction",
                          i + 1, x->m->name);
      if (!attr_ok(x->j, o[i].attr))
        return assoc__err(db, ASSOC_MISUSE,
                          "include order: entry %d names attribute #%d of %s",
                          i + 1, o[i].attr, x->j->name);
    } else if (!attr_ok(x->m, o[i].attr)) {
      return assoc__err(db, ASSOC_MISUSE,
                        "include order: entry %d names attribute #%d of %s",
                        i + 1, o[i].attr, x->m->name);
    }
  }
  return ASSOC_OK;
}

static void cur_close(assoc_db *db, acur *c);

static void result_free_nodes(assoc_result *r) {
  int i;
  if (r->nodes == NULL) return;
  for (i = 0; i < r->nnodes; i++) {
    enode *n = &r->nodes[i];
    free(n->attr);
    free(n->junc);
    free(n->pkc);
    free(n->vals);
    free(n->prow);
    free(n->kstart);
    free(n->korder);
  }
  free(r->nodes);
  r->nodes = NULL;
}

void assoc_result_free(assoc_result *r) {
  if (r == NULL) return;
  if (r->c.s > 0 || r->c.st != NULL || r->c.row != NULL || r->c.km != NULL)
    cur_close(r->db, &r->c);
  assoc_sql_free(&r->sql);
  result_free_nodes(r);
  free(r->kidbuf);
  arena_free(&r->arena);
  free(r);
}

/* Builds the plan: nodes, columns, required/inner/anchor flags. */
static int plan(assoc_db *db, const assoc_model *m, const assoc_select *req,
                const assoc_include *inc, int ninc, assoc_result **out) {
  assoc_result *r;
  int total = 0, next = 1, kb = 0, i, rc;
  *out = NULL;
  if ((rc = count_nodes(db, inc, ninc, 1, &total)) != ASSOC_OK) return rc;
  r = calloc(1, sizeof *r);
  if (r == NULL) return assoc__err(db, ASSOC_NOMEM, "out of memory");
  r->db = db;
  r->nnodes = total + 1;
  r->nodes = calloc((size_t)r->nnodes, sizeof *r->nodes);
  r->kidbuf = malloc((size_t)(total + 1) * sizeof *r->kidbuf);
  if (r->nodes == NULL || r->kidbuf == NULL) {
    assoc_result_free(r);
    return assoc__err(db, ASSOC_NOMEM, "out of memory");
  }
  r->nodes[0].m = m;
  r->nodes[0].req = req ? req : &no_select;
  r->nodes[0].parent = -1;
  r->nodes[0].required = 1;
  if ((rc = check_select(db, m, r->nodes[0].req)) != ASSOC_OK ||
      (rc = flatten(db, r, 0, inc, ninc, &next, &kb)) != ASSOC_OK) {
    assoc_result_free(r);
    return rc;
  }
  {
    /* is the root every row of its table?  (then its to-many includes
     * scan their tables instead of searching each key) */
    enode *root = &r->nodes[0];
    const assoc_select *q = root->req;
    int complete = q->where == NULL && q->limit < 0 && q->offset <= 0 &&
                   (q->with_deleted || !(m->flags & ASSOC_MODEL_PARANOID));
    for (i = 1; i < r->nnodes && complete; i++)
      if (r->nodes[i].parent == 0 && r->nodes[i].required) complete = 0;
    root->complete = complete;
  }
  for (i = 0; i < r->nnodes; i++) {
    enode *n = &r->nodes[i];
    if (i == 0 || n->many) {
      n->anchor = i;
    } else {
      const enode *p = &r->nodes[n->parent];
      n->anchor = p->anchor;
      n->inner = n->required && (n->parent == p->anchor || p->inner);
    }
  }
  /* de-duplication where rows can repeat: a hasOne joined into the
   * statement (two children), a junction linking a pair twice */
  for (i = 1; i < r->nnodes; i++) {
    enode *n = &r->nodes[i];
    if (n->a->kind == ASSOC_HAS_ONE) {
      const assoc_attr *fk = &n->m->attrs[n->a->fk];
      int unique = (fk->flags & ASSOC_ATTR_UNIQUE) ||
                   ((fk->flags & ASSOC_ATTR_PK) && n->m->npk == 1);
      if (!unique) r->nodes[n->anchor].dedup = 1;
    }
    if (n->a->kind == ASSOC_BELONGS_TO_MANY) n->dedup = 1;
  }
  for (i = r->nnodes - 1; i >= 0; i--) {
    if ((rc = plan_columns(db, r->nodes, i)) != ASSOC_OK) {
      assoc_result_free(r);
      return rc;
    }
  }
  *out = r;
  return ASSOC_OK;
}

/* ---- running ------------------------------------------------------------------- */

static int grow_rows(assoc_db *db, enode *n) {
  int64_t cap = n->cap ? n->cap * 2 : 64;
  assoc_value *v;
  int64_t *pr;
  size_t nc = (size_t)(n->ncols ? n->ncols : 1);
  if ((uint64_t)cap > SIZE_MAX / (nc * sizeof *v))
    return assoc__err(db, ASSOC_NOMEM, "out of memory");
  v = realloc(n->vals, (size_t)cap * nc * sizeof *v);
  if (v == NULL) return assoc__err(db, ASSOC_NOMEM, "out of memory");
  n->vals = v;
  pr = realloc(n->prow, (size_t)cap * sizeof *pr);
  if (pr == NULL) return assoc__err(db, ASSOC_NOMEM, "out of memory");
  n->prow = pr;
  n->cap = cap;
  return ASSOC_OK;
}

/* Appends a row to n from vals (ncols values) with parent row prow;
 * returns its index or -1 (error on db). */
static int64_t add_row(assoc_db *db, enode *n, const assoc_value *vals,
                       int64_t prow) {
  if (n->nrows == n->cap && grow_rows(db, n) != ASSOC_OK) return -1;
  if (n->ncols > 0)
    memcpy(n->vals + (size_t)n->nrows * (size_t)n->ncols, vals,
           (size_t)n->ncols * sizeof *vals);
  n->prow[n->nrows] = prow;
  return n->nrows++;
}

/* A hash map from a key column of a node's rows to those rows: buckets
 * hold the first row with a key (+1, 0 = empty); next chains the other
 * rows with the same key, in row order. */
typedef struct keymap {
  int64_t *slot;
  uint64_t mask;
  int64_t *next, *last;
  const enode *n;
  int col;
} keymap;

static void keymap_free(keymap *k) {
  free(k->slot);
  free(k->next);
  free(k->last);
  memset(k, 0, sizeof *k);
}

static const assoc_value *row_val(const enode *n, int64_t row, int col) {
  return &n->vals[(size_t)row * (size_t)n->ncols + (size_t)col];
}

static int keymap_build(assoc_db *db, keymap *k, const enode *n, int col) {
  uint64_t size = 16;
  int64_t r;
  memset(k, 0, sizeof *k);
  k->n = n;
  k->col = col;
  while (size < (uint64_t)n->nrows * 2) size <<= 1;
  k->slot = calloc((size_t)size, sizeof *k->slot);
  k->next = malloc((size_t)(n->nrows ? n->nrows : 1) * sizeof *k->next);
  k->last = malloc((size_t)(n->nrows ? n->nrows : 1) * sizeof *k->last);
  if (k->slot == NULL || k->next == NULL || k->last == NULL) {
    keymap_free(k);
    return assoc__err(db, ASSOC_NOMEM, "out of memory");
  }
  k->mask = size - 1;
  for (r = 0; r < n->nrows; r++) {
    const assoc_value *v = row_val(n, r, col);
    uint64_t h;
    k->next[r] = -1;
    if (v->type == ASSOC_V_NULL) continue;
    for (h = vhash(v) & k->mask;; h = (h + 1) & k->mask) {
      int64_t s = k->slot[h];
      if (s == 0) {
        k->slot[h] = r + 1;
        k->last[r] = r;
        break;
      }
      if (veq(row_val(n, s - 1, col), v)) {
        k->next[k->last[s - 1]] = r;
        k->last[s - 1] = r;
        break;
      }
    }
  }
  return ASSOC_OK;
}

/* The first row whose key equals v, or -1. */
static int64_t keymap_find(const keymap *k, const assoc_value *v) {
  uint64_t h;
  if (v->type == ASSOC_V_NULL) return -1;
  for (h = vhash(v) & k->mask;; h = (h + 1) & k->mask) {
    int64_t s = k->slot[h];
    if (s == 0) return -1;
    if (veq(row_val(k->n, s - 1, k->col), v)) return s - 1;
  }
}

/* A growable byte buffer for the JSON array of keys. */
typedef struct jbuf {
  char *p;
  size_t n, cap;
  int nomem;
} jbuf;

static void jput(jbuf *b, const char *s, size_t n) {
  if (b->nomem) return;
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 1024;
    char *p;
    while (cap < b->n + n + 1) cap *= 2;
    p = realloc(b->p, cap);
    if (p == NULL) {
      b->nomem = 1;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = '\0';
}

/* Appends the JSON form of key v; 0 when v cannot be a key (a blob). */
static int jkey(jbuf *b, const assoc_value *v) {
  char num[40];
  int n;
  size_t i, start;
  switch (v->type) {
  case ASSOC_V_INT:
    n = snprintf(num, sizeof num, "%lld", (long long)v->u.i);
    jput(b, num, (size_t)n);
    return 1;
  case ASSOC_V_REAL:
    n = snprintf(num, sizeof num, "%.17g", v->u.r);
    jput(b, num, (size_t)n);
    return 1;
  case ASSOC_V_TEXT:
    jput(b, "\"", 1);
    start = 0;
    for (i = 0; i < v->u.s.n; i++) {
      unsigned char ch = (unsigned char)v->u.s.p[i];
      if (ch == '"' || ch == '\\' || ch < 0x20) {
        char esc[8];
        jput(b, v->u.s.p + start, i - start);
        if (ch == '"' || ch == '\\') {
          esc[0] = '\\';
          esc[1] = (char)ch;
          jput(b, esc, 2);
        } else {
          snprintf(esc, sizeof esc, "\\u%04x", ch);
          jput(b, esc, 6);
        }
        start = i + 1;
      }
    }
    jput(b, v->u.s.p + start, v->u.s.n - start);
    jput(b, "\"", 1);
    return 1;
  default: return 0;
  }
}

/* De-duplication of statement rows by (link, primary key). */
typedef struct dedup {
  int64_t *slot;   /* index + 1 into keys (rows of `width` values) */
  uint64_t mask;
  int64_t n;
  assoc_value *keys;
  int64_t cap;
  int width;
} dedup;

static void dedup_free(dedup *d) {
  free(d->slot);
  free(d->keys);
  memset(d, 0, sizeof *d);
}

/* Returns 1 when the tuple k (width values) was seen, else records it and
 * returns 0; -1 on out of memory. */
static int dedup_seen(dedup *d, const assoc_value *k) {
  uint64_t h = 0, i;
  int c;
  if ((uint64_t)(d->n + 1) * 2 > d->mask + 1 || d->slot == NULL) {
    uint64_t size = d->slot ? (d->mask + 1) * 2 : 64;
    int64_t *ns = calloc((size_t)size, sizeof *ns);
    int64_t r;
    if (ns == NULL) return -1;
    for (r = 0; r < d->n; r++) {
      uint64_t hh = 0;
      for (c = 0; c < d->width; c++)
        hh = hh * 31 + vhash(&d->keys[(size_t)r * (size_t)d->width + (size_t)c]);
      for (i = hh & (size - 1); ns[i]; i = (i + 1) & (size - 1)) {
      }
      ns[i] = r + 1;
    }
    free(d->slot);
    d->slot = ns;
    d->mask = size - 1;
  }
  for (c = 0; c < d->width; c++) h = h * 31 + vhash(&k[c]);
  for (i = h & d->mask; d->slot[i]; i = (i + 1) & d->mask) {
    const assoc_value *o = &d->keys[(size_t)(d->slot[i] - 1) * (size_t)d->width];
    int same = 1;
    for (c = 0; c < d->width && same; c++) same = veq(&o[c], &k[c]);
    if (same) return 1;
  }
  if (d->n == d->cap) {
    int64_t cap = d->cap ? d->cap * 2 : 64;
    assoc_value *nk = realloc(d->keys, (size_t)cap * (size_t)d->width * sizeof *nk);
    if (nk == NULL) return -1;
    d->keys = nk;
    d->cap = cap;
  }
  memcpy(&d->keys[(size_t)d->n * (size_t)d->width], k,
         (size_t)d->width * sizeof *k);
  d->slot[i] = ++d->n;
  return 0;
}

static void trace_stmt(assoc_db *db, const assoc__stmt *st, double t0) {
  if (db->trace != NULL)
    db->trace(db->trace_ud, st->sql, t0 > 0.0 ? assoc__now_ms() - t0 : 0.0);
}

/* Copies a text or blob value into the arena (a key kept beyond its row). */
static int keep_value(assoc_db *db, earena *ar, assoc_value *v) {
  char *p;
  if (v->type != ASSOC_V_TEXT && v->type != ASSOC_V_BLOB) return ASSOC_OK;
  p = arena_alloc(ar, v->u.s.n + 1);
  if (p == NULL) return assoc__err(db, ASSOC_NOMEM, "out of memory");
  if (v->u.s.n) memcpy(p, v->u.s.p, v->u.s.n);
  p[v->u.s.n] = '\0';
  v->u.s.p = p;
  return ASSOC_OK;
}

/* Closes the statement of c (if open) and frees its buffers. */
static void cur_close(assoc_db *db, acur *c) {
  if (c->st != NULL) {
    if (c->ran) trace_stmt(db, c->st, c->t0);
    assoc__stmt_put(db, c->st);
  }
  free(c->row);
  free(c->key);
  free(c->cur);
  if (c->dd != NULL) dedup_free(c->dd);
  free(c->dd);
  if (c->km != NULL) keymap_free(c->km);
  free(c->km);
  free(c->json);
  memset(c, 0, sizeof *c);
  c->s = -1;
  c->prow = -1;
}

/* Opens the statement of anchor s (built in sql) in c.  c->km (may be
 * NULL) maps the link of each row to its parent rows. */
static int cur_open(assoc_result *r, acur *c, int s, assoc_sql *sql) {
  assoc_db *db = r->db;
  enode *n = &r->nodes[s];
  int rc, ncols = n->stmtcols;
  c->s = s;
  c->prow = -1;
  if (sql->rc != ASSOC_OK) return assoc__err(db, sql->rc, "%s", sql->errmsg);
  rc = assoc__stmt_get(db, sql->text, sql->len, 0, &c->st);
  if (rc != ASSOC_OK) return rc;
  rc = assoc__bind(db, c->st, sql->binds, sql->nbinds, 0);
  if (rc != ASSOC_OK) return rc;
  c->row = malloc((size_t)(ncols + 1) * sizeof *c->row);
  c->key = malloc((size_t)(n->npkc + 2) * sizeof *c->key);
  c->cur = malloc((size_t)r->nnodes * sizeof *c->cur);
  c->dd = calloc(1, sizeof *c->dd);
  if (c->row == NULL || c->key == NULL || c->cur == NULL || c->dd == NULL)
    return assoc__err(db, ASSOC_NOMEM, "out of memory");
  c->dd->width = n->npkc + (s > 0 ? 1 : 0);
  r->nstatements++;
  c->t0 = db->trace != NULL ? assoc__now_ms() : 0.0;
  c->ran = 1;
  return ASSOC_OK;
}

/* Steps c's statement to its next row that is new (de-duplication) and
 * has a parent (c->km); c->row holds it, c->prow its first parent row (-1
 * for the root).  ASSOC_ROW, ASSOC_DONE or an error.  Stored rows (copy)
 * get their text copied into the arena; streamed rows keep SQLite's, but
 * their de-duplication keys are copied. */
static int cur_next(assoc_result *r, acur *c, int copy) {
  assoc_db *db = r->db;
  enode *n = &r->nodes[c->s];
  int rc, col, ncols = n->stmtcols;
  for (;;) {
    int step = sqlite3_step(c->st->stmt);
    if (step == SQLITE_DONE) return ASSOC_DONE;
    if (step != SQLITE_ROW) return assoc__sqlerr(db, step, c->st->sql);
    for (col = 0; col < ncols; col++) {
      /* copy: text and blobs into the arena (rows stored); else left in
         SQLite's memory until the next step (streamed rows) */
      rc = assoc__column(db, c->st->stmt, col, &c->row[col]);
      if (rc == ASSOC_OK && copy)
        rc = keep_value(db, &r->arena, &c->row[col]);
      if (rc != ASSOC_OK) return rc;
    }
    if (n->dedup && c->dd->width > 0) {
      int w = 0, seen;
      if (c->s > 0) c->key[w++] = c->row[0];
      for (col = 0; col < n->npkc; col++)
        c->key[w++] = c->row[n->col0 + n->pkc[col]];
      for (col = 0; !copy && col < w; col++)
        if (keep_value(db, &r->arena, &c->key[col]) != ASSOC_OK)
          return db->errcode;
      seen = dedup_seen(c->dd, c->key);
      if (seen < 0) return assoc__err(db, ASSOC_NOMEM, "out of memory");
      if (seen) continue;
    }
    c->prow = c->km ? keymap_find(c->km, &c->row[0]) : -1;
    if (c->km && c->prow < 0) continue; /* not a key we asked for */
    return ASSOC_ROW;
  }
}

/* Runs the statement of anchor s (built in sql) and stores its rows: km
 * (NULL for the root) maps the link of each row to its parent rows. */
static int run_anchor(assoc_result *r, int s, assoc_sql *sql, keymap *km) {
  assoc_db *db = r->db;
  enode *nodes = r->nodes;
  acur c;
  sqlite3_mutex *mutex;
  int rc, i;
  memset(&c, 0, sizeof c);
  rc = cur_open(r, &c, s, sql);
  if (rc == ASSOC_OK) {
    c.km = km;
    /* one acquisition of the connection's (recursive) mutex for the whole
     * loop instead of one per column call (NULL, a no-op, without
     * mutexes) */
    mutex = sqlite3_db_mutex(db->sq);
    sqlite3_mutex_enter(mutex);
    while ((rc = cur_next(r, &c, 1)) == ASSOC_ROW) {
      int64_t prow = c.prow;
      rc = ASSOC_OK;
      do {
        for (i = s; i < r->nnodes; i++) c.cur[i] = -1;
        for (i = s; i < r->nnodes && rc == ASSOC_OK; i++) {
          enode *x = &nodes[i];
          int64_t pr;
          if (!in_statement(nodes, i, s)) continue;
          if (i == s) {
            pr = prow;
          } else {
            pr = c.cur[x->parent];
            if (pr < 0) continue;
            if (x->npkc > 0 && c.row[x->col0 + x->pkc[0]].type == ASSOC_V_NULL)
              continue; /* LEFT JOIN found nothing */
          }
          c.cur[i] = add_row(db, x, &c.row[x->col0], pr);
          if (c.cur[i] < 0) rc = db->errcode;
        }
        prow = km && prow >= 0 ? km->next[prow] : -1;
      } while (rc == ASSOC_OK && prow >= 0);
      if (rc != ASSOC_OK) break;
    }
    if (rc == ASSOC_DONE) rc = ASSOC_OK;
    sqlite3_mutex_leave(mutex);
  }
  c.km = NULL; /* the caller's */
  cur_close(db, &c);
  return rc;
}

/* The keys of to-many node s: its parent's keys (*km) and, unless the
 * parent is complete, the JSON array of the distinct ones (*json, bound by
 * build_stmt's jsonbind); then the statement, built in sql. */
static int many_prep(assoc_result *r, int s, assoc_sql *sql, keymap *km,
                     char **json) {
  assoc_db *db = r->db;
  eplan p;
  enode *n = &r->nodes[s];
  const enode *par = &r->nodes[n->parent];
  jbuf jb;
  int64_t row;
  int rc, first = 1;
  assoc_value arr;
  p.db = db;
  p.r = r;
  p.order = r->order;
  p.norder = r->norder;
  *json = NULL;
  memset(&jb, 0, sizeof jb);
  rc = keymap_build(db, km, par, n->keycol);
  if (rc != ASSOC_OK) return rc;
  if (par->complete) {
    build_stmt(&p, s, sql);
    return ASSOC_OK;
  }
  jput(&jb, "[", 1);
  for (row = 0; row < par->nrows; row++) {
    const assoc_value *v = row_val(par, row, n->keycol);
    if (v->type == ASSOC_V_NULL || keymap_find(km, v) != row) continue;
    if (!first) jput(&jb, ",", 1);
    first = 0;
    if (!jkey(&jb, v)) {
      free(jb.p);
      return assoc__err(db, ASSOC_MISUSE,
                        "include %s: blob keys cannot be eager-loaded",
                        assoc_label(n->a));
    }
  }
  jput(&jb, "]", 1);
  if (jb.nomem) {
    free(jb.p);
    return assoc__err(db, ASSOC_NOMEM, "out of memory");
  }
  *json = jb.p;
  build_stmt(&p, s, sql);
  arr.type = ASSOC_V_TEXT;
  arr.u.s.p = jb.p;
  arr.u.s.n = jb.n;
  if (sql->rc == ASSOC_OK) sql->binds[n->jsonbind] = arr;
  return ASSOC_OK;
}

/* Loads to-many node s: the distinct keys of its parent's rows as one JSON
 * array, then its statement; the rows are stored. */
static int load_many(assoc_result *r, int s, assoc_sql *sql) {
  keymap km;
  char *json = NULL;
  int rc;
  memset(&km, 0, sizeof km);
  rc = many_prep(r, s, sql, &km, &json);
  if (rc == ASSOC_OK) rc = run_anchor(r, s, sql, &km);
  keymap_free(&km);
  free(json);
  return rc;
}

/* Opens streamed node s in r->c (its rows go out through
 * assoc_result_step). */
static int open_stream(assoc_result *r, int s) {
  acur *c = &r->c;
  int rc;
  memset(c, 0, sizeof *c);
  c->s = s;
  c->prow = -1;
  c->km = calloc(1, sizeof *c->km);
  if (c->km == NULL) return assoc__err(r->db, ASSOC_NOMEM, "out of memory");
  rc = many_prep(r, s, &r->sql, c->km, &c->json);
  if (rc == ASSOC_OK) rc = cur_open(r, c, s, &r->sql);
  return rc;
}

/* Children index of every non-root node: rows grouped by parent row, in
 * load order (a stable counting sort). */
static int index_children(assoc_db *db, assoc_result *r) {
  int i;
  for (i = 1; i < r->nnodes; i++) {
    enode *n = &r->nodes[i];
    const enode *p = &r->nodes[n->parent];
    int64_t k, np = p->nrows;
    n->kstart = calloc((size_t)np + 1, sizeof *n->kstart);
    n->korder = malloc((size_t)(n->nrows ? n->nrows : 1) * sizeof *n->korder);
    if (n->kstart == NULL || n->korder == NULL)
      return assoc__err(db, ASSOC_NOMEM, "out of memory");
    for (k = 0; k < n->nrows; k++) n->kstart[n->prow[k] + 1]++;
    for (k = 0; k < np; k++) n->kstart[k + 1] += n->kstart[k];
    {
      int64_t *fill = malloc((size_t)(np ? np : 1) * sizeof *fill);
      if (fill == NULL) return assoc__err(db, ASSOC_NOMEM, "out of memory");
      memcpy(fill, n->kstart, (size_t)np * sizeof *fill);
      for (k = 0; k < n->nrows; k++) n->korder[fill[n->prow[k]]++] = k;
      free(fill);
    }
  }
  return ASSOC_OK;
}

static int check_db(assoc_db *db, const assoc_model *m) {
  if (db == NULL || db->sq == NULL) return ASSOC_CLOSED;
  if (m == NULL) return assoc__err(db, ASSOC_MISUSE, "no model");
  if (m->db != db)
    return assoc__err(db, ASSOC_MISUSE,
                      "model %s belongs to another connection", m->name);
  return ASSOC_OK;
}

/* Plans a load (nothing runs yet); with stream, the to-many leaves are
 * marked to be streamed. */
static int find_start(assoc_db *db, const assoc_model *m,
                      const assoc_select *req, const assoc_include *inc,
                      int ninc, const assoc_eager_order *order, int norder,
                      int stream, assoc_result **out) {
  assoc_result *r;
  int rc, i;
  *out = NULL;
  if ((rc = check_db(db, m)) != ASSOC_OK) return rc;
  if ((rc = plan(db, m, req, inc, ninc, &r)) != ASSOC_OK) return rc;
  if ((rc = check_order(db, r, order, norder)) != ASSOC_OK) {
    assoc_result_free(r);
    return rc;
  }
  r->order = order;
  r->norder = norder;
  for (i = 1; stream && i < r->nnodes; i++)
    r->nodes[i].stream = r->nodes[i].many && r->nodes[i].nkids == 0;
  *out = r;
  return ASSOC_OK;
}

int assoc_result_step(assoc_result *r, int *node, int64_t *prow,
                      const assoc_value **vals) {
  assoc_db *db;
  int rc;
  if (r == NULL || node == NULL || prow == NULL || vals == NULL)
    return ASSOC_MISUSE;
  db = r->db;
  if (r->done) return ASSOC_DONE;
  if (db == NULL || db->sq == NULL) return ASSOC_CLOSED;
  for (;;) {
    acur *c = &r->c;
    if (c->s > 0) { /* a streamed node: its next (row, parent) */
      enode *n = &r->nodes[c->s];
      if (c->prow < 0) {
        sqlite3_mutex *mutex = sqlite3_db_mutex(db->sq);
        sqlite3_mutex_enter(mutex);
        rc = cur_next(r, c, 0);
        sqlite3_mutex_leave(mutex);
        if (rc == ASSOC_DONE) {
          cur_close(db, c);
          continue;
        }
        if (rc != ASSOC_ROW) {
          cur_close(db, c);
          r->done = -1;
          return rc;
        }
      }
      *node = c->s;
      *prow = c->prow;
      *vals = &c->row[n->col0];
      c->prow = c->km->next[c->prow]; /* another parent with the key */
      return ASSOC_ROW;
    }
    if (r->next >= r->nnodes) {
      rc = index_children(db, r);
      assoc_sql_free(&r->sql);
      if (rc != ASSOC_OK) {
        r->done = -1;
        return rc;
      }
      r->done = 1;
      assoc__clear_err(db);
      return ASSOC_DONE;
    }
    {
      int i = r->next++;
      enode *n = &r->nodes[i];
      eplan p;
      if (i == 0) {
        p.db = db;
        p.r = r;
        p.order = r->order;
        p.norder = r->norder;
        build_stmt(&p, 0, &r->sql);
        rc = run_anchor(r, 0, &r->sql, NULL);
      } else if (!n->many) {
        continue;
      } else if (n->stream) {
        rc = open_stream(r, i);
        if (rc != ASSOC_OK) cur_close(db, &r->c);
      } else {
        rc = load_many(r, i, &r->sql);
      }
      if (rc != ASSOC_OK) {
        r->done = -1;
        return rc;
      }
    }
  }
}

int assoc_find_stream(assoc_db *db, const assoc_model *m,
                      const assoc_select *req, const assoc_include *inc,
                      int ninc, const assoc_eager_order *order, int norder,
                      assoc_result **out) {
  if (out == NULL)
    return db != NULL && db->sq != NULL
               ? assoc__err(db, ASSOC_MISUSE, "assoc_find_stream: no out")
               : ASSOC_CLOSED;
  return find_start(db, m, req, inc, ninc, order, norder, 1, out);
}

int assoc_result_streamed(const assoc_result *r, int node) {
  return r != NULL && node > 0 && node < r->nnodes && r->nodes[node].stream;
}

int assoc_find_all(assoc_db *db, const assoc_model *m, const assoc_select *req,
                   const assoc_include *inc, int ninc,
                   const assoc_eager_order *order, int norder,
                   assoc_result **out) {
  assoc_result *r;
  int rc, node;
  int64_t prow;
  const assoc_value *vals;
  if (out != NULL) *out = NULL;
  if ((rc = check_db(db, m)) != ASSOC_OK) return rc;
  if (out == NULL) return assoc__err(db, ASSOC_MISUSE, "assoc_find_all: no out");
  rc = find_start(db, m, req, inc, ninc, order, norder, 0, &r);
  if (rc != ASSOC_OK) return rc;
  rc = assoc_result_step(r, &node, &prow, &vals); /* nothing is streamed */
  if (rc != ASSOC_DONE) {
    assoc_result_free(r);
    return rc == ASSOC_ROW ? assoc__err(db, ASSOC_MISUSE, "eager: a row") : rc;
  }
  *out = r;
  return ASSOC_OK;
}

int assoc_count_all(assoc_db *db, const assoc_model *m, const assoc_select *req,
                    const assoc_include *inc, int ninc, int64_t *out) {
  assoc_result *r;
  assoc_sql sql;
  assoc__stmt *st;
  conds w;
  double t0;
  int rc;
  if ((rc = check_db(db, m)) != ASSOC_OK) return rc;
  if ((rc = plan(db, m, req, inc, ninc, &r)) != ASSOC_OK) return rc;
  assoc_sql_init(&sql);
  assoc__sql_appendz(&sql, "SELECT count(*) FROM ");
  table_as(&sql, m, "t0");
  w.s = &sql;
  w.lead = " WHERE ";
  w.n = 0;
  node_conds(r->nodes, 0, &w, "t0", 0);
  if (sql.rc != ASSOC_OK) {
    rc = assoc__err(db, sql.rc, "%s", sql.errmsg);
    goto done;
  }
  rc = assoc__stmt_get(db, sql.text, sql.len, 0, &st);
  if (rc != ASSOC_OK) goto done;
  rc = assoc__bind(db, st, sql.binds, sql.nbinds, 0);
  if (rc == ASSOC_OK) {
    t0 = db->trace != NULL ? assoc__now_ms() : 0.0;
    rc = sqlite3_step(st->stmt);
    if (rc == SQLITE_ROW) {
      if (out != NULL) *out = sqlite3_column_int64(st->stmt, 0);
      rc = ASSOC_OK;
    } else {
      rc = assoc__sqlerr(db, rc == SQLITE_DONE ? SQLITE_ERROR : rc, st->sql);
    }
    trace_stmt(db, st, t0);
  }
  assoc__stmt_put(db, st);
done:
  assoc_sql_free(&sql);
  assoc_result_free(r);
  if (rc == ASSOC_OK) assoc__clear_err(db);
  return rc;
}

/* ---- SQL of a plan, for tests and doc/eager.md ---------------------------------- */

int assoc_eager_sql(assoc_db *db, const assoc_model *m, const assoc_select *req,
                    const assoc_include *inc, int ninc,
                    const assoc_eager_order *order, int norder, int stmt,
                    char **out) {
  eplan p;
  assoc_result *r;
  assoc_sql sql;
  int rc, i, k = 0;
  if (out != NULL) *out = NULL;
  if ((rc = check_db(db, m)) != ASSOC_OK) return rc;
  if (out == NULL) return assoc__err(db, ASSOC_MISUSE, "assoc_eager_sql: no out");
  if ((rc = plan(db, m, req, inc, ninc, &r)) != ASSOC_OK) return rc;
  if ((rc = check_order(db, r, order, norder)) != ASSOC_OK) {
    assoc_result_free(r);
    return rc;
  }
  p.db = db;
  p.r = r;
  p.order = order;
  p.norder = norder;
  assoc_sql_init(&sql);
  rc = ASSOC_MISUSE;
  if (stmt == -1) {
    conds w = {&sql, " WHERE ", 0};
    assoc__sql_appendz(&sql, "SELECT count(*) FROM ");
    table_as(&sql, m, "t0");
    node_conds(r->nodes, 0, &w, "t0", 0);
    rc = ASSOC_OK;
  } else {
    for (i = 0; i < r->nnodes; i++) {
      if (i != 0 && !r->nodes[i].many) continue;
      if (k++ == stmt) {
        build_stmt(&p, i, &sql);
        rc = ASSOC_OK;
        break;
      }
    }
  }
  if (rc != ASSOC_OK) {
    rc = assoc__err(db, ASSOC_MISUSE, "assoc_eager_sql: no statement #%d", stmt);
  } else if (sql.rc != ASSOC_OK) {
    rc = assoc__err(db, sql.rc, "%s", sql.errmsg);
  } else {
    *out = malloc(sql.len + 1);
    if (*out == NULL) rc = assoc__err(db, ASSOC_NOMEM, "out of memory");
    else memcpy(*out, sql.text, sql.len + 1);
  }
  assoc_sql_free(&sql);
  assoc_result_free(r);
  return rc;
}

/* ---- results --------------------------------------------------------------------- */

int assoc_result_nnodes(const assoc_result *r) { return r ? r->nnodes : 0; }

static const enode *rnode(const assoc_result *r, int node) {
  if (r == NULL || node < 0 || node >= r->nnodes) return NULL;
  return &r->nodes[node];
}

const assoc_include *assoc_result_include(const assoc_result *r, int node) {
  const enode *n = rnode(r, node);
  return n ? n->inc : NULL;
}

int assoc_result_parent(const assoc_result *r, int node) {
  const enode *n = rnode(r, node);
  return n ? n->parent : -1;
}

const assoc_model *assoc_result_model(const assoc_result *r, int node) {
  const enode *n = rnode(r, node);
  return n ? n->m : NULL;
}

int assoc_result_nstatements(const assoc_result *r) {
  return r ? r->nstatements : 0;
}

int64_t assoc_result_nrows(const assoc_result *r, int node) {
  const enode *n = rnode(r, node);
  return n ? n->nrows : 0;
}

int assoc_result_ncols(const assoc_result *r, int node) {
  const enode *n = rnode(r, node);
  return n ? n->ncols : 0;
}

int assoc_result_attr(const assoc_result *r, int node, int col, int *junction) {
  const enode *n = rnode(r, node);
  if (junction != NULL) *junction = 0;
  if (n == NULL || col < 0 || col >= n->ncols) return -1;
  if (junction != NULL) *junction = n->junc[col];
  return n->attr[col];
}

void assoc_result_value(const assoc_result *r, int node, int64_t row, int col,
                        assoc_value *out) {
  const enode *n = rnode(r, node);
  if (out == NULL) return;
  if (n == NULL || row < 0 || row >= n->nrows || col < 0 || col >= n->ncols) {
    out->type = ASSOC_V_NULL;
    out->u.i = 0;
    return;
  }
  *out = *row_val(n, row, col);
}

const assoc_value *assoc_result_row(const assoc_result *r, int node,
                                    int64_t row) {
  const enode *n = rnode(r, node);
  if (n == NULL || row < 0 || row >= n->nrows) return NULL;
  return row_val(n, row, 0);
}

int64_t assoc_result_parent_row(const assoc_result *r, int node, int64_t row) {
  const enode *n = rnode(r, node);
  if (n == NULL || row < 0 || row >= n->nrows) return -1;
  return n->prow[row];
}

int64_t assoc_result_children(const assoc_result *r, int node,
                              int64_t parent_row, const int64_t **rows) {
  const enode *n = rnode(r, node);
  if (rows != NULL) *rows = NULL;
  if (n == NULL || node == 0 || n->kstart == NULL || parent_row < 0 ||
      parent_row >= r->nodes[n->parent].nrows)
    return 0;
  if (rows != NULL) *rows = n->korder + n->kstart[parent_row];
  return n->kstart[parent_row + 1] - n->kstart[parent_row];
}
