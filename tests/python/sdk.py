"""tests/python/sdk.py - the Zoho SDK classes the adapter tests run against.

With ZOHO_PYTHON_SDK naming a directory that holds the zohocrmsdk package,
the SDK's own OAuthToken, UserSignature and SDKException, and the adapter
as it is shipped. Otherwise small stand-ins offering exactly what the
adapter may use of the SDK (the accessors of the ten fields, UserSignature
(name).get_name() and SDKException(code, message, details, cause)), and an
adapter subclass naming them: CI has no SDK, and nothing beyond those
facts of the SDK may be relied on.
"""
import os
import sys

REAL = bool(os.environ.get("ZOHO_PYTHON_SDK"))
if REAL:
    sys.path.insert(0, os.environ["ZOHO_PYTHON_SDK"])

from tokenstore import zoho  # noqa: E402  (after the SDK's path is set)

ACCESSORS = ("id", "user_signature", "client_id", "client_secret", "refresh_token",
             "access_token", "grant_token", "expires_in", "redirect_url", "api_domain")

if REAL:
    if not zoho.SDK_AVAILABLE:
        raise ImportError("ZOHO_PYTHON_SDK=%s: zohocrmsdk is not importable from there"
                          % os.environ["ZOHO_PYTHON_SDK"])
    from zohocrmsdk.src.com.zoho.api.authenticator.oauth_token import OAuthToken
    from zohocrmsdk.src.com.zoho.crm.api.user_signature import UserSignature
    from zohocrmsdk.src.com.zoho.crm.api.exception.sdk_exception import SDKException
    from zohocrmsdk.src.com.zoho.api.authenticator.store.token_store import TokenStore
    Store = zoho.SDKTokenStore
else:
    class UserSignature:
        def __init__(self, name):
            self._name = name

        def get_name(self):
            return self._name

    class SDKException(Exception):
        def __init__(self, code=None, message=None, details=None, cause=None):
            super().__init__(code, message)
            self.code, self.error_message, self.details, self.cause = \
                code, message, details, cause

    class OAuthToken:
        """Only the accessors: built as the SDK's stores build theirs."""

    def _add_accessors(name):
        attr = "_" + name
        setattr(OAuthToken, "get_" + name, lambda self: getattr(self, attr))
        setattr(OAuthToken, "set_" + name, lambda self, value: setattr(self, attr, value))

    for _name in ACCESSORS:
        _add_accessors(_name)

    TokenStore = None

    class Store(zoho.SDKTokenStore):
        OAuthToken = OAuthToken
        UserSignature = UserSignature
        SDKException = SDKException


def token(user=None, **fields):
    """An OAuthToken with every field None but those given (expires_in as
    the SDK keeps it: a string)."""
    t = object.__new__(OAuthToken)
    for name in ACCESSORS:
        getattr(t, "set_" + name)(None)
    if user is not None:
        t.set_user_signature(UserSignature(user))
    for name, value in fields.items():
        getattr(t, "set_" + name)(value)
    return t


def values(t):
    """The ten values of an OAuthToken, the user signature by name."""
    sig = t.get_user_signature()
    return [sig.get_name() if n == "user_signature" and sig is not None else
            getattr(t, "get_" + n)() if n != "user_signature" else None for n in ACCESSORS]
