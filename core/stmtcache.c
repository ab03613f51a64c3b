/*
 * stmtcache.c -- the prepared-statement cache: a bounded LRU keyed by SQL
 * text (a chained hash map plus a doubly linked recency list).
 *
 * Cached statements are prepared with SQLITE_PREPARE_PERSISTENT and reset
 * and cleared when given back.  A statement is handed out to one user at a
 * time: when the cached one is busy (its rows are still open), a temporary
 * statement is prepared for that use and finalized when it is given back.
 * Eviction never finalizes a busy statement: it is moved to the `loose`
 * list and finalized on release.  Each entry embeds its assoc_rows, so
 * running a query allocates nothing once its statement is cached.
 */
#include "assoc_int.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* Eight bytes a step (SQL texts run to hundreds of bytes and are hashed on
 * every call), each mixed by a multiply and a shift. */
uint32_t assoc__sql_hash(const char *s, size_t n) {
  uint64_t h = 0x9e3779b97f4a7c15u ^ (uint64_t)n, w;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    memcpy(&w, s + i, 8);
    h = (h ^ w) * 0xff51afd7ed558ccdu;
    h ^= h >> 29;
  }
  w = 0;
  memcpy(&w, s + i, n - i);
  h = (h ^ w) * 0xc4ceb9fe1a85ec53u;
  h ^= h >> 32;
  return (uint32_t)h;
}

int assoc__cache_init(assoc__cache *c, int capacity) {
  uint32_t nb = 16;
  memset(c, 0, sizeof *c);
  if (capacity < 1) capacity = 1;
  while (nb < (uint32_t)capacity * 2u && nb < (1u << 16)) nb <<= 1;
  c->buckets = calloc(nb, sizeof *c->buckets);
  if (c->buckets == NULL) return ASSOC_NOMEM;
  c->nbuckets = nb;
  c->capacity = capacity;
  return ASSOC_OK;
}

static void entry_free(assoc__stmt *e) {
  sqlite3_finalize(e->stmt);
  free(e->amap);
  free(e);
}

void assoc__cache_free(assoc__cache *c) {
  assoc__stmt *e, *n;
  for (e = c->head; e != NULL; e = n) {
    n = e->next;
    entry_free(e);
  }
  for (e = c->loose; e != NULL; e = n) {
    n = e->next;
    entry_free(e);
  }
  free(c->buckets);
  memset(c, 0, sizeof *c);
}

/* ---- lists ------------------------------------------------------------------- */

static void lru_unlink(assoc__cache *c, assoc__stmt *e) {
  if (e->prev) e->prev->next = e->next; else c->head = e->next;
  if (e->next) e->next->prev = e->prev; else c->tail = e->prev;
  e->prev = e->next = NULL;
}

static void lru_push(assoc__cache *c, assoc__stmt *e) {
  e->prev = NULL;
  e->next = c->head;
  if (c->head) c->head->prev = e; else c->tail = e;
  c->head = e;
}

static void loose_push(assoc__cache *c, assoc__stmt *e) {
  e->prev = NULL;
  e->next = c->loose;
  if (c->loose) c->loose->prev = e;
  c->loose = e;
}

static void loose_unlink(assoc__cache *c, assoc__stmt *e) {
  if (e->prev) e->prev->next = e->next; else c->loose = e->next;
  if (e->next) e->next->prev = e->prev;
  e->prev = e->next = NULL;
}

static void hash_remove(assoc__cache *c, assoc__stmt *e) {
  assoc__stmt **pp = &c->buckets[e->hash & (c->nbuckets - 1)];
  while (*pp != NULL && *pp != e) pp = &(*pp)->hnext;
  if (*pp == e) *pp = e->hnext;
  e->hnext = NULL;
}

/* Takes the least recently used statement out of the cache: finalized when
 * idle, moved to the loose list when busy (idle ones are preferred). */
static void evict_one(assoc__cache *c) {
  assoc__stmt *e = c->tail;
  while (e != NULL && e->busy) e = e->prev;
  if (e == NULL) e = c->tail;
  if (e == NULL) return;
  lru_unlink(c, e);
  hash_remove(c, e);
  e->cached = 0;
  c->size--;
  c->evictions++;
  if (e->busy) loose_push(c, e);
  else entry_free(e);
}

/* ---- get / put ------------------------------------------------------------------ */

/* True when only whitespace, semicolons and comments remain. */
static int tail_is_empty(const char *p) {
  for (;;) {
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f' ||
           *p == '\v' || *p == ';')
      p++;
    if (p[0] == '-' && p[1] == '-') {
      p += 2;
      while (*p != '\0' && *p != '\n') p++;
    } else if (p[0] == '/' && p[1] == '*') {
      p += 2;
      while (*p != '\0' && !(p[0] == '*' && p[1] == '/')) p++;
      if (*p != '\0') p += 2;
    } else {
      return *p == '\0';
    }
  }
}

int assoc__stmt_get(assoc_db *db, const char *sql, size_t len, unsigned flags,
                    assoc__stmt **out) {
  return assoc__stmt_get_h(db, sql, len,
                           (flags & ASSOC__NOCACHE) ? 0
                                                    : assoc__sql_hash(sql, len),
                           flags, out);
}

int assoc__stmt_get_h(assoc_db *db, const char *sql, size_t len,
                      uint32_t hash, unsigned flags, assoc__stmt **out) {
  assoc__cache *c = &db->cache;
  assoc__stmt *e = NULL, *n;
  uint32_t h = 0;
  const char *tail = NULL;
  int rc, temp;
  *out = NULL;
  if (len >= (size_t)INT_MAX)
    return assoc__err(db, ASSOC_MISUSE, "SQL text too long");
  if (!(flags & ASSOC__NOCACHE)) {
    h = hash;
    for (e = c->buckets[h & (c->nbuckets - 1)]; e != NULL; e = e->hnext)
      if (e->hash == h && e->len == len && memcmp(e->sql, sql, len) == 0) break;
    if (e != NULL && !e->busy) {
      c->hits++;
      if (c->head != e) {
        lru_unlink(c, e);
        lru_push(c, e);
      }
      e->busy = 1;
      *out = e;
      return ASSOC_OK;
    }
  }
  temp = (flags & ASSOC__NOCACHE) || e != NULL;
  c->misses++;
  n = malloc(sizeof *n + len + 1);
  if (n == NULL) return assoc__err(db, ASSOC_NOMEM, "out of memory");
  memset(n, 0, sizeof *n);
  n->rows.last = -1; /* no run yet (assoc_rows_expect) */
  memcpy(n->sql, sql, len);
  n->sql[len] = '\0';
  n->len = len;
  n->hash = h;
  rc = sqlite3_prepare_v3(db->sq, n->sql, (int)len + 1,
                          temp ? 0 : SQLITE_PREPARE_PERSISTENT, &n->stmt,
                          &tail);
  if (rc != SQLITE_OK) {
    rc = assoc__sqlerr(db, rc, n->sql);
    sqlite3_finalize(n->stmt);
    free(n);
    return rc;
  }
  if (n->stmt == NULL) {
    free(n);
    return assoc__err(db, ASSOC_MISUSE, "no SQL statement in \"%.200s\"", sql);
  }
  if ((flags & ASSOC__ONE) && tail != NULL && !tail_is_empty(tail)) {
    sqlite3_finalize(n->stmt);
    free(n);
    return assoc__err(db, ASSOC_MISUSE,
                      "only one SQL statement is allowed, found more in "
                      "\"%.200s\"", sql);
  }
  n->busy = 1;
  if (temp) {
    loose_push(c, n);
  } else {
    uint32_t b = h & (c->nbuckets - 1);
    n->cached = 1;
    n->hnext = c->buckets[b];
    c->buckets[b] = n;
    lru_push(c, n);
    c->size++;
    while (c->size > c->capacity) evict_one(c);
  }
  *out = n;
  return ASSOC_OK;
}

void assoc__stmt_put(assoc_db *db, assoc__stmt *st) {
  if (st == NULL) return;
  sqlite3_reset(st->stmt);
  sqlite3_clear_bindings(st->stmt);
  st->busy = 0;
  if (!st->cached) {
    loose_unlink(&db->cache, st);
    entry_free(st);
  }
}
