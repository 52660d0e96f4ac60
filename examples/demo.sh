#!/bin/sh
# examples/demo.sh - the main job on the default store (SQLite at
# $XDG_DATA_HOME/tokenstore/zohooauth.db, ~/.local/share when unset):
# save a token, find it back, list the store. Run it with `make demo`.
set -e
cli=${TS_CLI:-tokenstore}
expiry=$(( $(date +%s) * 1000 + 3600 * 1000 ))

echo "# save a token for demo@example.com"
"$cli" save --user demo@example.com --client-id 1000.DEMOCLIENT \
    --client-secret demo-client-secret-0123456789 \
    --refresh-token 1000.demo.refresh.0123456789abcdef \
    --access-token 1000.demo.access.0123456789abcdef \
    --expiry-time "$expiry" --redirect-url https://example.com/oauth/callback \
    --api-domain https://www.zohoapis.com
echo "# find it back by user name"
"$cli" get --user demo@example.com
echo "# list the store"
"$cli" list
