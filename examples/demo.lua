-- The assoc tour, run by `make demo` on a file database in a temporary folder:
--   lua5.4 examples/demo.lua /tmp/somewhere/demo.db
-- Defines models, creates, queries, updates inside transactions, and shows
-- what happens to bad input: a raised error object, nothing written.
local assoc = require("assoc")
local DataTypes, Op = assoc.DataTypes, assoc.Op

local path = arg[1] or ":memory:"
local statements = 0
local db = assoc.open{ storage = path, logging = function() statements = statements + 1 end }
print(("assoc %s on %s"):format(assoc.VERSION, path))

local User = db:define("User", {
  name  = { type = DataTypes.STRING, allowNull = false, validate = { len = { 2, 40 } } },
  email = { type = DataTypes.STRING, unique = true, validate = { isEmail = true } },
  admin = { type = DataTypes.BOOLEAN, defaultValue = false },
  prefs = DataTypes.JSON,
})
local Post = db:define("Post", {
  title = { type = DataTypes.STRING, allowNull = false },
  body  = DataTypes.TEXT,
  userId = DataTypes.INTEGER,
}, { paranoid = true })
local Project = db:define("Project", { name = { type = DataTypes.STRING, allowNull = false } })
User:hasMany(Post)                  -- Post.userId (declared above) becomes the foreign key
Post:belongsTo(User)                -- the same key, seen from the post
User:belongsToMany(Project, { through = "UserProjects" })   -- a generated junction model
Project:belongsToMany(User, { through = "UserProjects" })
db:sync{ force = true }
print(("synced tables %s, %s, %s and the junction %s"):format(User.tableName, Post.tableName,
  Project.tableName, db.models.UserProjects.tableName))

local alice = User:create{ name = "alice", email = "alice@example.com", prefs = { theme = "dark" } }
local bob = User:create{ name = "bob", email = "bob@example.com", admin = true }
print(("created %s (id %d, admin=%s, theme=%s) and %s (id %d, admin=%s)"):format(
  alice.name, alice.id, tostring(alice.admin), alice.prefs.theme, bob.name, bob.id, tostring(bob.admin)))

local posts = Post:bulkCreate{
  { title = "hello", body = "first post", userId = alice.id },
  { title = "assoc", body = "an ORM for Lua", userId = alice.id },
  { title = "sqlite", body = "small and fast", userId = bob.id },
}
print(("bulkCreate inserted %d posts in one transaction"):format(#posts))

local mine = Post:findAll{ where = { userId = alice.id }, order = { { "title", "DESC" } } }
for _, p in ipairs(mine) do print(("  alice wrote %q"):format(p.title)) end
local s = Post:findAll{ where = { title = { [Op.startsWith] = "s" } } }
print(("posts starting with 's': %d; posts in all: %d"):format(#s, Post:count()))

db:transaction(function()
  alice:update{ name = "Alice" }
  Post:update({ body = "edited" }, { where = { userId = alice.id } })
end)
print("renamed alice and edited her posts in one transaction: " .. User:findByPk(alice.id).name)

local ok, err = pcall(function()
  db:transaction(function()
    bob:update{ name = "Robert" }
    User:create{ name = "x", email = "not-an-email" }   -- fails validation: everything rolls back
  end)
end)
print(("a failing transaction raised %s (%s); bob is still %q"):format(
  err.name, err.errors and #err.errors .. " problems" or err.message, User:findByPk(bob.id).name))

ok, err = pcall(User.create, User, { name = "carol", email = "alice@example.com" })
print(("a duplicate email raised %s: %s"):format(err.name, err.message))
ok, err = pcall(User.findAll, User, { where = { ["name\" OR 1=1 --"] = "x" } })
print(("an injection attempt raised %s: %s"):format(err.name, err.message))

mine[1]:destroy()
print(("soft-deleted a post: %d visible, %d with paranoid = false"):format(
  Post:count(), Post:count{ paranoid = false }))

-- Associations: the accessors User:hasMany(Post) and User:belongsToMany(Project) installed.
local before = statements
local post = alice:createPost{ title = "associations", body = "hasMany at work" }
alice:addProject(Project:create{ name = "assoc" })
local writes = statements - before
print(("createPost, Project:create and addProject ran %d statements; alice now has %d visible "
  .. "posts (one is soft-deleted), %d project, hasProject(1) = %s"):format(writes,
  alice:countPosts(), #alice:getProjects(), tostring(alice:hasProject(1))))
print(("post %q belongs to %s"):format(post.title, post:getUser().name))
bob:addProjects{ 1, Project:create{ name = "lua" } }
for _, p in ipairs(bob:getProjects{ order = { "name" } }) do
  print(("  bob works on %q (junction row: userId %d, projectId %d)"):format(p.name,
    p.UserProjects.userId, p.UserProjects.projectId))
end
local assocProject = Project:findByPk(1)
print(("project %q has %d members"):format(assocProject.name, assocProject:countUsers()))
before = statements
bob:setProjects{ 2 }
writes = statements - before
print(("bob:setProjects{ 2 } ran %d statements (one transaction) and left him %d project(s)")
  :format(writes, bob:countProjects()))
post:setUser(bob)
print(("post:setUser(bob): %q now belongs to %s; posts: alice %d, bob %d"):format(post.title,
  post:getUser().name, alice:countPosts(), bob:countPosts()))
ok, err = pcall(alice.addPost, alice, assocProject)
print(("a Project given to addPost raised %s: %s"):format(err.name, err.message))

db:close()
ok, err = pcall(User.count, User)
print(("after close: %s"):format(tostring(err)))
print(("done: %d statements ran"):format(statements))
