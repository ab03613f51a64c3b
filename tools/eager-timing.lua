-- Timing of the eager phase of the benchmark (not a test): U users x P posts in :memory:,
-- `User:findAll{ include = { Post } }` touching every post title, beside plain m:find of the
-- same rows (users, then posts) with instances, as the engine builds them.
--   LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/?.so;;' lua5.4 tools/eager-timing.lua [U] [P] [runs]
local assoc = require "assoc"
local STATE = require("assoc.instance").STATE
local DT = assoc.DataTypes
local U, P, RUNS = tonumber(arg[1]) or 10000, tonumber(arg[2]) or 10, tonumber(arg[3]) or 5
local LOREM = "lorem ipsum dolor sit amet, consectetur adipiscing elit"

local db = assoc.open(":memory:")
local User = db:define("User", { name = { type = DT.STRING, allowNull = false } },
  { tableName = "users", timestamps = false })
local Post = db:define("Post", { title = { type = DT.STRING, allowNull = false },
  body = { type = DT.TEXT, allowNull = false } }, { tableName = "posts", timestamps = false })
User:hasMany(Post, { foreignKey = "userId" })
db:sync()
db:query("CREATE INDEX posts_user_id ON posts (userId)")
db:transaction(function()
  local rows = {}
  for u = 1, U do rows[u] = { id = u, name = "user" .. u } end
  User._core:insertMany(rows)
  rows = {}
  for id = 1, U * P do
    rows[id] = { id = id, title = ("t%d post %d"):format(id % 10, id),
      body = ("body of post %d: %s"):format(id, LOREM), userId = (id - 1) // P + 1 }
  end
  Post._core:insertMany(rows)
end)

local function median(t)
  table.sort(t)
  return t[(#t + 1) // 2]
end

local eager, plain = {}, {}
for _ = 1, RUNS do
  collectgarbage()
  local t0 = os.clock()
  local users = User:findAll { include = { Post } }
  local n, len = #users, 0
  for _, user in ipairs(users) do
    local posts = user.Posts
    for i = 1, #posts do n = n + 1; len = len + #posts[i].title end
  end
  eager[#eager + 1] = os.clock() - t0
  assert(n == U + U * P and len > 0)
  users = nil
  collectgarbage()
  t0 = os.clock()
  local us = User._core:find({}, User._mt, STATE)
  local ps = Post._core:find({}, Post._mt, STATE)
  n, len = #us, 0
  for i = 1, #ps do n = n + 1; len = len + #ps[i].title end
  plain[#plain + 1] = os.clock() - t0
  assert(n == U + U * P)
end
print(("eager  User:findAll{ include = { Post } }  %d rows  median %.3f s  (runs: %s)"):format(
  U + U * P, median(eager), table.concat((function()
    local t = {} for i, x in ipairs(eager) do t[i] = ("%.3f"):format(x) end return t end)(), " ")))
print(("plain  m:find users + m:find posts         %d rows  median %.3f s"):format(
  U + U * P, median(plain)))
