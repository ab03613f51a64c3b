/*
 * test_assoc.c -- associations in the C core: the key/name inference table,
 * pairing and conflicts, junction models, the DDL after sync (checked with
 * PRAGMA table_info / foreign_key_list), every accessor's SQL and statement
 * count (through the trace callback), atomicity of set, the "better than
 * Sequelize" cases (NOT NULL hasMany remove deletes, scoped junction remove
 * touches only its scope, per-target through values) and every misuse.
 */
#include <stdlib.h>

#include "assoc.h"
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

/* ---- trace capture ---- */
#define MAXTRACE 64
static char traced[MAXTRACE][1024];
static int ntraced;
static void on_trace(void *ud, const char *sql, double ms) {
  (void)ud;
  (void)ms;
  if (ntraced < MAXTRACE) snprintf(traced[ntraced], sizeof traced[0], "%s", sql);
  ntraced++;
}
static void trace_reset(void) { ntraced = 0; }

static assoc_db *db;

static assoc_db *fresh(void) {
  assoc_close(db);
  db = NULL;
  if (assoc_open(":memory:", NULL, &db) != ASSOC_OK) {
    printf("Bail out! cannot open\n");
    exit(1);
  }
  assoc_set_trace(db, on_trace, NULL);
  return db;
}

static assoc_model *model(const char *name, const assoc_attr *attrs, int n,
                          unsigned flags) {
  assoc_model_def d;
  assoc_model *m = NULL;
  memset(&d, 0, sizeof d);
  d.name = name;
  d.attrs = attrs;
  d.nattrs = n;
  d.flags = flags;
  if (assoc_define(db, &d, &m) != ASSOC_OK)
    diag("define %s: %s", name, assoc_errmsg(db));
  return m;
}

static assoc_model *named(const char *name) {
  assoc_attr a = attr("name", ASSOC_T_STRING, 0);
  return model(name, &a, 1, 0);
}

static assoc_assoc_def adef(assoc_kind k, assoc_model *s, assoc_model *t) {
  assoc_assoc_def d;
  memset(&d, 0, sizeof d);
  d.kind = k;
  d.source = s;
  d.target = t;
  d.foreign_key_allow_null = -1;
  d.through_unique = -1;
  d.through_timestamps = -1;
  d.constraints = -1;
  return d;
}

static assoc_assoc *mk(const assoc_assoc_def *d) {
  assoc_assoc *a = NULL;
  if (assoc_associate(db, d, &a) != ASSOC_OK)
    diag("associate: %s", assoc_errmsg(db));
  return a;
}

static int64_t scalar(const char *sql) {
  assoc_rows *r;
  assoc_value v;
  int64_t out = -999;
  if (assoc_query(db, sql, NULL, 0, &r) != ASSOC_OK) {
    diag("%s: %s", sql, assoc_errmsg(db));
    return -999;
  }
  if (assoc_rows_next(r) == ASSOC_ROW) {
    assoc_rows_value(r, 0, &v);
    if (v.type == ASSOC_V_INT) out = v.u.i;
  }
  assoc_rows_close(r);
  return out;
}

/* Rows of a query joined as "a|b|c;a|b|c" into a static buffer. */
static const char *rowstr(const char *sql, const char *param) {
  static char buf[4096];
  assoc_rows *r;
  assoc_value p = S(param ? param : ""), v;
  size_t n = 0;
  int c, rc;
  buf[0] = '\0';
  if (assoc_query(db, sql, &p, param ? 1 : 0, &r) != ASSOC_OK) {
    snprintf(buf, sizeof buf, "ERROR %s", assoc_errmsg(db));
    return buf;
  }
  while ((rc = assoc_rows_next(r)) == ASSOC_ROW) {
    if (n) n += (size_t)snprintf(buf + n, sizeof buf - n, ";");
    for (c = 0; c < assoc_rows_ncols(r); c++) {
      assoc_rows_value(r, c, &v);
      if (c) n += (size_t)snprintf(buf + n, sizeof buf - n, "|");
      if (v.type == ASSOC_V_INT)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%lld", (long long)v.u.i);
      else if (v.type == ASSOC_V_TEXT)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%.*s", (int)v.u.s.n,
                              v.u.s.p);
      else if (v.type == ASSOC_V_NULL)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "NULL");
      if (n >= sizeof buf) n = sizeof buf - 1;
    }
  }
  assoc_rows_close(r);
  return buf;
}

static const char *fks(const char *table) {
  return rowstr("SELECT \"from\", \"table\", \"to\", on_delete, on_update FROM "
                "pragma_foreign_key_list(?) ORDER BY \"from\"",
                table);
}
static const char *cols(const char *table) {
  return rowstr("SELECT name, type, \"notnull\", pk FROM pragma_table_info(?)",
                table);
}

static void exec(const char *sql) {
  if (assoc_exec(db, sql, NULL, 0) != ASSOC_OK)
    diag("%s: %s", sql, assoc_errmsg(db));
}

/* ---- names and keys ------------------------------------------------------------ */

static void test_names(void) {
  assoc_model *User, *Post, *Project, *Person, *Category, *Profile, *Team;
  assoc_assoc *a;
  assoc_assoc_def d;
  fresh();
  User = named("User");
  Post = named("Post");
  Project = named("Project");
  Person = named("Person");
  Category = named("Category");
  Profile = named("Profile");
  Team = named("Team");
  is_str(assoc_model_table(Person), "People", "Person -> table People");
  is_str(assoc_model_table(Category), "Categories", "Category -> Categories");

  d = adef(ASSOC_HAS_MANY, User, Post);
  a = mk(&d);
  ok(a != NULL, "User.hasMany(Post)");
  is_int(assoc_assoc_kind(a), ASSOC_HAS_MANY, "kind");
  ok(assoc_assoc_source(a) == User && assoc_assoc_target(a) == Post,
     "source/target");
  ok(assoc_assoc_through(a) == NULL, "no junction");
  is_str(assoc_assoc_as(a, 1), "Posts", "as: Posts");
  is_str(assoc_assoc_as(a, 0), "Post", "singular: Post");
  is_str(assoc_assoc_key(a, ASSOC_KEY_FOREIGN), "userId", "fk userId");
  is_str(assoc_assoc_key(a, ASSOC_KEY_SOURCE), "id", "sourceKey id");
  is_str(assoc_assoc_key(a, ASSOC_KEY_TARGET), "id", "targetKey id (Post pk)");
  ok(assoc_assoc_key(a, ASSOC_KEY_OTHER) == NULL, "no otherKey");
  is_str(assoc_assoc_source_attr(a), "id", "source attr id");
  is_str(assoc_assoc_target_attr(a), "id", "target attr id");
  is_int(assoc_assoc_fk_allow_null(a), 1, "fk nullable by default");
  is_str(assoc_assoc_accessor(a, ASSOC_ACC_GET), "getPosts", "getPosts");
  is_str(assoc_assoc_accessor(a, ASSOC_ACC_SET), "setPosts", "setPosts");
  is_str(assoc_assoc_accessor(a, ASSOC_ACC_CREATE), "createPost", "createPost");
  is_str(assoc_assoc_accessor(a, ASSOC_ACC_COUNT), "countPosts", "countPosts");
  is_str(assoc_assoc_accessor(a, ASSOC_ACC_HAS_ONE), "hasPost", "hasPost");
  is_str(assoc_assoc_accessor(a, ASSOC_ACC_HAS_MANY), "hasPosts", "hasPosts");
  is_str(assoc_assoc_accessor(a, ASSOC_ACC_ADD_ONE), "addPost", "addPost");
  is_str(assoc_assoc_accessor(a, ASSOC_ACC_ADD_MANY), "addPosts", "addPosts");
  is_str(assoc_assoc_accessor(a, ASSOC_ACC_REMOVE_ONE), "removePost",
         "removePost");
  is_str(assoc_assoc_accessor(a, ASSOC_ACC_REMOVE_MANY), "removePosts",
         "removePosts");
  ok(assoc_assoc_accessor(a, ASSOC_ACC__COUNT) == NULL, "accessor out of range");
  ok(assoc_model_attr_index(Post, "userId") >= 0, "Post gained userId");
  {
    int key = -2;
    const assoc_model *rm =
        assoc_model_ref(Post, assoc_model_attr_index(Post, "userId"), &key);
    ok(rm == User && key == 0, "Post.userId references User.id");
    ok(assoc_model_ref(Post, 0, &key) == NULL && key == -1,
       "Post.id references nothing");
  }
  is_int(assoc_model_nassocs(User), 1, "User has one association");
  ok(assoc_model_assoc(User, 0) == a, "assoc_model_assoc");
  ok(assoc_model_assoc(User, 1) == NULL, "assoc_model_assoc out of range");
  ok(assoc_model_assoc_find(User, "Posts") == a, "find by alias");
  ok(assoc_model_assoc_find(User, "Nope") == NULL, "unknown alias");

  d = adef(ASSOC_BELONGS_TO, Post, User);
  a = mk(&d);
  is_str(assoc_assoc_as(a, 0), "User", "belongsTo as: User");
  is_str(assoc_assoc_as(a, 1), "Users", "belongsTo plural: Users");
  is_str(assoc_assoc_key(a, ASSOC_KEY_FOREIGN), "userId", "belongsTo fk userId");
  ok(assoc_assoc_key(a, ASSOC_KEY_SOURCE) == NULL, "belongsTo has no sourceKey");
  is_str(assoc_assoc_source_attr(a), "userId", "belongsTo source attr: the fk");
  is_str(assoc_assoc_accessor(a, ASSOC_ACC_GET), "getUser", "getUser");
  is_str(assoc_assoc_accessor(a, ASSOC_ACC_SET), "setUser", "setUser");
  is_str(assoc_assoc_accessor(a, ASSOC_ACC_CREATE), "createUser", "createUser");
  ok(assoc_assoc_accessor(a, ASSOC_ACC_ADD_ONE) == NULL, "no addUser");
  is_int(assoc_model_nattrs(Post), 3, "the pair shares one userId");

  d = adef(ASSOC_BELONGS_TO, Team, User);
  d.as = "leader";
  a = mk(&d);
  is_str(assoc_assoc_key(a, ASSOC_KEY_FOREIGN), "leaderId", "as leader -> leaderId");
  is_str(assoc_assoc_accessor(a, ASSOC_ACC_GET), "getLeader", "getLeader");
  is_str(assoc_assoc_as(a, 1), "leaders", "leader plural");

  d = adef(ASSOC_HAS_ONE, User, Profile);
  a = mk(&d);
  is_str(assoc_assoc_as(a, 0), "Profile", "hasOne as Profile");
  is_str(assoc_assoc_key(a, ASSOC_KEY_FOREIGN), "userId", "hasOne fk userId");
  is_str(assoc_assoc_accessor(a, ASSOC_ACC_CREATE), "createProfile",
         "createProfile");

  d = adef(ASSOC_HAS_MANY, User, Person);
  a = mk(&d);
  is_str(assoc_assoc_as(a, 1), "People", "Person -> People");
  is_str(assoc_assoc_accessor(a, ASSOC_ACC_GET), "getPeople", "getPeople");
  is_str(assoc_assoc_accessor(a, ASSOC_ACC_ADD_ONE), "addPerson", "addPerson");

  d = adef(ASSOC_HAS_MANY, User, Category);
  a = mk(&d);
  is_str(assoc_assoc_accessor(a, ASSOC_ACC_COUNT), "countCategories",
         "countCategories");
  is_str(assoc_assoc_accessor(a, ASSOC_ACC_HAS_ONE), "hasCategory",
         "hasCategory");

  d = adef(ASSOC_HAS_MANY, User, Post);
  d.as = "Articles";
  d.foreign_key = "authorId";
  a = mk(&d);
  is_str(assoc_assoc_as(a, 0), "Article", "as Articles -> Article");
  is_str(assoc_assoc_accessor(a, ASSOC_ACC_ADD_MANY), "addArticles",
         "addArticles");
  is_str(assoc_assoc_key(a, ASSOC_KEY_FOREIGN), "authorId", "foreignKey given");

  d = adef(ASSOC_HAS_MANY, Person, Person);
  d.as_singular = "Kid";
  d.as_plural = "Children";
  d.foreign_key = "parentId";
  a = mk(&d);
  is_str(assoc_assoc_as(a, 0), "Kid", "as { singular }");
  is_str(assoc_assoc_as(a, 1), "Children", "as { plural }");
  is_str(assoc_assoc_accessor(a, ASSOC_ACC_REMOVE_ONE), "removeKid", "removeKid");
  is_str(assoc_assoc_accessor(a, ASSOC_ACC_GET), "getChildren", "getChildren");

  d = adef(ASSOC_BELONGS_TO_MANY, User, Project);
  d.through = "UserProjects";
  a = mk(&d);
  ok(a != NULL && assoc_assoc_through(a) != NULL, "BTM with a junction");
  is_str(assoc_model_name(assoc_assoc_through(a)), "UserProjects", "junction model");
  is_str(assoc_model_table(assoc_assoc_through(a)), "UserProjects",
         "junction table: no pluralization");
  ok(assoc_model_find(db, "UserProjects") == assoc_assoc_through(a),
     "junction registered");
  is_str(assoc_assoc_key(a, ASSOC_KEY_FOREIGN), "userId", "BTM fk userId");
  is_str(assoc_assoc_key(a, ASSOC_KEY_OTHER), "projectId", "BTM otherKey projectId");
  is_str(assoc_assoc_key(a, ASSOC_KEY_TARGET), "id", "BTM targetKey");
  is_str(assoc_assoc_as(a, 1), "Projects", "BTM as Projects");
  is_int(assoc_assoc_fk_allow_null(a), 0, "junction keys NOT NULL");
  d = adef(ASSOC_BELONGS_TO_MANY, Project, User);
  d.through = "UserProjects";
  a = mk(&d);
  is_str(assoc_assoc_key(a, ASSOC_KEY_FOREIGN), "projectId", "reverse fk");
  is_str(assoc_assoc_key(a, ASSOC_KEY_OTHER), "userId", "reverse otherKey");
  is_int(assoc_model_nattrs(assoc_assoc_through(a)), 4,
         "reverse adds nothing (2 keys + timestamps)");

  d = adef(ASSOC_BELONGS_TO_MANY, User, User);
  d.as = "Friends";
  d.through = "Friendships";
  a = mk(&d);
  is_str(assoc_assoc_key(a, ASSOC_KEY_FOREIGN), "userId", "self fk userId");
  is_str(assoc_assoc_key(a, ASSOC_KEY_OTHER), "friendId", "self otherKey friendId");
  is_str(assoc_assoc_accessor(a, ASSOC_ACC_ADD_ONE), "addFriend", "addFriend");
  is_int(assoc_assoc_nscope(a, 0), 0, "no scope");
  ok(assoc_assoc_scope(a, 0, 0) == NULL, "scope out of range");

  /* underscored holding model: attribute camelCase, column snake_case */
  {
    assoc_model *Task = model("Task", NULL, 0, ASSOC_MODEL_UNDERSCORED);
    const assoc_attr *fa;
    d = adef(ASSOC_HAS_MANY, User, Task);
    a = mk(&d);
    fa = assoc_model_attr(Task, assoc_model_attr_index(Task, "userId"));
    ok(fa != NULL, "underscored: attribute userId");
    is_str(fa ? fa->column : NULL, "user_id", "underscored: column user_id");
    is_str(assoc_model_table(Task), "tasks", "underscored table");
  }

  /* getters accept NULL */
  ok(assoc_assoc_source(NULL) == NULL && assoc_assoc_as(NULL, 0) == NULL &&
         assoc_assoc_key(NULL, 0) == NULL && assoc_model_nassocs(NULL) == 0 &&
         assoc_model_assoc_find(NULL, "x") == NULL,
     "getters accept NULL");
}

/* ---- pairs and reuse ------------------------------------------------------------ */

static void test_pairs(void) {
  assoc_model *User, *Post, *Bench;
  assoc_assoc *a, *b;
  assoc_assoc_def d;
  int n;
  fresh();
  User = named("User");
  Post = named("Post");

  d = adef(ASSOC_HAS_MANY, User, Post);
  d.foreign_key = "authorId";
  a = mk(&d);
  n = assoc_model_nattrs(Post);
  d = adef(ASSOC_BELONGS_TO, Post, User);
  b = mk(&d);
  is_str(assoc_assoc_key(b, ASSOC_KEY_FOREIGN), "authorId",
         "plain belongsTo adopts the hasMany's authorId");
  is_int(assoc_model_nattrs(Post), n, "no second key");
  (void)a;

  fresh();
  User = named("User");
  Post = named("Post");
  d = adef(ASSOC_BELONGS_TO, Post, User);
  d.foreign_key = "writerId";
  mk(&d);
  d = adef(ASSOC_HAS_MANY, User, Post);
  b = mk(&d);
  is_str(assoc_assoc_key(b, ASSOC_KEY_FOREIGN), "writerId",
         "plain hasMany adopts the belongsTo's writerId");
  ok(assoc_model_attr_index(Post, "userId") < 0, "no userId added");

  /* allowNull conflict, named both sides */
  fresh();
  User = named("User");
  Post = named("Post");
  d = adef(ASSOC_HAS_MANY, User, Post);
  d.foreign_key = "authorId";
  d.foreign_key_allow_null = 0;
  mk(&d);
  n = assoc_model_nattrs(Post);
  d = adef(ASSOC_BELONGS_TO, Post, User);
  d.foreign_key = "authorId";
  d.foreign_key_allow_null = 1;
  is_int(assoc_associate(db, &d, &b), ASSOC_MISUSE, "allowNull conflict refused");
  is_str(assoc_errmsg(db),
         "User.hasMany(Post) uses foreign key authorId with allowNull=false, "
         "but Post.belongsTo(User) declares it with allowNull=true",
         "message names both");
  is_int(assoc_model_nassocs(Post), 0, "nothing registered");
  is_int(assoc_model_nattrs(Post), n, "nothing added");
  /* an explicit side and a default side: the explicit one wins */
  d.foreign_key_allow_null = -1;
  b = mk(&d);
  ok(b != NULL, "default side pairs");
  is_int(assoc_assoc_fk_allow_null(b), 0, "and adopts allowNull=false");
  d = adef(ASSOC_HAS_MANY, User, Post);
  d.as = "Drafts";
  d.foreign_key = "authorId";
  d.on_delete = ASSOC_FK_RESTRICT;
  a = mk(&d);
  ok(a != NULL, "a third definition with explicit onDelete");
  d = adef(ASSOC_BELONGS_TO, Post, User);
  d.as = "writer";
  d.foreign_key = "authorId";
  d.on_delete = ASSOC_FK_CASCADE;
  is_int(assoc_associate(db, &d, &b), ASSOC_MISUSE, "onDelete conflict refused");
  ok(strstr(assoc_errmsg(db), "onDelete=RESTRICT") &&
         strstr(assoc_errmsg(db), "onDelete=CASCADE") &&
         strstr(assoc_errmsg(db), "User.hasMany(Post as Drafts)"),
     "message: %s", assoc_errmsg(db));
  d.on_delete = 0;
  d.constraints = 0;
  is_int(assoc_associate(db, &d, &b), ASSOC_OK,
         "constraints=false explicit against defaults: adopted");
  is_int(assoc_sync(db, 0), ASSOC_OK, "sync");
  is_str(fks("Posts"), "", "no REFERENCES once a side says constraints=false");

  /* a user-defined userId is reused */
  fresh();
  User = named("User");
  {
    assoc_attr ba[2];
    ba[0] = attr("title", ASSOC_T_STRING, 0);
    ba[1] = attr("userId", ASSOC_T_INTEGER, 0);
    Bench = model("Post", ba, 2, 0);
  }
  d = adef(ASSOC_HAS_MANY, User, Bench);
  a = mk(&d);
  is_int(assoc_model_nattrs(Bench), 3, "user-defined userId reused");
  is_int(assoc_model_attr_index(Bench, "userId"), 2, "at its own place");
  assoc_sync(db, 1);
  is_str(fks("Posts"), "userId|Users|id|SET NULL|CASCADE",
         "the reused attribute gets the reference");
  d = adef(ASSOC_BELONGS_TO, Bench, User);
  d.foreign_key_allow_null = 0;
  is_int(assoc_associate(db, &d, &b), ASSOC_OK,
         "an explicit allowNull=false on the pair's other side");
  assoc_sync(db, 1);
  is_str(fks("Posts"), "userId|Users|id|CASCADE|CASCADE",
         "wins: NOT NULL, and the hasMany's default becomes CASCADE");
  is_str(cols("Posts"), "id|INTEGER|0|1;title|VARCHAR(255)|0|0;userId|INTEGER|1|0",
         "the column is NOT NULL");
  is_int(assoc_assoc_fk_allow_null(a), 0, "the first side sees it too");

  /* polymorphic: one key, two sources, constraints off */
  fresh();
  {
    assoc_model *Image = named("Image"), *Video = named("Video"), *Comment;
    assoc_attr ca[3];
    assoc_pair sc;
    ca[0] = attr("body", ASSOC_T_TEXT, 0);
    ca[1] = attr("commentableId", ASSOC_T_INTEGER, 0);
    ca[2] = attr("commentableType", ASSOC_T_STRING, 0);
    Comment = model("Comment", ca, 3, 0);
    d = adef(ASSOC_HAS_MANY, Image, Comment);
    d.foreign_key = "commentableId";
    d.constraints = 0;
    sc.attr = "commentableType";
    sc.value = S("image");
    d.scope = &sc;
    d.nscope = 1;
    ok(mk(&d) != NULL, "Image.hasMany(Comment) polymorphic");
    d.source = Video;
    sc.value = S("video");
    ok(mk(&d) != NULL, "Video.hasMany(Comment) polymorphic, same key");
    d.constraints = 1;
    d.source = Image;
    d.as = "Notes";
    is_int(assoc_associate(db, &d, &b), ASSOC_MISUSE,
           "constraints=true against constraints=false: conflict");
    ok(strstr(assoc_errmsg(db), "constraints=false") != NULL, "message: %s",
       assoc_errmsg(db));
    d = adef(ASSOC_BELONGS_TO, Comment, Image);
    b = mk(&d);
    is_str(assoc_assoc_key(b, ASSOC_KEY_FOREIGN), "commentableId",
           "plain Comment.belongsTo(Image) pairs with Image.hasMany(Comment)");
    ok(b != NULL && !assoc_model_ref(Comment,
                                     assoc_model_attr_index(Comment,
                                                            "commentableId"),
                                     NULL),
       "and adopts constraints=false");
    d = adef(ASSOC_HAS_MANY, Image, Comment);
    d.as = "Remarks";
    b = mk(&d);
    d = adef(ASSOC_BELONGS_TO, Comment, Image);
    d.as = "picture";
    b = mk(&d);
    is_str(assoc_assoc_key(b, ASSOC_KEY_FOREIGN), "pictureId",
           "a belongsTo with an alias keeps its own key");
  }
}

static void test_misuse(void) {
  assoc_model *User, *Post, *Project, *Other;
  assoc_assoc *a = (assoc_assoc *)1;
  assoc_assoc_def d;
  assoc_db *db2 = NULL;
  int n;
  fresh();
  User = named("User");
  Post = named("Post");
  Project = named("Project");
  n = assoc_model_nattrs(Post);

  is_int(assoc_associate(NULL, NULL, &a), ASSOC_CLOSED, "NULL db");
  ok(a == NULL, "out cleared");
  is_int(assoc_associate(db, NULL, NULL), ASSOC_MISUSE, "no definition");
  d = adef((assoc_kind)9, User, Post);
  is_int(assoc_associate(db, &d, NULL), ASSOC_MISUSE, "bad kind");
  d = adef(ASSOC_HAS_MANY, User, NULL);
  is_int(assoc_associate(db, &d, NULL), ASSOC_MISUSE, "no target");
  ok(strstr(assoc_errmsg(db), "target is not a model") != NULL, "%s",
     assoc_errmsg(db));
  assoc_open(":memory:", NULL, &db2);
  {
    assoc_model_def md;
    memset(&md, 0, sizeof md);
    md.name = "Other";
    assoc_define(db2, &md, &Other);
  }
  d = adef(ASSOC_HAS_MANY, User, Other);
  is_int(assoc_associate(db, &d, NULL), ASSOC_MISUSE, "model of another db");
  ok(strstr(assoc_errmsg(db), "another connection") != NULL, "%s",
     assoc_errmsg(db));
  assoc_close(db2);

  d = adef(ASSOC_HAS_MANY, User, Post);
  mk(&d);
  n = assoc_model_nattrs(Post);
  is_int(assoc_associate(db, &d, NULL), ASSOC_MISUSE, "alias used twice");
  ok(strstr(assoc_errmsg(db), "alias Posts") != NULL, "%s", assoc_errmsg(db));
  d.as = "name";
  is_int(assoc_associate(db, &d, NULL), ASSOC_MISUSE, "alias = attribute");
  ok(strstr(assoc_errmsg(db), "Naming collision") != NULL, "%s",
     assoc_errmsg(db));
  d.as = "";
  is_int(assoc_associate(db, &d, NULL), ASSOC_MISUSE, "empty alias");
  d = adef(ASSOC_HAS_MANY, User, Post);
  d.as = "Others";
  d.source_key = "nope";
  is_int(assoc_associate(db, &d, NULL), ASSOC_MISUSE, "unknown sourceKey");
  ok(strstr(assoc_errmsg(db), "sourceKey 'nope'") != NULL, "%s", assoc_errmsg(db));
  d.source_key = "name";
  is_int(assoc_associate(db, &d, NULL), ASSOC_MISUSE,
         "a sourceKey that is not unique");
  ok(strstr(assoc_errmsg(db), "neither the primary key nor unique") != NULL,
     "%s", assoc_errmsg(db));
  d.source_key = NULL;
  d.target_key = "id";
  is_int(assoc_associate(db, &d, NULL), ASSOC_MISUSE, "targetKey on hasMany");
  d.target_key = NULL;
  d.through = "X";
  is_int(assoc_associate(db, &d, NULL), ASSOC_MISUSE, "hasMany with through");
  d = adef(ASSOC_BELONGS_TO, Post, User);
  d.target_key = "nope";
  is_int(assoc_associate(db, &d, NULL), ASSOC_MISUSE, "unknown targetKey");
  d.target_key = NULL;
  d.source_key = "id";
  is_int(assoc_associate(db, &d, NULL), ASSOC_MISUSE, "sourceKey on belongsTo");
  d = adef(ASSOC_BELONGS_TO_MANY, User, Project);
  is_int(assoc_associate(db, &d, NULL), ASSOC_MISUSE, "BTM without through");
  ok(strstr(assoc_errmsg(db), "through") != NULL, "%s", assoc_errmsg(db));
  d = adef(ASSOC_BELONGS_TO_MANY, User, User);
  d.through = "Friendships";
  is_int(assoc_associate(db, &d, NULL), ASSOC_MISUSE, "self BTM without as");
  ok(strstr(assoc_errmsg(db), "'as' must be defined") != NULL, "%s",
     assoc_errmsg(db));
  ok(assoc_model_find(db, "Friendships") == NULL, "no junction generated");
  d.as = "Users";
  is_int(assoc_associate(db, &d, NULL), ASSOC_MISUSE,
         "self BTM whose keys coincide (as Users)");
  d = adef(ASSOC_BELONGS_TO_MANY, User, Project);
  d.through = "Users";
  is_int(assoc_associate(db, &d, NULL), ASSOC_MISUSE,
         "through naming the source model");
  d.through = "Posts";
  is_int(assoc_associate(db, &d, NULL), ASSOC_MISUSE,
         "a generated junction on another model's table");
  d.through = "UP";
  d.foreign_key = "k";
  d.other_key = "k";
  is_int(assoc_associate(db, &d, NULL), ASSOC_MISUSE, "fk == otherKey");
  d.foreign_key = d.other_key = NULL;
  {
    assoc_pair sc;
    sc.attr = "kind";
    sc.value = S("x");
    d.through_scope = &sc;
    d.nthrough_scope = 1;
    is_int(assoc_associate(db, &d, NULL), ASSOC_MISUSE,
           "throughScope on a generated junction");
    d.through_scope = NULL;
    d.nthrough_scope = 0;
    d.scope = &sc;
    d.nscope = 1;
    is_int(assoc_associate(db, &d, NULL), ASSOC_MISUSE,
           "scope naming an unknown attribute");
    ok(strstr(assoc_errmsg(db), "unknown attribute 'kind'") != NULL, "%s",
       assoc_errmsg(db));
  }
  ok(assoc_model_find(db, "UP") == NULL, "nothing generated on failure");
  d = adef(ASSOC_HAS_MANY, User, Post);
  d.as = "Odd";
  d.on_delete = 42;
  is_int(assoc_associate(db, &d, NULL), ASSOC_MISUSE, "bad onDelete code");
  d.on_delete = 0;
  d.foreign_key = "";
  is_int(assoc_associate(db, &d, NULL), ASSOC_MISUSE, "empty foreign key");
  is_int(assoc_model_nassocs(User), 1, "only the first association stands");
  is_int(assoc_model_nattrs(Post), n, "no attribute added by the failures");
  is_int(assoc_model_count(db), 3, "no model generated by the failures");
}

/* ---- DDL -------------------------------------------------------------------------- */

static void test_ddl(void) {
  assoc_model *User, *Post, *Team, *Profile, *Project, *Tag, *Note;
  assoc_assoc_def d;
  fresh();
  User = named("User");
  Post = named("Post");
  Team = named("Team");
  Profile = named("Profile");
  Project = named("Project");
  Tag = named("Tag");
  Note = named("Note");
  d = adef(ASSOC_HAS_MANY, User, Post);
  mk(&d);
  d = adef(ASSOC_HAS_MANY, User, Note);
  d.foreign_key_allow_null = 0;
  mk(&d);
  d = adef(ASSOC_BELONGS_TO, Team, User);
  d.as = "leader";
  mk(&d);
  d = adef(ASSOC_BELONGS_TO, Team, User);
  d.as = "coach";
  d.foreign_key_allow_null = 0;
  mk(&d);
  d = adef(ASSOC_HAS_ONE, User, Profile);
  d.foreign_key_allow_null = 0;
  mk(&d);
  d = adef(ASSOC_BELONGS_TO_MANY, User, Project);
  d.through = "UserProjects";
  mk(&d);
  d = adef(ASSOC_BELONGS_TO_MANY, User, Tag);
  d.through = "UserTags";
  d.through_unique = 0;
  d.through_timestamps = 0;
  d.on_delete = ASSOC_FK_RESTRICT;
  mk(&d);
  d = adef(ASSOC_HAS_MANY, Project, Tag);
  d.constraints = 0;
  mk(&d);
  trace_reset();
  is_int(assoc_sync(db, 0), ASSOC_OK, "sync");
  {
    int i, nc = 0, up = -1, ut = -1;
    for (i = 0; i < ntraced && i < MAXTRACE; i++) {
      if (strncmp(traced[i], "CREATE TABLE", 12) != 0) continue;
      nc++;
      if (strstr(traced[i], "EXISTS \"UserProjects\" (") != NULL) up = nc;
      if (strstr(traced[i], "EXISTS \"UserTags\" (") != NULL) ut = nc;
    }
    is_int(nc, 9, "9 tables created");
    ok(up >= 8 && ut >= 8, "junction tables are created last (%d, %d)", up, ut);
  }
  is_str(fks("Posts"), "userId|Users|id|SET NULL|CASCADE",
         "hasMany nullable: SET NULL / CASCADE");
  is_str(fks("Notes"), "userId|Users|id|CASCADE|CASCADE",
         "hasMany NOT NULL: CASCADE / CASCADE");
  is_str(fks("Teams"),
         "coachId|Users|id|NO ACTION|CASCADE;leaderId|Users|id|SET NULL|CASCADE",
         "belongsTo: SET NULL nullable, NO ACTION NOT NULL");
  is_str(fks("Profiles"), "userId|Users|id|CASCADE|CASCADE",
         "hasOne NOT NULL: CASCADE");
  is_str(fks("UserProjects"),
         "projectId|Projects|id|CASCADE|CASCADE;userId|Users|id|CASCADE|CASCADE",
         "junction keys CASCADE / CASCADE");
  is_str(cols("UserProjects"),
         "userId|INTEGER|1|1;projectId|INTEGER|1|2;createdAt|DATETIME|1|0;"
         "updatedAt|DATETIME|1|0",
         "junction: composite primary key, NOT NULL keys, timestamps");
  is_str(cols("UserTags"),
         "id|INTEGER|0|1;userId|INTEGER|1|0;tagId|INTEGER|1|0",
         "unique=false: an auto id, no timestamps");
  is_str(fks("UserTags"),
         "tagId|Tags|id|RESTRICT|CASCADE;userId|Users|id|RESTRICT|CASCADE",
         "explicit onDelete on both junction keys");
  is_str(cols("Tags"), "id|INTEGER|0|1;name|VARCHAR(255)|0|0;projectId|INTEGER|0|0",
         "constraints=false: the key is added");
  is_str(fks("Tags"), "", "constraints=false: no REFERENCES");
  is_str(cols("Notes"), "id|INTEGER|0|1;name|VARCHAR(255)|0|0;userId|INTEGER|1|0",
         "allowNull=false: NOT NULL column");
  is_int(assoc_sync(db, 1), ASSOC_OK, "sync force drops and recreates");
  is_int(assoc_drop(db), ASSOC_OK, "drop");
  is_int(scalar("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                "name != 'sqlite_sequence'"),
         0, "every table dropped");

  /* a defined through model */
  fresh();
  User = named("User");
  Project = named("Project");
  {
    assoc_attr ma[1];
    assoc_model *M, *G;
    assoc_assoc *a;
    ma[0] = attr("role", ASSOC_T_STRING, 0);
    M = model("Membership", ma, 1, ASSOC_MODEL_TIMESTAMPS);
    d = adef(ASSOC_BELONGS_TO_MANY, User, Project);
    d.through_model = M;
    a = mk(&d);
    ok(a != NULL, "through a defined model");
    d = adef(ASSOC_BELONGS_TO_MANY, Project, User);
    d.through = "Membership";
    ok(mk(&d) != NULL, "reverse side through the name");
    ma[0] = attr("gid", ASSOC_T_INTEGER, ASSOC_ATTR_PK | ASSOC_ATTR_AUTOINC);
    G = model("Grant", ma, 1, 0);
    d = adef(ASSOC_BELONGS_TO_MANY, User, Project);
    d.as = "Granted";
    d.through_model = G;
    ok(mk(&d) != NULL, "through a model with its own primary key");
    assoc_sync(db, 0);
    is_str(cols("Memberships"),
           "role|VARCHAR(255)|0|0;createdAt|DATETIME|1|0;updatedAt|DATETIME|1|0;"
           "userId|INTEGER|1|1;projectId|INTEGER|1|2",
           "the auto id gives way to the composite key");
    is_str(cols("Grants"),
           "gid|INTEGER|0|1;userId|INTEGER|1|0;projectId|INTEGER|1|0",
           "a declared primary key stays");
    is_int(scalar("SELECT count(*) FROM pragma_index_list('Grants') WHERE "
                  "\"unique\" = 1"),
           1, "and (userId, projectId) gets a UNIQUE constraint");
    ma[0] = attr("x", ASSOC_T_INTEGER, 0);
    G = model("Late", ma, 1, 0);
    assoc_sync(db, 0);
    d = adef(ASSOC_BELONGS_TO_MANY, User, Project);
    d.as = "LateOnes";
    d.through_model = G;
    is_int(assoc_associate(db, &d, NULL), ASSOC_MISUSE,
           "an already synced through model cannot lose its id");
  }
}

/* ---- accessors ------------------------------------------------------------------- */

static assoc_model *U, *P, *Pr, *Pf, *UP;
static assoc_assoc *hm, *bt, *btm, *rbtm, *ho;

static void seed(void) {
  assoc_assoc_def d;
  assoc_attr pa[2];
  int i;
  fresh();
  U = named("User");
  pa[0] = attr("title", ASSOC_T_STRING, 0);
  P = model("Post", pa, 1, ASSOC_MODEL_TIMESTAMPS);
  Pr = named("Project");
  Pf = named("Profile");
  {
    assoc_attr ma[1];
    ma[0] = attr("role", ASSOC_T_STRING, 0);
    UP = model("UserProjects", ma, 1, ASSOC_MODEL_TIMESTAMPS);
  }
  d = adef(ASSOC_HAS_MANY, U, P);
  hm = mk(&d);
  d = adef(ASSOC_BELONGS_TO, P, U);
  bt = mk(&d);
  d = adef(ASSOC_BELONGS_TO_MANY, U, Pr);
  d.through_model = UP;
  btm = mk(&d);
  d = adef(ASSOC_BELONGS_TO_MANY, Pr, U);
  d.through = "UserProjects";
  rbtm = mk(&d);
  d = adef(ASSOC_HAS_ONE, U, Pf);
  ho = mk(&d);
  assoc_sync(db, 0);
  exec("INSERT INTO \"Users\" (name) VALUES ('ann'), ('bob')");
  for (i = 0; i < 4; i++)
    exec("INSERT INTO \"Posts\" (title, createdAt, updatedAt) VALUES ('p', "
         "'2020-01-01T00:00:00.000Z', '2020-01-01T00:00:00.000Z')");
  exec("INSERT INTO \"Projects\" (name) VALUES ('x'), ('y'), ('z')");
  exec("INSERT INTO \"Profiles\" (name) VALUES ('f1'), ('f2')");
}

static void test_hasmany(void) {
  assoc_value one = I(1), two = I(2), t[3], none = N();
  assoc_rows *r;
  int all = -1;
  int64_t n = -1;
  seed();
  t[0] = I(1);
  t[1] = I(2);
  t[2] = I(3);
  trace_reset();
  is_int(assoc_rel_add(db, hm, &one, t, 2, NULL, 0, NULL), ASSOC_OK, "add 2");
  is_int(ntraced, 1, "add: 1 statement");
  is_str(traced[0],
         "UPDATE \"Posts\" SET \"userId\" = ?, \"updatedAt\" = ? WHERE \"id\" IN "
         "(SELECT value FROM json_each(?))",
         "add SQL");
  is_str(rowstr("SELECT id, userId FROM Posts ORDER BY id", NULL),
         "1|1;2|1;3|NULL;4|NULL", "linked");
  ok(strcmp(rowstr("SELECT updatedAt FROM Posts WHERE id = 1", NULL),
            "2020-01-01T00:00:00.000Z") != 0,
     "updatedAt touched");
  trace_reset();
  is_int(assoc_rel_count(db, hm, &one, NULL, &n), ASSOC_OK, "count");
  is_int(n, 2, "count 2");
  is_int(ntraced, 1, "count: 1 statement");
  is_str(traced[0], "SELECT count(*) FROM \"Posts\" WHERE \"userId\" = ?",
         "count SQL");
  trace_reset();
  is_int(assoc_rel_has(db, hm, &one, t, 2, &all), ASSOC_OK, "has");
  is_int(all, 1, "has both");
  is_int(ntraced, 1, "has: 1 statement");
  is_str(traced[0],
         "SELECT count(DISTINCT \"id\") = (SELECT count(DISTINCT value) FROM "
         "json_each(?)) FROM \"Posts\" WHERE \"userId\" = ? AND \"id\" IN (SELECT "
         "value FROM json_each(?))",
         "has SQL");
  assoc_rel_has(db, hm, &one, t, 3, &all);
  is_int(all, 0, "has not all of 3");
  t[2] = I(1);
  assoc_rel_has(db, hm, &one, t, 3, &all);
  is_int(all, 1, "duplicates in the list");
  t[2] = I(3);
  assoc_rel_has(db, hm, &two, t, 0, &all);
  is_int(all, 1, "has of none: true");
  {
    assoc_select q;
    assoc_order o;
    assoc_value v = I(1);
    assoc_where w;
    memset(&q, 0, sizeof q);
    memset(&w, 0, sizeof w);
    q.limit = 5;
    q.offset = 0;
    o.attr = 0;
    o.desc = 1;
    q.order = &o;
    q.norder = 1;
    w.op = ASSOC_OP_GT;
    w.attr = 0;
    w.values = &v;
    w.nvalues = 1;
    q.where = &w;
    trace_reset();
    is_int(assoc_rel_get(db, hm, &one, &q, NULL, &r), ASSOC_OK, "get");
    {
      int rows = 0, c;
      assoc_value v0;
      while (assoc_rows_next(r) == ASSOC_ROW) {
        rows++;
        assoc_rows_value(r, 0, &v0);
        if (rows == 1) is_int(v0.u.i, 2, "ordered DESC, filtered");
      }
      is_int(rows, 1, "get with where: 1 row");
      for (c = 0; c < assoc_rows_ncols(r); c++)
        if (assoc_rows_attr(r, c) != c || assoc_rows_node(r, c) != 0) break;
      is_int(c, assoc_model_nattrs(P), "columns map to Post attrs, node 0");
    }
    assoc_rows_close(r);
    is_int(ntraced, 1, "get: 1 statement");
    is_str(traced[0],
           "SELECT \"id\", \"title\", \"createdAt\", \"updatedAt\", \"userId\" "
           "FROM \"Posts\" WHERE \"userId\" = ? AND \"id\" > ? ORDER BY \"id\" "
           "DESC LIMIT ?",
           "get SQL");
  }
  trace_reset();
  is_int(assoc_rel_remove(db, hm, &one, t, 1), ASSOC_OK, "remove 1");
  is_int(ntraced, 1, "remove: 1 statement");
  is_str(traced[0],
         "UPDATE \"Posts\" SET \"userId\" = NULL, \"updatedAt\" = ? WHERE "
         "\"userId\" = ? AND \"id\" IN (SELECT value FROM json_each(?))",
         "remove SQL (nullable: SET NULL)");
  is_str(rowstr("SELECT id, userId FROM Posts ORDER BY id", NULL),
         "1|NULL;2|1;3|NULL;4|NULL", "unlinked, row kept");
  trace_reset();
  t[0] = I(3);
  t[1] = I(4);
  is_int(assoc_rel_set(db, hm, &one, t, 2, NULL, 0, NULL), ASSOC_OK, "set");
  ok(ntraced <= 4, "set: %d statements (<= 4)", ntraced);
  is_str(traced[0], "BEGIN IMMEDIATE", "set: in a transaction");
  is_str(traced[1],
         "UPDATE \"Posts\" SET \"userId\" = NULL, \"updatedAt\" = ? WHERE "
         "\"userId\" = ? AND \"id\" NOT IN (SELECT value FROM json_each(?))",
         "set: unlink the others");
  is_str(rowstr("SELECT id, userId FROM Posts ORDER BY id", NULL),
         "1|NULL;2|NULL;3|1;4|1", "set as a diff");
  trace_reset();
  is_int(assoc_rel_set(db, hm, &one, NULL, 0, NULL, 0, NULL), ASSOC_OK,
         "set empty");
  is_int(ntraced, 1, "set empty: 1 statement");
  is_str(rowstr("SELECT count(*) FROM Posts WHERE userId IS NOT NULL", NULL),
         "0", "cleared");
  /* savepoint inside a transaction */
  assoc_begin(db);
  trace_reset();
  assoc_rel_set(db, hm, &two, t, 2, NULL, 0, NULL);
  is_str(traced[0], "SAVEPOINT assoc_sp_1", "set inside a transaction: SAVEPOINT");
  is_str(traced[3], "RELEASE assoc_sp_1", "and RELEASE");
  is_int(ntraced, 4, "4 statements");
  assoc_rollback(db);
  is_int(assoc_rel_remove(db, hm, &none, t, 1), ASSOC_MISUSE,
         "a null source refused for writes");
  t[0] = N();
  is_int(assoc_rel_add(db, hm, &one, t, 1, NULL, 0, NULL), ASSOC_MISUSE,
         "a null target refused");
  ok(strstr(assoc_errmsg(db), "target #1 is null") != NULL, "%s",
     assoc_errmsg(db));
  t[0].type = ASSOC_V_BLOB;
  t[0].u.s.p = "ab";
  t[0].u.s.n = 2;
  is_int(assoc_rel_add(db, hm, &one, t, 1, NULL, 0, NULL), ASSOC_MISUSE,
         "a BLOB target refused");
  t[0].type = ASSOC_V_REAL;
  t[0].u.r = 1.0 / 0.0;
  is_int(assoc_rel_add(db, hm, &one, t, 1, NULL, 0, NULL), ASSOC_MISUSE,
         "an infinite target refused");
  t[0] = S("1");
  is_int(assoc_rel_add(db, hm, &one, t, 1, NULL, 0, NULL), ASSOC_OK,
         "a text target compares by the column's affinity");
  is_str(rowstr("SELECT userId FROM Posts WHERE id = 1", NULL), "1", "linked");
  is_int(assoc_rel_set_one(db, hm, &one, &one), ASSOC_MISUSE,
         "setOne on a hasMany refused");
  is_int(assoc_rel_add(db, bt, &one, t, 1, NULL, 0, NULL), ASSOC_MISUSE,
         "add on a belongsTo refused");
  {
    int ta = 0;
    is_int(assoc_rel_add(db, hm, &one, t, 1, &ta, 1, t), ASSOC_MISUSE,
           "through values on a hasMany refused");
  }
  /* belongsTo get and count */
  trace_reset();
  is_int(assoc_rel_get(db, bt, &one, NULL, NULL, &r), ASSOC_OK, "belongsTo get");
  is_int(assoc_rows_next(r), ASSOC_ROW, "one row");
  assoc_rows_close(r);
  is_str(traced[0], "SELECT \"id\", \"name\" FROM \"Users\" WHERE \"id\" = ?",
         "belongsTo get SQL");
  assoc_rel_count(db, bt, &none, NULL, &n);
  is_int(n, 0, "belongsTo of a null key: nothing");
}

static void test_not_null_and_paranoid(void) {
  assoc_model *U2, *T, *D;
  assoc_assoc *a, *b;
  assoc_assoc_def d;
  assoc_value one = I(1), t[2];
  int64_t n = -1;
  int all;
  fresh();
  U2 = named("User");
  T = named("Task");
  D = model("Doc", NULL, 0, ASSOC_MODEL_PARANOID);
  d = adef(ASSOC_HAS_MANY, U2, T);
  d.foreign_key_allow_null = 0;
  a = mk(&d);
  d = adef(ASSOC_HAS_MANY, U2, D);
  b = mk(&d);
  assoc_sync(db, 0);
  exec("INSERT INTO Users (name) VALUES ('a'), ('b')");
  exec("INSERT INTO Tasks (name, userId) VALUES ('t1', 1), ('t2', 1), ('t3', 2)");
  t[0] = I(1);
  t[1] = I(3);
  trace_reset();
  is_int(assoc_rel_remove(db, a, &one, t, 2), ASSOC_OK,
         "remove with a NOT NULL key");
  is_str(traced[0],
         "DELETE FROM \"Tasks\" WHERE \"userId\" = ? AND \"id\" IN (SELECT value "
         "FROM json_each(?))",
         "DELETE instead of SET NULL (#14048)");
  is_str(rowstr("SELECT id FROM Tasks ORDER BY id", NULL), "2;3",
         "task 1 deleted, task 3 (another user's) kept");
  t[0] = I(3);
  is_int(assoc_rel_set(db, a, &one, t, 1, NULL, 0, NULL), ASSOC_OK,
         "set with a NOT NULL key");
  is_str(rowstr("SELECT id, userId FROM Tasks ORDER BY id", NULL), "3|1",
         "the dropped task is deleted, the new one moved");

  exec("INSERT INTO Docs (userId) VALUES (1), (1), (1)");
  exec("UPDATE Docs SET deletedAt = '2020-01-01T00:00:00.000Z' WHERE id = 2");
  assoc_rel_count(db, b, &one, NULL, &n);
  is_int(n, 2, "paranoid target: soft-deleted hidden from count");
  t[0] = I(2);
  assoc_rel_has(db, b, &one, t, 1, &all);
  is_int(all, 0, "and from has");
  {
    assoc_rows *r;
    int rows = 0;
    assoc_select q;
    memset(&q, 0, sizeof q);
    q.limit = -1;
    assoc_rel_get(db, b, &one, &q, NULL, &r);
    while (assoc_rows_next(r) == ASSOC_ROW) rows++;
    assoc_rows_close(r);
    is_int(rows, 2, "and from get");
    q.with_deleted = 1;
    assoc_rel_get(db, b, &one, &q, NULL, &r);
    rows = 0;
    while (assoc_rows_next(r) == ASSOC_ROW) rows++;
    assoc_rows_close(r);
    is_int(rows, 3, "unless with_deleted");
  }
}

static void test_btm(void) {
  assoc_value one = I(1), two = I(2), t[3], tv[3];
  int role, all;
  int64_t n = -1;
  assoc_rows *r;
  seed();
  role = assoc_model_attr_index(UP, "role");
  t[0] = I(1);
  t[1] = I(2);
  t[2] = I(3);
  tv[0] = S("owner");
  tv[1] = S("dev");
  tv[2] = N();
  trace_reset();
  is_int(assoc_rel_add(db, btm, &one, t, 2, &role, 1, tv), ASSOC_OK,
         "add 2 with per-target through values");
  is_int(ntraced, 1, "add: 1 statement");
  is_str(traced[0],
         "INSERT INTO \"UserProjects\" (\"userId\", \"projectId\", \"role\", "
         "\"createdAt\", \"updatedAt\") SELECT ?, json_extract(value, '$[0]'), "
         "json_extract(value, '$[1]'), ?, ? FROM json_each(?) WHERE true ON "
         "CONFLICT (\"userId\", \"projectId\") DO UPDATE SET \"role\" = "
         "excluded.\"role\", \"updatedAt\" = excluded.\"updatedAt\"",
         "add SQL: one upsert");
  is_str(rowstr("SELECT userId, projectId, role FROM UserProjects ORDER BY 2",
                NULL),
         "1|1|owner;1|2|dev", "links with their own through values (PR #16101)");
  tv[0] = S("lead");
  trace_reset();
  is_int(assoc_rel_add(db, btm, &one, t, 1, &role, 1, tv), ASSOC_OK,
         "adding an existing link");
  is_str(rowstr("SELECT count(*), group_concat(role) FROM UserProjects", NULL),
         "2|lead,dev", "updates its through values, no duplicate");
  trace_reset();
  is_int(assoc_rel_add(db, btm, &one, t + 2, 1, NULL, 0, NULL), ASSOC_OK,
         "add without through values");
  ok(strstr(traced[0], "DO NOTHING") != NULL, "DO NOTHING: %s", traced[0]);
  trace_reset();
  {
    assoc_select q;
    assoc_through_req tr;
    assoc_where w;
    assoc_value own = S("lead");
    int got = 0, c, nodes = 0;
    memset(&q, 0, sizeof q);
    memset(&w, 0, sizeof w);
    q.limit = -1;
    w.op = ASSOC_OP_EQ;
    w.attr = role;
    w.values = &own;
    w.nvalues = 1;
    tr.attrs = &role;
    tr.nattrs = 1;
    tr.where = &w;
    is_int(assoc_rel_get(db, btm, &one, &q, &tr, &r), ASSOC_OK, "BTM get");
    while (assoc_rows_next(r) == ASSOC_ROW) {
      assoc_value v;
      got++;
      assoc_rows_value(r, 2, &v);
      is_str(v.type == ASSOC_V_TEXT ? v.u.s.p : NULL, "lead", "junction column");
    }
    is_int(got, 1, "through where filters");
    for (c = 0; c < assoc_rows_ncols(r); c++) nodes += assoc_rows_node(r, c);
    is_int(nodes, 1, "one junction column");
    is_int(assoc_rows_attr(r, 2), role, "its attr index in the junction");
    is_int(assoc_rows_node(r, 2), 1, "node 1");
    assoc_rows_close(r);
    is_int(ntraced, 1, "get: 1 statement");
    is_str(traced[0],
           "SELECT \"Projects\".\"id\", \"Projects\".\"name\", "
           "\"UserProjects\".\"role\" FROM \"Projects\" INNER JOIN "
           "\"UserProjects\" ON \"UserProjects\".\"projectId\" = "
           "\"Projects\".\"id\" AND \"UserProjects\".\"userId\" = ? AND "
           "\"UserProjects\".\"role\" = ?",
           "BTM get SQL");
    trace_reset();
    is_int(assoc_rel_get(db, btm, &one, NULL, NULL, &r), ASSOC_OK,
           "BTM get, all junction columns");
    got = 0;
    while (assoc_rows_next(r) == ASSOC_ROW) got++;
    is_int(assoc_rows_ncols(r), 2 + 5, "target + junction columns");
    assoc_rows_close(r);
    is_int(got, 3, "3 projects");
  }
  trace_reset();
  assoc_rel_count(db, btm, &one, NULL, &n);
  is_int(n, 3, "count 3");
  is_str(traced[0],
         "SELECT count(DISTINCT \"Projects\".\"id\") FROM \"Projects\" INNER JOIN "
         "\"UserProjects\" ON \"UserProjects\".\"projectId\" = \"Projects\".\"id\" "
         "AND \"UserProjects\".\"userId\" = ?",
         "count SQL");
  trace_reset();
  assoc_rel_has(db, btm, &one, t, 3, &all);
  is_int(all, 1, "has all 3");
  is_int(ntraced, 1, "has: 1 statement");
  assoc_rel_has(db, rbtm, &two, &one, 1, &all);
  is_int(all, 1, "the reverse side sees the link (project 2 has user 1)");
  assoc_rel_has(db, rbtm, &two, &two, 1, &all);
  is_int(all, 0, "project 2 has no user 2");
  trace_reset();
  is_int(assoc_rel_remove(db, btm, &one, t, 1), ASSOC_OK, "remove");
  is_int(ntraced, 1, "remove: 1 statement");
  is_str(traced[0],
         "DELETE FROM \"UserProjects\" WHERE \"userId\" = ? AND \"projectId\" IN "
         "(SELECT value FROM json_each(?))",
         "remove SQL");
  /* set: atomic, a diff, through values updated */
  t[0] = I(2);
  t[1] = I(1);
  tv[0] = S("boss");
  tv[1] = S("new");
  trace_reset();
  is_int(assoc_rel_set(db, btm, &one, t, 2, &role, 1, tv), ASSOC_OK, "set");
  is_int(ntraced, 4, "set: 4 statements");
  is_str(traced[1],
         "DELETE FROM \"UserProjects\" WHERE \"userId\" = ? AND \"projectId\" NOT "
         "IN (SELECT json_extract(value, '$[0]') FROM json_each(?))",
         "set: delete the unwanted links");
  is_str(rowstr("SELECT projectId, role FROM UserProjects WHERE userId = 1 "
                "ORDER BY 1",
                NULL),
         "1|new;2|boss", "set result");
  /* a failing member leaves the old set untouched */
  t[0] = I(3);
  t[1] = I(99);
  is_int(assoc_rel_set(db, btm, &one, t, 2, NULL, 0, NULL), ASSOC_FOREIGNKEY,
         "set with a target violating the FK fails");
  is_str(rowstr("SELECT projectId, role FROM UserProjects WHERE userId = 1 "
                "ORDER BY 1",
                NULL),
         "1|new;2|boss", "the old set is untouched");
  is_int(assoc_txn_depth(db), 0, "transaction closed");
  is_int(assoc_rel_add(db, btm, &one, t, 2, NULL, 0, NULL), ASSOC_FOREIGNKEY,
         "add with a bad target fails as a whole");
  is_str(rowstr("SELECT count(*) FROM UserProjects", NULL), "2", "nothing added");
  {
    int bad = assoc_model_attr_index(UP, "userId");
    is_int(assoc_rel_add(db, btm, &one, t, 1, &bad, 1, tv), ASSOC_MISUSE,
           "through values naming a key refused");
    bad = assoc_model_attr_index(UP, "createdAt");
    is_int(assoc_rel_add(db, btm, &one, t, 1, &bad, 1, tv), ASSOC_MISUSE,
           "through values naming a timestamp refused");
    bad = 77;
    is_int(assoc_rel_add(db, btm, &one, t, 1, &bad, 1, tv), ASSOC_MISUSE,
           "through attribute out of range refused");
  }
  trace_reset();
  is_int(assoc_rel_set(db, btm, &one, NULL, 0, NULL, 0, NULL), ASSOC_OK,
         "set empty");
  is_int(ntraced, 1, "set empty: 1 statement");
  is_str(rowstr("SELECT count(*) FROM UserProjects WHERE userId = 1", NULL), "0",
         "cleared");
  /* a big list is one statement */
  {
    enum { BIG = 5000 };
    assoc_value *big = malloc(BIG * sizeof *big);
    int i;
    exec("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE "
         "x < 5000) INSERT INTO Projects (name) SELECT 'p' || x FROM c");
    if (big != NULL) {
      for (i = 0; i < BIG; i++) big[i] = I(i + 1);
      trace_reset();
      is_int(assoc_rel_set(db, btm, &two, big, BIG, NULL, 0, NULL), ASSOC_OK,
             "set with 5000 targets");
      is_int(ntraced, 4, "still 4 statements");
      assoc_rel_count(db, btm, &two, NULL, &n);
      is_int(n, BIG, "all linked");
      free(big);
    }
  }
}

/* A junction without a unique key (through.unique = false). */
static void test_btm_plain(void) {
  assoc_model *A, *B;
  assoc_assoc *a;
  assoc_assoc_def d;
  assoc_value one = I(1), t[2];
  fresh();
  A = named("User");
  B = named("Tag");
  d = adef(ASSOC_BELONGS_TO_MANY, A, B);
  d.through = "UserTags";
  d.through_unique = 0;
  a = mk(&d);
  assoc_sync(db, 0);
  exec("INSERT INTO Users (name) VALUES ('a')");
  exec("INSERT INTO Tags (name) VALUES ('x'), ('y')");
  t[0] = I(1);
  t[1] = I(1);
  trace_reset();
  is_int(assoc_rel_add(db, a, &one, t, 2, NULL, 0, NULL), ASSOC_OK,
         "add without a unique key");
  is_int(ntraced, 1, "1 statement");
  is_str(traced[0],
         "INSERT INTO \"UserTags\" (\"userId\", \"tagId\", \"createdAt\", "
         "\"updatedAt\") SELECT ?, \"assoc_j\".\"v\", ?, ? FROM (SELECT value AS "
         "\"v\", value AS \"r\" FROM json_each(?) GROUP BY 1) AS \"assoc_j\" "
         "WHERE NOT EXISTS (SELECT 1 FROM \"UserTags\" WHERE "
         "\"UserTags\".\"userId\" = ? AND \"UserTags\".\"tagId\" = "
         "\"assoc_j\".\"v\")",
         "INSERT of the missing links");
  assoc_rel_add(db, a, &one, t, 1, NULL, 0, NULL);
  is_str(rowstr("SELECT count(*) FROM UserTags", NULL), "1",
         "no duplicate link");
  t[1] = I(2);
  trace_reset();
  is_int(assoc_rel_set(db, a, &one, t + 1, 1, NULL, 0, NULL), ASSOC_OK, "set");
  is_int(ntraced, 4, "set: 4 statements");
  is_str(rowstr("SELECT tagId FROM UserTags", NULL), "2", "set result");
}

static void test_scoped_junction(void) {
  /* polymorphic tags: one junction, two scopes (#8890) */
  assoc_model *Post, *Image, *Tag, *IT;
  assoc_assoc *pa, *ia, *ta;
  assoc_assoc_def d;
  assoc_pair ps, is, ts;
  assoc_value one = I(1), t[2], n0;
  int64_t n;
  assoc_attr ia_[3];
  fresh();
  Post = named("Post");
  Image = named("Image");
  Tag = named("Tag");
  ia_[0] = attr("tagId", ASSOC_T_INTEGER, ASSOC_ATTR_NOTNULL);
  ia_[1] = attr("taggableId", ASSOC_T_INTEGER, ASSOC_ATTR_NOTNULL);
  ia_[2] = attr("taggableType", ASSOC_T_STRING, 0);
  IT = model("ItemTag", ia_, 3, 0);
  d = adef(ASSOC_BELONGS_TO_MANY, Post, Tag);
  d.through_model = IT;
  d.through_unique = 0;
  d.foreign_key = "taggableId";
  d.constraints = 0;
  ps.attr = "taggableType";
  ps.value = S("post");
  d.through_scope = &ps;
  d.nthrough_scope = 1;
  pa = mk(&d);
  d.source = Image;
  is = ps;
  is.value = S("image");
  d.through_scope = &is;
  ia = mk(&d);
  d = adef(ASSOC_BELONGS_TO_MANY, Tag, Post);
  d.through_model = IT;
  d.through_unique = 0;
  d.foreign_key = "tagId";
  d.other_key = "taggableId";
  d.constraints = 0;
  ts = ps;
  d.through_scope = &ts;
  d.nthrough_scope = 1;
  ta = mk(&d);
  ok(pa && ia && ta, "polymorphic junction associations");
  is_int(assoc_assoc_nscope(pa, 1), 1, "through scope kept");
  is_str(assoc_assoc_scope(pa, 1, 0)->attr, "taggableType", "scope attr");
  is_str(assoc_assoc_scope(pa, 1, 0)->value.u.s.p, "post", "scope value");
  assoc_sync(db, 0);
  exec("INSERT INTO Posts (name) VALUES ('p')");
  exec("INSERT INTO Images (name) VALUES ('i')");
  exec("INSERT INTO Tags (name) VALUES ('t1'), ('t2')");
  t[0] = I(1);
  t[1] = I(2);
  assoc_rel_add(db, pa, &one, t, 2, NULL, 0, NULL);
  assoc_rel_add(db, ia, &one, t, 2, NULL, 0, NULL);
  is_str(rowstr("SELECT taggableType, count(*) FROM ItemTags GROUP BY 1 ORDER BY 1",
                NULL),
         "image|2;post|2", "through scope stamped on add");
  assoc_rel_count(db, pa, &one, NULL, &n);
  is_int(n, 2, "count sees its own scope");
  trace_reset();
  is_int(assoc_rel_remove(db, pa, &one, t, 1), ASSOC_OK, "remove on post");
  is_str(traced[0],
         "DELETE FROM \"ItemTags\" WHERE \"taggableId\" = ? AND "
         "\"taggableType\" = ? AND \"tagId\" IN (SELECT value FROM json_each(?))",
         "remove SQL carries the through scope");
  is_str(rowstr("SELECT taggableType, count(*) FROM ItemTags GROUP BY 1 ORDER BY 1",
                NULL),
         "image|2;post|1", "the image's link with the same ids is untouched");
  assoc_rel_set(db, pa, &one, NULL, 0, NULL, 0, NULL);
  is_str(rowstr("SELECT taggableType, count(*) FROM ItemTags GROUP BY 1 ORDER BY 1",
                NULL),
         "image|2", "set touches only its scope too");
  assoc_rel_count(db, ta, &one, NULL, &n);
  is_int(n, 0, "Tag -> Post side sees no post link");
  n0 = I(1);
  (void)n0;
}

static void test_target_scope(void) {
  assoc_model *User, *Post;
  assoc_assoc *a;
  assoc_assoc_def d;
  assoc_pair sc;
  assoc_value one = I(1), t[2];
  int64_t n;
  assoc_attr pa[1];
  fresh();
  User = named("User");
  pa[0] = attr("status", ASSOC_T_STRING, 0);
  Post = model("Post", pa, 1, 0);
  d = adef(ASSOC_HAS_MANY, User, Post);
  d.as = "OpenPosts";
  sc.attr = "status";
  sc.value = S("open");
  d.scope = &sc;
  d.nscope = 1;
  a = mk(&d);
  assoc_sync(db, 0);
  exec("INSERT INTO Users (name) VALUES ('a')");
  exec("INSERT INTO Posts (status) VALUES ('draft'), ('draft'), ('open')");
  t[0] = I(1);
  t[1] = I(2);
  trace_reset();
  assoc_rel_add(db, a, &one, t, 2, NULL, 0, NULL);
  is_str(traced[0],
         "UPDATE \"Posts\" SET \"userId\" = ?, \"status\" = ? WHERE \"id\" IN "
         "(SELECT value FROM json_each(?))",
         "scope stamped on add");
  is_str(rowstr("SELECT id, status, userId FROM Posts ORDER BY id", NULL),
         "1|open|1;2|open|1;3|open|NULL", "stamped");
  exec("UPDATE Posts SET status = 'closed' WHERE id = 2");
  trace_reset();
  assoc_rel_count(db, a, &one, NULL, &n);
  is_int(n, 1, "scope filters count");
  is_str(traced[0],
         "SELECT count(*) FROM \"Posts\" WHERE \"userId\" = ? AND \"status\" = ?",
         "count SQL with the scope");
}

static void test_hasone(void) {
  assoc_value one = I(1), two = I(2), none = N();
  assoc_model *User, *Pf2, *Card;
  assoc_assoc *a, *b;
  assoc_assoc_def d;
  fresh();
  User = named("User");
  Pf2 = named("Profile");
  Card = model("Card", NULL, 0, 0);
  d = adef(ASSOC_HAS_ONE, User, Pf2);
  a = mk(&d);
  d = adef(ASSOC_HAS_ONE, User, Card);
  d.foreign_key_allow_null = 0;
  b = mk(&d);
  assoc_sync(db, 0);
  exec("INSERT INTO Users (name) VALUES ('a')");
  exec("INSERT INTO Profiles (name, userId) VALUES ('old', 1), ('new', NULL)");
  exec("INSERT INTO Cards (userId) VALUES (1), (1)");
  trace_reset();
  is_int(assoc_rel_set_one(db, a, &one, &two), ASSOC_OK, "setOne");
  ok(ntraced <= 4, "setOne: %d statements (<= 4)", ntraced);
  is_str(traced[1],
         "UPDATE \"Profiles\" SET \"userId\" = NULL WHERE \"userId\" = ? AND "
         "\"id\" IS NOT ?",
         "unlink the previous child");
  is_str(traced[2],
         "UPDATE \"Profiles\" SET \"userId\" = ? WHERE \"id\" = ?",
         "link the new one");
  is_str(rowstr("SELECT id, userId FROM Profiles ORDER BY id", NULL),
         "1|NULL;2|1", "never two children");
  trace_reset();
  is_int(assoc_rel_set_one(db, a, &one, NULL), ASSOC_OK, "setOne(nil)");
  is_int(ntraced, 1, "one statement");
  is_str(rowstr("SELECT count(*) FROM Profiles WHERE userId IS NOT NULL", NULL),
         "0", "unlinked");
  is_int(assoc_rel_set_one(db, b, &one, &two), ASSOC_OK,
         "setOne with a NOT NULL key");
  is_str(rowstr("SELECT id, userId FROM Cards", NULL), "2|1",
         "the previous child is deleted");
  is_int(assoc_rel_set_one(db, a, &none, &one), ASSOC_MISUSE,
         "a null source refused");
}

/* ---- fixes: count with a junction where, paranoid junction, kept cells ---- */

/* User belongsToMany Project through Member (role DEFAULT 'member', rank),
 * unique or not, paranoid or not.  Users ann, bob; Projects x, y, z. */
static assoc_assoc *fix_seed(int unique, int paranoid, assoc_model **jout) {
  assoc_model *Us, *Ps, *M;
  assoc_assoc_def d;
  assoc_attr ma[2];
  fresh();
  Us = named("User");
  Ps = named("Project");
  ma[0] = attr("role", ASSOC_T_STRING, ASSOC_ATTR_DEFAULT);
  ma[0].dflt = S("member");
  ma[1] = attr("rank", ASSOC_T_INTEGER, 0);
  M = model("Member", ma, 2,
            ASSOC_MODEL_TIMESTAMPS | (paranoid ? ASSOC_MODEL_PARANOID : 0));
  d = adef(ASSOC_BELONGS_TO_MANY, Us, Ps);
  d.through_model = M;
  d.through_unique = unique;
  if (jout) *jout = M;
  {
    assoc_assoc *a = mk(&d);
    assoc_sync(db, 0);
    exec("INSERT INTO \"Users\" (name) VALUES ('ann'), ('bob')");
    exec("INSERT INTO \"Projects\" (name) VALUES ('x'), ('y'), ('z')");
    return a;
  }
}

static void test_fix_count_through(void) {
  assoc_model *M;
  assoc_assoc *a = fix_seed(1, 0, &M), *hma;
  assoc_value one = I(1), t[3], own = S("owner"), tv[3];
  assoc_where w;
  assoc_through_req tr;
  int role = assoc_model_attr_index(M, "role");
  int64_t n = -1;
  t[0] = I(1);
  t[1] = I(2);
  t[2] = I(3);
  tv[0] = S("owner");
  tv[1] = S("dev");
  tv[2] = S("owner");
  assoc_rel_add(db, a, &one, t, 3, &role, 1, tv);
  memset(&w, 0, sizeof w);
  w.op = ASSOC_OP_EQ;
  w.attr = role;
  w.values = &own;
  w.nvalues = 1;
  memset(&tr, 0, sizeof tr);
  tr.nattrs = -1;
  tr.where = &w;
  trace_reset();
  is_int(assoc_rel_count_v2(db, a, &one, NULL, &tr, &n), ASSOC_OK,
         "count_v2 with a through where");
  is_int(n, 2, "counts the links matching the junction where");
  is_int(ntraced, 1, "count_v2: 1 statement");
  ok(strstr(traced[0], "\"Members\".\"role\" = ?") != NULL,
     "the where is in the join: %s", traced[0]);
  is_int(assoc_rel_count_v2(db, a, &one, NULL, NULL, &n), ASSOC_OK,
         "count_v2 without through");
  is_int(n, 3, "all links");
  tr.where = NULL;
  is_int(assoc_rel_count_v2(db, a, &one, NULL, &tr, &n), ASSOC_OK,
         "count_v2 with an empty through");
  is_int(n, 3, "all links again");
  {
    assoc_assoc_def d = adef(ASSOC_HAS_MANY, assoc_model_find(db, "User"),
                             assoc_model_find(db, "Project"));
    d.as = "Owned";
    hma = mk(&d);
  }
  tr.where = &w;
  is_int(assoc_rel_count_v2(db, hma, &one, NULL, &tr, &n), ASSOC_MISUSE,
         "a through where on hasMany is misuse");
  ok(strstr(assoc_errmsg(db), "has no junction") != NULL, "message: %s",
     assoc_errmsg(db));
}

static void test_fix_paranoid_junction(void) {
  int unique;
  for (unique = 1; unique >= 0; unique--) {
    assoc_model *M;
    assoc_assoc *a = fix_seed(unique, 1, &M);
    assoc_value one = I(1), two = I(2), t[3];
    int64_t n = -1;
    int all = -1;
    t[0] = I(1);
    t[1] = I(2);
    t[2] = I(3);
    assoc_rel_add(db, a, &one, t, 3, NULL, 0, NULL);
    assoc_rel_add(db, a, &two, t, 1, NULL, 0, NULL);
    trace_reset();
    is_int(assoc_rel_remove(db, a, &one, t, 1), ASSOC_OK, "remove (paranoid J)");
    is_int(ntraced, 1, "remove: 1 statement");
    is_str(traced[0],
           "UPDATE \"Members\" SET \"deletedAt\" = ?, \"updatedAt\" = ? WHERE "
           "\"userId\" = ? AND \"deletedAt\" IS NULL AND \"projectId\" IN "
           "(SELECT value FROM json_each(?))",
           "remove soft-deletes the link");
    is_str(rowstr("SELECT userId, projectId, deletedAt IS NOT NULL, "
                  "coalesce(deletedAt = updatedAt, 0) FROM Members ORDER BY 1, 2",
                  NULL),
           "1|1|1|1;1|2|0|0;1|3|0|0;2|1|0|0", "one dead link, stamped");
    assoc_rel_count(db, a, &one, NULL, &n);
    is_int(n, 2, "count ignores the dead link");
    assoc_rel_has(db, a, &one, t, 1, &all);
    is_int(all, 0, "has ignores the dead link");
    assoc_rel_has(db, a, &two, t, 1, &all);
    is_int(all, 1, "the other source's link is alive");
    trace_reset();
    is_int(assoc_rel_set(db, a, &one, t + 2, 1, NULL, 0, NULL), ASSOC_OK,
           "set (paranoid J)");
    ok(ntraced <= 4, "set: %d statements", ntraced);
    ok(strncmp(traced[1], "UPDATE \"Members\" SET \"deletedAt\"", 32) == 0,
       "set soft-deletes: %s", traced[1]);
    is_str(rowstr("SELECT projectId, deletedAt IS NOT NULL FROM Members WHERE "
                  "userId = 1 ORDER BY 1, 2", NULL),
           "1|1;2|1;3|0", "set leaves one live link");
    is_int(assoc_rel_add(db, a, &one, t, 1, NULL, 0, NULL), ASSOC_OK, "re-add");
    assoc_rel_has(db, a, &one, t, 1, &all);
    is_int(all, 1, "the link is alive again");
    assoc_rel_count(db, a, &one, NULL, &n);
    is_int(n, 2, "count sees it");
    is_int(scalar("SELECT count(*) FROM Members WHERE userId = 1 AND projectId "
                  "= 1 AND deletedAt IS NULL"),
           1, unique ? "revived in place" : "a new live link");
  }
}

static void test_fix_kept_cells(void) {
  int unique;
  for (unique = 1; unique >= 0; unique--) {
    assoc_model *M;
    assoc_assoc *a = fix_seed(unique, 0, &M);
    assoc_value one = I(1), t[3], tv[6];
    int at[2];
    unsigned char keep[6];
    at[0] = assoc_model_attr_index(M, "role");
    at[1] = assoc_model_attr_index(M, "rank");
    t[0] = I(1);
    t[1] = I(2);
    t[2] = I(3);
    tv[0] = S("owner");
    tv[1] = I(1);
    is_int(assoc_rel_add(db, a, &one, t, 1, at, 2, tv), ASSOC_OK,
           "link x as owner, rank 1");
    /* x: rank 5, role kept; y: role dev, rank kept (new: NULL); z: all kept */
    tv[0] = S("member");
    tv[1] = I(5);
    tv[2] = S("dev");
    tv[3] = N();
    tv[4] = S("member");
    tv[5] = I(9);
    memset(keep, 0, sizeof keep);
    keep[0] = 1;
    keep[3] = 1;
    keep[4] = keep[5] = 1;
    trace_reset();
    is_int(assoc_rel_add_v2(db, a, &one, t, 3, at, 2, tv, keep), ASSOC_OK,
           "add_v2 with kept cells");
    is_int(ntraced, unique ? 1 : 4, "add_v2: statements");
    is_str(rowstr("SELECT projectId, role, rank FROM Members WHERE userId = 1 "
                  "ORDER BY 1", NULL),
           "1|owner|5;2|dev|NULL;3|member|9",
           "a kept cell keeps the link's value, a new link gets the default");
    /* set: y kept entirely, z gets role lead, x goes */
    tv[0] = S("member");
    tv[1] = N();
    tv[2] = S("lead");
    tv[3] = I(0);
    memset(keep, 0, sizeof keep);
    keep[0] = keep[1] = 1;
    keep[3] = 1;
    trace_reset();
    is_int(assoc_rel_set_v2(db, a, &one, t + 1, 2, at, 2, tv, keep), ASSOC_OK,
           "set_v2 with kept cells");
    ok(ntraced <= 4, "set_v2: %d statements", ntraced);
    is_str(rowstr("SELECT projectId, role, rank FROM Members WHERE userId = 1 "
                  "ORDER BY 1", NULL),
           "2|dev|NULL;3|lead|9", "set_v2 keeps the kept cells of links that stay");
    is_int(assoc_rel_set_v2(db, a, &one, t + 1, 2, at, 2, tv, NULL), ASSOC_OK,
           "set_v2 with tkeep NULL = set");
    is_str(rowstr("SELECT projectId, role, rank FROM Members WHERE userId = 1 "
                  "ORDER BY 1", NULL),
           "2|member|NULL;3|lead|0", "every cell written");
  }
}

static void test_closed(void) {
  assoc_value one = I(1);
  int64_t n;
  int all;
  assoc_rows *r = (assoc_rows *)1;
  seed();
  is_int(assoc_rel_get(NULL, hm, &one, NULL, NULL, &r), ASSOC_CLOSED,
         "get on NULL db");
  is_int(assoc_rel_count(NULL, hm, &one, NULL, &n), ASSOC_CLOSED, "count");
  is_int(assoc_rel_has(NULL, hm, &one, &one, 1, &all), ASSOC_CLOSED, "has");
  is_int(assoc_rel_add(NULL, hm, &one, &one, 1, NULL, 0, NULL), ASSOC_CLOSED,
         "add");
  is_int(assoc_rel_remove(NULL, hm, &one, &one, 1), ASSOC_CLOSED, "remove");
  is_int(assoc_rel_set(NULL, hm, &one, &one, 1, NULL, 0, NULL), ASSOC_CLOSED,
         "set");
  is_int(assoc_rel_set_one(NULL, ho, &one, &one), ASSOC_CLOSED, "setOne");
  is_int(assoc_rel_count(db, NULL, &one, NULL, &n), ASSOC_MISUSE,
         "no association");
  is_int(assoc_rel_count(db, hm, NULL, NULL, &n), ASSOC_MISUSE, "no src");
  is_int(assoc_rows_node(NULL, 0), 0, "rows_node NULL");
}

static void test_btm_junction_only(void) {
  assoc_value one = I(1), t[2];
  int yes = -1;
  int64_t n = -1;
  seed();
  t[0] = I(1);
  t[1] = I(2);
  is_int(assoc_rel_add(db, btm, &one, t, 2, NULL, 0, NULL), ASSOC_OK,
         "junction-only: add 2");
  trace_reset();
  is_int(assoc_rel_has_one(db, btm, &one, &t[1], &yes), ASSOC_OK,
         "junction-only: has one");
  is_int(yes, 1, "junction-only: has it");
  is_int(ntraced, 1, "junction-only has: 1 statement");
  is_str(traced[0],
         "SELECT EXISTS (SELECT 1 FROM \"UserProjects\" WHERE "
         "\"UserProjects\".\"userId\" = ? AND \"UserProjects\".\"projectId\" "
         "= ?)",
         "junction-only has SQL");
  trace_reset();
  is_int(assoc_rel_count_fast(db, btm, &one, NULL, NULL, &n), ASSOC_OK,
         "junction-only: count");
  is_int(n, 2, "junction-only: count 2");
  is_int(ntraced, 1, "junction-only count: 1 statement");
  is_str(traced[0],
         "SELECT count(*) FROM \"UserProjects\" WHERE "
         "\"UserProjects\".\"userId\" = ?",
         "junction-only count SQL");
}

int main(void) {
  test_names();
  test_pairs();
  test_misuse();
  test_ddl();
  test_hasmany();
  test_not_null_and_paranoid();
  test_btm();
  test_btm_junction_only();
  test_btm_plain();
  test_scoped_junction();
  test_target_scope();
  test_hasone();
  test_closed();
  test_fix_count_through();
  test_fix_paranoid_junction();
  test_fix_kept_cells();
  assoc_close(db);
  return done_testing();
}
