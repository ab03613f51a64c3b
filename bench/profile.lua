-- Runs read phases of the benchmark workload (bench/workload.lua) against a database that
-- workload.lua has already filled, so that a profiler sees only the phases asked for:
--
--   BENCH_DB=x.db BENCH_SCHEMA=.../schema.sql lua5.4 bench/workload.lua     # fill x.db once
--   PHASES="eager lazy" BENCH_DB=x.db valgrind --tool=callgrind lua5.4 bench/profile.lua
--
-- PHASES: any of eager, lazy, m2m, query (default: all four).  The phase bodies are the
-- ones of workload.lua; REPEAT (default 1) runs each that many times.
local assoc = require("assoc")
local Op = assoc.Op
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
local M, K, Q = param("BENCH_M", 5), param("BENCH_K", 1000), param("BENCH_Q", 1000)
local REPEAT = param("REPEAT", 1)
if K > U then K = U end
local phases = {}
for p in (os.getenv("PHASES") or "eager lazy m2m query"):gmatch("%S+") do phases[p] = true end

local db = assoc.open{ storage = assert(os.getenv("BENCH_DB"), "set BENCH_DB") }
db:query("PRAGMA cache_size=-2000")
-- The models on the prescribed tables, with their associations (bench/models.lua).
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local User, Project, Post = dofile(here .. "/models.lua")(db)

local function report(phase, t0, rows)
  io.write(("%s %.6f %d\n"):format(phase, clock() - t0, rows))
  io.flush()
end
local function sample_ids()
  local ids = {}
  for i = 0, K - 1 do ids[i + 1] = 1 + i * (U // K) end
  return ids
end
local function target_project(u) return ((u - 1) * M + M) % R + 1 end

local run = {}
function run.eager()
  local t0 = clock()
  local users = User:findAll{ include = { Post } }
  local n, len = #users, 0
  for _, user in ipairs(users) do
    local posts = user.Posts
    assert(#posts == P, "every user has its posts")
    for i = 1, #posts do
      n = n + 1
      len = len + #posts[i].title
    end
  end
  assert(#users == U and n == U + U * P and len > 0)
  report("eager", t0, n)
end
function run.lazy()
  local t0 = clock()
  local users = User:findAll{ where = { id = sample_ids() } }
  local n, len = #users, 0
  for _, user in ipairs(users) do
    for _, post in ipairs(user:getPosts()) do n = n + 1; len = len + #post.title end
    for _, project in ipairs(user:getProjects()) do n = n + 1; len = len + #project.name end
  end
  assert(n == K + K * P + K * M and len > 0)
  report("lazy", t0, n)
end
function run.m2m()
  local t0 = clock()
  local ids = sample_ids()
  local users = User:findAll{ where = { id = ids } }
  local targets = {}
  for i, id in ipairs(ids) do targets[i] = target_project(id) end
  local projects = {}
  for _, p in ipairs(Project:findAll{ where = { id = targets } }) do projects[p.id] = p end
  local n = 0
  for _, user in ipairs(users) do
    local project = assert(projects[target_project(user.id)])
    user:addProject(project, { through = { role = "member" } })
    n = n + 1
    assert(user:hasProject(project) == true, "hasProject")
    n = n + 1
    local c = user:countProjects()
    assert(c == M + 1, "countProjects")
    n = n + c
    user:removeProject(project)
    n = n + 1
  end
  report("m2m", t0, n)
end
function run.query()
  local t0 = clock()
  local expect = math.min(100, U * P // 10)
  local n, len = 0, 0
  for i = 0, Q - 1 do
    local posts = Post:findAll{ where = { title = { [Op.like] = ("t%d %%"):format(i % 10) } },
                                order = { { "id", "DESC" } }, limit = 100 }
    assert(#posts == expect)
    for j = 1, #posts do n = n + 1; len = len + #posts[j].title end
  end
  assert(len > 0)
  report("query", t0, n)
end

for _, phase in ipairs { "eager", "lazy", "m2m", "query" } do
  if phases[phase] then
    for _ = 1, REPEAT do collectgarbage(); run[phase]() end
  end
end
db:close()
