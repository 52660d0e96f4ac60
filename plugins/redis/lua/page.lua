-- uses: base ids row
-- get_tokens, one page: up to ARGV[4] rows after member ARGV[3] ('' from
-- the start); returns {last member, members read, rows}.
local from = ARGV[3] == '' and '-' or '(' .. ARGV[3]
local page = redis.call('ZRANGEBYLEX', ids_key, from, '+', 'LIMIT', 0,
                        tonumber(ARGV[4]))
local rows = {}
for _, m in ipairs(page) do
  local r = read_row(id_of(m))
  if r then rows[#rows + 1] = r end
end
return {page[#page] or '', #page, rows}
