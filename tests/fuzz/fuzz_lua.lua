-- fuzz_lua.lua -- the driver of tests/fuzz/fuzz_lua.c (embedded into it at build time).
--
-- Called as driver(bytes, assoc): the bytes are read as a sequence of API calls on one
-- database: define, sync, create, bulkCreate, findAll/count with fuzzed where/order/
-- attributes/limit (odd keys, odd values, cycles), Model:update, destroy, instance
-- save/update/destroy/reload, transactions (managed, unmanaged, finished out of order),
-- hooks that raise or close the db, raw db:query, db:close mid-way and more calls after it,
-- collectgarbage, coroutines whose hooks yield and are resumed later (or never).
--
-- Every call runs under pcall.  Its error must be clean: an assoc error object, one of the
-- driver's own markers (raised from hooks), or a message of Lua itself about memory or
-- yields; anything else (e.g. "attempt to index a nil value" from inside the engine) is a
-- finding, raised as "FINDING: ..." to the C side, which aborts.  After db:close() every
-- database call must raise ConnectionError.
return function(bytes, assoc)
  local Op, DT, null = assoc.Op, assoc.DataTypes, assoc.null
  local pos, len = 1, #bytes
  local function byte()
    if pos > len then return 0 end
    local b = bytes:byte(pos)
    pos = pos + 1
    return b
  end
  local function pick(list) return list[byte() % #list + 1] end

  local MARK = "MARK: raised by a fuzz hook"
  local MARK_T = setmetatable({}, { __tostring = function() return MARK end })

  local function clean(err)
    if err == MARK or err == MARK_T then return true end
    if assoc.is_error(err) then
      return type(err.message) == "string" and type(err.name) == "string"
    end
    if type(err) == "string" then
      if err:find("not enough memory", 1, true) or err:find("instruction limit", 1, true)
        or err:find("attempt to yield", 1, true) or err:find("cannot resume", 1, true)
        or err:find("C stack overflow", 1, true) then
        return true
      end
    end
    return false
  end

  local function finding(fmt, ...)
    error("FINDING: " .. fmt:format(...), 0)
  end

  local state = { closed = false, models = {}, insts = {}, txs = {}, cos = {} }
  local db

  -- Runs f(...) under pcall; checks the error; returns ok, result.
  -- FUZZ_LUA_TRACE=1 prints every call and its outcome (to replay a finding:
  -- FUZZ_LUA_TRACE=1 build-fuzz/fuzz_lua build-fuzz/artifacts/fuzz_lua-crash-...).
  local TRACE = os.getenv("FUZZ_LUA_TRACE") == "1"

  -- The closed-db checks apply to calls that start on a closed db (a call may close it).
  local function call(what, f, ...)
    local was_closed = state.closed
    local r = table.pack(pcall(f, ...))
    if TRACE then
      io.stderr:write(("trace: %s%s -> %s %s\n"):format(what, was_closed and " (closed db)" or "",
        r[1] and "ok" or "error", r[1] and "" or tostring(r[2])))
    end
    if not r[1] then
      local err = r[2]
      if type(err) == "string" and err:sub(1, 9) == "FINDING: " then error(err, 0) end
      if not clean(err) then
        finding("%s raised an unclean error: %s (%s)", what, tostring(err), type(err))
      end
      if was_closed and assoc.is_error(err) and what:sub(1, 3) == "db." and
        err.name ~= "ConnectionError" and err.name ~= "AssocError" then
        finding("%s on a closed db raised %s, not ConnectionError", what, tostring(err))
      end
    elseif was_closed and what:sub(1, 3) == "db." then
      finding("%s succeeded on a closed db", what)
    end
    return r[1], r[2]
  end

  -- ---- values ------------------------------------------------------------------------------
  local STRINGS = { "", "a", "alice", "O'Brien", 'say "hi"', "x\0y", "--", "; DROP TABLE Users",
    "%", "_", "\\", "é", "\255\254", ("z"):rep(300), "1", "17", "-5", "1e3", "2024-01-02",
    "2024-02-30", "2024-01-02T03:04:05Z", "null", "{}", "[1,2]", "a@b.co", "$gt", "prefs.theme",
    "id", "name", "count(*)", "name; DROP TABLE Users" }
  local NUMBERS = { 0, 1, -1, 2^53, -2^63, math.maxinteger, math.mininteger, 0.5, -0.0, 1e308,
    1 / 0, -1 / 0, 0 / 0, 3, 255 }
  local KEYS = { "name", "age", "email", "prefs", "title", "id", "createdAt", "deletedAt",
    "$gt", "$or", "prefs.theme", "nosuch", "", 1, 2, true, 1.5, "name; DROP TABLE Users",
    '"name"', "count(*)" }

  local cycle = {}
  cycle.self = cycle

  local value
  local function table_value(depth)
    local t = {}
    for _ = 1, byte() % 4 do
      if byte() % 2 == 0 then t[#t + 1] = value(depth + 1)
      else t[pick(KEYS)] = value(depth + 1) end
    end
    return t
  end
  function value(depth)
    depth = depth or 0
    local k = byte() % 12
    if k == 0 then return nil
    elseif k == 1 then return null
    elseif k == 2 or k == 3 then return pick(STRINGS)
    elseif k == 4 or k == 5 then return pick(NUMBERS)
    elseif k == 6 then return byte() % 2 == 0
    elseif k == 7 and depth < 3 then return table_value(depth)
    elseif k == 8 then return byte() - 128
    elseif k == 9 then return pick { print, cycle, Op.gt, Op["or"], DT.STRING, coroutine.running() }
    elseif k == 10 then return pick(STRINGS) .. pick(STRINGS)
    end
    return byte()
  end

  local OPS = { "eq", "ne", "gt", "gte", "lt", "lte", "in", "notIn", "like", "notLike", "iLike",
    "between", "notBetween", "is", "not", "startsWith", "endsWith", "substring", "and", "or" }

  local where_of
  local function operand(depth)
    local t = {}
    for _ = 1, 1 + byte() % 3 do
      local o = Op[pick(OPS)]
      local k = byte() % 4
      if k == 0 then t[o] = { value(depth), value(depth) }
      elseif k == 1 and depth < 4 then t[o] = operand(depth + 1)
      else t[o] = value(depth) end
    end
    if byte() % 8 == 0 then t[pick(KEYS)] = value(depth) end
    return t
  end
  function where_of(depth)
    depth = depth or 0
    local k = byte() % 10
    if k == 0 then return nil end
    if k == 1 then return value(depth) end -- a non-table where
    if k == 2 then return cycle end
    local w = {}
    for _ = 1, byte() % 4 do
      local c = byte() % 6
      if c == 0 and depth < 4 then
        w[Op[pick { "and", "or" }]] = { where_of(depth + 1) or {}, where_of(depth + 1) or {} }
      elseif c == 1 and depth < 4 then
        w[Op["not"]] = where_of(depth + 1) or {}
      elseif c == 2 then
        w[pick(KEYS)] = operand(depth + 1)
      else
        w[pick(KEYS)] = value(depth + 1)
      end
    end
    return w
  end

  local function find_opts()
    local o = {}
    if byte() % 2 == 0 then o.where = where_of() end
    local k = byte() % 6
    if k == 1 then o.order = { pick(KEYS) }
    elseif k == 2 then o.order = { { pick(KEYS), pick { "ASC", "DESC", "desc", "sideways", 1 } } }
    elseif k == 3 then o.order = pick(STRINGS)
    elseif k == 4 then o.order = { { "name", "ASC", "extra" }, "id" } end
    k = byte() % 5
    if k == 1 then o.attributes = { pick(KEYS), pick(KEYS) }
    elseif k == 2 then o.attributes = { exclude = { pick(KEYS) } }
    elseif k == 3 then o.attributes = pick(STRINGS) end
    if byte() % 3 == 0 then o.limit = pick { 1, 0, -1, 2.5, "10", "1; DROP TABLE x", 1e300, 0 / 0, 3 } end
    if byte() % 4 == 0 then o.offset = pick { 1, -1, "2", 1.5, 2 } end
    if byte() % 8 == 0 then o.paranoid = pick { false, true, 1 } end
    if byte() % 16 == 0 then o[pick(KEYS)] = value() end
    return o
  end

  local function values_of(M)
    local v = {}
    for _ = 1, byte() % 5 do
      local key = byte() % 3 == 0 and pick(KEYS) or (M and M._fuzz_attrs and pick(M._fuzz_attrs)) or "name"
      v[key] = value()
    end
    return v
  end

  -- ---- the model catalogue -----------------------------------------------------------------
  local TYPES = { DT.STRING, DT.TEXT, DT.INTEGER, DT.BIGINT, DT.FLOAT, DT.DOUBLE, DT.DECIMAL,
    DT.BOOLEAN, DT.DATE, DT.DATEONLY, DT.JSON, DT.BLOB, DT.UUID }
  local MODEL_NAMES = { "User", "Post", "Tag", "Person", "Weird\"Name", "x" }
  local ATTR_NAMES = { "name", "age", "email", "prefs", "title", "body", "score", "flag",
    "weird \"col\"", "sp ace", "semi;colon" }
  local VALIDATORS = { { len = { 2, 10 } }, { isEmail = true }, { min = 0 }, { notEmpty = true },
    { isIn = { { "a", "b" } } }, { custom = function() error(MARK, 0) end }, { nosuch = 1 } }

  local function random_model()
    local list = {}
    for _, M in pairs(state.models) do list[#list + 1] = M end
    table.sort(list, function(a, b) return a.name < b.name end)
    if #list == 0 then return nil end
    return list[byte() % #list + 1]
  end

  local function hook_fn()
    local k = byte() % 6
    if k == 0 then return function() error(MARK, 0) end
    elseif k == 1 then return function() error(MARK_T) end
    elseif k == 2 then return function() if db then db:close(); state.closed = true end end
    elseif k == 3 then return function() collectgarbage() end
    elseif k == 4 then return function() if coroutine.isyieldable() then coroutine.yield() end end
    end
    return function(inst) if type(inst) == "table" then rawset(inst, "name", "hooked") end end
  end

  local function define()
    local name = pick(MODEL_NAMES)
    local attrs = {}
    local names = {}
    for _ = 1, 1 + byte() % 4 do
      local a = pick(ATTR_NAMES)
      local k = byte() % 4
      if k == 0 then attrs[a] = pick(TYPES)
      elseif k == 1 then
        attrs[a] = { type = pick(TYPES), allowNull = byte() % 2 == 0, unique = byte() % 4 == 0,
          defaultValue = byte() % 4 == 0 and value() or nil }
      elseif k == 2 then attrs[a] = { type = pick(TYPES), validate = pick(VALIDATORS) }
      else attrs[a] = value() end -- often not a type at all
      names[#names + 1] = a
    end
    if byte() % 16 == 0 then attrs[pick(KEYS)] = DT.STRING end
    local opts = { paranoid = byte() % 3 == 0, timestamps = byte() % 4 ~= 0,
      underscored = byte() % 5 == 0 }
    if byte() % 4 == 0 then
      opts.hooks = { [pick { "beforeCreate", "afterCreate", "beforeUpdate", "beforeDestroy",
        "beforeBulkCreate", "afterSave", "beforeValidate", "nosuchHook" }] = hook_fn() }
    end
    if byte() % 16 == 0 then opts.tableName = pick(STRINGS) end
    local ok, M = call("db.define", db.define, db, name, attrs, opts)
    if ok then
      M._fuzz_attrs = names
      state.models[name] = M
    end
  end

  local function remember(x)
    if type(x) == "table" then
      if #state.insts > 20 then table.remove(state.insts, 1) end
      state.insts[#state.insts + 1] = x
    end
  end

  -- ---- operations --------------------------------------------------------------------------
  local ops
  local function run_ops(n, depth)
    for _ = 1, n do
      if pos > len then return end
      local op = ops[byte() % #ops + 1]
      op(depth or 0)
    end
  end

  ops = {
    function() define() end,
    function() call("db.sync", db.sync, db, byte() % 4 == 0 and { force = true } or nil) end,
    function()
      local M = random_model()
      if M then
        local ok, inst = call("db.create", M.create, M, values_of(M))
        if ok then remember(inst) end
      end
    end,
    function()
      local M = random_model()
      if M then
        local list = {}
        for i = 1, byte() % 6 do list[i] = values_of(M) end
        if byte() % 8 == 0 then list.extra = 1 end
        local ok, out = call("db.bulkCreate", M.bulkCreate, M, list,
          byte() % 4 == 0 and { individualHooks = true } or nil)
        if ok then for _, x in ipairs(out) do remember(x) end end
      end
    end,
    function()
      local M = random_model()
      if M then
        local ok, rows = call("db.findAll", M.findAll, M, find_opts())
        if ok then for i = 1, math.min(#rows, 3) do remember(rows[i]) end end
      end
    end,
    function()
      local M = random_model()
      if M then call("db.count", M.count, M, { where = where_of() }) end
    end,
    function()
      local M = random_model()
      if M then call("db.update", M.update, M, values_of(M), { where = where_of() or {} }) end
    end,
    function()
      local M = random_model()
      if M then call("db.destroy", M.destroy, M, { where = where_of() or {}, force = byte() % 2 == 0 }) end
    end,
    function()
      local inst = state.insts[byte() % math.max(#state.insts, 1) + 1]
      if inst then
        local k = byte() % 6
        if k == 0 then call("db.save", function() inst.name = value(); return inst:save() end)
        elseif k == 1 then call("db.update", function() return inst:update(values_of(nil)) end)
        elseif k == 2 then call("db.destroy", function() return inst:destroy() end)
        elseif k == 3 then call("db.reload", function() return inst:reload() end)
        elseif k == 4 then call("inst.set", function() return inst:set(pick(KEYS), value()) end)
        else call("inst.toTable", function() return inst:toTable() end) end
      end
    end,
    function(depth) -- a managed transaction around more operations, which may raise
      if depth > 3 then return end
      local n = byte() % 4
      local raise = byte() % 3 == 0
      call("db.transaction", db.transaction, db, function()
        run_ops(n, depth + 1)
        if raise then error(MARK, 0) end
      end)
    end,
    function() -- unmanaged transactions, finished in any order
      local k = byte() % 3
      if k == 0 or #state.txs == 0 then
        local ok, t = call("db.transaction", db.transaction, db)
        if ok then state.txs[#state.txs + 1] = t end
      else
        local i = byte() % #state.txs + 1
        local t = state.txs[i]
        table.remove(state.txs, i)
        if k == 1 then call("tx.commit", t.commit, t) else call("tx.rollback", t.rollback, t) end
      end
    end,
    function() -- a hook added later
      local M = random_model()
      if M then
        call("model.addHook", M.addHook, M, pick { "beforeCreate", "afterCreate", "beforeSave",
          "beforeUpdate", "afterDestroy", "beforeBulkUpdate", "beforeBulkDestroy", "afterValidate",
          "bogus" }, hook_fn())
      end
    end,
    function()
      local sql = pick { "SELECT 1", "SELECT ? AS v", "PRAGMA integrity_check", "SELECT \"nosuch\"",
        "SELECT 1; SELECT 2", "SELECT 1;", "DROP TABLE IF EXISTS Users", "BEGIN", "COMMIT",
        "ROLLBACK", "SELECT * FROM Users", "INSERT INTO Users(name) VALUES (?)", "", "  ",
        "SELECT 'a' -- comment", "SELECT 1 /* unterminated", pick(STRINGS) }
      call("db.query", db.query, db, sql, byte() % 2 == 0 and { value(), value() } or nil)
    end,
    function()
      if byte() % 4 == 0 then
        call("close", db.close, db)
        -- closed unless close could not even start (a C stack overflow in nested coroutines)
        local ok, closed = pcall(db.isClosed, db)
        if ok then state.closed = closed end
      end
    end,
    function() collectgarbage(pick { "collect", "step", "incremental", "generational" }) end,
    function() -- a coroutine running operations; its hooks may yield
      local co = coroutine.create(function() run_ops(1 + byte() % 3, 4) end)
      state.cos[#state.cos + 1] = co
      local ok, err = coroutine.resume(co)
      if not ok then
        if type(err) == "string" and err:sub(1, 9) == "FINDING: " then error(err, 0) end
        if not clean(err) then finding("coroutine: unclean error %s", tostring(err)) end
      end
    end,
    function() -- resume a suspended coroutine later (maybe inside another transaction)
      local co = state.cos[byte() % math.max(#state.cos, 1) + 1]
      if co and coroutine.status(co) == "suspended" then
        local ok, err = coroutine.resume(co)
        if not ok then
          if type(err) == "string" and err:sub(1, 9) == "FINDING: " then error(err, 0) end
          if not clean(err) then finding("coroutine: unclean error %s", tostring(err)) end
        end
      elseif co and coroutine.status(co) == "dead" and byte() % 2 == 0 then
        coroutine.close(co)
      end
    end,
    function() -- association accessors (when the build has them)
      local inst = state.insts[byte() % math.max(#state.insts, 1) + 1]
      if not (state.assoc and inst) then return end
      local k = byte() % 14
      local arg = pick { {}, { 1, 2 }, { 1, 1, 999 }, nil, pick(STRINGS), { value(), value() }, 3,
        2.0, value(), state.insts[byte() % math.max(#state.insts, 1) + 1] }
      -- plural and singular forms (the singular ones and the getters without options take
      -- the binding's quick paths when their arguments allow)
      local names = { "setTags", "addTags", "removeTags", "getTags", "countTags", "hasTags",
        "setPosts", "getPosts", "createPost", "addPost", "createTag", "addTag", "hasTag",
        "removeTag", "hasPost", "removePost", "countPosts" }
      local m = names[k + 1 + (byte() % 4)] or "getTags"
      if type(inst[m]) == "function" then
        local a, b = arg, nil
        if m == "createPost" then a = { title = pick(STRINGS), body = value() }
        elseif m == "createTag" then a = { label = value() }
        elseif m:sub(1, 3) == "get" or m:sub(1, 5) == "count" then
          a = (byte() % 2 == 0) and find_opts() or nil
        elseif m == "addTag" and byte() % 3 == 0 then
          b = pick { { through = {} }, { through = { nosuch = 1 } }, { through = value() },
            { transaction = value() }, {} }
        end
        call("db." .. m, inst[m], inst, a, b)
      end
    end,
    function() -- eager loading and nested creates (when the build has them)
      local U, P, T = state.models.User, state.models.Post, state.models.Tag
      if not (state.assoc and U and P and T) then return end
      local k = byte() % 4
      if k == 0 then
        local o = find_opts()
        o.include = pick { { P }, { T }, { P, T }, { { model = P, where = where_of(), required = byte() % 2 == 0 } },
          { { model = T, through = { attributes = {} } } }, { { all = true } }, { "Posts" }, { pick(STRINGS) },
          { { model = P, include = { T } } }, value() }
        local ok, rows = call("db.findAll", U.findAll, U, o)
        if ok then for i = 1, math.min(#rows, 2) do remember(rows[i]) end end
      elseif k == 1 then
        local ok, u = call("db.create", U.create, U, { name = pick(STRINGS), Posts = { { title = "t" },
          { title = value() } }, Tags = byte() % 2 == 0 and { { label = "x" } } or nil },
          { include = pick { { P }, { P, T }, { T }, { "Posts" }, {} } })
        if ok then remember(u) end
      elseif k == 2 then
        call("db.count", U.count, U, { include = { P }, where = where_of() })
      else
        call("db.findAll", P.findAll, P, { include = { { model = U, include = { T } } }, limit = 3 })
      end
    end,
    function() -- reopen: a new db (the old one, if open, is left to the collector)
      if byte() % 4 == 0 then
        local ok, d = call("assoc.open", assoc.open, pick { ":memory:", { storage = ":memory:",
          logging = function(sql) if sql:find("Users") and byte() % 2 == 0 then error(MARK) end end },
          { storage = ":memory:", busyTimeout = -1 }, { nosuch = 1 } })
        if ok then
          db = d
          state.closed = false
          state.models = {}
          state.insts = {} -- the old db (and its instances) is left to the collector
          state.assoc = nil
        end
      end
    end,
  }

  local ok, d = call("assoc.open", assoc.open, { storage = ":memory:",
    logging = function(sql) if byte() == 7 then error(MARK, 0) end end })
  if not ok then return end
  db = d
  -- A base schema, so that every input reaches queries: User, Post, Tag, and the
  -- associations User hasMany Post, User belongsToMany Tag when the build has them.
  local base = {
    User = { name = DT.STRING, age = DT.INTEGER, prefs = DT.JSON,
      email = { type = DT.STRING, unique = true }, score = DT.FLOAT, flag = DT.BOOLEAN,
      born = DT.DATEONLY },
    Post = { title = { type = DT.STRING, allowNull = false }, body = DT.TEXT },
    Tag = { label = DT.STRING },
  }
  for _, name in ipairs { "User", "Post", "Tag" } do
    local okd, M = call("db.define", db.define, db, name, base[name],
      { paranoid = name == "User" and byte() % 2 == 0 })
    if okd then
      M._fuzz_attrs = {}
      for k in pairs(base[name]) do M._fuzz_attrs[#M._fuzz_attrs + 1] = k end
      table.sort(M._fuzz_attrs)
      state.models[name] = M
    end
  end
  local U, P, T = state.models.User, state.models.Post, state.models.Tag
  if U and P and T and type(U.hasMany) == "function" and type(U.belongsToMany) == "function" then
    state.assoc = call("db.hasMany", U.hasMany, U, P)
      and call("db.belongsToMany", U.belongsToMany, U, T, { through = "UserTags" })
  end
  call("db.sync", db.sync, db)
  if U then call("db.bulkCreate", U.bulkCreate, U, { { name = "ann", age = 30, prefs = { a = 1 } },
    { name = "bob", age = 40 } }) end
  run_ops(64, 0)
  -- finish: close everything that is still open, then use the closed db once more
  for _, co in ipairs(state.cos) do
    local st = coroutine.status(co)
    if st == "suspended" or st == "dead" then
      local ok, err = coroutine.close(co) -- runs the pending __close handlers (transactions)
      if not ok and not clean(err) then finding("coroutine.close: unclean error %s", tostring(err)) end
    end
  end
  call("close", db.close, db)
  state.closed = true
  local M = random_model()
  if M then
    call("db.findAll", M.findAll, M, {})
    call("db.create", M.create, M, { name = "after close" })
  end
end
