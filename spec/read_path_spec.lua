-- The read paths' representations (see bench/README.md, "Read paths"): loaded rows share
-- snapshot stores, which are their metatables (instance.lua, bindings/lassoc.h lsnap);
-- eager loading streams the rows of to-many leaves; the singular accessors use the core's
-- one-target statements.  Change tracking, previous values, saves and the accessors'
-- answers stay what they were, across store boundaries and model changes.
local H = require "spec.helpers"
local assoc = H.assoc
local DataTypes = assoc.DataTypes

local function setup()
  local db, log = H.open()
  local U = db:define("U", { name = DataTypes.STRING, age = DataTypes.INTEGER,
    meta = DataTypes.JSON }, { timestamps = false })
  local P = db:define("P", { title = DataTypes.STRING }, { timestamps = false })
  local T = db:define("T", { label = DataTypes.STRING }, { timestamps = false })
  U:hasMany(P)
  U:belongsToMany(T, { through = "UT" })
  T:belongsToMany(U, { through = "UT" })
  db:sync()
  return db, log, U, P, T
end

describe("snapshot stores of loaded rows", function()
  local db, log, U, P, T
  before_each(function() db, log, U, P, T = setup() end)
  after_each(function() db:close() end)

  it("track changes of every row of a result spanning several stores", function()
    for i = 1, 600 do U:create { name = "n" .. i, age = i, meta = { i = i } } end
    local us = U:findAll { order = { "id" } }
    assert.are.equal(600, #us)
    for i, u in ipairs(us) do
      assert.is_false(u:changed(), "row " .. i)
      assert.is_false(u.isNewRecord)
      assert.are.equal(U, getmetatable(u).model)
    end
    us[300].name = "x"
    us[300].meta.i = -1
    assert.are.same({ "meta", "name" }, us[300]:changed())
    assert.are.equal("n300", us[300]:previous("name"))
    assert.are.same({ i = 300 }, us[300]:previous("meta"))
    assert.is_false(us[299]:changed())
    assert.is_false(us[301]:changed())
    us[300]:save()
    assert.is_false(us[300]:changed())
    assert.are.equal("x", U:findByPk(300).name)
    assert.are.equal("tostring", tostring(us[1]):find("^U#1$") and "tostring")
  end)

  it("give a large result one heap witness, collected with it, and a small one none", function()
    -- a result of 8,192 rows or more carries a witness in one store (lassoc.c: the heap is
    -- tidied in the collection that frees the result); smaller results carry none
    local rows = {}
    for i = 1, 8200 do rows[i] = { name = "n" .. i, age = i } end
    U:bulkCreate(rows)
    local function witnesses(list)
      local seen, n = {}, 0
      for _, u in ipairs(list) do
        local store = getmetatable(u)
        if not seen[store] then
          seen[store] = true
          if rawget(store, -2) ~= nil then
            n = n + 1
            assert.are.equal("userdata", type(rawget(store, -2)))
            assert.is_function(getmetatable(rawget(store, -2)).__gc)
          end
        end
      end
      return n
    end
    assert.are.equal(1, witnesses(U:findAll { order = { "id" } }))
    assert.are.equal(1, witnesses(U:findAll { order = { "id" }, limit = 8192 }))
    assert.are.equal(0, witnesses(U:findAll { order = { "id" }, limit = 8191 }))
    local weak = setmetatable({}, { __mode = "v" })
    do
      local us = U:findAll { order = { "id" } }
      for _, u in ipairs(us) do
        local w = rawget(getmetatable(u), -2)
        if w then weak[1] = w end
      end
    end
    assert.is_not_nil(weak[1])
    collectgarbage(); collectgarbage()
    assert.is_nil(weak[1], "the witness goes with its result")
    assert.are.equal(8200, U:count())
  end)

  it("keep a partial select's unloaded attributes unchanged", function()
    for i = 1, 40 do U:create { name = "n" .. i, age = i } end
    local us = U:findAll { attributes = { "id", "name" }, order = { "id" } }
    for _, u in ipairs(us) do assert.is_false(u:changed()) end
    us[20].age = 7
    assert.are.same({ "age" }, us[20]:changed())
  end)

  it("survive reload, destroy and an attribute added after the load", function()
    for i = 1, 20 do P:create { title = "p" .. i } end
    local ps = P:findAll { order = { "id" } }
    ps[3].title = "zz"
    ps[3]:reload()
    assert.are.equal("p3", ps[3].title)
    assert.is_false(ps[3]:changed())
    -- a new foreign key on P after the rows were loaded
    local O = db:define("O", { o = DataTypes.STRING }, { timestamps = false })
    O:hasMany(P)
    db:query('ALTER TABLE "Ps" ADD COLUMN "oId" INTEGER')
    db:sync()
    O:create { o = "x" }
    assert.is_false(ps[7]:changed())
    ps[7].oId = 1
    assert.are.same({ "oId" }, ps[7]:changed())
    ps[7]:save()
    assert.is_false(ps[7]:changed())
    assert.are.equal("p7", ps[7]:previous("title"))
    assert.are.equal(1, ps[7]:previous("oId"))
    assert.is_false(ps[8]:changed())
    ps[9]:destroy()
    assert.are.equal(19, P:count())
  end)

  it("read what a model holds now after an association adds an attribute (SQL memos)", function()
    -- the accessors' fixed-shape statements keep their SQL text once built; a new
    -- attribute on the target or the junction must show in the next call
    local u = U:create { name = "u" }
    u:createP { title = "a" }
    local t = T:create { label = "t" }
    u:addT(t)
    assert.are.same({ "a" }, (function()
      local out = {}
      for i, p in ipairs(u:getPs()) do out[i] = p.title end
      return out
    end)())
    assert.are.equal(1, #u:getTs())
    assert.is_nil(u:getPs()[1].oId)
    local O = db:define("O", { o = DataTypes.STRING }, { timestamps = false })
    O:hasMany(P)
    db:query('ALTER TABLE "Ps" ADD COLUMN "oId" INTEGER')
    db:query('ALTER TABLE "UT" ADD COLUMN "note" VARCHAR(255)')
    db:sync()
    local o = O:create { o = "x" }
    db:query('UPDATE "Ps" SET "oId" = ?', { o.id })
    local ps = u:getPs()
    assert.are.equal(o.id, ps[1].oId, "the getter selects the new column")
    assert.are.equal(1, u:countPs())
    assert.is_true(u:hasP(ps[1]))
    -- the junction gains an attribute through a new definition of its model
    local UT = db.models.UT
    assert.is_not_nil(UT)
    u:removeT(t)
    assert.are.equal(0, u:countTs())
    u:addT(t)
    assert.is_true(u:hasT(t))
    assert.are.equal(1, #u:getTs())
  end)

  it("are recorded as bulkCreate builds rows that nothing changes before the write", function()
    -- explicit keys, no hooks or time stamps: the binding records the snapshots while it
    -- builds the instances (pending stores, saved once the write succeeded)
    local D = db:define("D", {
      id = { type = DataTypes.INTEGER, primaryKey = true },
      name = { type = DataTypes.STRING },
      kind = { type = DataTypes.STRING, defaultValue = "plain" },
      meta = DataTypes.JSON,
    }, { timestamps = false })
    db:sync()
    local rows = {}
    for i = 1, 600 do rows[i] = { id = i, name = (i % 7 == 0) and assoc.null or ("d" .. i) } end
    local ds = D:bulkCreate(rows)
    assert.are.equal(600, #ds)
    for i, d in ipairs(ds) do
      assert.is_false(d.isNewRecord, "row " .. i)
      assert.is_false(d:changed(), "row " .. i)
      assert.are.equal("plain", d.kind)
    end
    assert.is_nil(ds[7].name)
    ds[7].name = "seven"
    assert.are.same({ "name" }, ds[7]:changed())
    assert.is_nil(ds[7]:previous("name"))
    ds[7]:save()
    assert.are.equal("seven", D:findByPk(7).name)
    ds[300].kind = "special"
    assert.are.equal("plain", ds[300]:previous("kind"))
    ds[300]:save()
    assert.is_false(ds[300]:changed())
    assert.are.equal("special", D:findByPk(300).kind)
    -- a JSON value is copied for the snapshot: edits of the table show as changes
    local js = D:bulkCreate { { id = 1001, meta = { a = 1 } }, { id = 1002, meta = { b = 2 } } }
    assert.is_false(js[1]:changed())
    js[1].meta.a = 5
    assert.are.same({ "meta" }, js[1]:changed())
    -- a failed write leaves nothing saved, and the rows can be written again
    local err = H.catch(D.bulkCreate, D, { { id = 2001 }, { id = 1 } })
    assert.are.equal("UniqueConstraintError", err.name)
    assert.is_nil(D:findByPk(2001))
    assert.are.equal(2, #D:bulkCreate { { id = 2001 }, { id = 2002 } })
  end)

  it("are made for bulkCreate's instances, junction rows and included rows", function()
    local us = U:bulkCreate((function()
      local t = {}
      for i = 1, 300 do t[i] = { name = "b" .. i, age = i } end
      return t
    end)())
    for i, u in ipairs(us) do assert.is_false(u:changed(), "bulk row " .. i) end
    us[200].age = -1
    assert.are.equal(200, us[200]:previous("age"))
    us[200]:save()
    assert.are.equal(-1, U:findByPk(us[200].id).age)
    for i = 1, 30 do T:create { label = "t" .. i } end
    for i = 1, 40 do
      us[i]:addTs({ (i % 30) + 1, ((i + 1) % 30) + 1 })
      P:create { title = "p" .. i, uId = us[i].id }
    end
    local got = us[5]:getTs()
    assert.are.equal(2, #got)
    for _, t in ipairs(got) do
      assert.is_false(t:changed())
      assert.is_false(t.UT:changed())
    end
    got[1].label = "changed"
    assert.are.same({ "label" }, got[1]:changed())
    got[1]:save()
    assert.is_false(got[1]:changed())
    local inc = U:findAll { include = { T, P }, order = { "id" }, limit = 50 }
    for _, u in ipairs(inc) do
      assert.is_false(u:changed())
      for _, t in ipairs(u.Ts) do assert.is_false(t:changed() or t.UT:changed()) end
      for _, p in ipairs(u.Ps) do assert.is_false(p:changed()) end
    end
    inc[3].Ps[1].title = "new"
    inc[3].Ps[1]:save()
    assert.are.equal("new", P:findByPk(inc[3].Ps[1].id).title)
  end)
end)

describe("eager loading of to-many leaves", function()
  local db, log, U, P, T
  before_each(function() db, log, U, P, T = setup() end)
  after_each(function() db:close() end)

  it("gives every parent its children in order, and an empty array to the others", function()
    for i = 1, 300 do U:create { name = "u" .. i } end
    for i = 1, 1000 do P:create { title = "p" .. i, uId = (i * 7) % 250 + 1 } end
    H.clear(log)
    local us = U:findAll { include = { P }, order = { "id" } }
    assert.are.equal(2, #H.matching(log, "^SELECT"))
    local n = 0
    for i, u in ipairs(us) do
      assert.are.equal("table", type(u.Ps), "user " .. i)
      local last = 0
      for _, p in ipairs(u.Ps) do
        assert.are.equal(u.id, p.uId)
        assert.truthy(p.id > last)
        last = p.id
        n = n + 1
      end
      if i > 250 then assert.are.equal(0, #u.Ps) end
    end
    assert.are.equal(1000, n)
  end)
end)

describe("singular accessors", function()
  local db, log, U, P, T
  before_each(function() db, log, U, P, T = setup() end)
  after_each(function() db:close() end)

  it("answer as the list forms, one statement each", function()
    local u = U:create { name = "a" }
    local t1, t2 = T:create { label = "x" }, T:create { label = "y" }
    H.clear(log)
    u:addT(t1, { through = {} })
    u:addT(t2.id)
    assert.are.equal(2, #H.matching(log, "^INSERT"))
    assert.is_true(u:hasT(t1))
    assert.is_true(u:hasT(t2.id))
    assert.is_false(u:hasT(999))
    assert.is_true(u:hasTs({ t1, t2 }))
    assert.are.equal(2, u:countTs())
    H.clear(log)
    u:removeT(t1)
    assert.are.equal(1, #log)
    assert.is_false(u:hasT(t1))
    assert.are.equal(1, u:countTs())
    local p = P:create { title = "p" }
    u:addP(p)
    assert.is_true(u:hasP(p))
    u:removeP(p.id)
    assert.is_false(u:hasP(p))
    local err = H.catch(u.hasT, u, U:build { name = "new" })
    assert.are.equal("AssociationError", err.name)
    err = H.catch(u.removeT, u, {})
    assert.are.equal("AssociationError", err.name)
  end)
end)

describe("the accessors' quick paths", function()
  -- the common calls go straight to the core (bindings/lrel.c, rel_q*); anything they do not
  -- take goes to the general path, so answers and errors are the same either way
  local db, log, U, P, T, UT
  before_each(function()
    db, log, U, P, T = setup()
    UT = db.models.UT
  end)
  after_each(function() db:close() end)

  it("take key values that need converting through the general path", function()
    local u = U:create { name = "a" }
    local t = T:create { label = "x" }
    u:addT(t)
    assert.is_true(u:hasT(t.id + 0.0))          -- a float key: converted, not refused
    assert.is_true(u:hasT(tostring(t.id)))      -- a numeric string for an integer key
    local err = H.catch(u.hasT, u, "x")
    assert.are.equal("AssociationError", err.name)
    assert.truthy(err.message:find("U.hasT", 1, true), err.message)
    err = H.catch(u.removeT, u, true)
    assert.are.equal("AssociationError", err.name)
  end)

  it("raise the statement's own error class, once", function()
    local u = U:create { name = "a" }
    H.clear(log)
    local err = H.catch(u.addT, u, 4242)       -- no such T: the junction's foreign key fails
    assert.are.equal("ForeignKeyConstraintError", err.name)
    assert.are.equal(1, #H.matching(log, "^INSERT"), "tried once")
    assert.are.equal(0, u:countTs())
    u:addP(4242)                                 -- hasMany: no such P, nothing to link
    assert.are.equal(0, u:countPs())
  end)

  it("check through values as the general path does", function()
    local u = U:create { name = "a" }
    local t = T:create { label = "x" }
    local err = H.catch(u.addT, u, t, { through = { uId = 9 } })
    assert.are.equal("AssociationError", err.name)
    assert.truthy(err.message:find("key", 1, true), err.message)
    err = H.catch(u.addT, u, t, { through = { nosuch = 1 } })
    assert.are.equal("AssociationError", err.name)
    assert.truthy(err.message:find("nosuch", 1, true), err.message)
    err = H.catch(u.addT, u, t, { through = {}, extra = 1 })
    assert.are.equal("AssociationError", err.name)
    assert.are.equal(0, u:countTs(), "nothing written by a refused call")
  end)

  it("give a closed database's error", function()
    local u = U:create { name = "a" }
    local t = T:create { label = "x" }
    db:close()
    for _, call in ipairs {
      function() return u:getTs() end, function() return u:countTs() end,
      function() return u:hasT(t) end, function() return u:addT(t) end,
      function() return u:removeT(t) end,
    } do
      local err = H.catch(call)
      assert.are.equal("ConnectionError", err.name)
    end
  end)

  it("log every statement they run", function()
    local u = U:create { name = "a" }
    local t = T:create { label = "x" }
    H.clear(log)
    u:addT(t); u:hasT(t); u:countTs(); u:getTs(); u:removeT(t)
    assert.are.equal(5, #log)
  end)
end)
