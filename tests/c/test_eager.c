/*
 * test_eager.c -- the eager loader (core/eager.c): the SQL of every include
 * shape, the number of statements (and that more rows do not change it),
 * stitching of rows under their parents, required/where semantics,
 * de-duplication, per-parent limits keeping their order, pagination of
 * parents ordered by included columns, count with includes, and refused
 * includes.  Associations are filled in by hand (struct assoc_assoc), so
 * the planner is tested apart from association.c.
 */
#include <stdlib.h>

#include "assoc.h"
#include "assoc_int.h"
#include "tap.h"

static assoc_db *db;
static assoc_model *User, *Post, *Comment, *Profile, *Project, *UP, *Tag;
static assoc_assoc UserPosts, PostUser, PostComments, UserProfile,
    UserProjects, ProjectUsers, CommentPost, PostTags, UserBooks;

static int nstmts;
static char lastsql[8][2048];

static void tracer(void *ud, const char *sql, double ms) {
  (void)ud;
  (void)ms;
  if (nstmts < 8) snprintf(lastsql[nstmts], sizeof lastsql[0], "%s", sql);
  nstmts++;
}

static assoc_attr attr(const char *name, assoc_type t, unsigned flags) {
  assoc_attr a;
  memset(&a, 0, sizeof a);
  a.name = name;
  a.type = t;
  a.flags = flags;
  return a;
}

static assoc_model *define(const char *name, const assoc_attr *attrs, int n,
                           unsigned flags, const char *table) {
  assoc_model_def d;
  assoc_model *m = NULL;
  memset(&d, 0, sizeof d);
  d.name = name;
  d.table = table;
  d.attrs = attrs;
  d.nattrs = n;
  d.flags = flags;
  if (assoc_define(db, &d, &m) != ASSOC_OK) {
    printf("Bail out! define %s: %s\n", name, assoc_errmsg(db));
    exit(1);
  }
  return m;
}

static int A(const assoc_model *m, const char *name) {
  int i = assoc_model_attr_index(m, name);
  if (i < 0) {
    printf("Bail out! no attribute %s.%s\n", assoc_model_name(m), name);
    exit(1);
  }
  return i;
}

static void mk(assoc_assoc *a, assoc_kind kind, assoc_model *src,
               assoc_model *tgt, const char *as_s, const char *as_p,
               const char *fk, assoc_model *through, const char *ok) {
  memset(a, 0, sizeof *a);
  a->db = db;
  a->kind = kind;
  a->source = src;
  a->target = tgt;
  a->as_singular = (char *)as_s;
  a->as_plural = (char *)as_p;
  a->through = through;
  a->source_key = assoc_model_pk(src);
  a->target_key = assoc_model_pk(tgt);
  a->other_key = -1;
  switch (kind) {
  case ASSOC_BELONGS_TO: a->fk = A(src, fk); break;
  case ASSOC_HAS_ONE:
  case ASSOC_HAS_MANY: a->fk = A(tgt, fk); break;
  default:
    a->fk = A(through, fk);
    a->other_key = A(through, ok);
    break;
  }
}

static void exec(const char *sql) {
  if (assoc_exec(db, sql, NULL, 0) != ASSOC_OK) {
    printf("Bail out! %s: %s\n", sql, assoc_errmsg(db));
    exit(1);
  }
}

static void setup(void) {
  assoc_attr ua[] = {attr("name", ASSOC_T_STRING, 0)};
  assoc_attr pa[] = {attr("title", ASSOC_T_STRING, 0),
                     attr("userId", ASSOC_T_INTEGER, 0),
                     attr("rank", ASSOC_T_INTEGER, 0)};
  assoc_attr ca[] = {attr("body", ASSOC_T_STRING, 0),
                     attr("postId", ASSOC_T_INTEGER, 0)};
  assoc_attr fa[] = {attr("bio", ASSOC_T_STRING, 0),
                     attr("userId", ASSOC_T_INTEGER, 0)};
  assoc_attr ja[] = {attr("name", ASSOC_T_STRING, 0)};
  assoc_attr jua[] = {attr("userId", ASSOC_T_INTEGER, ASSOC_ATTR_PK),
                      attr("projectId", ASSOC_T_INTEGER, ASSOC_ATTR_PK),
                      attr("role", ASSOC_T_STRING, 0)};
  assoc_attr ta[] = {attr("label", ASSOC_T_STRING, 0),
                     attr("postId", ASSOC_T_INTEGER, 0)};
  if (assoc_open(":memory:", NULL, &db) != ASSOC_OK) {
    printf("Bail out! open\n");
    exit(1);
  }
  User = define("User", ua, 1, 0, NULL);
  Post = define("Post", pa, 3, ASSOC_MODEL_PARANOID, NULL);
  Comment = define("Comment", ca, 2, 0, NULL);
  Profile = define("Profile", fa, 2, 0, NULL);
  Project = define("Project", ja, 1, 0, NULL);
  UP = define("UserProjects", jua, 3, 0, "UserProjects");
  Tag = define("Tag", ta, 2, 0, NULL);
  mk(&UserPosts, ASSOC_HAS_MANY, User, Post, "Post", "Posts", "userId", NULL,
     NULL);
  mk(&PostUser, ASSOC_BELONGS_TO, Post, User, "User", "Users", "userId", NULL,
     NULL);
  mk(&PostComments, ASSOC_HAS_MANY, Post, Comment, "Comment", "Comments",
     "postId", NULL, NULL);
  mk(&CommentPost, ASSOC_BELONGS_TO, Comment, Post, "Post", "Posts", "postId",
     NULL, NULL);
  mk(&UserProfile, ASSOC_HAS_ONE, User, Profile, "Profile", "Profiles",
     "userId", NULL, NULL);
  mk(&UserProjects, ASSOC_BELONGS_TO_MANY, User, Project, "Project",
     "Projects", "userId", UP, "projectId");
  mk(&ProjectUsers, ASSOC_BELONGS_TO_MANY, Project, User, "User", "Users",
     "projectId", UP, "userId");
  mk(&PostTags, ASSOC_HAS_MANY, Post, Tag, "Tag", "Tags", "postId", NULL,
     NULL);
  mk(&UserBooks, ASSOC_HAS_MANY, User, Post, "Book", "Books", "userId", NULL,
     NULL);
  if (assoc_sync(db, 0) != ASSOC_OK) {
    printf("Bail out! sync: %s\n", assoc_errmsg(db));
    exit(1);
  }
}

static assoc_include inc1(const assoc_assoc *a) {
  assoc_include i;
  memset(&i, 0, sizeof i);
  i.assoc = a;
  i.required = -1;
  return i;
}

static assoc_select sel(void) {
  assoc_select q;
  memset(&q, 0, sizeof q);
  q.limit = -1;
  return q;
}

static char *sqlof(const assoc_model *m, const assoc_select *req,
                   const assoc_include *inc, int n,
                   const assoc_eager_order *o, int no, int stmt) {
  static char buf[4096];
  char *s = NULL;
  if (assoc_eager_sql(db, m, req, inc, n, o, no, stmt, &s) != ASSOC_OK) {
    snprintf(buf, sizeof buf, "ERROR: %s", assoc_errmsg(db));
    return buf;
  }
  snprintf(buf, sizeof buf, "%s", s);
  free(s);
  return buf;
}


static void seed(void) {
  exec("INSERT INTO \"Users\" (id, name) VALUES (1, 'alice'), (2, 'bob'), "
       "(3, 'carol')");
  exec("INSERT INTO \"Posts\" (id, title, userId, rank, deletedAt) VALUES "
       "(1, 'b', 1, 2, NULL), (2, 'a', 1, 1, NULL), (3, 'c', 2, 3, NULL), "
       "(4, 'z', 1, 0, '2020-01-01T00:00:00.000Z')");
  exec("INSERT INTO \"Comments\" (id, body, postId) VALUES (1, 'x', 1), "
       "(2, 'y', 1), (3, 'z', 3)");
  exec("INSERT INTO \"Profiles\" (id, bio, userId) VALUES (1, 'A', 1), "
       "(2, 'B', 2), (3, 'B2', 2)");
  exec("INSERT INTO \"Projects\" (id, name) VALUES (1, 'X'), (2, 'Y')");
  exec("INSERT INTO \"UserProjects\" (userId, projectId, role) VALUES "
       "(1, 1, 'owner'), (1, 2, 'member'), (2, 1, 'member')");
  exec("INSERT INTO \"Tags\" (id, label, postId) VALUES (1, 't1', 1), "
       "(2, 't3', 3)");
}

/* ---- rendering a result as text: root pks, each with its children per
 * include: "1(Posts:2,1;Profile:1) 2(...)" ------------------------------- */
typedef struct out {
  char buf[4096];
  size_t n;
} out;

static void put(out *o, const char *s) {
  size_t k = strlen(s);
  if (o->n + k + 1 < sizeof o->buf) {
    memcpy(o->buf + o->n, s, k + 1);
    o->n += k;
  }
}

static void put_row(out *o, const assoc_result *r, int node, int64_t row) {
  const assoc_model *m = assoc_result_model(r, node);
  int pk = assoc_model_pk(m), c, k, nn = assoc_result_nnodes(r), any = 0;
  char tmp[64];
  for (c = 0; c < assoc_result_ncols(r, node); c++) {
    int junc;
    if (assoc_result_attr(r, node, c, &junc) == pk && !junc) {
      assoc_value v;
      assoc_result_value(r, node, row, c, &v);
      if (v.type == ASSOC_V_INT)
        snprintf(tmp, sizeof tmp, "%lld", (long long)v.u.i);
      else
        snprintf(tmp, sizeof tmp, "?");
      put(o, tmp);
    }
  }
  for (k = node + 1; k < nn; k++) {
    const int64_t *rows;
    int64_t n, i;
    const assoc_include *inc;
    if (assoc_result_parent(r, k) != node) continue;
    inc = assoc_result_include(r, k);
    put(o, any++ ? ";" : "(");
    put(o, inc->assoc->kind >= ASSOC_HAS_MANY ? inc->assoc->as_plural
                                              : inc->assoc->as_singular);
    put(o, ":");
    n = assoc_result_children(r, k, row, &rows);
    if (n == 0) put(o, "-");
    for (i = 0; i < n; i++) {
      if (i) put(o, ",");
      put_row(o, r, k, rows[i]);
    }
  }
  if (any) put(o, ")");
}

static char *load(const assoc_model *m, const assoc_select *req,
                  const assoc_include *inc, int n,
                  const assoc_eager_order *o, int no) {
  static out res;
  assoc_result *r = NULL;
  int64_t i;
  res.n = 0;
  res.buf[0] = '\0';
  nstmts = 0;
  if (assoc_find_all(db, m, req, inc, n, o, no, &r) != ASSOC_OK) {
    snprintf(res.buf, sizeof res.buf, "ERROR: %s", assoc_errmsg(db));
    return res.buf;
  }
  for (i = 0; i < assoc_result_nrows(r, 0); i++) {
    if (i) put(&res, " ");
    put_row(&res, r, 0, i);
  }
  if (nstmts != assoc_result_nstatements(r))
    diag("traced %d statements, result says %d", nstmts,
         assoc_result_nstatements(r));
  assoc_result_free(r);
  return res.buf;
}

static int64_t count(const assoc_model *m, const assoc_select *req,
                     const assoc_include *inc, int n) {
  int64_t c = -1;
  nstmts = 0;
  if (assoc_count_all(db, m, req, inc, n, &c) != ASSOC_OK) {
    diag("count: %s", assoc_errmsg(db));
    return -1;
  }
  return c;
}

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

static assoc_where leaf(assoc_op op, int attr, const assoc_value *v) {
  assoc_where w;
  memset(&w, 0, sizeof w);
  w.op = op;
  w.attr = attr;
  w.values = v;
  w.nvalues = 1;
  return w;
}

static void test_sql_shapes(void) {
  assoc_include posts = inc1(&UserPosts);
  assoc_include pkids[] = {inc1(&PostComments), inc1(&PostUser)};
  assoc_include top[] = {posts, inc1(&UserProfile), inc1(&UserProjects)};
  top[0].kids = pkids;
  top[0].nkids = 2;
  is_str(sqlof(User, NULL, top, 3, NULL, 0, 0),
         "SELECT \"t0\".\"id\", \"t0\".\"name\", \"t4\".\"id\", \"t4\".\"bio\", "
         "\"t4\".\"userId\" FROM \"Users\" AS \"t0\" LEFT JOIN \"Profiles\" AS "
         "\"t4\" ON \"t4\".\"userId\" = \"t0\".\"id\"",
         "root: to-one includes are LEFT JOINed, to-many ones are not");
  is_str(sqlof(User, NULL, top, 3, NULL, 0, 1),
         "SELECT \"t1\".\"userId\", \"t1\".\"id\", \"t1\".\"title\", "
         "\"t1\".\"userId\", \"t1\".\"rank\", \"t1\".\"deletedAt\", "
         "\"t3\".\"id\", \"t3\".\"name\" FROM \"Posts\" AS \"t1\" LEFT JOIN "
         "\"Users\" AS \"t3\" ON \"t3\".\"id\" = \"t1\".\"userId\" WHERE "
         "\"t1\".\"userId\" IS NOT NULL AND \"t1\".\"deletedAt\" IS NULL",
         "hasMany of every user: one statement scanning the posts, its "
         "belongsTo joined, soft-deleted rows hidden");
  is_str(sqlof(User, NULL, top, 3, NULL, 0, 2),
         "SELECT \"t2\".\"postId\", \"t2\".\"id\", \"t2\".\"body\", "
         "\"t2\".\"postId\" FROM \"Comments\" AS \"t2\" WHERE "
         "\"t2\".\"postId\" IN (SELECT value FROM json_each(?))",
         "nested hasMany: its own statement");
  is_str(sqlof(User, NULL, top, 3, NULL, 0, 3),
         "SELECT \"j5\".\"userId\", \"t5\".\"id\", \"t5\".\"name\", "
         "\"j5\".\"userId\", \"j5\".\"projectId\", \"j5\".\"role\" FROM "
         "\"Projects\" AS \"t5\" INNER JOIN \"UserProjects\" AS \"j5\" ON "
         "\"j5\".\"projectId\" = \"t5\".\"id\" WHERE \"j5\".\"userId\" IS NOT "
         "NULL",
         "belongsToMany: target joined to the junction, keyed by the "
         "junction's foreign key, junction columns selected");
  ok(strncmp(sqlof(User, NULL, top, 3, NULL, 0, 4), "ERROR", 5) == 0,
     "there are exactly 4 statements");
  {
    /* a page of users: their posts and projects by key, one JSON array */
    assoc_select q = sel();
    q.limit = 10;
    is_str(sqlof(User, &q, top, 3, NULL, 0, 1),
           "SELECT \"t1\".\"userId\", \"t1\".\"id\", \"t1\".\"title\", "
           "\"t1\".\"userId\", \"t1\".\"rank\", \"t1\".\"deletedAt\", "
           "\"t3\".\"id\", \"t3\".\"name\" FROM \"Posts\" AS \"t1\" LEFT JOIN "
           "\"Users\" AS \"t3\" ON \"t3\".\"id\" = \"t1\".\"userId\" WHERE "
           "\"t1\".\"userId\" IN (SELECT value FROM json_each(?)) AND "
           "\"t1\".\"deletedAt\" IS NULL",
           "hasMany of some users: by their keys, bound as one JSON array");
    is_str(sqlof(User, &q, top, 3, NULL, 0, 3),
           "SELECT \"j5\".\"userId\", \"t5\".\"id\", \"t5\".\"name\", "
           "\"j5\".\"userId\", \"j5\".\"projectId\", \"j5\".\"role\" FROM "
           "\"Projects\" AS \"t5\" INNER JOIN \"UserProjects\" AS \"j5\" ON "
           "\"j5\".\"projectId\" = \"t5\".\"id\" WHERE \"j5\".\"userId\" IN "
           "(SELECT value FROM json_each(?))",
           "belongsToMany of some users: by the junction's key");
  }
  is_str(sqlof(User, NULL, top, 3, NULL, 0, -1),
         "SELECT count(*) FROM \"Users\" AS \"t0\"",
         "count without required includes: no join");

  /* required and where */
  {
    assoc_value a = S("a%");
    assoc_where w = leaf(ASSOC_OP_LIKE, A(Post, "title"), &a);
    assoc_select q = sel();
    assoc_include req[] = {inc1(&UserPosts)};
    q.where = &w;
    req[0].req = &q;
    is_str(sqlof(User, NULL, req, 1, NULL, 0, 0),
           "SELECT \"t0\".\"id\", \"t0\".\"name\" FROM \"Users\" AS \"t0\" "
           "WHERE EXISTS (SELECT 1 FROM \"Posts\" AS \"x1\" WHERE "
           "\"x1\".\"userId\" = \"t0\".\"id\" AND \"x1\".\"deletedAt\" IS NULL "
           "AND \"x1\".\"title\" LIKE ?)",
           "a where makes a to-many include required: EXISTS on the parent");
    is_str(sqlof(User, NULL, req, 1, NULL, 0, -1),
           "SELECT count(*) FROM \"Users\" AS \"t0\" WHERE EXISTS (SELECT 1 "
           "FROM \"Posts\" AS \"x1\" WHERE \"x1\".\"userId\" = \"t0\".\"id\" "
           "AND \"x1\".\"deletedAt\" IS NULL AND \"x1\".\"title\" LIKE ?)",
           "count: the same EXISTS, so it counts distinct parents");
    req[0].required = 0;
    is_str(sqlof(User, NULL, req, 1, NULL, 0, 0),
           "SELECT \"t0\".\"id\", \"t0\".\"name\" FROM \"Users\" AS \"t0\"",
           "required = 0: the where only filters the children");
    is_str(sqlof(User, NULL, req, 1, NULL, 0, 1),
           "SELECT \"t1\".\"userId\", \"t1\".\"id\", \"t1\".\"title\", "
           "\"t1\".\"userId\", \"t1\".\"rank\", \"t1\".\"deletedAt\" FROM "
           "\"Posts\" AS \"t1\" WHERE \"t1\".\"userId\" IS NOT NULL AND "
           "\"t1\".\"deletedAt\" IS NULL AND \"t1\".\"title\" LIKE ?",
           "the include's where in its statement");
  }
  {
    assoc_value a = S("alice");
    assoc_where w = leaf(ASSOC_OP_EQ, A(User, "name"), &a);
    assoc_select q = sel();
    assoc_include au[] = {inc1(&PostUser)};
    q.where = &w;
    au[0].req = &q;
    is_str(sqlof(Post, NULL, au, 1, NULL, 0, 0),
           "SELECT \"t0\".\"id\", \"t0\".\"title\", \"t0\".\"userId\", "
           "\"t0\".\"rank\", \"t0\".\"deletedAt\", \"t1\".\"id\", "
           "\"t1\".\"name\" FROM \"Posts\" AS \"t0\" INNER JOIN \"Users\" AS "
           "\"t1\" ON \"t1\".\"id\" = \"t0\".\"userId\" AND \"t1\".\"name\" = ? "
           "WHERE \"t0\".\"deletedAt\" IS NULL",
           "a required to-one: INNER JOIN with the where in ON");
    is_str(sqlof(Post, NULL, au, 1, NULL, 0, -1),
           "SELECT count(*) FROM \"Posts\" AS \"t0\" WHERE \"t0\".\"deletedAt\" "
           "IS NULL AND EXISTS (SELECT 1 FROM \"Users\" AS \"x1\" WHERE "
           "\"x1\".\"id\" = \"t0\".\"userId\" AND \"x1\".\"name\" = ?)",
           "count with a required to-one: EXISTS, never a join");
  }
  {
    /* Comment -> Post (optional) -> User (required): the User condition
     * goes into Post's ON, so a comment keeps a null post */
    assoc_include user = inc1(&PostUser);
    assoc_include post = inc1(&CommentPost);
    user.required = 1;
    post.kids = &user;
    post.nkids = 1;
    is_str(sqlof(Comment, NULL, &post, 1, NULL, 0, 0),
           "SELECT \"t0\".\"id\", \"t0\".\"body\", \"t0\".\"postId\", "
           "\"t1\".\"id\", \"t1\".\"title\", \"t1\".\"userId\", \"t1\".\"rank\", "
           "\"t1\".\"deletedAt\", \"t2\".\"id\", \"t2\".\"name\" FROM "
           "\"Comments\" AS \"t0\" LEFT JOIN \"Posts\" AS \"t1\" ON "
           "\"t1\".\"id\" = \"t0\".\"postId\" AND \"t1\".\"deletedAt\" IS NULL "
           "AND EXISTS (SELECT 1 FROM \"Users\" AS \"x2\" WHERE \"x2\".\"id\" = "
           "\"t1\".\"userId\") LEFT JOIN \"Users\" AS \"t2\" ON \"t2\".\"id\" = "
           "\"t1\".\"userId\"",
           "a required include under an optional to-one: EXISTS in the "
           "parent's ON");
  }
  {
    /* per-parent limit: window function, order kept */
    assoc_order o = {A(Post, "rank"), 1};
    assoc_select q = sel();
    assoc_include lim = inc1(&UserPosts);
    q.order = &o;
    q.norder = 1;
    q.limit = 2;
    q.offset = 1;
    lim.req = &q;
    is_str(sqlof(User, NULL, &lim, 1, NULL, 0, 1),
           "SELECT * FROM (SELECT \"t1\".\"userId\", \"t1\".\"id\", "
           "\"t1\".\"title\", \"t1\".\"userId\", \"t1\".\"rank\", "
           "\"t1\".\"deletedAt\", row_number() OVER (PARTITION BY "
           "\"t1\".\"userId\" ORDER BY \"t1\".\"rank\" DESC, \"t1\".\"id\" ASC) "
           "AS \"rn_\" FROM \"Posts\" AS \"t1\" WHERE \"t1\".\"userId\" IS NOT "
           "NULL AND \"t1\".\"deletedAt\" IS NULL) "
           "WHERE \"rn_\" > ? AND \"rn_\" <= ? ORDER BY \"rn_\"",
           "per-parent limit/offset: ROW_NUMBER() over the include's order");
  }
  {
    /* top-level order by included columns */
    assoc_include pu[] = {inc1(&UserPosts), inc1(&UserProfile),
                          inc1(&UserProjects)};
    assoc_eager_order o[] = {{1, A(Post, "title"), 1, 0},
                             {2, A(Profile, "bio"), 0, 0},
                             {3, A(UP, "role"), 0, 1}};
    assoc_select q = sel();
    q.limit = 10;
    is_str(sqlof(User, &q, pu, 3, o, 3, 0),
           "SELECT \"t0\".\"id\", \"t0\".\"name\", \"t2\".\"id\", "
           "\"t2\".\"bio\", \"t2\".\"userId\" FROM \"Users\" AS \"t0\" LEFT "
           "JOIN \"Profiles\" AS \"t2\" ON \"t2\".\"userId\" = \"t0\".\"id\" "
           "GROUP BY \"t0\".\"id\" ORDER BY (SELECT max(\"o1\".\"title\") FROM \"Posts\" AS \"o1\" "
           "WHERE \"o1\".\"userId\" = \"t0\".\"id\" AND \"o1\".\"deletedAt\" IS "
           "NULL) DESC, \"t2\".\"bio\" ASC, (SELECT min(\"p3\".\"role\") FROM "
           "\"Projects\" AS \"o3\" INNER JOIN \"UserProjects\" AS \"p3\" ON "
           "\"p3\".\"projectId\" = \"o3\".\"id\" WHERE \"p3\".\"userId\" = "
           "\"t0\".\"id\") ASC, \"t0\".\"id\" ASC LIMIT ?",
           "order by a to-many column (MAX for DESC), a joined column, a "
           "junction column (MIN for ASC); the limit counts parents (grouped: "
           "the hasOne may repeat a row)");
    is_str(sqlof(User, &q, pu, 3, o, 3, 1),
           "SELECT \"t1\".\"userId\", \"t1\".\"id\", \"t1\".\"title\", "
           "\"t1\".\"userId\", \"t1\".\"rank\", \"t1\".\"deletedAt\" FROM "
           "\"Posts\" AS \"t1\" WHERE \"t1\".\"userId\" IN (SELECT value FROM "
           "json_each(?)) AND \"t1\".\"deletedAt\" IS NULL ORDER BY "
           "\"t1\".\"title\" DESC, \"t1\".\"id\" ASC",
           "the same order sorts the children");
  }
  {
    /* nested order path through two to-many nodes */
    assoc_include c = inc1(&PostComments);
    assoc_include pp = inc1(&UserPosts);
    assoc_eager_order o = {2, A(Comment, "body"), 0, 0};
    pp.kids = &c;
    pp.nkids = 1;
    is_str(sqlof(User, NULL, &pp, 1, &o, 1, 0),
           "SELECT \"t0\".\"id\", \"t0\".\"name\" FROM \"Users\" AS \"t0\" "
           "ORDER BY (SELECT min(\"o2\".\"body\") FROM \"Posts\" AS \"o1\" "
           "INNER JOIN \"Comments\" AS \"o2\" ON \"o2\".\"postId\" = "
           "\"o1\".\"id\" WHERE \"o1\".\"userId\" = \"t0\".\"id\" AND "
           "\"o1\".\"deletedAt\" IS NULL) ASC, \"t0\".\"id\" ASC",
           "order by a nested path: one subquery along the path");
  }
  {
    /* through where and attributes */
    assoc_value own = S("owner");
    assoc_where w = leaf(ASSOC_OP_EQ, A(UP, "role"), &own);
    int ta[] = {A(UP, "role")};
    assoc_through_req t = {ta, 1, &w};
    assoc_include pj = inc1(&UserProjects);
    pj.through = &t;
    is_str(sqlof(User, NULL, &pj, 1, NULL, 0, 1),
           "SELECT \"j1\".\"userId\", \"t1\".\"id\", \"t1\".\"name\", "
           "\"j1\".\"role\" FROM \"Projects\" AS \"t1\" INNER JOIN "
           "\"UserProjects\" AS \"j1\" ON \"j1\".\"projectId\" = \"t1\".\"id\" "
           "AND \"j1\".\"role\" = ? WHERE \"j1\".\"userId\" IS NOT NULL",
           "through: where on the junction join, only the listed columns");
    t.nattrs = 0;
    ok(strstr(sqlof(User, NULL, &pj, 1, NULL, 0, 1), "\"j1\".\"role\" FROM") ==
           NULL,
       "through attributes = {}: no junction columns");
  }
}

static void test_loading(void) {
  assoc_include posts = inc1(&UserPosts);
  assoc_include pkids[] = {inc1(&PostComments), inc1(&PostUser)};
  assoc_include top[] = {posts, inc1(&UserProfile), inc1(&UserProjects)};
  top[0].kids = pkids;
  top[0].nkids = 2;
  is_str(load(User, NULL, top, 3, NULL, 0),
         "1(Posts:1(Comments:1,2;User:1),2(Comments:-;User:1);Profile:1;"
         "Projects:1,2) "
         "2(Posts:3(Comments:3;User:2);Profile:2;Projects:1) "
         "3(Posts:-;Profile:-;Projects:-)",
         "a whole graph: children under their parents, soft-deleted post 4 "
         "hidden, user 2's second profile dropped (hasOne keeps one)");
  is_int(nstmts, 4, "4 statements: root (+profile), posts (+user), "
         "comments, projects");
  {
    /* projects with their users: a user under two projects appears twice */
    assoc_include pu = inc1(&ProjectUsers);
    assoc_include up2 = inc1(&UserPosts);
    pu.kids = &up2;
    pu.nkids = 1;
    is_str(load(Project, NULL, &pu, 1, NULL, 0),
           "1(Users:1(Posts:1,2),2(Posts:3)) 2(Users:1(Posts:1,2))",
           "a target shared by two parents is stitched under both, with its "
           "own children each time");
    is_int(nstmts, 3, "3 statements");
  }
  /* more rows: the same number of statements */
  exec("INSERT INTO \"Users\" (id, name) VALUES (4, 'dan'), (5, 'eve')");
  exec("INSERT INTO \"Posts\" (id, title, userId, rank) VALUES "
       "(5, 'd', 4, 1), (6, 'e', 4, 2), (7, 'f', 5, 1), (8, 'g', 5, 2)");
  exec("INSERT INTO \"Comments\" (id, body, postId) VALUES (4, 'w', 5), "
       "(5, 'v', 6), (6, 'u', 8)");
  exec("INSERT INTO \"UserProjects\" (userId, projectId, role) VALUES "
       "(4, 2, 'owner'), (5, 2, 'member')");
  load(User, NULL, top, 3, NULL, 0);
  is_int(nstmts, 4, "twice the rows: still 4 statements");
  exec("DELETE FROM \"Comments\" WHERE id > 3");
  exec("DELETE FROM \"UserProjects\" WHERE userId > 3");
  exec("DELETE FROM \"Posts\" WHERE id > 4");
  exec("DELETE FROM \"Users\" WHERE id > 3");
  /* no rows at all: still the same statements */
  {
    assoc_value none = I(99);
    assoc_where w = leaf(ASSOC_OP_EQ, A(User, "id"), &none);
    assoc_select q = sel();
    q.where = &w;
    is_str(load(User, &q, top, 3, NULL, 0), "", "no root rows");
    is_int(nstmts, 4, "no rows: still 4 statements");
  }
}

static void test_required(void) {
  assoc_value a = S("x");
  assoc_where w = leaf(ASSOC_OP_EQ, A(Comment, "body"), &a);
  assoc_select cq = sel();
  assoc_include c = inc1(&PostComments);
  assoc_include p = inc1(&UserPosts);
  cq.where = &w;
  c.req = &cq;
  p.kids = &c;
  p.nkids = 1;
  is_str(load(User, NULL, &p, 1, NULL, 0),
         "1(Posts:1(Comments:1)) 2(Posts:-) 3(Posts:-)",
         "a required grandchild drops the posts without a match; the optional "
         "posts keep every user");
  p.required = 1;
  is_str(load(User, NULL, &p, 1, NULL, 0), "1(Posts:1(Comments:1))",
         "required posts with a required comment: only user 1");
  is_int(count(User, NULL, &p, 1), 1, "count agrees");
  c.required = 0;
  is_str(load(User, NULL, &p, 1, NULL, 0),
         "1(Posts:1(Comments:1),2(Comments:-)) 2(Posts:3(Comments:-))",
         "required posts, optional filtered comments");
  is_int(count(User, NULL, &p, 1), 2, "count: 2 users have posts");
  is_int(nstmts, 1, "count: one statement");
  {
    /* required belongsTo on posts: posts whose user matches */
    assoc_value al = S("alice");
    assoc_where uw = leaf(ASSOC_OP_EQ, A(User, "name"), &al);
    assoc_select uq = sel();
    assoc_include u = inc1(&PostUser);
    uq.where = &uw;
    u.req = &uq;
    is_str(load(Post, NULL, &u, 1, NULL, 0), "1(User:1) 2(User:1)",
           "a where on a belongsTo: INNER JOIN drops the other posts");
    u.required = 0;
    is_str(load(Post, NULL, &u, 1, NULL, 0), "1(User:1) 2(User:1) 3(User:-)",
           "required = 0: every post, the user only where it matches");
  }
}

static void test_pagination(void) {
  /* users ordered by their latest post title, 2 per page: every user keeps
   * all its posts */
  assoc_include p = inc1(&UserPosts);
  assoc_eager_order o = {1, A(Post, "title"), 1, 0};
  assoc_select q = sel();
  q.limit = 2;
  is_str(load(User, &q, &p, 1, &o, 1), "2(Posts:3) 1(Posts:1,2)",
         "limit counts parents; ordered by MAX(title) desc; children sorted "
         "by title desc too");
  q.offset = 2;
  is_str(load(User, &q, &p, 1, &o, 1), "3(Posts:-)",
         "page 2: the user without posts (NULL sorts last in DESC)");
  {
    assoc_include c = inc1(&PostComments);
    assoc_eager_order oc = {2, A(Comment, "body"), 0, 0};
    assoc_select q2 = sel();
    p.kids = &c;
    p.nkids = 1;
    q2.limit = 1;
    is_str(load(User, &q2, &p, 1, &oc, 1), "3(Posts:-)",
           "order by a nested column: the user with no comments (NULL) first");
    oc.desc = 1;
    is_str(load(User, &q2, &p, 1, &oc, 1),
           "2(Posts:3(Comments:3))", "desc: the user whose comment is 'z'");
    p.nkids = 0;
  }
  {
    assoc_order ro = {A(Post, "rank"), 1};
    assoc_select pq = sel();
    assoc_include lim = inc1(&UserPosts);
    pq.order = &ro;
    pq.norder = 1;
    pq.limit = 1;
    lim.req = &pq;
    is_str(load(User, NULL, &lim, 1, NULL, 0),
           "1(Posts:1) 2(Posts:3) 3(Posts:-)",
           "per-parent limit 1 by rank desc: each user's top post");
    ro.desc = 0;
    pq.limit = 5;
    is_str(load(User, NULL, &lim, 1, NULL, 0),
           "1(Posts:2,1) 2(Posts:3) 3(Posts:-)",
           "per-parent limit keeps the requested order");
    pq.offset = 1;
    is_str(load(User, NULL, &lim, 1, NULL, 0),
           "1(Posts:1) 2(Posts:-) 3(Posts:-)", "per-parent offset");
  }
}

static void test_has_one_twice(void) {
  /* user 2 has two profiles: a hasOne keeps one, and the limit still
   * counts users */
  assoc_include pf = inc1(&UserProfile);
  assoc_select q = sel();
  assoc_order o = {A(User, "id"), 0};
  q.order = &o;
  q.norder = 1;
  q.limit = 2;
  q.offset = 1;
  is_str(load(User, &q, &pf, 1, NULL, 0), "2(Profile:2) 3(Profile:-)",
         "limit/offset count users even when a hasOne repeats a row");
  ok(strstr(sqlof(User, &q, &pf, 1, NULL, 0, 0), "GROUP BY \"t0\".\"id\"") != NULL,
     "the root statement groups by the primary key then");
  q.limit = -1;
  q.offset = 0;
  ok(strstr(sqlof(User, &q, &pf, 1, NULL, 0, 0), "GROUP BY") == NULL,
     "but not without a limit");
  is_str(load(User, &q, &pf, 1, NULL, 0), "1(Profile:1) 2(Profile:2) 3(Profile:-)",
         "without a limit the repeated row is dropped in C");
}

static void test_side_by_side(void) {
  /* two to-many includes side by side: no cartesian product */
  assoc_include two[] = {inc1(&UserPosts), inc1(&UserProjects),
                         inc1(&UserBooks)};
  assoc_result *r = NULL;
  is_str(load(User, NULL, two, 3, NULL, 0),
         "1(Posts:1,2;Projects:1,2;Books:1,2) 2(Posts:3;Projects:1;Books:3) "
         "3(Posts:-;Projects:-;Books:-)",
         "three to-many includes side by side");
  ok(assoc_find_all(db, User, NULL, two, 3, NULL, 0, &r) == ASSOC_OK, "load");
  is_int(assoc_result_nrows(r, 0), 3, "3 users");
  is_int(assoc_result_nrows(r, 1), 3, "3 posts (no product)");
  is_int(assoc_result_nrows(r, 2), 3, "3 project links");
  is_int(assoc_result_nstatements(r), 4, "1 + 3 statements");
  assoc_result_free(r);
}

static void test_dedup(void) {
  /* a junction without a unique key linking a pair twice */
  assoc_attr la[] = {attr("userId", ASSOC_T_INTEGER, 0),
                     attr("projectId", ASSOC_T_INTEGER, 0)};
  assoc_model *Likes = define("Likes", la, 2, 0, "Likes");
  assoc_assoc liked;
  mk(&liked, ASSOC_BELONGS_TO_MANY, User, Project, "Liked", "Liked", "userId",
     Likes, "projectId");
  exec("CREATE TABLE \"Likes\" (id INTEGER PRIMARY KEY, userId INTEGER, "
       "projectId INTEGER)");
  exec("INSERT INTO \"Likes\" (userId, projectId) VALUES (1, 1), (1, 1), "
       "(1, 2), (2, 2)");
  {
    assoc_include l = inc1(&liked);
    int none[1];
    assoc_through_req t = {none, 0, NULL};
    l.through = &t;
    is_str(load(User, NULL, &l, 1, NULL, 0),
           "1(Liked:1,2) 2(Liked:2) 3(Liked:-)",
           "a pair linked twice is loaded once");
  }
}

static void test_errors(void) {
  assoc_include bad = inc1(&PostUser);
  assoc_result *r = (assoc_result *)1;
  is_int(assoc_find_all(db, User, NULL, &bad, 1, NULL, 0, &r), ASSOC_MISUSE,
         "an association of another model is refused");
  ok(r == NULL, "no result on failure");
  ok(strstr(assoc_errmsg(db), "User is an association of Post, not of User") !=
         NULL,
     "message: %s", assoc_errmsg(db));
  bad = inc1(&UserProfile);
  bad.separate = 1;
  is_int(assoc_find_all(db, User, NULL, &bad, 1, NULL, 0, &r), ASSOC_MISUSE,
         "separate on a hasOne is refused");
  ok(strstr(assoc_errmsg(db), "separate applies to hasMany and belongsToMany") !=
         NULL,
     "message: %s", assoc_errmsg(db));
  {
    assoc_select q = sel();
    q.limit = 1;
    bad = inc1(&UserProfile);
    bad.req = &q;
    is_int(assoc_find_all(db, User, NULL, &bad, 1, NULL, 0, &r), ASSOC_MISUSE,
           "a limit on a hasOne is refused");
  }
  {
    assoc_through_req t = {NULL, -1, NULL};
    bad = inc1(&UserPosts);
    bad.through = &t;
    is_int(assoc_find_all(db, User, NULL, &bad, 1, NULL, 0, &r), ASSOC_MISUSE,
           "through on a hasMany is refused");
  }
  {
    assoc_eager_order o = {5, 0, 0, 0};
    bad = inc1(&UserPosts);
    is_int(assoc_find_all(db, User, NULL, &bad, 1, &o, 1, &r), ASSOC_MISUSE,
           "an order naming a node that does not exist is refused");
    o.node = 1;
    o.junction = 1;
    is_int(assoc_find_all(db, User, NULL, &bad, 1, &o, 1, &r), ASSOC_MISUSE,
           "a junction order on a hasMany is refused");
  }
  {
    assoc_include sep = inc1(&UserProjects);
    sep.separate = 1;
    is_str(load(User, NULL, &sep, 1, NULL, 0),
           "1(Projects:1,2) 2(Projects:1) 3(Projects:-)",
           "separate on a belongsToMany is fine (#4376)");
  }
}

int main(void) {
  setup();
  assoc_set_trace(db, tracer, NULL);
  seed();
  test_sql_shapes();
  test_loading();
  test_required();
  test_pagination();
  test_has_one_twice();
  test_side_by_side();
  test_dedup();
  test_errors();
  assoc_close(db);
  return done_testing();
}
