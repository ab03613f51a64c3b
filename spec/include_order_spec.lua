-- Eager loading at the top level: order by included columns, limit/offset counting parents,
-- count with includes (Sequelize #4015, #6400, #8457).
local F = require "spec.include_fixtures"
local H = F.H

describe("top-level order by included columns", function()
  local M
  before_each(function() M = F.open(); F.seed(M) end)
  after_each(function() M.db:close() end)

  it("orders parents by a to-many column, and the children by it too", function()
    local users = M.User:findAll { include = { M.Post },
      order = { { M.Post, "title", "DESC" } } }
    -- bob's latest title is 'c', alice's 'b'; carol has none (NULL last in DESC)
    assert.are.same({ 2, 1, 3 }, F.ids(users))
    assert.are.same({ "b", "a" }, F.pluck(users[2].Posts, "title"))
    users = M.User:findAll { include = { M.Post }, order = { { M.Post, "title" } } }
    assert.are.same({ 3, 1, 2 }, F.ids(users))
    assert.are.same({ "a", "b" }, F.pluck(users[2].Posts, "title"))
  end)

  it("orders by a joined belongsTo column", function()
    local posts = M.Post:findAll { include = { M.User },
      order = { { M.User, "name", "DESC" }, { "id", "DESC" } } }
    assert.are.same({ 3, 2, 1 }, F.ids(posts))
  end)

  it("orders by a nested path", function()
    local users = M.User:findAll { include = { { model = M.Post, include = { M.Comment } } },
      order = { { M.Post, M.Comment, "body", "DESC" } } }
    -- bob's comment 'z' > alice's 'y'
    assert.are.same({ 2, 1, 3 }, F.ids(users))
    assert.are.same({ "y", "x" }, F.pluck(users[2].Posts[1].Comments, "body"))
  end)

  it("orders by a junction column", function()
    local projects = M.Project:findAll { include = { M.User },
      order = { { "id" }, { M.User, M.UserProject, "role", "DESC" } } }
    assert.are.same({ 1, 2 }, F.ids(projects))
    -- within project X: alice is owner, bob member; DESC puts owner first
    assert.are.same({ 1, 2 }, F.ids(projects[1].Users))
    projects = M.Project:findAll { include = { M.User },
      order = { { "id" }, { M.User, M.UserProject, "role", "ASC" } } }
    assert.are.same({ 2, 1 }, F.ids(projects[1].Users))
  end)

  it("takes alias strings, association objects and { model =, as = } in paths", function()
    local a = F.ids(M.User:findAll { include = { M.Post }, order = { { "Posts", "title", "DESC" } } })
    local b = F.ids(M.User:findAll { include = { M.Post }, order = { { M.Posts, "title", "DESC" } } })
    local c = F.ids(M.User:findAll { include = { M.Post },
      order = { { { model = M.Post, as = "Posts" }, "title", "DESC" } } })
    assert.are.same({ 2, 1, 3 }, a)
    assert.are.same(a, b)
    assert.are.same(a, c)
  end)

  it("mixes root and included columns", function()
    local users = M.User:findAll { include = { M.Profile },
      order = { { M.Profile, "bio", "DESC" }, "name" } }
    assert.are.same({ 2, 1, 3 }, F.ids(users))
  end)

  it("orders by the included rows that the include's where keeps", function()
    local users = M.User:findAll { include = { { model = M.Post, where = { rank = { [F.assoc.Op.lt] = 3 } } } },
      order = { { M.Post, "title", "DESC" } } }
    assert.are.same({ 1 }, F.ids(users))
  end)

  it("refuses to order by a model that is not included", function()
    H.raises("AssociationError", { "order names Comment", "not included under User" },
      function() M.User:findAll { include = { M.Post }, order = { { M.Comment, "body" } } } end)
  end)

  it("refuses an unknown attribute of an included model", function()
    H.raises("AssociationError", { "unknown attribute 'nope' of Post" },
      function() M.User:findAll { include = { M.Post }, order = { { M.Post, "nope" } } } end)
  end)
end)

describe("limit and offset with includes", function()
  local M
  before_each(function() M = F.open(); F.seed(M) end)
  after_each(function() M.db:close() end)

  it("count parents, and every parent keeps all its children", function()
    local users = M.User:findAll { include = { M.Post, M.Project }, limit = 1, order = { "id" } }
    assert.are.equal(1, #users)
    assert.are.same({ 1, 2 }, F.ids(users[1].Posts))
    assert.are.same({ 1, 2 }, F.ids(users[1].Projects))
    users = M.User:findAll { include = { M.Post }, limit = 1, offset = 1, order = { "id" } }
    assert.are.same({ 2 }, F.ids(users))
    assert.are.same({ 3 }, F.ids(users[1].Posts))
  end)

  it("paginates parents ordered by an included column (#8457)", function()
    local order = { { M.Post, "title", "DESC" } }
    local p1 = M.User:findAll { include = { M.Post }, order = order, limit = 2 }
    local p2 = M.User:findAll { include = { M.Post }, order = order, limit = 2, offset = 2 }
    assert.are.same({ 2, 1 }, F.ids(p1))
    assert.are.same({ 3 }, F.ids(p2))
    assert.are.same({ 1, 2 }, F.ids(p1[2].Posts))
  end)

  it("a limit with a required nested include and a where works (#6400)", function()
    local users = M.User:findAll { limit = 1, include = { { model = M.Post, required = true,
      include = { { model = M.Comment, where = { body = "z" } } } } } }
    assert.are.same({ 2 }, F.ids(users))
    assert.are.same({ 3 }, F.ids(users[1].Posts[1].Comments))
  end)

  it("gives stable pages: every parent exactly once", function()
    F.more(M)
    local seen, pages = {}, 0
    for offset = 0, 40, 3 do
      local page = M.User:findAll { include = { M.Post, M.Project }, limit = 3, offset = offset,
        order = { { M.Project, "name" } } }
      for _, u in ipairs(page) do
        assert.is_nil(seen[u.id])
        seen[u.id] = true
      end
      pages = pages + 1
    end
    local n = 0
    for _ in pairs(seen) do n = n + 1 end
    assert.are.equal(M.User:count(), n)
  end)

  it("findAndCountAll counts distinct parents and pages them", function()
    local r = M.User:findAndCountAll { include = { M.Post }, limit = 1, order = { "id" } }
    assert.are.equal(3, r.count)
    assert.are.equal(1, #r.rows)
    assert.are.same({ 1, 2 }, F.ids(r.rows[1].Posts))
    r = M.User:findAndCountAll { include = { { model = M.Post, where = { title = "a" } } } }
    assert.are.equal(1, r.count)
  end)
end)

describe("count with includes", function()
  local M
  before_each(function() M = F.open(); F.seed(M) end)
  after_each(function() M.db:close() end)

  it("counts distinct parents, never joined rows (#4015)", function()
    -- the #4015 case: 5 Foos, 4 Bars on 2 of them; Sequelize counts 7 without distinct
    local db = M.db
    local Foo = db:define("Foo", { name = F.assoc.DataTypes.STRING })
    local Bar = db:define("Bar", { name = F.assoc.DataTypes.STRING })
    Foo:hasMany(Bar)
    db:sync()
    for i = 1, 5 do Foo:create { name = "foo" .. i } end
    for i = 1, 4 do Bar:create { name = "bar" .. i, fooId = i <= 3 and 1 or 2 } end
    assert.are.equal(5, Foo:count { include = { Bar } })
    assert.are.equal(2, Foo:count { include = { { model = Bar, required = true } } })
    assert.are.equal(1, Foo:count { include = { { model = Bar, where = { name = "bar4" } } } })
  end)

  it("counts parents having a required child", function()
    assert.are.equal(3, M.User:count { include = { M.Post } })
    assert.are.equal(2, M.User:count { include = { { model = M.Post, required = true } } })
    assert.are.equal(1, M.User:count { include = { { model = M.Post, where = { title = "a" } } } })
    assert.are.equal(2, M.User:count { include = { { model = M.Project, required = true } } })
  end)

  it("combines the root where with the includes, in one statement", function()
    H.clear(M.log)
    assert.are.equal(1, M.User:count { where = { name = "bob" },
      include = { { model = M.Post, required = true } } })
    assert.are.equal(1, #M.log)
    assert.truthy(M.log[1]:find("EXISTS", 1, true))
  end)

  it("honours paranoid on the included model", function()
    M.db:query([[UPDATE "Posts" SET deletedAt = '2021-01-01T00:00:00.000Z' WHERE id = 3]])
    assert.are.equal(1, M.User:count { include = { { model = M.Post, required = true } } })
    assert.are.equal(2, M.User:count { include = { { model = M.Post, required = true,
      paranoid = false } } })
  end)

  it("accepts Sequelize's distinct option (counting is always distinct)", function()
    assert.are.equal(2, M.User:count { include = { { model = M.Post, required = true } },
      distinct = true })
  end)
end)
