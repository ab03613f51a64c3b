-- The shape of make check-crash's data, shared by tests/crash/workload.lua (which writes it)
-- and tests/crash/check.lua (which judges a database cut mid-write against it):
--   local S = dofile("tests/crash/shape.lua")     (from the repository root)
local S = {
  G = 8, K = 12,          -- groups, items per group
  NPROJ = 10, NUSERS = 4, -- projects, users with a project set
}

-- The project set of generation g: a deterministic subset of 1..NPROJ (possibly empty).
function S.set_for(g)
  local ids = {}
  for p = 1, S.NPROJ do
    if ((g * 7 + p * 3) % 5) < 2 then ids[#ids + 1] = p end
  end
  return ids
end

return S
