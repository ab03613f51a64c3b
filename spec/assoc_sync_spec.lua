-- db:sync with associations: foreign-key DDL per kind (read back with PRAGMA
-- foreign_key_list / table_info), junction tables, dependency order, cycles, and what the
-- database does on destroy (cascades).
local H = require "spec.helpers"
local F = require "spec.assoc_fixtures"
local assoc = H.assoc
local DataTypes = assoc.DataTypes

describe("sync DDL of foreign keys", function()
  local db, log, User, Post
  before_each(function()
    db, log = H.open()
    User = db:define("User", { name = DataTypes.STRING })
    Post = db:define("Post", { title = DataTypes.STRING })
  end)
  after_each(function() db:close() end)

  it("hasMany with a nullable key: SET NULL on delete, CASCADE on update", function()
    User:hasMany(Post)
    db:sync()
    assert.are.same({ table = "Users", to = "id", on_delete = "SET NULL",
      on_update = "CASCADE" }, F.fks(db, "Posts").userId)
    assert.are.equal(0, F.columns(db, "Posts").userId.notnull)
    assert.are.equal("INTEGER", F.columns(db, "Posts").userId.type)
  end)

  it("hasMany with a NOT NULL key: CASCADE on delete", function()
    User:hasMany(Post, { foreignKey = { allowNull = false } })
    db:sync()
    assert.are.equal("CASCADE", F.fks(db, "Posts").userId.on_delete)
    assert.are.equal(1, F.columns(db, "Posts").userId.notnull)
  end)

  it("hasOne: SET NULL when nullable, CASCADE when NOT NULL", function()
    local Profile = db:define("Profile", {})
    local Avatar = db:define("Avatar", {})
    User:hasOne(Profile)
    User:hasOne(Avatar, { foreignKey = { allowNull = false } })
    db:sync()
    assert.are.equal("SET NULL", F.fks(db, "Profiles").userId.on_delete)
    assert.are.equal("CASCADE", F.fks(db, "Avatars").userId.on_delete)
    assert.are.equal("CASCADE", F.fks(db, "Avatars").userId.on_update)
  end)

  it("belongsTo: SET NULL when nullable, NO ACTION when NOT NULL", function()
    local Comment = db:define("Comment", {})
    Post:belongsTo(User)
    Comment:belongsTo(User, { foreignKey = { allowNull = false } })
    db:sync()
    assert.are.same({ table = "Users", to = "id", on_delete = "SET NULL",
      on_update = "CASCADE" }, F.fks(db, "Posts").userId)
    assert.are.equal("NO ACTION", F.fks(db, "Comments").userId.on_delete)
  end)

  it("takes explicit onDelete and onUpdate, in any case", function()
    User:hasMany(Post, { onDelete = "restrict", onUpdate = "set null" })
    db:sync()
    local fk = F.fks(db, "Posts").userId
    assert.are.equal("RESTRICT", fk.on_delete)
    assert.are.equal("SET NULL", fk.on_update)
  end)

  it("writes no REFERENCES with constraints = false", function()
    User:hasMany(Post, { constraints = false })
    db:sync()
    assert.are.equal(0, F.nfks(db, "Posts"))
    assert.is_table(F.columns(db, "Posts").userId)
  end)

  it("references sourceKey and targetKey columns", function()
    local Account = db:define("Account", { code = { type = DataTypes.STRING, unique = true } })
    local Invoice = db:define("Invoice", {})
    Invoice:belongsTo(Account, { targetKey = "code" })
    db:sync()
    assert.are.same({ table = "Accounts", to = "code", on_delete = "SET NULL",
      on_update = "CASCADE" }, F.fks(db, "Invoices").accountCode)
  end)

  it("names the column in snake_case for an underscored model", function()
    local U = db:define("Member", {}, { underscored = true })
    local N = db:define("Note", {}, { underscored = true })
    U:hasMany(N)
    db:sync()
    assert.is_table(F.columns(db, "notes").member_id)
    assert.are.equal("members", F.fks(db, "notes").member_id.table)
  end)

  it("writes one key for several associations of a pair on one column", function()
    User:hasMany(Post)
    Post:belongsTo(User)
    db:sync()
    assert.are.equal(1, F.nfks(db, "Posts"))
  end)
end)

describe("sync DDL of junction tables", function()
  local db, User, Project
  before_each(function()
    db = H.open()
    User = db:define("User", { name = DataTypes.STRING })
    Project = db:define("Project", { name = DataTypes.STRING })
  end)
  after_each(function() db:close() end)

  it("creates the junction with both keys NOT NULL, CASCADE/CASCADE, composite key", function()
    User:belongsToMany(Project, { through = "UserProjects" })
    Project:belongsToMany(User, { through = "UserProjects" })
    db:sync()
    local fks = F.fks(db, "UserProjects")
    assert.are.same({ table = "Users", to = "id", on_delete = "CASCADE", on_update = "CASCADE" },
      fks.userId)
    assert.are.same({ table = "Projects", to = "id", on_delete = "CASCADE",
      on_update = "CASCADE" }, fks.projectId)
    local cols = F.columns(db, "UserProjects")
    assert.are.equal(1, cols.userId.notnull)
    assert.are.equal(1, cols.projectId.notnull)
    local pk = F.pk_columns(db, "UserProjects")
    table.sort(pk)
    assert.are.same({ "projectId", "userId" }, pk)
    assert.is_table(cols.createdAt)
    assert.is_table(cols.updatedAt)
    assert.is_nil(cols.id)
  end)

  it("keeps a declared primary key and adds a UNIQUE (fk, otherKey)", function()
    local Membership = db:define("Membership", {
      mid = { type = DataTypes.INTEGER, primaryKey = true, autoIncrement = true },
      role = DataTypes.STRING })
    User:belongsToMany(Project, { through = Membership })
    db:sync()
    assert.are.same({ "mid" }, F.pk_columns(db, "Memberships"))
    local found = false
    for _, cols in ipairs(F.unique_indexes(db, "Memberships")) do
      if cols == "projectId,userId" then found = true end
    end
    assert.is_true(found)
  end)

  it("adds neither composite key nor UNIQUE with through.unique = false", function()
    local Membership = db:define("Membership", { role = DataTypes.STRING })
    User:belongsToMany(Project, { through = { model = Membership, unique = false } })
    db:sync()
    assert.are.same({ "id" }, F.pk_columns(db, "Memberships"))
    for _, cols in ipairs(F.unique_indexes(db, "Memberships")) do
      assert.are_not.equal("projectId,userId", cols)
    end
  end)

  it("keeps the extra attributes of a defined through model", function()
    local Membership = db:define("Membership", { role = DataTypes.STRING })
    User:belongsToMany(Project, { through = Membership })
    db:sync()
    local cols = F.columns(db, "Memberships")
    assert.is_table(cols.role)
    assert.is_table(cols.userId)
    assert.is_table(cols.projectId)
  end)
end)

describe("sync order", function()
  local db, log
  before_each(function() db, log = H.open() end)
  after_each(function() db:close() end)

  local function created(log)
    local order = {}
    for _, sql in ipairs(log) do
      local t = sql:match('^CREATE TABLE[^"]*"([^"]+)"')
      if t then order[#order + 1] = t end
    end
    return order
  end

  local function index_of(list, v)
    for i, x in ipairs(list) do if x == v then return i end end
  end

  it("creates referenced tables first, whatever the define order", function()
    local Post = db:define("Post", {})
    local User = db:define("User", {})
    Post:belongsTo(User)
    db:sync()
    local order = created(log)
    assert.is_true(index_of(order, "Users") < index_of(order, "Posts"))
  end)

  it("creates junction tables last", function()
    local User = db:define("User", {})
    local Project = db:define("Project", {})
    local Later = db:define("Later", {})
    User:belongsToMany(Project, { through = "UserProjects" })
    db:sync()
    local order = created(log)
    assert.are.equal("UserProjects", order[#order])
    assert.truthy(index_of(order, "Laters"))
  end)

  it("handles cycles", function()
    local A = db:define("A", { name = DataTypes.STRING })
    local B = db:define("B", { name = DataTypes.STRING })
    A:belongsTo(B)
    B:belongsTo(A)
    db:sync()
    assert.are.equal("As", F.fks(db, "Bs").aId.table)
    assert.are.equal("Bs", F.fks(db, "As").bId.table)
    local a = A:create { name = "a" }
    local b = B:create { name = "b", aId = a.id }
    a:setB(b)
    assert.are.equal("b", a:getB().name)
  end)

  it("drops and recreates everything with force", function()
    local User = db:define("User", { name = DataTypes.STRING })
    local Project = db:define("Project", {})
    User:belongsToMany(Project, { through = "UserProjects" })
    db:sync()
    local u = User:create { name = "a" }
    u:createProject {}
    db:sync { force = true }
    assert.are.equal(0, H.rows(db, "UserProjects"))
    assert.are.equal(0, H.rows(db, "Users"))
  end)

  it("db:drop removes the junction table too", function()
    local User = db:define("User", {})
    local Project = db:define("Project", {})
    User:belongsToMany(Project, { through = "UserProjects" })
    db:sync()
    db:drop()
    local left = db:query("SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?",
      { "UserProjects" })
    assert.are.equal(0, #left)
  end)
end)

describe("cascades on destroy", function()
  local db
  before_each(function() db = H.open() end)
  after_each(function() db:close() end)

  it("hasMany with a nullable key: the children's key becomes NULL", function()
    local User = db:define("User", { name = DataTypes.STRING })
    local Post = db:define("Post", {})
    User:hasMany(Post)
    db:sync()
    local u = User:create { name = "a" }
    u:createPost {}
    u:createPost {}
    u:destroy()
    assert.are.equal(2, H.rows(db, "Posts"))
    assert.are.equal(0, #db:query('SELECT id FROM "Posts" WHERE userId IS NOT NULL'))
  end)

  it("hasMany with a NOT NULL key: the children are deleted", function()
    local User = db:define("User", { name = DataTypes.STRING })
    local Post = db:define("Post", {})
    User:hasMany(Post, { foreignKey = { allowNull = false } })
    db:sync()
    local u = User:create { name = "a" }
    local v = User:create { name = "b" }
    u:createPost {}
    v:createPost {}
    u:destroy()
    assert.are.equal(1, H.rows(db, "Posts"))
  end)

  it("belongsToMany: destroying either side deletes its links only", function()
    local User = db:define("User", { name = DataTypes.STRING })
    local Project = db:define("Project", { name = DataTypes.STRING })
    User:belongsToMany(Project, { through = "UserProjects" })
    Project:belongsToMany(User, { through = "UserProjects" })
    db:sync()
    local a, b = User:create { name = "a" }, User:create { name = "b" }
    local p, q = Project:create { name = "p" }, Project:create { name = "q" }
    a:addProjects { p, q }
    b:addProjects { p, q }
    a:destroy()
    assert.are.equal(2, H.rows(db, "UserProjects"))
    assert.are.equal(2, H.rows(db, "Projects"))
    q:destroy()
    assert.are.equal(1, H.rows(db, "UserProjects"))
    assert.are.same({ "p" }, F.pluck(b:getProjects(), "name"))
  end)

  it("RESTRICT refuses the delete with ForeignKeyConstraintError, nothing deleted", function()
    local User = db:define("User", { name = DataTypes.STRING })
    local Post = db:define("Post", {})
    User:hasMany(Post, { onDelete = "RESTRICT" })
    db:sync()
    local u = User:create { name = "a" }
    u:createPost {}
    H.raises("ForeignKeyConstraintError", nil, function() u:destroy() end)
    assert.are.equal(1, H.rows(db, "Users"))
    assert.are.equal(1, u:countPosts())
  end)

  it("a paranoid parent's soft delete leaves the children linked", function()
    local User = db:define("User", { name = DataTypes.STRING }, { paranoid = true })
    local Post = db:define("Post", {})
    User:hasMany(Post)
    db:sync()
    local u = User:create { name = "a" }
    u:createPost {}
    u:destroy()
    assert.are.equal(1, #db:query('SELECT id FROM "Posts" WHERE userId = ?', { u.id }))
  end)

  it("updating a parent's key cascades to the children", function()
    local User = db:define("User", { name = DataTypes.STRING })
    local Post = db:define("Post", {})
    User:hasMany(Post)
    db:sync()
    local u = User:create { name = "a" }
    u:createPost {}
    db:query('UPDATE "Users" SET id = 42 WHERE id = ?', { u.id })
    assert.are.equal(1, #db:query('SELECT id FROM "Posts" WHERE userId = 42'))
  end)
end)
