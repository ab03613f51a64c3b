-- assoc.hooks: the per-model hook registry.  Each model has a table hook name -> array of
-- { name =, fn = }, run in the order they were added.  A hook that raises aborts the
-- operation; the caller runs writes inside a transaction so nothing is left behind.
local errors = require "assoc.errors"

local hooks = {}

-- Every hook name a model accepts, in Sequelize's spelling.
hooks.NAMES = {
  "beforeValidate", "afterValidate",
  "beforeCreate", "afterCreate",
  "beforeUpdate", "afterUpdate",
  "beforeSave", "afterSave",
  "beforeDestroy", "afterDestroy",
  "beforeBulkCreate", "afterBulkCreate",
  "beforeBulkUpdate", "afterBulkUpdate",
  "beforeBulkDestroy", "afterBulkDestroy",
}

local known = {}
for _, name in ipairs(hooks.NAMES) do known[name] = true end

-- A new, empty registry.
function hooks.new()
  return {}
end

local function check_name(where, name)
  if type(name) ~= "string" or not known[name] then
    errors.raise("AssocError", "%s: unknown hook %s", where, type(name) == "string"
      and ("'" .. name .. "'") or tostring(name))
  end
end

-- Adds fn under `name` (raises on an unknown name or a non-function).  `label` (optional)
-- names it for remove.
function hooks.add(registry, where, name, label, fn)
  check_name(where, name)
  if type(fn) ~= "function" then
    errors.raise("AssocError", "%s: hook '%s' must be a function, got %s", where, name, type(fn))
  end
  local list = registry[name]
  if not list then list = {}; registry[name] = list end
  list[#list + 1] = { name = label, fn = fn }
end

-- Removes the hooks of `name` labelled `label` (every hook of `name` when label is nil).
-- Returns the number removed.
function hooks.remove(registry, where, name, label)
  check_name(where, name)
  local list, kept, removed = registry[name] or {}, {}, 0
  for _, h in ipairs(list) do
    if label == nil or h.name == label or h.fn == label then removed = removed + 1
    else kept[#kept + 1] = h end
  end
  registry[name] = kept
  return removed
end

-- True when any of the given hook names has a hook.
function hooks.any(registry, ...)
  if next(registry) == nil then return false end   -- no hook was ever added
  for i = 1, select("#", ...) do
    local list = registry[select(i, ...)]
    if list and #list > 0 then return true end
  end
  return false
end

-- Runs every hook of `name` with the given arguments, in order; errors propagate.
function hooks.run(registry, name, ...)
  local list = registry[name]
  if not list then return end
  for i = 1, #list do list[i].fn(...) end
end

-- Adds the hooks of a define `hooks = { name = fn | { fn, ... } }` option.
function hooks.add_all(registry, where, spec)
  if spec == nil then return end
  if type(spec) ~= "table" then
    errors.raise("AssocError", "%s: option 'hooks' must be a table, got %s", where, type(spec))
  end
  local names = {}
  for name in pairs(spec) do
    check_name(where, name)
    names[#names + 1] = name
  end
  table.sort(names)
  for _, name in ipairs(names) do
    local v = spec[name]
    if type(v) == "table" then
      for _, fn in ipairs(v) do hooks.add(registry, where, name, nil, fn) end
    else
      hooks.add(registry, where, name, nil, v)
    end
  end
end

return hooks
