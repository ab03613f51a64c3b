/*
 * host.c -- a C program that embeds Lua and hands it the assoc engine.
 *
 * It creates a Lua state, opens the standard libraries, calls
 * assoc_openlibs() so that `require "assoc"` works with no search paths
 * (the Lua modules are embedded in libassoc), and runs the script named on
 * the command line with the remaining arguments in `arg`.  Every call into
 * Lua is protected: a script error is printed with its traceback and the
 * program exits with status 1.
 *
 *   cc host.c $(pkg-config --cflags --libs assoc) -o host && ./host script.lua
 */
#include <stdio.h>
#include <stdlib.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "assoc.h"

/* Message handler: adds a traceback to string errors; error objects (tables
 * with __tostring, as assoc raises) are converted with tostring first. */
static int traceback(lua_State *L) {
  const char *msg = luaL_tolstring(L, 1, NULL);
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* Runs in protected mode: opens the libraries, sets `arg`, runs the script. */
static int run(lua_State *L) {
  char **argv = (char **)lua_touserdata(L, 1);
  int argc = (int)lua_tointeger(L, 2);
  luaL_openlibs(L);
  assoc_openlibs(L);
  lua_createtable(L, argc, 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - 1); /* arg[0] = script, arg[-1] = host */
  }
  lua_setglobal(L, "arg");
  if (luaL_loadfile(L, argv[1]) != LUA_OK) return lua_error(L);
  for (int i = 2; i < argc; i++) lua_pushstring(L, argv[i]);
  lua_call(L, argc - 2, 0);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s script.lua [args...]\n", argv[0]);
    return 2;
  }
  lua_State *L = luaL_newstate();
  if (L == NULL) {
    fprintf(stderr, "%s: cannot create a Lua state (out of memory)\n", argv[0]);
    return 1;
  }
  lua_pushcfunction(L, traceback);
  lua_pushcfunction(L, run);
  lua_pushlightuserdata(L, argv);
  lua_pushinteger(L, argc);
  int rc = lua_pcall(L, 2, 0, 1);
  if (rc != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "%s: %s\n", argv[0], msg ? msg : "(error object is not a string)");
  }
  lua_close(L);
  return rc == LUA_OK ? 0 : 1;
}
