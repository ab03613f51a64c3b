-- "Better than Sequelize": each case here would fail on Sequelize 6; the comment above each
-- says what Sequelize 6 does instead.
local H = require "spec.helpers"
local F = require "spec.assoc_fixtures"
local assoc = H.assoc
local DataTypes = assoc.DataTypes

describe("better than Sequelize: scoped junctions (#8890)", function()
  local db, log, Image, Video, Tag, ItemTag, img, vid, t1, t2
  before_each(function()
    db, log = H.open()
    Image = db:define("Image", { url = DataTypes.STRING })
    Video = db:define("Video", { url = DataTypes.STRING })
    Tag = db:define("Tag", { name = DataTypes.STRING })
    ItemTag = db:define("ItemTag", { taggableType = DataTypes.STRING })
    for _, M in ipairs { Image, Video } do
      M:belongsToMany(Tag, { through = { model = ItemTag, unique = false,
        scope = { taggableType = M.name:lower() } }, foreignKey = "taggableId",
        otherKey = "tagId", constraints = false })
    end
    db:sync()
    img = Image:create { url = "i" }
    vid = Video:create { url = "v" }       -- same id as img
    t1 = Tag:create { name = "t1" }
    t2 = Tag:create { name = "t2" }
    img:addTags { t1, t2 }
    vid:addTags { t1, t2 }
    H.clear(log)
  end)
  after_each(function() db:close() end)

  local function types()
    return F.col(db, 'SELECT taggableType || \':\' || tagId AS v FROM "ItemTags"')
  end

  -- Sequelize 6: remove runs DELETE ... WHERE taggableId = 1 AND tagId IN (1) without the
  -- through scope, so the video's link to t1 goes too.
  it("remove deletes only the links of its own scope", function()
    img:removeTag(t1)
    assert.are.same({ "image:2", "video:1", "video:2" }, types())
    assert.is_true(vid:hasTag(t1))
  end)

  -- Sequelize 6: same for removeXs: every link with that key pair goes.
  it("removeXs deletes only the links of its own scope, in one statement", function()
    vid:removeTags { t1, t2 }
    assert.are.equal(1, #log)
    assert.are.same({ "image:1", "image:2" }, types())
  end)

  -- Sequelize 6: set filters the current links by scope but its DELETE of the unwanted ones
  -- is not scoped either, so setting the image's tags drops the video's links.
  it("set keeps the other scope's links", function()
    img:setTags { t2 }
    assert.are.same({ "image:2", "video:1", "video:2" }, types())
    vid:setTags {}
    assert.are.same({ "image:2" }, types())
  end)
end)

describe("better than Sequelize: hasOne keeps one child", function()
  local db, log, User, Profile, u
  before_each(function()
    db, log = H.open()
    User = db:define("User", { name = DataTypes.STRING })
    Profile = db:define("Profile", { bio = { type = DataTypes.STRING,
      validate = { len = { 2, 20 } } } })
    User:hasOne(Profile)
    db:sync()
    u = User:create { name = "a" }
  end)
  after_each(function() db:close() end)

  local function linked()
    return #db:query('SELECT id FROM "Profiles" WHERE userId = ?', { u.id })
  end

  -- Sequelize 6: createX only INSERTs, so the user now has two profiles.
  it("createX unlinks the previous child", function()
    local old = u:createProfile { bio = "one" }
    u:createProfile { bio = "two" }
    assert.are.equal(1, linked())
    assert.is_nil(Profile:findByPk(old.id).userId)
    assert.are.equal("two", u:getProfile().bio)
  end)

  -- Sequelize 6: with the key NOT NULL the old child cannot be unlinked at all.
  it("createX deletes the previous child when the key is NOT NULL", function()
    local db2 = H.open()
    local U = db2:define("User", { name = DataTypes.STRING })
    local P = db2:define("Profile", { bio = DataTypes.STRING })
    U:hasOne(P, { foreignKey = { allowNull = false } })
    db2:sync()
    local x = U:create { name = "x" }
    x:createProfile { bio = "one" }
    x:createProfile { bio = "two" }
    assert.are.same({ "two" }, F.col(db2, 'SELECT bio AS v FROM "Profiles"'))
    db2:close()
  end)

  -- Sequelize 6: setX with a NOT NULL key fails on the UPDATE to NULL of the old child.
  it("setX deletes the previous child when the key is NOT NULL", function()
    local db2 = H.open()
    local U = db2:define("User", { name = DataTypes.STRING })
    local P = db2:define("Profile", { bio = DataTypes.STRING })
    U:hasOne(P, { foreignKey = { allowNull = false } })
    db2:sync()
    local x, y = U:create { name = "x" }, U:create { name = "y" }
    x:createProfile { bio = "old" }
    local mine = y:createProfile { bio = "new" }
    x:setProfile(mine)
    assert.are.same({ "new" }, F.col(db2, 'SELECT bio AS v FROM "Profiles"'))
    assert.are.equal("new", x:getProfile().bio)
    db2:close()
  end)

  -- Sequelize 6: createX is not wrapped in a transaction; here a failing create leaves the
  -- old child linked.
  it("a failing createX leaves the previous child linked", function()
    local old = u:createProfile { bio = "one" }
    H.raises("ValidationError", "bio", function() u:createProfile { bio = "x" } end)
    assert.are.equal(old.id, u:getProfile().id)
    assert.are.equal(1, H.rows(db, "Profiles"))
  end)
end)

describe("better than Sequelize: NOT NULL hasMany keys (#14048)", function()
  local db, log, User, Task, u, t1, t2, t3
  before_each(function()
    db, log = H.open()
    User = db:define("User", { name = DataTypes.STRING })
    Task = db:define("Task", { title = DataTypes.STRING })
    User:hasMany(Task, { foreignKey = { allowNull = false } })
    db:sync()
    u = User:create { name = "a" }
    t1 = u:createTask { title = "1" }
    t2 = u:createTask { title = "2" }
    t3 = u:createTask { title = "3" }
    H.clear(log)
  end)
  after_each(function() db:close() end)

  -- Sequelize 6: setXs UPDATEs the dropped rows to userId = NULL and fails with a notNull
  -- violation.
  it("setXs deletes the dropped children, within 4 statements", function()
    u:setTasks { t2 }
    assert.is_true(#log <= 4, table.concat(log, "\n"))
    assert.are.same({ "2" }, F.col(db, 'SELECT title AS v FROM "Tasks"'))
  end)

  -- Sequelize 6: removeXs fails the same way.
  it("removeXs deletes the removed children in one statement", function()
    u:removeTasks { t1, t3 }
    assert.are.equal(1, #log)
    assert.are.same({ "2" }, F.col(db, 'SELECT title AS v FROM "Tasks"'))
  end)

  -- Sequelize 6: setXs(null) fails too.
  it("setXs(nil) deletes every child", function()
    u:setTasks(nil)
    assert.are.equal(0, H.rows(db, "Tasks"))
  end)
end)

describe("better than Sequelize: through values per target (PR #16101)", function()
  local db, log, User, Project, u, p1, p2, p3
  before_each(function()
    db, log = H.open()
    User = db:define("User", { name = DataTypes.STRING })
    Project = db:define("Project", { name = DataTypes.STRING })
    db:define("UserProjects", { role = DataTypes.STRING }, { freezeTableName = true })
    User:belongsToMany(Project, { through = "UserProjects" })
    db:sync()
    u = User:create { name = "a" }
    p1 = Project:create { name = "p1" }
    p2 = Project:create { name = "p2" }
    p3 = Project:create { name = "p3" }
    H.clear(log)
  end)
  after_each(function() db:close() end)

  local function roles()
    return F.col(db, 'SELECT projectId || \':\' || role AS v FROM "UserProjects"')
  end

  -- Sequelize 6: add gives every target the same options.through values; per-target
  -- values need one add call (and round trip) per target.
  it("addXs gives each target its own values in one call, at most 2 statements", function()
    p1.UserProjects = { role = "owner" }
    p2.UserProjects = { role = "editor" }
    u:addProjects({ p1, p2, p3 }, { through = { role = "reader" } })
    assert.is_true(#log <= 2, table.concat(log, "\n"))
    assert.are.same({ "1:owner", "2:editor", "3:reader" }, roles())
  end)

  -- Sequelize 6: set updates kept links with the one options.through for all of them.
  it("setXs gives each target its own values, inserting and updating in one call", function()
    u:addProjects({ p1, p2 }, { through = { role = "reader" } })
    H.clear(log)
    p1.UserProjects = { role = "owner" }
    p3.UserProjects = { role = "editor" }
    u:setProjects { p1, p3 }
    assert.is_true(#log <= 4, table.concat(log, "\n"))
    assert.are.same({ "1:owner", "3:editor" }, roles())
  end)
end)

describe("better than Sequelize: atomic accessors", function()
  local db, log, User, Project, u, p1, p2
  before_each(function()
    db, log = H.open()
    User = db:define("User", { name = DataTypes.STRING })
    Project = db:define("Project", { name = DataTypes.STRING })
    db:define("UserProjects", { rank = DataTypes.INTEGER }, { freezeTableName = true })
    User:belongsToMany(Project, { through = "UserProjects" })
    db:sync()
    u = User:create { name = "a" }
    p1 = Project:create { name = "p1" }
    p2 = Project:create { name = "p2" }
    u:addProjects { p1, p2 }
    H.clear(log)
  end)
  after_each(function() db:close() end)

  local function linked()
    return F.col(db, 'SELECT projectId AS v FROM "UserProjects"')
  end

  -- Sequelize 6: set runs its DELETE and its bulkCreate as separate statements outside a
  -- transaction; a failing insert leaves the links deleted.
  it("a set with a failing member leaves the old set untouched", function()
    H.raises("ForeignKeyConstraintError", nil, function() u:setProjects { p1, 999 } end)
    assert.are.same({ p1.id, p2.id }, linked())
  end)

  -- Sequelize 6: createX creates the target, then adds the link in a second step; when the
  -- link fails the target stays behind.
  it("a createX whose link fails leaves no target behind", function()
    H.catch(function()
      u:createProject({ name = "new" }, { through = { rank = "not a number" } })
    end)
    assert.are.equal(2, H.rows(db, "Projects"))
    assert.are.same({ p1.id, p2.id }, linked())
  end)

  -- Sequelize 6: hasMany set runs an UPDATE per group without a transaction.
  it("a hasMany set inside a failing transaction is rolled back as a whole", function()
    local Post = db:define("Post", { title = DataTypes.STRING })
    User:hasMany(Post)
    db:sync()
    local a = u:createPost { title = "a" }
    local b = Post:create { title = "b" }
    pcall(db.transaction, db, function()
      u:setPosts { b }
      error("boom")
    end)
    assert.is_true(u:hasPost(a))
    assert.is_false(u:hasPost(b))
  end)
end)

describe("better than Sequelize: consistent pairs and paranoid reads", function()
  local db
  before_each(function() db = H.open() end)
  after_each(function() db:close() end)

  -- Sequelize 6 (#6997): a later plain belongsTo re-adds userId-style defaults and the
  -- allowNull = false of the hasMany side can be lost, depending on the order.
  it("the NOT NULL of one side holds whichever side is defined first", function()
    local User = db:define("User", {})
    local Post = db:define("Post", {})
    Post:belongsTo(User, { foreignKey = "authorId" })
    User:hasMany(Post, { foreignKey = { name = "authorId", allowNull = false } })
    db:sync()
    assert.are.equal(1, F.columns(db, "Posts").authorId.notnull)
    assert.are.equal(1, F.nfks(db, "Posts"))
  end)

  -- Sequelize 6 (#6790): hasX ignores paranoid and says true for a soft-deleted target.
  it("hasX is false for a soft-deleted target", function()
    local User = db:define("User", {})
    local Post = db:define("Post", {}, { paranoid = true })
    User:hasMany(Post)
    db:sync()
    local u = User:create {}
    local p = u:createPost {}
    p:destroy()
    assert.is_false(u:hasPost(p))
    assert.are.equal(0, u:countPosts())
  end)
end)
