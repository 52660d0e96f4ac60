-- A stored row as HMGET gives it (field numbers are Lua indexes: 1 id,
-- 2 user_name, ...), or nil.
local function read_row(id)
  local r = redis.call('HMGET', base .. 'token:' .. id, 'id',
    'user_name', 'client_id', 'client_secret', 'refresh_token',
    'access_token', 'grant_token', 'expiry_time', 'redirect_url',
    'api_domain')
  if r[1] then return r end
end
