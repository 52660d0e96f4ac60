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
minutes). This store refreshes a token that has no access token or one
that expires within refresh_ahead_ms (the library's default, 60 s) before
returning it, through libtokenstore's single-flight refresh: one request
per expiry across every process sharing the store, at the accounts server
of the token's own data center, and the SDK never sees a token it would
refresh. No config file is needed (the stored token holds the client id,
secret and refresh token); settings may also come from the config's
"oauth" section or, in code, from `oauth`. A token the SDK looks up by
its grant token, and that is not stored yet, is exchanged here, once
across all processes, so the SDK never exchanges a grant token itself.
"""
import logging
import time
from typing import Any, List, Mapping, Optional, Union

from . import Token, OAuthClient, open as _open
from . import Spec, Store
from ._constants import OAUTH_SDK_MARGIN_MS
from .errors import TokenStoreError, InvalidTokenError, ReadOnlyError

log = logging.getLogger("tokenstore.zoho")

SDK_MARGIN_MS = OAUTH_SDK_MARGIN_MS  # the SDK refreshes a token expiring within this
ERROR_CODE = "TOKEN_STORE"  # the code the SDK's own stores raise with

try:
    from zohocrmsdk.src.com.zoho.api.authenticator.store.token_store import (  # type: ignore
        TokenStore)
    from zohocrmsdk.src.com.zoho.api.authenticator.oauth_token import (  # type: ignore
        OAuthToken as _OAuthToken)
    from zohocrmsdk.src.com.zoho.crm.api.user_signature import (  # type: ignore
        UserSignature as _UserSignature)
    from zohocrmsdk.src.com.zoho.crm.api.exception.sdk_exception import (  # type: ignore
        SDKException as _SDKException)
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


class SDKTokenStore(TokenStore):
    """The SDK's TokenStore over a tokenstore store.

    spec is a URI or config file path as tokenstore.open() takes it (None:
    the configured store). refresh_ahead_ms: None refreshes ahead by the
    config's oauth.refresh_ahead_ms, else the library's default (60 s); 0
    turns refresh ahead off; any other value is that margin, within the
    library's bounds. oauth: OAuth settings in code (a mapping of the names
    tokenstore.conf(5) lists, e.g. {"accounts_url.EU": "https://..."}),
    over the config's. A margin or setting the library refuses, or refresh
    ahead asked of a store that cannot be written, raises here.
    """
    OAuthToken = _OAuthToken
    UserSignature = _UserSignature
    SDKException = _SDKException

    def __init__(self, spec: Optional[Spec] = None, *, refresh_ahead_ms: Optional[int] = None,
                 oauth: Optional[Mapping[str, Any]] = None) -> None:
        if self.OAuthToken is None:
            raise ImportError("the Zoho CRM Python SDK (package zohocrmsdk) is not importable: "
                              "put the directory holding zohocrmsdk on sys.path")
        self._store = _open(spec)
        self._oauth = None
        self._margin_ms = 0
        try:
            self._start_refresh_ahead(refresh_ahead_ms, oauth)
        except BaseException:
            self._store.close()
            raise

    def _start_refresh_ahead(self, refresh_ahead_ms, oauth):
        if refresh_ahead_ms == 0:
            return
        settings = dict(oauth or {})
        if refresh_ahead_ms is not None:
            settings["refresh_ahead_ms"] = refresh_ahead_ms
        try:
            self._oauth = OAuthClient(self._store, settings)
        except ReadOnlyError:
            if refresh_ahead_ms is not None or oauth:
                raise     # asked for, and it cannot work: say so now
            return
        self._margin_ms = int(self._oauth.setting("refresh_ahead_ms"))

    def close(self) -> None:
        """Closes the store; calling it again does nothing."""
        if self._oauth is not None:
            self._oauth.close()
            self._oauth = None
        self._store.close()

    def __enter__(self) -> "SDKTokenStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def store(self) -> Store:
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

    @staticmethod
    def _left_ms(t):
        """How long t's access token is good for; None for ever (no expiry
        time: the SDK leaves it alone), -1 when there is none."""
        if not t.access_token:
            return -1
        try:
            return None if t.expiry_time is None else \
                int(t.expiry_time) - int(time.time() * 1000)
        except ValueError:
            return None

    def _fresh(self, t):
        """t, refreshed first when refresh ahead is on and the SDK would
        refresh it soon: no access token, or one that expires within the
        margin. A failed refresh is logged (never a secret) and t returned
        while its access token is still good; once the SDK would refresh it
        itself (per process, the very hammering the library holds back), the
        failure is raised instead, saying when the next try is allowed."""
        left = self._left_ms(t)
        if self._oauth is None or left is None or left >= self._margin_ms:
            return t
        try:
            return self._oauth.get_access_token(Token(id=t.id))
        except TokenStoreError as e:
            if left >= SDK_MARGIN_MS:
                log.warning("refresh ahead of token %s failed; its access token is good "
                            "for %d s more: %s", t.id, left // 1000, e)
                return t
            raise self._error(e) from e

    def _exchange(self, oauth):
        """The SDK's token that is not stored but holds a grant token,
        exchanged by the library (one request per grant token, whichever
        process asks first; the others get its result) and stored; None
        when there is nothing to exchange."""
        t = self._to_token(oauth)
        if self._oauth is None or not t.grant_token or t.refresh_token or t.access_token:
            return None
        try:
            return self._oauth.get_access_token(t)
        except TokenStoreError as e:
            raise self._error(e) from e

    # -- the SDK's TokenStore

    def find_token(self, token: Any) -> Any:
        if not isinstance(token, self.OAuthToken):
            return token
        try:
            found = self._store.find(self._to_token(token))
        except InvalidTokenError:
            return None     # no key to match by: the SDK's stores find nothing
        except TokenStoreError as e:
            raise self._error(e) from e
        if found is None:
            found = self._exchange(token)
            return None if found is None else self._fill_none(token, found)
        return self._fill_none(token, self._fresh(found))

    def find_token_by_id(self, id: Union[str, int]) -> Any:
        try:
            found = self._store.find_by_id(id)
        except TokenStoreError as e:
            raise self._error(e) from e
        return self._new_oauth(self._fresh(found))

    def save_token(self, token: Any) -> None:
        if not isinstance(token, self.OAuthToken):
            return
        try:
            token.set_id(self._store.save(self._to_token(token)))
        except TokenStoreError as e:
            raise self._error(e) from e

    def delete_token(self, id: Union[str, int]) -> None:
        try:
            self._store.delete(id)
        except TokenStoreError as e:
            raise self._error(e) from e

    def get_tokens(self) -> List[Any]:
        try:
            return [self._new_oauth(t) for t in self._store.tokens()]
        except TokenStoreError as e:
            raise self._error(e) from e

    def delete_tokens(self) -> None:
        try:
            self._store.clear()
        except TokenStoreError as e:
            raise self._error(e) from e
