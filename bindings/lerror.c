/*
 * lerror.c -- the one place where errors become Lua error objects.
 *
 * An error object is a table { name =, message =, code =, sql =, errors =,
 * fields = } whose metatable is core.error_mt (__tostring: "Name: message").
 * Core failures are first copied into the box (lerr_snapshot, plain C, never
 * raises) so that nothing done afterwards -- a rollback, the logger using
 * the db -- can change or free the message; the object is then built from
 * that copy, the deferred log is flushed, and the object is raised.  Errors
 * of the bindings' own (bad arguments, wrong value types) go through the
 * same builder.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "lassoc.h"

/* The error name of a core code. */
static const char *err_name(int code) {
  switch (code) {
  case ASSOC_CLOSED:
  case ASSOC_CANTOPEN: return "ConnectionError";
  case ASSOC_UNIQUE: return "UniqueConstraintError";
  case ASSOC_FOREIGNKEY: return "ForeignKeyConstraintError";
  case ASSOC_NOTNULL: return "ValidationError";
  case ASSOC_MISUSE: return "AssocError";
  default: return "DatabaseError";
  }
}

static char *dupstr(const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s) + 1;
  char *p = malloc(n);
  if (p) memcpy(p, s, n);
  return p;
}

static void snap_clear(lerr_snap *e) {
  free(e->msg);
  free(e->sql);
  free(e->field);
  e->msg = e->sql = e->field = NULL;
}

void lerr_snapshot(ldb *box) {
  snap_clear(&box->err);
  if (!box->db) {
    box->err.code = ASSOC_CLOSED;
    return;
  }
  box->err.code = assoc_errcode(box->db);
  if (box->err.code == ASSOC_OK) box->err.code = ASSOC_ERROR;
  box->err.msg = dupstr(assoc_errmsg(box->db));
  box->err.sql = dupstr(assoc_errsql(box->db));
  box->err.field = dupstr(assoc_errfield(box->db));
}

/* Pushes a new error object { name, message, code [, sql] } with
 * core.error_mt.  The message is at msg_idx (a string on the stack). */
static void new_error(lua_State *L, const char *name, int code, int msg_idx,
                      const char *sql) {
  msg_idx = lua_absindex(L, msg_idx);
  lua_createtable(L, 0, 6);
  lua_pushstring(L, name);
  lua_setfield(L, -2, "name");
  lua_pushvalue(L, msg_idx);
  lua_setfield(L, -2, "message");
  if (code >= 0) {
    lua_pushinteger(L, code);
    lua_setfield(L, -2, "code");
  }
  if (sql) {
    lua_pushstring(L, sql);
    lua_setfield(L, -2, "sql");
  }
  lua_getfield(L, LUA_REGISTRYINDEX, LASSOC_ERRMT);
  lua_setmetatable(L, -2);
}

/* errors[#errors + 1] = { path = path, message = msg, value = <value_idx> }
 * on the error object at the top. */
static void add_item(lua_State *L, const char *path, int msg_idx,
                     int value_idx) {
  int err = lua_gettop(L);
  if (lua_getfield(L, err, "errors") != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, err, "errors");
  }
  lua_createtable(L, 0, 3);
  if (path) {
    lua_pushstring(L, path);
    lua_setfield(L, -2, "path");
  }
  lua_pushvalue(L, msg_idx);
  lua_setfield(L, -2, "message");
  if (value_idx) {
    lua_pushvalue(L, value_idx);
    lua_setfield(L, -2, "value");
  }
  lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
  lua_settop(L, err);
}

static int raise_top(lua_State *L, ldb *box) {
  if (box) ldb_flush(L, box);
  return lua_error(L);
}

int lerr_raise_snap(lua_State *L, ldb *box, int values_idx) {
  lerr_snap *e = &box->err;
  if (values_idx) values_idx = lua_absindex(L, values_idx);
  if (e->code == ASSOC_NOMEM) {
    lua_pushliteral(L, "not enough memory");
    return raise_top(L, box);
  }
  if (e->code == ASSOC_CLOSED && !e->msg)
    lua_pushliteral(L, "database is closed");
  else
    lua_pushstring(L, e->msg ? e->msg : "out of memory copying an error");
  int msg = lua_gettop(L);
  const char *sql = (e->code == ASSOC_MISUSE) ? NULL : e->sql;
  new_error(L, err_name(e->code), e->code, msg, sql);
  if (e->code == ASSOC_UNIQUE && e->field) {
    /* one item per field of "a,b" */
    int err = lua_gettop(L);
    lua_newtable(L);
    int fields = lua_gettop(L);
    const char *p = e->field;
    while (*p) {
      const char *q = strchr(p, ',');
      size_t n = q ? (size_t)(q - p) : strlen(p);
      lua_settop(L, fields);
      lua_pushlstring(L, p, n);
      int path = lua_gettop(L);
      lua_pushvalue(L, path);
      lua_rawseti(L, fields, (lua_Integer)lua_rawlen(L, fields) + 1);
      lua_pushfstring(L, "%s must be unique", lua_tostring(L, path));
      int imsg = lua_gettop(L);
      int value = 0;
      if (values_idx && lua_type(L, values_idx) == LUA_TTABLE) {
        lua_pushvalue(L, path);
        if (lua_rawget(L, values_idx) != LUA_TNIL) value = lua_gettop(L);
      }
      lua_pushvalue(L, err);
      add_item(L, lua_tostring(L, path), imsg, value);
      if (!q) break;
      p = q + 1;
    }
    lua_settop(L, fields);
    lua_setfield(L, err, "fields");
  } else if (e->code == ASSOC_NOTNULL) {
    add_item(L, e->field, msg, 0);
  }
  return raise_top(L, box);
}

int lerr_raise_core(lua_State *L, ldb *box, int values_idx) {
  lerr_snapshot(box);
  return lerr_raise_snap(L, box, values_idx);
}

int lerr_raise(lua_State *L, ldb *box, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  if (code == ASSOC_NOMEM) return raise_top(L, box);
  new_error(L, err_name(code), code, -1, NULL);
  return raise_top(L, box);
}

int lerr_validation(lua_State *L, ldb *box, const char *path, int value_idx,
                    const char *fmt, ...) {
  if (value_idx) value_idx = lua_absindex(L, value_idx);
  va_list ap;
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  int msg = lua_gettop(L);
  new_error(L, "ValidationError", -1, msg, NULL);
  add_item(L, path, msg, value_idx);
  return raise_top(L, box);
}

/* __tostring of error objects: name .. ": " .. message. */
static int err_tostring(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_getfield(L, 1, "name");
  lua_getfield(L, 1, "message");
  const char *name = lua_tostring(L, -2);
  const char *msg = lua_tostring(L, -1);
  lua_pushfstring(L, "%s: %s", name ? name : "Error", msg ? msg : "?");
  return 1;
}

void lerr_open(lua_State *L) {
  if (luaL_newmetatable(L, LASSOC_ERRMT)) {
    lua_pushcfunction(L, err_tostring);
    lua_setfield(L, -2, "__tostring");
  }
}
