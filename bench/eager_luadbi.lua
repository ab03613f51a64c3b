-- Phase 2 (eager) of the LuaDBI peer of the benchmark kit (peers/luadbi/bench.lua), alone,
-- on a database the workload has already filled: the hand-written baseline that
-- bench/scaling.sh measures assoc's eager phase against (time and peak memory).
--   BENCH_DB=x.db BENCH_U=10000 BENCH_P=10 lua5.4 bench/eager_luadbi.lua
-- The SQL and the loop are the peer's, unchanged.
local DBI = require("DBI")
local socket = require("socket")

local function param(name, default)
  local v = os.getenv(name)
  return (v and v ~= "") and math.tointeger(tonumber(v)) or default
end
local U, P = param("BENCH_U", 10000), param("BENCH_P", 10)
local path = assert(os.getenv("BENCH_DB"), "set BENCH_DB")
local db = assert(DBI.Connect("SQLite3", path))
db:autocommit(true)
for _, pragma in ipairs { "PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL",
  "PRAGMA foreign_keys=ON", "PRAGMA cache_size=-2000" } do
  local st = assert(db:prepare(pragma)); assert(st:execute()); st:close()
end
if os.getenv("PHASES") == "none" then return end

collectgarbage()
local t0 = socket.gettime()
local users, by_id = {}, {}
local st = assert(db:prepare([[SELECT u.id AS id, u.name AS name, p.id AS post_id, p.title AS title,
                                p.body AS body, p.userId AS userId
                         FROM users u LEFT OUTER JOIN posts p ON p.userId = u.id]]))
assert(st:execute())
for row in st:rows(true) do
  local user = by_id[row.id]
  if not user then
    user = { id = row.id, name = row.name, posts = {} }
    by_id[row.id] = user
    users[#users + 1] = user
  end
  if row.post_id then
    local posts = user.posts
    posts[#posts + 1] = { id = row.post_id, title = row.title, body = row.body, userId = row.userId }
  end
end
st:close()
local n, len = #users, 0
for _, user in ipairs(users) do
  for _, post in ipairs(user.posts) do
    n = n + 1
    len = len + #post.title
  end
end
assert(#users == U and n == U + U * P and len > 0)
io.write(string.format("eager %.6f %d\n", socket.gettime() - t0, n))
