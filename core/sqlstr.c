/*
 * sqlstr.c -- the SQL text buffer behind assoc_sql (in the spirit of
 * SQLite's sqlite3_str): appends, quoted identifiers, bind values and
 * builder-owned copies, with a sticky error.  Once an append fails (out of
 * memory) or a builder reports a bad request, every later append is a no-op
 * and the first error is what the builder returns.
 *
 * The db keeps one assoc_sql as scratch for its requests, so that building
 * a statement reuses its buffers instead of allocating each time.
 */
#include "assoc_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sqlpriv {
  size_t cap;    /* bytes allocated for text */
  int bindcap;   /* entries allocated for binds */
  char **owned;  /* builder-owned blocks (LIKE patterns) */
  int nowned, ownedcap;
  assoc__memo *memo; /* assoc__sql_memo: the memo, its key, and a hit */
  unsigned gen;
  uint64_t shape;
  int hit;       /* the text is the memo's: appends write nothing */
  const assoc_value *args[8]; /* assoc__sql_memo_args */
  int nargs;
  const assoc_value *src[ASSOC__MEMO_MAXB]; /* where each bind came from */
} sqlpriv;

void assoc_sql_init(assoc_sql *s) {
  if (s == NULL) return;
  s->text = NULL; /* field by field: errmsg needs only its first byte */
  s->len = 0;
  s->binds = NULL;
  s->nbinds = 0;
  s->rc = ASSOC_OK;
  s->errmsg[0] = '\0';
  s->priv_ = NULL;
}

static void free_owned(sqlpriv *p) {
  int i;
  for (i = 0; i < p->nowned; i++) free(p->owned[i]);
  p->nowned = 0;
}

void assoc_sql_free(assoc_sql *s) {
  sqlpriv *p;
  if (s == NULL) return;
  p = s->priv_;
  if (p != NULL) {
    free_owned(p);
    free(p->owned);
    free(p);
  }
  free(s->text);
  free(s->binds);
  assoc_sql_init(s);
}

void assoc__sql_reset(assoc_sql *s) {
  s->len = 0;
  if (s->text != NULL) s->text[0] = '\0';
  s->nbinds = 0;
  s->rc = ASSOC_OK;
  s->errmsg[0] = '\0';
  if (s->priv_ != NULL) {
    sqlpriv *p = s->priv_;
    free_owned(p);
    p->memo = NULL;
    p->hit = 0;
    p->nargs = 0;
  }
}

int assoc__sql_fail(assoc_sql *s, int rc, const char *fmt, ...) {
  va_list ap;
  if (s->rc != ASSOC_OK) return s->rc;
  s->rc = rc;
  va_start(ap, fmt);
  vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
  va_end(ap);
  /* a failed build carries no statement */
  s->len = 0;
  if (s->text != NULL) s->text[0] = '\0';
  s->nbinds = 0;
  return rc;
}

static sqlpriv *priv(assoc_sql *s) {
  if (s->priv_ == NULL) {
    s->priv_ = calloc(1, sizeof(sqlpriv));
    if (s->priv_ == NULL) {
      assoc__sql_fail(s, ASSOC_NOMEM, "out of memory");
      return NULL;
    }
  }
  return s->priv_;
}

/* Makes room for n more bytes plus the NUL.  0 on failure (rc set). */
static int reserve(assoc_sql *s, size_t n) {
  sqlpriv *p;
  size_t need, cap;
  char *t;
  if (s->rc != ASSOC_OK || (p = priv(s)) == NULL || p->hit) return 0;
  need = s->len + n + 1;
  if (need < n) return assoc__sql_fail(s, ASSOC_NOMEM, "out of memory"), 0;
  if (need <= p->cap && s->text != NULL) return 1;
  cap = p->cap ? p->cap : 256;
  while (cap < need) {
    if (cap > ((size_t)-1) / 2) {
      cap = need;
      break;
    }
    cap *= 2;
  }
  t = realloc(s->text, cap);
  if (t == NULL) return assoc__sql_fail(s, ASSOC_NOMEM, "out of memory"), 0;
  s->text = t;
  p->cap = cap;
  return 1;
}

void assoc__sql_append(assoc_sql *s, const char *text, size_t n) {
  if (!reserve(s, n)) return;
  memcpy(s->text + s->len, text, n);
  s->len += n;
  s->text[s->len] = '\0';
}

void assoc__sql_appendz(assoc_sql *s, const char *text) {
  assoc__sql_append(s, text, strlen(text));
}

static int hit(const assoc_sql *s) {
  return s->priv_ != NULL && ((const sqlpriv *)s->priv_)->hit;
}

void assoc__sql_printf(assoc_sql *s, const char *fmt, ...) {
  char buf[128];
  va_list ap;
  int n;
  if (s->rc != ASSOC_OK || hit(s)) return;
  va_start(ap, fmt);
  n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) {
    assoc__sql_fail(s, ASSOC_MISUSE, "bad format");
    return;
  }
  if ((size_t)n < sizeof buf) {
    assoc__sql_append(s, buf, (size_t)n);
    return;
  }
  if (!reserve(s, (size_t)n)) return;
  va_start(ap, fmt);
  vsnprintf(s->text + s->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  s->len += (size_t)n;
}

void assoc__sql_ident(assoc_sql *s, const char *ident) {
  size_t n, q = 0, i;
  char *d;
  if (hit(s)) return;
  n = strlen(ident);
  for (i = 0; i < n; i++)
    if (ident[i] == '"') q++;
  if (!reserve(s, n + q + 2)) return;
  d = s->text + s->len;
  *d++ = '"';
  if (q == 0) {
    memcpy(d, ident, n);
    d += n;
  } else {
    for (i = 0; i < n; i++) {
      if (ident[i] == '"') *d++ = '"';
      *d++ = ident[i];
    }
  }
  *d++ = '"';
  *d = '\0';
  s->len = (size_t)(d - s->text);
}

void assoc__sql_bind(assoc_sql *s, const assoc_value *v) {
  sqlpriv *p;
  if (s->rc != ASSOC_OK || (p = priv(s)) == NULL) return;
  if (s->nbinds == p->bindcap) {
    int cap = p->bindcap ? p->bindcap * 2 : 16;
    assoc_value *b;
    if (cap > (1 << 28)) {
      assoc__sql_fail(s, ASSOC_MISUSE, "too many values");
      return;
    }
    b = realloc(s->binds, (size_t)cap * sizeof *b);
    if (b == NULL) {
      assoc__sql_fail(s, ASSOC_NOMEM, "out of memory");
      return;
    }
    s->binds = b;
    p->bindcap = cap;
  }
  if (p->memo != NULL && s->nbinds < ASSOC__MEMO_MAXB) p->src[s->nbinds] = v;
  s->binds[s->nbinds++] = *v;
}

char *assoc__sql_own(assoc_sql *s, size_t n) {
  sqlpriv *p;
  char *b;
  if (s->rc != ASSOC_OK || (p = priv(s)) == NULL) return NULL;
  if (p->nowned == p->ownedcap) {
    int cap = p->ownedcap ? p->ownedcap * 2 : 4;
    char **o = realloc(p->owned, (size_t)cap * sizeof *o);
    if (o == NULL) {
      assoc__sql_fail(s, ASSOC_NOMEM, "out of memory");
      return NULL;
    }
    p->owned = o;
    p->ownedcap = cap;
  }
  b = malloc(n ? n : 1);
  if (b == NULL) {
    assoc__sql_fail(s, ASSOC_NOMEM, "out of memory");
    return NULL;
  }
  p->owned[p->nowned++] = b;
  return b;
}

void assoc__sql_memo(assoc_sql *s, assoc__memo *m, unsigned gen,
                     uint64_t shape) {
  sqlpriv *p = priv(s);
  if (p == NULL || m == NULL) return;
  p->memo = m;
  p->gen = gen;
  p->shape = shape;
  p->hit = m->sql != NULL && m->gen == gen && m->shape == shape;
  p->nargs = 0;
}

void assoc__sql_memo_args(assoc_sql *s, const assoc_value *const *args, int n) {
  sqlpriv *p = s->priv_;
  int i;
  if (p == NULL || p->memo == NULL || n < 0 || n > 8) return;
  for (i = 0; i < n; i++) p->args[i] = args[i];
  p->nargs = n;
}

/* The recipe of the binds just built: each an argument, else kept as a
 * pointer (the caller checks that it is the association's own). */
static void memo_recipe(assoc_sql *s, sqlpriv *p, assoc__memo *m) {
  int i, k;
  m->nrec = -1;
  if (s->nbinds > ASSOC__MEMO_MAXB) return;
  for (i = 0; i < s->nbinds; i++) {
    m->rec[i].arg = -1;
    m->rec[i].cst = p->src[i];
    for (k = 0; k < p->nargs; k++)
      if (p->src[i] == p->args[k]) {
        m->rec[i].arg = k;
        m->rec[i].cst = NULL;
        break;
      }
  }
  m->nrec = s->nbinds;
}

void assoc__sql_text(assoc_sql *s, const char **text, size_t *len,
                     uint32_t *hash) {
  sqlpriv *p = s->priv_;
  assoc__memo *m = p != NULL ? p->memo : NULL;
  if (m != NULL && p->hit) {
    *text = m->sql;
    *len = m->len;
    *hash = m->hash;
    return;
  }
  *text = s->text != NULL ? s->text : "";
  *len = s->len;
  *hash = assoc__sql_hash(*text, *len);
  if (m != NULL && s->rc == ASSOC_OK) {
    char *copy = malloc(*len + 1);
    if (copy != NULL) {
      memcpy(copy, *text, *len + 1);
      free(m->sql);
      m->sql = copy;
      m->len = *len;
      m->hash = *hash;
      m->gen = p->gen;
      m->shape = p->shape;
      memo_recipe(s, p, m);
    }
  }
}

void assoc__memo_free(assoc__memo *m) {
  free(m->sql);
  memset(m, 0, sizeof *m);
}

int assoc__value_ok(const assoc_value *v) {
  switch (v->type) {
  case ASSOC_V_NULL:
  case ASSOC_V_INT:
  case ASSOC_V_REAL: return 1;
  case ASSOC_V_TEXT:
  case ASSOC_V_BLOB: return v->u.s.p != NULL || v->u.s.n == 0;
  default: return 0;
  }
}

/* ---- the db's scratch builder ------------------------------------------------ */

assoc_sql *assoc__scratch_get(assoc_db *db, assoc_sql *local) {
  if (!db->scratch_busy) {
    db->scratch_busy = 1;
    assoc__sql_reset(&db->scratch);
    return &db->scratch;
  }
  assoc_sql_init(local);
  return local;
}

void assoc__scratch_put(assoc_db *db, assoc_sql *s) {
  if (s == &db->scratch) {
    const sqlpriv *p = s->priv_;
    /* do not hold on to the buffers of an unusually large statement */
    if (p != NULL && (p->cap > 65536 || p->bindcap > 4096)) assoc_sql_free(s);
    else assoc__sql_reset(s);
    db->scratch_busy = 0;
  } else {
    assoc_sql_free(s);
  }
}
