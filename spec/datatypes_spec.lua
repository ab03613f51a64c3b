local H = require "spec.helpers"
local assoc = H.assoc
local DataTypes = assoc.DataTypes

describe("DataTypes", function()
  local db, T
  before_each(function()
    db = assoc.open(":memory:")
    T = db:define("Thing", {
      s = DataTypes.STRING, s10 = DataTypes.STRING(10), txt = DataTypes.TEXT,
      i = DataTypes.INTEGER, big = DataTypes.BIGINT, f = DataTypes.FLOAT,
      d = DataTypes.DOUBLE, dec = DataTypes.DECIMAL, b = DataTypes.BOOLEAN,
      dt = DataTypes.DATE, day = DataTypes.DATEONLY, j = DataTypes.JSON,
      blob = DataTypes.BLOB, u = DataTypes.UUID,
    })
    db:sync()
  end)
  after_each(function() db:close() end)

  -- Creates a Thing with values and reads it back from the database.
  local function roundtrip(values)
    local t = T:create(values)
    return T:findByPk(t.id)
  end

  it("names each type by its key", function()
    for _, key in ipairs { "STRING", "TEXT", "INTEGER", "BIGINT", "FLOAT", "DOUBLE", "DECIMAL",
                           "BOOLEAN", "DATE", "DATEONLY", "JSON", "BLOB", "UUID" } do
      assert.are.equal(key, DataTypes[key].key)
      assert.are.equal(key, tostring(DataTypes[key]))
    end
  end)

  it("makes STRING(n) a STRING with a length", function()
    local s = DataTypes.STRING(100)
    assert.are.equal("STRING", s.key)
    assert.are.equal(100, s.length)
    assert.are.equal("STRING(100)", tostring(s))
  end)

  it("declares STRING(n) as VARCHAR(n)", function()
    for _, c in ipairs(db:query('PRAGMA table_info("Things")')) do
      if c.name == "s10" then assert.are.equal("VARCHAR(10)", c.type) end
    end
  end)

  it("refuses a STRING length that is not a positive integer", function()
    H.raises("AssocError", "length", DataTypes.STRING, 0)
    H.raises("AssocError", "length", DataTypes.STRING, "10")
  end)

  it("stores and reads back STRING and TEXT", function()
    local t = roundtrip { s = "héllo", txt = ("x"):rep(1000) }
    assert.are.equal("héllo", t.s)
    assert.are.equal(("x"):rep(1000), t.txt)
  end)

  it("stores and reads back INTEGER and BIGINT as Lua integers", function()
    local t = roundtrip { i = 42, big = 9007199254740993 }
    assert.are.equal(42, t.i)
    assert.are.equal("integer", math.type(t.i))
    assert.are.equal(9007199254740993, t.big)
  end)

  it("accepts an integral float or an integer string for INTEGER", function()
    local t = roundtrip { i = 7.0, big = "12" }
    assert.are.equal(7, t.i)
    assert.are.equal(12, t.big)
  end)

  it("stores and reads back FLOAT and DOUBLE", function()
    local t = roundtrip { f = 1.5, d = 0.1 }
    assert.are.equal(1.5, t.f)
    assert.are.equal(0.1, t.d)
  end)

  it("reads DECIMAL back as a string and compares it numerically", function()
    -- NUMERIC affinity: "12.50" is stored as the number 12.5, so comparisons and
    -- ordering are numeric (as text, "9" > "10"); it reads back as a string.
    local t = roundtrip { dec = "12.50" }
    assert.are.equal("string", type(t.dec))
    assert.are.equal(12.5, tonumber(t.dec))
    roundtrip { dec = "9" }
    local big = T:findAll{ where = { dec = { [assoc.Op.gt] = 10 } } }
    assert.are.equal(1, #big)
    assert.are.equal(12.5, tonumber(big[1].dec))
  end)

  it("reads text that is not JSON from a JSON column back as the text", function()
    -- Written by something else than assoc: the value is passed through as it is.
    local t = roundtrip { dec = "1" }
    db:query('UPDATE "Things" SET "j" = ? WHERE "id" = ?', { "{not json", t.id })
    assert.are.equal("{not json", T:findByPk(t.id).j)
    db:query('UPDATE "Things" SET "j" = ? WHERE "id" = ?', { '{"ok": [1, 2]} ', t.id })
    assert.are.same({ ok = { 1, 2 } }, T:findByPk(t.id).j)
  end)

  it("reads BOOLEAN back as Lua booleans", function()
    local t = roundtrip { b = true }
    assert.is_true(t.b)
    t = roundtrip { b = false }
    assert.is_false(t.b)
    assert.are.equal(0, db:query('SELECT b FROM "Things" WHERE id = ?', { t.id })[1].b)
  end)

  it("stores DATE as ISO-8601 text and converts seconds since the epoch", function()
    local t = roundtrip { dt = "2024-02-29T12:00:00.000Z" }
    assert.are.equal("2024-02-29T12:00:00.000Z", t.dt)
    t = roundtrip { dt = 0 }
    assert.truthy(t.dt:match("^1970%-01%-01T00:00:00"))
  end)

  it("stores DATEONLY as YYYY-MM-DD", function()
    assert.are.equal("2024-02-29", roundtrip { day = "2024-02-29" }.day)
  end)

  it("stores a JSON table and reads back a table", function()
    local t = roundtrip { j = { name = "x", list = { 1, 2, 3 }, nested = { ok = true } } }
    assert.are.same({ name = "x", list = { 1, 2, 3 }, nested = { ok = true } }, t.j)
  end)

  it("stores BLOB bytes unchanged", function()
    local bytes = "\0\1\2\255abc\0"
    assert.are.equal(bytes, roundtrip { blob = bytes }.blob)
  end)

  it("generates a v4 UUID for defaultValue = UUIDV4", function()
    local Tok = db:define("Token", { id = { type = DataTypes.UUID, primaryKey = true,
      defaultValue = DataTypes.UUIDV4 } })
    db:sync()
    local a, b = Tok:create {}, Tok:create {}
    assert.truthy(a.id:match("^%x+%-%x+%-4%x+%-[89ab]%x+%-%x+$"))
    assert.are_not.equal(a.id, b.id)
    assert.are.equal(a.id, Tok:findByPk(a.id).id)
  end)

  it("fills DATE with the current time for defaultValue = NOW", function()
    local E = db:define("Event", { at = { type = DataTypes.DATE, defaultValue = DataTypes.NOW } })
    db:sync()
    local e = E:create {}
    assert.truthy(e.at:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d"))
  end)

  it("reads NULL back as nil", function()
    local t = roundtrip {}
    assert.is_nil(t.s)
    assert.is_nil(t.j)
    assert.is_nil(t.b)
  end)

  it("refuses a value of the wrong type for the column, naming Model.attribute", function()
    H.raises("ValidationError", "Thing.i", T.create, T, { i = "many" })
    H.raises("ValidationError", "Thing.b", T.create, T, { b = 1 })
    H.raises("ValidationError", "Thing.day", T.create, T, { day = "yesterday" })
    H.raises("ValidationError", "Thing.blob", T.create, T, { blob = 5 })
    assert.are.equal(0, T:count())
  end)

  it("refuses NaN and infinity for numbers", function()
    H.raises("ValidationError", "Thing.f", T.create, T, { f = 0 / 0 })
    H.raises("ValidationError", "Thing.i", T.create, T, { i = math.huge })
    assert.are.equal(0, T:count())
  end)
end)
