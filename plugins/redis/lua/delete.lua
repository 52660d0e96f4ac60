-- uses: base ids row index unindex forget
-- delete_token ARGV[3]: 1 when it existed, else 0.
local row = read_row(ARGV[3])
if not row then return 0 end
forget(row)
return 1
