-- uses: base
-- unlock: deletes lock ARGV[3] only if it still holds our tag ARGV[4]
-- (it may have expired and been taken by someone else).
local key = base .. 'lock:' .. ARGV[3]
if redis.call('GET', key) == ARGV[4] then return redis.call('DEL', key) end
return 0
