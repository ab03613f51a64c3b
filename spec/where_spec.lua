local H = require "spec.helpers"
local assoc = H.assoc
local DataTypes = assoc.DataTypes
local Op = assoc.Op

local function names(list)
  local out = {}
  for i, u in ipairs(list) do out[i] = u.name end
  table.sort(out)
  return out
end

describe("where", function()
  local db, log, User
  before_each(function()
    db, log = H.open()
    User = db:define("User", { name = DataTypes.STRING, age = DataTypes.INTEGER,
      active = DataTypes.BOOLEAN, note = DataTypes.STRING })
    db:sync()
    User:bulkCreate {
      { name = "alice", age = 30, active = true, note = "100% sure" },
      { name = "bob", age = 25, active = false },
      { name = "carol", age = 35, active = true, note = "maybe" },
      { name = "Dave", age = 40 },
    }
    H.clear(log)
  end)
  after_each(function() db:close() end)

  local function find(where) return names(User:findAll { where = where }) end

  it("compares a scalar with =", function()
    assert.are.same({ "bob" }, find { name = "bob" })
    assert.are.equal('SELECT "id", "active", "age", "name", "note", "createdAt", "updatedAt" '
      .. 'FROM "Users" WHERE "name" = ?', log[1])
  end)

  it("ANDs several attributes", function()
    assert.are.same({ "alice" }, find { age = 30, active = true })
  end)

  it("supports Op.eq and Op.ne", function()
    assert.are.same({ "bob" }, find { age = { [Op.eq] = 25 } })
    assert.are.same({ "Dave", "alice", "carol" }, find { age = { [Op.ne] = 25 } })
  end)

  it("supports Op.gt, Op.gte, Op.lt and Op.lte", function()
    assert.are.same({ "Dave", "carol" }, find { age = { [Op.gt] = 30 } })
    assert.are.same({ "Dave", "alice", "carol" }, find { age = { [Op.gte] = 30 } })
    assert.are.same({ "bob" }, find { age = { [Op.lt] = 30 } })
    assert.are.same({ "alice", "bob" }, find { age = { [Op.lte] = 30 } })
  end)

  it("ANDs several operators on one attribute", function()
    assert.are.same({ "alice", "carol" }, find { age = { [Op.gte] = 30, [Op.lt] = 40 } })
  end)

  it("supports Op.in and Op.notIn", function()
    assert.are.same({ "alice", "bob" }, find { age = { [Op["in"]] = { 25, 30 } } })
    assert.are.same({ "Dave", "carol" }, find { age = { [Op.notIn] = { 25, 30 } } })
  end)

  it("takes a plain array as IN", function()
    assert.are.same({ "alice", "carol" }, find { name = { "alice", "carol", "zed" } })
  end)

  it("matches nothing with an empty IN", function()
    assert.are.same({}, find { age = { [Op["in"]] = {} } })
  end)

  it("supports Op.like and Op.notLike", function()
    assert.are.same({ "alice", "carol" }, find { name = { [Op.like] = "%l%" } })
    assert.are.same({ "Dave", "bob" }, find { name = { [Op.notLike] = "%l%" } })
  end)

  it("supports Op.iLike case-insensitively", function()
    assert.are.same({ "Dave" }, find { name = { [Op.iLike] = "dave" } })
  end)

  it("supports Op.between and Op.notBetween", function()
    assert.are.same({ "alice", "bob" }, find { age = { [Op.between] = { 25, 30 } } })
    assert.are.same({ "Dave", "carol" }, find { age = { [Op.notBetween] = { 25, 30 } } })
  end)

  it("supports Op.startsWith, Op.endsWith and Op.substring", function()
    assert.are.same({ "carol" }, find { name = { [Op.startsWith] = "car" } })
    assert.are.same({ "alice" }, find { name = { [Op.endsWith] = "ice" } })
    assert.are.same({ "carol" }, find { name = { [Op.substring] = "aro" } })
  end)

  it("escapes LIKE wildcards in startsWith/endsWith/substring values", function()
    assert.are.same({ "alice" }, find { note = { [Op.substring] = "0% s" } })
    assert.are.same({}, find { note = { [Op.substring] = "_" } })
  end)

  it("matches NULL with assoc.null and with Op.is", function()
    assert.are.same({ "Dave", "bob" }, find { note = assoc.null })
    assert.are.same({ "Dave" }, find { active = { [Op.is] = assoc.null } })
  end)

  it("supports Op.not with NULL", function()
    assert.are.same({ "alice", "carol" }, find { note = { [Op["not"]] = assoc.null } })
  end)

  it("supports Op.or over an array of where tables", function()
    assert.are.same({ "alice", "bob" }, find { [Op["or"]] = { { name = "bob" }, { age = 30 } } })
  end)

  it("supports Op.and over an array of where tables", function()
    assert.are.same({ "carol" },
      find { [Op["and"]] = { { active = true }, { age = { [Op.gt] = 30 } } } })
  end)

  it("supports Op.not over a where table", function()
    -- NOT (active = 1) is NULL, not true, for Dave's NULL: SQL semantics
    assert.are.same({ "bob" }, find { [Op["not"]] = { active = true } })
  end)

  it("nests and/or/not", function()
    local w = { [Op.or_] = {
      { [Op.and_] = { { age = { [Op.gte] = 35 } }, { active = true } } },
      { name = { [Op.in_] = { "bob" } } },
    } }
    assert.are.same({ "bob", "carol" }, find(w))
  end)

  it("combines Op.or with plain attributes", function()
    assert.are.same({ "alice" },
      find { active = true, [Op.or_] = { { age = 30 }, { age = 40 } } })
  end)

  it("binds values, never inlining them into SQL", function()
    local evil = "x' OR '1'='1"
    assert.are.same({}, find { name = evil })
    assert.is_nil(log[1]:find(evil, 1, true))
    assert.are.equal(4, H.rows(db, "Users"))
  end)

  it("is accepted by count, update and destroy alike", function()
    local w = { age = { [Op.gt] = 30 } }
    assert.are.equal(2, User:count { where = w })
    assert.are.equal(2, User:update({ note = "old" }, { where = w }))
    assert.are.equal(2, User:destroy { where = w })
    assert.are.equal(2, User:count())
  end)

  it("raises naming the model and the attribute for an unknown column", function()
    H.raises("AssocError", { "User", "nope" }, User.findAll, User, { where = { nope = 1 } })
  end)

  it("raises for an operator given as a string key", function()
    H.raises("AssocError", "User", User.findAll, User, { where = { age = { gt = 5 } } })
  end)

  it("raises for an operator in the wrong place", function()
    H.raises("AssocError", "User", User.findAll, User, { where = { [Op.gt] = 5 } })
  end)

  it("raises for a between operand that is not a pair", function()
    H.raises("AssocError", "User", User.findAll, User,
      { where = { age = { [Op.between] = { 1 } } } })
  end)
end)
