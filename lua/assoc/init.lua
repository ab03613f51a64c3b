-- assoc: the Lua face of the engine (require "assoc").  Everything here is the public API of
-- API.md; the work is done by assoc.core (C) and the modules beside this one.
local core = require "assoc.core"
local DataTypes = require "assoc.datatypes"
local Db = require "assoc.db"
local errors = require "assoc.errors"

local assoc = {}

assoc.VERSION = core.VERSION
assoc.null = core.null
assoc.DataTypes = DataTypes
assoc.errors = errors
assoc.is_error = errors.is_error
assoc.open = Db.open

-- Op: core.Op plus aliases for the names that are Lua keywords.  Reading an unknown
-- operator raises, so a typo cannot silently become a nil table key.
local Op = {}
for k, v in pairs(core.Op) do Op[k] = v end
Op.and_, Op.or_, Op.not_, Op.in_ = core.Op["and"], core.Op["or"], core.Op["not"], core.Op["in"]
setmetatable(Op, {
  __index = function(_, k)
    errors.raise("AssocError", "assoc.Op: unknown operator %s", type(k) == "string"
      and ("'" .. k .. "'") or tostring(k))
  end,
  __newindex = function(_, k)
    errors.raise("AssocError", "assoc.Op is read-only (tried to set %s)", tostring(k))
  end,
})
assoc.Op = Op

return assoc
