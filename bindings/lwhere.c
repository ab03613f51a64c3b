/*
 * lwhere.c -- Lua where/request tables -> assoc_where / assoc_select.
 *
 * A where table maps attribute names and core.Op userdata to values (see
 * doc/core-module.md).  The tree is built in GC-owned scratch memory
 * (lconv_alloc); values are converted by the attribute's type (lv_typed).
 * Keys of each level are visited in a fixed order -- attribute names sorted
 * by name, then operators by code -- so that the same where shape always
 * gives the same SQL text, whatever order `next` happens to use: the
 * statement cache depends on it.  Every error is raised before the core is
 * called: AssocError for a bad key or operand shape, ValidationError (from
 * lv_typed) for a value of the wrong type.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lassoc.h"

#define WHERE_MAXDEPTH 64

typedef struct wentry {
  int isop;       /* 0: attribute key, 1: operator key */
  int code;       /* attribute index or operator */
  const char *name;
  size_t len;
} wentry;

static int wentry_cmp(const void *a, const void *b) {
  const wentry *x = a, *y = b;
  if (x->isop != y->isop) return x->isop - y->isop;
  if (x->isop) return x->code - y->code;
  size_t n = x->len < y->len ? x->len : y->len;
  int r = memcmp(x->name, y->name, n);
  if (r) return r;
  return (x->len > y->len) - (x->len < y->len);
}

/* The operator code of an Op userdata at idx, or 0. */
static int op_of(lua_State *L, int idx) {
  int *p = luaL_testudata(L, idx, LASSOC_OP);
  return p ? *p : 0;
}

static const char *mname(lconv *c) { return assoc_model_name(c->m); }

static const char *aname(lconv *c, int attr) {
  return assoc_model_attr(c->m, attr)->name;
}

/* Shape of the table at idx: number of keys, of Op keys, and whether it is
 * a sequence 1..n (n >= 1). */
static void shape(lua_State *L, int idx, lua_Unsigned *nkeys, int *nops,
                  int *isseq) {
  lua_Unsigned len = lua_rawlen(L, idx), count = 0;
  int seq = 1;
  *nops = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    count++;
    if (lua_type(L, -1) == LUA_TUSERDATA && op_of(L, -1)) (*nops)++;
    if (seq) {
      if (!lua_isinteger(L, -1)) {
        seq = 0;
      } else {
        lua_Integer k = lua_tointeger(L, -1);
        if (k < 1 || (lua_Unsigned)k > len) seq = 0;
      }
    }
  }
  *nkeys = count;
  *isseq = seq && count == len && len > 0;
}

static void leaf(assoc_where *w, int op, int attr, const assoc_value *v,
                 int n) {
  w->op = (assoc_op)op;
  w->attr = attr;
  w->nvalues = n;
  w->values = v;
  w->nkids = 0;
  w->kids = NULL;
}

static void group(assoc_where *w, int op, const assoc_where *kids, int n) {
  w->op = (assoc_op)op;
  w->attr = -1;
  w->nvalues = 0;
  w->values = NULL;
  w->nkids = n;
  w->kids = kids;
}

static void check_depth(lconv *c, int depth) {
  if (depth > WHERE_MAXDEPTH)
    lerr_raise(c->L, c->box, ASSOC_MISUSE,
               "where of model %s is nested deeper than %d levels", mname(c),
               WHERE_MAXDEPTH);
  luaL_checkstack(c->L, 12, "where nested too deeply");
}

static int shape_error(lconv *c, int op, int attr, const char *want) {
  return lerr_raise(c->L, c->box, ASSOC_MISUSE,
                    "Op.%s on %s.%s in where expects %s", lassoc_op_name(op),
                    mname(c), aname(c, attr), want);
}

/* The elements 1..n of the sequence at idx, converted for attr.  null
 * elements are allowed when allow_null. */
static assoc_value *seq_values(lconv *c, int idx, int attr, lua_Integer n,
                               int op, int allow_null) {
  lua_State *L = c->L;
  assoc_value *v = lconv_alloc(c, (size_t)(n ? n : 1) * sizeof *v);
  for (lua_Integer i = 1; i <= n; i++) {
    int t = lua_rawgeti(L, idx, i);
    if ((t == LUA_TTABLE &&
         assoc_model_attr(c->m, attr)->type != ASSOC_T_JSON) ||
        (t == LUA_TUSERDATA && op_of(L, -1)))
      shape_error(c, op, attr, "an array of values");
    if (!allow_null && lv_isnull(c, -1))
      shape_error(c, op, attr, "two non-null values");
    lv_typed(c, -1, attr, &v[i - 1]);
    lua_pop(L, 1);
  }
  return v;
}

static void attr_value(lconv *c, int attr, int vidx, int depth,
                       assoc_where *out);

/* One operator applied to attribute attr, operand at vidx. */
static void attr_op(lconv *c, int attr, int op, int vidx, int depth,
                    assoc_where *out) {
  lua_State *L = c->L;
  int t = lua_type(L, vidx);
  int isnull = lv_isnull(c, vidx);
  int isop = t == LUA_TUSERDATA && op_of(L, vidx);
  assoc_value *v;
  check_depth(c, depth);
  switch (op) {
  case ASSOC_OP_EQ:
  case ASSOC_OP_NE:
  case ASSOC_OP_GT:
  case ASSOC_OP_GTE:
  case ASSOC_OP_LT:
  case ASSOC_OP_LTE:
    if (t == LUA_TTABLE || isop || t == LUA_TNIL)
      shape_error(c, op, attr, "a single value");
    if (isnull && op != ASSOC_OP_EQ && op != ASSOC_OP_NE)
      shape_error(c, op, attr, "a non-null value");
    v = lconv_alloc(c, sizeof *v);
    lv_typed(c, vidx, attr, v);
    leaf(out, op, attr, v, 1);
    return;
  case ASSOC_OP_IN:
  case ASSOC_OP_NOTIN: {
    lua_Unsigned nkeys;
    int nops, isseq;
    if (t != LUA_TTABLE) shape_error(c, op, attr, "an array of values");
    shape(L, vidx, &nkeys, &nops, &isseq);
    if (nkeys > 0 && !isseq) shape_error(c, op, attr, "an array of values");
    lua_Integer n = (lua_Integer)nkeys;
    v = seq_values(c, vidx, attr, n, op, 1);
    leaf(out, op, attr, v, (int)n);
    return;
  }
  case ASSOC_OP_BETWEEN:
  case ASSOC_OP_NOTBETWEEN: {
    lua_Unsigned nkeys;
    int nops, isseq;
    if (t != LUA_TTABLE) shape_error(c, op, attr, "an array of two values");
    shape(L, vidx, &nkeys, &nops, &isseq);
    if (!isseq || nkeys != 2) shape_error(c, op, attr, "an array of two values");
    v = seq_values(c, vidx, attr, 2, op, 0);
    leaf(out, op, attr, v, 2);
    return;
  }
  case ASSOC_OP_LIKE:
  case ASSOC_OP_NOTLIKE:
  case ASSOC_OP_ILIKE:
  case ASSOC_OP_STARTSWITH:
  case ASSOC_OP_ENDSWITH:
  case ASSOC_OP_SUBSTRING:
    v = lconv_alloc(c, sizeof *v);
    if (!lv_text(c, vidx, v)) shape_error(c, op, attr, "a string");
    leaf(out, op, attr, v, 1);
    return;
  case ASSOC_OP_IS:
  case ASSOC_OP_NOT:
    v = lconv_alloc(c, sizeof *v);
    if (isnull) {
      v->type = ASSOC_V_NULL;
    } else if (t == LUA_TBOOLEAN) {
      v->type = ASSOC_V_INT;
      v->u.i = lua_toboolean(L, vidx);
    } else if (op == ASSOC_OP_NOT && t != LUA_TTABLE && !isop &&
               t != LUA_TNIL) {
      lv_typed(c, vidx, attr, v);
    } else {
      shape_error(c, op, attr,
                  op == ASSOC_OP_IS ? "core.null or a boolean"
                                    : "core.null, a boolean or a value");
    }
    leaf(out, op, attr, v, 1);
    return;
  case ASSOC_OP_AND:
  case ASSOC_OP_OR: {
    lua_Unsigned nkeys;
    int nops, isseq;
    if (t != LUA_TTABLE)
      shape_error(c, op, attr, "an array of values or a table of operators");
    shape(L, vidx, &nkeys, &nops, &isseq);
    assoc_where *kids;
    int n = 0;
    if (isseq) {
      kids = lconv_alloc(c, (size_t)nkeys * sizeof *kids);
      for (lua_Integer i = 1; i <= (lua_Integer)nkeys; i++) {
        lua_rawgeti(L, vidx, i);
        attr_value(c, attr, lua_gettop(L), depth + 1, &kids[n++]);
        lua_pop(L, 1);
      }
    } else if (nkeys == 0 || (lua_Unsigned)nops == nkeys) {
      kids = lconv_alloc(c, (size_t)(nkeys ? nkeys : 1) * sizeof *kids);
      for (int o = 1; o < ASSOC_OP__COUNT; o++) {
        lassoc_push_op(L, o);
        if (lua_rawget(L, vidx) != LUA_TNIL)
          attr_op(c, attr, o, lua_gettop(L), depth + 1, &kids[n++]);
        lua_pop(L, 1);
      }
    } else {
      shape_error(c, op, attr, "an array of values or a table of operators");
      return;
    }
    group(out, op, kids, n);
    return;
  }
  default:
    lerr_raise(L, c->box, ASSOC_MISUSE, "unknown operator in where of %s",
               mname(c));
  }
}

/* The value at vidx of attribute key attr. */
static void attr_value(lconv *c, int attr, int vidx, int depth,
                       assoc_where *out) {
  lua_State *L = c->L;
  int t = lua_type(L, vidx);
  check_depth(c, depth);
  if (t == LUA_TTABLE) {
    lua_Unsigned nkeys;
    int nops, isseq;
    shape(L, vidx, &nkeys, &nops, &isseq);
    if (nops > 0) {
      if ((lua_Unsigned)nops != nkeys)
        lerr_raise(L, c->box, ASSOC_MISUSE,
                   "the operator table of %s.%s in where mixes operators "
                   "with other keys (operators must be core.Op values)",
                   mname(c), aname(c, attr));
      if (nops == 1) {
        lua_pushnil(L);
        lua_next(L, vidx);
        attr_op(c, attr, op_of(L, -2), lua_gettop(L), depth + 1, out);
        lua_pop(L, 2);
        return;
      }
      assoc_where *kids = lconv_alloc(c, (size_t)nops * sizeof *kids);
      int n = 0;
      for (int o = 1; o < ASSOC_OP__COUNT; o++) {
        lassoc_push_op(L, o);
        if (lua_rawget(L, vidx) != LUA_TNIL)
          attr_op(c, attr, o, lua_gettop(L), depth + 1, &kids[n++]);
        lua_pop(L, 1);
      }
      group(out, ASSOC_OP_AND, kids, n);
      return;
    }
    if (nkeys > 0 && !isseq)
      lerr_raise(L, c->box, ASSOC_MISUSE,
                 "the value of %s.%s in where is a table that is neither an "
                 "array (IN) nor a table of core.Op operators",
                 mname(c), aname(c, attr));
    assoc_value *v = seq_values(c, vidx, attr, (lua_Integer)nkeys,
                                ASSOC_OP_IN, 1);
    leaf(out, ASSOC_OP_IN, attr, v, (int)nkeys);
    return;
  }
  if (t == LUA_TUSERDATA && op_of(L, vidx))
    lerr_raise(L, c->box, ASSOC_MISUSE,
               "%s.%s in where: an operator (Op.%s) is not a value; write "
               "{ [Op.x] = value }",
               mname(c), aname(c, attr), lassoc_op_name(op_of(L, vidx)));
  assoc_value *v = lconv_alloc(c, sizeof *v);
  lv_typed(c, vidx, attr, v);
  leaf(out, ASSOC_OP_EQ, attr, v, 1);
}

static void where_table(lconv *c, int idx, int gop, int depth,
                        assoc_where *out);

/* A where-level operator (and/or/not) with operand at vidx. */
static void where_op(lconv *c, int op, int vidx, int depth,
                     assoc_where *out) {
  lua_State *L = c->L;
  check_depth(c, depth);
  if (lua_type(L, vidx) != LUA_TTABLE)
    lerr_raise(L, c->box, ASSOC_MISUSE,
               "Op.%s in where of %s expects %s (got %s)", lassoc_op_name(op),
               mname(c),
               op == ASSOC_OP_NOT ? "a where table"
                                  : "an array of where tables",
               luaL_typename(L, vidx));
  if (op == ASSOC_OP_NOT) {
    where_table(c, vidx, ASSOC_OP_NOT, depth + 1, out);
    return;
  }
  lua_Unsigned nkeys;
  int nops, isseq;
  shape(L, vidx, &nkeys, &nops, &isseq);
  if (!isseq) { /* one where table whose entries are combined */
    where_table(c, vidx, op, depth + 1, out);
    return;
  }
  assoc_where *kids = lconv_alloc(c, (size_t)nkeys * sizeof *kids);
  for (lua_Integer i = 1; i <= (lua_Integer)nkeys; i++) {
    if (lua_rawgeti(L, vidx, i) != LUA_TTABLE)
      lerr_raise(L, c->box, ASSOC_MISUSE,
                 "Op.%s in where of %s expects an array of where tables "
                 "(element %d is a %s)",
                 lassoc_op_name(op), mname(c), (int)i,
                 luaL_typename(L, -1));
    where_table(c, lua_gettop(L), ASSOC_OP_AND, depth + 1, &kids[i - 1]);
    lua_pop(L, 1);
  }
  group(out, op, kids, (int)nkeys);
}

/* The where table at idx, its entries combined with gop (AND, OR, NOT). */
static void where_table(lconv *c, int idx, int gop, int depth,
                        assoc_where *out) {
  lua_State *L = c->L;
  check_depth(c, depth);
  int n = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    n++;
  }
  wentry *e = lconv_alloc(c, (size_t)(n ? n : 1) * sizeof *e);
  int i = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    int kt = lua_type(L, -1);
    if (kt == LUA_TSTRING) {
      const char *k = lua_tolstring(L, -1, &e[i].len);
      int attr = assoc_model_attr_index(c->m, k);
      if (attr < 0 || strlen(k) != e[i].len)
        lerr_raise(L, c->box, ASSOC_MISUSE,
                   "unknown attribute '%s' of model %s in where", k,
                   mname(c));
      e[i].isop = 0;
      e[i].code = attr;
      e[i].name = k;
    } else if (kt == LUA_TUSERDATA && op_of(L, -1)) {
      int op = op_of(L, -1);
      if (op != ASSOC_OP_AND && op != ASSOC_OP_OR && op != ASSOC_OP_NOT)
        lerr_raise(L, c->box, ASSOC_MISUSE,
                   "Op.%s cannot be used as a key of a where table of %s "
                   "(only Op.and, Op.or and Op.not; put it under an "
                   "attribute: { name = { [Op.%s] = value } })",
                   lassoc_op_name(op), mname(c), lassoc_op_name(op));
      e[i].isop = 1;
      e[i].code = op;
      e[i].name = NULL;
      e[i].len = 0;
    } else {
      lerr_raise(L, c->box, ASSOC_MISUSE,
                 "invalid key of type %s in where of model %s (keys are "
                 "attribute names or core.Op values)",
                 luaL_typename(L, -1), mname(c));
    }
    i++;
  }
  qsort(e, (size_t)n, sizeof *e, wentry_cmp);
  assoc_where *kids = lconv_alloc(c, (size_t)(n ? n : 1) * sizeof *kids);
  for (i = 0; i < n; i++) {
    if (e[i].isop)
      lassoc_push_op(L, e[i].code);
    else
      lua_pushlstring(L, e[i].name, e[i].len);
    lua_rawget(L, idx);
    int vidx = lua_gettop(L);
    if (e[i].isop)
      where_op(c, e[i].code, vidx, depth + 1, &kids[i]);
    else
      attr_value(c, e[i].code, vidx, depth + 1, &kids[i]);
    lua_pop(L, 1);
  }
  if (n == 1 && (gop == ASSOC_OP_AND || gop == ASSOC_OP_OR)) {
    *out = kids[0];
    return;
  }
  group(out, gop, kids, n);
}

void lw_where(lconv *c, int idx, const assoc_where **out) {
  lua_State *L = c->L;
  *out = NULL;
  if (lua_isnoneornil(L, idx)) return;
  idx = lua_absindex(L, idx);
  if (lua_type(L, idx) != LUA_TTABLE)
    lerr_raise(L, c->box, ASSOC_MISUSE,
               "where of model %s must be a table (got %s)", mname(c),
               luaL_typename(L, idx));
  assoc_where *w = lconv_alloc(c, sizeof *w);
  where_table(c, idx, ASSOC_OP_AND, 1, w);
  if (w->op == ASSOC_OP_AND && w->attr < 0 && w->nkids == 0) return;
  *out = w;
}

/* limit/offset: a non-negative integer (integral floats accepted). */
static int64_t count_opt(lconv *c, int idx, const char *opt,
                         const char *method) {
  lua_State *L = c->L;
  if (lua_type(L, idx) == LUA_TNUMBER) {
    if (lua_isinteger(L, idx)) {
      lua_Integer i = lua_tointeger(L, idx);
      if (i >= 0) return (int64_t)i;
    } else {
      double d = lua_tonumber(L, idx);
      if (isfinite(d) && d >= 0 && d == floor(d) && d < 9.2e18)
        return (int64_t)d;
    }
  }
  if (lua_type(L, idx) == LUA_TNUMBER)
    lerr_raise(L, c->box, ASSOC_MISUSE,
               "%s of %s:%s must be a non-negative integer (got %s)", opt,
               mname(c), method, lua_tostring(L, idx));
  lerr_raise(L, c->box, ASSOC_MISUSE,
             "%s of %s:%s must be a non-negative integer (got %s)", opt,
             mname(c), method, luaL_typename(L, idx));
  return 0;
}

/* The attribute named by the string at idx, or raises naming the option. */
static int attr_named(lconv *c, int idx, const char *opt) {
  lua_State *L = c->L;
  if (lua_type(L, idx) != LUA_TSTRING)
    lerr_raise(L, c->box, ASSOC_MISUSE,
               "%s of model %s: expected an attribute name (got %s)", opt,
               mname(c), luaL_typename(L, idx));
  size_t n;
  const char *s = lua_tolstring(L, idx, &n);
  int a = assoc_model_attr_index(c->m, s);
  if (a < 0 || strlen(s) != n)
    lerr_raise(L, c->box, ASSOC_MISUSE,
               "unknown attribute '%s' of model %s in %s", s, mname(c), opt);
  return a;
}

static const char *const select_opts[] = {"where", "attributes", "order",
                                          "limit", "offset", "withDeleted",
                                          NULL};

void lw_select(lconv *c, int idx, assoc_select *req, const char *method) {
  lua_State *L = c->L;
  memset(req, 0, sizeof *req);
  req->limit = -1;
  req->offset = 0;
  if (lua_isnoneornil(L, idx)) return;
  idx = lua_absindex(L, idx);
  if (lua_type(L, idx) != LUA_TTABLE)
    lerr_raise(L, c->box, ASSOC_MISUSE,
               "%s:%s expects a request table (got %s)", mname(c), method,
               luaL_typename(L, idx));
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    int ok = 0;
    if (lua_type(L, -1) == LUA_TSTRING) {
      const char *k = lua_tostring(L, -1);
      for (int i = 0; select_opts[i]; i++)
        if (strcmp(k, select_opts[i]) == 0) ok = 1;
      if (!ok)
        lerr_raise(L, c->box, ASSOC_MISUSE, "unknown option '%s' for %s:%s",
                   k, mname(c), method);
    } else {
      lerr_raise(L, c->box, ASSOC_MISUSE,
                 "invalid option key of type %s for %s:%s",
                 luaL_typename(L, -1), mname(c), method);
    }
  }
  /* each option value stays on the stack (anchored) */
  lua_getfield(L, idx, "where");
  lw_where(c, -1, &req->where);

  if (lua_getfield(L, idx, "attributes") != LUA_TNIL) {
    int t = lua_gettop(L);
    if (lua_type(L, t) != LUA_TTABLE)
      lerr_raise(L, c->box, ASSOC_MISUSE,
                 "attributes of %s:%s must be an array of names (got %s)",
                 mname(c), method, luaL_typename(L, t));
    lua_Integer n = (lua_Integer)lua_rawlen(L, t);
    int nattrs = assoc_model_nattrs(c->m);
    int *attrs = lconv_alloc(c, (size_t)(n ? n : 1) * sizeof(int));
    unsigned char *seen = lconv_alloc(c, (size_t)nattrs + 1);
    memset(seen, 0, (size_t)nattrs + 1);
    int k = 0;
    for (lua_Integer i = 1; i <= n; i++) {
      lua_rawgeti(L, t, i);
      int a = attr_named(c, -1, "attributes");
      lua_pop(L, 1);
      if (!seen[a]) {
        seen[a] = 1;
        attrs[k++] = a;
      }
    }
    req->attrs = attrs;
    req->nattrs = k;
  }

  if (lua_getfield(L, idx, "order") != LUA_TNIL) {
    int t = lua_gettop(L);
    if (lua_type(L, t) != LUA_TTABLE)
      lerr_raise(L, c->box, ASSOC_MISUSE,
                 "order of %s:%s must be an array (got %s)", mname(c), method,
                 luaL_typename(L, t));
    lua_Integer n = (lua_Integer)lua_rawlen(L, t);
    assoc_order *o = lconv_alloc(c, (size_t)(n ? n : 1) * sizeof *o);
    for (lua_Integer i = 1; i <= n; i++) {
      int et = lua_rawgeti(L, t, i);
      if (et == LUA_TSTRING) {
        o[i - 1].attr = attr_named(c, -1, "order");
        o[i - 1].desc = 0;
      } else if (et == LUA_TTABLE) {
        int e = lua_gettop(L);
        lua_rawgeti(L, e, 1);
        o[i - 1].attr = attr_named(c, -1, "order");
        int dt = lua_rawgeti(L, e, 2);
        o[i - 1].desc = 0;
        if (dt == LUA_TSTRING) {
          size_t dl;
          const char *d = lua_tolstring(L, -1, &dl);
          char up[5] = {0};
          for (size_t j = 0; j < dl && j < 4; j++)
            up[j] = (char)((d[j] >= 'a' && d[j] <= 'z') ? d[j] - 32 : d[j]);
          if (dl == 4 && strcmp(up, "DESC") == 0)
            o[i - 1].desc = 1;
          else if (!(dl == 3 && strcmp(up, "ASC") == 0))
            lerr_raise(L, c->box, ASSOC_MISUSE,
                       "invalid order direction '%s' for %s.%s (ASC or DESC)",
                       d, mname(c), aname(c, o[i - 1].attr));
        } else if (dt != LUA_TNIL) {
          lerr_raise(L, c->box, ASSOC_MISUSE,
                     "invalid order direction (a %s) for %s.%s (ASC or DESC)",
                     luaL_typename(L, -1), mname(c),
                     aname(c, o[i - 1].attr));
        }
        lua_settop(L, e);
      } else {
        lerr_raise(L, c->box, ASSOC_MISUSE,
                   "order of %s:%s: element %d must be a name or { name, "
                   "\"ASC\"|\"DESC\" } (got %s)",
                   mname(c), method, (int)i, luaL_typename(L, -1));
      }
      lua_pop(L, 1);
    }
    req->order = o;
    req->norder = (int)n;
  }

  if (lua_getfield(L, idx, "limit") != LUA_TNIL)
    req->limit = count_opt(c, -1, "limit", method);
  if (lua_getfield(L, idx, "offset") != LUA_TNIL)
    req->offset = count_opt(c, -1, "offset", method);
  int wt = lua_getfield(L, idx, "withDeleted");
  if (wt != LUA_TNIL && wt != LUA_TBOOLEAN)
    lerr_raise(L, c->box, ASSOC_MISUSE,
               "withDeleted of %s:%s must be a boolean (got %s)", mname(c),
               method, luaL_typename(L, -1));
  req->with_deleted = lua_toboolean(L, -1);
}
