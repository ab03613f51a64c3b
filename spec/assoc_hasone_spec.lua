-- hasOne accessors: getX, setX, createX.
local H = require "spec.helpers"
local F = require "spec.assoc_fixtures"
local assoc = H.assoc
local DataTypes = assoc.DataTypes

local function profile_owner(db, id)
  return db:query('SELECT userId FROM "Profiles" WHERE id = ?', { id })[1].userId
end

describe("hasOne", function()
  local db, log, User, Profile, alice, bob
  before_each(function()
    db, log = H.open()
    User = db:define("User", { name = DataTypes.STRING })
    Profile = db:define("Profile", { bio = { type = DataTypes.STRING,
      validate = { len = { 2, 40 } } } })
    User:hasOne(Profile)
    db:sync()
    alice = User:create { name = "alice" }
    bob = User:create { name = "bob" }
    H.clear(log)
  end)
  after_each(function() db:close() end)

  describe("getX", function()
    it("returns nil when there is no child, in one statement", function()
      assert.is_nil(alice:getProfile())
      assert.are.equal(1, #log)
    end)

    it("returns the child as a Profile instance, in one statement", function()
      local p = Profile:create { bio = "hello", userId = alice.id }
      H.clear(log)
      local got = alice:getProfile()
      assert.are.equal(1, #log)
      assert.are.equal(p.id, got.id)
      assert.are.equal("hello", got.bio)
      assert.are.equal(Profile, F.model_of(got))
      assert.is_false(got.isNewRecord)
    end)

    it("returns an instance that can be changed and saved", function()
      Profile:create { bio = "hello", userId = alice.id }
      local got = alice:getProfile()
      got.bio = "changed"
      got:save()
      assert.are.equal("changed", Profile:findByPk(got.id).bio)
    end)

    it("does not return another parent's child", function()
      Profile:create { bio = "bobs", userId = bob.id }
      assert.is_nil(alice:getProfile())
    end)

    it("passes include on to eager loading", function()
      local Photo = db:define("Photo", { url = DataTypes.STRING })
      Profile:hasMany(Photo)
      db:sync()
      local p = Profile:create { bio = "hello", userId = alice.id }
      Photo:create { url = "u", profileId = p.id }
      if not pcall(Profile.findAll, Profile, { include = { Photo } }) then
        H.raises("AssociationError", "include", function()
          alice:getProfile { include = { Photo } }
        end)
        return
      end
      local got = alice:getProfile { include = { Photo } }
      assert.are.equal("hello", got.bio)
      assert.are.equal("u", got.Photos[1].url)
      assert.is_nil(bob:getProfile { include = { Photo } })
    end)

    it("takes where and attributes", function()
      Profile:create { bio = "hello", userId = alice.id }
      assert.is_nil(alice:getProfile { where = { bio = "other" } })
      local got = alice:getProfile { attributes = { "id" } }
      assert.is_number(got.id)
      assert.is_nil(got.bio)
    end)
  end)

  describe("setX", function()
    it("links an instance: the child's key is set in the database and in memory", function()
      local p = Profile:create { bio = "hello" }
      alice:setProfile(p)
      assert.are.equal(alice.id, profile_owner(db, p.id))
      assert.are.equal(alice.id, p.userId)
      assert.is_false(p:changed())
    end)

    it("links by primary key value", function()
      local p = Profile:create { bio = "hello" }
      alice:setProfile(p.id)
      assert.are.equal(alice.id, profile_owner(db, p.id))
    end)

    it("unlinks the previous child when linking another", function()
      local p1 = Profile:create { bio = "one", userId = alice.id }
      local p2 = Profile:create { bio = "two" }
      alice:setProfile(p2)
      assert.is_nil(profile_owner(db, p1.id))
      assert.are.equal(alice.id, profile_owner(db, p2.id))
      assert.are.equal(p2.id, alice:getProfile().id)
    end)

    it("unlinks with nil and keeps the row", function()
      local p = Profile:create { bio = "one", userId = alice.id }
      alice:setProfile(nil)
      assert.is_nil(profile_owner(db, p.id))
      assert.are.equal(1, H.rows(db, "Profiles"))
      assert.is_nil(alice:getProfile())
    end)

    it("moves a child from another parent", function()
      local p = Profile:create { bio = "bobs", userId = bob.id }
      alice:setProfile(p)
      assert.are.equal(alice.id, profile_owner(db, p.id))
      assert.is_nil(bob:getProfile())
    end)

    it("leaves the other parents' children alone", function()
      local pb = Profile:create { bio = "bobs", userId = bob.id }
      Profile:create { bio = "alices", userId = alice.id }
      alice:setProfile(nil)
      assert.are.equal(bob.id, profile_owner(db, pb.id))
    end)

    it("runs at most 4 statements", function()
      Profile:create { bio = "one", userId = alice.id }
      local p2 = Profile:create { bio = "two" }
      H.clear(log)
      alice:setProfile(p2)
      assert.is_true(#log <= 4, table.concat(log, "\n"))
    end)

    it("returns the source instance", function()
      local p = Profile:create { bio = "hello" }
      assert.are.equal(alice, alice:setProfile(p))
    end)

    it("is rolled back with an enclosing transaction", function()
      local p = Profile:create { bio = "hello" }
      pcall(db.transaction, db, function(t)
        alice:setProfile(p, { transaction = t })
        error("boom")
      end)
      assert.is_nil(profile_owner(db, p.id))
    end)
  end)

  describe("createX", function()
    it("creates the child linked to the parent", function()
      local p = alice:createProfile { bio = "hello" }
      assert.are.equal(Profile, F.model_of(p))
      assert.are.equal(alice.id, p.userId)
      assert.is_false(p.isNewRecord)
      assert.are.equal(alice.id, profile_owner(db, p.id))
    end)

    it("goes through Profile:create: hooks run and validation applies", function()
      local seen
      Profile:addHook("beforeCreate", function(inst) seen = inst.userId end)
      alice:createProfile { bio = "hello" }
      assert.are.equal(alice.id, seen)
      H.raises("ValidationError", "bio", function() alice:createProfile { bio = "x" } end)
      assert.are.equal(1, H.rows(db, "Profiles"))
    end)

    it("stamps the parent's key over one given in the values", function()
      local p = alice:createProfile { bio = "hello", userId = bob.id }
      assert.are.equal(alice.id, profile_owner(db, p.id))
    end)
  end)
end)

describe("hasOne with options", function()
  local db
  before_each(function() db = H.open() end)
  after_each(function() db:close() end)

  it("links through sourceKey", function()
    local User = db:define("User", { email = { type = DataTypes.STRING, unique = true } })
    local Profile = db:define("Profile", { bio = DataTypes.STRING })
    User:hasOne(Profile, { sourceKey = "email" })
    db:sync()
    local u = User:create { email = "a@x" }
    local p = u:createProfile { bio = "hi" }
    assert.are.equal("a@x", p.userEmail)
    assert.are.equal(p.id, u:getProfile().id)
  end)

  it("hides a soft-deleted child of a paranoid target", function()
    local User = db:define("User", { name = DataTypes.STRING })
    local Profile = db:define("Profile", { bio = DataTypes.STRING }, { paranoid = true })
    User:hasOne(Profile)
    db:sync()
    local u = User:create { name = "a" }
    local p = u:createProfile { bio = "hi" }
    p:destroy()
    assert.is_nil(u:getProfile())
    assert.are.equal(p.id, u:getProfile { paranoid = false }.id)
  end)

  it("filters and stamps an association scope", function()
    local User = db:define("User", { name = DataTypes.STRING })
    local Address = db:define("Address", { kind = DataTypes.STRING, city = DataTypes.STRING })
    User:hasOne(Address, { as = "HomeAddress", scope = { kind = "home" } })
    db:sync()
    local u = User:create { name = "a" }
    Address:create { kind = "work", city = "w", userId = u.id }
    assert.is_nil(u:getHomeAddress())
    local a = u:createHomeAddress { city = "h" }
    assert.are.equal("home", a.kind)
    assert.are.equal("h", u:getHomeAddress().city)
  end)
end)
