-- Assertions shared by the specs of assoc.core itself (core_spec, assoc_core_spec).
local core = require "assoc.core"
local assert = require "luassert"   -- busted injects it into spec files, not modules

local M = {}

-- The error object raised by fn(...); fails if fn does not raise one.
function M.catch(fn, ...)
  local ok, err = pcall(fn, ...)
  assert(not ok, "expected an error")
  assert(getmetatable(err) == core.error_mt, "not an error object: " .. tostring(err))
  return err
end

-- Asserts fn(...) raises `name` with a message containing each of parts.
function M.raises(name, parts, fn, ...)
  local err = M.catch(fn, ...)
  assert.are.equal(name, err.name, tostring(err))
  if type(parts) == "string" then parts = { parts } end
  for _, p in ipairs(parts or {}) do
    assert(err.message:find(p, 1, true), ("%q does not mention %q"):format(err.message, p))
  end
  return err
end

-- The `key` (default "id") of each row, in order.
function M.ids(rows, key)
  local out = {}
  for i, r in ipairs(rows) do out[i] = r[key or "id"] end
  return out
end

-- Runs fn() `span` + 1 times with the Lua stack ever nearer its limit (LUAI_MAXSTACK), so
-- that the C functions fn calls find no room at each of their steps in turn: the stack
-- is filled with the varargs of nested calls.  Returns how many of the runs of fn raised
-- and how many returned (a sweep meant to cross the limit sees both).
function M.near_stack_limit(fn, span)
  local filler, unpack = {}, table.unpack
  for i = 1, 200000 do filler[i] = false end
  local function room()   -- how many values can still be pushed here (at most #filler)
    local lo, hi = 0, #filler
    while lo < hi do
      local mid = (lo + hi + 1) // 2
      if pcall(unpack, filler, 1, mid) then lo = mid else hi = mid - 1 end
    end
    return lo
  end
  local function attempt(...)   -- holds its varargs below fn's frame
    local ok = pcall(fn)
    return ok
  end
  local function fill(...)
    if pcall(unpack, filler, 1, #filler + span + 1000) then   -- far from the limit
      local raised, returned = fill(unpack(filler))
      return raised, returned
    end
    local r = room()
    if r > span + 1000 then   -- nearer, so that each run below pushes few values
      local raised, returned = fill(unpack(filler, 1, r - span - 1000))
      return raised, returned
    end
    local raised, returned = 0, 0
    for free = span, 0, -1 do
      local n = r - free - 30   -- room left for calling pcall and attempt themselves
      if n > 0 then
        local called, ok = pcall(attempt, unpack(filler, 1, n))
        if called and ok then returned = returned + 1
        elseif called then raised = raised + 1 end
      end
    end
    return raised, returned
  end
  local raised, returned = fill()
  filler = nil
  collectgarbage()
  return raised, returned
end

return M
