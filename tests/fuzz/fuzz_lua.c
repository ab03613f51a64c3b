/*
 * fuzz_lua.c -- libFuzzer target over sequences of Lua API calls.
 *
 * Each input gets a fresh Lua state (a capped allocator, an instruction
 * budget) with the standard libraries and assoc_openlibs; the driver
 * tests/fuzz/fuzz_lua.lua (embedded at build time) reads the bytes as a
 * sequence of calls -- define, sync, create, bulkCreate, findAll with
 * fuzzed where tables, update, destroy, transactions, hooks that raise or
 * close the db, db:close mid-way, collectgarbage, coroutines -- each under
 * pcall.  Then lua_close runs every finalizer.  Findings: a crash or a
 * sanitizer report (address, undefined), a leak (LeakSanitizer after each
 * input), or an unclean error, which the driver raises as "FINDING: ..."
 * and this file turns into an abort.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "assoc.h"
#include "embedded.h"        /* assoc_embedded_modules, from libassoc */
#include "fuzz_lua_driver.h" /* fuzz_driver, fuzz_driver_len */

#define MEM_CAP (256u << 20)
#define INSN_BUDGET 3000000L /* instructions per input, in steps of 1000 */

typedef struct budget {
  size_t used;
  long ticks;
} budget;

static void *capped_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  budget *b = ud;
  if (ptr == NULL) osize = 0;
  if (nsize == 0) {
    b->used -= osize;
    free(ptr);
    return NULL;
  }
  if (nsize > osize && b->used + (nsize - osize) > MEM_CAP) return NULL;
  void *p = realloc(ptr, nsize);
  if (p == NULL) return NULL;
  b->used = b->used - osize + nsize;
  return p;
}

static void count_hook(lua_State *L, lua_Debug *ar) {
  budget *b;
  (void)ar;
  lua_getallocf(L, (void **)&b);
  if ((b->ticks += 1000) > INSN_BUDGET) luaL_error(L, "instruction limit");
}

/* ---- bytecode cache ----------------------------------------------------------
 * Parsing the embedded modules for every input would cost more than running
 * most inputs, so each one (and the driver) is compiled once per process and
 * dumped; every input's state preloads the bytecode (assoc_openlibs leaves
 * existing preload entries alone).  Same chunks, same names: only the parse
 * is skipped. */
typedef struct chunk {
  char *code;
  size_t len, cap;
} chunk;

#define MAXMOD 64
static chunk g_mods[MAXMOD], g_driver;
static int g_nmods = -1;

static int dump_writer(lua_State *L, const void *p, size_t sz, void *ud) {
  chunk *c = ud;
  (void)L;
  if (c->len + sz > c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 65536;
    while (cap < c->len + sz) cap *= 2;
    char *n = realloc(c->code, cap);
    if (n == NULL) return 1;
    c->code = n;
    c->cap = cap;
  }
  memcpy(c->code + c->len, p, sz);
  c->len += sz;
  return 0;
}

static void compile(lua_State *L, const char *src, size_t len, const char *name, chunk *out) {
  if (luaL_loadbuffer(L, src, len, name) != LUA_OK) {
    fprintf(stderr, "fuzz_lua: cannot compile %s: %s\n", name, lua_tostring(L, -1));
    abort();
  }
  if (lua_dump(L, dump_writer, out, 0) != 0) abort();
  lua_pop(L, 1);
}

static void build_cache(void) {
  lua_State *L = luaL_newstate();
  int i = 0;
  for (const assoc_embedded_module *e = assoc_embedded_modules; e->name && i < MAXMOD; e++, i++)
    compile(L, e->source, e->len, e->chunkname, &g_mods[i]);
  g_nmods = i;
  compile(L, fuzz_driver, fuzz_driver_len, "@tests/fuzz/fuzz_lua.lua", &g_driver);
  lua_close(L);
}

static int load_cached(lua_State *L) {
  int i = (int)lua_tointeger(L, lua_upvalueindex(1));
  const assoc_embedded_module *e = &assoc_embedded_modules[i];
  if (luaL_loadbufferx(L, g_mods[i].code, g_mods[i].len, e->chunkname, "b") != LUA_OK)
    return lua_error(L);
  lua_pushstring(L, e->name);
  lua_pushliteral(L, ":preload:");
  lua_call(L, 2, 1);
  return 1;
}

static int run(lua_State *L) {
  luaL_openlibs(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  for (int i = 0; i < g_nmods; i++) {
    lua_pushinteger(L, i);
    lua_pushcclosure(L, load_cached, 1);
    lua_setfield(L, -2, assoc_embedded_modules[i].name);
  }
  lua_pop(L, 1);
  assoc_openlibs(L);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "assoc");
  lua_call(L, 1, 1);
  int assoc = lua_gettop(L);
  if (luaL_loadbufferx(L, g_driver.code, g_driver.len, "@tests/fuzz/fuzz_lua.lua", "b") != LUA_OK)
    return lua_error(L);
  lua_call(L, 0, 1);
  lua_pushvalue(L, 1);
  lua_pushvalue(L, assoc);
  lua_sethook(L, count_hook, LUA_MASKCOUNT, 1000);
  lua_call(L, 2, 0);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  budget b = {0, 0};
  if (g_nmods < 0) build_cache();
  lua_State *L = lua_newstate(capped_alloc, &b);
  if (L == NULL) return 0;
  lua_pushcfunction(L, run);
  lua_pushlstring(L, (const char *)data, size);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    if (msg && strncmp(msg, "FINDING: ", 9) == 0) {
      fprintf(stderr, "fuzz_lua: %s\n", msg);
      abort();
    }
    if (msg && (strstr(msg, "tests/fuzz/fuzz_lua.lua") && !strstr(msg, "instruction limit") &&
                !strstr(msg, "not enough memory"))) {
      /* an error of the driver itself: a harness bug, reported too */
      fprintf(stderr, "fuzz_lua: driver error: %s\n", msg);
      abort();
    }
  }
  lua_close(L);
  if (b.used != 0) {
    fprintf(stderr, "fuzz_lua: %zu bytes of the Lua state not freed by lua_close\n", b.used);
    abort();
  }
  return 0;
}
