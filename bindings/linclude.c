/*
 * linclude.c -- eager loading for assoc.core: m:find and m:count with an
 * `include` tree (see doc/eager.md and doc/core-module.md).
 *
 *   m:find({ where =, attributes =, order =, limit =, offset =, withDeleted =,
 *            include = { node, ... } }, mt, statekey)   --> array of rows
 *   m:count({ where =, withDeleted =, include = { node, ... } }) --> integer
 *
 *   node = { as = "Posts",                 -- alias on the parent's model
 *            where =, attributes =, order =, limit =, offset =, withDeleted =,
 *            required = bool|nil, separate = bool,
 *            through = { attributes = {..} | nil (all), where = {..} },
 *            include = { node, ... },
 *            mt = <metatable of the target's rows>,
 *            throughMt = <metatable of junction rows>,
 *            throughKey = "UserProjects" }  -- where junction rows go
 *
 *   order entries: "name" | { "name", "ASC"|"DESC" [, path = { "Posts", ... }]
 *                  [, junction = true] }  (path: aliases from the root;
 *                  junction: a column of the last node's junction)
 *
 * The tree is converted into assoc_include nodes (scratch memory from
 * lconv), the core loads everything (assoc_find_all), and the rows are
 * built in one pass: the root rows, then per include node its rows, each
 * attached under `as` to its parent row -- an array (created even when
 * empty) for hasMany/belongsToMany, the row or nothing for hasOne/
 * belongsTo -- with the junction row under throughKey.  Every row gets its
 * node's metatable and, with statekey, a snapshot of its values (as m:find
 * does).  The build runs protected and the result is freed as soon as it
 * returns, error or not; the userdata holding it meanwhile, whose __gc frees
 * it, is only a backstop (a collection at the C-stack limit runs no
 * finalizer).
 */
#include <string.h>

#include "lassoc.h"

#define LRESULT_MT "assoc.eagerresult"

typedef struct rbox {
  assoc_result *r;
} rbox;

static int rbox_gc(lua_State *L) {
  rbox *b = lua_touserdata(L, 1);
  if (b != NULL) {
    assoc_result_free(b->r);
    b->r = NULL;
  }
  return 0;
}

static rbox *rbox_new(lua_State *L) {
  rbox *b = lua_newuserdatauv(L, sizeof *b, 0);
  b->r = NULL;
  if (luaL_newmetatable(L, LRESULT_MT)) {
    lua_pushcfunction(L, rbox_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  return b;
}

/* ---- converting the include tree --------------------------------------------------- */

typedef struct itree {
  lconv *c;
  int nodes;         /* stack slot: array node index -> include table */
  int n;             /* nodes so far (the root is node 0) */
  int parent[257];   /* node -> parent node */
  const assoc_model *model[257];
  const assoc_model *through[257];
} itree;

static const char *const node_keys[] = {
    "as",      "where",   "attributes", "order",  "limit",    "offset",
    "withDeleted", "required", "separate", "through", "include", "mt",
    "throughMt", "throughKey", NULL};
static const char *const select_keys[] = {"where",  "attributes", "order",
                                          "limit",  "offset", "withDeleted",
                                          NULL};

static int in_list(const char *k, const char *const *list) {
  for (int i = 0; list[i]; i++)
    if (strcmp(k, list[i]) == 0) return 1;
  return 0;
}

/* Checks the keys of the table at t against `keys`. */
static void check_keys(lconv *c, int t, const char *const *keys,
                       const char *what) {
  lua_State *L = c->L;
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING)
      lerr_raise(L, c->box, ASSOC_MISUSE, "invalid key of type %s in %s",
                 luaL_typename(L, -1), what);
    if (!in_list(lua_tostring(L, -1), keys))
      lerr_raise(L, c->box, ASSOC_MISUSE, "unknown option '%s' in %s",
                 lua_tostring(L, -1), what);
  }
}

/* Pushes a copy of the table at t holding only `keys`. */
static void copy_keys(lua_State *L, int t, const char *const *keys) {
  lua_createtable(L, 0, 6);
  for (int i = 0; keys[i]; i++) {
    if (lua_getfield(L, t, keys[i]) != LUA_TNIL)
      lua_setfield(L, -2, keys[i]);
    else
      lua_pop(L, 1);
  }
}

static void convert_list(itree *it, int list, int parent, assoc_include **out,
                         int *nout);

/* Converts the include table at t (a node of `parent`) into *inc. */
static void convert_node(itree *it, int t, int parent, assoc_include *inc) {
  lconv *c = it->c;
  lua_State *L = c->L;
  const assoc_model *pm = it->model[parent], *saved = c->m;
  memset(inc, 0, sizeof *inc);
  check_keys(c, t, node_keys, "an include");
  if (lua_getfield(L, t, "as") != LUA_TSTRING || lstr_hasnul(L, -1))
    lerr_raise(L, c->box, ASSOC_MISUSE,
               "include: each include needs 'as' (an alias of %s), got %s",
               assoc_model_name(pm), luaL_typename(L, -1));
  const char *as = lua_tostring(L, -1);
  const assoc_assoc *a = assoc_model_assoc_find(pm, as);
  if (a == NULL)
    lerr_raise(L, c->box, ASSOC_MISUSE, "include: %s has no association '%s'",
               assoc_model_name(pm), as);
  lua_pop(L, 1);
  if (it->n >= 256)
    lerr_raise(L, c->box, ASSOC_MISUSE, "include: more than 256 includes");
  int me = ++it->n;
  it->parent[me] = parent;
  it->model[me] = assoc_assoc_target(a);
  it->through[me] = assoc_assoc_through(a);
  lua_pushvalue(L, t);
  lua_rawseti(L, it->nodes, me);
  inc->assoc = a;

  /* the select on the target */
  copy_keys(L, t, select_keys);
  int cp = lua_gettop(L);
  assoc_select *q = lconv_alloc(c, sizeof *q);
  c->m = it->model[me];
  lw_select(c, cp, q, "include");
  if (lua_getfield(L, cp, "attributes") == LUA_TTABLE && q->nattrs == 0) {
    /* attributes = {}: the primary key only (the core re-adds keys) */
    int *pk = lconv_alloc(c, sizeof *pk);
    *pk = assoc_model_pk(c->m);
    q->attrs = pk;
    q->nattrs = 1;
  }
  lua_settop(L, cp);
  lconv_anchor(c); /* the copy (it references the values converted) */
  inc->req = q;

  int ty = lua_getfield(L, t, "required");
  if (ty == LUA_TNIL)
    inc->required = -1;
  else if (ty == LUA_TBOOLEAN)
    inc->required = lua_toboolean(L, -1);
  else
    lerr_raise(L, c->box, ASSOC_MISUSE,
               "include %s: required must be a boolean (got %s)", as,
               luaL_typename(L, -1));
  lua_pop(L, 1);
  ty = lua_getfield(L, t, "separate");
  if (ty != LUA_TNIL && ty != LUA_TBOOLEAN)
    lerr_raise(L, c->box, ASSOC_MISUSE,
               "include %s: separate must be a boolean (got %s)", as,
               luaL_typename(L, -1));
  inc->separate = lua_toboolean(L, -1);
  lua_pop(L, 1);

  if (lua_getfield(L, t, "through") != LUA_TNIL) {
    int th = lua_gettop(L);
    const assoc_model *j = it->through[me];
    static const char *const through_keys[] = {"attributes", "where", NULL};
    if (lua_type(L, th) != LUA_TTABLE)
      lerr_raise(L, c->box, ASSOC_MISUSE,
                 "include %s: through must be a table (got %s)", as,
                 luaL_typename(L, th));
    if (j == NULL)
      lerr_raise(L, c->box, ASSOC_MISUSE,
                 "include %s: through applies to belongsToMany includes only",
                 as);
    check_keys(c, th, through_keys, "an include's through");
    assoc_through_req *tr = lconv_alloc(c, sizeof *tr);
    tr->attrs = NULL;
    tr->nattrs = -1;
    tr->where = NULL;
    c->m = j;
    if (lua_getfield(L, th, "attributes") != LUA_TNIL) {
      int at = lua_gettop(L);
      if (lua_type(L, at) != LUA_TTABLE)
        lerr_raise(L, c->box, ASSOC_MISUSE,
                   "include %s: through.attributes must be an array of names",
                   as);
      lua_Integer n = (lua_Integer)lua_rawlen(L, at);
      int *attrs = lconv_alloc(c, (size_t)(n ? n : 1) * sizeof(int));
      for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, at, i);
        size_t len;
        const char *name = lua_type(L, -1) == LUA_TSTRING
                               ? lua_tolstring(L, -1, &len)
                               : NULL;
        int ai = name ? assoc_model_attr_index(j, name) : -1;
        if (ai < 0 || strlen(name) != len)
          lerr_raise(L, c->box, ASSOC_MISUSE,
                     "include %s: unknown attribute %s of %s in "
                     "through.attributes",
                     as, name ? name : luaL_typename(L, -1),
                     assoc_model_name(j));
        attrs[i - 1] = ai;
        lua_pop(L, 1);
      }
      tr->attrs = attrs;
      tr->nattrs = (int)n;
    }
    lua_pop(L, 1);
    lua_getfield(L, th, "where");
    lw_where(c, lua_gettop(L), &tr->where);
    lconv_anchor(c);
    inc->through = tr;
  }
  lua_pop(L, 1);
  c->m = saved;

  if (lua_getfield(L, t, "include") != LUA_TNIL) {
    if (lua_type(L, -1) != LUA_TTABLE)
      lerr_raise(L, c->box, ASSOC_MISUSE,
                 "include %s: include must be an array (got %s)", as,
                 luaL_typename(L, -1));
    assoc_include *kids;
    int nkids;
    convert_list(it, lua_gettop(L), me, &kids, &nkids);
    inc->kids = kids;
    inc->nkids = nkids;
  }
  lua_pop(L, 1);
}

static void convert_list(itree *it, int list, int parent, assoc_include **out,
                         int *nout) {
  lua_State *L = it->c->L;
  lua_Integer n = (lua_Integer)lua_rawlen(L, list);
  luaL_checkstack(L, 16, "include nesting");
  if (n > 256)
    lerr_raise(L, it->c->box, ASSOC_MISUSE, "include: more than 256 includes");
  assoc_include *arr = lconv_alloc(it->c, (size_t)(n ? n : 1) * sizeof *arr);
  for (lua_Integer i = 1; i <= n; i++) {
    if (lua_rawgeti(L, list, i) != LUA_TTABLE)
      lerr_raise(L, it->c->box, ASSOC_MISUSE,
                 "include: element %d must be a table (got %s)", (int)i,
                 luaL_typename(L, -1));
    convert_node(it, lua_gettop(L), parent, &arr[i - 1]);
    lua_pop(L, 1);
  }
  *out = arr;
  *nout = (int)n;
}

/* The node reached by following the aliases of the path table at p. */
static int resolve_path(itree *it, int p, int entry) {
  lua_State *L = it->c->L;
  int cur = 0;
  if (lua_type(L, p) != LUA_TTABLE)
    lerr_raise(L, it->c->box, ASSOC_MISUSE,
               "order entry %d: path must be an array of aliases", entry);
  lua_Integer n = (lua_Integer)lua_rawlen(L, p);
  for (lua_Integer i = 1; i <= n; i++) {
    int found = -1;
    if (lua_rawgeti(L, p, i) != LUA_TSTRING)
      lerr_raise(L, it->c->box, ASSOC_MISUSE,
                 "order entry %d: path must be an array of aliases", entry);
    const char *as = lua_tostring(L, -1);
    for (int k = 1; k <= it->n && found < 0; k++) {
      if (it->parent[k] != cur) continue;
      lua_rawgeti(L, it->nodes, k);
      lua_getfield(L, -1, "as");
      if (strcmp(lua_tostring(L, -1), as) == 0) found = k;
      lua_pop(L, 2);
    }
    if (found < 0)
      lerr_raise(L, it->c->box, ASSOC_MISUSE,
                 "order entry %d: '%s' is not included under %s", entry, as,
                 assoc_model_name(it->model[cur]));
    lua_pop(L, 1);
    cur = found;
  }
  return cur;
}

static int attr_of(itree *it, const assoc_model *m, int idx, int entry) {
  lua_State *L = it->c->L;
  size_t n;
  const char *s =
      lua_type(L, idx) == LUA_TSTRING ? lua_tolstring(L, idx, &n) : NULL;
  int a = s ? assoc_model_attr_index(m, s) : -1;
  if (a < 0 || strlen(s) != n)
    lerr_raise(L, it->c->box, ASSOC_MISUSE,
               "order entry %d: unknown attribute %s of %s", entry,
               s ? s : luaL_typename(L, idx), assoc_model_name(m));
  return a;
}

static int direction(itree *it, int idx, int entry) {
  lua_State *L = it->c->L;
  if (lua_isnil(L, idx)) return 0;
  if (lua_type(L, idx) == LUA_TSTRING) {
    const char *d = lua_tostring(L, idx);
    char up[5] = {0};
    size_t dl = strlen(d);
    for (size_t j = 0; j < dl && j < 4; j++)
      up[j] = (char)((d[j] >= 'a' && d[j] <= 'z') ? d[j] - 32 : d[j]);
    if (dl == 4 && strcmp(up, "DESC") == 0) return 1;
    if (dl == 3 && strcmp(up, "ASC") == 0) return 0;
  }
  return lerr_raise(L, it->c->box, ASSOC_MISUSE,
                    "order entry %d: the direction must be ASC or DESC", entry);
}

/* The order option at idx (nil: none) -> eager order entries. */
static void convert_order(itree *it, int idx, assoc_eager_order **out,
                          int *nout) {
  lconv *c = it->c;
  lua_State *L = c->L;
  *out = NULL;
  *nout = 0;
  if (lua_isnil(L, idx)) return;
  if (lua_type(L, idx) != LUA_TTABLE)
    lerr_raise(L, c->box, ASSOC_MISUSE, "order must be an array (got %s)",
               luaL_typename(L, idx));
  lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
  assoc_eager_order *o = lconv_alloc(c, (size_t)(n ? n : 1) * sizeof *o);
  for (lua_Integer i = 1; i <= n; i++) {
    assoc_eager_order *e = &o[i - 1];
    int ty = lua_rawgeti(L, idx, i), t = lua_gettop(L);
    memset(e, 0, sizeof *e);
    if (ty == LUA_TSTRING) {
      e->attr = attr_of(it, it->model[0], t, (int)i);
    } else if (ty == LUA_TTABLE) {
      if (lua_getfield(L, t, "path") != LUA_TNIL)
        e->node = resolve_path(it, lua_gettop(L), (int)i);
      lua_pop(L, 1);
      lua_getfield(L, t, "junction");
      e->junction = lua_toboolean(L, -1);
      lua_pop(L, 1);
      const assoc_model *m = e->junction ? it->through[e->node]
                                         : it->model[e->node];
      if (m == NULL)
        lerr_raise(L, c->box, ASSOC_MISUSE,
                   "order entry %d: the include has no junction", (int)i);
      lua_rawgeti(L, t, 1);
      e->attr = attr_of(it, m, lua_gettop(L), (int)i);
      lua_pop(L, 1);
      lua_rawgeti(L, t, 2);
      e->desc = direction(it, lua_gettop(L), (int)i);
      lua_pop(L, 1);
    } else {
      lerr_raise(L, c->box, ASSOC_MISUSE,
                 "order entry %d must be a name or { name, dir, path = } (got "
                 "%s)",
                 (int)i, luaL_typename(L, t));
    }
    lua_settop(L, t - 1);
  }
  *out = o;
  *nout = (int)n;
}

/* Converts the request at slot 2: root select, includes, order. */
static void convert(itree *it, int req, assoc_select *root,
                    assoc_include **inc, int *ninc,
                    assoc_eager_order **order, int *norder,
                    const char *method, int with_order) {
  lconv *c = it->c;
  lua_State *L = c->L;
  static const char *const find_keys[] = {"where",  "attributes", "order",
                                          "limit",  "offset", "withDeleted",
                                          "include", NULL};
  static const char *const count_keys[] = {"where", "withDeleted", "include",
                                           NULL};
  static const char *const root_find[] = {"where", "attributes", "limit",
                                          "offset", "withDeleted", NULL};
  static const char *const root_count[] = {"where", "withDeleted", NULL};
  check_keys(c, req, with_order ? find_keys : count_keys,
             with_order ? "the request of find" : "the request of count");
  copy_keys(L, req, with_order ? root_find : root_count);
  int cp = lua_gettop(L);
  lw_select(c, cp, root, method);
  lua_settop(L, cp);
  lconv_anchor(c);
  if (lua_getfield(L, req, "include") != LUA_TTABLE)
    lerr_raise(L, c->box, ASSOC_MISUSE, "include must be an array (got %s)",
               luaL_typename(L, -1));
  convert_list(it, lua_gettop(L), 0, inc, ninc);
  lua_pop(L, 1);
  if (with_order) {
    lua_getfield(L, req, "order");
    convert_order(it, lua_gettop(L), order, norder);
    lua_pop(L, 1);
  }
}

int linclude_wants(lua_State *L, int idx) {
  if (lua_type(L, idx) != LUA_TTABLE) return 0;
  int ty = lua_getfield(L, idx, "include");
  lua_pop(L, 1);
  return ty != LUA_TNIL;
}

/* ---- building the rows ------------------------------------------------------------ */

typedef struct bnode {
  int ncols;
  int names;            /* stack slot of the first column name */
  unsigned char *dec;
  unsigned char *junc;
  int *attr;            /* attribute index of each column */
  int hasjunc;
  int extra;            /* keys a row gets besides its columns: the junction
                           row, the includes below the node */
  lsnap snap, jsnap;    /* snapshot stores of the rows and junction rows */
} bnode;

/* Pushes the row table of the values vals of a row of node b (with
 * snapshot, metatable and junction row). */
static void push_row(lua_State *L, const assoc_value *vals, bnode *b, int mt,
                     int sk, void *jb, int jmt, int jkey) {
  int top = lua_gettop(L);
  int t = top + 1, snap = 0, j = 0, jsnap = 0;
  int shared = b->snap.on, jshared = b->jsnap.on;
  lua_createtable(L, 0, b->ncols + ((sk && !shared) ? 1 : 0) + b->extra);
  if (shared) {
    lsnap_row(L, &b->snap, t);
  } else if (sk) {
    lua_createtable(L, 0, b->ncols);
    snap = lua_gettop(L);
  }
  if (b->hasjunc) {
    lua_createtable(L, 0, 8);
    j = lua_gettop(L);
    if (jshared) {
      lsnap_row(L, &b->jsnap, j);
    } else if (sk) {
      lua_createtable(L, 0, 8);
      jsnap = lua_gettop(L);
    }
  }
  for (int col = 0; col < b->ncols; col++) {
    const assoc_value *v = &vals[col];
    int junc = b->junc[col];
    int dst = junc ? j : t, dsnap = junc ? jsnap : snap;
    if (v->type == ASSOC_V_NULL) continue;
    lua_pushvalue(L, b->names + col);
    if (!lv_pushdecoded(L, v, b->dec[col], jb)) {
      lua_pop(L, 1);
      continue;
    }
    if (junc ? jshared : shared) {
      if (lua_type(L, -1) == LUA_TTABLE)
        lv_pushdecoded(L, v, b->dec[col], jb); /* a separate copy */
      else
        lua_pushvalue(L, -1);
      lsnap_put(L, junc ? &b->jsnap : &b->snap, b->attr[col]);
    } else if (dsnap) {
      lua_pushvalue(L, -2);
      if (lua_type(L, -2) == LUA_TTABLE)
        lv_pushdecoded(L, v, b->dec[col], jb); /* a separate copy */
      else
        lua_pushvalue(L, -2);
      lua_rawset(L, dsnap);
    }
    lua_rawset(L, dst);
  }
  if (j) {
    if (jsnap) {
      lua_pushvalue(L, sk);
      lua_pushvalue(L, jsnap);
      lua_rawset(L, j);
    }
    if (jmt && !jshared) {
      lua_pushvalue(L, jmt);
      lua_setmetatable(L, j);
    }
    lua_pushvalue(L, jkey);
    lua_pushvalue(L, j);
    lua_rawset(L, t);
  }
  if (snap) {
    lua_pushvalue(L, sk);
    lua_pushvalue(L, snap);
    lua_rawset(L, t);
  }
  if (mt && !shared) {
    lua_pushvalue(L, mt);
    lua_setmetatable(L, t);
  }
  lua_settop(L, t);
}

/* Pushes scratch arrays, the column names of node k and the slots of its
 * snapshot stores (mt/jmt/sk: metatables and statekey slots, 0: none;
 * expect: the rows to come); fills b. */
static void prepare_node(lua_State *L, const assoc_result *r, int k,
                         bnode *b, int mt, int jmt, int sk, int64_t expect) {
  const assoc_model *m = assoc_result_model(r, k);
  const assoc_include *inc = assoc_result_include(r, k);
  const assoc_model *j = inc ? assoc_assoc_through(inc->assoc) : NULL;
  b->ncols = assoc_result_ncols(r, k);
  luaL_checkstack(L, b->ncols + 32, "too many columns");
  b->attr = lua_newuserdatauv(L, ((size_t)b->ncols + 1) * (sizeof(int) + 2),
                              0);
  b->dec = (unsigned char *)(b->attr + b->ncols + 1);
  b->junc = b->dec + b->ncols + 1;
  b->hasjunc = 0;
  b->names = lua_gettop(L) + 1;
  for (int col = 0; col < b->ncols; col++) {
    int junc = 0;
    int a = assoc_result_attr(r, k, col, &junc);
    const assoc_attr *at = assoc_model_attr(junc ? j : m, a);
    b->junc[col] = (unsigned char)junc;
    b->dec[col] = (unsigned char)lv_decclass(at);
    b->attr[col] = a;
    if (junc) b->hasjunc = 1;
    lua_pushstring(L, at->name);
  }
  b->extra = b->hasjunc;
  for (int i = k + 1; i < assoc_result_nnodes(r); i++)
    if (assoc_result_parent(r, i) == k) b->extra++;
  lsnap_init(L, &b->snap, mt, sk, assoc_model_nattrs(m), expect);
  lsnap_init(L, &b->jsnap, b->hasjunc ? jmt : 0, sk,
             j ? assoc_model_nattrs(j) : 0, expect);
}

static int is_many(const assoc_include *inc) {
  assoc_kind k = assoc_assoc_kind(inc->assoc);
  return k == ASSOC_HAS_MANY || k == ASSOC_BELONGS_TO_MANY;
}

/* Where the rows of a node go: the node's include-table fields (stack
 * slots). */
typedef struct bdest {
  int askey, nmt, jmt, jkey;
} bdest;

/* Pushes the fields of include node k (the table at nodes[k]) and fills d. */
static void node_fields(lua_State *L, const assoc_result *r, int nodes, int k,
                        bdest *d) {
  const assoc_include *inc = assoc_result_include(r, k);
  lua_rawgeti(L, nodes, k);
  int node = lua_gettop(L);
  lua_getfield(L, node, "as");
  d->askey = lua_gettop(L);
  lua_getfield(L, node, "mt");
  d->nmt = lua_istable(L, -1) ? lua_gettop(L) : 0;
  lua_getfield(L, node, "throughMt");
  d->jmt = lua_istable(L, -1) ? lua_gettop(L) : 0;
  if (lua_getfield(L, node, "throughKey") != LUA_TSTRING) {
    lua_pop(L, 1);
    lua_pushstring(L, assoc_model_name(assoc_assoc_through(inc->assoc)
                                           ? assoc_assoc_through(inc->assoc)
                                           : assoc_result_model(r, k)));
  }
  d->jkey = lua_gettop(L);
}

/* A streamed node (assoc_find_stream): its rows are built as the core
 * reads them, into one array per parent row, kept in arrs (parent row + 1
 * -> array) until the parents exist. */
typedef struct snode {
  bnode b;
  bdest d;
  int arrs;            /* stack slot */
  int64_t nrows, narrs; /* for sizing the next array */
} snode;

/* Runs the load: builds the rows of the streamed nodes as they come (into
 * their snode arrays); returns the core's code (ASSOC_DONE at the end). */
static int stream_rows(lua_State *L, assoc_result *r, int nodes, int sk,
                       void *jb, snode **sn) {
  int nn = assoc_result_nnodes(r), k, rc;
  int64_t prow;
  const assoc_value *vals;
  for (k = 1; k < nn; k++) {
    if (!assoc_result_streamed(r, k)) continue;
    luaL_checkstack(L, 16, "include");
    sn[k] = lua_newuserdatauv(L, sizeof(snode), 0);
    memset(sn[k], 0, sizeof(snode));
    node_fields(L, r, nodes, k, &sn[k]->d);
    prepare_node(L, r, k, &sn[k]->b, sn[k]->d.nmt, sn[k]->d.jmt, sk, -1);
    lua_newtable(L);
    sn[k]->arrs = lua_gettop(L);
  }
  /* the array rows were last added to (slot `last`): rows of one parent
   * usually come together */
  lua_pushnil(L);
  int last = lua_gettop(L), lastk = -1;
  int64_t lastp = -1;
  lua_Integer lastn = 0;
  int work = lua_gettop(L);
  while ((rc = assoc_result_step(r, &k, &prow, &vals)) == ASSOC_ROW) {
    snode *x = sn[k];
    push_row(L, vals, &x->b, x->d.nmt, sk, jb, x->d.jmt, x->d.jkey);
    if (k != lastk || prow != lastp) {
      if (lua_rawgeti(L, x->arrs, (lua_Integer)prow + 1) == LUA_TNIL) {
        /* sized like the arrays so far (children per parent) */
        int64_t avg = x->narrs ? x->nrows / x->narrs : 1;
        lua_pop(L, 1);
        lua_createtable(L, avg < 1 ? 1 : avg > 64 ? 64 : (int)avg, 0);
        lua_pushvalue(L, -1);
        lua_rawseti(L, x->arrs, (lua_Integer)prow + 1);
        x->narrs++;
        lastn = 0;
      } else {
        lastn = (lua_Integer)lua_rawlen(L, -1);
      }
      lua_replace(L, last);
      lastk = k;
      lastp = prow;
    }
    lua_rawseti(L, last, ++lastn); /* pops the row */
    x->nrows++;
    lua_settop(L, work);
  }
  return rc;
}

/* Builds every row; pushes the array of root rows, or returns the core's
 * error code (pushing nothing).  nodes: the include tables by node index;
 * mt/sk: root metatable and statekey slots (0). */
static int build(lua_State *L, assoc_result *r, int nodes, int mt, int sk) {
  int nn = assoc_result_nnodes(r);
  void *jb = lv_newjbox(L); /* JSON scratch, kept on the stack */
  snode **sn = lua_newuserdatauv(L, (size_t)nn * sizeof *sn, 0);
  memset(sn, 0, (size_t)nn * sizeof *sn);
  int rc = stream_rows(L, r, nodes, sk, jb, sn);
  if (rc != ASSOC_DONE) return rc;
  int64_t nroot = assoc_result_nrows(r, 0);
  /* tabs: node index -> array of its row tables (for nodes with kids) */
  lua_createtable(L, nn, 0);
  int tabs = lua_gettop(L);
  unsigned char *haskids = lua_newuserdatauv(L, (size_t)nn + 1, 0);
  memset(haskids, 0, (size_t)nn + 1);
  for (int k = 1; k < nn; k++) haskids[assoc_result_parent(r, k)] = 1;

  lua_createtable(L, nroot > 0x7fffffff ? 0x7fffffff : (int)nroot, 0);
  int result = lua_gettop(L);
  lua_pushvalue(L, result);
  lua_rawseti(L, tabs, 1);
  {
    bnode b;
    prepare_node(L, r, 0, &b, mt, 0, sk, nroot);
    for (int64_t i = 0; i < nroot; i++) {
      push_row(L, assoc_result_row(r, 0, i), &b, mt, sk, jb, 0, 0);
      lua_rawseti(L, result, (lua_Integer)i + 1);
    }
    lua_settop(L, result);
  }
  for (int k = 1; k < nn; k++) {
    const assoc_include *inc = assoc_result_include(r, k);
    int p = assoc_result_parent(r, k);
    int64_t np = assoc_result_nrows(r, p), nrows = assoc_result_nrows(r, k);
    int many = is_many(inc);
    int base = lua_gettop(L);
    bnode b;
    bdest d;
    lua_rawgeti(L, tabs, p + 1);
    int ptabs = lua_gettop(L);
    if (sn[k]) { /* streamed: its arrays are made, attach them */
      for (int64_t pr = 0; pr < np; pr++) {
        lua_rawgeti(L, ptabs, (lua_Integer)pr + 1);
        lua_pushvalue(L, sn[k]->d.askey);
        if (lua_rawgeti(L, sn[k]->arrs, (lua_Integer)pr + 1) == LUA_TNIL) {
          lua_pop(L, 1);
          lua_newtable(L); /* created even when empty */
        }
        lua_rawset(L, -3);
        lua_pop(L, 1);
      }
      lua_settop(L, base);
      continue;
    }
    node_fields(L, r, nodes, k, &d);
    int mytabs = 0;
    if (haskids[k]) {
      lua_createtable(L, nrows > 0x7fffffff ? 0x7fffffff : (int)nrows, 0);
      mytabs = lua_gettop(L);
      lua_pushvalue(L, mytabs);
      lua_rawseti(L, tabs, k + 1);
    }
    prepare_node(L, r, k, &b, d.nmt, d.jmt, sk, nrows);
    int work = lua_gettop(L);
    for (int64_t pr = 0; pr < np; pr++) {
      const int64_t *rows;
      int64_t cnt = assoc_result_children(r, k, pr, &rows);
      if (!many && cnt == 0) continue;
      lua_rawgeti(L, ptabs, (lua_Integer)pr + 1);
      int ptab = lua_gettop(L);
      if (many) {
        lua_createtable(L, cnt > 0x7fffffff ? 0x7fffffff : (int)cnt, 0);
        int arr = lua_gettop(L);
        for (int64_t i = 0; i < cnt; i++) {
          push_row(L, assoc_result_row(r, k, rows[i]), &b, d.nmt, sk, jb,
                   d.jmt, d.jkey);
          if (mytabs) {
            lua_pushvalue(L, -1);
            lua_rawseti(L, mytabs, (lua_Integer)rows[i] + 1);
          }
          lua_rawseti(L, arr, (lua_Integer)i + 1);
        }
        lua_pushvalue(L, d.askey);
        lua_pushvalue(L, arr);
        lua_rawset(L, ptab);
      } else {
        push_row(L, assoc_result_row(r, k, rows[0]), &b, d.nmt, sk, jb, d.jmt,
                 d.jkey);
        if (mytabs) {
          lua_pushvalue(L, -1);
          lua_rawseti(L, mytabs, (lua_Integer)rows[0] + 1);
        }
        lua_pushvalue(L, d.askey);
        lua_insert(L, -2);
        lua_rawset(L, ptab);
      }
      lua_settop(L, work);
    }
    lua_settop(L, base);
  }
  lua_pushvalue(L, result);
  return ASSOC_DONE;
}

/* lua_pcall'ed by build_all: (ctx, nodes, mt|nil, statekey|nil) -> array
 * of rows, or nothing with ctx->rc the core's error. */
typedef struct bctx {
  assoc_result *r;
  int rc;
} bctx;

static int build_p(lua_State *L) {
  bctx *x = lua_touserdata(L, 1);
  x->rc = build(L, x->r, 2, lua_isnil(L, 3) ? 0 : 3, lua_isnil(L, 4) ? 0 : 4);
  return x->rc == ASSOC_DONE ? 1 : 0;
}

/* Runs the load (assoc_find_stream's steps) and builds the rows with the
 * garbage collector paused: a collector running while 100,000s of new
 * tables join one growing result would traverse it again and again
 * (measured: a third of the build time).  The collector is restarted (when
 * it was running) and the result freed (its statement back in the cache)
 * whatever happens; a core error is raised. */
static void build_all(lconv *c, rbox *rb, int nodes, int mt, int sk) {
  lua_State *L = c->L;
  bctx x = {rb->r, ASSOC_DONE};
  int running = lua_gc(L, LUA_GCISRUNNING);
  /* no raising from here to the pcall: the caller made room on the stack */
  lua_pushcfunction(L, build_p);
  lua_pushlightuserdata(L, &x);
  lua_pushvalue(L, nodes);
  if (mt) lua_pushvalue(L, mt); else lua_pushnil(L);
  if (sk) lua_pushvalue(L, sk); else lua_pushnil(L);
  if (running) lua_gc(L, LUA_GCSTOP);
  int st = lua_pcall(L, 4, 1, 0);
  if (running) lua_gc(L, LUA_GCRESTART);
  if (st != LUA_OK) {
    assoc_result_free(rb->r);
    rb->r = NULL;
    ldb_flush(L, c->box);
    lua_error(L);
  }
  if (x.rc != ASSOC_DONE) {
    lerr_snapshot(c->box);
    assoc_result_free(rb->r);
    rb->r = NULL;
    lerr_raise_snap(L, c->box, 0);
  }
}

int linclude_find(lua_State *L, ldb *box, const assoc_model *m) {
  /* 1 db, 2 req, 3 mt, 4 statekey */
  int mt = lua_istable(L, 3) ? 3 : 0;
  int sk = lua_isnil(L, 4) ? 0 : 4;
  lconv c;
  lconv_init(&c, L, box, m, "find");
  lua_createtable(L, 8, 0);
  itree *it = lconv_alloc(&c, sizeof *it);
  memset(it, 0, sizeof *it);
  it->c = &c;
  it->nodes = lua_gettop(L);
  it->model[0] = m;
  it->parent[0] = -1;
  assoc_select root;
  assoc_include *inc;
  int ninc, norder;
  assoc_eager_order *order;
  convert(it, 2, &root, &inc, &ninc, &order, &norder, "find", 1);
  /* room for build_all's call, made before there is a result to lose (its
   * holder's finalizer is a backstop: a collection at the C-stack limit
   * cannot run it) */
  luaL_checkstack(L, 8, "include");
  rbox *rb = rbox_new(L);
  if (assoc_find_stream(box->db, m, &root, inc, ninc, order, norder,
                        &rb->r) != ASSOC_OK)
    return lerr_raise_core(L, box, 0);
  build_all(&c, rb, it->nodes, mt, sk);
  assoc_result_free(rb->r);
  rb->r = NULL;
  ldb_flush(L, box);
  return 1;
}

int linclude_count(lua_State *L, ldb *box, const assoc_model *m) {
  lconv c;
  lconv_init(&c, L, box, m, "count");
  lua_createtable(L, 8, 0);
  itree *it = lconv_alloc(&c, sizeof *it);
  memset(it, 0, sizeof *it);
  it->c = &c;
  it->nodes = lua_gettop(L);
  it->model[0] = m;
  it->parent[0] = -1;
  assoc_select root;
  assoc_include *inc;
  int ninc, norder;
  assoc_eager_order *order;
  convert(it, 2, &root, &inc, &ninc, &order, &norder, "count", 0);
  int64_t n = 0;
  if (assoc_count_all(box->db, m, &root, inc, ninc, &n) != ASSOC_OK)
    return lerr_raise_core(L, box, 0);
  ldb_flush(L, box);
  lua_pushinteger(L, (lua_Integer)n);
  return 1;
}
