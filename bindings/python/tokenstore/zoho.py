"""tokenstore.zoho: any tokenstore store as the Zoho CRM Python SDK's
TokenStore.

    from tokenstore.zoho import SDKTokenStore
    Initializer.initialize(environment=..., token=..., store=SDKTokenStore())

SDKTokenStore subclasses the SDK's abstract TokenStore (the SDK's
Initializer refuses any other store) and follows the SDK's own stores:
find_token fills only the fields the caller left None, save_token sets the
id on the token it was given, a missing id raises SDKException. The SDK
(package zohocrmsdk, 8.0 line) is imported from sys.path; without it the
module still imports, and a subclass naming stand-in classes in
OAuthToken, UserSignature and SDKException works as well.

Refresh ahead: the SDK refreshes a token itself, per process, when it
expires within 5 seconds, so N processes send N refresh requests (and Zoho
blocks a refresh token that mints more than ten access tokens in ten
minutes). With OAuth settings (the config file's "oauth" section) this
store refreshes a token that has no access token or one that expires
within refresh_ahead_ms (60 s by default) before returning it, through
libtokenstore's single-flight refresh: one request per expiry across
every process sharing the store, and the SDK never sees a token it would
refresh.
"""
import json
import logging
import time

from . import Token, OAuthClient, open as _open
from .errors import TokenStoreError, InvalidTokenError

log = logging.getLogger("tokenstore.zoho")

DEFAULT_REFRESH_AHEAD_MS = 60000
SDK_MARGIN_MS = 5000      # the SDK refreshes a token expiring within this
ERROR_CODE = "TOKEN_STORE"  # the code the SDK's own stores raise with

try:
    from zohocrmsdk.src.com.zoho.api.authenticator.store.token_store import TokenStore
    from zohocrmsdk.src.com.zoho.api.authenticator.oauth_token import OAuthToken as _OAuthToken
    from zohocrmsdk.src.com.zoho.crm.api.user_signature import UserSignature as _UserSignature
    from zohocrmsdk.src.com.zoho.crm.api.exception.sdk_exception import \
        SDKException as _SDKException
    SDK_AVAILABLE = True
except ImportError:
    TokenStore = object
    _OAuthToken = _UserSignature = _SDKException = None
    SDK_AVAILABLE = False

# Token fields and the OAuthToken accessors that hold them, but user_name,
# which the SDK keeps in a UserSignature.
_PLAIN = (("id", "id"), ("client_id", "client_id"), ("client_secret", "client_secret"),
          ("refresh_token", "refresh_token"), ("access_token", "access_token"),
          ("grant_token", "grant_token"), ("expiry_time", "expires_in"),
          ("redirect_url", "redirect_url"), ("api_domain", "api_domain"))


def _config_oauth(store):
    """The "oauth" section of the config file the store was opened from,
    or None when it was opened from a URI or has none."""
    origin = store._lib.ts_config_origin(store._config)
    if not origin or origin in (b"URI", b"default"):
        return None
    try:
        with open(origin, "rb") as f:
            section = json.load(f).get("oauth")
    except (OSError, ValueError, AttributeError):
        return None
    return section if isinstance(section, dict) else None


class SDKTokenStore(TokenStore):
    """The SDK's TokenStore over a tokenstore store.

    spec is a URI or config file path as tokenstore.open() takes it (None:
    the configured store). refresh_ahead_ms: None refreshes 60 s ahead when
    the config has an "oauth" section (its own refresh_ahead_ms wins) and
    not at all otherwise; 0 turns refresh ahead off; any other value
    (more than the SDK's 5000) turns it on with that margin.
    """
    OAuthToken = _OAuthToken
    UserSignature = _UserSignature
    SDKException = _SDKException

    def __init__(self, spec=None, *, refresh_ahead_ms=None):
        if self.OAuthToken is None:
            raise ImportError("the Zoho CRM Python SDK (package zohocrmsdk) is not importable: "
                              "put the directory holding zohocrmsdk on sys.path")
        if refresh_ahead_ms is not None and refresh_ahead_ms != 0 and \
                not SDK_MARGIN_MS < refresh_ahead_ms <= 3000000:
            raise ValueError("refresh_ahead_ms: %r is not 0 (off) or more than the SDK's "
                             "5000 ms and at most 3000000" % (refresh_ahead_ms,))
        self._store = _open(spec)
        self._oauth = None
        self._margin_ms = 0
        try:
            self._start_refresh_ahead(refresh_ahead_ms)
        except BaseException:
            self._store.close()
            raise

    def _start_refresh_ahead(self, refresh_ahead_ms):
        section = _config_oauth(self._store)
        settings = {}
        if refresh_ahead_ms:
            settings["refresh_ahead_ms"] = refresh_ahead_ms
        elif refresh_ahead_ms is None and section is not None:
            settings["refresh_ahead_ms"] = section.get("refresh_ahead_ms",
                                                       DEFAULT_REFRESH_AHEAD_MS)
        if settings:
            self._margin_ms = int(settings["refresh_ahead_ms"])
            self._oauth = OAuthClient(self._store, settings)

    def close(self):
        """Closes the store; calling it again does nothing."""
        if self._oauth is not None:
            self._oauth.close()
            self._oauth = None
        self._store.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def store(self):
        """The tokenstore.Store behind the adapter."""
        return self._store

    # -- conversions between the SDK's OAuthToken and tokenstore.Token

    def _to_token(self, oauth):
        sig = oauth.get_user_signature()
        t = Token(user_name=sig.get_name() if sig is not None else None)
        for field, acc in _PLAIN:
            setattr(t, field, getattr(oauth, "get_" + acc)())
        return t

    def _fill_none(self, oauth, t):
        """Sets the fields of oauth that are None from t, as the SDK's
        stores merge a stored row into the caller's token."""
        if oauth.get_user_signature() is None and t.user_name is not None:
            oauth.set_user_signature(self.UserSignature(t.user_name))
        for field, acc in _PLAIN:
            value = getattr(t, field)
            if value is not None and getattr(oauth, "get_" + acc)() is None:
                getattr(oauth, "set_" + acc)(value)
        return oauth

    def _new_oauth(self, t):
        """A new OAuthToken holding t, built as the SDK's stores build
        theirs: without the constructor's checks, every field None first."""
        oauth = object.__new__(self.OAuthToken)
        oauth.set_user_signature(None)
        for _, acc in _PLAIN:
            getattr(oauth, "set_" + acc)(None)
        return self._fill_none(oauth, t)

    def _error(self, e):
        return self.SDKException(code=ERROR_CODE, message=str(e))

    def _fresh(self, t):
        """t, refreshed first when refresh ahead is on and the SDK would
        refresh it soon: no access token, or one that expires within the
        margin (the SDK leaves one without an expiry time alone). A failed
        refresh is logged (never a secret) and t returned."""
        if self._oauth is None:
            return t
        if t.access_token:
            try:
                if t.expiry_time is None or \
                        int(t.expiry_time) - int(time.time() * 1000) >= self._margin_ms:
                    return t
            except ValueError:
                return t
        try:
            return self._oauth.get_access_token(Token(id=t.id))
        except TokenStoreError as e:
            log.warning("refresh ahead of token %s failed, the SDK will refresh it: %s",
                        t.id, e)
            return t

    # -- the SDK's TokenStore

    def find_token(self, token):
        if not isinstance(token, self.OAuthToken):
            return token
        try:
            found = self._store.find(self._to_token(token))
        except InvalidTokenError:
            return None     # no key to match by: the SDK's stores find nothing
        except TokenStoreError as e:
            raise self._error(e) from e
        if found is None:
            return None
        return self._fill_none(token, self._fresh(found))

    def find_token_by_id(self, id):
        try:
            found = self._store.find_by_id(id)
        except TokenStoreError as e:
            raise self._error(e) from e
        return self._new_oauth(self._fresh(found))

    def save_token(self, token):
        if not isinstance(token, self.OAuthToken):
            return
        try:
            token.set_id(self._store.save(self._to_token(token)))
        except TokenStoreError as e:
            raise self._error(e) from e

    def delete_token(self, id):
        try:
            self._store.delete(id)
        except TokenStoreError as e:
            raise self._error(e) from e

    def get_tokens(self):
        try:
            return [self._new_oauth(t) for t in self._store.tokens()]
        except TokenStoreError as e:
            raise self._error(e) from e

    def delete_tokens(self):
        try:
            self._store.clear()
        except TokenStoreError as e:
            raise self._error(e) from e
