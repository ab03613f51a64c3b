-- Micro-benchmark of the write path (not a test): the insert phase of the shared workload
-- (bench/workload.lua), split so that the cost of each layer shows.
--
--   lua5.4 bench/insert.lua [mode ...]      (run from the repo root after `make`)
--
-- Modes (default: all of gen, core, bulk, create):
--   gen     only builds the value tables, as the workload does (the floor of any Lua peer)
--   core    gen + the binding's m:insertMany on the same tables (no Lua face)
--   bulk    gen + Model:bulkCreate, as the workload does
--   nobulk  gen + Model:bulkCreate{ ..., validate = false }
--   create  Model:create per row for the users and posts (10x fewer posts), for per-row cost
-- BENCH_U / BENCH_P / BENCH_R / BENCH_M / BENCH_B as in the workload; BENCH_DB (default: a
-- temporary file per mode).  Prints `mode seconds rows`.
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = "build/?.so;" .. package.cpath
local assoc = require("assoc")
local DataTypes = assoc.DataTypes

local clock = os.clock
do
  local ok, socket = pcall(require, "socket")
  if ok and socket.gettime then clock = socket.gettime end
end

local function param(name, default)
  local v = os.getenv(name)
  return (v and v ~= "") and math.tointeger(tonumber(v)) or default
end
local U, P, R = param("BENCH_U", 10000), param("BENCH_P", 10), param("BENCH_R", 1000)
local M, B = param("BENCH_M", 5), param("BENCH_B", 1000)
local LOREM = "lorem ipsum dolor sit amet, consectetur adipiscing elit"

local SCHEMA = {
  "CREATE TABLE users (id INTEGER PRIMARY KEY, name VARCHAR(255) NOT NULL)",
  "CREATE TABLE projects (id INTEGER PRIMARY KEY, name VARCHAR(255) NOT NULL)",
  "CREATE TABLE posts (id INTEGER PRIMARY KEY, title VARCHAR(255) NOT NULL, body TEXT NOT NULL,"
    .. " userId INTEGER NOT NULL REFERENCES users(id))",
  "CREATE INDEX posts_user_id ON posts(userId)",
  "CREATE TABLE user_projects (userId INTEGER NOT NULL REFERENCES users(id), projectId INTEGER"
    .. " NOT NULL REFERENCES projects(id), role VARCHAR(255) NOT NULL DEFAULT 'member',"
    .. " PRIMARY KEY (userId, projectId))",
}

local function setup(path)
  os.remove(path); os.remove(path .. "-wal"); os.remove(path .. "-shm")
  local db = assoc.open{ storage = path }
  db:query("PRAGMA cache_size=-2000")
  for _, s in ipairs(SCHEMA) do db:query(s) end
  local function opts(name) return { tableName = name, timestamps = false } end
  local models = {
    User = db:define("User", {
      id = { type = DataTypes.INTEGER, primaryKey = true },
      name = { type = DataTypes.STRING, allowNull = false },
    }, opts("users")),
    Project = db:define("Project", {
      id = { type = DataTypes.INTEGER, primaryKey = true },
      name = { type = DataTypes.STRING, allowNull = false },
    }, opts("projects")),
    Post = db:define("Post", {
      id = { type = DataTypes.INTEGER, primaryKey = true },
      title = { type = DataTypes.STRING, allowNull = false },
      body = { type = DataTypes.TEXT, allowNull = false },
      userId = { type = DataTypes.INTEGER, allowNull = false },
    }, opts("posts")),
    UserProject = db:define("UserProject", {
      userId = { type = DataTypes.INTEGER, primaryKey = true },
      projectId = { type = DataTypes.INTEGER, primaryKey = true },
      role = { type = DataTypes.STRING, allowNull = false, defaultValue = "member" },
    }, opts("user_projects")),
  }
  local m = models
  m.User:hasMany(m.Post, { foreignKey = { name = "userId", allowNull = false } })
  m.Post:belongsTo(m.User, { foreignKey = { name = "userId", allowNull = false } })
  m.User:belongsToMany(m.Project, { through = m.UserProject })
  m.Project:belongsToMany(m.User, { through = m.UserProject })
  return db, models
end

local makers = {
  { "User", function() return U end, function(u) return { id = u, name = "user" .. u } end },
  { "Project", function() return R end, function(r) return { id = r, name = "project" .. r } end },
  { "Post", function() return U * P end, function(id)
    return { id = id, title = "t" .. id % 10 .. " post " .. id,
             body = "body of post " .. id .. ": " .. LOREM, userId = (id - 1) // P + 1 }
  end },
  { "UserProject", function() return U * M end, function(i)
    local u, k = (i - 1) // M + 1, (i - 1) % M
    return { userId = u, projectId = ((u - 1) * M + k) % R + 1, role = k == 0 and "owner" or "member" }
  end },
}

local sink
local function run(mode)
  local path = os.getenv("BENCH_DB") or os.tmpname()
  local db, models = setup(path)
  local rows = 0
  local per = {}
  collectgarbage()
  local t0 = clock()
  local function each_batch(fn)
    for _, mk in ipairs(makers) do
      local Model, n, make = models[mk[1]], mk[2](), mk[3]
      if mode == "create" and mk[1] == "Post" then n = n // 10 end
      local t1 = clock()
      local batch, size = {}, 0
      for i = 1, n do
        size = size + 1
        batch[size] = make(i)
        if size == B or i == n then
          fn(Model, batch)
          batch, size = {}, 0
        end
      end
      rows = rows + n
      per[#per + 1] = ("%s=%.3f"):format(mk[1], clock() - t1)
    end
  end
  db:transaction(function()
    if mode == "gen" then each_batch(function(_, batch) sink = batch end)
    elseif mode == "core" then each_batch(function(Model, batch) Model._core:insertMany(batch) end)
    elseif mode == "bulk" then each_batch(function(Model, batch) Model:bulkCreate(batch) end)
    elseif mode == "nobulk" then
      each_batch(function(Model, batch) Model:bulkCreate(batch, { validate = false }) end)
    elseif mode == "create" then
      each_batch(function(Model, batch) for i = 1, #batch do Model:create(batch[i]) end end)
    else error("unknown mode " .. mode) end
  end)
  io.write(("%-7s %.4f %d  (%s)\n"):format(mode, clock() - t0, rows, table.concat(per, " ")))
  db:close()
  os.remove(path); os.remove(path .. "-wal"); os.remove(path .. "-shm")
end

local modes = { ... }
if #modes == 0 then modes = { "gen", "core", "bulk", "create" } end
for _, mode in ipairs(modes) do run(mode) end
