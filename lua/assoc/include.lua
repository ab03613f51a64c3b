-- assoc.include: eager loading and nested creates on the Lua side.
--
-- Every include form (a model, an alias string, an association object, { model =, as = },
-- { association = }, { all = true [, nested = true] }, nested include lists mixing them) is
-- normalized here into one tree of { association, options, include } nodes, with every alias
-- resolved and every option checked; mistakes raise AssociationError naming the aliases that
-- do exist.  The tree then goes to the binding (m:find / m:count with `include`, see
-- doc/eager.md), which plans the statements, runs them and builds the instances in C.
-- Top-level `order` entries naming included columns ({ Post, "title", "DESC" }, nested paths,
-- junction columns) become paths of aliases.  Model:create(values, { include = ... }) creates
-- the whole graph in one transaction.
local core = require "assoc.core"
local errors = require "assoc.errors"
local instance = require "assoc.instance"
local Model = require "assoc.model"
local transaction = require "assoc.transaction"
local util = require "assoc.util"

local null = core.null
local Op = core.Op
local STATE = instance.STATE
local show = util.show

local include = {}

local function fail(fmt, ...)
  errors.raise("AssociationError", fmt, ...)
end

local function is_model(v) return getmetatable(v) == Model end

local Association
local function is_association(v)
  if Association == nil then
    local ok, mod = pcall(require, "assoc.associations")
    Association = ok and type(mod) == "table" and mod.Association or false
  end
  return Association and getmetatable(v) == Association
end

local MANY = { HasMany = true, BelongsToMany = true }

-- The aliases of M's associations, sorted, joined for messages.
local function alias_list(M)
  local list = util.sorted_keys(M.associations)
  if #list == 0 then return "none" end
  return table.concat(list, ", ")
end

-- M's associations to model T, sorted by alias.
local function associations_to(M, T)
  local out = {}
  for _, as in ipairs(util.sorted_keys(M.associations)) do
    if M.associations[as].target == T then out[#out + 1] = M.associations[as] end
  end
  return out
end

local function aliases_of(list)
  local names = {}
  for i, A in ipairs(list) do names[i] = A.as end
  return table.concat(names, ", ")
end

-- ---- resolving one include item -----------------------------------------------------------
local function by_alias(M, alias, where_s)
  local A = rawget(M.associations, alias)
  if A == nil then
    fail('%s: association with alias "%s" does not exist on %s (its associations: %s)',
      where_s, alias, M.name, alias_list(M))
  end
  return A
end

local function by_object(M, A, where_s)
  if A.source ~= M then
    fail("%s: the association %s.%s belongs to %s; it cannot be included from %s", where_s,
      A.source.name, A.as, A.source.name, M.name)
  end
  return A
end

local function by_model(M, T, as, where_s)
  T._db:_check()
  local list = associations_to(M, T)
  if as ~= nil then
    if type(as) ~= "string" then
      fail("%s: 'as' must be a string, got %s", where_s, type(as))
    end
    local A = rawget(M.associations, as)
    if A ~= nil and A.target == T then return A end
    if #list > 0 then
      fail("%s: %s is associated to %s as %s; you included %s as %s", where_s, M.name, T.name,
        aliases_of(list), T.name, as)
    end
    if A ~= nil then
      fail("%s: %s's association %s is to %s, not to %s", where_s, M.name, as, A.target.name,
        T.name)
    end
    fail("%s: %s is not associated to %s (its associations: %s)", where_s, T.name, M.name,
      alias_list(M))
  end
  if #list == 0 then
    fail("%s: %s is not associated to %s (its associations: %s)", where_s, T.name, M.name,
      alias_list(M))
  end
  if #list > 1 then
    fail("%s: %s is associated to %s multiple times (as %s); use { model = %s, as = ... } to "
      .. "say which", where_s, T.name, M.name, aliases_of(list), T.name)
  end
  return list[1]
end

-- ---- option checks -----------------------------------------------------------------------------
local NODE_OPTIONS = util.set { "model", "as", "association", "where", "required", "attributes",
  "order", "limit", "offset", "separate", "paranoid", "through", "include", "scope",
  "duplicating", "right", "subQuery" }
local ALL_OPTIONS = util.set { "all", "nested", "required", "paranoid", "separate", "include",
  "duplicating", "right" }

local function check_table(where_s, name, v)
  if v ~= nil and (type(v) ~= "table" or instance.model_of(v) or is_model(v)) then
    fail("%s: option '%s' must be a table, got %s", where_s, name,
      is_model(v) and "a model" or type(v))
  end
end

local function check_bool(where_s, name, v)
  if v ~= nil and type(v) ~= "boolean" then
    fail("%s: option '%s' must be a boolean, got %s", where_s, name, type(v))
  end
end

local function check_count(where_s, name, v)
  if v ~= nil and not util.is_count(v) then
    fail("%s: option '%s' must be a non-negative integer, got %s", where_s, name, show(v))
  end
end

-- The attribute names of an `attributes` option of model T: an array (may be empty: the
-- primary key only) or { exclude = {...} }.
local function attribute_list(T, where_s, attrs)
  if attrs == nil then return nil end
  if type(attrs) ~= "table" then
    fail("%s: option 'attributes' must be a table, got %s", where_s, type(attrs))
  end
  local function check(name)
    if type(name) ~= "string" or not T.rawAttributes[name] then
      fail("%s: unknown attribute %s of %s in 'attributes'", where_s, show(name), T.name)
    end
  end
  if attrs.exclude ~= nil then
    for _, k in ipairs(util.sorted_keys(attrs)) do
      if k ~= "exclude" then fail("%s: unknown key %s in 'attributes'", where_s, show(k)) end
    end
    if type(attrs.exclude) ~= "table" then
      fail("%s: 'attributes.exclude' must be an array of names", where_s)
    end
    local drop = {}
    for _, name in ipairs(attrs.exclude) do check(name); drop[name] = true end
    local list = {}
    for _, name in ipairs(T._names) do
      if not drop[name] then list[#list + 1] = name end
    end
    return list
  end
  local n = #attrs
  for k in pairs(attrs) do
    if math.type(k) ~= "integer" or k < 1 or k > n then
      fail("%s: unknown key %s in 'attributes'", where_s, show(k))
    end
  end
  local list = {}
  for i = 1, n do check(attrs[i]); list[i] = attrs[i] end
  return list
end

local function is_dir(v)
  return type(v) == "string" and (v:upper() == "ASC" or v:upper() == "DESC")
end

-- An order option on model T's own attributes: "name" or { "name", "ASC"|"DESC" }.
local function own_order(T, where_s, order)
  if order == nil then return nil end
  if type(order) ~= "table" then
    fail("%s: option 'order' must be an array, got %s", where_s, type(order))
  end
  local out = {}
  for i, item in ipairs(order) do
    local name, dir = item, nil
    if type(item) == "table" then name, dir = item[1], item[2] end
    if type(name) ~= "string" or not T.rawAttributes[name] then
      fail("%s: unknown attribute %s of %s in 'order'", where_s, show(name), T.name)
    end
    if dir ~= nil and not is_dir(dir) then
      fail("%s: order direction must be 'ASC' or 'DESC', got %s", where_s, show(dir))
    end
    out[i] = { name, dir and dir:upper() or "ASC" }
  end
  return out
end

-- ---- normalizing a tree ----------------------------------------------------------------------
local normalize_list

-- A node for association A with the options of item `o` (a table or nil).
local function make_node(A, o, where_s, path, depth)
  local T = A.target
  local kind = A.associationType
  local node = { association = A, model = T, as = A.as, kind = kind, many = MANY[kind] or false }
  local here = ("%s (include %s.%s)"):format(where_s, A.source.name, A.as)
  o = o or {}
  check_table(here, "where", o.where)
  check_bool(here, "required", o.required)
  check_bool(here, "separate", o.separate)
  check_bool(here, "paranoid", o.paranoid)
  check_count(here, "limit", o.limit)
  check_count(here, "offset", o.offset)
  check_table(here, "scope", o.scope)
  if o.separate and not node.many then
    fail("%s: separate applies to hasMany and belongsToMany includes, and %s.%s is a %s "
      .. "association (one row per parent, loaded by a join)", here, A.source.name, A.as,
      kind)
  end
  if (o.limit ~= nil or o.offset ~= nil) and not node.many then
    fail("%s: limit and offset apply to hasMany and belongsToMany includes (%s.%s is a %s "
      .. "association)", here, A.source.name, A.as, kind)
  end
  if o.through ~= nil and kind ~= "BelongsToMany" then
    fail("%s: option 'through' applies to belongsToMany includes (%s.%s is a %s association)",
      here, A.source.name, A.as, kind)
  end
  node.where = o.where
  node.required = o.required
  if node.required == nil then node.required = o.where ~= nil end
  if o.scope ~= nil and next(o.scope) ~= nil then
    node.where = node.where and { [Op["and"]] = { node.where, o.scope } } or o.scope
  end
  node.attributes = attribute_list(T, here, o.attributes)
  node.order = own_order(T, here, o.order)
  node.limit, node.offset = o.limit, o.offset
  node.separate = o.separate
  node.paranoid = o.paranoid
  if o.through ~= nil then
    local th = o.through
    local J = A.through
    if type(th) ~= "table" then
      fail("%s: option 'through' must be a table { attributes =, where = }, got %s", here,
        type(th))
    end
    for _, k in ipairs(util.sorted_keys(th)) do
      if k ~= "attributes" and k ~= "where" and k ~= "paranoid" and k ~= "as" then
        fail("%s: unknown key %s in 'through'", here, show(k))
      end
    end
    check_table(here, "through.where", th.where)
    node.through = { where = th.where }
    if th.attributes ~= nil then
      if type(th.attributes) ~= "table" then
        fail("%s: 'through.attributes' must be an array of %s attribute names", here, J.name)
      end
      local list = {}
      for i, name in ipairs(th.attributes) do
        if type(name) ~= "string" or not J.rawAttributes[name] then
          fail("%s: unknown attribute %s of %s in 'through.attributes'", here, show(name),
            J.name)
        end
        list[i] = name
      end
      node.through.attributes = list
    end
  end
  local sub = {}
  for i, m in ipairs(path) do sub[i] = m end
  sub[#sub + 1] = T
  node.include = normalize_list(T, o.include, where_s, sub, depth + 1)
  return node
end

local ALL_TYPES = {
  [true] = { BelongsTo = true, HasOne = true, HasMany = true, BelongsToMany = true },
  All = { BelongsTo = true, HasOne = true, HasMany = true, BelongsToMany = true },
  BelongsTo = { BelongsTo = true }, HasOne = { HasOne = true }, HasMany = { HasMany = true },
  BelongsToMany = { BelongsToMany = true },
  One = { BelongsTo = true, HasOne = true }, Has = { HasOne = true, HasMany = true },
  Many = { HasMany = true },
}

-- Expands { all = ..., nested = ... } on model M into nodes, skipping aliases in `taken`;
-- with nested, recursing into each target except models already on the path (the guard
-- against cycles: User -> Post -> User stops at the second User).
local function expand_all(M, item, where_s, path, depth, taken, out)
  local types = ALL_TYPES[item.all]
  if types == nil then
    fail("%s: option 'all' must be true or one of All, BelongsTo, HasOne, HasMany, "
      .. "BelongsToMany, One, Has, Many; got %s", where_s, show(item.all))
  end
  check_bool(where_s, "nested", item.nested)
  local on_path = {}
  for _, m in ipairs(path) do on_path[m] = true end
  for _, as in ipairs(util.sorted_keys(M.associations)) do
    local A = M.associations[as]
    if types[A.associationType] and not taken[as] and not (item.nested and on_path[A.target])
    then
      local o = {}
      for k, v in pairs(item) do
        if k ~= "all" and k ~= "nested" and k ~= "include" then o[k] = v end
      end
      if item.nested then
        o.include = { item }
      end
      if item.separate and not MANY[A.associationType] then o.separate = nil end
      taken[as] = true
      out[#out + 1] = make_node(A, o, where_s, path, depth)
    end
  end
end

-- Is v a single include item (rather than a list of them)?
local function single_item(v)
  if type(v) ~= "table" then return true end
  if is_model(v) or is_association(v) then return true end
  return v.model ~= nil or v.association ~= nil or v.all ~= nil or v.as ~= nil
end

-- Normalizes an include option of model M into an array of nodes.  path: the models from
-- the root down to M (for the nested-all cycle guard).
function normalize_list(M, list, where_s, path, depth)
  if list == nil then return {} end
  if depth > 32 then fail("%s: includes nested more than 32 deep", where_s) end
  if single_item(list) then list = { list } end
  local n = #list
  for k in pairs(list) do
    if math.type(k) ~= "integer" or k < 1 or k > n then
      fail("%s: include must be an array of includes, found key %s", where_s, show(k))
    end
  end
  local out, taken, alls = {}, {}, {}
  for i = 1, n do
    local item = list[i]
    local A, o
    if is_model(item) then
      A = by_model(M, item, nil, where_s)
    elseif type(item) == "string" then
      A = by_alias(M, item, where_s)
    elseif is_association(item) then
      A = by_object(M, item, where_s)
    elseif type(item) == "table" and getmetatable(item) == nil then
      if item.all ~= nil then
        for _, k in ipairs(util.sorted_keys(item)) do
          if not ALL_OPTIONS[k] then
            fail("%s: unknown option %s in an { all = ... } include", where_s, show(k))
          end
        end
        alls[#alls + 1] = item
      else
        for _, k in ipairs(util.sorted_keys(item)) do
          if not NODE_OPTIONS[k] then
            fail("%s: unknown include option %s", where_s, show(k))
          end
        end
        if item.association ~= nil then
          local a = item.association
          if type(a) == "string" then A = by_alias(M, a, where_s)
          elseif is_association(a) then A = by_object(M, a, where_s)
          else
            fail("%s: option 'association' must be an alias or an association object, got %s",
              where_s, type(a))
          end
          if item.model ~= nil and item.model ~= A.target then
            fail("%s: the association %s.%s is to %s, not to %s", where_s, M.name, A.as,
              A.target.name, is_model(item.model) and item.model.name or show(item.model))
          end
        elseif item.model ~= nil then
          if not is_model(item.model) then
            fail("%s: option 'model' must be a model, got %s", where_s, type(item.model))
          end
          A = by_model(M, item.model, item.as, where_s)
        elseif item.as ~= nil then
          if type(item.as) ~= "string" then
            fail("%s: 'as' must be a string, got %s", where_s, type(item.as))
          end
          A = by_alias(M, item.as, where_s)
        else
          fail("%s: an include table needs 'model', 'as', 'association' or 'all'", where_s)
        end
        o = item
      end
    else
      fail("%s: cannot include %s (expected a model, an alias, an association or an include "
        .. "table)", where_s, instance.model_of(item) and "an instance" or "a " .. type(item))
    end
    if A ~= nil then
      if taken[A.as] then
        fail("%s: %s.%s is included twice", where_s, M.name, A.as)
      end
      taken[A.as] = true
      out[#out + 1] = make_node(A, o, where_s, path, depth)
    end
  end
  for _, item in ipairs(alls) do expand_all(M, item, where_s, path, depth, taken, out) end
  return out
end

function include.normalize(M, list, where_s)
  return normalize_list(M, list, where_s, { M }, 1)
end

-- ---- to the binding --------------------------------------------------------------------------
local function to_core(nodes, raw)
  local out = {}
  for i, n in ipairs(nodes) do
    local A = n.association
    local order
    if n.order then
      order = {}
      for k, o in ipairs(n.order) do order[k] = { o[1], o[2] } end
    end
    local c = {
      as = n.as, where = n.where, attributes = n.attributes, order = order,
      limit = n.limit, offset = n.offset, withDeleted = n.paranoid == false or nil,
      required = n.required, separate = n.separate or nil,
      include = #n.include > 0 and to_core(n.include, raw) or nil,
    }
    if not raw then c.mt = n.model._mt end
    if A.through then
      c.throughKey = A.through.name
      if not raw then c.throughMt = A.through._mt end
      if n.through then
        c.through = { attributes = n.through.attributes, where = n.through.where }
      end
    end
    out[i] = c
  end
  return out
end

-- ---- top-level order -------------------------------------------------------------------------
-- The kid of `nodes` an order path element refers to.
local function find_kid(nodes, el, where_s, M)
  local hits = {}
  for _, n in ipairs(nodes) do
    local A = n.association
    local match
    if is_model(el) then match = n.model == el
    elseif is_association(el) then match = A == el
    elseif type(el) == "string" then match = n.as == el
    elseif type(el) == "table" then
      match = (el.as == nil or el.as == n.as) and (el.model == nil or el.model == n.model)
        and (el.association == nil or el.association == A or el.association == n.as)
    end
    if match then hits[#hits + 1] = n end
  end
  if #hits == 1 then return hits[1] end
  local label = is_model(el) and el.name or is_association(el) and el.as
    or type(el) == "string" and el or type(el) == "table" and (el.as or (el.model and
    el.model.name) or "?") or tostring(el)
  if #hits == 0 then
    fail("%s: order names %s, which is not included under %s", where_s, label, M.name)
  end
  fail("%s: order names %s, which is included more than once under %s; use { model =, as = }",
    where_s, label, M.name)
end

local function order_list(M, nodes, order, where_s)
  if order == nil then return nil end
  if type(order) ~= "table" then
    fail("%s: option 'order' must be an array, got %s", where_s, type(order))
  end
  local n = #order
  for k in pairs(order) do
    if math.type(k) ~= "integer" or k < 1 or k > n then
      fail("%s: unknown key %s in 'order'", where_s, show(k))
    end
  end
  local out = {}
  for i = 1, n do
    local item = order[i]
    if type(item) == "string" then item = { item } end
    if type(item) ~= "table" then
      fail("%s: order item %d must be a name or an array, got %s", where_s, i, type(item))
    end
    local len = #item
    local dir = item[len]
    local attr_at
    if is_dir(dir) and len >= 2 then attr_at = len - 1 else dir = nil; attr_at = len end
    local attr = item[attr_at]
    if type(attr) ~= "string" then
      fail("%s: order item %d needs an attribute name", where_s, i)
    end
    local path, cur_nodes, cur_model, node = {}, nodes, M, nil
    local junction = false
    for k = 1, attr_at - 1 do
      local el = item[k]
      if node and node.association.through and el == node.association.through
        and k == attr_at - 1 then
        junction = true
      else
        node = find_kid(cur_nodes, el, where_s, cur_model)
        path[#path + 1] = node.as
        cur_nodes, cur_model = node.include, node.model
      end
    end
    local T = junction and node.association.through or cur_model
    if not T.rawAttributes[attr] then
      fail("%s: unknown attribute %s of %s in 'order'", where_s, show(attr), T.name)
    end
    out[i] = { attr, dir and dir:upper() or "ASC", path = #path > 0 and path or nil,
      junction = junction or nil }
  end
  return out
end

-- ---- finders ---------------------------------------------------------------------------------
-- The core request of a find with includes: the plain find checks on everything but
-- `include` and `order`, then the include tree and the order paths.
local function request(M, where_s, opts, allowed)
  local plain = {}
  for k, v in pairs(opts) do
    if k ~= "include" and k ~= "order" then plain[k] = v end
  end
  local req, o = Model._find_request(M, where_s, plain, allowed)
  local tree = include.normalize(M, opts.include, where_s)
  req.include = to_core(tree, o.raw)
  req.order = order_list(M, tree, opts.order, where_s)
  return req, o
end

local function run(M, req, o)
  if o.raw then return M._core:find(req) end
  return M._core:find(req, M._mt, STATE)
end

local FIND_OPTIONS = util.set { "where", "attributes", "order", "limit", "offset", "paranoid",
  "raw", "transaction", "include" }

function include.findAll(M, opts, where_s)
  local req, o = request(M, where_s, opts, FIND_OPTIONS)
  return run(M, req, o)
end

function include.findOne(M, opts, where_s)
  local req, o = request(M, where_s, opts, FIND_OPTIONS)
  req.limit = 1
  return run(M, req, o)[1]
end

function include.findByPk(M, pk, opts, where_s)
  local req, o = request(M, where_s, opts, util.set { "attributes", "paranoid", "raw",
    "transaction", "include" })
  if not Model._pk_request(M, where_s, pk, req) then return nil end
  return run(M, req, o)[1]
end

-- count of distinct rows of M matching where and the required includes.
function include.count(M, opts, where_s)
  local plain = {}
  for k, v in pairs(opts) do if k ~= "include" then plain[k] = v end end
  local req = Model._find_request(M, where_s, plain, util.set { "where", "paranoid",
    "transaction", "distinct", "col" })
  local tree = include.normalize(M, opts.include, where_s)
  return M._core:count { where = req.where, withDeleted = req.withDeleted,
    include = to_core(tree, true) }
end

function include.findAndCountAll(M, opts, where_s)
  local req, o = request(M, where_s, opts, util.set { "where", "attributes", "order", "limit",
    "offset", "paranoid", "raw", "transaction", "include", "distinct" })
  return transaction.run(M._db, function()
    local count = M._core:count { where = req.where, withDeleted = req.withDeleted,
      include = req.include }
    return { count = count, rows = run(M, req, o) }
  end)
end

-- ---- nested create -----------------------------------------------------------------------------
-- The attribute values and nested values of `v` (a values table or an unsaved instance of M)
-- for a create with the include nodes `nodes`.
local function split_values(M, v, nodes, where_s)
  local by_as = {}
  for _, n in ipairs(nodes) do by_as[n.as] = n end
  local own, nested = {}, {}
  if instance.model_of(v) == M then
    if not instance.is_new(v) then
      fail("%s: %s is already saved; create with include makes new rows only", where_s,
        tostring(v))
    end
    for _, name in ipairs(M._names) do
      local x = rawget(v, name)
      if x ~= nil then own[name] = x end
    end
    for as in pairs(by_as) do nested[as] = rawget(v, as) end
    return own, nested
  end
  if type(v) ~= "table" or getmetatable(v) ~= nil then
    fail("%s: values for %s must be a table, got %s", where_s, M.name,
      instance.model_of(v) and ("a " .. instance.model_of(v).name .. " instance") or type(v))
  end
  for k, x in pairs(v) do
    if by_as[k] then nested[k] = x else own[k] = x end
  end
  return own, nested
end

local function list_of(v)
  if type(v) == "table" and getmetatable(v) == nil and #v > 0 then return v end
  if type(v) == "table" and getmetatable(v) == nil and next(v) == nil then return {} end
  return { v }
end

local create_graph

-- Creates M from v with the include nodes (inside the caller's transaction); opts are the
-- create options of this row, copts those of the rows it includes (no `fields`).
function create_graph(M, v, nodes, opts, copts, where_s)
  local own, nested = split_values(M, v, nodes, where_s)
  local made = {}
  -- 1. belongsTo targets first: the parent's key is taken from them
  for _, n in ipairs(nodes) do
    local x = nested[n.as]
    if n.kind == "BelongsTo" and x ~= nil and x ~= null then
      local A = n.association
      local child = create_graph(n.model, x, n.include, copts, copts, where_s)
      own[A.foreignKey] = rawget(child, A.targetKey)
      made[n.as] = child
    end
  end
  local inst = M:create(own, opts)
  -- 2. hasOne / hasMany children get the key (and the association scope)
  -- 3. belongsToMany targets, then their junction rows
  for _, n in ipairs(nodes) do
    local x = nested[n.as]
    local A = n.association
    if n.kind ~= "BelongsTo" and x ~= nil and x ~= null then
      local key = rawget(inst, A.sourceKey)
      if n.kind == "HasOne" or n.kind == "HasMany" then
        local list = n.kind == "HasOne" and { x } or list_of(x)
        local children = {}
        for i, cv in ipairs(list) do
          local cown, cnested = split_values(n.model, cv, n.include, where_s)
          cown[A.foreignKey] = key
          for k, sv in pairs(A.scope or {}) do cown[k] = sv end
          for k, nv in pairs(cnested) do cown[k] = nv end
          children[i] = create_graph(n.model, cown, n.include, copts, copts, where_s)
        end
        made[n.as] = n.kind == "HasOne" and children[1] or children
      else
        local J = A.through
        local children = {}
        for i, cv in ipairs(list_of(x)) do
          local through_values
          if instance.model_of(cv) == n.model then
            through_values = rawget(cv, J.name)
          elseif type(cv) == "table" then
            through_values = cv[J.name]
            local copy = {}
            for k, y in pairs(cv) do if k ~= J.name then copy[k] = y end end
            cv = copy
          end
          if through_values ~= nil and (type(through_values) ~= "table"
            or getmetatable(through_values) ~= nil) then
            fail("%s: %s.%s must be a table of %s values, got %s", where_s, n.model.name,
              J.name, J.name, type(through_values))
          end
          local cown, cnested = split_values(n.model, cv, n.include, where_s)
          for k, sv in pairs(A.scope or {}) do cown[k] = sv end
          for k, nv in pairs(cnested) do cown[k] = nv end
          local child = create_graph(n.model, cown, n.include, copts, copts, where_s)
          local row = {}
          for k, y in pairs(through_values or {}) do row[k] = y end
          for k, sv in pairs(A.throughScope or {}) do row[k] = sv end
          row[A.foreignKey] = key
          row[A.otherKey] = rawget(child, A.targetKey)
          local jrow = J:create(row, copts)
          rawset(child, J.name, jrow)
          children[i] = child
        end
        made[n.as] = children
      end
    end
  end
  for as, x in pairs(made) do rawset(inst, as, x) end
  return inst
end

-- Model:create(values, { include = ..., ... }): the whole graph in one transaction.
function include.create(M, values, opts, where_s)
  local nodes = include.normalize(M, opts.include, where_s)
  local rest = {}
  for k, v in pairs(opts) do if k ~= "include" then rest[k] = v end end
  instance.save_options(M, "create", rest)
  rest.transaction = nil   -- every statement runs in the open transaction anyway
  local copts = {}
  for k, v in pairs(rest) do if k ~= "fields" then copts[k] = v end end
  return transaction.run(M._db, function()
    return create_graph(M, values, nodes, rest, copts, where_s)
  end)
end

return include
