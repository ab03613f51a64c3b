-- Checks a database left by a killed tests/crash/workload.lua, through a fresh connection:
-- PRAGMA integrity_check is ok, PRAGMA foreign_key_check is empty, every logical set is
-- all-old or all-new (see workload.lua), and the database takes a write afterwards.
-- Prints one line of figures; exits 1 on any violation.
--   lua5.4 tests/crash/check.lua DB
local assoc = require "assoc"
local path = assert(arg[1], "usage: check.lua DB")

local S = dofile("tests/crash/shape.lua")   -- what workload.lua writes
local G, K, set_for = S.G, S.K, S.set_for

local bad = {}
local function violation(fmt, ...) bad[#bad + 1] = fmt:format(...) end

local db = assoc.open(path)
local function q(sql, params) return db:query(sql, params) end

local ic = q("PRAGMA integrity_check")
if #ic ~= 1 or ic[1].integrity_check ~= "ok" then
  violation("integrity_check: %s", ic[1] and tostring(ic[1].integrity_check) or "no row")
end
local fk = q("PRAGMA foreign_key_check")
if #fk > 0 then
  violation("foreign_key_check: %d rows (first: table %s rowid %s -> %s)", #fk,
    tostring(fk[1].table), tostring(fk[1].rowid), tostring(fk[1].parent))
end

-- groups: every item of a group carries the group's generation, all K slots present
local gens = 0
local groups = q('SELECT id, gen FROM "Groups" ORDER BY id')
if #groups ~= G then violation("%d groups instead of %d", #groups, G) end
for _, grp in ipairs(groups) do
  gens = gens + grp.gen
  local items = q('SELECT count(*) AS n, min(gen) AS lo, max(gen) AS hi, count(DISTINCT slot) AS slots '
    .. 'FROM "Items" WHERE groupId = ?', { grp.id })[1]
  if items.n ~= K or items.slots ~= K or items.lo ~= grp.gen or items.hi ~= grp.gen then
    violation("group %d at gen %d: %d items, %d slots, gens %s..%s", grp.id, grp.gen, items.n,
      items.slots, tostring(items.lo), tostring(items.hi))
  end
end

-- batches: each present batch has exactly `size` rows, idx 1..size
local batches = q('SELECT batch, size, count(*) AS n, count(DISTINCT idx) AS d, min(idx) AS lo, '
  .. 'max(idx) AS hi FROM "Entries" GROUP BY batch, size')
local seen = {}
for _, b in ipairs(batches) do
  if seen[b.batch] then violation("batch %d has two sizes", b.batch) end
  seen[b.batch] = true
  if b.n ~= b.size or b.d ~= b.size or b.lo ~= 1 or b.hi ~= b.size then
    violation("batch %d: %d of %d rows (idx %d..%d)", b.batch, b.n, b.size, b.lo, b.hi)
  end
end

-- associations, when the workload had them
local sets, nested = 0, 0
local have = {}
for _, r in ipairs(q("SELECT name FROM sqlite_master WHERE type = 'table'")) do have[r.name] = true end
if have.UserProjects then
  for _, u in ipairs(q('SELECT id, gen FROM "Users" WHERE gen >= 0')) do
    local ids = {}
    for _, r in ipairs(q('SELECT projectId FROM "UserProjects" WHERE userId = ? ORDER BY projectId',
      { u.id })) do
      ids[#ids + 1] = r.projectId
    end
    local want = table.concat(set_for(u.gen), ",")
    if table.concat(ids, ",") ~= want then
      violation("user %d at gen %d has projects {%s}, expected {%s}", u.id, u.gen,
        table.concat(ids, ","), want)
    end
    sets = sets + u.gen
  end
  for _, u in ipairs(q('SELECT u.id, u.nposts, count(p.id) AS n FROM "Users" u '
    .. 'LEFT JOIN "Posts" p ON p.userId = u.id WHERE u.gen = -1 GROUP BY u.id')) do
    nested = nested + 1
    if u.n ~= u.nposts then
      violation("nested user %d has %d posts, expected %d", u.id, u.n, u.nposts)
    end
  end
end

-- the database takes a write: one more group generation, rolled back
local ok, err = pcall(db.transaction, db, function()
  q('UPDATE "Groups" SET gen = gen WHERE id = 1')
  error("rollback", 0)
end)
if ok or err ~= "rollback" then violation("a write after reopening failed: %s", tostring(err)) end
db:close()

print(("check: integrity ok=%s, fk rows %d, groups %d (total gen %d), batches %d, set gens %d, "
  .. "nested users %d, violations %d"):format(tostring(ic[1] and ic[1].integrity_check == "ok"),
  #fk, #groups, gens, #batches, sets, nested, #bad))
for _, v in ipairs(bad) do print("VIOLATION: " .. v) end
os.exit(#bad == 0 and 0 or 1)
