-- The shared benchmark workload (WORKLOAD.md of the benchmark kit) through assoc's public API,
-- written the way the README teaches: models mapped onto the prescribed tables, associations,
-- bulkCreate, findAll with include, the association accessors, findAll with where/order/limit.
-- The only raw SQL is what the workload prescribes: its schema file and its cache_size pragma.
--
--   BENCH_DB=/tmp/x/bench.db BENCH_SCHEMA=.../schema.sql lua5.4 bench/workload.lua
-- Prints `phase seconds rows_touched` per phase and checks the counts like the other peers.
local assoc = require("assoc")
local Op = assoc.Op

-- A monotonic-enough wall clock: LuaSocket's when installed (make bench installs it),
-- else CPU time (equal to wall time for this single-threaded, CPU-bound workload).
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
local B = param("BENCH_B", 1000)
if K > U then K = U end
local LOREM = "lorem ipsum dolor sit amet, consectetur adipiscing elit"
local path = assert(os.getenv("BENCH_DB"), "set BENCH_DB")
local schema_path = assert(os.getenv("BENCH_SCHEMA"), "set BENCH_SCHEMA")

-- assoc.open sets journal_mode=WAL, synchronous=NORMAL and foreign_keys=ON on files.
local db = assoc.open{ storage = path }
db:query("PRAGMA cache_size=-2000")
do
  local f = assert(io.open(schema_path))
  local ddl = f:read("a"):gsub("%-%-[^\n]*", "")
  f:close()
  for stmt in ddl:gmatch("[^;]+") do
    if stmt:match("%S") then db:query(stmt) end
  end
end
io.write(("# peer=assoc assoc=%s %s sqlite=%s\n"):format(assoc.VERSION, _VERSION:gsub(" ", "="),
  db:query("SELECT sqlite_version() AS v")[1].v))

-- The models on the prescribed tables, with their associations (bench/models.lua).
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local User, Project, Post, UserProject = dofile(here .. "/models.lua")(db)

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

-- Calls Model:bulkCreate on rows made by make(i), i = 1..n, at most B per call.
local function bulk(Model, n, make)
  local batch, size = {}, 0
  for i = 1, n do
    size = size + 1
    batch[size] = make(i)
    if size == B or i == n then
      Model:bulkCreate(batch)
      batch, size = {}, 0
    end
  end
  return n
end

-- phase 1: insert, in one transaction, in FK order
collectgarbage()
do
  local t0 = clock()
  local rows = 0
  db:transaction(function()
    rows = rows + bulk(User, U, function(u) return { id = u, name = "user" .. u } end)
    rows = rows + bulk(Project, R, function(r) return { id = r, name = "project" .. r } end)
    rows = rows + bulk(Post, U * P, function(id)
      return { id = id, title = ("t%d post %d"):format(id % 10, id),
               body = ("body of post %d: %s"):format(id, LOREM), userId = (id - 1) // P + 1 }
    end)
    rows = rows + bulk(UserProject, U * M, function(i)
      local u, k = (i - 1) // M + 1, (i - 1) % M
      return { userId = u, projectId = ((u - 1) * M + k) % R + 1, role = k == 0 and "owner" or "member" }
    end)
  end)
  report("insert", t0, rows)
end
collectgarbage()

-- phase 2: every user with its posts in one call, touching every title
do
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
collectgarbage()

-- phase 3: per-user lazy loads through the accessors
do
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
collectgarbage()

-- phase 4: many-to-many add / has / count / remove, each committing on its own
do
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
collectgarbage()

-- phase 5: filtered, ordered, limited query repeated Q times
do
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

db:close()
