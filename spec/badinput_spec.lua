-- Bad input from a script: each case raises an error object with a message naming the
-- culprit, and leaves the database exactly as it was.
local H = require "spec.helpers"
local assoc = H.assoc
local DataTypes = assoc.DataTypes
local Op = assoc.Op

describe("bad input", function()
  local db, log, User
  before_each(function()
    db, log = H.open()
    User = H.user_model(db)
    db:sync()
    User:bulkCreate { { name = "ann", age = 30 }, { name = "bob", age = 40 } }
    H.clear(log)
  end)
  after_each(function() db:close() end)

  -- The table's content, to compare before and after.
  local function snapshot()
    return db:query('SELECT * FROM "Users" ORDER BY id')
  end

  local function unchanged(fn)
    local before = snapshot()
    local err = H.catch(fn)
    assert.are.same(before, snapshot())
    return err
  end

  local function refuses(name, parts, fn)
    local err = unchanged(fn)
    assert.is_true(assoc.is_error(err), "not an error object: " .. tostring(err))
    assert.are.equal(name, err.name, tostring(err))
    for _, p in ipairs(type(parts) == "table" and parts or { parts }) do
      assert.truthy(err.message:find(p, 1, true), err.message .. " lacks " .. p)
    end
    return err
  end

  it("refuses options that are not a table", function()
    refuses("AssocError", { "User.findAll", "number" }, function() User:findAll(5) end)
    refuses("AssocError", { "User.count", "string" }, function() User:count("all") end)
  end)

  it("refuses a model method called with a dot", function()
    refuses("AssocError", "findAll", function() User.findAll { where = {} } end)
    refuses("AssocError", "create", function() User.create { name = "x" } end)
  end)

  it("refuses unknown find options, naming them", function()
    refuses("AssocError", { "User.findAll", "'wher'" }, function()
      User:findAll { wher = { name = "ann" } }
    end)
    refuses("AssocError", { "User.findOne", "'includes'" }, function()
      User:findOne { includes = {} }
    end)
  end)

  it("refuses an unknown column in where", function()
    refuses("AssocError", { "User", "nope" }, function() User:findAll { where = { nope = 1 } } end)
    refuses("AssocError", { "User", "nope" }, function()
      User:destroy { where = { nope = 1 } }
    end)
  end)

  it("refuses an unknown operator", function()
    refuses("AssocError", "'gtt'", function()
      User:findAll { where = { age = { [Op.gtt] = 1 } } }
    end)
  end)

  it("refuses a where that is not a table", function()
    refuses("AssocError", { "User.findAll", "where" }, function()
      User:findAll { where = "name = 'ann'" }
    end)
  end)

  it("refuses an unknown column in order and a bad direction", function()
    refuses("AssocError", { "User.findAll", "'nope'", "order" }, function()
      User:findAll { order = { "nope" } }
    end)
    refuses("AssocError", { "User.findAll", "'UP'" }, function()
      User:findAll { order = { { "name", "UP" } } }
    end)
    refuses("AssocError", { "User.findAll", "order" }, function()
      User:findAll { order = "name; DROP TABLE Users" }
    end)
  end)

  it("refuses an unknown column in attributes and in exclude", function()
    refuses("AssocError", { "User.findAll", "'pass'" }, function()
      User:findAll { attributes = { "id", "pass" } }
    end)
    refuses("AssocError", { "User.findAll", "'pass'" }, function()
      User:findAll { attributes = { exclude = { "pass" } } }
    end)
  end)

  it("refuses non-finite, negative and fractional limits and offsets", function()
    for _, bad in ipairs { 0 / 0, math.huge, -1, 1.5, "10" } do
      refuses("AssocError", { "User.findAll", "limit" }, function()
        User:findAll { limit = bad }
      end)
    end
    refuses("AssocError", { "User.findAll", "offset" }, function()
      User:findAll { offset = -math.huge }
    end)
  end)

  it("refuses a value of the wrong type for a column", function()
    refuses("ValidationError", "User.age", function() User:create { name = "x", age = "old" } end)
    refuses("ValidationError", "User.age", function()
      User:update({ age = {} }, { where = {} })
    end)
  end)

  it("refuses a wrongly typed value in where", function()
    local err = unchanged(function() User:findAll { where = { age = function() end } } end)
    assert.is_true(assoc.is_error(err))
  end)

  it("refuses unknown attributes on create, update, build and set", function()
    refuses("AssocError", "'nmae'", function() User:create { nmae = "x" } end)
    refuses("AssocError", "'nmae'", function() User:update({ nmae = "x" }, { where = {} }) end)
    refuses("AssocError", "'nmae'", function() User:build { nmae = "x" } end)
    local u = User:findByPk(1)
    refuses("AssocError", "'nmae'", function() u:set("nmae", "x") end)
  end)

  it("refuses update and destroy without where", function()
    refuses("AssocError", "where", function() User:update { age = 1 } end)
    refuses("AssocError", "where", function() User:destroy() end)
  end)

  it("refuses unknown options on update, destroy, create and bulkCreate", function()
    refuses("AssocError", "'returning'", function()
      User:update({ age = 1 }, { where = {}, returning = true })
    end)
    refuses("AssocError", "'cascade'", function() User:destroy { where = {}, cascade = true } end)
    refuses("AssocError", "'ignoreDuplicates'", function()
      User:bulkCreate({ { name = "x" } }, { ignoreDuplicates = true })
    end)
  end)

  it("refuses a badly typed boolean option", function()
    refuses("AssocError", { "User.findAll", "paranoid" }, function()
      User:findAll { paranoid = "no" }
    end)
  end)

  it("refuses a constraint violation and keeps the table as it was", function()
    refuses("ValidationError", "User.name cannot be null", function()
      User:create { age = 3 }
    end)
    User:update({ email = "a@x.org" }, { where = { id = 1 } })
    refuses("UniqueConstraintError", nil, function()
      User:update({ email = "a@x.org" }, { where = { id = 2 } })
    end)
  end)

  it("refuses an unsupported raw query parameter", function()
    local err = unchanged(function() db:query("SELECT ?", { function() end }) end)
    assert.is_true(assoc.is_error(err))
  end)

  it("refuses a define with bad attributes and defines nothing", function()
    refuses("AssocError", { "Post.title", "'lenght'" }, function()
      db:define("Post", { title = { type = DataTypes.STRING, lenght = 3 } })
    end)
    assert.is_nil(db.models.Post)
  end)

  it("refuses use after close with ConnectionError", function()
    local u = User:findByPk(1)
    db:close()
    for _, fn in ipairs {
      function() User:findAll() end,
      function() User:create { name = "x" } end,
      function() u:update { name = "x" } end,
      function() u:destroy() end,
      function() u:toTable() end,
      function() db:query("SELECT 1") end,
    } do
      local err = H.catch(fn)
      assert.are.equal("ConnectionError", err.name)
      assert.are.equal("database is closed", err.message)
    end
  end)
end)
