-- Specs of the association API of assoc.core (doc/associations.md, "Bindings"):
-- db:associate, a:info and the accessors get, count, has, add, remove, set, setOne.
-- Every test opens a fresh :memory: db whose statements are recorded in `log`.
local core = require "assoc.core"
local Op, null = core.Op, core.null

local db, log

local function open()
  log = {}
  db = core.open(":memory:", { logging = function(sql) log[#log + 1] = sql end })
  return db
end

local function clear() for i = #log, 1, -1 do log[i] = nil end end

local CH = require "spec.core_helpers"
local raises, ids = CH.raises, CH.ids

local function rows(sql) return db:query(sql) end

-- User, Post (timestamps), Project, UserProjects (role), Profile.
local function models()
  local m = {}
  m.User = db:define("User", { { name = "name", type = "STRING" } })
  m.Post = db:define("Post", { { name = "title", type = "STRING" } }, { timestamps = true })
  m.Project = db:define("Project", { { name = "name", type = "STRING" } })
  m.Profile = db:define("Profile", { { name = "bio", type = "STRING" } })
  return m
end

local function seed(m)
  for _, n in ipairs { "ann", "bob" } do m.User:insert { name = n } end
  local now = core.now()
  for i = 1, 4 do m.Post:insert { title = "p" .. i, createdAt = now, updatedAt = now } end
  for _, n in ipairs { "x", "y", "z" } do m.Project:insert { name = n } end
  for _, n in ipairs { "b1", "b2" } do m.Profile:insert { bio = n } end
end

describe("db:associate", function()
  local m
  before_each(function() open(); m = models() end)
  after_each(function() db:close() end)

  it("returns an Association whose info describes a hasMany", function()
    local a = db:associate("hasMany", m.User, m.Post)
    assert.are.equal("userdata", type(a))
    assert.matches("assoc.Association User.hasMany%(Post%) as Posts", tostring(a))
    local i = a:info()
    assert.are.equal("HasMany", i.associationType)
    assert.are.equal("hasMany", i.kind)
    assert.are.equal("User", i.source)
    assert.are.equal("Post", i.target)
    assert.are.equal("Posts", i.as)
    assert.are.equal("Post", i.singular)
    assert.are.equal("Posts", i.plural)
    assert.are.equal("userId", i.foreignKey)
    assert.are.equal("id", i.sourceKey)
    assert.are.equal("id", i.targetKey)
    assert.is_nil(i.otherKey)
    assert.is_nil(i.through)
    assert.are.equal("id", i.sourceAttr)
    assert.are.equal("id", i.targetAttr)
    assert.is_true(i.foreignKeyAllowNull)
    assert.are.same({}, i.scope)
    assert.are.same({
      get = "getPosts", set = "setPosts", create = "createPost", count = "countPosts",
      hasOne = "hasPost", hasMany = "hasPosts", addOne = "addPost", addMany = "addPosts",
      removeOne = "removePost", removeMany = "removePosts",
    }, i.accessors)
  end)

  it("adds the foreign key to the target, visible in attributes with its reference", function()
    db:associate("hasMany", m.User, m.Post)
    local attrs = m.Post:attributes()
    local fk = attrs[#attrs]
    assert.are.equal("userId", fk.name)
    assert.are.equal("INTEGER", fk.type)
    assert.is_true(fk.allowNull)
    assert.are.same({ model = "User", key = "id" }, fk.references)
    assert.is_nil(attrs[1].references)
    db:sync()
    m.User:insert { name = "ann" }
    local id = m.Post:insert { title = "t", userId = 1, createdAt = core.now(), updatedAt = core.now() }
    assert.are.equal(1, m.Post:find { where = { id = id } }[1].userId)
  end)

  it("describes belongsTo, hasOne and belongsToMany", function()
    local bt = db:associate("belongsTo", m.Post, m.User, { as = "author" }):info()
    assert.are.equal("BelongsTo", bt.associationType)
    assert.are.equal("authorId", bt.foreignKey)
    assert.are.equal("author", bt.as)
    assert.is_nil(bt.sourceKey)
    assert.are.equal("authorId", bt.sourceAttr)
    assert.are.same({ get = "getAuthor", set = "setAuthor", create = "createAuthor" }, bt.accessors)
    local ho = db:associate("hasOne", m.User, m.Profile):info()
    assert.are.equal("HasOne", ho.associationType)
    assert.are.equal("Profile", ho.as)
    assert.are.equal("userId", ho.foreignKey)
    local btm = db:associate("belongsToMany", m.User, m.Project, { through = "UserProjects" }):info()
    assert.are.equal("BelongsToMany", btm.associationType)
    assert.are.equal("userId", btm.foreignKey)
    assert.are.equal("projectId", btm.otherKey)
    assert.are.equal("UserProjects", btm.through)
    assert.is_false(btm.foreignKeyAllowNull)
  end)

  it("generates a junction model that db:model returns", function()
    db:associate("belongsToMany", m.User, m.Project, { through = "UserProjects" })
    local J = db:model("UserProjects")
    assert.are.equal("assoc.Model UserProjects", tostring(J))
    assert.are.equal(J, db:model("UserProjects"))
    assert.are.equal("UserProjects", J:tableName())
    local names, pks = {}, {}
    for _, a in ipairs(J:attributes()) do
      names[#names + 1] = a.name
      if a.primaryKey then pks[#pks + 1] = a.name end
    end
    assert.are.same({ "userId", "projectId", "createdAt", "updatedAt" }, names)
    assert.are.same({ "userId", "projectId" }, pks)
    assert.are.same({ model = "Project", key = "id" }, J:attributes()[2].references)
    local rev = db:associate("belongsToMany", m.Project, m.User, { through = "UserProjects" })
    assert.are.equal("projectId", rev:info().foreignKey)
    assert.are.equal("userId", rev:info().otherKey)
  end)

  it("takes every option", function()
    local Tag = db:define("Tag", { { name = "kind", type = "STRING" } })
    local J = db:define("Tagging", { { name = "kind", type = "STRING" }, { name = "weight", type = "INTEGER" } })
    local a = db:associate("belongsToMany", m.Post, Tag, {
      as = { singular = "Label", plural = "Labels" },
      foreignKey = { name = "itemId" }, otherKey = { name = "labelId" },
      sourceKey = "id", targetKey = "id", through = J, throughUnique = false,
      throughTimestamps = false, scope = { kind = "topic" }, throughScope = { kind = "post" },
      constraints = false, onDelete = "cascade", onUpdate = "No Action",
    })
    local i = a:info()
    assert.are.equal("Labels", i.as)
    assert.are.equal("itemId", i.foreignKey)
    assert.are.equal("labelId", i.otherKey)
    assert.are.same({ kind = "topic" }, i.scope)
    assert.are.same({ kind = "post" }, i.throughScope)
    assert.are.equal("getLabels", i.accessors.get)
    local h = db:associate("hasMany", m.User, m.Post, {
      as = "Drafts", foreignKey = { name = "ownerId", allowNull = false },
      onDelete = "RESTRICT", scope = { title = null },
    }):info()
    assert.is_false(h.foreignKeyAllowNull)
    assert.are.equal(null, h.scope.title)
    db:sync()
    local fk = rows [[SELECT on_delete FROM pragma_foreign_key_list('Posts') WHERE "from" = 'ownerId']]
    assert.are.equal("RESTRICT", fk[1].on_delete)
  end)

  it("raises AssociationError for every bad definition, adding nothing", function()
    raises("AssociationError", "unknown association kind 'hasLots'",
      db.associate, db, "hasLots", m.User, m.Post)
    raises("AssociationError", "kind must be", db.associate, db, 42, m.User, m.Post)
    raises("AssociationError", "target must be a Model (got string)",
      db.associate, db, "hasMany", m.User, "Post")
    raises("AssociationError", "source must be a Model (got table)",
      db.associate, db, "hasMany", {}, m.Post)
    raises("AssociationError", "unknown option 'foo' for User.hasMany(Post)",
      db.associate, db, "hasMany", m.User, m.Post, { foo = 1 })
    raises("AssociationError", "options must be a table",
      db.associate, db, "hasMany", m.User, m.Post, "x")
    raises("AssociationError", "constraints must be a boolean",
      db.associate, db, "hasMany", m.User, m.Post, { constraints = 1 })
    raises("AssociationError", "onDelete must be one of",
      db.associate, db, "hasMany", m.User, m.Post, { onDelete = "EXPLODE" })
    raises("AssociationError", "unknown option 'field' in foreignKey",
      db.associate, db, "hasMany", m.User, m.Post, { foreignKey = { field = "x" } })
    raises("AssociationError", "unknown attribute 'nope' of Post",
      db.associate, db, "hasMany", m.User, m.Post, { scope = { nope = 1 } })
    raises("AssociationError", "Post.title must be a string",
      db.associate, db, "hasMany", m.User, m.Post, { scope = { title = {} } })
    raises("AssociationError", "'as' must be defined for many-to-many self-associations",
      db.associate, db, "belongsToMany", m.User, m.User, { through = "Friendships" })
    raises("AssociationError", "needs a through", db.associate, db, "belongsToMany", m.User, m.Project)
    raises("AssociationError", "belongsToMany only",
      db.associate, db, "hasMany", m.User, m.Post, { through = "X" })
    raises("AssociationError", "sourceKey 'nope'",
      db.associate, db, "hasMany", m.User, m.Post, { sourceKey = "nope" })
    local other = core.open(":memory:")
    local Foreign = other:define("Foreign", {})
    raises("AssociationError", "another Db", db.associate, db, "hasMany", m.User, Foreign)
    other:close()
    assert.is_nil(db:model("Friendships"))
    assert.are.equal(4, #m.Post:attributes())
    db:associate("hasMany", m.User, m.Post)
    raises("AssociationError", { "alias Posts", "User.hasMany(Post)" },
      db.associate, db, "hasMany", m.User, m.Post)
  end)

  it("names both sides of a conflicting pair", function()
    db:associate("hasMany", m.User, m.Post, { foreignKey = { name = "authorId", allowNull = false } })
    raises("AssociationError",
      "User.hasMany(Post) uses foreign key authorId with allowNull=false, but " ..
      "Post.belongsTo(User) declares it with allowNull=true",
      db.associate, db, "belongsTo", m.Post, m.User,
      { foreignKey = { name = "authorId", allowNull = true } })
    local bt = db:associate("belongsTo", m.Post, m.User)
    assert.are.equal("authorId", bt:info().foreignKey)
  end)

  it("raises ConnectionError once the db is closed", function()
    db:close()
    raises("ConnectionError", "database is closed", db.associate, db, "hasMany", m.User, m.Post)
  end)
end)

describe("hasMany accessors", function()
  local m, a
  before_each(function()
    open(); m = models()
    a = db:associate("hasMany", m.User, m.Post)
    db:sync(); seed(m)
    clear()
  end)
  after_each(function() db:close() end)

  it("add links several targets with one statement", function()
    a:add(1, { 1, 2 })
    assert.are.same({ 'UPDATE "Posts" SET "userId" = ?, "updatedAt" = ? WHERE "id" IN (SELECT value FROM json_each(?))' }, log)
    assert.are.same({ 1, 2 }, ids(m.Post:find { where = { userId = 1 }, order = { "id" } }))
    a:add(1, 3)
    assert.are.equal(3, a:count(1))
  end)

  it("get takes a request, a row metatable and a state key", function()
    a:add(1, { 1, 2, 3 })
    clear()
    local mt = {}
    local got = a:get(1, { where = { id = { [Op.gt] = 1 } }, order = { { "id", "DESC" } }, limit = 1 }, mt, "_s")
    assert.are.equal(1, #log)
    assert.are.same({ 3 }, ids(got))
    assert.are.equal(mt, getmetatable(got[1]))
    assert.are.equal("p3", got[1]._s.title)
    assert.are.same({ 1, 2, 3 }, ids(a:get(1, { order = { "id" } })))
    assert.are.same({}, a:get(2))
    assert.are.same({}, a:get(nil))
  end)

  it("count and has run one statement each", function()
    a:add(1, { 1, 2 })
    clear()
    assert.are.equal(2, a:count(1))
    assert.are.equal(1, a:count(1, { where = { title = "p2" } }))
    assert.is_true(a:has(1, { 1, 2 }))
    assert.is_true(a:has(1, 2))
    assert.is_false(a:has(1, { 1, 3 }))
    assert.are.equal(5, #log)
    assert.is_true(a:has(1, {})) -- all of none: no statement
    assert.are.equal(5, #log)
  end)

  it("remove unlinks with one statement; set is a diff in at most 4", function()
    a:add(1, { 1, 2 })
    clear()
    a:remove(1, { 1 })
    assert.are.equal(1, #log)
    assert.are.same({ 2 }, ids(a:get(1)))
    clear()
    a:set(1, { 3, 4 })
    assert.is_true(#log <= 4)
    assert.are.same({ 3, 4 }, ids(a:get(1, { order = { "id" } })))
    assert.are.equal(4, m.Post:count {})
    a:set(1, nil)
    assert.are.equal(0, a:count(1))
  end)

  it("raises AssociationError for a target of the wrong type, nothing written", function()
    raises("AssociationError", "Post.id must be an integer (got string)", a.add, a, 1, { 1, "x" })
    raises("AssociationError", "Post.id must be an integer (got table)", a.has, a, 1, { {} })
    raises("AssociationError", "User.id must be an integer", a.get, a, "bob")
    raises("AssociationError", "target #1 is null", a.add, a, 1, { null })
    raises("AssociationError", "targets must be an array", a.add, a, 1, { id = 1 })
    raises("AssociationError", "is null (save it first)", a.add, a, nil, { 1 })
    raises("AssociationError", "not a hasOne", a.setOne, a, 1, 1)
    raises("AssociationError", "expected an Association as self", a.get, {}, 1)
    assert.are.equal(0, m.Post:count { where = { userId = { [Op.ne] = null } } })
  end)

  it("keeps AssocError for a bad request, as Model:find does", function()
    raises("AssocError", "unknown attribute 'nope'", a.get, a, 1, { where = { nope = 1 } })
    raises("AssocError", "unknown option 'bogus'", a.count, a, 1, { bogus = 1 })
  end)
end)

describe("belongsToMany accessors", function()
  local m, a, J
  before_each(function()
    open(); m = models()
    J = db:define("UserProjects", { { name = "role", type = "STRING" } }, { timestamps = true })
    a = db:associate("belongsToMany", m.User, m.Project, { through = J })
    db:sync(); seed(m)
    clear()
  end)
  after_each(function() db:close() end)

  it("add takes per-target through values in one statement", function()
    a:add(1, { 1, 2, 3 }, { { role = "owner" }, { role = "dev" } })
    assert.are.equal(1, #log)
    assert.matches("ON CONFLICT", log[1])
    local r = rows [[SELECT projectId, role FROM UserProjects ORDER BY projectId]]
    assert.are.same({ { projectId = 1, role = "owner" }, { projectId = 2, role = "dev" }, { projectId = 3 } }, r)
  end)

  it("adding an existing link updates its through values", function()
    a:add(1, { 1 }, { { role = "owner" } })
    a:add(1, { 1 }, { { role = "lead", userId = 99, createdAt = "x" } })
    local r = rows [[SELECT userId, role FROM UserProjects]]
    assert.are.same({ { userId = 1, role = "lead" } }, r)
  end)

  it("get puts the junction row under its key, with its metatable and state key", function()
    a:add(1, { 1, 2 }, { { role = "owner" }, { role = "dev" } })
    clear()
    local mt, jmt = {}, {}
    local got = a:get(1, { order = { "id" } }, mt, "_s", { mt = jmt, statekey = "_j" })
    assert.are.equal(1, #log)
    assert.matches('INNER JOIN "UserProjects"', log[1])
    assert.are.same({ 1, 2 }, ids(got))
    assert.are.equal(mt, getmetatable(got[1]))
    assert.are.equal("owner", got[1].UserProjects.role)
    assert.are.equal(1, got[1].UserProjects.userId)
    assert.are.equal(jmt, getmetatable(got[1].UserProjects))
    assert.are.equal("owner", got[1].UserProjects._j.role)
    assert.is_nil(got[1]._s.UserProjects)
    local picked = a:get(1, { where = { name = "y" } }, nil, nil, { attributes = { "role" }, key = "link" })
    assert.are.same({ { id = 2, name = "y", link = { role = "dev" } } }, picked)
    local none = a:get(1, {}, nil, nil, { attributes = {} })
    assert.is_nil(none[1].UserProjects)
    local filtered = a:get(1, {}, nil, nil, { where = { role = "owner" } })
    assert.are.same({ 1 }, ids(filtered))
  end)

  it("count, has and remove run one statement each", function()
    a:add(1, { 1, 2 })
    clear()
    assert.are.equal(2, a:count(1))
    assert.is_true(a:has(1, { 1, 2 }))
    assert.is_false(a:has(1, { 3 }))
    a:remove(1, 1)
    assert.are.equal(4, #log)
    assert.are.same({ 2 }, ids(a:get(1)))
  end)

  it("set is a diff in at most 4 statements for any length", function()
    a:add(1, { 1, 2 }, { { role = "a" }, { role = "b" } })
    clear()
    a:set(1, { 2, 3 }, { { role = "B" }, { role = "C" } })
    assert.are.equal(4, #log)
    local r = rows [[SELECT projectId, role FROM UserProjects ORDER BY projectId]]
    assert.are.same({ { projectId = 2, role = "B" }, { projectId = 3, role = "C" } }, r)
  end)

  it("a set with a failing member leaves the old set untouched", function()
    a:set(1, { 1, 2 })
    raises("ForeignKeyConstraintError", "FOREIGN KEY", a.set, a, 1, { 3, 99 })
    assert.are.same({ 1, 2 }, ids(a:get(1, { order = { "id" } })))
    assert.are.equal(0, db:depth())
  end)

  it("decodes junction columns by type, with separate snapshot copies", function()
    local J2 = db:define("Links", { { name = "meta", type = "JSON" }, { name = "on", type = "BOOLEAN" } })
    local b = db:associate("belongsToMany", m.User, m.Project, { as = "Linked", through = J2 })
    db:sync()
    b:add(1, { 1, 2 }, { { meta = { tags = { "a" } }, on = true }, { on = false } })
    local got = b:get(1, { order = { "id" } }, nil, nil, { statekey = "_j" })
    assert.are.same({ tags = { "a" } }, got[1].Links.meta)
    assert.is_true(got[1].Links.on)
    assert.is_false(got[2].Links.on)
    assert.is_nil(got[2].Links.meta)
    assert.are_not.equal(got[1].Links.meta, got[1].Links._j.meta)
    assert.are.same(got[1].Links.meta, got[1].Links._j.meta)
  end)

  it("raises ValidationError for a through value of the wrong type", function()
    local J2 = db:define("Weights", { { name = "w", type = "INTEGER" } })
    local b = db:associate("belongsToMany", m.User, m.Project, { as = "Weighted", through = J2 })
    db:sync()
    raises("ValidationError", "Weights.w must be an integer", b.add, b, 1, { 1 }, { { w = "heavy" } })
    raises("AssociationError", "unknown attribute 'nope' of Weights", b.add, b, 1, { 1 }, { { nope = 1 } })
    raises("AssociationError", "through values must be an array", b.add, b, 1, { 1 }, "x")
    assert.are.equal(0, #rows [[SELECT * FROM Weights]])
  end)
end)

describe("hasOne setOne", function()
  local m, a
  before_each(function()
    open(); m = models()
    a = db:associate("hasOne", m.User, m.Profile)
    db:sync(); seed(m)
    clear()
  end)
  after_each(function() db:close() end)

  it("replaces the child in at most 4 statements", function()
    a:setOne(1, 1)
    assert.is_true(#log <= 4)
    a:setOne(1, 2)
    assert.are.same({ 2 }, ids(a:get(1)))
    assert.are.same({ 2 }, ids(m.Profile:find { where = { userId = 1 } }))
    a:setOne(1, nil)
    assert.are.same({}, a:get(1))
  end)
end)

describe("a closed database", function()
  it("makes every method raise ConnectionError", function()
    open()
    local m = models()
    local a = db:associate("hasMany", m.User, m.Post)
    db:close()
    assert.are.equal("assoc.Association (closed)", tostring(a))
    for _, call in ipairs {
      function() return a:info() end, function() return a:get(1) end,
      function() return a:count(1) end, function() return a:has(1, { 1 }) end,
      function() return a:add(1, { 1 }) end, function() return a:remove(1, { 1 }) end,
      function() return a:set(1, { 1 }) end, function() return a:setOne(1, 1) end,
    } do
      raises("ConnectionError", "database is closed", call)
    end
  end)
end)
