#!/usr/bin/env python3
"""examples/python/sdk_app.py - a Zoho CRM Python SDK application whose
OAuth tokens live in a tokenstore store.

The SDK is unmodified: it is handed tokenstore.zoho.SDKTokenStore as its
store. The store is the one config.json names (here a sqlite file), and
its "oauth" section turns on refresh ahead, so however many processes run
this program, one refresh request per expiry reaches Zoho.

    pip install zohocrmsdk8_0        # or put the SDK's directory on PYTHONPATH
    export TOKENSTORE_CONFIG=$PWD/config.json
    python3 sdk_app.py me@example.com
"""
import sys

from zohocrmsdk.src.com.zoho.api.authenticator.oauth_token import OAuthToken
from zohocrmsdk.src.com.zoho.crm.api.apis.apis_operations import APIsOperations
from zohocrmsdk.src.com.zoho.crm.api.dc.us_data_center import USDataCenter
from zohocrmsdk.src.com.zoho.crm.api.initializer import Initializer
from zohocrmsdk.src.com.zoho.crm.api.user_signature import UserSignature

from tokenstore.zoho import SDKTokenStore


def main():
    user = sys.argv[1] if len(sys.argv) > 1 else "me@example.com"
    # The configured store ($TOKENSTORE_CONFIG); refresh ahead as its
    # "oauth" section says (60 s before expiry unless refresh_ahead_ms).
    store = SDKTokenStore()
    # The first run needs a grant token (or a refresh token) for the user;
    # later runs find everything else in the store.
    token = OAuthToken(client_id="1000.XXXXXXXX", client_secret="...",
                       grant_token="1000.GRANT...", user_signature=UserSignature(user))
    Initializer.initialize(environment=USDataCenter.PRODUCTION(), token=token, store=store)
    response = APIsOperations(None).get_supported_api()
    print("token %s: the CRM answered HTTP %s" % (token.get_id(), response.get_status_code()))
    store.close()


if __name__ == "__main__":
    main()
