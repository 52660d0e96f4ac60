local function forget(row)
  for f in pairs(INDEX) do
    if row[f] then unindex(f, row[f], row[1]) end
  end
  redis.call('DEL', base .. 'token:' .. row[1])
  redis.call('ZREM', ids_key, member(row[1]))
end
