-- Eager loading: bad includes raise AssociationError naming what exists, before any
-- statement runs.
local F = require "spec.include_fixtures"
local H = F.H

describe("bad includes", function()
  local M
  before_each(function() M = F.open(); F.seed(M) end)
  after_each(function() M.db:close() end)

  local function refused(parts, fn)
    H.clear(M.log)
    H.raises("AssociationError", parts, fn)
    assert.are.equal(0, #M.log, "no statement ran")
  end

  it("an unknown alias names the aliases that exist", function()
    refused({ 'alias "Post" does not exist on User', "Posts, Profile, Projects" }, function()
      M.User:findAll { include = { "Post" } }
    end)
    refused({ 'alias "nope" does not exist on User' }, function()
      M.User:findAll { include = { { association = "nope" } } }
    end)
  end)

  it("a wrong alias for an associated model says how it is associated", function()
    refused({ "Task is associated to User as Assignee, Owner; you included User as owner" },
      function() M.Task:findAll { include = { { model = M.User, as = "owner" } } } end)
    refused({ "Comment is associated to User as Author; you included User as Writer" },
      function() M.Comment:findAll { include = { { model = M.User, as = "Writer" } } } end)
  end)

  it("an alias of another target says which", function()
    refused({ "User's association Posts is to Post, not to Comment" }, function()
      M.User:findAll { include = { { model = M.Comment, as = "Posts" } } }
    end)
  end)

  it("an unassociated model", function()
    refused({ "Comment is not associated to Project", "its associations: Users" }, function()
      M.Project:findAll { include = { M.Comment } }
    end)
  end)

  it("a model associated twice needs 'as'", function()
    refused({ "User is associated to Task multiple times (as Assignee, Owner)", "as" },
      function() M.Task:findAll { include = { M.User } } end)
  end)

  it("an association object of another model", function()
    refused({ "the association Post.Comments belongs to Post", "from User" }, function()
      M.User:findAll { include = { M.Comments } }
    end)
  end)

  it("separate on a one-to-one", function()
    refused({ "separate applies to hasMany and belongsToMany", "User.Profile is a HasOne" },
      function() M.User:findAll { include = { { model = M.Profile, separate = true } } } end)
    refused({ "separate applies to hasMany and belongsToMany", "Post.User is a BelongsTo" },
      function() M.Post:findAll { include = { { model = M.User, separate = true } } } end)
  end)

  it("limit or offset on a one-to-one", function()
    refused({ "limit and offset apply to hasMany and belongsToMany includes" }, function()
      M.Post:findAll { include = { { model = M.User, limit = 1 } } }
    end)
  end)

  it("through on an include that is not belongsToMany", function()
    refused({ "option 'through' applies to belongsToMany includes" }, function()
      M.User:findAll { include = { { model = M.Post, through = { attributes = {} } } } }
    end)
  end)

  it("unknown include options and bad values", function()
    refused({ "unknown include option 'wher'" }, function()
      M.User:findAll { include = { { model = M.Post, wher = {} } } }
    end)
    refused({ "option 'required' must be a boolean" }, function()
      M.User:findAll { include = { { model = M.Post, required = 1 } } }
    end)
    refused({ "option 'where' must be a table" }, function()
      M.User:findAll { include = { { model = M.Post, where = "x" } } }
    end)
    refused({ "option 'limit' must be a non-negative integer" }, function()
      M.User:findAll { include = { { model = M.Post, limit = -1 } } }
    end)
    refused({ "unknown attribute 'nope' of Post in 'attributes'" }, function()
      M.User:findAll { include = { { model = M.Post, attributes = { "nope" } } } }
    end)
    refused({ "unknown attribute 'nope' of UserProject in 'through.attributes'" }, function()
      M.User:findAll { include = { { model = M.Project, through = { attributes = { "nope" } } } } }
    end)
    refused({ "unknown attribute 'nope' of Post in 'order'" }, function()
      M.User:findAll { include = { { model = M.Post, order = { "nope" } } } }
    end)
  end)

  it("something that is not an include", function()
    refused({ "cannot include a number" }, function() M.User:findAll { include = { 42 } } end)
    refused({ "cannot include an instance" }, function()
      M.User:findAll { include = { M.Post:build { title = "x" } } }
    end)
    refused({ "needs 'model', 'as', 'association' or 'all'" }, function()
      M.User:findAll { include = { { where = {} } } }
    end)
  end)

  it("the same association twice", function()
    refused({ "User.Posts is included twice" }, function()
      M.User:findAll { include = { M.Post, "Posts" } }
    end)
  end)

  it("a bad { all = ... }", function()
    refused({ "option 'all' must be true or one of" }, function()
      M.User:findAll { include = { { all = "Bogus" } } }
    end)
    refused({ "unknown option 'where' in an { all = ... } include" }, function()
      M.User:findAll { include = { { all = true, where = {} } } }
    end)
  end)

  it("errors name the call at fault", function()
    refused({ "User.findOne" }, function() M.User:findOne { include = { "nope" } } end)
    refused({ "User.findByPk" }, function() M.User:findByPk(1, { include = { "nope" } }) end)
    refused({ "User.count" }, function() M.User:count { include = { "nope" } } end)
    refused({ "Post.create" }, function()
      M.Post:create({ title = "t" }, { include = { "nope" } })
    end)
  end)

  it("bad nested includes are found too", function()
    refused({ 'alias "Nope" does not exist on Post' }, function()
      M.User:findAll { include = { { model = M.Post, include = { "Nope" } } } }
    end)
  end)

  it("a closed database raises ConnectionError", function()
    M.db:close()
    H.raises("ConnectionError", "database is closed", function()
      M.User:findAll { include = { M.Post } }
    end)
  end)
end)

describe("eager loads at the stack limit", function()
  local M
  before_each(function() M = F.open(); F.seed(M) end)
  after_each(function() M.db:close() end)

  -- An eager load that runs out of stack frees its loaded result there and then, not in
  -- the finalizer of its holder, which may never run (a collection step at the C-stack
  -- limit cannot enter it).  That finalizer is taken away here, so that check-asan and
  -- check-valgrind report whatever would be left to it.
  it("raises or returns, and leaves nothing to a finalizer", function()
    local want = #M.User:findAll { include = { M.Post, M.Project } }
    local mt = debug.getregistry()["assoc.eagerresult"]
    local gc = mt.__gc
    mt.__gc = nil
    local ok, err = pcall(function()
      local raised, returned = require("spec.core_helpers").near_stack_limit(function()
        local users = M.User:findAll { include = { M.Post, M.Project } }
        assert.are.equal(want, #users)
      end, 400)
      assert(raised > 0 and returned > 0, ("raised %d, returned %d"):format(raised, returned))
    end)
    mt.__gc = gc
    assert(ok, err)
    assert.are.equal(want, #M.User:findAll { include = { M.Post, M.Project } })
    collectgarbage()
    collectgarbage()
  end)
end)

describe("assoc.core include requests", function()
  local M, core
  before_each(function() M = F.open(); F.seed(M); core = M.User._core end)
  after_each(function() M.db:close() end)

  local function bad(parts, req)
    H.raises("AssocError", parts, function() return core:find(req) end)
  end

  it("loads an include tree given by aliases", function()
    local rows = core:find { include = { { as = "Posts", include = { { as = "Comments" } } } },
      order = { "id", { "title", "DESC", path = { "Posts" } } } }
    assert.are.equal(3, #rows)
    assert.are.same({ 1, 2 }, F.ids(rows[1].Posts))
    assert.are.equal(2, #rows[1].Posts[1].Comments)
    assert.are.equal(2, core:count { include = { { as = "Posts", required = true } } })
  end)

  it("refuses malformed include trees", function()
    bad("include must be an array", { include = 5 })
    bad("element 1 must be a table", { include = { "Posts" } })
    bad("needs 'as'", { include = { {} } })
    bad("User has no association 'Nope'", { include = { { as = "Nope" } } })
    bad("unknown option 'bogus' in an include", { include = { { as = "Posts", bogus = 1 } } })
    bad("required must be a boolean", { include = { { as = "Posts", required = "yes" } } })
    bad("through applies to belongsToMany", { include = { { as = "Posts", through = {} } } })
    bad("unknown attribute nope of UserProject", { include = { { as = "Projects",
      through = { attributes = { "nope" } } } } })
    bad("separate applies to hasMany and belongsToMany", { include = { { as = "Profile",
      separate = true } } })
    bad("unknown option 'includes'", { includes = {}, include = {} })
  end)

  it("refuses bad order paths", function()
    bad("'Nope' is not included under User", { include = { { as = "Posts" } },
      order = { { "title", path = { "Nope" } } } })
    bad("unknown attribute nope of Post", { include = { { as = "Posts" } },
      order = { { "nope", path = { "Posts" } } } })
    bad("the include has no junction", { include = { { as = "Posts" } },
      order = { { "title", path = { "Posts" }, junction = true } } })
    bad("direction must be ASC or DESC", { include = { { as = "Posts" } },
      order = { { "title", "UP", path = { "Posts" } } } })
  end)
end)
