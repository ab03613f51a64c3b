-- The workload of make check-crash (tests/crash/run.sh), run by lua5.4 with the in-tree
-- modules.  Every write is one transaction that moves a whole logical set from one
-- generation to the next, so that a database cut at any moment can be judged all-old or
-- all-new by tests/crash/check.lua:
--   groups   Groups(gen) and their K Items(groupId -> Groups, gen): a transaction reads the
--            group, rewrites every item (an UPDATE, or a DELETE + bulkCreate of the K rows)
--            and the group to gen + 1: every item of a group has the group's gen.
--   batches  Entries(batch, size, idx): one bulkCreate (atomic on its own) of `size` rows, and
--            single-statement deletes of old batches: a batch present has all its rows.
--   sets     (when associations exist) user:setProjects(set_for(gen + 1)) and the user's gen
--            in one transaction: the user's junction rows are exactly set_for(user.gen).
--   nested   (when associations exist) User:create({ ..., Posts = {n posts} },
--            { include = { Post } }): a user made that way has exactly nposts posts (the
--            oldest such user and its posts are destroyed in one transaction now and then).
--   lua5.4 tests/crash/workload.lua init DB [journal]   -- schema and first generation
--   lua5.4 tests/crash/workload.lua run DB SEED [journal] -- loops until killed
local assoc = require "assoc"
local DT = assoc.DataTypes

local mode, path = arg[1], arg[2]
local seed = tonumber(arg[3]) or 1
local journal = (mode == "init" and arg[3]) or arg[4] or "wal"

local S = dofile("tests/crash/shape.lua")   -- G, K, NPROJ, NUSERS, set_for
local G, K, NPROJ, NUSERS, set_for = S.G, S.K, S.NPROJ, S.NUSERS, S.set_for

-- Can this build do associations end to end?  (probe on a scratch :memory: db)
local function has_associations()
  local ok = pcall(function()
    local db = assoc.open(":memory:")
    local A = db:define("Probe", { name = DT.STRING })
    local B = db:define("Item", { name = DT.STRING })
    A:belongsToMany(B, { through = "ProbeItems" })
    A:hasMany(db:define("Child", { name = DT.STRING }))
    db:sync()
    local a = A:create { name = "a" }
    assert(type(a.setItems) == "function" and type(a.createChild) == "function")
    db:close()
  end)
  return ok
end

local db = assoc.open(path)
if journal == "delete" then db:query("PRAGMA journal_mode=DELETE") end

local Group = db:define("Group", { gen = { type = DT.INTEGER, allowNull = false } },
  { timestamps = false })
local Item = db:define("Item", {
  groupId = { type = DT.INTEGER, allowNull = false },
  slot = { type = DT.INTEGER, allowNull = false },
  gen = { type = DT.INTEGER, allowNull = false },
}, { timestamps = false })
local Entry = db:define("Entry", {
  batch = { type = DT.INTEGER, allowNull = false },
  size = { type = DT.INTEGER, allowNull = false },
  idx = { type = DT.INTEGER, allowNull = false },
}, { timestamps = false })

local assocs = has_associations()
local User, Project, Post
if assocs then
  User = db:define("User", { name = DT.STRING, gen = DT.INTEGER, nposts = DT.INTEGER })
  Project = db:define("Project", { title = DT.STRING })
  Post = db:define("Post", { title = DT.STRING })
  User:belongsToMany(Project, { through = "UserProjects" })
  Project:belongsToMany(User, { through = "UserProjects" })
  User:hasMany(Post)
end

if mode == "init" then
  -- Items carries a real foreign key, so that foreign_key_check has something to check.
  db:query([[CREATE TABLE IF NOT EXISTS "Items" ("id" INTEGER PRIMARY KEY AUTOINCREMENT,
    "groupId" INTEGER NOT NULL REFERENCES "Groups" ("id") ON DELETE CASCADE,
    "slot" INTEGER NOT NULL, "gen" INTEGER NOT NULL)]])
  db:sync()
  db:transaction(function()
    for g = 1, G do
      Group:create { id = g, gen = 0 }
      local rows = {}
      for s = 1, K do rows[s] = { groupId = g, slot = s, gen = 0 } end
      Item:bulkCreate(rows)
    end
    if assocs then
      for p = 1, NPROJ do Project:create { title = "p" .. p } end
      for u = 1, NUSERS do
        local user = User:create { name = "u" .. u, gen = 0, nposts = 0 }
        user:setProjects(set_for(0))
      end
    end
  end)
  db:close()
  print("init: " .. (assocs and "with" or "without") .. " associations")
  return
end

assert(mode == "run", "usage: workload.lua init|run DB [SEED]")
math.randomseed(seed)

local ops = {}
ops[#ops + 1] = function() -- rewrite a group in place
  local g = math.random(G)
  db:transaction(function()
    local grp = Group:findByPk(g)
    local gen = grp.gen + 1
    Item:update({ gen = gen }, { where = { groupId = g } })
    grp:update { gen = gen }
  end)
end
ops[#ops + 1] = function() -- replace a group's rows
  local g = math.random(G)
  db:transaction(function()
    local grp = Group:findByPk(g)
    local gen = grp.gen + 1
    Item:destroy { where = { groupId = g } }
    local rows = {}
    for s = 1, K do rows[s] = { groupId = g, slot = s, gen = gen } end
    Item:bulkCreate(rows)
    grp:update { gen = gen }
  end)
end
local nbatch = 0
ops[#ops + 1] = function() -- a batch, and the removal of an old one
  local size = math.random(5, 40)
  local rows = {}
  -- unique per run (seed) and per batch: a random id could repeat within a run, and the
  -- check would then see one batch of two sizes
  nbatch = nbatch + 1
  local b = seed * 1000000 + nbatch
  for i = 1, size do rows[i] = { batch = b, size = size, idx = i } end
  Entry:bulkCreate(rows)
  local old = Entry:findOne { order = { "id" } }
  if old and Entry:count() > 400 then Entry:destroy { where = { batch = old.batch } } end
end
if assocs then
  ops[#ops + 1] = function() -- replace a user's project set
    local u = math.random(NUSERS)
    db:transaction(function()
      local user = User:findByPk(u)
      local gen = user.gen + 1
      user:setProjects(set_for(gen))
      user:update { gen = gen }
    end)
  end
  ops[#ops + 1] = function() -- a nested create
    local n = math.random(0, 5)
    local posts = {}
    for i = 1, n do posts[i] = { title = "t" .. i } end
    User:create({ name = "nested", gen = -1, nposts = n, Posts = posts }, { include = { Post } })
    if User:count { where = { gen = -1 } } > 200 then -- keep the table small
      local old = User:findOne { where = { gen = -1 }, order = { "id" } }
      db:transaction(function()
        Post:destroy { where = { userId = old.id } }
        old:destroy()
      end)
    end
  end
end

local done = 0
while true do
  ops[math.random(#ops)]()
  done = done + 1
  if done % 50 == 0 then io.stdout:write(".") io.stdout:flush() end
end
