-- assoc.errors: the error classes of the public API and the one place the Lua face builds
-- error objects.  An error object is a table { name =, message =, ... } whose metatable is
-- core.error_mt, the metatable the binding gives its own errors, so an error raised in C and
-- one raised here look and print the same ("Name: message").
local core = require "assoc.core"

local error_mt = core.error_mt

local errors = {}
local classes = {}        -- name -> class

local class_mt = {}

-- A class is a table { name =, parent = }; calling it, Class.new(message [, fields]) or
-- Class:new(message [, fields]) builds an error object.  `fields` (optional) is copied into
-- the object: errors =, sql =, fields =, ...
local function build(class, message, fields)
  local err = {}
  if fields ~= nil then
    for k, v in pairs(fields) do err[k] = v end
  end
  err.name = class.name
  err.message = message ~= nil and tostring(message) or class.name
  return setmetatable(err, error_mt)
end

class_mt.__call = build

function class_mt.__tostring(class)
  return "assoc.errors." .. class.name
end

local function define(name, parent)
  local class = setmetatable({ name = name, parent = parent }, class_mt)
  class.new = function(first, ...)
    if first == class then return build(class, ...) end
    return build(class, first, ...)
  end
  classes[name] = class
  errors[name] = class
  return class
end

local AssocError = define("AssocError")
local ValidationError = define("ValidationError", AssocError)
define("UniqueConstraintError", ValidationError)
local DatabaseError = define("DatabaseError", AssocError)
define("ForeignKeyConstraintError", DatabaseError)
define("AssociationError", AssocError)
define("ConnectionError", AssocError)
define("EmptyResultError", AssocError)

-- The class named `which` (a name or a class table); raises on anything else.
local function class_of(which)
  if type(which) == "string" then
    local class = classes[which]
    if class then return class end
  elseif getmetatable(which) == class_mt then
    return which
  end
  error(AssocError("assoc.is_error: unknown error class " .. tostring(which)), 2)
end

-- True when `err` is an error object of the engine; with `which`, when its class is `which`
-- or a subclass of it.  An object whose name is no known class counts as a plain AssocError.
function errors.is_error(err, which)
  if type(err) ~= "table" or getmetatable(err) ~= error_mt then return false end
  if which == nil then return true end
  local want = class_of(which)
  local class = classes[err.name] or AssocError
  while class do
    if class == want then return true end
    class = class.parent
  end
  return false
end

-- Builds an error object of class `name` with message string.format(fmt, ...).
function errors.new(name, fmt, ...)
  local class = assert(classes[name], name)
  return class(select("#", ...) > 0 and fmt:format(...) or fmt)
end

-- Raises an error object of class `name` with message string.format(fmt, ...).
function errors.raise(name, fmt, ...)
  error(errors.new(name, fmt, ...), 0)
end

-- Raises a ValidationError listing every item of `items` ({ path =, message =, value =,
-- validatorKey = }); the message joins the items' messages.
function errors.validation(items)
  local msgs = {}
  for i, item in ipairs(items) do msgs[i] = item.message end
  error(ValidationError("Validation error: " .. table.concat(msgs, "; "), { errors = items }), 0)
end

errors.ValidationError = ValidationError
errors.DatabaseError = DatabaseError
errors.AssocError = AssocError
errors.error_mt = error_mt

return errors
