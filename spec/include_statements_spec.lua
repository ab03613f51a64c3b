-- Eager loading: the number of statements is fixed by the shape of the include tree, never
-- by the number of rows; to-many includes side by side never multiply (#4868); SQL shapes.
local F = require "spec.include_fixtures"
local H = F.H

-- Each include shape with the number of statements it must take: 1 for the root (its
-- to-one includes joined in) + 1 per hasMany/belongsToMany include.
local SHAPES = {
  { "User with Posts", function(M) return M.User, { M.Post } end, 2 },
  { "User with Profile (hasOne, joined)", function(M) return M.User, { M.Profile } end, 1 },
  { "Post with User (belongsTo, joined)", function(M) return M.Post, { M.User } end, 1 },
  { "User with Projects (belongsToMany)", function(M) return M.User, { M.Project } end, 2 },
  { "User with Posts and Projects", function(M) return M.User, { M.Post, M.Project } end, 3 },
  { "User with Posts with Comments", function(M)
    return M.User, { { model = M.Post, include = { M.Comment } } } end, 3 },
  { "User with Posts with User", function(M)
    return M.User, { { model = M.Post, include = { M.User } } } end, 2 },
  { "Comment with Post with User, and Author", function(M)
    return M.Comment, { { model = M.Post, include = { M.User } }, "Author" } end, 1 },
  { "User with Posts with Comments with Author with Profile", function(M)
    return M.User, { { model = M.Post, include = { { model = M.Comment,
      include = { { model = M.User, as = "Author", include = { M.Profile } } } } } } } end, 3 },
  { "User with everything", function(M)
    return M.User, { { all = true } } end, 3 },
  { "Project with Users with Posts with Tags", function(M)
    return M.Project, { { model = M.User, include = { { model = M.Post,
      include = { M.Tag } } } } } end, 4 },
  { "User with required Posts (EXISTS, no extra statement)", function(M)
    return M.User, { { model = M.Post, where = { title = "a" } } } end, 2 },
  { "User with Posts limited per parent", function(M)
    return M.User, { { model = M.Post, limit = 1, order = { "rank" } } } end, 2 },
}

describe("statement counts", function()
  local M
  before_each(function() M = F.open(); F.seed(M) end)
  after_each(function() M.db:close() end)

  for _, shape in ipairs(SHAPES) do
    local name, get, want = shape[1], shape[2], shape[3]
    it(("%s: %d statement%s, whatever the rows"):format(name, want, want == 1 and "" or "s"),
      function()
        local Root, inc = get(M)
        local n1 = F.count_statements(M, function() Root:findAll { include = inc } end)
        F.more(M)
        local n2 = F.count_statements(M, function() Root:findAll { include = inc } end)
        M.db:query('DELETE FROM "' .. Root.tableName .. '"')
        local n0 = F.count_statements(M, function() Root:findAll { include = inc } end)
        assert.are.equal(want, n1)
        assert.are.equal(want, n2)
        assert.are.equal(want, n0)
      end)
  end

  it("count with includes is one statement whatever the shape", function()
    local n = F.count_statements(M, function()
      M.User:count { include = { { model = M.Post, required = true, include = {
        { model = M.Comment, where = { body = "x" } } } }, M.Project } }
    end)
    assert.are.equal(1, n)
  end)

  it("the statement text does not depend on the rows (the statement cache hits)", function()
    M.User:findAll { include = { M.Post } }
    local first = { M.log[1], M.log[2] }
    F.more(M)
    M.User:findAll { include = { M.Post } }
    assert.are.same(first, { M.log[1], M.log[2] })
    local before = M.db._core:cachestats().misses
    M.User:findAll { include = { M.Post } }
    assert.are.equal(before, M.db._core:cachestats().misses)
  end)

  it("loads the children of the parents in one statement, with one bound key list", function()
    F.more(M)
    M.User:findAll { where = { age = { [F.assoc.Op.ne] = 99 } }, include = { M.Post } }
    local sql = M.log[2]
    assert.truthy(sql:find('"t1"."userId" IN (SELECT value FROM json_each(?))', 1, true))
    assert.is_nil(sql:find("?, ?", 1, true))
  end)

  it("scans the children when the parents are every row of their table", function()
    local users = M.User:findAll { include = { M.Post, M.Project }, order = { "id" } }
    assert.truthy(M.log[2]:find('WHERE "t1"."userId" IS NOT NULL', 1, true))
    assert.truthy(M.log[3]:find('WHERE "j2"."userId" IS NOT NULL', 1, true))
    assert.are.same({ 1, 2 }, F.ids(users[1].Posts))
    -- a post of no user (a dangling key) is not attached anywhere
    M.db:query('PRAGMA foreign_keys = OFF')
    M.db:query([[INSERT INTO "Posts" (title, userId, createdAt, updatedAt)
      VALUES ('orphan', 77, 'now', 'now')]])
    users = M.User:findAll { include = { M.Post }, order = { "id" } }
    local n = 0
    for _, u in ipairs(users) do n = n + #u.Posts end
    assert.are.equal(3, n)
  end)

  it("has no variable limit: 40,000 parents in one statement", function()
    local db = M.db
    db:query([[WITH RECURSIVE c(x) AS (SELECT 100 UNION ALL SELECT x + 1 FROM c WHERE x < 40099)
      INSERT INTO "Users" (id, name, createdAt, updatedAt) SELECT x, 'u' || x, 'now', 'now' FROM c]])
    db:query([[INSERT INTO "Posts" (title, userId, createdAt, updatedAt)
      SELECT 'p', id, 'now', 'now' FROM "Users" WHERE id >= 100]])
    H.clear(M.log)
    local users = M.User:findAll { where = { id = { [F.assoc.Op.gt] = 0 } }, include = { M.Post } }
    assert.truthy(M.log[2]:find("json_each", 1, true))
    assert.are.equal(40003, #users)
    assert.are.equal(2, #M.log)
    assert.are.equal(1, #users[#users].Posts)
  end)
end)

describe("to-many includes side by side", function()
  local M
  before_each(function() M = F.open(); F.seed(M) end)
  after_each(function() M.db:close() end)

  it("never multiply into a cartesian product (#4868)", function()
    -- alice: 10 more posts and 2 projects; with Sequelize's join 12 x 2 rows come back
    for i = 1, 10 do
      M.db:query([[INSERT INTO "Posts" (title, userId, createdAt, updatedAt)
        VALUES (?, 1, 'now', 'now')]], { "more" .. i })
    end
    local u = M.User:findByPk(1, { include = { M.Post, M.Project, "Profile" } })
    assert.are.equal(12, #u.Posts)
    assert.are.equal(2, #u.Projects)
    assert.are.equal("A", u.Profile.bio)
    local selects = F.selects(M.log)
    assert.are.equal(3, #selects)
    for _, sql in ipairs(selects) do
      assert.is_nil(sql:find('"Posts"', 1, true) and sql:find('"Projects"', 1, true))
    end
  end)

  it("give each child once per parent, even when a junction links a pair twice", function()
    local db = M.db
    M.User:belongsToMany(M.Tag, { as = "Liked", through = { model = "Likes", unique = false } })
    db:sync()
    db:query([[INSERT INTO "Likes" (userId, tagId, createdAt, updatedAt) VALUES
      (1, 1, 'now', 'now'), (1, 1, 'now', 'now'), (1, 2, 'now', 'now')]])
    local u = M.User:findByPk(1, { include = { "Liked", M.Post } })
    assert.are.same({ 1, 2 }, F.ids(u.Liked))
    assert.are.same({ 1, 2 }, F.ids(u.Posts))
  end)
end)

describe("eager SQL", function()
  local M
  before_each(function() M = F.open(); F.seed(M) end)
  after_each(function() M.db:close() end)

  it("joins to-one includes into the parent's statement", function()
    M.Comment:findAll { include = { M.Post, "Author" } }
    assert.are.equal(1, #M.log)
    assert.truthy(M.log[1]:find('LEFT JOIN "Posts" AS "t1"', 1, true))
    assert.truthy(M.log[1]:find('LEFT JOIN "Users" AS "t2"', 1, true))
  end)

  it("uses INNER JOIN for a required to-one and EXISTS for a required to-many", function()
    M.Post:findAll { include = { { model = M.User, required = true } } }
    assert.truthy(M.log[1]:find('INNER JOIN "Users"', 1, true))
    H.clear(M.log)
    M.User:findAll { include = { { model = M.Post, required = true } } }
    assert.truthy(M.log[1]:find('WHERE EXISTS (SELECT 1 FROM "Posts"', 1, true))
  end)

  it("keeps a per-parent limit in order with a window function", function()
    M.User:findAll { include = { { model = M.Post, limit = 1, order = { "rank" } } } }
    assert.truthy(M.log[2]:find("row_number() OVER (PARTITION BY", 1, true))
  end)

  it("orders parents by (SELECT max(...)) of their children for a DESC to-many order", function()
    M.User:findAll { include = { M.Post }, order = { { M.Post, "title", "DESC" } }, limit = 2 }
    assert.truthy(M.log[1]:find('ORDER BY (SELECT max("o1"."title")', 1, true))
    assert.truthy(M.log[1]:find('LIMIT ?', 1, true))
  end)

  it("binds every value, quoting identifiers from the models only", function()
    M.User:findAll { include = { { model = M.Post, where = { title = "x'; DROP TABLE x; --" } } } }
    for _, sql in ipairs(M.log) do assert.is_nil(sql:find("DROP", 1, true)) end
  end)
end)
