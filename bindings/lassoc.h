/*
 * lassoc.h -- internal header of the Lua module assoc.core (bindings/).
 *
 * The bindings turn Lua tables into core requests (lwhere.c, lvalue.c),
 * rows into Lua tables (lvalue.c), own the userdata lifetimes of Db and
 * Model (lassoc.c, lmodel.c), and raise structured error objects, all built
 * in lerror.c.  Nothing here is public: hosts use core/assoc.h.
 *
 * Conventions shared by every file of bindings/:
 *   - Every method of Db or Model first checks its receiver (ldb_check /
 *     lmodel_check) and afterwards finds the Db userdata at stack slot 1
 *     (a Model method replaces its receiver by its Db).  The deferred log
 *     (below) and the error helpers rely on it.
 *   - Every argument is checked before the core is called; scratch memory
 *     for requests is Lua userdata (lconv's arena), so a Lua error at any
 *     point leaks nothing.  Strings handed to the core are borrowed from Lua
 *     values that stay referenced (the arguments, or lconv's anchor table).
 *   - The core's trace callback never calls Lua: it appends (sql, ms) to a
 *     C buffer owned by the box, and ldb_flush() calls the Lua logger once
 *     the core call is over (no Lua code ever runs inside a core frame).
 */
#ifndef LASSOC_H
#define LASSOC_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "assoc.h"

#define LASSOC_DB "assoc.Db"
#define LASSOC_MODEL "assoc.Model"
#define LASSOC_OP "assoc.Op"
#define LASSOC_NULL "assoc.null"
#define LASSOC_ERRMT "assoc.error"   /* registry: the metatable of errors */
#define LASSOC_OPS "assoc.Ops"       /* registry: array code -> Op userdata */
#define LASSOC_NULLV "assoc.nullv"   /* registry: the core.null userdata */

/* User values of the Db userdata. */
enum { LDB_UV_LOGGER = 1, LDB_UV_MODELS = 2, LDB_NUV = 2 };

/* A copy of the core's last error, taken before anything else can
 * overwrite it (a rollback, a logger using the db).  C memory owned by the
 * box; replaced by the next snapshot, freed on close. */
typedef struct lerr_snap {
  int code;
  char *msg, *sql, *field;
} lerr_snap;

/* A Db's box: C memory the Db userdata points to (the userdata holds an
 * ldb *), on the list of its Lua state's boxes (lassoc.c: "handles"), freed
 * with the state -- models and associations keep pointers to it, and the
 * Db's finalizer may never run.  db == NULL means closed. */
typedef struct ldb {
  struct ldb *next;  /* the state's list of boxes */
  assoc_db *db;
  void *null;        /* address of this state's core.null (identity test) */
  /* deferred log: records [double ms][sql NUL], appended by the trace
   * callback, drained by ldb_flush */
  char *log;
  size_t loglen, logcap;
  int flushing;
  int logdropped;    /* records lost to out-of-memory */
  lerr_snap err;
} ldb;

/* The Model userdata; its user value 1 is the Db (keeps box alive). */
typedef struct lmodel {
  const assoc_model *m;
  ldb *box;
} lmodel;

/* Does the string at idx contain a NUL byte (so C would see less of it)?
 * Names, SQL and paths with one are refused rather than truncated. */
static inline int lstr_hasnul(lua_State *L, int idx) {
  size_t n;
  const char *s = lua_tolstring(L, idx, &n);
  return s && strlen(s) != n;
}

/* ---- lassoc.c ------------------------------------------------------------ */
/* Checks that slot 1 is an open Db; raises AssocError / ConnectionError. */
ldb *ldb_check(lua_State *L, const char *method);
/* Calls the Lua logger for every deferred log record (Db at slot 1).
 * Never raises; the stack is left as it was. */
void ldb_flush(lua_State *L, ldb *box);
void ldb_trace(void *ud, const char *sql, double ms);
/* Pushes the Op userdata of `op` (from the registry). */
void lassoc_push_op(lua_State *L, int op);
const char *lassoc_op_name(int op);

/* ---- lmodel.c ------------------------------------------------------------ */
int lmodel_define(lua_State *L);     /* db:define(name, attrs, options) */
void lmodel_open(lua_State *L);      /* creates the Model metatable */
/* Pushes the Model userdata of m (Db at slot 1), creating and registering
 * one for a model the core defined by itself. */
void lmodel_push(lua_State *L, ldb *box, const assoc_model *m);

/* ---- linclude.c ---------------------------------------------------------- */
/* Eager loading (m:find / m:count with `include`; see doc/eager.md).
 * linclude_wants: does the request table at idx have an `include`? */
int linclude_wants(lua_State *L, int idx);
/* m:find(req, mt, statekey) with includes (Db at slot 1, req at 2). */
int linclude_find(lua_State *L, ldb *box, const assoc_model *m);
/* m:count(req) with includes. */
int linclude_count(lua_State *L, ldb *box, const assoc_model *m);

/* ---- lrel.c -------------------------------------------------------------- */
int lrel_associate(lua_State *L);    /* db:associate(kind, src, tgt, opts) */
void lrel_open(lua_State *L);        /* creates the Association metatable */

/* ---- lerror.c ------------------------------------------------------------ */
/* Copies the core's current error of box->db into box->err. */
void lerr_snapshot(ldb *box);
/* Raises the error held in box->err.  values_idx (0: none) is a values
 * table whose entries give `value` in UniqueConstraintError's errors.
 * Flushes the deferred log first when box is given. */
int lerr_raise_snap(lua_State *L, ldb *box, int values_idx);
/* lerr_snapshot + lerr_raise_snap. */
int lerr_raise_core(lua_State *L, ldb *box, int values_idx);
/* Raises an error of the bindings' own: code ASSOC_MISUSE (AssocError),
 * ASSOC_CLOSED (ConnectionError), ... with a formatted message
 * (lua_pushfstring formats). box may be NULL (nothing to flush). */
int lerr_raise(lua_State *L, ldb *box, int code, const char *fmt, ...);
/* Raises ValidationError with errors = { { path =, message =, value = } },
 * value taken from stack slot value_idx (0: none). */
int lerr_validation(lua_State *L, ldb *box, const char *path, int value_idx,
                    const char *fmt, ...);
/* Creates error_mt, leaves it on the stack. */
void lerr_open(lua_State *L);

/* ---- lvalue.c ------------------------------------------------------------ */
/* A request being converted: scratch memory (inline, then GC-owned chunks)
 * and anchors. */
#define LCONV_INLINE 512
typedef struct lconv {
  lua_State *L;
  ldb *box;
  const assoc_model *m;  /* NULL for raw queries */
  const char *what;      /* "where", "insert", ... for messages */
  int anchor;            /* stack slot of the anchor table (created lazily
                            in a slot reserved by lconv_init) */
  int nanchor;
  char *cur;             /* arena chunk */
  size_t left;
  /* the first LCONV_INLINE bytes come from here (the C frame owning the
   * lconv, which outlives every use): a small request allocates nothing */
  _Alignas(16) char inl[LCONV_INLINE];
} lconv;

/* Reserves a stack slot for the anchor table (pushes nil). */
void lconv_init(lconv *c, lua_State *L, ldb *box, const assoc_model *m,
                const char *what);
/* n bytes of GC-owned scratch memory, aligned for any type, valid while the
 * conversion's stack slot lives.  Raises on out-of-memory. */
void *lconv_alloc(lconv *c, size_t n);
/* Keeps the value on top of the stack alive (pops it). */
void lconv_anchor(lconv *c);
/* Converts the Lua value at idx for attribute `attr` of c->m (type rules
 * of doc/core-module.md).  Raises ValidationError naming Model.attr. */
void lv_typed(lconv *c, int idx, int attr, assoc_value *out);
/* Converts idx as text (LIKE patterns): string, or number as text. */
int lv_text(lconv *c, int idx, assoc_value *out);
/* Converts idx without a type (raw query params).  Returns 0 if the type
 * is unsupported. */
int lv_untyped(lconv *c, int idx, assoc_value *out);
/* Is the value at idx core.null? */
int lv_isnull(lconv *c, int idx);
/* Shortest %.{15,16,17}g form of d that reads back exactly. */
void lv_fmtnum(char *buf, size_t cap, double d);

/* Runs `rows` to the end, pushing an array of row tables; closes rows in
 * every case (also on a Lua error while building, which is re-raised after
 * the close).  With a model, fields are attribute names decoded per type;
 * without, column names with natural values.  mt_idx / statekey_idx (0:
 * none) as in m:find. */
void lrows_collect(lua_State *L, ldb *box, const assoc_model *m,
                   assoc_rows *rows, int mt_idx, int statekey_idx);
/* Row builders stop the garbage collector at their LROWS_PAUSE_AT-th row
 * (lrows_pause returns whether it did: then the caller restarts it with
 * LUA_GCRESTART once the rows are built, also after an error). */
#define LROWS_PAUSE_AT 512
int lrows_pause(lua_State *L);

/* Row building pieces shared with linclude.c: the decoding class of an
 * attribute (BOOLEAN -> boolean, JSON -> table, ...), pushing a value
 * decoded by it (returns 0, pushing nothing, for a value that reads as
 * nil; jbox from lv_newjbox, needed for JSON, else may be NULL), and a new
 * JSON scratch box (pushed; GC-owned). */
int lv_decclass(const assoc_attr *a);
int lv_pushdecoded(lua_State *L, const assoc_value *v, int dec, void *jb);
void *lv_newjbox(lua_State *L);

/* Shared snapshot stores (the representation lua/assoc/instance.lua owns).
 * When the row metatable has a `layout` table (attribute name -> 1-based
 * attribute index), the snapshot of a loaded row is not a table of its own:
 * up to LSNAP_CHUNK rows share one "chunk", an array holding for each row,
 * from its base b, the row's address (light userdata) at [b] and the value
 * of attribute i at [b + i]; [0] is the layout and [-1] the stride
 * (attributes + 1; rows follow each other densely).  The chunk is also the
 * rows' metatable: it carries the fields listed in layout[-1] (model,
 * __index, ...: instance.lua lists them; else the model metatable's are
 * copied), so a loaded row holds its attributes and nothing else (a Post of
 * 4 attributes fits in 4 hash slots, not 8).
 * core.snapbase(chunk, row) finds b again.  Without a layout (or without
 * statekey) the old form is built: the row gets mt and row[statekey] = a
 * table of the values by name.  lsnap_init pushes stack slots (layout,
 * current chunk, the fields to copy); expect is the number of rows to come when known
 * (sizes the chunks), else -1.  Per row: lsnap_row(row table slot) -- which
 * sets the row's metatable -- then lsnap_put(attr) for each value (the
 * value on top is moved into the chunk). */
#define LSNAP_CHUNK 256 /* mt's fields are listed once, in layout[-1] */
#define LSNAP_MAXFIELDS 16
typedef struct lsnap {
  int on;                /* shared stores (else s->on == 0: old form) */
  int layout, chunk;     /* stack slots */
  int statekey;          /* stack slot */
  int fields, nfields;   /* mt's fields (but layout) as key, value pairs
                            from stack slot `fields`: copied into chunks */
  int stride;            /* attributes + 1 */
  lua_Integer used, cap, grow, left, base;
  lua_Integer rows;      /* rows stored so far */
} lsnap;
int lsnap_init(lua_State *L, lsnap *s, int mt, int statekey, int nattrs,
               int64_t expect);
/* The LSNAP_WITNESS_AT-th row of a build puts a witness in its store, at
 * index LSNAP_WITNESS: when the collector frees the store, the heap is
 * tidied (lassoc.c).  Only results that large: the merge pays off for the
 * 100,000s of blocks of a large eager load, and for a page-sized result
 * (1,000 rows) it costs more than it saves (see lassoc.c). */
#define LSNAP_WITNESS_AT 8192
#define LSNAP_WITNESS (-2)
#define LASSOC_WITNESS "assoc.witness"
void lheap_witness(lua_State *L, int store);
void lsnap_row(lua_State *L, lsnap *s, int row);
/* Pushes the name of attribute attr of m, interned once per layout (kept in
 * layout[-2] when s has one: a layout is replaced whenever the attributes
 * change), so that a repeated small read does not intern its names again. */
void lsnap_pushname(lua_State *L, lsnap *s, const assoc_model *m, int attr);
static inline void lsnap_put(lua_State *L, lsnap *s, int attr) {
  lua_rawseti(L, s->chunk, s->base + attr + 1);
}
int lcore_snapbase(lua_State *L); /* core.snapbase(chunk, row) -> base|nil */

/* JSON (libcjson).  ljson_encode pushes the text of the value at idx; what
 * it cannot encode (functions, userdata, cycles, nesting > 100, non-finite
 * numbers) raises AssocError, or ValidationError naming model.path when
 * path is given (an attribute value). */
void ljson_encode(lua_State *L, ldb *box, int idx, const char *model,
                  const char *path);
int ljson_decode(lua_State *L, const char *s, size_t n, void *null_ud,
                 int top_null_is_nil); /* pushes a value; 0 on bad JSON */
int lcore_json_encode(lua_State *L);
int lcore_date(lua_State *L); /* core.date(v [, dateonly]) -> text or nil */
int lcore_json_decode(lua_State *L);

/* ---- lwhere.c ------------------------------------------------------------ */
/* The where table at idx (nil: none) -> *out (NULL when there is no
 * condition).  Raises AssocError / ValidationError. */
void lw_where(lconv *c, int idx, const assoc_where **out);
/* The request table at idx (nil: everything) -> *req.  `method` names the
 * method in messages ("find", "count"). */
void lw_select(lconv *c, int idx, assoc_select *req, const char *method);

#endif /* LASSOC_H */
