-- assoc.db: the Db class, a Lua table wrapping the core's Db userdata.  It checks the
-- options of assoc.open, owns the models defined on it (db.models), the stack of open
-- transactions, and the closed state: after db:close() every use of the db, its models and
-- their instances raises ConnectionError "database is closed".
local core = require "assoc.core"
local errors = require "assoc.errors"
local Model = require "assoc.model"
require "assoc.associations"          -- adds Model:hasOne, belongsTo, hasMany, belongsToMany
local transaction = require "assoc.transaction"
local util = require "assoc.util"

local Db = {}
Db.__index = Db

function Db.__tostring(db)
  if db._closed then return "assoc.Db (closed)" end
  return ("assoc.Db (%s)"):format(db.storage)
end

local OPEN_OPTIONS = util.set { "dialect", "storage", "logging", "busyTimeout" }

-- assoc.open(path | options) -> Db.
function Db.open(arg)
  local opts
  if type(arg) == "string" then
    opts = { storage = arg }
  elseif type(arg) == "table" then
    opts = util.options("assoc.open", arg, OPEN_OPTIONS)
  else
    errors.raise("AssocError", "assoc.open: expected a path or an options table, got %s",
      type(arg))
  end
  if opts.dialect ~= nil and opts.dialect ~= "sqlite" then
    errors.raise("AssocError", "assoc.open: unsupported dialect %s (only 'sqlite')",
      util.show(opts.dialect))
  end
  local storage = opts.storage
  if storage == nil then storage = ":memory:" end
  if type(storage) ~= "string" or storage == "" then
    errors.raise("AssocError", "assoc.open: option 'storage' must be a non-empty path, got %s",
      util.show(storage))
  end
  local logging = opts.logging
  if logging == false then logging = nil end
  if logging ~= nil and type(logging) ~= "function" then
    errors.raise("AssocError", "assoc.open: option 'logging' must be a function or false, got %s",
      type(logging))
  end
  local timeout = opts.busyTimeout
  if timeout ~= nil and (not util.is_count(timeout) or timeout > 2^31 - 1) then
    errors.raise("AssocError", "assoc.open: option 'busyTimeout' must be a non-negative "
      .. "integer (ms), got %s", util.show(timeout))
  end
  local cdb = core.open(storage, { busyTimeout = timeout and math.tointeger(timeout),
    logging = logging })
  return setmetatable({ models = {}, storage = storage, _core = cdb, _closed = false,
    _txstack = {} }, Db)
end

-- The db `self`, after checking that it is one and open.
local function check_db(self, what)
  if getmetatable(self) ~= Db then
    errors.raise("AssocError", "db:%s: call it as db:%s(...)", what, what)
  end
  self:_check()
  return self
end

-- Raises ConnectionError "database is closed" once the db is closed.
function Db:_check()
  if self._closed then errors.raise("ConnectionError", "database is closed") end
end

-- db:close(): idempotent.  Open transactions are rolled back by the core.
function Db:close()
  if getmetatable(self) ~= Db then
    errors.raise("AssocError", "db:close: call it as db:close()")
  end
  if self._closed then return end
  for i = #self._txstack, 1, -1 do
    self._txstack[i].finished = "rollback"
    self._txstack[i] = nil
  end
  self._closed = true
  self._core:close()
end
Db.__close = Db.close

-- db:isClosed() -> boolean.
function Db:isClosed()
  return self._closed
end

-- db:define(name, attributes [, options]) -> Model.
function Db:define(name, attrs, options)
  check_db(self, "define")
  return Model.define(self, name, attrs, options)
end

-- db:model(name) -> the model named `name`; raises when there is none.
function Db:model(name)
  check_db(self, "model")
  local M = self.models[name]
  if not M then errors.raise("AssocError", "db:model: no model named %s", util.show(name)) end
  return M
end

-- db:isDefined(name) -> boolean.
function Db:isDefined(name)
  check_db(self, "isDefined")
  return self.models[name] ~= nil
end

-- db:query(sql [, params]) -> array of plain row tables.
function Db:query(sql, params)
  check_db(self, "query")
  if type(sql) ~= "string" then
    errors.raise("AssocError", "db:query: sql must be a string, got %s", type(sql))
  end
  if params ~= nil and type(params) ~= "table" then
    errors.raise("AssocError", "db:query: params must be an array, got %s", type(params))
  end
  return self._core:query(sql, params or {})
end

-- db:sync([{ force = true }]) -> db: creates every table (dropping them first with force).
function Db:sync(opts)
  check_db(self, "sync")
  opts = util.options("db:sync", opts, util.set { "force" })
  util.check_boolean("db:sync", "force", opts.force)
  self._core:sync(opts.force or false)
  return self
end

-- db:drop() -> db: drops every model's table.
function Db:drop(opts)
  check_db(self, "drop")
  util.options("db:drop", opts, {})
  self._core:drop()
  return self
end

-- db:transaction(fn) -> fn's results (managed), or db:transaction() -> a transaction object
-- for `local t <close> = db:transaction()`.
function Db:transaction(fn)
  check_db(self, "transaction")
  if fn == nil then return transaction.begin(self) end
  if type(fn) ~= "function" then
    errors.raise("AssocError", "db:transaction: expected a function or nothing, got %s", type(fn))
  end
  return transaction.run(self, fn)
end

return Db
