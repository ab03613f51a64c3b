-- assoc.validate: attribute and model validators.  At define, check_spec turns an attribute's
-- `validate = {...}` into a list of checks (raising on an unknown validator or bad
-- arguments); at write time, run collects every failure of every field -- null violations,
-- wrong Lua types for the column type, failed validators -- into one list of items
-- { path =, message =, value =, validatorKey =, type = } for a single ValidationError.
local core = require "assoc.core"
local errors = require "assoc.errors"

local null = core.null

local validate = {}

-- ---- type checks -----------------------------------------------------------------------
local function is_int(v)
  if math.type(v) == "integer" then return true end
  if type(v) == "number" then return v == math.floor(v) and v > -2^63 and v < 2^63 end
  return type(v) == "string" and v:match("^%s*[-+]?%d+%s*$") ~= nil
end

local function is_finite_number(v)
  return type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge
end

local function is_numeric_string(v)
  return type(v) == "string" and is_finite_number(tonumber(v))
end

-- Per type: a predicate and the phrase for the message.
local type_rules = {
  STRING = { function(v) return type(v) == "string" or is_finite_number(v) end, "a string" },
  INTEGER = { is_int, "an integer" },
  FLOAT = { function(v) return is_finite_number(v) or is_numeric_string(v) end, "a number" },
  BOOLEAN = { function(v) return type(v) == "boolean" end, "a boolean" },
  DATE = { function(v)
    return is_finite_number(v) or (type(v) == "string" and v:match("^%d%d%d%d%-%d%d%-%d%d") ~= nil)
  end, "an ISO-8601 date string or a number of seconds" },
  DATEONLY = { function(v)
    return type(v) == "string" and v:match("^%d%d%d%d%-%d%d%-%d%d$") ~= nil
  end, "a 'YYYY-MM-DD' string" },
  JSON = { function(v)
    local t = type(v)
    return t == "table" or t == "string" or t == "boolean" or is_finite_number(v)
  end, "a JSON value (table, string, number or boolean)" },
  BLOB = { function(v) return type(v) == "string" end, "a string" },
}
type_rules.TEXT = type_rules.STRING
type_rules.UUID = type_rules.STRING
type_rules.DECIMAL = type_rules.STRING
type_rules.BIGINT = type_rules.INTEGER
type_rules.DOUBLE = type_rules.FLOAT

-- nil when v suits the column type `key`, else the message naming Model.attr.
function validate.type_error(model, attr, key, v)
  local rule = type_rules[key]
  if not rule or rule[1](v) then return nil end
  local got = type(v)
  if got == "number" then
    if v ~= v then got = "NaN"
    elseif v == math.huge or v == -math.huge then got = "an infinite number"
    else got = "number " .. tostring(v) end
  elseif got == "string" then
    got = ("string '%s'"):format(#v > 40 and v:sub(1, 37) .. "..." or v)
  end
  return ("%s.%s must be %s (got %s)"):format(model, attr, rule[2], got)
end

-- ---- built-in validators -----------------------------------------------------------------
-- Each: { check = function(value, args) -> boolean, args = function(raw) -> args or nil,
-- errmsg }.  `args` normalizes and checks the define-time argument; returning nil means the
-- argument is bad.
local function flag(raw) if raw == true then return true end end
local function number_arg(raw) if is_finite_number(raw) then return raw end end
local function list_arg(raw)
  if type(raw) ~= "table" then return nil end
  if type(raw[1]) == "table" then raw = raw[1] end   -- Sequelize form: isIn = { { "a", "b" } }
  return raw
end
local function pattern_arg(raw)
  if type(raw) == "table" then raw = raw[1] end
  if type(raw) == "string" and pcall(string.find, "", raw) then return raw end
end

local function str(v) return type(v) == "string" and v or tostring(v) end

local builtin = {
  notEmpty = { flag, function(v) return not str(v):match("^%s*$") end },
  len = { function(raw)
    if type(raw) ~= "table" then return nil end
    local lo, hi = raw[1] or 0, raw[2]
    if not is_finite_number(lo) or (hi ~= nil and not is_finite_number(hi)) then return nil end
    return { lo, hi }
  end, function(v, a)
    local s = str(v)
    local n = utf8.len(s) or #s
    return n >= a[1] and (a[2] == nil or n <= a[2])
  end },
  min = { number_arg, function(v, n) local x = tonumber(v); return x ~= nil and x >= n end },
  max = { number_arg, function(v, n) local x = tonumber(v); return x ~= nil and x <= n end },
  isEmail = { flag, function(v)
    return str(v):match("^[%w%.%%%+%-_]+@[%w%-]+%.[%w%.%-]*%a%a$") ~= nil
      and not str(v):find("..", 1, true)
  end },
  isIn = { list_arg, function(v, list)
    for _, x in ipairs(list) do if x == v or str(x) == str(v) then return true end end
    return false
  end },
  notIn = { list_arg, function(v, list)
    for _, x in ipairs(list) do if x == v or str(x) == str(v) then return false end end
    return true
  end },
  is = { pattern_arg, function(v, pat) return str(v):find(pat) ~= nil end },
  ["not"] = { pattern_arg, function(v, pat) return str(v):find(pat) == nil end },
  isInt = { flag, function(v) return is_int(v) end },
  isFloat = { flag, function(v) return is_finite_number(v) or is_numeric_string(v) end },
  isNumeric = { flag, function(v) return str(v):match("^[-+]?%d+%.?%d*$") ~= nil end },
  isAlpha = { flag, function(v) return str(v):match("^%a+$") ~= nil end },
  isAlphanumeric = { flag, function(v) return str(v):match("^%w+$") ~= nil end },
  isLowercase = { flag, function(v) return str(v) == str(v):lower() end },
  isUppercase = { flag, function(v) return str(v) == str(v):upper() end },
  isUUID = { function(raw) if raw == true or raw == 4 or raw == "all" then return true end end,
    function(v)
      return str(v):lower():match("^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-"
        .. "%x%x%x%x%x%x%x%x%x%x%x%x$") ~= nil
    end },
  isDate = { flag, function(v) return str(v):match("^%d%d%d%d%-%d%d%-%d%d") ~= nil end },
  contains = { function(raw) if type(raw) == "string" then return raw end end,
    function(v, s) return str(v):find(s, 1, true) ~= nil end },
  equals = { function(raw) if raw ~= nil then return raw end end,
    function(v, x) return v == x or str(v) == str(x) end },
}

-- The names of the built-in validators (for messages and specs).
validate.BUILTIN = {}
for k in pairs(builtin) do validate.BUILTIN[#validate.BUILTIN + 1] = k end
table.sort(validate.BUILTIN)

-- Turns an attribute's `validate` table into a sorted list of checks
-- { key =, args =, msg =, fn = }.  Raises naming `where` (e.g. "User.name") on an unknown
-- validator or a bad argument.
function validate.check_spec(where, spec)
  if type(spec) ~= "table" then
    errors.raise("AssocError", "%s: option 'validate' must be a table, got %s", where, type(spec))
  end
  local keys = {}
  for k in pairs(spec) do
    if type(k) ~= "string" then
      errors.raise("AssocError", "%s: validator names must be strings, got %s", where, tostring(k))
    end
    keys[#keys + 1] = k
  end
  table.sort(keys)
  local list = {}
  for _, key in ipairs(keys) do
    local raw, msg = spec[key], nil
    if type(raw) == "function" then
      list[#list + 1] = { key = key, fn = raw }
    elseif raw ~= false then
      local rule = builtin[key]
      if not rule then
        errors.raise("AssocError", "%s: unknown validator '%s'", where, key)
      end
      if type(raw) == "table" and (raw.msg ~= nil or raw.args ~= nil) then
        msg = raw.msg
        if msg ~= nil and type(msg) ~= "string" then
          errors.raise("AssocError", "%s: validator '%s': msg must be a string", where, key)
        end
        raw = raw.args
        if raw == nil then raw = true end
      end
      local args = rule[1](raw)
      if args == nil then
        errors.raise("AssocError", "%s: validator '%s' has a bad argument (%s)", where, key,
          tostring(raw))
      end
      list[#list + 1] = { key = key, args = args, msg = msg, check = rule[2] }
    end
  end
  return list
end

-- Checks the model-level `validate` option: a table name -> function(instance).
function validate.check_model_spec(where, spec)
  if type(spec) ~= "table" then
    errors.raise("AssocError", "%s: option 'validate' must be a table, got %s", where, type(spec))
  end
  local list = {}
  for k, fn in pairs(spec) do
    if type(k) ~= "string" or type(fn) ~= "function" then
      errors.raise("AssocError", "%s: model validator %s must be a function", where, tostring(k))
    end
    list[#list + 1] = { key = k, fn = fn }
  end
  table.sort(list, function(a, b) return a.key < b.key end)
  return list
end

-- The message of an error raised by a custom validator: a string without its position
-- prefix, or an error object's message.
local function message_of(err)
  if type(err) == "table" and err.message ~= nil then return tostring(err.message) end
  local s = tostring(err)
  return (s:gsub("^[^:\n]+:%d+: ", ""))
end

-- Runs a custom validator; nil when it passed, else the failure message.
local function run_custom(fn, value, instance, default)
  local ok, res = pcall(fn, value, instance)
  if not ok then return message_of(res) end
  if res == false then return default end
  return nil
end

local NONE = {}

-- Validates the fields `names` (an array, in the order to report) of `values` (a table
-- attribute name -> value, assoc.null for NULL) against model M.  `instance` is passed to
-- custom validators; `model_checks` true also runs the model-level validators.  Returns the
-- array of failure items (empty when all passed).
function validate.run(M, values, names, instance, model_checks)
  local items = {}
  local raw, validators = M.rawAttributes, M._validators
  for i = 1, #names do
    local name = names[i]
    local attr = raw[name]
    local v = values[name]
    if v == null then v = nil end
    if v == nil then
      if attr.allowNull == false and not attr._nullable_on_write then
        items[#items + 1] = { path = name, message = ("%s.%s cannot be null"):format(M.name, name),
          value = nil, validatorKey = "is_null", type = "notNull violation" }
      end
    else
      local key = attr.type.key
      local rule = type_rules[key]
      local terr = rule and not rule[1](v) and validate.type_error(M.name, name, key, v)
      if terr then
        items[#items + 1] = { path = name, message = terr, value = v, validatorKey = "type",
          type = "Validation error" }
      else
        for _, check in ipairs(validators[name] or NONE) do
          local default = check.msg or ("Validation %s on %s failed"):format(check.key, name)
          local msg
          if check.fn then
            msg = run_custom(check.fn, v, instance, default)
          elseif not check.check(v, check.args) then
            msg = default
          end
          if msg then
            items[#items + 1] = { path = name, message = msg, value = v,
              validatorKey = check.key, type = "Validation error" }
          end
        end
      end
    end
  end
  if model_checks then
    for _, check in ipairs(M._model_validators) do
      local msg = run_custom(check.fn, instance, nil, ("Validation %s failed"):format(check.key))
      if msg then
        items[#items + 1] = { path = check.key, message = msg, value = nil,
          validatorKey = check.key, type = "Validation error" }
      end
    end
  end
  return items
end

return validate
