/* A bare lua5.4 for profiling: the interpreter with Lua linked statically,
 * so that callgrind names Lua's own functions (luaH_newkey, luaV_execute, ...)
 * where the distribution's lua5.4 is stripped.  `plua script.lua args...`:
 *
 *   cc -O2 -g $(pkg-config --cflags lua5.4) -o plua bench/plua.c -Wl,-E \
 *      -Wl,-Bstatic -llua5.4 -Wl,-Bdynamic -lm -ldl
 *   PHASES=lazy BENCH_DB=x.db valgrind --tool=callgrind ./plua bench/profile.lua
 */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>

int main(int argc, char **argv) {
  lua_State *L = luaL_newstate();
  if (argc < 2) {
    fprintf(stderr, "usage: plua script.lua [args]\n");
    return 2;
  }
  luaL_openlibs(L);
  lua_createtable(L, argc, 0);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - 1);
  }
  lua_setglobal(L, "arg");
  if (luaL_dofile(L, argv[1]) != LUA_OK) {
    fprintf(stderr, "%s\n", lua_tostring(L, -1));
    lua_close(L);
    return 1;
  }
  lua_close(L);
  return 0;
}
