-- Run by examples/host.c in `make test`: proves that a C host gets the whole
-- engine from libassoc with no Lua search paths at all.  Speaks TAP.
package.path, package.cpath = "", ""
local n, failed = 0, 0
local function ok(cond, desc)
  n = n + 1
  if not cond then failed = failed + 1 end
  print((cond and "ok " or "not ok ") .. n .. " - host: " .. desc)
end

ok(package.preload["assoc.core"] ~= nil, "assoc.core is preloaded")
ok(package.preload["assoc"] ~= nil, "the Lua face is embedded")
local okreq, assoc = pcall(require, "assoc")
ok(okreq and type(assoc) == "table", "require 'assoc' works with empty search paths")
if not okreq then print("# " .. tostring(assoc)); print("1.." .. n); os.exit(1) end

local db = assoc.open(":memory:")
local User = db:define("User", { name = assoc.DataTypes.STRING }, { timestamps = false })
db:sync()
local alice = User:create{ name = "alice" }
ok(alice.id == 1 and alice.name == "alice", "create returns the instance with its id")
ok(User:count() == 1, "count sees the row")
local found = User:findOne{ where = { name = "alice" } }
ok(found and found.id == alice.id, "findOne finds it")
local errok, err = pcall(User.create, User, { nosuch = 1 })
ok(not errok and type(err) == "table" and err.name ~= nil, "bad input raises an error object: " .. tostring(err))
db:close()
local closedok, cerr = pcall(User.count, User)
ok(not closedok and assoc.is_error(cerr, "ConnectionError"), "use after close raises ConnectionError")
print("1.." .. n)
os.exit(failed == 0 and 0 or 1)
