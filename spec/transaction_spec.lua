local H = require "spec.helpers"
local assoc = H.assoc
local DataTypes = assoc.DataTypes

describe("db:transaction (managed)", function()
  local db, log, User
  before_each(function()
    db, log = H.open()
    User = db:define("User", { name = DataTypes.STRING })
    db:sync()
    H.clear(log)
  end)
  after_each(function() db:close() end)

  it("commits when the function returns and returns its results", function()
    local a, b = db:transaction(function(t)
      User:create { name = "a" }
      return 1, "two"
    end)
    assert.are.equal(1, a)
    assert.are.equal("two", b)
    assert.are.equal("BEGIN IMMEDIATE", log[1])
    assert.are.equal("COMMIT", log[#log])
    assert.are.equal(1, H.rows(db, "Users"))
  end)

  it("raises instead of returning when the function rolled the transaction back", function()
    -- Sequelize: "Transaction cannot be committed because it has been finished with state:
    -- rollback". Returning the results would tell the caller the work was committed.
    local ok, err = pcall(db.transaction, db, function(t)
      User:create { name = "a" }
      t:rollback()
      return "done"
    end)
    assert.is_false(ok)
    assert.is_true(assoc.is_error(err, "AssocError"))
    assert.matches("rolled back", err.message)
    assert.are.equal(0, H.rows(db, "Users"))
  end)

  it("still returns the results when the function committed it itself", function()
    local r = db:transaction(function(t)
      User:create { name = "a" }
      t:commit()
      return "done"
    end)
    assert.are.equal("done", r)
    assert.are.equal(1, H.rows(db, "Users"))
  end)

  it("raises ConnectionError when the function closed the db", function()
    local ok, err = pcall(db.transaction, db, function()
      User:create { name = "a" }
      db:close()
      return "done"
    end)
    assert.is_false(ok)
    assert.is_true(assoc.is_error(err, "ConnectionError"))
    assert.matches("nothing was committed", err.message)
  end)

  it("rolls back and re-raises the same error when the function raises", function()
    local boom = { "boom" }
    local ok, err = pcall(db.transaction, db, function()
      User:create { name = "a" }
      error(boom)
    end)
    assert.is_false(ok)
    assert.are.equal(boom, err)
    assert.are.equal("ROLLBACK", log[#log])
    assert.are.equal(0, H.rows(db, "Users"))
  end)

  it("re-raises error objects of the engine unchanged", function()
    local ok, err = pcall(db.transaction, db, function()
      User:create { name = "a" }
      User:create { nope = 1 }
    end)
    assert.is_false(ok)
    assert.is_true(assoc.is_error(err, "AssocError"))
    assert.are.equal(0, H.rows(db, "Users"))
  end)

  it("passes the transaction object to the function", function()
    db:transaction(function(t)
      assert.are.equal("function", type(t.commit))
      User:create({ name = "a" }, { transaction = t })
    end)
    assert.are.equal(1, H.rows(db, "Users"))
  end)

  it("nests as a SAVEPOINT whose failure rolls back only the inner work", function()
    db:transaction(function()
      User:create { name = "outer" }
      pcall(db.transaction, db, function()
        User:create { name = "inner" }
        error("inner fails")
      end)
    end)
    local names = {}
    for _, u in ipairs(User:findAll()) do names[#names + 1] = u.name end
    assert.are.same({ "outer" }, names)
    assert.are.equal(1, #H.matching(log, "^SAVEPOINT"))
    assert.are.equal(1, #H.matching(log, "^ROLLBACK TO"))
  end)

  it("commits a nested transaction with the outer one", function()
    db:transaction(function()
      db:transaction(function() User:create { name = "inner" } end)
    end)
    assert.are.equal(1, H.rows(db, "Users"))
    assert.are.equal(1, #H.matching(log, "^RELEASE"))
  end)

  it("undoes a committed inner transaction when the outer one rolls back", function()
    pcall(db.transaction, db, function()
      db:transaction(function() User:create { name = "inner" } end)
      error("outer fails")
    end)
    assert.are.equal(0, H.rows(db, "Users"))
  end)

  it("refuses an argument that is not a function", function()
    H.raises("AssocError", "db:transaction", db.transaction, db, 5)
  end)
end)

describe("db:transaction (unmanaged)", function()
  local db, log, User
  before_each(function()
    db, log = H.open()
    User = db:define("User", { name = DataTypes.STRING })
    db:sync()
    H.clear(log)
  end)
  after_each(function() db:close() end)

  it("commits with t:commit()", function()
    do
      local t <close> = db:transaction()
      User:create { name = "a" }
      t:commit()
    end
    assert.are.equal(1, H.rows(db, "Users"))
  end)

  it("rolls back when the scope is left without commit", function()
    do
      local t <close> = db:transaction()
      User:create { name = "a" }
    end
    assert.are.equal("ROLLBACK", log[#log])
    assert.are.equal(0, H.rows(db, "Users"))
  end)

  it("rolls back when the scope is left by an error", function()
    pcall(function()
      local t <close> = db:transaction()
      User:create { name = "a" }
      error("fail")
    end)
    assert.are.equal(0, H.rows(db, "Users"))
  end)

  it("rolls back with t:rollback()", function()
    local t = db:transaction()
    User:create { name = "a" }
    t:rollback()
    assert.are.equal(0, H.rows(db, "Users"))
  end)

  it("refuses commit or rollback of a finished transaction", function()
    local t = db:transaction()
    t:commit()
    H.raises("AssocError", "already been committed", t.commit, t)
    H.raises("AssocError", "already been committed", t.rollback, t)
    local t2 = db:transaction()
    t2:rollback()
    H.raises("AssocError", "rolled back", t2.commit, t2)
  end)

  it("refuses a finished transaction passed as an option", function()
    local t = db:transaction()
    t:commit()
    H.raises("AssocError", { "User.create", "transaction" }, User.create, User, { name = "a" },
      { transaction = t })
    assert.are.equal(0, H.rows(db, "Users"))
  end)

  it("refuses a transaction of another database", function()
    local other = assoc.open(":memory:")
    local t = other:transaction()
    H.raises("AssocError", "transaction", User.findAll, User, { transaction = t })
    t:rollback()
    other:close()
  end)

  it("refuses to commit an outer transaction while an inner one is open", function()
    local outer = db:transaction()
    local inner = db:transaction()
    H.raises("AssocError", "inner transaction", outer.commit, outer)
    inner:commit()
    outer:commit()
  end)

  it("rolls back the inner transactions with the outer one", function()
    local outer = db:transaction()
    local inner = db:transaction()
    User:create { name = "a" }
    outer:rollback()
    assert.are.equal("rollback", inner.finished)
    H.raises("AssocError", "rolled back", inner.commit, inner)
    assert.are.equal(0, H.rows(db, "Users"))
  end)

  it("raises ConnectionError when used after db:close()", function()
    local t = db:transaction()
    db:close()
    H.raises("ConnectionError", "database is closed", t.commit, t)
  end)
end)

describe("two writers on one file", function()
  local path
  before_each(function() path = H.tmpdb() end)
  after_each(function() H.remove(path) end)

  it("makes the second writer wait for the busy timeout, then raise a clean error", function()
    local a = assoc.open { storage = path, busyTimeout = 50 }
    a:define("User", { name = DataTypes.STRING })
    a:sync()
    local b = assoc.open { storage = path, busyTimeout = 50 }
    local t = a:transaction()
    a.models.User:create { name = "from a" }
    local start = H.now_ms()
    local err = H.raises("DatabaseError", nil, b.transaction, b, function() end)
    local waited = H.now_ms() - start
    assert.truthy(tostring(err.message):lower():find("locked") or
      tostring(err.message):lower():find("busy"))
    assert.is_true(waited >= 40, "waited only " .. waited .. " ms")
    assert.is_true(waited < 3000, "waited " .. waited .. " ms")
    t:commit()
    -- once a has committed, b writes fine
    b:transaction(function()
      b:query('INSERT INTO "Users" (name, createdAt, updatedAt) VALUES (?, ?, ?)',
        { "from b", "x", "x" })
    end)
    assert.are.equal(2, H.rows(a, "Users"))
    a:close()
    b:close()
  end)

  it("lets the second writer in once the first commits within the timeout", function()
    local a = assoc.open { storage = path, busyTimeout = 2000 }
    local User = a:define("User", { name = DataTypes.STRING })
    a:sync()
    local b = assoc.open { storage = path }
    local t = a:transaction()
    User:create { name = "a" }
    t:commit()
    b:transaction(function() b:query("SELECT 1") end)
    assert.are.equal(1, H.rows(b, "Users"))
    a:close()
    b:close()
  end)

  it("lets a reader read while a writer holds the write lock (WAL)", function()
    local a = assoc.open(path)
    local User = a:define("User", { name = DataTypes.STRING })
    a:sync()
    User:create { name = "committed" }
    local b = assoc.open(path)
    local t = a:transaction()
    User:create { name = "pending" }
    assert.are.equal(1, H.rows(b, "Users"))
    t:commit()
    assert.are.equal(2, H.rows(b, "Users"))
    a:close()
    b:close()
  end)
end)
