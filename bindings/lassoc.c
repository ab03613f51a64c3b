/*
 * lassoc.c -- entry point of the Lua module assoc.core, and the Db.
 *
 * luaopen_assoc_core builds the module table: core.null, core.Op (one
 * userdata per operator, metatable "assoc.Op"), core.error_mt, open, and
 * the helpers (uuid4, now, JSON, naming).  core.null and the Op values are
 * kept in the registry so that a second require in the same state returns
 * the very same values.
 *
 * The Db userdata (metatable "assoc.Db") is born closed: the userdata, its
 * metatable and its box exist before assoc_open runs, so a failure at any
 * point leaves nothing that the state does not release.  close, __gc and
 * __close are one idempotent function.  The box is C memory on a list that
 * a registry userdata ("assoc.handles", made with the module, so finalized
 * after every Db when the state closes) walks to close the databases still
 * open and free every box: a Db's finalizer does not always run (a
 * collection step with the C stack nearly full cannot enter it, and Lua
 * does not try again), and models keep pointers to the box anyway.
 * The Lua logger lives in the Db's user value 1; defined Models in user
 * value 2 (name -> Model).  The core's trace callback only records (sql, ms)
 * in C memory; ldb_flush calls the logger after the core call, under
 * lua_pcall, so no Lua code ever runs inside a core frame and a failing
 * logger only produces a warning.
 */
#include <stdlib.h>
#include <string.h>

#include "lassoc.h"

/* ---- operators --------------------------------------------------------------- */

static const char *const op_names[ASSOC_OP__COUNT] = {
    NULL,      "eq",      "ne",         "gt",         "gte",
    "lt",      "lte",     "in",         "notIn",      "like",
    "notLike", "iLike",   "between",    "notBetween", "is",
    "not",     "startsWith", "endsWith", "substring", "and",
    "or"};

const char *lassoc_op_name(int op) {
  if (op <= 0 || op >= ASSOC_OP__COUNT) return "?";
  return op_names[op];
}

void lassoc_push_op(lua_State *L, int op) {
  lua_getfield(L, LUA_REGISTRYINDEX, LASSOC_OPS);
  lua_rawgeti(L, -1, op);
  lua_remove(L, -2);
}

static int op_tostring(lua_State *L) {
  int *p = luaL_checkudata(L, 1, LASSOC_OP);
  lua_pushfstring(L, "Op.%s", lassoc_op_name(*p));
  return 1;
}

static int null_tostring(lua_State *L) {
  lua_pushliteral(L, "assoc.null");
  return 1;
}

/* The Db at idx: 1 with *box set (NULL: a Db whose open failed before its
 * box was made), or 0 when the value is not a Db. */
static int db_at(lua_State *L, int idx, ldb **box) {
  ldb **ud = luaL_testudata(L, idx, LASSOC_DB);
  *box = ud ? *ud : NULL;
  return ud != NULL;
}

/* ---- deferred log -------------------------------------------------------------- */

void ldb_trace(void *ud, const char *sql, double ms) {
  ldb *box = ud;
  if (!sql) sql = "";
  size_t n = strlen(sql) + 1, need = box->loglen + sizeof(double) + n;
  if (need > box->logcap) {
    size_t cap = box->logcap ? box->logcap : 256;
    while (cap < need) cap *= 2;
    char *p = realloc(box->log, cap);
    if (!p) {
      box->logdropped++;
      return;
    }
    box->log = p;
    box->logcap = cap;
  }
  memcpy(box->log + box->loglen, &ms, sizeof ms);
  memcpy(box->log + box->loglen + sizeof ms, sql, n);
  box->loglen = need;
}

/* lua_pcall'ed by ldb_flush: (logger, sql as light userdata, ms). */
static int flush_call(lua_State *L) {
  const char *sql = lua_touserdata(L, 2);
  lua_pushstring(L, sql);
  lua_replace(L, 2);
  lua_call(L, 2, 0);
  return 0;
}

static void warn_failure(lua_State *L, int errobj) {
  const char *msg = NULL;
  if (lua_type(L, errobj) == LUA_TSTRING) msg = lua_tostring(L, errobj);
  lua_warning(L, "assoc: the logging callback failed: ", 1);
  lua_warning(L, msg ? msg : "(an error object)", 0);
}

void ldb_flush(lua_State *L, ldb *box) {
  if (box->loglen == 0 || box->flushing) return;
  int top = lua_gettop(L);
  ldb *at;
  if (!db_at(L, 1, &at) || at != box || !lua_checkstack(L, 8)) {
    box->loglen = 0;
    return;
  }
  if (lua_getiuservalue(L, 1, LDB_UV_LOGGER) != LUA_TFUNCTION) {
    box->loglen = 0;
    lua_settop(L, top);
    return;
  }
  int fn = top + 1;
  box->flushing = 1;
  size_t off = 0;
  while (off < box->loglen) { /* the logger may append (nested calls) */
    double ms;
    memcpy(&ms, box->log + off, sizeof ms);
    const char *sql = box->log + off + sizeof ms;
    off += sizeof ms + strlen(sql) + 1;
    lua_pushcfunction(L, flush_call);
    lua_pushvalue(L, fn);
    lua_pushlightuserdata(L, (void *)sql);
    lua_pushnumber(L, ms);
    if (lua_pcall(L, 3, 0, 0) != LUA_OK) {
      warn_failure(L, -1);
      lua_pop(L, 1);
    }
  }
  box->loglen = 0;
  box->flushing = 0;
  if (box->logdropped) {
    lua_warning(L, "assoc: log records were dropped (out of memory)", 0);
    box->logdropped = 0;
  }
  if (!box->db || box->logcap > 65536) { /* closed by the logger, or a
                                            big batch: give memory back */
    free(box->log);
    box->log = NULL;
    box->logcap = 0;
  }
  lua_settop(L, top);
}

/* ---- Db ---------------------------------------------------------------------- */

/* The box of the Db at 1 (NULL once its box is gone), or raises the misuse
 * of calling db:method without a Db as self. */
static ldb *db_self(lua_State *L, const char *method) {
  ldb *box;
  if (!db_at(L, 1, &box))
    lerr_raise(L, NULL, ASSOC_MISUSE,
               "db:%s: expected a Db as self (got %s); call it as db:%s(...)",
               method, luaL_typename(L, 1), method);
  return box;
}

ldb *ldb_check(lua_State *L, const char *method) {
  ldb *box = db_self(L, method);
  if (!box || !box->db) lerr_raise(L, NULL, ASSOC_CLOSED, "database is closed");
  return box;
}

/* Closes box's database and frees its buffers (the box itself stays). */
static void box_release(ldb *box) {
  if (box->db) {
    assoc_set_trace(box->db, NULL, NULL);
    assoc_close(box->db);
    box->db = NULL;
  }
  if (!box->flushing) {
    free(box->log);
    box->log = NULL;
    box->logcap = box->loglen = 0;
  }
  free(box->err.msg);
  free(box->err.sql);
  free(box->err.field);
  box->err.msg = box->err.sql = box->err.field = NULL;
}

static int db_close(lua_State *L) {
  ldb *box = db_self(L, "close");
  if (box) box_release(box);
  lua_pushnil(L);
  lua_setiuservalue(L, 1, LDB_UV_LOGGER);
  return 0;
}

static int db_isclosed(lua_State *L) {
  ldb *box = db_self(L, "isclosed");
  lua_pushboolean(L, box == NULL || box->db == NULL);
  return 1;
}

/* ---- the state's boxes ---------------------------------------------------------- */

#define LASSOC_HANDLES "assoc.handles" /* registry: the list of boxes */
typedef struct lhandles {
  ldb *head;
} lhandles;

/* __gc of the list (when the state closes, after every Db's): closes the
 * databases still open, frees every box. */
static int handles_gc(lua_State *L) {
  lhandles *hs = lua_touserdata(L, 1);
  while (hs->head) {
    ldb *box = hs->head;
    hs->head = box->next;
    box->flushing = 0;
    box_release(box);
    free(box);
  }
  return 0;
}

/* Makes the list, once per state. */
static void handles_open(lua_State *L) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, LASSOC_HANDLES) == LUA_TUSERDATA) {
    lua_pop(L, 1);
    return;
  }
  lua_pop(L, 1);
  lhandles *hs = lua_newuserdatauv(L, sizeof *hs, 0);
  hs->head = NULL;
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, handles_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, LASSOC_HANDLES);
}

/* A new box on the state's list; NULL when out of memory. */
static ldb *box_new(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, LASSOC_HANDLES);
  lhandles *hs = lua_touserdata(L, -1);
  lua_pop(L, 1);
  ldb *box = hs ? calloc(1, sizeof *box) : NULL;
  if (box) {
    box->next = hs->head;
    hs->head = box;
  }
  return box;
}

static int db_tostring(lua_State *L) {
  ldb **ud = luaL_checkudata(L, 1, LASSOC_DB);
  ldb *box = *ud;
  if (box && box->db)
    lua_pushfstring(L, "assoc.Db (%p)", (void *)box);
  else
    lua_pushliteral(L, "assoc.Db (closed)");
  return 1;
}

static void check_logger(lua_State *L, ldb *box, int idx, const char *who) {
  int t = lua_type(L, idx);
  if (t != LUA_TNIL && t != LUA_TFUNCTION &&
      !(t == LUA_TBOOLEAN && !lua_toboolean(L, idx)))
    lerr_raise(L, box, ASSOC_MISUSE,
               "%s: logging must be a function, false or nil (got %s)", who,
               luaL_typename(L, idx));
}

/* core.open(path [, opts]) -> Db */
static int l_open(lua_State *L) {
  if (lua_type(L, 1) != LUA_TSTRING)
    return lerr_raise(L, NULL, ASSOC_MISUSE,
                      "open: path must be a string (got %s)",
                      luaL_typename(L, 1));
  if (lstr_hasnul(L, 1))
    return lerr_raise(L, NULL, ASSOC_MISUSE, "open: path contains a NUL byte");
  const char *path = lua_tostring(L, 1);
  assoc_open_opts o = {-1, 0};
  int t = lua_type(L, 2);
  if (t != LUA_TNIL && t != LUA_TNONE && t != LUA_TTABLE)
    return lerr_raise(L, NULL, ASSOC_MISUSE,
                      "open: options must be a table (got %s)",
                      luaL_typename(L, 2));
  lua_settop(L, 2);
  if (t == LUA_TTABLE) {
    lua_pushnil(L);
    while (lua_next(L, 2)) {
      const char *k =
          lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
      if (k && strcmp(k, "busyTimeout") == 0) {
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0 ||
            lua_tointeger(L, -1) > 0x7fffffff)
          return lerr_raise(L, NULL, ASSOC_MISUSE,
                            "open: busyTimeout must be a non-negative "
                            "integer of milliseconds (got %s)",
                            luaL_typename(L, -1));
        o.busy_timeout_ms = (int)lua_tointeger(L, -1);
      } else if (k && strcmp(k, "cacheSize") == 0) {
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 ||
            lua_tointeger(L, -1) > 100000)
          return lerr_raise(L, NULL, ASSOC_MISUSE,
                            "open: cacheSize must be a positive integer "
                            "(got %s)",
                            luaL_typename(L, -1));
        o.cache_size = (int)lua_tointeger(L, -1);
      } else if (k && strcmp(k, "logging") == 0) {
        check_logger(L, NULL, -1, "open");
      } else {
        return lerr_raise(L, NULL, ASSOC_MISUSE, "open: unknown option '%s'",
                          k ? k : luaL_typename(L, -2));
      }
      lua_pop(L, 1);
    }
  }
  ldb **ud = lua_newuserdatauv(L, sizeof *ud, LDB_NUV);
  *ud = NULL;
  luaL_setmetatable(L, LASSOC_DB);
  int self = lua_gettop(L);
  ldb *box = box_new(L);
  if (!box) return lerr_raise(L, NULL, ASSOC_NOMEM, "not enough memory");
  *ud = box;
  lua_getfield(L, LUA_REGISTRYINDEX, LASSOC_NULLV);
  box->null = lua_touserdata(L, -1);
  lua_pop(L, 1);
  lua_newtable(L);
  lua_setiuservalue(L, self, LDB_UV_MODELS);
  int haslog = 0;
  if (t == LUA_TTABLE && lua_getfield(L, 2, "logging") == LUA_TFUNCTION) {
    haslog = 1;
    lua_setiuservalue(L, self, LDB_UV_LOGGER);
  } else {
    lua_settop(L, self);
  }
  assoc_db *db = NULL;
  int rc = assoc_open(path, &o, &db);
  box->db = db;
  if (rc != ASSOC_OK) {
    if (!db) return lerr_raise(L, NULL, ASSOC_NOMEM, "not enough memory");
    lerr_snapshot(box);
    if (box->err.code != ASSOC_NOMEM) box->err.code = ASSOC_CANTOPEN;
    assoc_close(db);
    box->db = NULL;
    return lerr_raise_snap(L, box, 0);
  }
  if (haslog) assoc_set_trace(db, ldb_trace, box);
  return 1;
}

static int db_query_exec(lua_State *L, int isquery) {
  const char *method = isquery ? "query" : "exec";
  ldb *box = ldb_check(L, method);
  if (lua_type(L, 2) != LUA_TSTRING)
    return lerr_raise(L, box, ASSOC_MISUSE,
                      "db:%s: sql must be a string (got %s)", method,
                      luaL_typename(L, 2));
  if (lstr_hasnul(L, 2))
    return lerr_raise(L, box, ASSOC_MISUSE, "db:%s: sql contains a NUL byte",
                      method);
  int pt = lua_type(L, 3);
  if (pt != LUA_TNIL && pt != LUA_TNONE && pt != LUA_TTABLE)
    return lerr_raise(L, box, ASSOC_MISUSE,
                      "db:%s: params must be an array (got %s)", method,
                      luaL_typename(L, 3));
  lua_settop(L, 3);
  lconv c;
  lconv_init(&c, L, box, NULL, method);
  int n = 0;
  assoc_value *params = NULL;
  if (pt == LUA_TTABLE) {
    lua_Integer len = (lua_Integer)lua_rawlen(L, 3);
    lua_Integer nn = len;
    if (lua_getfield(L, 3, "n") == LUA_TNUMBER && lua_isinteger(L, -1) &&
        lua_tointeger(L, -1) >= len)
      nn = lua_tointeger(L, -1);
    lua_pop(L, 1);
    if (nn > 32766)
      return lerr_raise(L, box, ASSOC_MISUSE, "db:%s: too many params",
                        method);
    n = (int)nn;
    params = lconv_alloc(&c, (size_t)(n ? n : 1) * sizeof *params);
    for (int i = 1; i <= n; i++) {
      lua_rawgeti(L, 3, i);
      if (!lv_untyped(&c, -1, &params[i - 1]))
        return lerr_raise(L, box, ASSOC_MISUSE,
                          "db:%s: param #%d has unsupported type %s", method,
                          i, luaL_typename(L, -1));
      lua_pop(L, 1);
    }
  }
  const char *sql = lua_tostring(L, 2);
  if (isquery) {
    assoc_rows *rows = NULL;
    if (assoc_query(box->db, sql, params, n, &rows) != ASSOC_OK)
      return lerr_raise_core(L, box, 0);
    lrows_collect(L, box, NULL, rows, 0, 0);
    ldb_flush(L, box);
    return 1;
  }
  if (assoc_exec(box->db, sql, params, n) != ASSOC_OK)
    return lerr_raise_core(L, box, 0);
  ldb_flush(L, box);
  return 0;
}

static int db_query(lua_State *L) { return db_query_exec(L, 1); }
static int db_exec(lua_State *L) { return db_query_exec(L, 0); }

static int db_txn(lua_State *L, const char *method, int (*fn)(assoc_db *)) {
  ldb *box = ldb_check(L, method);
  if (fn(box->db) != ASSOC_OK) return lerr_raise_core(L, box, 0);
  ldb_flush(L, box);
  return 0;
}

static int db_begin(lua_State *L) { return db_txn(L, "begin", assoc_begin); }
static int db_commit(lua_State *L) { return db_txn(L, "commit", assoc_commit); }
static int db_rollback(lua_State *L) {
  return db_txn(L, "rollback", assoc_rollback);
}

static int db_depth(lua_State *L) {
  ldb *box = ldb_check(L, "depth");
  lua_pushinteger(L, assoc_txn_depth(box->db));
  return 1;
}

static int db_model(lua_State *L) {
  ldb *box = ldb_check(L, "model");
  if (lua_type(L, 2) != LUA_TSTRING)
    return lerr_raise(L, box, ASSOC_MISUSE,
                      "db:model: name must be a string (got %s)",
                      luaL_typename(L, 2));
  lua_settop(L, 2);
  lua_getiuservalue(L, 1, LDB_UV_MODELS);
  lua_pushvalue(L, 2);
  if (lua_rawget(L, -2) != LUA_TNIL) return 1;
  const assoc_model *m = lstr_hasnul(L, 2)
                             ? NULL
                             : assoc_model_find(box->db, lua_tostring(L, 2));
  if (!m) return 1; /* nil */
  lmodel_push(L, box, m);
  return 1;
}

static int db_sync(lua_State *L) {
  ldb *box = ldb_check(L, "sync");
  int t = lua_type(L, 2);
  if (t != LUA_TNIL && t != LUA_TNONE && t != LUA_TBOOLEAN)
    return lerr_raise(L, box, ASSOC_MISUSE,
                      "db:sync: force must be a boolean (got %s)",
                      luaL_typename(L, 2));
  if (assoc_sync(box->db, lua_toboolean(L, 2)) != ASSOC_OK)
    return lerr_raise_core(L, box, 0);
  ldb_flush(L, box);
  return 0;
}

static int db_drop(lua_State *L) {
  ldb *box = ldb_check(L, "drop");
  if (assoc_drop(box->db) != ASSOC_OK) return lerr_raise_core(L, box, 0);
  ldb_flush(L, box);
  return 0;
}

static int db_changes(lua_State *L) {
  ldb *box = ldb_check(L, "changes");
  lua_pushinteger(L, (lua_Integer)assoc_changes(box->db));
  return 1;
}

static int db_lastrowid(lua_State *L) {
  ldb *box = ldb_check(L, "lastrowid");
  lua_pushinteger(L, (lua_Integer)assoc_last_insert_rowid(box->db));
  return 1;
}

static int db_cachestats(lua_State *L) {
  ldb *box = ldb_check(L, "cachestats");
  assoc_cache_stats s;
  memset(&s, 0, sizeof s);
  assoc_cache_stats_get(box->db, &s);
  lua_createtable(L, 0, 5);
  lua_pushinteger(L, (lua_Integer)s.hits);
  lua_setfield(L, -2, "hits");
  lua_pushinteger(L, (lua_Integer)s.misses);
  lua_setfield(L, -2, "misses");
  lua_pushinteger(L, (lua_Integer)s.evictions);
  lua_setfield(L, -2, "evictions");
  lua_pushinteger(L, s.size);
  lua_setfield(L, -2, "size");
  lua_pushinteger(L, s.capacity);
  lua_setfield(L, -2, "capacity");
  return 1;
}

static int db_setlogger(lua_State *L) {
  ldb *box = ldb_check(L, "setlogger");
  check_logger(L, box, 2, "db:setlogger");
  lua_settop(L, 2);
  if (lua_type(L, 2) == LUA_TFUNCTION) {
    lua_setiuservalue(L, 1, LDB_UV_LOGGER);
    assoc_set_trace(box->db, ldb_trace, box);
  } else {
    ldb_flush(L, box); /* pending records go to the old logger */
    assoc_set_trace(box->db, NULL, NULL);
    lua_pushnil(L);
    lua_setiuservalue(L, 1, LDB_UV_LOGGER);
  }
  return 0;
}

static const luaL_Reg db_methods[] = {
    {"close", db_close},       {"isclosed", db_isclosed},
    {"query", db_query},       {"exec", db_exec},
    {"begin", db_begin},       {"commit", db_commit},
    {"rollback", db_rollback}, {"depth", db_depth},
    {"define", lmodel_define}, {"model", db_model},
    {"sync", db_sync},         {"drop", db_drop},
    {"changes", db_changes},   {"lastrowid", db_lastrowid},
    {"cachestats", db_cachestats}, {"setlogger", db_setlogger},
    {"associate", lrel_associate},
    {NULL, NULL}};

/* ---- module functions ------------------------------------------------------------ */

static int l_uuid4(lua_State *L) {
  char buf[37];
  assoc_uuid4(buf);
  lua_pushlstring(L, buf, 36);
  return 1;
}

static int l_now(lua_State *L) {
  char buf[25];
  assoc_now_iso(buf);
  lua_pushstring(L, buf);
  return 1;
}

typedef int (*namefn)(const char *, char *, size_t);

static int naming(lua_State *L, const char *fname, namefn fn, int camel) {
  if (lua_type(L, 1) != LUA_TSTRING)
    return lerr_raise(L, NULL, ASSOC_MISUSE, "%s: expects a string (got %s)",
                      fname, luaL_typename(L, 1));
  size_t n;
  const char *s = lua_tolstring(L, 1, &n);
  int lower = camel ? lua_toboolean(L, 2) : 0;
  size_t cap = 2 * n + 64;
  for (;;) {
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, cap);
    int r = camel ? assoc_camelize(s, lower, out, cap) : fn(s, out, cap);
    if (r >= 0) {
      luaL_pushresultsize(&b, (size_t)r);
      return 1;
    }
    lua_settop(L, 2);
    if (cap > ((size_t)1 << 28))
      return lerr_raise(L, NULL, ASSOC_MISUSE, "%s: word too long", fname);
    cap *= 4;
  }
}

static int l_pluralize(lua_State *L) {
  return naming(L, "pluralize", assoc_pluralize, 0);
}
static int l_singularize(lua_State *L) {
  return naming(L, "singularize", assoc_singularize, 0);
}
static int l_camelize(lua_State *L) { return naming(L, "camelize", NULL, 1); }
static int l_underscore(lua_State *L) {
  return naming(L, "underscore", assoc_underscore, 0);
}

static const luaL_Reg core_funcs[] = {
    {"open", l_open},
    {"uuid4", l_uuid4},
    {"now", l_now},
    {"json_encode", lcore_json_encode},
    {"json_decode", lcore_json_decode},
    {"snapbase", lcore_snapbase},
    {"date", lcore_date},
    {"pluralize", l_pluralize},
    {"singularize", l_singularize},
    {"camelize", l_camelize},
    {"underscore", l_underscore},
    {NULL, NULL}};

/* ---- heap tidying when a large result is collected -------------------------------- */

/* glibc's malloc keeps freed small blocks in "fastbins" unmerged, and merges
 * them all (malloc_consolidate) at the next allocation of 1 KB or more.
 * After the collection that frees a large result (an eager load's 100,000
 * rows), that merge walks every freed block: ten milliseconds and more,
 * billed to whatever allocates next -- a later, small query -- at a moment
 * that varies from run to run.  So a large result carries a witness (see
 * lsnap_row): a userdata kept in one of its snapshot stores, whose finalizer
 * runs at the end of the collection that freed the result and asks for one
 * large block there, so that the merge happens inside that collection.
 * Only a result of LSNAP_WITNESS_AT rows or more: after the merge, the
 * freed blocks of a smaller result lie scattered in glibc's unsorted list,
 * which the next allocations then sort block by block.  Measured on the
 * benchmark workload, a witness on the lazy phase's 1,000-row result made
 * the first query of the next phase take 3.1-3.7 ms instead of 0.6 ms in 4
 * runs of 10; at 8,192 rows, 0.6 ms in 18 of 18, and the eager load's
 * 110,000 rows still merge in their own collection.  (Doing it after every
 * cycle costs more still: small blocks would be merged before they can be
 * reused.) */
static int witness_gc(lua_State *L) {
  (void)L;
#if defined(__GLIBC__)
  void *volatile p = malloc(4096); /* past the tcache: the large path */
  free(p);
#endif
  return 0;
}

void lheap_witness(lua_State *L, int store) {
  store = lua_absindex(L, store);
  lua_newuserdatauv(L, 0, 0);
  if (luaL_newmetatable(L, LASSOC_WITNESS)) {
    lua_pushcfunction(L, witness_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  lua_rawseti(L, store, LSNAP_WITNESS);
}

int luaopen_assoc_core(lua_State *L) {
  luaL_checkversion(L);
  lua_settop(L, 0);

  lerr_open(L); /* 1: error_mt */
  handles_open(L);

  if (luaL_newmetatable(L, LASSOC_DB)) {
    luaL_newlib(L, db_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, db_close);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, db_close);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, db_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_pop(L, 1);
  lmodel_open(L);
  lrel_open(L);

  /* core.null */
  if (lua_getfield(L, LUA_REGISTRYINDEX, LASSOC_NULLV) != LUA_TUSERDATA) {
    lua_pop(L, 1);
    lua_newuserdatauv(L, 1, 0);
    luaL_newmetatable(L, LASSOC_NULL);
    lua_pushcfunction(L, null_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "assoc.null");
    lua_setfield(L, -2, "__name");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, LASSOC_NULLV);
  }
  int nullv = lua_gettop(L);

  /* core.Op */
  if (lua_getfield(L, LUA_REGISTRYINDEX, LASSOC_OPS) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_createtable(L, ASSOC_OP__COUNT, 0);
    luaL_newmetatable(L, LASSOC_OP);
    lua_pushcfunction(L, op_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);
    for (int op = 1; op < ASSOC_OP__COUNT; op++) {
      int *p = lua_newuserdatauv(L, sizeof(int), 0);
      *p = op;
      luaL_setmetatable(L, LASSOC_OP);
      lua_rawseti(L, -2, op);
    }
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, LASSOC_OPS);
  }
  int ops = lua_gettop(L);

  luaL_newlib(L, core_funcs);
  int mod = lua_gettop(L);
  lua_pushliteral(L, ASSOC_VERSION);
  lua_setfield(L, mod, "VERSION");
  lua_pushvalue(L, nullv);
  lua_setfield(L, mod, "null");
  lua_pushvalue(L, 1);
  lua_setfield(L, mod, "error_mt");
  lua_createtable(L, 0, ASSOC_OP__COUNT + 4);
  for (int op = 1; op < ASSOC_OP__COUNT; op++) {
    lua_rawgeti(L, ops, op);
    lua_setfield(L, -2, op_names[op]);
  }
  static const struct { const char *alias; int op; } aliases[] = {
      {"and_", ASSOC_OP_AND}, {"or_", ASSOC_OP_OR},
      {"not_", ASSOC_OP_NOT}, {"in_", ASSOC_OP_IN}};
  for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++) {
    lua_rawgeti(L, ops, aliases[i].op);
    lua_setfield(L, -2, aliases[i].alias);
  }
  lua_setfield(L, mod, "Op");
  return 1;
}
