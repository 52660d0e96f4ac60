-- uses: base ids row index unindex forget
-- delete_tokens, one page of ARGV[3] ids; returns how many are left and
-- forgets the counter with the last one.
for _, m in ipairs(redis.call('ZRANGE', ids_key, 0, tonumber(ARGV[3]) - 1)) do
  local row = read_row(id_of(m))
  if row then forget(row) else redis.call('ZREM', ids_key, m) end
end
local left = redis.call('ZCARD', ids_key)
if left == 0 then redis.call('DEL', base .. 'next_id') end
return left
