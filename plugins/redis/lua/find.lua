-- uses: base index num_less
-- find_token by a secret (and by a user name whose key holds a bare id):
-- ARGV[3..] are (field number, value) pairs in the order the host's
-- lookup_keys gave; returns, as HMGET does, the row with the lowest id
-- that any of them finds, or false. Written flat (no helper tables, few
-- closures) to keep it cheap.
local best = nil
for i = 3, #ARGV, 2 do
  local f, v = tonumber(ARGV[i]), ARGV[i + 1]
  local id, key, at = nil, nil, 0
  if f == 2 then
    id = redis.call('GET', index_key(f, v))
    id = id and copy_id(id)
  else
    key = index_key(f, v)
    id = redis.call('ZRANGE', key, 0, 0)[1]
  end
  while id do
    if key then
      id = string.gsub(id, '^0+', '')
      if id == '' then id = '0' end
    end
    local r = redis.call('HMGET', base .. 'token:' .. id, 'id', 'user_name',
      'client_id', 'client_secret', 'refresh_token', 'access_token',
      'grant_token', 'expiry_time', 'redirect_url', 'api_domain')
    if r[f] == v then
      if not best or num_less(r[1], best[1]) then best = r end
      break
    end
    if not key then break end
    at = at + 1
    id = redis.call('ZRANGE', key, at, at)[1]
  end
end
return best or false
