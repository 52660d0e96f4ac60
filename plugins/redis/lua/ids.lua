-- Ids in {P}ids are zero-padded to 20 digits so that lexical order is
-- numeric order (see redis.c).
local function member(id) return string.rep('0', 20 - #id) .. id end
local function id_of(m)
  local id = string.gsub(m, '^0+', '')
  if id == '' then return '0' end
  return id
end
