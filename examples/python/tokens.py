#!/usr/bin/env python3
"""examples/python/tokens.py - the tokenstore package without the SDK: save
a token, find it by user name, list the store (secrets masked).

    python3 tokens.py [STORE_URI_OR_CONFIG]     (default: the configured store)
"""
import sys

import tokenstore


def main():
    spec = sys.argv[1] if len(sys.argv) > 1 else None
    with tokenstore.open(spec) as store:
        token = tokenstore.Token(user_name="me@example.com", client_id="1000.CLIENTID",
                                 client_secret="0123456789abcdef0123456789",
                                 refresh_token="1000.0123456789abcdef.fedcba9876543210")
        try:
            print("saved as id", store.save(token))
        except tokenstore.ConflictError as e:
            sys.exit("not saved: %s" % e)
        found = store.find({"user_name": "me@example.com"})
        print("found:", found)
        for t in store.tokens():
            print(t)


if __name__ == "__main__":
    main()
