-- uses: base
-- log_walk, one page: the entries of {P}refreshes from number ARGV[3]
-- on ('' from the oldest), at most ARGV[4] of them and, after the first,
-- no more than ARGV[5] bytes of them; returns {the number after the
-- last one returned, 1 when more follow else 0, entries}. An entry's
-- number is its place among every entry ever appended: the oldest kept
-- is number appended - length. So a page starts where the last ended
-- even when appends trimmed the head in between (a list index would
-- shift and skip entries); what was trimmed before the walk reached it
-- is gone.
local log = base .. 'refreshes'
local len = redis.call('LLEN', log)
local total = tonumber(redis.call('GET', base .. 'refreshes:appended') or '') or 0
if total < len then total = len end
local first = total - len
local from = tonumber(ARGV[3]) or first
if from < first then from = first end
local start = from - first
local got = redis.call('LRANGE', log, start, start + tonumber(ARGV[4]) - 1)
local out, bytes, budget = {}, 0, tonumber(ARGV[5])
for _, e in ipairs(got) do
  if #out > 0 and bytes + #e > budget then break end
  out[#out + 1] = e
  bytes = bytes + #e
end
local more = 0
if start + #out < len then more = 1 end
return {from + #out, more, out}
