-- uses: base
-- log_append: appends entry ARGV[3] to the log {P}refreshes (a list,
-- oldest first) and keeps only its newest ARGV[4] entries ('0': none,
-- the log is emptied). {P}refreshes:appended counts every entry ever
-- appended, which log_page needs to find its place again after a trim.
-- One script, so the push, the count and the trim are one step: no
-- reader sees the log past its cap and no two writers' trims cross.
local log = base .. 'refreshes'
if ARGV[4] == '0' then
  redis.call('DEL', log)
  return 0
end
redis.call('RPUSH', log, ARGV[3])
redis.call('INCR', base .. 'refreshes:appended')
redis.call('LTRIM', log, '-' .. ARGV[4], -1)
return 1
