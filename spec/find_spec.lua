local H = require "spec.helpers"
local assoc = H.assoc

local function names(list)
  local out = {}
  for i, u in ipairs(list) do out[i] = u.name end
  return out
end

local function seed(User)
  User:bulkCreate {
    { name = "carol", age = 35, email = "c@x.org" },
    { name = "alice", age = 30, email = "a@x.org" },
    { name = "bob", age = 25 },
    { name = "dave", age = 30 },
  }
end

describe("Model:findAll", function()
  local db, log, User
  before_each(function()
    db, log = H.open()
    User = H.user_model(db)
    db:sync()
    seed(User)
    H.clear(log)
  end)
  after_each(function() db:close() end)

  it("returns every row as an instance", function()
    local all = User:findAll()
    assert.are.equal(4, #all)
    assert.is_false(all[1].isNewRecord)
    assert.are.equal("function", type(all[1].save))
  end)

  it("filters with where", function()
    assert.are.same({ "alice", "dave" }, names(User:findAll { where = { age = 30 },
      order = { "name" } }))
  end)

  it("selects only the listed attributes", function()
    local u = User:findAll { attributes = { "id", "name" }, where = { name = "carol" } }[1]
    assert.are.equal("carol", u.name)
    assert.is_nil(u.age)
    assert.is_nil(u.email)
    assert.are.equal('SELECT "id", "name" FROM "Users" WHERE "name" = ?', log[1])
  end)

  it("excludes attributes with { exclude = ... }", function()
    local u = User:findAll { attributes = { exclude = { "email", "age" } },
      where = { name = "carol" } }[1]
    assert.are.equal("carol", u.name)
    assert.is_nil(u.email)
    assert.is_nil(u.age)
    assert.is_string(u.createdAt)
  end)

  it("orders by one attribute, descending", function()
    assert.are.same({ "dave", "carol", "bob", "alice" },
      names(User:findAll { order = { { "name", "DESC" } } }))
  end)

  it("orders by several attributes, direction case-insensitive", function()
    assert.are.same({ "carol", "alice", "dave", "bob" },
      names(User:findAll { order = { { "age", "desc" }, "name" } }))
  end)

  it("applies limit and offset", function()
    assert.are.same({ "bob", "carol" },
      names(User:findAll { order = { "name" }, limit = 2, offset = 1 }))
  end)

  it("returns nothing with limit = 0", function()
    assert.are.same({}, User:findAll { limit = 0 })
  end)

  it("runs one SELECT", function()
    User:findAll { where = { age = 30 }, order = { "name" }, limit = 5 }
    assert.are.equal(1, #log)
    assert.truthy(log[1]:match('^SELECT .* FROM "Users" WHERE "age" = %? ORDER BY "name" ASC LIMIT'))
  end)

  it("returns plain tables with raw = true", function()
    local rows = User:findAll { raw = true, where = { name = "bob" } }
    assert.is_nil(getmetatable(rows[1]))
    assert.are.equal(25, rows[1].age)
  end)

  it("returns an empty array when nothing matches", function()
    assert.are.same({}, User:findAll { where = { name = "zed" } })
  end)
end)

describe("Model:findOne", function()
  local db, log, User
  before_each(function()
    db, log = H.open()
    User = H.user_model(db)
    db:sync()
    seed(User)
    H.clear(log)
  end)
  after_each(function() db:close() end)

  it("returns the first matching instance", function()
    local u = User:findOne { where = { age = 30 }, order = { { "name", "DESC" } } }
    assert.are.equal("dave", u.name)
  end)

  it("returns nil when nothing matches", function()
    assert.is_nil(User:findOne { where = { name = "zed" } })
  end)

  it("asks the database for one row only", function()
    User:findOne { where = { age = 30 } }
    assert.truthy(log[1]:find("LIMIT", 1, true))
  end)
end)

describe("Model:findByPk", function()
  local db, User
  before_each(function()
    db = assoc.open(":memory:")
    User = H.user_model(db)
    db:sync()
    seed(User)
  end)
  after_each(function() db:close() end)

  it("returns the instance with that primary key", function()
    assert.are.equal("alice", User:findByPk(2).name)
  end)

  it("accepts the key as a string of digits", function()
    assert.are.equal("alice", User:findByPk("2").name)
  end)

  it("returns nil for a missing key and for nil", function()
    assert.is_nil(User:findByPk(99))
    assert.is_nil(User:findByPk(nil))
  end)

  it("honours attributes", function()
    local u = User:findByPk(1, { attributes = { "id", "age" } })
    assert.are.equal(35, u.age)
    assert.is_nil(u.name)
  end)

  it("refuses a table as key", function()
    H.raises("AssocError", "User.findByPk", User.findByPk, User, { id = 1 })
  end)
end)

describe("Model:findOrCreate", function()
  local db, log, User
  before_each(function()
    db, log = H.open()
    User = H.user_model(db)
    db:sync()
    H.clear(log)
  end)
  after_each(function() db:close() end)

  it("creates when nothing matches and finds afterwards", function()
    local u, created = User:findOrCreate { where = { name = "ann" }, defaults = { age = 3 } }
    assert.is_true(created)
    assert.are.equal("ann", u.name)
    assert.are.equal(3, u.age)
    local again, created2 = User:findOrCreate { where = { name = "ann" }, defaults = { age = 9 } }
    assert.is_false(created2)
    assert.are.equal(u.id, again.id)
    assert.are.equal(3, again.age)
    assert.are.equal(1, H.rows(db, "Users"))
  end)

  it("runs the find and the insert in one transaction", function()
    User:findOrCreate { where = { name = "ann" } }
    assert.are.equal("BEGIN IMMEDIATE", log[1])
    assert.truthy(log[2]:match("^SELECT"))
    assert.truthy(log[3]:match("^INSERT"))
    assert.are.equal("COMMIT", log[4])
  end)

  it("requires where", function()
    H.raises("AssocError", "where", User.findOrCreate, User, { defaults = { name = "x" } })
    H.raises("AssocError", "where", User.findOrCreate, User)
  end)

  it("refuses unknown attributes in defaults and writes nothing", function()
    H.raises("AssocError", "'nope'", User.findOrCreate, User,
      { where = { name = "a" }, defaults = { nope = 1 } })
    assert.are.equal(0, H.rows(db, "Users"))
  end)
end)

describe("Model:count", function()
  local db, User
  before_each(function()
    db = assoc.open(":memory:")
    User = H.user_model(db)
    db:sync()
    seed(User)
  end)
  after_each(function() db:close() end)

  it("counts every row", function()
    assert.are.equal(4, User:count())
  end)

  it("counts the rows matching where", function()
    assert.are.equal(2, User:count { where = { age = 30 } })
    assert.are.equal(0, User:count { where = { age = 99 } })
  end)

  it("returns an integer", function()
    assert.are.equal("integer", math.type(User:count()))
  end)
end)

describe("Model:findAndCountAll", function()
  it("returns the total count and one page of rows", function()
    local db = assoc.open(":memory:")
    local User = H.user_model(db)
    db:sync()
    seed(User)
    local res = User:findAndCountAll { where = { age = 30 }, limit = 1, order = { "name" } }
    assert.are.equal(2, res.count)
    assert.are.same({ "alice" }, names(res.rows))
    db:close()
  end)
end)
