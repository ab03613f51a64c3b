local H = require "spec.helpers"
local assoc = H.assoc
local DataTypes = assoc.DataTypes

describe("hooks", function()
  local db, log, User, calls
  before_each(function()
    db, log = H.open()
    calls = {}
    User = db:define("User", {
      name = { type = DataTypes.STRING, allowNull = false },
      age = DataTypes.INTEGER,
    })
    db:sync()
    H.clear(log)
  end)
  after_each(function() db:close() end)

  local function record(name)
    User:addHook(name, function() calls[#calls + 1] = name end)
  end

  it("run in Sequelize's order on create", function()
    for _, n in ipairs { "afterSave", "afterCreate", "beforeSave", "beforeCreate",
                         "afterValidate", "beforeValidate" } do record(n) end
    User:create { name = "a" }
    assert.are.same({ "beforeValidate", "afterValidate", "beforeCreate", "beforeSave",
      "afterCreate", "afterSave" }, calls)
  end)

  it("run the update hooks when saving a loaded instance", function()
    for _, n in ipairs { "beforeCreate", "beforeUpdate", "afterUpdate", "beforeSave",
                         "afterSave" } do record(n) end
    local u = User:create { name = "a" }
    calls = {}
    u.age = 3
    u:save()
    assert.are.same({ "beforeUpdate", "beforeSave", "afterUpdate", "afterSave" }, calls)
  end)

  it("receive the instance and the options", function()
    local got_inst, got_opts
    User:addHook("beforeCreate", function(inst, opts) got_inst, got_opts = inst, opts end)
    local u = User:create({ name = "a" }, { silent = false })
    assert.are.equal(u, got_inst)
    assert.is_table(got_opts)
    assert.is_false(got_opts.silent)
    assert.is_not_nil(got_opts.transaction)
  end)

  it("let a before hook modify the instance before it is written", function()
    User:addHook("beforeCreate", function(inst) inst.name = inst.name:upper() end)
    User:create { name = "ann" }
    assert.are.equal("ANN", db:query('SELECT name FROM "Users"')[1].name)
  end)

  it("abort the create with nothing written when a before hook raises", function()
    User:addHook("beforeSave", function() error("no saving today") end)
    local ok, err = pcall(User.create, User, { name = "a" })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("no saving today", 1, true))
    assert.are.equal(0, H.rows(db, "Users"))
    assert.are.equal(0, #H.matching(log, "^INSERT"))
  end)

  it("roll the insert back when an after hook raises", function()
    User:addHook("afterCreate", function() error("too late") end)
    assert.has_error(function() User:create { name = "a" } end)
    assert.are.equal(1, #H.matching(log, "^INSERT"))
    assert.are.equal("ROLLBACK", log[#log])
    assert.are.equal(0, H.rows(db, "Users"))
  end)

  it("wrap the create in a transaction so hook writes are atomic with it", function()
    local Audit = db:define("Audit", { what = DataTypes.STRING })
    db:sync()
    User:addHook("afterCreate", function(inst, opts)
      Audit:create({ what = "created " .. inst.name }, { transaction = opts.transaction })
    end)
    User:addHook("afterSave", function(inst) if inst.name == "bad" then error("bad") end end)
    User:create { name = "good" }
    pcall(User.create, User, { name = "bad" })
    assert.are.equal(1, H.rows(db, "Users"))
    assert.are.same({ { what = "created good" } }, db:query('SELECT what FROM "Audits"'))
  end)

  it("can be given in define options, one function or several", function()
    local seen = {}
    local P = db:define("Post", { title = DataTypes.STRING }, { hooks = {
      beforeCreate = function() seen[#seen + 1] = "one" end,
      afterCreate = { function() seen[#seen + 1] = "two" end,
                      function() seen[#seen + 1] = "three" end },
    } })
    db:sync()
    P:create { title = "t" }
    assert.are.same({ "one", "two", "three" }, seen)
  end)

  it("run several hooks of one name in the order they were added", function()
    User:addHook("beforeCreate", function() calls[#calls + 1] = 1 end)
    User:addHook("beforeCreate", function() calls[#calls + 1] = 2 end)
    User:beforeCreate(function() calls[#calls + 1] = 3 end)
    User:create { name = "a" }
    assert.are.same({ 1, 2, 3 }, calls)
  end)

  it("refuse an unknown hook name", function()
    H.raises("AssocError", "'beforeCreat'", User.addHook, User, "beforeCreat", function() end)
    H.raises("AssocError", "'afterFoo'", db.define, db, "Post", {},
      { hooks = { afterFoo = function() end } })
  end)

  it("refuse a hook that is not a function", function()
    H.raises("AssocError", "must be a function", User.addHook, User, "beforeCreate", "x")
  end)

  it("can be removed by label", function()
    User:addHook("beforeCreate", "shout", function(inst) inst.name = "SHOUT" end)
    User:removeHook("beforeCreate", "shout")
    assert.are.equal("a", User:create { name = "a" }.name)
    assert.is_false(User:hasHook("beforeCreate"))
  end)

  it("are skipped with hooks = false", function()
    User:addHook("beforeCreate", function() error("should not run") end)
    assert.are.equal("a", User:create({ name = "a" }, { hooks = false }).name)
  end)

  it("run beforeDestroy and afterDestroy around instance:destroy", function()
    record("beforeDestroy")
    record("afterDestroy")
    local u = User:create { name = "a" }
    u:destroy()
    assert.are.same({ "beforeDestroy", "afterDestroy" }, calls)
  end)

  it("keep the row when a destroy hook raises", function()
    User:addHook("afterDestroy", function() error("keep it") end)
    local u = User:create { name = "a" }
    assert.has_error(function() u:destroy() end)
    assert.are.equal(1, H.rows(db, "Users"))
  end)

  it("run beforeBulkCreate and afterBulkCreate with the instances", function()
    local before_n, after_ids
    User:addHook("beforeBulkCreate", function(insts) before_n = #insts end)
    User:addHook("afterBulkCreate", function(insts)
      after_ids = { insts[1].id, insts[2].id }
    end)
    User:bulkCreate { { name = "a" }, { name = "b" } }
    assert.are.equal(2, before_n)
    assert.are.same({ 1, 2 }, after_ids)
  end)

  it("let beforeBulkCreate change the rows", function()
    User:addHook("beforeBulkCreate", function(insts)
      for _, i in ipairs(insts) do i.age = 7 end
    end)
    User:bulkCreate { { name = "a" }, { name = "b" } }
    assert.are.equal(2, User:count { where = { age = 7 } })
  end)

  it("run per-row create hooks in bulkCreate with individualHooks", function()
    record("beforeCreate")
    record("afterCreate")
    User:bulkCreate({ { name = "a" }, { name = "b" } }, { individualHooks = true })
    assert.are.same({ "beforeCreate", "beforeCreate", "afterCreate", "afterCreate" }, calls)
  end)

  it("run the bulk update and destroy hooks with the options", function()
    local got = {}
    User:addHook("beforeBulkUpdate", function(o) got.update = o.attributes.age end)
    User:addHook("afterBulkDestroy", function(o) got.destroy = o.where.name end)
    User:create { name = "a" }
    User:update({ age = 5 }, { where = { name = "a" } })
    User:destroy { where = { name = "a" } }
    assert.are.same({ update = 5, destroy = "a" }, got)
  end)

  it("do not run for a save that changes nothing", function()
    record("beforeSave")
    local u = User:create { name = "a" }
    calls = {}
    u:save()
    assert.are.same({}, calls)
  end)
end)
