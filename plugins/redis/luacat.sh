#!/bin/sh
# plugins/redis/luacat.sh DIR NAME - prints the Lua script NAME as the
# redis backend sends it: the pieces its "-- uses:" line names, in that
# order, then DIR/NAME.lua, without comments and blank lines (they would
# only add to every EVAL). The build embeds this output (see Makefile.am);
# tests run the same output with redis-cli --eval.
dir=$1
name=$2
[ -f "$dir/$name.lua" ] || { echo "luacat.sh: no script $dir/$name.lua" >&2; exit 1; }
uses=$(sed -n 's/^-- uses: //p' "$dir/$name.lua")
for piece in $uses $name; do
    sed -e '/^[[:space:]]*--/d' -e '/^[[:space:]]*$/d' "$dir/$piece.lua" || exit 1
done
