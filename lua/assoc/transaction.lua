-- assoc.transaction: transactions on a Db.  The core opens BEGIN IMMEDIATE at depth 0 and a
-- SAVEPOINT inside; this module keeps the matching stack of Lua transaction objects on the Db
-- (db._txstack) so that a transaction can only finish while it is the innermost one, and an
-- outer rollback also finishes the inner ones.  The engine's own multi-statement operations
-- use transaction.run too, so they are atomic and nest inside the user's transactions.
local errors = require "assoc.errors"

local transaction = {}

local Transaction = {}
Transaction.__index = Transaction

local function check(t, what)
  if getmetatable(t) ~= Transaction then
    errors.raise("AssocError", "transaction:%s: call it as t:%s()", what, what)
  end
  t.db:_check()
  if t.finished then
    errors.raise("AssocError", "transaction:%s: the transaction has already been %s", what,
      t.finished == "commit" and "committed" or "rolled back")
  end
end

-- Opens a transaction (or savepoint) on db and returns its object.
function transaction.begin(db)
  db:_check()
  db._core:begin()
  local stack = db._txstack
  local t = setmetatable({ db = db, depth = #stack + 1 }, Transaction)
  stack[#stack + 1] = t
  return t
end

-- Marks t and every transaction above it on the stack finished with `state`.
local function pop(t, state)
  local stack = t.db._txstack
  for i = #stack, t.depth, -1 do
    stack[i].finished = state
    stack[i] = nil
  end
end

-- Commits (releases, when nested) the transaction.  It must be the innermost open one.  When
-- COMMIT itself fails the transaction is rolled back and the error raised.
function Transaction:commit()
  check(self, "commit")
  local stack = self.db._txstack
  if stack[#stack] ~= self then
    errors.raise("AssocError", "transaction:commit: an inner transaction is still open")
  end
  local core = self.db._core
  local ok, err = pcall(core.commit, core)
  if not ok then
    if core:depth() >= self.depth then pcall(core.rollback, core) end
    pop(self, "rollback")
    error(err, 0)
  end
  pop(self, "commit")
end

-- Rolls the transaction back, together with any inner transaction still open.
function Transaction:rollback()
  check(self, "rollback")
  local core = self.db._core
  local stack = self.db._txstack
  local first_err
  for _ = #stack, self.depth, -1 do
    local ok, err = pcall(core.rollback, core)
    if not ok and first_err == nil then first_err = err end
  end
  pop(self, "rollback")
  if first_err ~= nil then error(first_err, 0) end
end

-- Leaving the scope of `local t <close>` without commit or rollback rolls back.
function Transaction:__close(err)
  if self.finished or self.db._closed then return end
  local ok, rerr = pcall(self.rollback, self)
  if not ok and err == nil then error(rerr, 0) end
end

function Transaction:__tostring()
  return ("assoc.Transaction (%s)"):format(self.finished or "open")
end

-- True when v is a transaction object.
function transaction.is_transaction(v)
  return getmetatable(v) == Transaction
end

-- Checks a `transaction = t` option: t must be an open transaction of db.
function transaction.check_option(db, t, where)
  if t == nil then return end
  if getmetatable(t) ~= Transaction or t.db ~= db then
    errors.raise("AssocError", "%s: option 'transaction' must be a transaction of this database",
      where)
  end
  if t.finished then
    errors.raise("AssocError", "%s: the transaction has already been %s", where,
      t.finished == "commit" and "committed" or "rolled back")
  end
end

-- Runs fn(t, ...) inside a new transaction: COMMIT when it returns, ROLLBACK and re-raise
-- when it raises.  Returns fn's results; raises when fn rolled t back or closed the db,
-- since then nothing was committed.
function transaction.run(db, fn, ...)
  local t = transaction.begin(db)
  local res = table.pack(pcall(fn, t, ...))
  if not res[1] then
    if not t.finished and not db._closed then pcall(t.rollback, t) end
    error(res[2], 0)
  end
  if db._closed then
    errors.raise("ConnectionError", "db:transaction: the database was closed inside the "
      .. "transaction; nothing was committed")
  end
  if t.finished == "rollback" then
    -- Returning fn's results would tell the caller its work was committed (Sequelize raises
    -- too: "cannot be committed because it has been finished with state: rollback").
    errors.raise("AssocError", "db:transaction: the transaction was rolled back inside the "
      .. "function; nothing was committed")
  end
  if not t.finished then t:commit() end
  return table.unpack(res, 2, res.n)
end

return transaction
