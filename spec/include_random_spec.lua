-- Eager loading against lazy loading: random include trees (seeded, so the same every run)
-- must give what the association getters give one parent at a time, with `required`
-- dropping the parents whose (filtered) children are empty, in a fixed number of statements.
local F = require "spec.include_fixtures"
local H = F.H
local Op = F.assoc.Op

-- Conditions a random include may put on each model (all match some seeded rows).
local WHERES = {
  User = { { name = { [Op.like] = "%a%" } }, { age = { [Op.gte] = 30 } } },
  Post = { { rank = { [Op.gte] = 2 } }, { title = { [Op["in"]] = { "a", "c", "p12", "q13" } } } },
  Comment = { { body = { [Op.ne] = "x" } } },
  Profile = { { bio = { [Op.like] = "%B%" } } },
  Project = { { name = "X" } },
  Tag = { { label = "t2" } },
}
local SKIP = { Task = true }

local rng = 12345
local function rand(n) -- a small LCG: the same trees on every Lua
  rng = (rng * 1103515245 + 12345) % 2147483648
  return rng % n + 1
end

local function random_tree(M, depth)
  local aliases = {}
  for _, as in ipairs(require("assoc.util").sorted_keys(M.associations)) do
    local A = M.associations[as]
    if not SKIP[A.target.name] then aliases[#aliases + 1] = as end
  end
  local out, used = {}, {}
  if #aliases == 0 then return out end
  for _ = 1, rand(3) - 1 + (depth == 1 and 1 or 0) do
    local as = aliases[rand(#aliases)]
    if as and not used[as] then
      used[as] = true
      local A = M.associations[as]
      local node = { association = as }
      local w = WHERES[A.target.name]
      if w and rand(3) == 1 then node.where = w[rand(#w)] end
      local r = rand(4)
      if r == 1 then node.required = true elseif r == 2 then node.required = false end
      if A.target.name == "Post" and rand(4) == 1 then node.paranoid = false end
      if depth < 3 and rand(2) == 1 then node.include = random_tree(A.target, depth + 1) end
      out[#out + 1] = node
    end
  end
  return out
end

-- The children of instance `row` for include node `n` (association A), one getter call.
local function lazy_children(row, A, n)
  local opts = { where = n.where, paranoid = n.paranoid }
  local got = row[A.accessors.get](row, opts)
  if A.isSingleAssociation then return got and { got } or {} end
  return got
end

local function required_of(n)
  if n.required ~= nil then return n.required end
  return n.where ~= nil
end

-- Lazy loading of `rows` (instances of M) with the include nodes: the expected picture, as
-- plain tables of ids: { id =, [alias] = { ... } }.  Returns nil for a row dropped by a
-- required include.
local function lazy(M, row, nodes)
  local out = { id = row.id }
  for _, n in ipairs(nodes) do
    local A = M.associations[n.association]
    local kids = {}
    for _, c in ipairs(lazy_children(row, A, n)) do
      local k = lazy(A.target, c, n.include or {})
      if k then kids[#kids + 1] = k end
    end
    table.sort(kids, function(a, b) return a.id < b.id end)
    if required_of(n) and #kids == 0 then return nil end
    out[n.association] = kids
  end
  return out
end

-- The same picture from an eagerly loaded row.
local function picture(M, row, nodes)
  local out = { id = row.id }
  for _, n in ipairs(nodes) do
    local A = M.associations[n.association]
    local v = row[n.association]
    local list
    if A.isSingleAssociation then
      list = v and { v } or {}
    else
      assert(type(v) == "table", "a many include is an array, never nil")
      list = v
    end
    local kids = {}
    for _, c in ipairs(list) do kids[#kids + 1] = picture(A.target, c, n.include or {}) end
    table.sort(kids, function(a, b) return a.id < b.id end)
    out[n.association] = kids
  end
  return out
end

local function count_many(M, nodes)
  local n = 0
  for _, node in ipairs(nodes) do
    local A = M.associations[node.association]
    if not A.isSingleAssociation then n = n + 1 end
    n = n + count_many(A.target, node.include or {})
  end
  return n
end

describe("random include trees", function()
  local M
  setup(function()
    M = F.open()
    F.seed(M)
    F.more(M)
    M.db:query([[INSERT INTO "PostTags" (postId, tagId, createdAt, updatedAt)
      SELECT id, 1 + id % 2, 'now', 'now' FROM "Posts" WHERE id > 4]])
  end)
  teardown(function() M.db:close() end)

  for i = 1, 60 do
    local roots = { "User", "Post", "Comment", "Project" }
    local root = roots[(i - 1) % #roots + 1]
    local seed = i
    it(("tree #%d on %s matches lazy loading"):format(i, root), function()
      rng = seed * 7919
      local R = M[root]
      local tree = random_tree(R, 1)
      local rows = R:findAll { order = { "id" } }
      local want = {}
      for _, row in ipairs(rows) do
        local p = lazy(R, row, tree)
        if p then want[#want + 1] = p end
      end
      H.clear(M.log)
      local got = R:findAll { include = tree, order = { "id" } }
      local stmts = #M.log
      local pics = {}
      for k, row in ipairs(got) do pics[k] = picture(R, row, tree) end
      assert.are.same(want, pics)
      assert.are.equal(1 + count_many(R, tree), stmts)
      assert.are.equal(#want, R:count { include = tree })
    end)
  end
end)
