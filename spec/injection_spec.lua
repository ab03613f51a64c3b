-- Injection regressions: each class of Sequelize's security advisories rebuilt in our API
-- (see the reliability notes, "Security for ORMs").  Every case is either refused with an
-- error object that names the problem, or runs with the hostile text bound as a plain value.
-- In both cases the logging callback shows that no value text reached any SQL statement, and
-- the database is intact (same tables, same rows).
local H = require "spec.helpers"
local assoc = H.assoc
local DataTypes = assoc.DataTypes
local Op = assoc.Op

-- Hostile texts; each carries a marker that must never appear in logged SQL.
local MARK = "Zq9"
local HOSTILE = {
  "x" .. MARK .. "'; DROP TABLE Users; --",
  "x" .. MARK .. "\" OR \"1\"=\"1",
  "x" .. MARK .. "' OR '1'='1",
  "x" .. MARK .. "\0'; DELETE FROM Users; --",
  "x" .. MARK .. " -- comment",
  "x" .. MARK .. " /* open comment",
  "x" .. MARK .. "; ATTACH DATABASE 'evil.db' AS e; --",
  "x" .. MARK .. "%_\\",
}

describe("injection", function()
  local db, log, User

  before_each(function()
    db, log = H.open()
    User = db:define("User", {
      name = { type = DataTypes.STRING, allowNull = false },
      age = DataTypes.INTEGER,
      prefs = DataTypes.JSON,
    }, { paranoid = true })
    db:sync()
    User:bulkCreate { { name = "ann", age = 30, prefs = { theme = "dark" } },
      { name = "bob", age = 40 } }
    H.clear(log)
  end)
  after_each(function() db:close() end)

  local function tables()
    local out = {}
    for _, r in ipairs(db:query("SELECT name FROM sqlite_master ORDER BY name")) do
      out[#out + 1] = r.name
    end
    return out
  end

  local function snapshot()
    return { tables = tables(), rows = db:query('SELECT * FROM "Users" ORDER BY id') }
  end

  -- No logged statement contains the marker (or any other `needle`).
  local function no_value_in_sql(needle)
    for _, sql in ipairs(log) do
      assert.is_nil(sql:find(needle or MARK, 1, true), "value text in SQL: " .. sql)
    end
  end

  -- fn(...) must raise an error object named `name` (AssocError by default) and leave the
  -- database as it was; returns the error.
  local function refused(name, fn, ...)
    local before = snapshot()
    local err = H.catch(fn, ...)
    assert.is_true(assoc.is_error(err), "not an error object: " .. tostring(err))
    assert.are.equal(name or "AssocError", err.name, tostring(err))
    assert.is_string(err.message)
    assert.are.same(before, snapshot())
    no_value_in_sql()
    return err
  end

  -- fn(...) runs; the database keeps its tables; no value text is in any SQL.
  local function bound(fn, ...)
    local before = tables()
    local res = table.pack(fn(...))
    assert.are.same(before, tables())
    no_value_in_sql()
    assert.is_true(#log > 0, "no statement was logged")
    return table.unpack(res, 1, res.n)
  end

  describe("operator-like string keys (GHSA-wfp9-vr4j-f49j)", function()
    it("refuses $gt, $or and friends as keys of an attribute's operand table", function()
      for _, k in ipairs { "$gt", "$ne", "$or", "$in", "$like", "gt", "Op.gt", "or" } do
        refused(nil, User.findAll, User, { where = { age = { [k] = 5 } } })
      end
    end)

    it("refuses them as top-level where keys (never taken for operators)", function()
      for _, k in ipairs { "$or", "$and", "$not", "or", "[Op.or]" } do
        local err = refused(nil, User.findAll, User, { where = { [k] = { { name = "ann" } } } })
        assert.truthy(err.message:find("unknown attribute", 1, true), err.message)
      end
    end)

    it("refuses unknown operator names on assoc.Op", function()
      refused(nil, function() return Op["$gt"] end)
      refused(nil, function() return Op.raw end)
    end)

    it("refuses an operator used as a value", function()
      refused(nil, User.findAll, User, { where = { name = Op.gt } })
    end)

    it("refuses them in update and destroy, which then change nothing", function()
      refused(nil, User.update, User, { name = "z" }, { where = { ["$or"] = { { id = 1 } } } })
      refused(nil, User.destroy, User, { where = { name = { ["$ne"] = "nobody" } } })
      refused(nil, User.count, User, { where = { ["$or"] = {} } })
    end)
  end)

  describe("JSON-path-ish keys (CVE-2019-10748, CVE-2019-10752, CVE-2026-30951)", function()
    it("refuses dotted, arrowed and cast keys as unknown attributes", function()
      for _, k in ipairs { "prefs.theme", "prefs->theme", "prefs->>'theme'", "name::text",
        "prefs.theme')) OR 1=1 --", "prefs.$.theme" } do
        local err = refused(nil, User.findAll, User, { where = { [k] = "dark" } })
        assert.truthy(err.message:find(k, 1, true), err.message)
      end
    end)

    it("refuses a nested object as a JSON query instead of building a path", function()
      refused(nil, User.findAll, User, { where = { prefs = { theme = "dark" } } })
      refused(nil, User.findAll, User, { where = { prefs = { ["theme') OR 1=1 --"] = "x" } } })
    end)

    it("binds a JSON value with hostile keys and values, and reads it back", function()
      local v = { [HOSTILE[1]] = HOSTILE[2], nested = { HOSTILE[3] } }
      local u = bound(User.create, User, { name = "json", prefs = v })
      assert.are.same(v, User:findByPk(u.id).prefs)
    end)
  end)

  describe("order, group and attributes strings (GHSA-98pq-pmw9-4gpm, CVE-2023-22578)", function()
    it("refuses SQL in order names and directions", function()
      refused(nil, User.findAll, User, { order = { "name; DROP TABLE Users" } })
      refused(nil, User.findAll, User, { order = { { "name", "DESC; DROP TABLE Users" } } })
      refused(nil, User.findAll, User, { order = { { "name", "ASC NULLS FIRST" } } })
      refused(nil, User.findAll, User, { order = { "random()" } })
      refused(nil, User.findAll, User, { order = "name DESC" })
      refused(nil, User.findAll, User, { order = { { "name", "ASC", "extra" } } })
    end)

    it("refuses functions and expressions in attributes", function()
      for _, a in ipairs { "count(*)", "name, (SELECT 1)", "*", "name AS n", "1", "\"name\"" } do
        refused(nil, User.findAll, User, { attributes = { a } })
      end
      refused(nil, User.findAll, User, { attributes = { { "name", "n" } } })
      refused(nil, User.findAll, User, { attributes = { exclude = { "name; DROP TABLE Users" } } })
      refused(nil, User.findAll, User, { attributes = "name" })
    end)

    it("refuses group/having options that do not exist", function()
      refused(nil, User.findAll, User, { group = { "name" } })
      refused(nil, User.findAll, User, { having = "1=1" })
    end)
  end)

  describe("limit and offset of the wrong type (GHSA-98pq-pmw9-4gpm)", function()
    it("refuses strings, fractions, negatives and non-finite numbers", function()
      for _, v in ipairs { "1; DROP TABLE Users", "1", "10 OFFSET 0", 1.5, -1, 0 / 0, 1 / 0,
        2 ^ 63, true, {} } do
        refused(nil, User.findAll, User, { limit = v })
        refused(nil, User.findAll, User, { limit = 1, offset = v })
      end
    end)

    it("binds a good limit and offset", function()
      local rows = bound(User.findAll, User, { order = { "id" }, limit = 1, offset = 1 })
      assert.are.equal(1, #rows)
      assert.are.equal("bob", rows[1].name)
    end)
  end)

  describe("raw fragments (sequelize.literal/fn/col, CVE-2023-22579)", function()
    it("has no raw-SQL helper to misuse", function()
      for _, k in ipairs { "literal", "fn", "col", "raw", "where", "cast" } do
        assert.is_nil(rawget(assoc, k), "assoc." .. k .. " exists")
      end
    end)

    it("refuses literal-like tables as values, order items and attributes", function()
      refused(nil, User.findAll, User, { where = { name = { val = "1=1" } } })
      refused(nil, User.findAll, User, { where = { name = { fn = "lower", args = { "x" } } } })
      refused(nil, User.findAll, User, { order = { { val = "random()" } } })
      refused(nil, User.findAll, User, { attributes = { { val = "1" } } })
    end)

    it("refuses a where that is not a table instead of ignoring it", function()
      refused(nil, User.findAll, User, { where = "1=1" })
      refused(nil, User.destroy, User, { where = "1=1" })
      refused(nil, User.update, User, { age = 1 }, { where = 5 })
      refused(nil, User.findAll, User, { where = { [Op["and"]] = "1=1" } })
      refused(nil, User.findAll, User, { where = { [1] = "name = 'ann'" } })
      refused(nil, User.update, User, { age = 1 }, {})
    end)

    it("refuses values of a wrong type instead of dropping the condition", function()
      refused("ValidationError", User.findAll, User, { where = { age = "1 OR 1=1" } })
      refused("ValidationError", User.findAll, User, { where = { name = function() end } })
      refused("ValidationError", User.findByPk, User, "1 OR 1=1")
    end)
  end)

  describe("double-quoted names and multi-statement SQL in db:query", function()
    it("raises on a double-quoted unknown name instead of reading it as a string", function()
      local err = refused("DatabaseError", db.query, db, 'SELECT "nosuchcol" AS v FROM "Users"')
      assert.truthy(err.message:find("no such column", 1, true), err.message)
      refused("DatabaseError", db.query, db, 'SELECT * FROM "Users" WHERE name = "ann"')
      refused("DatabaseError", db.query, db,
        'CREATE TABLE "q" ("a" TEXT CHECK ("a" <> "x"))')
    end)

    it("refuses a second statement after the first", function()
      for _, sql in ipairs { "SELECT 1; DROP TABLE Users", "SELECT 1;DROP TABLE Users;",
        "SELECT 1; -- x\nDELETE FROM Users", "SELECT 1; ATTACH DATABASE ':memory:' AS e" } do
        local err = refused(nil, db.query, db, sql)
        assert.truthy(err.message:find("one SQL statement", 1, true), err.message)
      end
    end)

    it("accepts a trailing semicolon or comment", function()
      assert.are.equal(1, #db:query("SELECT 1 AS v;"))
      assert.are.equal(1, #db:query("SELECT 1 AS v; -- done"))
    end)

    it("binds positional parameters and never substitutes names into the text", function()
      for _, v in ipairs(HOSTILE) do
        local rows = bound(db.query, db, "SELECT ? AS v", { v })
        assert.are.equal(v, rows[1].v)
      end
      refused(nil, db.query, db, "SELECT :name AS v", { name = HOSTILE[1] })
      refused(nil, db.query, db, "SELECT ? AS v", { HOSTILE[1], HOSTILE[2] })
    end)
  end)

  describe("values with quotes, NULs and comment markers", function()
    it("binds them in create, where, update and destroy, and reads them back exactly", function()
      for i, v in ipairs(HOSTILE) do
        local u = bound(User.create, User, { name = v, age = i })
        local got = bound(User.findAll, User, { where = { name = v } })
        assert.are.equal(1, #got)
        assert.are.equal(v, got[1].name)
        assert.are.equal(u.id, got[1].id)
        assert.are.equal(1, bound(User.update, User, { name = v .. "!" }, { where = { name = v } }))
        assert.are.equal(v .. "!", User:findByPk(u.id).name)
      end
      -- operators bind too, LIKE patterns included
      for _, op in ipairs { "ne", "gt", "like", "notLike", "iLike", "startsWith", "endsWith",
        "substring" } do
        bound(User.findAll, User, { where = { name = { [Op[op]] = HOSTILE[1] } } })
      end
      bound(User.findAll, User, { where = { name = { [Op["in"]] = HOSTILE } } })
      bound(User.findAll, User, { where = { name = { [Op.between] = { HOSTILE[1], HOSTILE[2] } } } })
      bound(User.count, User, { where = { [Op["or"]] = { { name = HOSTILE[3] }, { name = HOSTILE[4] } } } })
      assert.are.equal(#HOSTILE, bound(User.destroy, User, {
        where = { name = { [Op["in"]] = (function()
          local t = {}
          for i, v in ipairs(HOSTILE) do t[i] = v .. "!" end
          return t
        end)() } } }))
      assert.are.equal(2, User:count())
      assert.are.same({ "Users", "sqlite_sequence" }, tables())
    end)

    it("keeps LIKE patterns bound until count has run (startsWith/endsWith/substring)", function()
      -- The patterns of these operators are copies the SQL builder owns; count used to free
      -- them before stepping its statement (a use after free under check-asan/valgrind).
      User:bulkCreate { { name = "x" .. MARK .. "%_abc" }, { name = "abc%_" .. MARK .. "x" } }
      H.clear(log)
      local long = ("p"):rep(200)
      User:create { name = long .. MARK }
      for _ = 1, 3 do
        assert.are.equal(1, bound(User.count, User, { where = { name = { [Op.startsWith] = "x" .. MARK .. "%_" } } }))
        assert.are.equal(1, bound(User.count, User, { where = { name = { [Op.endsWith] = MARK .. "x" } } }))
        assert.are.equal(2, bound(User.count, User, { where = { name = { [Op.substring] = "%_" } } }))
        assert.are.equal(1, bound(User.count, User, { where = { name = { [Op.startsWith] = long } } }))
        -- a schema change makes SQLite re-prepare the cached statement with its bindings
        db:query(('CREATE TABLE IF NOT EXISTS "t%d" ("a" TEXT)'):format(_))
      end
    end)

    it("binds them in bulkCreate and in instance save", function()
      local list = {}
      for i, v in ipairs(HOSTILE) do
        -- JSON text cannot carry a NUL byte through cJSON: that one is refused (below)
        list[i] = { name = v, prefs = not v:find("\0", 1, true) and { v } or nil }
      end
      local made = bound(User.bulkCreate, User, list)
      local u = made[1]
      u.name = HOSTILE[2]
      bound(u.save, u)
      assert.are.equal(HOSTILE[2], User:findByPk(u.id).name)
      assert.are.same({ HOSTILE[3] }, User:findByPk(made[3].id).prefs)
      refused("ValidationError", User.create, User, { name = "nul", prefs = { HOSTILE[4] } })
    end)

    it("keeps values out of error messages and error SQL (CVE-2023-22580)", function()
      local Uniq = db:define("Uniq", { code = { type = DataTypes.STRING, unique = true } })
      db:sync()
      Uniq:create { code = HOSTILE[1] }
      H.clear(log)
      local err = H.catch(Uniq.create, Uniq, { code = HOSTILE[1] })
      assert.are.equal("UniqueConstraintError", err.name)
      assert.is_nil(err.message:find(MARK, 1, true), err.message)
      assert.is_nil(tostring(err.sql or ""):find(MARK, 1, true))
      no_value_in_sql()
      -- a failing statement's DatabaseError carries the statement with placeholders only
      err = H.catch(db.query, db, 'INSERT INTO "Uniq" ("id", "code") VALUES (?, ?)', { 1, HOSTILE[2] })
      assert.is_true(assoc.is_error(err), tostring(err))
      assert.is_nil(err.message:find(MARK, 1, true), err.message)
      assert.is_nil(tostring(err.sql or ""):find(MARK, 1, true))
    end)
  end)

  describe("hostile identifiers from model metadata", function()
    it("quotes model, table and attribute names, and leaves other tables alone", function()
      local evil = 'n" TEXT); DROP TABLE Users; --'
      local M = db:define('Evil"; DROP TABLE Users; --', { [evil] = DataTypes.STRING },
        { tableName = 'e"; DROP TABLE Users; --' })
      db:sync()
      local m = M:create { [evil] = HOSTILE[1] }
      assert.are.equal(HOSTILE[1], M:findByPk(m.id)[evil])
      assert.are.same({ "Users", 'e"; DROP TABLE Users; --', "sqlite_sequence" }, tables())
      assert.are.equal(2, User:count())
      local cols = {}
      for _, c in ipairs(db:query("SELECT name FROM pragma_table_info(?)", { M.tableName })) do
        cols[#cols + 1] = c.name
      end
      assert.are.same({ "id", evil, "createdAt", "updatedAt" }, cols)
    end)
  end)
end)
