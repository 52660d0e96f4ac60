-- The stored row whose field f is v (lowest id first), checked against
-- the row itself so that no stray index entry can answer.
local function lookup(f, v)
  if f == 1 then return read_row(v) end
  local key = index_key(f, v)
  if f == 2 then
    local copy = redis.call('GET', key)
    local r = copy and read_row(copy_id(copy))
    if r and r[2] == v then return r end
    return nil
  end
  for i = 0, math.huge do
    local m = redis.call('ZRANGE', key, i, i)[1]
    if not m then return nil end
    local r = read_row(id_of(m))
    if r and r[f] == v then return r end
  end
end
