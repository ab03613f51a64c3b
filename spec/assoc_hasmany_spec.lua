-- hasMany accessors: getXs, countXs, hasX, hasXs, setXs, addX, addXs, removeX, removeXs,
-- createX; statement counts through the logging callback.
local H = require "spec.helpers"
local F = require "spec.assoc_fixtures"
local assoc = H.assoc
local DataTypes, Op = assoc.DataTypes, assoc.Op

local function owned(db, uid)
  return F.col(db, 'SELECT id AS v FROM "Posts" WHERE userId = ?', { uid })
end

local function titles(list)
  local out = {}
  for i, p in ipairs(list) do out[i] = p.title end
  return out
end

describe("hasMany", function()
  local db, log, m, User, Post, alice, bob, p1, p2, p3
  before_each(function()
    db, log, m = F.blog()
    User, Post = m.User, m.Post
    alice = User:create { name = "alice" }
    bob = User:create { name = "bob" }
    p1 = Post:create { title = "a", userId = alice.id }
    p2 = Post:create { title = "b", userId = alice.id }
    p3 = Post:create { title = "c", userId = bob.id }
    H.clear(log)
  end)
  after_each(function() db:close() end)

  describe("getXs", function()
    it("returns the children as Post instances, in one statement", function()
      local posts = alice:getPosts { order = { "id" } }
      assert.are.equal(1, #log)
      assert.are.same({ "a", "b" }, titles(posts))
      assert.are.equal(Post, F.model_of(posts[1]))
      assert.is_false(posts[1].isNewRecord)
    end)

    it("returns instances that can be changed and saved", function()
      local post = alice:getPosts { where = { title = "a" } }[1]
      post.title = "a2"
      post:save()
      assert.are.equal("a2", Post:findByPk(p1.id).title)
      assert.is_false(post:changed())
    end)

    it("returns an empty array for a parent without children", function()
      local carol = User:create { name = "carol" }
      assert.are.same({}, carol:getPosts())
    end)

    it("takes where, with operators", function()
      assert.are.same({ "b" }, titles(alice:getPosts { where = { title = { [Op.ne] = "a" } } }))
    end)

    it("takes order, limit and offset", function()
      Post:create { title = "d", userId = alice.id }
      local got = alice:getPosts { order = { { "title", "DESC" } }, limit = 2, offset = 1 }
      assert.are.same({ "b", "a" }, titles(got))
    end)

    it("takes attributes", function()
      local got = alice:getPosts { attributes = { "id" }, order = { "id" } }
      assert.are.equal(p1.id, got[1].id)
      assert.is_nil(got[1].title)
      got = alice:getPosts { attributes = { exclude = { "body" } }, order = { "id" } }
      assert.are.equal("a", got[1].title)
    end)

    it("returns plain rows with raw = true", function()
      local got = alice:getPosts { raw = true, order = { "id" } }
      assert.is_nil(getmetatable(got[1]))
      assert.are.equal("a", got[1].title)
    end)

    it("passes include on to eager loading", function()
      local Comment = db:define("Comment", { text = DataTypes.STRING })
      Post:hasMany(Comment)
      db:sync()
      Comment:create { text = "c1", postId = p1.id }
      local eager = pcall(Post.findAll, Post, { include = { Comment } })
      if eager then
        local got = alice:getPosts { include = { Comment }, order = { "id" } }
        assert.are.same({ "a", "b" }, titles(got))
        assert.are.equal("c1", got[1].Comments[1].text)
        assert.are.same({}, got[2].Comments)
      else
        H.raises("AssociationError", { "getPosts", "include" }, function()
          alice:getPosts { include = { Comment } }
        end)
      end
    end)
  end)

  describe("countXs", function()
    it("counts the children in one statement", function()
      assert.are.equal(2, alice:countPosts())
      assert.are.equal(1, #log)
      assert.truthy(log[1]:find("count", 1, true))
    end)

    it("takes where", function()
      assert.are.equal(1, alice:countPosts { where = { title = "b" } })
      assert.are.equal(0, alice:countPosts { where = { title = "c" } })
    end)
  end)

  describe("hasX and hasXs", function()
    it("hasX is true for a child, by instance or primary key, in one statement", function()
      assert.is_true(alice:hasPost(p1))
      assert.are.equal(1, #log)
      assert.is_true(alice:hasPost(p2.id))
    end)

    it("hasX is false for another parent's child", function()
      assert.is_false(alice:hasPost(p3))
      assert.is_false(alice:hasPost(999))
    end)

    it("hasXs is true only if all are children", function()
      assert.is_true(alice:hasPosts { p1, p2 })
      assert.is_false(alice:hasPosts { p1, p3 })
      assert.is_true(alice:hasPosts { p1.id, p2 })
    end)

    it("hasXs counts a target given twice once", function()
      assert.is_true(alice:hasPosts { p1, p1.id, p2 })
    end)

    it("hasXs runs one statement", function()
      alice:hasPosts { p1, p2, p3 }
      assert.are.equal(1, #log)
    end)

    it("hasXs of an empty list is true", function()
      assert.is_true(alice:hasPosts {})
    end)
  end)

  describe("addX and addXs", function()
    it("addX links a child in one statement", function()
      alice:addPost(p3)
      assert.are.equal(1, #log)
      assert.truthy(log[1]:find("^UPDATE"))
      assert.are.same({ p1.id, p2.id, p3.id }, owned(db, alice.id))
      assert.are.same({}, owned(db, bob.id))
    end)

    it("addX takes a primary key value", function()
      alice:addPost(p3.id)
      assert.is_true(alice:hasPost(p3))
    end)

    it("addXs links several children in one statement", function()
      local a = Post:create { title = "x" }
      local b = Post:create { title = "y" }
      H.clear(log)
      bob:addPosts { a, b.id }
      assert.are.equal(1, #log)
      assert.are.same({ p3.id, a.id, b.id }, owned(db, bob.id))
    end)

    it("addXs of 500 children is still one statement", function()
      local rows = {}
      for i = 1, 500 do rows[i] = { title = "t" .. i } end
      local posts = Post:bulkCreate(rows)
      H.clear(log)
      bob:addPosts(posts)
      assert.are.equal(1, #log)
      assert.are.equal(501, bob:countPosts())
    end)

    it("addXs of an empty list or nil writes nothing", function()
      alice:addPosts {}
      alice:addPosts(nil)
      assert.are.equal(0, #log)
    end)

    it("does not reload: the added instance keeps its old key in memory", function()
      -- Sequelize does the same: add is a bulk UPDATE, instances are not touched.
      alice:addPost(p3)
      assert.are.equal(bob.id, p3.userId)
      p3:reload()
      assert.are.equal(alice.id, p3.userId)
    end)

    it("returns the source instance", function()
      assert.are.equal(alice, alice:addPost(p3))
    end)
  end)

  describe("removeX and removeXs", function()
    it("removeX unlinks a child in one statement, the row stays", function()
      alice:removePost(p1)
      assert.are.equal(1, #log)
      assert.are.same({ p2.id }, owned(db, alice.id))
      assert.are.equal(3, H.rows(db, "Posts"))
      assert.is_nil(db:query('SELECT userId FROM "Posts" WHERE id = ?', { p1.id })[1].userId)
    end)

    it("removeX does not touch another parent's child", function()
      alice:removePost(p3)
      assert.are.same({ p3.id }, owned(db, bob.id))
    end)

    it("removeXs unlinks several in one statement", function()
      alice:removePosts { p1, p2.id }
      assert.are.equal(1, #log)
      assert.are.same({}, owned(db, alice.id))
    end)
  end)

  describe("setXs", function()
    it("replaces the children with the list", function()
      local x = Post:create { title = "x" }
      alice:setPosts { p2, x }
      assert.are.same({ p2.id, x.id }, owned(db, alice.id))
      assert.is_nil(db:query('SELECT userId FROM "Posts" WHERE id = ?', { p1.id })[1].userId)
    end)

    it("runs at most 4 statements", function()
      local x = Post:create { title = "x" }
      H.clear(log)
      alice:setPosts { p2, x, p3.id }
      assert.is_true(#log <= 4, table.concat(log, "\n"))
      assert.are.same({ p2.id, p3.id, x.id }, owned(db, alice.id))
    end)

    it("runs at most 4 statements for 500 children", function()
      local rows = {}
      for i = 1, 500 do rows[i] = { title = "t" .. i } end
      local posts = Post:bulkCreate(rows)
      H.clear(log)
      alice:setPosts(posts)
      assert.is_true(#log <= 4, table.concat(log, "\n"))
      assert.are.equal(500, alice:countPosts())
      assert.is_false(alice:hasPost(p1))
      H.clear(log)
      alice:setPosts { p1 }
      assert.is_true(#log <= 4, table.concat(log, "\n"))
      assert.are.equal(1, alice:countPosts())
    end)

    it("clears all children with nil or an empty list; the rows stay", function()
      alice:setPosts(nil)
      assert.are.same({}, owned(db, alice.id))
      assert.are.equal(3, H.rows(db, "Posts"))
      bob:setPosts {}
      assert.are.same({}, owned(db, bob.id))
    end)

    it("is atomic within an enclosing transaction that fails", function()
      pcall(db.transaction, db, function()
        alice:setPosts { p3 }
        error("boom")
      end)
      assert.are.same({ p1.id, p2.id }, owned(db, alice.id))
    end)
  end)

  describe("createX", function()
    it("creates a child linked to the parent", function()
      local p = alice:createPost { title = "new" }
      assert.are.equal(Post, F.model_of(p))
      assert.are.equal(alice.id, p.userId)
      assert.are.equal(3, alice:countPosts())
    end)

    it("runs Post's hooks and validation; nothing is written when it fails", function()
      local seen
      Post:addHook("beforeCreate", function(inst) seen = inst.userId end)
      alice:createPost { title = "new" }
      assert.are.equal(alice.id, seen)
      H.raises("ValidationError", "title", function() alice:createPost { body = "no title" } end)
      assert.are.equal(4, H.rows(db, "Posts"))
    end)

    it("stamps the parent's key over one given in the values", function()
      local p = alice:createPost { title = "new", userId = bob.id }
      assert.are.equal(alice.id, p.userId)
      assert.are.same({ p1.id, p2.id, p.id }, owned(db, alice.id))
    end)

    it("takes fields and still writes the key", function()
      local p = alice:createPost({ title = "new", body = "skipped" }, { fields = { "title" } })
      local row = db:query('SELECT userId, body FROM "Posts" WHERE id = ?', { p.id })[1]
      assert.are.equal(alice.id, row.userId)
      assert.is_nil(row.body)
    end)
  end)
end)

describe("hasMany with options", function()
  local db, log
  before_each(function() db, log = H.open() end)
  after_each(function() db:close() end)

  it("links through sourceKey", function()
    local User = db:define("User", { email = { type = DataTypes.STRING, unique = true } })
    local Post = db:define("Post", { title = DataTypes.STRING })
    User:hasMany(Post, { sourceKey = "email" })
    db:sync()
    local u = User:create { email = "a@x" }
    local p = u:createPost { title = "t" }
    assert.are.equal("a@x", p.userEmail)
    local q = Post:create { title = "q" }
    u:addPost(q)
    assert.are.equal(2, u:countPosts())
    assert.are.same({ "q", "t" }, F.col(db, 'SELECT title AS v FROM "Posts" WHERE userEmail = ?',
      { "a@x" }))
  end)

  it("links a model to itself with an alias", function()
    local Person = db:define("Person", { name = DataTypes.STRING })
    Person:hasMany(Person, { as = { singular = "Child", plural = "Children" },
      foreignKey = "parentId" })
    db:sync()
    local mum = Person:create { name = "mum" }
    local kid = mum:createChild { name = "kid" }
    mum:addChild(Person:create { name = "kid2" })
    assert.are.equal(mum.id, kid.parentId)
    assert.are.equal(2, mum:countChildren())
    assert.are.equal(0, kid:countChildren())
  end)

  it("hides soft-deleted children of a paranoid target from get, count and has", function()
    local User = db:define("User", { name = DataTypes.STRING })
    local Note = db:define("Note", { text = DataTypes.STRING }, { paranoid = true })
    User:hasMany(Note)
    db:sync()
    local u = User:create { name = "a" }
    local n1 = u:createNote { text = "1" }
    u:createNote { text = "2" }
    n1:destroy()
    assert.are.equal(1, #u:getNotes())
    assert.are.equal(1, u:countNotes())
    assert.is_false(u:hasNote(n1))
    assert.are.equal(2, #u:getNotes { paranoid = false })
    assert.are.equal(2, u:countNotes { paranoid = false })
  end)

  it("deletes dropped children when the key is NOT NULL", function()
    local User = db:define("User", { name = DataTypes.STRING })
    local Task = db:define("Task", { title = DataTypes.STRING })
    User:hasMany(Task, { foreignKey = { allowNull = false } })
    db:sync()
    local u = User:create { name = "a" }
    local t1 = u:createTask { title = "1" }
    local t2 = u:createTask { title = "2" }
    u:removeTask(t1)
    assert.are.same({ t2.id }, F.col(db, 'SELECT id AS v FROM "Tasks"'))
  end)

  it("takes a transaction option", function()
    local User = db:define("User", { name = DataTypes.STRING })
    local Post = db:define("Post", { title = DataTypes.STRING })
    User:hasMany(Post)
    db:sync()
    local u = User:create { name = "a" }
    local t <close> = db:transaction()
    u:createPost({ title = "t" }, { transaction = t })
    assert.are.equal(1, u:countPosts { transaction = t })
    t:rollback()
    assert.are.equal(0, u:countPosts())
  end)
end)
