-- Scenarios of the allocation-failure sweep (tests/oom/oom.c, make check-oom).
--
-- Each entry: { name =, needs = function(assoc) -> ok [, reason] (optional: a scenario whose
-- API is missing is reported as SKIP, never as a pass), setup = function(assoc, path) -> env
-- (normal allocator: builds the "old" database in the file at path and returns what the body
-- needs), body = function(env) (allocations fail from the Nth on), check = function(assoc,
-- path) -> "old" | "new" (a fresh connection with the normal allocator; raises when the file
-- is neither), readonly = true (optional: the body must leave the file "old" even when it
-- succeeds) }.
--
-- A body may raise anything clean (an error object, "not enough memory"); it must raise a
-- plain string only through `fail` below, which the harness reports as unclean.  A body that
-- catches an expected error (a ValidationError, its own rollback marker) re-raises anything
-- else, so that an out-of-memory error is never mistaken for the expected one.
--
-- To add a scenario (e.g. when associations land), append an entry; `needs` keeps it
-- skipped on builds where its API does not exist yet.
local S = {}

local function fail(fmt, ...) error(("scenario check failed: " .. fmt):format(...), 0) end

-- Re-raises err unless it is an error object named `name` (or a string equal to `marker`).
local function expect(assoc, err, name, marker)
  if marker ~= nil and err == marker then return end
  if name ~= nil and assoc.is_error(err, name) then return end
  error(err, 0)
end

local function query1(db, sql, params)
  local rows = db:query(sql, params)
  return rows[1]
end

-- PRAGMA integrity_check and foreign_key_check on a fresh connection.
local function integrity(db)
  local r = db:query("PRAGMA integrity_check")
  if #r ~= 1 or r[1].integrity_check ~= "ok" then
    fail("integrity_check: %s", r[1] and tostring(r[1].integrity_check) or "no row")
  end
  local fk = db:query("PRAGMA foreign_key_check")
  if #fk ~= 0 then fail("foreign_key_check: %d rows", #fk) end
end

local function tables(db)
  local set = {}
  for _, row in ipairs(db:query("SELECT name FROM sqlite_master WHERE type = 'table'")) do
    set[row.name] = true
  end
  return set
end

local function define_user(assoc, db)
  local DT = assoc.DataTypes
  return db:define("User", {
    name = { type = DT.STRING, allowNull = false, validate = { len = { 2, 40 } } },
    email = { type = DT.STRING, unique = true, validate = { isEmail = true } },
    age = { type = DT.INTEGER, validate = { min = 0 } },
    prefs = DT.JSON,
    batch = DT.INTEGER,
  })
end

local function define_project(assoc, db)
  local DT = assoc.DataTypes
  return db:define("Project", { title = { type = DT.STRING, allowNull = false }, gen = DT.INTEGER })
end

-- A database with Users (3 rows) and Projects (3 rows).
local function base(assoc, path)
  local db = assoc.open(path)
  local User = define_user(assoc, db)
  local Project = define_project(assoc, db)
  db:sync()
  User:bulkCreate {
    { name = "alice", email = "alice@example.com", age = 30, prefs = { theme = "dark" } },
    { name = "bob", email = "bob@example.com", age = 25 },
    { name = "carol", email = "carol@example.com", age = 41, prefs = { n = { 1, 2 } } },
  }
  Project:bulkCreate { { title = "p1", gen = 0 }, { title = "p2", gen = 0 }, { title = "p3", gen = 0 } }
  return db, User, Project
end

local function count(db, t) return query1(db, ('SELECT count(*) AS n FROM "%s"'):format(t)).n end

-- open + define + sync on a new file: either no table or both, with every column.
S[#S + 1] = {
  name = "open+define+sync",
  setup = function(assoc, path) return { assoc = assoc, path = path } end,
  body = function(env)
    local db = env.assoc.open(env.path)
    define_user(env.assoc, db)
    define_project(env.assoc, db)
    db:sync()
    db:close()
  end,
  check = function(assoc, path)
    local db = assoc.open(path)
    integrity(db)
    local t = tables(db)
    local state
    if not t.Users and not t.Projects then state = "old"
    elseif t.Users and t.Projects then
      local cols = {}
      for _, c in ipairs(db:query('PRAGMA table_info("Users")')) do cols[c.name] = true end
      for _, c in ipairs { "id", "name", "email", "age", "prefs", "batch", "createdAt", "updatedAt" } do
        if not cols[c] then fail("Users has no column %s", c) end
      end
      state = "new"
    else
      fail("sync is half done: Users %s, Projects %s", tostring(t.Users), tostring(t.Projects))
    end
    db:close()
    return state
  end,
}

-- sync({ force = true }) on a database with rows: either the old tables with their rows or
-- new empty ones.
S[#S + 1] = {
  name = "sync-force",
  setup = function(assoc, path)
    local db = base(assoc, path)
    return { db = db }
  end,
  body = function(env) env.db:sync { force = true } end,
  check = function(assoc, path)
    local db = assoc.open(path)
    integrity(db)
    local u, p = count(db, "Users"), count(db, "Projects")
    db:close()
    if u == 3 and p == 3 then return "old" end
    if u == 0 and p == 0 then return "new" end
    fail("Users %d rows, Projects %d rows", u, p)
  end,
}

-- create with validation: a valid row is inserted, an invalid one raises ValidationError.
S[#S + 1] = {
  name = "create+validation",
  setup = function(assoc, path)
    local db, User = base(assoc, path)
    return { assoc = assoc, db = db, User = User }
  end,
  body = function(env)
    local assoc, User = env.assoc, env.User
    local ok, err = pcall(User.create, User, { name = "x", email = "not an email", age = -1 })
    if ok then fail("an invalid row was accepted") end
    expect(assoc, err, "ValidationError")
    local u = User:create { name = "dave", email = "dave@example.com", age = 52,
      prefs = { theme = "light", tags = { "a", "b" } } }
    if type(u.id) ~= "number" or u.name ~= "dave" then fail("create returned %s", tostring(u.id)) end
    ok, err = pcall(User.create, User, { name = "dup", email = "alice@example.com" })
    if ok then fail("a duplicate email was accepted") end
    expect(assoc, err, "UniqueConstraintError")
  end,
  check = function(assoc, path)
    local db = assoc.open(path)
    integrity(db)
    local n = count(db, "Users")
    local bad = query1(db, "SELECT count(*) AS n FROM Users WHERE name IN ('x', 'dup')").n
    local dave = query1(db, "SELECT * FROM Users WHERE name = 'dave'")
    db:close()
    if bad ~= 0 then fail("an invalid row is in the table") end
    if n == 3 and not dave then return "old" end
    if n == 4 and dave and dave.email == "dave@example.com" and dave.age == 52
      and dave.prefs == '{"tags":["a","b"],"theme":"light"}' then
      return "new"
    end
    fail("%d users, dave = %s", n, dave and dave.prefs or "nil")
  end,
}

-- bulkCreate of 25 rows: none or all of them.
local BULK = 25
S[#S + 1] = {
  name = "bulkCreate",
  setup = function(assoc, path)
    local db, User = base(assoc, path)
    return { db = db, User = User }
  end,
  body = function(env)
    local list = {}
    for i = 1, BULK do
      list[i] = { name = "bulk" .. i, email = ("bulk%d@example.com"):format(i), age = i, batch = 7,
        prefs = i % 3 == 0 and { i = i } or nil }
    end
    local out = env.User:bulkCreate(list)
    if #out ~= BULK then fail("bulkCreate returned %d instances", #out) end
  end,
  check = function(assoc, path)
    local db = assoc.open(path)
    integrity(db)
    local n = query1(db, "SELECT count(*) AS n FROM Users WHERE batch = 7").n
    local total = count(db, "Users")
    db:close()
    if n == 0 and total == 3 then return "old" end
    if n == BULK and total == 3 + BULK then return "new" end
    fail("%d of %d bulk rows (%d users)", n, BULK, total)
  end,
}

-- A managed transaction that raises after writing: always rolled back.
S[#S + 1] = {
  name = "transaction-rollback",
  readonly = true,
  setup = function(assoc, path)
    local db, User, Project = base(assoc, path)
    return { assoc = assoc, db = db, User = User, Project = Project }
  end,
  body = function(env)
    local marker = "rollback marker"
    local ok, err = pcall(env.db.transaction, env.db, function()
      env.User:create { name = "erin", email = "erin@example.com" }
      env.Project:update({ gen = 9 }, { where = {} })
      env.User:destroy { where = { name = "bob" } }
      error(marker, 0)
    end)
    if ok then fail("the transaction did not raise") end
    expect(env.assoc, err, nil, marker)
    -- the connection is still usable and the transaction is gone
    if env.User:count() ~= 3 then fail("rolled-back rows are visible") end
  end,
  check = function(assoc, path)
    local db = assoc.open(path)
    integrity(db)
    local u = count(db, "Users")
    local g = query1(db, "SELECT count(*) AS n FROM Projects WHERE gen = 0").n
    local bob = query1(db, "SELECT count(*) AS n FROM Users WHERE name = 'bob'").n
    db:close()
    if u == 3 and g == 3 and bob == 1 then return "old" end
    fail("a rolled-back transaction left users=%d gen0=%d bob=%d", u, g, bob)
  end,
}

-- A managed transaction that commits several statements: all or nothing.
S[#S + 1] = {
  name = "transaction-commit",
  setup = function(assoc, path)
    local db, User, Project = base(assoc, path)
    return { db = db, User = User, Project = Project }
  end,
  body = function(env)
    env.db:transaction(function()
      env.User:create { name = "erin", email = "erin@example.com" }
      env.Project:update({ gen = 1 }, { where = {} })
      local bob = env.User:findOne { where = { name = "bob" } }
      bob:update { age = 26, prefs = { theme = "blue" } }
      env.User:destroy { where = { name = "carol" } }
    end)
  end,
  check = function(assoc, path)
    local db = assoc.open(path)
    integrity(db)
    local u = count(db, "Users")
    local g1 = query1(db, "SELECT count(*) AS n FROM Projects WHERE gen = 1").n
    local bob = query1(db, "SELECT age FROM Users WHERE name = 'bob'")
    local erin = query1(db, "SELECT count(*) AS n FROM Users WHERE name = 'erin'").n
    local carol = query1(db, "SELECT count(*) AS n FROM Users WHERE name = 'carol'").n
    db:close()
    if u == 3 and g1 == 0 and bob.age == 25 and erin == 0 and carol == 1 then return "old" end
    if u == 3 and g1 == 3 and bob.age == 26 and erin == 1 and carol == 0 then return "new" end
    fail("half a transaction: users=%d gen1=%d bob.age=%s erin=%d carol=%d", u, g1,
      tostring(bob.age), erin, carol)
  end,
}

-- findAll with where and order: read-only, and exact when it succeeds.
S[#S + 1] = {
  name = "findAll-where-order",
  readonly = true,
  setup = function(assoc, path)
    local db, User = base(assoc, path)
    return { assoc = assoc, db = db, User = User }
  end,
  body = function(env)
    local Op = env.assoc.Op
    local rows = env.User:findAll {
      where = { age = { [Op.gte] = 25 }, [Op["or"]] = { { name = { [Op.like] = "%o%" } },
        { email = { [Op.endsWith] = "@example.com" } } } },
      order = { { "age", "DESC" }, "name" },
      attributes = { "id", "name", "age", "prefs" },
      limit = 10,
    }
    local names = {}
    for i, r in ipairs(rows) do names[i] = r.name end
    if table.concat(names, ",") ~= "carol,alice,bob" then
      fail("findAll returned %s", table.concat(names, ","))
    end
    if type(rows[1].prefs) ~= "table" or rows[1].prefs.n[2] ~= 2 then
      fail("carol.prefs read back as %s %q, not as the decoded JSON table", type(rows[1].prefs),
        tostring(rows[1].prefs))
    end
    local n = env.User:count { where = { name = { [Op["in"]] = { "alice", "bob", "zed" } } } }
    if n ~= 2 then fail("count returned %s", tostring(n)) end
    n = env.User:count { where = { email = { [Op.endsWith] = "@example.com" },
      name = { [Op.substring] = "o" } } }
    if n ~= 2 then fail("count with LIKE patterns returned %s", tostring(n)) end
  end,
  check = function(assoc, path)
    local db = assoc.open(path)
    integrity(db)
    local u = count(db, "Users")
    db:close()
    if u == 3 then return "old" end
    fail("a read changed the table: %d users", u)
  end,
}

-- Instance save (two changed fields, one UPDATE) and instance destroy, each on its own.
S[#S + 1] = {
  name = "instance-save",
  setup = function(assoc, path)
    local db, User = base(assoc, path)
    return { db = db, User = User }
  end,
  body = function(env)
    local a = env.User:findByPk(1)
    a.age = 31
    a.prefs = { theme = "light" }
    a:save()
  end,
  check = function(assoc, path)
    local db = assoc.open(path)
    integrity(db)
    local a = query1(db, "SELECT age, prefs FROM Users WHERE id = 1")
    db:close()
    if a.age == 30 and a.prefs == '{"theme":"dark"}' then return "old" end
    if a.age == 31 and a.prefs == '{"theme":"light"}' then return "new" end
    fail("alice half saved: age %s prefs %s", tostring(a.age), tostring(a.prefs))
  end,
}

S[#S + 1] = {
  name = "instance-destroy",
  setup = function(assoc, path)
    local db, User = base(assoc, path)
    User:addHook("beforeDestroy", function(inst) inst.age = inst.age end)
    return { db = db, User = User }
  end,
  body = function(env)
    local b = env.User:findOne { where = { name = "bob" } }
    b:destroy()
  end,
  check = function(assoc, path)
    local db = assoc.open(path)
    integrity(db)
    local n = count(db, "Users")
    local bob = query1(db, "SELECT count(*) AS n FROM Users WHERE name = 'bob'").n
    db:close()
    if n == 3 and bob == 1 then return "old" end
    if n == 2 and bob == 0 then return "new" end
    fail("%d users, bob %d", n, bob)
  end,
}

-- ---- associations (skipped until the API exists) -----------------------------------------------
-- Probes the association API end to end on a scratch :memory: database: ok, or false and the
-- reason.  `kind` is "belongsToMany" or "hasMany"; `accessor` a method the instance must have.
local function has_assoc(assoc, kind, accessor)
  local ok, err = pcall(function()
    local db = assoc.open(":memory:")
    local A = db:define("Probe", { name = assoc.DataTypes.STRING })
    local B = db:define("Item", { name = assoc.DataTypes.STRING })
    if type(A[kind]) ~= "function" then error(("Model.%s missing"):format(kind), 0) end
    if kind == "belongsToMany" then A[kind](A, B, { through = "ProbeItems" })
    else A[kind](A, B) end
    db:sync()
    local a = A:create { name = "a" }
    if type(a[accessor]) ~= "function" then error(("instance:%s missing"):format(accessor), 0) end
    db:close()
  end)
  if not ok then return false, "associations not available: " .. tostring(err) end
  return true
end

-- Users and projects linked both ways, alice (user 1) with projects {1, 2}: the setup of the
-- scenarios below that change alice's set.
local function projects_setup(assoc, path)
  local db, User, Project = base(assoc, path)
  User:belongsToMany(Project, { through = "UserProjects" })
  Project:belongsToMany(User, { through = "UserProjects" })
  db:sync()
  local alice = User:findByPk(1)
  alice:setProjects { 1, 2 }
  return { db = db, User = User, Project = Project }
end

-- Their check: alice's set is the old one {1, 2} or the new one {2, 3}.
local function projects_check(assoc, path)
  local db = assoc.open(path)
  integrity(db)
  local ids = {}
  for _, r in ipairs(db:query('SELECT projectId FROM UserProjects WHERE userId = 1 ORDER BY projectId')) do
    ids[#ids + 1] = r.projectId
  end
  db:close()
  local s = table.concat(ids, ",")
  if s == "1,2" then return "old" end
  if s == "2,3" then return "new" end
  fail("the project set of alice is {%s}", s)
end

-- user:setProjects(list): the user's set is the old one or the new one.
S[#S + 1] = {
  name = "setProjects",
  needs = function(assoc) return has_assoc(assoc, "belongsToMany", "setItems") end,
  setup = projects_setup,
  body = function(env)
    local alice = env.User:findByPk(1)
    alice:setProjects { 2, 3 }
    local got = alice:getProjects { order = { "id" } }
    if #got ~= 2 or got[1].id ~= 2 or got[2].id ~= 3 then fail("getProjects after set") end
  end,
  check = projects_check,
}

-- The accessors' one-target calls (the binding's quick paths: has, add, count, get, remove)
-- in one transaction: alice's set is the old one or the new one.
S[#S + 1] = {
  name = "singular-accessors",
  needs = function(assoc) return has_assoc(assoc, "belongsToMany", "setItems") end,
  setup = projects_setup,
  body = function(env)
    local alice = env.User:findByPk(1)
    env.db:transaction(function()
      if alice:hasProject(3) then fail("hasProject(3) before the add") end
      alice:addProject(3)
      if not alice:hasProject(3) then fail("hasProject(3) after the add") end
      if alice:countProjects() ~= 3 then fail("countProjects after the add") end
      if #alice:getProjects() ~= 3 then fail("getProjects after the add") end
      alice:removeProject(1)
    end)
  end,
  check = projects_check,
}

-- findAll with a nested include: read-only, and exact when it succeeds.
S[#S + 1] = {
  name = "findAll-nested-include",
  readonly = true,
  needs = function(assoc)
    local ok, why = has_assoc(assoc, "belongsToMany", "setItems")
    if ok then ok, why = has_assoc(assoc, "hasMany", "createItem") end
    return ok, why
  end,
  setup = function(assoc, path)
    local DT = assoc.DataTypes
    local db, User, Project = base(assoc, path)
    local Task = db:define("Task", { title = DT.STRING })
    User:belongsToMany(Project, { through = "UserProjects" })
    Project:hasMany(Task)
    db:sync()
    User:findByPk(1):setProjects { 1, 2 }
    Project:findByPk(1):createTask { title = "t1" }
    Project:findByPk(1):createTask { title = "t2" }
    return { db = db, User = User, Project = Project, Task = Task }
  end,
  body = function(env)
    local users = env.User:findAll {
      where = { id = 1 },
      include = { { model = env.Project, include = { env.Task } } },
      order = { "id" },
    }
    if #users ~= 1 then fail("%d users", #users) end
    local ps = users[1].Projects
    if type(ps) ~= "table" or #ps ~= 2 then fail("projects not loaded") end
    local tasks = 0
    for _, p in ipairs(ps) do tasks = tasks + #(p.Tasks or {}) end
    if tasks ~= 2 then fail("%d tasks loaded", tasks) end
  end,
  check = function(assoc, path)
    local db = assoc.open(path)
    integrity(db)
    local n = count(db, "UserProjects")
    db:close()
    if n == 2 then return "old" end
    fail("a read changed the junction table: %d rows", n)
  end,
}

-- create with a nested include: the parent and all its children, or nothing.
S[#S + 1] = {
  name = "create-nested-include",
  needs = function(assoc) return has_assoc(assoc, "hasMany", "createItem") end,
  setup = function(assoc, path)
    local DT = assoc.DataTypes
    local db, User = base(assoc, path)
    local Post = db:define("Post", { title = DT.STRING })
    User:hasMany(Post)
    db:sync()
    return { db = db, User = User, Post = Post }
  end,
  body = function(env)
    env.User:create({ name = "nest", email = "nest@example.com",
      Posts = { { title = "a" }, { title = "b" }, { title = "c" } } }, { include = { env.Post } })
  end,
  check = function(assoc, path)
    local db = assoc.open(path)
    integrity(db)
    local u = query1(db, "SELECT count(*) AS n FROM Users WHERE name = 'nest'").n
    local p = count(db, "Posts")
    db:close()
    if u == 0 and p == 0 then return "old" end
    if u == 1 and p == 3 then return "new" end
    fail("nested create half done: %d users, %d posts", u, p)
  end,
}

return S
