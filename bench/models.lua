-- The benchmark's models, mapped onto the tables of the workload's schema file (which is run
-- before, so nothing here syncs), with their associations in Sequelize terms:
-- User.hasMany(Post) / Post.belongsTo(User) on posts.userId, and User/Project belongsToMany
-- each other through UserProject (user_projects). Shared by workload.lua and profile.lua:
--   local User, Project, Post, UserProject = dofile(dir .. "/models.lua")(db)
local assoc = require("assoc")
local DataTypes = assoc.DataTypes

return function(db)
  local function table_opts(name) return { tableName = name, timestamps = false } end
  local User = db:define("User", {
    id = { type = DataTypes.INTEGER, primaryKey = true },
    name = { type = DataTypes.STRING, allowNull = false },
  }, table_opts("users"))
  local Project = db:define("Project", {
    id = { type = DataTypes.INTEGER, primaryKey = true },
    name = { type = DataTypes.STRING, allowNull = false },
  }, table_opts("projects"))
  local Post = db:define("Post", {
    id = { type = DataTypes.INTEGER, primaryKey = true },
    title = { type = DataTypes.STRING, allowNull = false },
    body = { type = DataTypes.TEXT, allowNull = false },
    userId = { type = DataTypes.INTEGER, allowNull = false },
  }, table_opts("posts"))
  local UserProject = db:define("UserProject", {
    userId = { type = DataTypes.INTEGER, primaryKey = true },
    projectId = { type = DataTypes.INTEGER, primaryKey = true },
    role = { type = DataTypes.STRING, allowNull = false, defaultValue = "member" },
  }, table_opts("user_projects"))

  User:hasMany(Post, { foreignKey = { name = "userId", allowNull = false } })
  Post:belongsTo(User, { foreignKey = { name = "userId", allowNull = false } })
  User:belongsToMany(Project, { through = UserProject })
  Project:belongsToMany(User, { through = UserProject })
  return User, Project, Post, UserProject
end
