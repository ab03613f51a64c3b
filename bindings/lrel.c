/*
 * lrel.c -- db:associate and the Association userdata (metatable
 * "assoc.Association"): info and the accessors get, count, has, add,
 * remove, set and setOne (doc/associations.md, "Bindings").
 *
 * An Association userdata holds the core's assoc_assoc and its Db box; its
 * user value 1 is the Db userdata, so the Db outlives it.  The core frees
 * associations in assoc_close, so every method first checks that the Db is
 * open (ConnectionError) and then replaces its receiver at stack slot 1 by
 * the Db (the convention of lassoc.h).
 *
 * Errors: everything db:associate raises, and every bad accessor argument
 * (a source or target value of the wrong type for its key, a bad option),
 * is an AssociationError.  Each of these functions runs its body under
 * lua_pcall and renames the error objects raised while it checks its
 * arguments; errors of the statements themselves (a FOREIGN KEY failure,
 * ...) keep their own names, and so do ValidationErrors of through values.
 */
#include <stdlib.h>
#include <math.h>
#include <string.h>

#include "lassoc.h"

#define LASSOC_REL "assoc.Association"

/* ---- error renaming ------------------------------------------------------------ */

typedef struct rphase {
  int rename; /* an error object raised now becomes an AssociationError */
} rphase;

typedef struct lrel {
  const assoc_assoc *a;
  ldb *box;
  rphase *ph; /* the phase of the body running on it (protect) */
} lrel;

/* The phase of the running body: its upvalue, or, when protect called it
 * as a light function, the one recorded in the Association at 1. */
static rphase *phase(lua_State *L) {
  rphase *p = lua_touserdata(L, lua_upvalueindex(1));
  return p ? p : ((lrel *)lua_touserdata(L, 1))->ph;
}

/* Calls body (a C function taking the current arguments) under lua_pcall;
 * renames to AssociationError an error object raised while the body's
 * phase says so (never a ConnectionError).  On an Association (the usual
 * case) the phase is recorded in it, so no closure is made per call. */
static int protect(lua_State *L, lua_CFunction body) {
  rphase ph = {1};
  int n = lua_gettop(L);
  lrel *r = luaL_testudata(L, 1, LASSOC_REL);
  rphase *prev = NULL;
  if (r) {
    prev = r->ph;
    r->ph = &ph;
    lua_pushcfunction(L, body);
  } else {
    lua_pushlightuserdata(L, &ph);
    lua_pushcclosure(L, body, 1);
  }
  lua_insert(L, 1);
  int st = lua_pcall(L, n, LUA_MULTRET, 0);
  if (r) r->ph = prev;
  if (st != LUA_OK) {
    if (ph.rename && lua_type(L, -1) == LUA_TTABLE) {
      int err = lua_gettop(L);
      lua_getfield(L, LUA_REGISTRYINDEX, LASSOC_ERRMT);
      int ours = lua_getmetatable(L, err) && lua_rawequal(L, -1, -2);
      lua_settop(L, err);
      if (ours) {
        lua_getfield(L, err, "name");
        const char *name = lua_tostring(L, -1);
        int keep = name != NULL && strcmp(name, "ConnectionError") == 0;
        lua_pop(L, 1);
        if (!keep) {
          lua_pushliteral(L, "AssociationError");
          lua_setfield(L, err, "name");
          lua_pushinteger(L, ASSOC_MISUSE);
          lua_setfield(L, err, "code");
        }
      }
    }
    return lua_error(L);
  }
  return lua_gettop(L);
}

/* ---- helpers ------------------------------------------------------------------- */

static const char *const kind_names[] = {NULL, "hasOne", "belongsTo",
                                         "hasMany", "belongsToMany"};
static const char *const type_names[] = {NULL, "HasOne", "BelongsTo",
                                         "HasMany", "BelongsToMany"};

/* The Model of this Db at idx. */
static assoc_model *model_arg(lua_State *L, ldb *box, int idx,
                              const char *what) {
  lmodel *mu = luaL_testudata(L, idx, LASSOC_MODEL);
  if (!mu || !mu->m)
    lerr_raise(L, box, ASSOC_MISUSE,
               "db:associate: the %s must be a Model (got %s)", what,
               luaL_typename(L, idx));
  if (mu->box != box)
    lerr_raise(L, box, ASSOC_MISUSE,
               "db:associate: the %s model %s belongs to another Db", what,
               assoc_model_name(mu->m));
  return (assoc_model *)mu->m;
}

/* An optional string option; raises on another type. */
static const char *opt_string(lua_State *L, ldb *box, int t, const char *key) {
  int ty = lua_getfield(L, t, key);
  const char *s = NULL;
  if (ty == LUA_TSTRING) {
    if (lstr_hasnul(L, -1))
      lerr_raise(L, box, ASSOC_MISUSE,
                 "db:associate: %s contains a NUL byte", key);
    s = lua_tostring(L, -1);
  } else if (ty != LUA_TNIL) {
    lerr_raise(L, box, ASSOC_MISUSE,
               "db:associate: %s must be a string (got %s)", key,
               luaL_typename(L, -1));
  }
  lua_pop(L, 1); /* the table keeps the string */
  return s;
}

/* An optional boolean option: -1 when absent. */
static int opt_bool(lua_State *L, ldb *box, int t, const char *key) {
  int ty = lua_getfield(L, t, key), v = -1;
  if (ty == LUA_TBOOLEAN)
    v = lua_toboolean(L, -1);
  else if (ty != LUA_TNIL)
    lerr_raise(L, box, ASSOC_MISUSE,
               "db:associate: %s must be a boolean (got %s)", key,
               luaL_typename(L, -1));
  lua_pop(L, 1);
  return v;
}

static int opt_action(lua_State *L, ldb *box, int t, const char *key) {
  static const char *const names[] = {"CASCADE", "SET NULL", "RESTRICT",
                                      "NO ACTION", "SET DEFAULT"};
  const char *s = opt_string(L, box, t, key);
  if (s == NULL) return ASSOC_FK_DEFAULT;
  for (int i = 0; i < 5; i++) {
    const char *p = s, *q = names[i];
    while (*p && *q) {
      char c = *p >= 'a' && *p <= 'z' ? (char)(*p - 32) : *p;
      if (c != *q) break;
      p++, q++;
    }
    if (*p == 0 && *q == 0) return ASSOC_FK_CASCADE + i;
  }
  lerr_raise(L, box, ASSOC_MISUSE,
             "db:associate: %s must be one of CASCADE, SET NULL, RESTRICT, "
             "NO ACTION, SET DEFAULT (got '%s')",
             key, s);
  return 0;
}

/* "name" or { name = "name" [, allowNull = b] } at field key of t. */
static const char *opt_key(lua_State *L, ldb *box, int t, const char *key,
                           int *allow_null) {
  int ty = lua_getfield(L, t, key);
  const char *s = NULL;
  if (allow_null) *allow_null = -1;
  if (ty == LUA_TSTRING) {
    lua_pop(L, 1);
    return opt_string(L, box, t, key);
  }
  if (ty == LUA_TTABLE) {
    int kt = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, kt)) {
      lua_pop(L, 1);
      const char *k =
          lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
      if (!k || (strcmp(k, "name") != 0 &&
                 !(allow_null && strcmp(k, "allowNull") == 0)))
        lerr_raise(L, box, ASSOC_MISUSE,
                   "db:associate: unknown option '%s' in %s",
                   k ? k : luaL_typename(L, -1), key);
    }
    s = opt_string(L, box, kt, "name");
    if (allow_null) *allow_null = opt_bool(L, box, kt, "allowNull");
    lua_pop(L, 1); /* t keeps the table */
    return s;
  }
  if (ty != LUA_TNIL)
    lerr_raise(L, box, ASSOC_MISUSE,
               "db:associate: %s must be a string or a table (got %s)", key,
               luaL_typename(L, -1));
  lua_pop(L, 1);
  return NULL;
}

static int cmp_str(const void *x, const void *y) {
  return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* The scope table at field key of t -> pairs sorted by attribute name,
 * values converted for model m (untyped when m is NULL or lacks the
 * attribute: the core then refuses the name). */
static int opt_scope(lconv *c, int t, const char *key, assoc_model *m,
                     const assoc_pair **out) {
  lua_State *L = c->L;
  *out = NULL;
  int ty = lua_getfield(L, t, key);
  if (ty == LUA_TNIL) {
    lua_pop(L, 1);
    return 0;
  }
  if (ty != LUA_TTABLE)
    lerr_raise(L, c->box, ASSOC_MISUSE,
               "db:associate: %s must be a table of attribute = value (got "
               "%s)",
               key, luaL_typename(L, -1));
  int st = lua_gettop(L);
  lconv_anchor(c); /* keeps the scope table (pops it) */
  lua_rawgeti(L, c->anchor, c->nanchor);
  st = lua_gettop(L);
  int n = 0;
  lua_pushnil(L);
  while (lua_next(L, st)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING || lstr_hasnul(L, -1))
      lerr_raise(L, c->box, ASSOC_MISUSE,
                 "db:associate: %s keys must be attribute names (got %s)",
                 key, luaL_typename(L, -1));
    if (n > 1000)
      lerr_raise(L, c->box, ASSOC_MISUSE, "db:associate: %s is too large",
                 key);
    n++;
  }
  const char **names = lconv_alloc(c, (size_t)(n ? n : 1) * sizeof *names);
  assoc_pair *pairs = lconv_alloc(c, (size_t)(n ? n : 1) * sizeof *pairs);
  int k = 0;
  lua_pushnil(L);
  while (lua_next(L, st)) {
    lua_pop(L, 1);
    names[k++] = lua_tostring(L, -1);
  }
  qsort(names, (size_t)n, sizeof *names, cmp_str);
  const assoc_model *saved = c->m;
  for (int i = 0; i < n; i++) {
    pairs[i].attr = names[i];
    lua_getfield(L, st, names[i]);
    int at = m ? assoc_model_attr_index(m, names[i]) : -1;
    if (at >= 0) {
      c->m = m;
      lv_typed(c, -1, at, &pairs[i].value);
    } else if (!lv_untyped(c, -1, &pairs[i].value)) {
      lerr_raise(L, c->box, ASSOC_MISUSE,
                 "db:associate: %s.%s has an unsupported value (%s)", key,
                 names[i], luaL_typename(L, -1));
    }
    lconv_anchor(c); /* keep converted text alive */
  }
  c->m = saved;
  lua_settop(L, st - 1);
  *out = pairs;
  return n;
}

static const char *const assoc_opts[] = {
    "as", "foreignKey", "sourceKey", "targetKey", "otherKey", "through",
    "throughUnique", "throughTimestamps", "scope", "throughScope",
    "constraints", "onDelete", "onUpdate", NULL};

static void push_rel(lua_State *L, ldb *box, const assoc_assoc *a) {
  lrel *r = lua_newuserdatauv(L, sizeof *r, 2); /* the Db; quick table */
  r->a = a;
  r->box = box;
  r->ph = NULL;
  luaL_setmetatable(L, LASSOC_REL);
  lua_pushvalue(L, 1); /* the Db */
  lua_setiuservalue(L, -2, 1);
}

/* db:associate(kind, source, target [, opts]) -> Association */
static int associate_body(lua_State *L) {
  ldb *box = ldb_check(L, "associate");
  lua_settop(L, 5);
  if (lua_type(L, 2) != LUA_TSTRING)
    return lerr_raise(L, box, ASSOC_MISUSE,
                      "db:associate: kind must be hasOne, belongsTo, "
                      "hasMany or belongsToMany (got %s)",
                      luaL_typename(L, 2));
  assoc_assoc_def d;
  memset(&d, 0, sizeof d);
  const char *ks = lua_tostring(L, 2);
  for (int k = ASSOC_HAS_ONE; k <= ASSOC_BELONGS_TO_MANY; k++)
    if (strcmp(ks, kind_names[k]) == 0) d.kind = (assoc_kind)k;
  if (d.kind == 0)
    return lerr_raise(L, box, ASSOC_MISUSE,
                      "db:associate: unknown association kind '%s' (hasOne, "
                      "belongsTo, hasMany or belongsToMany)",
                      ks);
  d.source = model_arg(L, box, 3, "source");
  d.target = model_arg(L, box, 4, "target");
  d.foreign_key_allow_null = -1;
  d.through_unique = -1;
  d.through_timestamps = -1;
  d.constraints = -1;
  int ot = lua_type(L, 5);
  if (ot != LUA_TNIL && ot != LUA_TTABLE)
    return lerr_raise(L, box, ASSOC_MISUSE,
                      "db:associate: options must be a table (got %s)",
                      luaL_typename(L, 5));
  lconv c;
  lconv_init(&c, L, box, d.target, "associate");
  if (ot == LUA_TTABLE) {
    lua_pushnil(L);
    while (lua_next(L, 5)) {
      lua_pop(L, 1);
      const char *k =
          lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
      int ok = 0;
      for (int i = 0; k && assoc_opts[i]; i++)
        if (strcmp(k, assoc_opts[i]) == 0) ok = 1;
      if (!ok)
        return lerr_raise(L, box, ASSOC_MISUSE,
                          "db:associate: unknown option '%s' for %s.%s(%s)",
                          k ? k : luaL_typename(L, -1),
                          assoc_model_name(d.source), ks,
                          assoc_model_name(d.target));
    }
    int at = lua_getfield(L, 5, "as");
    if (at == LUA_TTABLE) {
      int t = lua_gettop(L);
      lua_pushnil(L);
      while (lua_next(L, t)) {
        lua_pop(L, 1);
        const char *k =
            lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        if (!k || (strcmp(k, "singular") && strcmp(k, "plural")))
          return lerr_raise(L, box, ASSOC_MISUSE,
                            "db:associate: unknown option '%s' in as "
                            "(singular, plural)",
                            k ? k : luaL_typename(L, -1));
      }
      d.as_singular = opt_string(L, box, t, "singular");
      d.as_plural = opt_string(L, box, t, "plural");
      if (!d.as_singular && !d.as_plural)
        return lerr_raise(L, box, ASSOC_MISUSE,
                          "db:associate: as = { singular =, plural = } "
                          "needs at least one of them");
    } else if (at != LUA_TNIL) {
      lua_pop(L, 1);
      d.as = opt_string(L, box, 5, "as");
      lua_pushnil(L);
    }
    lua_pop(L, 1);
    d.foreign_key = opt_key(L, box, 5, "foreignKey", &d.foreign_key_allow_null);
    d.other_key = opt_key(L, box, 5, "otherKey", NULL);
    d.source_key = opt_string(L, box, 5, "sourceKey");
    d.target_key = opt_string(L, box, 5, "targetKey");
    int tt = lua_getfield(L, 5, "through");
    if (tt == LUA_TSTRING) {
      lua_pop(L, 1);
      d.through = opt_string(L, box, 5, "through");
    } else if (tt == LUA_TUSERDATA) {
      d.through_model = model_arg(L, box, -1, "through");
      lua_pop(L, 1);
    } else if (tt != LUA_TNIL) {
      return lerr_raise(L, box, ASSOC_MISUSE,
                        "db:associate: through must be a model name or a "
                        "Model (got %s)",
                        luaL_typename(L, -1));
    } else {
      lua_pop(L, 1);
    }
    d.through_unique = opt_bool(L, box, 5, "throughUnique");
    d.through_timestamps = opt_bool(L, box, 5, "throughTimestamps");
    d.constraints = opt_bool(L, box, 5, "constraints");
    d.on_delete = opt_action(L, box, 5, "onDelete");
    d.on_update = opt_action(L, box, 5, "onUpdate");
    d.nscope = opt_scope(&c, 5, "scope", d.target, &d.scope);
    assoc_model *jm = d.through_model;
    if (!jm && d.through) jm = assoc_model_find(box->db, d.through);
    d.nthrough_scope = opt_scope(&c, 5, "throughScope", jm, &d.through_scope);
  }
  assoc_assoc *a = NULL;
  if (assoc_associate(box->db, &d, &a) != ASSOC_OK)
    return lerr_raise_core(L, box, 0);
  ldb_flush(L, box);
  push_rel(L, box, a);
  return 1;
}

int lrel_associate(lua_State *L) {
  ldb_check(L, "associate"); /* ConnectionError before anything */
  return protect(L, associate_body);
}

/* ---- Association methods ---------------------------------------------------------- */

/* Checks slot 1 is an Association of an open Db; puts the Db at slot 1. */
static const assoc_assoc *rel_check(lua_State *L, const char *method,
                                    ldb **boxp) {
  lrel *r = luaL_testudata(L, 1, LASSOC_REL);
  if (!r)
    lerr_raise(L, NULL, ASSOC_MISUSE,
               "Association:%s: expected an Association as self (got %s); "
               "call it as a:%s(...)",
               method, luaL_typename(L, 1), method);
  if (!r->box->db) lerr_raise(L, NULL, ASSOC_CLOSED, "database is closed");
  *boxp = r->box;
  lua_getiuservalue(L, 1, 1);
  lua_replace(L, 1);
  return r->a;
}

static void push_value(lua_State *L, const assoc_value *v) {
  switch (v->type) {
  case ASSOC_V_INT: lua_pushinteger(L, (lua_Integer)v->u.i); break;
  case ASSOC_V_REAL: lua_pushnumber(L, v->u.r); break;
  case ASSOC_V_TEXT:
  case ASSOC_V_BLOB: lua_pushlstring(L, v->u.s.p, v->u.s.n); break;
  default: lua_pushnil(L); break;
  }
}

static void setstr(lua_State *L, const char *k, const char *v) {
  if (!v) return;
  lua_pushstring(L, v);
  lua_setfield(L, -2, k);
}

/* The scope (through: the through scope) as a table attr = value, each
 * value decoded by its attribute's type as row values are (BOOLEAN ->
 * boolean, JSON -> table, FLOAT -> float, STRING -> string, ...); NULL (or
 * a JSON null) is core.null. */
static void push_scope(lua_State *L, ldb *box, const assoc_assoc *a,
                       int through) {
  const assoc_model *m =
      through ? assoc_assoc_through(a) : assoc_assoc_target(a);
  int n = assoc_assoc_nscope(a, through);
  luaL_checkstack(L, 4, "scope");
  void *jb = lv_newjbox(L); /* JSON scratch, dropped below */
  lua_createtable(L, 0, n);
  for (int i = 0; i < n; i++) {
    const assoc_pair *p = assoc_assoc_scope(a, through, i);
    int at = m ? assoc_model_attr_index(m, p->attr) : -1;
    const assoc_attr *attr = at >= 0 ? assoc_model_attr(m, at) : NULL;
    int pushed = 0;
    if (p->value.type != ASSOC_V_NULL) {
      if (attr)
        pushed = lv_pushdecoded(L, &p->value, lv_decclass(attr), jb);
      else {
        push_value(L, &p->value);
        pushed = 1;
      }
    }
    if (!pushed) lua_getfield(L, LUA_REGISTRYINDEX, LASSOC_NULLV);
    lua_setfield(L, -2, p->attr);
  }
  lua_remove(L, -2); /* the JSON box */
  (void)box;
}

static int rel_info(lua_State *L) {
  ldb *box;
  const assoc_assoc *a = rel_check(L, "info", &box);
  assoc_kind k = assoc_assoc_kind(a);
  lua_createtable(L, 0, 20);
  setstr(L, "associationType", type_names[k]);
  setstr(L, "kind", kind_names[k]);
  setstr(L, "source", assoc_model_name(assoc_assoc_source(a)));
  setstr(L, "target", assoc_model_name(assoc_assoc_target(a)));
  setstr(L, "as", assoc_assoc_as(a, k == ASSOC_HAS_MANY ||
                                        k == ASSOC_BELONGS_TO_MANY));
  setstr(L, "singular", assoc_assoc_as(a, 0));
  setstr(L, "plural", assoc_assoc_as(a, 1));
  setstr(L, "foreignKey", assoc_assoc_key(a, ASSOC_KEY_FOREIGN));
  setstr(L, "sourceKey", assoc_assoc_key(a, ASSOC_KEY_SOURCE));
  setstr(L, "targetKey", assoc_assoc_key(a, ASSOC_KEY_TARGET));
  setstr(L, "otherKey", assoc_assoc_key(a, ASSOC_KEY_OTHER));
  if (assoc_assoc_through(a))
    setstr(L, "through", assoc_model_name(assoc_assoc_through(a)));
  setstr(L, "sourceAttr", assoc_assoc_source_attr(a));
  setstr(L, "targetAttr", assoc_assoc_target_attr(a));
  lua_pushboolean(L, assoc_assoc_fk_allow_null(a));
  lua_setfield(L, -2, "foreignKeyAllowNull");
  push_scope(L, box, a, 0);
  lua_setfield(L, -2, "scope");
  push_scope(L, box, a, 1);
  lua_setfield(L, -2, "throughScope");
  static const char *const acc[ASSOC_ACC__COUNT] = {
      "get", "set", "create", "count", "hasOne",
      "hasMany", "addOne", "addMany", "removeOne", "removeMany"};
  lua_createtable(L, 0, ASSOC_ACC__COUNT);
  for (int i = 0; i < ASSOC_ACC__COUNT; i++)
    setstr(L, acc[i], assoc_assoc_accessor(a, i));
  lua_setfield(L, -2, "accessors");
  return 1;
}

/* Converts the value at idx for attribute name `attr` of m. */
static void conv_attr(lconv *c, const assoc_model *m, const char *attr,
                      int idx, assoc_value *out) {
  const assoc_model *saved = c->m;
  c->m = m;
  lv_typed(c, idx, assoc_model_attr_index(m, attr), out);
  c->m = saved;
}

/* The src argument at idx (nil: NULL). */
static void conv_src(lconv *c, const assoc_assoc *a, int idx,
                     assoc_value *out) {
  if (lua_isnoneornil(c->L, idx)) {
    out->type = ASSOC_V_NULL;
    return;
  }
  conv_attr(c, assoc_assoc_source(a), assoc_assoc_source_attr(a), idx, out);
}

/* The targets at idx: an array (or one value; nil: none) converted for the
 * target attribute.  Returns the count. */
static int conv_targets(lconv *c, const assoc_assoc *a, int idx,
                        assoc_value **out) {
  lua_State *L = c->L;
  const assoc_model *T = assoc_assoc_target(a);
  const char *ta = assoc_assoc_target_attr(a);
  *out = NULL;
  if (lua_isnoneornil(L, idx)) return 0;
  if (lua_type(L, idx) != LUA_TTABLE) {
    *out = lconv_alloc(c, sizeof **out);
    conv_attr(c, T, ta, idx, *out);
    return 1;
  }
  size_t n = lua_rawlen(L, idx);
  if (n == 0) {
    lua_pushnil(L);
    if (lua_next(L, idx)) /* a table with keys but no array part */
      lerr_raise(L, c->box, ASSOC_MISUSE,
                 "targets must be an array of %s.%s values (got a table with "
                 "keys)",
                 assoc_model_name(T), ta);
  }
  if (n > 0x7fffffff / sizeof(assoc_value))
    lerr_raise(L, c->box, ASSOC_MISUSE, "too many targets");
  *out = lconv_alloc(c, (n ? n : 1) * sizeof **out);
  for (size_t i = 0; i < n; i++) {
    lua_rawgeti(L, idx, (lua_Integer)i + 1);
    conv_attr(c, T, ta, -1, &(*out)[i]);
    lua_pop(L, 1); /* the array keeps strings alive */
  }
  return (int)n;
}

/* Through rows at idx (nil or an array parallel to the targets of tables
 * or nils): the union of their keys (junction attributes, sorted by
 * index; keys, timestamps and through-scope attributes are ignored) and
 * the n x ntattrs matrix.  A row without a value for one of these
 * attributes leaves a "missing" cell (flagged in *tkeep, NULL when there is
 * none): an existing link keeps its value, a new one gets
 * defaults[r][attr] (defaults at didx: nil or an array parallel to the
 * targets of tables or nils; other keys are ignored), else the attribute's
 * DDL default, else NULL. */
static int conv_through(lconv *c, rphase *ph, const assoc_assoc *a, int idx,
                        int didx, int n, int **tattrs, assoc_value **tvals,
                        unsigned char **tkeep) {
  lua_State *L = c->L;
  const assoc_model *J = assoc_assoc_through(a);
  *tattrs = NULL;
  *tvals = NULL;
  *tkeep = NULL;
  int dt = lua_type(L, didx);
  if (dt != LUA_TNIL && dt != LUA_TNONE && dt != LUA_TTABLE)
    lerr_raise(L, c->box, ASSOC_MISUSE,
               "through defaults must be an array of tables (got %s)",
               luaL_typename(L, didx));
  if (lua_isnoneornil(L, idx)) return 0;
  if (lua_type(L, idx) != LUA_TTABLE)
    lerr_raise(L, c->box, ASSOC_MISUSE,
               "through values must be an array of tables (got %s)",
               luaL_typename(L, idx));
  if (!J)
    lerr_raise(L, c->box, ASSOC_MISUSE,
               "through values need a belongsToMany association");
  int na = assoc_model_nattrs(J);
  unsigned char *use = lconv_alloc(c, (size_t)na + 1);
  memset(use, 0, (size_t)na + 1);
  int fk = assoc_model_attr_index(J, assoc_assoc_key(a, ASSOC_KEY_FOREIGN));
  int ok = assoc_model_attr_index(J, assoc_assoc_key(a, ASSOC_KEY_OTHER));
  int skip_n = 0, skip[8];
  skip[skip_n++] = fk;
  skip[skip_n++] = ok;
  for (int w = 0; w < 3; w++) skip[skip_n++] = assoc_model_special(J, w);
  for (int r = 1; r <= n; r++) {
    int ty = lua_rawgeti(L, idx, r);
    if (ty == LUA_TNIL) {
      lua_pop(L, 1);
      continue;
    }
    if (ty != LUA_TTABLE)
      lerr_raise(L, c->box, ASSOC_MISUSE,
                 "through values of target #%d must be a table (got %s)", r,
                 luaL_typename(L, -1));
    int t = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, t)) {
      lua_pop(L, 1);
      const char *k = lua_type(L, -1) == LUA_TSTRING && !lstr_hasnul(L, -1)
                          ? lua_tostring(L, -1)
                          : NULL;
      int at = k ? assoc_model_attr_index(J, k) : -1;
      if (at < 0)
        lerr_raise(L, c->box, ASSOC_MISUSE,
                   "unknown attribute '%s' of %s in the through values",
                   k ? k : luaL_typename(L, -1), assoc_model_name(J));
      int skipped = 0;
      for (int s = 0; s < skip_n; s++)
        if (skip[s] == at) skipped = 1;
      for (int s = 0; s < assoc_assoc_nscope(a, 1); s++)
        if (strcmp(assoc_assoc_scope(a, 1, s)->attr, k) == 0) skipped = 1;
      if (!skipped) use[at] = 1;
    }
    lua_pop(L, 1);
  }
  int nt = 0;
  for (int i = 0; i < na; i++) nt += use[i];
  if (nt == 0) return 0;
  *tattrs = lconv_alloc(c, (size_t)nt * sizeof **tattrs);
  *tvals = lconv_alloc(c, (size_t)(n ? n : 1) * (size_t)nt * sizeof **tvals);
  for (int i = 0, k = 0; i < na; i++)
    if (use[i]) (*tattrs)[k++] = i;
  unsigned char *keep = lconv_alloc(c, (size_t)(n ? n : 1) * (size_t)nt);
  int nkept = 0;
  const assoc_model *saved = c->m;
  c->m = J;
  for (int r = 0; r < n; r++) {
    int ty = lua_rawgeti(L, idx, r + 1);
    int dty = dt == LUA_TTABLE ? lua_rawgeti(L, didx, r + 1) : LUA_TNIL;
    if (dt == LUA_TTABLE && dty != LUA_TTABLE && dty != LUA_TNIL)
      lerr_raise(L, c->box, ASSOC_MISUSE,
                 "through defaults of target #%d must be a table (got %s)",
                 r + 1, luaL_typename(L, -1));
    int row = lua_gettop(L) - (dt == LUA_TTABLE ? 1 : 0), drow = row + 1;
    for (int k = 0; k < nt; k++) {
      size_t cell = (size_t)r * (size_t)nt + (size_t)k;
      assoc_value *v = &(*tvals)[cell];
      const assoc_attr *at = assoc_model_attr(J, (*tattrs)[k]);
      keep[cell] = 0;
      ph->rename = 0; /* a wrong value type is a ValidationError */
      if (ty == LUA_TTABLE && lua_getfield(L, row, at->name) != LUA_TNIL) {
        lv_typed(c, -1, (*tattrs)[k], v);
        lconv_anchor(c);
        ph->rename = 1;
        continue;
      }
      if (ty == LUA_TTABLE) lua_pop(L, 1);
      keep[cell] = 1;
      nkept++;
      if (dty == LUA_TTABLE && lua_getfield(L, drow, at->name) != LUA_TNIL) {
        lv_typed(c, -1, (*tattrs)[k], v);
        lconv_anchor(c);
      } else {
        if (dty == LUA_TTABLE) lua_pop(L, 1);
        if (at->flags & ASSOC_ATTR_DEFAULT)
          *v = at->dflt;
        else
          v->type = ASSOC_V_NULL;
      }
      ph->rename = 1;
    }
    lua_settop(L, row - 1);
  }
  c->m = saved;
  if (nkept) *tkeep = keep;
  return nt;
}

/* ---- rows of a belongsToMany get ------------------------------------------------- */

/* Columns are decoded as lrows_collect does (lv_decclass, lv_pushdecoded):
 * BOOLEAN -> boolean, JSON -> table, ... */

typedef struct bctx {
  ldb *box;
  const assoc_model *T, *J;
  assoc_rows *rows;
  int rc;
  void *jb; /* JSON scratch box (lv_newjbox) */
  int paused; /* lrows_pause stopped the collector */
} bctx;

/* Sets field name (at names+col) of tbl (and of its snapshot: the shared
 * store ss when on, else the table snap, 0: none) from column col. */
static void put_col(lua_State *L, bctx *x, int tbl, int snap, lsnap *ss,
                    int attr, int name, const assoc_value *v, int dec) {
  lua_pushvalue(L, name);
  if (!lv_pushdecoded(L, v, dec, x->jb)) {
    lua_pop(L, 1);
    return;
  }
  if (ss->on) {
    if (attr < 0) {
      lua_rawset(L, tbl);
      return;
    }
    if (lua_type(L, -1) == LUA_TTABLE)
      lv_pushdecoded(L, v, dec, x->jb); /* a separate copy of a JSON value */
    else
      lua_pushvalue(L, -1);
    lsnap_put(L, ss, attr);
  } else if (snap) {
    lua_pushvalue(L, -2);
    if (lua_type(L, -2) == LUA_TTABLE)
      lv_pushdecoded(L, v, dec, x->jb); /* a separate copy of a JSON value */
    else
      lua_pushvalue(L, -2);
    lua_rawset(L, snap);
  }
  lua_rawset(L, tbl);
}

/* lua_pcall'ed: (ctx, mt, sk, jmt, jsk, key) -> array of rows. */
static int btm_build(lua_State *L) {
  bctx *x = lua_touserdata(L, 1);
  int mt = lua_isnil(L, 2) ? 0 : 2, sk = lua_isnil(L, 3) ? 0 : 3;
  int jmt = lua_isnil(L, 4) ? 0 : 4, jsk = lua_isnil(L, 5) ? 0 : 5;
  int key = lua_isnil(L, 6) ? 0 : 6;
  assoc_rows *rows = x->rows;
  int ncols = assoc_rows_ncols(rows), nj = 0;
  if (ncols < 0) ncols = 0;
  luaL_checkstack(L, ncols + 32, "too many columns");
  static const assoc_attr plain = {"?", NULL, ASSOC_T_INTEGER, 0, 0,
                                   {ASSOC_V_NULL, {0}}};
  static const assoc_attr json_attr = {"?", NULL, ASSOC_T_JSON, 0, 0,
                                       {ASSOC_V_NULL, {0}}};
  int abuf[32];
  unsigned char cbuf[64];
  int *attrs = abuf;
  unsigned char *dec = cbuf, *node = cbuf + 32;
  if (ncols >= 32) { /* else the C stack has room (no garbage) */
    attrs = lua_newuserdatauv(L, ((size_t)ncols + 1) * (sizeof(int) + 2), 0);
    dec = (unsigned char *)(attrs + ncols + 1);
    node = dec + ncols + 1;
  }
  for (int col = 0; col < ncols; col++) {
    node[col] = (unsigned char)assoc_rows_node(rows, col);
    nj += node[col];
  }
  int64_t expect = assoc_rows_expect(rows); /* as in lrows_collect */
  if (expect > 128) expect = 128;
  lsnap ss, js;
  lsnap_init(L, &ss, mt, sk, assoc_model_nattrs(x->T), expect);
  lsnap_init(L, &js, (nj && key) ? jmt : 0, jsk,
             x->J ? assoc_model_nattrs(x->J) : 0, expect);
  lua_createtable(L, expect > 0 ? (int)expect : 0, 0);
  int result = lua_gettop(L);
  int names = result + 1;
  for (int col = 0; col < ncols; col++) {
    int attr = assoc_rows_attr(rows, col);
    const assoc_model *m = node[col] ? x->J : x->T;
    const assoc_attr *a = assoc_model_attr(m, attr);
    attrs[col] = attr;
    if (a) lsnap_pushname(L, node[col] ? &js : &ss, m, attr);
    else lua_pushliteral(L, "?");
    dec[col] = (unsigned char)(a ? lv_decclass(a) : lv_decclass(&plain));
  }
  x->jb = NULL;
  for (int col = 0; col < ncols; col++) {
    if (dec[col] == lv_decclass(&json_attr)) {
      x->jb = lv_newjbox(L); /* stays on the stack until we return */
      break;
    }
  }
  int base = lua_gettop(L);
  lua_Integer n = 0;
  int rc;
  while ((rc = assoc_rows_next(rows)) == ASSOC_ROW) {
    lua_settop(L, base);
    lua_createtable(L, 0, ncols - nj + 1 + ((sk && !ss.on) ? 1 : 0));
    int row = base + 1;
    int snap = 0, jrow = 0, jsnap = 0;
    if (ss.on) {
      lsnap_row(L, &ss, row);
    } else if (sk) {
      lua_createtable(L, 0, ncols - nj);
      snap = lua_gettop(L);
    }
    if (nj && key) {
      lua_createtable(L, 0, nj + ((jsk && !js.on) ? 1 : 0));
      jrow = lua_gettop(L);
      if (js.on) {
        lsnap_row(L, &js, jrow);
      } else if (jsk) {
        lua_createtable(L, 0, nj);
        jsnap = lua_gettop(L);
      }
    }
    for (int col = 0; col < ncols; col++) {
      assoc_value v;
      if (node[col] && !jrow) continue;
      assoc_rows_value(rows, col, &v);
      if (v.type == ASSOC_V_NULL) continue;
      if (node[col])
        put_col(L, x, jrow, jsnap, &js, attrs[col], names + col, &v,
                dec[col]);
      else
        put_col(L, x, row, snap, &ss, attrs[col], names + col, &v, dec[col]);
    }
    if (snap) {
      lua_pushvalue(L, sk);
      lua_pushvalue(L, snap);
      lua_rawset(L, row);
    }
    if (jrow) {
      if (jsnap) {
        lua_pushvalue(L, jsk);
        lua_pushvalue(L, jsnap);
        lua_rawset(L, jrow);
      }
      if (jmt && !js.on) {
        lua_pushvalue(L, jmt);
        lua_setmetatable(L, jrow);
      }
      lua_pushvalue(L, key);
      lua_pushvalue(L, jrow);
      lua_rawset(L, row);
    }
    if (mt && !ss.on) {
      lua_pushvalue(L, mt);
      lua_setmetatable(L, row);
    }
    lua_pushvalue(L, row);
    lua_rawseti(L, result, ++n);
    if (n == LROWS_PAUSE_AT) x->paused = lrows_pause(L);
  }
  x->rc = rc;
  if (rc != ASSOC_DONE) lerr_snapshot(x->box);
  lua_pushvalue(L, result);
  return 1;
}

/* Collects the rows of a belongsToMany get; closes rows in every case. */
static void collect_btm(lua_State *L, ldb *box, const assoc_assoc *a,
                        assoc_rows *rows, int mt, int sk, int jmt, int jsk,
                        int key) {
  bctx x = {box, assoc_assoc_target(a), assoc_assoc_through(a), rows,
            ASSOC_DONE, NULL, 0};
  if (!lua_checkstack(L, 8)) {
    assoc_rows_close(rows);
    lerr_raise(L, box, ASSOC_NOMEM, "not enough memory");
  }
  lua_pushcfunction(L, btm_build);
  lua_pushlightuserdata(L, &x);
  int slots[5] = {mt, sk, jmt, jsk, key};
  for (int i = 0; i < 5; i++) {
    if (slots[i]) lua_pushvalue(L, slots[i]);
    else lua_pushnil(L);
  }
  int st = lua_pcall(L, 6, 1, 0);
  if (x.paused) lua_gc(L, LUA_GCRESTART);
  assoc_rows_close(rows);
  if (st != LUA_OK) {
    ldb_flush(L, box);
    lua_error(L);
  }
  if (x.rc != ASSOC_DONE) {
    lua_pop(L, 1);
    lerr_raise_snap(L, box, 0);
  }
}

/* ---- accessors -------------------------------------------------------------------- */

static const char *const through_opts[] = {"attributes", "where", "mt",
                                           "statekey", "key", NULL};

/* a:get(src, req [, mt [, statekey [, through]]]) -> array of rows */
static int get_body(lua_State *L) {
  rphase *ph = phase(L);
  ldb *box;
  const assoc_assoc *a = rel_check(L, "get", &box);
  const assoc_model *T = assoc_assoc_target(a), *J = assoc_assoc_through(a);
  lua_settop(L, 6);
  int mtt = lua_type(L, 4);
  if (mtt != LUA_TNIL && mtt != LUA_TTABLE)
    return lerr_raise(L, box, ASSOC_MISUSE,
                      "a:get: the row metatable must be a table (got %s)",
                      luaL_typename(L, 4));
  lconv c;
  lconv_init(&c, L, box, T, "get");
  assoc_value src;
  conv_src(&c, a, 2, &src);
  assoc_select req;
  c.m = T;
  ph->rename = 0; /* a bad request is an AssocError, as in Model:find */
  lw_select(&c, 3, &req, "get");
  ph->rename = 1;
  assoc_through_req treq = {NULL, -1, NULL};
  int jmt = 0, jsk = 0, key = 0, tt = lua_type(L, 6);
  if (tt != LUA_TNIL && tt != LUA_TTABLE)
    return lerr_raise(L, box, ASSOC_MISUSE,
                      "a:get: through must be a table (got %s)",
                      luaL_typename(L, 6));
  if (tt == LUA_TTABLE && !J)
    return lerr_raise(L, box, ASSOC_MISUSE,
                      "a:get: through options need a belongsToMany");
  if (J) {
    if (tt == LUA_TTABLE) {
      lua_pushnil(L);
      while (lua_next(L, 6)) {
        lua_pop(L, 1);
        const char *k =
            lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        int okk = 0;
        for (int i = 0; k && through_opts[i]; i++)
          if (strcmp(k, through_opts[i]) == 0) okk = 1;
        if (!okk)
          return lerr_raise(L, box, ASSOC_MISUSE,
                            "a:get: unknown through option '%s'",
                            k ? k : luaL_typename(L, -1));
      }
      if (lua_getfield(L, 6, "attributes") == LUA_TTABLE) {
        int t = lua_gettop(L);
        lua_Integer n = (lua_Integer)lua_rawlen(L, t);
        int na = assoc_model_nattrs(J), k = 0;
        int *attrs = lconv_alloc(&c, (size_t)(n ? n : 1) * sizeof(int));
        unsigned char *seen = lconv_alloc(&c, (size_t)na + 1);
        memset(seen, 0, (size_t)na + 1);
        for (lua_Integer i = 1; i <= n; i++) {
          lua_rawgeti(L, t, i);
          const char *s = lua_type(L, -1) == LUA_TSTRING && !lstr_hasnul(L, -1)
                              ? lua_tostring(L, -1)
                              : NULL;
          int at = s ? assoc_model_attr_index(J, s) : -1;
          if (at < 0)
            return lerr_raise(L, box, ASSOC_MISUSE,
                              "a:get: unknown attribute '%s' of %s in "
                              "through.attributes",
                              s ? s : luaL_typename(L, -1),
                              assoc_model_name(J));
          lua_pop(L, 1);
          if (!seen[at]) {
            seen[at] = 1;
            attrs[k++] = at;
          }
        }
        treq.attrs = attrs;
        treq.nattrs = k;
      } else if (!lua_isnil(L, -1)) {
        return lerr_raise(L, box, ASSOC_MISUSE,
                          "a:get: through.attributes must be an array of "
                          "names (got %s)",
                          luaL_typename(L, -1));
      }
      lua_pop(L, 1);
      lua_getfield(L, 6, "where");
      c.m = J;
      ph->rename = 0;
      lw_where(&c, -1, &treq.where);
      ph->rename = 1;
      lconv_anchor(&c);
      c.m = T;
      int t7 = lua_getfield(L, 6, "mt");
      if (t7 != LUA_TNIL && t7 != LUA_TTABLE)
        return lerr_raise(L, box, ASSOC_MISUSE,
                          "a:get: through.mt must be a table (got %s)",
                          luaL_typename(L, -1));
      if (t7 == LUA_TTABLE) jmt = lua_gettop(L);
      else lua_pop(L, 1);
      if (lua_getfield(L, 6, "statekey") != LUA_TNIL) jsk = lua_gettop(L);
      else lua_pop(L, 1);
      int kt = lua_getfield(L, 6, "key");
      if (kt != LUA_TNIL && kt != LUA_TSTRING)
        return lerr_raise(L, box, ASSOC_MISUSE,
                          "a:get: through.key must be a string (got %s)",
                          luaL_typename(L, -1));
      if (kt == LUA_TSTRING) key = lua_gettop(L);
      else lua_pop(L, 1);
    }
    if (!key) {
      lua_pushstring(L, assoc_model_name(J));
      key = lua_gettop(L);
    }
  }
  ph->rename = 0;
  assoc_rows *rows = NULL;
  if (assoc_rel_get(box->db, a, &src, &req, J ? &treq : NULL, &rows) !=
      ASSOC_OK)
    return lerr_raise_core(L, box, 0);
  if (J)
    collect_btm(L, box, a, rows, mtt == LUA_TTABLE ? 4 : 0,
                lua_isnil(L, 5) ? 0 : 5, jmt, jsk, treq.nattrs == 0 ? 0 : key);
  else
    lrows_collect(L, box, T, rows, mtt == LUA_TTABLE ? 4 : 0,
                  lua_isnil(L, 5) ? 0 : 5);
  ldb_flush(L, box);
  return 1;
}

static int rel_get(lua_State *L) { return protect(L, get_body); }

/* a:count(src [, req [, through]]) -> integer; through = { where = } (a
 * belongsToMany's junction filter, as in a:get) */
static int count_body(lua_State *L) {
  rphase *ph = phase(L);
  ldb *box;
  const assoc_assoc *a = rel_check(L, "count", &box);
  const assoc_model *J = assoc_assoc_through(a);
  lua_settop(L, 4);
  lconv c;
  lconv_init(&c, L, box, assoc_assoc_target(a), "count");
  assoc_value src;
  conv_src(&c, a, 2, &src);
  assoc_through_req treq = {NULL, -1, NULL};
  int tt = lua_type(L, 4);
  if (tt != LUA_TNIL && tt != LUA_TTABLE)
    return lerr_raise(L, box, ASSOC_MISUSE,
                      "a:count: through must be a table (got %s)",
                      luaL_typename(L, 4));
  if (tt == LUA_TTABLE) {
    if (!J)
      return lerr_raise(L, box, ASSOC_MISUSE,
                        "a:count: through options need a belongsToMany");
    lua_pushnil(L);
    while (lua_next(L, 4)) {
      lua_pop(L, 1);
      const char *k =
          lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
      if (!k || strcmp(k, "where") != 0)
        return lerr_raise(L, box, ASSOC_MISUSE,
                          "a:count: unknown through option '%s' (where)",
                          k ? k : luaL_typename(L, -1));
    }
  }
  assoc_select req;
  ph->rename = 0; /* a bad request is an AssocError, as in Model:count */
  lw_select(&c, 3, &req, "count");
  if (tt == LUA_TTABLE) {
    lua_getfield(L, 4, "where");
    c.m = J;
    lw_where(&c, -1, &treq.where);
    lconv_anchor(&c);
    c.m = assoc_assoc_target(a);
  }
  int64_t n = 0;
  if (assoc_rel_count_fast(box->db, a, &src, &req, &treq, &n) != ASSOC_OK)
    return lerr_raise_core(L, box, 0);
  ldb_flush(L, box);
  lua_pushinteger(L, (lua_Integer)n);
  return 1;
}

static int rel_count(lua_State *L) { return protect(L, count_body); }

/* a:has(src, targets) -> boolean */
static int has_body(lua_State *L) {
  rphase *ph = phase(L);
  ldb *box;
  const assoc_assoc *a = rel_check(L, "has", &box);
  lua_settop(L, 3);
  lconv c;
  lconv_init(&c, L, box, assoc_assoc_target(a), "has");
  assoc_value src, *targets;
  conv_src(&c, a, 2, &src);
  /* one target given as itself (not in a list): the singular form */
  int single = !lua_isnoneornil(L, 3) && lua_type(L, 3) != LUA_TTABLE;
  int n = conv_targets(&c, a, 3, &targets);
  ph->rename = 0;
  int all = 0;
  int rc = single ? assoc_rel_has_one(box->db, a, &src, targets, &all)
                  : assoc_rel_has(box->db, a, &src, targets, n, &all);
  if (rc != ASSOC_OK) {
    lerr_snapshot(box);
    if (box->err.code == ASSOC_MISUSE) ph->rename = 1;
    return lerr_raise_snap(L, box, 0);
  }
  ldb_flush(L, box);
  lua_pushboolean(L, all);
  return 1;
}

static int rel_has(lua_State *L) { return protect(L, has_body); }

enum { W_ADD, W_REMOVE, W_SET, W_SETONE };

static int write_body(lua_State *L, int op) {
  static const char *const names[] = {"add", "remove", "set", "setOne"};
  rphase *ph = phase(L);
  ldb *box;
  const assoc_assoc *a = rel_check(L, names[op], &box);
  lua_settop(L, 5);
  lconv c;
  lconv_init(&c, L, box, assoc_assoc_target(a), names[op]);
  assoc_value src, *targets = NULL, one;
  int n = 0, nt = 0, *tattrs = NULL;
  assoc_value *tvals = NULL;
  unsigned char *tkeep = NULL;
  conv_src(&c, a, 2, &src);
  /* one target given as itself (not in a list): the singular forms */
  int single = !lua_isnoneornil(L, 3) && lua_type(L, 3) != LUA_TTABLE;
  if (op == W_SETONE) {
    if (lua_isnoneornil(L, 3) || lv_isnull(&c, 3))
      one.type = ASSOC_V_NULL;
    else
      conv_attr(&c, assoc_assoc_target(a), assoc_assoc_target_attr(a), 3,
                &one);
  } else {
    n = conv_targets(&c, a, 3, &targets);
    if (op != W_REMOVE)
      nt = conv_through(&c, ph, a, 4, 5, n, &tattrs, &tvals, &tkeep);
  }
  ph->rename = 0;
  int rc;
  switch (op) {
  case W_ADD:
    rc = single ? assoc_rel_add_one(box->db, a, &src, targets, tattrs, nt,
                                    tvals, tkeep)
                : assoc_rel_add_v2(box->db, a, &src, targets, n, tattrs, nt,
                                   tvals, tkeep);
    break;
  case W_REMOVE:
    rc = single ? assoc_rel_remove_one(box->db, a, &src, targets)
                : assoc_rel_remove(box->db, a, &src, targets, n);
    break;
  case W_SET:
    rc = assoc_rel_set_v2(box->db, a, &src, targets, n, tattrs, nt, tvals,
                          tkeep);
    break;
  default: rc = assoc_rel_set_one(box->db, a, &src, &one); break;
  }
  if (rc != ASSOC_OK) {
    lerr_snapshot(box);
    if (box->err.code == ASSOC_MISUSE) ph->rename = 1; /* a bad argument */
    return lerr_raise_snap(L, box, 0);
  }
  ldb_flush(L, box);
  return 0;
}

static int add_body(lua_State *L) { return write_body(L, W_ADD); }
static int remove_body(lua_State *L) { return write_body(L, W_REMOVE); }
static int set_body(lua_State *L) { return write_body(L, W_SET); }
static int setone_body(lua_State *L) { return write_body(L, W_SETONE); }
static int rel_add(lua_State *L) { return protect(L, add_body); }
static int rel_remove(lua_State *L) { return protect(L, remove_body); }
static int rel_set(lua_State *L) { return protect(L, set_body); }
static int rel_setone(lua_State *L) { return protect(L, setone_body); }

/* ---- quick paths ------------------------------------------------------------------- *
 *
 * The Lua accessors' common calls -- getX() and countX() without options,
 * hasX(t), removeX(t), addX(t [, { through = values }]) -- on a saved
 * instance and a saved target instance or key value: a:qget(self), ...
 * check those conditions here and call the core, returning true and the
 * result; else they return false and the accessor takes its general path,
 * which checks everything in order and raises what is wrong.  What they
 * need of the Lua side is in the Association's quick table (a:quick(t)), an
 * array read with rawgeti (no string keys to intern per call): see Q_*. */
enum {
  Q_SOURCE = 1, /* the source Model */
  Q_TARGET,     /* the target Model */
  Q_SATTR,      /* the source key attribute's name */
  Q_TATTR,      /* the target key attribute's name */
  Q_STATE,      /* the instances' state key */
  Q_THROUGH,    /* the junction Model (belongsToMany) or false */
  Q_JKEY,       /* its name, or false */
  Q_MODELKEY,   /* "model" */
  Q_MTKEY,      /* "_mt" */
  Q_OPTKEY,     /* "through" */
  Q__N = Q_OPTKEY
};

static int rel_quick(lua_State *L) {
  luaL_checkudata(L, 1, LASSOC_REL);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  for (int i = 1; i <= Q__N; i++) { /* every slot set: no holes */
    lua_rawgeti(L, 2, i);
    int t = lua_type(L, -1);
    lua_pop(L, 1);
    if (t == LUA_TNIL) return luaL_error(L, "a:quick: slot %d is nil", i);
  }
  lua_setiuservalue(L, 1, 2);
  return 0;
}

/* The Association at 1 with its quick table pushed, or NULL (nothing
 * pushed) when there is none or its db is closed. */
static lrel *quick_tab(lua_State *L) {
  lrel *r = luaL_testudata(L, 1, LASSOC_REL);
  if (!r || !r->box->db) return NULL;
  if (lua_getiuservalue(L, 1, 2) != LUA_TTABLE) {
    lua_pop(L, 1);
    return NULL;
  }
  return r;
}

/* When the value at idx is a saved instance of q[model] with a number or a
 * string (never assoc.null) for the attribute named q[attr], pushes that
 * value and returns 1; else pushes nothing and returns 0. */
static int quick_inst(lua_State *L, int q, int idx, int model, int attr) {
  int top = lua_gettop(L);
  if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx)) return 0;
  int mt = top + 1;
  /* saved: a loaded row's metatable is its store ([0], the layout); any
     other saved instance has a snapshot under the state key */
  if (lua_rawgeti(L, mt, 0) == LUA_TNIL) {
    lua_rawgeti(L, q, Q_STATE);
    if (lua_rawget(L, idx) == LUA_TNIL) goto no;
  }
  lua_rawgeti(L, q, Q_MODELKEY);
  lua_rawget(L, mt);
  lua_rawgeti(L, q, model);
  if (!lua_rawequal(L, -1, -2)) goto no;
  lua_settop(L, top);
  lua_rawgeti(L, q, attr);
  int t = lua_rawget(L, idx);
  if (t == LUA_TNUMBER || t == LUA_TSTRING) return 1;
no:
  lua_settop(L, top);
  return 0;
}

/* The target key value of the argument at idx (a saved target instance, or
 * a string or finite number key), pushed; 0 when it is none of these. */
static int quick_target(lua_State *L, int q, int idx) {
  switch (lua_type(L, idx)) {
  case LUA_TSTRING: lua_pushvalue(L, idx); return 1;
  case LUA_TNUMBER: {
    if (!lua_isinteger(L, idx)) {
      lua_Number x = lua_tonumber(L, idx);
      if (x != x || x == HUGE_VAL || x == -HUGE_VAL) return 0;
    }
    lua_pushvalue(L, idx);
    return 1;
  }
  case LUA_TTABLE: return quick_inst(L, q, idx, Q_TARGET, Q_TATTR);
  default: return 0;
  }
}

static int quick_no(lua_State *L) {
  lua_pushboolean(L, 0);
  return 1;
}

/* The value at idx for attribute at (of some model) when it needs no
 * conversion (a Lua integer for an integer attribute, a string for a text
 * one): 1 with *v set (text borrowed from the stack); else 0 -- the general
 * path then converts it, or raises what is wrong. */
static int quick_value(lua_State *L, int idx, const assoc_attr *at,
                       assoc_value *v) {
  if (at == NULL) return 0;
  switch (at->type) {
  case ASSOC_T_INTEGER:
  case ASSOC_T_BIGINT:
    if (!lua_isinteger(L, idx)) return 0;
    v->type = ASSOC_V_INT;
    v->u.i = (int64_t)lua_tointeger(L, idx);
    return 1;
  case ASSOC_T_STRING:
  case ASSOC_T_TEXT:
  case ASSOC_T_UUID:
    if (lua_type(L, idx) != LUA_TSTRING) return 0;
    v->type = ASSOC_V_TEXT;
    v->u.s.p = lua_tolstring(L, idx, &v->u.s.n);
    return 1;
  default: return 0;
  }
}

/* The source value of self (at 2) and, when tidx, the target key value of
 * the argument at tidx, for a quick call on the Association at 1 with its
 * quick table at q: 1 (the values pushed, so that their text stays), or 0
 * when the call is not a quick one. */
static int quick_args(lua_State *L, int q, int tidx, assoc_value *src,
                      assoc_value *tv) {
  const assoc_assoc *a = ((lrel *)lua_touserdata(L, 1))->a;
  if (!quick_inst(L, q, 2, Q_SOURCE, Q_SATTR)) return 0;
  if (!quick_value(L, -1, assoc_model_attr(assoc_assoc_source(a),
                                           assoc_assoc_source_index(a)),
                   src))
    return 0;
  if (tidx == 0) return 1;
  if (!quick_target(L, q, tidx)) return 0;
  return quick_value(L, -1, assoc_model_attr(assoc_assoc_target(a),
                                             assoc_assoc_target_index(a)),
                     tv);
}

/* Puts the Db in place of the Association at 1 (the logger and the error
 * path find it there), once the quick checks are done. */
static void quick_db(lua_State *L) {
  lua_getiuservalue(L, 1, 1);
  lua_replace(L, 1);
}

/* The start of a quick call on (a, self [, target [, opts]]), nargs
 * arguments, the target (if any) at tidx: the Association, with the source
 * (and target) values taken, the quick table at nargs + 1 and the Db at 1;
 * NULL when the call is not a quick one. */
static lrel *quick_begin(lua_State *L, int nargs, int tidx, assoc_value *src,
                         assoc_value *tv) {
  lua_settop(L, nargs);
  lrel *r = quick_tab(L);
  if (!r || !quick_args(L, nargs + 1, tidx, src, tv)) return NULL;
  quick_db(L);
  return r;
}

/* A core call of a quick path failed: its error is raised as the general
 * path raises it; a misuse (nothing was sent) goes back to the general
 * path, which reports it where its checks find it.  So a quick path never
 * raises an AssociationError (the accessors call it unprotected). */
static int quick_fail(lua_State *L, ldb *box) {
  lerr_snapshot(box);
  if (box->err.code == ASSOC_MISUSE) {
    ldb_flush(L, box);
    return quick_no(L);
  }
  return lerr_raise_snap(L, box, 0);
}

/* a:qget(self) -> true, rows | false */
static int rel_qget(lua_State *L) {
  assoc_value src;
  lrel *r = quick_begin(L, 2, 0, &src, NULL);
  if (!r) return quick_no(L);
  const assoc_assoc *a = r->a;
  lua_settop(L, 4);                     /* 3 q, 4 src (borrowed text) */
  lua_rawgeti(L, 3, Q_TARGET);
  lua_rawgeti(L, 3, Q_MTKEY);
  lua_rawget(L, -2);                    /* 6 Tmt */
  lua_rawgeti(L, 3, Q_STATE);           /* 7 statekey */
  int jmt = 0, key = 0;
  if (lua_rawgeti(L, 3, Q_THROUGH) == LUA_TTABLE) {
    lua_rawgeti(L, 3, Q_MTKEY);
    lua_rawget(L, -2);                  /* 9 Jmt */
    jmt = lua_istable(L, -1) ? lua_gettop(L) : 0;
    lua_rawgeti(L, 3, Q_JKEY);          /* 10 jkey */
    key = lua_isstring(L, -1) ? lua_gettop(L) : 0;
  }
  int mt = lua_istable(L, 6) ? 6 : 0, sk = lua_isnil(L, 7) ? 0 : 7;
  assoc_rows *rows = NULL;
  if (assoc_rel_get(r->box->db, a, &src, NULL, NULL, &rows) != ASSOC_OK)
    return quick_fail(L, r->box);
  lua_pushboolean(L, 1);
  int top = lua_gettop(L);
  if (assoc_assoc_through(a))
    collect_btm(L, r->box, a, rows, mt, sk, jmt, sk, key);
  else
    lrows_collect(L, r->box, assoc_assoc_target(a), rows, mt, sk);
  ldb_flush(L, r->box);
  lua_settop(L, top + 1);
  return 2;
}

/* a:qcount(self) -> true, n | false */
static int rel_qcount(lua_State *L) {
  assoc_value src;
  lrel *r = quick_begin(L, 2, 0, &src, NULL);
  if (!r) return quick_no(L);
  int64_t n = 0;
  if (assoc_rel_count_fast(r->box->db, r->a, &src, NULL, NULL, &n) !=
      ASSOC_OK)
    return quick_fail(L, r->box);
  ldb_flush(L, r->box);
  lua_pushboolean(L, 1);
  lua_pushinteger(L, (lua_Integer)n);
  return 2;
}

/* a:qhas(self, target) -> true, boolean | false */
static int rel_qhas(lua_State *L) {
  assoc_value src, tv;
  lrel *r = quick_begin(L, 3, 3, &src, &tv);
  if (!r) return quick_no(L);
  int yes = 0;
  if (assoc_rel_has_one(r->box->db, r->a, &src, &tv, &yes) != ASSOC_OK)
    return quick_fail(L, r->box);
  ldb_flush(L, r->box);
  lua_pushboolean(L, 1);
  lua_pushboolean(L, yes);
  return 2;
}

/* a:qremove(self, target) -> true | false */
static int rel_qremove(lua_State *L) {
  assoc_value src, tv;
  lrel *r = quick_begin(L, 3, 3, &src, &tv);
  if (!r) return quick_no(L);
  if (assoc_rel_remove_one(r->box->db, r->a, &src, &tv) != ASSOC_OK)
    return quick_fail(L, r->box);
  ldb_flush(L, r->box);
  lua_pushboolean(L, 1);
  return 1;
}

#define QUICK_MAXT 8 /* through attributes a quick add takes */

/* The through values of a quick add: opts (at idx) nil, or { through = t }
 * with t a plain table of at most QUICK_MAXT junction attributes other than
 * the association's keys, time stamps and through scope, each value needing
 * no conversion, for a target that carries no through values of its own
 * (the table at tidx, or a key value; a belongsToMany's only).  Fills
 * tattrs/tvals in attribute order (text borrowed from t, which the caller's
 * opts keep) and returns 1 with *nt set; else 0. */
static int quick_through(lua_State *L, int q, const assoc_assoc *a, int idx,
                         int tidx, int *tattrs, assoc_value *tvals, int *nt) {
  const assoc_model *J = assoc_assoc_through(a);
  *nt = 0;
  if (J && lua_type(L, tidx) == LUA_TTABLE) { /* the target's own values */
    lua_rawgeti(L, q, Q_JKEY);
    int own = lua_rawget(L, tidx) != LUA_TNIL;
    lua_pop(L, 1);
    if (own) return 0;
  }
  if (lua_isnil(L, idx)) return 1;
  if (lua_type(L, idx) != LUA_TTABLE || lua_getmetatable(L, idx)) return 0;
  int top = lua_gettop(L);
  lua_pushnil(L);
  if (!lua_next(L, idx)) return 1; /* {} */
  lua_rawgeti(L, q, Q_OPTKEY);
  int only = lua_rawequal(L, -1, -3);
  lua_pop(L, 2);
  only = only && !lua_next(L, idx);
  lua_settop(L, top);
  if (!only || !J) return 0;
  lua_rawgeti(L, q, Q_OPTKEY);
  if (lua_rawget(L, idx) != LUA_TTABLE || lua_getmetatable(L, -1)) goto no;
  int t = top + 1;
  const char *fk = assoc_assoc_key(a, ASSOC_KEY_FOREIGN);
  const char *ok = assoc_assoc_key(a, ASSOC_KEY_OTHER);
  lua_pushnil(L);
  while (lua_next(L, t)) {
    const char *k = lua_type(L, -2) == LUA_TSTRING && !lstr_hasnul(L, -2)
                        ? lua_tostring(L, -2)
                        : NULL;
    int at = k ? assoc_model_attr_index(J, k) : -1;
    if (at < 0 || *nt == QUICK_MAXT || (fk && !strcmp(k, fk)) ||
        (ok && !strcmp(k, ok)))
      goto no;
    for (int w = 0; w < 3; w++)
      if (assoc_model_special(J, w) == at) goto no;
    for (int i = 0; i < assoc_assoc_nscope(a, 1); i++)
      if (strcmp(assoc_assoc_scope(a, 1, i)->attr, k) == 0) goto no;
    assoc_value v;
    if (!quick_value(L, -1, assoc_model_attr(J, at), &v))
      goto no; /* the text stays in t */
    int i = (*nt)++;
    while (i > 0 && tattrs[i - 1] > at) { /* in attribute order */
      tattrs[i] = tattrs[i - 1];
      tvals[i] = tvals[i - 1];
      i--;
    }
    tattrs[i] = at;
    tvals[i] = v;
    lua_pop(L, 1);
  }
  lua_settop(L, top);
  return 1;
no:
  lua_settop(L, top);
  *nt = 0;
  return 0;
}

/* a:qadd(self, target [, opts]) -> true | false */
static int rel_qadd(lua_State *L) {
  int tattrs[QUICK_MAXT], nt = 0;
  assoc_value tvals[QUICK_MAXT], src, tv;
  lrel *r = quick_begin(L, 4, 3, &src, &tv);
  if (!r || !quick_through(L, 5, r->a, 4, 3, tattrs, tvals, &nt))
    return quick_no(L);
  if (assoc_rel_add_one(r->box->db, r->a, &src, &tv, nt ? tattrs : NULL, nt,
                        nt ? tvals : NULL, NULL) != ASSOC_OK)
    return quick_fail(L, r->box);
  ldb_flush(L, r->box);
  lua_pushboolean(L, 1);
  return 1;
}

static int rel_tostring(lua_State *L) {
  lrel *r = luaL_checkudata(L, 1, LASSOC_REL);
  if (!r->box->db) {
    lua_pushliteral(L, "assoc.Association (closed)");
    return 1;
  }
  const assoc_assoc *a = r->a;
  assoc_kind k = assoc_assoc_kind(a);
  lua_pushfstring(L, "assoc.Association %s.%s(%s) as %s",
                  assoc_model_name(assoc_assoc_source(a)), kind_names[k],
                  assoc_model_name(assoc_assoc_target(a)),
                  assoc_assoc_as(a, k == ASSOC_HAS_MANY ||
                                        k == ASSOC_BELONGS_TO_MANY));
  return 1;
}

static const luaL_Reg rel_methods[] = {
    {"info", rel_info},     {"get", rel_get},       {"count", rel_count},
    {"has", rel_has},       {"add", rel_add},       {"remove", rel_remove},
    {"set", rel_set},       {"setOne", rel_setone}, {"quick", rel_quick},
    {"qget", rel_qget},     {"qcount", rel_qcount}, {"qhas", rel_qhas},
    {"qadd", rel_qadd},     {"qremove", rel_qremove}, {NULL, NULL}};

void lrel_open(lua_State *L) {
  if (luaL_newmetatable(L, LASSOC_REL)) {
    luaL_newlib(L, rel_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, rel_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_pop(L, 1);
}
