local function unindex(f, v, id)
  local key = index_key(f, v)
  if f ~= 2 then return redis.call('ZREM', key, member(id)) end
  local copy = redis.call('GET', key)
  if copy and copy_id(copy) == id then redis.call('DEL', key) end
end
