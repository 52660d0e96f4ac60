-- uses: base
-- drop, one step: SCAN from cursor ARGV[3] for the keys under the
-- store's prefix (every key of the store starts with "{P}", and the '}'
-- no prefix holds ends it, so no other store's key matches), deletes
-- them, and returns the next cursor, '0' when the scan is done. SCAN
-- runs on the node that serves the store's slot, where all its keys are.
local pattern = string.gsub(base, '[%*%?%[%]\\]', '\\%0') .. '*'
local page = redis.call('SCAN', ARGV[3], 'MATCH', pattern, 'COUNT', 1000)
for _, key in ipairs(page[2]) do redis.call('DEL', key) end
return page[1]
