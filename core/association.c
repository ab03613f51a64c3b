/*
 * association.c -- the association registry: assoc_associate and the
 * getters of assoc_assoc.
 *
 * An association is resolved once, when it is registered: its names (alias,
 * singular, plural, accessor names), its keys (attribute indexes on the
 * source, the target and the junction), the foreign-key attribute it adds
 * or reuses, the REFERENCES clause of that attribute, a generated junction
 * model for a string `through`, and the pairing with the associations
 * defined earlier on the same key (doc/associations.md, "Names and keys"
 * and "Pairs").  The accessors' SQL (sqlassoc.c) only reads the result.
 *
 * assoc_associate works in two phases so that a failure leaves every model
 * as it was: first everything is checked and computed without touching a
 * model; then the changes are applied, those that allocate first (each with
 * an undo: a generated junction is unregistered, an added attribute popped,
 * a new reference cleared), the ones that cannot fail last.
 *
 * Associations are owned by their source model and freed with it
 * (assoc__model_free, at assoc_close).
 */
#include "assoc_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[] = {"?", "hasOne", "belongsTo",
                                         "hasMany", "belongsToMany"};

/* The referential actions by ASSOC_FK_* code, as rendered in DDL (static
 * strings: references point at them). */
static const char *const actions[] = {NULL, "CASCADE", "SET NULL", "RESTRICT",
                                      "NO ACTION", "SET DEFAULT"};

static char *dupz(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = malloc(n);
  if (p != NULL) memcpy(p, s, n);
  return p;
}

/* prefix + word with word's first letter upper-cased (malloc'ed). */
static char *prefixed(const char *prefix, const char *word) {
  size_t a = strlen(prefix), b = strlen(word);
  char *p = malloc(a + b + 1);
  if (p == NULL) return NULL;
  memcpy(p, prefix, a);
  memcpy(p + a, word, b + 1);
  if (p[a] >= 'a' && p[a] <= 'z') p[a] = (char)(p[a] - 32);
  return p;
}

typedef int (*inflect_fn)(const char *, char *, size_t);

/* An inflected copy of word (malloc'ed) or NULL when out of memory. */
static char *inflect_dup(inflect_fn fn, const char *word) {
  size_t cap = strlen(word) * 2 + 32;
  for (;;) {
    char *p = malloc(cap);
    int n;
    if (p == NULL) return NULL;
    n = fn(word, p, cap);
    if (n >= 0) return p;
    free(p);
    if (cap > ((size_t)1 << 24)) return NULL;
    cap *= 4;
  }
}

static int camel_lower(const char *word, char *out, size_t cap) {
  return assoc_camelize(word, 1, out, cap);
}

/* A default key name: camelize(base + "_" + key) with the first letter
 * lower-cased ("User", "id" -> "userId"; "leader", "id" -> "leaderId"). */
static char *key_name(const char *base, const char *key) {
  size_t a = strlen(base), b = strlen(key);
  char *tmp = malloc(a + b + 2), *out;
  if (tmp == NULL) return NULL;
  memcpy(tmp, base, a);
  tmp[a] = '_';
  memcpy(tmp + a + 1, key, b + 1);
  out = inflect_dup(camel_lower, tmp);
  free(tmp);
  return out;
}

static int is_many(assoc_kind k) {
  return k == ASSOC_HAS_MANY || k == ASSOC_BELONGS_TO_MANY;
}

/* The alias an association is registered under. */
static const char *alias_of(const assoc_assoc *a) {
  return is_many(a->kind) ? a->as_plural : a->as_singular;
}

/* The model holding the fk of a. */
static assoc_model *holder(const assoc_assoc *a) {
  switch (a->kind) {
  case ASSOC_BELONGS_TO: return a->source;
  case ASSOC_BELONGS_TO_MANY: return a->through;
  default: return a->target;
  }
}

/* "User.hasMany(Post)", with " as X" when the alias was given. */
static const char *describe(const assoc_assoc *a, char *buf, size_t cap) {
  if (a->explicit_ & ASSOC__EX_AS)
    snprintf(buf, cap, "%s.%s(%s as %s)", a->source->name, kind_names[a->kind],
             a->target->name, alias_of(a));
  else
    snprintf(buf, cap, "%s.%s(%s)", a->source->name, kind_names[a->kind],
             a->target->name);
  return buf;
}

static void free_scope(assoc__scope *sc, int n) {
  int i;
  for (i = 0; i < n; i++)
    if (sc[i].value.type == ASSOC_V_TEXT || sc[i].value.type == ASSOC_V_BLOB)
      free((char *)sc[i].value.u.s.p);
  free(sc);
}

void assoc__assoc_free(assoc_assoc *a) {
  int i;
  if (a == NULL) return;
  free(a->as_singular);
  free(a->as_plural);
  for (i = 0; i < ASSOC_ACC__COUNT; i++) free(a->accessors[i]);
  free_scope(a->scope, a->nscope);
  free_scope(a->through_scope, a->nthrough_scope);
  free(a->scope_pairs);
  free(a->through_scope_pairs);
  for (i = 0; i < ASSOC__MEMO_N; i++) assoc__memo_free(&a->memo[i]);
  free(a);
}

/* Every association of db, in registration order per source model. */
#define FOR_EACH_ASSOC(db, x, mi, ai)                                   \
  for (mi = 0; mi < (db)->nmodels; mi++)                                \
    for (ai = 0; ai < (db)->models[mi]->nassocs &&                      \
                 ((x) = (db)->models[mi]->assocs[ai]) != NULL;          \
         ai++)

/* ---- names -------------------------------------------------------------------- */

static int set_names(assoc_db *db, assoc_assoc *a, const assoc_assoc_def *d) {
  const char *as = d->as;
  if ((d->as_singular != NULL && d->as_singular[0] == '\0') ||
      (d->as_plural != NULL && d->as_plural[0] == '\0') ||
      (as != NULL && as[0] == '\0'))
    return assoc__err(db, ASSOC_MISUSE, "%s.%s(%s): 'as' is empty",
                      a->source->name, kind_names[a->kind], a->target->name);
  if (d->as_singular != NULL || d->as_plural != NULL) {
    a->explicit_ |= ASSOC__EX_AS;
    if (d->as_singular != NULL) a->as_singular = dupz(d->as_singular);
    else a->as_singular = inflect_dup(assoc_singularize, d->as_plural);
    if (d->as_plural != NULL) a->as_plural = dupz(d->as_plural);
    else a->as_plural = inflect_dup(assoc_pluralize, d->as_singular);
  } else if (as != NULL) {
    a->explicit_ |= ASSOC__EX_AS;
    if (is_many(a->kind)) {
      a->as_plural = dupz(as);
      a->as_singular = inflect_dup(assoc_singularize, as);
    } else {
      a->as_singular = dupz(as);
      a->as_plural = inflect_dup(assoc_pluralize, as);
    }
  } else {
    a->as_singular = dupz(a->target->name);
    a->as_plural = inflect_dup(assoc_pluralize, a->target->name);
  }
  if (a->as_singular == NULL || a->as_plural == NULL)
    return assoc__err(db, ASSOC_NOMEM, "out of memory");
  return ASSOC_OK;
}

static int set_accessors(assoc_db *db, assoc_assoc *a) {
  const char *s = a->as_singular, *p = a->as_plural;
  int i;
  if (is_many(a->kind)) {
    a->accessors[ASSOC_ACC_GET] = prefixed("get", p);
    a->accessors[ASSOC_ACC_SET] = prefixed("set", p);
    a->accessors[ASSOC_ACC_CREATE] = prefixed("create", s);
    a->accessors[ASSOC_ACC_COUNT] = prefixed("count", p);
    a->accessors[ASSOC_ACC_HAS_ONE] = prefixed("has", s);
    a->accessors[ASSOC_ACC_HAS_MANY] = prefixed("has", p);
    a->accessors[ASSOC_ACC_ADD_ONE] = prefixed("add", s);
    a->accessors[ASSOC_ACC_ADD_MANY] = prefixed("add", p);
    a->accessors[ASSOC_ACC_REMOVE_ONE] = prefixed("remove", s);
    a->accessors[ASSOC_ACC_REMOVE_MANY] = prefixed("remove", p);
    for (i = 0; i < ASSOC_ACC__COUNT; i++)
      if (a->accessors[i] == NULL)
        return assoc__err(db, ASSOC_NOMEM, "out of memory");
  } else {
    a->accessors[ASSOC_ACC_GET] = prefixed("get", s);
    a->accessors[ASSOC_ACC_SET] = prefixed("set", s);
    a->accessors[ASSOC_ACC_CREATE] = prefixed("create", s);
    for (i = 0; i <= ASSOC_ACC_CREATE; i++)
      if (a->accessors[i] == NULL)
        return assoc__err(db, ASSOC_NOMEM, "out of memory");
  }
  return ASSOC_OK;
}

/* ---- scopes ------------------------------------------------------------------- */

/* Resolves scope pairs on model m into *out (owned copies). */
static int resolve_scope(assoc_db *db, const assoc_assoc *a,
                         const assoc_model *m, const assoc_pair *pairs, int n,
                         const char *what, assoc__scope **out, int *nout) {
  assoc__scope *sc;
  char d[256];
  int i, j;
  *out = NULL;
  *nout = 0;
  if (n == 0) return ASSOC_OK;
  if (n < 0 || pairs == NULL || n > 1000)
    return assoc__err(db, ASSOC_MISUSE, "%s: bad %s list",
                      describe(a, d, sizeof d), what);
  sc = calloc((size_t)n, sizeof *sc);
  if (sc == NULL) return assoc__err(db, ASSOC_NOMEM, "out of memory");
  for (i = 0; i < n; i++) {
    const assoc_value *v = &pairs[i].value;
    int at = pairs[i].attr != NULL ? assoc_model_attr_index(m, pairs[i].attr)
                                   : -1;
    if (at < 0) {
      free_scope(sc, i);
      return assoc__err(db, ASSOC_MISUSE,
                        "%s: %s names unknown attribute '%s' of %s",
                        describe(a, d, sizeof d), what,
                        pairs[i].attr ? pairs[i].attr : "(null)", m->name);
    }
    for (j = 0; j < i; j++)
      if (sc[j].attr == at) {
        free_scope(sc, i);
        return assoc__err(db, ASSOC_MISUSE, "%s: %s names %s.%s twice",
                          describe(a, d, sizeof d), what, m->name,
                          pairs[i].attr);
      }
    if (!assoc__value_ok(v)) {
      free_scope(sc, i);
      return assoc__err(db, ASSOC_MISUSE, "%s: bad %s value for %s.%s",
                        describe(a, d, sizeof d), what, m->name,
                        pairs[i].attr);
    }
    sc[i].attr = at;
    sc[i].value = *v;
    if (v->type == ASSOC_V_TEXT || v->type == ASSOC_V_BLOB) {
      char *p = malloc(v->u.s.n + 1);
      if (p == NULL) {
        sc[i].value.type = ASSOC_V_NULL;
        free_scope(sc, i + 1);
        return assoc__err(db, ASSOC_NOMEM, "out of memory");
      }
      if (v->u.s.n) memcpy(p, v->u.s.p, v->u.s.n);
      p[v->u.s.n] = '\0';
      sc[i].value.u.s.p = p;
    }
  }
  *out = sc;
  *nout = n;
  return ASSOC_OK;
}

/* ---- keys ---------------------------------------------------------------------- */

/* Can a foreign key reference attribute k of m (SQLite needs the sole
 * primary key or a UNIQUE column)? */
static int is_unique_key(const assoc_model *m, int k) {
  unsigned f = m->attrs[k].flags;
  return ((f & ASSOC_ATTR_PK) && m->npk == 1) || (f & ASSOC_ATTR_UNIQUE);
}

/* The attribute named `name` of m (for sourceKey/targetKey), or the primary
 * key when name is NULL; -1 with the error on db. */
static int key_attr(assoc_db *db, const assoc_assoc *a, const assoc_model *m,
                    const char *name, const char *opt) {
  char d[256];
  int k;
  if (name == NULL) return m->pk;
  k = assoc_model_attr_index(m, name);
  if (k < 0)
    assoc__err(db, ASSOC_MISUSE, "%s: %s '%s' is not an attribute of %s",
               describe(a, d, sizeof d), opt, name, m->name);
  return k;
}

/* The plan for one foreign-key attribute: where it lives, what it
 * references, and the settings it ends up with. */
typedef struct keyplan {
  assoc_model *h;          /* holding model */
  const char *name;        /* attribute name */
  char *owned;             /* name, when computed here */
  int idx;                 /* existing attribute, or -1: to be added */
  assoc_model *rm;         /* referenced model and key */
  int rk;
  int allow_null, constraints, od, ou;
  unsigned ex;             /* explicit settings of this definition */
  int btm;                 /* a junction key */
  /* apply phase */
  int added, ref_new;
} keyplan;

/* The settings of claimant x for attribute idx of its holder. */
static void claimant_settings(const assoc_assoc *x, int idx, int *an, int *c,
                              int *od, int *ou) {
  *an = x->fk_allow_null;
  *c = x->constraints;
  if (x->kind == ASSOC_BELONGS_TO_MANY && x->other_key == idx &&
      x->fk != idx) {
    *od = x->other_on_delete;
    *ou = x->other_on_update;
  } else {
    *od = x->on_delete;
    *ou = x->on_update;
  }
}

static int claims(const assoc_assoc *x, const assoc_model *h, int idx) {
  if (holder(x) != h) return 0;
  return x->fk == idx ||
         (x->kind == ASSOC_BELONGS_TO_MANY && x->other_key == idx);
}

static int default_od(assoc_kind k, int allow_null) {
  if (k == ASSOC_BELONGS_TO_MANY) return ASSOC_FK_CASCADE;
  if (allow_null) return ASSOC_FK_SET_NULL;
  return k == ASSOC_BELONGS_TO ? ASSOC_FK_NO_ACTION : ASSOC_FK_CASCADE;
}

static const char *action_name(int code) {
  return (code > 0 && code <= ASSOC_FK_SET_DEFAULT) ? actions[code] : "?";
}

static int conflict(assoc_db *db, const assoc_assoc *x, const assoc_assoc *a,
                    const char *fk, const char *opt, const char *xv,
                    const char *av) {
  char d1[256], d2[256];
  return assoc__err(db, ASSOC_MISUSE,
                    "%s uses foreign key %s with %s=%s, but %s declares it "
                    "with %s=%s",
                    describe(x, d1, sizeof d1), fk, opt, xv,
                    describe(a, d2, sizeof d2), opt, av);
}

/* Resolves the settings of kp against the associations already claiming
 * its attribute (doc/associations.md "Pairs").  mine_* are this
 * definition's values (defaults already applied where not explicit). */
static int plan_settings(assoc_db *db, const assoc_assoc *a, keyplan *kp,
                         int an, int c, int od, int ou) {
  const assoc_assoc *x, *first = NULL;
  int mi, ai, xan, xc, xod, xou, cur_an = -1;
  int ex_an = (kp->ex & ASSOC__EX_ALLOWNULL) != 0;
  int ex_c = (kp->ex & ASSOC__EX_CONSTRAINTS) != 0;
  int ex_od = (kp->ex & ASSOC__EX_ONDELETE) != 0;
  int ex_ou = (kp->ex & ASSOC__EX_ONUPDATE) != 0;
  int x_an = 0, x_c = 0, x_od = 0, x_ou = 0; /* some claimant explicit */
  int v_an = 0, v_c = 0, v_od = 0, v_ou = 0; /* its value */
  char d[256];
  if (kp->idx >= 0) {
    const assoc_attr *at = &kp->h->attrs[kp->idx];
    cur_an = !(at->flags & (ASSOC_ATTR_NOTNULL | ASSOC_ATTR_PK));
  }
  FOR_EACH_ASSOC(db, x, mi, ai) {
    if (kp->idx < 0 || !claims(x, kp->h, kp->idx)) continue;
    claimant_settings(x, kp->idx, &xan, &xc, &xod, &xou);
    if (first == NULL) first = x;
    if (!kp->btm && ex_an && (x->explicit_ & ASSOC__EX_ALLOWNULL) &&
        xan != an)
      return conflict(db, x, a, kp->name, "allowNull", xan ? "true" : "false",
                      an ? "true" : "false");
    if (ex_c && (x->explicit_ & ASSOC__EX_CONSTRAINTS) && xc != c)
      return conflict(db, x, a, kp->name, "constraints",
                      xc ? "true" : "false", c ? "true" : "false");
    if (ex_od && (x->explicit_ & ASSOC__EX_ONDELETE) && xod != od)
      return conflict(db, x, a, kp->name, "onDelete", action_name(xod),
                      action_name(od));
    if (ex_ou && (x->explicit_ & ASSOC__EX_ONUPDATE) && xou != ou)
      return conflict(db, x, a, kp->name, "onUpdate", action_name(xou),
                      action_name(ou));
    if (x->explicit_ & ASSOC__EX_ALLOWNULL) x_an = 1, v_an = xan;
    if (x->explicit_ & ASSOC__EX_CONSTRAINTS) x_c = 1, v_c = xc;
    if (x->explicit_ & ASSOC__EX_ONDELETE) x_od = 1, v_od = xod;
    if (x->explicit_ & ASSOC__EX_ONUPDATE) x_ou = 1, v_ou = xou;
  }
  if (kp->btm) {
    kp->allow_null = 0;
  } else if (first == NULL && kp->idx >= 0) {
    /* a user-defined attribute: an explicit allowNull wins, except on a
     * primary key */
    if (ex_an && an && (kp->h->attrs[kp->idx].flags & ASSOC_ATTR_PK))
      return assoc__err(db, ASSOC_MISUSE,
                        "%s: foreign key %s.%s is a primary key and cannot "
                        "allow null",
                        describe(a, d, sizeof d), kp->h->name, kp->name);
    kp->allow_null = ex_an ? an : cur_an;
  } else if (first == NULL) {
    kp->allow_null = an;
  } else {
    kp->allow_null = ex_an ? an : x_an ? v_an : cur_an;
  }
  if (first == NULL) {
    kp->constraints = c;
    kp->od = ex_od ? od : default_od(a->kind, kp->allow_null);
    kp->ou = ex_ou ? ou : ASSOC_FK_CASCADE;
  } else {
    claimant_settings(first, kp->idx, &xan, &xc, &xod, &xou);
    kp->constraints = ex_c ? c : x_c ? v_c : xc;
    if (ex_od) kp->od = od;
    else if (x_od) kp->od = v_od;
    else if (kp->allow_null != cur_an) kp->od = default_od(first->kind,
                                                           kp->allow_null);
    else kp->od = xod;
    kp->ou = ex_ou ? ou : x_ou ? v_ou : xou;
  }
  /* one column has one REFERENCES clause */
  if (kp->constraints && kp->idx >= 0 && kp->h->refs != NULL &&
      kp->h->refs[kp->idx] != NULL) {
    const assoc__ref *r = kp->h->refs[kp->idx];
    if (strcmp(r->table, kp->rm->table) != 0 ||
        strcmp(r->column, kp->rm->attrs[kp->rk].column) != 0)
      return assoc__err(db, ASSOC_MISUSE,
                        "%s: foreign key %s.%s already references %s (%s); "
                        "use constraints = false for a polymorphic key",
                        describe(a, d, sizeof d), kp->h->name, kp->name,
                        r->table, r->column);
  }
  if (kp->constraints && !is_unique_key(kp->rm, kp->rk))
    return assoc__err(db, ASSOC_MISUSE,
                      "%s: %s.%s is neither the primary key nor unique, so "
                      "foreign key %s cannot reference it",
                      describe(a, d, sizeof d), kp->rm->name,
                      kp->rm->attrs[kp->rk].name, kp->name);
  return ASSOC_OK;
}

/* The attribute definition of a new fk referencing rm.rk. */
static assoc_attr fk_attr(const keyplan *kp, unsigned flags) {
  assoc_attr at;
  const assoc_attr *ref = &kp->rm->attrs[kp->rk];
  memset(&at, 0, sizeof at);
  at.name = kp->name;
  at.type = ref->type;
  at.length = ref->length;
  at.flags = flags;
  return at;
}

/* Apply, part 1 (may fail; undone by undo_key): adds the attribute and
 * creates a new reference. */
static int apply_key(assoc_db *db, keyplan *kp) {
  int rc;
  if (kp->idx < 0) {
    assoc_attr at = fk_attr(kp, kp->allow_null ? 0u : ASSOC_ATTR_NOTNULL);
    rc = assoc__model_add_attr(kp->h, &at);
    if (rc != ASSOC_OK) return rc;
    kp->idx = kp->h->nattrs - 1;
    kp->added = 1;
  }
  if (kp->constraints &&
      (kp->h->refs == NULL || kp->h->refs[kp->idx] == NULL)) {
    rc = assoc__model_set_ref(kp->h, kp->idx, kp->rm->table,
                              kp->rm->attrs[kp->rk].column, actions[kp->od],
                              actions[kp->ou]);
    if (rc != ASSOC_OK)
      return assoc__err(db, rc, rc == ASSOC_NOMEM ? "out of memory"
                                                  : "bad reference");
    kp->ref_new = 1;
  }
  return ASSOC_OK;
}

static void undo_key(keyplan *kp) {
  if (kp->ref_new) assoc__model_clear_ref(kp->h, kp->idx);
  if (kp->added) assoc__model_pop_attr(kp->h);
  kp->ref_new = kp->added = 0;
}

/* Apply, part 2 (cannot fail): nullability, the reference's actions, and
 * the claimants' resolved settings. */
static void finish_key(assoc_db *db, keyplan *kp) {
  assoc_attr *at = &kp->h->attrs[kp->idx];
  assoc_assoc *x;
  int mi, ai;
  if (!kp->btm && !(at->flags & ASSOC_ATTR_PK)) {
    if (kp->allow_null) at->flags &= ~(unsigned)ASSOC_ATTR_NOTNULL;
    else at->flags |= ASSOC_ATTR_NOTNULL;
  }
  if (!kp->constraints) {
    assoc__model_clear_ref(kp->h, kp->idx);
  } else if (kp->h->refs != NULL && kp->h->refs[kp->idx] != NULL) {
    kp->h->refs[kp->idx]->on_delete = actions[kp->od];
    kp->h->refs[kp->idx]->on_update = actions[kp->ou];
  }
  FOR_EACH_ASSOC(db, x, mi, ai) {
    if (!claims(x, kp->h, kp->idx)) continue;
    x->constraints = kp->constraints;
    if (x->fk == kp->idx) {
      x->fk_allow_null = kp->allow_null;
      x->on_delete = kp->od;
      x->on_update = kp->ou;
    } else {
      x->other_on_delete = kp->od;
      x->other_on_update = kp->ou;
    }
  }
}

/* ---- pairs ------------------------------------------------------------------- */

/* For a definition without foreignKey: the fk of the one association of the
 * opposite direction it pairs with (belongsTo <-> hasOne/hasMany on the same
 * key), or NULL when there is none or more than one. */
static const char *counterpart_fk(assoc_db *db, const assoc_assoc *a) {
  const assoc_assoc *x, *found = NULL;
  int mi, ai, n = 0;
  FOR_EACH_ASSOC(db, x, mi, ai) {
    if (x->source != a->target || x->target != a->source) continue;
    if (a->kind == ASSOC_BELONGS_TO) {
      if ((x->kind != ASSOC_HAS_ONE && x->kind != ASSOC_HAS_MANY) ||
          x->source_key != a->target_key)
        continue;
    } else {
      if (x->kind != ASSOC_BELONGS_TO || x->target_key != a->source_key)
        continue;
    }
    found = x;
    n++;
  }
  return n == 1 ? holder(found)->attrs[found->fk].name : NULL;
}

/* The belongsToMany through the same junction in the opposite direction. */
static const assoc_assoc *btm_pair(assoc_db *db, const assoc_assoc *a,
                                   const assoc_model *j) {
  const assoc_assoc *x;
  int mi, ai;
  if (j == NULL) return NULL;
  FOR_EACH_ASSOC(db, x, mi, ai) {
    if (x->kind == ASSOC_BELONGS_TO_MANY && x->through == j &&
        x->source == a->target && x->target == a->source)
      return x;
  }
  return NULL;
}

/* Is model m part of any association (as source, target or junction)? */
static int involved(assoc_db *db, const assoc_model *m) {
  const assoc_assoc *x;
  int mi, ai;
  FOR_EACH_ASSOC(db, x, mi, ai) {
    if (x->source == m || x->target == m || x->through == m) return 1;
  }
  return 0;
}

/* ---- assoc_associate ------------------------------------------------------------ */

static int check_def(assoc_db *db, const assoc_assoc_def *d) {
  const char *k;
  if ((int)d->kind < ASSOC_HAS_ONE || d->kind > ASSOC_BELONGS_TO_MANY)
    return assoc__err(db, ASSOC_MISUSE, "unknown association kind %d",
                      (int)d->kind);
  k = kind_names[d->kind];
  if (d->source == NULL || d->target == NULL)
    return assoc__err(db, ASSOC_MISUSE, "%s: the %s is not a model", k,
                      d->source == NULL ? "source" : "target");
  if (d->source->db != db || d->target->db != db)
    return assoc__err(db, ASSOC_MISUSE,
                      "%s.%s(%s): the models belong to another connection",
                      d->source->name, k, d->target->name);
  if (d->kind != ASSOC_BELONGS_TO_MANY &&
      (d->through != NULL || d->through_model != NULL ||
       d->other_key != NULL || d->nthrough_scope != 0))
    return assoc__err(db, ASSOC_MISUSE,
                      "%s.%s(%s): through, otherKey and throughScope are "
                      "options of belongsToMany only",
                      d->source->name, k, d->target->name);
  if (d->kind == ASSOC_BELONGS_TO && d->source_key != NULL)
    return assoc__err(db, ASSOC_MISUSE,
                      "%s.belongsTo(%s): sourceKey is not an option of "
                      "belongsTo (use targetKey)",
                      d->source->name, d->target->name);
  if ((d->kind == ASSOC_HAS_ONE || d->kind == ASSOC_HAS_MANY) &&
      d->target_key != NULL)
    return assoc__err(db, ASSOC_MISUSE,
                      "%s.%s(%s): targetKey is not an option of %s (use "
                      "sourceKey)",
                      d->source->name, k, d->target->name, k);
  if (d->kind == ASSOC_BELONGS_TO_MANY && d->through == NULL &&
      d->through_model == NULL)
    return assoc__err(db, ASSOC_MISUSE,
                      "%s.belongsToMany(%s) needs a through model or name",
                      d->source->name, d->target->name);
  if (d->through != NULL && d->through[0] == '\0')
    return assoc__err(db, ASSOC_MISUSE,
                      "%s.belongsToMany(%s): through is empty",
                      d->source->name, d->target->name);
  if (d->through_model != NULL && d->through_model->db != db)
    return assoc__err(db, ASSOC_MISUSE,
                      "%s.belongsToMany(%s): the through model belongs to "
                      "another connection",
                      d->source->name, d->target->name);
  if (d->through_model != NULL && d->through != NULL &&
      strcmp(d->through, d->through_model->name) != 0)
    return assoc__err(db, ASSOC_MISUSE,
                      "%s.belongsToMany(%s): through names %s but the "
                      "through model is %s",
                      d->source->name, d->target->name, d->through,
                      d->through_model->name);
  if ((d->foreign_key != NULL && d->foreign_key[0] == '\0') ||
      (d->other_key != NULL && d->other_key[0] == '\0') ||
      (d->source_key != NULL && d->source_key[0] == '\0') ||
      (d->target_key != NULL && d->target_key[0] == '\0'))
    return assoc__err(db, ASSOC_MISUSE, "%s.%s(%s): an empty key name",
                      d->source->name, k, d->target->name);
  if (d->on_delete < 0 || d->on_delete > ASSOC_FK_SET_DEFAULT ||
      d->on_update < 0 || d->on_update > ASSOC_FK_SET_DEFAULT)
    return assoc__err(db, ASSOC_MISUSE,
                      "%s.%s(%s): unknown onDelete/onUpdate action",
                      d->source->name, k, d->target->name);
  if (d->nscope < 0 || d->nthrough_scope < 0)
    return assoc__err(db, ASSOC_MISUSE, "%s.%s(%s): bad scope",
                      d->source->name, k, d->target->name);
  return ASSOC_OK;
}

/* The plan of a belongsToMany: the junction, its keys. */
typedef struct btmplan {
  assoc_model *j;         /* existing junction, or NULL: generate */
  const char *jname;
  int replace_id;         /* drop j's auto id for the composite key */
  int add_uniq;           /* give j UNIQUE (fk, other) */
} btmplan;

static int plan_btm(assoc_db *db, assoc_assoc *a, const assoc_assoc_def *d,
                    keyplan *fk, keyplan *ok, btmplan *bp) {
  assoc_model *S = a->source, *T = a->target;
  const assoc_assoc *pair;
  int self = S == T, unique = d->through_unique != 0;
  char d1[256], d2[256];
  bp->jname = d->through_model != NULL ? d->through_model->name : d->through;
  bp->j = d->through_model != NULL ? d->through_model
                                   : assoc_model_find(db, d->through);
  if (bp->j == S || bp->j == T)
    return assoc__err(db, ASSOC_MISUSE,
                      "%s: the through model cannot be the source or the "
                      "target",
                      describe(a, d1, sizeof d1));
  if (self && !(a->explicit_ & ASSOC__EX_AS))
    return assoc__err(db, ASSOC_MISUSE,
                      "%s.belongsToMany(%s): 'as' must be defined for "
                      "many-to-many self-associations",
                      S->name, T->name);
  pair = btm_pair(db, a, bp->j);
  if (pair != NULL && (pair->source_key != a->target_key ||
                       pair->target_key != a->source_key))
    return assoc__err(db, ASSOC_MISUSE,
                      "%s and %s share the junction %s but not their keys "
                      "(sourceKey/targetKey)",
                      describe(pair, d1, sizeof d1),
                      describe(a, d2, sizeof d2), bp->jname);
  fk->btm = ok->btm = 1;
  fk->rm = S;
  fk->rk = a->source_key;
  ok->rm = T;
  ok->rk = a->target_key;
  if (d->foreign_key != NULL) fk->name = d->foreign_key;
  else if (pair != NULL) fk->name = bp->j->attrs[pair->other_key].name;
  else fk->name = fk->owned = key_name(S->name, S->attrs[a->source_key].name);
  if (d->other_key != NULL) ok->name = d->other_key;
  else if (pair != NULL) ok->name = bp->j->attrs[pair->fk].name;
  else
    ok->name = ok->owned = key_name(self ? a->as_singular : T->name,
                                    T->attrs[a->target_key].name);
  if (fk->name == NULL || ok->name == NULL)
    return assoc__err(db, ASSOC_NOMEM, "out of memory");
  if (pair != NULL &&
      (strcmp(fk->name, bp->j->attrs[pair->other_key].name) != 0 ||
       strcmp(ok->name, bp->j->attrs[pair->fk].name) != 0))
    return assoc__err(db, ASSOC_MISUSE,
                      "%s uses the keys %s/%s of %s, but %s declares %s/%s "
                      "(the reverse side must swap them)",
                      describe(pair, d1, sizeof d1),
                      bp->j->attrs[pair->fk].name,
                      bp->j->attrs[pair->other_key].name, bp->jname,
                      describe(a, d2, sizeof d2), fk->name, ok->name);
  if (strcmp(fk->name, ok->name) == 0)
    return assoc__err(db, ASSOC_MISUSE,
                      "%s: foreignKey and otherKey are both %s",
                      describe(a, d1, sizeof d1), fk->name);
  if (bp->j == NULL) {
    int k;
    for (k = 0; k < db->nmodels; k++)
      if (strcmp(db->models[k]->table, bp->jname) == 0)
        return assoc__err(db, ASSOC_MISUSE,
                          "%s: the junction table %s is already the table "
                          "of model %s",
                          describe(a, d1, sizeof d1), bp->jname,
                          db->models[k]->name);
    fk->h = ok->h = NULL;
    fk->idx = ok->idx = -1;
    if (d->nthrough_scope > 0)
      return assoc__err(db, ASSOC_MISUSE,
                        "%s: throughScope names %s, but the generated "
                        "junction %s has only its keys; define the through "
                        "model",
                        describe(a, d1, sizeof d1),
                        d->through_scope[0].attr ? d->through_scope[0].attr
                                                 : "(null)",
                        bp->jname);
    return ASSOC_OK;
  }
  fk->h = ok->h = bp->j;
  fk->idx = assoc_model_attr_index(bp->j, fk->name);
  ok->idx = assoc_model_attr_index(bp->j, ok->name);
  if (pair == NULL && unique) {
    const assoc_model *j = bp->j;
    const assoc_attr *p = j->pk >= 0 ? &j->attrs[j->pk] : NULL;
    int already = fk->idx >= 0 && ok->idx >= 0 &&
                  (((j->attrs[fk->idx].flags & ASSOC_ATTR_PK) &&
                    (j->attrs[ok->idx].flags & ASSOC_ATTR_PK) &&
                    j->npk == 2) ||
                   (j->nuniq == 2 &&
                    ((j->uniq[0] == fk->idx && j->uniq[1] == ok->idx) ||
                     (j->uniq[0] == ok->idx && j->uniq[1] == fk->idx))));
    if (!already) {
      if (j->npk == 1 && p != NULL && (p->flags & ASSOC_ATTR_AUTO) &&
          j->pk == 0 && !involved(db, j)) {
        if (j->synced)
          return assoc__err(db, ASSOC_MISUSE,
                            "%s: the through model %s was already synced "
                            "with its own id; associate before db:sync()",
                            describe(a, d1, sizeof d1), j->name);
        bp->replace_id = 1;
      } else {
        if (j->nuniq == 2)
          return assoc__err(db, ASSOC_MISUSE,
                            "%s: the through model %s already has a unique "
                            "key; use through.unique = false",
                            describe(a, d1, sizeof d1), j->name);
        bp->add_uniq = 1;
      }
    }
  }
  return ASSOC_OK;
}

/* Registers the association (see assoc.h).  On failure nothing changed. */
int assoc_associate(assoc_db *db, const assoc_assoc_def *d,
                    assoc_assoc **out) {
  assoc_assoc *a = NULL, *x;
  assoc_model *S, *T, *gen = NULL;
  keyplan fk, ok;
  btmplan bp;
  int rc, i, mi, ai, an, c, od, ou;
  char d1[256], d2[256];
  if (out != NULL) *out = NULL;
  if (db != NULL) db->schema_gen++; /* memos of older definitions are stale */
  if (db == NULL || db->sq == NULL) return ASSOC_CLOSED;
  if (d == NULL)
    return assoc__err(db, ASSOC_MISUSE, "assoc_associate: no definition");
  if ((rc = check_def(db, d)) != ASSOC_OK) return rc;
  S = d->source;
  T = d->target;
  memset(&fk, 0, sizeof fk);
  memset(&ok, 0, sizeof ok);
  memset(&bp, 0, sizeof bp);
  fk.idx = ok.idx = -1;

  /* ---- phase 1: plan ---- */
  a = calloc(1, sizeof *a);
  if (a == NULL) return assoc__err(db, ASSOC_NOMEM, "out of memory");
  a->db = db;
  a->kind = d->kind;
  a->source = S;
  a->target = T;
  a->fk = a->source_key = a->target_key = a->other_key = -1;
  if ((rc = set_names(db, a, d)) != ASSOC_OK) goto fail;
  FOR_EACH_ASSOC(db, x, mi, ai) {
    if (x->source == S && strcmp(alias_of(x), alias_of(a)) == 0) {
      rc = assoc__err(db, ASSOC_MISUSE,
                      "You have used the alias %s in two separate "
                      "associations: %s and %s",
                      alias_of(a), describe(x, d1, sizeof d1),
                      describe(a, d2, sizeof d2));
      goto fail;
    }
  }
  if (assoc_model_attr_index(S, alias_of(a)) >= 0) {
    rc = assoc__err(db, ASSOC_MISUSE,
                    "Naming collision between attribute '%s' and association "
                    "'%s' on model %s: %s",
                    alias_of(a), alias_of(a), S->name,
                    describe(a, d1, sizeof d1));
    goto fail;
  }
  if ((rc = set_accessors(db, a)) != ASSOC_OK) goto fail;
  if (d->foreign_key != NULL) a->explicit_ |= ASSOC__EX_FK;
  if (d->other_key != NULL) a->explicit_ |= ASSOC__EX_OTHER;
  if (d->foreign_key_allow_null >= 0) a->explicit_ |= ASSOC__EX_ALLOWNULL;
  if (d->constraints >= 0) a->explicit_ |= ASSOC__EX_CONSTRAINTS;
  if (d->on_delete != ASSOC_FK_DEFAULT) a->explicit_ |= ASSOC__EX_ONDELETE;
  if (d->on_update != ASSOC_FK_DEFAULT) a->explicit_ |= ASSOC__EX_ONUPDATE;
  if (d->kind != ASSOC_BELONGS_TO) {
    a->source_key = key_attr(db, a, S, d->source_key, "sourceKey");
    if (a->source_key < 0) { rc = ASSOC_MISUSE; goto fail; }
  }
  if (d->kind == ASSOC_BELONGS_TO || d->kind == ASSOC_BELONGS_TO_MANY)
    a->target_key = key_attr(db, a, T, d->target_key, "targetKey");
  else
    a->target_key = T->pk;
  if (a->target_key < 0) { rc = ASSOC_MISUSE; goto fail; }
  rc = resolve_scope(db, a, T, d->scope, d->nscope, "scope", &a->scope,
                     &a->nscope);
  if (rc != ASSOC_OK) goto fail;

  an = d->foreign_key_allow_null < 0 ? 1 : d->foreign_key_allow_null != 0;
  c = d->constraints != 0;
  od = d->on_delete;
  ou = d->on_update;
  fk.ex = ok.ex = a->explicit_;
  if (d->kind == ASSOC_BELONGS_TO_MANY) {
    a->explicit_ &= ~(unsigned)ASSOC__EX_ALLOWNULL;
    rc = plan_btm(db, a, d, &fk, &ok, &bp);
    if (rc != ASSOC_OK) goto fail;
    ok.ex &= ~(unsigned)ASSOC__EX_ALLOWNULL;
    fk.ex &= ~(unsigned)ASSOC__EX_ALLOWNULL;
    if (bp.j != NULL) {
      if ((rc = plan_settings(db, a, &fk, 0, c, od, ou)) != ASSOC_OK ||
          (rc = plan_settings(db, a, &ok, 0, c, od, ou)) != ASSOC_OK)
        goto fail;
    } else {
      fk.allow_null = ok.allow_null = 0;
      fk.constraints = ok.constraints = c;
      fk.od = ok.od = od ? od : ASSOC_FK_CASCADE;
      fk.ou = ok.ou = ou ? ou : ASSOC_FK_CASCADE;
      if (c && (!is_unique_key(S, a->source_key) ||
                !is_unique_key(T, a->target_key))) {
        int srcbad = !is_unique_key(S, a->source_key);
        rc = assoc__err(db, ASSOC_MISUSE,
                        "%s: %s.%s is neither the primary key nor unique, "
                        "so the junction cannot reference it",
                        describe(a, d1, sizeof d1),
                        srcbad ? S->name : T->name,
                        srcbad ? S->attrs[a->source_key].name
                               : T->attrs[a->target_key].name);
        goto fail;
      }
    }
    if (bp.j != NULL) {
      rc = resolve_scope(db, a, bp.j, d->through_scope, d->nthrough_scope,
                         "throughScope", &a->through_scope,
                         &a->nthrough_scope);
      if (rc != ASSOC_OK) goto fail;
      for (i = 0; i < a->nthrough_scope; i++) {
        int at = a->through_scope[i].attr;
        if (at == fk.idx || at == ok.idx ||
            (bp.replace_id && at == 0)) {
          rc = assoc__err(db, ASSOC_MISUSE,
                          "%s: throughScope cannot set the key %s",
                          describe(a, d1, sizeof d1), bp.j->attrs[at].name);
          goto fail;
        }
      }
    }
  } else {
    fk.h = d->kind == ASSOC_BELONGS_TO ? S : T;
    fk.rm = d->kind == ASSOC_BELONGS_TO ? T : S;
    fk.rk = d->kind == ASSOC_BELONGS_TO ? a->target_key : a->source_key;
    if (d->foreign_key != NULL) {
      fk.name = d->foreign_key;
    } else {
      if (d->kind != ASSOC_BELONGS_TO || !(a->explicit_ & ASSOC__EX_AS))
        fk.name = counterpart_fk(db, a);
      if (fk.name == NULL) {
        fk.name = fk.owned =
            d->kind == ASSOC_BELONGS_TO
                ? key_name(a->as_singular, T->attrs[a->target_key].name)
                : key_name(S->name, S->attrs[a->source_key].name);
        if (fk.name == NULL) {
          rc = assoc__err(db, ASSOC_NOMEM, "out of memory");
          goto fail;
        }
      }
    }
    fk.idx = assoc_model_attr_index(fk.h, fk.name);
    if ((rc = plan_settings(db, a, &fk, an, c, od, ou)) != ASSOC_OK)
      goto fail;
  }
  for (i = 0; i < a->nscope; i++)
    if (d->kind != ASSOC_BELONGS_TO && d->kind != ASSOC_BELONGS_TO_MANY &&
        fk.idx >= 0 && a->scope[i].attr == fk.idx) {
      rc = assoc__err(db, ASSOC_MISUSE, "%s: scope cannot set the key %s",
                      describe(a, d1, sizeof d1), fk.name);
      goto fail;
    }

  if (a->nscope > 0 &&
      (a->scope_pairs = calloc((size_t)a->nscope, sizeof(assoc_pair))) ==
          NULL) {
    rc = assoc__err(db, ASSOC_NOMEM, "out of memory");
    goto fail;
  }
  if (a->nthrough_scope > 0 &&
      (a->through_scope_pairs = calloc((size_t)a->nthrough_scope,
                                       sizeof(assoc_pair))) == NULL) {
    rc = assoc__err(db, ASSOC_NOMEM, "out of memory");
    goto fail;
  }

  /* ---- phase 2: apply (undoable steps first) ---- */
  if (S->nassocs == S->assoccap) {
    int cap = S->assoccap ? S->assoccap * 2 : 4;
    assoc_assoc **p = realloc(S->assocs, (size_t)cap * sizeof *p);
    if (p == NULL) {
      rc = assoc__err(db, ASSOC_NOMEM, "out of memory");
      goto fail;
    }
    S->assocs = p;
    S->assoccap = cap;
  }
  if (d->kind == ASSOC_BELONGS_TO_MANY && bp.j == NULL) {
    assoc_attr at[2];
    assoc_model_def jd;
    unsigned kf = ASSOC_ATTR_NOTNULL | (d->through_unique != 0 ? ASSOC_ATTR_PK
                                                               : 0u);
    at[0] = fk_attr(&fk, kf);
    at[1] = fk_attr(&ok, kf);
    memset(&jd, 0, sizeof jd);
    jd.name = bp.jname;
    jd.table = bp.jname;
    jd.attrs = at;
    jd.nattrs = 2;
    if (d->through_timestamps != 0) jd.flags |= ASSOC_MODEL_TIMESTAMPS;
    if (S->flags & ASSOC_MODEL_UNDERSCORED) jd.flags |= ASSOC_MODEL_UNDERSCORED;
    rc = assoc_define(db, &jd, &gen);
    if (rc != ASSOC_OK) goto fail;
    bp.j = gen;
    fk.h = ok.h = gen;
    fk.idx = assoc_model_attr_index(gen, fk.name);
    ok.idx = assoc_model_attr_index(gen, ok.name);
  }
  if ((rc = apply_key(db, &fk)) != ASSOC_OK) goto undo;
  if (d->kind == ASSOC_BELONGS_TO_MANY &&
      (rc = apply_key(db, &ok)) != ASSOC_OK)
    goto undo;

  /* ---- phase 3: changes that cannot fail ---- */
  if (d->kind == ASSOC_BELONGS_TO_MANY) {
    assoc_model *j = bp.j;
    if (bp.replace_id) {
      assoc__model_replace_auto_pk(j, fk.idx, ok.idx);
      fk.idx--;
      ok.idx--;
      for (i = 0; i < a->nthrough_scope; i++) a->through_scope[i].attr--;
    } else if (bp.add_uniq) {
      j->nuniq = 2;
      j->uniq[0] = fk.idx;
      j->uniq[1] = ok.idx;
    }
    j->junction = 1;
    a->through = j;
    a->other_key = ok.idx;
    a->upsert = (j->npk == 2 && (j->attrs[fk.idx].flags & ASSOC_ATTR_PK) &&
                 (j->attrs[ok.idx].flags & ASSOC_ATTR_PK)) ||
                (j->nuniq == 2 &&
                 ((j->uniq[0] == fk.idx && j->uniq[1] == ok.idx) ||
                  (j->uniq[0] == ok.idx && j->uniq[1] == fk.idx)));
  }
  a->fk = fk.idx;
  if (d->kind == ASSOC_BELONGS_TO) a->source_key = fk.idx;
  a->src_attr = a->source_key;
  a->tgt_attr = a->target_key;
  finish_key(db, &fk);
  if (d->kind == ASSOC_BELONGS_TO_MANY) finish_key(db, &ok);
  a->fk_allow_null = fk.allow_null;
  a->constraints = fk.constraints;
  a->on_delete = fk.od;
  a->on_update = fk.ou;
  if (d->kind == ASSOC_BELONGS_TO_MANY) {
    a->other_on_delete = ok.od;
    a->other_on_update = ok.ou;
  }
  for (i = 0; i < a->nscope; i++) {
    a->scope_pairs[i].attr = T->attrs[a->scope[i].attr].name;
    a->scope_pairs[i].value = a->scope[i].value;
  }
  for (i = 0; i < a->nthrough_scope; i++) {
    a->through_scope_pairs[i].attr =
        a->through->attrs[a->through_scope[i].attr].name;
    a->through_scope_pairs[i].value = a->through_scope[i].value;
  }
  S->assocs[S->nassocs++] = a;
  free(fk.owned);
  free(ok.owned);
  if (out != NULL) *out = a;
  assoc__clear_err(db);
  return ASSOC_OK;

undo:
  if (d->kind == ASSOC_BELONGS_TO_MANY) undo_key(&ok);
  undo_key(&fk);
  if (gen != NULL) {
    int code = db->errcode;
    char msg[sizeof db->errmsg];
    memcpy(msg, db->errmsg, sizeof msg);
    assoc__model_pop(db);
    db->errcode = code;
    memcpy(db->errmsg, msg, sizeof msg);
  }
fail:
  free(fk.owned);
  free(ok.owned);
  assoc__assoc_free(a);
  return rc;
}

/* ---- getters ------------------------------------------------------------------- */

assoc_kind assoc_assoc_kind(const assoc_assoc *a) {
  return a == NULL ? (assoc_kind)0 : a->kind;
}

assoc_model *assoc_assoc_source(const assoc_assoc *a) {
  return a == NULL ? NULL : a->source;
}

assoc_model *assoc_assoc_target(const assoc_assoc *a) {
  return a == NULL ? NULL : a->target;
}

assoc_model *assoc_assoc_through(const assoc_assoc *a) {
  return a == NULL ? NULL : a->through;
}

const char *assoc_assoc_as(const assoc_assoc *a, int plural) {
  if (a == NULL) return NULL;
  return plural ? a->as_plural : a->as_singular;
}

const char *assoc_assoc_key(const assoc_assoc *a, int which) {
  if (a == NULL) return NULL;
  switch (which) {
  case ASSOC_KEY_FOREIGN: return holder(a)->attrs[a->fk].name;
  case ASSOC_KEY_SOURCE:
    return a->kind == ASSOC_BELONGS_TO ? NULL
                                       : a->source->attrs[a->source_key].name;
  case ASSOC_KEY_TARGET: return a->target->attrs[a->target_key].name;
  case ASSOC_KEY_OTHER:
    return a->kind == ASSOC_BELONGS_TO_MANY
               ? a->through->attrs[a->other_key].name
               : NULL;
  default: return NULL;
  }
}

const char *assoc_assoc_accessor(const assoc_assoc *a, int which) {
  if (a == NULL || which < 0 || which >= ASSOC_ACC__COUNT) return NULL;
  return a->accessors[which];
}

int assoc_assoc_nscope(const assoc_assoc *a, int through) {
  if (a == NULL) return 0;
  return through ? a->nthrough_scope : a->nscope;
}

const assoc_pair *assoc_assoc_scope(const assoc_assoc *a, int through, int i) {
  if (a == NULL) return NULL;
  if (through)
    return (i < 0 || i >= a->nthrough_scope) ? NULL
                                             : &a->through_scope_pairs[i];
  return (i < 0 || i >= a->nscope) ? NULL : &a->scope_pairs[i];
}

const char *assoc_assoc_source_attr(const assoc_assoc *a) {
  return a == NULL ? NULL : a->source->attrs[a->src_attr].name;
}

const char *assoc_assoc_target_attr(const assoc_assoc *a) {
  return a == NULL ? NULL : a->target->attrs[a->tgt_attr].name;
}

int assoc_assoc_source_index(const assoc_assoc *a) {
  return a == NULL ? -1 : a->src_attr;
}

int assoc_assoc_target_index(const assoc_assoc *a) {
  return a == NULL ? -1 : a->tgt_attr;
}

int assoc_assoc_fk_allow_null(const assoc_assoc *a) {
  return a == NULL ? 0 : a->fk_allow_null;
}

int assoc_model_nassocs(const assoc_model *m) {
  return m == NULL ? 0 : m->nassocs;
}

assoc_assoc *assoc_model_assoc(const assoc_model *m, int i) {
  if (m == NULL || i < 0 || i >= m->nassocs) return NULL;
  return m->assocs[i];
}

assoc_assoc *assoc_model_assoc_find(const assoc_model *m, const char *alias) {
  int i;
  if (m == NULL || alias == NULL) return NULL;
  for (i = 0; i < m->nassocs; i++)
    if (strcmp(alias_of(m->assocs[i]), alias) == 0) return m->assocs[i];
  return NULL;
}
