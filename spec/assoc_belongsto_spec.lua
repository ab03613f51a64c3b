-- belongsTo accessors: getX, setX, createX.
local H = require "spec.helpers"
local F = require "spec.assoc_fixtures"
local assoc = H.assoc
local DataTypes = assoc.DataTypes

local function post_owner(db, id)
  return db:query('SELECT userId FROM "Posts" WHERE id = ?', { id })[1].userId
end

describe("belongsTo", function()
  local db, log, User, Post, alice, bob, post
  before_each(function()
    db, log = H.open()
    User = db:define("User", { name = { type = DataTypes.STRING, validate = { len = { 2, 20 } } } })
    Post = db:define("Post", { title = DataTypes.STRING })
    Post:belongsTo(User)
    db:sync()
    alice = User:create { name = "alice" }
    bob = User:create { name = "bob" }
    post = Post:create { title = "hello" }
    H.clear(log)
  end)
  after_each(function() db:close() end)

  describe("getX", function()
    it("returns nil without a statement when the key is NULL", function()
      assert.is_nil(post:getUser())
      assert.are.equal(0, #log)
    end)

    it("returns the parent as a User instance, in one statement", function()
      post:update { userId = alice.id }
      H.clear(log)
      local u = post:getUser()
      assert.are.equal(1, #log)
      assert.are.equal(User, F.model_of(u))
      assert.are.equal("alice", u.name)
      u.name = "alicia"
      u:save()
      assert.are.equal("alicia", User:findByPk(alice.id).name)
    end)

    it("follows the key as it is in memory", function()
      post.userId = bob.id
      assert.are.equal("bob", post:getUser().name)
    end)

    it("takes where and attributes", function()
      post:update { userId = alice.id }
      assert.is_nil(post:getUser { where = { name = "bob" } })
      local u = post:getUser { attributes = { "id" } }
      assert.are.equal(alice.id, u.id)
      assert.is_nil(u.name)
    end)

    it("hides a soft-deleted parent of a paranoid target", function()
      local db2 = H.open()
      local U = db2:define("User", { name = DataTypes.STRING }, { paranoid = true })
      local P = db2:define("Post", { title = DataTypes.STRING })
      P:belongsTo(U)
      db2:sync()
      local u = U:create { name = "a" }
      local p = P:create { title = "t", userId = u.id }
      u:destroy()
      assert.is_nil(p:getUser())
      assert.are.equal(u.id, p:getUser { paranoid = false }.id)
      db2:close()
    end)
  end)

  describe("setX", function()
    it("sets the key in memory and in the database", function()
      post:setUser(alice)
      assert.are.equal(alice.id, post.userId)
      assert.are.equal(alice.id, post_owner(db, post.id))
      assert.is_false(post:changed())
    end)

    it("saves just the key (and updatedAt), in one UPDATE", function()
      post.title = "unsaved edit"
      post:setUser(alice)
      assert.are.equal(1, #log)
      assert.truthy(log[1]:find("^UPDATE"))
      assert.truthy(log[1]:find('"userId"', 1, true))
      assert.is_nil(log[1]:find('"title"', 1, true))
      assert.are.equal("hello", Post:findByPk(post.id).title)
      assert.are.same({ "title" }, post:changed())
    end)

    it("changes updatedAt", function()
      local before = db:query('SELECT updatedAt FROM "Posts" WHERE id = ?', { post.id })[1]
        .updatedAt
      local t0 = H.now_ms()
      while H.now_ms() == t0 do end
      post:setUser(alice)
      local after = db:query('SELECT updatedAt FROM "Posts" WHERE id = ?', { post.id })[1]
        .updatedAt
      assert.are_not.equal(before, after)
      assert.are.equal(after, post.updatedAt)
    end)

    it("runs the save hooks of the source", function()
      local seen = {}
      Post:addHook("beforeSave", function(inst) seen[#seen + 1] = inst.userId end)
      Post:addHook("afterUpdate", function() seen[#seen + 1] = "after" end)
      post:setUser(alice)
      assert.are.same({ alice.id, "after" }, seen)
    end)

    it("takes a primary key value", function()
      post:setUser(bob.id)
      assert.are.equal(bob.id, post_owner(db, post.id))
    end)

    it("clears the key with nil", function()
      post:setUser(alice)
      post:setUser(nil)
      assert.is_nil(post.userId)
      assert.is_nil(post_owner(db, post.id))
    end)

    it("only changes memory with save = false", function()
      post:setUser(alice, { save = false })
      assert.are.equal(0, #log)
      assert.are.equal(alice.id, post.userId)
      assert.is_nil(post_owner(db, post.id))
      post:save()
      assert.are.equal(alice.id, post_owner(db, post.id))
    end)

    it("returns the source instance", function()
      assert.are.equal(post, post:setUser(alice))
    end)

    it("raises ForeignKeyConstraintError for a key with no parent, nothing written", function()
      H.raises("ForeignKeyConstraintError", nil, function() post:setUser(999) end)
      assert.is_nil(post_owner(db, post.id))
    end)
  end)

  describe("createX", function()
    it("creates the parent and links the source to it", function()
      local u = post:createUser { name = "carol" }
      assert.are.equal(User, F.model_of(u))
      assert.is_false(u.isNewRecord)
      assert.are.equal(u.id, post.userId)
      assert.are.equal(u.id, post_owner(db, post.id))
    end)

    it("validates the parent and writes nothing when it fails", function()
      H.raises("ValidationError", "name", function() post:createUser { name = "x" } end)
      assert.are.equal(2, H.rows(db, "Users"))
      assert.is_nil(post_owner(db, post.id))
    end)

    it("is atomic: a failing save of the source removes the created parent", function()
      Post:addHook("beforeUpdate", function() error("no saves today") end)
      assert.has_error(function() post:createUser { name = "carol" } end)
      assert.are.equal(2, H.rows(db, "Users"))
      assert.is_nil(post_owner(db, post.id))
    end)
  end)
end)

describe("belongsTo with options", function()
  local db
  before_each(function() db = H.open() end)
  after_each(function() db:close() end)

  it("uses as and its key: as = 'author' gives getAuthor and authorId", function()
    local User = db:define("User", { name = DataTypes.STRING })
    local Post = db:define("Post", { title = DataTypes.STRING })
    Post:belongsTo(User, { as = "author" })
    db:sync()
    local u = User:create { name = "a" }
    local p = Post:create { title = "t" }
    p:setAuthor(u)
    assert.are.equal(u.id, p.authorId)
    assert.are.equal("a", p:getAuthor().name)
  end)

  it("keeps two aliases to one model apart", function()
    local User = db:define("User", { name = DataTypes.STRING })
    local Post = db:define("Post", { title = DataTypes.STRING })
    Post:belongsTo(User, { as = "author" })
    Post:belongsTo(User, { as = "editor" })
    db:sync()
    local a, e = User:create { name = "a" }, User:create { name = "e" }
    local p = Post:create { title = "t" }
    p:setAuthor(a)
    p:setEditor(e)
    local row = db:query('SELECT authorId, editorId FROM "Posts"')[1]
    assert.are.same({ authorId = a.id, editorId = e.id }, row)
    assert.are.equal("a", p:getAuthor().name)
    assert.are.equal("e", p:getEditor().name)
  end)

  it("links through targetKey", function()
    local User = db:define("User", { email = { type = DataTypes.STRING, unique = true } })
    local Post = db:define("Post", { title = DataTypes.STRING })
    Post:belongsTo(User, { targetKey = "email" })
    db:sync()
    local u = User:create { email = "a@x" }
    local p = Post:create { title = "t" }
    p:setUser(u)
    assert.are.equal("a@x", p.userEmail)
    assert.are.equal(u.id, p:getUser().id)
    p:setUser("a@x")
    assert.are.equal("a@x", db:query('SELECT userEmail FROM "Posts"')[1].userEmail)
  end)

  it("belongs to its own model (self association)", function()
    local Person = db:define("Person", { name = DataTypes.STRING })
    Person:belongsTo(Person, { as = "mother" })
    db:sync()
    local m = Person:create { name = "m" }
    local c = Person:create { name = "c" }
    c:setMother(m)
    assert.are.equal("m", c:getMother().name)
    assert.is_nil(m:getMother())
  end)
end)
