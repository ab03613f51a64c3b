-- Shared fixtures of the eager-loading specs (spec/include_*_spec.lua and
-- spec/nested_create_spec.lua): a blog schema with every association kind, seed data, and
-- helpers to read results and count statements.
local H = require "spec.helpers"
local assoc = H.assoc
local DataTypes = assoc.DataTypes

local F = { H = H, assoc = assoc }

-- Opens a db with the schema:
--   User hasMany Post, Post belongsTo User, Post hasMany Comment, Comment belongsTo Post,
--   Comment belongsTo User as Author, User hasOne Profile, User belongsToMany Project through
--   UserProject (role), Project belongsToMany User, Post belongsToMany Tag through "PostTags",
--   Task belongsTo User as Owner and as Assignee.  Post is paranoid.
function F.open()
  local db, log = H.open()
  local M = { db = db, log = log }
  M.User = db:define("User", {
    name = { type = DataTypes.STRING, allowNull = false, validate = { len = { 2, 40 } } },
    age = DataTypes.INTEGER,
  })
  M.Post = db:define("Post", {
    title = { type = DataTypes.STRING, allowNull = false },
    rank = DataTypes.INTEGER,
    status = DataTypes.STRING,
  }, { paranoid = true })
  M.Comment = db:define("Comment", { body = { type = DataTypes.STRING, allowNull = false } })
  M.Profile = db:define("Profile", { bio = DataTypes.STRING })
  M.Project = db:define("Project", { name = { type = DataTypes.STRING, allowNull = false } })
  M.UserProject = db:define("UserProject", {
    role = { type = DataTypes.STRING, allowNull = false, defaultValue = "member",
             validate = { isIn = { { "owner", "member" } } } },
  })
  M.Tag = db:define("Tag", { label = { type = DataTypes.STRING, unique = true } })
  M.Task = db:define("Task", { title = DataTypes.STRING })

  M.Posts = M.User:hasMany(M.Post)
  M.PostUser = M.Post:belongsTo(M.User)
  M.Comments = M.Post:hasMany(M.Comment)
  M.CommentPost = M.Comment:belongsTo(M.Post)
  M.Author = M.Comment:belongsTo(M.User, { as = "Author" })
  M.ProfileA = M.User:hasOne(M.Profile)
  M.Projects = M.User:belongsToMany(M.Project, { through = M.UserProject })
  M.Members = M.Project:belongsToMany(M.User, { through = M.UserProject })
  M.Tags = M.Post:belongsToMany(M.Tag, { through = "PostTags" })
  M.Owner = M.Task:belongsTo(M.User, { as = "Owner" })
  M.Assignee = M.Task:belongsTo(M.User, { as = "Assignee" })
  db:sync()
  return M
end

-- Seeds:
--   users 1 alice (30), 2 bob (25), 3 carol (35, nothing of her own)
--   posts 1 "b" (alice, rank 2), 2 "a" (alice, rank 1), 3 "c" (bob, rank 3),
--         4 "z" (alice, soft-deleted)
--   comments 1 "x" (post 1, by bob), 2 "y" (post 1, by alice), 3 "z" (post 3, by alice)
--   profiles: alice "A", bob "B"
--   projects 1 X, 2 Y; alice owner of X and member of Y, bob member of X
--   tags t1 on post 1, t2 on posts 1 and 3
function F.seed(M)
  local db = M.db
  db:query([[INSERT INTO "Users" (id, name, age, createdAt, updatedAt) VALUES
    (1, 'alice', 30, 'now', 'now'), (2, 'bob', 25, 'now', 'now'), (3, 'carol', 35, 'now', 'now')]])
  db:query([[INSERT INTO "Posts" (id, title, rank, userId, createdAt, updatedAt, deletedAt)
    VALUES (1, 'b', 2, 1, 'now', 'now', NULL), (2, 'a', 1, 1, 'now', 'now', NULL),
    (3, 'c', 3, 2, 'now', 'now', NULL), (4, 'z', 0, 1, 'now', 'now', '2020-01-01T00:00:00.000Z')]])
  db:query([[INSERT INTO "Comments" (id, body, postId, authorId, createdAt, updatedAt) VALUES
    (1, 'x', 1, 2, 'now', 'now'), (2, 'y', 1, 1, 'now', 'now'), (3, 'z', 3, 1, 'now', 'now')]])
  db:query([[INSERT INTO "Profiles" (id, bio, userId, createdAt, updatedAt) VALUES
    (1, 'A', 1, 'now', 'now'), (2, 'B', 2, 'now', 'now')]])
  db:query([[INSERT INTO "Projects" (id, name, createdAt, updatedAt) VALUES
    (1, 'X', 'now', 'now'), (2, 'Y', 'now', 'now')]])
  db:query([[INSERT INTO "UserProjects" (userId, projectId, role, createdAt, updatedAt) VALUES
    (1, 1, 'owner', 'now', 'now'), (1, 2, 'member', 'now', 'now'), (2, 1, 'member', 'now', 'now')]])
  db:query([[INSERT INTO "Tags" (id, label, createdAt, updatedAt) VALUES
    (1, 't1', 'now', 'now'), (2, 't2', 'now', 'now')]])
  db:query([[INSERT INTO "PostTags" (postId, tagId, createdAt, updatedAt) VALUES
    (1, 1, 'now', 'now'), (1, 2, 'now', 'now'), (3, 2, 'now', 'now')]])
  H.clear(M.log)
end

-- Adds more of everything (rows that the include shapes of the specs would load).
function F.more(M)
  local db = M.db
  for i = 10, 40 do
    db:query([[INSERT INTO "Users" (id, name, createdAt, updatedAt) VALUES (?, ?, 'now', 'now')]],
      { i, "user" .. i })
    db:query([[INSERT INTO "Posts" (title, rank, userId, createdAt, updatedAt)
      VALUES (?, ?, ?, 'now', 'now')]], { "p" .. i, i, i })
    db:query([[INSERT INTO "Posts" (title, rank, userId, createdAt, updatedAt)
      VALUES (?, ?, ?, 'now', 'now')]], { "q" .. i, i, i })
    db:query([[INSERT INTO "Comments" (body, postId, authorId, createdAt, updatedAt)
      VALUES (?, 1, ?, 'now', 'now')]], { "c" .. i, i })
    db:query([[INSERT INTO "Profiles" (bio, userId, createdAt, updatedAt)
      VALUES (?, ?, 'now', 'now')]], { "bio" .. i, i })
    db:query([[INSERT INTO "UserProjects" (userId, projectId, role, createdAt, updatedAt)
      VALUES (?, 2, 'member', 'now', 'now')]], { i })
  end
  H.clear(M.log)
end

-- The values of field k of a list of instances, in order.
function F.pluck(list, k)
  local out = {}
  for i, x in ipairs(list or {}) do out[i] = x[k] end
  return out
end

-- The ids of a list of instances, in order.
function F.ids(list) return F.pluck(list, "id") end

-- The data statements (SELECT ...) of the log since it was last cleared.
function F.selects(log)
  return H.matching(log, "^SELECT")
end

-- Runs fn and returns the number of statements it logged.
function F.count_statements(M, fn)
  H.clear(M.log)
  fn()
  local n = #M.log
  H.clear(M.log)
  return n
end

return F
