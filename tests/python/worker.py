#!/usr/bin/env python3
"""tests/python/worker.py - one of the processes the adapter tests run at
once, using the adapter as an application on the SDK would.

  worker.py save SPEC FIRST COUNT   saves users FIRST.. FIRST+COUNT-1
  worker.py find SPEC USER GOFILE   says it is ready (GOFILE.ready.PID), waits
                                    for GOFILE, then find_token(USER);
                                    prints "id access_token expires_in"
  worker.py grant SPEC OAUTH GOFILE  the same for the SDK's first use of a
                                    grant token: find_token of a token with
                                    only client credentials and the grant
  worker.py sdk-grant SPEC OAUTH GOFILE DIR
                                    the same through the real SDK: Initializer
                                    with a grant token, then its get_token()
  worker.py users SPEC OAUTH GOFILE USER...
                                    the same, find_token of each user in turn
OAUTH is the adapter's oauth settings as JSON.
"""
import json
import os
import sys
import time

import support  # noqa: F401  (sets up the paths)
import sdk


def save(spec, first, count):
    store = sdk.Store(spec)
    for i in range(int(first), int(first) + int(count)):
        t = sdk.token("user%05d@example.com" % i, client_id="1000.CLIENT",
                      client_secret="secret", refresh_token="1000.refresh.%d" % i)
        store.save_token(t)
        if t.get_id() is None:
            sys.exit("save_token did not set the id of user %d" % i)
    store.close()


def ready_and_wait(gofile):
    open("%s.ready.%d" % (gofile, os.getpid()), "w").close()
    while not os.path.exists(gofile):
        time.sleep(0.002)


def find(spec, user, gofile):
    store = sdk.Store(spec)
    ready_and_wait(gofile)
    t = store.find_token(sdk.token(user))
    print(t.get_id(), t.get_access_token(), t.get_expires_in())
    store.close()


def grant(spec, oauth, gofile):
    store = sdk.Store(spec, oauth=json.loads(oauth))
    ready_and_wait(gofile)
    t = store.find_token(sdk.token(None, client_id="1000.CLIENT", client_secret="secret",
                                   grant_token="1000.grant.first",
                                   redirect_url="https://app.example.com/cb"))
    print(t.get_id(), t.get_access_token(), t.get_refresh_token())
    store.close()


def sdk_grant(spec, oauth, gofile, resource_path):
    from zohocrmsdk.src.com.zoho.crm.api.initializer import Initializer
    from zohocrmsdk.src.com.zoho.crm.api.dc import USDataCenter
    store = sdk.Store(spec, oauth=json.loads(oauth))
    token = sdk.OAuthToken(client_id="1000.CLIENT", client_secret="secret",
                           grant_token="1000.grant.first",
                           redirect_url="https://app.example.com/cb", find_user=False)
    Initializer.initialize(environment=USDataCenter.PRODUCTION(), token=token, store=store,
                           resource_path=resource_path)
    ready_and_wait(gofile)
    print(token.get_token())
    store.close()


def users(spec, oauth, gofile, *names):
    store = sdk.Store(spec, oauth=json.loads(oauth))
    ready_and_wait(gofile)
    for name in names:
        t = store.find_token(sdk.token(name))
        print(name, t.get_access_token())
    store.close()


if __name__ == "__main__":
    {"save": save, "find": find, "grant": grant, "users": users,
     "sdk-grant": sdk_grant}[sys.argv[1]](*sys.argv[2:])
