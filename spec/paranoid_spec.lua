local H = require "spec.helpers"
local assoc = H.assoc
local DataTypes = assoc.DataTypes

local function names(list)
  local out = {}
  for i, u in ipairs(list) do out[i] = u.name end
  table.sort(out)
  return out
end

describe("paranoid models", function()
  local db, log, User
  before_each(function()
    db, log = H.open()
    User = db:define("User", { name = DataTypes.STRING, age = DataTypes.INTEGER },
      { paranoid = true })
    db:sync()
    User:bulkCreate { { name = "a", age = 1 }, { name = "b", age = 2 }, { name = "c", age = 3 } }
    H.clear(log)
  end)
  after_each(function() db:close() end)

  it("soft-delete with Model:destroy: deletedAt is set and the row stays", function()
    assert.are.equal(1, User:destroy { where = { name = "a" } })
    assert.are.equal(3, H.rows(db, "Users"))
    local row = db:query('SELECT deletedAt FROM "Users" WHERE name = ?', { "a" })[1]
    assert.truthy(row.deletedAt:match("^%d%d%d%d%-%d%d%-%d%dT"))
  end)

  it("soft-delete with one UPDATE that skips rows already deleted", function()
    User:destroy { where = { name = "a" } }
    assert.are.same({ 'UPDATE "Users" SET "deletedAt" = ? WHERE "deletedAt" IS NULL AND "name" = ?' },
      log)
    assert.are.equal(0, User:destroy { where = { name = "a" } })
  end)

  it("hide soft-deleted rows from findAll, findOne, findByPk and count", function()
    User:destroy { where = { name = "a" } }
    assert.are.same({ "b", "c" }, names(User:findAll()))
    assert.is_nil(User:findOne { where = { name = "a" } })
    assert.is_nil(User:findByPk(1))
    assert.are.equal(2, User:count())
  end)

  it("show soft-deleted rows with paranoid = false", function()
    User:destroy { where = { name = "a" } }
    assert.are.same({ "a", "b", "c" }, names(User:findAll { paranoid = false }))
    assert.are.equal("a", User:findByPk(1, { paranoid = false }).name)
    assert.are.equal(3, User:count { paranoid = false })
  end)

  it("hard-delete with force = true, soft-deleted rows included", function()
    User:destroy { where = { name = "a" } }
    assert.are.equal(2, User:destroy { where = { age = { [assoc.Op.lte] = 2 } }, force = true })
    assert.are.equal(1, H.rows(db, "Users"))
  end)

  it("soft-delete an instance with instance:destroy()", function()
    local u = User:findByPk(2)
    H.clear(log)
    u:destroy()
    assert.are.same({ 'UPDATE "Users" SET "deletedAt" = ? WHERE "id" = ?' }, log)
    assert.is_string(u.deletedAt)
    assert.is_true(u:isSoftDeleted())
    assert.is_nil(User:findByPk(2))
    assert.are.equal(3, H.rows(db, "Users"))
  end)

  it("hard-delete an instance with destroy{ force = true }", function()
    User:findByPk(2):destroy { force = true }
    assert.are.equal(2, H.rows(db, "Users"))
  end)

  it("restore an instance", function()
    local u = User:findByPk(2)
    u:destroy()
    u:restore()
    assert.is_nil(u.deletedAt)
    assert.are.equal("b", User:findByPk(2).name)
  end)

  it("restore rows with Model:restore", function()
    User:destroy { where = {} }
    assert.are.equal(2, User:restore { where = { name = { "a", "b" } } })
    assert.are.same({ "a", "b" }, names(User:findAll()))
  end)

  it("do not update soft-deleted rows unless paranoid = false", function()
    User:destroy { where = { name = "a" } }
    assert.are.equal(2, User:update({ age = 9 }, { where = {} }))
    assert.are.equal(3, User:update({ age = 9 }, { where = {}, paranoid = false }))
  end)

  it("reload a soft-deleted instance", function()
    local u = User:findByPk(3)
    u:destroy()
    u.deletedAt = nil
    u:reload()
    assert.is_string(u.deletedAt)
  end)

  it("let findOrCreate create again after a soft delete", function()
    User:destroy { where = { name = "a" } }
    local u, created = User:findOrCreate { where = { name = "a" } }
    assert.is_true(created)
    assert.are.equal(4, u.id)
  end)
end)

describe("paranoid and underscored models", function()
  it("use a deleted_at column", function()
    local db = assoc.open(":memory:")
    local User = db:define("User", { name = DataTypes.STRING },
      { paranoid = true, underscored = true })
    db:sync()
    local u = User:create { name = "a" }
    u:destroy()
    local row = db:query('SELECT deleted_at FROM "' .. User.tableName .. '"')[1]
    assert.is_string(row.deleted_at)
    assert.are.equal(0, User:count())
    assert.are.equal("deleted_at", User.rawAttributes.deletedAt.field)
    db:close()
  end)
end)

describe("Model:restore on a model that is not paranoid", function()
  it("raises", function()
    local db = assoc.open(":memory:")
    local User = db:define("User", { name = DataTypes.STRING })
    H.raises("AssocError", "not paranoid", User.restore, User, { where = {} })
    db:close()
  end)
end)
