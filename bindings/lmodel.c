/*
 * lmodel.c -- db:define and the Model userdata (metatable "assoc.Model").
 *
 * A Model userdata holds the core's assoc_model and a pointer to its Db
 * box; its user value 1 is the Db userdata, so the box outlives it.  The
 * core frees models in assoc_close, so every method first checks that the
 * Db is open (ConnectionError "database is closed") and then replaces its
 * receiver at stack slot 1 by the Db (the convention of lassoc.h).
 *
 * Values tables are converted into attribute-ordered arrays (sorted by
 * attribute index, whatever `next` order), so the same key set always
 * gives the same SQL and hits the statement cache.
 */
#include <math.h>
#include <string.h>

#include "lassoc.h"

/* Checks slot 1 is a Model of an open Db; puts the Db at slot 1. */
static const assoc_model *lmodel_check(lua_State *L, const char *method,
                                       ldb **boxp) {
  lmodel *mu = luaL_testudata(L, 1, LASSOC_MODEL);
  if (!mu)
    lerr_raise(L, NULL, ASSOC_MISUSE,
               "Model:%s: expected a Model as self (got %s); call it as "
               "model:%s(...)",
               method, luaL_typename(L, 1), method);
  if (!mu->box->db || !mu->m)
    lerr_raise(L, NULL, ASSOC_CLOSED, "database is closed");
  const assoc_model *m = mu->m;
  *boxp = mu->box;
  lua_getiuservalue(L, 1, 1);
  lua_replace(L, 1);
  return m;
}

/* ---- define -------------------------------------------------------------------- */

static const char *const attr_keys[] = {
    "name",          "column",    "type",   "length",  "primaryKey",
    "autoIncrement", "allowNull", "unique", "default", NULL};

static int opt_bool(lua_State *L, ldb *box, int t, const char *key,
                    const char *model, const char *attr, int dflt) {
  int ty = lua_getfield(L, t, key);
  int v = dflt;
  if (ty == LUA_TBOOLEAN)
    v = lua_toboolean(L, -1);
  else if (ty != LUA_TNIL)
    lerr_raise(L, box, ASSOC_MISUSE, "%s%s%s: %s must be a boolean (got %s)",
               model, attr ? "." : "", attr ? attr : "", key,
               luaL_typename(L, -1));
  lua_pop(L, 1);
  return v;
}

static void check_keys(lua_State *L, ldb *box, int t,
                       const char *const *keys, const char *what,
                       const char *model, const char *attr) {
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    int ok = 0;
    if (lua_type(L, -1) == LUA_TSTRING) {
      const char *k = lua_tostring(L, -1);
      for (int i = 0; keys[i]; i++)
        if (strcmp(k, keys[i]) == 0) ok = 1;
      if (!ok)
        lerr_raise(L, box, ASSOC_MISUSE, "unknown %s '%s' for %s%s%s", what,
                   k, model, attr ? "." : "", attr ? attr : "");
    } else {
      lerr_raise(L, box, ASSOC_MISUSE, "invalid %s key of type %s for %s%s%s",
                 what, luaL_typename(L, -1), model, attr ? "." : "",
                 attr ? attr : "");
    }
  }
}

static const char *const model_opts[] = {"tableName", "timestamps",
                                         "paranoid", "underscored", NULL};

/* db:define(name, attrs, options) -> Model */
int lmodel_define(lua_State *L) {
  ldb *box = ldb_check(L, "define");
  if (lua_type(L, 2) != LUA_TSTRING || lua_rawlen(L, 2) == 0)
    return lerr_raise(L, box, ASSOC_MISUSE,
                      "db:define: the model name must be a non-empty string "
                      "(got %s)",
                      luaL_typename(L, 2));
  if (lstr_hasnul(L, 2))
    return lerr_raise(L, box, ASSOC_MISUSE,
                      "db:define: the model name contains a NUL byte");
  const char *name = lua_tostring(L, 2);
  if (lua_type(L, 3) != LUA_TTABLE)
    return lerr_raise(L, box, ASSOC_MISUSE,
                      "db:define(%s): attributes must be an array of tables "
                      "(got %s)",
                      name, luaL_typename(L, 3));
  int ot = lua_type(L, 4);
  if (ot != LUA_TNIL && ot != LUA_TNONE && ot != LUA_TTABLE)
    return lerr_raise(L, box, ASSOC_MISUSE,
                      "db:define(%s): options must be a table (got %s)", name,
                      luaL_typename(L, 4));
  lua_settop(L, 4);
  lconv c;
  lconv_init(&c, L, box, NULL, "define");

  lua_Integer n = (lua_Integer)lua_rawlen(L, 3);
  if (n > 2000)
    return lerr_raise(L, box, ASSOC_MISUSE, "db:define(%s): too many attributes",
                      name);
  assoc_attr *attrs = lconv_alloc(&c, (size_t)(n ? n : 1) * sizeof *attrs);
  for (lua_Integer i = 1; i <= n; i++) {
    assoc_attr *a = &attrs[i - 1];
    memset(a, 0, sizeof *a);
    if (lua_rawgeti(L, 3, i) != LUA_TTABLE)
      return lerr_raise(L, box, ASSOC_MISUSE,
                        "db:define(%s): attribute #%d must be a table (got "
                        "%s)",
                        name, (int)i, luaL_typename(L, -1));
    int t = lua_gettop(L);
    if (lua_getfield(L, t, "name") != LUA_TSTRING || lua_rawlen(L, -1) == 0)
      return lerr_raise(L, box, ASSOC_MISUSE,
                        "db:define(%s): attribute #%d needs a non-empty name",
                        name, (int)i);
    if (lstr_hasnul(L, -1))
      return lerr_raise(L, box, ASSOC_MISUSE,
                        "db:define(%s): attribute #%d: name contains a NUL "
                        "byte",
                        name, (int)i);
    a->name = lua_tostring(L, -1); /* borrowed: the attr table keeps it */
    lua_pop(L, 1);
    check_keys(L, box, t, attr_keys, "attribute option", name, a->name);
    int ct = lua_getfield(L, t, "column");
    if (ct == LUA_TSTRING && !lstr_hasnul(L, -1) && lua_rawlen(L, -1) > 0)
      a->column = lua_tostring(L, -1);
    else if (ct != LUA_TNIL)
      return lerr_raise(L, box, ASSOC_MISUSE,
                        "%s.%s: column must be a non-empty string without "
                        "NUL bytes (got %s)",
                        name,
                        a->name, luaL_typename(L, -1));
    lua_pop(L, 1);
    if (lua_getfield(L, t, "type") != LUA_TSTRING || lstr_hasnul(L, -1))
      return lerr_raise(L, box, ASSOC_MISUSE,
                        "%s.%s: type must be a type name such as \"STRING\" "
                        "(got %s)",
                        name, a->name, luaL_typename(L, -1));
    int ty = assoc_type_from_name(lua_tostring(L, -1));
    if (ty < 0)
      return lerr_raise(L, box, ASSOC_MISUSE,
                        "%s.%s: unknown type '%s'", name, a->name,
                        lua_tostring(L, -1));
    a->type = (assoc_type)ty;
    lua_pop(L, 1);
    int lt = lua_getfield(L, t, "length");
    if (lt != LUA_TNIL) {
      if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0 ||
          lua_tointeger(L, -1) > 0x7fffffff)
        return lerr_raise(L, box, ASSOC_MISUSE,
                          "%s.%s: length must be a non-negative integer",
                          name, a->name);
      a->length = (int)lua_tointeger(L, -1);
    }
    lua_pop(L, 1);
    unsigned f = 0;
    if (opt_bool(L, box, t, "primaryKey", name, a->name, 0)) f |= ASSOC_ATTR_PK;
    if (opt_bool(L, box, t, "autoIncrement", name, a->name, 0))
      f |= ASSOC_ATTR_AUTOINC;
    if (!opt_bool(L, box, t, "allowNull", name, a->name, 1))
      f |= ASSOC_ATTR_NOTNULL;
    if (opt_bool(L, box, t, "unique", name, a->name, 0)) f |= ASSOC_ATTR_UNIQUE;
    int dt = lua_getfield(L, t, "default");
    if (dt != LUA_TNIL) {
      f |= ASSOC_ATTR_DEFAULT;
      if (dt == LUA_TBOOLEAN) {
        a->dflt.type = ASSOC_V_INT;
        a->dflt.u.i = lua_toboolean(L, -1);
      } else if (dt == LUA_TNUMBER && lua_isinteger(L, -1)) {
        a->dflt.type = ASSOC_V_INT;
        a->dflt.u.i = (int64_t)lua_tointeger(L, -1);
      } else if (dt == LUA_TNUMBER) {
        a->dflt.type = ASSOC_V_REAL;
        a->dflt.u.r = lua_tonumber(L, -1);
      } else if (dt == LUA_TSTRING) {
        a->dflt.type = ASSOC_V_TEXT;
        a->dflt.u.s.p = lua_tolstring(L, -1, &a->dflt.u.s.n);
      } else {
        return lerr_raise(L, box, ASSOC_MISUSE,
                          "%s.%s: default must be a string, number or "
                          "boolean (got %s)",
                          name, a->name, luaL_typename(L, -1));
      }
    }
    lua_pop(L, 1);
    a->flags = f;
    lua_pop(L, 1); /* the attr table: still referenced by attrs */
  }

  assoc_model_def def;
  memset(&def, 0, sizeof def);
  def.name = name;
  def.attrs = attrs;
  def.nattrs = (int)n;
  if (ot == LUA_TTABLE) {
    check_keys(L, box, 4, model_opts, "model option", name, NULL);
    int tt = lua_getfield(L, 4, "tableName");
    if (tt == LUA_TSTRING && lua_rawlen(L, -1) > 0 && !lstr_hasnul(L, -1))
      def.table = lua_tostring(L, -1);
    else if (tt != LUA_TNIL)
      return lerr_raise(L, box, ASSOC_MISUSE,
                        "%s: tableName must be a non-empty string", name);
    lua_pop(L, 1);
    if (opt_bool(L, box, 4, "timestamps", name, NULL, 0))
      def.flags |= ASSOC_MODEL_TIMESTAMPS;
    if (opt_bool(L, box, 4, "paranoid", name, NULL, 0))
      def.flags |= ASSOC_MODEL_PARANOID;
    if (opt_bool(L, box, 4, "underscored", name, NULL, 0))
      def.flags |= ASSOC_MODEL_UNDERSCORED;
  }

  /* the userdata and its registration exist before the core is called */
  lua_getiuservalue(L, 1, LDB_UV_MODELS);
  int models = lua_gettop(L);
  lua_pushvalue(L, 2);
  if (lua_rawget(L, models) != LUA_TNIL)
    return lerr_raise(L, box, ASSOC_MISUSE, "model '%s' is already defined",
                      name);
  lua_pop(L, 1);
  lmodel *mu = lua_newuserdatauv(L, sizeof *mu, 1);
  mu->m = NULL;
  mu->box = box;
  luaL_setmetatable(L, LASSOC_MODEL);
  int ud = lua_gettop(L);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, ud, 1);
  lua_pushvalue(L, 2);
  lua_pushvalue(L, ud);
  lua_rawset(L, models);

  assoc_model *m = NULL;
  if (assoc_define(box->db, &def, &m) != ASSOC_OK) {
    lerr_snapshot(box);
    lua_pushvalue(L, 2);
    lua_pushnil(L);
    lua_rawset(L, models); /* removing a key never allocates */
    return lerr_raise_snap(L, box, 0);
  }
  mu->m = m;
  ldb_flush(L, box);
  lua_settop(L, ud);
  return 1;
}

/* Pushes the Model userdata of m, a model of the Db at slot 1: the one
 * registered in the Db's models table, else (a model the core made, e.g. a
 * junction table) a new userdata, registered. */
void lmodel_push(lua_State *L, ldb *box, const assoc_model *m) {
  lua_getiuservalue(L, 1, LDB_UV_MODELS);
  int models = lua_gettop(L);
  lua_pushstring(L, assoc_model_name(m));
  if (lua_rawget(L, models) == LUA_TUSERDATA) {
    lua_remove(L, models);
    return;
  }
  lua_pop(L, 1);
  lmodel *mu = lua_newuserdatauv(L, sizeof *mu, 1);
  mu->m = m;
  mu->box = box;
  luaL_setmetatable(L, LASSOC_MODEL);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  lua_pushstring(L, assoc_model_name(m));
  lua_pushvalue(L, -2);
  lua_rawset(L, models);
  lua_remove(L, models);
}

/* ---- metadata ------------------------------------------------------------------ */

static int m_name(lua_State *L) {
  ldb *box;
  const assoc_model *m = lmodel_check(L, "name", &box);
  lua_pushstring(L, assoc_model_name(m));
  return 1;
}

static int m_tablename(lua_State *L) {
  ldb *box;
  const assoc_model *m = lmodel_check(L, "tableName", &box);
  lua_pushstring(L, assoc_model_table(m));
  return 1;
}

static void setbool(lua_State *L, const char *k, int v) {
  lua_pushboolean(L, v);
  lua_setfield(L, -2, k);
}

static int m_attributes(lua_State *L) {
  ldb *box;
  const assoc_model *m = lmodel_check(L, "attributes", &box);
  int n = assoc_model_nattrs(m);
  int underscored = (assoc_model_flags(m) & ASSOC_MODEL_UNDERSCORED) != 0;
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    const assoc_attr *a = assoc_model_attr(m, i);
    lua_createtable(L, 0, 10);
    lua_pushstring(L, a->name);
    lua_setfield(L, -2, "name");
    if (a->column) {
      lua_pushstring(L, a->column);
    } else if (underscored) {
      char buf[256];
      if (assoc_underscore(a->name, buf, sizeof buf) >= 0)
        lua_pushstring(L, buf);
      else
        lua_pushstring(L, a->name);
    } else {
      lua_pushstring(L, a->name);
    }
    lua_setfield(L, -2, "column");
    const char *tn = assoc_type_name(a->type);
    lua_pushstring(L, tn ? tn : "?");
    lua_setfield(L, -2, "type");
    if (a->type == ASSOC_T_STRING) {
      lua_pushinteger(L, a->length > 0 ? a->length : 255);
      lua_setfield(L, -2, "length");
    } else if (a->length > 0) {
      lua_pushinteger(L, a->length);
      lua_setfield(L, -2, "length");
    }
    setbool(L, "primaryKey", (a->flags & ASSOC_ATTR_PK) != 0);
    setbool(L, "autoIncrement", (a->flags & ASSOC_ATTR_AUTOINC) != 0);
    setbool(L, "allowNull", (a->flags & ASSOC_ATTR_NOTNULL) == 0);
    setbool(L, "unique", (a->flags & ASSOC_ATTR_UNIQUE) != 0);
    setbool(L, "auto", (a->flags & ASSOC_ATTR_AUTO) != 0);
    if (a->flags & ASSOC_ATTR_DEFAULT) {
      switch (a->dflt.type) {
      case ASSOC_V_INT:
        if (a->type == ASSOC_T_BOOLEAN)
          lua_pushboolean(L, a->dflt.u.i != 0);
        else
          lua_pushinteger(L, (lua_Integer)a->dflt.u.i);
        break;
      case ASSOC_V_REAL: lua_pushnumber(L, a->dflt.u.r); break;
      case ASSOC_V_TEXT:
      case ASSOC_V_BLOB:
        lua_pushlstring(L, a->dflt.u.s.p, a->dflt.u.s.n);
        break;
      default: lua_pushnil(L); break;
      }
      lua_setfield(L, -2, "default");
    }
    int rk;
    const assoc_model *rm = assoc_model_ref(m, i, &rk);
    if (rm) { /* a foreign key an association added or reused */
      lua_createtable(L, 0, 2);
      lua_pushstring(L, assoc_model_name(rm));
      lua_setfield(L, -2, "model");
      if (rk >= 0) {
        lua_pushstring(L, assoc_model_attr(rm, rk)->name);
        lua_setfield(L, -2, "key");
      }
      lua_setfield(L, -2, "references");
    }
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

static int m_pk(lua_State *L) {
  ldb *box;
  const assoc_model *m = lmodel_check(L, "pk", &box);
  int i = assoc_model_pk(m);
  if (i < 0)
    lua_pushnil(L);
  else
    lua_pushstring(L, assoc_model_attr(m, i)->name);
  return 1;
}

static int m_special(lua_State *L) {
  ldb *box;
  const assoc_model *m = lmodel_check(L, "special", &box);
  static const char *const keys[] = {"createdAt", "updatedAt", "deletedAt"};
  static const int which[] = {ASSOC_COL_CREATED, ASSOC_COL_UPDATED,
                              ASSOC_COL_DELETED};
  lua_createtable(L, 0, 3);
  for (int k = 0; k < 3; k++) {
    int i = assoc_model_special(m, which[k]);
    if (i >= 0) {
      lua_pushstring(L, assoc_model_attr(m, i)->name);
      lua_setfield(L, -2, keys[k]);
    }
  }
  return 1;
}

/* ---- requests ------------------------------------------------------------------ */

static int m_find(lua_State *L) {
  ldb *box;
  const assoc_model *m = lmodel_check(L, "find", &box);
  int mt = lua_type(L, 3);
  if (mt != LUA_TNIL && mt != LUA_TNONE && mt != LUA_TTABLE)
    return lerr_raise(L, box, ASSOC_MISUSE,
                      "%s:find: the row metatable must be a table (got %s)",
                      assoc_model_name(m), luaL_typename(L, 3));
  lua_settop(L, 4);
  if (linclude_wants(L, 2)) return linclude_find(L, box, m);
  lconv c;
  lconv_init(&c, L, box, m, "find");
  assoc_select req;
  lw_select(&c, 2, &req, "find");
  assoc_rows *rows = NULL;
  if (assoc_find(box->db, m, &req, &rows) != ASSOC_OK)
    return lerr_raise_core(L, box, 0);
  lrows_collect(L, box, m, rows, mt == LUA_TTABLE ? 3 : 0,
                lua_isnil(L, 4) ? 0 : 4);
  ldb_flush(L, box);
  return 1;
}

static int m_count(lua_State *L) {
  ldb *box;
  const assoc_model *m = lmodel_check(L, "count", &box);
  lua_settop(L, 2);
  if (linclude_wants(L, 2)) return linclude_count(L, box, m);
  lconv c;
  lconv_init(&c, L, box, m, "count");
  assoc_select req;
  lw_select(&c, 2, &req, "count");
  int64_t n = 0;
  if (assoc_count(box->db, m, &req, &n) != ASSOC_OK)
    return lerr_raise_core(L, box, 0);
  ldb_flush(L, box);
  lua_pushinteger(L, (lua_Integer)n);
  return 1;
}

/* Scratch for converting values tables of model m. */
typedef struct vconv {
  int nattrs;
  unsigned char *present; /* nattrs flags */
  assoc_value *tmp;       /* nattrs values, by attribute index */
} vconv;

static void vconv_init(lconv *c, vconv *v) {
  v->nattrs = assoc_model_nattrs(c->m);
  v->present = lconv_alloc(c, (size_t)v->nattrs + 1);
  v->tmp = lconv_alloc(c, ((size_t)v->nattrs + 1) * sizeof(assoc_value));
}

/* Converts the values table at t into attrs/vals (attribute order) and the
 * presence flags in v->present; returns the count.  Raises AssocError on a
 * bad key, ValidationError on a bad value. */
static int values_row(lconv *c, vconv *v, int t, int *attrs,
                      assoc_value *vals) {
  lua_State *L = c->L;
  memset(v->present, 0, (size_t)v->nattrs);
  lua_pushnil(L);
  while (lua_next(L, t)) {
    if (lua_type(L, -2) != LUA_TSTRING)
      lerr_raise(L, c->box, ASSOC_MISUSE,
                 "invalid key of type %s in the values of %s:%s (keys are "
                 "attribute names)",
                 luaL_typename(L, -2), assoc_model_name(c->m), c->what);
    size_t kl;
    const char *k = lua_tolstring(L, -2, &kl);
    int a = assoc_model_attr_index(c->m, k);
    if (a < 0 || strlen(k) != kl)
      lerr_raise(L, c->box, ASSOC_MISUSE,
                 "unknown attribute '%s' of model %s in %s", k,
                 assoc_model_name(c->m), c->what);
    lv_typed(c, lua_gettop(L), a, &v->tmp[a]);
    v->present[a] = 1;
    lua_pop(L, 1);
  }
  int n = 0;
  for (int a = 0; a < v->nattrs; a++) {
    if (v->present[a]) {
      if (attrs) attrs[n] = a;
      vals[n] = v->tmp[a];
      n++;
    }
  }
  return n;
}

static int insert_one_plan(lua_State *L, ldb *box, const assoc_model *m);

static int m_insert(lua_State *L) {
  ldb *box;
  const assoc_model *m = lmodel_check(L, "insert", &box);
  if (lua_type(L, 2) != LUA_TTABLE)
    return lerr_raise(L, box, ASSOC_MISUSE,
                      "%s:insert expects a table of values (got %s)",
                      assoc_model_name(m), luaL_typename(L, 2));
  if (!lua_isnoneornil(L, 3)) return insert_one_plan(L, box, m);
  lua_settop(L, 2);
  lconv c;
  lconv_init(&c, L, box, m, "insert");
  vconv v;
  vconv_init(&c, &v);
  int *attrs = lconv_alloc(&c, ((size_t)v.nattrs + 1) * sizeof(int));
  assoc_value *vals =
      lconv_alloc(&c, ((size_t)v.nattrs + 1) * sizeof(assoc_value));
  int n = values_row(&c, &v, 2, attrs, vals);
  int64_t rowid = 0;
  if (assoc_insert(box->db, m, attrs, vals, n, &rowid) != ASSOC_OK)
    return lerr_raise_core(L, box, 2);
  ldb_flush(L, box);
  lua_pushinteger(L, (lua_Integer)rowid);
  return 1;
}

static int insert_plan(lua_State *L, ldb *box, const assoc_model *m);

static int m_insertmany(lua_State *L) {
  ldb *box;
  const assoc_model *m = lmodel_check(L, "insertMany", &box);
  const char *mn = assoc_model_name(m);
  if (lua_type(L, 2) != LUA_TTABLE)
    return lerr_raise(L, box, ASSOC_MISUSE,
                      "%s:insertMany expects an array of values tables (got "
                      "%s)",
                      mn, luaL_typename(L, 2));
  if (!lua_isnoneornil(L, 3)) return insert_plan(L, box, m);
  lua_settop(L, 2);
  lconv c;
  lconv_init(&c, L, box, m, "insertMany");
  vconv v;
  vconv_init(&c, &v);
  size_t nrows = lua_rawlen(L, 2);
  size_t na = (size_t)v.nattrs;
  if (nrows > 0x7fffffff / (na + 1) ||
      nrows > ((size_t)1 << 40) / ((na + 1) * sizeof(assoc_value)))
    return lerr_raise(L, box, ASSOC_MISUSE, "%s:insertMany: too many rows",
                      mn);
  lua_createtable(L, (int)nrows, 0);
  int result = lua_gettop(L);
  if (nrows == 0) return 1;

  /* 1. convert every row, packed one after another; consecutive rows with
   * the same key set form a run (one assoc_insert_many each), so rowids
   * grow in input order */
  assoc_value *all = lconv_alloc(&c, (nrows * na + 1) * sizeof(assoc_value));
  unsigned char *prev = lconv_alloc(&c, na + 1);
  int *rstart = lconv_alloc(&c, nrows * sizeof(int)); /* run -> first row */
  int *rcount = lconv_alloc(&c, nrows * sizeof(int));
  int *rk = lconv_alloc(&c, nrows * sizeof(int));
  size_t *roff = lconv_alloc(&c, nrows * sizeof(size_t));
  int **rattrs = lconv_alloc(&c, nrows * sizeof(int *));
  int64_t *ids = lconv_alloc(&c, nrows * sizeof(int64_t));
  int nruns = 0;
  size_t used = 0;
  for (size_t i = 0; i < nrows; i++) {
    if (lua_rawgeti(L, 2, (lua_Integer)i + 1) != LUA_TTABLE)
      return lerr_raise(L, box, ASSOC_MISUSE,
                        "%s:insertMany: row #%d is not a table (got %s)", mn,
                        (int)i + 1, luaL_typename(L, -1));
    int k = values_row(&c, &v, lua_gettop(L), NULL, all + used);
    lua_pop(L, 1);
    if (i == 0 || memcmp(prev, v.present, na) != 0) {
      int r = nruns++;
      rstart[r] = (int)i;
      rcount[r] = 0;
      rk[r] = k;
      roff[r] = used;
      rattrs[r] = NULL;
      memcpy(prev, v.present, na);
      /* a key set already seen shares its attribute list */
      for (int j = r - 1; j >= 0 && j >= r - 8; j--) {
        if (rk[j] == k) {
          int same = 1, n = 0;
          for (size_t a = 0; a < na && same; a++)
            if (v.present[a]) same = rattrs[j][n++] == (int)a;
          if (same) {
            rattrs[r] = rattrs[j];
            break;
          }
        }
      }
      if (!rattrs[r]) {
        rattrs[r] = lconv_alloc(&c, ((size_t)k + 1) * sizeof(int));
        int n = 0;
        for (size_t a = 0; a < na; a++)
          if (v.present[a]) rattrs[r][n++] = (int)a;
      }
    }
    rcount[nruns - 1]++;
    used += (size_t)k;
  }

  /* 2. the core calls: no Lua call from here to the end of the writes */
  int began = 0;
  if (nruns > 1) {
    if (assoc_begin(box->db) != ASSOC_OK) return lerr_raise_core(L, box, 0);
    began = 1;
  }
  for (int r = 0; r < nruns; r++) {
    if (assoc_insert_many(box->db, m, rattrs[r], rk[r], all + roff[r],
                          rcount[r], ids + rstart[r]) != ASSOC_OK) {
      lerr_snapshot(box);
      if (began) assoc_rollback(box->db);
      if (rcount[r] == 1) /* the failing row is known: its values */
        lua_rawgeti(L, 2, (lua_Integer)rstart[r] + 1);
      return lerr_raise_snap(L, box, rcount[r] == 1 ? -1 : 0);
    }
  }
  if (began && assoc_commit(box->db) != ASSOC_OK) {
    lerr_snapshot(box);
    assoc_rollback(box->db);
    return lerr_raise_snap(L, box, 0);
  }
  for (size_t i = 0; i < nrows; i++) {
    lua_pushinteger(L, (lua_Integer)ids[i]);
    lua_rawseti(L, result, (lua_Integer)i + 1);
  }
  ldb_flush(L, box);
  lua_settop(L, result);
  return 1;
}

/* ---- bulk writes of the Lua face (Model:bulkCreate) ---------------------------- */

/* m:build(list, mt, statekey, defaults) -> array of new instances, or nil.
 *
 * Builds what Model:bulkCreate writes from an array of values tables: for
 * each plain table (no metatable) a new table with its non-null values,
 * plus defaults[name] (a table name -> literal) for every name the row does
 * not have, with metatable mt.  A row that already is an instance (metatable
 * mt) without statekey, a new record, is kept as it is.  Anything else -- a
 * list that is not an array 1..n, a row of another kind, a key that is not
 * an attribute -- gives nil and nothing else, so the Lua face can take its
 * general path (which raises the messages).  Never calls Lua code. */
#define KEYCACHE 32 /* m_build: keys remembered by traversal position */

static int m_build(lua_State *L) {
  ldb *box;
  const assoc_model *m = lmodel_check(L, "build", &box);
  luaL_checktype(L, 2, LUA_TTABLE);
  luaL_checktype(L, 3, LUA_TTABLE);
  lua_settop(L, 5);
  if (lua_getmetatable(L, 2)) { /* __len, __index: the general path */
    lua_pushnil(L);
    return 1;
  }
  int nattrs = assoc_model_nattrs(m);
  lua_Integer n = (lua_Integer)lua_rawlen(L, 2);
  /* the defaults, as (name, value) pairs from slot 6 on */
  int nd = 0;
  if (lua_type(L, 5) == LUA_TTABLE) {
    lua_pushnil(L);
    while (lua_next(L, 5)) { /* leaves key, value; the key again for next */
      luaL_checkstack(L, 4, "too many defaults");
      lua_pushvalue(L, -2);
      nd++;
    }
  }
  luaL_checkstack(L, 12, "too many defaults");
  int dbase = 6;
  const void *keys[KEYCACHE] = {NULL};
  /* room for the snapshot key once saved, unless snapshots go to shared
   * stores (instance.lua: the model's metatable has a layout) */
  lua_getfield(L, 3, "layout");
  int extra = lua_istable(L, -1) && n > 1 ? 0 : 1;
  lua_pop(L, 1);
  lua_createtable(L, (int)(n > 0x3fffffff ? 0 : n), 0);
  int result = lua_gettop(L);
  lua_Integer seen = 0;
  lua_pushnil(L);
  while (lua_next(L, 2)) {
    int src = lua_gettop(L), key = src - 1;
    lua_Integer i;
    if (!lua_isinteger(L, key) || (i = lua_tointeger(L, key)) < 1 || i > n ||
        lua_type(L, src) != LUA_TTABLE) {
      lua_pushnil(L);
      return 1;
    }
    seen++;
    if (lua_getmetatable(L, src)) {
      /* an instance of this model that is still a new record: as it is */
      int same = lua_rawequal(L, -1, 3);
      lua_pop(L, 1);
      if (!same || lua_isnil(L, 4)) {
        lua_pushnil(L);
        return 1;
      }
      lua_pushvalue(L, 4);
      int saved = lua_rawget(L, src) != LUA_TNIL;
      lua_pop(L, 1);
      if (saved) {
        lua_pushnil(L);
        return 1;
      }
      lua_rawseti(L, result, i); /* pops src */
      continue;
    }
    lua_createtable(L, 0, nattrs + extra);
    int inst = src + 1;
    int p = 0; /* position in src's traversal */
    lua_pushnil(L);
    while (lua_next(L, src)) {
      /* rows made alike traverse alike: a key seen at this position in an
       * earlier row of the list (alive, so its address is its own) is an
       * attribute already checked */
      const void *kp = lua_topointer(L, -2);
      if (p >= KEYCACHE || kp == NULL || keys[p] != kp) {
        size_t kl;
        const char *k;
        if (lua_type(L, -2) != LUA_TSTRING ||
            assoc_model_attr_index(m, (k = lua_tolstring(L, -2, &kl))) < 0 ||
            strlen(k) != kl) {
          lua_pushnil(L);
          return 1;
        }
        if (p < KEYCACHE) keys[p] = kp;
      }
      p++;
      if (lua_type(L, -1) == LUA_TUSERDATA &&
          lua_touserdata(L, -1) == box->null) {
        lua_pop(L, 1);
        continue;
      }
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_rawset(L, inst);
    }
    for (int d = 0; d < nd; d++) {
      lua_pushvalue(L, dbase + 2 * d);
      if (lua_rawget(L, src) == LUA_TNIL) {
        lua_pushvalue(L, dbase + 2 * d);
        lua_pushvalue(L, dbase + 2 * d + 1);
        lua_rawset(L, inst);
      }
      lua_pop(L, 1);
    }
    lua_pushvalue(L, 3);
    lua_setmetatable(L, inst);
    lua_rawseti(L, result, i); /* pops inst */
    lua_pop(L, 1);             /* src */
  }
  if (seen != n) { /* a hole */
    lua_pushnil(L);
    return 1;
  }
  lua_settop(L, result);
  return 1;
}

/* Flags of a column of an insert plan (model.lua's write plan). */
enum {
  PLAN_FORCE = 1,   /* absent: written as NULL (the attribute has a default) */
  PLAN_NOTNULL = 2, /* screen: NULL is a validation failure */
  PLAN_SCREEN = 4   /* screen: the value's Lua type is checked */
};

/* Is s (n bytes) at least "DDDD-DD-DD" at its start? */
static int ymd_prefix(const char *s, size_t n) {
  static const char shape[] = "dddd-dd-dd";
  if (n < 10) return 0;
  for (int i = 0; i < 10; i++) {
    if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != '-') return 0;
  }
  return 1;
}

static int finite_number(lua_State *L, int idx) {
  return lua_isinteger(L, idx) || isfinite(lua_tonumber(L, idx));
}

/* Does the value at idx (Lua type t) surely pass the Lua face's type check
 * for an attribute of type `type` (validate.lua's type_rules)?  0 means
 * "maybe not": the Lua face then runs its own check. */
static int screen_ok(lua_State *L, int idx, int t, assoc_type type) {
  size_t n;
  switch (type) {
  case ASSOC_T_STRING:
  case ASSOC_T_TEXT:
  case ASSOC_T_UUID:
  case ASSOC_T_DECIMAL:
    return t == LUA_TSTRING || (t == LUA_TNUMBER && finite_number(L, idx));
  case ASSOC_T_INTEGER:
  case ASSOC_T_BIGINT: return t == LUA_TNUMBER && lua_isinteger(L, idx);
  case ASSOC_T_FLOAT:
  case ASSOC_T_DOUBLE: return t == LUA_TNUMBER && finite_number(L, idx);
  case ASSOC_T_BOOLEAN: return t == LUA_TBOOLEAN;
  case ASSOC_T_DATE:
    if (t == LUA_TNUMBER) return finite_number(L, idx);
    if (t != LUA_TSTRING) return 0;
    {
      const char *s = lua_tolstring(L, idx, &n);
      return ymd_prefix(s, n);
    }
  case ASSOC_T_DATEONLY:
    if (t != LUA_TSTRING) return 0;
    {
      const char *s = lua_tolstring(L, idx, &n);
      return n == 10 && ymd_prefix(s, n);
    }
  case ASSOC_T_JSON:
    return t == LUA_TTABLE || t == LUA_TSTRING || t == LUA_TBOOLEAN ||
           (t == LUA_TNUMBER && finite_number(L, idx));
  case ASSOC_T_BLOB: return t == LUA_TSTRING;
  default: return 0;
  }
}

/* May converting a value of type `type` raise although screen_ok passed?
 * (dates out of range, JSON that cannot be encoded) */
static int may_raise(assoc_type type) {
  return type == ASSOC_T_DATE || type == ASSOC_T_DATEONLY ||
         type == ASSOC_T_JSON;
}

/* Cell states of insert_plan's rows. */
enum { CELL_SET = 0, CELL_ABSENT = 1, CELL_LATER = 2 };

/* m:insertMany(insts, plan, mode, pk, setpk) -> ids | false: the plan
 * form, for the Lua face.  insts is an array of instance tables, read raw; plan is
 * { name, ..., flags = { ... } }: the attributes to write and their PLAN_*
 * flags.  A row writes its non-nil values of those names (a NULL where
 * PLAN_FORCE); every row then gets the union of the columns written, NULL
 * where it has none, so that all go through one statement, in order.
 *
 * mode "insert" converts and writes.  "screen" first checks every row
 * (PLAN_NOTNULL, PLAN_SCREEN) and returns false, having written nothing and
 * raised nothing, when one may fail the Lua face's validation (the face
 * then validates in Lua); values whose conversion could raise are only
 * converted once every row passed.  "check" only checks: true or false.
 * pk (may be nil) names the rowid primary key: ids[i] is the rowid of row i
 * when its pk is nil (only then: rows that all have their pk go through
 * multi-row statements, which give no rowids), and with setpk the row gets
 * it there.  Conversion and database errors raise as in m:insertMany. */
/* The columns of a write plan (model.lua's Model:_write_plan insert plan) at
 * stack slot `plan`: { name, ..., flags = { PLAN_* ... } }. */
typedef struct wplan {
  int ncols;
  int names;                   /* stack slot of the first name */
  const int *cattr;            /* attribute index per column */
  const unsigned char *cflag;  /* PLAN_* per column */
  const assoc_attr *const *attr;
} wplan;

/* A plan compiled for its model, kept in the plan table (key "_c"): the
 * Lua face makes a plan once per model and drops it when the attributes
 * change; model, count and the attribute array are checked all the same. */
typedef struct wcompiled {
  const assoc_model *m;
  int nattrs, ncols;
  const assoc_attr *attrs0;    /* assoc_model_attr(m, 0) when compiled */
  int *cattr, *src;            /* per column: attribute, index in the plan */
  unsigned char *cflag;
  const assoc_attr **attr;
} wcompiled;

/* Compiles the plan at slot `plan` for c->m; pushes the userdata. */
static wcompiled *plan_compile(lconv *c, int plan) {
  lua_State *L = c->L;
  const assoc_model *m = c->m;
  const char *mn = assoc_model_name(m);
  int na = assoc_model_nattrs(m);
  int ncols = (int)lua_rawlen(L, plan);
  if (ncols > na) {
    lerr_raise(L, c->box, ASSOC_MISUSE, "%s:%s: bad plan", mn, c->what);
    return NULL;
  }
  size_t n1 = (size_t)ncols + 1;
  size_t size = sizeof(wcompiled) + n1 * sizeof(const assoc_attr *) +
                2 * n1 * sizeof(int) + n1;
  wcompiled *w = lua_newuserdatauv(L, size, 0);
  int ud = lua_gettop(L);
  w->m = m;
  w->nattrs = na;
  w->ncols = ncols;
  w->attrs0 = na > 0 ? assoc_model_attr(m, 0) : NULL;
  w->attr = (const assoc_attr **)(w + 1);
  w->cattr = (int *)(w->attr + n1);
  w->src = w->cattr + n1;
  w->cflag = (unsigned char *)(w->src + n1);
  int *slot = lconv_alloc(c, ((size_t)na + 1) * sizeof(int));
  for (int a = 0; a < na; a++) slot[a] = -1;
  for (int j = 0; j < ncols; j++) {
    size_t kl;
    const char *k;
    int a = -1;
    if (lua_rawgeti(L, plan, j + 1) != LUA_TSTRING ||
        (a = assoc_model_attr_index(m, (k = lua_tolstring(L, -1, &kl)))) < 0 ||
        strlen(k) != kl || slot[a] >= 0) {
      lerr_raise(L, c->box, ASSOC_MISUSE, "%s:%s: bad plan", mn, c->what);
      return NULL;
    }
    slot[a] = j;
    lua_pop(L, 1);
  }
  lua_getfield(L, plan, "flags");
  int j = 0;
  for (int a = 0; a < na; a++) {
    if (slot[a] < 0) continue;
    w->cattr[j] = a;
    w->src[j] = slot[a];
    w->attr[j] = assoc_model_attr(m, a);
    w->cflag[j] = 0;
    if (lua_type(L, -1) == LUA_TTABLE) {
      lua_rawgeti(L, -1, slot[a] + 1);
      w->cflag[j] = (unsigned char)lua_tointeger(L, -1);
      lua_pop(L, 1);
    }
    j++;
  }
  lua_settop(L, ud);
  return w;
}

/* Reads the plan at slot `plan` into w (compiling it on first use), pushing
 * its names in attribute order (the order the values form writes, so the
 * SQL is the same) from w->names on.  Raises AssocError on a bad plan. */
static void plan_open(lconv *c, int plan, wplan *w) {
  lua_State *L = c->L;
  const assoc_model *m = c->m;
  int na = assoc_model_nattrs(m);
  wcompiled *cw = NULL;
  if (lua_getfield(L, plan, "_c") == LUA_TUSERDATA) {
    cw = lua_touserdata(L, -1);
    if (cw->m != m || cw->nattrs != na ||
        cw->attrs0 != (na > 0 ? assoc_model_attr(m, 0) : NULL))
      cw = NULL;
  }
  lua_pop(L, 1);
  if (!cw) {
    cw = plan_compile(c, plan);
    lua_setfield(L, plan, "_c"); /* the plan keeps it alive */
  }
  luaL_checkstack(L, cw->ncols + 20, "too many columns");
  w->ncols = cw->ncols;
  w->cattr = cw->cattr;
  w->cflag = cw->cflag;
  w->attr = cw->attr;
  w->names = lua_gettop(L) + 1;
  for (int j = 0; j < cw->ncols; j++) lua_rawgeti(L, plan, cw->src[j] + 1);
}

/* m:insert(inst, plan [, mode]) -> rowid | boolean: the plan form of
 * m:insert, for the Lua face's create and save: the row is an instance read
 * raw by the plan's names (a NULL for an absent PLAN_FORCE one), as
 * insertMany's plan form reads each row.  mode as there: "screen" returns
 * false, having written nothing, when the row may fail the Lua face's
 * validation; "check" only checks (true or false). */
static int insert_one_plan(lua_State *L, ldb *box, const assoc_model *m) {
  luaL_checktype(L, 3, LUA_TTABLE);
  const char *mode = luaL_optstring(L, 4, "insert");
  int screen = strcmp(mode, "insert") != 0;
  int checkonly = strcmp(mode, "check") == 0;
  lua_settop(L, 3);
  lconv c;
  lconv_init(&c, L, box, m, "insert");
  wplan w;
  plan_open(&c, 3, &w);
  int top = lua_gettop(L);
  for (int j = 0; screen && j < w.ncols; j++) {
    unsigned char f = w.cflag[j];
    if (!(f & (PLAN_NOTNULL | PLAN_SCREEN))) continue;
    lua_pushvalue(L, w.names + j);
    int t = lua_rawget(L, 2);
    int ok = (t == LUA_TNIL || (t == LUA_TUSERDATA && lv_isnull(&c, top + 1)))
                 ? !(f & PLAN_NOTNULL)
                 : !(f & PLAN_SCREEN) || screen_ok(L, top + 1, t, w.attr[j]->type);
    lua_settop(L, top);
    if (!ok) {
      lua_pushboolean(L, 0);
      return 1;
    }
  }
  if (checkonly) {
    lua_pushboolean(L, 1);
    return 1;
  }
  int attrs_s[32];
  assoc_value vals_s[32];
  int *attrs = attrs_s;
  assoc_value *vals = vals_s;
  if (w.ncols > 32) {
    attrs = lconv_alloc(&c, ((size_t)w.ncols + 1) * sizeof(int));
    vals = lconv_alloc(&c, ((size_t)w.ncols + 1) * sizeof(assoc_value));
  }
  int n = 0;
  for (int j = 0; j < w.ncols; j++) {
    lua_pushvalue(L, w.names + j);
    int t = lua_rawget(L, 2);
    if (t == LUA_TNIL) {
      if (w.cflag[j] & PLAN_FORCE) {
        attrs[n] = w.cattr[j];
        vals[n++].type = ASSOC_V_NULL;
      }
    } else {
      attrs[n] = w.cattr[j];
      lv_typed(&c, top + 1, w.cattr[j], &vals[n++]);
    }
    lua_settop(L, top);
  }
  int64_t rowid = 0;
  if (assoc_insert(box->db, m, attrs, vals, n, &rowid) != ASSOC_OK)
    return lerr_raise_core(L, box, 2);
  ldb_flush(L, box);
  lua_pushinteger(L, (lua_Integer)rowid);
  return 1;
}

static int insert_plan(lua_State *L, ldb *box, const assoc_model *m) {
  const char *mn = assoc_model_name(m);
  luaL_checktype(L, 3, LUA_TTABLE);
  const char *mode = luaL_optstring(L, 4, "insert");
  int screen = strcmp(mode, "insert") != 0;
  int checkonly = strcmp(mode, "check") == 0;
  lua_settop(L, 6);
  int haspk = lua_type(L, 5) == LUA_TSTRING;
  int setpk = haspk && lua_toboolean(L, 6);
  lua_settop(L, 5);
  size_t nrows = lua_rawlen(L, 2);
  lconv c;
  lconv_init(&c, L, box, m, "insertMany"); /* slot 6 */
  wplan w;
  plan_open(&c, 3, &w);
  int ncols = w.ncols, names = w.names;
  const int *cattr = w.cattr;
  const unsigned char *cflag = w.cflag;
  const assoc_attr *const *attr = w.attr;
  unsigned char *used = lconv_alloc(&c, (size_t)ncols + 1);
  memset(used, 0, (size_t)ncols + 1);
  if (nrows > 0x7fffffff / ((size_t)ncols + 1) ||
      nrows > ((size_t)1 << 40) / (((size_t)ncols + 1) * sizeof(assoc_value)))
    return lerr_raise(L, box, ASSOC_MISUSE, "%s:insertMany: too many rows",
                      mn);
  lua_pushnil(L); /* the result, once known */
  int result = lua_gettop(L);
  if (nrows == 0) {
    if (checkonly)
      lua_pushboolean(L, 1);
    else
      lua_newtable(L);
    return 1;
  }
  size_t ncells = nrows * (size_t)ncols;
  assoc_value *all = lconv_alloc(&c, (ncells + 1) * sizeof(assoc_value));
  unsigned char *cell = lconv_alloc(&c, ncells + 1);
  int64_t *ids = lconv_alloc(&c, nrows * sizeof(int64_t));
  int failed = 0, later = 0, needids = 0, pkcol = -1;
  for (int j = 0; haspk && j < ncols; j++)
    if (lua_rawequal(L, names + j, 5)) pkcol = j;

  /* 1. read every row: checked (screen, check), converted (but in check
   * mode), or left for later (screen, a conversion that may raise) */
  for (size_t i = 0; i < nrows && !failed; i++) {
    if (lua_rawgeti(L, 2, (lua_Integer)i + 1) != LUA_TTABLE)
      return lerr_raise(L, box, ASSOC_MISUSE,
                        "%s:insertMany: row #%d is not a table (got %s)", mn,
                        (int)i + 1, luaL_typename(L, -1));
    int row = lua_gettop(L), v = row + 1;
    assoc_value *out = all + i * (size_t)ncols;
    unsigned char *st = cell + i * (size_t)ncols;
    for (int j = 0; j < ncols; j++) {
      unsigned char f = cflag[j];
      lua_pushvalue(L, names + j);
      int t = lua_rawget(L, row);
      st[j] = CELL_SET;
      if (t == LUA_TNIL || (t == LUA_TUSERDATA && lv_isnull(&c, v))) {
        if (screen && (f & PLAN_NOTNULL)) failed = 1;
        out[j].type = ASSOC_V_NULL;
        if (t == LUA_TNIL && !(f & PLAN_FORCE))
          st[j] = CELL_ABSENT;
        else
          used[j] = 1;
      } else if (screen && (f & PLAN_SCREEN) &&
                 !screen_ok(L, v, t, attr[j]->type)) {
        failed = 1;
      } else if (!checkonly) {
        used[j] = 1;
        if (screen && (!(f & PLAN_SCREEN) || may_raise(attr[j]->type))) {
          st[j] = CELL_LATER;
          out[j].type = ASSOC_V_NULL;
          later = 1;
        } else if (t == LUA_TSTRING && (attr[j]->type == ASSOC_T_STRING ||
                                        attr[j]->type == ASSOC_T_TEXT)) {
          /* what lv_typed makes of these two, inline (keep in step) */
          out[j].type = ASSOC_V_TEXT;
          out[j].u.s.p = lua_tolstring(L, v, &out[j].u.s.n);
        } else if (t == LUA_TNUMBER && lua_isinteger(L, v) &&
                   (attr[j]->type == ASSOC_T_INTEGER ||
                    attr[j]->type == ASSOC_T_BIGINT)) {
          out[j].type = ASSOC_V_INT;
          out[j].u.i = (int64_t)lua_tointeger(L, v);
        } else {
          lv_typed(&c, v, cattr[j], &out[j]);
        }
      }
      if (j == pkcol && t == LUA_TNIL) needids = 1;
      lua_settop(L, row);
    }
    if (haspk && pkcol < 0 && !needids) {
      lua_pushvalue(L, 5);
      if (lua_rawget(L, row) == LUA_TNIL) needids = 1;
    }
    lua_settop(L, row - 1);
  }
  if (failed || checkonly) {
    lua_pushboolean(L, !failed);
    return 1;
  }
  for (size_t x = 0; later && x < ncells; x++) {
    if (cell[x] != CELL_LATER) continue;
    size_t i = x / (size_t)ncols;
    int j = (int)(x % (size_t)ncols);
    lua_rawgeti(L, 2, (lua_Integer)i + 1);
    lua_pushvalue(L, names + j);
    lua_rawget(L, -2);
    lv_typed(&c, lua_gettop(L), cattr[j], &all[x]);
    lua_settop(L, result);
  }

  /* 2. the union of the columns; rows packed to it */
  int *attrs = lconv_alloc(&c, ((size_t)ncols + 1) * sizeof(int));
  int k = 0;
  for (int j = 0; j < ncols; j++)
    if (used[j]) attrs[k++] = cattr[j];
  if (k < ncols) {
    assoc_value *dst = all;
    for (size_t i = 0; i < nrows; i++) {
      const assoc_value *src = all + i * (size_t)ncols;
      for (int j = 0; j < ncols; j++)
        if (used[j]) *dst++ = src[j];
    }
  }

  /* 3. the write: no Lua call from here to its end */
  if (assoc_insert_many(box->db, m, attrs, k, all, (int)nrows,
                        needids ? ids : NULL) != ASSOC_OK) {
    lerr_snapshot(box);
    if (nrows == 1) lua_rawgeti(L, 2, 1); /* the failing row: its values */
    return lerr_raise_snap(L, box, nrows == 1 ? -1 : 0);
  }
  ldb_flush(L, box);
  lua_settop(L, result);
  lua_createtable(L, needids ? (int)nrows : 0, 0);
  lua_replace(L, result);
  for (size_t i = 0; needids && i < nrows; i++) {
    lua_pushinteger(L, (lua_Integer)ids[i]);
    lua_rawseti(L, result, (lua_Integer)i + 1);
  }
  if (setpk && needids) {
    for (size_t i = 0; i < nrows; i++) {
      lua_rawgeti(L, 2, (lua_Integer)i + 1);
      lua_pushvalue(L, 5);
      if (lua_rawget(L, -2) == LUA_TNIL) {
        lua_pushvalue(L, 5);
        lua_pushinteger(L, (lua_Integer)ids[i]);
        lua_rawset(L, -4);
      }
      lua_settop(L, result);
    }
  }
  return 1;
}

/* m:snapshot(insts, mt, statekey, names, copy): records every instance of
 * insts (an array, or one instance: a table with metatable mt) as saved, its snapshot holding its values of `names` (the model's
 * attribute names, in attribute order; NULL as nil), a table value through
 * copy(v) (util.deep_copy).  The bulk form of instance.lua's snapshot
 * helpers, which own the representation: with a layout in mt, rows share
 * snapshot stores (lsnap, lassoc.h); else (or for a lone row) each gets a
 * table by name. */
static int m_snapshot(lua_State *L) {
  ldb *box;
  const assoc_model *m = lmodel_check(L, "snapshot", &box);
  luaL_checktype(L, 2, LUA_TTABLE);
  luaL_checktype(L, 3, LUA_TTABLE);
  luaL_checkany(L, 4);
  luaL_checktype(L, 5, LUA_TTABLE);
  lua_settop(L, 6);
  int n = (int)lua_rawlen(L, 5);
  if (n != assoc_model_nattrs(m))
    return luaL_error(L, "snapshot: names are not the attributes of %s",
                      assoc_model_name(m));
  luaL_checkstack(L, n + 20, "too many attributes");
  int names = lua_gettop(L) + 1;
  for (int j = 0; j < n; j++) /* the caller's contract: in attribute order */
    if (lua_rawgeti(L, 5, j + 1) != LUA_TSTRING)
      return luaL_error(L, "snapshot: names are not the attributes of %s",
                        assoc_model_name(m));
  int single = 0; /* insts is one instance (metatable mt) */
  if (lua_getmetatable(L, 2)) {
    single = lua_rawequal(L, -1, 3);
    lua_pop(L, 1);
  }
  lua_Integer nrows = single ? 1 : (lua_Integer)lua_rawlen(L, 2);
  lsnap ss;
  /* a lone row gets a table by name: cheaper than a store of its own */
  int shared = lsnap_init(L, &ss, nrows > 1 ? 3 : 0, 4, n, (int64_t)nrows);
  for (lua_Integer i = 1; i <= nrows; i++) {
    if (single)
      lua_pushvalue(L, 2);
    else if (lua_rawgeti(L, 2, i) != LUA_TTABLE)
      return luaL_error(L, "snapshot: row #%d is not a table", (int)i);
    int inst = lua_gettop(L), snap = 0;
    if (shared) {
      lsnap_row(L, &ss, inst);
    } else {
      lua_createtable(L, 0, n);
      snap = inst + 1;
    }
    for (int j = 0; j < n; j++) {
      lua_pushvalue(L, names + j);
      int t = lua_rawget(L, inst);
      if (t == LUA_TNIL ||
          (t == LUA_TUSERDATA && lua_touserdata(L, -1) == box->null)) {
        lua_pop(L, 1);
        continue;
      }
      if (t == LUA_TTABLE) {
        lua_pushvalue(L, 6);
        lua_insert(L, -2);
        lua_call(L, 1, 1);
      }
      if (shared) {
        lsnap_put(L, &ss, j);
      } else {
        lua_pushvalue(L, names + j);
        lua_insert(L, -2);
        lua_rawset(L, snap);
      }
    }
    if (!shared) {
      lua_pushvalue(L, 4);
      lua_insert(L, -2);
      lua_rawset(L, inst);
    }
    lua_settop(L, inst - 1);
  }
  return 0;
}

static int m_update(lua_State *L) {
  ldb *box;
  const assoc_model *m = lmodel_check(L, "update", &box);
  if (lua_type(L, 2) != LUA_TTABLE)
    return lerr_raise(L, box, ASSOC_MISUSE,
                      "%s:update expects a table of values (got %s)",
                      assoc_model_name(m), luaL_typename(L, 2));
  int wd = lua_type(L, 4);
  if (wd != LUA_TNIL && wd != LUA_TNONE && wd != LUA_TBOOLEAN)
    return lerr_raise(L, box, ASSOC_MISUSE,
                      "%s:update: withDeleted must be a boolean (got %s)",
                      assoc_model_name(m), luaL_typename(L, 4));
  lua_settop(L, 4);
  lconv c;
  lconv_init(&c, L, box, m, "update");
  vconv v;
  vconv_init(&c, &v);
  int *attrs = lconv_alloc(&c, ((size_t)v.nattrs + 1) * sizeof(int));
  assoc_value *vals =
      lconv_alloc(&c, ((size_t)v.nattrs + 1) * sizeof(assoc_value));
  int n = values_row(&c, &v, 2, attrs, vals);
  const assoc_where *w;
  lw_where(&c, 3, &w);
  if (n == 0) {
    lua_pushinteger(L, 0);
    return 1;
  }
  int64_t changes = 0;
  if (assoc_update(box->db, m, attrs, vals, n, w, lua_toboolean(L, 4),
                   &changes) != ASSOC_OK)
    return lerr_raise_core(L, box, 2);
  ldb_flush(L, box);
  lua_pushinteger(L, (lua_Integer)changes);
  return 1;
}

static int m_delete(lua_State *L) {
  ldb *box;
  const assoc_model *m = lmodel_check(L, "delete", &box);
  lua_settop(L, 2);
  lconv c;
  lconv_init(&c, L, box, m, "delete");
  const assoc_where *w;
  lw_where(&c, 2, &w);
  int64_t changes = 0;
  if (assoc_delete(box->db, m, w, &changes) != ASSOC_OK)
    return lerr_raise_core(L, box, 0);
  ldb_flush(L, box);
  lua_pushinteger(L, (lua_Integer)changes);
  return 1;
}

static int m_tostring(lua_State *L) {
  lmodel *mu = luaL_checkudata(L, 1, LASSOC_MODEL);
  if (mu->box->db && mu->m)
    lua_pushfstring(L, "assoc.Model %s", assoc_model_name(mu->m));
  else
    lua_pushliteral(L, "assoc.Model (closed)");
  return 1;
}

static const luaL_Reg model_methods[] = {
    {"name", m_name},       {"tableName", m_tablename},
    {"attributes", m_attributes}, {"pk", m_pk},
    {"special", m_special}, {"find", m_find},
    {"count", m_count},     {"insert", m_insert},
    {"insertMany", m_insertmany}, {"update", m_update},
    {"delete", m_delete},   {"build", m_build},
    {"snapshot", m_snapshot}, {NULL, NULL}};

void lmodel_open(lua_State *L) {
  if (luaL_newmetatable(L, LASSOC_MODEL)) {
    luaL_newlib(L, model_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, m_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_pop(L, 1);
}
