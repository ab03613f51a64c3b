-- Defining associations: the association objects, Model.associations, the keys and names the
-- engine infers (the inference table of the association issue), the accessors installed on
-- instances, junction models, and the rules for the two sides of a pair.
local H = require "spec.helpers"
local F = require "spec.assoc_fixtures"
local assoc = H.assoc
local DataTypes = assoc.DataTypes

local MANY_ACCESSORS = { "get", "set", "count", "hasOne", "hasMany", "addOne", "addMany",
  "removeOne", "removeMany", "create" }

local function methods(inst, names)
  for _, n in ipairs(names) do
    assert.is_function(inst[n], "missing accessor " .. n)
  end
end

describe("association objects", function()
  local db, User, Post, Profile, Project
  before_each(function()
    db = H.open()
    User = db:define("User", { name = DataTypes.STRING })
    Post = db:define("Post", { title = DataTypes.STRING })
    Profile = db:define("Profile", { bio = DataTypes.STRING })
    Project = db:define("Project", { name = DataTypes.STRING })
  end)
  after_each(function() db:close() end)

  it("hasMany returns { associationType, source, target, as, foreignKey, sourceKey }", function()
    local a = User:hasMany(Post)
    assert.are.equal("HasMany", a.associationType)
    assert.are.equal(User, a.source)
    assert.are.equal(Post, a.target)
    assert.are.equal("Posts", a.as)
    assert.are.equal("userId", a.foreignKey)
    assert.are.equal("id", a.sourceKey)
    assert.is_nil(a.through)
    assert.is_nil(a.otherKey)
  end)

  it("hasOne returns a HasOne object named by the singular target", function()
    local a = User:hasOne(Profile)
    assert.are.equal("HasOne", a.associationType)
    assert.are.equal("Profile", a.as)
    assert.are.equal("userId", a.foreignKey)
    assert.are.equal("id", a.sourceKey)
    assert.is_true(a.isSingleAssociation)
  end)

  it("belongsTo returns a BelongsTo object keyed on the source", function()
    local a = Post:belongsTo(User)
    assert.are.equal("BelongsTo", a.associationType)
    assert.are.equal(Post, a.source)
    assert.are.equal(User, a.target)
    assert.are.equal("User", a.as)
    assert.are.equal("userId", a.foreignKey)
    assert.are.equal("id", a.targetKey)
  end)

  it("belongsToMany returns its through model, foreignKey and otherKey", function()
    local a = User:belongsToMany(Project, { through = "UserProjects" })
    assert.are.equal("BelongsToMany", a.associationType)
    assert.are.equal("Projects", a.as)
    assert.are.equal("userId", a.foreignKey)
    assert.are.equal("projectId", a.otherKey)
    assert.are.equal("id", a.sourceKey)
    assert.are.equal("id", a.targetKey)
    assert.are.equal(db.models.UserProjects, a.through)
    assert.are.equal("UserProjects", a.through.name)
    assert.is_true(a.isMultiAssociation)
  end)

  it("registers each association under its alias in Model.associations", function()
    local posts = User:hasMany(Post)
    local profile = User:hasOne(Profile)
    local user = Post:belongsTo(User)
    assert.are.equal(posts, User.associations.Posts)
    assert.are.equal(profile, User.associations.Profile)
    assert.are.equal(user, Post.associations.User)
    local keys = {}
    for name in pairs(User.associations) do keys[#keys + 1] = name end
    table.sort(keys)
    assert.are.same({ "Posts", "Profile" }, keys)
  end)

  it("Model:getAssociation finds an association by alias", function()
    local posts = User:hasMany(Post, { as = "Writings" })
    assert.are.equal(posts, User:getAssociation("Writings"))
  end)

  it("Model:getAssociations lists the associations to one target", function()
    local a = Post:belongsTo(User, { as = "author" })
    local e = Post:belongsTo(User, { as = "editor" })
    Post:hasOne(Profile)
    local list = Post:getAssociations(User)
    assert.are.equal(2, #list)
    assert.are.equal(a, list[1])
    assert.are.equal(e, list[2])
  end)

  it("lists the accessor names in association.accessors", function()
    local a = User:hasMany(Post)
    assert.are.same({ get = "getPosts", set = "setPosts", count = "countPosts",
      hasOne = "hasPost", hasMany = "hasPosts", addOne = "addPost", addMany = "addPosts",
      removeOne = "removePost", removeMany = "removePosts", create = "createPost" }, a.accessors)
    local b = User:hasOne(Profile)
    assert.are.same({ get = "getProfile", set = "setProfile", create = "createProfile" },
      b.accessors)
  end)

  it("prints as the source and alias", function()
    local a = User:hasMany(Post)
    assert.are.equal("assoc.Association User.Posts (HasMany)", tostring(a))
  end)
end)

describe("accessor installation", function()
  local db, User, Post, Profile, Project
  before_each(function()
    db = H.open()
    User = db:define("User", { name = DataTypes.STRING })
    Post = db:define("Post", { title = DataTypes.STRING })
    Profile = db:define("Profile", { bio = DataTypes.STRING })
    Project = db:define("Project", { name = DataTypes.STRING })
  end)
  after_each(function() db:close() end)

  it("installs the ten plural accessors of hasMany on source instances", function()
    User:hasMany(Post)
    local u = User:build { name = "a" }
    methods(u, { "getPosts", "setPosts", "countPosts", "hasPost", "hasPosts", "addPost",
      "addPosts", "removePost", "removePosts", "createPost" })
  end)

  it("installs the same ten for belongsToMany", function()
    local a = User:belongsToMany(Project, { through = "UserProjects" })
    local u = User:build { name = "a" }
    for _, k in ipairs(MANY_ACCESSORS) do methods(u, { a.accessors[k] }) end
    methods(u, { "getProjects", "addProject", "addProjects", "hasProject", "createProject" })
  end)

  it("installs get/set/create for hasOne and belongsTo, and nothing plural", function()
    User:hasOne(Profile)
    Post:belongsTo(User)
    local u, p = User:build {}, Post:build {}
    methods(u, { "getProfile", "setProfile", "createProfile" })
    methods(p, { "getUser", "setUser", "createUser" })
    assert.is_nil(u.countProfile)
    assert.is_nil(u.addProfile)
    assert.is_nil(p.countUsers)
  end)

  it("puts the accessors on Model.prototype, only for the source model", function()
    User:hasMany(Post)
    assert.is_function(User.prototype.getPosts)
    assert.is_nil(Post.prototype.getPosts)
    assert.is_nil(Post:build {}.getPosts)
  end)

  it("never overwrites a user method of the same name", function()
    User.prototype.getPosts = function() return "mine" end
    User:hasMany(Post)
    local u = User:build { name = "a" }
    assert.are.equal("mine", u:getPosts())
    assert.is_function(u.addPost)         -- the others are installed
  end)

  it("keeps the first association's accessor when two would share a name", function()
    User:hasOne(Post, { as = "Post" })              -- createPost
    User:hasMany(Post, { as = "Posts", foreignKey = "authorId" })  -- createPost again
    assert.are.equal("createPost", User.associations.Post.accessors.create)
    assert.are.equal("createPost", User.associations.Posts.accessors.create)
    assert.is_function(User.prototype.addPost)
    db:sync()
    local u = User:create { name = "a" }
    local p = u:createPost { title = "t" }          -- the hasOne's: keyed by userId
    assert.are.equal(u.id, p.userId)
    assert.is_nil(p.authorId)
    for _, n in ipairs(User.associations.Posts.installed) do   -- not installed twice
      assert.are_not.equal("createPost", n)
    end
  end)
end)

describe("key and name inference", function()
  local db
  before_each(function() db = H.open() end)
  after_each(function() db:close() end)

  it("defaults the foreign key to camelCase source name + Id for hasMany", function()
    local BlogPost = db:define("BlogPost", {})
    local Comment = db:define("Comment", {})
    local a = BlogPost:hasMany(Comment)
    assert.are.equal("blogPostId", a.foreignKey)
    assert.are.equal("Comments", a.as)
    assert.is_table(Comment.rawAttributes.blogPostId)
  end)

  it("takes the belongsTo key from the target model name", function()
    local User = db:define("User", {})
    local Post = db:define("Post", {})
    assert.are.equal("userId", Post:belongsTo(User).foreignKey)
  end)

  it("takes the belongsTo key from its alias: as = 'leader' gives leaderId", function()
    local User = db:define("User", {})
    local Team = db:define("Team", {})
    local a = Team:belongsTo(User, { as = "leader" })
    assert.are.equal("leaderId", a.foreignKey)
    assert.are.equal("leader", a.as)
    assert.is_table(Team.rawAttributes.leaderId)
    methods(Team:build {}, { "getLeader", "setLeader", "createLeader" })
  end)

  it("ignores the alias for the hasMany key: as = 'Writings' still gives userId", function()
    local User = db:define("User", {})
    local Post = db:define("Post", {})
    local a = User:hasMany(Post, { as = "Writings" })
    assert.are.equal("userId", a.foreignKey)
    methods(User:build {}, { "getWritings", "addWriting", "addWritings", "countWritings",
      "hasWriting", "createWriting", "removeWriting" })
  end)

  it("inflects irregular plurals: Person gives getPeople and addPerson", function()
    local Group = db:define("Group", {})
    local Person = db:define("Person", {})
    local a = Group:hasMany(Person)
    assert.are.equal("People", a.as)
    methods(Group:build {}, { "getPeople", "setPeople", "countPeople", "addPerson",
      "addPeople", "hasPerson", "hasPeople", "removePerson", "removePeople", "createPerson" })
    assert.are.equal("People", Person.tableName)
  end)

  it("inflects Category to Categories", function()
    local Shop = db:define("Shop", {})
    local Category = db:define("Category", {})
    local a = Shop:hasMany(Category)
    assert.are.equal("Categories", a.as)
    methods(Shop:build {}, { "getCategories", "addCategory", "addCategories" })
  end)

  it("uses as = { singular =, plural = } as given", function()
    local Person = db:define("Person", {})
    local a = Person:hasMany(Person, { as = { singular = "Child", plural = "Children" },
      foreignKey = "parentId" })
    assert.are.equal("Children", a.as)
    methods(Person:build {}, { "getChildren", "addChild", "addChildren", "countChildren",
      "createChild", "hasChild", "removeChild" })
    assert.is_nil(Person:build {}.addChildrens)
  end)

  it("singularizes a plural alias string for the many kinds: Friends gives addFriend", function()
    local User = db:define("User", {})
    local a = User:belongsToMany(User, { as = "Friends", through = "Friendships" })
    assert.are.equal("Friends", a.as)
    methods(User:build {}, { "getFriends", "addFriend", "addFriends", "removeFriend" })
  end)

  it("infers the other key of a self belongsToMany from its alias: friendId", function()
    local User = db:define("User", {})
    local a = User:belongsToMany(User, { as = "Friends", through = "Friendships" })
    assert.are.equal("userId", a.foreignKey)
    assert.are.equal("friendId", a.otherKey)
    local J = db.models.Friendships
    assert.is_table(J.rawAttributes.userId)
    assert.is_table(J.rawAttributes.friendId)
  end)

  it("keys the junction with both model names: userId and projectId", function()
    local User = db:define("User", {})
    local Project = db:define("Project", {})
    User:belongsToMany(Project, { through = "UserProjects" })
    local J = db.models.UserProjects
    assert.is_table(J.rawAttributes.userId)
    assert.is_table(J.rawAttributes.projectId)
  end)

  it("keeps the attribute name camelCase and snake-cases the column with underscored", function()
    local User = db:define("User", {}, { underscored = true })
    local Post = db:define("Post", {}, { underscored = true })
    local a = User:hasMany(Post)
    assert.are.equal("userId", a.foreignKey)
    assert.are.equal("user_id", Post.rawAttributes.userId.field)
  end)

  it("uses a foreignKey string as the key", function()
    local User = db:define("User", {})
    local Post = db:define("Post", {})
    local a = User:hasMany(Post, { foreignKey = "authorId" })
    assert.are.equal("authorId", a.foreignKey)
    assert.is_table(Post.rawAttributes.authorId)
    assert.is_nil(Post.rawAttributes.userId)
  end)

  it("takes { name =, allowNull = false } for the foreign key", function()
    local User = db:define("User", {})
    local Post = db:define("Post", {})
    local a = User:hasMany(Post, { foreignKey = { name = "ownerId", allowNull = false } })
    assert.are.equal("ownerId", a.foreignKey)
    assert.is_false(Post.rawAttributes.ownerId.allowNull)
  end)

  it("takes { allowNull = false } alone and keeps the default name", function()
    local User = db:define("User", {})
    local Post = db:define("Post", {})
    local a = User:hasMany(Post, { foreignKey = { allowNull = false } })
    assert.are.equal("userId", a.foreignKey)
    assert.is_false(Post.rawAttributes.userId.allowNull)
  end)

  it("adds a nullable INTEGER key referencing an integer primary key", function()
    local User = db:define("User", {})
    local Post = db:define("Post", {})
    User:hasMany(Post)
    local ra = Post.rawAttributes.userId
    assert.are.equal("INTEGER", ra.type.key)
    assert.is_true(ra.allowNull)
    assert.is_false(ra.primaryKey)
  end)

  it("gives the key the type of the referenced key (a STRING primary key)", function()
    local Country = db:define("Country", { code = { type = DataTypes.STRING, primaryKey = true } })
    local City = db:define("City", {})
    local a = Country:hasMany(City)
    assert.are.equal("countryCode", a.foreignKey)
    assert.are.equal("STRING", City.rawAttributes.countryCode.type.key)
  end)

  it("reuses an attribute the holding model already defines", function()
    local User = db:define("User", {})
    local Post = db:define("Post", { userId = { type = DataTypes.INTEGER,
      validate = { min = 1 } } })
    User:hasMany(Post)
    local ra = Post.rawAttributes.userId
    assert.are.equal("INTEGER", ra.type.key)
    assert.is_table(ra.validate)            -- the user's validation stays
    local n = 0
    for _, name in ipairs(Post._names) do if name == "userId" then n = n + 1 end end
    assert.are.equal(1, n)
  end)

  it("uses sourceKey for hasMany and names the key after it", function()
    local User = db:define("User", { email = { type = DataTypes.STRING, unique = true } })
    local Post = db:define("Post", {})
    local a = User:hasMany(Post, { sourceKey = "email" })
    assert.are.equal("email", a.sourceKey)
    assert.are.equal("userEmail", a.foreignKey)
    assert.are.equal("STRING", Post.rawAttributes.userEmail.type.key)
  end)

  it("uses targetKey for belongsTo and names the key after it", function()
    local User = db:define("User", { email = { type = DataTypes.STRING, unique = true } })
    local Post = db:define("Post", {})
    local a = Post:belongsTo(User, { targetKey = "email" })
    assert.are.equal("email", a.targetKey)
    assert.are.equal("userEmail", a.foreignKey)
  end)

  it("takes foreignKey and otherKey for belongsToMany", function()
    local User = db:define("User", {})
    local Project = db:define("Project", {})
    local a = User:belongsToMany(Project, { through = "Work", foreignKey = "workerId",
      otherKey = "jobId" })
    assert.are.equal("workerId", a.foreignKey)
    assert.are.equal("jobId", a.otherKey)
    assert.is_table(db.models.Work.rawAttributes.workerId)
    assert.is_table(db.models.Work.rawAttributes.jobId)
  end)

  it("uses the alias for one-to-one accessors: as = 'Avatar'", function()
    local User = db:define("User", {})
    local Image = db:define("Image", {})
    local a = User:hasOne(Image, { as = "Avatar" })
    assert.are.equal("Avatar", a.as)
    methods(User:build {}, { "getAvatar", "setAvatar", "createAvatar" })
  end)
end)

describe("junction models", function()
  local db, User, Project
  before_each(function()
    db = H.open()
    User = db:define("User", { name = DataTypes.STRING })
    Project = db:define("Project", { name = DataTypes.STRING })
  end)
  after_each(function() db:close() end)

  it("generates a model for a through name, registered in db.models", function()
    User:belongsToMany(Project, { through = "UserProjects" })
    local J = db.models.UserProjects
    assert.is_table(J)
    assert.are.equal("UserProjects", J.tableName)          -- no pluralization
    assert.are.equal(J, db:model("UserProjects"))
    assert.is_true(db:isDefined("UserProjects"))
  end)

  it("gives the generated junction a composite primary key of both keys, NOT NULL", function()
    User:belongsToMany(Project, { through = "UserProjects" })
    local J = db.models.UserProjects
    local pks = {}
    for _, k in ipairs(J.primaryKeyAttributes) do pks[#pks + 1] = k end
    table.sort(pks)
    assert.are.same({ "projectId", "userId" }, pks)
    assert.is_false(J.rawAttributes.userId.allowNull)
    assert.is_false(J.rawAttributes.projectId.allowNull)
    assert.is_nil(J.rawAttributes.id)
  end)

  it("gives the generated junction timestamps", function()
    User:belongsToMany(Project, { through = "UserProjects" })
    local J = db.models.UserProjects
    assert.is_table(J.rawAttributes.createdAt)
    assert.is_table(J.rawAttributes.updatedAt)
  end)

  it("leaves timestamps off with timestamps = false", function()
    User:belongsToMany(Project, { through = "UserProjects", timestamps = false })
    local J = db.models.UserProjects
    assert.is_nil(J.rawAttributes.createdAt)
  end)

  it("shares one junction between both sides of a pair", function()
    local a = User:belongsToMany(Project, { through = "UserProjects" })
    local b = Project:belongsToMany(User, { through = "UserProjects" })
    assert.are.equal(a.through, b.through)
    assert.are.equal("projectId", b.foreignKey)
    assert.are.equal("userId", b.otherKey)
  end)

  it("uses a defined through model and keeps its extra attributes", function()
    local Membership = db:define("Membership", { role = DataTypes.STRING })
    local a = User:belongsToMany(Project, { through = Membership })
    assert.are.equal(Membership, a.through)
    assert.is_table(Membership.rawAttributes.role)
    assert.is_table(Membership.rawAttributes.userId)
    assert.is_table(Membership.rawAttributes.projectId)
  end)

  it("replaces a defined through model's automatic id by the composite key", function()
    local Membership = db:define("Membership", { role = DataTypes.STRING })
    User:belongsToMany(Project, { through = Membership })
    assert.is_nil(Membership.rawAttributes.id)
    local pks = {}
    for _, k in ipairs(Membership.primaryKeyAttributes) do pks[#pks + 1] = k end
    table.sort(pks)
    assert.are.same({ "projectId", "userId" }, pks)
  end)

  it("keeps a primary key the through model declares itself", function()
    local Membership = db:define("Membership", {
      mid = { type = DataTypes.INTEGER, primaryKey = true, autoIncrement = true },
      role = DataTypes.STRING })
    User:belongsToMany(Project, { through = Membership })
    assert.are.same({ "mid" }, Membership.primaryKeyAttributes)
  end)

  it("takes through = { model = M } and a defined model by name", function()
    local Membership = db:define("Membership", { role = DataTypes.STRING })
    local a = User:belongsToMany(Project, { through = { model = Membership } })
    local b = Project:belongsToMany(User, { through = "Membership" })
    assert.are.equal(Membership, a.through)
    assert.are.equal(Membership, b.through)
  end)

  it("instances of a generated junction can be created and read", function()
    User:belongsToMany(Project, { through = "UserProjects" })
    db:sync()
    local u = User:create { name = "a" }
    local p = Project:create { name = "p" }
    local J = db.models.UserProjects
    J:create { userId = u.id, projectId = p.id }
    local row = J:findOne { where = { userId = u.id } }
    assert.are.equal(p.id, row.projectId)
    assert.is_string(row.createdAt)
  end)
end)

describe("the two sides of a pair", function()
  local db, User, Post
  before_each(function()
    db = H.open()
    User = db:define("User", { name = DataTypes.STRING })
    Post = db:define("Post", { title = DataTypes.STRING })
  end)
  after_each(function() db:close() end)

  it("a plain belongsTo adopts the hasMany's foreignKey: one key, not two", function()
    User:hasMany(Post, { foreignKey = "authorId" })
    local b = Post:belongsTo(User)
    assert.are.equal("authorId", b.foreignKey)
    assert.is_nil(Post.rawAttributes.userId)
    db:sync()
    assert.is_nil(F.columns(db, "Posts").userId)
    assert.are.equal(1, F.nfks(db, "Posts"))
  end)

  it("a plain hasMany adopts the belongsTo's foreignKey the other way round", function()
    Post:belongsTo(User, { foreignKey = "authorId" })
    local a = User:hasMany(Post)
    assert.are.equal("authorId", a.foreignKey)
    assert.is_nil(Post.rawAttributes.userId)
  end)

  it("adopts the explicit allowNull = false of either side, whichever came first", function()
    -- Sequelize #6997: there the second definition can lose the first one's allowNull.
    User:hasMany(Post, { foreignKey = { name = "authorId", allowNull = false } })
    Post:belongsTo(User, { foreignKey = "authorId" })
    assert.is_false(Post.rawAttributes.authorId.allowNull)
    db:sync()
    assert.are.equal(1, F.columns(db, "Posts").authorId.notnull)
  end)

  it("raises AssociationError naming both when allowNull conflicts", function()
    User:hasMany(Post, { foreignKey = { name = "authorId", allowNull = false } })
    local err = H.raises("AssociationError", { "authorId" }, function()
      Post:belongsTo(User, { foreignKey = { name = "authorId", allowNull = true } })
    end)
    assert.truthy(err.message:find("User", 1, true))
    assert.truthy(err.message:find("Post", 1, true))
    assert.is_nil(Post.associations.User)
  end)

  it("raises AssociationError when onDelete conflicts", function()
    User:hasMany(Post, { foreignKey = "authorId", onDelete = "CASCADE" })
    H.raises("AssociationError", { "authorId" }, function()
      Post:belongsTo(User, { foreignKey = "authorId", onDelete = "RESTRICT" })
    end)
  end)

  it("supports several associations between one pair, each with its own alias", function()
    local author = Post:belongsTo(User, { as = "author" })
    local editor = Post:belongsTo(User, { as = "editor" })
    assert.are.equal("authorId", author.foreignKey)
    assert.are.equal("editorId", editor.foreignKey)
    methods(Post:build {}, { "getAuthor", "setAuthor", "getEditor", "setEditor" })
    db:sync()
    local fks = F.fks(db, "Posts")
    assert.are.equal("Users", fks.authorId.table)
    assert.are.equal("Users", fks.editorId.table)
  end)

  it("refreshes rawAttributes so the new key can be written and read", function()
    User:hasMany(Post)
    db:sync()
    local u = User:create { name = "a" }
    local p = Post:create { title = "t", userId = u.id }
    assert.are.equal(u.id, Post:findByPk(p.id).userId)
    assert.are.equal(1, Post:count { where = { userId = u.id } })
  end)
end)
