#!/bin/sh
# examples/demo.sh - the main job on the default store (SQLite, in
# tokenstore/zohooauth.db under $XDG_DATA_HOME): save a token, find it back,
# list the store. Run it with `make demo`. It runs in a scratch directory
# of its own, removed at the end, so the store it uses is never the one
# the user keeps tokens in, nor is any config of theirs read.
set -e
cli=${TS_CLI:-tokenstore}
expiry=$(( $(date +%s) * 1000 + 3600 * 1000 ))
scratch=$(mktemp -d "${TMPDIR:-/tmp}/tokenstore-demo.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
XDG_DATA_HOME=$scratch/data XDG_CONFIG_HOME=$scratch/config
export XDG_DATA_HOME XDG_CONFIG_HOME
unset TOKENSTORE_CONFIG

echo "# the default store, here $XDG_DATA_HOME/tokenstore/zohooauth.db (removed at the end)"
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
