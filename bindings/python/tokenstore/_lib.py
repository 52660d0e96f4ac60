"""Loading libtokenstore and libtokenstore-oauth and declaring the C
functions the package calls.

Every function is declared with argtypes and restype before it is used, so
a call with the wrong arguments raises a Python error instead of crashing,
and tests/python catches a declaration that drifts from tokenstore.h.
Opaque handles (ts_store *, ts_token *, ts_config *, ts_oauth *) travel as
c_void_p: ctypes converts those fastest, and Python never looks inside.

The library is loaded on first use, not at import, so that `import
tokenstore` always works and a library that cannot be found is reported
as a LibraryError naming every place that was tried: the file
TOKENSTORE_LIBRARY names when it is set (then nothing else, so that a
wrong path is never covered by another copy of the library), else the
dynamic loader's search for libtokenstore.so.1, ctypes.util.find_library
and the libdir that pkg-config gives for tokenstore.pc (an install under
/usr/local before ldconfig has run, or under a prefix of its own).
"""
import ctypes
import ctypes.util
import os
import subprocess
import threading
from typing import Any, Callable, List, Optional

from ._constants import (ERROR_FIELDS, ERROR_MAX, FIELDS, LOG_DEBUG, LOG_ERROR, LOG_INFO,
                         LOG_WARN, NOT_FOUND, OAUTH_SETTING_FIELDS, OK, OPEN_MUST_EXIST,
                         OPEN_READ_ONLY)
from .errors import LibraryError

LIBRARY_NAME = "libtokenstore.so.1"
# The OAuth client's library (ts_oauth_* but the settings): the
# TOKENSTORE_OAUTH_LIBRARY path, else this name beside TOKENSTORE_LIBRARY,
# else this name where the dynamic loader looks.
OAUTH_LIBRARY_NAME = "libtokenstore-oauth.so.1"

# ERROR_MAX, FIELDS (the ts_field names, in the SDK's column order), OK and
# NOT_FOUND, the OPEN_* flags, the LOG_* levels and the members of struct
# ts_error and struct ts_oauth_setting are the C headers', in _constants,
# which make writes from them (bindings/python/gen_constants.py). Every
# code but TS_OK and TS_NOT_FOUND is named by the library (ts_code_name),
# so a code added there needs nothing here.
SECRETS = frozenset(("client_secret", "refresh_token", "access_token", "grant_token"))


class Error(ctypes.Structure):
    """struct ts_error."""
    _fields_ = ERROR_FIELDS


class OAuthSetting(ctypes.Structure):
    """struct ts_oauth_setting."""
    _fields_ = OAUTH_SETTING_FIELDS


# struct ts_backend_info as the symbol ts_store_info fills it: the layout
# before 1.5, which that symbol keeps for callers built before it (the
# header's struct now starts with its size, and its ts_store_info is a
# macro over ts_store_info_sized, which libraries before 1.5 lack).
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
    "ts_find_token_packed": (I, [P, S, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t,
                                 ctypes.POINTER(ctypes.c_size_t), ERR]),
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


def _pkg_config_libdir():
    """The libdir of tokenstore.pc, or (None, why not)."""
    try:
        out = subprocess.run(["pkg-config", "--variable=libdir", "tokenstore"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, timeout=10)
    except FileNotFoundError:
        return None, "pkg-config is not installed"
    except (OSError, subprocess.SubprocessError) as e:
        return None, "pkg-config did not run: %s" % e
    libdir = out.stdout.decode("utf-8", "replace").strip()
    if out.returncode != 0 or not libdir:
        why = out.stderr.decode("utf-8", "replace").strip().splitlines()
        return None, "no tokenstore.pc on its search path%s" % (
            " (%s)" % why[0] if why else "")
    return libdir, None


def _candidates():
    """(how it was found, what to dlopen or None, why not) in the order
    they are tried; computed lazily, as each before it fails."""
    yield "the dynamic loader's search for %s (LD_LIBRARY_PATH, ld.so.cache, " \
        "/lib, /usr/lib)" % LIBRARY_NAME, LIBRARY_NAME, None
    found = ctypes.util.find_library("tokenstore")
    what = "ctypes.util.find_library('tokenstore')"
    if not found:
        yield what, None, "found nothing"
    elif not found.endswith(LIBRARY_NAME):
        yield what, None, "found %s, not %s" % (found, LIBRARY_NAME)
    elif found != LIBRARY_NAME:
        yield what, found, None
    libdir, why = _pkg_config_libdir()
    what = "pkg-config --variable=libdir tokenstore"
    if libdir is None:
        yield what, None, why
    else:
        yield "%s (%s)" % (what, libdir), os.path.join(libdir, LIBRARY_NAME), None


def _open():
    """(the library, where it came from); LibraryError naming every
    place tried."""
    path = os.environ.get("TOKENSTORE_LIBRARY")
    if path:
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            raise LibraryError("cannot load libtokenstore from TOKENSTORE_LIBRARY=%s: %s "
                               "(nothing else is tried while it is set)" % (path, e)) from None
    tried = []
    for what, target, why in _candidates():
        if target is not None:
            try:
                lib = ctypes.CDLL(target)
                # The file the loader chose, for messages and for tests.
                return lib, _loaded_path(target) or target
            except OSError as e:
                why = str(e)
        tried.append("%s: %s" % (what, why))
    raise LibraryError("cannot load libtokenstore: tried %s. Install it (run ldconfig after "
                       "installing into /usr/local) or set TOKENSTORE_LIBRARY to the path of "
                       "%s" % ("; ".join(tried), LIBRARY_NAME))


def _loaded_path(name):
    """The file (symbolic links resolved) that a loaded library NAME came
    from, read from the process's maps; None when it cannot be told."""
    base = os.path.basename(name)
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                p = line.rstrip("\n").split(None, 5)
                if len(p) == 6 and os.path.basename(p[5]).startswith(base):
                    return p[5]
    except OSError:
        pass
    return None


def _oauth_path(base):
    """Where libtokenstore-oauth is, and the words that say why there:
    TOKENSTORE_OAUTH_LIBRARY, else beside the libtokenstore that was
    loaded (base), else as the dynamic loader finds it."""
    path = os.environ.get("TOKENSTORE_OAUTH_LIBRARY")
    if path:
        return path, "TOKENSTORE_OAUTH_LIBRARY=%s" % path
    if base and os.sep in base:
        path = os.path.join(os.path.dirname(base), OAUTH_LIBRARY_NAME)
        return path, "%s (beside libtokenstore; set TOKENSTORE_OAUTH_LIBRARY to " \
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
    global loaded_from
    lib, path = _open()
    for _ in _declare(lib, path, "libtokenstore 1.4 or later", SIGNATURES):
        pass
    loaded_from = path
    # The OAuth client is a library of its own (libtokenstore-oauth); its
    # functions are set on lib, so callers find every function in one place.
    # Without it, reading and writing tokens still works, and the first
    # ts_oauth_* call raises the LibraryError that names the path.
    oauth_path, where = _oauth_path(path)
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


# The file the library was loaded from, once it is.
loaded_from = None  # type: Optional[str]


# Called with the library once it is loaded (the package routes the
# library's process-wide log lines to `logging` there).
on_load = []  # type: List[Callable[[Any], None]]


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
