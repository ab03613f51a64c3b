-- The junction instance on a belongsToMany get's rows (project.UserProjects): its values
-- row by row across store chunks, change tracking and save, pairs and toTable, assignment,
-- and the writers that take a target's through values from it.
local H = require "spec.helpers"
local F = require "spec.assoc_fixtures"
local assoc = H.assoc
local DataTypes = assoc.DataTypes

describe("belongsToMany junction instances", function()
  local db, log, User, Project, UserProjects, alice, bob
  before_each(function()
    db, log, User, Project, UserProjects, alice, bob = F.membership()
  end)
  after_each(function() db:close() end)

  -- alice linked to n projects "p1".."pn", role "r<i>", priority i (NULL for every third).
  local function projects(n)
    local ps = {}
    for i = 1, n do ps[i] = { name = "p" .. i } end
    local made = Project:bulkCreate(ps)
    local links = {}
    for i, p in ipairs(made) do
      links[i] = { userId = alice.id, projectId = p.id, role = "r" .. i,
                   priority = i % 3 == 0 and assoc.null or i }
    end
    UserProjects:bulkCreate(links)
    return made
  end

  local function number(p) return tonumber(p.name:sub(2)) end

  it("reads like a field: the junction row's values, the same instance every time", function()
    projects(2)
    local got = alice:getProjects { order = { "id" } }
    local j = got[1].UserProjects
    assert.are.equal(UserProjects, F.model_of(j))
    assert.are.same({ alice.id, got[1].id, "r1", 1 },
      { j.userId, j.projectId, j.role, j.priority })
    assert.is_false(j.isNewRecord)
    assert.are.equal(j, got[1].UserProjects)
    assert.are.equal(j, rawget(got[1], "UserProjects"))
    assert.are.equal(j, got[1]:get("UserProjects"))
    assert.are.equal("r2", got[2]:get("UserProjects").role)
  end)

  it("matches its own row across store chunks, on a first and a repeated call", function()
    projects(600)                  -- more than one store chunk of 256 rows
    for _ = 1, 2 do                -- the first call sizes its stores by guess, the next exactly
      local got = alice:getProjects()
      assert.are.equal(600, #got)
      local bad = 0
      for _, p in ipairs(got) do
        local i, j = number(p), p.UserProjects
        local priority = i
        if i % 3 == 0 then priority = nil end
        if j.projectId ~= p.id or j.userId ~= alice.id or j.role ~= "r" .. i
            or j.priority ~= priority then
          bad = bad + 1
        end
      end
      assert.are.equal(0, bad)
    end
  end)

  it("survives a collection of everything but the row", function()
    projects(300)
    local p = alice:getProjects()[277]
    collectgarbage()
    collectgarbage()
    assert.are.equal("r" .. number(p), p.UserProjects.role)
  end)

  it("shows in pairs and in toTable", function()
    projects(1)
    local p = alice:getProjects()[1]
    local keys = {}
    for k in pairs(p) do keys[#keys + 1] = k end
    table.sort(keys)
    assert.are.same({ "UserProjects", "createdAt", "id", "name", "updatedAt" }, keys)
    local q = alice:getProjects()[1]
    local t = q:toTable().UserProjects
    assert.is_nil(getmetatable(t))
    assert.are.same({ alice.id, q.id, "r1", 1 }, { t.userId, t.projectId, t.role, t.priority })
  end)

  it("tracks its changes and saves them", function()
    projects(2)
    local j = alice:getProjects { order = { "id" } }[2].UserProjects
    assert.is_false(j:changed())
    j.role = "owner"
    assert.are.same({ "role" }, j:changed())
    j:save()
    assert.is_false(j:changed())
    assert.are.same({ "owner", "r1" }, F.col(db, 'SELECT role AS v FROM "UserProjects"'))
  end)

  it("can be replaced or removed by assignment", function()
    projects(2)
    local got = alice:getProjects { order = { "id" } }
    got[1].UserProjects = nil
    assert.is_nil(got[1].UserProjects)
    for k in pairs(got[1]) do assert.are_not.equal("UserProjects", k) end
    got[2].UserProjects = { role = "mine" }
    assert.are.same({ role = "mine" }, got[2].UserProjects)
    local seen
    for k, v in pairs(got[2]) do if k == "UserProjects" then seen = v end end
    assert.are.same({ role = "mine" }, seen)
  end)

  it("gives its values to add and set, as a loaded junction row does (Sequelize)", function()
    projects(2)
    local got = alice:getProjects { order = { "id" } }
    bob:addProject(got[1])                      -- quick-path shape: one target, no options
    bob:addProjects { got[2] }
    assert.are.same({ "r1:1", "r2:2" }, F.col(db,
      'SELECT role || \':\' || priority AS v FROM "UserProjects" WHERE userId = ' .. bob.id ..
      ' ORDER BY projectId'))
    local again = alice:getProjects { order = { "id" } }
    bob:setProjects { again[2] }
    assert.are.same({ "r2" }, F.col(db,
      'SELECT role AS v FROM "UserProjects" WHERE userId = ' .. bob.id))
  end)

  it("is built at once when the junction has a JSON attribute", function()
    local Tag = db:define("Tag", { name = DataTypes.STRING })
    local Tagging = db:define("Tagging", { meta = DataTypes.JSON })
    User:belongsToMany(Tag, { through = Tagging })
    db:sync()
    local t = Tag:create { name = "t" }
    alice:addTag(t, { through = { meta = { a = { 1, 2 } } } })
    local got = alice:getTags()[1]
    assert.is_not_nil(rawget(got, "Tagging"))
    assert.are.same({ a = { 1, 2 } }, got.Tagging.meta)
    got.Tagging.meta.a[3] = 3
    assert.are.same({ "meta" }, got.Tagging:changed())
  end)

  it("does not change the project's own state", function()
    projects(1)
    local p = alice:getProjects()[1]
    local _ = p.UserProjects
    assert.is_false(p:changed())
    p.name = "renamed"
    assert.are.same({ "name" }, p:changed())
    p:save()
    assert.are.equal("renamed", Project:findByPk(p.id).name)
    assert.are.equal("r1", p.UserProjects.role)
  end)
end)
