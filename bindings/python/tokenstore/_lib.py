"""Loading libtokenstore and libtokenstore-oauth and declaring the C
functions the package calls.

Every function is declared with argtypes and restype before it is used, so
a call with the wrong arguments raises a Python error instead of crashing,
and tests/python catches a declaration that drifts from tokenstore.h.
Opaque handles (ts_store *, ts_token *, ts_config *, ts_oauth *) travel as
c_void_p: ctypes converts those fastest, and Python never looks inside.

The library is loaded on first use, not at import, so that `import
tokenstore` always works and a wrong TOKENSTORE_LIBRARY is reported as a
LibraryError naming the path.
"""
import ctypes
import os
import threading

from .errors import LibraryError

LIBRARY_NAME = "libtokenstore.so.1"
# The OAuth client's library (ts_oauth_* but the settings): the
# TOKENSTORE_OAUTH_LIBRARY path, else this name beside TOKENSTORE_LIBRARY,
# else this name where the dynamic loader looks.
OAUTH_LIBRARY_NAME = "libtokenstore-oauth.so.1"
ERROR_MAX = 512   # TS_ERROR_MAX in tokenstore/types.h

# Field indexes and names, in the SDK's column order (enum ts_field).
FIELDS = ("id", "user_name", "client_id", "client_secret", "refresh_token",
          "access_token", "grant_token", "expiry_time", "redirect_url", "api_domain")
SECRETS = frozenset(("client_secret", "refresh_token", "access_token", "grant_token"))

# TS_OK and TS_NOT_FOUND; every other code's name comes from the library
# (ts_code_name), so a code added there needs nothing here.
OK, NOT_FOUND = 0, 1

OPEN_MUST_EXIST = 1 << 0
OPEN_READ_ONLY = 1 << 1
LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG = range(4)


class Error(ctypes.Structure):
    """struct ts_error."""
    _fields_ = [("code", ctypes.c_int), ("message", ctypes.c_char * ERROR_MAX)]


class OAuthSetting(ctypes.Structure):
    """struct ts_oauth_setting."""
    _fields_ = [("name", ctypes.c_char_p), ("default_value", ctypes.c_char_p),
                ("is_number", ctypes.c_int), ("min", ctypes.c_longlong),
                ("max", ctypes.c_longlong), ("summary", ctypes.c_char_p)]


class BackendInfo(ctypes.Structure):
    """struct ts_backend_info."""
    _fields_ = [("name", ctypes.c_char_p), ("version", ctypes.c_char_p),
                ("description", ctypes.c_char_p), ("path", ctypes.c_char_p),
                ("abi_major", ctypes.c_uint), ("abi_minor", ctypes.c_uint),
                ("caps", ctypes.c_uint32)]


P = ctypes.c_void_p
S = ctypes.c_char_p
I = ctypes.c_int
ERR = ctypes.POINTER(Error)
OUT = ctypes.POINTER(ctypes.c_void_p)
TOKEN_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
LOG_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p)

# name: (restype, argtypes), exactly as tokenstore.h declares them.
SIGNATURES = {
    "ts_version": (S, []),
    "ts_strerror": (S, [I]),
    "ts_code_name": (S, [I]),
    "ts_set_default_logger": (None, [LOG_CB, P, I]),
    "ts_token_new": (P, []),
    "ts_token_free": (None, [P]),
    "ts_token_get": (S, [P, I]),
    "ts_token_pack": (ctypes.c_size_t, [P, ctypes.c_char_p, ctypes.c_size_t]),
    "ts_token_set": (I, [P, I, S]),
    "ts_token_clear": (None, [P]),
    "ts_config_load": (I, [OUT, S, ERR]),
    "ts_config_free": (None, [P]),
    "ts_config_set_logger": (None, [P, LOG_CB, P, I]),
    "ts_config_origin": (S, [P]),
    "ts_store_open_config_flags": (I, [OUT, P, ctypes.c_uint, ERR]),
    "ts_store_close": (None, [P]),
    "ts_store_info": (None, [P, ctypes.POINTER(BackendInfo)]),
    "ts_find_token": (I, [P, P, ERR]),
    "ts_find_token_by_id": (I, [P, S, P, ERR]),
    "ts_save_token": (I, [P, P, ERR]),
    "ts_save_tokens": (I, [P, ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t, ERR]),
    "ts_delete_token": (I, [P, S, ERR]),
    "ts_get_tokens": (I, [P, TOKEN_CB, P, ERR]),
    "ts_delete_tokens": (I, [P, ERR]),
    "ts_oauth_settings": (ctypes.POINTER(OAuthSetting), [ctypes.POINTER(ctypes.c_size_t)]),
}

# The same, of libtokenstore-oauth.
OAUTH_SIGNATURES = {
    "ts_oauth_new": (I, [OUT, P, P, ERR]),
    "ts_oauth_set": (I, [P, S, S, ERR]),
    "ts_oauth_free": (None, [P]),
    "ts_oauth_get_access_token": (I, [P, P, ERR]),
    "ts_oauth_get": (I, [P, S, ctypes.c_char_p, ctypes.c_size_t, ERR]),
}

_lock = threading.Lock()
_lib = None


def _new_lock_in_child():
    # Another thread of the parent may have been loading the library at
    # fork(); that thread is not in the child, and its lock would stay held.
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_new_lock_in_child)


def _oauth_path():
    """Where libtokenstore-oauth is, and the words that say why there."""
    path = os.environ.get("TOKENSTORE_OAUTH_LIBRARY")
    if path:
        return path, "TOKENSTORE_OAUTH_LIBRARY=%s" % path
    base = os.environ.get("TOKENSTORE_LIBRARY")
    if base and os.sep in base:
        path = os.path.join(os.path.dirname(base), OAUTH_LIBRARY_NAME)
        return path, "%s (beside TOKENSTORE_LIBRARY; set TOKENSTORE_OAUTH_LIBRARY to " \
            "its path)" % path
    return OAUTH_LIBRARY_NAME, "%s (set TOKENSTORE_OAUTH_LIBRARY to its path)" \
        % OAUTH_LIBRARY_NAME


def _declare(lib, path, what, signatures):
    for name, (restype, argtypes) in signatures.items():
        try:
            fn = getattr(lib, name)
        except AttributeError:
            raise LibraryError("%s is not %s: it has no %s()" % (path, what, name)) from None
        fn.restype = restype
        fn.argtypes = argtypes
        yield name, fn


def _load():
    path = os.environ.get("TOKENSTORE_LIBRARY") or LIBRARY_NAME
    try:
        lib = ctypes.CDLL(path)
    except OSError as e:
        where = "TOKENSTORE_LIBRARY=%s" % path if os.environ.get("TOKENSTORE_LIBRARY") \
            else "%s (set TOKENSTORE_LIBRARY to its path)" % path
        raise LibraryError("cannot load libtokenstore from %s: %s" % (where, e)) from None
    for _ in _declare(lib, path, "libtokenstore 1.4 or later", SIGNATURES):
        pass
    # The OAuth client is a library of its own (libtokenstore-oauth); its
    # functions are set on lib, so callers find every function in one place.
    # Without it, reading and writing tokens still works, and the first
    # ts_oauth_* call raises the LibraryError that names the path.
    oauth_path, where = _oauth_path()
    try:
        oauth = ctypes.CDLL(oauth_path)
    except OSError as e:
        why = "cannot load libtokenstore-oauth from %s: %s" % (where, e)

        def missing(*args):
            raise LibraryError(why)
        for name in OAUTH_SIGNATURES:
            setattr(lib, name, missing)
        return lib
    for name, fn in _declare(oauth, oauth_path, "libtokenstore-oauth", OAUTH_SIGNATURES):
        setattr(lib, name, fn)
    return lib


# Called with the library once it is loaded (the package routes the
# library's process-wide log lines to `logging` there).
on_load = []


def lib():
    """The loaded library; LibraryError when it cannot be loaded."""
    global _lib
    if _lib is None:
        with _lock:
            if _lib is None:
                loaded = _load()
                for hook in on_load:
                    hook(loaded)
                _lib = loaded
    return _lib


def code_name(rc):
    """The name of a ts_code ("TS_ERR_BUSY"), as the library spells it."""
    name = lib().ts_code_name(rc)
    return name.decode() if name else "code %d" % rc


def oauth_settings():
    """The library's OAuth settings: {name: (default, min, max or None)}."""
    n = ctypes.c_size_t()
    table = lib().ts_oauth_settings(ctypes.byref(n))
    return {table[i].name.decode(): (table[i].default_value.decode(),
                                     (table[i].min, table[i].max) if table[i].is_number
                                     else None)
            for i in range(n.value)}
