/*
 * openlibs.c -- assoc_openlibs: what a C host calls to get the engine.
 *
 * Registers luaopen_assoc_core as package.preload["assoc.core"] and one
 * loader per embedded Lua module (build/embedded.c), so that
 * `require "assoc"` works with no search paths.  An entry the host already
 * put in package.preload is left alone (a host may override a module).
 * Linked only into libassoc.a / libassoc.so, not into assoc/core.so.
 */
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "assoc.h"
#include "embedded.h"

/* The preload loader of an embedded module: upvalue 1 is the light
 * userdata of its entry.  Called by require as loader(name, ":preload:");
 * runs the chunk with the module name, as a file loader would. */
static int load_embedded(lua_State *L) {
  const assoc_embedded_module *e = lua_touserdata(L, lua_upvalueindex(1));
  if (luaL_loadbuffer(L, e->source, e->len, e->chunkname) != LUA_OK)
    return lua_error(L);
  lua_pushstring(L, e->name);
  lua_pushliteral(L, ":preload:");
  lua_call(L, 2, 1);
  return 1;
}

/* preload[name] = value on top (popped), unless preload[name] exists. */
static void preload(lua_State *L, int pre, const char *name) {
  if (lua_getfield(L, pre, name) == LUA_TNIL) {
    lua_pop(L, 1);
    lua_setfield(L, pre, name);
  } else {
    lua_pop(L, 2);
  }
}

int assoc_openlibs(lua_State *L) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  int pre = lua_gettop(L);
  lua_pushcfunction(L, luaopen_assoc_core);
  preload(L, pre, "assoc.core");
  for (const assoc_embedded_module *e = assoc_embedded_modules; e->name; e++) {
    lua_pushlightuserdata(L, (void *)e);
    lua_pushcclosure(L, load_embedded, 1);
    preload(L, pre, e->name);
  }
  lua_pop(L, 1);
  return 0;
}
