local H = require "spec.helpers"
local assoc = H.assoc
local DataTypes = assoc.DataTypes
local Op = assoc.Op

describe("Model:update", function()
  local db, log, User
  before_each(function()
    db, log = H.open()
    User = db:define("User", {
      name = { type = DataTypes.STRING, allowNull = false, validate = { len = { 2, 10 } } },
      age = DataTypes.INTEGER,
    })
    db:sync()
    User:bulkCreate { { name = "ann", age = 1 }, { name = "bob", age = 2 }, { name = "cy", age = 3 } }
    H.clear(log)
  end)
  after_each(function() db:close() end)

  it("returns the number of rows changed", function()
    assert.are.equal(2, User:update({ age = 9 }, { where = { age = { [Op.lt] = 3 } } }))
    assert.are.equal(2, User:count { where = { age = 9 } })
  end)

  it("issues one UPDATE setting the values and updatedAt", function()
    User:update({ age = 9 }, { where = { name = "ann" } })
    assert.are.same({ 'UPDATE "Users" SET "age" = ?, "updatedAt" = ? WHERE "name" = ?' }, log)
  end)

  it("moves updatedAt forward and leaves createdAt", function()
    local before = User:findByPk(1)
    db:query('UPDATE "Users" SET updatedAt = ?', { "2000-01-01T00:00:00.000Z" })
    User:update({ age = 5 }, { where = { id = 1 } })
    local after = User:findByPk(1)
    assert.are.equal(before.createdAt, after.createdAt)
    assert.is_true(after.updatedAt > "2000-01-01T00:00:00.000Z")
  end)

  it("keeps updatedAt with silent = true", function()
    db:query('UPDATE "Users" SET updatedAt = ?', { "2000-01-01T00:00:00.000Z" })
    User:update({ age = 5 }, { where = { id = 1 }, silent = true })
    assert.are.equal("2000-01-01T00:00:00.000Z", User:findByPk(1).updatedAt)
  end)

  it("updates every row with where = {}", function()
    assert.are.equal(3, User:update({ age = 0 }, { where = {} }))
    assert.are.equal(3, User:count { where = { age = 0 } })
  end)

  it("requires where and changes nothing without it", function()
    H.raises("AssocError", { "User.update", "where" }, User.update, User, { age = 0 })
    H.raises("AssocError", { "User.update", "where" }, User.update, User, { age = 0 }, {})
    assert.are.equal(0, #log)
    assert.are.equal(0, User:count { where = { age = 0 } })
  end)

  it("validates the given values and changes nothing on failure", function()
    local err = H.raises("ValidationError", "len", User.update, User, { name = "x" },
      { where = { id = 1 } })
    assert.are.equal("name", err.errors[1].path)
    assert.are.equal("ann", User:findByPk(1).name)
  end)

  it("sets NULL with assoc.null", function()
    User:update({ age = assoc.null }, { where = { id = 2 } })
    assert.is_nil(User:findByPk(2).age)
  end)

  it("refuses NULL for a NOT NULL attribute", function()
    H.raises("ValidationError", "User.name cannot be null", User.update, User,
      { name = assoc.null }, { where = { id = 2 } })
  end)

  it("refuses an unknown attribute", function()
    H.raises("AssocError", { "User.update", "'nmae'" }, User.update, User, { nmae = "x" },
      { where = {} })
  end)

  it("refuses an unknown column in where and changes nothing", function()
    H.raises("AssocError", "nope", User.update, User, { age = 7 }, { where = { nope = 1 } })
    assert.are.equal(0, User:count { where = { age = 7 } })
  end)

  it("refuses values that are not a table", function()
    H.raises("AssocError", "User.update", User.update, User, 5, { where = {} })
  end)
end)

describe("Model:destroy", function()
  local db, log, User
  before_each(function()
    db, log = H.open()
    User = db:define("User", { name = DataTypes.STRING })
    db:sync()
    User:bulkCreate { { name = "a" }, { name = "b" }, { name = "c" } }
    H.clear(log)
  end)
  after_each(function() db:close() end)

  it("deletes the matching rows and returns their number", function()
    assert.are.equal(2, User:destroy { where = { name = { "a", "b" } } })
    assert.are.equal(1, H.rows(db, "Users"))
  end)

  it("issues one DELETE", function()
    User:destroy { where = { name = "a" } }
    assert.are.same({ 'DELETE FROM "Users" WHERE "name" = ?' }, log)
  end)

  it("deletes every row with where = {}", function()
    assert.are.equal(3, User:destroy { where = {} })
    assert.are.equal(0, H.rows(db, "Users"))
  end)

  it("requires where and deletes nothing without it", function()
    H.raises("AssocError", { "User.destroy", "where" }, User.destroy, User)
    H.raises("AssocError", { "User.destroy", "where" }, User.destroy, User, {})
    assert.are.equal(3, H.rows(db, "Users"))
  end)

  it("refuses unknown options", function()
    H.raises("AssocError", "'truncate'", User.destroy, User, { where = {}, truncate = true })
    assert.are.equal(3, H.rows(db, "Users"))
  end)

  it("returns 0 when nothing matches", function()
    assert.are.equal(0, User:destroy { where = { name = "zzz" } })
  end)
end)

describe("instance:destroy", function()
  local db, log, User
  before_each(function()
    db, log = H.open()
    User = db:define("User", { name = DataTypes.STRING })
    db:sync()
    User:bulkCreate { { name = "a" }, { name = "b" } }
    H.clear(log)
  end)
  after_each(function() db:close() end)

  it("deletes the instance's row by primary key", function()
    local u = User:findByPk(1)
    H.clear(log)
    u:destroy()
    assert.are.same({ 'DELETE FROM "Users" WHERE "id" = ?' }, log)
    assert.is_nil(User:findByPk(1))
    assert.are.equal(1, H.rows(db, "Users"))
  end)

  it("refuses an unsaved instance", function()
    local u = User:build { name = "x" }
    H.raises("AssocError", "primary key", u.destroy, u)
  end)
end)
