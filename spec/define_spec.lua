local H = require "spec.helpers"
local assoc = H.assoc
local DataTypes = assoc.DataTypes

-- Column names of a table, in order, with their declared type and flags.
local function columns(db, tbl)
  return db:query(('PRAGMA table_info("%s")'):format(tbl))
end

local function column_names(db, tbl)
  local names = {}
  for i, c in ipairs(columns(db, tbl)) do names[i] = c.name end
  return names
end

describe("db:define", function()
  local db
  before_each(function() db = assoc.open(":memory:") end)
  after_each(function() db:close() end)

  it("returns a model with name, tableName and primaryKeyAttribute", function()
    local User = H.user_model(db)
    assert.are.equal("User", User.name)
    assert.are.equal("Users", User.tableName)
    assert.are.equal("id", User.primaryKeyAttribute)
  end)

  it("pluralizes table names with English inflection", function()
    assert.are.equal("People", db:define("Person", {}).tableName)
    assert.are.equal("Categories", db:define("Category", {}).tableName)
  end)

  it("uses the tableName option", function()
    local User = db:define("User", { name = DataTypes.STRING }, { tableName = "members" })
    db:sync()
    assert.are.equal("members", User.tableName)
    User:create { name = "a" }
    assert.are.equal(1, H.rows(db, "members"))
  end)

  it("keeps the model name as table name with freezeTableName", function()
    assert.are.equal("Person", db:define("Person", {}, { freezeTableName = true }).tableName)
  end)

  it("adds an autoincrement id when no primary key is given", function()
    local User = H.user_model(db)
    local id = User.rawAttributes.id
    assert.is_true(id.primaryKey)
    assert.is_true(id.autoIncrement)
    assert.are.equal("INTEGER", id.type.key)
  end)

  it("keeps a given primary key and adds no id", function()
    local Country = db:define("Country", {
      code = { type = DataTypes.STRING(2), primaryKey = true },
      name = DataTypes.STRING,
    })
    assert.are.equal("code", Country.primaryKeyAttribute)
    assert.is_nil(Country.rawAttributes.id)
    db:sync()
    Country:create { code = "fr", name = "France" }
    assert.are.equal("France", Country:findByPk("fr").name)
  end)

  it("supports a composite primary key", function()
    local M = db:define("Member", {
      groupId = { type = DataTypes.INTEGER, primaryKey = true },
      userId = { type = DataTypes.INTEGER, primaryKey = true },
      role = DataTypes.STRING,
    })
    db:sync()
    assert.are.same({ "groupId", "userId" }, M.primaryKeyAttributes)
    M:create { groupId = 1, userId = 1, role = "a" }
    M:create { groupId = 1, userId = 2, role = "b" }
    local m = M:findOne { where = { groupId = 1, userId = 2 } }
    m.role = "c"
    m:save()
    assert.are.equal("a", M:findOne { where = { userId = 1 } }.role)
    assert.are.equal("c", M:findOne { where = { userId = 2 } }.role)
    m:destroy()
    assert.are.equal(1, M:count())
    H.raises("UniqueConstraintError", nil, M.create, M, { groupId = 1, userId = 1 })
  end)

  it("adds createdAt and updatedAt by default", function()
    local User = H.user_model(db)
    assert.is_not_nil(User.rawAttributes.createdAt)
    assert.is_not_nil(User.rawAttributes.updatedAt)
    assert.are.equal("DATE", User.rawAttributes.createdAt.type.key)
  end)

  it("adds no timestamps with timestamps = false", function()
    local User = H.user_model(db, { timestamps = false })
    assert.is_nil(User.rawAttributes.createdAt)
    assert.is_nil(User.rawAttributes.updatedAt)
    db:sync()
    assert.are.same({ "id", "age", "email", "name" }, column_names(db, "Users"))
  end)

  it("adds deletedAt with paranoid", function()
    local User = H.user_model(db, { paranoid = true })
    assert.is_not_nil(User.rawAttributes.deletedAt)
    assert.is_true(User.rawAttributes.deletedAt.allowNull)
  end)

  it("orders columns: primary key, the rest by name, then timestamps", function()
    db:define("Thing", { zeta = DataTypes.STRING, alpha = DataTypes.INTEGER,
      mid = DataTypes.TEXT })
    db:sync()
    assert.are.same({ "id", "alpha", "mid", "zeta", "createdAt", "updatedAt" },
      column_names(db, "Things"))
  end)

  it("snake-cases columns with underscored", function()
    local User = db:define("User", { firstName = DataTypes.STRING }, { underscored = true })
    db:sync()
    local names = column_names(db, User.tableName)
    assert.are.same({ "id", "first_name", "created_at", "updated_at" }, names)
    assert.are.equal("first_name", User.rawAttributes.firstName.field)
    local u = User:create { firstName = "Ann" }
    assert.are.equal("Ann", User:findByPk(u.id).firstName)
  end)

  it("uses the field option as the column name", function()
    local User = db:define("User", { name = { type = DataTypes.STRING, field = "full_name" } })
    db:sync()
    User:create { name = "Ann" }
    assert.are.equal("Ann", db:query('SELECT full_name FROM "Users"')[1].full_name)
    assert.are.equal("Ann", User:findOne().name)
  end)

  it("accepts a bare type as shorthand", function()
    local User = db:define("User", { age = DataTypes.INTEGER })
    assert.are.equal(DataTypes.INTEGER, User.rawAttributes.age.type)
    assert.is_true(User.rawAttributes.age.allowNull)
  end)

  it("makes allowNull = false a NOT NULL column", function()
    H.user_model(db)
    db:sync()
    for _, c in ipairs(columns(db, "Users")) do
      if c.name == "name" then assert.are.equal(1, c.notnull) end
      if c.name == "age" then assert.are.equal(0, c.notnull) end
    end
  end)

  it("makes a literal defaultValue the column default", function()
    local User = db:define("User", { role = { type = DataTypes.STRING, defaultValue = "member" } })
    db:sync()
    db:query('INSERT INTO "Users" (createdAt, updatedAt) VALUES (?, ?)', { "x", "x" })
    assert.are.equal("member", db:query('SELECT role FROM "Users"')[1].role)
    assert.are.equal("member", User.rawAttributes.role.defaultValue)
  end)

  it("makes unique a unique column", function()
    local User = H.user_model(db)
    db:sync()
    User:create { name = "a", email = "a@x.org" }
    H.raises("UniqueConstraintError", nil, User.create, User, { name = "b", email = "a@x.org" })
  end)

  it("describes every attribute in rawAttributes", function()
    local User = H.user_model(db)
    local name = User.rawAttributes.name
    assert.are.equal(DataTypes.STRING, name.type)
    assert.is_false(name.allowNull)
    assert.is_false(name.primaryKey)
    assert.are.equal("name", name.field)
    assert.is_true(User.rawAttributes.email.unique)
  end)

  it("registers the model in db.models", function()
    local User = H.user_model(db)
    assert.are.equal(User, db.models.User)
  end)

  it("gives every model an empty associations table", function()
    assert.are.same({}, H.user_model(db).associations)
  end)

  it("refuses to define the same model name twice", function()
    H.user_model(db)
    H.raises("AssocError", "'User'", H.user_model, db)
  end)

  it("refuses a model name that is not a non-empty string", function()
    H.raises("AssocError", "model name", db.define, db, "", {})
    H.raises("AssocError", "model name", db.define, db, 42, {})
  end)

  for _, name in ipairs { "save", "destroy", "get", "set", "update", "reload", "changed",
                          "toTable", "isNewRecord", "previous", "restore", "validate" } do
    it("refuses the attribute name '" .. name .. "'", function()
      H.raises("AssocError", { "User." .. name, "reserved" }, db.define, db, "User",
        { [name] = DataTypes.STRING })
      assert.is_nil(db.models.User)
    end)
  end

  it("refuses an unknown attribute option, naming model, attribute and option", function()
    H.raises("AssocError", { "User.name", "'alowNull'" }, db.define, db, "User",
      { name = { type = DataTypes.STRING, alowNull = false } })
  end)

  it("refuses an unknown type", function()
    H.raises("AssocError", { "User.name", "unknown type" }, db.define, db, "User",
      { name = { type = "VARCHAR" } })
    H.raises("AssocError", { "User.name" }, db.define, db, "User", { name = "STRING" })
  end)

  it("refuses an attribute without a type", function()
    H.raises("AssocError", { "User.name", "missing type" }, db.define, db, "User",
      { name = { allowNull = false } })
  end)

  it("refuses a default marker used as a type", function()
    H.raises("AssocError", "User.id", db.define, db, "User", { id = DataTypes.UUIDV4 })
  end)

  it("refuses autoIncrement on an attribute that is not an INTEGER primary key", function()
    H.raises("AssocError", { "User.n", "autoIncrement" }, db.define, db, "User",
      { n = { type = DataTypes.INTEGER, autoIncrement = true } })
  end)

  it("refuses a defaultValue of the wrong type", function()
    H.raises("AssocError", { "User.age", "defaultValue" }, db.define, db, "User",
      { age = { type = DataTypes.INTEGER, defaultValue = "old" } })
  end)

  it("refuses unknown define options and badly typed ones", function()
    H.raises("AssocError", "'timestamp'", db.define, db, "User", {}, { timestamp = false })
    H.raises("AssocError", "'paranoid'", db.define, db, "User", {}, { paranoid = "yes" })
  end)

  it("refuses an unknown validator at define", function()
    H.raises("AssocError", { "User.email", "'isEmial'" }, db.define, db, "User",
      { email = { type = DataTypes.STRING, validate = { isEmial = true } } })
  end)

  it("leaves nothing defined after a refused definition", function()
    pcall(db.define, db, "User", { name = { type = DataTypes.STRING, bogus = 1 } })
    assert.is_nil(db.models.User)
    assert.has_no.errors(function() H.user_model(db) end)
  end)
end)
