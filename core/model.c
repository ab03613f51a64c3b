/*
 * model.c -- the model registry: assoc_define and the lookups on models.
 *
 * A model is a deep copy of its definition, completed by the core: an `id`
 * primary key when none is given, createdAt/updatedAt with TIMESTAMPS,
 * deletedAt with PARANOID, every column name resolved (snake_case when
 * UNDERSCORED) and the default table name (the plural of the model name).
 * Models live until assoc_close.  Attribute lookups by name are the hot path
 * of the bindings: models with more than a handful of attributes get an
 * open-addressing hash index.
 */
#include "assoc_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LINEAR_MAX 8

static const char *const special_names[3] = {"createdAt", "updatedAt",
                                             "deletedAt"};

static uint32_t hash_name(const char *s) {
  uint32_t h = 2166136261u;
  while (*s) {
    h ^= (unsigned char)*s++;
    h *= 16777619u;
  }
  return h;
}

static char *dupz(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = malloc(n);
  if (p != NULL) memcpy(p, s, n);
  return p;
}

static int ieq(const char *a, const char *b) {
  for (;; a++, b++) {
    unsigned char x = (unsigned char)*a, y = (unsigned char)*b;
    if (x >= 'A' && x <= 'Z') x = (unsigned char)(x + 32);
    if (y >= 'A' && y <= 'Z') y = (unsigned char)(y + 32);
    if (x != y) return 0;
    if (x == 0) return 1;
  }
}

void assoc__model_free(assoc_model *m) {
  int i;
  if (m == NULL) return;
  for (i = 0; i < m->nattrs; i++) {
    assoc_attr *a = &m->attrs[i];
    free((char *)a->name);
    free((char *)a->column);
    if (a->dflt.type == ASSOC_V_TEXT || a->dflt.type == ASSOC_V_BLOB)
      free((char *)a->dflt.u.s.p);
    if (m->refs != NULL && m->refs[i] != NULL) {
      free(m->refs[i]->table);
      free(m->refs[i]->column);
      free(m->refs[i]);
    }
  }
  free(m->refs);
  for (i = 0; i < m->nassocs; i++) assoc__assoc_free(m->assocs[i]);
  free(m->assocs);
  free(m->attrs);
  free(m->hidx);
  free(m->name);
  free(m->table);
  free(m);
}

/* Checks one attribute of a definition; returns ASSOC_OK or ASSOC_MISUSE
 * with the message on db. */
static int check_attr(assoc_db *db, const char *model, const assoc_attr *a,
                      int i) {
  const unsigned known = ASSOC_ATTR_PK | ASSOC_ATTR_AUTOINC |
                         ASSOC_ATTR_NOTNULL | ASSOC_ATTR_UNIQUE |
                         ASSOC_ATTR_DEFAULT | ASSOC_ATTR_AUTO;
  if (a->name == NULL || a->name[0] == '\0')
    return assoc__err(db, ASSOC_MISUSE, "%s: attribute #%d has no name",
                      model, i + 1);
  if ((int)a->type < 0 || a->type >= ASSOC_T__COUNT)
    return assoc__err(db, ASSOC_MISUSE, "%s.%s: bad type %d", model, a->name,
                      (int)a->type);
  if (a->column != NULL && a->column[0] == '\0')
    return assoc__err(db, ASSOC_MISUSE, "%s.%s: empty column name", model,
                      a->name);
  if (a->length < 0)
    return assoc__err(db, ASSOC_MISUSE, "%s.%s: negative length %d", model,
                      a->name, a->length);
  if (a->flags & ~known)
    return assoc__err(db, ASSOC_MISUSE, "%s.%s: unknown flags 0x%x", model,
                      a->name, a->flags & ~known);
  if ((a->flags & ASSOC_ATTR_AUTOINC) &&
      (!(a->flags & ASSOC_ATTR_PK) ||
       (a->type != ASSOC_T_INTEGER && a->type != ASSOC_T_BIGINT)))
    return assoc__err(db, ASSOC_MISUSE,
                      "%s.%s: autoIncrement needs an INTEGER primary key",
                      model, a->name);
  if (a->flags & ASSOC_ATTR_DEFAULT) {
    const assoc_value *v = &a->dflt;
    switch (v->type) {
    case ASSOC_V_NULL:
    case ASSOC_V_INT: break;
    case ASSOC_V_REAL:
      if (isnan(v->u.r))
        return assoc__err(db, ASSOC_MISUSE, "%s.%s: default is NaN", model,
                          a->name);
      break;
    case ASSOC_V_TEXT:
      if (v->u.s.p == NULL && v->u.s.n != 0)
        return assoc__err(db, ASSOC_MISUSE, "%s.%s: bad default", model,
                          a->name);
      if (v->u.s.n != 0 && memchr(v->u.s.p, '\0', v->u.s.n) != NULL)
        return assoc__err(db, ASSOC_MISUSE,
                          "%s.%s: default contains a NUL byte", model,
                          a->name);
      break;
    case ASSOC_V_BLOB:
      if (v->u.s.p == NULL && v->u.s.n != 0)
        return assoc__err(db, ASSOC_MISUSE, "%s.%s: bad default", model,
                          a->name);
      break;
    default:
      return assoc__err(db, ASSOC_MISUSE, "%s.%s: bad default type %d",
                        model, a->name, (int)v->type);
    }
  }
  return ASSOC_OK;
}

/* Copies src into dst (strings and default owned by dst).  Returns
 * ASSOC_OK or ASSOC_NOMEM (dst's copies made so far are freed by the
 * caller through assoc__model_free). */
static int copy_attr(assoc_attr *dst, const assoc_attr *src, int underscored) {
  dst->type = src->type;
  dst->length = src->length;
  dst->flags = src->flags;
  dst->dflt.type = ASSOC_V_NULL;
  dst->name = dupz(src->name);
  if (dst->name == NULL) return ASSOC_NOMEM;
  if (src->column != NULL) dst->column = dupz(src->column);
  else if (underscored) dst->column = assoc__underscore_dup(src->name);
  else dst->column = dupz(src->name);
  if (dst->column == NULL) return ASSOC_NOMEM;
  if (src->flags & ASSOC_ATTR_DEFAULT) {
    dst->dflt = src->dflt;
    if (src->dflt.type == ASSOC_V_TEXT || src->dflt.type == ASSOC_V_BLOB) {
      size_t n = src->dflt.u.s.n;
      char *p = malloc(n + 1);
      if (p == NULL) {
        dst->dflt.type = ASSOC_V_NULL;
        return ASSOC_NOMEM;
      }
      if (n) memcpy(p, src->dflt.u.s.p, n);
      p[n] = '\0';
      dst->dflt.u.s.p = p;
    }
  }
  return ASSOC_OK;
}

/* Fills the index table idx (mask+1 entries, zeroed) for attrs[0..n). */
static void fill_index(int *idx, uint32_t mask, const assoc_attr *attrs,
                       int n) {
  uint32_t i;
  int k;
  for (k = 0; k < n; k++) {
    i = hash_name(attrs[k].name) & mask;
    while (idx[i] != 0) i = (i + 1) & mask;
    idx[i] = k + 1;
  }
}

static int build_index(assoc_model *m) {
  uint32_t size = 16;
  if (m->nattrs <= LINEAR_MAX) return ASSOC_OK;
  while (size < (uint32_t)m->nattrs * 2u) size <<= 1;
  m->hidx = calloc(size, sizeof *m->hidx);
  if (m->hidx == NULL) return ASSOC_NOMEM;
  m->hmask = size - 1;
  fill_index(m->hidx, m->hmask, m->attrs, m->nattrs);
  return ASSOC_OK;
}

/* Registers a model (see assoc.h).  Returns ASSOC_OK with *out (may be
 * NULL) set to the model, owned by db; ASSOC_MISUSE or ASSOC_NOMEM with
 * nothing registered. */
int assoc_define(assoc_db *db, const assoc_model_def *def, assoc_model **out) {
  const unsigned mflags = ASSOC_MODEL_TIMESTAMPS | ASSOC_MODEL_PARANOID |
                          ASSOC_MODEL_UNDERSCORED;
  assoc_model *m = NULL;
  int i, j, rc, npk = 0, add_id, total, n, under;
  int have[3] = {-1, -1, -1};
  int want[3];
  const char *mname;
  if (out != NULL) *out = NULL;
  if (db == NULL || db->sq == NULL) return ASSOC_CLOSED;
  db->schema_gen++; /* every memo of the SQL of older models is stale */
  if (def == NULL) return assoc__err(db, ASSOC_MISUSE, "assoc_define: no definition");
  mname = def->name;
  if (mname == NULL || mname[0] == '\0')
    return assoc__err(db, ASSOC_MISUSE, "model name is empty");
  if (assoc_model_find(db, mname) != NULL)
    return assoc__err(db, ASSOC_MISUSE, "model %s is already defined", mname);
  if (def->flags & ~mflags)
    return assoc__err(db, ASSOC_MISUSE, "%s: unknown model flags 0x%x", mname,
                      def->flags & ~mflags);
  if (def->table != NULL && def->table[0] == '\0')
    return assoc__err(db, ASSOC_MISUSE, "%s: empty table name", mname);
  if (def->nattrs < 0 || (def->nattrs > 0 && def->attrs == NULL) ||
      def->nattrs > 32000)
    return assoc__err(db, ASSOC_MISUSE, "%s: bad attribute count %d", mname,
                      def->nattrs);
  under = (def->flags & ASSOC_MODEL_UNDERSCORED) != 0;
  for (i = 0; i < def->nattrs; i++) {
    const assoc_attr *a = &def->attrs[i];
    if ((rc = check_attr(db, mname, a, i)) != ASSOC_OK) return rc;
    if (a->flags & ASSOC_ATTR_PK) npk++;
    for (j = 0; j < 3; j++)
      if (strcmp(a->name, special_names[j]) == 0) have[j] = i;
  }
  if (npk > 1)
    for (i = 0; i < def->nattrs; i++)
      if (def->attrs[i].flags & ASSOC_ATTR_AUTOINC)
        return assoc__err(db, ASSOC_MISUSE,
                          "%s.%s: autoIncrement with a composite primary key",
                          mname, def->attrs[i].name);
  add_id = npk == 0;
  want[0] = want[1] = (def->flags & ASSOC_MODEL_TIMESTAMPS) != 0;
  want[2] = (def->flags & ASSOC_MODEL_PARANOID) != 0;
  total = def->nattrs + add_id;
  for (j = 0; j < 3; j++)
    if (want[j] && have[j] < 0) total++;

  m = calloc(1, sizeof *m);
  if (m == NULL) goto nomem;
  m->db = db;
  m->flags = def->flags;
  m->special[0] = m->special[1] = m->special[2] = -1;
  m->attrs = calloc((size_t)(total > 0 ? total : 1), sizeof *m->attrs);
  if (m->attrs == NULL) goto nomem;
  m->name = dupz(mname);
  if (m->name == NULL) goto nomem;
  if (def->table != NULL) m->table = dupz(def->table);
  else if (under) {
    char *p = assoc__pluralize_dup(mname);
    if (p != NULL) {
      m->table = assoc__underscore_dup(p);
      free(p);
    }
  } else {
    m->table = assoc__pluralize_dup(mname);
  }
  if (m->table == NULL) goto nomem;

  n = 0;
  if (add_id) {
    static const assoc_attr id = {"id", NULL, ASSOC_T_INTEGER, 0,
                                  ASSOC_ATTR_PK | ASSOC_ATTR_AUTOINC |
                                      ASSOC_ATTR_AUTO,
                                  {ASSOC_V_NULL, {0}}};
    m->nattrs = ++n;
    if (copy_attr(&m->attrs[0], &id, under) != ASSOC_OK) goto nomem;
  }
  for (i = 0; i < def->nattrs; i++) {
    m->nattrs = ++n;
    if (copy_attr(&m->attrs[n - 1], &def->attrs[i], under) != ASSOC_OK)
      goto nomem;
  }
  for (j = 0; j < 3; j++) {
    if (!want[j]) continue;
    if (have[j] >= 0) {
      m->special[j] = have[j] + add_id;
    } else {
      assoc_attr t;
      memset(&t, 0, sizeof t);
      t.name = special_names[j];
      t.type = ASSOC_T_DATE;
      t.flags = ASSOC_ATTR_AUTO | (j < 2 ? ASSOC_ATTR_NOTNULL : 0u);
      m->nattrs = ++n;
      if (copy_attr(&m->attrs[n - 1], &t, under) != ASSOC_OK) goto nomem;
      m->special[j] = n - 1;
    }
  }

  /* duplicates: names exactly, columns as SQLite compares them */
  for (i = 0; i < m->nattrs; i++) {
    for (j = 0; j < i; j++) {
      if (strcmp(m->attrs[i].name, m->attrs[j].name) == 0) {
        if (add_id && j == 0)
          assoc__err(db, ASSOC_MISUSE,
                     "%s.id: an attribute named id needs primaryKey (no "
                     "primary key was given, so the core adds id)", mname);
        else
          assoc__err(db, ASSOC_MISUSE, "%s.%s: duplicate attribute", mname,
                     m->attrs[i].name);
        assoc__model_free(m);
        return ASSOC_MISUSE;
      }
      if (ieq(m->attrs[i].column, m->attrs[j].column)) {
        assoc__err(db, ASSOC_MISUSE,
                   "%s.%s: column \"%s\" is already used by %s.%s", mname,
                   m->attrs[i].name, m->attrs[i].column, mname,
                   m->attrs[j].name);
        assoc__model_free(m);
        return ASSOC_MISUSE;
      }
    }
  }
  m->pk = -1;
  for (i = 0; i < m->nattrs; i++) {
    if (m->attrs[i].flags & ASSOC_ATTR_PK) {
      if (m->pk < 0) m->pk = i;
      m->npk++;
    }
  }
  if (build_index(m) != ASSOC_OK) goto nomem;
  if (db->nmodels == db->modelcap) {
    int cap = db->modelcap ? db->modelcap * 2 : 8;
    assoc_model **p = realloc(db->models, (size_t)cap * sizeof *p);
    if (p == NULL) goto nomem;
    db->models = p;
    db->modelcap = cap;
  }
  db->models[db->nmodels++] = m;
  if (out != NULL) *out = m;
  assoc__clear_err(db);
  return ASSOC_OK;
nomem:
  assoc__model_free(m);
  return assoc__err(db, ASSOC_NOMEM, "out of memory");
}

/* ---- lookups ------------------------------------------------------------------ */

assoc_model *assoc_model_find(const assoc_db *db, const char *name) {
  int i;
  if (db == NULL || name == NULL) return NULL;
  for (i = 0; i < db->nmodels; i++)
    if (strcmp(db->models[i]->name, name) == 0) return db->models[i];
  return NULL;
}

int assoc_model_count(const assoc_db *db) {
  return db == NULL ? 0 : db->nmodels;
}

assoc_model *assoc_model_at(const assoc_db *db, int i) {
  if (db == NULL || i < 0 || i >= db->nmodels) return NULL;
  return db->models[i];
}

const char *assoc_model_name(const assoc_model *m) {
  return m == NULL ? NULL : m->name;
}

const char *assoc_model_table(const assoc_model *m) {
  return m == NULL ? NULL : m->table;
}

unsigned assoc_model_flags(const assoc_model *m) {
  return m == NULL ? 0u : m->flags;
}

int assoc_model_nattrs(const assoc_model *m) {
  return m == NULL ? 0 : m->nattrs;
}

const assoc_attr *assoc_model_attr(const assoc_model *m, int i) {
  if (m == NULL || i < 0 || i >= m->nattrs) return NULL;
  return &m->attrs[i];
}

int assoc_model_attr_index(const assoc_model *m, const char *name) {
  int i;
  if (m == NULL || name == NULL) return -1;
  if (m->hidx == NULL) {
    for (i = 0; i < m->nattrs; i++)
      if (strcmp(m->attrs[i].name, name) == 0) return i;
    return -1;
  } else {
    uint32_t h = hash_name(name) & m->hmask;
    while (m->hidx[h] != 0) {
      i = m->hidx[h] - 1;
      if (strcmp(m->attrs[i].name, name) == 0) return i;
      h = (h + 1) & m->hmask;
    }
    return -1;
  }
}

int assoc_model_pk(const assoc_model *m) {
  return m == NULL ? -1 : m->pk;
}

int assoc_model_special(const assoc_model *m, int which) {
  if (m == NULL || which < 0 || which > 2) return -1;
  return m->special[which];
}

int assoc__attr_by_column(const assoc_model *m, const char *col, size_t n) {
  int i;
  for (i = 0; i < m->nattrs; i++) {
    const char *c = m->attrs[i].column;
    if (strncmp(c, col, n) == 0 && c[n] == '\0') return i;
  }
  return -1;
}

/* Depth-first placement: a model's referenced tables go first. */
static void place(const assoc_db *db, int i, unsigned char *mark, int *order,
                  int *n) {
  const assoc_model *m = db->models[i];
  int a, k;
  if (mark[i]) return; /* placed, or being placed (a cycle) */
  mark[i] = 1;
  for (a = 0; m->refs != NULL && a < m->nattrs; a++) {
    if (m->refs[a] == NULL) continue;
    for (k = 0; k < db->nmodels; k++)
      if (k != i && strcmp(db->models[k]->table, m->refs[a]->table) == 0)
        place(db, k, mark, order, n);
  }
  order[(*n)++] = i;
}

void assoc__model_order(const assoc_db *db, int *order) {
  unsigned char small[64], *mark = small;
  int i, n = 0;
  if (db->nmodels > (int)sizeof small) {
    mark = calloc((size_t)db->nmodels, 1);
    if (mark == NULL) { /* out of memory: definition order */
      for (i = 0; i < db->nmodels; i++) order[i] = i;
      return;
    }
  } else {
    memset(small, 0, sizeof small);
  }
  /* junction tables (through models) after every other table */
  for (i = 0; i < db->nmodels; i++)
    if (!db->models[i]->junction) place(db, i, mark, order, &n);
  for (i = 0; i < db->nmodels; i++) place(db, i, mark, order, &n);
  if (mark != small) free(mark);
}

/* The referential actions, as rendered in DDL. */
static const char *ref_action(const char *s, int *bad) {
  static const char *const actions[] = {"CASCADE", "SET NULL", "SET DEFAULT",
                                        "RESTRICT", "NO ACTION"};
  size_t i;
  if (s == NULL) return NULL;
  for (i = 0; i < sizeof actions / sizeof actions[0]; i++)
    if (ieq(s, actions[i])) return actions[i];
  *bad = 1;
  return NULL;
}

int assoc__model_set_ref(assoc_model *m, int attr, const char *table,
                         const char *column, const char *on_delete,
                         const char *on_update) {
  assoc__ref *r;
  m->db->schema_gen++;
  int bad = 0;
  const char *od, *ou;
  if (m == NULL || attr < 0 || attr >= m->nattrs || table == NULL ||
      table[0] == '\0' || column == NULL || column[0] == '\0')
    return ASSOC_MISUSE;
  od = ref_action(on_delete, &bad);
  ou = ref_action(on_update, &bad);
  if (bad) return ASSOC_MISUSE;
  if (m->refs == NULL) {
    m->refs = calloc((size_t)m->nattrs, sizeof *m->refs);
    if (m->refs == NULL) return ASSOC_NOMEM;
  }
  r = calloc(1, sizeof *r);
  if (r == NULL) return ASSOC_NOMEM;
  r->table = dupz(table);
  r->column = dupz(column);
  if (r->table == NULL || r->column == NULL) {
    free(r->table);
    free(r->column);
    free(r);
    return ASSOC_NOMEM;
  }
  r->on_delete = od;
  r->on_update = ou;
  if (m->refs[attr] != NULL) {
    free(m->refs[attr]->table);
    free(m->refs[attr]->column);
    free(m->refs[attr]);
  }
  m->refs[attr] = r;
  return ASSOC_OK;
}

void assoc__model_clear_ref(assoc_model *m, int attr) {
  if (m == NULL || m->refs == NULL || attr < 0 || attr >= m->nattrs ||
      m->refs[attr] == NULL)
    return;
  m->db->schema_gen++;
  free(m->refs[attr]->table);
  free(m->refs[attr]->column);
  free(m->refs[attr]);
  m->refs[attr] = NULL;
}

/* Allocates everything first (attrs array, refs array, name index, the
 * copies), then commits; nothing is changed when an allocation fails. */
int assoc__model_add_attr(assoc_model *m, const assoc_attr *a) {
  assoc_attr copy, *na;
  int i, n = m->nattrs + 1, *hidx = NULL;
  uint32_t size = 16;
  memset(&copy, 0, sizeof copy);
  m->db->schema_gen++;
  if (check_attr(m->db, m->name, a, m->nattrs) != ASSOC_OK) return ASSOC_MISUSE;
  if (a->flags & (ASSOC_ATTR_AUTOINC | ASSOC_ATTR_PK))
    return assoc__err(m->db, ASSOC_MISUSE,
                      "%s.%s: an added attribute cannot be a primary key",
                      m->name, a->name);
  if (copy_attr(&copy, a, (m->flags & ASSOC_MODEL_UNDERSCORED) != 0) !=
      ASSOC_OK)
    goto nomem;
  for (i = 0; i < m->nattrs; i++) {
    if (strcmp(m->attrs[i].name, copy.name) == 0) {
      assoc__err(m->db, ASSOC_MISUSE, "%s.%s: duplicate attribute", m->name,
                 copy.name);
      goto fail;
    }
    if (ieq(m->attrs[i].column, copy.column)) {
      assoc__err(m->db, ASSOC_MISUSE,
                 "%s.%s: column \"%s\" is already used by %s.%s", m->name,
                 copy.name, copy.column, m->name, m->attrs[i].name);
      goto fail;
    }
  }
  na = realloc(m->attrs, (size_t)n * sizeof *na);
  if (na == NULL) goto nomem;
  m->attrs = na; /* more room, same content */
  if (m->refs != NULL) {
    assoc__ref **r = realloc(m->refs, (size_t)n * sizeof *r);
    if (r == NULL) goto nomem;
    m->refs = r;
    r[n - 1] = NULL;
  }
  if (n > LINEAR_MAX) {
    while (size < (uint32_t)n * 2u) size <<= 1;
    hidx = calloc(size, sizeof *hidx);
    if (hidx == NULL) goto nomem;
  }
  m->attrs[n - 1] = copy;
  m->nattrs = n;
  if (hidx != NULL) {
    fill_index(hidx, size - 1, m->attrs, n);
    free(m->hidx);
    m->hidx = hidx;
    m->hmask = size - 1;
  }
  return ASSOC_OK;
nomem:
  assoc__err(m->db, ASSOC_NOMEM, "out of memory");
fail:
  free((char *)copy.name);
  free((char *)copy.column);
  if (copy.dflt.type == ASSOC_V_TEXT || copy.dflt.type == ASSOC_V_BLOB)
    free((char *)copy.dflt.u.s.p);
  return m->db->errcode;
}

/* Rebuilds the name index in place (its size still fits: attributes were
 * only removed). */
static void reindex(assoc_model *m) {
  if (m->hidx == NULL) return;
  if (m->nattrs <= LINEAR_MAX) {
    free(m->hidx);
    m->hidx = NULL;
    m->hmask = 0;
    return;
  }
  memset(m->hidx, 0, ((size_t)m->hmask + 1) * sizeof *m->hidx);
  fill_index(m->hidx, m->hmask, m->attrs, m->nattrs);
}

static void free_attr_at(assoc_model *m, int i) {
  assoc_attr *a = &m->attrs[i];
  free((char *)a->name);
  free((char *)a->column);
  if (a->dflt.type == ASSOC_V_TEXT || a->dflt.type == ASSOC_V_BLOB)
    free((char *)a->dflt.u.s.p);
  assoc__model_clear_ref(m, i);
}

void assoc__model_pop_attr(assoc_model *m) {
  if (m == NULL || m->nattrs == 0) return;
  m->db->schema_gen++;
  free_attr_at(m, m->nattrs - 1);
  m->nattrs--;
  reindex(m);
}

void assoc__model_replace_auto_pk(assoc_model *m, int a, int b) {
  int i, j;
  if (m == NULL || m->nattrs < 3 || a <= 0 || b <= 0) return;
  m->db->schema_gen++;
  free_attr_at(m, 0);
  memmove(m->attrs, m->attrs + 1, (size_t)(m->nattrs - 1) * sizeof *m->attrs);
  if (m->refs != NULL)
    memmove(m->refs, m->refs + 1, (size_t)(m->nattrs - 1) * sizeof *m->refs);
  m->nattrs--;
  for (j = 0; j < 3; j++)
    if (m->special[j] > 0) m->special[j]--;
  for (j = 0; j < m->nuniq; j++)
    if (m->uniq[j] > 0) m->uniq[j]--;
  m->attrs[a - 1].flags |= ASSOC_ATTR_PK | ASSOC_ATTR_NOTNULL;
  m->attrs[b - 1].flags |= ASSOC_ATTR_PK | ASSOC_ATTR_NOTNULL;
  m->pk = -1;
  m->npk = 0;
  for (i = 0; i < m->nattrs; i++) {
    if (m->attrs[i].flags & ASSOC_ATTR_PK) {
      if (m->pk < 0) m->pk = i;
      m->npk++;
    }
  }
  reindex(m);
}

void assoc__model_pop(assoc_db *db) {
  if (db != NULL) db->schema_gen++;
  if (db == NULL || db->nmodels == 0) return;
  assoc__model_free(db->models[--db->nmodels]);
}

const assoc_model *assoc_model_ref(const assoc_model *m, int attr, int *key) {
  const assoc__ref *r;
  int i;
  if (key != NULL) *key = -1;
  if (m == NULL || m->refs == NULL || attr < 0 || attr >= m->nattrs ||
      (r = m->refs[attr]) == NULL)
    return NULL;
  for (i = 0; i < m->db->nmodels; i++) {
    const assoc_model *t = m->db->models[i];
    if (strcmp(t->table, r->table) == 0) {
      if (key != NULL) *key = assoc__attr_by_column(t, r->column,
                                                    strlen(r->column));
      return t;
    }
  }
  return NULL;
}
