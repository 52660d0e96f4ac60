-- Numeric order of two canonical ids (decimal, no leading zeros).
local function num_less(a, b)
  if #a ~= #b then return #a < #b end
  return a < b
end
