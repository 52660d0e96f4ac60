"""The exceptions of the tokenstore package.

Every failure of the library arrives as a TokenStoreError carrying the
library's ts_code (as its name, e.g. "TS_ERR_CONFLICT") and its message,
which names what was wrong and where and never holds a secret. The
subclasses let callers catch the cases they handle differently.
"""


class TokenStoreError(Exception):
    """A failure reported by libtokenstore, or by this package around it.

    code is the ts_code name ("TS_ERR_CONFIG", ...) or None for failures
    that do not come from the library; message is the text.
    """

    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self):
        return self.message if self.code is None else "%s (%s)" % (self.message, self.code)


class NotFoundError(TokenStoreError, KeyError):
    """No token has that id (TS_NOT_FOUND)."""

    __str__ = TokenStoreError.__str__


class ConflictError(TokenStoreError):
    """The save would give one user two rows (TS_ERR_CONFLICT)."""


class InvalidTokenError(TokenStoreError, ValueError):
    """A token or id the store refuses: no lookup key, nothing to save, a
    bad id or a value with a NUL (TS_ERR_INVALID)."""


class BackendError(TokenStoreError):
    """The store failed: I/O, a server, a lock timeout, corrupt data."""


class ConfigError(BackendError):
    """A bad config file, URI or option, a backend that cannot be loaded,
    or a store that does not exist when it must (TS_ERR_CONFIG, TS_ERR_LOAD,
    TS_ERR_ABI, TS_ERR_NO_STORE)."""


class ReadOnlyError(BackendError):
    """A write through a store opened read_only=True (TS_ERR_READ_ONLY)."""


class OAuthError(TokenStoreError):
    """The accounts server could not be reached or refused (TS_ERR_HTTP,
    TS_ERR_OAUTH)."""


class BackoffError(OAuthError):
    """A recent refresh of this token failed, or its refresh budget is
    spent: the message says when the next try is allowed (TS_ERR_BACKOFF)."""


class LibraryError(TokenStoreError, OSError):
    """libtokenstore could not be loaded, or is not libtokenstore."""

    __str__ = TokenStoreError.__str__


class ClosedStoreError(TokenStoreError, ValueError):
    """A call on a store after close()."""


_BY_CODE = {
    "TS_NOT_FOUND": NotFoundError,
    "TS_ERR_CONFLICT": ConflictError,
    "TS_ERR_INVALID": InvalidTokenError,
    "TS_ERR_CONFIG": ConfigError,
    "TS_ERR_LOAD": ConfigError,
    "TS_ERR_ABI": ConfigError,
    "TS_ERR_NO_STORE": ConfigError,
    "TS_ERR_READ_ONLY": ReadOnlyError,
    "TS_ERR_HTTP": OAuthError,
    "TS_ERR_OAUTH": OAuthError,
    "TS_ERR_BACKOFF": BackoffError,
}


def from_code(code, message):
    """The exception for a ts_code name and message."""
    return _BY_CODE.get(code, BackendError)(message, code)
