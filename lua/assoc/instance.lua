-- assoc.instance: the methods of model instances and the per-model instance metatable.
--
-- An instance is a plain table holding its attribute values as fields (NULL reads as nil);
-- the core builds loaded rows directly with the model's metatable and stores, under the
-- private key STATE, a snapshot of the values as loaded.  An instance without a snapshot is a
-- new record.  changed() compares the fields with the snapshot; save() INSERTs a new record
-- and UPDATEs only the changed fields of a loaded one.  Instance methods come through the
-- metatable: first the model's prototype (Model.prototype, where other modules and scripts may
-- add methods), then the methods below.
-- Builtins as upvalues: the accessors' hot paths call them on every call.
local type, rawget, rawset, getmetatable = type, rawget, rawset, getmetatable
local pairs, ipairs, pcall, error = pairs, ipairs, pcall, error
local core = require "assoc.core"
local errors = require "assoc.errors"
local hooks = require "assoc.hooks"
local transaction = require "assoc.transaction"
local util = require "assoc.util"
local validate = require "assoc.validate"

local null = core.null
local deep_copy, deep_equal = util.deep_copy, util.deep_equal
local snapbase = core.snapbase

local instance = {}

-- Private keys: the snapshot of the values as last loaded or saved (STATE: see "Snapshots"
-- below), and the set of attribute names marked changed by changed(name, true).
local STATE = setmetatable({}, { __tostring = function() return "assoc.instance.STATE" end })
local FORCED = setmetatable({}, { __tostring = function() return "assoc.instance.FORCED" end })
instance.STATE = STATE

local Instance = {}
instance.methods = Instance

-- Model.prototype's metatable: a name it lacks comes from the shared methods, so that a
-- loaded row, whose store has the prototype itself for __index, finds every method through
-- tables alone (no function call per method lookup); such a row is never a new record.
instance.PROTO_MT = { __index = setmetatable({ isNewRecord = false }, { __index = Instance }) }

-- The model of instance `self`, after checking that it is one and that its db is open.
local function model_of(self, what)
  local mt = getmetatable(self)
  local M = type(mt) == "table" and rawget(mt, "model")
  if type(self) ~= "table" or not M then
    errors.raise("AssocError", "%s: call it as instance:%s(...)", what, what)
  end
  M._db:_check()
  return M
end
instance.model_of = function(self)
  local mt = getmetatable(self)
  return type(self) == "table" and type(mt) == "table" and rawget(mt, "model") or nil
end

-- The value of attribute `name` of inst, with assoc.null read as nil.
local function value(inst, name)
  local v = rawget(inst, name)
  if v == null then return nil end
  return v
end

-- ---- Snapshots ------------------------------------------------------------------------------
-- inst[STATE] is nil for a new record; else it holds the values as last loaded or saved, in
-- one of two forms:
--   * a table of the values by attribute name (what snapshot() below makes; saved records);
--   * a store shared by up to 256 rows (bindings/lassoc.h, lsnap): an array whose [0] is a
--     layout (attribute name -> 1-based attribute index), [-1] a stride (and [-2], in one
--     store of a large result, the binding's heap witness), holding for each
--     row, from its base b, the row's address at [b] and the value of attribute i at [b + i]
--     (core.snapbase finds b).  Rows loaded by the binding (and saved by bulkCreate) get
--     these, and the store is their METATABLE (it has the fields of M._mt): such a row has
--     no STATE key at all, its values' slots and no table of its own.
-- inst[STATE], when set, wins over a store metatable.  A record is new when it has neither
-- (is_new).
-- A store is read through the layout it was made with (the model's attributes can change
-- later, when an association adds a foreign key); snap_set moves a row whose layout lacks
-- the attribute into a table of its own.  Every read and write of a snapshot goes through
-- the helpers below.

-- The layout of M's stores (its current attributes), built by set_layout; the binding finds
-- it as M._mt.layout, and there, at [-1], the fields it puts in each store (M._store_fields:
-- { key1, value1, key2, value2, ... }, made by instance.metatable), and at [-2] the
-- attribute names by index, interned once.
function instance.set_layout(M)
  local layout = { [-1] = M._store_fields }
  for i, name in ipairs(M._names) do layout[name] = i end
  M._layout = layout
  if M._mt then M._mt.layout = layout end
  return layout
end

-- The store inst's metatable is, if it is one (a row loaded into a shared store).
local function store_mt(inst)
  local mt = getmetatable(inst)
  if type(mt) == "table" and rawget(mt, 0) ~= nil then return mt end
  return nil
end

-- Is inst a new record (never loaded nor saved)?
local function is_new(inst)
  return rawget(inst, STATE) == nil and store_mt(inst) == nil
end
instance.is_new = is_new

-- The snapshot of inst as (st, base, layout): layout nil for the by-name form; st nil for
-- a new record.
local function snap_parts(inst)
  local st = rawget(inst, STATE)
  if st == nil then
    st = store_mt(inst)
    if st == nil then return nil, 0, nil end
  end
  local layout = rawget(st, 0)
  if layout == nil then return st, 0, nil end
  local base = snapbase(st, inst)
  if base == nil then return nil, 0, nil end   -- not this row's store (cannot happen)
  return st, base, layout
end

-- The snapshot value of attribute name (nil: NULL, not loaded, or no snapshot).
local function snap_get(inst, name)
  local st, base, layout = snap_parts(inst)
  if st == nil then return nil end
  if layout == nil then return st[name] end
  local i = layout[name]
  if i == nil then return nil end
  return st[base + i]
end
instance.snap_get = snap_get

-- Sets the snapshot value of attribute name to v (a no-op for a new record).
local function snap_set(M, inst, name, v)
  local st, base, layout = snap_parts(inst)
  if st == nil then return end
  if layout == nil then st[name] = v; return end
  local i = layout[name]
  if i == nil then
    -- loaded before M gained the attribute: give the row a by-name snapshot of its own
    local own = {}
    for n, k in pairs(layout) do
      if type(n) == "string" then own[n] = st[base + k] end
    end
    own[name] = v
    rawset(inst, STATE, own)
    return
  end
  st[base + i] = v
end
instance.snap_set = snap_set

-- Records inst as saved with `snap` (a table of values by name, as snapshot() makes).
function instance.set_snapshot(inst, snap)
  rawset(inst, STATE, snap)
end

-- The snapshot of inst as a table of values by name (nil for a new record).
local function snap_by_name(inst)
  local st, base, layout = snap_parts(inst)
  if st == nil or layout == nil then return st end
  local own = {}
  for n, k in pairs(layout) do
    if type(n) == "string" then own[n] = st[base + k] end
  end
  return own
end

-- A snapshot of inst's attribute values (deep-copied, so later edits of JSON tables show).
-- (snapshot_all below records many instances at once, through the binding.)
local function snapshot(M, inst)
  local snap = {}
  for _, name in ipairs(M._names) do snap[name] = deep_copy(value(inst, name)) end
  return snap
end
instance.snapshot = snapshot

-- Records every instance of the array insts as saved (Model:bulkCreate): the binding takes
-- their snapshots, sharing stores as it does for loaded rows (M._mt.layout; else it makes
-- what snapshot() makes).
function instance.snapshot_all(M, insts)
  M._core:snapshot(insts, M._mt, STATE, M._names, deep_copy)
end

-- The same for one instance (create, save of a new record).
function instance.snapshot_one(M, inst)
  M._core:snapshot(inst, M._mt, STATE, M._names, deep_copy)
end

-- The where table selecting inst's row by primary key, from the values as last loaded.
local function pk_where(M, inst, what)
  local where = {}
  for _, pk in ipairs(M.primaryKeyAttributes) do
    local v = snap_get(inst, pk)
    if v == nil then
      errors.raise("AssocError", "%s.%s: the instance has no value for its primary key '%s'",
        M.name, what, pk)
    end
    where[pk] = v
  end
  return where
end

-- The names of inst's changed attributes, in column order.
local function changed_names(M, inst)
  local st, base, layout = snap_parts(inst)
  local forced = rawget(inst, FORCED)
  local names = {}
  for _, name in ipairs(M._names) do
    local v = value(inst, name)
    local old
    if st ~= nil then
      if layout == nil then
        old = st[name]
      else
        local i = layout[name]
        if i ~= nil then old = st[base + i] end
      end
    end
    if (forced and forced[name]) or (st == nil and v ~= nil)
      or (st ~= nil and not deep_equal(v, old)) then
      names[#names + 1] = name
    end
  end
  return names
end

-- Raises unless `name` is an attribute of M.
local function check_attr(M, what, name)
  if type(name) ~= "string" or not M.rawAttributes[name] then
    errors.raise("AssocError", "%s.%s: unknown attribute %s", M.name, what, util.show(name))
  end
end

-- Raises a ValidationError when items is not empty.
local function fail_if_any(items)
  if #items > 0 then errors.validation(items) end
end

-- Validates `names` of inst, running the validate hooks when run_hooks.
local function validate_fields(M, inst, names, opts, run_hooks)
  if run_hooks then hooks.run(M._hooks, "beforeValidate", inst, opts) end
  fail_if_any(validate.run(M, inst, names, inst, true))
  if run_hooks then hooks.run(M._hooks, "afterValidate", inst, opts) end
end

-- The hook-options table passed to hooks: a copy of the caller's options plus the
-- transaction the operation runs in.
local function hook_options(opts, t)
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  if t then o.transaction = t end
  return o
end

-- Runs body(t) inside a transaction when `atomic`, else body(nil).
local function maybe_atomic(M, atomic, body)
  if atomic then return transaction.run(M._db, body) end
  return body(nil)
end

-- Fields of inst whose values differ from `before` (a table name -> value).
local function differing(M, inst, before)
  local names = {}
  for _, name in ipairs(M._names) do
    if not deep_equal(value(inst, name), before[name]) then names[#names + 1] = name end
  end
  return names
end

local function values_of(M, inst)
  local t = {}
  for _, name in ipairs(M._names) do t[name] = deep_copy(value(inst, name)) end
  return t
end

-- The names to write, restricted to opts.fields when given.
local function restrict(names, fields)
  if not fields then return names end
  local allowed, out = util.set(fields), {}
  for _, n in ipairs(names) do if allowed[n] then out[#out + 1] = n end end
  return out
end

-- After a write: the DATE / DATEONLY values of `names` (nil: every attribute) become the text
-- the binding stored for them (a number of seconds or ISO-8601 text with an offset reads back
-- as "YYYY-MM-DDTHH:MM:SS.mmmZ"), so the instance holds what a reload would give.
function instance.stored_dates(M, inst, names)
  local attrs = M.rawAttributes
  for _, name in ipairs(names or M._names) do
    local a = attrs[name]
    local key = a and type(a.type) == "table" and a.type.key
    if key == "DATE" or key == "DATEONLY" then
      local v = rawget(inst, name)
      if v ~= nil and v ~= null then
        local text = core.date(v, key == "DATEONLY")
        if text ~= nil then rawset(inst, name, text) end
      end
    end
  end
end

-- ---- save: INSERT -------------------------------------------------------------------------
-- The values table for inserting inst: the non-nil values of `names` and of the attributes
-- the engine fills in (timestamps), plus an explicit NULL for an attribute that has a default
-- but was set to NULL (build applied the default otherwise), so the column default does not
-- override it.
function instance.insert_values(M, inst, names)
  local vals = {}
  for _, name in ipairs(names) do
    local v = rawget(inst, name)
    if v ~= nil then
      vals[name] = v
    elseif M.rawAttributes[name].defaultValue ~= nil then
      vals[name] = null
    end
  end
  for _, name in ipairs(M._auto_names) do
    local v = rawget(inst, name)
    if v ~= nil then vals[name] = v end
  end
  return vals
end

-- After the write of a new record: its rowid, DATE values as stored, snapshot.
local function inserted(M, inst, plan, names, rowid)
  local pk = M.primaryKeyAttribute
  if #M.primaryKeyAttributes == 1 and rawget(inst, pk) == nil and M._rowid_pk then
    rawset(inst, pk, rowid)
  end
  if plan.dates then instance.stored_dates(M, inst, names) end
  instance.snapshot_one(M, inst)
  rawset(inst, FORCED, nil)
  return inst
end

-- insert without hooks or `fields`: the binding reads inst by the model's write plan, and
-- screens it for validation when no Lua validator is needed (validate.run then runs only
-- when it may fail, for its messages).  Before the timestamps are set, like validation.
local function insert_plain(M, inst, opts, plan)
  local names = M._names
  local core = M._core
  if opts.validate ~= false then
    if not M:_screenable(plan, names) then
      fail_if_any(validate.run(M, inst, names, inst, true))
    elseif plan.stamps then
      if not core:insert(inst, plan.insert, "check") then
        fail_if_any(validate.run(M, inst, names, inst, true))
      end
    else
      local rowid = core:insert(inst, plan.insert, "screen")
      if rowid == false then
        fail_if_any(validate.run(M, inst, names, inst, true))
        rowid = core:insert(inst, plan.insert)
      end
      return inserted(M, inst, plan, names, rowid)
    end
  end
  M:_stamp(inst, true, opts.silent)
  return inserted(M, inst, plan, names, core:insert(inst, plan.insert))
end

local function insert(M, inst, opts)
  local reg = M._hooks
  local run_hooks = opts.hooks ~= false and hooks.any(reg, "beforeValidate", "afterValidate",
    "beforeCreate", "beforeSave", "afterCreate", "afterSave")
  if not run_hooks and not opts.fields then return insert_plain(M, inst, opts, M:_wplan()) end
  local names = restrict(M._names, opts.fields)
  return maybe_atomic(M, run_hooks, function(t)
    local hopts = run_hooks and hook_options(opts, t) or nil   -- only hooks see it
    if opts.validate ~= false then validate_fields(M, inst, names, hopts, run_hooks) end
    if run_hooks then
      local before = values_of(M, inst)
      hooks.run(reg, "beforeCreate", inst, hopts)
      hooks.run(reg, "beforeSave", inst, hopts)
      if opts.validate ~= false then
        fail_if_any(validate.run(M, inst, restrict(differing(M, inst, before), opts.fields), inst))
      end
    end
    M:_stamp(inst, true, opts.silent)
    local plan = M:_wplan()
    local rowid
    if names == M._names then   -- the write plan reads inst as insert_values would
      rowid = M._core:insert(inst, plan.insert)
    else
      rowid = M._core:insert(instance.insert_values(M, inst, names))
    end
    inserted(M, inst, plan, names, rowid)
    if run_hooks then
      hooks.run(reg, "afterCreate", inst, hopts)
      hooks.run(reg, "afterSave", inst, hopts)
    end
    return inst
  end)
end
instance.insert = insert

-- ---- save: UPDATE -------------------------------------------------------------------------
local function update(M, inst, opts)
  local names = restrict(changed_names(M, inst), opts.fields)
  if #names == 0 then return inst end
  local reg = M._hooks
  local run_hooks = opts.hooks ~= false and hooks.any(reg, "beforeValidate", "afterValidate",
    "beforeUpdate", "beforeSave", "afterUpdate", "afterSave")
  local where = pk_where(M, inst, "save")
  return maybe_atomic(M, run_hooks, function(t)
    local hopts = hook_options(opts, t)
    if opts.validate ~= false then validate_fields(M, inst, names, hopts, run_hooks) end
    if run_hooks then
      local before = values_of(M, inst)
      hooks.run(reg, "beforeUpdate", inst, hopts)
      hooks.run(reg, "beforeSave", inst, hopts)
      if opts.validate ~= false then
        fail_if_any(validate.run(M, inst, restrict(differing(M, inst, before), opts.fields), inst))
      end
      names = restrict(changed_names(M, inst), opts.fields)
      if #names == 0 then return inst end
    end
    local updated = M._special.updatedAt
    if updated and not opts.silent then
      local seen = false
      for _, n in ipairs(names) do if n == updated then seen = true end end
      if not seen then
        rawset(inst, updated, core.now())
        names[#names + 1] = updated
      end
    end
    local vals = {}
    for _, name in ipairs(names) do
      local v = rawget(inst, name)
      if v == nil then v = null end
      vals[name] = v
    end
    M._core:update(vals, where, true)
    instance.stored_dates(M, inst, names)
    for _, name in ipairs(names) do snap_set(M, inst, name, deep_copy(value(inst, name))) end
    rawset(inst, FORCED, nil)
    if run_hooks then
      hooks.run(reg, "afterUpdate", inst, hopts)
      hooks.run(reg, "afterSave", inst, hopts)
    end
    return inst
  end)
end

local SAVE_OPTIONS = util.set { "fields", "validate", "hooks", "silent", "transaction" }

-- Checks the save-style options of `what` (save, update, create).
local SAVE_BOOLEANS = { "validate", "hooks", "silent" }

local function save_options(M, what, opts, allowed)
  if opts == nil then return {} end   -- nothing to check
  local where = M.name .. "." .. what
  opts = util.options(where, opts, allowed or SAVE_OPTIONS)
  for _, k in ipairs(SAVE_BOOLEANS) do util.check_boolean(where, k, opts[k]) end
  if opts.fields ~= nil then
    if type(opts.fields) ~= "table" then
      errors.raise("AssocError", "%s: option 'fields' must be an array of attribute names", where)
    end
    for _, f in ipairs(opts.fields) do check_attr(M, what, f) end
  end
  transaction.check_option(M._db, opts.transaction, where)
  return opts
end
instance.save_options = save_options

-- instance:save([opts]) -> instance.  INSERT for a new record, UPDATE of the changed fields
-- for a loaded one (nothing at all when nothing changed).
function Instance:save(opts)
  local M = model_of(self, "save")
  opts = save_options(M, "save", opts)
  if is_new(self) then return insert(M, self, opts) end
  return update(M, self, opts)
end

-- instance:update(values [, opts]) -> instance: set(values) then save.
function Instance:update(values, opts)
  local M = model_of(self, "update")
  if type(values) ~= "table" then
    errors.raise("AssocError", "%s.update: values must be a table, got %s", M.name, type(values))
  end
  opts = save_options(M, "update", opts)
  self:set(values)
  if is_new(self) then return insert(M, self, opts) end
  return update(M, self, opts)
end

local DESTROY_OPTIONS = util.set { "force", "hooks", "transaction" }

-- instance:destroy([{ force = true }]): soft delete (sets deletedAt) on a paranoid model,
-- unless force; a DELETE by primary key otherwise.
function Instance:destroy(opts)
  local M = model_of(self, "destroy")
  local where_s = M.name .. ".destroy"
  opts = util.options(where_s, opts, DESTROY_OPTIONS)
  util.check_boolean(where_s, "force", opts.force)
  util.check_boolean(where_s, "hooks", opts.hooks)
  transaction.check_option(M._db, opts.transaction, where_s)
  local where = pk_where(M, self, "destroy")
  local reg = M._hooks
  local run_hooks = opts.hooks ~= false and hooks.any(reg, "beforeDestroy", "afterDestroy")
  return maybe_atomic(M, run_hooks, function(t)
    local hopts = hook_options(opts, t)
    if run_hooks then hooks.run(reg, "beforeDestroy", self, hopts) end
    local deleted = M._special.deletedAt
    if deleted and not opts.force then
      local now = core.now()
      M._core:update({ [deleted] = now }, where, true)
      rawset(self, deleted, now)
      snap_set(M, self, deleted, now)
    else
      M._core:delete(where)
    end
    if run_hooks then hooks.run(reg, "afterDestroy", self, hopts) end
    return self
  end)
end

-- instance:restore(): clears deletedAt of a soft-deleted instance (paranoid models).
function Instance:restore(opts)
  local M = model_of(self, "restore")
  local where_s = M.name .. ".restore"
  opts = util.options(where_s, opts, util.set { "transaction" })
  transaction.check_option(M._db, opts.transaction, where_s)
  local deleted = M._special.deletedAt
  if not deleted then
    errors.raise("AssocError", "%s.restore: the model is not paranoid", M.name)
  end
  M._core:update({ [deleted] = null }, pk_where(M, self, "restore"), true)
  rawset(self, deleted, nil)
  snap_set(M, self, deleted, nil)
  return self
end

-- instance:reload() -> instance: reads every attribute back from the database (also a
-- soft-deleted row); raises EmptyResultError when the row is gone.
function Instance:reload(opts)
  local M = model_of(self, "reload")
  local where_s = M.name .. ".reload"
  opts = util.options(where_s, opts, util.set { "transaction" })
  transaction.check_option(M._db, opts.transaction, where_s)
  local where = pk_where(M, self, "reload")
  local row = M._core:find({ where = where, limit = 1, withDeleted = true }, nil, STATE)[1]
  if not row then
    local parts = {}
    for _, pk in ipairs(M.primaryKeyAttributes) do
      parts[#parts + 1] = ("%s = %s"):format(pk, util.show(where[pk]))
    end
    errors.raise("EmptyResultError", "%s.reload: no row with %s any more", M.name,
      table.concat(parts, ", "))
  end
  for _, name in ipairs(M._names) do rawset(self, name, row[name]) end
  if not is_new(row) then
    rawset(self, STATE, snap_by_name(row))   -- a store holds the row, not self
  else
    instance.set_snapshot(self, snapshot(M, self))
  end
  rawset(self, FORCED, nil)
  return self
end

-- instance:get(name) -> value; instance:get() or get{ plain = true } -> toTable().
function Instance:get(key)
  local M = model_of(self, "get")
  if key == nil then return self:toTable() end
  if type(key) == "table" then
    util.options(M.name .. ".get", key, util.set { "plain", "raw" })
    return self:toTable()
  end
  if type(key) == "string" and not M.rawAttributes[key] then
    local v = rawget(self, key)
    if v ~= nil then return v end
  end
  check_attr(M, "get", key)
  return value(self, key)
end

-- instance:set(name, value) or instance:set{ name = value, ... } -> instance.  assoc.null
-- stores NULL (read back as nil).  Every name is checked before anything is set.
function Instance:set(key, v)
  local M = model_of(self, "set")
  if type(key) == "table" then
    local keys = util.sorted_keys(key)
    for _, k in ipairs(keys) do check_attr(M, "set", k) end
    for _, k in ipairs(keys) do
      local x = key[k]
      if x == null then x = nil end
      rawset(self, k, x)
    end
    return self
  end
  check_attr(M, "set", key)
  if v == null then v = nil end
  rawset(self, key, v)
  return self
end

-- instance:changed() -> sorted array of changed attribute names, or false;
-- changed(name) -> boolean; changed(name, true|false) marks/unmarks name as changed.
function Instance:changed(name, mark)
  local M = model_of(self, "changed")
  if name == nil then
    local names = changed_names(M, self)
    if #names == 0 then return false end
    table.sort(names)
    return names
  end
  check_attr(M, "changed", name)
  if mark ~= nil then
    if type(mark) ~= "boolean" then
      errors.raise("AssocError", "%s.changed: the mark must be a boolean", M.name)
    end
    local forced = rawget(self, FORCED)
    if mark then
      if not forced then forced = {}; rawset(self, FORCED, forced) end
      forced[name] = true
    elseif forced then
      forced[name] = nil
    end
    return self
  end
  for _, n in ipairs(changed_names(M, self)) do
    if n == name then return true end
  end
  return false
end

-- instance:previous(name) -> the value as last loaded or saved; previous() -> a table of the
-- previous values of the changed attributes.
function Instance:previous(name)
  local M = model_of(self, "previous")
  if name == nil then
    local t = {}
    for _, n in ipairs(changed_names(M, self)) do t[n] = deep_copy(snap_get(self, n)) end
    return t
  end
  check_attr(M, "previous", name)
  return deep_copy(snap_get(self, name))
end

-- A plain copy of v: instances become tables of values, arrays are mapped, JSON copied.
local function plain(v)
  if type(v) ~= "table" then
    if v == null then return nil end
    return v
  end
  if instance.model_of(v) then return v:toTable() end
  local c = {}
  for k, x in pairs(v) do c[k] = plain(x) end
  return c
end

-- instance:toTable() -> a plain nested table of the attribute values and of included
-- instances (by their key), with no metatables.
function Instance:toTable()
  local M = model_of(self, "toTable")
  local t = {}
  for _, name in ipairs(M._names) do t[name] = deep_copy(value(self, name)) end
  for k, v in pairs(self) do
    if type(k) == "string" and not M.rawAttributes[k] then t[k] = plain(v) end
  end
  return t
end
Instance.toJSON = Instance.toTable

-- instance:validate() -> instance; raises the ValidationError of every failing field.
function Instance:validate(opts)
  local M = model_of(self, "validate")
  opts = util.options(M.name .. ".validate", opts, util.set { "hooks", "fields" })
  local names = M._names
  if opts.fields then
    names = {}
    for _, f in ipairs(opts.fields) do check_attr(M, "validate", f); names[#names + 1] = f end
  end
  validate_fields(M, self, names, opts, opts.hooks ~= false)
  return self
end

-- instance:isSoftDeleted() -> boolean (paranoid models).
function Instance:isSoftDeleted()
  local M = model_of(self, "isSoftDeleted")
  local deleted = M._special.deletedAt
  return deleted ~= nil and value(self, deleted) ~= nil
end

-- instance:equals(other) -> true when other is an instance of the same model with the same
-- primary key.
function Instance:equals(other)
  local M = model_of(self, "equals")
  if instance.model_of(other) ~= M then return false end
  for _, pk in ipairs(M.primaryKeyAttributes) do
    local a, b = value(self, pk), value(other, pk)
    if a == nil or a ~= b then return false end
  end
  return true
end

-- Names an attribute may not take: every instance method, and isNewRecord.
function instance.reserved()
  local r = { isNewRecord = true }
  for k in pairs(Instance) do r[k] = true end
  return r
end

-- The metatable for instances of model M.  Lookups go to isNewRecord, then M.prototype, then
-- the shared methods; assigning a reserved name raises.  Loaded rows have a store for
-- metatable instead (see "Snapshots"), with the same fields but __index: M.prototype, whose
-- own metatable (PROTO_MT) leads on to the shared methods.
function instance.metatable(M)
  local proto = M.prototype
  local reserved = instance.reserved()
  local mt = { model = M }
  mt.__index = function(t, k)
    if k == "isNewRecord" then return is_new(t) end
    local v = proto[k]
    if v ~= nil then return v end
    return Instance[k]
  end
  mt.__newindex = function(t, k, v)
    if reserved[k] then
      errors.raise("AssocError", "%s: '%s' is %s, not an attribute", M.name, k,
        k == "isNewRecord" and "read-only" or "an instance method")
    end
    rawset(t, k, v)
  end
  mt.__tostring = function(t)
    if is_new(t) then return M.name .. " (new)" end
    local parts = {}
    for _, pk in ipairs(M.primaryKeyAttributes) do parts[#parts + 1] = tostring(value(t, pk)) end
    return ("%s#%s"):format(M.name, table.concat(parts, ","))
  end
  M._store_fields = { "model", M, "__index", proto, "__newindex", mt.__newindex,
    "__tostring", mt.__tostring }
  mt.layout = instance.set_layout(M)
  return mt
end

-- A new, unsaved instance of M from `values` (checked: attribute names only), with defaults
-- applied to the attributes not given.  assoc.null given explicitly means NULL, no default.
function instance.build(M, values, what)
  what = what or "build"
  if values == nil then values = {} end
  if type(values) ~= "table" or instance.model_of(values) then
    errors.raise("AssocError", "%s.%s: values must be a table, got %s", M.name, what,
      instance.model_of(values) and "an instance" or type(values))
  end
  if getmetatable(values) == nil then
    -- a plain table: the binding builds the instance (literal defaults included) unless a
    -- key is not an attribute; then the general way below reports the first in order
    local plan = M:_wplan()
    local built = M._core:build({ values }, M._mt, STATE, plan.lits)
    if built then
      local inst, dyn = built[1], plan.dyn
      for i = 1, #dyn do
        local name = dyn[i]
        if values[name] == nil then rawset(inst, name, M:_default(name)) end
      end
      return inst
    end
  end
  local inst = {}
  local keys = util.sorted_keys(values)
  for _, k in ipairs(keys) do check_attr(M, what, k) end
  for _, k in ipairs(keys) do
    local v = values[k]
    if v ~= null then inst[k] = v end
  end
  for _, name in ipairs(M._names) do
    if values[name] == nil then inst[name] = M:_default(name) end
  end
  return setmetatable(inst, M._mt)
end

return instance
