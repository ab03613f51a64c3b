-- The Lua face at the limits of the Lua state: every kind of call, run again and again with
-- the Lua stack (LUAI_MAXSTACK) or the C-call depth (LUAI_MAXCCALLS) ever nearer its limit,
-- so that each of the engine's steps in turn finds no room.  A call either returns or
-- raises; what is atomic stays all or nothing; the db stays usable.  Under check-asan and
-- check-valgrind the same sweeps look for memory errors and for anything left to a
-- finalizer (which a collection at the C-stack limit cannot run).
local H = require "spec.helpers"
local CH = require "spec.core_helpers"
local assoc = H.assoc
local DT, Op = assoc.DataTypes, assoc.Op

local function setup()
  -- no logger: at the limit, calling it is what fails first (a warning, by design), and the
  -- sweep is for the calls themselves
  local db = assoc.open(":memory:")
  local User = db:define("User", {
    name = DT.STRING,
    meta = DT.JSON,
    age = { type = DT.INTEGER, validate = { min = 0 } },
  })
  local Post = db:define("Post", { title = DT.STRING })
  local Project = db:define("Project", { name = DT.STRING })
  User:hasMany(Post)
  Post:belongsTo(User)
  User:belongsToMany(Project, { through = "UserProjects" })
  Project:belongsToMany(User, { through = "UserProjects" })
  User:addHook("beforeCreate", function(u) u.age = u.age or 1 end)
  db:sync()
  local alice = User:create { name = "alice", meta = { a = { 1, 2, { b = "c" } } } }
  for i = 1, 5 do alice:createPost { title = "t" .. i } end
  local projects = {}
  for i = 1, 3 do
    projects[i] = Project:create { name = "p" .. i }
    alice:addProject(projects[i])
  end
  return { db = db, User = User, Post = Post, Project = Project, alice = alice,
           projects = projects }
end

-- name -> { call = function(s), check = function(s, before) after the sweep (optional) }
local calls = {
  create = { call = function(s) s.User:create { name = "c", meta = { k = { 1, 2, 3 } } } end },
  bulkCreate = {
    call = function(s)
      local rows = {}
      for i = 1, 50 do rows[i] = { name = "b" .. i, meta = { i = i } } end
      s.User:bulkCreate(rows)
    end,
    check = function(s, before)   -- all 50 rows of a call or none
      assert.are.equal(0, (s.User:count() - before.users) % 50)
    end,
  },
  findAll = {
    call = function(s)
      s.User:findAll { where = { name = { [Op.like] = "a%" }, age = { [Op.gte] = 0 } },
        order = { { "name", "DESC" } }, limit = 5 }
    end,
  },
  include = {
    call = function(s)
      local users = s.User:findAll { include = {
        { model = s.Post, where = { title = { [Op.like] = "t%" } } }, s.Project } }
      assert.are.equal(5, #users[1].Posts)
    end,
  },
  count = { call = function(s) s.User:count { include = { s.Post } } end },
  getPosts = { call = function(s) assert.are.equal(5, #s.alice:getPosts()) end },
  getPostsWithOptions = {
    call = function(s)
      s.alice:getPosts { where = { title = { [Op.ne] = "zz" } }, order = { { "title", "ASC" } },
        limit = 3 }
    end,
  },
  getProjects = { call = function(s) assert.are.equal(3, #s.alice:getProjects()) end },
  addHasCountRemove = {
    call = function(s)
      local p = s.Project:create { name = "q" }
      s.alice:addProject(p, { through = {} })
      assert.is_true(s.alice:hasProject(p))
      s.alice:countProjects()
      s.alice:removeProject(p)
    end,
  },
  setProjects = {
    call = function(s)   -- one project, then the two others, ...: each call changes the set
      s.flip = not s.flip
      local want = s.flip and { s.projects[1] } or { s.projects[2], s.projects[3] }
      s.alice:setProjects(want)
      assert.are.equal(#want, s.alice:countProjects())
    end,
    check = function(s)   -- the set of one call or the other, never a mix
      local ids = {}
      for _, p in ipairs(s.alice:getProjects { order = { { "id", "ASC" } } }) do
        ids[#ids + 1] = p.id
      end
      local one, two = { s.projects[1].id }, { s.projects[2].id, s.projects[3].id }
      assert(#ids == 1 and ids[1] == one[1] or #ids == 2 and ids[1] == two[1] and ids[2] == two[2],
        "a mixed set: " .. table.concat(ids, ","))
    end,
  },
  nestedCreate = {
    call = function(s)
      s.User:create({ name = "n", Posts = { { title = "a" }, { title = "b" } } },
        { include = { s.Post } })
    end,
    check = function(s)   -- each user "n" with both of its posts, or not at all
      for _, u in ipairs(s.User:findAll { where = { name = "n" } }) do
        assert.are.equal(2, u:countPosts())
      end
    end,
  },
  transaction = {
    call = function(s)
      s.db:transaction(function()
        s.User:create { name = "t1" }
        s.User:create { name = "t2" }
      end)
    end,
    check = function(s)
      assert.are.equal(s.User:count { where = { name = "t1" } },
        s.User:count { where = { name = "t2" } })
    end,
  },
  save = {
    call = function(s)
      s.alice.name = "alice2"
      s.alice.meta = { z = { 1 } }
      s.alice:save()
      s.alice.name = "alice"
      s.alice:save()
    end,
  },
  update = { call = function(s) s.User:update({ age = 3 }, { where = { name = "alice" } }) end },
  destroy = { call = function(s) s.User:create { name = "d" }:destroy() end },
  query = { call = function(s) s.db:query("SELECT ? AS a, ? AS b", { 1, "x" }) end },
  toJSON = { call = function(s) s.alice:toJSON() end },
}

local names = {}
for name in pairs(calls) do names[#names + 1] = name end
table.sort(names)

-- Runs fn under `depth` nested pcalls (C calls): true when it returned.
local function nested(depth, fn)
  if depth == 0 then
    fn()
    return true
  end
  local ok, err = pcall(nested, depth - 1, fn)
  if not ok then error(err, 0) end
  return true
end

describe("at the limits of the Lua state", function()
  for _, name in ipairs(names) do
    local c = calls[name]
    it(name .. " returns or raises, and leaves the db whole", function()
      local s = setup()
      local before = { users = s.User:count() }
      local raised, returned = CH.near_stack_limit(function() c.call(s) end, 130)
      assert(raised > 0 and returned > 0,
        ("Lua stack: raised %d, returned %d"):format(raised, returned))
      raised, returned = 0, 0
      for depth = 150, 210 do
        if pcall(nested, depth, function() c.call(s) end) then
          returned = returned + 1
        else
          raised = raised + 1
        end
      end
      assert(raised > 0 and returned > 0,
        ("C calls: raised %d, returned %d"):format(raised, returned))
      if c.check then c.check(s, before) end
      assert.are.equal(5, #s.alice:getPosts())
      s.db:close()
      collectgarbage()
    end)
  end
end)
