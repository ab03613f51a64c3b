-- assoc.model: db:define and the Model class.  define checks the attribute table, hands the
-- core an array of attributes in a deterministic order (primary keys first, then by name),
-- and reads back what the core made of it (the added id, timestamps, deletedAt, column names)
-- to fill Model.rawAttributes.  Model methods check their arguments, turn them into core
-- requests, and run hooks, validation and defaults around the core's statements; every
-- multi-statement operation runs inside a transaction.
local core = require "assoc.core"
local DataTypes = require "assoc.datatypes"
local errors = require "assoc.errors"
local hooks = require "assoc.hooks"
local instance = require "assoc.instance"
local transaction = require "assoc.transaction"
local util = require "assoc.util"
local validate = require "assoc.validate"

local null = core.null
local STATE = instance.STATE

local Model = {}
Model.__index = Model

function Model.__tostring(M)
  return "assoc.Model " .. M.name
end

-- The model `self` after checking it is one and that its db is open.
local function check_model(self, what)
  if getmetatable(self) ~= Model then
    errors.raise("AssocError", "%s: call it as Model:%s(...)", what, what)
  end
  self._db:_check()
  return self
end

-- ---- define ---------------------------------------------------------------------------------
local ATTR_OPTIONS = util.set { "type", "primaryKey", "autoIncrement", "allowNull",
  "defaultValue", "unique", "validate", "field", "comment" }
local DEFINE_OPTIONS = util.set { "tableName", "timestamps", "paranoid", "underscored", "hooks",
  "validate", "freezeTableName" }

-- Normalizes one attribute spec (a type or a table) and checks it; returns the table.
local function check_attribute(mname, name, spec, reserved)
  local where = mname .. "." .. tostring(name)
  if type(name) ~= "string" or name == "" then
    errors.raise("AssocError", "define '%s': attribute names must be non-empty strings, got %s",
      mname, util.show(name))
  end
  if reserved[name] then
    errors.raise("AssocError", "%s: the attribute name '%s' is reserved (it would shadow the "
      .. "instance %s)", where, name, name == "isNewRecord" and "field" or "method")
  end
  if DataTypes.is_type(spec) then spec = { type = spec } end
  if type(spec) ~= "table" or getmetatable(spec) ~= nil then
    errors.raise("AssocError", "%s: expected a DataType or an attribute table, got %s", where,
      DataTypes.is_marker(spec) and tostring(spec) or type(spec))
  end
  for _, k in ipairs(util.sorted_keys(spec)) do
    if not ATTR_OPTIONS[k] then
      errors.raise("AssocError", "%s: unknown attribute option %s", where, util.show(k))
    end
  end
  if spec.type == nil then
    errors.raise("AssocError", "%s: missing type", where)
  elseif not DataTypes.is_type(spec.type) then
    errors.raise("AssocError", "%s: unknown type %s", where, util.show(spec.type))
  end
  for _, k in ipairs { "primaryKey", "autoIncrement", "allowNull", "unique" } do
    if spec[k] ~= nil and type(spec[k]) ~= "boolean" then
      errors.raise("AssocError", "%s: option '%s' must be a boolean, got %s", where, k,
        type(spec[k]))
    end
  end
  if spec.field ~= nil and (type(spec.field) ~= "string" or spec.field == "") then
    errors.raise("AssocError", "%s: option 'field' must be a non-empty string", where)
  end
  if spec.autoIncrement and not (spec.primaryKey and spec.type.key == "INTEGER") then
    errors.raise("AssocError", "%s: autoIncrement needs an INTEGER primary key", where)
  end
  local dv = spec.defaultValue
  if DataTypes.is_marker(dv) then
    local ok = (dv.key == "UUIDV4" and (spec.type.key == "UUID" or spec.type.key == "STRING"
      or spec.type.key == "TEXT"))
      or (dv.key == "NOW" and (spec.type.key == "DATE" or spec.type.key == "DATEONLY"))
    if not ok then
      errors.raise("AssocError", "%s: defaultValue %s does not suit type %s", where,
        tostring(dv), tostring(spec.type))
    end
  elseif dv ~= nil and dv ~= null and type(dv) ~= "function" then
    local terr = validate.type_error(mname, name, spec.type.key, dv)
    if terr then errors.raise("AssocError", "%s (defaultValue)", terr) end
  end
  return spec
end

-- Orders attribute names: primary keys first, then the rest, each group by name.
local function attribute_order(specs)
  local names = util.sorted_keys(specs)
  table.sort(names, function(a, b)
    local pa, pb = specs[a].primaryKey and 0 or 1, specs[b].primaryKey and 0 or 1
    if pa ~= pb then return pa < pb end
    return a < b
  end)
  return names
end

-- The DDL default the core may use for spec (literal strings, numbers, booleans), or nil.
local function ddl_default(spec)
  local dv = spec.defaultValue
  local t = type(dv)
  if spec.type.key == "JSON" or spec.type.key == "BLOB" then return nil end
  if t == "string" or t == "boolean" or (t == "number" and dv == dv and dv ~= math.huge
    and dv ~= -math.huge) then
    return dv
  end
  return nil
end

-- (Re)reads M's attributes from its core model into rawAttributes, the name lists and the
-- primary key fields; the tables are refilled in place, so references to them stay valid.
-- specs: Lua attribute specs by name (define); an attribute known from an earlier load keeps
-- its Lua-only settings.
local function load_attributes(M, specs)
  local old = {}
  for k, v in pairs(M.rawAttributes) do old[k] = v end
  for k in pairs(M.rawAttributes) do M.rawAttributes[k] = nil end
  local names, autos, pks = M._names, M._auto_names, M.primaryKeyAttributes
  for i = #names, 1, -1 do names[i] = nil end
  for i = #autos, 1, -1 do autos[i] = nil end
  for i = #pks, 1, -1 do pks[i] = nil end
  local cm = M._core
  for _, a in ipairs(cm:attributes()) do
    local spec = specs[a.name] or old[a.name] or {}
    local ra = {
      type = spec.type or DataTypes.from_key(a.type, a.length),
      allowNull = a.allowNull ~= false,
      primaryKey = a.primaryKey or false,
      autoIncrement = a.autoIncrement or false,
      unique = a.unique or false,
      defaultValue = spec.defaultValue,
      validate = spec.validate,
      comment = spec.comment,
      field = a.column,
      fieldName = a.name,
    }
    if type(a.references) == "table" then
      ra.references = { model = a.references.model, key = a.references.key }
    end
    if a.auto then ra._autoGenerated = true end
    -- NULL is fine on write where the engine or SQLite fills the value in.
    ra._nullable_on_write = ra._autoGenerated or ra.autoIncrement
      or (ra.primaryKey and ra.type.key == "INTEGER") or nil
    M.rawAttributes[a.name] = ra
    names[#names + 1] = a.name
    if a.auto then autos[#autos + 1] = a.name end
    if a.primaryKey then pks[#pks + 1] = a.name end
  end
  M._plan = nil   -- the write plan (Model:_write_plan) follows the attributes
  if M._mt then instance.set_layout(M) end   -- so does the layout of snapshot stores
  M.primaryKeyAttribute = cm:pk() or pks[1]
  local pkattr = M.rawAttributes[M.primaryKeyAttribute]
  M._rowid_pk = #pks == 1 and pkattr ~= nil and pkattr.type.key == "INTEGER"
end

-- A new Model table for core model cm.
local function new_model(db, name, cm, specs, options, registry, validators, model_validators)
  local M = setmetatable({
    name = name,
    tableName = cm:tableName(),
    rawAttributes = {},
    primaryKeyAttribute = cm:pk(),
    primaryKeyAttributes = {},
    associations = {},
    prototype = setmetatable({}, instance.PROTO_MT),
    options = { timestamps = options.timestamps, paranoid = options.paranoid,
      underscored = options.underscored, tableName = cm:tableName() },
    _db = db, _core = cm, _hooks = registry, _validators = validators,
    _model_validators = model_validators, _names = {}, _auto_names = {},
    _special = cm:special(),
  }, Model)
  load_attributes(M, specs)
  M._mt = instance.metatable(M)
  return M
end

-- db:define(name, attributes [, options]) -> Model.
function Model.define(db, name, attrs, options)
  if type(name) ~= "string" or name == "" then
    errors.raise("AssocError", "define: the model name must be a non-empty string, got %s",
      util.show(name))
  end
  local where = ("define '%s'"):format(name)
  if db.models[name] then
    errors.raise("AssocError", "%s: a model named '%s' is already defined", where, name)
  end
  if attrs == nil then attrs = {} end
  if type(attrs) ~= "table" then
    errors.raise("AssocError", "%s: attributes must be a table, got %s", where, type(attrs))
  end
  options = util.options(where, options, DEFINE_OPTIONS)
  for _, k in ipairs { "timestamps", "paranoid", "underscored", "freezeTableName" } do
    util.check_boolean(where, k, options[k])
  end
  if options.tableName ~= nil and (type(options.tableName) ~= "string"
    or options.tableName == "") then
    errors.raise("AssocError", "%s: option 'tableName' must be a non-empty string", where)
  end

  local reserved = instance.reserved()
  local specs = {}
  for k, spec in pairs(attrs) do specs[k] = check_attribute(name, k, spec, reserved) end
  local validators, model_validators = {}, {}
  for k, spec in pairs(specs) do
    if spec.validate ~= nil then
      validators[k] = validate.check_spec(name .. "." .. k, spec.validate)
    end
  end
  if options.validate ~= nil then
    model_validators = validate.check_model_spec(where, options.validate)
  end
  local registry = hooks.new()
  hooks.add_all(registry, where, options.hooks)

  local order = attribute_order(specs)
  local core_attrs = {}
  for i, k in ipairs(order) do
    local spec = specs[k]
    local allow = spec.allowNull
    if allow == nil then allow = not spec.primaryKey end
    core_attrs[i] = { name = k, column = spec.field, type = spec.type.key,
      length = spec.type.length, primaryKey = spec.primaryKey or false,
      autoIncrement = spec.autoIncrement or false, allowNull = allow,
      unique = spec.unique or false, default = ddl_default(spec) }
  end
  local timestamps = options.timestamps
  if timestamps == nil then timestamps = true end
  local table_name = options.tableName
  if table_name == nil and options.freezeTableName then table_name = name end
  local cm = db._core:define(name, core_attrs, { tableName = table_name,
    timestamps = timestamps, paranoid = options.paranoid or false,
    underscored = options.underscored or false })

  local M = new_model(db, name, cm, specs, {
    timestamps = timestamps, paranoid = options.paranoid or false,
    underscored = options.underscored or false }, registry, validators, model_validators)
  db.models[name] = M
  return M
end

-- Wraps a model the core made itself (a generated junction) as a Model of db, registered in
-- db.models; returns the existing Model when there is one.
function Model._wrap(db, cm)
  local name = cm:name()
  if db.models[name] then return db.models[name] end
  local special = cm:special()
  local underscored = false
  for _, a in ipairs(cm:attributes()) do
    if a.column ~= a.name then underscored = true end
  end
  local M = new_model(db, name, cm, {}, { timestamps = special.createdAt ~= nil,
    paranoid = special.deletedAt ~= nil, underscored = underscored }, hooks.new(), {}, {})
  db.models[name] = M
  return M
end

-- Re-reads M's attributes from the core after an association added a foreign key to it (or
-- replaced a junction's auto id by the composite key).  Lua-only settings of the attributes
-- already known (validate, defaultValue, comment) are kept.
function Model._refresh(M)
  load_attributes(M, {})
  M._special = M._core:special()
end

-- ---- internal helpers used by instance.lua --------------------------------------------------
-- The default value of attribute `name` for a new instance (nil when it has none).
function Model:_default(name)
  local dv = self.rawAttributes[name].defaultValue
  if dv == nil or dv == null then return nil end
  if type(dv) == "function" then
    local v = dv()
    if v == null then return nil end
    return v
  end
  if dv == DataTypes.UUIDV4 then return core.uuid4() end
  if dv == DataTypes.NOW then
    local now = core.now()
    if self.rawAttributes[name].type.key == "DATEONLY" then return now:sub(1, 10) end
    return now
  end
  return util.deep_copy(dv)
end

-- Flags of a column of the binding's insert plan (bindings/lmodel.c has the same).
local PLAN_FORCE, PLAN_NOTNULL, PLAN_SCREEN = 1, 2, 4

-- The write plan of M for writing the attributes `names` (M._names, or those a `fields`
-- option leaves): what a bulk write needs to know about the attributes, worked out once per
-- model (bulkCreate keeps it in M._plan; load_attributes drops it) instead of once per row.
--   lits    name -> literal default (no table, function or marker): the binding's m:build
--           copies it into the instances that lack the attribute
--   dyn     the names whose default is made per row (M:_default): functions, UUIDV4, NOW,
--           tables (deep-copied)
--   checks  true when validation needs Lua: a validator on one of names, a model validator
--   dates   true when one of names is a DATE or DATEONLY (instance.stored_dates)
--   stamps  true when the model has createdAt or updatedAt
--   insert  the binding's insert plan: names, then the engine-filled names (timestamps) not
--           among them, with insert.flags[i] the PLAN_* flags of the i-th: FORCE where the
--           attribute has a default (absent, it is written as NULL: instance.insert_values),
--           NOTNULL and SCREEN (the checks of validate.run the binding can make) for names
function Model:_write_plan(names)
  local raw = self.rawAttributes
  local plan = { lits = {}, dyn = {}, checks = #self._model_validators > 0, dates = false,
    stamps = self._special.createdAt ~= nil or self._special.updatedAt ~= nil }
  for _, name in ipairs(self._names) do
    local dv = raw[name].defaultValue
    if dv ~= nil and dv ~= null then
      if type(dv) == "table" or type(dv) == "function" or DataTypes.is_marker(dv) then
        plan.dyn[#plan.dyn + 1] = name
      else
        plan.lits[name] = dv
      end
    end
  end
  local cols, flags, seen = {}, {}, {}
  for _, name in ipairs(names) do
    local a = raw[name]
    local f = PLAN_SCREEN
    if a.defaultValue ~= nil then f = f | PLAN_FORCE end
    if a.allowNull == false and not a._nullable_on_write then f = f | PLAN_NOTNULL end
    local checks = self._validators[name]
    if checks and #checks > 0 then plan.checks = true end
    local key = a.type.key
    if key == "DATE" or key == "DATEONLY" then plan.dates = true end
    cols[#cols + 1], flags[#flags + 1], seen[name] = name, f, true
  end
  for _, name in ipairs(self._auto_names) do
    if not seen[name] then cols[#cols + 1], flags[#flags + 1] = name, 0 end
  end
  cols.flags = flags
  plan.insert = cols
  return plan
end

-- The write plan for all of M's attributes (cached until they are reloaded).
function Model:_wplan()
  local plan = self._plan
  if not plan then
    plan = self:_write_plan(self._names)
    self._plan = plan
  end
  return plan
end

-- Sets the timestamps of inst for a write: createdAt (when creating and not set) and
-- updatedAt (unless silent and already set).
function Model:_stamp(inst, creating, silent)
  local created, updated = self._special.createdAt, self._special.updatedAt
  if not created and not updated then return end
  local now = core.now()
  if creating and created and rawget(inst, created) == nil then rawset(inst, created, now) end
  if updated and (rawget(inst, updated) == nil or (not silent and not creating)) then
    rawset(inst, updated, now)
  end
end

-- ---- request checks ----------------------------------------------------------------------------
local function check_where(M, where_s, where, required)
  if where == nil then
    if required then
      errors.raise("AssocError", "%s: option 'where' is required (use where = {} for every row)",
        where_s)
    end
    return
  end
  if type(where) ~= "table" or instance.model_of(where) then
    errors.raise("AssocError", "%s: option 'where' must be a table, got %s", where_s,
      type(where))
  end
end

local function check_count_option(where_s, k, v)
  if v ~= nil and not util.is_count(v) then
    errors.raise("AssocError", "%s: option '%s' must be a non-negative integer, got %s", where_s,
      k, util.show(v))
  end
end

-- The attribute list of an `attributes` option: an array of names or { exclude = {...} }.
local function attribute_list(M, where_s, attrs)
  if attrs == nil then return nil end
  if type(attrs) ~= "table" then
    errors.raise("AssocError", "%s: option 'attributes' must be a table, got %s", where_s,
      type(attrs))
  end
  local function check(name)
    if type(name) ~= "string" or not M.rawAttributes[name] then
      errors.raise("AssocError", "%s: unknown attribute %s of %s in 'attributes'", where_s,
        util.show(name), M.name)
    end
  end
  if attrs.exclude ~= nil then
    for _, k in ipairs(util.sorted_keys(attrs)) do
      if k ~= "exclude" then
        errors.raise("AssocError", "%s: unknown key %s in 'attributes'", where_s, util.show(k))
      end
    end
    if type(attrs.exclude) ~= "table" then
      errors.raise("AssocError", "%s: 'attributes.exclude' must be an array of names", where_s)
    end
    local drop = {}
    for _, name in ipairs(attrs.exclude) do check(name); drop[name] = true end
    local list = {}
    for _, name in ipairs(M._names) do
      if not drop[name] then list[#list + 1] = name end
    end
    return list
  end
  local n = #attrs
  for k in pairs(attrs) do
    if math.type(k) ~= "integer" or k < 1 or k > n then
      errors.raise("AssocError", "%s: unknown key %s in 'attributes'", where_s, util.show(k))
    end
  end
  if n == 0 then
    errors.raise("AssocError", "%s: option 'attributes' must name at least one attribute",
      where_s)
  end
  local list = {}
  for i = 1, n do check(attrs[i]); list[i] = attrs[i] end
  return list
end

-- Checks an `order` option: an array of "name" or { "name", "ASC"|"DESC" }.
local DIRECTIONS = { ASC = true, DESC = true, asc = true, desc = true }  -- the common spellings

local function check_order(M, where_s, order)
  if order == nil then return nil end
  if type(order) ~= "table" then
    errors.raise("AssocError", "%s: option 'order' must be an array, got %s", where_s,
      type(order))
  end
  for i, item in ipairs(order) do
    local name, dir = item, nil
    if type(item) == "table" then
      name, dir = item[1], item[2]
      if #item > 2 then
        errors.raise("AssocError", "%s: order item %d has more than a name and a direction",
          where_s, i)
      end
    end
    if type(name) ~= "string" or not M.rawAttributes[name] then
      errors.raise("AssocError", "%s: unknown attribute %s of %s in 'order'", where_s,
        util.show(name), M.name)
    end
    if dir ~= nil and not DIRECTIONS[dir] and (type(dir) ~= "string"
      or (dir:upper() ~= "ASC" and dir:upper() ~= "DESC")) then
      errors.raise("AssocError", "%s: order direction must be 'ASC' or 'DESC', got %s", where_s,
        util.show(dir))
    end
  end
  for k in pairs(order) do
    if math.type(k) ~= "integer" or k < 1 or k > #order then
      errors.raise("AssocError", "%s: unknown key %s in 'order'", where_s, util.show(k))
    end
  end
  return order
end

-- Eager loading and nested creates (assoc.include), loaded on first use: it requires this
-- module.  with_include(opts) is true when opts carries an `include`.
local function eager()
  return require "assoc.include"
end
local function with_include(opts)
  return type(opts) == "table" and opts.include ~= nil
end

local FIND_OPTIONS = util.set { "where", "attributes", "order", "limit", "offset", "paranoid",
  "raw", "transaction" }

-- Checks find options and returns the core request.
-- (allowed == false: the caller has checked the option names and the transaction.)
local function find_request(M, where_s, opts, allowed)
  if allowed ~= false then opts = util.options(where_s, opts, allowed or FIND_OPTIONS) end
  check_where(M, where_s, opts.where)
  util.check_boolean(where_s, "paranoid", opts.paranoid)
  util.check_boolean(where_s, "raw", opts.raw)
  check_count_option(where_s, "limit", opts.limit)
  check_count_option(where_s, "offset", opts.offset)
  if allowed ~= false then transaction.check_option(M._db, opts.transaction, where_s) end
  return {
    where = opts.where,
    attributes = attribute_list(M, where_s, opts.attributes),
    order = check_order(M, where_s, opts.order),
    limit = opts.limit,
    offset = opts.offset,
    withDeleted = opts.paranoid == false,
  }, opts
end

Model._find_request = find_request   -- used by the association getters

local function run_find(M, req, opts)
  if opts.raw then return M._core:find(req) end
  return M._core:find(req, M._mt, STATE)
end

-- ---- finders ------------------------------------------------------------------------------
-- Model:findAll([opts]) -> array of instances.
function Model:findAll(opts)
  check_model(self, "findAll")
  if with_include(opts) then return eager().findAll(self, opts, self.name .. ".findAll") end
  local req, o = find_request(self, self.name .. ".findAll", opts)
  return run_find(self, req, o)
end

-- Model:findOne([opts]) -> instance or nil.
function Model:findOne(opts)
  check_model(self, "findOne")
  if with_include(opts) then return eager().findOne(self, opts, self.name .. ".findOne") end
  local req, o = find_request(self, self.name .. ".findOne", opts)
  req.limit = 1
  return run_find(self, req, o)[1]
end

local FINDBYPK_OPTIONS = util.set { "attributes", "paranoid", "raw", "transaction" }

-- Model:findByPk(pk [, opts]) -> instance or nil.
function Model:findByPk(pk, opts)
  check_model(self, "findByPk")
  if with_include(opts) then
    return eager().findByPk(self, pk, opts, self.name .. ".findByPk")
  end
  local where_s = self.name .. ".findByPk"
  local req, o = find_request(self, where_s, opts, FINDBYPK_OPTIONS)
  if not Model._pk_request(self, where_s, pk, req) then return nil end
  return run_find(self, req, o)[1]
end

-- Narrows req to the row whose primary key is pk (findByPk with or without include).
-- Returns false, leaving req alone, when pk is nil or assoc.null (no row can match).
function Model._pk_request(M, where_s, pk, req)
  if #M.primaryKeyAttributes ~= 1 then
    errors.raise("AssocError", "%s: the model has a composite primary key; use findOne",
      where_s)
  end
  if pk == nil or pk == null then return false end
  local t = type(pk)
  if t ~= "string" and t ~= "number" then
    errors.raise("AssocError", "%s: the primary key must be a string or a number, got %s",
      where_s, t)
  end
  req.where = { [M.primaryKeyAttribute] = pk }
  req.limit = 1
  return true
end

local COUNT_OPTIONS = util.set { "where", "paranoid", "transaction" }

-- Model:count([opts]) -> integer.
function Model:count(opts)
  check_model(self, "count")
  if with_include(opts) then return eager().count(self, opts, self.name .. ".count") end
  local where_s = self.name .. ".count"
  opts = util.options(where_s, opts, COUNT_OPTIONS)
  check_where(self, where_s, opts.where)
  util.check_boolean(where_s, "paranoid", opts.paranoid)
  transaction.check_option(self._db, opts.transaction, where_s)
  return self._core:count { where = opts.where, withDeleted = opts.paranoid == false }
end

-- Model:findAndCountAll([opts]) -> { count =, rows = }.
function Model:findAndCountAll(opts)
  check_model(self, "findAndCountAll")
  if with_include(opts) then
    return eager().findAndCountAll(self, opts, self.name .. ".findAndCountAll")
  end
  local req, o = find_request(self, self.name .. ".findAndCountAll", opts)
  return transaction.run(self._db, function()
    local count = self._core:count { where = req.where, withDeleted = req.withDeleted }
    return { count = count, rows = run_find(self, req, o) }
  end)
end

-- The values of a findOrCreate where table that are plain equalities.
local function where_values(where)
  local values = {}
  for k, v in pairs(where) do
    local t = type(v)
    if type(k) == "string" and (t == "string" or t == "number" or t == "boolean" or v == null) then
      values[k] = v
    end
  end
  return values
end

-- Model:findOrCreate{ where =, defaults = } -> instance, created.  Atomic.
function Model:findOrCreate(opts)
  check_model(self, "findOrCreate")
  local where_s = self.name .. ".findOrCreate"
  if opts == nil then
    errors.raise("AssocError", "%s: options with a 'where' are required", where_s)
  end
  opts = util.options(where_s, opts, util.set { "where", "defaults", "transaction", "paranoid" })
  check_where(self, where_s, opts.where, true)
  if opts.defaults ~= nil and type(opts.defaults) ~= "table" then
    errors.raise("AssocError", "%s: option 'defaults' must be a table, got %s", where_s,
      type(opts.defaults))
  end
  transaction.check_option(self._db, opts.transaction, where_s)
  local values = where_values(opts.where)
  for k, v in pairs(opts.defaults or {}) do values[k] = v end
  local built = instance.build(self, values, "findOrCreate")   -- checks the names up front
  return transaction.run(self._db, function(t)
    local found = self:findOne { where = opts.where, paranoid = opts.paranoid }
    if found then return found, false end
    return instance.insert(self, built, { transaction = t }), true
  end)
end

-- ---- writes --------------------------------------------------------------------------------
-- Model:build([values]) -> a new, unsaved instance.
function Model:build(values, opts)
  check_model(self, "build")
  util.options(self.name .. ".build", opts, {})
  return instance.build(self, values, "build")
end

-- Model:create(values [, opts]) -> instance.
function Model:create(values, opts)
  check_model(self, "create")
  if with_include(opts) then return eager().create(self, values, opts, self.name .. ".create") end
  opts = instance.save_options(self, "create", opts)
  local inst = instance.build(self, values, "create")
  return instance.insert(self, inst, opts)
end

local BULK_OPTIONS = util.set { "validate", "hooks", "individualHooks", "fields", "transaction" }
local BULK_HOOKS = { "beforeBulkCreate", "afterBulkCreate", "beforeValidate", "afterValidate",
  "beforeCreate", "beforeSave", "afterCreate", "afterSave" }

-- Validates every instance of insts: the validate hooks (when reg is given) and validate.run
-- per instance, in order; raises one ValidationError listing every failure (item.index: the
-- row).
local function validate_rows(M, insts, names, reg, hopts)
  local all = {}
  for i = 1, #insts do
    local inst = insts[i]
    if reg then hooks.run(reg, "beforeValidate", inst, hopts) end
    local items = validate.run(M, inst, names, inst, true)
    for j = 1, #items do
      local item = items[j]
      item.index = i
      all[#all + 1] = item
    end
    if reg then hooks.run(reg, "afterValidate", inst, hopts) end
  end
  if #all > 0 then errors.validation(all) end
end

-- True when a prototype entry shadows one of names: validation, which reads inst[name],
-- would see it for a missing value (the binding's screen reads raw values).
local function proto_shadows(M, names)
  local proto = M.prototype
  if next(proto) == nil and getmetatable(proto) == instance.PROTO_MT then return false end
  for i = 1, #names do
    if proto[names[i]] ~= nil then return true end
  end
  return false
end

-- True when the binding may screen writes of `names` for validation (m:insert and
-- m:insertMany in "screen" or "check" mode): no Lua validator to run, no prototype entry
-- that validation would read for a missing value.
function Model:_screenable(plan, names)
  return not plan.checks and not proto_shadows(self, names)
end

-- Sets the timestamps of every instance for an insert (Model:_stamp for each, one clock
-- reading for all).
local function stamp_all(M, insts)
  local created, updated = M._special.createdAt, M._special.updatedAt
  local now = core.now()
  for i = 1, #insts do
    local inst = insts[i]
    if created and rawget(inst, created) == nil then rawset(inst, created, now) end
    if updated and rawget(inst, updated) == nil then rawset(inst, updated, now) end
  end
end

-- The built instance list of bulkCreate's general path (rows of any kind; raises the
-- messages the binding's builder leaves to it).
local function build_rows(M, where_s, list)
  local n = #list
  for k in pairs(list) do
    if math.type(k) ~= "integer" or k < 1 or k > n then
      errors.raise("AssocError", "%s: expected an array, found key %s", where_s, util.show(k))
    end
  end
  local insts = {}
  for i = 1, n do
    local v = list[i]
    if instance.model_of(v) == M and v.isNewRecord then insts[i] = v
    else insts[i] = instance.build(M, v, "bulkCreate") end
  end
  return insts
end

-- Model:bulkCreate(array [, opts]) -> array of instances.  One transaction; every row is
-- validated before anything is written and one ValidationError lists every failure.
--
-- The rows go through the binding in bulk: m:build makes the instances (literal defaults
-- included; other defaults are made here, per row), m:insertMany with the write plan writes
-- them (and, with no hook or Lua validator in the way, screens them first: only when a row
-- may fail does validation run in Lua, to report every failure), m:snapshot records them as
-- saved.  Per-row Lua work is left for what needs it: individual hooks, validators, defaults
-- made per row, DATE values.
function Model:bulkCreate(list, opts)
  check_model(self, "bulkCreate")
  local where_s = self.name .. ".bulkCreate"
  if type(list) ~= "table" or instance.model_of(list) then
    errors.raise("AssocError", "%s: expected an array of value tables, got %s", where_s,
      type(list))
  end
  opts = instance.save_options(self, "bulkCreate", opts, BULK_OPTIONS)
  util.check_boolean(where_s, "individualHooks", opts.individualHooks)
  local names, plan = self._names, nil
  if opts.fields then
    names = {}
    local allowed = util.set(opts.fields)
    for _, name in ipairs(self._names) do if allowed[name] then names[#names + 1] = name end end
    plan = self:_write_plan(names)
  else
    plan = self:_wplan()
  end
  local insts = self._core:build(list, self._mt, STATE, plan.lits)
  if insts then
    local dyn = plan.dyn
    if #dyn > 0 then
      for i = 1, #insts do
        local inst, v = insts[i], list[i]
        if inst ~= v then
          for j = 1, #dyn do
            local name = dyn[j]
            if v[name] == nil then rawset(inst, name, self:_default(name)) end
          end
        end
      end
    end
  else
    insts = build_rows(self, where_s, list)
  end
  local n = #insts
  if n == 0 then return insts end
  local reg = self._hooks
  local use_hooks = opts.hooks ~= false
  local function body(t)
    local hopts = {}
    for k, v in pairs(opts) do hopts[k] = v end
    hopts.transaction = t
    if use_hooks then hooks.run(reg, "beforeBulkCreate", insts, hopts) end
    local screen = false
    if opts.validate ~= false then
      local vreg = use_hooks and hooks.any(reg, "beforeValidate", "afterValidate") and reg
      if vreg or not self:_screenable(plan, names) then
        validate_rows(self, insts, names, vreg, hopts)
      else
        screen = true
      end
    end
    local each = use_hooks and opts.individualHooks
      and hooks.any(reg, "beforeCreate", "beforeSave", "afterCreate", "afterSave")
    if screen and (each or plan.stamps) then
      -- the rows change between validation and the write: check them now
      if not self._core:insertMany(insts, plan.insert, "check") then
        validate_rows(self, insts, names, nil, hopts)
      end
      screen = false
    end
    if each then
      for i = 1, n do
        local inst = insts[i]
        hooks.run(reg, "beforeCreate", inst, hopts)
        hooks.run(reg, "beforeSave", inst, hopts)
        self:_stamp(inst, true, false)
      end
    elseif plan.stamps then
      stamp_all(self, insts)
    end
    local pk = self._rowid_pk and self.primaryKeyAttribute or nil
    local rowids = self._core:insertMany(insts, plan.insert, screen and "screen" or "insert",
      pk, not each)
    if rowids == false then   -- a row may fail validation: validate in Lua
      validate_rows(self, insts, names, nil, hopts)
      rowids = self._core:insertMany(insts, plan.insert, "insert", pk, not each)
    end
    if each then
      for i = 1, n do
        local inst = insts[i]
        if pk and rawget(inst, pk) == nil then rawset(inst, pk, rowids[i]) end
        if plan.dates then instance.stored_dates(self, inst, names) end
        instance.set_snapshot(inst, instance.snapshot(self, inst))
        hooks.run(reg, "afterCreate", inst, hopts)
        hooks.run(reg, "afterSave", inst, hopts)
      end
    else
      if plan.dates then
        for i = 1, n do instance.stored_dates(self, insts[i], names) end
      end
      instance.snapshot_all(self, insts)
    end
    if use_hooks then hooks.run(reg, "afterBulkCreate", insts, hopts) end
    return insts
  end
  -- The write itself is atomic (m:insertMany); hooks need a transaction around it all.
  if use_hooks and hooks.any(reg, table.unpack(BULK_HOOKS)) then
    return transaction.run(self._db, body)
  end
  return body(nil)
end

local UPDATE_OPTIONS = util.set { "where", "paranoid", "fields", "validate", "hooks", "silent",
  "transaction" }

-- Model:update(values, { where = ... }) -> number of rows changed.
function Model:update(values, opts)
  check_model(self, "update")
  local where_s = self.name .. ".update"
  if type(values) ~= "table" or instance.model_of(values) then
    errors.raise("AssocError", "%s: values must be a table, got %s", where_s, type(values))
  end
  if opts == nil then
    errors.raise("AssocError", "%s: option 'where' is required (use where = {} for every row)",
      where_s)
  end
  opts = util.options(where_s, opts, UPDATE_OPTIONS)
  check_where(self, where_s, opts.where, true)
  for _, k in ipairs { "paranoid", "validate", "hooks", "silent" } do
    util.check_boolean(where_s, k, opts[k])
  end
  transaction.check_option(self._db, opts.transaction, where_s)
  local allowed = opts.fields and util.set(opts.fields)
  local vals, names = {}, {}
  for _, k in ipairs(util.sorted_keys(values)) do
    if type(k) ~= "string" or not self.rawAttributes[k] then
      errors.raise("AssocError", "%s: unknown attribute %s", where_s, util.show(k))
    end
  end
  for _, name in ipairs(self._names) do
    local v = values[name]
    if v ~= nil and (not allowed or allowed[name]) then
      vals[name] = v
      names[#names + 1] = name
    end
  end
  if #names == 0 then return 0 end
  if opts.validate ~= false then
    local items = validate.run(self, vals, names, nil, false)
    if #items > 0 then errors.validation(items) end
  end
  local updated = self._special.updatedAt
  if updated and not opts.silent and vals[updated] == nil then vals[updated] = core.now() end
  local reg = self._hooks
  local run_hooks = opts.hooks ~= false and hooks.any(reg, "beforeBulkUpdate", "afterBulkUpdate")
  local function body(t)
    local hopts = {}
    for k, v in pairs(opts) do hopts[k] = v end
    hopts.attributes = vals
    hopts.transaction = t
    if run_hooks then hooks.run(reg, "beforeBulkUpdate", hopts) end
    local n = self._core:update(vals, opts.where, opts.paranoid == false)
    if run_hooks then hooks.run(reg, "afterBulkUpdate", hopts) end
    return n
  end
  if run_hooks then return transaction.run(self._db, body) end
  return body(nil)
end

local DESTROY_OPTIONS = util.set { "where", "force", "hooks", "transaction" }

-- Model:destroy{ where = ... [, force = true] } -> number of rows removed (soft-deleted on a
-- paranoid model unless force).
function Model:destroy(opts)
  check_model(self, "destroy")
  local where_s = self.name .. ".destroy"
  if opts == nil then
    errors.raise("AssocError", "%s: option 'where' is required (use where = {} for every row)",
      where_s)
  end
  opts = util.options(where_s, opts, DESTROY_OPTIONS)
  check_where(self, where_s, opts.where, true)
  util.check_boolean(where_s, "force", opts.force)
  util.check_boolean(where_s, "hooks", opts.hooks)
  transaction.check_option(self._db, opts.transaction, where_s)
  local reg = self._hooks
  local run_hooks = opts.hooks ~= false and hooks.any(reg, "beforeBulkDestroy",
    "afterBulkDestroy")
  local function body(t)
    local hopts = {}
    for k, v in pairs(opts) do hopts[k] = v end
    hopts.transaction = t
    if run_hooks then hooks.run(reg, "beforeBulkDestroy", hopts) end
    local n
    local deleted = self._special.deletedAt
    if deleted and not opts.force then
      n = self._core:update({ [deleted] = core.now() }, opts.where, false)
    else
      n = self._core:delete(opts.where)
    end
    if run_hooks then hooks.run(reg, "afterBulkDestroy", hopts) end
    return n
  end
  if run_hooks then return transaction.run(self._db, body) end
  return body(nil)
end

-- Model:restore{ where = ... } -> number of soft-deleted rows restored (paranoid models).
function Model:restore(opts)
  check_model(self, "restore")
  local where_s = self.name .. ".restore"
  opts = util.options(where_s, opts, util.set { "where", "transaction" })
  check_where(self, where_s, opts.where)
  transaction.check_option(self._db, opts.transaction, where_s)
  local deleted = self._special.deletedAt
  if not deleted then
    errors.raise("AssocError", "%s: the model is not paranoid", where_s)
  end
  local Op = core.Op
  local where = { [deleted] = { [Op.ne] = null } }
  if opts.where then where = { [Op["and"]] = { opts.where, where } } end
  return self._core:update({ [deleted] = null }, where, true)
end

-- ---- hooks -----------------------------------------------------------------------------------
-- Model:addHook(name, [label,] fn) -> Model.
function Model:addHook(name, label, fn)
  check_model(self, "addHook")
  if fn == nil then label, fn = nil, label end
  hooks.add(self._hooks, self.name .. ".addHook", name, label, fn)
  return self
end

-- Model:removeHook(name [, label or fn]) -> Model.
function Model:removeHook(name, label)
  check_model(self, "removeHook")
  hooks.remove(self._hooks, self.name .. ".removeHook", name, label)
  return self
end

-- Model:hasHook(name) -> boolean.
function Model:hasHook(name)
  check_model(self, "hasHook")
  return hooks.any(self._hooks, name)
end
Model.hasHooks = Model.hasHook

-- Model:beforeCreate(fn), Model:afterSave(fn), ...: shorthands for addHook.
for _, hook_name in ipairs(hooks.NAMES) do
  Model[hook_name] = function(self, label, fn)
    check_model(self, hook_name)
    return self:addHook(hook_name, label, fn)
  end
end

-- Model:getAttributes() -> rawAttributes;  Model:getTableName() -> tableName.
function Model:getAttributes()
  check_model(self, "getAttributes")
  return self.rawAttributes
end

function Model:getTableName()
  check_model(self, "getTableName")
  return self.tableName
end

return Model
