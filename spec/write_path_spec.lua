-- The bulk write path (Model:bulkCreate through the binding's m:build, m:insertMany plan
-- form and m:snapshot; multi-row INSERTs in the core) and the plain create path behave as
-- the row-at-a-time path did: every failure reported together, nothing written on failure,
-- instances saved with their ids and no changes.
local H = require "spec.helpers"
local assoc = H.assoc
local DataTypes = assoc.DataTypes

local function rows(n, make)
  local t = {}
  for i = 1, n do t[i] = make(i) end
  return t
end

describe("Model:bulkCreate on many rows", function()
  local db, log, User
  before_each(function()
    db, log = H.open()
    User = H.user_model(db, { timestamps = false })
    db:sync()
    H.clear(log)
  end)
  after_each(function() db:close() end)

  it("writes rows with explicit ids through multi-row statements, in order", function()
    local us = User:bulkCreate(rows(1000, function(i) return { id = 2 * i, name = "u" .. i } end))
    assert.are.equal(1000, #us)
    assert.are.equal(1000, H.rows(db, "Users"))
    local inserts = H.matching(log, "^INSERT")
    assert.truthy(#inserts < 10, "expected a few multi-row INSERTs, got " .. #inserts)
    for i, u in ipairs(us) do
      assert.are.equal(2 * i, u.id)
      assert.is_false(u.isNewRecord)
      assert.is_false(u:changed())
    end
    assert.are.equal("u7", User:findByPk(14).name)
  end)

  it("gives generated ids to rows without one", function()
    User:create { name = "first" }
    local us = User:bulkCreate(rows(300, function(i) return { name = "u" .. i, age = i } end))
    for i, u in ipairs(us) do
      assert.are.equal(i + 1, u.id)
      assert.are.equal("u" .. i, User:findByPk(u.id).name)
    end
  end)

  it("reports the failures of every row in one ValidationError and writes nothing", function()
    local list = rows(900, function(i) return { id = i, name = "u" .. i } end)
    list[3].name = nil
    list[850].age = "old"
    local err = H.raises("ValidationError", nil, User.bulkCreate, User, list)
    assert.are.equal(2, #err.errors)
    assert.are.same({ "name", 3 }, { err.errors[1].path, err.errors[1].index })
    assert.are.same({ "age", 850 }, { err.errors[2].path, err.errors[2].index })
    assert.are.equal(0, H.rows(db, "Users"))
    assert.are.equal(0, #H.matching(log, "^INSERT"))
  end)

  it("accepts what validation accepts although the binding is unsure", function()
    local us = User:bulkCreate(rows(20, function(i) return { id = i, name = "u" .. i, age = "4" .. i } end))
    assert.are.equal("41", us[1].age)
    assert.are.equal(41, User:findByPk(1).age)
  end)

  it("is atomic inside a transaction: a constraint failure late in the rows undoes only them", function()
    db:transaction(function()
      User:bulkCreate { { id = 5000, name = "kept" } }
      local list = rows(1000, function(i) return { id = i, name = "u" .. i, email = "e" .. i } end)
      list[990].email = "e1"
      H.raises("UniqueConstraintError", nil, User.bulkCreate, User, list)
      User:bulkCreate { { id = 6000, name = "also kept" } }
    end)
    assert.are.equal(2, H.rows(db, "Users"))
  end)

  it("keeps change tracking working on the returned instances", function()
    local us = User:bulkCreate(rows(50, function(i) return { id = i, name = "u" .. i } end))
    local u = us[40]
    u.name = "changed"
    assert.are.same({ "name" }, u:changed())
    assert.are.equal("u40", u:previous("name"))
    u:save()
    assert.are.equal("changed", User:findByPk(40).name)
    assert.is_false(u:changed())
  end)

  it("makes function defaults once per row, in row order", function()
    local n = 0
    local Seq = db:define("Seq", {
      v = { type = DataTypes.INTEGER, defaultValue = function() n = n + 1; return n end },
      tag = { type = DataTypes.STRING, defaultValue = "t" },
    }, { timestamps = false })
    db:sync()
    local made = Seq:bulkCreate(rows(30, function(i) return i == 2 and { v = 99 } or {} end))
    assert.are.equal(29, n)
    assert.are.same({ 1, 99, 2 }, { made[1].v, made[2].v, made[3].v })
    assert.are.equal("t", made[30].tag)
  end)

  it("writes the key an association added after the first bulkCreate", function()
    User:bulkCreate(rows(10, function(i) return { id = i, name = "u" .. i } end))
    local Post = db:define("Post", { title = DataTypes.STRING }, { timestamps = false })
    User:hasMany(Post)
    db:sync()
    local ps = Post:bulkCreate(rows(10, function(i) return { title = "p" .. i, userId = i } end))
    assert.are.equal(10, #ps)
    assert.are.equal(3, Post:findByPk(ps[3].id).userId)
  end)
end)

describe("Model:create without hooks", function()
  local db, User
  before_each(function()
    db = assoc.open(":memory:")
    User = H.user_model(db)
    db:sync()
  end)
  after_each(function() db:close() end)

  it("sets no timestamps on an instance that fails validation", function()
    local u = User:build { age = 3 }
    H.raises("ValidationError", "User.name cannot be null", u.save, u)
    assert.is_nil(rawget(u, "createdAt"))
    assert.is_true(u.isNewRecord)
    u.name = "ok"
    u:save()
    assert.is_string(u.createdAt)
    assert.is_false(u:changed())
  end)

  it("reports every failing field of a model without timestamps", function()
    local db2 = assoc.open(":memory:")
    local Plain = H.user_model(db2, { timestamps = false })
    db2:sync()
    local err = H.raises("ValidationError", nil, Plain.create, Plain, { age = "x" })
    assert.are.same({ "age", "name" }, { err.errors[1].path, err.errors[2].path })
    assert.are.equal(0, H.rows(db2, "Users"))
    db2:close()
  end)
end)
