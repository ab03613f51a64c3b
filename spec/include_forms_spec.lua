-- Eager loading: every include form, results keyed by `as`, instances and junction rows.
local F = require "spec.include_fixtures"
local H = F.H

describe("include forms", function()
  local M
  before_each(function() M = F.open(); F.seed(M) end)
  after_each(function() M.db:close() end)

  local function alice_posts(users)
    assert.are.equal("alice", users[1].name)
    assert.are.same({ 1, 2 }, F.ids(users[1].Posts))
    assert.are.same({ 3 }, F.ids(users[2].Posts))
    assert.are.same({}, users[3].Posts)
  end

  it("takes a model", function()
    alice_posts(M.User:findAll { include = { M.Post }, order = { "id" } })
  end)

  it("takes a single model not wrapped in a list", function()
    alice_posts(M.User:findAll { include = M.Post, order = { "id" } })
  end)

  it("takes an alias string", function()
    alice_posts(M.User:findAll { include = { "Posts" }, order = { "id" } })
  end)

  it("takes an association object", function()
    alice_posts(M.User:findAll { include = { M.User.associations.Posts }, order = { "id" } })
    alice_posts(M.User:findAll { include = M.Posts, order = { "id" } })
  end)

  it("takes { model =, as = }", function()
    alice_posts(M.User:findAll { include = { { model = M.Post, as = "Posts" } },
      order = { "id" } })
  end)

  it("takes { association = alias } and { association = object }", function()
    alice_posts(M.User:findAll { include = { { association = "Posts" } }, order = { "id" } })
    alice_posts(M.User:findAll { include = { { association = M.Posts } }, order = { "id" } })
  end)

  it("takes { as = alias } alone", function()
    alice_posts(M.User:findAll { include = { { as = "Posts" } }, order = { "id" } })
  end)

  it("takes a model with a single aliased association without 'as'", function()
    local c = M.Comment:findByPk(1, { include = { M.User } })
    assert.are.equal("bob", c.Author.name)
  end)

  it("takes lists mixing every form", function()
    local u = M.User:findByPk(1, { include = { M.Post, "Profile",
      M.User.associations.Projects } })
    assert.are.same({ 1, 2 }, F.ids(u.Posts))
    assert.are.equal("A", u.Profile.bio)
    assert.are.same({ 1, 2 }, F.ids(u.Projects))
  end)

  it("includes every association with { all = true }", function()
    local u = M.User:findByPk(1, { include = { { all = true } } })
    assert.are.same({ 1, 2 }, F.ids(u.Posts))
    assert.are.equal("A", u.Profile.bio)
    assert.are.same({ 1, 2 }, F.ids(u.Projects))
  end)

  it("filters { all = ... } by association type", function()
    local c = M.Comment:findByPk(1, { include = { { all = "BelongsTo" } } })
    assert.are.equal("b", c.Post.title)
    assert.are.equal("bob", c.Author.name)
    local u = M.User:findByPk(1, { include = { { all = "Many" } } })
    assert.are.same({ 1, 2 }, F.ids(u.Posts))
    assert.is_nil(u.Profile)
    assert.is_nil(u.Projects)
    u = M.User:findByPk(1, { include = { { all = "One" } } })
    assert.are.equal("A", u.Profile.bio)
    assert.is_nil(u.Posts)
  end)

  it("nests { all = true, nested = true } with a guard against cycles", function()
    local u = M.User:findByPk(1, { include = { { all = true, nested = true } } })
    local post = u.Posts[1]
    assert.are.same({ 1, 2 }, F.ids(post.Comments))
    assert.are.same({ 1, 2 }, F.ids(post.Tags))
    -- User -> Posts -> User would come back to User: not followed
    assert.is_nil(post.User)
    assert.is_nil(post.Comments[1].Author)
    -- Project -> Users would too
    assert.is_nil(u.Projects[1].Users)
  end)

  it("lets an explicit include win over { all = true }", function()
    local u = M.User:findByPk(1, { include = { { all = true },
      { model = M.Post, where = { title = "a" } } } })
    assert.are.same({ 2 }, F.ids(u.Posts))
    assert.are.equal("A", u.Profile.bio)
  end)

  it("nests includes three deep", function()
    local users = M.User:findAll { include = { { model = M.Post, include = {
      { model = M.Comment, include = { { model = M.User, as = "Author",
        include = { M.Profile } } } } } } }, order = { "id" } }
    local c = users[1].Posts[1].Comments
    assert.are.same({ 1, 2 }, F.ids(c))
    assert.are.equal("bob", c[1].Author.name)
    assert.are.equal("B", c[1].Author.Profile.bio)
    assert.are.equal("alice", c[2].Author.name)
    assert.are.equal("A", c[2].Author.Profile.bio)
    assert.are.same({}, users[1].Posts[2].Comments)
    assert.are.same({ 3 }, F.ids(users[2].Posts[1].Comments))
  end)
end)

describe("include results", function()
  local M
  before_each(function() M = F.open(); F.seed(M) end)
  after_each(function() M.db:close() end)

  it("keys every include by its alias: arrays for the many kinds, never nil", function()
    local users = M.User:findAll { include = { M.Post, M.Project }, order = { "id" } }
    local carol = users[3]
    assert.are.equal("carol", carol.name)
    assert.are.same({}, carol.Posts)
    assert.are.same({}, carol.Projects)
    assert.are.equal("table", type(carol.Posts))
  end)

  it("gives an instance or nil for the one kinds", function()
    local users = M.User:findAll { include = { M.Profile }, order = { "id" } }
    assert.are.equal("A", users[1].Profile.bio)
    assert.is_nil(users[3].Profile)
    local posts = M.Post:findAll { include = { M.User }, order = { "id" } }
    assert.are.equal("alice", posts[1].User.name)
    assert.are.equal("bob", posts[3].User.name)
  end)

  it("uses a custom alias as the key", function()
    M.db:query([[INSERT INTO "Tasks" (id, title, ownerId, assigneeId, createdAt, updatedAt)
      VALUES (1, 'T', 1, 2, 'now', 'now')]])
    local t = M.Task:findByPk(1, { include = { { model = M.User, as = "Owner" },
      { model = M.User, as = "Assignee" } } })
    assert.are.equal("alice", t.Owner.name)
    assert.are.equal("bob", t.Assignee.name)
    assert.is_nil(rawget(t, "User"))
  end)

  it("builds included rows as instances of their model", function()
    local u = M.User:findByPk(1, { include = { M.Post } })
    local p = u.Posts[1]
    assert.is_false(p.isNewRecord)
    assert.is_false(p:changed())
    p.title = "new"
    assert.are.same({ "title" }, p:changed())
    p:save()
    assert.are.equal("new", M.Post:findByPk(1).title)
  end)

  it("decodes values by type in included rows", function()
    local u = M.User:findByPk(1, { include = { M.Post } })
    assert.are.equal("integer", math.type(u.Posts[1].rank))
    assert.are.equal("string", type(u.Posts[1].createdAt))
  end)

  it("puts the junction row under the through model's name", function()
    local u = M.User:findByPk(1, { include = { M.Project } })
    local x = u.Projects[1]
    assert.are.equal("X", x.name)
    assert.are.equal("owner", x.UserProject.role)
    assert.are.equal(1, x.UserProject.userId)
    assert.is_false(x.UserProject.isNewRecord)
    assert.are.equal("member", u.Projects[2].UserProject.role)
  end)

  it("names a generated junction by its table name", function()
    local p = M.Post:findByPk(1, { include = { M.Tag } })
    assert.are.same({ 1, 2 }, F.ids(p.Tags))
    assert.are.equal(1, p.Tags[1].PostTags.postId)
  end)

  it("stitches a target shared by several parents under each of them", function()
    local projects = M.Project:findAll { include = { { model = M.User, include = { M.Post } } },
      order = { "id" } }
    assert.are.same({ 1, 2 }, F.ids(projects[1].Users))
    assert.are.same({ 1 }, F.ids(projects[2].Users))
    assert.are.same({ 1, 2 }, F.ids(projects[1].Users[1].Posts))
    assert.are.same({ 1, 2 }, F.ids(projects[2].Users[1].Posts))
    assert.are_not.equal(projects[1].Users[1], projects[2].Users[1])
  end)

  it("includes the nested includes in toTable()", function()
    local u = M.User:findByPk(1, { include = { { model = M.Post, include = { M.Comment } } } })
    local t = u:toTable()
    assert.is_nil(getmetatable(t.Posts[1]))
    assert.are.equal("b", t.Posts[1].title)
    assert.are.equal("x", t.Posts[1].Comments[1].body)
  end)

  it("returns plain tables with raw = true", function()
    local u = M.User:findAll { include = { M.Post, M.Project }, raw = true, order = { "id" } }
    assert.is_nil(getmetatable(u[1]))
    assert.is_nil(getmetatable(u[1].Posts[1]))
    assert.is_nil(getmetatable(u[1].Projects[1].UserProject))
    assert.are.equal("owner", u[1].Projects[1].UserProject.role)
  end)

  it("works with findOne and findByPk", function()
    local u = M.User:findOne { where = { name = "bob" }, include = { M.Post } }
    assert.are.same({ 3 }, F.ids(u.Posts))
    assert.is_nil(M.User:findByPk(99, { include = { M.Post } }))
    assert.is_nil(M.User:findOne { where = { name = "nobody" }, include = { M.Post } })
  end)

  it("keeps every child of the row findOne picks (its limit counts parents)", function()
    local u = M.User:findOne { include = { M.Post }, order = { "id" } }
    assert.are.same({ 1, 2 }, F.ids(u.Posts))
  end)

  it("works with the getX accessors' own include", function()
    local alice = M.User:findByPk(1)
    local posts = alice:getPosts { include = { M.Comment } }
    assert.are.same({ 1, 2 }, F.ids(posts))
    assert.are.same({ 1, 2 }, F.ids(posts[1].Comments))
    assert.are.same({}, posts[2].Comments)
    local projects = alice:getProjects { include = { M.User } }
    assert.are.same({ 1, 2 }, F.ids(projects))
    assert.are.same({ 1, 2 }, F.ids(projects[1].Users))
  end)
end)
