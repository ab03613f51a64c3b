-- Fixes of known gaps of the association accessors (doc/associations.md): scope values of
-- a:info() decoded by type, soft-deleted links of a paranoid junction, the "missing" cell of
-- the through-values matrix, accessor names in key-conversion errors, countXs with a
-- junction where, and DATE values normalized on the instance after a write.
local H = require "spec.helpers"
local F = require "spec.assoc_fixtures"
local assoc = H.assoc
local core = require "assoc.core"
local DataTypes = assoc.DataTypes
local null = assoc.null

-- ---- 1. a:info() decodes scope values by the scoped attribute's type ---------------------
describe("a:info() scope values", function()
  local db
  before_each(function() db = H.open() end)
  after_each(function() db:close() end)

  it("reads a BOOLEAN scope value back as a boolean", function()
    local U = db:define("User", { name = DataTypes.STRING })
    local P = db:define("Project", { active = DataTypes.BOOLEAN })
    local A = U:belongsToMany(P, { through = "UP", scope = { active = true } })
    assert.are.equal(true, A._core:info().scope.active)
    local B = U:hasMany(P, { as = "Archived", scope = { active = false } })
    assert.are.equal(false, B._core:info().scope.active)
  end)

  it("decodes JSON, FLOAT and STRING scope values and the through scope", function()
    local U = db:define("User", { name = DataTypes.STRING })
    local P = db:define("Project", { meta = DataTypes.JSON, score = DataTypes.FLOAT,
      kind = DataTypes.STRING })
    local J = db:define("Member", { pinned = DataTypes.BOOLEAN, tag = DataTypes.JSON })
    local A = U:belongsToMany(P, { through = { model = J, scope = { pinned = true, tag = 7 } },
      scope = { meta = "x", score = 2, kind = 5 } })
    local info = A._core:info()
    assert.are.equal("x", info.scope.meta)
    assert.are.equal(2.0, info.scope.score)
    assert.are.equal("float", math.type(info.scope.score))
    assert.are.equal("5", info.scope.kind)
    assert.are.equal(true, info.throughScope.pinned)
    assert.are.equal(7, info.throughScope.tag)
  end)

  it("keeps assoc.null for a NULL scope value", function()
    local U = db:define("User", { name = DataTypes.STRING })
    local P = db:define("Project", { active = DataTypes.BOOLEAN })
    local A = U:hasMany(P, { scope = { active = null } })
    assert.are.equal(core.null, A._core:info().scope.active)
  end)
end)

-- ---- 2. paranoid junction: remove/set soft-delete the links ------------------------------
describe("a paranoid junction", function()
  local db, log, Post, Tag, PostTags, post, other, t1, t2, t3

  local function setup(unique)
    db, log = H.open()
    Post = db:define("Post", { title = DataTypes.STRING })
    Tag = db:define("Tag", { name = DataTypes.STRING })
    PostTags = db:define("PostTags", { note = DataTypes.STRING },
      { paranoid = true, freezeTableName = true })
    Post:belongsToMany(Tag, { through = { model = PostTags, unique = unique } })
    db:sync()
    post = Post:create { title = "p" }
    other = Post:create { title = "o" }
    t1 = Tag:create { name = "t1" }
    t2 = Tag:create { name = "t2" }
    t3 = Tag:create { name = "t3" }
    post:addTags { t1, t2, t3 }
    other:addTags { t1 }
    H.clear(log)
  end
  after_each(function() db:close() end)

  -- "tagId:dead|alive" of post's junction rows, sorted.
  local function links(p)
    local out = {}
    for _, r in ipairs(db:query('SELECT tagId, deletedAt FROM "PostTags" WHERE postId = ?',
      { (p or post).id })) do
      out[#out + 1] = ("%d:%s"):format(r.tagId, r.deletedAt and "dead" or "alive")
    end
    table.sort(out)
    return out
  end

  for _, unique in ipairs { true, false } do
    describe(unique and "(unique keys)" or "(unique = false)", function()
      before_each(function() setup(unique) end)

      it("removeX soft-deletes the link in one UPDATE", function()
        post:removeTag(t1)
        assert.are.equal(1, #log, table.concat(log, "\n"))
        assert.truthy(log[1]:find("^UPDATE"), log[1])
        assert.falsy(log[1]:find("DELETE"))
        assert.are.same({ "1:dead", "2:alive", "3:alive" }, links())
        assert.are.same({ "1:alive" }, links(other))
      end)

      it("stamps deletedAt and updatedAt, and leaves a dead link's deletedAt alone", function()
        local before = db:query('SELECT updatedAt FROM "PostTags" WHERE tagId = 1 AND '
          .. 'postId = ?', { post.id })[1].updatedAt
        local t0 = H.now_ms()
        while H.now_ms() == t0 do end
        post:removeTag(t1)
        local r = db:query('SELECT updatedAt, deletedAt FROM "PostTags" WHERE tagId = 1 AND '
          .. 'postId = ?', { post.id })[1]
        assert.is_string(r.deletedAt)
        assert.are.equal(r.deletedAt, r.updatedAt)
        assert.are_not.equal(before, r.updatedAt)
        local t1s = H.now_ms()
        while H.now_ms() == t1s do end
        post:removeTag(t1)
        local again = db:query('SELECT deletedAt FROM "PostTags" WHERE tagId = 1 AND '
          .. 'postId = ?', { post.id })[1]
        assert.are.equal(r.deletedAt, again.deletedAt)
      end)

      it("get, count and has ignore soft-deleted links", function()
        post:removeTags { t1, t2 }
        assert.are.equal(1, #post:getTags())
        assert.are.equal(1, post:countTags())
        assert.is_false(post:hasTag(t1))
        assert.is_false(post:hasTags { t1, t3 })
        assert.is_true(post:hasTag(t3))
        assert.is_true(other:hasTag(t1))
      end)

      it("setXs soft-deletes the links not in the list, at most 4 statements", function()
        post:setTags { t3 }
        assert.is_true(#log <= 4, table.concat(log, "\n"))
        for _, sql in ipairs(log) do assert.falsy(sql:find("^DELETE"), sql) end
        assert.are.same({ "1:dead", "2:dead", "3:alive" }, links())
        assert.are.equal(1, post:countTags())
        post:setTags {}
        assert.are.equal(0, post:countTags())
        assert.are.same({ "1:alive" }, links(other))
      end)

      it("re-adding a removed link makes it alive again", function()
        post:removeTag(t1)
        post:addTag(t1)
        assert.is_true(post:hasTag(t1))
        assert.are.equal(3, post:countTags())
        post:setTags { t1, t2 }
        assert.are.equal(2, post:countTags())
        assert.is_true(post:hasTags { t1, t2 })
      end)
    end)
  end
end)

-- ---- 3. the "missing" cell of the through values -------------------------------------------
describe("through values a target does not give", function()
  local db, log, User, Project, UserProjects, u, p1, p2, p3, counter

  local function setup(unique)
    db, log = H.open()
    counter = 0
    User = db:define("User", { name = DataTypes.STRING })
    Project = db:define("Project", { name = DataTypes.STRING })
    UserProjects = db:define("UserProjects", {
      role = { type = DataTypes.STRING, defaultValue = "member" },
      priority = DataTypes.INTEGER,
      code = { type = DataTypes.STRING,
        defaultValue = function() counter = counter + 1; return "c" .. counter end },
    }, { freezeTableName = true })
    User:belongsToMany(Project, { through = { model = UserProjects, unique = unique } })
    db:sync()
    u = User:create { name = "u" }
    p1 = Project:create { name = "p1" }
    p2 = Project:create { name = "p2" }
    p3 = Project:create { name = "p3" }
    H.clear(log)
  end
  after_each(function() db:close() end)

  -- "projectId:role:priority" of the links, sorted.
  local function links()
    local out = {}
    for _, r in ipairs(db:query('SELECT projectId, role, priority FROM "UserProjects"')) do
      out[#out + 1] = ("%d:%s:%s"):format(r.projectId, tostring(r.role), tostring(r.priority))
    end
    table.sort(out)
    return out
  end

  for _, unique in ipairs { true, false } do
    describe(unique and "(unique keys)" or "(unique = false)", function()
      before_each(function() setup(unique) end)

      it("addXs leaves an existing link's value alone", function()
        u:addProject(p1, { through = { role = "owner", priority = 1 } })
        p2.UserProjects = { role = "y" }
        u:addProjects { p1, p2 }
        assert.are.same({ "1:owner:1", "2:y:nil" }, links())
      end)

      it("addXs gives a new link the default of a value it lacks", function()
        u:addProject(p1, { through = { role = "owner" } })
        p1.UserProjects = { priority = 5 }
        p2.UserProjects = { role = "y" }
        u:addProjects { p1, p2, p3 }
        assert.are.same({ "1:owner:5", "2:y:nil", "3:member:nil" }, links())
      end)

      it("uses a function defaultValue for new links only", function()
        u:addProject(p1, { through = { code = "mine" } })
        p2.UserProjects = { code = "given" }
        u:addProjects { p1, p2, p3 }
        local codes = F.col(db, 'SELECT projectId || \':\' || code AS v FROM "UserProjects"')
        assert.are.equal("1:mine", codes[1])
        assert.are.equal("2:given", codes[2])
        assert.truthy(codes[3]:find("^3:c%d+$"), codes[3])
      end)

      it("setXs keeps the missing values of links that stay", function()
        u:addProject(p1, { through = { role = "owner", priority = 1 } })
        u:addProject(p2, { through = { role = "reader", priority = 2 } })
        H.clear(log)
        p2.UserProjects = { priority = 9 }
        p3.UserProjects = { role = "z" }
        u:setProjects { p1, p2, p3 }
        assert.are.same({ "1:owner:1", "2:reader:9", "3:z:nil" }, links())
      end)

      it("still writes a value given as assoc.null", function()
        u:addProject(p1, { through = { role = "owner", priority = 1 } })
        p1.UserProjects = { priority = null }
        p2.UserProjects = { role = "y" }
        u:addProjects { p1, p2 }
        assert.are.same({ "1:owner:nil", "2:y:nil" }, links())
      end)
    end)
  end

  it("addXs with mixed values still takes one statement (unique keys)", function()
    setup(true)
    u:addProject(p1, { through = { role = "owner" } })
    H.clear(log)
    p2.UserProjects = { role = "y" }
    u:addProjects { p1, p2 }
    assert.are.equal(1, #log, table.concat(log, "\n"))
    assert.are.same({ "1:owner:nil", "2:y:nil" }, links())
  end)

  it("setXs with mixed values takes at most 4 statements (unique keys)", function()
    setup(true)
    u:addProjects { p1, p2 }
    H.clear(log)
    p2.UserProjects = { role = "y" }
    u:setProjects { p2, p3 }
    assert.is_true(#log <= 4, table.concat(log, "\n"))
    assert.are.same({ "2:y:nil", "3:member:nil" }, links())
  end)

  it("the binding: a missing cell is inserted from the defaults, kept on a link", function()
    setup(true)
    local a = User.associations.Projects._core
    a:add(u.id, { p1.id }, { { role = "owner", priority = 1 } })
    a:add(u.id, { p1.id, p2.id, p3.id }, { {}, { priority = 4 }, {} },
      { { priority = 7 }, { priority = 6 }, { priority = 8, role = "ignored" } })
    assert.are.same({ "1:owner:1", "2:member:4", "3:member:8" }, links())
    H.raises("AssociationError", "through defaults", a.add, a, u.id, { p1.id }, { {} }, 5)
    H.raises("AssociationError", "through defaults of target #1", a.add, a, u.id, { p1.id },
      { { role = "x" } }, { 5 })
  end)
end)

-- ---- 4. key-conversion errors name the accessor ----------------------------------------------
describe("key-conversion errors of accessors", function()
  local db, m
  before_each(function()
    local _
    db, _, m = F.blog()
  end)
  after_each(function() db:close() end)

  it("name Model.accessor", function()
    local u = m.User:create { name = "u" }
    local function check(acc, ...)
      local args = table.pack(...)
      local err = H.raises("AssociationError", { "User." .. acc .. ": ",
        "must be an integer (got string)" }, function()
        return u[acc](u, table.unpack(args, 1, args.n))
      end)
      assert.are.equal(1, select(2, err.message:gsub("User%." .. acc .. ": ", "")), err.message)
    end
    check("addPost", "abc")
    check("addPosts", { 1, "abc" })
    check("removePost", "abc")
    check("removePosts", { "abc" })
    check("hasPost", "abc")
    check("hasPosts", { "abc" })
    check("setPosts", { "abc" })
    check("addProject", "abc")
    check("setProjects", { "abc" })
    check("hasProjects", { "abc" })
    check("removeProjects", { "abc" })
    local err = H.raises("AssociationError", "User.addPost: Post.id must be an integer (got string)",
      u.addPost, u, "abc")
    assert.are.equal("User.addPost: Post.id must be an integer (got string)", err.message)
  end)

  it("name the accessor of hasOne set", function()
    local db2 = H.open()
    local U = db2:define("User", { name = DataTypes.STRING })
    local Profile = db2:define("Profile", { bio = DataTypes.STRING })
    U:hasOne(Profile)
    db2:sync()
    local u = U:create { name = "u" }
    H.raises("AssociationError", "User.setProfile: Profile.id must be an integer (got string)",
      u.setProfile, u, "abc")
    db2:close()
  end)

  it("name the accessor of a belongsTo get whose key in memory is of the wrong type", function()
    local u = m.User:create { name = "u" }
    local p = m.Post:create { title = "t", userId = u.id }
    p.userId = "abc"
    H.raises("AssociationError", "Post.getUser: ", p.getUser, p)
  end)
end)

-- ---- 5. countXs with a junction where ----------------------------------------------------------
describe("belongsToMany countXs with through.where", function()
  local db, log, m, u, p1, p2, p3
  before_each(function()
    db, log, m = F.blog()
    u = m.User:create { name = "u" }
    p1 = m.Project:create { name = "p1" }
    p2 = m.Project:create { name = "p2" }
    p3 = m.Project:create { name = "p3" }
    u:addProjects { p1, p2, p3 }
    H.clear(log)
  end)
  after_each(function() db:close() end)

  it("counts the links matching the junction where, in one statement", function()
    assert.are.equal(1, u:countProjects { through = { where = { projectId = p2.id } } })
    assert.are.equal(1, #log)
    assert.are.equal(2, u:countProjects { through = { where = { projectId = { p1.id, p3.id } } } })
    assert.are.equal(1, u:countProjects { where = { name = "p1" },
      through = { where = { projectId = { p1.id, p3.id } } } })
    assert.are.equal(3, u:countProjects { through = {} })
  end)

  it("agrees with getXs", function()
    local J = m.Projects.through
    assert.truthy(J)
    local w = { projectId = { p2.id, p3.id } }
    assert.are.equal(#u:getProjects { through = { where = w } },
      u:countProjects { through = { where = w } })
  end)

  it("refuses bad through options", function()
    H.raises("AssociationError", "through", u.countProjects, u, { through = 5 })
    H.raises("AssociationError", "through", u.countProjects, u,
      { through = { attributes = { "x" } } })
    H.raises("AssocError", "nosuch", u.countProjects, u, { through = { where = { nosuch = 1 } } })
  end)

  it("is refused on hasMany", function()
    H.raises("AssociationError", "through", function()
      return u:countPosts { through = { where = {} } }
    end)
  end)

  it("the binding: a:count(src, req, through)", function()
    local a = m.Projects._core
    assert.are.equal(2, a:count(u.id, {}, { where = { projectId = { p1.id, p2.id } } }))
    assert.are.equal(3, a:count(u.id, {}))
    assert.are.equal(3, a:count(u.id, nil, nil))
  end)
end)

-- ---- 6. DATE values on the instance after a write ---------------------------------------------
describe("DATE values after a write", function()
  local db, Event
  before_each(function()
    db = H.open()
    Event = db:define("Event", { at = DataTypes.DATE, day = DataTypes.DATEONLY,
      name = DataTypes.STRING })
    db:sync()
  end)
  after_each(function() db:close() end)

  local function same_as_reload(e)
    local at, day = e.at, e.day
    e:reload()
    assert.are.equal(e.at, at)
    assert.are.equal(e.day, day)
  end

  it("create turns a number of seconds into the stored ISO text", function()
    local e = Event:create { at = 86400 + 0.5, day = "2024-02-29" }
    assert.are.equal("1970-01-02T00:00:00.500Z", e.at)
    assert.are.equal("2024-02-29", e.day)
    assert.is_false(e:changed())
    same_as_reload(e)
    local now = os.time()
    local e2 = Event:create { at = now }
    assert.are.equal("string", type(e2.at))
    same_as_reload(e2)
  end)

  it("create normalizes ISO text with an offset", function()
    local e = Event:create { at = "2024-01-01 10:00+02:00" }
    assert.are.equal("2024-01-01T08:00:00.000Z", e.at)
    same_as_reload(e)
  end)

  it("save and update normalize what they wrote", function()
    local e = Event:create { name = "x" }
    e.at = 0
    e:save()
    assert.are.equal("1970-01-01T00:00:00.000Z", e.at)
    assert.is_false(e:changed())
    e:update { at = 3600 }
    assert.are.equal("1970-01-01T01:00:00.000Z", e.at)
    assert.is_false(e:changed())
    same_as_reload(e)
    local b = Event:build { at = 7200 }
    b:save()
    assert.are.equal("1970-01-01T02:00:00.000Z", b.at)
  end)

  it("bulkCreate normalizes too", function()
    local list = Event:bulkCreate { { at = 0 }, { at = "2000-01-01T00:00:00+01:00" } }
    assert.are.equal("1970-01-01T00:00:00.000Z", list[1].at)
    assert.are.equal("1999-12-31T23:00:00.000Z", list[2].at)
    assert.is_false(list[1]:changed())
  end)

  it("afterCreate hooks see the stored text", function()
    local seen
    Event:addHook("afterCreate", function(inst) seen = inst.at end)
    Event:create { at = 60 }
    assert.are.equal("1970-01-01T00:01:00.000Z", seen)
  end)

  it("core.date converts like the binding stores", function()
    assert.are.equal("1970-01-01T00:00:01.000Z", core.date(1))
    assert.are.equal("2024-01-01T08:00:00.000Z", core.date("2024-01-01T10:00:00+02:00"))
    assert.are.equal("2024-02-29", core.date("2024-02-29", true))
    assert.is_nil(core.date("2023-02-29", true))
    assert.is_nil(core.date("nope"))
    assert.is_nil(core.date({}))
    assert.is_nil(core.date(0 / 0))
  end)
end)
