-- assoc.associations: Model:hasOne, belongsTo, hasMany and belongsToMany, the association
-- objects they return and the accessors they install on the source model's instances.
--
-- Keys, names, junction models and the SQL of every accessor live in the core (see
-- doc/associations.md).  This module checks the arguments and normalizes Sequelize's option
-- forms into the binding's flat options, keeps the Lua models in step with what the core
-- added (foreign-key attributes, generated junction models), installs the accessors and
-- dispatches them: each turns instances and key values into the values the core wants and
-- calls the binding once.  What needs hooks and validation goes through the Lua face:
-- create* through Model:create, belongsTo set* through instance:save; accessors made of
-- several steps run inside one transaction.
-- Builtins as upvalues: the accessors' hot paths call them on every call.
local type, rawget, rawset, getmetatable = type, rawget, rawset, getmetatable
local pairs, ipairs, pcall, error = pairs, ipairs, pcall, error
local core = require "assoc.core"
local errors = require "assoc.errors"
local instance = require "assoc.instance"
local Model = require "assoc.model"
local transaction = require "assoc.transaction"
local util = require "assoc.util"

local null = core.null
local STATE = instance.STATE
local is_new = instance.is_new
local show = util.show

local function fail(fmt, ...)
  errors.raise("AssociationError", fmt, ...)
end

local function is_model(v)
  return getmetatable(v) == Model
end

-- A short description of v for messages: "a User instance", "the model User", "a string".
local function describe(v)
  local M = instance.model_of(v)
  if M then return ("a %s instance"):format(M.name) end
  if is_model(v) then return ("the model %s"):format(v.name) end
  if v == null then return "assoc.null" end
  if type(v) == "string" then return ("the string %s"):format(show(v)) end
  return ("a %s"):format(type(v))
end

-- True when t is a plain table (no metatable).
local function plain_table(t)
  return type(t) == "table" and getmetatable(t) == nil
end

-- Raises unless every key of t is in the set `allowed`; `what` names the table in messages.
local function check_keys(where_s, what, t, allowed)
  for _, k in ipairs(util.sorted_keys(t)) do
    if not allowed[k] then fail("%s: unknown %s %s", where_s, what, show(k)) end
  end
end

local function check_bool(where_s, name, v)
  if v ~= nil and type(v) ~= "boolean" then
    fail("%s: option '%s' must be a boolean, got %s", where_s, name, type(v))
  end
end

local function nonempty_string(v)
  return type(v) == "string" and v ~= ""
end

-- ---- the association object ------------------------------------------------------------
local Association = {}
Association.__index = Association

function Association.__tostring(A)
  return ("assoc.Association %s.%s (%s)"):format(A.source.name, A.as, A.associationType)
end

local KINDS = {
  hasOne = "HasOne", belongsTo = "BelongsTo", hasMany = "HasMany",
  belongsToMany = "BelongsToMany",
}
local SINGLE = { HasOne = true, BelongsTo = true }

-- ---- option normalization --------------------------------------------------------------
local COMMON = { "as", "foreignKey", "scope", "constraints", "onDelete", "onUpdate" }
local function kind_options(extra)
  local s = util.set(COMMON)
  for _, k in ipairs(extra) do s[k] = true end
  return s
end
local KIND_OPTIONS = {
  hasOne = kind_options { "sourceKey" },
  belongsTo = kind_options { "targetKey" },
  hasMany = kind_options { "sourceKey" },
  belongsToMany = kind_options { "sourceKey", "targetKey", "otherKey", "through", "timestamps" },
}
local FK_ACTIONS = util.set { "CASCADE", "SET NULL", "RESTRICT", "NO ACTION", "SET DEFAULT" }
local THROUGH_KEYS = util.set { "model", "unique", "scope", "timestamps" }

-- A checked scope table { attr = value } (equalities; values stamped on writes).  M: the
-- model whose attributes the keys must be (nil: the core checks them).
local function check_scope(where_s, name, scope, M)
  if not plain_table(scope) then
    fail("%s: option '%s' must be a table of attribute = value, got %s", where_s, name,
      describe(scope))
  end
  local out = {}
  for _, k in ipairs(util.sorted_keys(scope)) do
    local v = scope[k]
    if type(k) ~= "string" then
      fail("%s: option '%s': keys must be attribute names, got %s", where_s, name, show(k))
    end
    if M and not M.rawAttributes[k] then
      fail("%s: option '%s': %s is not an attribute of %s", where_s, name, show(k), M.name)
    end
    local t = type(v)
    if not (t == "string" or t == "number" or t == "boolean" or v == null) then
      fail("%s: option '%s': the value of %s must be a string, number, boolean or assoc.null "
        .. "(scopes are equalities), got %s", where_s, name, show(k), describe(v))
    end
    out[k] = v
  end
  return out
end

-- The through model named or given by v (a Model, a model name, or nil), for checks.
local function through_model(db, v)
  if is_model(v) then return v end
  if type(v) == "string" then return db.models[v] end
  return nil
end

-- Turns the Lua options of S:<kind>(T, opts) into the binding's flat options.
local function normalize(kind, S, T, opts, where_s)
  local db = S._db
  local o = {}
  if opts.through ~= nil and kind ~= "belongsToMany" then
    fail("%s: option 'through' is only for belongsToMany (a %s association has no junction)",
      where_s, KINDS[kind])
  end
  check_keys(where_s, "option", opts, KIND_OPTIONS[kind])

  local as = opts.as
  if as ~= nil then
    if nonempty_string(as) then
      o.as = as
    elseif plain_table(as) then
      check_keys(where_s, "key in option 'as'", as, util.set { "singular", "plural" })
      if not nonempty_string(as.singular) or not nonempty_string(as.plural) then
        fail("%s: option 'as' as a table needs both 'singular' and 'plural' (non-empty strings)",
          where_s)
      end
      o.as = { singular = as.singular, plural = as.plural }
    else
      fail("%s: option 'as' must be a non-empty string or { singular =, plural = }, got %s",
        where_s, describe(as))
    end
  end

  local fk = opts.foreignKey
  if fk ~= nil then
    if nonempty_string(fk) then
      o.foreignKey = fk
    elseif plain_table(fk) then
      check_keys(where_s, "key in option 'foreignKey'", fk,
        util.set { "name", "fieldName", "allowNull" })
      local name = fk.name
      if name == nil then name = fk.fieldName end
      if name ~= nil and not nonempty_string(name) then
        fail("%s: option 'foreignKey': 'name' must be a non-empty string, got %s", where_s,
          describe(name))
      end
      check_bool(where_s, "foreignKey.allowNull", fk.allowNull)
      o.foreignKey = { name = name, allowNull = fk.allowNull }
    else
      fail("%s: option 'foreignKey' must be a name or { name =, allowNull = }, got %s", where_s,
        describe(fk))
    end
  end

  if opts.sourceKey ~= nil then
    if not nonempty_string(opts.sourceKey) or not S.rawAttributes[opts.sourceKey] then
      fail("%s: option 'sourceKey': %s is not an attribute of %s", where_s,
        show(opts.sourceKey), S.name)
    end
    o.sourceKey = opts.sourceKey
  end
  if opts.targetKey ~= nil then
    if not nonempty_string(opts.targetKey) or not T.rawAttributes[opts.targetKey] then
      fail("%s: option 'targetKey': %s is not an attribute of %s", where_s,
        show(opts.targetKey), T.name)
    end
    o.targetKey = opts.targetKey
  end
  local ok = opts.otherKey
  if ok ~= nil then
    if nonempty_string(ok) then
      o.otherKey = ok
    elseif plain_table(ok) then
      check_keys(where_s, "key in option 'otherKey'", ok, util.set { "name", "fieldName" })
      local name = ok.name
      if name == nil then name = ok.fieldName end
      if not nonempty_string(name) then
        fail("%s: option 'otherKey' needs a 'name' (a non-empty string)", where_s)
      end
      o.otherKey = { name = name }
    else
      fail("%s: option 'otherKey' must be a name or { name = }, got %s", where_s, describe(ok))
    end
  end

  if kind == "belongsToMany" then
    local th = opts.through
    if th == nil then
      fail("%s: belongsToMany needs a 'through' option (a junction model or its name)", where_s)
    end
    local spec = th
    if not plain_table(th) then spec = { model = th } end
    check_keys(where_s, "key in option 'through'", spec, THROUGH_KEYS)
    local m = spec.model
    if is_model(m) then
      if m._db ~= db then
        fail("%s: the through model %s belongs to another database", where_s, m.name)
      end
      o.through = m._core
    elseif nonempty_string(m) then
      o.through = m
    else
      fail("%s: option 'through' must be a model, a model name or { model = ... }, got %s",
        where_s, describe(m))
    end
    check_bool(where_s, "through.unique", spec.unique)
    o.throughUnique = spec.unique
    local ts = spec.timestamps
    if ts == nil then ts = opts.timestamps end
    check_bool(where_s, "timestamps", ts)
    o.throughTimestamps = ts
    if spec.scope ~= nil then
      o.throughScope = check_scope(where_s, "through.scope", spec.scope, through_model(db, m))
    end
    if S == T and opts.as == nil then
      fail("%s: a self belongsToMany needs 'as' (e.g. as = \"Friends\"), which also names "
        .. "the other key", where_s)
    end
  end

  if opts.scope ~= nil then o.scope = check_scope(where_s, "scope", opts.scope, T) end
  check_bool(where_s, "constraints", opts.constraints)
  o.constraints = opts.constraints
  for _, k in ipairs { "onDelete", "onUpdate" } do
    local v = opts[k]
    if v ~= nil then
      if type(v) ~= "string" or not FK_ACTIONS[v:upper()] then
        fail("%s: option '%s' must be one of CASCADE, SET NULL, RESTRICT, NO ACTION, "
          .. "SET DEFAULT, got %s", where_s, k, show(v))
      end
      o[k] = v:upper()
    end
  end
  return o
end

-- ---- accessor helpers ------------------------------------------------------------------
-- "Source.accessor", the name errors give an accessor call: made once per accessor.
local function where_name(A, acc)
  local names = A._where_names
  local w = names[acc]
  if w == nil then
    w = A.source.name .. "." .. acc
    names[acc] = w
  end
  return w
end

-- The source model of accessor `acc` called on `self`, checked: an instance of A.source on
-- an open db.
local function check_source(A, self, acc)
  local M = instance.model_of(self)
  if M == nil then
    fail("%s.%s: call it as instance:%s(...) on a %s instance", A.source.name, acc, acc,
      A.source.name)
  end
  M._db:_check()
  if M ~= A.source then
    fail("%s.%s: called on %s", A.source.name, acc, describe(self))
  end
  return M
end

-- The value identifying the link on the source instance: its sourceKey (hasOne, hasMany,
-- belongsToMany), which must be set on a saved instance.
local function source_value(A, self, acc)
  if is_new(self) then
    fail("%s.%s: the %s instance is not saved yet; save it first", A.source.name, acc,
      A.source.name)
  end
  local v = rawget(self, A._sourceAttr)
  if v == nil or v == null then
    fail("%s.%s: the %s instance has no value for '%s'", A.source.name, acc, A.source.name,
      A._sourceAttr)
  end
  return v
end

-- The source value of a call on `self` when self is a saved instance of A.source, with a
-- value for A._sourceAttr, on an open db -- the common case, checked in one go -- else nil
-- (then the accessor takes its general path, which raises what is wrong).
local function quick_source(A, self)
  if type(self) ~= "table" then return nil end
  local mt = getmetatable(self)
  if type(mt) ~= "table" or rawget(mt, "model") ~= A.source or A.source._db._closed then
    return nil
  end
  if rawget(self, STATE) == nil and rawget(mt, 0) == nil then return nil end   -- new
  local v = rawget(self, A._sourceAttr)
  if v == null then return nil end
  return v
end

-- The target value of v when v is a saved instance of A.target with a value for
-- A._targetAttr (and the instance), or a string or finite number key; else nil (the
-- general path, target_value, raises what is wrong).
local function quick_target(A, v)
  local t = type(v)
  if t == "table" then
    local mt = getmetatable(v)
    if type(mt) ~= "table" or rawget(mt, "model") ~= A.target then return nil end
    if rawget(v, STATE) == nil and rawget(mt, 0) == nil then return nil end   -- new
    local x = rawget(v, A._targetAttr)
    if x == null then return nil end
    return x, v
  end
  if t == "string" or (t == "number" and v == v and v ~= math.huge and v ~= -math.huge) then
    return v
  end
  return nil
end

-- The error of a core call that raised: AssociationErrors get the accessor's name in front.
local function core_error(A, acc, err)
  if errors.is_error(err) and err.name == "AssociationError" and type(err.message) == "string"
  then
    local prefix = where_name(A, acc) .. ": "
    if err.message:sub(1, #prefix) ~= prefix then err.message = prefix .. err.message end
  end
  error(err, 0)
end

-- The target-attribute value of one target argument v (an instance of the target model or a
-- key value), and the instance when v is one.
local function target_value(A, acc, v)
  local T = A.target
  local M = instance.model_of(v)
  if M then
    if M ~= T then
      fail("%s.%s: expected a %s instance or key value, got %s", A.source.name, acc, T.name,
        describe(v))
    end
    if is_new(v) then
      fail("%s.%s: the %s instance is not saved yet; save it first", A.source.name, acc,
        T.name)
    end
    local x = rawget(v, A._targetAttr)
    if x == nil or x == null then
      fail("%s.%s: the %s instance has no value for '%s'", A.source.name, acc, T.name,
        A._targetAttr)
    end
    return x, v
  end
  local t = type(v)
  if t == "string" or (t == "number" and v == v and v ~= math.huge and v ~= -math.huge) then
    return v, nil
  end
  fail("%s.%s: expected a %s instance or key value, got %s", A.source.name, acc, T.name,
    describe(v))
end

-- The target values (deduplicated, in order) and instances (parallel; false for a key
-- value) of a list argument: an array of instances/keys, or one instance or key.
local function target_list(A, acc, list)
  if list == nil or list == null then return {}, {} end
  if type(list) ~= "table" or instance.model_of(list) then list = { list } end
  if getmetatable(list) ~= nil then
    fail("%s.%s: expected an array of %s instances or key values, got %s", A.source.name, acc,
      A.target.name, describe(list))
  end
  local n = #list
  for k in pairs(list) do
    if math.type(k) ~= "integer" or k < 1 or k > n then
      fail("%s.%s: expected an array of %s instances or key values, found key %s",
        A.source.name, acc, A.target.name, show(k))
    end
  end
  local values, insts, seen = {}, {}, {}
  for i = 1, n do
    local v, inst = target_value(A, acc, list[i])
    local key = (math.type(v) == "float" and math.tointeger(v)) or v
    if not seen[key] then
      seen[key] = true
      values[#values + 1] = v
      insts[#insts + 1] = inst or false
    end
  end
  return values, insts
end

-- The target values and instances of a call: a list (target_list) for the plural
-- accessors, exactly one instance or key value for the singular ones.
local function target_args(A, acc, targets, many)
  if many then return target_list(A, acc, targets) end
  if targets == nil or targets == null then
    fail("%s.%s: expected a %s instance or key value, got nothing", A.source.name, acc,
      A.target.name)
  end
  local v, inst = target_value(A, acc, targets)
  return { v }, { inst or false }
end

-- The names of the junction attributes the through values may not set (the two keys).
local function junction_keys(A)
  return { [A.foreignKey] = true, [A.otherKey] = true }
end

-- The per-target through rows for the binding (an array parallel to `insts`), merged from
-- the call's defaults and each target instance's target[ThroughName]; nil when no through
-- value is given at all.  A target that lacks an attribute another target sets leaves it
-- "missing": an existing link keeps its value, a new one gets the attribute's default.  The
-- second result holds those defaults (an array parallel to `insts` of tables; only the
-- attributes with a defaultValue, evaluated once per missing cell).
local function check_through_key(A, J, acc, k)
  if type(k) ~= "string" or not J.rawAttributes[k] then
    fail("%s.%s: %s is not an attribute of the through model %s", A.source.name, acc, show(k),
      J.name)
  end
  if k == A.foreignKey or k == A.otherKey then
    fail("%s.%s: the through value %s is a key of %s, set by the association", A.source.name,
      acc, show(k), J.name)
  end
end

local function through_rows(A, acc, defaults, insts)
  local J = A.through
  local key = J.name
  if defaults ~= nil and not plain_table(defaults) then
    fail("%s.%s: option 'through' must be a table of %s attribute values, got %s",
      A.source.name, acc, J.name, describe(defaults))
  end
  local rows, union, any = {}, {}, false
  for i = 1, #insts do
    local inst = insts[i]
    local row = {}
    if defaults ~= nil then
      for k, v in pairs(defaults) do
        check_through_key(A, J, acc, k); row[k] = v; union[k] = true; any = true
      end
    end
    local own = nil
    if inst then own = rawget(inst, key) end
    if own ~= nil then
      if instance.model_of(own) == J then
        -- a junction row as loaded by get: its own values, not its keys or timestamps
        local skip = junction_keys(A)
        for _, s in pairs(J._special) do skip[s] = true end
        for s in pairs(A.throughScope or {}) do skip[s] = true end
        for _, name in ipairs(J._names) do
          local v = rawget(own, name)
          if v ~= nil and not skip[name] and not J.rawAttributes[name].primaryKey then
            row[name] = v; union[name] = true; any = true
          end
        end
      elseif plain_table(own) then
        for k, v in pairs(own) do
          check_through_key(A, J, acc, k); row[k] = v; union[k] = true; any = true
        end
      else
        fail("%s.%s: %s.%s must be a table of %s attribute values, got %s", A.source.name, acc,
          A.target.name, key, J.name, describe(own))
      end
    end
    rows[i] = row
  end
  if not any then return nil end
  local dflts, ukeys = {}, nil
  for i = 1, #rows do
    local row, d = rows[i], {}
    for k in pairs(union) do
      if row[k] == nil then          -- a missing cell: its default, in name order
        ukeys = ukeys or util.sorted_keys(union)
        for _, u in ipairs(ukeys) do
          if row[u] == nil then d[u] = J:_default(u) end
        end
        break
      end
    end
    dflts[i] = d
  end
  return rows, dflts
end

-- The options of a call that gave none: one shared table, never written (accessors only
-- read their options), so that a call without options allocates nothing for them.
local NO_OPTIONS = {}

-- Checks the options of an accessor against `allowed` and the transaction option.
local function accessor_options(A, acc, opts, allowed)
  if opts == nil then return NO_OPTIONS end
  local where_s = where_name(A, acc)
  if not plain_table(opts) then
    fail("%s: options must be a table, got %s", where_s, describe(opts))
  end
  for k in pairs(opts) do
    if not allowed[k] then
      check_keys(where_s, "option", opts, allowed)   -- raises naming the first, sorted
    end
  end
  if opts.transaction ~= nil then
    transaction.check_option(A.source._db, opts.transaction, where_s)
  end
  return opts
end

-- Runs the core call fn(...) turning the binding's misuse errors (AssocError) into
-- AssociationErrors: used for defining associations, where every misuse is one.
local function define_call(fn, ...)
  local res = table.pack(pcall(fn, ...))
  if res[1] then return table.unpack(res, 2, res.n) end
  local err = res[2]
  if errors.is_error(err) and err.name == "AssocError" then
    local fields = {}
    for k, v in pairs(err) do fields[k] = v end
    error(errors.AssociationError(err.message, fields), 0)
  end
  error(err, 0)
end

-- Runs an accessor's core call.  The binding's AssociationErrors (a key value of the wrong
-- type, ...) get the accessor's name in front of their message ("User.addPost: Post.id must
-- be an integer (got string)"); other errors pass as they are.
local function core_call(A, acc, fn, ...)
  local ok, res = pcall(fn, ...)        -- the binding's accessors return one value or none
  if ok then return res end
  core_error(A, acc, res)
end

-- Sets the in-memory values of inst (and its snapshot, as they are now stored).
local function stored(inst, values)
  local M = instance.model_of(inst)
  for k, v in pairs(values) do
    if v == null then v = nil end
    rawset(inst, k, v)
    instance.snap_set(M, inst, k, util.deep_copy(v))
  end
end

-- The values for creating a target linked to the source: values plus the foreign key and the
-- association scope (they win).
local function linked_values(A, acc, values, extra)
  if values == nil then values = {} end
  if not plain_table(values) then
    fail("%s.%s: values must be a table, got %s", A.source.name, acc, describe(values))
  end
  local v = {}
  for k, x in pairs(values) do v[k] = x end
  for k, x in pairs(extra or {}) do v[k] = x end
  for k, x in pairs(A.scope or {}) do v[k] = x end
  return v
end

-- The save-style options passed on to Model:create (create accessors).
local CREATE_OPTIONS = util.set { "fields", "validate", "hooks", "silent", "transaction" }
local function create_options(opts, extra_fields)
  local o = {}
  for k in pairs(CREATE_OPTIONS) do o[k] = opts[k] end
  if o.fields and extra_fields then
    local f = {}
    for i, n in ipairs(o.fields) do f[i] = n end
    for _, n in ipairs(extra_fields) do f[#f + 1] = n end
    o.fields = f
  end
  return o
end

local function scope_names(A)
  local names = {}
  for k in pairs(A.scope or {}) do names[#names + 1] = k end
  return names
end

-- ---- getters ---------------------------------------------------------------------------
local GET_MANY = util.set { "where", "attributes", "order", "limit", "offset", "paranoid", "raw",
  "transaction", "include" }
local GET_BTM = util.set { "where", "attributes", "order", "limit", "offset", "paranoid",
  "raw", "transaction", "include", "joinTableAttributes", "through" }
local GET_ONE = util.set { "where", "attributes", "paranoid", "raw", "transaction", "include" }

-- The core request of getter options (checked like findAll's; accessor_options has checked
-- their names and the transaction).
local function get_request(A, acc, opts)
  return (Model._find_request(A.target, where_name(A, acc), opts, false))
end

-- The through request of belongsToMany getter options: junction attributes and where.
local function through_request(A, acc, opts, raw)
  local J = A.through
  local where_s = where_name(A, acc)
  local topt = opts.through
  if topt ~= nil then
    if not plain_table(topt) then
      fail("%s: option 'through' must be a table { where =, attributes = }, got %s", where_s,
        describe(topt))
    end
    check_keys(where_s, "key in option 'through'", topt, util.set { "where", "attributes" })
    if topt.where ~= nil and not plain_table(topt.where) then
      fail("%s: option 'through.where' must be a table, got %s", where_s, describe(topt.where))
    end
  end
  local attrs = opts.joinTableAttributes
  if attrs == nil and topt then attrs = topt.attributes end
  if attrs ~= nil then
    if not plain_table(attrs) then
      fail("%s: option 'joinTableAttributes' must be an array of %s attribute names, got %s",
        where_s, J.name, describe(attrs))
    end
    local list = {}
    for i, name in ipairs(attrs) do
      if type(name) ~= "string" or not J.rawAttributes[name] then
        fail("%s: option 'joinTableAttributes': %s is not an attribute of %s", where_s,
          show(name), J.name)
      end
      list[i] = name
    end
    attrs = list
  end
  return { attributes = attrs, where = topt and topt.where, key = J.name,
    mt = (not raw) and J._mt or nil, statekey = (not raw) and STATE or nil }
end

-- Runs the getter's core read: rows of the target (instances unless raw).
local function core_get(A, acc, src, req, raw, through)
  if raw then return core_call(A, acc, A._core.get, A._core, src, req, nil, nil, through) end
  return core_call(A, acc, A._core.get, A._core, src, req, A.target._mt, STATE, through)
end

-- The eager-loading module (assoc.include), or nil when this build has none.
local eager
local function eager_module()
  if eager == nil then
    local ok, mod = pcall(require, "assoc.include")
    eager = ok and type(mod) == "table" and type(mod.normalize) == "function" and mod or false
  end
  return eager or nil
end

-- A getter with `include`: the core read picks the targets (their primary keys, in order,
-- with their junction rows), then Target:findAll loads them with the includes (eager
-- loading).  The include is checked before anything runs.
local function get_with_include(A, acc, src, req, opts, through)
  local T = A.target
  local where_s = where_name(A, acc)
  local mod = eager_module()
  if not mod then
    fail("%s: option 'include' needs eager loading, which this build does not have", where_s)
  end
  mod.normalize(T, opts.include, where_s)
  local pk = T.primaryKeyAttribute
  local ids_req = {}
  for k, v in pairs(req) do ids_req[k] = v end
  ids_req.attributes = { pk }
  local picked = core_get(A, acc, src, ids_req, true, through)
  local ids = {}
  for i, row in ipairs(picked) do ids[i] = row[pk] end
  if #ids == 0 then return {} end
  local attrs = opts.attributes
  if plain_table(attrs) and attrs.exclude == nil then
    local has_pk = false
    for _, n in ipairs(attrs) do if n == pk then has_pk = true end end
    if not has_pk then
      attrs = { table.unpack(attrs) }
      attrs[#attrs + 1] = pk
    end
  end
  local rows = T:findAll { where = { [pk] = ids }, include = opts.include, attributes = attrs,
    paranoid = opts.paranoid, raw = opts.raw, transaction = opts.transaction }
  local by_id = {}
  for _, r in ipairs(rows) do by_id[r[pk]] = r end
  local out = {}
  for i, id in ipairs(ids) do
    local r = by_id[id]
    if r then
      if through and picked[i][through.key] ~= nil then
        rawset(r, through.key, picked[i][through.key])
      end
      out[#out + 1] = r
    end
  end
  return out
end

local function make_get_many(A, acc)
  local btm = A.associationType == "BelongsToMany"
  local core = A._core
  local qget = core.qget
  -- The requests of a call without options, made on the first such call: the same every
  -- time (the binding only reads them).
  local plain_req, plain_through
  return function(self, opts)
    if opts == nil then       -- the common call: the binding checks it in one go (quick path)
      -- (the quick paths raise only statement errors, never an AssociationError, so they
      -- need no protected call: core_error would pass their errors on unchanged)
      local took, res = qget(core, self)
      if took then return res end
    end
    local src = quick_source(A, self)           -- nil: the checks below, in their order
    if src == nil then check_source(A, self, acc) end
    opts = accessor_options(A, acc, opts, btm and GET_BTM or GET_MANY)
    if src == nil then src = source_value(A, self, acc) end
    if opts == NO_OPTIONS then
      if plain_req == nil then
        plain_req = get_request(A, acc, opts)
        plain_through = btm and through_request(A, acc, opts, nil) or nil
      end
      return core_call(A, acc, A._core.get, A._core, src, plain_req, A.target._mt, STATE,
        plain_through)
    end
    local req = get_request(A, acc, opts)
    local through = btm and through_request(A, acc, opts, opts.raw) or nil
    if opts.include ~= nil then
      return get_with_include(A, acc, src, req, opts, through)
    end
    return core_get(A, acc, src, req, opts.raw, through)
  end
end

local function make_get_one(A, acc)
  local belongs = A.associationType == "BelongsTo"
  return function(self, opts)
    check_source(A, self, acc)
    opts = accessor_options(A, acc, opts, GET_ONE)
    local src
    if belongs then
      src = rawget(self, A._sourceAttr)
      local req = get_request(A, acc, opts)       -- checks the options first
      if src == nil or src == null then return nil end
      req.limit = 1
      if opts.include ~= nil then return get_with_include(A, acc, src, req, opts)[1] end
      return core_get(A, acc, src, req, opts.raw)[1]
    end
    src = source_value(A, self, acc)
    local req = get_request(A, acc, opts)
    req.limit = 1
    if opts.include ~= nil then return get_with_include(A, acc, src, req, opts)[1] end
    return core_get(A, acc, src, req, opts.raw)[1]
  end
end

local COUNT_OPTIONS = util.set { "where", "paranoid", "transaction" }
local COUNT_BTM = util.set { "where", "paranoid", "transaction", "through" }

local PLAIN_COUNT = { withDeleted = false }   -- the request of a count without options

local function make_count(A, acc)
  local btm = A.associationType == "BelongsToMany"
  local core = A._core
  local qcount = core.qcount
  return function(self, opts)
    if opts == nil then
      local took, res = qcount(core, self)
      if took then return res end
      check_source(A, self, acc)
      local src = source_value(A, self, acc)
      local ok
      ok, res = pcall(core.count, core, src, PLAIN_COUNT)
      if ok then return res end
      core_error(A, acc, res)
    end
    local src = quick_source(A, self)           -- nil: the checks below, in their order
    if src == nil then check_source(A, self, acc) end
    opts = accessor_options(A, acc, opts, btm and COUNT_BTM or COUNT_OPTIONS)
    if src == nil then src = source_value(A, self, acc) end
    local where_s = where_name(A, acc)
    if opts.where ~= nil and not plain_table(opts.where) then
      fail("%s: option 'where' must be a table, got %s", where_s, describe(opts.where))
    end
    check_bool(where_s, "paranoid", opts.paranoid)
    local through = nil
    local topt = opts.through
    if topt ~= nil then
      if not plain_table(topt) then
        fail("%s: option 'through' must be a table { where = }, got %s", where_s,
          describe(topt))
      end
      check_keys(where_s, "key in option 'through'", topt, util.set { "where" })
      if topt.where ~= nil and not plain_table(topt.where) then
        fail("%s: option 'through.where' must be a table, got %s", where_s,
          describe(topt.where))
      end
      through = { where = topt.where }
    end
    return core_call(A, acc, A._core.count, A._core, src,
      { where = opts.where, withDeleted = opts.paranoid == false }, through)
  end
end

local TX_ONLY = util.set { "transaction" }

-- The target of a singular accessor call (hasX, addX, removeX): its key value, checked
-- (the binding takes one value where it takes a list), and the instance when it is one.
local function single_target(A, acc, target)
  if target == nil or target == null then
    fail("%s.%s: expected a %s instance or key value, got nothing", A.source.name, acc,
      A.target.name)
  end
  return target_value(A, acc, target)
end

local function make_has(A, acc, many)
  local core = A._core
  local qhas = core.qhas
  return function(self, targets, opts)
    if opts == nil and not many then              -- the common call (quick path)
      local took, res = qhas(core, self, targets)
      if took then return res end
    end
    check_source(A, self, acc)
    opts = accessor_options(A, acc, opts, TX_ONLY)
    local src = source_value(A, self, acc)
    if not many then
      return core_call(A, acc, A._core.has, A._core, src, (single_target(A, acc, targets)))
    end
    local values = target_args(A, acc, targets, many)
    if #values == 0 then return true end
    return core_call(A, acc, A._core.has, A._core, src, values)
  end
end

-- ---- writers of the many kinds ---------------------------------------------------------
local ADD_OPTIONS = util.set { "transaction" }
local ADD_BTM = util.set { "transaction", "through" }

local function make_add(A, acc, many)
  local btm = A.associationType == "BelongsToMany"
  local core = A._core
  local qadd = core.qadd
  return function(self, targets, opts)
    if not many then                -- the common call (quick path): no options but through
      if qadd(core, self, targets, opts) then return self end
    end
    local src = quick_source(A, self)           -- nil: the checks below, in their order
    if src == nil then check_source(A, self, acc) end
    opts = accessor_options(A, acc, opts, btm and ADD_BTM or ADD_OPTIONS)
    if src == nil then src = source_value(A, self, acc) end
    if not many then
      local v, inst = quick_target(A, targets)
      if v == nil then v, inst = single_target(A, acc, targets) end
      local rows, dflts
      if btm then rows, dflts = through_rows(A, acc, opts.through, { inst or false }) end
      core_call(A, acc, A._core.add, A._core, src, v, rows, dflts)
      return self
    end
    local values, insts = target_args(A, acc, targets, many)
    local rows, dflts
    if btm then rows, dflts = through_rows(A, acc, opts.through, insts) end
    if #values == 0 then return self end
    core_call(A, acc, A._core.add, A._core, src, values, rows, dflts)
    return self
  end
end

local function make_remove(A, acc, many)
  local core = A._core
  local qremove = core.qremove
  return function(self, targets, opts)
    if opts == nil and not many then              -- the common call (quick path)
      if qremove(core, self, targets) then return self end
    end
    check_source(A, self, acc)
    opts = accessor_options(A, acc, opts, TX_ONLY)
    local src = source_value(A, self, acc)
    if not many then
      core_call(A, acc, A._core.remove, A._core, src, (single_target(A, acc, targets)))
      return self
    end
    local values = target_args(A, acc, targets, many)
    if #values == 0 then return self end
    core_call(A, acc, A._core.remove, A._core, src, values)
    return self
  end
end

local function make_set_many(A, acc)
  local btm = A.associationType == "BelongsToMany"
  return function(self, targets, opts)
    check_source(A, self, acc)
    opts = accessor_options(A, acc, opts, btm and ADD_BTM or ADD_OPTIONS)
    local src = source_value(A, self, acc)
    local values, insts = target_list(A, acc, targets)
    local rows, dflts
    if btm then rows, dflts = through_rows(A, acc, opts.through, insts) end
    core_call(A, acc, A._core.set, A._core, src, values, rows, dflts)
    return self
  end
end

local function make_create_many(A, acc)
  local btm = A.associationType == "BelongsToMany"
  local allowed = util.set { "fields", "validate", "hooks", "silent", "transaction" }
  if btm then allowed.through = true end
  return function(self, values, opts)
    check_source(A, self, acc)
    opts = accessor_options(A, acc, opts, allowed)
    local src = source_value(A, self, acc)
    local T = A.target
    if not btm then
      local v = linked_values(A, acc, values, { [A.foreignKey] = src })
      local fields = scope_names(A)
      fields[#fields + 1] = A.foreignKey
      return T:create(v, create_options(opts, fields))
    end
    local v = linked_values(A, acc, values)
    if opts.through ~= nil and not plain_table(opts.through) then
      fail("%s.%s: option 'through' must be a table of %s attribute values, got %s",
        A.source.name, acc, A.through.name, describe(opts.through))
    end
    through_rows(A, acc, opts.through, { false })        -- checks the names up front
    return transaction.run(A.source._db, function()
      local created = T:create(v, create_options(opts, scope_names(A)))
      local tv = rawget(created, A._targetAttr)
      if tv == nil then
        fail("%s.%s: the created %s has no value for '%s'", A.source.name, acc, T.name,
          A._targetAttr)
      end
      local rows, dflts = through_rows(A, acc, opts.through, { false })
      core_call(A, acc, A._core.add, A._core, src, { tv }, rows, dflts)
      return created
    end)
  end
end

-- ---- writers of the one-to-one kinds ---------------------------------------------------
local SET_ONE_OPTIONS = util.set { "transaction", "save", "hooks", "validate", "silent" }

-- belongsTo setX(target | key | nil): sets the foreign key on the source instance and saves
-- just that field (save hooks run, updatedAt changes); { save = false } only sets it.
local function belongs_set(A, acc, self, target, opts)
  local value = null
  if target ~= nil and target ~= null then value = (target_value(A, acc, target)) end
  if opts.save ~= false and is_new(self) then
    fail("%s.%s: the %s instance is not saved yet; save it first (or pass save = false)",
      A.source.name, acc, A.source.name)
  end
  local before = rawget(self, A.foreignKey)
  rawset(self, A.foreignKey, value ~= null and value or nil)
  if opts.save == false then return self end
  local ok, err = pcall(self.save, self, { fields = { A.foreignKey }, hooks = opts.hooks,
    validate = opts.validate, silent = opts.silent, transaction = opts.transaction })
  if not ok then
    rawset(self, A.foreignKey, before)        -- nothing was written: memory says so too
    error(err, 0)
  end
  return self
end

local function make_set_one(A, acc)
  local belongs = A.associationType == "BelongsTo"
  return function(self, target, opts)
    check_source(A, self, acc)
    opts = accessor_options(A, acc, opts, belongs and SET_ONE_OPTIONS or TX_ONLY)
    check_bool(where_name(A, acc), "save", opts.save)
    if belongs then return belongs_set(A, acc, self, target, opts) end
    local src = source_value(A, self, acc)
    if target == nil or target == null then
      core_call(A, acc, A._core.setOne, A._core, src, nil)
      return self
    end
    local value, inst = target_value(A, acc, target)
    core_call(A, acc, A._core.setOne, A._core, src, value)
    if inst then
      local v = { [A.foreignKey] = src }
      for k, x in pairs(A.scope or {}) do v[k] = x end
      stored(inst, v)
    end
    return self
  end
end

local function make_create_one(A, acc)
  local belongs = A.associationType == "BelongsTo"
  return function(self, values, opts)
    check_source(A, self, acc)
    opts = accessor_options(A, acc, opts, CREATE_OPTIONS)
    local T = A.target
    if belongs then
      if is_new(self) then
        fail("%s.%s: the %s instance is not saved yet; save it first", A.source.name, acc,
          A.source.name)
      end
      local v = linked_values(A, acc, values)
      return transaction.run(A.source._db, function()
        local created = T:create(v, create_options(opts, scope_names(A)))
        belongs_set(A, acc, self, created, { transaction = opts.transaction })
        return created
      end)
    end
    local src = source_value(A, self, acc)
    local v = linked_values(A, acc, values, { [A.foreignKey] = src })
    local fields = scope_names(A)
    fields[#fields + 1] = A.foreignKey
    return transaction.run(A.source._db, function()
      -- the previous child goes first (unlinked, or deleted when its key is NOT NULL), so a
      -- parent never has two
      core_call(A, acc, A._core.setOne, A._core, src, nil)
      return T:create(v, create_options(opts, fields))
    end)
  end
end

-- ---- installation ----------------------------------------------------------------------
-- Accessor makers by the binding's accessor keys.
local MANY_MAKERS = {
  get = make_get_many, set = make_set_many, create = make_create_many, count = make_count,
  hasOne = function(A, acc) return make_has(A, acc, false) end,
  hasMany = function(A, acc) return make_has(A, acc, true) end,
  addOne = function(A, acc) return make_add(A, acc, false) end,
  addMany = function(A, acc) return make_add(A, acc, true) end,
  removeOne = function(A, acc) return make_remove(A, acc, false) end,
  removeMany = function(A, acc) return make_remove(A, acc, true) end,
}
local ONE_MAKERS = { get = make_get_one, set = make_set_one, create = make_create_one }

-- Installs A's accessors on the source model's instances (Model.prototype), never over a
-- method or attribute that already has the name.  Returns the names installed.
local function install(A)
  local S = A.source
  local makers = SINGLE[A.associationType] and ONE_MAKERS or MANY_MAKERS
  local installed = {}
  for _, key in ipairs(util.sorted_keys(A.accessors)) do
    local name = A.accessors[key]
    local maker = makers[key]
    if maker and type(name) == "string" and rawget(S.prototype, name) == nil
      and not instance.methods[name] and not S.rawAttributes[name] then
      S.prototype[name] = maker(A, name)
      installed[#installed + 1] = name
    end
  end
  return installed
end

-- S:<kind>(T, opts) -> the association object.
local function associate(kind, S, T, opts)
  if not is_model(S) then
    fail("Model:%s: call it as Model:%s(Target [, options])", kind, kind)
  end
  S._db:_check()
  local where_s = ("%s.%s"):format(S.name, kind)
  if not is_model(T) then
    fail("%s: the target must be a model defined with db:define, got %s", where_s, describe(T))
  end
  if T._db ~= S._db then
    fail("%s: the target %s belongs to another database", where_s, T.name)
  end
  where_s = ("%s.%s(%s)"):format(S.name, kind, T.name)
  if opts == nil then opts = {} end
  if not plain_table(opts) then
    fail("%s: options must be a table, got %s", where_s, describe(opts))
  end
  local o = normalize(kind, S, T, opts, where_s)
  local db = S._db
  local a = define_call(db._core.associate, db._core, kind, S._core, T._core, o)
  local info = a:info()

  local J
  if info.through then
    J = db.models[info.through]
    if J == nil then J = Model._wrap(db, db._core:model(info.through)) end
  end
  Model._refresh(S)
  if T ~= S then Model._refresh(T) end
  if J then Model._refresh(J) end

  local A = setmetatable({
    associationType = info.associationType or KINDS[kind],
    source = S, target = T, as = info.as,
    name = { singular = info.singular, plural = info.plural },
    foreignKey = info.foreignKey, sourceKey = info.sourceKey, targetKey = info.targetKey,
    otherKey = info.otherKey, through = J, throughModel = J,
    -- the scopes as given (a:info() reads the same values back, decoded by type)
    scope = o.scope, throughScope = o.throughScope,
    constraints = opts.constraints ~= false,
    foreignKeyAllowNull = info.foreignKeyAllowNull,
    accessors = info.accessors or {},
    isSingleAssociation = SINGLE[info.associationType or KINDS[kind]] or false,
    isMultiAssociation = not SINGLE[info.associationType or KINDS[kind]],
    _core = a, _sourceAttr = info.sourceAttr, _targetAttr = info.targetAttr,
    _where_names = {},
  }, Association)
  if A.scope and next(A.scope) == nil then A.scope = nil end
  if A.throughScope and next(A.throughScope) == nil then A.throughScope = nil end
  -- what the binding's quick paths (a:qget, a:qadd, ...) check calls against
  -- (slots: bindings/lrel.c, Q_*)
  a:quick { S, T, A._sourceAttr, A._targetAttr, STATE, J or false, J and J.name or false,
    "model", "_mt", "through" }
  S.associations[A.as] = A
  A.installed = install(A)
  return A
end

function Model:hasOne(T, opts) return associate("hasOne", self, T, opts) end
function Model:belongsTo(T, opts) return associate("belongsTo", self, T, opts) end
function Model:hasMany(T, opts) return associate("hasMany", self, T, opts) end
function Model:belongsToMany(T, opts) return associate("belongsToMany", self, T, opts) end

-- Model:getAssociation(alias) -> the association object; raises AssociationError for an
-- alias the model does not have.
function Model:getAssociation(alias)
  if not is_model(self) then
    fail("Model:getAssociation: call it as Model:getAssociation(alias)")
  end
  self._db:_check()
  local A = type(alias) == "string" and rawget(self.associations, alias) or nil
  if A == nil then
    local known = util.sorted_keys(self.associations)
    fail("Association with alias %s does not exist on %s (its associations: %s)",
      type(alias) == "string" and ('"' .. alias .. '"') or describe(alias), self.name,
      #known > 0 and table.concat(known, ", ") or "none")
  end
  return A
end

-- Model:getAssociations(Target) -> array of the model's associations to Target (by alias).
function Model:getAssociations(T)
  if not is_model(self) then
    fail("Model:getAssociations: call it as Model:getAssociations(Target)")
  end
  self._db:_check()
  if not is_model(T) then
    fail("%s.getAssociations: expected a model, got %s", self.name, describe(T))
  end
  local out = {}
  for _, as in ipairs(util.sorted_keys(self.associations)) do
    if self.associations[as].target == T then out[#out + 1] = self.associations[as] end
  end
  return out
end

-- Eager loading is loaded with the associations (it needs them), not on the first findAll
-- with an include: that call should not pay for compiling a module.
require "assoc.include"

return { Association = Association, associate = associate }
