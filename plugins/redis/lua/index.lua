-- The index keys. ARGV[2] lists the host's key fields other than the id
-- (ts_host key_fields) as "number=name" words, such as "2=user 6=access";
-- the C side builds it at open, so every store sends the same script text
-- and the script stays cached under one SHA. Field 2, user_name, is one
-- row each: its key holds a copy of the row. The others may be shared by
-- several rows: their keys are sorted sets of ids, named by the SHA-1 of
-- the secret, not the secret (see redis.c).
local INDEX = {}
for f, name in string.gmatch(ARGV[2], '(%d+)=(%a+)') do
  INDEX[tonumber(f)] = name .. ':'
end
local function index_key(f, v)
  if f == 2 then return base .. INDEX[2] .. v end
  return base .. INDEX[f] .. redis.sha1hex(v)
end
-- The id in a {P}user:NAME copy of a row: its first field, "len:bytes".
-- A value without ':' is a bare id, as stores written before the copy
-- held.
local function copy_id(c)
  local n = string.match(c, '^(%d+):')
  if not n then return c end
  return string.sub(c, #n + 2, #n + 1 + tonumber(n))
end
