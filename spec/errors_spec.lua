local H = require "spec.helpers"
local assoc = H.assoc
local core = require "assoc.core"
local DataTypes = assoc.DataTypes
local errors = assoc.errors

describe("assoc.errors", function()
  it("has a class per error name", function()
    for _, name in ipairs { "AssocError", "ValidationError", "UniqueConstraintError",
                            "DatabaseError", "ForeignKeyConstraintError", "AssociationError",
                            "ConnectionError", "EmptyResultError" } do
      assert.are.equal(name, errors[name].name)
    end
  end)

  it("builds error objects with the binding's metatable", function()
    local err = errors.ValidationError("bad", { errors = {} })
    assert.are.equal(core.error_mt, getmetatable(err))
    assert.are.equal("ValidationError", err.name)
    assert.are.equal("bad", err.message)
    assert.are.same({}, err.errors)
    assert.are.equal("ValidationError: bad", tostring(err))
    assert.are.equal("bad", errors.DatabaseError.new("bad").message)
  end)
end)

describe("assoc.is_error", function()
  it("is true for the class and its parents", function()
    local err = errors.UniqueConstraintError("dup")
    assert.is_true(assoc.is_error(err))
    assert.is_true(assoc.is_error(err, "UniqueConstraintError"))
    assert.is_true(assoc.is_error(err, "ValidationError"))
    assert.is_true(assoc.is_error(err, errors.ValidationError))
    assert.is_true(assoc.is_error(err, "AssocError"))
    assert.is_false(assoc.is_error(err, "DatabaseError"))
  end)

  it("makes ForeignKeyConstraintError a DatabaseError", function()
    local err = errors.ForeignKeyConstraintError("fk")
    assert.is_true(assoc.is_error(err, "DatabaseError"))
    assert.is_false(assoc.is_error(err, "ValidationError"))
  end)

  it("makes every error an AssocError", function()
    for _, name in ipairs { "ValidationError", "DatabaseError", "AssociationError",
                            "ConnectionError", "EmptyResultError" } do
      assert.is_true(assoc.is_error(errors[name]("x"), "AssocError"))
    end
  end)

  it("is false for strings, plain tables and nil", function()
    assert.is_false(assoc.is_error("ValidationError: x"))
    assert.is_false(assoc.is_error({ name = "ValidationError", message = "x" }))
    assert.is_false(assoc.is_error(nil, "AssocError"))
  end)

  it("refuses an unknown class name", function()
    H.raises("AssocError", "NoSuchError", assoc.is_error, errors.AssocError("x"), "NoSuchError")
  end)
end)

describe("errors raised by the engine", function()
  local db, User
  before_each(function()
    db = assoc.open(":memory:")
    User = H.user_model(db)
    db:sync()
  end)
  after_each(function() db:close() end)

  it("share one metatable between the binding and the Lua face", function()
    local from_c = H.catch(db.query, db, "SELEC")
    local from_lua = H.catch(User.findAll, User, 5)
    assert.are.equal(getmetatable(from_c), getmetatable(from_lua))
    assert.are.equal(core.error_mt, getmetatable(from_lua))
  end)

  it("raise UniqueConstraintError with the field and value", function()
    User:create { name = "a", email = "a@x.org" }
    local err = H.raises("UniqueConstraintError", nil, User.create, User,
      { name = "b", email = "a@x.org" })
    assert.is_true(assoc.is_error(err, "ValidationError"))
    assert.are.equal("email", err.errors[1].path)
    assert.are.equal("email must be unique", err.errors[1].message)
    assert.are.same({ "email" }, err.fields)
  end)

  it("raise ForeignKeyConstraintError for a dangling reference", function()
    db:query("CREATE TABLE parents (id INTEGER PRIMARY KEY)")
    db:query("CREATE TABLE kids (id INTEGER PRIMARY KEY, pid INTEGER REFERENCES parents(id))")
    local err = H.raises("ForeignKeyConstraintError", nil, db.query, db,
      "INSERT INTO kids (pid) VALUES (?)", { 99 })
    assert.is_true(assoc.is_error(err, "DatabaseError"))
    assert.are.equal(0, db:query("SELECT count(*) AS n FROM kids")[1].n)
  end)

  it("raise DatabaseError carrying the SQL", function()
    local err = H.raises("DatabaseError", "nosuch", db.query, db, "SELECT * FROM nosuch")
    assert.are.equal("SELECT * FROM nosuch", err.sql)
  end)

  it("raise ValidationError for a NOT NULL column left empty", function()
    local err = H.raises("ValidationError", "User.name cannot be null", User.create, User, {})
    assert.are.equal("name", err.errors[1].path)
  end)

  it("raise ConnectionError after close", function()
    db:close()
    H.raises("ConnectionError", "database is closed", User.count, User)
  end)

  it("raise EmptyResultError when reloading a deleted row", function()
    local u = User:create { name = "a" }
    User:destroy { where = {} }
    H.raises("EmptyResultError", "User", u.reload, u)
  end)

  it("print as 'Name: message'", function()
    local err = H.catch(User.findAll, User, { wher = {} })
    assert.are.equal("AssocError: " .. err.message, tostring(err))
  end)
end)
