/*
 * test_db.c -- the connection end to end: open/close and pragmas, models,
 * sync, the request calls, rows, constraint errors, transactions,
 * insert_many atomicity, the statement cache, tracing, raw queries, use
 * after close, and a file database in WAL mode.
 */
#include <stdlib.h>
#include <unistd.h>

#include "assoc.h"
#include "assoc_int.h"
#include "tap.h"

static assoc_value I(int64_t i) {
  assoc_value v;
  v.type = ASSOC_V_INT;
  v.u.i = i;
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
  return v;
}
static assoc_attr attr(const char *name, assoc_type t, unsigned flags) {
  assoc_attr a;
  memset(&a, 0, sizeof a);
  a.name = name;
  a.type = t;
  a.flags = flags;
  return a;
}
static assoc_select all(void) {
  assoc_select q;
  memset(&q, 0, sizeof q);
  q.limit = -1;
  return q;
}
static assoc_where eq(int attr, const assoc_value *v) {
  assoc_where w;
  memset(&w, 0, sizeof w);
  w.op = ASSOC_OP_EQ;
  w.attr = attr;
  w.values = v;
  w.nvalues = 1;
  return w;
}

/* ---- trace capture ---- */
#define MAXTRACE 64
static char traced[MAXTRACE][256];
static int ntraced;
static void on_trace(void *ud, const char *sql, double ms) {
  (void)ud;
  if (ntraced < MAXTRACE) {
    snprintf(traced[ntraced], sizeof traced[0], "%s", sql);
    if (ms < 0) snprintf(traced[ntraced], sizeof traced[0], "NEGATIVE TIME");
  }
  ntraced++;
}
static int traced_has(const char *sql) {
  int i;
  for (i = 0; i < ntraced && i < MAXTRACE; i++)
    if (strcmp(traced[i], sql) == 0) return 1;
  return 0;
}

/* First column of the first row of a raw query, as integer (-999 if none). */
static int64_t scalar(assoc_db *db, const char *sql) {
  assoc_rows *r;
  assoc_value v;
  int64_t out = -999;
  if (assoc_query(db, sql, NULL, 0, &r) != ASSOC_OK) return -999;
  if (assoc_rows_next(r) == ASSOC_ROW) {
    assoc_rows_value(r, 0, &v);
    if (v.type == ASSOC_V_INT) out = v.u.i;
  }
  assoc_rows_close(r);
  return out;
}
static int64_t count_of(assoc_db *db, const assoc_model *m) {
  int64_t n = -1;
  assoc_count(db, m, NULL, &n);
  return n;
}

static assoc_model *User, *Post, *Member;

static void define_models(assoc_db *db) {
  assoc_model_def d;
  assoc_attr ua[3], pa[3], ma[3];
  ua[0] = attr("name", ASSOC_T_STRING, ASSOC_ATTR_NOTNULL);
  ua[1] = attr("email", ASSOC_T_STRING, ASSOC_ATTR_UNIQUE);
  ua[2] = attr("score", ASSOC_T_DOUBLE, 0);
  memset(&d, 0, sizeof d);
  d.name = "User";
  d.attrs = ua;
  d.nattrs = 3;
  d.flags = ASSOC_MODEL_TIMESTAMPS;
  is_int(assoc_define(db, &d, &User), ASSOC_OK, "define User");
  pa[0] = attr("title", ASSOC_T_STRING, ASSOC_ATTR_NOTNULL);
  pa[1] = attr("authorId", ASSOC_T_INTEGER, 0);
  pa[2] = attr("data", ASSOC_T_BLOB, 0);
  d.name = "Post";
  d.attrs = pa;
  d.flags = ASSOC_MODEL_PARANOID;
  is_int(assoc_define(db, &d, &Post), ASSOC_OK, "define Post");
  ma[0] = attr("userId", ASSOC_T_INTEGER, ASSOC_ATTR_PK);
  ma[1] = attr("projectId", ASSOC_T_INTEGER, ASSOC_ATTR_PK);
  ma[2] = attr("role", ASSOC_T_STRING, ASSOC_ATTR_DEFAULT | ASSOC_ATTR_NOTNULL);
  ma[2].dflt = S("member");
  d.name = "UserProject";
  d.attrs = ma;
  d.flags = 0;
  is_int(assoc_define(db, &d, &Member), ASSOC_OK, "define UserProject");
}

static void test_open(void) {
  assoc_db *db = NULL;
  assoc_open_opts o;
  assoc_rows *r;
  int rc;
  is_int(assoc_open(":memory:", NULL, &db), ASSOC_OK, "open :memory:");
  ok(db != NULL, "handle stored");
  is_int(scalar(db, "PRAGMA foreign_keys"), 1, "foreign_keys is on");
  is_int(scalar(db, "PRAGMA busy_timeout"), 5000, "default busy_timeout 5000");
  ok(sqlite3_db_mutex(db->sq) == NULL,
     "multi-thread mode: no per-connection mutex (one thread at a time)");
  rc = assoc_query(db, "SELECT \"nosuchcol\"", NULL, 0, &r);
  is_int(rc, ASSOC_ERROR, "double-quoted unknown name is an error (DQS off)");
  ok(r == NULL, "no rows on failure");
  ok(strstr(assoc_errmsg(db), "no such column") != NULL, "message: %s", assoc_errmsg(db));
  is_str(assoc_errsql(db), "SELECT \"nosuchcol\"", "errsql is the failed statement");
  is_int(assoc_errcode(db), ASSOC_ERROR, "errcode kept");
  is_int(scalar(db, "SELECT 41 + 1"), 42, "a later success works");
  is_int(assoc_errcode(db), ASSOC_OK, "and clears the error");
  is_str(assoc_errmsg(db), "not an error", "errmsg after success");
  ok(assoc_errsql(db) == NULL, "errsql cleared");
  assoc_close(db);

  o.busy_timeout_ms = 123;
  o.cache_size = 7;
  is_int(assoc_open(":memory:", &o, &db), ASSOC_OK, "open with options");
  is_int(scalar(db, "PRAGMA busy_timeout"), 123, "busy_timeout from options");
  {
    assoc_cache_stats cs;
    assoc_cache_stats_get(db, &cs);
    is_int(cs.capacity, 7, "cache capacity from options");
  }
  assoc_close(db);

  rc = assoc_open("/nonexistent-dir-assoc/x/y.db", NULL, &db);
  is_int(rc, ASSOC_CANTOPEN, "open in a missing directory: CANTOPEN");
  ok(db != NULL, "a handle is still returned");
  ok(strstr(assoc_errmsg(db), "cannot open") != NULL, "message: %s", assoc_errmsg(db));
  is_int(assoc_exec(db, "SELECT 1", NULL, 0), ASSOC_CLOSED, "failed handle acts closed");
  is_int(assoc_begin(db), ASSOC_CLOSED, "begin on failed handle");
  assoc_close(db);
  is_int(assoc_open(NULL, NULL, &db), ASSOC_MISUSE, "open NULL path");
  assoc_close(db);
  is_int(assoc_open(":memory:", NULL, NULL), ASSOC_MISUSE, "open without out");
  assoc_close(NULL);
  ok(1, "close NULL is harmless");
}

static void test_closed(void) {
  assoc_rows *r = (assoc_rows *)1;
  int64_t n = 5;
  assoc_cache_stats cs;
  is_int(assoc_exec(NULL, "SELECT 1", NULL, 0), ASSOC_CLOSED, "exec NULL db");
  is_int(assoc_query(NULL, "SELECT 1", NULL, 0, &r), ASSOC_CLOSED, "query NULL db");
  ok(r == NULL, "query NULL db clears out");
  is_int(assoc_begin(NULL), ASSOC_CLOSED, "begin NULL db");
  is_int(assoc_commit(NULL), ASSOC_CLOSED, "commit NULL db");
  is_int(assoc_rollback(NULL), ASSOC_CLOSED, "rollback NULL db");
  is_int(assoc_count(NULL, User, NULL, &n), ASSOC_CLOSED, "count NULL db");
  is_int(assoc_insert(NULL, User, NULL, NULL, 0, NULL), ASSOC_CLOSED, "insert NULL db");
  is_int(assoc_sync(NULL, 0), ASSOC_CLOSED, "sync NULL db");
  is_int(assoc_drop(NULL), ASSOC_CLOSED, "drop NULL db");
  is_int(assoc_define(NULL, NULL, NULL), ASSOC_CLOSED, "define NULL db");
  is_int(assoc_errcode(NULL), ASSOC_CLOSED, "errcode NULL db");
  is_str(assoc_errmsg(NULL), "database is closed", "errmsg NULL db");
  is_int(assoc_changes(NULL), 0, "changes NULL db");
  is_int(assoc_txn_depth(NULL), 0, "depth NULL db");
  assoc_cache_stats_get(NULL, &cs);
  is_int(cs.size, 0, "cache stats NULL db");
  ok(assoc_model_find(NULL, "User") == NULL, "model_find NULL db");
  assoc_rows_close(NULL);
  is_int(assoc_rows_next(NULL), ASSOC_MISUSE, "rows_next NULL");
}

static void test_define(assoc_db *db) {
  assoc_model_def d;
  assoc_attr a[20];
  assoc_model *m = NULL;
  int i;
  char names[20][16];

  memset(&d, 0, sizeof d);
  is_int(assoc_define(db, &d, &m), ASSOC_MISUSE, "define without name");
  d.name = "";
  is_int(assoc_define(db, &d, &m), ASSOC_MISUSE, "define with empty name");
  d.name = "User";
  is_int(assoc_define(db, &d, &m), ASSOC_MISUSE, "define an existing model");
  is_str(assoc_errmsg(db), "model User is already defined", "duplicate model message");
  d.name = "Thing";
  a[0] = attr("x", ASSOC_T_TEXT, 0);
  a[1] = attr("x", ASSOC_T_TEXT, 0);
  d.attrs = a;
  d.nattrs = 2;
  is_int(assoc_define(db, &d, &m), ASSOC_MISUSE, "duplicate attribute");
  is_str(assoc_errmsg(db), "Thing.x: duplicate attribute", "duplicate attribute message");
  a[1] = attr("X", ASSOC_T_TEXT, 0);
  is_int(assoc_define(db, &d, &m), ASSOC_MISUSE, "columns clash case-insensitively");
  a[1] = attr("y", (assoc_type)99, 0);
  is_int(assoc_define(db, &d, &m), ASSOC_MISUSE, "bad type");
  ok(strstr(assoc_errmsg(db), "Thing.y") != NULL, "bad type names attribute: %s", assoc_errmsg(db));
  a[1] = attr("", ASSOC_T_TEXT, 0);
  is_int(assoc_define(db, &d, &m), ASSOC_MISUSE, "empty attribute name");
  a[1] = attr("y", ASSOC_T_TEXT, ASSOC_ATTR_AUTOINC);
  is_int(assoc_define(db, &d, &m), ASSOC_MISUSE, "autoIncrement without pk");
  a[1] = attr("id", ASSOC_T_TEXT, 0);
  is_int(assoc_define(db, &d, &m), ASSOC_MISUSE, "an id that is not the primary key");
  a[1] = attr("y", ASSOC_T_TEXT, 0);
  a[1].column = "x";
  is_int(assoc_define(db, &d, &m), ASSOC_MISUSE, "column used twice");
  is_int(assoc_model_count(db), 3, "failed defines registered nothing");
  ok(assoc_model_find(db, "Thing") == NULL, "Thing not registered");

  /* default table names and a big model (hash index) */
  for (i = 0; i < 20; i++) {
    snprintf(names[i], sizeof names[i], "a%d", i);
    a[i] = attr(names[i], ASSOC_T_INTEGER, 0);
  }
  d.name = "Person";
  d.nattrs = 20;
  d.flags = ASSOC_MODEL_TIMESTAMPS | ASSOC_MODEL_PARANOID;
  is_int(assoc_define(db, &d, &m), ASSOC_OK, "define Person with 20 attributes");
  is_str(assoc_model_table(m), "People", "Person -> People");
  is_int(assoc_model_nattrs(m), 24, "id + 20 + 3 timestamps");
  is_int(assoc_model_attr_index(m, "a13"), 14, "hash lookup");
  is_int(assoc_model_attr_index(m, "deletedAt"), 23, "hash lookup of deletedAt");
  is_int(assoc_model_attr_index(m, "nope"), -1, "hash lookup miss");
  is_int(assoc_model_special(m, ASSOC_COL_CREATED), 21, "special createdAt");
  is_int(assoc_model_special(m, ASSOC_COL_DELETED), 23, "special deletedAt");
  ok(assoc_model_attr(m, 0)->flags & ASSOC_ATTR_AUTO, "id is flagged AUTO");
  ok((assoc_model_attr(m, 21)->flags & (ASSOC_ATTR_AUTO | ASSOC_ATTR_NOTNULL)) ==
     (ASSOC_ATTR_AUTO | ASSOC_ATTR_NOTNULL), "createdAt AUTO + NOTNULL");
  ok(!(assoc_model_attr(m, 23)->flags & ASSOC_ATTR_NOTNULL), "deletedAt nullable");
  is_int(assoc_model_attr(m, 23)->type, ASSOC_T_DATE, "deletedAt is DATE");

  d.name = "UserProfile";
  d.nattrs = 1;
  a[0] = attr("firstName", ASSOC_T_STRING, 0);
  d.flags = ASSOC_MODEL_UNDERSCORED | ASSOC_MODEL_TIMESTAMPS;
  is_int(assoc_define(db, &d, &m), ASSOC_OK, "define underscored");
  is_str(assoc_model_table(m), "user_profiles", "underscored table name");
  is_str(assoc_model_attr(m, 1)->column, "first_name", "underscored column");
  is_str(assoc_model_attr(m, 2)->name, "createdAt", "timestamp attribute keeps its name");
  is_str(assoc_model_attr(m, 2)->column, "created_at", "timestamp column snake_cased");
  is_int(assoc_model_attr_index(m, "firstName"), 1, "linear lookup");
  is_int(assoc_model_pk(m), 0, "pk is id");

  d.name = "Category";
  d.flags = 0;
  d.table = NULL;
  is_int(assoc_define(db, &d, &m), ASSOC_OK, "define Category");
  is_str(assoc_model_table(m), "Categories", "Category -> Categories");
  is_int(assoc_model_special(m, ASSOC_COL_CREATED), -1, "no timestamps");

  is_int(assoc_model_count(db), 6, "six models");
  ok(assoc_model_at(db, 0) == User && assoc_model_at(db, 5) == m, "definition order");
  ok(assoc_model_at(db, 6) == NULL, "model_at out of range");
  ok(assoc_model_find(db, "Category") == m, "model_find");
  is_str(assoc_model_name(m), "Category", "model_name");
  is_int(assoc_model_pk(Member), 0, "composite pk: first pk");
  is_int(assoc_model_nattrs(Member), 3, "composite pk: no id added");
  is_int(assoc_model_flags(Post), ASSOC_MODEL_PARANOID, "model flags");
}

static void test_roundtrip(assoc_db *db) {
  assoc_value v[4], got;
  int64_t rowid = 0, changes = -1, n = -1;
  assoc_rows *r;
  assoc_select q = all();
  assoc_where w;
  char buf[16];
  int rc, rows;

  v[0] = S("alice");
  v[1] = S("a@x");
  v[2].type = ASSOC_V_REAL;
  v[2].u.r = 2.5;
  v[3] = S("2026-01-01T00:00:00.000Z");
  {
    int at[5] = {1, 2, 3, 4, 5};
    assoc_value vv[5];
    memcpy(vv, v, sizeof v);
    vv[4] = v[3];
    is_int(assoc_insert(db, User, at, vv, 5, &rowid), ASSOC_OK, "insert alice");
  }
  is_int(rowid, 1, "rowid 1");
  is_int(assoc_last_insert_rowid(db), 1, "last_insert_rowid");
  is_int(assoc_changes(db), 1, "changes 1");

  q.nattrs = 2;
  q.attrs = (const int[]){3, 1};
  is_int(assoc_find(db, User, &q, &r), ASSOC_OK, "find");
  is_int(assoc_rows_ncols(r), 2, "two columns");
  is_str(assoc_rows_colname(r, 0), "score", "column 0 name");
  is_int(assoc_rows_attr(r, 0), 3, "column 0 -> attr 3");
  is_int(assoc_rows_attr(r, 1), 1, "column 1 -> attr 1");
  is_int(assoc_rows_attr(r, 2), -1, "column out of range -> -1");
  is_int(assoc_rows_next(r), ASSOC_ROW, "a row");
  assoc_rows_value(r, 0, &got);
  ok(got.type == ASSOC_V_REAL && got.u.r == 2.5, "real value");
  assoc_rows_value(r, 1, &got);
  ok(got.type == ASSOC_V_TEXT && got.u.s.n == 5 && memcmp(got.u.s.p, "alice", 5) == 0,
     "text value");
  assoc_rows_value(r, 9, &got);
  is_int(got.type, ASSOC_V_NULL, "out-of-range column reads NULL");
  is_int(assoc_rows_next(r), ASSOC_DONE, "done");
  is_int(assoc_rows_next(r), ASSOC_DONE, "done stays done");
  assoc_rows_close(r);

  /* bound text is copied for find: change the buffer after the call */
  strcpy(buf, "alice");
  v[0].type = ASSOC_V_TEXT;
  v[0].u.s.p = buf;
  v[0].u.s.n = 5;
  w = eq(1, &v[0]);
  q = all();
  q.where = &w;
  is_int(assoc_find(db, User, &q, &r), ASSOC_OK, "find by name");
  strcpy(buf, "zzzzz");
  is_int(assoc_rows_next(r), ASSOC_ROW, "find keeps its own copy of bound text");
  assoc_rows_close(r);

  /* raw query with params and a NULL */
  {
    assoc_value p[2];
    p[0] = I(1);
    p[1] = N();
    is_int(assoc_query(db, "SELECT name, ? IS NULL FROM Users WHERE id = ?", p, 2, &r),
           ASSOC_OK, "raw query with params");
    is_int(assoc_rows_attr(r, 0), -1, "raw rows have no attribute map");
    rows = 0;
    while ((rc = assoc_rows_next(r)) == ASSOC_ROW) rows++;
    is_int(rows, 0, "params bound in order (NULL id matches nothing)");
    assoc_rows_close(r);
    is_int(assoc_query(db, "SELECT ?", p, 2, &r), ASSOC_MISUSE, "too many params");
    ok(strstr(assoc_errmsg(db), "1 parameter, 2 given") != NULL, "message: %s", assoc_errmsg(db));
    is_int(assoc_exec(db, "SELECT ?, ?", p, 1), ASSOC_MISUSE, "too few params");
  }

  /* blob, paranoid, update, delete, count */
  {
    int pat[3] = {1, 2, 3};
    assoc_value pv[3];
    pv[0] = S("hello");
    pv[1] = I(1);
    pv[2].type = ASSOC_V_BLOB;
    pv[2].u.s.p = "a\0b";
    pv[2].u.s.n = 3;
    is_int(assoc_insert(db, Post, pat, pv, 3, &rowid), ASSOC_OK, "insert post with blob");
    q = all();
    q.nattrs = 1;
    q.attrs = (const int[]){3};
    assoc_find(db, Post, &q, &r);
    assoc_rows_next(r);
    assoc_rows_value(r, 0, &got);
    ok(got.type == ASSOC_V_BLOB && got.u.s.n == 3 && memcmp(got.u.s.p, "a\0b", 3) == 0,
       "blob with a NUL byte roundtrips");
    assoc_rows_close(r);
    pv[0] = S("other");
    assoc_insert(db, Post, pat, pv, 2, NULL);
    is_int(count_of(db, Post), 2, "two posts");
    /* soft delete the first */
    {
      int da = 4;
      assoc_value now = S("2026-01-02T00:00:00.000Z"), id1 = I(1);
      w = eq(0, &id1);
      is_int(assoc_update(db, Post, &da, &now, 1, &w, 0, &changes), ASSOC_OK,
             "soft delete by update");
      is_int(changes, 1, "one row changed");
      is_int(count_of(db, Post), 1, "count skips soft-deleted");
      q = all();
      q.with_deleted = 1;
      assoc_count(db, Post, &q, &n);
      is_int(n, 2, "count with_deleted");
      is_int(assoc_update(db, Post, &da, &now, 1, &w, 0, &changes), ASSOC_OK,
             "update of a soft-deleted row");
      is_int(changes, 0, "skips it");
      is_int(assoc_delete(db, Post, &w, &changes), ASSOC_OK, "hard delete");
      is_int(changes, 1, "the soft-deleted row is removed");
      q = all();
      q.with_deleted = 1;
      assoc_count(db, Post, &q, &n);
      is_int(n, 1, "one post left");
    }
  }
  {
    int bad = 42;
    is_int(assoc_insert(db, User, &bad, v, 1, NULL), ASSOC_MISUSE, "insert bad attr");
    ok(strstr(assoc_errmsg(db), "#42") != NULL, "message: %s", assoc_errmsg(db));
    is_int(count_of(db, User), 1, "nothing written");
  }
}

static void test_constraints(assoc_db *db) {
  assoc_value v[3];
  int rc;
  v[0] = S("bob");
  v[1] = S("a@x");
  v[2] = S("2026-01-01T00:00:00.000Z");
  {
    int at[4] = {1, 2, 4, 5};
    assoc_value vv[4] = {v[0], v[1], v[2], v[2]};
    rc = assoc_insert(db, User, at, vv, 4, NULL);
  }
  is_int(rc, ASSOC_UNIQUE, "duplicate email: UNIQUE");
  is_str(assoc_errfield(db), "email", "errfield email");
  is_str(assoc_errmsg(db), "User.email must be unique", "unique message");
  is_str(assoc_errsql(db),
         "INSERT INTO \"Users\" (\"name\", \"email\", \"createdAt\", \"updatedAt\") "
         "VALUES (?, ?, ?, ?)", "errsql has placeholders");
  {
    int at[1] = {2};
    assoc_value vv[1] = {S("x")};
    rc = assoc_insert(db, Post, at, vv, 1, NULL);
  }
  is_int(rc, ASSOC_NOTNULL, "missing title: NOTNULL");
  is_str(assoc_errfield(db), "title", "errfield title");
  is_str(assoc_errmsg(db), "Post.title cannot be null", "not null message");
  {
    int at[2] = {0, 1};
    assoc_value vv[2] = {I(1), I(2)};
    is_int(assoc_insert(db, Member, at, vv, 2, NULL), ASSOC_OK, "membership");
    is_str(assoc_errfield(db), NULL, "errfield cleared on success");
    rc = assoc_insert(db, Member, at, vv, 2, NULL);
  }
  is_int(rc, ASSOC_UNIQUE, "duplicate composite pk: UNIQUE");
  is_str(assoc_errfield(db), "userId,projectId", "errfield of a composite key");
  is_str(assoc_errmsg(db), "UserProject.userId, UserProject.projectId must be unique",
         "composite unique message");
  {
    int at[4] = {0, 1, 4, 5};
    assoc_value vv[4] = {I(1), S("dup"), S("2026"), S("2026")};
    rc = assoc_insert(db, User, at, vv, 4, NULL);
  }
  is_int(rc, ASSOC_UNIQUE, "duplicate rowid pk: UNIQUE");
  is_str(assoc_errfield(db), "id", "errfield id");

  is_int(assoc_exec(db, "CREATE TABLE parent (id INTEGER PRIMARY KEY)", NULL, 0), ASSOC_OK,
         "raw table");
  is_int(assoc_exec(db, "CREATE TABLE child (pid INTEGER REFERENCES parent(id), "
                        "n INTEGER CHECK (n > 0), u TEXT UNIQUE)", NULL, 0), ASSOC_OK,
         "raw child table");
  is_int(assoc_exec(db, "INSERT INTO child (pid, n) VALUES (7, 1)", NULL, 0),
         ASSOC_FOREIGNKEY, "foreign key violation");
  is_int(assoc_exec(db, "INSERT INTO child (pid, n) VALUES (NULL, 0)", NULL, 0),
         ASSOC_CONSTRAINT, "check violation: CONSTRAINT");
  assoc_exec(db, "INSERT INTO child (u, n) VALUES ('a', 1)", NULL, 0);
  is_int(assoc_exec(db, "INSERT INTO child (u, n) VALUES ('a', 1)", NULL, 0),
         ASSOC_UNIQUE, "unique on a non-model table");
  is_str(assoc_errfield(db), NULL, "no errfield outside models");
  ok(strstr(assoc_errmsg(db), "UNIQUE constraint failed: child.u") != NULL,
     "SQLite's message kept: %s", assoc_errmsg(db));
}

static void test_transactions(assoc_db *db) {
  int at[2] = {0, 1};
  assoc_value v[2];
  is_int(assoc_txn_depth(db), 0, "depth 0");
  is_int(assoc_commit(db), ASSOC_MISUSE, "commit at depth 0");
  is_int(assoc_rollback(db), ASSOC_MISUSE, "rollback at depth 0");
  ntraced = 0;
  assoc_set_trace(db, on_trace, NULL);
  is_int(assoc_begin(db), ASSOC_OK, "begin");
  is_int(assoc_txn_depth(db), 1, "depth 1");
  v[0] = I(10);
  v[1] = I(10);
  assoc_insert(db, Member, at, v, 2, NULL);
  is_int(assoc_begin(db), ASSOC_OK, "nested begin");
  is_int(assoc_txn_depth(db), 2, "depth 2");
  v[0] = I(11);
  assoc_insert(db, Member, at, v, 2, NULL);
  is_int(assoc_begin(db), ASSOC_OK, "third level");
  v[0] = I(12);
  assoc_insert(db, Member, at, v, 2, NULL);
  is_int(assoc_commit(db), ASSOC_OK, "release level 3");
  is_int(assoc_rollback(db), ASSOC_OK, "roll back level 2");
  is_int(assoc_txn_depth(db), 1, "back to depth 1");
  is_int(assoc_commit(db), ASSOC_OK, "commit");
  is_int(assoc_txn_depth(db), 0, "depth 0 again");
  is_int(scalar(db, "SELECT count(*) FROM UserProjects WHERE projectId = 10"), 1,
         "outer insert kept, inner ones rolled back");
  ok(traced_has("BEGIN IMMEDIATE"), "traced BEGIN IMMEDIATE");
  ok(traced_has("SAVEPOINT assoc_sp_1"), "traced SAVEPOINT assoc_sp_1");
  ok(traced_has("SAVEPOINT assoc_sp_2"), "traced SAVEPOINT assoc_sp_2");
  ok(traced_has("RELEASE assoc_sp_2"), "traced RELEASE assoc_sp_2");
  ok(traced_has("ROLLBACK TO assoc_sp_1"), "traced ROLLBACK TO assoc_sp_1");
  ok(traced_has("RELEASE assoc_sp_1"), "traced RELEASE assoc_sp_1");
  ok(traced_has("COMMIT"), "traced COMMIT");
  assoc_set_trace(db, NULL, NULL);

  is_int(assoc_begin(db), ASSOC_OK, "begin again");
  v[0] = I(13);
  assoc_insert(db, Member, at, v, 2, NULL);
  is_int(assoc_rollback(db), ASSOC_OK, "full rollback");
  is_int(scalar(db, "SELECT count(*) FROM UserProjects WHERE userId = 13"), 0,
         "rolled back");

  /* a failing COMMIT keeps the depth */
  assoc_exec(db, "PRAGMA defer_foreign_keys=ON", NULL, 0);
  assoc_begin(db);
  is_int(assoc_exec(db, "INSERT INTO child (pid, n) VALUES (99, 1)", NULL, 0), ASSOC_OK,
         "deferred fk violation accepted for now");
  is_int(assoc_commit(db), ASSOC_FOREIGNKEY, "commit fails on the deferred fk");
  is_int(assoc_txn_depth(db), 1, "depth kept after a failed commit");
  is_int(assoc_rollback(db), ASSOC_OK, "rollback after failed commit");
  is_int(assoc_txn_depth(db), 0, "depth 0");
  assoc_exec(db, "PRAGMA defer_foreign_keys=OFF", NULL, 0);
}

static void test_insert_many(assoc_db *db) {
  int at[2] = {1, 4};
  int at4[3] = {1, 4, 5};
  assoc_value v[9];
  int64_t ids[3] = {0, 0, 0};
  int64_t before = count_of(db, User);
  const char *ts = "2026-01-01T00:00:00.000Z";
  assoc_cache_stats a, b;
  v[0] = S("m1"); v[1] = S(ts); v[2] = S(ts);
  v[3] = S("m2"); v[4] = S(ts); v[5] = S(ts);
  v[6] = S("m3"); v[7] = S(ts); v[8] = S(ts);
  assoc_cache_stats_get(db, &a);
  is_int(assoc_insert_many(db, User, at4, 3, v, 3, ids), ASSOC_OK, "insert_many 3 rows");
  assoc_cache_stats_get(db, &b);
  ok(ids[0] > 0 && ids[1] == ids[0] + 1 && ids[2] == ids[1] + 1, "rowids returned");
  is_int(count_of(db, User), before + 3, "3 rows added");
  is_int(b.misses - a.misses, 1, "one statement prepared for all rows");
  is_int(assoc_txn_depth(db), 0, "transaction closed");
  before = count_of(db, User);
  v[0] = S("n1");
  v[3] = S("n2");
  v[6].type = ASSOC_V_NULL; /* name is NOT NULL: row 3 fails */
  is_int(assoc_insert_many(db, User, at4, 3, v, 3, ids), ASSOC_NOTNULL,
         "a failing row fails insert_many");
  is_str(assoc_errmsg(db), "User.name cannot be null", "the row's error is kept");
  is_int(count_of(db, User), before, "every row rolled back");
  is_int(assoc_txn_depth(db), 0, "no transaction left open");
  /* inside an outer transaction: only its savepoint is rolled back */
  assoc_begin(db);
  assoc_insert(db, User, at4, v, 3, NULL);
  is_int(assoc_insert_many(db, User, at4, 3, v + 3, 2, NULL), ASSOC_NOTNULL,
         "insert_many fails inside a transaction");
  is_int(assoc_txn_depth(db), 1, "outer transaction still open");
  assoc_commit(db);
  is_int(count_of(db, User), before + 1, "outer insert kept");
  is_int(assoc_insert_many(db, User, at, 2, v, 0, NULL), ASSOC_OK, "zero rows is fine");
  {
    assoc_value badv[6] = {S("x"), S(ts), S(ts), S("y"), S(ts), S(ts)};
    badv[4].type = (assoc_vtype)77;
    is_int(assoc_insert_many(db, User, at4, 3, badv, 2, NULL), ASSOC_MISUSE,
           "bad value in row 2");
    ok(strstr(assoc_errmsg(db), "row 2") != NULL, "message names the row: %s", assoc_errmsg(db));
    is_int(count_of(db, User), before + 1, "row 1 rolled back too");
  }
}

static void test_query_rules(assoc_db *db) {
  assoc_rows *r = NULL;
  is_int(assoc_query(db, "SELECT 1; SELECT 2", NULL, 0, &r), ASSOC_MISUSE,
         "a second statement is refused");
  ok(r == NULL, "no rows");
  is_int(assoc_exec(db, "DELETE FROM child; DROP TABLE child", NULL, 0), ASSOC_MISUSE,
         "exec refuses a second statement too");
  is_int(scalar(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'child'"), 1,
         "nothing ran");
  is_int(assoc_query(db, "SELECT 1;  -- trailing\n ; /* c */ ", NULL, 0, &r), ASSOC_OK,
         "trailing semicolons and comments are fine");
  assoc_rows_close(r);
  is_int(assoc_query(db, "  -- only a comment", NULL, 0, &r), ASSOC_MISUSE,
         "no statement at all");
  is_int(assoc_query(db, "SELEC 1", NULL, 0, &r), ASSOC_ERROR, "syntax error");
  is_int(assoc_query(db, NULL, NULL, 0, &r), ASSOC_MISUSE, "NULL sql");
  is_int(assoc_query(db, "SELECT abs(-9223372036854775807 - 1)", NULL, 0, &r), ASSOC_OK,
         "a statement that fails when stepped");
  is_int(assoc_rows_next(r), ASSOC_ERROR, "rows_next reports the error");
  ok(strstr(assoc_errmsg(db), "integer overflow") != NULL, "message: %s", assoc_errmsg(db));
  is_int(assoc_rows_next(r), ASSOC_ERROR, "and keeps reporting it");
  ok(strstr(assoc_errmsg(db), "integer overflow") != NULL, "message kept");
  ok(assoc_errsql(db) != NULL && strstr(assoc_errsql(db), "abs(") != NULL, "errsql of the rows");
  assoc_rows_close(r);
}

static void test_cache(void) {
  assoc_db *db;
  assoc_open_opts o;
  assoc_cache_stats cs;
  assoc_rows *r1, *r2;
  assoc_value v;
  o.busy_timeout_ms = -1;
  o.cache_size = 2;
  assoc_open(":memory:", &o, &db);
  assoc_exec(db, "SELECT 1", NULL, 0);
  assoc_exec(db, "SELECT 1", NULL, 0);
  assoc_cache_stats_get(db, &cs);
  ok(cs.hits == 1 && cs.misses == 1 && cs.size == 1, "a repeated statement hits");
  assoc_exec(db, "SELECT 2", NULL, 0);
  assoc_exec(db, "SELECT 3", NULL, 0);
  assoc_cache_stats_get(db, &cs);
  is_int(cs.evictions, 1, "third statement evicts one");
  is_int(cs.size, 2, "size stays at capacity");
  is_int(cs.capacity, 2, "capacity 2");
  assoc_exec(db, "SELECT 3", NULL, 0);
  assoc_exec(db, "SELECT 2", NULL, 0);
  assoc_cache_stats_get(db, &cs);
  is_int(cs.hits, 3, "recent ones are still cached");
  assoc_exec(db, "SELECT 1", NULL, 0);
  assoc_cache_stats_get(db, &cs);
  is_int(cs.evictions, 2, "the least recently used went");

  /* a busy statement is not handed out twice */
  is_int(assoc_query(db, "SELECT 5 UNION ALL SELECT 6", NULL, 0, &r1), ASSOC_OK, "rows 1");
  is_int(assoc_rows_next(r1), ASSOC_ROW, "rows 1 first row");
  is_int(assoc_query(db, "SELECT 5 UNION ALL SELECT 6", NULL, 0, &r2), ASSOC_OK,
         "same SQL while busy");
  ok(r1 != r2, "a different cursor");
  is_int(assoc_rows_next(r2), ASSOC_ROW, "rows 2 first row");
  assoc_rows_value(r2, 0, &v);
  is_int(v.u.i, 5, "rows 2 starts at the beginning");
  assoc_rows_next(r1);
  assoc_rows_value(r1, 0, &v);
  is_int(v.u.i, 6, "rows 1 goes on undisturbed");
  assoc_rows_close(r2);
  /* evicting a busy statement keeps it alive */
  assoc_exec(db, "SELECT 7", NULL, 0);
  assoc_exec(db, "SELECT 8", NULL, 0);
  assoc_exec(db, "SELECT 9", NULL, 0);
  is_int(assoc_rows_next(r1), ASSOC_DONE, "evicted busy rows still work");
  assoc_rows_close(r1);
  assoc_cache_stats_get(db, &cs);
  is_int(cs.size, 2, "cache within capacity");
  /* rows left open at close are freed by assoc_close */
  assoc_query(db, "SELECT 10", NULL, 0, &r1);
  assoc_close(db);
  ok(1, "close with open rows");
}

static void test_trace(assoc_db *db) {
  assoc_value v = S("secret-value");
  assoc_where w = eq(1, &v);
  assoc_select q = all();
  assoc_rows *r;
  int64_t n;
  ntraced = 0;
  assoc_set_trace(db, on_trace, NULL);
  q.where = &w;
  assoc_find(db, User, &q, &r);
  is_int(ntraced, 0, "not traced before it finishes");
  while (assoc_rows_next(r) == ASSOC_ROW) {
  }
  is_int(ntraced, 1, "traced when done");
  assoc_rows_close(r);
  is_int(ntraced, 1, "close does not trace again");
  ok(strstr(traced[0], "\"name\" = ?") != NULL && strstr(traced[0], "secret") == NULL,
     "placeholders, never values: %s", traced[0]);
  assoc_find(db, User, &q, &r);
  assoc_rows_close(r);
  is_int(ntraced, 2, "closing early traces");
  assoc_count(db, User, &q, &n);
  is_int(ntraced, 3, "count traced once");
  assoc_exec(db, "SELECT 1", NULL, 0);
  is_int(ntraced, 4, "exec traced once");
  assoc_exec(db, "SELEC", NULL, 0);
  is_int(ntraced, 4, "a statement that never ran is not traced");
  assoc_exec(db, "INSERT INTO child (pid, n) VALUES (99, 1)", NULL, 0);
  is_int(ntraced, 5, "a failing statement is traced");
  assoc_set_trace(db, NULL, NULL);
  assoc_exec(db, "SELECT 1", NULL, 0);
  is_int(ntraced, 5, "trace off");
}

static void test_sync_drop(assoc_db *db) {
  assoc_set_trace(db, on_trace, NULL);
  ntraced = 0;
  is_int(assoc_sync(db, 1), ASSOC_OK, "sync force: %s", assoc_errmsg(db));
  ok(traced_has("DROP TABLE IF EXISTS \"Users\""), "force drops tables");
  ok(strcmp(traced[0], "BEGIN IMMEDIATE") == 0, "inside a transaction");
  is_int(count_of(db, User), 0, "tables recreated empty");
  is_int(assoc_drop(db), ASSOC_OK, "drop");
  is_int(scalar(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'Users'"), 0,
         "Users dropped");
  is_int(count_of(db, User), -1, "count on a dropped table fails");
  is_int(assoc_errcode(db), ASSOC_ERROR, "with an SQL error");
  is_int(assoc_sync(db, 0), ASSOC_OK, "sync again");
  assoc_set_trace(db, NULL, NULL);
}

static void test_file(void) {
  char dir[256], path[300];
  const char *tmp = getenv("TMPDIR");
  assoc_db *a, *b;
  assoc_open_opts o;
  snprintf(dir, sizeof dir, "%s/assoc-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (mkdtemp(dir) == NULL) {
    ok(0, "mkdtemp");
    return;
  }
  snprintf(path, sizeof path, "%s/t.db", dir);
  is_int(assoc_open(path, NULL, &a), ASSOC_OK, "open a file database");
  {
    assoc_rows *r;
    assoc_value v;
    assoc_query(a, "PRAGMA journal_mode", NULL, 0, &r);
    assoc_rows_next(r);
    assoc_rows_value(r, 0, &v);
    ok(v.type == ASSOC_V_TEXT && v.u.s.n == 3 && memcmp(v.u.s.p, "wal", 3) == 0,
       "journal_mode is wal");
    assoc_rows_close(r);
  }
  is_int(scalar(a, "PRAGMA synchronous"), 1, "synchronous NORMAL");
  assoc_exec(a, "CREATE TABLE t (x)", NULL, 0);
  o.busy_timeout_ms = 0;
  o.cache_size = 0;
  is_int(assoc_open(path, &o, &b), ASSOC_OK, "second connection");
  is_int(assoc_begin(a), ASSOC_OK, "writer 1 begins IMMEDIATE");
  is_int(assoc_begin(b), ASSOC_BUSY, "writer 2 is busy at once");
  is_int(assoc_txn_depth(b), 0, "writer 2 depth stays 0");
  is_int(assoc_commit(a), ASSOC_OK, "writer 1 commits");
  is_int(assoc_begin(b), ASSOC_OK, "writer 2 can begin now");
  assoc_rollback(b);
  assoc_close(b);
  assoc_close(a);
  unlink(path);
  snprintf(path, sizeof path, "%s/t.db-wal", dir);
  unlink(path);
  snprintf(path, sizeof path, "%s/t.db-shm", dir);
  unlink(path);
  ok(rmdir(dir) == 0, "temp dir cleaned");
}

int main(void) {
  assoc_db *db = NULL;
  test_open();
  test_closed();
  is_int(assoc_open(":memory:", NULL, &db), ASSOC_OK, "open");
  define_models(db);
  test_define(db);
  is_int(assoc_sync(db, 0), ASSOC_OK, "sync: %s", assoc_errmsg(db));
  is_int(assoc_sync(db, 0), ASSOC_OK, "sync twice (IF NOT EXISTS)");
  test_roundtrip(db);
  test_constraints(db);
  test_transactions(db);
  test_insert_many(db);
  test_query_rules(db);
  test_trace(db);
  test_sync_drop(db);
  test_cache();
  test_file();
  assoc_close(db);
  return done_testing();
}
