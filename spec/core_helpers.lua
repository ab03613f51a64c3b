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

return M
