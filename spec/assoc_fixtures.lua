-- Shared fixtures of the association specs (spec/assoc_*_spec.lua): models, schema readers
-- and statement counters on top of spec/helpers.lua.
local H = require "spec.helpers"
local assoc = H.assoc
local DataTypes = assoc.DataTypes

local F = {}

-- The foreign keys of a table as PRAGMA foreign_key_list reports them, keyed by the column
-- they start from: { table =, to =, on_delete =, on_update = }.
function F.fks(db, table_name)
  local out = {}
  for _, r in ipairs(db:query(("PRAGMA foreign_key_list('%s')"):format(table_name))) do
    out[r.from] = { table = r.table, to = r.to, on_delete = r.on_delete, on_update = r.on_update }
  end
  return out
end

-- The number of foreign keys of a table.
function F.nfks(db, table_name)
  return #db:query(("PRAGMA foreign_key_list('%s')"):format(table_name))
end

-- The columns of a table (PRAGMA table_info), keyed by name: { type =, notnull =, pk = }.
function F.columns(db, table_name)
  local out = {}
  for _, r in ipairs(db:query(("PRAGMA table_info('%s')"):format(table_name))) do
    out[r.name] = { type = r.type, notnull = r.notnull, pk = r.pk, cid = r.cid }
  end
  return out
end

-- The primary-key columns of a table, in key order.
function F.pk_columns(db, table_name)
  local cols = {}
  for _, r in ipairs(db:query(("PRAGMA table_info('%s')"):format(table_name))) do
    if r.pk > 0 then cols[r.pk] = r.name end
  end
  return cols
end

-- The column lists of the UNIQUE indexes of a table (each sorted), sorted.
function F.unique_indexes(db, table_name)
  local out = {}
  for _, ix in ipairs(db:query(("PRAGMA index_list('%s')"):format(table_name))) do
    if ix.unique == 1 or ix.unique == true then
      local cols = {}
      for _, c in ipairs(db:query(("PRAGMA index_info('%s')"):format(ix.name))) do
        cols[#cols + 1] = c.name
      end
      table.sort(cols)
      out[#out + 1] = table.concat(cols, ",")
    end
  end
  table.sort(out)
  return out
end

-- Sorted values of field `k` of the rows of a query.
function F.pluck(rows, k)
  local out = {}
  for i, r in ipairs(rows) do out[i] = r[k] end
  table.sort(out, function(a, b)
    if type(a) == type(b) then return a < b end
    return type(a) < type(b)
  end)
  return out
end

-- Sorted values of field `k` of the rows of raw SQL.
function F.col(db, sql, params, k)
  return F.pluck(db:query(sql, params or {}), k or "v")
end

-- The number of statements of log that are not transaction control.
function F.data_statements(log)
  local n = 0
  for _, sql in ipairs(log) do
    if not (sql:find("^BEGIN") or sql:find("^COMMIT") or sql:find("^ROLLBACK")
      or sql:find("^SAVEPOINT") or sql:find("^RELEASE")) then
      n = n + 1
    end
  end
  return n
end

-- The model of an instance (nil for anything else).
function F.model_of(v)
  local mt = getmetatable(v)
  return type(mt) == "table" and rawget(mt, "model") or nil
end

-- The blog schema of the README: User hasMany Post, Post belongsTo User, User/Project
-- belongsToMany through UserProjects (both sides).  opts: { sync = false, paranoidPost =,
-- postOptions = {...} }.  Returns db, log, models table.
function F.blog(opts)
  opts = opts or {}
  local db, log = H.open()
  local User = db:define("User", {
    name = { type = DataTypes.STRING, allowNull = false },
    email = { type = DataTypes.STRING, unique = true },
  })
  local Post = db:define("Post", {
    title = { type = DataTypes.STRING, allowNull = false },
    body = DataTypes.TEXT,
  }, { paranoid = opts.paranoidPost or false })
  local Project = db:define("Project", { name = DataTypes.STRING })
  local m = { User = User, Post = Post, Project = Project }
  m.Posts = User:hasMany(Post, opts.hasMany)
  m.PostUser = Post:belongsTo(User, opts.belongsTo)
  m.Projects = User:belongsToMany(Project, { through = "UserProjects" })
  m.Users = Project:belongsToMany(User, { through = "UserProjects" })
  if opts.sync ~= false then db:sync() end
  H.clear(log)
  return db, log, m
end

-- User/Project belongsToMany each other through UserProjects (role, default "member";
-- priority), synced, with the users alice and bob.  Returns db, log, User, Project,
-- UserProjects, alice, bob.
function F.membership()
  local db, log = H.open()
  local User = db:define("User", { name = DataTypes.STRING })
  local Project = db:define("Project", { name = DataTypes.STRING })
  local UserProjects = db:define("UserProjects", {
    role = { type = DataTypes.STRING, defaultValue = "member" },
    priority = DataTypes.INTEGER,
  }, { freezeTableName = true })
  User:belongsToMany(Project, { through = "UserProjects" })
  Project:belongsToMany(User, { through = "UserProjects" })
  db:sync()
  local alice = User:create { name = "alice" }
  local bob = User:create { name = "bob" }
  H.clear(log)
  return db, log, User, Project, UserProjects, alice, bob
end

return F
