local H = require "spec.helpers"
local assoc = H.assoc
local DataTypes = assoc.DataTypes

describe("assoc module", function()
  it("exposes VERSION as MAJOR.MINOR.PATCH", function()
    assert.is_string(assoc.VERSION)
    assert.truthy(assoc.VERSION:match("^%d+%.%d+%.%d+$"))
  end)

  it("exposes null as a sentinel distinct from nil and false", function()
    assert.is_not_nil(assoc.null)
    assert.are_not.equal(false, assoc.null)
    assert.are.equal("assoc.null", tostring(assoc.null))
  end)

  it("gives Op aliases for the keyword operators", function()
    local Op = assoc.Op
    assert.are.equal(Op["and"], Op.and_)
    assert.are.equal(Op["or"], Op.or_)
    assert.are.equal(Op["not"], Op.not_)
    assert.are.equal(Op["in"], Op.in_)
  end)

  it("raises on an unknown operator name instead of returning nil", function()
    H.raises("AssocError", "gtt", function() return assoc.Op.gtt end)
  end)
end)

describe("assoc.open", function()
  local path
  after_each(function() if path then H.remove(path); path = nil end end)

  it("opens an in-memory database from ':memory:'", function()
    local db = assoc.open(":memory:")
    assert.are.same({ { x = 1 } }, db:query("SELECT 1 AS x"))
    db:close()
  end)

  it("opens (and creates) a file database from a path", function()
    path = H.tmpdb()
    local db = assoc.open(path)
    db:query("CREATE TABLE t (x)")
    db:close()
    local f = io.open(path, "rb")
    assert.is_not_nil(f)
    f:close()
    local db2 = assoc.open(path)
    assert.are.same({}, db2:query("SELECT x FROM t"))
    db2:close()
  end)

  it("accepts an options table with dialect and storage", function()
    local db = assoc.open { dialect = "sqlite", storage = ":memory:" }
    assert.are.equal(1, db:query("SELECT 1 AS x")[1].x)
    db:close()
  end)

  it("defaults storage to memory in an options table", function()
    local db = assoc.open { dialect = "sqlite" }
    assert.are.equal("memory", db:query("PRAGMA journal_mode")[1].journal_mode)
    db:close()
  end)

  it("refuses an unknown option, naming it", function()
    H.raises("AssocError", "'hostname'", assoc.open, { storage = ":memory:", hostname = "x" })
  end)

  it("refuses a dialect other than sqlite, naming it", function()
    H.raises("AssocError", "'postgres'", assoc.open, { dialect = "postgres" })
  end)

  it("refuses an argument that is neither a path nor a table", function()
    H.raises("AssocError", "number", assoc.open, 42)
  end)

  it("refuses a bad busyTimeout", function()
    H.raises("AssocError", "busyTimeout", assoc.open, { busyTimeout = -1 })
    H.raises("AssocError", "busyTimeout", assoc.open, { busyTimeout = 0 / 0 })
    H.raises("AssocError", "busyTimeout", assoc.open, { busyTimeout = "5s" })
  end)

  it("refuses a logging value that is not a function", function()
    H.raises("AssocError", "logging", assoc.open, { logging = "yes" })
  end)

  it("accepts logging = false", function()
    local db = assoc.open { logging = false }
    assert.are.equal(1, db:query("SELECT 1 AS x")[1].x)
    db:close()
  end)

  it("calls logging once per executed statement with the SQL and the time in ms", function()
    local calls = {}
    local db = assoc.open { logging = function(sql, ms) calls[#calls + 1] = { sql, ms } end }
    db:query("SELECT 1")
    db:query("SELECT 2")
    assert.are.equal(2, #calls)
    assert.are.equal("SELECT 1", calls[1][1])
    assert.are.equal("SELECT 2", calls[2][1])
    assert.is_number(calls[1][2])
    assert.is_true(calls[1][2] >= 0)
    db:close()
  end)

  it("turns foreign keys on", function()
    local db = assoc.open(":memory:")
    assert.are.equal(1, db:query("PRAGMA foreign_keys")[1].foreign_keys)
    db:close()
  end)

  it("turns WAL on for a file database", function()
    path = H.tmpdb()
    local db = assoc.open(path)
    assert.are.equal("wal", db:query("PRAGMA journal_mode")[1].journal_mode)
    db:close()
  end)

  it("sets the busy timeout (5000 ms by default)", function()
    local db = assoc.open(":memory:")
    assert.are.equal(5000, db:query("PRAGMA busy_timeout")[1].timeout)
    db:close()
    db = assoc.open { busyTimeout = 50 }
    assert.are.equal(50, db:query("PRAGMA busy_timeout")[1].timeout)
    db:close()
  end)

  it("turns double-quoted string literals off", function()
    local db = assoc.open(":memory:")
    H.raises("DatabaseError", "nosuch", db.query, db, 'SELECT "nosuch"')
    db:close()
  end)

  it("raises ConnectionError for a path that cannot be opened", function()
    H.raises("ConnectionError", nil, assoc.open, "nonexistent-dir-assoc/x/y.db")
  end)
end)

describe("db:close", function()
  it("is idempotent", function()
    local db = assoc.open(":memory:")
    db:close()
    assert.has_no.errors(function() db:close() end)
    assert.are.equal("assoc.Db (closed)", tostring(db))
  end)

  it("makes every later use of the db raise ConnectionError", function()
    local db = assoc.open(":memory:")
    db:close()
    H.raises("ConnectionError", "database is closed", db.query, db, "SELECT 1")
    H.raises("ConnectionError", "database is closed", db.define, db, "X", {})
    H.raises("ConnectionError", "database is closed", db.sync, db)
    H.raises("ConnectionError", "database is closed", db.transaction, db)
  end)

  it("makes models and instances raise ConnectionError", function()
    local db = assoc.open(":memory:")
    local User = H.user_model(db)
    db:sync()
    local u = User:create { name = "ann" }
    db:close()
    H.raises("ConnectionError", "database is closed", User.findAll, User)
    H.raises("ConnectionError", "database is closed", User.create, User, { name = "b" })
    H.raises("ConnectionError", "database is closed", u.save, u)
    H.raises("ConnectionError", "database is closed", u.changed, u)
    H.raises("ConnectionError", "database is closed", u.reload, u)
    assert.are.equal("ann", u.name)
  end)

  it("closes at the end of a <close> scope", function()
    local db
    do
      local d <close> = assoc.open(":memory:")
      db = d
      assert.are.equal(1, d:query("SELECT 1 AS x")[1].x)
    end
    H.raises("ConnectionError", "database is closed", db.query, db, "SELECT 1")
  end)
end)

describe("db:query", function()
  local db
  before_each(function() db = assoc.open(":memory:") end)
  after_each(function() db:close() end)

  it("returns an array of plain rows", function()
    local rows = db:query("SELECT 1 AS a, 'x' AS b UNION ALL SELECT 2, NULL")
    assert.are.same({ { a = 1, b = "x" }, { a = 2 } }, rows)
    assert.is_nil(getmetatable(rows[1]))
  end)

  it("binds positional parameters", function()
    db:query("CREATE TABLE t (s TEXT, n INTEGER)")
    db:query("INSERT INTO t VALUES (?, ?)", { "it's '; DROP TABLE t; --", 7 })
    assert.are.same({ { s = "it's '; DROP TABLE t; --", n = 7 } }, db:query("SELECT * FROM t"))
  end)

  it("binds assoc.null as NULL", function()
    assert.are.same({ { v = 1 } }, db:query("SELECT ? IS NULL AS v", { assoc.null }))
  end)

  it("refuses a second statement in the same string", function()
    db:query("CREATE TABLE t (x)")
    H.raises("AssocError", nil, db.query, db, "SELECT 1; DROP TABLE t")
    assert.are.same({}, db:query("SELECT * FROM t"))
  end)

  it("refuses a non-string SQL and non-table params", function()
    H.raises("AssocError", "sql must be a string", db.query, db, 5)
    H.raises("AssocError", "params", db.query, db, "SELECT ?", 5)
  end)

  it("raises DatabaseError carrying the SQL on a syntax error", function()
    local err = H.raises("DatabaseError", nil, db.query, db, "SELEC 1")
    assert.are.equal("SELEC 1", err.sql)
  end)
end)

describe("db:sync", function()
  local db
  before_each(function() db = assoc.open(":memory:") end)
  after_each(function() db:close() end)

  it("creates the table of every model", function()
    H.user_model(db)
    db:define("Post", { title = DataTypes.STRING })
    db:sync()
    local names = {}
    for _, r in ipairs(db:query("SELECT name FROM sqlite_master WHERE type = 'table' "
      .. "AND name NOT LIKE 'sqlite_%' ORDER BY name")) do
      names[#names + 1] = r.name
    end
    assert.are.same({ "Posts", "Users" }, names)
  end)

  it("keeps existing rows without force and drops them with force", function()
    local User = H.user_model(db)
    db:sync()
    User:create { name = "ann" }
    db:sync()
    assert.are.equal(1, User:count())
    db:sync { force = true }
    assert.are.equal(0, User:count())
  end)

  it("returns the db", function()
    assert.are.equal(db, db:sync())
  end)

  it("refuses unknown options", function()
    H.raises("AssocError", "'forse'", db.sync, db, { forse = true })
  end)
end)

describe("db:drop", function()
  it("drops every model's table", function()
    local db = assoc.open(":memory:")
    H.user_model(db)
    db:sync()
    db:drop()
    assert.are.same({}, db:query("SELECT name FROM sqlite_master WHERE name = 'Users'"))
    db:close()
  end)
end)

describe("db.models", function()
  it("holds every defined model by name", function()
    local db = assoc.open(":memory:")
    local User = H.user_model(db)
    local Post = db:define("Post", { title = DataTypes.STRING })
    assert.are.equal(User, db.models.User)
    assert.are.equal(Post, db.models.Post)
    assert.are.equal(User, db:model("User"))
    db:close()
  end)
end)
