local H = require "spec.helpers"
local assoc = H.assoc
local DataTypes = assoc.DataTypes

describe("validation", function()
  local db
  before_each(function() db = assoc.open(":memory:") end)
  after_each(function() db:close() end)

  -- Defines M with one attribute `v` carrying the given validate table, syncs, returns M.
  local function model(validate, type_, extra)
    local spec = { type = type_ or DataTypes.STRING, validate = validate }
    for k, x in pairs(extra or {}) do spec[k] = x end
    local M = db:define("M", { v = spec })
    db:sync()
    return M
  end

  local function fails(M, value, key)
    local err = H.raises("ValidationError", nil, M.create, M, { v = value })
    assert.are.equal("v", err.errors[1].path)
    if key then assert.are.equal(key, err.errors[1].validatorKey) end
    assert.are.equal(0, M:count())
    return err
  end

  it("refuses NULL for allowNull = false with 'Model.attr cannot be null'", function()
    local M = model(nil, nil, { allowNull = false })
    local err = fails(M, nil, "is_null")
    assert.are.equal("M.v cannot be null", err.errors[1].message)
  end)

  it("does not require a value for the autoincrement id", function()
    local M = model(nil, nil, { allowNull = false })
    assert.are.equal(1, M:create { v = "x" }.id)
  end)

  it("skips validators for a NULL value of a nullable attribute", function()
    local M = model { len = { 5, 10 } }
    assert.is_nil(M:create {}.v)
  end)

  it("checks notEmpty", function()
    local M = model { notEmpty = true }
    fails(M, "", "notEmpty")
    fails(M, "   ", "notEmpty")
    assert.are.equal("x", M:create { v = "x" }.v)
  end)

  it("checks len = { min, max }", function()
    local M = model { len = { 2, 4 } }
    local err = fails(M, "a", "len")
    assert.are.equal("Validation len on v failed", err.errors[1].message)
    fails(M, "abcde", "len")
    assert.are.equal("abcd", M:create { v = "abcd" }.v)
  end)

  it("counts characters, not bytes, for len", function()
    local M = model { len = { 1, 3 } }
    assert.are.equal("été", M:create { v = "été" }.v)
  end)

  it("checks min and max on numbers", function()
    local M = model({ min = 1, max = 10 }, DataTypes.INTEGER)
    fails(M, 0, "min")
    fails(M, 11, "max")
    assert.are.equal(10, M:create { v = 10 }.v)
  end)

  it("checks isEmail", function()
    local M = model { isEmail = true }
    fails(M, "not-an-email", "isEmail")
    fails(M, "a@b", "isEmail")
    assert.are.equal("ann@example.org", M:create { v = "ann@example.org" }.v)
  end)

  it("checks isIn in Sequelize's nested form and as a plain list", function()
    local M = model { isIn = { { "red", "green" } } }
    fails(M, "blue", "isIn")
    assert.are.equal("red", M:create { v = "red" }.v)
    db:close()
    db = assoc.open(":memory:")
    M = model { isIn = { "red", "green" } }
    fails(M, "blue", "isIn")
    assert.are.equal("green", M:create { v = "green" }.v)
  end)

  it("checks is with a Lua pattern", function()
    local M = model { is = "^%u%l+$" }
    fails(M, "ann", "is")
    assert.are.equal("Ann", M:create { v = "Ann" }.v)
  end)

  it("checks isInt, isFloat and isUUID", function()
    local M = model { isInt = true }
    fails(M, "1.5", "isInt")
    assert.are.equal("12", M:create { v = "12" }.v)
    local F = db:define("F", { v = { type = DataTypes.STRING, validate = { isFloat = true } },
      u = { type = DataTypes.STRING, validate = { isUUID = 4 } } })
    db:sync()
    H.raises("ValidationError", "isFloat", F.create, F, { v = "abc" })
    H.raises("ValidationError", "isUUID", F.create, F, { u = "1234" })
    assert.are.equal("2.5", F:create { v = "2.5", u = "123e4567-e89b-42d3-a456-426614174000" }.v)
  end)

  it("uses the message raised by a custom validator", function()
    local M = model({ isEven = function(value)
      if value % 2 ~= 0 then error("must be even") end
    end }, DataTypes.INTEGER)
    local err = fails(M, 3, "isEven")
    assert.are.equal("must be even", err.errors[1].message)
    assert.are.equal(4, M:create { v = 4 }.v)
  end)

  it("gives custom validators the instance as second argument", function()
    local seen
    local M = model { check = function(_, inst) seen = inst end }
    local m = M:create { v = "x" }
    assert.are.equal(m, seen)
  end)

  it("uses msg when a validator is given as { args =, msg = }", function()
    local M = model { len = { args = { 3, 5 }, msg = "3 to 5 letters" } }
    local err = fails(M, "ab", "len")
    assert.are.equal("3 to 5 letters", err.errors[1].message)
  end)

  it("lists every failure of every attribute in one error", function()
    local U = db:define("U", {
      name = { type = DataTypes.STRING, allowNull = false },
      email = { type = DataTypes.STRING, validate = { isEmail = true, len = { 10, 50 } } },
      age = { type = DataTypes.INTEGER },
    })
    db:sync()
    local err = H.raises("ValidationError", nil, U.create, U, { email = "bad", age = "x" })
    local paths = {}
    for i, e in ipairs(err.errors) do paths[i] = e.path .. ":" .. e.validatorKey end
    table.sort(paths)
    assert.are.same({ "age:type", "email:isEmail", "email:len", "name:is_null" }, paths)
    assert.truthy(err.message:find("^Validation error: "))
    assert.truthy(err.message:find("U.name cannot be null", 1, true))
    assert.truthy(err.message:find("U.age must be an integer", 1, true))
  end)

  it("reports the failing value", function()
    local M = model { len = { 3, 5 } }
    local err = fails(M, "ab")
    assert.are.equal("ab", err.errors[1].value)
  end)

  it("runs model-level validators on the whole instance", function()
    local P = db:define("P", { lat = DataTypes.FLOAT, lng = DataTypes.FLOAT }, {
      validate = { bothOrNone = function(p)
        if (p.lat == nil) ~= (p.lng == nil) then error("give both coordinates or none") end
      end },
    })
    db:sync()
    local err = H.raises("ValidationError", "give both coordinates or none", P.create, P,
      { lat = 1.5 })
    assert.are.equal("bothOrNone", err.errors[1].path)
    assert.are.equal(1, P:create { lat = 1, lng = 2 }.id)
  end)

  it("validates only the changed fields when saving a loaded instance", function()
    local U = db:define("U", { a = { type = DataTypes.STRING, validate = { len = { 3, 9 } } },
      b = DataTypes.STRING }, { tableName = "items" })
    db:sync()
    db:query('INSERT INTO "items" (a, b, createdAt, updatedAt) VALUES (?, ?, ?, ?)',
      { "x", "y", "t", "t" })
    local u = U:findByPk(1)
    u.b = "changed"
    assert.has_no.errors(function() u:save() end)
    u.a = "no"
    H.raises("ValidationError", "len", u.save, u)
  end)

  it("can be skipped with validate = false", function()
    local M = model { len = { 3, 5 } }
    assert.are.equal("ab", M:create({ v = "ab" }, { validate = false }).v)
  end)

  it("is available as instance:validate()", function()
    local M = model { len = { 3, 5 } }
    local m = M:build { v = "ab" }
    H.raises("ValidationError", "len", m.validate, m)
    m.v = "abc"
    assert.are.equal(m, m:validate())
  end)

  it("runs before any statement is issued", function()
    local logged = {}
    db:close()
    db = assoc.open { logging = function(sql) logged[#logged + 1] = sql end }
    local M = model { len = { 3, 5 } }
    logged = {}
    pcall(M.create, M, { v = "ab" })
    assert.are.same({}, logged)
  end)

  it("refuses a validator with a bad argument at define", function()
    H.raises("AssocError", { "M.v", "len" }, db.define, db, "M",
      { v = { type = DataTypes.STRING, validate = { len = "short" } } })
    H.raises("AssocError", { "M.v", "min" }, db.define, db, "M",
      { v = { type = DataTypes.INTEGER, validate = { min = "1" } } })
  end)
end)
