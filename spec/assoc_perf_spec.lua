-- The accessors' fast forms: a belongsToMany has/count reads the junction alone when the
-- junction's foreign key guarantees the target (constraints on, target not paranoid, no
-- target scope or where), and keeps the join with the target otherwise.
local H = require "spec.helpers"
local assoc = H.assoc
local DataTypes = assoc.DataTypes

local function setup(project_opts, assoc_opts)
  local db, log = H.open()
  local User = db:define("User", { name = DataTypes.STRING })
  local Project = db:define("Project", { name = DataTypes.STRING }, project_opts)
  local o = { through = "UserProjects" }
  for k, v in pairs(assoc_opts or {}) do o[k] = v end
  User:belongsToMany(Project, o)
  db:sync()
  local u = User:create { name = "a" }
  local p1 = u:createProject { name = "p1" }
  local p2 = u:createProject { name = "p2" }
  H.clear(log)
  return db, log, u, p1, p2
end

describe("belongsToMany has/count fast forms", function()
  it("read the junction alone when the foreign key guarantees the target", function()
    local db, log, u, p1 = setup()
    assert.is_true(u:hasProject(p1))
    assert.are.equal(2, u:countProjects())
    assert.are.equal(2, #log)
    assert.is_nil(log[1]:find('"Projects"', 1, true))
    assert.truthy(log[1]:find('FROM "UserProjects" WHERE', 1, true))
    assert.is_nil(log[2]:find('"Projects"', 1, true))
    assert.truthy(log[2]:find('SELECT count(*) FROM "UserProjects" WHERE', 1, true))
    -- a where on the target keeps the join
    H.clear(log)
    assert.are.equal(1, u:countProjects { where = { name = "p2" } })
    assert.truthy(log[1]:find('"Projects"', 1, true))
    db:close()
  end)

  it("keep the join with a paranoid target: soft-deleted targets stay hidden", function()
    local db, log, u, p1, p2 = setup({ paranoid = true })
    p1:destroy()
    H.clear(log)
    assert.is_false(u:hasProject(p1))
    assert.is_true(u:hasProject(p2))
    assert.are.equal(1, u:countProjects())
    for _, sql in ipairs(log) do
      assert.truthy(sql:find('INNER JOIN "UserProjects"', 1, true))
    end
    db:close()
  end)

  it("keep the join without constraints (a link may dangle)", function()
    local db, log, u, p1 = setup(nil, { constraints = false })
    db:query('DELETE FROM "Projects" WHERE "id" = ' .. p1.id)
    H.clear(log)
    assert.is_false(u:hasProject(p1))
    assert.are.equal(1, u:countProjects())
    for _, sql in ipairs(log) do
      assert.truthy(sql:find('INNER JOIN "UserProjects"', 1, true))
    end
    db:close()
  end)
end)
