/*
 * fuzz_sqlbuild.c -- libFuzzer target over the request -> SQL builders.
 *
 * The input bytes are decoded into a model definition (names made of any
 * printable ASCII, quotes included; types, flags, DDL defaults) and one
 * request (attributes, a where tree of any operator/attribute/operand
 * count, order, limit, offset), then every builder runs on them: create
 * table, select, count, insert, update, delete.  Checked for each:
 *   - no crash, no sanitizer report (built with address,undefined);
 *   - the builder returns ASSOC_OK, or ASSOC_MISUSE with no statement
 *     (text empty, nbinds 0) and a message;
 *   - an OK statement prepares on an in-memory database that has the
 *     model's table (double-quoted strings off, as assoc_open sets), as
 *     exactly one statement (empty tail);
 *   - the number of `?` outside quoted identifiers and string literals,
 *     sqlite3_bind_parameter_count and nbinds are all equal;
 *   - no byte of a value is in the SQL text: text and blob values are made
 *     of "marker" bytes (controls and bytes >= 0x80) that no identifier or
 *     keyword contains, so the SQL must contain none of them;
 *   - the statement only touches the model's table (an authorizer), and
 *     the created table has exactly the model's columns, byte for byte.
 * Then an eager-loading phase: fixed models FzA, FzB, FzC, FzD associated
 * (A hasMany B, B belongsTo A, A belongsToMany C through FzAC, A hasOne D),
 * a few rows, and a random include tree (any association from each node, or
 * a wrong one; random where/attributes/order/limit per node, required,
 * separate, junction attributes and where) with a random top-level order:
 * assoc_find_all and assoc_count_all return OK or MISUSE (never an SQLite
 * error, which would mean the built SQL is wrong); each statement of the
 * load (assoc_eager_sql) is one statement without a value byte in it, with
 * as many `?` as parameters; every row's parent row exists.
 * A finding aborts (libFuzzer reports it and saves the input).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "assoc.h"

/* ---- input ---------------------------------------------------------------- */
typedef struct in {
  const uint8_t *p;
  size_t n;
} in;

static unsigned u8(in *b) {
  if (b->n == 0) return 0;
  b->n--;
  return *b->p++;
}

static uint64_t u64(in *b) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | u8(b);
  return v;
}

/* storage for everything decoded (reset per input) */
#define POOL 16384
static char g_pool[POOL];
static size_t g_pool_used;

static char *pool(size_t n) {
  if (g_pool_used + n > POOL) return NULL;
  char *p = g_pool + g_pool_used;
  g_pool_used += n;
  return p;
}

/* A printable-ASCII identifier (quotes, spaces, ?, ; and -- included). */
static const char *ident(in *b, int allow_empty) {
  size_t len = u8(b) % 14;
  if (len == 0 && !allow_empty) len = 1;
  char *s = pool(len + 1);
  if (s == NULL) return "x";
  for (size_t i = 0; i < len; i++) {
    unsigned c = u8(b);
    /* bias towards letters, keep the dangerous ones reachable */
    if (c < 128) s[i] = (char)('a' + c % 26);
    else s[i] = (char)(0x20 + c % 95);
  }
  s[len] = '\0';
  return s;
}

static int is_marker(unsigned char c) { return c < 0x20 || c >= 0x80; }

static unsigned char marker(unsigned c) {
  c &= 0xff;
  if (c < 0x20 || c >= 0x80) return (unsigned char)(c == 0 ? 1 : c);
  return (unsigned char)(0x80 + (c & 0x7f));
}

static void value(in *b, assoc_value *v) {
  memset(v, 0, sizeof *v);
  switch (u8(b) % 6) {
  case 0: v->type = ASSOC_V_NULL; break;
  case 1: v->type = ASSOC_V_INT; v->u.i = (int64_t)u64(b); break;
  case 2: {
    uint64_t bits = u64(b);
    v->type = ASSOC_V_REAL;
    memcpy(&v->u.r, &bits, sizeof v->u.r);
    break;
  }
  case 3: v->type = ASSOC_V_INT; v->u.i = (int64_t)(int8_t)u8(b); break;
  default: {
    size_t len = u8(b) % 24;
    char *s = pool(len + 1);
    if (s == NULL) len = 0, s = "";
    else {
      for (size_t i = 0; i < len; i++) s[i] = (char)marker(u8(b));
      s[len] = '\0';
    }
    v->type = (u8(b) & 1) ? ASSOC_V_BLOB : ASSOC_V_TEXT;
    v->u.s.p = s;
    v->u.s.n = len;
    /* occasionally a NUL inside, or a NULL pointer with length 0 */
    if (len > 2 && (u8(b) & 7) == 0) s[1] = '\0';
    if (len == 0 && (u8(b) & 3) == 0) v->u.s.p = NULL;
  }
  }
}

#define MAXV 512
#define MAXW 256
static assoc_value g_vals[MAXV];
static int g_nvals;
static assoc_where g_where[MAXW];
static int g_nwhere;

static assoc_value *values(in *b, int n) {
  if (g_nvals + n > MAXV) return NULL;
  assoc_value *v = &g_vals[g_nvals];
  for (int i = 0; i < n; i++) value(b, &v[i]);
  g_nvals += n;
  return v;
}

static int attr_index(in *b, int nattrs) {
  unsigned c = u8(b);
  if (c == 0xff) return -1;
  if (c == 0xfe) return nattrs; /* out of range */
  if (c == 0xfd) return -7;
  return nattrs > 0 ? (int)(c % (unsigned)nattrs) : 0;
}

/* A where node; kids are laid out contiguously. */
static void where(in *b, assoc_where *w, int nattrs, int depth) {
  unsigned op = u8(b);
  memset(w, 0, sizeof *w);
  w->op = (assoc_op)(op % (ASSOC_OP__COUNT + 1)); /* 0 and __COUNT are invalid */
  if (op == 0xff) w->op = (assoc_op)-3;
  int group = w->op == ASSOC_OP_AND || w->op == ASSOC_OP_OR ||
              (w->op == ASSOC_OP_NOT && (u8(b) & 1));
  w->attr = group ? -1 : attr_index(b, nattrs);
  if (group && (u8(b) & 15) == 0) w->attr = attr_index(b, nattrs); /* odd mix */
  if (!group || (u8(b) & 15) == 0) {
    int nv = (int)(u8(b) % 5);
    if ((u8(b) & 31) == 0) nv = (int)(u8(b) % 40); /* long IN lists */
    w->values = values(b, nv);
    w->nvalues = w->values ? nv : 0;
    if (w->nvalues > 0 && (u8(b) & 63) == 0) w->values = NULL; /* NULL with a count */
  }
  if ((group || (u8(b) & 15) == 0) && depth < 5) {
    int nk = (int)(u8(b) % 4);
    if (g_nwhere + nk <= MAXW) {
      assoc_where *k = &g_where[g_nwhere];
      g_nwhere += nk;
      for (int i = 0; i < nk; i++) where(b, &k[i], nattrs, depth + 1);
      w->kids = k;
      w->nkids = nk;
      if (nk > 0 && (u8(b) & 63) == 0) w->kids = NULL;
    }
  }
  if ((u8(b) & 63) == 0) w->nvalues = -1;
  if ((u8(b) & 63) == 0) w->nkids = -1;
}

/* A where tree that is valid most of the time (operators with the operand
 * count they need), with now and then a random node from where(). */
static void valid_where(in *b, assoc_where *w, int nattrs, int depth) {
  static const assoc_op ops[] = {ASSOC_OP_EQ, ASSOC_OP_NE, ASSOC_OP_GT, ASSOC_OP_LTE,
                                 ASSOC_OP_IN, ASSOC_OP_NOTIN, ASSOC_OP_LIKE, ASSOC_OP_BETWEEN,
                                 ASSOC_OP_IS, ASSOC_OP_STARTSWITH, ASSOC_OP_SUBSTRING,
                                 ASSOC_OP_AND, ASSOC_OP_OR, ASSOC_OP_NOT};
  unsigned c = u8(b);
  if ((c & 31) == 31) {
    where(b, w, nattrs, depth);
    return;
  }
  memset(w, 0, sizeof *w);
  w->op = ops[c % (sizeof ops / sizeof ops[0])];
  if (w->op == ASSOC_OP_AND || w->op == ASSOC_OP_OR || (w->op == ASSOC_OP_NOT && (u8(b) & 1))) {
    w->attr = -1;
    int nk = depth < 4 ? (int)(u8(b) % 3) : 0;
    if (g_nwhere + nk > MAXW) nk = 0;
    assoc_where *k = &g_where[g_nwhere];
    g_nwhere += nk;
    for (int i = 0; i < nk; i++) valid_where(b, &k[i], nattrs, depth + 1);
    w->kids = nk ? k : NULL;
    w->nkids = nk;
    return;
  }
  w->attr = nattrs > 0 ? (int)(u8(b) % (unsigned)nattrs) : 0;
  int nv = 1;
  if (w->op == ASSOC_OP_IN || w->op == ASSOC_OP_NOTIN) nv = (int)(u8(b) % 4);
  else if (w->op == ASSOC_OP_BETWEEN) nv = 2;
  assoc_value *v = values(b, nv);
  if (v == NULL) nv = 0;
  if (v && (w->op == ASSOC_OP_IS || w->op == ASSOC_OP_NOT)) {
    memset(v, 0, sizeof *v);
    v->type = (u8(b) & 1) ? ASSOC_V_NULL : ASSOC_V_INT;
    v->u.i = u8(b) & 1;
  }
  w->values = v;
  w->nvalues = nv;
}

/* ---- checks --------------------------------------------------------------- */
static void fail(const char *what, const assoc_sql *s, const char *extra) {
  fprintf(stderr, "fuzz_sqlbuild: %s\n  sql: %s\n  nbinds: %d\n  %s\n", what,
          s && s->text ? s->text : "(none)", s ? s->nbinds : -1, extra ? extra : "");
  abort();
}

static const char *g_table; /* the model's table, for the authorizer */
static int g_denied;
static char g_denied_what[300];

static int authorize(void *ud, int action, const char *a1, const char *a2,
                     const char *a3, const char *a4) {
  (void)ud;
  (void)a3;
  (void)a4;
  switch (action) {
  case SQLITE_SELECT: return SQLITE_OK;
  case SQLITE_READ:
  case SQLITE_UPDATE:
    if (a1 && strcmp(a1, g_table) == 0) return SQLITE_OK;
    break;
  case SQLITE_INSERT:
  case SQLITE_DELETE:
    if (a1 && strcmp(a1, g_table) == 0) return SQLITE_OK;
    break;
  case SQLITE_FUNCTION:
    if (a2 && (strcmp(a2, "like") == 0 || strcmp(a2, "count") == 0)) return SQLITE_OK;
    break;
  default: break;
  }
  g_denied++;
  snprintf(g_denied_what, sizeof g_denied_what, "action %d (%s, %s)", action,
           a1 ? a1 : "-", a2 ? a2 : "-");
  return SQLITE_DENY;
}

/* `?` outside "identifiers" and 'literals'. */
static int count_placeholders(const char *s) {
  int n = 0;
  char q = 0;
  for (; *s; s++) {
    if (q) {
      if (*s == q) {
        if (s[1] == q) s++;
        else q = 0;
      }
    } else if (*s == '"' || *s == '\'') {
      q = *s;
    } else if (*s == '?') {
      n++;
    }
  }
  return n;
}

/* Checks one built statement (kind is for messages). */
static void check_stmt(sqlite3 *db, const char *kind, int rc, const assoc_sql *s,
                       int values_allowed) {
  char msg[512];
  if (rc != s->rc) fail("builder returned a code different from s->rc", s, kind);
  if (rc == ASSOC_MISUSE) {
    if (s->len != 0 || (s->text && s->text[0]) || s->nbinds != 0)
      fail("a refused request left a statement", s, kind);
    if (s->errmsg[0] == '\0') fail("a refused request has no message", s, kind);
    return;
  }
  if (rc != ASSOC_OK) {
    snprintf(msg, sizeof msg, "%s: unexpected code %d (%s)", kind, rc, s->errmsg);
    fail("unexpected builder code", s, msg);
  }
  if (s->text == NULL || strlen(s->text) != s->len) fail("text/len mismatch", s, kind);
  if (!values_allowed)
    for (size_t i = 0; i < s->len; i++)
      if (is_marker((unsigned char)s->text[i])) {
        snprintf(msg, sizeof msg, "%s: byte 0x%02x of a value at offset %zu", kind,
                 (unsigned char)s->text[i], i);
        fail("a value byte is in the SQL text", s, msg);
      }
  int ph = count_placeholders(s->text);
  if (ph != s->nbinds) {
    snprintf(msg, sizeof msg, "%s: %d placeholders, %d binds", kind, ph, s->nbinds);
    fail("placeholder count differs from nbinds", s, msg);
  }
  sqlite3_stmt *st = NULL;
  const char *tail = NULL;
  g_denied = 0;
  int prc = sqlite3_prepare_v2(db, s->text, (int)s->len + 1, &st, &tail);
  if (prc != SQLITE_OK) {
    snprintf(msg, sizeof msg, "%s: %s%s%s", kind, sqlite3_errmsg(db),
             g_denied ? "; authorizer: " : "", g_denied ? g_denied_what : "");
    fail(g_denied ? "the statement touches something outside the model" :
         "the statement does not prepare", s, msg);
  }
  if (st == NULL) fail("no statement", s, kind);
  if (tail == NULL || *tail != '\0') fail("more than one statement (non-empty tail)", s, kind);
  if (sqlite3_bind_parameter_count(st) != s->nbinds) {
    snprintf(msg, sizeof msg, "%s: sqlite3_bind_parameter_count %d, nbinds %d", kind,
             sqlite3_bind_parameter_count(st), s->nbinds);
    fail("bind count mismatch", s, msg);
  }
  for (int i = 0; i < s->nbinds; i++) {
    const assoc_value *v = &s->binds[i];
    int brc;
    switch (v->type) {
    case ASSOC_V_NULL: brc = sqlite3_bind_null(st, i + 1); break;
    case ASSOC_V_INT: brc = sqlite3_bind_int64(st, i + 1, v->u.i); break;
    case ASSOC_V_REAL: brc = sqlite3_bind_double(st, i + 1, v->u.r); break;
    case ASSOC_V_TEXT:
      brc = sqlite3_bind_text(st, i + 1, v->u.s.p ? v->u.s.p : "", (int)v->u.s.n, SQLITE_STATIC);
      break;
    case ASSOC_V_BLOB:
      brc = sqlite3_bind_blob(st, i + 1, v->u.s.p ? v->u.s.p : "", (int)v->u.s.n, SQLITE_STATIC);
      break;
    default:
      snprintf(msg, sizeof msg, "%s: bind %d has type %d", kind, i + 1, (int)v->type);
      fail("a bind of an unknown type", s, msg);
      return;
    }
    if (brc != SQLITE_OK) fail("bind failed", s, sqlite3_errmsg(db));
  }
  /* run it on the (empty) table: constraint errors are fine, misuse is not */
  int step = sqlite3_step(st);
  if (step == SQLITE_MISUSE || step == SQLITE_RANGE) fail("step misuse", s, kind);
  sqlite3_finalize(st);
}


/* ---- eager loading ---------------------------------------------------------- */
typedef struct eager_env {
  assoc_model *A, *B, *C, *D;
} eager_env;

static int def_model(assoc_db *db, const char *name, const char *const *names,
                     const assoc_type *types, int n, unsigned flags, assoc_model **out) {
  assoc_attr at[6];
  assoc_model_def d;
  memset(at, 0, sizeof at);
  for (int i = 0; i < n; i++) {
    at[i].name = names[i];
    at[i].type = types[i];
  }
  memset(&d, 0, sizeof d);
  d.name = name;
  d.attrs = at;
  d.nattrs = n;
  d.flags = flags;
  return assoc_define(db, &d, out);
}

/* Models, associations, tables (on both connections) and a few rows; 0 when
 * something is in the way (a fuzzed model took a name). */
static int eager_setup(assoc_db *adb, sqlite3 *db, in *b, eager_env *e) {
  static const char *const an[] = {"name", "age", "prefs"};
  static const assoc_type at[] = {ASSOC_T_STRING, ASSOC_T_INTEGER, ASSOC_T_JSON};
  static const char *const bn[] = {"title", "score"};
  static const assoc_type bt[] = {ASSOC_T_STRING, ASSOC_T_FLOAT};
  static const char *const cn[] = {"label"};
  static const assoc_type ct[] = {ASSOC_T_STRING};
  static const char *const dn[] = {"bio"};
  static const assoc_type dt[] = {ASSOC_T_TEXT};
  unsigned pflag = (u8(b) & 1) ? ASSOC_MODEL_PARANOID | ASSOC_MODEL_TIMESTAMPS : 0;
  if (def_model(adb, "FzA", an, at, 3, pflag, &e->A) != ASSOC_OK) return 0;
  if (def_model(adb, "FzB", bn, bt, 2, (u8(b) & 1) ? ASSOC_MODEL_PARANOID : 0, &e->B) != ASSOC_OK)
    return 0;
  if (def_model(adb, "FzC", cn, ct, 1, 0, &e->C) != ASSOC_OK) return 0;
  if (def_model(adb, "FzD", dn, dt, 1, 0, &e->D) != ASSOC_OK) return 0;
  assoc_assoc_def d;
  assoc_assoc *hm = NULL, *btm = NULL, *ho = NULL, *bt2 = NULL;
  memset(&d, 0, sizeof d);
  d.foreign_key_allow_null = d.through_unique = d.through_timestamps = d.constraints = -1;
  d.kind = ASSOC_HAS_MANY, d.source = e->A, d.target = e->B;
  if (assoc_associate(adb, &d, &hm) != ASSOC_OK) return 0;
  d.kind = ASSOC_BELONGS_TO, d.source = e->B, d.target = e->A;
  if (assoc_associate(adb, &d, &bt2) != ASSOC_OK) return 0;
  d.kind = ASSOC_BELONGS_TO_MANY, d.source = e->A, d.target = e->C, d.through = "FzAC";
  if (assoc_associate(adb, &d, &btm) != ASSOC_OK) return 0;
  d.through = NULL;
  d.kind = ASSOC_HAS_ONE, d.source = e->A, d.target = e->D;
  if (assoc_associate(adb, &d, &ho) != ASSOC_OK) return 0;
  if (assoc_sync(adb, 0) != ASSOC_OK) return 0;
  /* the same tables on the raw connection, for preparing the statements */
  for (int i = 0; i < assoc_model_count(adb); i++) {
    assoc_sql s;
    assoc_sql_init(&s);
    if (assoc_build_create_table(assoc_model_at(adb, i), &s) == ASSOC_OK)
      sqlite3_exec(db, s.text, NULL, NULL, NULL);
    assoc_sql_free(&s);
  }
  /* rows: two A, B children, C links, one D */
  int aname = assoc_model_attr_index(e->A, "name");
  int bfk = assoc_model_attr_index(e->B, assoc_assoc_key(hm, ASSOC_KEY_FOREIGN));
  int btitle = assoc_model_attr_index(e->B, "title");
  int clabel = assoc_model_attr_index(e->C, "label");
  int dfk = assoc_model_attr_index(e->D, assoc_assoc_key(ho, ASSOC_KEY_FOREIGN));
  int64_t ids[2] = {0, 0}, cids[3];
  for (int i = 0; i < 2; i++) {
    assoc_value v;
    memset(&v, 0, sizeof v);
    v.type = ASSOC_V_TEXT, v.u.s.p = i ? "\x81" "b" : "\x80" "a", v.u.s.n = 2;
    if (assoc_insert(adb, e->A, &aname, &v, 1, &ids[i]) != ASSOC_OK) return 0;
  }
  for (int i = 0; i < 3; i++) {
    assoc_value v[2];
    int attrs[2] = {btitle, bfk};
    memset(v, 0, sizeof v);
    v[0].type = ASSOC_V_TEXT, v[0].u.s.p = "\x82t", v[0].u.s.n = 2;
    v[1].type = ASSOC_V_INT, v[1].u.i = ids[i % 2];
    if (bfk < 0 || assoc_insert(adb, e->B, attrs, v, 2, NULL) != ASSOC_OK) return 0;
    memset(v, 0, sizeof v);
    v[0].type = ASSOC_V_TEXT, v[0].u.s.p = "\x83" "c", v[0].u.s.n = 2;
    if (assoc_insert(adb, e->C, &clabel, v, 1, &cids[i]) != ASSOC_OK) return 0;
  }
  {
    assoc_value src, t[3];
    memset(&src, 0, sizeof src);
    memset(t, 0, sizeof t);
    src.type = ASSOC_V_INT, src.u.i = ids[0];
    for (int i = 0; i < 3; i++) t[i].type = ASSOC_V_INT, t[i].u.i = cids[i];
    if (assoc_rel_add(adb, btm, &src, t, 3, NULL, 0, NULL) != ASSOC_OK) return 0;
    assoc_value dv;
    memset(&dv, 0, sizeof dv);
    dv.type = ASSOC_V_INT, dv.u.i = ids[1];
    if (dfk < 0 || assoc_insert(adb, e->D, &dfk, &dv, 1, NULL) != ASSOC_OK) return 0;
  }
  return 1;
}

#define MAXINC 24
static assoc_include g_inc[MAXINC];
static assoc_select g_ireq[MAXINC];
static assoc_through_req g_thr[MAXINC];
static int g_iattrs[MAXINC][4];
static assoc_order g_iorder[MAXINC][3];
static int g_ninc;

/* A random select on a model with nattrs attributes, into *q. */
static void random_select(in *b, assoc_select *q, int *attrs, assoc_order *order, int nattrs) {
  memset(q, 0, sizeof *q);
  q->nattrs = (int)(u8(b) % 4);
  for (int i = 0; i < q->nattrs; i++) attrs[i] = attr_index(b, nattrs);
  q->attrs = attrs;
  if ((u8(b) & 3) == 0 && g_nwhere < MAXW) {
    assoc_where *root = &g_where[g_nwhere++];
    valid_where(b, root, nattrs, 1);
    q->where = root;
  }
  q->norder = (int)(u8(b) % 3);
  for (int i = 0; i < q->norder; i++) {
    order[i].attr = attr_index(b, nattrs);
    order[i].desc = (int)(u8(b) % 3);
  }
  q->order = order;
  unsigned l = u8(b) % 8;
  q->limit = l == 0 ? 1 : l == 1 ? (int64_t)u8(b) : l == 2 ? (int64_t)u64(b) : -1;
  q->offset = (u8(b) & 3) == 0 ? (int64_t)(u8(b) % 4) : 0;
  q->with_deleted = (u8(b) & 15) == 15 ? 2 : (int)(u8(b) & 1);
}

/* Include nodes under a node of model m, laid out contiguously. */
static void include_kids(in *b, const eager_env *e, const assoc_model *m, int depth,
                         const assoc_include **kids, int *nkids) {
  int nk = (int)(u8(b) % 3);
  if (depth > 3 || g_ninc + nk > MAXINC || assoc_model_nassocs(m) == 0) nk = 0;
  assoc_include *k = &g_inc[g_ninc];
  int base = g_ninc;
  g_ninc += nk;
  for (int i = 0; i < nk; i++) {
    int slot = base + i;
    assoc_include *n = &k[i];
    memset(n, 0, sizeof *n);
    int na = assoc_model_nassocs(m);
    unsigned c = u8(b);
    if (c == 0xff || na == 0) {
      /* an association of another model (or none): must be refused */
      const assoc_model *other = (c & 1) ? e->C : e->D;
      n->assoc = (c == 0xff && assoc_model_nassocs(e->B) > 0) ? assoc_model_assoc(e->B, 0)
                 : assoc_model_nassocs(other) > 0 ? assoc_model_assoc(other, 0) : NULL;
    } else {
      n->assoc = assoc_model_assoc(m, (int)(c % (unsigned)na));
    }
    const assoc_model *t = n->assoc ? assoc_assoc_target(n->assoc) : m;
    if (u8(b) & 1) {
      random_select(b, &g_ireq[slot], g_iattrs[slot], g_iorder[slot], assoc_model_nattrs(t));
      n->req = &g_ireq[slot];
    }
    unsigned rq = u8(b) % 16;
    n->required = rq < 8 ? -1 : rq < 11 ? 0 : rq < 15 ? 1 : 2; /* 2: not a boolean */
    n->separate = (int)(u8(b) % 4) == 0;
    if (n->separate && n->assoc && (u8(b) & 7) != 0) /* mostly where it applies */
      n->separate = assoc_assoc_kind(n->assoc) == ASSOC_HAS_MANY ||
                    assoc_assoc_kind(n->assoc) == ASSOC_BELONGS_TO_MANY;
    if (n->assoc && assoc_assoc_through(n->assoc) && (u8(b) & 1)) {
      const assoc_model *th = assoc_assoc_through(n->assoc);
      g_thr[slot].nattrs = (int)(u8(b) % 4) - 1;
      for (int j = 0; j < g_thr[slot].nattrs && j < 4; j++)
        g_iattrs[slot][j] = attr_index(b, assoc_model_nattrs(th));
      g_thr[slot].attrs = g_iattrs[slot];
      g_thr[slot].where = NULL;
      if ((u8(b) & 1) && g_nwhere < MAXW) {
        assoc_where *w = &g_where[g_nwhere++];
        valid_where(b, w, assoc_model_nattrs(th), 2);
        g_thr[slot].where = w;
      }
      n->through = &g_thr[slot];
    }
    include_kids(b, e, t, depth + 1, &n->kids, &n->nkids);
  }
  *kids = nk ? k : NULL;
  *nkids = nk;
}

static void check_eager_sql(sqlite3 *db, const char *sql, int stmt) {
  char msg[512];
  assoc_sql fake;
  memset(&fake, 0, sizeof fake);
  fake.text = (char *)sql;
  for (const char *p = sql; *p; p++)
    if (is_marker((unsigned char)*p)) {
      snprintf(msg, sizeof msg, "eager statement %d: byte 0x%02x of a value", stmt,
               (unsigned char)*p);
      fail("a value byte is in eager SQL", &fake, msg);
    }
  sqlite3_stmt *st = NULL;
  const char *tail = NULL;
  if (sqlite3_prepare_v2(db, sql, -1, &st, &tail) != SQLITE_OK) {
    snprintf(msg, sizeof msg, "eager statement %d: %s", stmt, sqlite3_errmsg(db));
    fail("an eager statement does not prepare", &fake, msg);
  }
  if (st == NULL || tail == NULL || *tail != '\0')
    fail("an eager statement is not exactly one statement", &fake, NULL);
  if (sqlite3_bind_parameter_count(st) != count_placeholders(sql)) {
    snprintf(msg, sizeof msg, "eager statement %d: %d parameters, %d placeholders", stmt,
             sqlite3_bind_parameter_count(st), count_placeholders(sql));
    fail("eager statement: parameter count differs from its placeholders", &fake, msg);
  }
  sqlite3_finalize(st);
}

static void eager_phase(assoc_db *adb, sqlite3 *db, in *b) {
  eager_env e;
  char msg[600];
  if (!eager_setup(adb, db, b, &e)) return;
  g_ninc = 0;
  assoc_select root;
  int rattrs[4];
  assoc_order rorder[3];
  random_select(b, &root, rattrs, rorder, assoc_model_nattrs(e.A));
  const assoc_include *inc;
  int ninc;
  include_kids(b, &e, e.A, 0, &inc, &ninc);
  assoc_eager_order eo[3];
  unsigned no = u8(b) % 8;
  int neo = no < 5 ? 0 : no < 7 ? 1 : 2;
  for (int i = 0; i < neo; i++) {
    eo[i].node = (int)(u8(b) % (unsigned)(g_ninc + 2)) - (u8(b) == 0xff); /* up to one past */
    eo[i].attr = attr_index(b, 5);
    eo[i].desc = (int)(u8(b) & 1);
    eo[i].junction = (int)(u8(b) % 4 == 0);
  }
  assoc_result *r = NULL;
  int rc = assoc_find_all(adb, e.A, &root, inc, ninc, eo, neo, &r);
  if (rc != ASSOC_OK && rc != ASSOC_MISUSE) {
    snprintf(msg, sizeof msg, "assoc_find_all: code %d: %s\n  sql: %s", rc, assoc_errmsg(adb),
             assoc_errsql(adb) ? assoc_errsql(adb) : "(none)");
    fail("eager load failed with an SQLite error", NULL, msg);
  }
  if (rc == ASSOC_OK) {
    int nn = assoc_result_nnodes(r);
    for (int node = 1; node < nn; node++) {
      int parent = assoc_result_parent(r, node);
      if (parent < 0 || parent >= node) fail("eager: a node's parent is not before it", NULL, NULL);
      int64_t prows = assoc_result_nrows(r, parent);
      for (int64_t row = 0; row < assoc_result_nrows(r, node); row++) {
        int64_t pr = assoc_result_parent_row(r, node, row);
        if (pr < 0 || pr >= prows) fail("eager: a row's parent row does not exist", NULL, NULL);
      }
    }
    int ns = assoc_result_nstatements(r);
    for (int stmt = -1; stmt < ns; stmt++) {
      char *sql = NULL;
      int src = assoc_eager_sql(adb, e.A, &root, inc, ninc, eo, neo, stmt, &sql);
      if (src == ASSOC_OK && sql) check_eager_sql(db, sql, stmt);
      else if (src != ASSOC_MISUSE) {
        snprintf(msg, sizeof msg, "assoc_eager_sql(%d): code %d: %s", stmt, src, assoc_errmsg(adb));
        fail("assoc_eager_sql failed after a successful load", NULL, msg);
      }
      free(sql);
    }
  }
  assoc_result_free(r);
  int64_t cnt = -1;
  rc = assoc_count_all(adb, e.A, &root, inc, ninc, &cnt);
  if (rc != ASSOC_OK && rc != ASSOC_MISUSE) {
    snprintf(msg, sizeof msg, "assoc_count_all: code %d: %s\n  sql: %s", rc, assoc_errmsg(adb),
             assoc_errsql(adb) ? assoc_errsql(adb) : "(none)");
    fail("eager count failed with an SQLite error", NULL, msg);
  }
}

/* ---- the target ------------------------------------------------------------ */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  in b = {data, size};
  assoc_attr attrs[10];
  assoc_model_def def;
  assoc_db *adb = NULL;
  assoc_model *m = NULL;
  sqlite3 *db = NULL;
  assoc_sql s;
  char msg[512];

  g_pool_used = 0;
  g_nvals = 0;
  g_nwhere = 0;

  memset(&def, 0, sizeof def);
  def.flags = u8(&b) & 7;
  def.name = ident(&b, (u8(&b) & 63) == 0);
  def.table = (u8(&b) & 1) ? ident(&b, (u8(&b) & 63) == 0) : NULL;
  def.nattrs = 1 + (int)(u8(&b) % 8);
  def.attrs = attrs;
  for (int i = 0; i < def.nattrs; i++) {
    assoc_attr *a = &attrs[i];
    memset(a, 0, sizeof *a);
    a->name = ident(&b, (u8(&b) & 63) == 0);
    a->column = (u8(&b) & 3) == 0 ? ident(&b, 0) : NULL;
    unsigned t = u8(&b);
    a->type = (assoc_type)(t % ASSOC_T__COUNT);
    if (t == 0xff) a->type = (assoc_type)ASSOC_T__COUNT;
    a->length = (u8(&b) & 3) == 0 ? (int)u8(&b) : 0;
    a->flags = u8(&b) & 0x1f;
    if (a->flags & ASSOC_ATTR_DEFAULT) {
      value(&b, &a->dflt);
      if (a->dflt.type == ASSOC_V_TEXT || a->dflt.type == ASSOC_V_BLOB) {
        /* DDL defaults are SQL literals: printable text with quotes */
        char *p = (char *)a->dflt.u.s.p;
        a->dflt.type = ASSOC_V_TEXT;
        for (size_t k = 0; p && k < a->dflt.u.s.n; k++) p[k] = (char)(0x20 + (unsigned char)p[k] % 95);
      }
    }
  }
  if (assoc_open(":memory:", NULL, &adb) != ASSOC_OK) {
    assoc_close(adb);
    return 0;
  }
  if (assoc_define(adb, &def, &m) != ASSOC_OK) {
    if (assoc_errcode(adb) != ASSOC_MISUSE) {
      snprintf(msg, sizeof msg, "assoc_define: code %d: %s", assoc_errcode(adb), assoc_errmsg(adb));
      fail("define failed with a code other than MISUSE", NULL, msg);
    }
    assoc_close(adb);
    return 0;
  }
  g_table = assoc_model_table(m);

  /* the table, on a raw connection configured like assoc_open's */
  if (sqlite3_open(":memory:", &db) != SQLITE_OK) abort();
  sqlite3_db_config(db, SQLITE_DBCONFIG_DQS_DML, 0, (int *)0);
  sqlite3_db_config(db, SQLITE_DBCONFIG_DQS_DDL, 0, (int *)0);
  assoc_sql_init(&s);
  int rc = assoc_build_create_table(m, &s);
  if (rc != ASSOC_OK) {
    snprintf(msg, sizeof msg, "create table: %d %s", rc, s.errmsg);
    fail("create table of a defined model refused", &s, msg);
  }
  {
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    if (count_placeholders(s.text) != 0 || s.nbinds != 0)
      fail("create table has placeholders", &s, NULL);
    if (sqlite3_prepare_v2(db, s.text, (int)s.len + 1, &st, &tail) != SQLITE_OK)
      fail("create table does not prepare", &s, sqlite3_errmsg(db));
    if (tail == NULL || *tail != '\0') fail("create table: non-empty tail", &s, NULL);
    if (sqlite3_step(st) != SQLITE_DONE) fail("create table fails", &s, sqlite3_errmsg(db));
    sqlite3_finalize(st);
  }
  assoc_sql_free(&s);
  /* the columns, byte for byte */
  {
    sqlite3_stmt *st = NULL;
    int i = 0;
    if (sqlite3_prepare_v2(db, "SELECT name FROM pragma_table_info(?)", -1, &st, NULL) != SQLITE_OK)
      abort();
    sqlite3_bind_text(st, 1, g_table, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) {
      const char *col = (const char *)sqlite3_column_text(st, 0);
      if (i >= assoc_model_nattrs(m) || strcmp(col, assoc_model_attr(m, i)->column) != 0) {
        snprintf(msg, sizeof msg, "column %d is \"%s\", the model says \"%s\"", i, col,
                 i < assoc_model_nattrs(m) ? assoc_model_attr(m, i)->column : "(none)");
        fail("created columns differ from the model", NULL, msg);
      }
      i++;
    }
    if (i != assoc_model_nattrs(m)) fail("created column count differs", NULL, NULL);
    sqlite3_finalize(st);
  }
  sqlite3_set_authorizer(db, authorize, NULL);

  int na = assoc_model_nattrs(m);
  /* select / count */
  int sel_attrs[8];
  assoc_order order[6];
  assoc_select q;
  memset(&q, 0, sizeof q);
  q.nattrs = (int)(u8(&b) % 5);
  for (int i = 0; i < q.nattrs; i++) sel_attrs[i] = attr_index(&b, na);
  q.attrs = sel_attrs;
  if (u8(&b) & 1) {
    assoc_where *root = &g_where[g_nwhere++]; /* reserved before its kids */
    where(&b, root, na, 0);
    q.where = root;
  }
  q.norder = (int)(u8(&b) % 5);
  for (int i = 0; i < q.norder; i++) {
    order[i].attr = attr_index(&b, na);
    order[i].desc = (int)(u8(&b) % 3); /* 2: not 0/1 */
  }
  q.order = order;
  switch (u8(&b) % 4) {
  case 0: q.limit = -1; break;
  case 1: q.limit = (int64_t)u8(&b); break;
  case 2: q.limit = (int64_t)u64(&b); break;
  default: q.limit = 0;
  }
  q.offset = (u8(&b) & 1) ? (int64_t)u64(&b) : 0;
  q.with_deleted = (int)(u8(&b) % 3);

  assoc_sql_init(&s);
  rc = assoc_build_select(m, &q, &s);
  check_stmt(db, "select", rc, &s, 0);
  assoc_sql_free(&s);
  assoc_sql_init(&s);
  rc = assoc_build_count(m, &q, &s);
  check_stmt(db, "count", rc, &s, 0);
  assoc_sql_free(&s);

  /* insert / update / delete */
  int wattrs[8];
  int nw = (int)(u8(&b) % 6);
  for (int i = 0; i < nw; i++) wattrs[i] = attr_index(&b, na);
  assoc_value *wv = values(&b, nw);
  if (wv == NULL) nw = 0;
  assoc_sql_init(&s);
  rc = assoc_build_insert(m, wattrs, wv, nw, &s);
  check_stmt(db, "insert", rc, &s, 0);
  assoc_sql_free(&s);
  assoc_sql_init(&s);
  rc = assoc_build_update(m, wattrs, wv, nw, q.where, q.with_deleted, &s);
  check_stmt(db, "update", rc, &s, 0);
  assoc_sql_free(&s);
  assoc_sql_init(&s);
  rc = assoc_build_delete(m, q.where, &s);
  check_stmt(db, "delete", rc, &s, 0);
  /* a builder is reusable after a failure: build again into the same one */
  assoc_sql_free(&s);
  assoc_sql_init(&s);
  rc = assoc_build_select(m, &q, &s);
  check_stmt(db, "select (again)", rc, &s, 0);
  assoc_sql_free(&s);

  sqlite3_set_authorizer(db, NULL, NULL);
  if (u8(&b) & 1) eager_phase(adb, db, &b); /* half the inputs: it costs ten times more */

  sqlite3_close(db);
  assoc_close(adb);
  return 0;
}
