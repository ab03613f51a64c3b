/*
 * lvalue.c -- values between Lua and the core: conversion by attribute
 * type, JSON (libcjson), and rows -> Lua tables.
 *
 * Conversion state (lconv) keeps its scratch memory in a small buffer of
 * its own (in the C frame that owns it) and then in Lua userdata (a bump
 * arena of GC-owned chunks), and every string it makes
 * (numbers as text, dates, JSON) in an anchor table on the stack, so a Lua
 * error at any point leaks nothing and borrowed text stays valid while the
 * core uses it.
 *
 * Rows are built by lrows_collect inside an inner lua_pcall, so that an
 * error while building (out of memory) still closes the rows before it is
 * re-raised: a cached statement is never left busy.  This is the hot path of
 * a findAll: attribute names are pushed once per request and reused with
 * lua_pushvalue, tables are preallocated, decoding is a switch on a
 * precomputed per-column code.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "lassoc.h"

#define ARENA_CHUNK 4096
#define ARENA_ALIGN 16
#define JSON_MAXDEPTH 100

/* ---- scratch memory -------------------------------------------------------- */

void lconv_init(lconv *c, lua_State *L, ldb *box, const assoc_model *m,
                const char *what) {
  c->L = L;
  c->box = box;
  c->m = m;
  c->what = what;
  c->nanchor = 0;
  c->cur = c->inl;
  c->left = sizeof c->inl;
  lua_pushnil(L);
  c->anchor = lua_gettop(L);
}

void lconv_anchor(lconv *c) {
  lua_State *L = c->L;
  if (lua_type(L, c->anchor) != LUA_TTABLE) {
    lua_createtable(L, 8, 0);
    lua_replace(L, c->anchor);
  }
  lua_rawseti(L, c->anchor, ++c->nanchor);
}

void *lconv_alloc(lconv *c, size_t n) {
  n = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
  if (n == 0) n = ARENA_ALIGN;
  if (n > ARENA_CHUNK / 4) {
    void *p = lua_newuserdatauv(c->L, n, 0);
    lconv_anchor(c);
    return p;
  }
  if (n > c->left) {
    c->cur = lua_newuserdatauv(c->L, ARENA_CHUNK, 0);
    c->left = ARENA_CHUNK;
    lconv_anchor(c);
  }
  void *p = c->cur;
  c->cur += n;
  c->left -= n;
  return p;
}

int lv_isnull(lconv *c, int idx) {
  return lua_touserdata(c->L, idx) == c->box->null;
}

/* ---- numbers and dates --------------------------------------------------- */

void lv_fmtnum(char *buf, size_t cap, double d) {
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(buf, cap, "%.*g", prec, d);
    if (strtod(buf, NULL) == d) return;
  }
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m,
                            unsigned *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  unsigned doe = (unsigned)(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t yy = (int64_t)yoe + era * 400;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = yy + (*m <= 2);
}

static int days_in_month(int64_t y, unsigned m) {
  static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
  return dm[m - 1];
}

/* Milliseconds since the epoch -> "YYYY-MM-DDTHH:MM:SS.mmmZ"; 0 when the
 * year is outside 0000..9999. */
static int fmt_iso_ms(int64_t ms, char out[32]) {
  int64_t days = ms / 86400000, rem = ms % 86400000;
  if (rem < 0) {
    rem += 86400000;
    days -= 1;
  }
  int64_t y;
  unsigned mo, d;
  civil_from_days(days, &y, &mo, &d);
  if (y < 0 || y > 9999) return 0;
  /* digit by digit: every DATE value written goes through here, and
   * snprintf costs twenty times as much */
  struct {
    int64_t v;
    int at, width;
  } f[] = {{y, 0, 4},
           {mo, 5, 2},
           {d, 8, 2},
           {rem / 3600000, 11, 2},
           {rem / 60000 % 60, 14, 2},
           {rem / 1000 % 60, 17, 2},
           {rem % 1000, 20, 3}};
  memcpy(out, "0000-00-00T00:00:00.000Z", 25);
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
    int64_t v = f[i].v;
    for (int k = f[i].width - 1; k >= 0; k--) {
      out[f[i].at + k] = (char)('0' + v % 10);
      v /= 10;
    }
  }
  return 1;
}

static int digits(const char *s, size_t n, size_t at, int count, int *out) {
  if (at + (size_t)count > n) return 0;
  int v = 0;
  for (int i = 0; i < count; i++) {
    char ch = s[at + (size_t)i];
    if (ch < '0' || ch > '9') return 0;
    v = v * 10 + (ch - '0');
  }
  *out = v;
  return 1;
}

/* Parses "YYYY-MM-DD". Returns 1 and sets the fields on success. */
static int parse_ymd(const char *s, size_t n, int *y, int *mo, int *d) {
  if (n < 10 || !digits(s, n, 0, 4, y) || s[4] != '-' ||
      !digits(s, n, 5, 2, mo) || s[7] != '-' || !digits(s, n, 8, 2, d))
    return 0;
  if (*mo < 1 || *mo > 12 || *d < 1 || *d > days_in_month(*y, (unsigned)*mo))
    return 0;
  return 1;
}

/* ISO-8601 text -> milliseconds since the epoch (UTC).  Accepts
 * YYYY-MM-DD[(T| )HH:MM[:SS[.fff...]]][Z|(+|-)HH[:]MM]. */
static int parse_iso(const char *s, size_t n, int64_t *ms) {
  int y, mo, d, h = 0, mi = 0, se = 0, frac = 0, off = 0;
  if (!parse_ymd(s, n, &y, &mo, &d)) return 0;
  size_t i = 10;
  if (i < n && (s[i] == 'T' || s[i] == ' ')) {
    if (!digits(s, n, i + 1, 2, &h) || i + 3 >= n || s[i + 3] != ':' ||
        !digits(s, n, i + 4, 2, &mi))
      return 0;
    i += 6;
    if (i < n && s[i] == ':') {
      if (!digits(s, n, i + 1, 2, &se)) return 0;
      i += 3;
      if (i < n && s[i] == '.') {
        int nd = 0, scale = 100;
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
          frac += (s[i] - '0') * scale;
          scale /= 10;
          nd++;
          i++;
        }
        if (nd == 0) return 0;
      }
    }
    if (h > 23 || mi > 59 || se > 60) return 0;
    if (i < n && s[i] == 'Z') {
      i++;
    } else if (i < n && (s[i] == '+' || s[i] == '-')) {
      int oh, om;
      int sign = s[i] == '-' ? -1 : 1;
      if (!digits(s, n, i + 1, 2, &oh)) return 0;
      i += 3;
      if (i < n && s[i] == ':') i++;
      if (!digits(s, n, i, 2, &om)) return 0;
      i += 2;
      if (oh > 23 || om > 59) return 0;
      off = sign * (oh * 60 + om);
    }
  }
  if (i != n) return 0;
  int64_t days = days_from_civil(y, (unsigned)mo, (unsigned)d);
  *ms = ((days * 24 + h) * 60 + mi - off) * 60000 + (int64_t)se * 1000 + frac;
  return 1;
}

/* ---- typed conversion ------------------------------------------------------ */

static void set_text(lconv *c, assoc_value *out) {
  /* the string on top of the stack becomes out, anchored */
  size_t n;
  const char *p = lua_tolstring(c->L, -1, &n);
  out->type = ASSOC_V_TEXT;
  out->u.s.p = p;
  out->u.s.n = n;
  lconv_anchor(c);
}

static void push_number_text(lua_State *L, int idx) {
  if (lua_isinteger(L, idx)) {
    lua_pushfstring(L, "%I", (LUAI_UACINT)lua_tointeger(L, idx));
  } else {
    char buf[64];
    lv_fmtnum(buf, sizeof buf, lua_tonumber(L, idx));
    lua_pushstring(L, buf);
  }
}

int lv_text(lconv *c, int idx, assoc_value *out) {
  lua_State *L = c->L;
  switch (lua_type(L, idx)) {
  case LUA_TSTRING:
    out->type = ASSOC_V_TEXT;
    out->u.s.p = lua_tolstring(L, idx, &out->u.s.n);
    return 1;
  case LUA_TNUMBER:
    if (!lua_isinteger(L, idx) && !isfinite(lua_tonumber(L, idx))) return 0;
    push_number_text(L, idx);
    set_text(c, out);
    return 1;
  default: return 0;
  }
}

/* A Lua number -> int64 if it is an integer or an integral finite float in
 * range. */
static int num_to_int(lua_State *L, int idx, int64_t *out) {
  if (lua_isinteger(L, idx)) {
    *out = (int64_t)lua_tointeger(L, idx);
    return 1;
  }
  double d = lua_tonumber(L, idx);
  if (!isfinite(d) || d != floor(d) || d < -9223372036854775808.0 ||
      d >= 9223372036854775808.0)
    return 0;
  *out = (int64_t)d;
  return 1;
}

/* A string that reads as a Lua number -> pushes nothing, fills isint, i, d.
 * Returns 0 if it is not a number. */
static int str_to_num(lua_State *L, int idx, int *isint, int64_t *i,
                      double *d) {
  size_t n;
  const char *s = lua_tolstring(L, idx, &n);
  size_t used = lua_stringtonumber(L, s);
  if (used == 0) return 0;
  if (used != n + 1) { /* a NUL byte inside: not a number */
    lua_pop(L, 1);
    return 0;
  }
  *isint = lua_isinteger(L, -1);
  if (*isint) *i = (int64_t)lua_tointeger(L, -1);
  *d = lua_tonumber(L, -1);
  lua_pop(L, 1);
  return 1;
}

void lv_typed(lconv *c, int idx, int attr, assoc_value *out) {
  lua_State *L = c->L;
  const assoc_attr *a = assoc_model_attr(c->m, attr);
  const char *mname = assoc_model_name(c->m);
  int t = lua_type(L, idx);
  idx = lua_absindex(L, idx);
  if (t == LUA_TUSERDATA && lv_isnull(c, idx)) {
    out->type = ASSOC_V_NULL;
    return;
  }
  const char *want;
  switch (a->type) {
  case ASSOC_T_STRING:
  case ASSOC_T_TEXT:
  case ASSOC_T_UUID:
  case ASSOC_T_DECIMAL:
    if (lv_text(c, idx, out)) return;
    want = t == LUA_TNUMBER ? "a finite number" : "a string";
    break;
  case ASSOC_T_INTEGER:
  case ASSOC_T_BIGINT: {
    int64_t i;
    double d;
    int isint;
    if (t == LUA_TNUMBER && num_to_int(L, idx, &i)) {
      out->type = ASSOC_V_INT;
      out->u.i = i;
      return;
    }
    if (t == LUA_TSTRING && str_to_num(L, idx, &isint, &i, &d)) {
      if (isint) {
        out->type = ASSOC_V_INT;
        out->u.i = i;
        return;
      }
    }
    want = "an integer";
    break;
  }
  case ASSOC_T_FLOAT:
  case ASSOC_T_DOUBLE: {
    int64_t i;
    double d;
    int isint;
    if (t == LUA_TNUMBER) {
      d = lua_tonumber(L, idx);
      if (isfinite(d)) {
        out->type = ASSOC_V_REAL;
        out->u.r = d;
        return;
      }
    } else if (t == LUA_TSTRING && str_to_num(L, idx, &isint, &i, &d) &&
               isfinite(d)) {
      out->type = ASSOC_V_REAL;
      out->u.r = d;
      return;
    }
    want = "a finite number";
    break;
  }
  case ASSOC_T_BOOLEAN:
    if (t == LUA_TBOOLEAN) {
      out->type = ASSOC_V_INT;
      out->u.i = lua_toboolean(L, idx);
      return;
    }
    if (t == LUA_TNUMBER && lua_isinteger(L, idx) &&
        (lua_tointeger(L, idx) == 0 || lua_tointeger(L, idx) == 1)) {
      out->type = ASSOC_V_INT;
      out->u.i = lua_tointeger(L, idx);
      return;
    }
    want = "a boolean";
    break;
  case ASSOC_T_DATE: {
    int64_t ms;
    char buf[32];
    if (t == LUA_TSTRING) {
      size_t n;
      const char *s = lua_tolstring(L, idx, &n);
      if (parse_iso(s, n, &ms) && fmt_iso_ms(ms, buf)) {
        lua_pushstring(L, buf);
        set_text(c, out);
        return;
      }
    } else if (t == LUA_TNUMBER) {
      double secs = lua_tonumber(L, idx);
      if (isfinite(secs) && fabs(secs) < 1e13 &&
          fmt_iso_ms((int64_t)floor(secs * 1000.0 + 0.5), buf)) {
        lua_pushstring(L, buf);
        set_text(c, out);
        return;
      }
    }
    want = "an ISO-8601 date string or a number of seconds since the epoch";
    break;
  }
  case ASSOC_T_DATEONLY:
    if (t == LUA_TSTRING) {
      size_t n;
      const char *s = lua_tolstring(L, idx, &n);
      int y, mo, d;
      if (n == 10 && parse_ymd(s, n, &y, &mo, &d)) {
        out->type = ASSOC_V_TEXT;
        out->u.s.p = s;
        out->u.s.n = n;
        return;
      }
    }
    want = "a date string YYYY-MM-DD";
    break;
  case ASSOC_T_JSON:
    if (t == LUA_TUSERDATA || t == LUA_TFUNCTION || t == LUA_TTHREAD ||
        t == LUA_TLIGHTUSERDATA) {
      want = "a JSON-encodable value";
      break;
    }
    ljson_encode(L, c->box, idx, mname, a->name);
    set_text(c, out);
    return;
  case ASSOC_T_BLOB:
    if (t == LUA_TSTRING) {
      out->type = ASSOC_V_BLOB;
      out->u.s.p = lua_tolstring(L, idx, &out->u.s.n);
      return;
    }
    want = "a string";
    break;
  default:
    want = "a value of a known type";
    break;
  }
  const char *got = luaL_typename(L, idx);
  lerr_validation(L, c->box, a->name, idx, "%s.%s must be %s (got %s)", mname,
                  a->name, want, got);
}

/* core.date(v [, dateonly]) -> the text a DATE (DATEONLY) attribute stores
 * for v, as lv_typed converts it: "YYYY-MM-DDTHH:MM:SS.mmmZ" for an ISO-8601
 * string or a number of seconds since the epoch ("YYYY-MM-DD" for a real
 * calendar date with dateonly); nil for a value the attribute refuses.
 * The same steps as the ASSOC_T_DATE / ASSOC_T_DATEONLY cases of lv_typed:
 * keep the two in step. */
int lcore_date(lua_State *L) {
  int t = lua_type(L, 1), dateonly = lua_toboolean(L, 2);
  char buf[32];
  int64_t ms;
  if (t == LUA_TSTRING) {
    size_t n;
    const char *s = lua_tolstring(L, 1, &n);
    int y, mo, d;
    if (dateonly) {
      if (n == 10 && parse_ymd(s, n, &y, &mo, &d)) {
        lua_pushvalue(L, 1);
        return 1;
      }
    } else if (parse_iso(s, n, &ms) && fmt_iso_ms(ms, buf)) {
      lua_pushstring(L, buf);
      return 1;
    }
  } else if (t == LUA_TNUMBER && !dateonly) {
    double secs = lua_tonumber(L, 1);
    if (isfinite(secs) && fabs(secs) < 1e13 &&
        fmt_iso_ms((int64_t)floor(secs * 1000.0 + 0.5), buf)) {
      lua_pushstring(L, buf);
      return 1;
    }
  }
  lua_pushnil(L);
  return 1;
}

int lv_untyped(lconv *c, int idx, assoc_value *out) {
  lua_State *L = c->L;
  switch (lua_type(L, idx)) {
  case LUA_TNIL: out->type = ASSOC_V_NULL; return 1;
  case LUA_TBOOLEAN:
    out->type = ASSOC_V_INT;
    out->u.i = lua_toboolean(L, idx);
    return 1;
  case LUA_TNUMBER:
    if (lua_isinteger(L, idx)) {
      out->type = ASSOC_V_INT;
      out->u.i = (int64_t)lua_tointeger(L, idx);
    } else {
      out->type = ASSOC_V_REAL;
      out->u.r = lua_tonumber(L, idx);
    }
    return 1;
  case LUA_TSTRING:
    out->type = ASSOC_V_TEXT;
    out->u.s.p = lua_tolstring(L, idx, &out->u.s.n);
    return 1;
  case LUA_TUSERDATA:
    if (lv_isnull(c, idx)) {
      out->type = ASSOC_V_NULL;
      return 1;
    }
    return 0;
  default: return 0;
  }
}

/* ---- JSON ------------------------------------------------------------------ */

/* Holder of the cJSON memory of a conversion.  The conversions that can
 * raise part-way (a value JSON cannot hold, the Lua stack or memory running
 * out) run protected, and the tree is freed as soon as they return, error
 * or not: the finalizer below is only a backstop, since a collection step
 * at the C-stack limit cannot run one. */
typedef struct jbox {
  cJSON *root;
  char *out;
} jbox;

#define JBOX_MT "assoc.cjson"

static int jbox_gc(lua_State *L) {
  jbox *b = lua_touserdata(L, 1);
  if (b) {
    cJSON_Delete(b->root);
    b->root = NULL;
    cJSON_free(b->out);
    b->out = NULL;
  }
  return 0;
}

static jbox *jbox_new(lua_State *L) {
  jbox *b = lua_newuserdatauv(L, sizeof *b, 0);
  b->root = NULL;
  b->out = NULL;
  if (luaL_newmetatable(L, JBOX_MT)) {
    lua_pushcfunction(L, jbox_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  return b;
}

typedef struct jenc {
  lua_State *L;
  ldb *box;
  void *null;
  int visiting; /* stack slot of the cycle-detection table */
  const char *model, *path; /* for an attribute value: ValidationError */
  int vidx;
} jenc;

static cJSON *jnomem(lua_State *L) {
  lua_pushliteral(L, "not enough memory");
  lua_error(L);
  return NULL;
}

static void jfail(jenc *e, const char *fmt, const char *arg) {
  lua_State *L = e->L;
  const char *msg = lua_pushfstring(L, fmt, arg);
  if (e->path)
    lerr_validation(L, e->box, e->path, e->vidx,
                    "%s.%s must be JSON-encodable: %s", e->model, e->path,
                    msg);
  lerr_raise(L, e->box, ASSOC_MISUSE, "json_encode: %s", msg);
}

typedef struct jkey {
  const char *s;
  size_t n;
  lua_Integer i; /* index in the key arrays */
} jkey;

static int jkey_cmp(const void *a, const void *b) {
  const jkey *x = a, *y = b;
  size_t n = x->n < y->n ? x->n : y->n;
  int r = memcmp(x->s, y->s, n);
  if (r) return r;
  return (x->n > y->n) - (x->n < y->n);
}

/* Builds the cJSON item of the value at idx and attaches it to parent
 * (array when key is NULL) before filling it, so that the box owns it. */
static void jenc_value(jenc *e, int idx, cJSON *parent, const char *key,
                       int depth, cJSON **rootp);

static void jattach(jenc *e, cJSON *item, cJSON *parent, const char *key,
                    cJSON **rootp) {
  if (!item) jnomem(e->L);
  if (!parent) {
    *rootp = item;
  } else if (key) {
    if (!cJSON_AddItemToObject(parent, key, item)) {
      cJSON_Delete(item);
      jnomem(e->L);
    }
  } else if (!cJSON_AddItemToArray(parent, item)) {
    cJSON_Delete(item);
    jnomem(e->L);
  }
}

static void jenc_table(jenc *e, int idx, cJSON *parent, const char *key,
                       int depth, cJSON **rootp) {
  lua_State *L = e->L;
  if (depth > JSON_MAXDEPTH)
    jfail(e, "nesting deeper than %s levels", "100");
  luaL_checkstack(L, 8, "json_encode");
  lua_pushvalue(L, idx);
  if (lua_rawget(L, e->visiting) != LUA_TNIL)
    jfail(e, "cannot encode a table with a cycle%s", "");
  lua_pop(L, 1);
  lua_pushvalue(L, idx);
  lua_pushboolean(L, 1);
  lua_rawset(L, e->visiting);

  lua_Unsigned len = lua_rawlen(L, idx), count = 0;
  int isarray = 1;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    count++;
    if (isarray) {
      if (!lua_isinteger(L, -1)) {
        isarray = 0;
      } else {
        lua_Integer k = lua_tointeger(L, -1);
        if (k < 1 || (lua_Unsigned)k > len) isarray = 0;
      }
    }
  }
  if (count != len || len == 0) isarray = 0;

  if (isarray) {
    cJSON *arr = cJSON_CreateArray();
    jattach(e, arr, parent, key, rootp);
    for (lua_Unsigned i = 1; i <= len; i++) {
      lua_rawgeti(L, idx, (lua_Integer)i);
      jenc_value(e, lua_gettop(L), arr, NULL, depth + 1, rootp);
      lua_pop(L, 1);
    }
  } else {
    cJSON *obj = cJSON_CreateObject();
    jattach(e, obj, parent, key, rootp);
    /* keys sorted for deterministic text: orig[i] = key, strs[i] = text */
    lua_createtable(L, (int)count, 0);
    int orig = lua_gettop(L);
    lua_createtable(L, (int)count, 0);
    int strs = lua_gettop(L);
    jkey *keys = lua_newuserdatauv(L, (count ? count : 1) * sizeof(jkey), 0);
    lua_Integer n = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
      lua_pop(L, 1);
      n++;
      lua_pushvalue(L, -1);
      lua_rawseti(L, orig, n);
      switch (lua_type(L, -1)) {
      case LUA_TSTRING: lua_pushvalue(L, -1); break;
      case LUA_TNUMBER:
        if (!lua_isinteger(L, -1) && !isfinite(lua_tonumber(L, -1)))
          jfail(e, "cannot encode a non-finite number key%s", "");
        push_number_text(L, lua_gettop(L));
        break;
      default:
        jfail(e, "cannot encode a table key of type %s",
              luaL_typename(L, -1));
      }
      lua_rawseti(L, strs, n);
    }
    for (lua_Integer i = 1; i <= n; i++) {
      lua_rawgeti(L, strs, i);
      keys[i - 1].s = lua_tolstring(L, -1, &keys[i - 1].n);
      keys[i - 1].i = i;
      lua_pop(L, 1); /* still referenced by strs */
    }
    qsort(keys, (size_t)n, sizeof(jkey), jkey_cmp);
    for (lua_Integer i = 0; i < n; i++) {
      if (strlen(keys[i].s) != keys[i].n)
        jfail(e, "cannot encode a key with a NUL byte%s", "");
      lua_rawgeti(L, orig, keys[i].i);
      lua_rawget(L, idx);
      jenc_value(e, lua_gettop(L), obj, keys[i].s, depth + 1, rootp);
      lua_pop(L, 1);
    }
    lua_pop(L, 3);
  }
  lua_pushvalue(L, idx);
  lua_pushnil(L);
  lua_rawset(L, e->visiting);
}

static void jenc_value(jenc *e, int idx, cJSON *parent, const char *key,
                       int depth, cJSON **rootp) {
  lua_State *L = e->L;
  cJSON *item;
  switch (lua_type(L, idx)) {
  case LUA_TNIL: item = cJSON_CreateNull(); break;
  case LUA_TBOOLEAN: item = cJSON_CreateBool(lua_toboolean(L, idx)); break;
  case LUA_TNUMBER:
    if (lua_isinteger(L, idx)) {
      char buf[32];
      snprintf(buf, sizeof buf, "%lld", (long long)lua_tointeger(L, idx));
      item = cJSON_CreateRaw(buf);
    } else {
      double d = lua_tonumber(L, idx);
      if (!isfinite(d))
        jfail(e, "cannot encode a non-finite number (%s)",
              lua_tostring(L, idx));
      if (d == floor(d) && fabs(d) < 1e15) {
        char buf[32];
        snprintf(buf, sizeof buf, "%.1f", d);
        item = cJSON_CreateRaw(buf);
      } else {
        char buf[64];
        lv_fmtnum(buf, sizeof buf, d);
        item = cJSON_CreateRaw(buf);
      }
    }
    break;
  case LUA_TSTRING: {
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    if (strlen(s) != n)
      jfail(e, "cannot encode a string with a NUL byte%s", "");
    item = cJSON_CreateString(s);
    break;
  }
  case LUA_TTABLE: jenc_table(e, idx, parent, key, depth, rootp); return;
  case LUA_TUSERDATA:
    if (lua_touserdata(L, idx) == e->null) {
      item = cJSON_CreateNull();
      break;
    }
    /* fall through */
  default:
    jfail(e, "cannot encode a value of type %s",
          luaL_typename(L, idx));
    return;
  }
  jattach(e, item, parent, key, rootp);
}

/* lua_pcall'ed by ljson_encode: (jenc, jbox, value, visiting) -> text. */
static int jencode_p(lua_State *L) {
  jenc *e = lua_touserdata(L, 1);
  jbox *b = lua_touserdata(L, 2);
  e->visiting = 4;
  e->vidx = 3;
  jenc_value(e, 3, NULL, NULL, 1, &b->root);
  b->out = cJSON_PrintUnformatted(b->root);
  if (!b->out) jnomem(L);
  lua_pushstring(L, b->out);
  return 1;
}

void ljson_encode(lua_State *L, ldb *box, int idx, const char *model,
                  const char *path) {
  idx = lua_absindex(L, idx);
  luaL_checkstack(L, 8, "json_encode");
  jbox *b = jbox_new(L);
  int bidx = lua_gettop(L);
  jenc e = {L, box, NULL, 0, model, path, 0};
  if (box) {
    e.null = box->null;
  } else {
    lua_getfield(L, LUA_REGISTRYINDEX, LASSOC_NULLV);
    e.null = lua_touserdata(L, -1);
    lua_pop(L, 1);
  }
  lua_pushcfunction(L, jencode_p);
  lua_pushlightuserdata(L, &e);
  lua_pushlightuserdata(L, b);
  lua_pushvalue(L, idx);
  lua_newtable(L); /* the tables being encoded, to refuse cycles */
  int st = lua_pcall(L, 4, 1, 0);
  cJSON_Delete(b->root);
  b->root = NULL;
  cJSON_free(b->out);
  b->out = NULL;
  if (st != LUA_OK) lua_error(L);
  lua_replace(L, bidx);
  lua_settop(L, bidx);
}

static void jdec_value(lua_State *L, const cJSON *j, void *null_ud,
                       int depth) {
  if (depth > 1000) luaL_error(L, "json_decode: nesting too deep");
  luaL_checkstack(L, 4, "json_decode");
  if (cJSON_IsNull(j)) {
    (void)null_ud;
    lua_getfield(L, LUA_REGISTRYINDEX, LASSOC_NULLV);
  } else if (cJSON_IsBool(j)) {
    lua_pushboolean(L, cJSON_IsTrue(j));
  } else if (cJSON_IsNumber(j)) {
    double d = j->valuedouble;
    if (d == floor(d) && fabs(d) <= 9007199254740992.0)
      lua_pushinteger(L, (lua_Integer)d);
    else
      lua_pushnumber(L, d);
  } else if (cJSON_IsString(j)) {
    lua_pushstring(L, j->valuestring);
  } else if (cJSON_IsArray(j)) {
    lua_createtable(L, cJSON_GetArraySize(j), 0);
    lua_Integer i = 0;
    for (const cJSON *k = j->child; k; k = k->next) {
      jdec_value(L, k, null_ud, depth + 1);
      lua_rawseti(L, -2, ++i);
    }
  } else if (cJSON_IsObject(j)) {
    lua_createtable(L, 0, cJSON_GetArraySize(j));
    for (const cJSON *k = j->child; k; k = k->next) {
      lua_pushstring(L, k->string ? k->string : "");
      jdec_value(L, k, null_ud, depth + 1);
      lua_rawset(L, -3);
    }
  } else {
    lua_pushnil(L);
  }
}

/* An allocation-free JSON syntax check (RFC 8259 grammar, depth-limited),
 * used to tell why cJSON failed: cJSON returns NULL both for bad text and
 * when its allocator fails.  Returns the end of the value at p, or NULL. */
static const char *jskip_ws(const char *p, const char *e) {
  while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
  return p;
}
static const char *jcheck(const char *p, const char *e, int depth) {
  p = jskip_ws(p, e);
  if (p >= e || depth > 1000) return NULL;
  if (*p == '{' || *p == '[') {
    char close = *p == '{' ? '}' : ']';
    int obj = *p == '{';
    p = jskip_ws(p + 1, e);
    if (p < e && *p == close) return p + 1;
    for (;;) {
      if (obj) {
        p = jskip_ws(p, e);
        if (p >= e || *p != '"') return NULL;
        if (!(p = jcheck(p, e, depth + 1))) return NULL;
        p = jskip_ws(p, e);
        if (p >= e || *p != ':') return NULL;
        p++;
      }
      if (!(p = jcheck(p, e, depth + 1))) return NULL;
      p = jskip_ws(p, e);
      if (p < e && *p == ',') { p++; continue; }
      return (p < e && *p == close) ? p + 1 : NULL;
    }
  }
  if (*p == '"') {
    for (p++; p < e; p++) {
      if (*p == '"') return p + 1;
      if ((unsigned char)*p < 0x20) return NULL;
      if (*p == '\\' && ++p >= e) return NULL;
    }
    return NULL;
  }
  if (e - p >= 4 && (!memcmp(p, "true", 4) || !memcmp(p, "null", 4))) return p + 4;
  if (e - p >= 5 && !memcmp(p, "false", 5)) return p + 5;
  const char *q = p;
  if (q < e && *q == '-') q++;
  const char *digits = q;
  while (q < e && *q >= '0' && *q <= '9') q++;
  if (q == digits) return NULL;
  if (q < e && *q == '.') { q++; while (q < e && *q >= '0' && *q <= '9') q++; }
  if (q < e && (*q == 'e' || *q == 'E')) {
    q++;
    if (q < e && (*q == '+' || *q == '-')) q++;
    while (q < e && *q >= '0' && *q <= '9') q++;
  }
  return q;
}

/* lua_pcall'ed by jdecode_in: (root, top_null_is_nil) -> value. */
static int jdecode_p(lua_State *L) {
  const cJSON *root = lua_touserdata(L, 1);
  if (lua_toboolean(L, 2) && cJSON_IsNull(root))
    lua_pushnil(L);
  else
    jdec_value(L, root, NULL, 1);
  return 1;
}

/* Decodes s into a value pushed on the stack, its tree held by the jbox b.
 * Returns 0 (pushing nothing) when s is not JSON.  When s is valid JSON
 * that cJSON could not parse, its allocator failed: raises "not enough
 * memory" rather than passing the text off as a non-JSON value. */
static int jdecode_in(lua_State *L, jbox *b, const char *s, size_t n,
                      int top_null_is_nil) {
  luaL_checkstack(L, 4, "json_decode"); /* before there is a tree to lose */
  b->root = cJSON_ParseWithLength(s, n);
  if (!b->root) {
    const char *end = jcheck(s, s + n, 0);
    if (end && jskip_ws(end, s + n) == s + n) {
      lua_pushliteral(L, "not enough memory"); /* as ASSOC_NOMEM is raised */
      return lua_error(L);
    }
    return 0;
  }
  lua_pushcfunction(L, jdecode_p);
  lua_pushlightuserdata(L, b->root);
  lua_pushboolean(L, top_null_is_nil);
  int st = lua_pcall(L, 2, 1, 0);
  cJSON_Delete(b->root);
  b->root = NULL;
  if (st != LUA_OK) lua_error(L);
  return 1;
}

int ljson_decode(lua_State *L, const char *s, size_t n, void *null_ud,
                 int top_null_is_nil) {
  (void)null_ud;
  luaL_checkstack(L, 4, "json_decode");
  jbox *b = jbox_new(L);
  if (!jdecode_in(L, b, s, n, top_null_is_nil)) {
    lua_pop(L, 1);
    return 0;
  }
  lua_remove(L, -2);
  return 1;
}

int lcore_json_encode(lua_State *L) {
  luaL_checkany(L, 1);
  ljson_encode(L, NULL, 1, NULL, NULL);
  return 1;
}

int lcore_json_decode(lua_State *L) {
  size_t n;
  if (lua_type(L, 1) != LUA_TSTRING)
    return lerr_raise(L, NULL, ASSOC_MISUSE,
                      "json_decode: expects a string (got %s)",
                      luaL_typename(L, 1));
  const char *s = lua_tolstring(L, 1, &n);
  if (!ljson_decode(L, s, n, NULL, 0))
    return lerr_raise(L, NULL, ASSOC_MISUSE, "json_decode: invalid JSON");
  return 1;
}

/* ---- rows -------------------------------------------------------------------- */

enum { DEC_NATURAL, DEC_BOOL, DEC_JSON, DEC_FLOAT, DEC_TEXT };

/* Column counts up to this keep their per-column scratch on the C stack. */
#define LROWS_SMALL 32

typedef struct rowctx {
  ldb *box;
  const assoc_model *m;
  assoc_rows *rows;
  int rc;
  int paused; /* the collector was stopped (lrows_pause) */
} rowctx;

/* Pushes column col of the current row decoded by dec; returns 0 (pushing
 * nothing) for a value that reads as nil (a JSON "null"). */
static int push_col(lua_State *L, const assoc_value *v, int dec, jbox *jb) {
  switch (v->type) {
  case ASSOC_V_INT:
    if (dec == DEC_TEXT)
      lua_pushfstring(L, "%I", (LUAI_UACINT)v->u.i);
    else if (dec == DEC_BOOL)
      lua_pushboolean(L, v->u.i != 0);
    else if (dec == DEC_FLOAT)
      lua_pushnumber(L, (lua_Number)v->u.i);
    else
      lua_pushinteger(L, (lua_Integer)v->u.i);
    return 1;
  case ASSOC_V_REAL:
    if (dec == DEC_TEXT) {
      char buf[64];
      lv_fmtnum(buf, sizeof buf, v->u.r);
      lua_pushstring(L, buf);
    } else {
      lua_pushnumber(L, v->u.r);
    }
    return 1;
  case ASSOC_V_TEXT:
    if (dec == DEC_JSON && jb) {
      if (jdecode_in(L, jb, v->u.s.p, v->u.s.n, 1)) {
        if (lua_isnil(L, -1)) {
          lua_pop(L, 1);
          return 0;
        }
        return 1;
      }
    }
    lua_pushlstring(L, v->u.s.p, v->u.s.n);
    return 1;
  case ASSOC_V_BLOB: lua_pushlstring(L, v->u.s.p, v->u.s.n); return 1;
  default: return 0;
  }
}

/* For the eager loader (linclude.c), which builds rows itself: the
 * decoding class of an attribute, pushing a value decoded by it, and the
 * JSON scratch box it needs. */
int lv_decclass(const assoc_attr *a) {
  if (a->type == ASSOC_T_BOOLEAN) return DEC_BOOL;
  if (a->type == ASSOC_T_FLOAT || a->type == ASSOC_T_DOUBLE) return DEC_FLOAT;
  if (a->type == ASSOC_T_JSON) return DEC_JSON;
  if (a->type == ASSOC_T_DECIMAL || a->type == ASSOC_T_STRING ||
      a->type == ASSOC_T_TEXT || a->type == ASSOC_T_UUID)
    return DEC_TEXT;
  return DEC_NATURAL;
}

int lv_pushdecoded(lua_State *L, const assoc_value *v, int dec, void *jb) {
  return push_col(L, v, dec, jb);
}

void *lv_newjbox(lua_State *L) { return jbox_new(L); }

/* ---- shared snapshot stores (lassoc.h) ------------------------------------ */

int lsnap_init(lua_State *L, lsnap *s, int mt, int statekey, int nattrs,
               int64_t expect) {
  memset(s, 0, sizeof *s);
  luaL_checkstack(L, 8, "snapshot");
  if (mt && statekey && nattrs > 0 &&
      lua_getfield(L, mt, "layout") == LUA_TTABLE)
    s->on = 1;
  s->layout = lua_gettop(L);
  lua_pushnil(L);
  s->chunk = lua_gettop(L);
  s->statekey = statekey;
  s->stride = nattrs + 1;
  if (s->on) { /* mt's fields, but layout, on the stack as key, value */
    luaL_checkstack(L, 2 * LSNAP_MAXFIELDS + 4, "snapshot");
    s->fields = lua_gettop(L) + 1;
    if (lua_rawgeti(L, s->layout, -1) == LUA_TTABLE) {
      /* listed (layout[-1] = { k1, v1, k2, v2, ... }) by the model's Lua
         side (instance.lua: its stores' __index differs from mt's), or by
         an earlier call */
      int t = lua_gettop(L);
      int n = (int)lua_rawlen(L, t);
      for (int i = 1; i <= n && i <= 2 * LSNAP_MAXFIELDS; i++)
        lua_rawgeti(L, t, i);
      lua_remove(L, t);
      s->nfields = n / 2;
    } else {
      lua_pop(L, 1);
      lua_pushnil(L);
      while (lua_next(L, mt)) {
        if ((lua_type(L, -2) == LUA_TSTRING &&
             strcmp(lua_tostring(L, -2), "layout") == 0) ||
            s->nfields == LSNAP_MAXFIELDS) {
          if (s->nfields == LSNAP_MAXFIELDS) s->on = 0; /* not a model's */
          lua_pop(L, 1);
          continue;
        }
        lua_pushvalue(L, -2); /* the key again, for lua_next */
        s->nfields++;
      }
      if (s->on) { /* remember them in the layout (mt's fields are fixed) */
        lua_createtable(L, 2 * s->nfields, 0);
        for (int i = 0; i < 2 * s->nfields; i++) {
          lua_pushvalue(L, s->fields + i);
          lua_rawseti(L, -2, i + 1);
        }
        lua_rawseti(L, s->layout, -1);
      }
    }
  }
  s->grow = 16;
  s->left = expect > 0 ? (lua_Integer)expect : -1;
  return s->on;
}

void lsnap_pushname(lua_State *L, lsnap *s, const assoc_model *m, int attr) {
  const assoc_attr *a = assoc_model_attr(m, attr);
  if (!s->on) {
    lua_pushstring(L, a ? a->name : "?");
    return;
  }
  if (lua_rawgeti(L, s->layout, -2) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_createtable(L, assoc_model_nattrs(m), 0);
    lua_pushvalue(L, -1);
    lua_rawseti(L, s->layout, -2);
  }
  if (lua_rawgeti(L, -1, (lua_Integer)attr + 1) != LUA_TSTRING) {
    lua_pop(L, 1);
    lua_pushstring(L, a ? a->name : "?");
    lua_pushvalue(L, -1);
    lua_rawseti(L, -3, (lua_Integer)attr + 1);
  }
  lua_remove(L, -2);
}

void lsnap_row(lua_State *L, lsnap *s, int row) {
  if (s->used == s->cap) {
    lua_Integer cap;
    if (s->left > 0) {
      cap = s->left < LSNAP_CHUNK ? s->left : LSNAP_CHUNK;
    } else {
      cap = s->grow;
      if (s->grow < LSNAP_CHUNK) s->grow *= 2;
    }
    lua_createtable(L, (int)(cap * s->stride), s->nfields + 2);
    for (int i = 0; i < s->nfields; i++) { /* the metatable's fields */
      lua_pushvalue(L, s->fields + 2 * i);
      lua_pushvalue(L, s->fields + 2 * i + 1);
      lua_rawset(L, -3);
    }
    lua_pushvalue(L, s->layout);
    lua_rawseti(L, -2, 0);
    lua_pushinteger(L, s->stride);
    lua_rawseti(L, -2, -1);
    lua_replace(L, s->chunk);
    s->cap = cap;
    s->used = 0;
  }
  if (s->left > 0) s->left--;
  s->base = s->used * s->stride + 1;
  s->used++;
  lua_pushlightuserdata(L, (void *)lua_topointer(L, row));
  lua_rawseti(L, s->chunk, s->base);
  lua_pushvalue(L, s->chunk);
  lua_setmetatable(L, row);
  if (++s->rows == LSNAP_WITNESS_AT) lheap_witness(L, s->chunk);
}

/* core.snapbase(chunk, row) -> the base of row's values in chunk (see
 * lassoc.h), or nil when the chunk does not hold the row. */
int lcore_snapbase(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  const void *me = lua_topointer(L, 2);
  lua_Integer stride = 0;
  if (lua_rawgeti(L, 1, -1) == LUA_TNUMBER) stride = lua_tointeger(L, -1);
  lua_pop(L, 1);
  if (me != NULL && stride > 0) {
    for (lua_Integer b = 1;; b += stride) {
      if (lua_rawgeti(L, 1, b) != LUA_TLIGHTUSERDATA) break; /* no more rows */
      const void *p = lua_touserdata(L, -1);
      lua_pop(L, 1);
      if (p == me) {
        lua_pushinteger(L, b);
        return 1;
      }
    }
  }
  lua_pushnil(L);
  return 1;
}

/* lua_pcall'ed: (ctx, mt|nil, statekey|nil) -> array of rows.  A core error
 * of rows_next is recorded in ctx (snapshot taken) and ends the loop. */
static int rows_build(lua_State *L) {
  rowctx *x = lua_touserdata(L, 1);
  int mt = lua_isnil(L, 2) ? 0 : 2;
  int sk = lua_isnil(L, 3) ? 0 : 3;
  assoc_rows *rows = x->rows;
  int ncols = assoc_rows_ncols(rows);
  if (ncols < 0) ncols = 0;
  luaL_checkstack(L, ncols + 24, "too many columns");
  /* sized by the statement's previous run (a repeated accessor call gets
   * exact tables; a varying one at most a 128-row chunk too many) */
  int64_t expect = assoc_rows_expect(rows);
  lsnap ss;
  int shared = lsnap_init(L, &ss, mt, sk, x->m ? assoc_model_nattrs(x->m) : 0,
                          expect > 128 ? 128 : expect);
  int abuf[LROWS_SMALL];
  unsigned char dbuf[LROWS_SMALL];
  int *attrs = abuf;
  unsigned char *dec = dbuf;
  if (ncols >= LROWS_SMALL) { /* else the C stack has room (no garbage) */
    attrs = lua_newuserdatauv(L, ((size_t)ncols + 1) * (sizeof(int) + 1), 0);
    dec = (unsigned char *)(attrs + ncols + 1);
  }
  jbox *jb = NULL;
  lua_createtable(L, expect > 0 ? (int)(expect < 256 ? expect : 256) : 0, 0);
  int result = lua_gettop(L);
  int names = result + 1;
  for (int col = 0; col < ncols; col++) {
    int attr = x->m ? assoc_rows_attr(rows, col) : -1;
    dec[col] = DEC_NATURAL;
    attrs[col] = attr;
    if (attr >= 0) {
      const assoc_attr *a = assoc_model_attr(x->m, attr);
      lsnap_pushname(L, &ss, x->m, attr);
      dec[col] = (unsigned char)lv_decclass(a); /* numbers stored by
                                                   SQLite affinity: text */
    } else {
      const char *name = assoc_rows_colname(rows, col);
      lua_pushstring(L, name ? name : "?");
    }
  }
  for (int col = 0; col < ncols; col++) {
    if (dec[col] == DEC_JSON) {
      jb = jbox_new(L); /* above the names; stays until we return */
      break;
    }
  }
  int base = lua_gettop(L);
  /* the row table: its columns, the snapshot key(s) */
  int rowsize = ncols + ((sk && !shared) ? 1 : 0);
  lua_Integer n = 0;
  int rc;
  while ((rc = assoc_rows_next(rows)) == ASSOC_ROW) {
    lua_createtable(L, 0, rowsize);
    int row = base + 1;
    int snap = 0;
    if (shared) {
      lsnap_row(L, &ss, row);
    } else if (sk) {
      lua_createtable(L, 0, ncols);
      snap = base + 2;
    }
    for (int col = 0; col < ncols; col++) {
      assoc_value v;
      assoc_rows_value(rows, col, &v);
      if (v.type == ASSOC_V_NULL) continue;
      lua_pushvalue(L, names + col);
      if (!push_col(L, &v, dec[col], jb)) {
        lua_pop(L, 1);
        continue;
      }
      if (shared) {
        if (attrs[col] >= 0) {
          if (dec[col] == DEC_JSON && lua_type(L, -1) == LUA_TTABLE)
            push_col(L, &v, dec[col], jb); /* a separate copy */
          else
            lua_pushvalue(L, -1);
          lsnap_put(L, &ss, attrs[col]);
        }
      } else if (snap) {
        lua_pushvalue(L, -2);
        if (dec[col] == DEC_JSON && lua_type(L, -2) == LUA_TTABLE)
          push_col(L, &v, dec[col], jb); /* a separate copy */
        else
          lua_pushvalue(L, -2);
        lua_rawset(L, snap);
      }
      lua_rawset(L, row);
    }
    if (snap) {
      lua_pushvalue(L, sk);
      lua_pushvalue(L, snap);
      lua_rawset(L, row);
      lua_settop(L, row);
    }
    if (mt && !shared) {
      lua_pushvalue(L, mt);
      lua_setmetatable(L, row);
    }
    lua_rawseti(L, result, ++n);
    if (n == LROWS_PAUSE_AT) x->paused = lrows_pause(L);
  }
  x->rc = rc;
  if (rc != ASSOC_DONE) lerr_snapshot(x->box);
  lua_pushvalue(L, result);
  return 1;
}

int lrows_pause(lua_State *L) {
  if (!lua_gc(L, LUA_GCISRUNNING)) return 0;
  lua_gc(L, LUA_GCSTOP);
  return 1;
}

/* Runs the rows; from the LROWS_PAUSE_AT-th row on with the garbage
 * collector paused (as the eager loader does, linclude.c build_all): a
 * collector running while many new tables join one growing result
 * traverses it again and again.  Not from the first row: restarting the
 * collector clears its debt, so that pausing around every small find would
 * make it run a step after each.  Restarted (when it was running) whatever
 * happens. */
void lrows_collect(lua_State *L, ldb *box, const assoc_model *m,
                   assoc_rows *rows, int mt_idx, int statekey_idx) {
  rowctx x = {box, m, rows, ASSOC_DONE, 0};
  if (!lua_checkstack(L, 6)) {
    assoc_rows_close(rows);
    lerr_raise(L, box, ASSOC_NOMEM, "not enough memory");
  }
  lua_pushcfunction(L, rows_build);
  lua_pushlightuserdata(L, &x);
  if (mt_idx) lua_pushvalue(L, mt_idx); else lua_pushnil(L);
  if (statekey_idx) lua_pushvalue(L, statekey_idx); else lua_pushnil(L);
  int st = lua_pcall(L, 3, 1, 0);
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
