-- A process of make check-concurrency (tests/concurrency/run.sh), run by lua5.4 with the
-- in-tree modules on one WAL database with the default busy timeout.
--   worker.lua init DB N             -- schema: Counters(1 row), Users, Projects (2*N)
--   worker.lua write DB ID N         -- N transactions, each several statements:
--       read the shared counter, create Item(owner = ID, seq = i), update its val, write the
--       counter + 1 (read-modify-write: a read first, then writes), and, when associations exist, add project (ID, i) to the
--       shared user and remove project (ID, i - 2) from it: adds and removes of the two
--       writers touch the same user's junction rows but commute, so the final state does
--       not depend on the interleaving
--   worker.lua read DB DONEFILE      -- snapshots until DONEFILE exists (at most 300 s):
--                                       Counter.n == count(Items) in every one
--   worker.lua check DB N            -- the final state equals the serial result
-- Every call is under pcall: any error (SQLITE_BUSY included) is counted and printed, and
-- makes the process exit 1.
local assoc = require "assoc"
local core = require "assoc.core"
local DT = assoc.DataTypes

local mode, path = arg[1], arg[2]

local function now_ms()
  local s = core.now() -- 2026-11-25T15:19:31.123Z
  local h, m, sec, ms = s:match("T(%d+):(%d+):(%d+)%.(%d+)Z")
  return ((tonumber(h) * 60 + tonumber(m)) * 60 + tonumber(sec)) * 1000 + tonumber(ms)
end

local function has_associations()
  return pcall(function()
    local db = assoc.open(":memory:")
    local A = db:define("Probe", { name = DT.STRING })
    local B = db:define("Item", { name = DT.STRING })
    A:belongsToMany(B, { through = "ProbeItems" })
    db:sync()
    local a = A:create { name = "a" }
    assert(type(a.addItem) == "function" and type(a.removeItem) == "function")
    db:close()
  end)
end

local db = assoc.open(path)
local Counter = db:define("Counter", { n = { type = DT.INTEGER, allowNull = false } },
  { timestamps = false })
local Item = db:define("Item", {
  owner = { type = DT.INTEGER, allowNull = false },
  seq = { type = DT.INTEGER, allowNull = false },
  val = { type = DT.INTEGER, allowNull = false },
})
local assocs = has_associations()
local User, Project
if assocs then
  User = db:define("User", { name = DT.STRING })
  Project = db:define("Project", { owner = DT.INTEGER, seq = DT.INTEGER })
  User:belongsToMany(Project, { through = "UserProjects" })
  Project:belongsToMany(User, { through = "UserProjects" })
end

local errors, first = 0, nil
local function try(f, ...)
  local ok, err = pcall(f, ...)
  if not ok then
    errors = errors + 1
    first = first or err
  end
  return ok
end

if mode == "init" then
  local n = tonumber(arg[3])
  db:sync { force = true }
  db:transaction(function()
    Counter:create { id = 1, n = 0 }
    if assocs then
      User:create { id = 1, name = "shared" }
      local rows = {}
      for w = 1, 2 do for i = 1, n do rows[#rows + 1] = { owner = w, seq = i } end end
      Project:bulkCreate(rows)
    end
  end)
  print("init: " .. (assocs and "with" or "without") .. " associations")
  db:close()
  return
end

if mode == "write" then
  local id, n = tonumber(arg[3]), tonumber(arg[4])
  local user, projects = nil, {}
  if assocs then
    user = User:findByPk(1)
    for _, p in ipairs(Project:findAll { where = { owner = id } }) do projects[p.seq] = p end
  end
  local t0 = now_ms()
  local committed = 0
  for i = 1, n do
    local ok = try(db.transaction, db, function()
      local c = Counter:findByPk(1) -- a read first: a deferred BEGIN would deadlock here
      local it = Item:create { owner = id, seq = i, val = 0 }
      it:update { val = i * 2 + id }
      c:update { n = c.n + 1 }
      if assocs then
        user:addProject(projects[i])
        if i > 2 then user:removeProject(projects[i - 2]) end
      end
    end)
    if ok then committed = committed + 1 end
  end
  local t1 = now_ms()
  db:close()
  print(("writer %d: %d of %d transactions committed (%d statements or more each), %d errors, "
    .. "%d ms, start %d end %d%s"):format(id, committed, n, assocs and 6 or 4, errors, t1 - t0,
    t0, t1, first and (", first error: " .. tostring(first)) or ""))
  os.exit(errors == 0 and committed == n and 0 or 1)
end

if mode == "read" then
  local done = arg[3]
  local t0, snaps, bad = now_ms(), 0, 0
  local function finished()
    local f = io.open(done, "r")
    if f then f:close() return true end
    return now_ms() - t0 > 300000
  end
  repeat
    try(db.transaction, db, function()
      local c = Counter:findByPk(1)
      local items = Item:count()
      if c.n ~= items then bad = bad + 1 end
    end)
    snaps = snaps + 1
  until snaps % 20 == 0 and finished()
  db:close()
  print(("reader: %d snapshots, %d inconsistent, %d errors%s"):format(snaps, bad, errors,
    first and (", first error: " .. tostring(first)) or ""))
  os.exit(errors == 0 and bad == 0 and 0 or 1)
end

if mode == "check" then
  local n = tonumber(arg[3])
  local bad = {}
  local ic = db:query("PRAGMA integrity_check")[1].integrity_check
  if ic ~= "ok" then bad[#bad + 1] = "integrity_check: " .. tostring(ic) end
  local c = Counter:findByPk(1).n
  if c ~= 2 * n then bad[#bad + 1] = ("counter %d, serial result %d"):format(c, 2 * n) end
  local items = Item:count()
  if items ~= 2 * n then bad[#bad + 1] = ("%d items, serial result %d"):format(items, 2 * n) end
  for w = 1, 2 do
    local rows = db:query('SELECT count(*) AS n, count(DISTINCT seq) AS d, sum(val) AS s FROM "Items" '
      .. 'WHERE owner = ?', { w })[1]
    local want = 0
    for i = 1, n do want = want + i * 2 + w end
    if rows.n ~= n or rows.d ~= n or rows.s ~= want then
      bad[#bad + 1] = ("writer %d: %d items, %d distinct, sum %s (serial: %d, %d)"):format(w,
        rows.n, rows.d, tostring(rows.s), n, want)
    end
  end
  local links = "-"
  if assocs then
    -- serial result: each writer's last two projects stay linked
    local got = {}
    for _, p in ipairs(User:findByPk(1):getProjects()) do got[#got + 1] = p.owner .. ":" .. p.seq end
    table.sort(got)
    local want = {}
    for w = 1, 2 do for i = math.max(1, n - 1), n do want[#want + 1] = w .. ":" .. i end end
    table.sort(want)
    links = table.concat(got, " ")
    if links ~= table.concat(want, " ") then
      bad[#bad + 1] = ("shared user's projects {%s}, serial result {%s}"):format(links:sub(1, 120),
        table.concat(want, " "))
      links = links:sub(1, 120) .. (#links > 120 and " ..." or "")
    end
  end
  db:close()
  print(("check: integrity %s, counter %d, items %d, shared user's projects {%s}, %d differences "
    .. "from the serial result"):format(ic, c, items, links, #bad))
  for _, b in ipairs(bad) do print("DIFFERENCE: " .. b) end
  os.exit(#bad == 0 and 0 or 1)
end

error("usage: worker.lua init|write|read|check DB ...")
