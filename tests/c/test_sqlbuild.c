/*
 * test_sqlbuild.c -- the SQL builders: exact text and binds for every
 * operator, groups, paranoid filter, order/limit/offset, insert, update,
 * delete, count and create table, and every refused request.
 */
#include <math.h>
#include <stdlib.h>

#include "assoc.h"
#include "assoc_int.h" /* the foreign-key extension point */
#include "tap.h"

static assoc_value I(int64_t i) {
  assoc_value v;
  v.type = ASSOC_V_INT;
  v.u.i = i;
  return v;
}
static assoc_value R(double r) {
  assoc_value v;
  v.type = ASSOC_V_REAL;
  v.u.r = r;
  return v;
}
static assoc_value S(const char *s) {
  assoc_value v;
  v.type = ASSOC_V_TEXT;
  v.u.s.p = s;
  v.u.s.n = strlen(s);
  return v;
}
static assoc_value N(void) {
  assoc_value v;
  memset(&v, 0, sizeof v);
  v.type = ASSOC_V_NULL;
  return v;
}
static assoc_where leaf(assoc_op op, int attr, const assoc_value *v, int n) {
  assoc_where w;
  memset(&w, 0, sizeof w);
  w.op = op;
  w.attr = attr;
  w.values = v;
  w.nvalues = n;
  return w;
}
static assoc_where group(assoc_op op, const assoc_where *k, int n) {
  assoc_where w;
  memset(&w, 0, sizeof w);
  w.op = op;
  w.attr = -1;
  w.kids = k;
  w.nkids = n;
  return w;
}
static assoc_select all(void) {
  assoc_select q;
  memset(&q, 0, sizeof q);
  q.limit = -1;
  return q;
}
static assoc_attr attr(const char *name, assoc_type t, unsigned flags) {
  assoc_attr a;
  memset(&a, 0, sizeof a);
  a.name = name;
  a.type = t;
  a.flags = flags;
  return a;
}

static assoc_model *User, *Post, *Profile, *Member, *Odd, *Types;
static assoc_sql q;

/* Builds the SELECT of `where` on User with all columns and checks the
 * text after FROM "Users". */
static const char *where_sql(const assoc_model *m, const assoc_where *w) {
  assoc_select s = all();
  s.nattrs = 1;
  s.attrs = (const int[]){0};
  s.where = w;
  if (assoc_build_select(m, &s, &q) != ASSOC_OK) return q.errmsg;
  return strstr(q.text, " WHERE ") ? strstr(q.text, " WHERE ") + 7 : "(none)";
}

static void define_models(assoc_db *db) {
  assoc_model_def d;
  assoc_attr ua[3], pa[2], fa[2], ma[3], oa[1], ta[14];
  int i;

  ua[0] = attr("name", ASSOC_T_STRING,
               ASSOC_ATTR_NOTNULL | ASSOC_ATTR_DEFAULT | ASSOC_ATTR_UNIQUE);
  ua[0].dflt = S("anon");
  ua[1] = attr("age", ASSOC_T_INTEGER, 0);
  ua[2] = attr("email", ASSOC_T_STRING, ASSOC_ATTR_UNIQUE);
  ua[2].length = 100;
  memset(&d, 0, sizeof d);
  d.name = "User";
  d.attrs = ua;
  d.nattrs = 3;
  d.flags = ASSOC_MODEL_TIMESTAMPS;
  is_int(assoc_define(db, &d, &User), ASSOC_OK, "define User");

  pa[0] = attr("title", ASSOC_T_STRING, ASSOC_ATTR_NOTNULL);
  pa[1] = attr("body", ASSOC_T_TEXT, 0);
  d.name = "Post";
  d.attrs = pa;
  d.nattrs = 2;
  d.flags = ASSOC_MODEL_TIMESTAMPS | ASSOC_MODEL_PARANOID;
  is_int(assoc_define(db, &d, &Post), ASSOC_OK, "define Post (paranoid)");

  fa[0] = attr("firstName", ASSOC_T_STRING, 0);
  fa[1] = attr("userId", ASSOC_T_INTEGER, 0);
  d.name = "UserProfile";
  d.attrs = fa;
  d.nattrs = 2;
  d.flags = ASSOC_MODEL_TIMESTAMPS | ASSOC_MODEL_UNDERSCORED;
  is_int(assoc_define(db, &d, &Profile), ASSOC_OK, "define UserProfile (underscored)");

  ma[0] = attr("userId", ASSOC_T_INTEGER, ASSOC_ATTR_PK);
  ma[1] = attr("projectId", ASSOC_T_INTEGER, ASSOC_ATTR_PK);
  ma[2] = attr("role", ASSOC_T_STRING, ASSOC_ATTR_DEFAULT);
  ma[2].dflt = S("it's");
  d.name = "UserProject";
  d.attrs = ma;
  d.nattrs = 3;
  d.flags = 0;
  is_int(assoc_define(db, &d, &Member), ASSOC_OK, "define UserProject (composite pk)");

  oa[0] = attr("a\"b", ASSOC_T_TEXT, 0);
  d.name = "Odd";
  d.table = "we\"ird";
  d.attrs = oa;
  d.nattrs = 1;
  is_int(assoc_define(db, &d, &Odd), ASSOC_OK, "define Odd (quotes in names)");

  for (i = 0; i < ASSOC_T__COUNT; i++) {
    static const char *const names[] = {"s", "t", "i", "bi", "f", "d", "dec",
                                        "b", "dt", "do", "j", "bl", "u"};
    ta[i] = attr(names[i], (assoc_type)i, ASSOC_ATTR_DEFAULT);
    ta[i].dflt = N();
  }
  ta[0].length = 20;
  ta[2].dflt = I(-42);
  ta[4].dflt = R(1.5);
  ta[5].dflt = R(2);
  ta[6].dflt = R(INFINITY);
  ta[7].dflt = I(1);
  ta[11].dflt.type = ASSOC_V_BLOB;
  ta[11].dflt.u.s.p = "\x01\xab";
  ta[11].dflt.u.s.n = 2;
  ta[13] = attr("code", ASSOC_T_STRING, ASSOC_ATTR_PK);
  d.name = "Types";
  d.table = NULL;
  d.attrs = ta;
  d.nattrs = 14;
  is_int(assoc_define(db, &d, &Types), ASSOC_OK, "define Types");
}

static void test_select(void) {
  assoc_select s = all();
  assoc_value v[4];
  assoc_where k[3], w;
  assoc_order o[2];

  is_int(assoc_build_select(User, &s, &q), ASSOC_OK, "select all");
  is_str(q.text, "SELECT \"id\", \"name\", \"age\", \"email\", \"createdAt\", "
                 "\"updatedAt\" FROM \"Users\"", "select lists every column");
  is_int(q.nbinds, 0, "no binds");
  is_int(assoc_build_select(User, NULL, &q), ASSOC_OK, "select with NULL request");
  is_str(q.text, "SELECT \"id\", \"name\", \"age\", \"email\", \"createdAt\", "
                 "\"updatedAt\" FROM \"Users\"", "NULL request = everything");

  v[0] = S("bob");
  v[1] = I(30);
  k[0] = leaf(ASSOC_OP_EQ, 1, &v[0], 1);
  k[1] = leaf(ASSOC_OP_GT, 2, &v[1], 1);
  w = group(ASSOC_OP_AND, k, 2);
  o[0].attr = 1;
  o[0].desc = 1;
  o[1].attr = 0;
  o[1].desc = 0;
  s.attrs = (const int[]){0, 1, 4};
  s.nattrs = 3;
  s.where = &w;
  s.order = o;
  s.norder = 2;
  s.limit = 10;
  s.offset = 20;
  is_int(assoc_build_select(User, &s, &q), ASSOC_OK, "select full request");
  is_str(q.text,
         "SELECT \"id\", \"name\", \"createdAt\" FROM \"Users\" WHERE (\"name\" = ? "
         "AND \"age\" > ?) ORDER BY \"name\" DESC, \"id\" ASC LIMIT ? OFFSET ?",
         "select with where, order, limit, offset");
  is_int(q.nbinds, 4, "4 binds");
  ok(q.binds[0].type == ASSOC_V_TEXT && q.binds[0].u.s.n == 3 &&
     memcmp(q.binds[0].u.s.p, "bob", 3) == 0, "bind 1 is 'bob'");
  ok(q.binds[1].type == ASSOC_V_INT && q.binds[1].u.i == 30, "bind 2 is 30");
  ok(q.binds[2].type == ASSOC_V_INT && q.binds[2].u.i == 10, "bind 3 is limit");
  ok(q.binds[3].type == ASSOC_V_INT && q.binds[3].u.i == 20, "bind 4 is offset");

  s = all();
  s.limit = 0;
  assoc_build_select(User, &s, &q);
  ok(strstr(q.text, "\" LIMIT ?") != NULL && q.nbinds == 1 && q.binds[0].u.i == 0,
     "limit 0 is bound");
  s.limit = -1;
  s.offset = 5;
  assoc_build_select(User, &s, &q);
  ok(strstr(q.text, "FROM \"Users\" LIMIT -1 OFFSET ?") != NULL && q.nbinds == 1 &&
     q.binds[0].u.i == 5, "offset alone: LIMIT -1 OFFSET ?");
  s.limit = 3;
  s.offset = 0;
  assoc_build_select(User, &s, &q);
  ok(strstr(q.text, "LIMIT ?") != NULL && strstr(q.text, "OFFSET") == NULL,
     "offset 0 is omitted");

  /* paranoid */
  s = all();
  s.nattrs = 2;
  s.attrs = (const int[]){0, 1};
  assoc_build_select(Post, &s, &q);
  is_str(q.text, "SELECT \"id\", \"title\" FROM \"Posts\" WHERE \"deletedAt\" IS NULL",
         "paranoid select filters soft-deleted rows");
  s.where = &w;
  k[0] = leaf(ASSOC_OP_EQ, 1, &v[0], 1);
  k[1] = leaf(ASSOC_OP_NE, 2, &v[1], 1);
  assoc_build_select(Post, &s, &q);
  is_str(q.text, "SELECT \"id\", \"title\" FROM \"Posts\" WHERE \"deletedAt\" IS "
                 "NULL AND (\"title\" = ? AND \"body\" != ?)",
         "paranoid filter ANDed before the where");
  k[0] = leaf(ASSOC_OP_EQ, 1, &v[0], 1);
  s.where = &k[0];
  assoc_build_select(Post, &s, &q);
  is_str(q.text, "SELECT \"id\", \"title\" FROM \"Posts\" WHERE \"deletedAt\" IS "
                 "NULL AND \"title\" = ?", "paranoid filter with a leaf");
  s.with_deleted = 1;
  assoc_build_select(Post, &s, &q);
  is_str(q.text, "SELECT \"id\", \"title\" FROM \"Posts\" WHERE \"title\" = ?",
         "with_deleted drops the filter");

  /* underscored columns */
  s = all();
  assoc_build_select(Profile, &s, &q);
  is_str(q.text, "SELECT \"id\", \"first_name\", \"user_id\", \"created_at\", "
                 "\"updated_at\" FROM \"user_profiles\"",
         "underscored model: snake_case columns and table");
  /* quoting */
  assoc_build_select(Odd, &s, &q);
  is_str(q.text, "SELECT \"id\", \"a\"\"b\" FROM \"we\"\"ird\"",
         "identifiers with quotes are doubled");
}

static void test_leaves(void) {
  assoc_value v[3], nul = N(), t = I(1), f = I(0);
  assoc_where w, k[3], inner, outer;

  v[0] = I(7);
  w = leaf(ASSOC_OP_EQ, 2, v, 1);
  is_str(where_sql(User, &w), "\"age\" = ?", "eq");
  w = leaf(ASSOC_OP_EQ, 2, &nul, 1);
  is_str(where_sql(User, &w), "\"age\" IS NULL", "eq null -> IS NULL");
  is_int(q.nbinds, 0, "eq null binds nothing");
  w = leaf(ASSOC_OP_NE, 2, v, 1);
  is_str(where_sql(User, &w), "\"age\" != ?", "ne");
  w = leaf(ASSOC_OP_NE, 2, &nul, 1);
  is_str(where_sql(User, &w), "\"age\" IS NOT NULL", "ne null -> IS NOT NULL");
  w = leaf(ASSOC_OP_GT, 2, v, 1);
  is_str(where_sql(User, &w), "\"age\" > ?", "gt");
  w = leaf(ASSOC_OP_GTE, 2, v, 1);
  is_str(where_sql(User, &w), "\"age\" >= ?", "gte");
  w = leaf(ASSOC_OP_LT, 2, v, 1);
  is_str(where_sql(User, &w), "\"age\" < ?", "lt");
  w = leaf(ASSOC_OP_LTE, 2, v, 1);
  is_str(where_sql(User, &w), "\"age\" <= ?", "lte");
  is_int(q.nbinds, 1, "lte binds one value");

  v[0] = I(1);
  v[1] = I(2);
  v[2] = N();
  w = leaf(ASSOC_OP_IN, 0, v, 3);
  is_str(where_sql(User, &w), "\"id\" IN (?, ?, ?)", "in");
  is_int(q.nbinds, 3, "in binds 3 values");
  ok(q.binds[2].type == ASSOC_V_NULL, "in accepts a NULL value");
  w = leaf(ASSOC_OP_NOTIN, 0, v, 2);
  is_str(where_sql(User, &w), "\"id\" NOT IN (?, ?)", "notIn");
  w = leaf(ASSOC_OP_IN, 0, NULL, 0);
  is_str(where_sql(User, &w), "1 = 0", "empty in is false");
  w = leaf(ASSOC_OP_NOTIN, 0, NULL, 0);
  is_str(where_sql(User, &w), "1 = 1", "empty notIn is true");

  v[0] = S("a%");
  w = leaf(ASSOC_OP_LIKE, 1, v, 1);
  is_str(where_sql(User, &w), "\"name\" LIKE ?", "like");
  w = leaf(ASSOC_OP_NOTLIKE, 1, v, 1);
  is_str(where_sql(User, &w), "\"name\" NOT LIKE ?", "notLike");
  w = leaf(ASSOC_OP_ILIKE, 1, v, 1);
  is_str(where_sql(User, &w), "\"name\" LIKE ?", "iLike is LIKE");

  v[0] = I(1);
  v[1] = I(9);
  w = leaf(ASSOC_OP_BETWEEN, 2, v, 2);
  is_str(where_sql(User, &w), "\"age\" BETWEEN ? AND ?", "between");
  is_int(q.nbinds, 2, "between binds 2");
  w = leaf(ASSOC_OP_NOTBETWEEN, 2, v, 2);
  is_str(where_sql(User, &w), "\"age\" NOT BETWEEN ? AND ?", "notBetween");

  w = leaf(ASSOC_OP_IS, 2, &nul, 1);
  is_str(where_sql(User, &w), "\"age\" IS ?", "is null");
  w = leaf(ASSOC_OP_IS, 2, &t, 1);
  is_str(where_sql(User, &w), "\"age\" IS ?", "is true");
  ok(q.binds[0].type == ASSOC_V_INT && q.binds[0].u.i == 1, "is true binds 1");
  w = leaf(ASSOC_OP_NOT, 2, &f, 1);
  is_str(where_sql(User, &w), "\"age\" IS NOT ?", "not leaf");

  v[0] = S("50%_off\\x");
  w = leaf(ASSOC_OP_STARTSWITH, 1, v, 1);
  is_str(where_sql(User, &w), "\"name\" LIKE ? ESCAPE '\\'", "startsWith");
  ok(q.nbinds == 1 && q.binds[0].type == ASSOC_V_TEXT, "startsWith binds text");
  is_str(q.binds[0].u.s.p, "50\\%\\_off\\\\x%", "startsWith pattern escaped + %%");
  is_int(q.binds[0].u.s.n, strlen("50\\%\\_off\\\\x%"), "pattern length");
  ok(q.binds[0].u.s.p != v[0].u.s.p, "pattern is the builder's copy");
  w = leaf(ASSOC_OP_ENDSWITH, 1, v, 1);
  where_sql(User, &w);
  is_str(q.binds[0].u.s.p, "%50\\%\\_off\\\\x", "endsWith pattern");
  w = leaf(ASSOC_OP_SUBSTRING, 1, v, 1);
  where_sql(User, &w);
  is_str(q.binds[0].u.s.p, "%50\\%\\_off\\\\x%", "substring pattern");
  v[0] = I(12);
  w = leaf(ASSOC_OP_STARTSWITH, 2, v, 1);
  where_sql(User, &w);
  is_str(q.binds[0].u.s.p, "12%", "startsWith on an integer");

  /* groups */
  v[0] = I(1);
  v[1] = I(2);
  k[0] = leaf(ASSOC_OP_EQ, 0, &v[0], 1);
  k[1] = leaf(ASSOC_OP_EQ, 2, &v[1], 1);
  w = group(ASSOC_OP_OR, k, 2);
  is_str(where_sql(User, &w), "(\"id\" = ? OR \"age\" = ?)", "or group");
  w = group(ASSOC_OP_NOT, k, 2);
  is_str(where_sql(User, &w), "NOT (\"id\" = ? AND \"age\" = ?)", "not group");
  w = group(ASSOC_OP_AND, NULL, 0);
  is_str(where_sql(User, &w), "1 = 1", "empty and is true");
  w = group(ASSOC_OP_OR, NULL, 0);
  is_str(where_sql(User, &w), "1 = 0", "empty or is false");
  w = group(ASSOC_OP_AND, k, 1);
  is_str(where_sql(User, &w), "(\"id\" = ?)", "and of one");
  inner = group(ASSOC_OP_OR, k, 2);
  k[2] = leaf(ASSOC_OP_IN, 0, NULL, 0);
  {
    assoc_where two[2];
    two[0] = inner;
    two[1] = k[2];
    outer = group(ASSOC_OP_AND, two, 2);
    is_str(where_sql(User, &outer), "((\"id\" = ? OR \"age\" = ?) AND 1 = 0)",
           "nested groups");
    is_int(q.nbinds, 2, "nested binds in order");
    ok(q.binds[0].u.i == 1 && q.binds[1].u.i == 2, "nested bind values");
  }
}

static void test_errors(void) {
  assoc_value v[2], one = I(1);
  assoc_where w, kids[1];
  assoc_select s = all();
  assoc_where *deep;
  int i, rc;

  v[0] = I(1);
  v[1] = I(2);
  w = leaf(ASSOC_OP_EQ, 99, v, 1);
  s.where = &w;
  is_int(assoc_build_select(User, &s, &q), ASSOC_MISUSE, "bad attr index");
  ok(strstr(q.errmsg, "User") && strstr(q.errmsg, "99"), "message names model and index: %s", q.errmsg);
  is_int(q.rc, ASSOC_MISUSE, "rc is sticky in the builder");
  is_int(q.len, 0, "failed build has no text");
  w = leaf(ASSOC_OP_EQ, -1, v, 1);
  is_int(assoc_build_select(User, &s, &q), ASSOC_MISUSE, "negative attr index on a leaf");
  w = leaf((assoc_op)0, 1, v, 1);
  is_int(assoc_build_select(User, &s, &q), ASSOC_MISUSE, "op 0");
  w = leaf((assoc_op)99, 1, v, 1);
  is_int(assoc_build_select(User, &s, &q), ASSOC_MISUSE, "op out of range");
  ok(strstr(q.errmsg, "bad operator") != NULL, "bad operator message: %s", q.errmsg);
  w = leaf(ASSOC_OP_BETWEEN, 2, v, 1);
  is_int(assoc_build_select(User, &s, &q), ASSOC_MISUSE, "between with 1 value");
  is_str(q.errmsg, "User.age: operator 'between' needs 2 values, got 1", "between message");
  w = leaf(ASSOC_OP_EQ, 2, v, 2);
  is_int(assoc_build_select(User, &s, &q), ASSOC_MISUSE, "eq with 2 values");
  w = leaf(ASSOC_OP_GT, 2, v, 0);
  is_int(assoc_build_select(User, &s, &q), ASSOC_MISUSE, "gt with 0 values");
  w = leaf(ASSOC_OP_LIKE, 2, NULL, 1);
  is_int(assoc_build_select(User, &s, &q), ASSOC_MISUSE, "values NULL with count 1");
  w = leaf(ASSOC_OP_IS, 2, v + 1, 1);
  is_int(assoc_build_select(User, &s, &q), ASSOC_MISUSE, "is with 2 (not a boolean)");
  w = leaf(ASSOC_OP_STARTSWITH, 1, NULL, 0);
  is_int(assoc_build_select(User, &s, &q), ASSOC_MISUSE, "startsWith with no value");
  {
    assoc_value nul = N();
    w = leaf(ASSOC_OP_STARTSWITH, 1, &nul, 1);
    is_int(assoc_build_select(User, &s, &q), ASSOC_MISUSE, "startsWith null");
  }
  {
    assoc_value bad;
    bad.type = (assoc_vtype)42;
    bad.u.i = 0;
    w = leaf(ASSOC_OP_EQ, 1, &bad, 1);
    is_int(assoc_build_select(User, &s, &q), ASSOC_MISUSE, "bad value type");
    bad.type = ASSOC_V_TEXT;
    bad.u.s.p = NULL;
    bad.u.s.n = 3;
    is_int(assoc_build_select(User, &s, &q), ASSOC_MISUSE, "text with NULL pointer");
  }
  kids[0] = leaf(ASSOC_OP_EQ, 1, &one, 1);
  w = group(ASSOC_OP_AND, kids, 1);
  w.attr = 1;
  is_int(assoc_build_select(User, &s, &q), ASSOC_MISUSE, "group with an attribute");
  w = group(ASSOC_OP_OR, kids, 1);
  w.values = v;
  w.nvalues = 1;
  is_int(assoc_build_select(User, &s, &q), ASSOC_MISUSE, "group with values");
  w = group(ASSOC_OP_OR, NULL, 2);
  is_int(assoc_build_select(User, &s, &q), ASSOC_MISUSE, "group kids NULL with count");
  w = leaf(ASSOC_OP_EQ, 1, &one, 1);
  w.kids = kids;
  w.nkids = 1;
  is_int(assoc_build_select(User, &s, &q), ASSOC_MISUSE, "leaf with kids");
  w = group(ASSOC_OP_NOT, kids, 1);
  w.attr = -2;
  is_int(assoc_build_select(User, &s, &q), ASSOC_MISUSE, "not with attr -2");

  /* depth */
  deep = calloc(70, sizeof *deep);
  for (i = 0; i < 70; i++) {
    deep[i].op = ASSOC_OP_AND;
    deep[i].attr = -1;
    deep[i].kids = i + 1 < 70 ? &deep[i + 1] : NULL;
    deep[i].nkids = i + 1 < 70 ? 1 : 0;
  }
  s.where = &deep[0];
  rc = assoc_build_select(User, &s, &q);
  is_int(rc, ASSOC_MISUSE, "70 levels are refused");
  ok(strstr(q.errmsg, "nests too deeply") != NULL, "depth message: %s", q.errmsg);
  s.where = &deep[70 - 64];
  is_int(assoc_build_select(User, &s, &q), ASSOC_OK, "64 levels are fine");
  free(deep);

  s = all();
  s.nattrs = 1;
  s.attrs = (const int[]){6};
  is_int(assoc_build_select(User, &s, &q), ASSOC_MISUSE, "select attr out of range");
  s.attrs = NULL;
  is_int(assoc_build_select(User, &s, &q), ASSOC_MISUSE, "select attrs NULL with count");
  s = all();
  s.norder = 1;
  s.order = (const assoc_order[]){{-1, 0}};
  is_int(assoc_build_select(User, &s, &q), ASSOC_MISUSE, "order attr out of range");
  is_int(assoc_build_select(NULL, &s, &q), ASSOC_MISUSE, "no model");
  is_int(assoc_build_select(User, &s, NULL), ASSOC_MISUSE, "no output");
}

static void test_writes(void) {
  assoc_value v[3];
  int attrs[3];
  assoc_where w;
  assoc_select s = all();

  v[0] = S("bob");
  v[1] = S("2026-01-01T00:00:00.000Z");
  attrs[0] = 1;
  attrs[1] = 4;
  is_int(assoc_build_insert(User, attrs, v, 2, &q), ASSOC_OK, "insert");
  is_str(q.text, "INSERT INTO \"Users\" (\"name\", \"createdAt\") VALUES (?, ?)",
         "insert text");
  is_int(q.nbinds, 2, "insert binds");
  ok(q.binds[0].u.s.p == v[0].u.s.p, "insert binds are borrowed");
  is_int(assoc_build_insert(User, NULL, NULL, 0, &q), ASSOC_OK, "insert nothing");
  is_str(q.text, "INSERT INTO \"Users\" DEFAULT VALUES", "insert default values");
  attrs[1] = 1;
  is_int(assoc_build_insert(User, attrs, v, 2, &q), ASSOC_MISUSE, "insert duplicate attr");
  ok(strstr(q.errmsg, "User.name") != NULL, "duplicate message: %s", q.errmsg);
  attrs[1] = 17;
  is_int(assoc_build_insert(User, attrs, v, 2, &q), ASSOC_MISUSE, "insert attr out of range");
  is_int(assoc_build_insert(User, attrs, NULL, 2, &q), ASSOC_MISUSE, "insert vals NULL");
  is_int(assoc_build_insert(User, attrs, v, -1, &q), ASSOC_MISUSE, "insert negative count");

  attrs[0] = 1;
  attrs[1] = 5;
  v[2] = I(3);
  w = leaf(ASSOC_OP_EQ, 0, &v[2], 1);
  is_int(assoc_build_update(User, attrs, v, 2, &w, 0, &q), ASSOC_OK, "update");
  is_str(q.text, "UPDATE \"Users\" SET \"name\" = ?, \"updatedAt\" = ? WHERE \"id\" = ?",
         "update text");
  is_int(q.nbinds, 3, "update binds set values then where");
  ok(q.binds[2].u.i == 3, "update where bind last");
  is_int(assoc_build_update(User, attrs, v, 2, NULL, 0, &q), ASSOC_OK, "update all rows");
  is_str(q.text, "UPDATE \"Users\" SET \"name\" = ?, \"updatedAt\" = ?",
         "update without where");
  attrs[0] = 1;
  is_int(assoc_build_update(Post, attrs, v, 1, &w, 0, &q), ASSOC_OK, "update paranoid");
  is_str(q.text, "UPDATE \"Posts\" SET \"title\" = ? WHERE \"deletedAt\" IS NULL AND \"id\" = ?",
         "update skips soft-deleted rows");
  assoc_build_update(Post, attrs, v, 1, &w, 1, &q);
  is_str(q.text, "UPDATE \"Posts\" SET \"title\" = ? WHERE \"id\" = ?",
         "update with_deleted");
  is_int(assoc_build_update(User, attrs, v, 0, &w, 0, &q), ASSOC_MISUSE, "update of nothing");

  is_int(assoc_build_delete(User, &w, &q), ASSOC_OK, "delete");
  is_str(q.text, "DELETE FROM \"Users\" WHERE \"id\" = ?", "delete text");
  assoc_build_delete(Post, &w, &q);
  is_str(q.text, "DELETE FROM \"Posts\" WHERE \"id\" = ?", "delete is hard on paranoid");
  assoc_build_delete(User, NULL, &q);
  is_str(q.text, "DELETE FROM \"Users\"", "delete without where");

  s.where = &w;
  s.limit = 5;
  s.norder = 1;
  s.order = (const assoc_order[]){{1, 1}};
  is_int(assoc_build_count(User, &s, &q), ASSOC_OK, "count");
  is_str(q.text, "SELECT count(*) FROM \"Users\" WHERE \"id\" = ?",
         "count ignores order and limit");
  is_int(q.nbinds, 1, "count binds the where only");
  assoc_build_count(Post, NULL, &q);
  is_str(q.text, "SELECT count(*) FROM \"Posts\" WHERE \"deletedAt\" IS NULL",
         "count of a paranoid model");
}

static void test_ddl(void) {
  is_int(assoc_build_create_table(User, &q), ASSOC_OK, "create User");
  is_str(q.text,
         "CREATE TABLE IF NOT EXISTS \"Users\" (\"id\" INTEGER PRIMARY KEY "
         "AUTOINCREMENT, \"name\" VARCHAR(255) NOT NULL DEFAULT 'anon' UNIQUE, "
         "\"age\" INTEGER, \"email\" VARCHAR(100) UNIQUE, \"createdAt\" DATETIME "
         "NOT NULL, \"updatedAt\" DATETIME NOT NULL)", "User DDL");
  is_int(q.nbinds, 0, "DDL binds nothing");
  assoc_build_create_table(Post, &q);
  ok(strstr(q.text, ", \"deletedAt\" DATETIME)") != NULL, "deletedAt is nullable: %s", q.text);
  assoc_build_create_table(Member, &q);
  is_str(q.text,
         "CREATE TABLE IF NOT EXISTS \"UserProjects\" (\"userId\" INTEGER NOT NULL, "
         "\"projectId\" INTEGER NOT NULL, \"role\" VARCHAR(255) DEFAULT 'it''s', "
         "PRIMARY KEY (\"userId\", \"projectId\"))",
         "composite primary key and a quoted default");
  assoc_build_create_table(Profile, &q);
  is_str(q.text,
         "CREATE TABLE IF NOT EXISTS \"user_profiles\" (\"id\" INTEGER PRIMARY KEY "
         "AUTOINCREMENT, \"first_name\" VARCHAR(255), \"user_id\" INTEGER, "
         "\"created_at\" DATETIME NOT NULL, \"updated_at\" DATETIME NOT NULL)",
         "underscored DDL");
  assoc_build_create_table(Types, &q);
  is_str(q.text,
         "CREATE TABLE IF NOT EXISTS \"Types\" (\"s\" VARCHAR(20) DEFAULT NULL, "
         "\"t\" TEXT DEFAULT NULL, \"i\" INTEGER DEFAULT -42, \"bi\" BIGINT DEFAULT NULL, "
         "\"f\" FLOAT DEFAULT 1.5, \"d\" DOUBLE PRECISION DEFAULT 2.0, "
         "\"dec\" DECIMAL DEFAULT 9e999, \"b\" TINYINT(1) DEFAULT 1, "
         "\"dt\" DATETIME DEFAULT NULL, \"do\" DATE DEFAULT NULL, \"j\" JSON DEFAULT NULL, "
         "\"bl\" BLOB DEFAULT X'01AB', \"u\" UUID DEFAULT NULL, "
         "\"code\" VARCHAR(255) PRIMARY KEY NOT NULL)",
         "every type, every default literal, a string primary key");
  assoc_build_create_table(Odd, &q);
  is_str(q.text, "CREATE TABLE IF NOT EXISTS \"we\"\"ird\" (\"id\" INTEGER PRIMARY KEY "
                 "AUTOINCREMENT, \"a\"\"b\" TEXT)", "quoted DDL names");
  is_int(assoc_build_create_table(NULL, &q), ASSOC_MISUSE, "create without model");
}

static void test_references(void) {
  assoc_db *db;
  assoc_model_def d;
  assoc_attr a[1];
  assoc_model *A, *B, *C;
  int order[3];
  is_int(assoc__model_set_ref(Member, 0, "Users", "id", "cascade", "CASCADE"),
         ASSOC_OK, "set a reference");
  is_int(assoc__model_set_ref(Member, 1, "Projects", "id", "DROP TABLE x", NULL),
         ASSOC_MISUSE, "an unknown referential action is refused");
  is_int(assoc__model_set_ref(Member, 9, "Users", "id", NULL, NULL), ASSOC_MISUSE,
         "reference on a bad attribute");
  is_int(assoc__model_set_ref(Profile, 2, "Users", "id", "set null", NULL), ASSOC_OK,
         "set a second reference");
  assoc_build_create_table(Member, &q);
  is_str(q.text,
         "CREATE TABLE IF NOT EXISTS \"UserProjects\" (\"userId\" INTEGER NOT NULL "
         "REFERENCES \"Users\" (\"id\") ON DELETE CASCADE ON UPDATE CASCADE, "
         "\"projectId\" INTEGER NOT NULL, \"role\" VARCHAR(255) DEFAULT 'it''s', "
         "PRIMARY KEY (\"userId\", \"projectId\"))", "REFERENCES clause");
  assoc_build_create_table(Profile, &q);
  ok(strstr(q.text, "\"user_id\" INTEGER REFERENCES \"Users\" (\"id\") ON DELETE SET NULL,") != NULL,
     "REFERENCES with ON DELETE only: %s", q.text);

  /* creation order: referenced tables first */
  assoc_open(":memory:", NULL, &db);
  memset(&d, 0, sizeof d);
  memset(a, 0, sizeof a);
  a[0].name = "bId";
  a[0].type = ASSOC_T_INTEGER;
  d.attrs = a;
  d.nattrs = 1;
  d.name = "A";
  assoc_define(db, &d, &A);
  d.name = "B";
  assoc_define(db, &d, &B);
  d.name = "C";
  assoc_define(db, &d, &C);
  assoc__model_order(db, order);
  ok(order[0] == 0 && order[1] == 1 && order[2] == 2, "no references: definition order");
  assoc__model_set_ref(A, 1, "Bs", "id", "CASCADE", NULL);
  assoc__model_set_ref(B, 1, "Cs", "id", NULL, NULL);
  assoc__model_order(db, order);
  ok(order[0] == 2 && order[1] == 1 && order[2] == 0, "C, B, A: referenced first");
  assoc__model_set_ref(C, 1, "As", "id", NULL, NULL);
  assoc__model_order(db, order);
  ok(order[0] + order[1] + order[2] == 3 && order[0] != order[1], "a cycle still lists each once");
  assoc__model_set_ref(C, 1, "Cs", "id", NULL, NULL);
  is_int(assoc_sync(db, 1), ASSOC_OK, "sync with references (self-reference too): %s",
         assoc_errmsg(db));
  assoc_close(db);
}

int main(void) {
  assoc_db *db = NULL;
  is_int(assoc_open(":memory:", NULL, &db), ASSOC_OK, "open :memory:");
  assoc_sql_init(&q);
  define_models(db);
  test_select();
  test_leaves();
  test_errors();
  test_writes();
  test_ddl();
  test_references();
  /* the builder is reusable after free + init */
  assoc_sql_free(&q);
  assoc_sql_init(&q);
  is_int(assoc_build_delete(User, NULL, &q), ASSOC_OK, "builder reusable after free");
  is_str(q.text, "DELETE FROM \"Users\"", "and builds again");
  assoc_sql_free(&q);
  assoc_sql_free(&q);
  ok(q.text == NULL && q.binds == NULL, "free twice is harmless");
  /* every DDL runs on SQLite */
  is_int(assoc_sync(db, 0), ASSOC_OK, "sync runs every generated DDL: %s", assoc_errmsg(db));
  assoc_close(db);
  return done_testing();
}
