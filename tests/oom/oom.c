/*
 * oom.c -- the allocation-failure sweep (make check-oom).
 *
 * Every allocator the engine uses is wrapped with one shared counter:
 *   - Lua's, through a custom lua_Alloc given to lua_newstate;
 *   - SQLite's, through sqlite3_config(SQLITE_CONFIG_MALLOC) before
 *     sqlite3_initialize (the wrapper calls the default methods);
 *   - the core's and the bindings' malloc/calloc/realloc/free, through the
 *     linker (-Wl,--wrap=malloc,...: only the objects of libassoc.a and this
 *     file are redirected; the shared libraries keep their own);
 *   - libcjson's, through cJSON_InitHooks.
 * Once armed, allocation number N (counting the four together, or only one
 * of them with OOM_MODE=lua|sqlite|core|json) fails, and so does every later
 * one: Lua retries a failed allocation after an emergency collection, so a
 * single failure is almost always absorbed.  Freeing never fails, nor does
 * shrinking a Lua block (the lua_Alloc contract).
 *
 * Scenarios are Lua snippets (tests/oom/scenarios.lua): setup(assoc, path)
 * builds the "old" database with the normal allocator, body(env) runs with
 * the failing one, check(assoc, path) reads the file through a fresh
 * connection and says "old" or "new" (raising on anything else).  The
 * built-in scenario "boot" arms the counter before lua_newstate and runs
 * luaL_openlibs + assoc_openlibs + require "assoc" + assoc.open.
 *
 * For each scenario N goes from 1 until a run completes without reaching
 * the failure.  Each N runs in a forked child, so that a crash or an abort
 * is reported with its N instead of ending the sweep.  At every N:
 *   - the body ends in success or a clean error: LUA_ERRMEM, the string
 *     "not enough memory" (how the engine raises ASSOC_NOMEM), or an assoc
 *     error object (a table with a string `name`);
 *   - after lua_close and sqlite3_shutdown the live bytes of all four
 *     allocators are back to what they were before the Lua state existed;
 *   - check() sees "old" or "new" ("new" whenever the body succeeded).
 * Built with -fsanitize=address,undefined, so that error paths that touch
 * freed memory are reported too.
 *
 *   oom SCENARIOS.lua TMPDIR [name ...]
 *   env: OOM_MODE=all|lua|sqlite|core|json (default all), OOM_MAX=n (stop a
 *        scenario after n points, 0 = no limit), OOM_JOBS=k (children run
 *        side by side, default 1), OOM_VERBOSE=1
 * Exit status: 0 when every point of every scenario passed (skipped
 * scenarios are listed as SKIP), 1 on any finding, 2 on a usage error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cJSON.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <sqlite3.h>

#include "assoc.h"

/* ---- accounting ----------------------------------------------------------- */
enum { K_LUA = 1, K_SQLITE = 2, K_CORE = 4, K_JSON = 8, K_ALL = 15 };

static struct {
  int armed;             /* counting and failing */
  unsigned mask;         /* which allocators count and fail */
  long long count;       /* allocations counted since arming */
  long long fail_at;     /* the first failing allocation (1-based) */
  long long failed;      /* allocations refused */
  long long live[4];     /* live bytes: lua, sqlite, core, json */
} A;

static int slot(unsigned kind) {
  return kind == K_LUA ? 0 : kind == K_SQLITE ? 1 : kind == K_CORE ? 2 : 3;
}

static int refuse(unsigned kind) {
  if (!A.armed || !(A.mask & kind)) return 0;
  if (++A.count < A.fail_at) return 0;
  A.failed++;
  return 1;
}

/* The core's allocator, through the linker's --wrap. */
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);

static void *counted_malloc(unsigned kind, size_t n) {
  void *p;
  if (refuse(kind)) return NULL;
  p = __real_malloc(n);
  if (p != NULL) A.live[slot(kind)] += (long long)malloc_usable_size(p);
  return p;
}

static void counted_free(unsigned kind, void *p) {
  if (p == NULL) return;
  A.live[slot(kind)] -= (long long)malloc_usable_size(p);
  __real_free(p);
}

void *__wrap_malloc(size_t n) { return counted_malloc(K_CORE, n); }
void __wrap_free(void *p) { counted_free(K_CORE, p); }

void *__wrap_calloc(size_t n, size_t m) {
  void *p;
  if (refuse(K_CORE)) return NULL;
  p = __real_calloc(n, m);
  if (p != NULL) A.live[2] += (long long)malloc_usable_size(p);
  return p;
}

void *__wrap_realloc(void *p, size_t n) {
  long long old;
  void *q;
  if (p == NULL) return counted_malloc(K_CORE, n);
  if (n == 0) {
    counted_free(K_CORE, p);
    return NULL;
  }
  if (refuse(K_CORE)) return NULL;
  old = (long long)malloc_usable_size(p);
  q = __real_realloc(p, n);
  if (q != NULL) A.live[2] += (long long)malloc_usable_size(q) - old;
  return q;
}

static void *json_malloc(size_t n) { return counted_malloc(K_JSON, n); }
static void json_free(void *p) { counted_free(K_JSON, p); }

/* Lua's allocator. */
static void *lalloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  void *p;
  (void)ud;
  if (ptr == NULL) osize = 0; /* osize then encodes the object type */
  if (nsize == 0) {
    if (ptr != NULL) {
      A.live[0] -= (long long)osize;
      __real_free(ptr);
    }
    return NULL;
  }
  if (nsize > osize && refuse(K_LUA)) return NULL;
  p = __real_realloc(ptr, nsize);
  if (p == NULL) return nsize <= osize ? ptr : NULL; /* a shrink cannot fail */
  A.live[0] += (long long)nsize - (long long)osize;
  return p;
}

/* SQLite's allocator: the default methods, counted. */
static sqlite3_mem_methods sq_orig;

static void *sq_malloc(int n) {
  void *p;
  if (refuse(K_SQLITE)) return NULL;
  p = sq_orig.xMalloc(n);
  if (p != NULL) A.live[1] += sq_orig.xSize(p);
  return p;
}

static void sq_free(void *p) {
  if (p == NULL) return;
  A.live[1] -= sq_orig.xSize(p);
  sq_orig.xFree(p);
}

static void *sq_realloc(void *p, int n) {
  int old;
  void *q;
  if (refuse(K_SQLITE)) return NULL;
  old = p ? sq_orig.xSize(p) : 0;
  q = sq_orig.xRealloc(p, n);
  if (q != NULL) A.live[1] += sq_orig.xSize(q) - old;
  return q;
}

static int sq_size(void *p) { return sq_orig.xSize(p); }
static int sq_roundup(int n) { return sq_orig.xRoundup(n); }
static int sq_init(void *ud) { return sq_orig.xInit(ud); }
static void sq_shutdown(void *ud) { sq_orig.xShutdown(ud); }

static int install_allocators(void) {
  static sqlite3_mem_methods mine;
  cJSON_Hooks hooks = {json_malloc, json_free};
  if (sqlite3_config(SQLITE_CONFIG_GETMALLOC, &sq_orig) != SQLITE_OK) return -1;
  mine = sq_orig;
  mine.xMalloc = sq_malloc;
  mine.xFree = sq_free;
  mine.xRealloc = sq_realloc;
  mine.xSize = sq_size;
  mine.xRoundup = sq_roundup;
  mine.xInit = sq_init;
  mine.xShutdown = sq_shutdown;
  if (sqlite3_config(SQLITE_CONFIG_MALLOC, &mine) != SQLITE_OK) return -1;
  cJSON_InitHooks(&hooks);
  return 0;
}

/* ---- one run (in a child) ------------------------------------------------- */
typedef struct result {
  int done;            /* the child got to the end */
  int status;          /* lua_pcall status of the body (-1: no Lua state) */
  char outcome[16];    /* ok, errmem, memstr, errobj, unclean, nostate */
  char detail[200];    /* error name or message */
  long long failed;    /* allocations refused */
  long long count;     /* allocations counted */
  long long live[4];   /* leaked bytes per allocator after close+shutdown */
  char check[16];      /* old, new, bad, none */
  char checkmsg[200];
} result;

static const char *g_scenarios; /* path of scenarios.lua */
static const char *g_dbpath;     /* the database of this run */
#define MAXJOBS 16
static char g_dbpaths[MAXJOBS][4096]; /* one per parallel child */
static int g_jobs = 1;

static void remove_db(void) {
  static const char *suffix[] = {"", "-wal", "-shm", "-journal"};
  char p[4096];
  for (int i = 0; i < 4; i++) {
    snprintf(p, sizeof p, "%s%s", g_dbpath, suffix[i]);
    unlink(p);
  }
}

static void copystr(char *dst, size_t cap, const char *s) {
  snprintf(dst, cap, "%s", s ? s : "(null)");
}

/* Opens the libraries and assoc; leaves the scenarios table (from
 * g_scenarios) on the stack when `with_scenarios`. */
static int boot(lua_State *L) {
  int with_scenarios = lua_toboolean(L, 1);
  luaL_openlibs(L);
  assoc_openlibs(L);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "assoc");
  lua_call(L, 1, 1);
  lua_setglobal(L, "assoc");
  if (with_scenarios) {
    if (luaL_loadfile(L, g_scenarios) != LUA_OK) return lua_error(L);
    lua_call(L, 0, 1);
    return 1;
  }
  /* the built-in "boot" scenario ends with a connection */
  if (luaL_dostring(L, "local db = assoc.open(':memory:') db:close()") != LUA_OK)
    return lua_error(L);
  return 0;
}

/* Describes the error value at the top of L (status from lua_pcall) in r,
 * with the allocator disarmed (describing it may allocate). */
static void classify(lua_State *L, int status, result *r) {
  r->status = status;
  if (status == LUA_OK) {
    copystr(r->outcome, sizeof r->outcome, "ok");
    return;
  }
  if (status == LUA_ERRMEM) {
    copystr(r->outcome, sizeof r->outcome, "errmem");
    return;
  }
  if (lua_type(L, -1) == LUA_TSTRING) {
    const char *m = lua_tostring(L, -1);
    if (strcmp(m, "not enough memory") == 0)
      copystr(r->outcome, sizeof r->outcome, "memstr");
    else
      copystr(r->outcome, sizeof r->outcome, "unclean");
    copystr(r->detail, sizeof r->detail, m);
    return;
  }
  if (lua_type(L, -1) == LUA_TTABLE) {
    lua_getfield(L, -1, "name");
    if (lua_type(L, -1) == LUA_TSTRING) {
      const char *name = lua_tostring(L, -1);
      lua_getfield(L, -2, "message");
      snprintf(r->detail, sizeof r->detail, "%s: %s", name,
               lua_isstring(L, -1) ? lua_tostring(L, -1) : "?");
      lua_pop(L, 2);
      copystr(r->outcome, sizeof r->outcome, "errobj");
      return;
    }
    lua_pop(L, 1);
  }
  copystr(r->outcome, sizeof r->outcome, "unclean");
  snprintf(r->detail, sizeof r->detail, "error object of type %s (status %d)",
           luaL_typename(L, -1), status);
}

/* A Lua state with the libraries, assoc and the scenarios table (at index
 * 1), or NULL with the message in err.  Made by the parent once per
 * scenario, before the children fork, so that no child parses anything. */
static lua_State *new_booted(char *err, size_t errn) {
  lua_State *L = lua_newstate(lalloc, NULL);
  if (L == NULL) {
    copystr(err, errn, "cannot create a Lua state");
    return NULL;
  }
  lua_pushcfunction(L, boot);
  lua_pushboolean(L, 1);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    copystr(err, errn, luaL_tolstring(L, -1, NULL));
    lua_close(L);
    return NULL;
  }
  lua_gc(L, LUA_GCCOLLECT);
  return L;
}

/* Runs check(assoc, path) of scenario `idx` in C (a booted state that has
 * not run anything else), with the normal allocator. */
static void run_check(lua_State *C, int idx, result *r) {
  lua_rawgeti(C, 1, idx);
  lua_getfield(C, -1, "check");
  lua_getglobal(C, "assoc");
  lua_pushstring(C, g_dbpath);
  if (lua_pcall(C, 2, 1, 0) != LUA_OK) {
    copystr(r->check, sizeof r->check, "bad");
    copystr(r->checkmsg, sizeof r->checkmsg, luaL_tolstring(C, -1, NULL));
  } else {
    const char *s = lua_tostring(C, -1);
    if (s && (strcmp(s, "old") == 0 || strcmp(s, "new") == 0)) {
      copystr(r->check, sizeof r->check, s);
    } else {
      copystr(r->check, sizeof r->check, "bad");
      snprintf(r->checkmsg, sizeof r->checkmsg, "check returned %s",
               s ? s : luaL_typename(C, -1));
    }
  }
  lua_close(C);
}

/* The built-in scenario: fail from allocation n on, from lua_newstate to
 * a first connection. */
static void run_boot(long long n, unsigned mask, result *r) {
  lua_State *L;
  long long base[4];
  memcpy(base, A.live, sizeof base);
  A.mask = mask;
  A.fail_at = n;
  A.count = A.failed = 0;
  A.armed = 1;
  L = lua_newstate(lalloc, NULL);
  if (L == NULL) {
    A.armed = 0;
    r->status = -1;
    copystr(r->outcome, sizeof r->outcome, "nostate");
  } else {
    lua_pushcfunction(L, boot);
    lua_pushboolean(L, 0);
    int st = lua_pcall(L, 1, 0, 0);
    A.armed = 0;
    classify(L, st, r);
    A.armed = 1;
    lua_close(L);
    A.armed = 0;
  }
  r->failed = A.failed;
  r->count = A.count;
  sqlite3_shutdown();
  for (int i = 0; i < 4; i++) r->live[i] = A.live[i] - base[i];
  r->done = 1;
}

/* Scenario idx of the booted state L with failure at n; C is a booted
 * state for the check.  base: the live bytes before L and C were made. */
static void run_one(lua_State *L, lua_State *C, const long long *base, int idx, long long n,
                    unsigned mask, result *r) {
  remove_db();
  lua_rawgeti(L, 1, idx);
  int sc = lua_gettop(L);
  lua_getfield(L, sc, "setup");
  lua_getglobal(L, "assoc");
  lua_pushstring(L, g_dbpath);
  if (lua_pcall(L, 2, 1, 0) != LUA_OK) {
    copystr(r->outcome, sizeof r->outcome, "harness");
    snprintf(r->detail, sizeof r->detail, "setup failed: %s", luaL_tolstring(L, -1, NULL));
    return;
  }
  int env = lua_gettop(L);
  lua_getfield(L, sc, "body");
  lua_pushvalue(L, env);
  lua_remove(L, env); /* the body holds the only reference to env */
  lua_gc(L, LUA_GCCOLLECT);
  A.mask = mask;
  A.fail_at = n;
  A.count = A.failed = 0;
  A.armed = 1;
  int st = lua_pcall(L, 1, 0, 0);
  A.armed = 0;
  classify(L, st, r);
  A.armed = 1;
  lua_close(L);
  A.armed = 0;
  r->failed = A.failed;
  r->count = A.count;
  run_check(C, idx, r); /* closes C */
  sqlite3_shutdown();
  for (int i = 0; i < 4; i++) r->live[i] = A.live[i] - base[i];
  r->done = 1;
}

/* ---- the sweep (parent) --------------------------------------------------- */
typedef struct scen {
  char name[64];
  int readonly; /* the body never changes the file: "old" even on success */
  int skip;
  char reason[200];
} scen;

static int read_full(int fd, void *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t k = read(fd, (char *)buf + got, n - got);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return -1;
    got += (size_t)k;
  }
  return 0;
}

/* Starts fn(arg, out) in a child that writes *out (outn bytes) to a pipe;
 * returns its pid (and the read end in *fd), or -1 with why. */
static pid_t spawn_child(void (*fn)(void *, void *), void *arg, void *out, size_t outn,
                         int *fd, char *why, size_t whyn) {
  int fds[2];
  pid_t pid;
  if (pipe(fds) != 0) {
    snprintf(why, whyn, "pipe: %s", strerror(errno));
    return -1;
  }
  fflush(NULL);
  pid = fork();
  if (pid < 0) {
    snprintf(why, whyn, "fork: %s", strerror(errno));
    close(fds[0]);
    close(fds[1]);
    return -1;
  }
  if (pid == 0) {
    close(fds[0]);
    memset(out, 0, outn);
    fn(arg, out);
    ssize_t w = write(fds[1], out, outn);
    (void)w;
    _exit(0);
  }
  close(fds[1]);
  *fd = fds[0];
  return pid;
}

/* Reads the child's result; 0, or -1 with the wait status in why. */
static int collect_child(pid_t pid, int fd, void *out, size_t outn, char *why, size_t whyn) {
  int st;
  int rc = read_full(fd, out, outn);
  close(fd);
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (rc == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
  if (WIFSIGNALED(st))
    snprintf(why, whyn, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
  else
    snprintf(why, whyn, "exited with status %d without a result", WEXITSTATUS(st));
  return -1;
}

static int in_child(void (*fn)(void *, void *), void *arg, void *out, size_t outn,
                    char *why, size_t whyn) {
  int fd;
  pid_t pid = spawn_child(fn, arg, out, outn, &fd, why, whyn);
  if (pid < 0) return -1;
  return collect_child(pid, fd, out, outn, why, whyn);
}

/* Lists the scenarios: name and skip reason. */
typedef struct listing {
  int n;
  scen s[64];
  char err[300];
} listing;

static void list_child(void *arg, void *out) {
  listing *li = out;
  (void)arg;
  lua_State *L = lua_newstate(lalloc, NULL);
  if (L == NULL) {
    copystr(li->err, sizeof li->err, "cannot create a Lua state");
    return;
  }
  lua_pushcfunction(L, boot);
  lua_pushboolean(L, 1);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    copystr(li->err, sizeof li->err, luaL_tolstring(L, -1, NULL));
    lua_close(L);
    return;
  }
  int t = lua_gettop(L);
  li->n = (int)luaL_len(L, t);
  if (li->n > 63) li->n = 63;
  for (int i = 1; i <= li->n; i++) {
    scen *s = &li->s[i];
    lua_rawgeti(L, t, i);
    lua_getfield(L, -1, "name");
    copystr(s->name, sizeof s->name, lua_tostring(L, -1));
    lua_pop(L, 1);
    lua_getfield(L, -1, "readonly");
    s->readonly = lua_toboolean(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, -1, "needs");
    if (lua_isfunction(L, -1)) {
      lua_getglobal(L, "assoc");
      if (lua_pcall(L, 1, 2, 0) != LUA_OK) {
        s->skip = 1;
        snprintf(s->reason, sizeof s->reason, "needs() raised: %s", luaL_tolstring(L, -1, NULL));
        lua_pop(L, 1);
      } else if (!lua_toboolean(L, -2)) {
        s->skip = 1;
        copystr(s->reason, sizeof s->reason, lua_isstring(L, -1) ? lua_tostring(L, -1) : "not available");
      }
    }
    lua_settop(L, t);
  }
  lua_close(L);
  sqlite3_shutdown();
}

typedef struct job {
  int slot;              /* which of g_dbpaths */
  int idx;
  long long n;
  unsigned mask;
  lua_State *L, *C;      /* booted states (NULL for boot) */
  const long long *base; /* live bytes before they were made */
} job;

static void run_child(void *arg, void *out) {
  job *j = arg;
  result *r = out;
  g_dbpath = g_dbpaths[j->slot];
  copystr(r->check, sizeof r->check, "none");
  if (j->idx == 0) run_boot(j->n, j->mask, r);
  else run_one(j->L, j->C, j->base, j->idx, j->n, j->mask, r);
}

static int g_findings;
static int g_verbose;

static void finding(const char *scenario, long long n, const char *fmt, ...) {
  va_list ap;
  g_findings++;
  if (g_findings > 200) return;
  fprintf(stdout, "FINDING %s N=%lld: ", scenario, n);
  va_start(ap, fmt);
  vfprintf(stdout, fmt, ap);
  va_end(ap);
  fputc('\n', stdout);
}

static const char *KIND[4] = {"lua", "sqlite", "core", "json"};

/* Checks one result; returns 1 when the run completed without reaching the
 * injected failure (the sweep ends there). */
static int examine(const char *name, long long n, int readonly, const result *r, long long *nok,
                   long long *nmem, long long *nobj, long long *nold, long long *nnew) {
  if (strcmp(r->outcome, "ok") == 0 || strcmp(r->outcome, "nostate") == 0) (*nok)++;
  else if (strcmp(r->outcome, "errmem") == 0 || strcmp(r->outcome, "memstr") == 0) (*nmem)++;
  else if (strcmp(r->outcome, "errobj") == 0) (*nobj)++;
  else finding(name, n, "unclean error: %s", r->detail);
  if (r->failed == 0 && strcmp(r->outcome, "ok") != 0)
    finding(name, n, "the body failed without any injected failure: %s", r->detail);
  for (int k = 0; k < 4; k++) {
    if (r->live[k] != 0)
      finding(name, n, "leak: %lld bytes of the %s allocator still live after lua_close "
              "and sqlite3_shutdown", r->live[k], KIND[k]);
  }
  if (strcmp(r->check, "old") == 0) (*nold)++;
  else if (strcmp(r->check, "new") == 0) (*nnew)++;
  else if (strcmp(r->check, "bad") == 0)
    finding(name, n, "the database is neither old nor new: %s", r->checkmsg);
  if (strcmp(r->outcome, "ok") == 0 && strcmp(r->check, "old") == 0 && !readonly)
    finding(name, n, "the body succeeded but the database is still old");
  if (readonly && strcmp(r->check, "new") == 0)
    finding(name, n, "a read-only scenario changed the database");
  if (g_verbose)
    printf("  %s N=%lld %s %s failed=%lld check=%s\n", name, n, r->outcome, r->detail,
           r->failed, r->check);
  return r->failed == 0;
}

/* Sweeps one scenario; returns the number of points swept. */
static long long sweep(int idx, const char *name, int readonly, unsigned mask, long long max) {
  long long n, points = 0, nok = 0, nmem = 0, nobj = 0, nold = 0, nnew = 0;
  long long total_allocs = 0;
  int before = g_findings, completed = 0;
  long long base[4];
  lua_State *L = NULL, *C = NULL;
  char err[300];
  memcpy(base, A.live, sizeof base);
  if (idx != 0) {
    if ((L = new_booted(err, sizeof err)) == NULL || (C = new_booted(err, sizeof err)) == NULL) {
      finding(name, 0, "harness failure: %s", err);
      if (L) lua_close(L);
      return 0;
    }
  }
  /* g_jobs children at a time, for N .. N + g_jobs - 1; results are taken in
   * order of N, up to the first run that completed */
  int stop = 0;
  for (n = 1; !stop && (max == 0 || n <= max); n += g_jobs) {
    job jobs[MAXJOBS];
    result res[MAXJOBS];
    pid_t pids[MAXJOBS];
    int fds[MAXJOBS], k, nk = 0;
    char why[MAXJOBS][200];
    for (k = 0; k < g_jobs && (max == 0 || n + k <= max); k++) {
      jobs[k] = (job){k, idx, n + k, mask, L, C, base};
      pids[k] = spawn_child(run_child, &jobs[k], &res[k], sizeof res[k], &fds[k], why[k],
                            sizeof why[k]);
      nk++;
    }
    for (k = 0; k < nk; k++) {
      int crashed = pids[k] < 0 ||
                    collect_child(pids[k], fds[k], &res[k], sizeof res[k], why[k], sizeof why[k]) != 0;
      if (stop) continue; /* reap the rest */
      long long nn = n + k;
      result *rp = &res[k];
      points++;
      if (crashed) {
        finding(name, nn, "the run crashed: %s", why[k]);
        if (g_findings - before > 20) stop = 1;
        continue;
      }
      if (strcmp(rp->outcome, "harness") == 0) {
        finding(name, nn, "harness failure: %s", rp->detail);
        stop = 1;
        continue;
      }
      if (examine(name, nn, readonly, rp, &nok, &nmem, &nobj, &nold, &nnew)) {
        completed = 1;
        total_allocs = rp->count;
        stop = 1;
        continue;
      }
      if (g_findings - before > 20) {
        printf("  %s: too many findings, stopping this scenario\n", name);
        stop = 1;
      }
    }
  }
  if (L) lua_close(L);
  if (C) lua_close(C);
  sqlite3_shutdown();
  printf("oom: %-22s %6lld points swept (%lld allocations in a full run)%s: "
         "%lld ok, %lld out-of-memory errors, %lld error objects; db old %lld, new %lld; "
         "%d findings\n",
         name, points, total_allocs, completed ? "" : " [NOT COMPLETED]", nok, nmem, nobj,
         nold, nnew, g_findings - before);
  if (!completed && g_findings == before) {
    finding(name, n, "stopped before completion (OOM_MAX=%lld)", max);
  }
  fflush(stdout);
  return points;
}

int main(int argc, char **argv) {
  listing li;
  char why[200];
  const char *mode = getenv("OOM_MODE");
  const char *maxs = getenv("OOM_MAX");
  unsigned mask = K_ALL;
  long long max = maxs ? atoll(maxs) : 0, total = 0;
  int skipped = 0, ran = 0;
  char dbpath[4096];

  if (argc < 3) {
    fprintf(stderr, "usage: %s SCENARIOS.lua TMPDIR [scenario ...]\n", argv[0]);
    return 2;
  }
  g_verbose = getenv("OOM_VERBOSE") && *getenv("OOM_VERBOSE") == '1';
  if (mode == NULL || *mode == '\0' || strcmp(mode, "all") == 0) mask = K_ALL, mode = "all";
  else if (strcmp(mode, "lua") == 0) mask = K_LUA;
  else if (strcmp(mode, "sqlite") == 0) mask = K_SQLITE;
  else if (strcmp(mode, "core") == 0) mask = K_CORE;
  else if (strcmp(mode, "json") == 0) mask = K_JSON;
  else {
    fprintf(stderr, "oom: OOM_MODE must be all, lua, sqlite, core or json\n");
    return 2;
  }
  g_scenarios = argv[1];
  if (getenv("OOM_JOBS")) g_jobs = atoi(getenv("OOM_JOBS"));
  if (g_jobs < 1) g_jobs = 1;
  if (g_jobs > MAXJOBS) g_jobs = MAXJOBS;
  for (int k = 0; k < MAXJOBS; k++)
    snprintf(g_dbpaths[k], sizeof g_dbpaths[k], "%s/oom-%d.db", argv[2], k);
  snprintf(dbpath, sizeof dbpath, "%s", g_dbpaths[0]);
  g_dbpath = dbpath;
  if (install_allocators() != 0) {
    fprintf(stderr, "oom: sqlite3_config(SQLITE_CONFIG_MALLOC) failed\n");
    return 2;
  }
  if (in_child(list_child, NULL, &li, sizeof li, why, sizeof why) != 0 || li.err[0]) {
    fprintf(stderr, "oom: cannot list the scenarios: %s\n", li.err[0] ? li.err : why);
    return 2;
  }
  copystr(li.s[0].name, sizeof li.s[0].name, "boot");
  li.s[0].skip = 0;
  printf("oom: failing allocation N and every later one, counting %s (%s); "
         "scenarios from %s\n", mode,
         mask == K_ALL ? "Lua, SQLite, core malloc and cJSON together" : "that allocator only",
         g_scenarios);
  for (int i = 0; i <= li.n; i++) {
    int wanted = argc == 3;
    for (int a = 3; a < argc; a++)
      if (strcmp(argv[a], li.s[i].name) == 0) wanted = 1;
    if (!wanted) continue;
    if (li.s[i].skip) {
      printf("oom: %-22s SKIP: %s\n", li.s[i].name, li.s[i].reason);
      skipped++;
      continue;
    }
    total += sweep(i, li.s[i].name, li.s[i].readonly, mask, max);
    ran++;
  }
  printf("oom: %d scenarios swept, %lld allocation points, %d skipped, %d findings\n", ran,
         total, skipped, g_findings);
  return g_findings ? 1 : 0;
}
