-- Shared helpers for the busted specs of the Lua face.
local assoc = require "assoc"

local H = {}

H.assoc = assoc

-- Opens a :memory: db (or opts.storage) whose statements are recorded in the returned log
-- array; H.clear(log) empties it.
function H.open(opts)
  local log = {}
  local o = { storage = ":memory:", logging = function(sql) log[#log + 1] = sql end }
  for k, v in pairs(opts or {}) do o[k] = v end
  return assoc.open(o), log
end

function H.clear(log)
  for i = #log, 1, -1 do log[i] = nil end
end

-- Calls fn(...) and returns the error it raises; fails when it does not raise.
function H.catch(fn, ...)
  local ok, err = pcall(fn, ...)
  assert(not ok, "expected an error, got none")
  return err
end

-- Asserts that fn(...) raises an error object named `name` whose message contains every
-- string of `parts` (a string or an array); returns the error.
function H.raises(name, parts, fn, ...)
  local err = H.catch(fn, ...)
  assert(assoc.is_error(err), "expected an error object, got " .. tostring(err))
  assert(err.name == name, ("expected %s, got %s"):format(name, tostring(err)))
  if type(parts) == "string" then parts = { parts } end
  for _, p in ipairs(parts or {}) do
    assert(tostring(err.message):find(p, 1, true),
      ("message %q does not mention %q"):format(tostring(err.message), p))
  end
  return err
end

-- The number of rows of a table, read with raw SQL.
function H.rows(db, table_name)
  return db:query(('SELECT count(*) AS n FROM "%s"'):format(table_name))[1].n
end

-- A fresh temporary path for a file database (with its -wal/-shm removed by H.remove).
function H.tmpdb()
  local path = os.tmpname()
  os.remove(path)
  return path .. ".db"
end

function H.remove(path)
  for _, suffix in ipairs { "", "-wal", "-shm", "-journal" } do os.remove(path .. suffix) end
end

-- Statements of log that match the Lua pattern.
function H.matching(log, pattern)
  local out = {}
  for _, sql in ipairs(log) do if sql:find(pattern) then out[#out + 1] = sql end end
  return out
end

-- Wall-clock milliseconds (within a day), from the engine's clock.
function H.now_ms()
  local h, m, s, ms = require("assoc.core").now():match("T(%d+):(%d+):(%d+)%.(%d+)")
  return ((tonumber(h) * 60 + tonumber(m)) * 60 + tonumber(s)) * 1000 + tonumber(ms)
end

-- A standard User model (not synced).
function H.user_model(db, extra_opts)
  local DataTypes = assoc.DataTypes
  return db:define("User", {
    name = { type = DataTypes.STRING, allowNull = false },
    email = { type = DataTypes.STRING, unique = true },
    age = DataTypes.INTEGER,
  }, extra_opts)
end

return H
