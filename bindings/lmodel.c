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

static int m_insert(lua_State *L) {
  ldb *box;
  const assoc_model *m = lmodel_check(L, "insert", &box);
  if (lua_type(L, 2) != LUA_TTABLE)
    return lerr_raise(L, box, ASSOC_MISUSE,
                      "%s:insert expects a table of values (got %s)",
                      assoc_model_name(m), luaL_typename(L, 2));
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

static int m_insertmany(lua_State *L) {
  ldb *box;
  const assoc_model *m = lmodel_check(L, "insertMany", &box);
  const char *mn = assoc_model_name(m);
  if (lua_type(L, 2) != LUA_TTABLE)
    return lerr_raise(L, box, ASSOC_MISUSE,
                      "%s:insertMany expects an array of values tables (got "
                      "%s)",
                      mn, luaL_typename(L, 2));
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
    {"delete", m_delete},   {NULL, NULL}};

void lmodel_open(lua_State *L) {
  if (luaL_newmetatable(L, LASSOC_MODEL)) {
    luaL_newlib(L, model_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, m_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_pop(L, 1);
}
