local H = require "spec.helpers"
local assoc = H.assoc
local DataTypes = assoc.DataTypes

describe("Model:create", function()
  local db, log, User
  before_each(function()
    db, log = H.open()
    User = H.user_model(db)
    db:sync()
    H.clear(log)
  end)
  after_each(function() db:close() end)

  it("returns a saved instance with its id", function()
    local u = User:create { name = "ann", age = 30 }
    assert.are.equal(1, u.id)
    assert.are.equal("ann", u.name)
    assert.are.equal(30, u.age)
    assert.is_false(u.isNewRecord)
  end)

  it("writes the row to the database", function()
    User:create { name = "ann", age = 30 }
    local rows = db:query('SELECT id, name, age FROM "Users"')
    assert.are.same({ { id = 1, name = "ann", age = 30 } }, rows)
  end)

  it("issues exactly one INSERT when the model has no hooks", function()
    User:create { name = "ann" }
    assert.are.equal(1, #log)
    assert.are.equal('INSERT INTO "Users" ("name", "createdAt", "updatedAt") VALUES (?, ?, ?)',
      log[1])
  end)

  it("sets createdAt and updatedAt to the same ISO-8601 UTC time", function()
    local u = User:create { name = "ann" }
    assert.truthy(u.createdAt:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$"))
    assert.are.equal(u.createdAt, u.updatedAt)
    assert.are.equal(u.createdAt, db:query('SELECT createdAt FROM "Users"')[1].createdAt)
  end)

  it("applies a literal defaultValue", function()
    local P = db:define("Profile", { role = { type = DataTypes.STRING, defaultValue = "member" } })
    db:sync()
    local p = P:create {}
    assert.are.equal("member", p.role)
    assert.are.equal("member", P:findByPk(p.id).role)
  end)

  it("calls a function defaultValue once per create", function()
    local n = 0
    local P = db:define("Profile", { seq = { type = DataTypes.INTEGER,
      defaultValue = function() n = n + 1; return n * 10 end } })
    db:sync()
    assert.are.equal(10, P:create {}.seq)
    assert.are.equal(20, P:create {}.seq)
  end)

  it("keeps NULL given as assoc.null instead of the default", function()
    local P = db:define("Profile", { role = { type = DataTypes.STRING, defaultValue = "member" } })
    db:sync()
    local p = P:create { role = assoc.null }
    assert.is_nil(p.role)
    assert.is_nil(P:findByPk(p.id).role)
  end)

  it("gives each instance its own copy of a table defaultValue", function()
    local P = db:define("Profile", { prefs = { type = DataTypes.JSON,
      defaultValue = { theme = "dark" } } })
    db:sync()
    local a, b = P:create {}, P:create {}
    a.prefs.theme = "light"
    assert.are.equal("dark", b.prefs.theme)
    assert.are.equal("dark", P.rawAttributes.prefs.defaultValue.theme)
    a:save()
    assert.are.equal("light", P:findByPk(a.id).prefs.theme)
    assert.are.equal("dark", P:findByPk(b.id).prefs.theme)
  end)

  it("stores a boolean defaultValue, also as the column default", function()
    local P = db:define("Profile", { active = { type = DataTypes.BOOLEAN, defaultValue = false } })
    db:sync()
    assert.is_false(P:create {}.active)
    db:query('INSERT INTO "Profiles" (createdAt, updatedAt) VALUES (?, ?)', { "t", "t" })
    assert.is_false(P:findByPk(2).active)
  end)

  it("accepts a given primary key value", function()
    local u = User:create { id = 42, name = "ann" }
    assert.are.equal(42, u.id)
    assert.are.equal("ann", User:findByPk(42).name)
  end)

  it("refuses an unknown attribute and writes nothing", function()
    H.raises("AssocError", { "User.create", "'nmae'" }, User.create, User, { nmae = "ann" })
    assert.are.equal(0, #log)
    assert.are.equal(0, H.rows(db, "Users"))
  end)

  it("refuses values that are not a table", function()
    H.raises("AssocError", "User.create", User.create, User, "ann")
  end)

  it("refuses unknown options", function()
    H.raises("AssocError", "'validat'", User.create, User, { name = "a" }, { validat = false })
    assert.are.equal(0, H.rows(db, "Users"))
  end)

  it("raises UniqueConstraintError for a duplicate unique value", function()
    User:create { name = "a", email = "a@x.org" }
    local err = H.raises("UniqueConstraintError", nil, User.create, User,
      { name = "b", email = "a@x.org" })
    assert.are.equal("email", err.errors[1].path)
    assert.are.equal(1, H.rows(db, "Users"))
  end)

  it("rolls back with the transaction it runs in", function()
    pcall(db.transaction, db, function()
      User:create { name = "ann" }
      error("stop")
    end)
    assert.are.equal(0, H.rows(db, "Users"))
  end)
end)

describe("Model:build", function()
  local db, log, User
  before_each(function()
    db, log = H.open()
    User = db:define("User", { name = DataTypes.STRING,
      role = { type = DataTypes.STRING, defaultValue = "member" } })
    db:sync()
    H.clear(log)
  end)
  after_each(function() db:close() end)

  it("returns an unsaved instance with defaults and writes nothing", function()
    local u = User:build { name = "ann" }
    assert.is_true(u.isNewRecord)
    assert.are.equal("ann", u.name)
    assert.are.equal("member", u.role)
    assert.is_nil(u.id)
    assert.are.equal(0, #log)
  end)

  it("is saved with save(), which sets the id", function()
    local u = User:build { name = "ann" }
    assert.are.equal(u, u:save())
    assert.are.equal(1, u.id)
    assert.is_false(u.isNewRecord)
    assert.are.equal("ann", User:findByPk(1).name)
  end)

  it("refuses unknown attributes", function()
    H.raises("AssocError", { "User.build", "'nope'" }, User.build, User, { nope = 1 })
  end)
end)

describe("Model:bulkCreate", function()
  local db, log, User
  before_each(function()
    db, log = H.open()
    User = H.user_model(db)
    db:sync()
    H.clear(log)
  end)
  after_each(function() db:close() end)

  it("returns instances with their ids, in order", function()
    local us = User:bulkCreate { { name = "a" }, { name = "b" }, { name = "c" } }
    assert.are.equal(3, #us)
    for i, u in ipairs(us) do
      assert.are.equal(i, u.id)
      assert.is_false(u.isNewRecord)
    end
    assert.are.same({ "a", "b", "c" }, { us[1].name, us[2].name, us[3].name })
    assert.are.equal(3, H.rows(db, "Users"))
  end)

  it("runs inside one BEGIN IMMEDIATE ... COMMIT", function()
    User:bulkCreate { { name = "a" }, { name = "b" } }
    assert.are.equal("BEGIN IMMEDIATE", log[1])
    assert.are.equal("COMMIT", log[#log])
    assert.are.equal(2, #H.matching(log, "^INSERT"))
    assert.are.equal(1, #H.matching(log, "^BEGIN"))
  end)

  it("validates every row first and lists every failure", function()
    local err = H.raises("ValidationError", nil, User.bulkCreate, User,
      { { name = "ok" }, {}, { name = "x", age = "old" } })
    assert.are.equal(2, #err.errors)
    assert.are.equal("name", err.errors[1].path)
    assert.are.equal(2, err.errors[1].index)
    assert.are.equal("age", err.errors[2].path)
    assert.are.equal(3, err.errors[2].index)
    assert.are.equal(0, H.rows(db, "Users"))
    assert.are.equal(0, #H.matching(log, "^INSERT"))
  end)

  it("writes nothing when one row violates a constraint", function()
    H.raises("UniqueConstraintError", nil, User.bulkCreate, User,
      { { name = "a", email = "x@y.org" }, { name = "b", email = "x@y.org" } })
    assert.are.equal(0, H.rows(db, "Users"))
  end)

  it("accepts rows with different sets of attributes", function()
    local us = User:bulkCreate { { name = "a" }, { name = "b", age = 3 }, { name = "c" } }
    assert.are.equal(3, us[3].id)
    assert.are.equal(3, User:findByPk(2).age)
    assert.is_nil(User:findByPk(3).age)
  end)

  it("returns an empty array and runs nothing for an empty array", function()
    assert.are.same({}, User:bulkCreate {})
    assert.are.equal(0, #log)
  end)

  it("sets timestamps on every row", function()
    local us = User:bulkCreate { { name = "a" }, { name = "b" } }
    assert.is_string(us[2].createdAt)
    assert.are.equal(2, db:query('SELECT count(*) AS n FROM "Users" WHERE createdAt IS NOT NULL')[1].n)
  end)

  it("refuses a non-array argument and a row that is not a table", function()
    H.raises("AssocError", "User.bulkCreate", User.bulkCreate, User, "rows")
    H.raises("AssocError", "User.bulkCreate", User.bulkCreate, User, { { name = "a" }, 5 })
    H.raises("AssocError", "User.bulkCreate", User.bulkCreate, User, { x = { name = "a" } })
    assert.are.equal(0, H.rows(db, "Users"))
  end)

  it("skips validation with validate = false, leaving it to the database", function()
    H.raises("ValidationError", "cannot be null", User.bulkCreate, User, { {} },
      { validate = false })
    assert.are.equal(0, H.rows(db, "Users"))
  end)
end)
