-- uses: base ids row index unindex lookup num_less
-- save_token for ARGV[3] tokens, each as: key count, key field numbers,
-- the ten values ('' = absent). Saves them in order like that many
-- save_token calls; returns {filled} or, at the first refusal, {filled
-- so far, kind (CONFLICT, INVALID, FULL or CORRUPT), message},
-- where filled[t] lists (field number, value) for the fields token t
-- lacked and now has (its id, merged values): the caller's token plus
-- these is the stored row. The rules are core/rules.c's
-- ts__save_resolve; the messages are its messages.
local FIELDS = {'id', 'user_name', 'client_id', 'client_secret',
  'refresh_token', 'access_token', 'grant_token', 'expiry_time',
  'redirect_url', 'api_domain'}
local counter_key = base .. 'next_id'
local function ensure_counter()
  local last = redis.call('GET', counter_key)
  if last then return last end
  local top = redis.call('ZRANGE', ids_key, -1, -1)[1]
  last = top and id_of(top) or '0'
  redis.call('SET', counter_key, last)
  return last
end
-- The next id, or nil and the kind and message of a refusal when the
-- counter is full or not a number. INCR inside the script is atomic with
-- the insert that uses it, so two writers never get the same id; and it
-- never goes down, so no id is reused until the store is emptied (see
-- redis.c).
local function next_id()
  local last = ensure_counter()
  local n = redis.pcall('INCR', counter_key)
  if type(n) ~= 'table' then return redis.call('GET', counter_key) end
  if string.find(n.err, 'overflow', 1, true) then
    return nil, 'FULL', 'no id is left after ' .. last
  elseif string.find(n.err, 'not an integer', 1, true) then
    return nil, 'CORRUPT', string.format("%s holds '%.40s', not an id", counter_key,
      last)
  end
  -- The server refused the write (READONLY, OOM, MISCONF, NOREPLICAS).
  -- It refuses only a script's first write (once one has written, Redis
  -- lets the rest through), so nothing of this call is written. Raised,
  -- so the reply is the server's error, as for a refused HSET: the
  -- client asks the sentinels again after READONLY, and no WAIT after
  -- the script is taken for its outcome.
  error(n)
end
-- The row as {P}user:NAME holds it; see redis.c.
local function copy_of(tok)
  local parts = {}
  for i = 1, 10 do parts[i] = #tok[i] .. ':' .. tok[i] end
  return table.concat(parts)
end
-- Writes only what changed: the index keys of changed values and the
-- changed fields (a merge never empties a field). tok is the whole row
-- by now, so the user's copy is rewritten from it when anything
-- changed.
local function write(tok, old)
  local id, args = tok[1], {}
  for f in pairs(INDEX) do
    local was, now = old and old[f] or '', tok[f]
    if was ~= now then
      if was ~= '' then unindex(f, was, id) end
      if now ~= '' and f ~= 2 then
        redis.call('ZADD', index_key(f, now), 0, member(id))
      end
    end
  end
  for i = 1, 10 do
    if tok[i] ~= '' and (not old or tok[i] ~= old[i]) then
      args[#args + 1] = FIELDS[i]
      args[#args + 1] = tok[i]
    end
  end
  if #args > 0 then redis.call('HSET', base .. 'token:' .. id, unpack(args)) end
  if #args > 0 and tok[2] ~= '' then
    redis.call('SET', index_key(2, tok[2]), copy_of(tok))
  end
  if not old then redis.call('ZADD', ids_key, 0, member(id)) end
end
local function find_replaced(tok, keys)
  local id, row = tok[1], nil
  if id ~= '' then
    row = read_row(id)
    if row and tok[2] ~= '' then
      local other = lookup(2, tok[2])
      if other and other[1] ~= id then
        return nil, string.format("user_name '%s' is stored under id %s; "
          .. 'saving it under id %s would give that user two rows',
          tok[2], other[1], id)
      end
    end
  end
  if row then return row end
  local by
  for _, f in ipairs(keys) do
    local r = lookup(f, tok[f])
    if r and (not row or num_less(r[1], row[1])) then row, by = r, f end
  end
  if row and id ~= '' and row[1] ~= id then
    return nil, string.format(
      'the token matches stored id %s by %s but was given id %s',
      row[1], FIELDS[by], id)
  end
  return row or false
end
local function save_one(tok, keys)
  local row, conflict = find_replaced(tok, keys)
  if row == nil then return nil, 'CONFLICT', conflict end
  -- A new row needs a refresh, grant or access token; an update takes
  -- them from the row it replaces.
  if not row and tok[5] == '' and tok[6] == '' and tok[7] == '' then
    return nil, 'INVALID', 'the token has none of refresh_token, grant_token '
      .. 'and access_token and matches no stored token to take them from: '
      .. 'nothing to save'
  end
  local filled = {}
  if row then
    for i = 1, 10 do
      row[i] = row[i] or ''
      if tok[i] == '' and row[i] ~= '' then
        tok[i] = row[i]
        filled[#filled + 1] = i
        filled[#filled + 1] = row[i]
      end
    end
  elseif tok[1] == '' then
    local id, kind, message = next_id()
    if not id then return nil, kind, message end
    tok[1] = id
    filled = {1, tok[1]}
    row = nil
  else
    if num_less(ensure_counter(), tok[1]) then
      redis.call('SET', counter_key, tok[1])
    end
    row = nil
  end
  write(tok, row)
  return filled
end
local saved, pos = {}, 4
for t = 1, tonumber(ARGV[3]) do
  local keys = {}
  for k = 1, tonumber(ARGV[pos]) do keys[k] = tonumber(ARGV[pos + k]) end
  pos = pos + #keys + 1
  local tok = {}
  for i = 1, 10 do tok[i] = ARGV[pos + i - 1] end
  pos = pos + 10
  local row, kind, message = save_one(tok, keys)
  if not row then return {saved, kind, message} end
  saved[t] = row
end
return {saved}
