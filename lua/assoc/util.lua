-- assoc.util: small helpers shared by the Lua face: option-table checks with messages that
-- name the call at fault, deep copy and comparison of attribute values (JSON tables), and
-- value formatting for messages.
local core = require "assoc.core"
local errors = require "assoc.errors"

local null = core.null

local util = {}

-- A short printable form of v for error messages.
function util.show(v)
  if type(v) == "string" then return ("'%s'"):format(v) end
  if v == null then return "assoc.null" end
  return tostring(v)
end

-- The keys of t, sorted (strings before other keys, each group in order).
function util.sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta == "string" or (tb ~= "string" and ta < tb) end
    if ta == "string" or ta == "number" then return a < b end
    return tostring(a) < tostring(b)
  end)
  return keys
end

-- Checks an options table: nil gives {}; anything but a table, or a key not in `allowed`
-- (a set), raises an AssocError "<where>: unknown option 'key'".  Returns opts.
function util.options(where, opts, allowed)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    errors.raise("AssocError", "%s: options must be a table, got %s", where, type(opts))
  end
  for k in pairs(opts) do
    if not allowed[k] then
      -- name the first unknown key in sorted order (the message does not depend on
      -- traversal order); the common case, all known, sorts nothing
      for _, key in ipairs(util.sorted_keys(opts)) do
        if not allowed[key] then
          errors.raise("AssocError", "%s: unknown option %s", where, util.show(key))
        end
      end
    end
  end
  return opts
end

-- Raises unless v is nil or a boolean.
function util.check_boolean(where, name, v)
  if v ~= nil and type(v) ~= "boolean" then
    errors.raise("AssocError", "%s: option '%s' must be a boolean, got %s", where, name, type(v))
  end
end

-- A set from a list of names.
function util.set(list)
  local s = {}
  for _, k in ipairs(list) do s[k] = true end
  return s
end

-- A deep copy of a value (tables are copied without their metatables; other values as is).
local function deep_copy(v)
  if type(v) ~= "table" then return v end
  local c = {}
  for k, x in pairs(v) do c[k] = deep_copy(x) end
  return c
end
util.deep_copy = deep_copy

-- Structural equality of two attribute values; assoc.null equals nil.
local function deep_equal(a, b)
  if a == null then a = nil end
  if b == null then b = nil end
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  for k, x in pairs(a) do
    if not deep_equal(x, b[k]) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end
util.deep_equal = deep_equal

-- True when v is a non-negative integer (an integral float is fine; NaN and inf are not).
function util.is_count(v)
  if math.type(v) == "integer" then return v >= 0 end
  return type(v) == "number" and v >= 0 and v < 2^63 and v == math.floor(v)
end

return util
