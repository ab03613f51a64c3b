-- Eager loading over non-default keys: sourceKey / targetKey, underscored columns, self
-- associations (one-to-many and many-to-many), and a belongsToMany with a scoped junction.
local H = require "spec.helpers"
local F = require "spec.include_fixtures"
local DataTypes = H.assoc.DataTypes

describe("include with custom keys", function()
  local db, log, Team, Player
  before_each(function()
    db, log = H.open()
    Team = db:define("Team", { code = { type = DataTypes.STRING, unique = true },
      name = DataTypes.STRING }, { timestamps = false })
    Player = db:define("Player", { name = DataTypes.STRING }, { timestamps = false })
    Team:hasMany(Player, { foreignKey = "teamCode", sourceKey = "code" })
    Player:belongsTo(Team, { foreignKey = "teamCode", targetKey = "code" })
    db:sync()
    Team:bulkCreate { { id = 1, code = "RED", name = "Reds" }, { id = 2, code = "BLU", name = "Blues" } }
    Player:bulkCreate { { name = "ann", teamCode = "BLU" }, { name = "bo", teamCode = "RED" },
      { name = "cy", teamCode = "BLU" } }
  end)
  after_each(function() db:close() end)

  it("loads a hasMany by its sourceKey", function()
    local teams = Team:findAll { include = { Player }, order = { "id" } }
    assert.are.same({ "bo" }, F.pluck(teams[1].Players, "name"))
    assert.are.same({ "ann", "cy" }, F.pluck(teams[2].Players, "name"))
  end)

  it("loads the sourceKey even when the attributes leave it out", function()
    local teams = Team:findAll { attributes = { "name" }, include = { Player }, order = { "id" } }
    assert.are.same({ "ann", "cy" }, F.pluck(teams[2].Players, "name"))
  end)

  it("loads a belongsTo by its targetKey", function()
    local players = Player:findAll { include = { Team }, order = { "id" } }
    assert.are.equal("Blues", players[1].Team.name)
    assert.are.equal("Reds", players[2].Team.name)
  end)
end)

describe("include with underscored models", function()
  local db, Owner, Pet
  before_each(function()
    db = H.open()
    Owner = db:define("Owner", { fullName = DataTypes.STRING }, { underscored = true })
    Pet = db:define("Pet", { petName = DataTypes.STRING }, { underscored = true })
    Owner:hasMany(Pet)
    Pet:belongsTo(Owner)
    db:sync()
    local o = Owner:create { fullName = "Ann Lee" }
    Pet:create { petName = "Rex", ownerId = o.id }
  end)
  after_each(function() db:close() end)

  it("reads snake_case columns under camelCase attributes", function()
    local o = Owner:findOne { include = { Pet } }
    assert.are.equal("Ann Lee", o.fullName)
    assert.are.equal("Rex", o.Pets[1].petName)
    local p = Pet:findOne { include = { Owner }, order = { { Owner, "fullName" } } }
    assert.are.equal("Ann Lee", p.Owner.fullName)
  end)
end)

describe("include with self associations", function()
  local db, Person
  before_each(function()
    db = H.open()
    Person = db:define("Person", { name = DataTypes.STRING }, { timestamps = false })
    Person:hasMany(Person, { as = "Children", foreignKey = "parentId" })
    Person:belongsTo(Person, { as = "Parent", foreignKey = "parentId" })
    Person:belongsToMany(Person, { as = "Friends", through = "Friendships" })
    db:sync()
    Person:bulkCreate { { id = 1, name = "gran" }, { id = 2, name = "mum", parentId = 1 },
      { id = 3, name = "kid", parentId = 2 }, { id = 4, name = "aunt", parentId = 1 } }
    db:query([[INSERT INTO "Friendships" (personId, friendId, createdAt, updatedAt) VALUES
      (2, 4, 'now', 'now'), (3, 1, 'now', 'now')]])
  end)
  after_each(function() db:close() end)

  it("loads children and grandchildren of the same table", function()
    local gran = Person:findByPk(1, { include = { { model = Person, as = "Children",
      include = { { model = Person, as = "Children" } } } } })
    assert.are.same({ "mum", "aunt" }, F.pluck(gran.Children, "name"))
    assert.are.same({ "kid" }, F.pluck(gran.Children[1].Children, "name"))
    assert.are.same({}, gran.Children[2].Children)
  end)

  it("loads a parent chain", function()
    local kid = Person:findByPk(3, { include = { { model = Person, as = "Parent",
      include = { { model = Person, as = "Parent" } } } } })
    assert.are.equal("mum", kid.Parent.name)
    assert.are.equal("gran", kid.Parent.Parent.name)
  end)

  it("loads a self many-to-many", function()
    local people = Person:findAll { include = { "Friends" }, order = { "id" } }
    assert.are.same({ "aunt" }, F.pluck(people[2].Friends, "name"))
    assert.are.same({ "gran" }, F.pluck(people[3].Friends, "name"))
    assert.are.same({}, people[1].Friends)
  end)

  it("orders by a column of a self include", function()
    local people = Person:findAll { include = { { model = Person, as = "Children" } },
      order = { { "Children", "name", "DESC" } }, limit = 2 }
    -- gran's children: mum, aunt (max 'mum'); mum's: kid
    assert.are.same({ "gran", "mum" }, F.pluck(people, "name"))
    assert.are.same({ "mum", "aunt" }, F.pluck(people[1].Children, "name"))
  end)
end)

describe("include with scoped junctions", function()
  local db, Image, Tag
  before_each(function()
    db = H.open()
    Image = db:define("Image", { url = DataTypes.STRING }, { timestamps = false })
    Tag = db:define("Tag", { name = DataTypes.STRING }, { timestamps = false })
    local Tagging = db:define("Tagging", { taggableType = DataTypes.STRING,
      taggableId = DataTypes.INTEGER, tagId = DataTypes.INTEGER }, { timestamps = false })
    Image:belongsToMany(Tag, { through = { model = Tagging, unique = false,
      scope = { taggableType = "image" } }, foreignKey = "taggableId", otherKey = "tagId",
      constraints = false })
    db:sync()
    Image:bulkCreate { { id = 1, url = "a.png" } }
    Tag:bulkCreate { { id = 1, name = "red" }, { id = 2, name = "blue" } }
    Tagging:bulkCreate { { taggableType = "image", taggableId = 1, tagId = 1 },
      { taggableType = "video", taggableId = 1, tagId = 2 } }
  end)
  after_each(function() db:close() end)

  it("applies the through scope", function()
    local img = Image:findByPk(1, { include = { Tag } })
    assert.are.same({ "red" }, F.pluck(img.Tags, "name"))
    assert.are.equal(1, Image:count { include = { { model = Tag, where = { name = "red" } } } })
    assert.are.equal(0, Image:count { include = { { model = Tag, where = { name = "blue" } } } })
  end)
end)
