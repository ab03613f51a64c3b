-- Specs of assoc.core, the C module under the Lua face (doc/core-module.md).
-- Every test opens a fresh :memory: db whose statements are recorded in `log`.
local core = require "assoc.core"
local Op, null = core.Op, core.null

local db, log

local function open()
  log = {}
  db = core.open(":memory:", { logging = function(sql) log[#log + 1] = sql end })
  return db
end

local function clear() for i = #log, 1, -1 do log[i] = nil end end

local CH = require "spec.core_helpers"
local raises, ids = CH.raises, CH.ids

-- A User model with one attribute of each kind used by most tests.
local function users()
  local U = db:define("User", {
    { name = "name", type = "STRING", allowNull = false, unique = true },
    { name = "age", type = "INTEGER" },
    { name = "score", type = "FLOAT" },
    { name = "active", type = "BOOLEAN" },
    { name = "meta", type = "JSON" },
  })
  db:sync()
  return U
end

local function seed(U)
  U:insert { name = "alice", age = 30, score = 1.5, active = true }
  U:insert { name = "bob", age = 25, score = 2.5, active = false }
  U:insert { name = "carol", age = 35, active = true }
  U:insert { name = "dave" }
  clear()
end

local function where_ids(U, where, order)
  return ids(U:find { where = where, order = order or { "id" } })
end

before_each(function() open() end)
after_each(function() db:close() end)

describe("module", function()
  it("exposes VERSION, null and error_mt", function()
    assert.are.equal("0.1.0", core.VERSION)
    assert.are.equal("userdata", type(null))
    assert.are.equal("assoc.null", tostring(null))
    assert.are.equal("table", type(core.error_mt))
  end)

  it("has one distinct userdata per operator, printed as Op.name", function()
    local names = { "eq", "ne", "gt", "gte", "lt", "lte", "in", "notIn", "like", "notLike",
      "iLike", "between", "notBetween", "is", "not", "startsWith", "endsWith", "substring",
      "and", "or" }
    local seen = {}
    for _, n in ipairs(names) do
      local op = Op[n]
      assert.are.equal("userdata", type(op))
      assert.are.equal("Op." .. n, tostring(op))
      assert.is_nil(seen[op])
      seen[op] = true
    end
    assert.are.equal(Op["and"], Op.and_)
    assert.are.equal(Op["in"], Op.in_)
  end)

  it("returns the same null and Op values when loaded twice", function()
    package.loaded["assoc.core"] = nil
    local again = require "assoc.core"
    package.loaded["assoc.core"] = core
    assert.are.equal(core.null, again.null)
    assert.are.equal(core.Op.gt, again.Op.gt)
    assert.are.equal(core.error_mt, again.error_mt)
  end)

  it("makes version 4 UUIDs", function()
    local a, b = core.uuid4(), core.uuid4()
    assert.truthy(a:match("^%x%x%x%x%x%x%x%x%-%x%x%x%x%-4%x%x%x%-[89ab]%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"))
    assert.are_not.equal(a, b)
  end)

  it("gives the time as ISO-8601 UTC with milliseconds", function()
    assert.truthy(core.now():match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$"))
  end)

  it("wraps the core's inflection and case conversion", function()
    assert.are.equal("People", core.pluralize("Person"))
    assert.are.equal("Categories", core.pluralize("Category"))
    assert.are.equal("Category", core.singularize("Categories"))
    assert.are.equal("UserId", core.camelize("user_id"))
    assert.are.equal("userId", core.camelize("user_id", true))
    assert.are.equal("user_id", core.underscore("userId"))
    raises("AssocError", "pluralize", core.pluralize, 42)
  end)

  it("raises error objects that print as Name: message", function()
    local err = raises("AssocError", "unknown option", core.open, ":memory:", { nope = 1 })
    assert.are.equal("AssocError: " .. err.message, tostring(err))
  end)
end)

describe("json", function()
  it("encodes sequences as arrays and other tables as objects with sorted keys", function()
    assert.are.equal("[1,2,3]", core.json_encode { 1, 2, 3 })
    assert.are.equal('{"a":1,"b":[true,false],"c":"x"}',
      core.json_encode { c = "x", b = { true, false }, a = 1 })
    assert.are.equal("{}", core.json_encode {})
    assert.are.equal('{"1":"a","3":"b"}', core.json_encode { [1] = "a", [3] = "b" })
    assert.are.equal("null", core.json_encode(null))
    assert.are.equal("1.5", core.json_encode(1.5))
    assert.are.equal("9007199254740993", core.json_encode(9007199254740993))
  end)

  it("refuses functions, userdata, cycles, deep nesting and non-finite numbers", function()
    raises("AssocError", "function", core.json_encode, { f = print })
    raises("AssocError", "userdata", core.json_encode, { io.stdout })
    local t = {}
    t.self = t
    raises("AssocError", "cycle", core.json_encode, t)
    local deep = {}
    local cur = deep
    for _ = 1, 150 do cur[1] = {}; cur = cur[1] end
    raises("AssocError", "100", core.json_encode, deep)
    raises("AssocError", "non-finite", core.json_encode, { 0 / 0 })
    raises("AssocError", "non-finite", core.json_encode, { math.huge })
  end)

  it("decodes into Lua values, JSON null as core.null", function()
    local v = core.json_decode('{"a":[1,2.5,"x",null],"b":{"c":true}}')
    assert.are.same({ 1, 2.5, "x", null }, v.a)
    assert.is_true(v.b.c)
    assert.are.equal(math.type(v.a[1]), "integer")
    raises("AssocError", "invalid JSON", core.json_decode, "{nope")
    raises("AssocError", "string", core.json_decode, 12)
  end)

  it("round-trips nested values", function()
    local v = { list = { 1, 2, { x = "y" } }, s = "q\"uote\n", n = -3, f = 0.1 }
    assert.are.same(v, core.json_decode(core.json_encode(v)))
  end)

  -- A conversion that fails part-way frees what it built there and then: the finalizer of
  -- its holder may never run (a collection step at the C-stack limit cannot enter it).
  -- Here that finalizer is taken away, so that check-asan and check-valgrind report
  -- whatever would be left to it.
  it("frees what a failed conversion built without waiting for a finalizer", function()
    local mt = debug.getregistry()["assoc.cjson"]
    local gc = mt.__gc
    mt.__gc = nil
    local ok, err = pcall(function()
      raises("AssocError", "function", core.json_encode,
        { a = { 1, 2, { 3 } }, b = { c = "d" }, z = print })
      local U = users()
      local text = string.rep("[", 30) .. '{"k":"v"}' .. string.rep("]", 30)
      U:insert { name = "deep", meta = core.json_decode(text) }
      local raised, returned = CH.near_stack_limit(function()
        assert.are.equal("table", type(core.json_decode(text)))
        assert.are.equal("table", type(U:find { where = { name = "deep" } }[1].meta))
      end, 160)
      assert(raised > 0 and returned > 0, ("raised %d, returned %d"):format(raised, returned))
      -- and nothing is left in a state that breaks the next conversion
      assert.are.equal("v", core.json_decode('[{"k":"v"}]')[1].k)
      assert.are.equal('{"a":[1]}', core.json_encode { a = { 1 } })
    end)
    mt.__gc = gc
    assert(ok, err)
    collectgarbage()
    collectgarbage()
  end)
end)

describe("open and close", function()
  it("opens an in-memory database and prints it", function()
    assert.truthy(tostring(db):match("^assoc%.Db %(0x%x+%)$") or tostring(db):match("^assoc%.Db %(.+%)$"))
    assert.is_false(db:isclosed())
  end)

  it("closes idempotently", function()
    db:close()
    db:close()
    assert.is_true(db:isclosed())
    assert.are.equal("assoc.Db (closed)", tostring(db))
  end)

  it("raises ConnectionError on every db method after close", function()
    db:close()
    for _, m in ipairs { "query", "exec", "begin", "commit", "rollback", "depth", "define",
      "model", "sync", "drop", "changes", "lastrowid", "cachestats", "setlogger" } do
      local err = raises("ConnectionError", "database is closed", db[m], db, "x")
      assert.are.equal(core.error_mt, getmetatable(err))
    end
  end)

  it("raises ConnectionError on model methods after close", function()
    local U = users()
    db:close()
    for _, m in ipairs { "name", "tableName", "attributes", "pk", "special", "find", "count",
      "insert", "insertMany", "update", "delete" } do
      raises("ConnectionError", "database is closed", U[m], U, {})
    end
    assert.are.equal("assoc.Model (closed)", tostring(U))
  end)

  it("closes through a to-be-closed variable", function()
    local d
    do
      local x <close> = core.open(":memory:")
      d = x
      assert.is_false(d:isclosed())
    end
    assert.is_true(d:isclosed())
  end)

  it("is collected without being closed", function()
    do
      local d = core.open(":memory:")
      d:define("T", { { name = "a", type = "TEXT" } })
      d:sync()
    end
    collectgarbage()
    collectgarbage()
  end)

  -- A Db's finalizer may never run: a collection step with the C stack nearly full cannot
  -- enter it ("C stack overflow", and Lua does not try again), nor can one when the
  -- metatable is gone.  The connection must not be lost with the Db: the state closes it
  -- at the latest (check-asan and check-valgrind report a leak otherwise).
  it("is closed with the state when its finalizer does not run", function()
    do
      local d = core.open(":memory:")
      d:define("T", { { name = "a", type = "TEXT" } })
      d:sync()
      d:query("SELECT 1")
      pcall(d.query, d, "SELECT nosuch")   -- an error snapshot in C memory too
      debug.setmetatable(d, nil)
    end
    collectgarbage()
    collectgarbage()
  end)

  it("rejects bad arguments and options", function()
    raises("AssocError", "path", core.open, 42)
    raises("AssocError", "unknown option 'nope'", core.open, ":memory:", { nope = true })
    raises("AssocError", "busyTimeout", core.open, ":memory:", { busyTimeout = -1 })
    raises("AssocError", "logging", core.open, ":memory:", { logging = 1 })
    raises("AssocError", "expected a Db", db.query, {}, "SELECT 1")
    raises("AssocError", { "db:close: expected a Db", "call it as db:close" }, db.close, 42)
    raises("AssocError", { "db:isclosed: expected a Db", "call it as db:isclosed" },
      db.isclosed, {})
  end)

  it("raises ConnectionError when the file cannot be opened", function()
    raises("ConnectionError", nil, core.open, "/nonexistent-dir-for-assoc/x/y.db")
  end)
end)

describe("define", function()
  it("adds an id primary key and keeps column order", function()
    local U = users()
    local attrs = U:attributes()
    local names = ids(attrs, "name")
    assert.are.same({ "id", "name", "age", "score", "active", "meta" }, names)
    assert.is_true(attrs[1].primaryKey)
    assert.is_true(attrs[1].autoIncrement)
    assert.is_true(attrs[1].auto)
    assert.are.equal("INTEGER", attrs[1].type)
    assert.is_false(attrs[2].allowNull)
    assert.is_true(attrs[2].unique)
    assert.are.equal(255, attrs[2].length)
    assert.are.equal("id", U:pk())
    assert.are.equal("User", U:name())
  end)

  it("defaults the table name to the plural of the model name", function()
    assert.are.equal("Users", users():tableName())
    assert.are.equal("People", db:define("Person", { { name = "a", type = "TEXT" } }):tableName())
    assert.are.equal("cats", db:define("Cat", { { name = "a", type = "TEXT" } },
      { tableName = "cats" }):tableName())
  end)

  it("adds timestamps and deletedAt, reported by special()", function()
    local P = db:define("Post", { { name = "title", type = "STRING" } },
      { timestamps = true, paranoid = true })
    local names = ids(P:attributes(), "name")
    assert.are.same({ "id", "title", "createdAt", "updatedAt", "deletedAt" }, names)
    assert.are.same({ createdAt = "createdAt", updatedAt = "updatedAt", deletedAt = "deletedAt" },
      P:special())
    local a = P:attributes()
    assert.are.equal("DATE", a[3].type)
    assert.is_false(a[3].allowNull)
    assert.is_true(a[5].allowNull)
    assert.are.same({}, db:define("Plain", { { name = "x", type = "TEXT" } }):special())
  end)

  it("snake_cases columns and the table name when underscored", function()
    local M = db:define("UserProfile", { { name = "firstName", type = "STRING" } },
      { underscored = true, timestamps = true })
    assert.are.equal("user_profiles", M:tableName())
    local a = M:attributes()
    assert.are.equal("firstName", a[2].name)
    assert.are.equal("first_name", a[2].column)
    assert.are.equal("created_at", a[3].column)
    db:sync()
    local id = M:insert { firstName = "Ann", createdAt = "2024-01-01", updatedAt = "2024-01-01" }
    assert.are.equal("Ann", db:query('SELECT first_name FROM user_profiles WHERE id = ?', { id })[1].first_name)
    assert.are.equal("Ann", M:find()[1].firstName)
  end)

  it("returns the same Model from db:model and nil for unknown names", function()
    local U = users()
    assert.are.equal(U, db:model("User"))
    assert.is_nil(db:model("Nope"))
    assert.are.equal("assoc.Model User", tostring(U))
  end)

  it("refuses duplicate models, unknown types and unknown options", function()
    users()
    raises("AssocError", "User", db.define, db, "User", { { name = "x", type = "TEXT" } })
    raises("AssocError", "unknown type 'TXT'", db.define, db, "A", { { name = "x", type = "TXT" } })
    raises("AssocError", "unknown attribute option 'validate'", db.define, db, "B",
      { { name = "x", type = "TEXT", validate = {} } })
    raises("AssocError", "unknown model option 'hooks'", db.define, db, "C",
      { { name = "x", type = "TEXT" } }, { hooks = {} })
    raises("AssocError", "allowNull", db.define, db, "D",
      { { name = "x", type = "TEXT", allowNull = "no" } })
    raises("AssocError", nil, db.define, db, "E",
      { { name = "x", type = "TEXT" }, { name = "x", type = "TEXT" } })
    assert.is_nil(db:model("E"))
  end)

  it("writes DDL defaults", function()
    local T = db:define("Thing", {
      { name = "role", type = "STRING", default = "member" },
      { name = "n", type = "INTEGER", default = 7 },
      { name = "on", type = "BOOLEAN", default = true },
    })
    db:sync()
    T:insert {}
    local r = T:find()[1]
    assert.are.same({ id = 1, role = "member", n = 7, on = true }, r)
    assert.are.equal("member", T:attributes()[2].default)
  end)
end)

describe("sync and drop", function()
  it("creates tables, recreates them with force, drops them", function()
    local U = users()
    U:insert { name = "x" }
    db:sync()
    assert.are.equal(1, U:count())
    db:sync(true)
    assert.are.equal(0, U:count())
    db:drop()
    assert.are.same({}, db:query("SELECT name FROM sqlite_master WHERE name = 'Users'"))
  end)
end)

describe("insert and find", function()
  it("round-trips every type", function()
    local T = db:define("All", {
      { name = "s", type = "STRING" }, { name = "t", type = "TEXT" },
      { name = "i", type = "INTEGER" }, { name = "bi", type = "BIGINT" },
      { name = "f", type = "FLOAT" }, { name = "d", type = "DOUBLE" },
      { name = "dec", type = "DECIMAL" }, { name = "b", type = "BOOLEAN" },
      { name = "dt", type = "DATE" }, { name = "do", type = "DATEONLY" },
      { name = "j", type = "JSON" }, { name = "bl", type = "BLOB" },
      { name = "u", type = "UUID" },
    })
    db:sync()
    local uuid = core.uuid4()
    local id = T:insert { s = "str", t = "text", i = 42, bi = 9007199254740993, f = 1.25,
      d = 2.5, dec = "10.50", b = true, dt = "2024-05-06T07:08:09.123Z", ["do"] = "2024-05-06",
      j = { a = { 1, 2 } }, bl = "a\0b\0c", u = uuid }
    local r = T:find { where = { id = id } }[1]
    assert.are.equal("str", r.s)
    assert.are.equal("text", r.t)
    assert.are.equal(42, r.i)
    assert.are.equal("integer", math.type(r.i))
    assert.are.equal(9007199254740993, r.bi)
    assert.are.equal(1.25, r.f)
    assert.are.equal(2.5, r.d)
    assert.is_true(r.b)
    assert.are.equal("2024-05-06T07:08:09.123Z", r.dt)
    assert.are.equal("2024-05-06", r["do"])
    assert.are.same({ a = { 1, 2 } }, r.j)
    assert.are.equal("a\0b\0c", r.bl)
    assert.are.equal(5, #r.bl)
    assert.are.equal(uuid, r.u)
  end)

  it("reads BOOLEAN false back as false and leaves NULL fields absent", function()
    local U = users()
    U:insert { name = "a", active = false }
    U:insert { name = "b", active = null }
    local rows = U:find { order = { "id" } }
    assert.is_false(rows[1].active)
    assert.is_nil(rows[2].active)
    assert.is_nil(rows[2].age)
    local n = 0
    for _ in pairs(rows[2]) do n = n + 1 end
    assert.are.equal(2, n) -- id and name only
  end)

  it("keeps integers and floats apart", function()
    local U = users()
    U:insert { name = "a", age = 3.0, score = 3 }
    local r = U:find()[1]
    assert.are.equal("integer", math.type(r.age))
    assert.are.equal("float", math.type(r.score))
    U:insert { name = "b", age = "17", score = "2.5" }
    r = U:find { where = { name = "b" } }[1]
    assert.are.equal(17, r.age)
    assert.are.equal(2.5, r.score)
  end)

  it("converts numbers for STRING attributes and normalizes DATE values", function()
    local T = db:define("D", { { name = "s", type = "STRING" }, { name = "dt", type = "DATE" } })
    db:sync()
    T:insert { s = 12, dt = 0 }
    T:insert { s = 0.1, dt = "2024-01-02T03:04:05+02:00" }
    T:insert { s = 2.5, dt = "2024-01-02" }
    local rows = T:find { order = { "id" } }
    assert.are.equal("12", rows[1].s)
    assert.are.equal("1970-01-01T00:00:00.000Z", rows[1].dt)
    assert.are.equal("0.1", rows[2].s)
    assert.are.equal("2024-01-02T01:04:05.000Z", rows[2].dt)
    assert.are.equal("2024-01-02T00:00:00.000Z", rows[3].dt)
  end)

  it("returns the rowid, and changes/lastrowid agree", function()
    local U = users()
    assert.are.equal(1, U:insert { name = "a" })
    assert.are.equal(2, U:insert { name = "b" })
    assert.are.equal(2, db:lastrowid())
    assert.are.equal(1, db:changes())
  end)

  it("selects only the requested attributes", function()
    local U = users()
    seed(U)
    local r = U:find { attributes = { "name", "age", "name" }, where = { name = "alice" } }[1]
    assert.are.same({ name = "alice", age = 30 }, r)
    assert.truthy(log[1]:find('SELECT "name", "age" FROM "Users"', 1, true))
  end)

  it("binds the SQL of insert with placeholders in attribute order", function()
    local U = users()
    clear()
    U:insert { active = true, name = "z", age = 1 }
    assert.are.equal('INSERT INTO "Users" ("name", "age", "active") VALUES (?, ?, ?)', log[1])
  end)

  it("refuses unknown attributes and non-string keys in values", function()
    local U = users()
    raises("AssocError", { "unknown attribute 'nope'", "User", "insert" }, U.insert, U, { nope = 1 })
    raises("AssocError", "invalid key", U.insert, U, { "x" })
    raises("AssocError", "table of values", U.insert, U, "x")
    assert.are.equal(0, U:count())
  end)
end)

describe("value types", function()
  local U
  before_each(function() U = users() end)

  local function bad(values, attr, part)
    local err = raises("ValidationError", { "User." .. attr, part }, U.insert, U, values)
    assert.are.equal(attr, err.errors[1].path)
    if values[attr] == values[attr] then assert.are.equal(values[attr], err.errors[1].value) end
    assert.truthy(err.errors[1].message:find("User." .. attr, 1, true))
    return err
  end

  it("raises ValidationError naming Model.attribute for wrong types", function()
    bad({ name = "a", age = "twelve" }, "age", "integer")
    bad({ name = "a", age = 1.5 }, "age", "integer")
    bad({ name = "a", age = 0 / 0 }, "age", "integer")
    bad({ name = "a", age = math.huge }, "age", "integer")
    bad({ name = "a", age = true }, "age", "integer")
    bad({ name = "a", score = "x" }, "score", "number")
    bad({ name = "a", score = 0 / 0 }, "score", "number")
    bad({ name = "a", active = "yes" }, "active", "boolean")
    bad({ name = {} }, "name", "string")
    bad({ name = true }, "name", "string")
    bad({ name = "a", meta = print }, "meta", "JSON")
    bad({ name = "a", meta = { f = print } }, "meta", "JSON-encodable")
    local cyc = {}
    cyc[1] = cyc
    bad({ name = "a", meta = cyc }, "meta", "cycle")
    assert.are.equal(0, U:count())
  end)

  it("checks DATE, DATEONLY and BLOB values", function()
    local T = db:define("D", { { name = "dt", type = "DATE" }, { name = "d", type = "DATEONLY" },
      { name = "b", type = "BLOB" } })
    db:sync()
    raises("ValidationError", "D.dt", T.insert, T, { dt = "yesterday" })
    raises("ValidationError", "D.dt", T.insert, T, { dt = "2024-13-01" })
    raises("ValidationError", "D.d", T.insert, T, { d = "2024-02-30" })
    raises("ValidationError", "D.d", T.insert, T, { d = "2024-02-03T00:00" })
    raises("ValidationError", "D.b", T.insert, T, { b = 12 })
    T:insert { d = "2024-02-29" }
    assert.are.equal("2024-02-29", T:find()[1].d)
  end)
end)

describe("where", function()
  local U
  before_each(function() U = users(); seed(U) end)

  it("compares with = and != and binds the value", function()
    assert.are.same({ 1 }, where_ids(U, { name = "alice" }))
    assert.truthy(log[1]:find('WHERE "name" = ?', 1, true))
    assert.are.same({ 2, 3, 4 }, where_ids(U, { name = { [Op.ne] = "alice" } }))
    assert.are.same({ 1 }, where_ids(U, { name = { [Op.eq] = "alice" } }))
  end)

  it("supports gt, gte, lt and lte", function()
    assert.are.same({ 3 }, where_ids(U, { age = { [Op.gt] = 30 } }))
    assert.are.same({ 1, 3 }, where_ids(U, { age = { [Op.gte] = 30 } }))
    assert.are.same({ 2 }, where_ids(U, { age = { [Op.lt] = 30 } }))
    assert.are.same({ 1, 2 }, where_ids(U, { age = { [Op.lte] = 30 } }))
  end)

  it("ANDs several operators on one attribute", function()
    clear()
    assert.are.same({ 1 }, where_ids(U, { age = { [Op.gt] = 25, [Op.lt] = 35 } }))
    assert.truthy(log[1]:find('"age" > ? AND "age" < ?', 1, true))
  end)

  it("treats a plain array as IN and supports notIn", function()
    clear()
    assert.are.same({ 1, 3 }, where_ids(U, { name = { "alice", "carol", "zed" } }))
    assert.truthy(log[1]:find('"name" IN (?, ?, ?)', 1, true))
    assert.are.same({ 2, 4 }, where_ids(U, { name = { [Op.notIn] = { "alice", "carol" } } }))
    assert.are.same({ 2 }, where_ids(U, { age = { [Op["in"]] = { 25 } } }))
  end)

  it("treats an empty IN as false and an empty NOT IN as true", function()
    assert.are.same({}, where_ids(U, { id = {} }))
    assert.are.same({}, where_ids(U, { id = { [Op["in"]] = {} } }))
    assert.are.same({ 1, 2, 3, 4 }, where_ids(U, { id = { [Op.notIn] = {} } }))
  end)

  it("accepts core.null inside an IN array", function()
    assert.are.same({ 2 }, where_ids(U, { age = { 25, null } }))
  end)

  it("maps core.null to IS NULL and Op.ne null to IS NOT NULL", function()
    clear()
    assert.are.same({ 4 }, where_ids(U, { age = null }))
    assert.truthy(log[1]:find('"age" IS NULL', 1, true))
    assert.are.same({ 1, 2, 3 }, where_ids(U, { age = { [Op.ne] = null } }))
  end)

  it("supports is and not with null and booleans", function()
    assert.are.same({ 4 }, where_ids(U, { active = { [Op.is] = null } }))
    assert.are.same({ 1, 3 }, where_ids(U, { active = { [Op.is] = true } }))
    assert.are.same({ 2 }, where_ids(U, { active = { [Op.is] = false } }))
    assert.are.same({ 1, 2, 3 }, where_ids(U, { active = { [Op["not"]] = null } }))
    assert.are.same({ 2, 4 }, where_ids(U, { active = { [Op["not"]] = true } }))
    assert.are.same({ 1, 3 }, where_ids(U, { active = true }))
  end)

  it("supports like, notLike and iLike", function()
    assert.are.same({ 1 }, where_ids(U, { name = { [Op.like] = "al%" } }))
    assert.are.same({ 2, 3, 4 }, where_ids(U, { name = { [Op.notLike] = "al%" } }))
    assert.are.same({ 1 }, where_ids(U, { name = { [Op.iLike] = "AL%" } }))
  end)

  it("supports startsWith, endsWith and substring with wildcards escaped", function()
    assert.are.same({ 3 }, where_ids(U, { name = { [Op.startsWith] = "car" } }))
    assert.are.same({ 4 }, where_ids(U, { name = { [Op.endsWith] = "ve" } }))
    assert.are.same({ 1, 3, 4 }, where_ids(U, { name = { [Op.substring] = "a" } }))
    U:insert { name = "50%_off" }
    assert.are.same({ 5 }, where_ids(U, { name = { [Op.substring] = "%_" } }))
    assert.are.same({}, where_ids(U, { name = { [Op.startsWith] = "%" } }))
  end)

  it("supports between and notBetween", function()
    assert.are.same({ 1, 2 }, where_ids(U, { age = { [Op.between] = { 20, 30 } } }))
    assert.are.same({ 3 }, where_ids(U, { age = { [Op.notBetween] = { 20, 30 } } }))
  end)

  it("combines with and, or and not, nested", function()
    assert.are.same({ 1, 2 }, where_ids(U, { [Op["or"]] = { { name = "alice" }, { age = 25 } } }))
    assert.are.same({ 1, 2 }, where_ids(U, { [Op["or"]] = { name = "alice", age = 25 } }))
    assert.are.same({ 1 }, where_ids(U, { [Op["and"]] = { { age = { [Op.gt] = 20 } }, { active = true },
      { [Op["not"]] = { name = "carol" } } } }))
    assert.are.same({ 2, 3, 4 }, where_ids(U, { [Op["not"]] = { name = "alice" } }))
    assert.are.same({ 3 }, where_ids(U, {
      active = true,
      [Op["or"]] = { { age = { [Op.gt] = 32 } }, { [Op["and"]] = { { name = "bob" }, { age = 25 } } } },
    }))
  end)

  it("treats empty groups as true (and) and false (or)", function()
    assert.are.same({ 1, 2, 3, 4 }, where_ids(U, { [Op["and"]] = {} }))
    assert.are.same({}, where_ids(U, { [Op["or"]] = {} }))
    assert.are.same({ 1, 2, 3, 4 }, where_ids(U, {}))
  end)

  it("supports Op.or on one attribute", function()
    assert.are.same({ 1, 2 }, where_ids(U, { age = { [Op["or"]] = { 25, 30 } } }))
    assert.are.same({ 2, 4 }, where_ids(U, { age = { [Op["or"]] = { [Op.lt] = 30, [Op.is] = null } } }))
  end)

  it("gives the same SQL whatever the key order", function()
    local a, b = {}, {}
    a.name = "alice"; a.age = 30; a.active = true; a[Op["or"]] = { { id = 1 } }
    b[Op["or"]] = { { id = 1 } }; b.active = true; b.age = 30; b.name = "alice"
    clear()
    U:find { where = a }
    U:find { where = b }
    assert.are.equal(log[1], log[2])
    assert.truthy(log[1]:find('"active" = ? AND "age" = ? AND "name" = ?', 1, true))
  end)

  it("raises AssocError for an unknown attribute", function()
    local err = raises("AssocError", "unknown attribute 'nope' of model User in where",
      U.find, U, { where = { nope = 1 } })
    assert.is_nil(err.sql)
    raises("AssocError", "unknown attribute 'x'", U.find, U,
      { where = { [Op["or"]] = { { x = 1 } } } })
  end)

  it("raises AssocError for keys that are neither names nor operators", function()
    raises("AssocError", { "invalid key", "number" }, U.find, U, { where = { 1 } })
    raises("AssocError", { "invalid key", "boolean" }, U.find, U, { where = { [true] = 1 } })
    raises("AssocError", "where", U.find, U, { where = "id = 1" })
  end)

  it("raises AssocError for an operator in the wrong place", function()
    raises("AssocError", "Op.gt", U.find, U, { where = { [Op.gt] = 1 } })
    raises("AssocError", "Op.gt", U.find, U, { where = { age = Op.gt } })
    raises("AssocError", "mixes", U.find, U, { where = { age = { [Op.gt] = 1, gt = 2 } } })
    raises("AssocError", "neither an array", U.find, U, { where = { age = { gt = 2 } } })
  end)

  it("raises AssocError naming the operator for a wrong operand shape", function()
    raises("AssocError", "Op.between on User.age", U.find, U,
      { where = { age = { [Op.between] = { 1, 2, 3 } } } })
    raises("AssocError", "Op.between", U.find, U, { where = { age = { [Op.between] = 1 } } })
    raises("AssocError", "Op.in on User.age", U.find, U, { where = { age = { [Op["in"]] = 1 } } })
    raises("AssocError", "Op.is on User.active", U.find, U, { where = { active = { [Op.is] = "x" } } })
    raises("AssocError", "Op.gt", U.find, U, { where = { age = { [Op.gt] = null } } })
    raises("AssocError", "Op.like", U.find, U, { where = { name = { [Op.like] = {} } } })
    raises("AssocError", "Op.or", U.find, U, { where = { [Op["or"]] = 1 } })
    raises("AssocError", "Op.and", U.find, U, { where = { [Op["and"]] = { 1, 2 } } })
  end)

  it("raises ValidationError for values of the wrong type", function()
    local err = raises("ValidationError", "User.age", U.find, U, { where = { age = "old" } })
    assert.are.same({ { path = "age", message = err.errors[1].message, value = "old" } }, err.errors)
    raises("ValidationError", "User.age", U.find, U, { where = { age = { 1, "x" } } })
    raises("ValidationError", "User.active", U.find, U, { where = { active = "yes" } })
  end)

  it("refuses where tables nested without end", function()
    local w = {}
    w[Op["and"]] = { w }
    raises("AssocError", "nested", U.find, U, { where = w })
  end)
end)

describe("bad calls", function()
  local U
  before_each(function() U = users() end)

  it("raises AssocError objects for a wrong self", function()
    raises("AssocError", "expected a Model", U.find, {})
    raises("AssocError", "expected a Model", U.insert, db, { name = "x" })
    raises("AssocError", "expected a Db", db.exec, U, "SELECT 1")
  end)

  it("refuses operators as keys of values and malformed order/attributes", function()
    raises("AssocError", "invalid key", U.insert, U, { [Op.gt] = 1 })
    raises("AssocError", "order", U.find, U, { order = { 1 } })
    raises("AssocError", "order", U.find, U, { order = { {} } })
    raises("AssocError", "attributes", U.find, U, { attributes = { 1 } })
    raises("AssocError", "Op.in on User.age", U.find, U, { where = { age = { [Op["in"]] = { 1, nil, 3 } } } })
  end)

  it("refuses SQL and names containing NUL bytes instead of truncating them", function()
    raises("AssocError", "NUL", db.query, db, "SELECT 1\0; DROP TABLE \"Users\"")
    raises("AssocError", "NUL", db.define, db, "A\0B", { { name = "x", type = "TEXT" } })
    raises("AssocError", "NUL", db.define, db, "C", { { name = "x\0y", type = "TEXT" } })
    raises("AssocError", nil, U.find, U, { where = { ["name\0x"] = 1 } })
    assert.is_nil(db:model("User\0x"))
  end)

  it("matches JSON values with an IN list of tables", function()
    U:insert { name = "a", meta = { 1 } }
    U:insert { name = "b", meta = { x = true } }
    U:insert { name = "c", meta = { 2 } }
    assert.are.same({ "a", "b" }, ids(U:find { where = { meta = { { 1 }, { x = true } } }, order = { "id" } }, "name"))
  end)
end)

describe("injection", function()
  local U
  before_each(function() U = users(); seed(U) end)

  it("refuses a where key that looks like SQL", function()
    raises("AssocError", "unknown attribute", U.find, U, { where = { ['name" OR 1=1 --'] = "x" } })
    raises("AssocError", "unknown attribute", U.find, U, { order = { 'name; DROP TABLE "Users"' } })
    raises("AssocError", "unknown attribute", U.find, U, { attributes = { "*" } })
    assert.are.equal(4, U:count())
  end)

  it("binds values with quotes so they match nothing", function()
    clear()
    for _, v in ipairs { "' OR '1'='1", '" OR "1"="1', "alice' --", "x'); DROP TABLE Users; --" } do
      assert.are.same({}, U:find { where = { name = v } })
      assert.are.same({}, U:find { where = { name = { [Op.like] = v } } })
    end
    for _, sql in ipairs(log) do
      assert.is_nil(sql:find("'", 1, true), sql)
      assert.truthy(sql:find("?", 1, true))
    end
    assert.are.equal(4, U:count())
  end)

  it("stores a quoted value verbatim", function()
    local v = "Robert'); DROP TABLE \"Users\";--"
    local id = U:insert { name = v }
    assert.are.equal(v, U:find { where = { id = id } }[1].name)
  end)
end)

describe("order, limit and offset", function()
  local U
  before_each(function() U = users(); seed(U) end)

  it("orders by names and { name, direction } in any case", function()
    assert.are.same({ 3, 1, 2, 4 }, ids(U:find { order = { { "age", "DESC" }, "id" } }))
    assert.are.same({ 3, 1, 2, 4 }, ids(U:find { order = { { "age", "desc" } } }))
    assert.are.same({ 4, 2, 1, 3 }, ids(U:find { order = { { "age", "Asc" } } }))
    raises("AssocError", "invalid order direction 'UP'", U.find, U, { order = { { "age", "UP" } } })
    raises("AssocError", "unknown attribute 'nope' of model User in order", U.find, U,
      { order = { "nope" } })
  end)

  it("limits and offsets", function()
    assert.are.same({ 2, 3 }, ids(U:find { order = { "id" }, limit = 2, offset = 1 }))
    assert.are.same({ 1 }, ids(U:find { order = { "id" }, limit = 1.0 }))
    assert.are.same({}, ids(U:find { limit = 0 }))
    assert.are.same({ 4 }, ids(U:find { order = { "id" }, offset = 3 }))
  end)

  it("refuses limits and offsets that are not non-negative integers", function()
    for _, v in ipairs { -1, 1.5, 0 / 0, math.huge, "10", true } do
      raises("AssocError", "limit", U.find, U, { limit = v })
      raises("AssocError", "offset", U.find, U, { offset = v })
    end
  end)

  it("refuses unknown request options", function()
    raises("AssocError", "unknown option 'includes' for User:find", U.find, U, { includes = {} })
    raises("AssocError", "withDeleted", U.find, U, { withDeleted = 1 })
    raises("AssocError", "attributes", U.find, U, { attributes = "id" })
  end)
end)

describe("count, update and delete", function()
  local U
  before_each(function() U = users(); seed(U) end)

  it("counts with a where", function()
    assert.are.equal(4, U:count())
    assert.are.equal(2, U:count { where = { active = true } })
    assert.are.equal(0, U:count { where = { id = {} } })
    assert.truthy(log[1]:find("SELECT count(*)", 1, true))
  end)

  it("updates matching rows and returns the count", function()
    assert.are.equal(2, U:update({ age = 99 }, { active = true }))
    assert.are.equal(2, U:count { where = { age = 99 } })
    assert.are.equal(4, U:update({ score = 0 }))
    assert.are.equal(4, U:count { where = { score = 0 } })
    assert.are.equal(0, U:update({}, { id = 1 }))
  end)

  it("refuses bad values and where in update without writing", function()
    raises("ValidationError", "User.age", U.update, U, { age = "x" }, { id = 1 })
    raises("AssocError", "unknown attribute", U.update, U, { age = 1 }, { nope = 1 })
    assert.are.equal(0, U:count { where = { age = 1 } })
  end)

  it("deletes matching rows, or all of them", function()
    assert.are.equal(1, U:delete { name = "bob" })
    assert.are.equal(3, U:count())
    assert.are.equal(3, U:delete())
    assert.are.equal(0, U:count())
  end)

  it("hides soft-deleted rows unless withDeleted", function()
    local P = db:define("Post", { { name = "t", type = "STRING" } }, { paranoid = true })
    db:sync()
    P:insert { t = "a" }
    P:insert { t = "b", deletedAt = "2024-01-01T00:00:00.000Z" }
    assert.are.same({ 1 }, ids(P:find()))
    assert.are.same({ 1, 2 }, ids(P:find { withDeleted = true, order = { "id" } }))
    assert.are.equal(1, P:count())
    assert.are.equal(2, P:count { withDeleted = true })
    assert.are.equal(0, P:update({ t = "z" }, { id = 2 }))
    assert.are.equal(1, P:update({ t = "z" }, { id = 2 }, true))
  end)
end)

describe("insertMany", function()
  local U
  before_each(function() U = users() end)

  it("returns rowids in input order across different key sets", function()
    clear()
    local rows = { { name = "a", age = 1 }, { name = "b" }, { name = "c", age = 3 }, { name = "d" } }
    assert.are.same({ 1, 2, 3, 4 }, U:insertMany(rows))
    local all = U:find { order = { "id" } }
    assert.are.same({ "a", "b", "c", "d" }, ids(all, "name"))
    assert.are.equal(3, all[3].age)
    local sqls = {}
    for _, s in ipairs(log) do if s:find("^INSERT") then sqls[s] = true end end
    assert.are.same({
      ['INSERT INTO "Users" ("name", "age") VALUES (?, ?)'] = true,
      ['INSERT INTO "Users" ("name") VALUES (?)'] = true }, sqls)
  end)

  it("inserts many rows through one cached statement", function()
    local rows = {}
    for i = 1, 500 do rows[i] = { name = "u" .. i, age = i } end
    local before = db:cachestats()
    local r = U:insertMany(rows)
    assert.are.equal(500, #r)
    assert.are.equal(500, r[500])
    assert.are.equal(500, U:count())
    assert.truthy(db:cachestats().misses - before.misses <= 3)
  end)

  it("is atomic: a failing row leaves nothing written", function()
    U:insert { name = "taken" }
    local err = raises("UniqueConstraintError", nil, U.insertMany, U,
      { { name = "new1", age = 1 }, { name = "new2" }, { name = "taken" } })
    assert.are.equal("name", err.errors[1].path)
    assert.are.equal(1, U:count())
    assert.are.equal(0, db:depth())
    raises("ValidationError", "User.age", U.insertMany, U, { { name = "x" }, { name = "y", age = "z" } })
    assert.are.equal(1, U:count())
  end)

  it("refuses rows that are not tables and returns {} for none", function()
    raises("AssocError", "row #2", U.insertMany, U, { { name = "a" }, "b" })
    assert.are.same({}, U:insertMany {})
    assert.are.equal(0, U:count())
  end)
end)

describe("constraint errors", function()
  local U
  before_each(function() U = users() end)

  it("raises UniqueConstraintError with errors and fields", function()
    U:insert { name = "a" }
    local err = raises("UniqueConstraintError", "User.name must be unique", U.insert, U, { name = "a" })
    assert.are.same({ "name" }, err.fields)
    assert.are.same({ { path = "name", message = "name must be unique", value = "a" } }, err.errors)
    assert.are.equal("number", type(err.code))
    assert.truthy(err.sql:find("INSERT", 1, true))
  end)

  it("raises ForeignKeyConstraintError", function()
    db:exec('CREATE TABLE "Pets" (id INTEGER PRIMARY KEY, owner INTEGER REFERENCES "Users"(id))')
    local P = db:define("Pet", { { name = "owner", type = "INTEGER" } })
    raises("ForeignKeyConstraintError", nil, P.insert, P, { owner = 42 })
    local uid = U:insert { name = "o" }
    P:insert { owner = uid }
    raises("ForeignKeyConstraintError", nil, U.delete, U, { id = uid })
    assert.are.equal(1, U:count())
  end)

  it("raises ValidationError for NOT NULL", function()
    local err = raises("ValidationError", "User.name cannot be null", U.insert, U, { age = 1 })
    assert.are.equal("name", err.errors[1].path)
    assert.are.equal("User.name cannot be null", err.errors[1].message)
    raises("ValidationError", "cannot be null", U.insert, U, { name = null })
  end)

  it("raises DatabaseError with the SQL for a failing raw query", function()
    local err = raises("DatabaseError", nil, db.query, db, "SELECT * FROM nope WHERE x = ?", { 1 })
    assert.are.equal("SELECT * FROM nope WHERE x = ?", err.sql)
    raises("DatabaseError", nil, db.query, db, 'SELECT "nocolumn" FROM "Users"')
  end)
end)

describe("query and exec", function()
  it("returns rows keyed by column name with bound params", function()
    local rows = db:query("SELECT ? AS a, ? AS b, ? AS c, ? AS d, ? AS e", { 1, 2.5, "x", true, null })
    assert.are.same({ a = 1, b = 2.5, c = "x", d = 1 }, rows[1])
    assert.are.equal(1, #rows)
    assert.are.same({}, db:query("SELECT 1 WHERE 0"))
  end)

  it("runs DDL and DML through exec", function()
    db:exec("CREATE TABLE t (a INTEGER, b TEXT)")
    db:exec("INSERT INTO t VALUES (?, ?)", { 1, "one" })
    assert.are.same({ { a = 1, b = "one" } }, db:query("SELECT * FROM t"))
  end)

  it("refuses a second statement and bad params", function()
    raises("AssocError", nil, db.query, db, "SELECT 1; SELECT 2")
    raises("AssocError", "param #1", db.query, db, "SELECT ?", { {} })
    raises("AssocError", "sql", db.query, db, 42)
    raises("AssocError", "params", db.query, db, "SELECT 1", "x")
  end)
end)

describe("logging", function()
  it("is called once per statement with placeholder SQL and a duration", function()
    local seen = {}
    local d = core.open(":memory:", { logging = function(sql, ms) seen[#seen + 1] = { sql, ms } end })
    local U = d:define("User", { { name = "name", type = "STRING" } })
    d:sync()
    seen = {}
    U:insert { name = "secret" }
    U:find { where = { name = "secret" } }
    assert.are.equal(2, #seen)
    assert.are.equal('SELECT "id", "name" FROM "Users" WHERE "name" = ?', seen[2][1])
    assert.is_nil(seen[1][1]:find("secret", 1, true))
    assert.are.equal("number", type(seen[1][2]))
    assert.truthy(seen[1][2] >= 0)
    d:close()
  end)

  it("can be replaced and turned off with setlogger", function()
    local U = users()
    local other = {}
    db:setlogger(function(sql) other[#other + 1] = sql end)
    clear()
    U:count()
    assert.are.equal(1, #other)
    assert.are.equal(0, #log)
    db:setlogger(nil)
    U:count()
    assert.are.equal(1, #other)
    raises("AssocError", "logging", db.setlogger, db, 12)
  end)

  it("swallows errors of the logger", function()
    local U = users()
    db:setlogger(function() error("boom") end)
    U:insert { name = "a" }
    assert.are.equal(1, U:count())
  end)

  it("lets the logger use the db and even close it", function()
    local U = users()
    local counts = {}
    db:setlogger(function(sql)
      if sql:find("^INSERT") then counts[#counts + 1] = U:count() end
    end)
    U:insert { name = "a" }
    assert.are.same({ 1 }, counts)
    db:setlogger(function() db:close() end)
    U:insert { name = "b" }
    assert.is_true(db:isclosed())
  end)

  it("survives a logger that yields or collects garbage", function()
    local U = users()
    local co = coroutine.wrap(function()
      db:setlogger(function(sql) coroutine.yield(sql) end)
      U:insert { name = "x" }
      return "done"
    end)
    assert.are.equal("done", co())
    db:setlogger(function() collectgarbage() end)
    for i = 1, 20 do U:insert { name = "g" .. i, meta = { i } } end
    assert.are.equal(21, #U:find { order = { "id" } })
  end)

  it("logs the failing statement before raising", function()
    local U = users()
    U:insert { name = "a" }
    clear()
    pcall(U.insert, U, { name = "a" })
    assert.are.equal(1, #log)
    assert.truthy(log[1]:find("^INSERT"))
  end)
end)

describe("find with metatable and statekey", function()
  it("sets the metatable and a separate snapshot of the values", function()
    local U = users()
    U:insert { name = "a", age = 1, meta = { tags = { "x" } } }
    local mt = { __index = { hello = function(self) return "hi " .. self.name end } }
    local STATE = {}
    local r = U:find(nil, mt, STATE)[1]
    assert.are.equal(mt, getmetatable(r))
    assert.are.equal("hi a", r:hello())
    local snap = r[STATE]
    assert.are.same({ id = 1, name = "a", age = 1, meta = { tags = { "x" } } }, snap)
    assert.are_not.equal(r.meta, snap.meta)
    r.name = "b"
    assert.are.equal("a", snap.name)
    assert.is_nil(getmetatable(snap))
  end)

  it("refuses a metatable that is not a table", function()
    local U = users()
    raises("AssocError", "metatable", U.find, U, nil, 12)
  end)
end)

describe("statement cache", function()
  it("hits on repeated identical finds whatever the key order", function()
    local U = users()
    seed(U)
    U:find { where = { name = "a", age = 1 } }
    local s1 = db:cachestats()
    U:find { where = { age = 2, name = "b" } }
    U:find { where = { name = "c", age = 3 } }
    local s2 = db:cachestats()
    assert.are.equal(s1.hits + 2, s2.hits)
    assert.are.equal(s1.misses, s2.misses)
    assert.truthy(s2.capacity >= s2.size)
    assert.truthy(s2.size >= 1)
  end)
end)

describe("transactions", function()
  it("tracks depth through savepoints and rolls back the innermost level", function()
    local U = users()
    assert.are.equal(0, db:depth())
    db:begin()
    U:insert { name = "a" }
    db:begin()
    assert.are.equal(2, db:depth())
    U:insert { name = "b" }
    db:rollback()
    assert.are.equal(1, db:depth())
    assert.are.same({ "a" }, ids(U:find(), "name"))
    db:commit()
    assert.are.equal(0, db:depth())
    assert.are.equal(1, U:count())
    assert.truthy(table.concat(log, "\n"):find("BEGIN IMMEDIATE", 1, true))
    assert.truthy(table.concat(log, "\n"):find("SAVEPOINT", 1, true))
  end)

  it("rolls back everything with an outer rollback", function()
    local U = users()
    db:begin()
    U:insertMany { { name = "a" }, { name = "b", age = 1 } }
    db:rollback()
    assert.are.equal(0, U:count())
  end)

  it("raises on commit or rollback without a transaction", function()
    raises("AssocError", nil, db.commit, db)
    raises("AssocError", nil, db.rollback, db)
  end)

  it("rolls back an open transaction on close", function()
    local path = os.tmpname()
    local d = core.open(path)
    d:exec("CREATE TABLE t (a)")
    d:begin()
    d:exec("INSERT INTO t VALUES (1)")
    d:close()
    d = core.open(path)
    assert.are.same({ { n = 0 } }, d:query("SELECT count(*) AS n FROM t"))
    d:close()
    for _, s in ipairs { "", "-wal", "-shm" } do os.remove(path .. s) end
  end)
end)
