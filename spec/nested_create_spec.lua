-- Model:create(values, { include = ... }): belongsTo targets first, then the row, then its
-- hasOne/hasMany children, then belongsToMany targets with their junction rows; one
-- transaction, so a failure at any level leaves nothing.
local F = require "spec.include_fixtures"
local H = F.H

local TABLES = { "Users", "Posts", "Comments", "Profiles", "Projects", "UserProjects", "Tags",
  "PostTags", "Tasks" }

-- Row counts of every table.
local function counts(db)
  local t = {}
  for _, name in ipairs(TABLES) do t[name] = H.rows(db, name) end
  return t
end

describe("nested create", function()
  local M
  before_each(function() M = F.open() end)
  after_each(function() M.db:close() end)

  it("creates hasMany children with the parent's key", function()
    local u = M.User:create({ name = "alice", Posts = { { title = "a" }, { title = "b" } } },
      { include = { M.Post } })
    assert.are.equal(2, #u.Posts)
    assert.is_false(u.Posts[1].isNewRecord)
    assert.are.equal(u.id, u.Posts[1].userId)
    assert.are.same({ "a", "b" }, F.pluck(M.Post:findAll { where = { userId = u.id },
      order = { "id" } }, "title"))
  end)

  it("creates a hasOne child", function()
    local u = M.User:create({ name = "alice", Profile = { bio = "hi" } }, { include = { "Profile" } })
    assert.are.equal("hi", u.Profile.bio)
    assert.are.equal(u.id, M.Profile:findOne().userId)
  end)

  it("creates a belongsTo target first and sets the key", function()
    local p = M.Post:create({ title = "t", User = { name = "bob" } }, { include = { M.User } })
    assert.are.equal("bob", p.User.name)
    assert.are.equal(p.User.id, p.userId)
    assert.are.equal(p.User.id, M.Post:findByPk(p.id).userId)
  end)

  it("creates belongsTo targets under an alias", function()
    local t = M.Task:create({ title = "T", Owner = { name = "own" }, Assignee = { name = "ass" } },
      { include = { { model = M.User, as = "Owner" }, { model = M.User, as = "Assignee" } } })
    local back = M.Task:findByPk(t.id, { include = { "Owner", "Assignee" } })
    assert.are.equal("own", back.Owner.name)
    assert.are.equal("ass", back.Assignee.name)
  end)

  it("creates belongsToMany targets with their junction rows and through values", function()
    local u = M.User:create({ name = "alice", Projects = {
      { name = "X", UserProject = { role = "owner" } }, { name = "Y" } } },
      { include = { M.Project } })
    assert.are.equal(2, #u.Projects)
    assert.are.equal("owner", u.Projects[1].UserProject.role)
    local back = M.User:findByPk(u.id, { include = { { model = M.Project, order = { "name" } } } })
    assert.are.same({ "X", "Y" }, F.pluck(back.Projects, "name"))
    assert.are.same({ "owner", "member" }, { back.Projects[1].UserProject.role,
      back.Projects[2].UserProject.role })
  end)

  it("creates a generated junction's rows", function()
    local p = M.Post:create({ title = "t", userId = nil, Tags = { { label = "a" }, { label = "b" } } },
      { include = { M.Tag } })
    assert.are.equal(2, H.rows(M.db, "PostTags"))
    assert.are.same({ "a", "b" }, F.pluck(M.Post:findByPk(p.id, { include = { M.Tag } }).Tags,
      "label"))
  end)

  it("creates a graph several levels deep", function()
    local u = M.User:create({ name = "alice", Profile = { bio = "me" }, Posts = {
      { title = "p1", Comments = { { body = "c1" }, { body = "c2" } }, Tags = { { label = "t" } } },
      { title = "p2" } } },
      { include = { M.Profile, { model = M.Post, include = { M.Comment, M.Tag } } } })
    local back = M.User:findByPk(u.id, { include = { M.Profile, { model = M.Post,
      include = { M.Comment, M.Tag } } } })
    assert.are.equal("me", back.Profile.bio)
    assert.are.same({ "c1", "c2" }, F.pluck(back.Posts[1].Comments, "body"))
    assert.are.same({ "t" }, F.pluck(back.Posts[1].Tags, "label"))
    assert.are.same({}, back.Posts[2].Comments)
  end)

  it("creates a belongsTo target with its own includes", function()
    local c = M.Comment:create({ body = "c", Post = { title = "p", User = { name = "writer" } } },
      { include = { { model = M.Post, include = { M.User } } } })
    local back = M.Comment:findByPk(c.id, { include = { { model = M.Post, include = { M.User } } } })
    assert.are.equal("writer", back.Post.User.name)
  end)

  it("stamps the association scope on the children", function()
    M.Drafts = M.User:hasMany(M.Post, { as = "Drafts", scope = { status = "draft" } })
    local u = M.User:create({ name = "alice", Drafts = { { title = "d" } } }, { include = { "Drafts" } })
    assert.are.equal("draft", M.Post:findByPk(u.Drafts[1].id).status)
  end)

  it("runs the hooks and validations of every model", function()
    local seen = {}
    M.Post:addHook("beforeCreate", function(p) seen[#seen + 1] = "post " .. p.title end)
    M.Comment:addHook("afterCreate", function(c) seen[#seen + 1] = "comment " .. c.body end)
    M.User:create({ name = "alice", Posts = { { title = "p", Comments = { { body = "c" } } } } },
      { include = { { model = M.Post, include = { M.Comment } } } })
    assert.are.same({ "post p", "comment c" }, seen)
  end)

  it("accepts unsaved instances as values", function()
    local u = M.User:create({ name = "alice", Posts = { M.Post:build { title = "built" } } },
      { include = { M.Post } })
    assert.are.equal("built", u.Posts[1].title)
    assert.are.equal(1, H.rows(M.db, "Posts"))
  end)

  it("runs in one transaction, inside an outer one too", function()
    H.clear(M.log)
    M.User:create({ name = "alice", Posts = { { title = "a" } } }, { include = { M.Post } })
    assert.truthy(M.log[1]:find("^BEGIN"))
    assert.truthy(M.log[#M.log]:find("^COMMIT"))
    M.db:transaction(function(t)
      M.User:create({ name = "bob", Posts = { { title = "b" } } },
        { include = { M.Post }, transaction = t })
    end)
    assert.are.equal(2, H.rows(M.db, "Users"))
  end)

  it("refuses nested values for an association not included", function()
    H.raises("AssocError", { "Posts" }, function()
      M.User:create { name = "alice", Posts = { { title = "a" } } }
    end)
  end)
end)

describe("nested create failures leave nothing", function()
  local M
  before_each(function() M = F.open() end)
  after_each(function() M.db:close() end)

  local function nothing_written(fn, name)
    local before = counts(M.db)
    local err = H.catch(fn)
    if name then
      assert.truthy(F.assoc.is_error(err), tostring(err))
      assert.are.equal(name, err.name)
    end
    assert.are.same(before, counts(M.db))
    return err
  end

  it("when the belongsTo target fails", function()
    nothing_written(function()
      M.Post:create({ title = "t", User = { name = "x" } }, { include = { M.User } })
    end, "ValidationError")
  end)

  it("when the row itself fails after its belongsTo target was saved", function()
    nothing_written(function()
      M.Post:create({ User = { name = "bob" } }, { include = { M.User } })
    end, "ValidationError")
  end)

  it("when a hasMany child fails", function()
    nothing_written(function()
      M.User:create({ name = "alice", Posts = { { title = "ok" }, { rank = 1 } } },
        { include = { M.Post } })
    end, "ValidationError")
    nothing_written(function()
      M.User:create({ name = "alice", Posts = { { title = "ok" }, { rank = "not a number" } } },
        { include = { M.Post } })
    end, "ValidationError")
  end)

  it("when a hasOne child fails", function()
    nothing_written(function()
      M.User:create({ name = "alice", Profile = { bio = 12.5, nope = 1 } }, { include = { M.Profile } })
    end)
  end)

  it("when a grandchild fails", function()
    nothing_written(function()
      M.User:create({ name = "alice", Posts = { { title = "p", Comments = { { body = "c" }, {} } } } },
        { include = { { model = M.Post, include = { M.Comment } } } })
    end, "ValidationError")
  end)

  it("when a belongsToMany target fails", function()
    nothing_written(function()
      M.User:create({ name = "alice", Projects = { { name = "X" }, { name = nil } } },
        { include = { M.Project } })
    end, "ValidationError")
  end)

  it("when a junction row fails (through values)", function()
    nothing_written(function()
      M.User:create({ name = "alice", Projects = { { name = "X",
        UserProject = { role = "emperor" } } } }, { include = { M.Project } })
    end, "ValidationError")
  end)

  it("when a unique constraint fails deep down", function()
    M.Tag:create { label = "taken" }
    nothing_written(function()
      M.User:create({ name = "alice", Posts = { { title = "p", Tags = { { label = "new" },
        { label = "taken" } } } } }, { include = { { model = M.Post, include = { M.Tag } } } })
    end, "UniqueConstraintError")
  end)

  it("when a hook raises", function()
    M.Comment:addHook("beforeCreate", function() error("no comments today") end)
    nothing_written(function()
      M.User:create({ name = "alice", Posts = { { title = "p", Comments = { { body = "c" } } } } },
        { include = { { model = M.Post, include = { M.Comment } } } })
    end)
  end)

  it("when the outer transaction rolls back", function()
    local before = counts(M.db)
    pcall(M.db.transaction, M.db, function()
      M.User:create({ name = "alice", Posts = { { title = "p" } } }, { include = { M.Post } })
      error("changed my mind")
    end)
    assert.are.same(before, counts(M.db))
  end)

  it("refuses an already saved instance as nested values", function()
    local p = M.Post:create { title = "saved" }
    nothing_written(function()
      M.User:create({ name = "alice", Posts = { p } }, { include = { M.Post } })
    end, "AssociationError")
  end)
end)
