-- Eager loading: the options of one include (where, required, attributes, order, limit,
-- separate, paranoid, through, scope).
local F = require "spec.include_fixtures"
local H = F.H
local Op = F.assoc.Op

describe("include where and required", function()
  local M
  before_each(function() M = F.open(); F.seed(M) end)
  after_each(function() M.db:close() end)

  it("makes an include with a where required: parents without a match are dropped", function()
    local users = M.User:findAll { include = { { model = M.Post, where = { title = "a" } } } }
    assert.are.same({ 1 }, F.ids(users))
    assert.are.same({ 2 }, F.ids(users[1].Posts))
  end)

  it("with required = false the where only filters the children", function()
    local users = M.User:findAll { include = { { model = M.Post, where = { title = "a" },
      required = false } }, order = { "id" } }
    assert.are.same({ 1, 2, 3 }, F.ids(users))
    assert.are.same({ 2 }, F.ids(users[1].Posts))
    assert.are.same({}, users[2].Posts)
  end)

  it("required = true without a where drops parents with no children", function()
    local users = M.User:findAll { include = { { model = M.Post, required = true } },
      order = { "id" } }
    assert.are.same({ 1, 2 }, F.ids(users))
  end)

  it("takes operators in an include's where", function()
    local users = M.User:findAll { include = { { model = M.Post,
      where = { rank = { [Op.gte] = 2 } } } }, order = { "id" } }
    assert.are.same({ 1, 2 }, F.ids(users))
    assert.are.same({ 1 }, F.ids(users[1].Posts))
  end)

  it("drops the rows whose required belongsTo does not match (INNER semantics)", function()
    local posts = M.Post:findAll { include = { { model = M.User, where = { name = "bob" } } } }
    assert.are.same({ 3 }, F.ids(posts))
    assert.are.equal("bob", posts[1].User.name)
  end)

  it("keeps every row with an optional belongsTo whose where does not match", function()
    local posts = M.Post:findAll { include = { { model = M.User, where = { name = "bob" },
      required = false } }, order = { "id" } }
    assert.are.same({ 1, 2, 3 }, F.ids(posts))
    assert.is_nil(posts[1].User)
    assert.are.equal("bob", posts[3].User.name)
  end)

  it("a required grandchild filters its parent include, not the root", function()
    local users = M.User:findAll { include = { { model = M.Post, required = false,
      include = { { model = M.Comment, where = { body = "z" } } } } }, order = { "id" } }
    assert.are.same({ 1, 2, 3 }, F.ids(users))
    assert.are.same({}, users[1].Posts)
    assert.are.same({ 3 }, F.ids(users[2].Posts))
    assert.are.same({ 3 }, F.ids(users[2].Posts[1].Comments))
  end)

  it("required all the way down filters the root", function()
    local users = M.User:findAll { include = { { model = M.Post, required = true,
      include = { { model = M.Comment, where = { body = "z" } } } } } }
    assert.are.same({ 2 }, F.ids(users))
  end)

  it("a required include under an optional belongsTo nulls that include only", function()
    local comments = M.Comment:findAll { include = { { model = M.Post, required = false,
      include = { { model = M.User, where = { name = "bob" } } } } }, order = { "id" } }
    assert.are.same({ 1, 2, 3 }, F.ids(comments))
    assert.is_nil(comments[1].Post)          -- post 1 is alice's
    assert.are.equal("c", comments[3].Post.title)
    assert.are.equal("bob", comments[3].Post.User.name)
  end)

  it("applies a where on a belongsToMany target", function()
    local users = M.User:findAll { include = { { model = M.Project, where = { name = "Y" } } } }
    assert.are.same({ 1 }, F.ids(users))
    assert.are.same({ 2 }, F.ids(users[1].Projects))
  end)
end)

describe("include attributes", function()
  local M
  before_each(function() M = F.open(); F.seed(M) end)
  after_each(function() M.db:close() end)

  it("selects only the listed attributes and re-adds the primary key", function()
    local u = M.User:findByPk(1, { include = { { model = M.Post, attributes = { "title" } } } })
    local p = u.Posts[1]
    assert.are.equal("b", p.title)
    assert.are.equal(1, p.id)
    assert.is_nil(p.rank)
    assert.is_nil(p.userId)
  end)

  it("takes { exclude = ... }", function()
    local u = M.User:findByPk(1, { include = { { model = M.Post,
      attributes = { exclude = { "rank", "createdAt" } } } } })
    assert.is_nil(u.Posts[1].rank)
    assert.is_nil(u.Posts[1].createdAt)
    assert.are.equal("b", u.Posts[1].title)
  end)

  it("takes attributes = {} (the primary key only)", function()
    local u = M.User:findByPk(1, { include = { { model = M.Post, attributes = {} } } })
    assert.are.same({ 1, 2 }, F.ids(u.Posts))
    assert.is_nil(u.Posts[1].title)
  end)

  it("still loads nested includes when their key is not among the attributes", function()
    local users = M.User:findAll { attributes = { "name" }, include = { { model = M.Post,
      attributes = { "title" }, include = { { model = M.Comment, attributes = { "body" } } } } },
      order = { "id" } }
    assert.are.equal("alice", users[1].name)
    assert.are.same({ "x", "y" }, F.pluck(users[1].Posts[1].Comments, "body"))
  end)
end)

describe("include order and limit", function()
  local M
  before_each(function() M = F.open(); F.seed(M) end)
  after_each(function() M.db:close() end)

  it("orders the children of each parent", function()
    local u = M.User:findByPk(1, { include = { { model = M.Post, order = { "title" } } } })
    assert.are.same({ "a", "b" }, F.pluck(u.Posts, "title"))
    u = M.User:findByPk(1, { include = { { model = M.Post, order = { { "rank", "DESC" } } } } })
    assert.are.same({ 1, 2 }, F.ids(u.Posts))
  end)

  it("limits the children per parent, keeping the requested order", function()
    M.db:query([[INSERT INTO "Posts" (id, title, rank, userId, createdAt, updatedAt) VALUES
      (5, 'd', 5, 1, 'now', 'now'), (6, 'e', 4, 2, 'now', 'now')]])
    local users = M.User:findAll { include = { { model = M.Post, order = { { "rank", "DESC" } },
      limit = 2 } }, order = { "id" } }
    assert.are.same({ 5, 1 }, F.ids(users[1].Posts))
    assert.are.same({ 6, 3 }, F.ids(users[2].Posts))
    assert.are.same({}, users[3].Posts)
    users = M.User:findAll { include = { { model = M.Post, order = { "rank" }, limit = 2 } },
      order = { "id" } }
    assert.are.same({ 2, 1 }, F.ids(users[1].Posts))
    assert.are.same({ 3, 6 }, F.ids(users[2].Posts))
  end)

  it("offsets the children per parent", function()
    local users = M.User:findAll { include = { { model = M.Post, order = { "rank" },
      offset = 1 } }, order = { "id" } }
    assert.are.same({ 1 }, F.ids(users[1].Posts))
    assert.are.same({}, users[2].Posts)
  end)

  it("limits belongsToMany targets per parent", function()
    local users = M.User:findAll { include = { { model = M.Project, order = { { "name", "DESC" } },
      limit = 1 } }, order = { "id" } }
    assert.are.same({ 2 }, F.ids(users[1].Projects))
    assert.are.same({ 1 }, F.ids(users[2].Projects))
  end)
end)

describe("include separate", function()
  local M
  before_each(function() M = F.open(); F.seed(M) end)
  after_each(function() M.db:close() end)

  it("loads a hasMany separately with the same result", function()
    local a = M.User:findAll { include = { { model = M.Post, separate = true } }, order = { "id" } }
    assert.are.same({ 1, 2 }, F.ids(a[1].Posts))
    assert.are.same({}, a[3].Posts)
    assert.are.equal(2, #F.selects(M.log))
  end)

  it("loads a belongsToMany separately too (#4376)", function()
    local a = M.User:findAll { include = { { model = M.Project, separate = true } },
      order = { "id" } }
    assert.are.same({ 1, 2 }, F.ids(a[1].Projects))
    assert.are.equal("owner", a[1].Projects[1].UserProject.role)
    assert.are.equal(2, #F.selects(M.log))
  end)
end)

describe("include paranoid", function()
  local M
  before_each(function() M = F.open(); F.seed(M) end)
  after_each(function() M.db:close() end)

  it("hides soft-deleted children", function()
    local u = M.User:findByPk(1, { include = { M.Post } })
    assert.are.same({ 1, 2 }, F.ids(u.Posts))
  end)

  it("shows them with paranoid = false", function()
    local u = M.User:findByPk(1, { include = { { model = M.Post, paranoid = false } } })
    assert.are.same({ 1, 2, 4 }, F.ids(u.Posts))
  end)

  it("hides a soft-deleted belongsTo target", function()
    local c = M.Comment:findAll { include = { M.Post }, order = { "id" } }
    M.db:query([[UPDATE "Posts" SET deletedAt = '2021-01-01T00:00:00.000Z' WHERE id = 3]])
    c = M.Comment:findAll { include = { M.Post }, order = { "id" } }
    assert.are.equal("b", c[1].Post.title)
    assert.is_nil(c[3].Post)
    c = M.Comment:findAll { include = { { model = M.Post, paranoid = false } }, order = { "id" } }
    assert.are.equal("c", c[3].Post.title)
  end)

  it("a required paranoid include does not count soft-deleted rows", function()
    M.db:query([[UPDATE "Posts" SET deletedAt = '2021-01-01T00:00:00.000Z' WHERE id = 3]])
    local users = M.User:findAll { include = { { model = M.Post, required = true } } }
    assert.are.same({ 1 }, F.ids(users))
  end)
end)

describe("include through", function()
  local M
  before_each(function() M = F.open(); F.seed(M) end)
  after_each(function() M.db:close() end)

  it("picks junction columns with through.attributes", function()
    local u = M.User:findByPk(1, { include = { { model = M.Project,
      through = { attributes = { "role" } } } } })
    local j = u.Projects[1].UserProject
    assert.are.equal("owner", j.role)
    assert.is_nil(j.createdAt)
    assert.is_nil(j.userId)
  end)

  it("drops the junction object with through.attributes = {}", function()
    local u = M.User:findByPk(1, { include = { { model = M.Project,
      through = { attributes = {} } } } })
    assert.are.same({ 1, 2 }, F.ids(u.Projects))
    assert.is_nil(rawget(u.Projects[1], "UserProject"))
  end)

  it("filters links with through.where", function()
    local users = M.User:findAll { include = { { model = M.Project,
      through = { where = { role = "owner" } } } }, order = { "id" } }
    assert.are.same({ 1, 2, 3 }, F.ids(users))
    assert.are.same({ 1 }, F.ids(users[1].Projects))
    assert.are.same({}, users[2].Projects)
  end)

  it("filters parents with through.where and required", function()
    local users = M.User:findAll { include = { { model = M.Project, required = true,
      through = { where = { role = "member" } } } }, order = { "id" } }
    assert.are.same({ 1, 2 }, F.ids(users))
    assert.are.same({ 2 }, F.ids(users[1].Projects))
  end)
end)

describe("include scopes", function()
  local M
  before_each(function()
    M = F.open()
    M.Drafts = M.User:hasMany(M.Post, { as = "Drafts", scope = { status = "draft" } })
    F.seed(M)
    M.db:query([[UPDATE "Posts" SET status = 'draft' WHERE id = 2]])
  end)
  after_each(function() M.db:close() end)

  it("applies the association scope to the include", function()
    local users = M.User:findAll { include = { "Drafts" }, order = { "id" } }
    assert.are.same({ 2 }, F.ids(users[1].Drafts))
    assert.are.same({}, users[2].Drafts)
  end)

  it("never makes the include required through the scope", function()
    local users = M.User:findAll { include = { "Drafts" }, order = { "id" } }
    assert.are.same({ 1, 2, 3 }, F.ids(users))
  end)

  it("takes an extra scope per include, which filters without requiring", function()
    local users = M.User:findAll { include = { { model = M.Post, as = "Posts",
      scope = { title = "b" } } }, order = { "id" } }
    assert.are.same({ 1, 2, 3 }, F.ids(users))
    assert.are.same({ 1 }, F.ids(users[1].Posts))
  end)
end)
