local H = require "spec.helpers"
local assoc = H.assoc
local DataTypes = assoc.DataTypes

local function define(db)
  local User = db:define("User", {
    name = { type = DataTypes.STRING, allowNull = false },
    age = DataTypes.INTEGER,
    meta = DataTypes.JSON,
  })
  db:sync()
  return User
end

describe("instance fields", function()
  local db, User
  before_each(function()
    db = assoc.open(":memory:")
    User = define(db)
  end)
  after_each(function() db:close() end)

  it("are plain values readable with pairs", function()
    User:create { name = "ann", age = 3 }
    local u = User:findByPk(1)
    local seen = {}
    for k, v in pairs(u) do if type(k) == "string" then seen[k] = v end end
    assert.are.equal("ann", seen.name)
    assert.are.equal(3, seen.age)
  end)

  it("read NULL as nil", function()
    User:create { name = "ann" }
    assert.is_nil(User:findByPk(1).age)
  end)

  it("refuse assignment to a method name", function()
    local u = User:create { name = "ann" }
    H.raises("AssocError", "'save'", function() u.save = 1 end)
  end)

  it("print as Model#id", function()
    assert.are.equal("User (new)", tostring(User:build { name = "a" }))
    assert.are.equal("User#1", tostring(User:create { name = "a" }))
  end)

  it("get methods from Model.prototype", function()
    function User.prototype:greeting() return "hi " .. self.name end
    assert.are.equal("hi ann", User:create { name = "ann" }:greeting())
    assert.are.equal("hi ann", User:findByPk(1):greeting())
  end)

  -- loaded rows find methods through their store's tables, new ones through a function
  it("see prototype entries added after loading, before the shared methods", function()
    User:bulkCreate { { name = "ann" }, { name = "bob" } }
    local loaded = User:findAll { order = { "id" } }
    local built = User:build { name = "cy" }
    function User.prototype:greeting() return "hi " .. self.name end
    function User.prototype:toTable() return "mine" end
    assert.are.same({ "hi ann", "hi bob", "hi cy" },
      { loaded[1]:greeting(), loaded[2]:greeting(), built:greeting() })
    assert.are.same({ "mine", "mine" }, { loaded[1]:toTable(), built:toTable() })
    User.prototype.toTable = nil
    assert.are.equal("ann", loaded[1]:toTable().name)
    assert.is_function(loaded[2].save)
    assert.is_nil(loaded[2].nosuch)
    assert.are.same({ false, true }, { loaded[1].isNewRecord, built.isNewRecord })
  end)
end)

describe("instance.isNewRecord", function()
  local db, User
  before_each(function()
    db = assoc.open(":memory:")
    User = define(db)
  end)
  after_each(function() db:close() end)

  it("is true for a built instance and false once saved", function()
    local u = User:build { name = "a" }
    assert.is_true(u.isNewRecord)
    u:save()
    assert.is_false(u.isNewRecord)
  end)

  it("is false for a loaded instance", function()
    User:create { name = "a" }
    assert.is_false(User:findOne().isNewRecord)
  end)

  it("is read-only", function()
    local u = User:build { name = "a" }
    H.raises("AssocError", "isNewRecord", function() u.isNewRecord = false end)
    assert.is_true(u.isNewRecord)
  end)
end)

describe("instance:changed", function()
  local db, User
  before_each(function()
    db = assoc.open(":memory:")
    User = define(db)
    User:create { name = "ann", age = 3, meta = { a = 1 } }
  end)
  after_each(function() db:close() end)

  it("is false for a freshly loaded instance", function()
    assert.is_false(User:findByPk(1):changed())
  end)

  it("lists changed attributes, sorted", function()
    local u = User:findByPk(1)
    u.name = "bea"
    u.age = 4
    assert.are.same({ "age", "name" }, u:changed())
  end)

  it("answers for one attribute", function()
    local u = User:findByPk(1)
    u.age = 4
    assert.is_true(u:changed("age"))
    assert.is_false(u:changed("name"))
  end)

  it("ignores assignments of the same value", function()
    local u = User:findByPk(1)
    u.name = "ann"
    assert.is_false(u:changed())
  end)

  it("sees a value set to nil and a replaced JSON table", function()
    local u = User:findByPk(1)
    u.age = nil
    u.meta = { a = 2 }
    assert.are.same({ "age", "meta" }, u:changed())
  end)

  it("does not flag a JSON table replaced by an equal one", function()
    local u = User:findByPk(1)
    u.meta = { a = 1 }
    assert.is_false(u:changed())
  end)

  it("sees a JSON table edited in place", function()
    local u = User:findByPk(1)
    u.meta.a = 5
    assert.are.same({ "meta" }, u:changed())
  end)

  it("marks an attribute changed with changed(name, true)", function()
    local u = User:findByPk(1)
    u:changed("name", true)
    assert.are.same({ "name" }, u:changed())
  end)

  it("is false again after save", function()
    local u = User:findByPk(1)
    u.age = 10
    u:save()
    assert.is_false(u:changed())
  end)

  it("refuses an unknown attribute name", function()
    local u = User:findByPk(1)
    H.raises("AssocError", "'nope'", u.changed, u, "nope")
  end)
end)

describe("instance:save", function()
  local db, log, User
  before_each(function()
    db, log = H.open()
    User = define(db)
    User:create { name = "ann", age = 3 }
    H.clear(log)
  end)
  after_each(function() db:close() end)

  it("updates only the changed field and updatedAt, by primary key", function()
    local u = User:findByPk(1)
    H.clear(log)
    u.name = "bea"
    u:save()
    assert.are.same({ 'UPDATE "Users" SET "name" = ?, "updatedAt" = ? WHERE "id" = ?' }, log)
    assert.are.equal("bea", db:query('SELECT name FROM "Users" WHERE id = 1')[1].name)
  end)

  it("runs no statement when nothing changed", function()
    local u = User:findByPk(1)
    H.clear(log)
    u:save()
    assert.are.equal(0, #log)
  end)

  it("returns the instance", function()
    local u = User:findByPk(1)
    u.age = 5
    assert.are.equal(u, u:save())
  end)

  it("writes NULL for a field set to nil", function()
    local u = User:findByPk(1)
    u.age = nil
    u:save()
    assert.is_nil(User:findByPk(1).age)
  end)

  it("refreshes updatedAt on the instance", function()
    db:query('UPDATE "Users" SET updatedAt = ?', { "2000-01-01T00:00:00.000Z" })
    local u = User:findByPk(1)
    u.age = 9
    u:save()
    assert.is_true(u.updatedAt > "2000-01-01T00:00:00.000Z")
    assert.are.equal(u.updatedAt, User:findByPk(1).updatedAt)
  end)

  it("saves only the listed fields with fields = {...}", function()
    local u = User:findByPk(1)
    u.name = "bea"
    u.age = 99
    u:save { fields = { "age" } }
    local back = User:findByPk(1)
    assert.are.equal("ann", back.name)
    assert.are.equal(99, back.age)
  end)

  it("refuses an instance loaded without its primary key", function()
    local u = User:findOne { attributes = { "name" } }
    u.name = "x"
    H.raises("AssocError", { "User.save", "primary key" }, u.save, u)
    assert.are.equal("ann", User:findByPk(1).name)
  end)

  it("refuses unknown options", function()
    local u = User:findByPk(1)
    H.raises("AssocError", "'feilds'", u.save, u, { feilds = {} })
  end)
end)

describe("instance:update", function()
  local db, User
  before_each(function()
    db = assoc.open(":memory:")
    User = define(db)
    User:create { name = "ann", age = 3 }
  end)
  after_each(function() db:close() end)

  it("sets the values and saves them", function()
    local u = User:findByPk(1)
    assert.are.equal(u, u:update { name = "bea", age = 4 })
    local back = User:findByPk(1)
    assert.are.equal("bea", back.name)
    assert.are.equal(4, back.age)
  end)

  it("refuses unknown attributes and changes nothing", function()
    local u = User:findByPk(1)
    H.raises("AssocError", "'nope'", u.update, u, { name = "x", nope = 1 })
    assert.are.equal("ann", u.name)
    assert.are.equal("ann", User:findByPk(1).name)
  end)
end)

describe("instance:get and instance:set", function()
  local db, User
  before_each(function()
    db = assoc.open(":memory:")
    User = define(db)
  end)
  after_each(function() db:close() end)

  it("get returns an attribute value", function()
    local u = User:create { name = "ann", age = 3 }
    assert.are.equal("ann", u:get("name"))
    assert.is_nil(u:get("meta"))
  end)

  it("get{ plain = true } returns a plain table", function()
    local u = User:create { name = "ann", age = 3 }
    local t = u:get { plain = true }
    assert.is_nil(getmetatable(t))
    assert.are.equal("ann", t.name)
    assert.are.equal(3, t.age)
  end)

  it("set(name, value) and set{...} assign and return the instance", function()
    local u = User:build { name = "ann" }
    assert.are.equal(u, u:set("age", 5))
    assert.are.equal(5, u.age)
    u:set { name = "bea", age = 6 }
    assert.are.equal("bea", u.name)
    assert.are.equal(6, u.age)
  end)

  it("set with assoc.null stores NULL", function()
    local u = User:create { name = "ann", age = 3 }
    u:set("age", assoc.null)
    assert.is_nil(u.age)
    u:save()
    assert.is_nil(User:findByPk(u.id).age)
  end)

  it("set refuses an unknown attribute, setting nothing", function()
    local u = User:build { name = "ann" }
    H.raises("AssocError", "'nope'", u.set, u, { name = "x", nope = 1 })
    assert.are.equal("ann", u.name)
    H.raises("AssocError", "'nope'", u.set, u, "nope", 1)
  end)

  it("get refuses an unknown attribute", function()
    local u = User:build { name = "ann" }
    H.raises("AssocError", "'nope'", u.get, u, "nope")
  end)
end)

describe("instance:previous", function()
  it("returns the value as last loaded", function()
    local db = assoc.open(":memory:")
    local User = define(db)
    User:create { name = "ann" }
    local u = User:findByPk(1)
    u.name = "bea"
    assert.are.equal("ann", u:previous("name"))
    assert.are.same({ name = "ann" }, u:previous())
    u:save()
    assert.are.equal("bea", u:previous("name"))
    db:close()
  end)
end)

describe("instance:reload", function()
  local db, User
  before_each(function()
    db = assoc.open(":memory:")
    User = define(db)
    User:create { name = "ann", age = 3 }
  end)
  after_each(function() db:close() end)

  it("reads the row back, dropping local changes", function()
    local u = User:findByPk(1)
    db:query('UPDATE "Users" SET age = 40')
    u.name = "local"
    assert.are.equal(u, u:reload())
    assert.are.equal(40, u.age)
    assert.are.equal("ann", u.name)
    assert.is_false(u:changed())
  end)

  it("raises EmptyResultError when the row is gone", function()
    local u = User:findByPk(1)
    db:query('DELETE FROM "Users"')
    H.raises("EmptyResultError", { "User", "id = 1" }, u.reload, u)
  end)
end)

describe("instance:toTable", function()
  local db, User
  before_each(function()
    db = assoc.open(":memory:")
    User = define(db)
  end)
  after_each(function() db:close() end)

  it("returns the values as a plain table without metatables", function()
    local u = User:create { name = "ann", meta = { tags = { "a" } } }
    local t = u:toTable()
    assert.is_nil(getmetatable(t))
    assert.are.equal("ann", t.name)
    assert.are.equal(1, t.id)
    assert.are.same({ tags = { "a" } }, t.meta)
    t.meta.tags[1] = "changed"
    assert.are.equal("a", u.meta.tags[1])
  end)

  it("includes nested instances and arrays of instances", function()
    local a = User:create { name = "a" }
    local b = User:create { name = "b" }
    rawset(a, "Friends", { b })
    rawset(a, "Best", b)
    local t = a:toTable()
    assert.are.equal("b", t.Friends[1].name)
    assert.is_nil(getmetatable(t.Friends[1]))
    assert.are.equal("b", t.Best.name)
    assert.is_nil(getmetatable(t.Best))
  end)
end)

describe("instance:equals", function()
  it("is true for two loads of the same row", function()
    local db = assoc.open(":memory:")
    local User = define(db)
    User:create { name = "a" }
    User:create { name = "b" }
    assert.is_true(User:findByPk(1):equals(User:findByPk(1)))
    assert.is_false(User:findByPk(1):equals(User:findByPk(2)))
    db:close()
  end)
end)
