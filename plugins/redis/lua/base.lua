-- The start of every script. KEYS[1] is {P}ids (so a cluster client
-- routes the call to the store's slot) and ARGV[1] is "{P}".
local base, ids_key = ARGV[1], KEYS[1]
