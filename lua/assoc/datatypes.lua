-- assoc.DataTypes: the attribute types of the public API.  A type is a table
-- { key = "STRING", length = n? } whose metatable marks it as a type; the key is the name the
-- core knows it by.  UUIDV4 and NOW are default markers (defaultValue = DataTypes.UUIDV4), not
-- types.
local errors = require "assoc.errors"

local DataTypes = {}

local type_mt = {}
type_mt.__index = type_mt

function type_mt.__tostring(t)
  if t.length then return ("%s(%d)"):format(t.key, t.length) end
  return t.key
end

local marker_mt = {}
marker_mt.__index = marker_mt
function marker_mt.__tostring(m) return m.key end

local function is_count(n)
  return math.type(n) == "integer" and n > 0
    or (type(n) == "number" and n > 0 and n == math.floor(n) and n < 2^31)
end

-- STRING(n): a STRING of length n.  The other types accept being called too (DECIMAL(10, 2),
-- FLOAT(8)), which Sequelize allows; their arguments do not reach SQLite.
function type_mt.__call(t, length, ...)
  if t.key == "STRING" then
    if not is_count(length) then
      errors.raise("AssocError", "DataTypes.STRING: length must be a positive integer, got %s",
        tostring(length))
    end
    return setmetatable({ key = "STRING", length = math.tointeger(length) }, type_mt)
  end
  return setmetatable({ key = t.key, args = { length, ... } }, type_mt)
end

for _, key in ipairs { "STRING", "TEXT", "INTEGER", "BIGINT", "FLOAT", "DOUBLE", "DECIMAL",
                       "BOOLEAN", "DATE", "DATEONLY", "JSON", "BLOB", "UUID" } do
  DataTypes[key] = setmetatable({ key = key }, type_mt)
end

DataTypes.UUIDV4 = setmetatable({ key = "UUIDV4" }, marker_mt)
DataTypes.NOW = setmetatable({ key = "NOW" }, marker_mt)

-- True when v is a type (DataTypes.STRING, DataTypes.STRING(40), ...).
function DataTypes.is_type(v)
  return getmetatable(v) == type_mt
end

-- True when v is a default marker (UUIDV4, NOW).
function DataTypes.is_marker(v)
  return getmetatable(v) == marker_mt
end

-- The type for a core type name ("STRING") and length, for attributes the core added.
function DataTypes.from_key(key, length)
  local base = DataTypes[key]
  if not DataTypes.is_type(base) then return nil end
  if length and length > 0 and key == "STRING" then return base(length) end
  return base
end

return DataTypes
