-- Association scopes (filter every read, stamped on every write), through scopes on the
-- junction, and polymorphic associations (scope + constraints = false).
local H = require "spec.helpers"
local F = require "spec.assoc_fixtures"
local assoc = H.assoc
local DataTypes = assoc.DataTypes

local function titles(list)
  local out = {}
  for i, p in ipairs(list) do out[i] = p.title or p.text or p.name end
  table.sort(out)
  return out
end

describe("association scope on hasMany", function()
  local db, log, User, Post, u, draft, pub
  before_each(function()
    db, log = H.open()
    User = db:define("User", { name = DataTypes.STRING })
    Post = db:define("Post", { title = DataTypes.STRING, status = DataTypes.STRING })
    User:hasMany(Post)
    User:hasMany(Post, { as = "PublishedPosts", scope = { status = "published" } })
    db:sync()
    u = User:create { name = "a" }
    draft = Post:create { title = "draft", status = "draft", userId = u.id }
    pub = Post:create { title = "pub", status = "published", userId = u.id }
    H.clear(log)
  end)
  after_each(function() db:close() end)

  it("keeps the scope on the association object", function()
    assert.are.same({ status = "published" }, User.associations.PublishedPosts.scope)
    assert.are.equal("userId", User.associations.PublishedPosts.foreignKey)
  end)

  it("filters get, count and has", function()
    assert.are.same({ "pub" }, titles(u:getPublishedPosts()))
    assert.are.equal(1, u:countPublishedPosts())
    assert.is_true(u:hasPublishedPost(pub))
    assert.is_false(u:hasPublishedPost(draft))
    assert.are.same({ "draft", "pub" }, titles(u:getPosts()))
  end)

  it("combines with a where of the call", function()
    assert.are.same({}, titles(u:getPublishedPosts { where = { title = "draft" } }))
  end)

  it("stamps the scope on create", function()
    local p = u:createPublishedPost { title = "new", status = "draft" }
    assert.are.equal("published", p.status)
    assert.are.equal("published", Post:findByPk(p.id).status)
  end)

  it("keeps stamping the scope when add, has and remove repeat (statements kept built)", function()
    local loose = {}
    for i = 1, 5 do loose[i] = Post:create { title = "l" .. i, status = "draft" } end
    for i = 1, 5 do
      u:addPublishedPost(loose[i])
      assert.are.equal("published", Post:findByPk(loose[i].id).status)
      assert.is_true(u:hasPublishedPost(loose[i]))
      assert.are.equal(i + 1, u:countPublishedPosts())
    end
    for i = 1, 5 do
      u:removePublishedPost(loose[i])
      assert.is_false(u:hasPublishedPost(loose[i]))
      assert.is_nil(Post:findByPk(loose[i].id).userId)
    end
    assert.are.equal(1, u:countPublishedPosts())
  end)

  it("stamps the scope on add, in one statement", function()
    local other = Post:create { title = "loose", status = "draft" }
    H.clear(log)
    u:addPublishedPost(other)
    assert.are.equal(1, #log)
    local row = Post:findByPk(other.id)
    assert.are.equal("published", row.status)
    assert.are.equal(u.id, row.userId)
  end)

  it("remove only touches rows in the scope", function()
    u:removePublishedPost(draft)
    assert.are.equal(u.id, Post:findByPk(draft.id).userId)
    u:removePublishedPost(pub)
    assert.is_nil(Post:findByPk(pub.id).userId)
  end)

  it("set only unlinks rows in the scope", function()
    u:setPublishedPosts {}
    assert.are.equal(u.id, Post:findByPk(draft.id).userId)
    assert.is_nil(Post:findByPk(pub.id).userId)
  end)
end)

describe("association scope on belongsToMany", function()
  local db, User, Project, u
  before_each(function()
    db = H.open()
    User = db:define("User", { name = DataTypes.STRING })
    Project = db:define("Project", { name = DataTypes.STRING, active = DataTypes.BOOLEAN })
    User:belongsToMany(Project, { as = "ActiveProjects", through = "UserProjects",
      scope = { active = true } })
    db:sync()
    u = User:create { name = "a" }
  end)
  after_each(function() db:close() end)

  it("filters the targets", function()
    local live = Project:create { name = "live", active = true }
    local dead = Project:create { name = "dead", active = false }
    u:addActiveProjects { live, dead }
    assert.are.same({ "live" }, titles(u:getActiveProjects()))
    assert.are.equal(1, u:countActiveProjects())
    assert.is_false(u:hasActiveProject(dead))
  end)

  it("stamps the scope on the created target", function()
    local p = u:createActiveProject { name = "new" }
    assert.is_true(p.active)
    assert.is_true(Project:findByPk(p.id).active)
  end)
end)

describe("through scope", function()
  local db, log, User, Project, Membership, u, p1, p2
  before_each(function()
    db, log = H.open()
    User = db:define("User", { name = DataTypes.STRING })
    Project = db:define("Project", { name = DataTypes.STRING })
    Membership = db:define("Membership", { kind = DataTypes.STRING })
    User:belongsToMany(Project, { as = "Projects", through = Membership })
    User:belongsToMany(Project, { as = "WatchedProjects", through = { model = Membership,
      scope = { kind = "watch" } } })
    db:sync()
    u = User:create { name = "a" }
    p1 = Project:create { name = "p1" }
    p2 = Project:create { name = "p2" }
    H.clear(log)
  end)
  after_each(function() db:close() end)

  it("keeps the through scope on the association object", function()
    assert.are.same({ kind = "watch" }, User.associations.WatchedProjects.throughScope)
  end)

  it("stamps the through scope on add", function()
    u:addWatchedProject(p1)
    local row = db:query('SELECT kind FROM "Memberships"')[1]
    assert.are.equal("watch", row.kind)
  end)

  it("filters get, count and has on the junction", function()
    Membership:create { userId = u.id, projectId = p1.id, kind = "member" }
    u:addWatchedProject(p2)
    assert.are.same({ "p2" }, titles(u:getWatchedProjects()))
    assert.are.equal(1, u:countWatchedProjects())
    assert.is_false(u:hasWatchedProject(p1))
    assert.are.equal(2, u:countProjects())
  end)

  it("keeps stamping and filtering when the one-target calls repeat (statements kept built)", function()
    -- the second and later calls run the kept statement with its bind recipe: the call's
    -- values and the scope's own
    local ps = {}
    for i = 1, 4 do ps[i] = Project:create { name = "q" .. i } end
    local v = User:create { name = "b" }
    for round = 1, 2 do
      for i = 1, 4 do
        u:addWatchedProject(ps[i])
        v:addWatchedProject(ps[(i % 4) + 1])
        assert.is_true(u:hasWatchedProject(ps[i]))
        assert.are.equal(i, u:countWatchedProjects())
        assert.are.equal(i, v:countWatchedProjects())
      end
      assert.are.equal(8, #db:query('SELECT 1 FROM "Memberships" WHERE kind = ?', { "watch" }))
      assert.are.equal(0, u:countProjects() - 4, "unscoped sees the same links")
      for i = 1, 4 do
        u:removeWatchedProject(ps[i])
        v:removeWatchedProject(ps[i])
        assert.is_false(u:hasWatchedProject(ps[i]))
      end
      assert.are.equal(0, u:countWatchedProjects())
      assert.are.equal(0, #db:query('SELECT 1 FROM "Memberships"'), "round " .. round)
    end
  end)

  it("stamps the through scope on create", function()
    local p = u:createWatchedProject { name = "new" }
    assert.are.equal("watch", db:query('SELECT kind FROM "Memberships" WHERE projectId = ?',
      { p.id })[1].kind)
  end)
end)

describe("polymorphic associations", function()
  local db, Image, Video, Comment, Tag, ItemTag, img, vid
  before_each(function()
    db = H.open()
    Image = db:define("Image", { url = DataTypes.STRING })
    Video = db:define("Video", { url = DataTypes.STRING })
    Comment = db:define("Comment", { text = DataTypes.STRING,
      commentableType = DataTypes.STRING, commentableId = DataTypes.INTEGER })
    Image:hasMany(Comment, { foreignKey = "commentableId", constraints = false,
      scope = { commentableType = "image" } })
    Video:hasMany(Comment, { foreignKey = "commentableId", constraints = false,
      scope = { commentableType = "video" } })
    Comment:belongsTo(Image, { foreignKey = "commentableId", constraints = false })
    Comment:belongsTo(Video, { foreignKey = "commentableId", constraints = false })
    Tag = db:define("Tag", { name = DataTypes.STRING })
    ItemTag = db:define("ItemTag", { taggableType = DataTypes.STRING })
    Image:belongsToMany(Tag, { through = { model = ItemTag, unique = false,
      scope = { taggableType = "image" } }, foreignKey = "taggableId", otherKey = "tagId",
      constraints = false })
    Video:belongsToMany(Tag, { through = { model = ItemTag, unique = false,
      scope = { taggableType = "video" } }, foreignKey = "taggableId", otherKey = "tagId",
      constraints = false })
    db:sync()
    img = Image:create { url = "i" }
    vid = Video:create { url = "v" }
    assert.are.equal(img.id, vid.id)         -- the same id: only the type tells them apart
  end)
  after_each(function() db:close() end)

  it("creates comments stamped with their type", function()
    local c = img:createComment { text = "nice pic" }
    assert.are.equal("image", c.commentableType)
    assert.are.equal(img.id, c.commentableId)
    local d = vid:createComment { text = "nice clip" }
    assert.are.equal("video", d.commentableType)
  end)

  it("keeps images' and videos' comments apart although their ids are equal", function()
    img:createComment { text = "i1" }
    img:createComment { text = "i2" }
    vid:createComment { text = "v1" }
    assert.are.same({ "i1", "i2" }, titles(img:getComments()))
    assert.are.same({ "v1" }, titles(vid:getComments()))
    assert.are.equal(2, img:countComments())
    assert.are.equal(1, vid:countComments())
  end)

  it("has no REFERENCES on the shared key", function()
    assert.are.equal(0, F.nfks(db, "Comments"))
    assert.are.equal(0, F.nfks(db, "ItemTags"))
  end)

  it("set on one owner type leaves the other type's comments alone", function()
    img:createComment { text = "i1" }
    vid:createComment { text = "v1" }
    img:setComments {}
    assert.are.same({}, titles(img:getComments()))
    assert.are.same({ "v1" }, titles(vid:getComments()))
  end)

  it("reads the owner back with belongsTo", function()
    local c = img:createComment { text = "i1" }
    assert.are.equal("i", c:getImage().url)
  end)

  it("tags images and videos through one junction, stamped with the type", function()
    local t1 = Tag:create { name = "t1" }
    local t2 = Tag:create { name = "t2" }
    img:addTags { t1, t2 }
    vid:addTag(t1)
    assert.are.same({ "t1", "t2" }, titles(img:getTags()))
    assert.are.same({ "t1" }, titles(vid:getTags()))
    assert.are.same({ "image", "image", "video" },
      F.col(db, 'SELECT taggableType AS v FROM "ItemTags"'))
    assert.are.equal(2, img:countTags())
    assert.is_false(vid:hasTag(t2))
  end)
end)
