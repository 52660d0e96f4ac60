"""tokenstore: the Zoho CRM SDK's token stores, from Python.

A pure-Python (ctypes) binding of libtokenstore: open any store the
library can (sqlite, file, redis, memory or a third-party backend) by URI
or config file, and find, save, delete and list tokens with the SDK's
rules. tokenstore.zoho adapts a store to the Zoho Python SDK.

    import tokenstore
    with tokenstore.open("sqlite:/var/lib/app/zohooauth.db") as store:
        token = store.find({"user_name": "me@example.com"})

A Store may be shared by threads: calls on one handle to a backend that is
not thread-safe (file, sqlite, redis) take turns inside the library, so
open a store per thread for parallel round trips. close() waits for the
calls other threads have in flight, and any call after it raises
ClosedStoreError. A store opened before fork() goes on working in the
child where its backend can follow it there (the library's `forked`);
where it cannot, the child's calls raise BackendError (TS_ERR_UNSUPPORTED)
saying to open the store again. Nothing in the package prints; the
library's log lines go to the logging logger "tokenstore", at the levels
it has enabled when the store is opened.
"""
import builtins
import ctypes
import logging
import os
import threading
import urllib.parse
from typing import (Any, Dict, Iterable, Iterator, List, Mapping, NoReturn, Optional,
                    Union)

from . import _lib
from ._gate import Gate
from ._lib import FIELDS, SECRETS
from .errors import (TokenStoreError, NotFoundError, ConflictError, InvalidTokenError,
                     BackendError, ConfigError, ReadOnlyError, OAuthError, BackoffError,
                     LibraryError, ClosedStoreError, from_code)

__all__ = ["open", "Store", "Token", "OAuthClient", "FIELDS", "version", "__version__",
           "TokenStoreError", "NotFoundError", "ConflictError", "InvalidTokenError",
           "BackendError", "ConfigError", "ReadOnlyError", "OAuthError", "BackoffError",
           "LibraryError", "ClosedStoreError"]

log = logging.getLogger("tokenstore")
_FIELD_INDEX = {f: i for i, f in enumerate(FIELDS)}
_INDEXES = range(len(FIELDS))
# The library's levels (TS_LOG_*), most severe first, and logging's for each.
_LEVELS = ((_lib.LOG_ERROR, logging.ERROR), (_lib.LOG_WARN, logging.WARNING),
           (_lib.LOG_INFO, logging.INFO), (_lib.LOG_DEBUG, logging.DEBUG))
_TO_LOGGING = dict(_LEVELS)


# What a find or a save takes: a Token, or a mapping of field names to
# values (None and "" are absent; an id may be an int).
TokenLike = Union["Token", Mapping[str, Union[str, int, None]]]
# A store's spec: a URI or a config file's path (None: the configured store).
Spec = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]


def version() -> str:
    """The version of the loaded libtokenstore, e.g. "0.1.0"; the
    package's own is __version__, which equals it for the library built
    with it."""
    return _lib.lib().ts_version().decode()


try:
    from ._version import __version__
except ImportError:
    # The package run from a source tree whose build is elsewhere, so
    # configure wrote _version.py there: the version is the library's,
    # read when first asked for (as an installed package never needs).
    def __getattr__(name: str) -> str:
        if name == "__version__":
            return version()
        raise AttributeError("module 'tokenstore' has no attribute %r" % name)


def _mask(value):
    """A secret as the tokenstore command shows it: "1000…(70)"."""
    if len(value) <= 8:
        return "****"
    return "%s\u2026(%d)" % (value[:4], len(value))


class Token:
    """A token: the SDK's ten fields as attributes, None when absent.

    expiry_time is epoch milliseconds as a decimal string, ids are decimal
    strings. repr() masks the secrets as the tokenstore command does.
    """
    __slots__ = FIELDS
    id: Optional[str]
    user_name: Optional[str]
    client_id: Optional[str]
    client_secret: Optional[str]
    refresh_token: Optional[str]
    access_token: Optional[str]
    grant_token: Optional[str]
    expiry_time: Optional[str]
    redirect_url: Optional[str]
    api_domain: Optional[str]

    def __init__(self, id: Optional[str] = None, user_name: Optional[str] = None,
                 client_id: Optional[str] = None, client_secret: Optional[str] = None,
                 refresh_token: Optional[str] = None, access_token: Optional[str] = None,
                 grant_token: Optional[str] = None, expiry_time: Optional[str] = None,
                 redirect_url: Optional[str] = None, api_domain: Optional[str] = None) -> None:
        self.id = id
        self.user_name = user_name
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = refresh_token
        self.access_token = access_token
        self.grant_token = grant_token
        self.expiry_time = expiry_time
        self.redirect_url = redirect_url
        self.api_domain = api_domain

    def values(self) -> List[Optional[str]]:
        """The ten values in field order."""
        return [getattr(self, f) for f in FIELDS]

    def as_dict(self) -> Dict[str, str]:
        """The fields that are present, by name."""
        return {f: v for f, v in zip(FIELDS, self.values()) if v is not None}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Token) and self.values() == other.values()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shown = ("%s=%r" % (f, _mask(v) if f in SECRETS else v)
                 for f, v in self.as_dict().items())
        return "Token(%s)" % ", ".join(shown)


def _as_token(token_or_keys):
    if isinstance(token_or_keys, Token):
        return token_or_keys
    try:
        return Token(**dict(token_or_keys))
    except TypeError as e:
        raise TypeError("expected a Token or a mapping of field names to values: %s" % e) \
            from None


def _encode(field, value):
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise TypeError("token field %s: expected str, got %s" % (field, type(value).__name__))
    if "\0" in value:
        raise InvalidTokenError("token field %s: a value cannot hold a NUL character" % field,
                                "TS_ERR_INVALID")
    return value.encode("utf-8", "surrogateescape")


# A query of one field, packed: its value between these.
_AROUND = {f: (b"\0" * i, b"\0" * (len(FIELDS) - 1 - i)) for i, f in enumerate(FIELDS)}
_new_token = object.__new__


def _given(token_or_keys):
    """(index, field, value) for each value a Token or a mapping holds,
    refusing a name that is not a field."""
    if isinstance(token_or_keys, Token):
        pairs = zip(FIELDS, token_or_keys.values())
    else:
        pairs = token_or_keys.items()
    for f, v in pairs:
        if v is not None:
            i = _FIELD_INDEX.get(f)
            if i is None:
                raise TypeError("%r is not a token field (expected one of %s)"
                                % (f, ", ".join(FIELDS)))
            yield i, f, v


def _pack(token_or_keys):
    """The ten values of a Token or a mapping of fields, encoded and joined
    by NUL as ts_token_pack lays them out (an absent value empty)."""
    if type(token_or_keys) is dict and len(token_or_keys) == 1:
        # The common find, by user name, without the loop over ten values.
        for f, v in token_or_keys.items():
            around = _AROUND.get(f)
            if around is not None and type(v) is str and v and "\0" not in v:
                return b"%s%s%s" % (around[0], v.encode("utf-8", "surrogateescape"), around[1])
    values = [b""] * len(FIELDS)
    for i, f, v in _given(token_or_keys):
        values[i] = _encode(f, v) or b""
    return b"\0".join(values)


def _decode(raw):
    return raw.decode("utf-8", "surrogateescape") if raw else None


def _raise(rc: int, err: _lib.Error, missing: Optional[str] = None) -> NoReturn:
    """Raises the exception for result rc; err's message, else `missing`
    (what a miss means here), else the library's description of rc."""
    code = _lib.code_name(rc)
    text = err.message.decode("utf-8", "replace") if err.code == rc else ""
    if not text:
        text = missing or _lib.lib().ts_strerror(rc).decode("utf-8", "replace")
    raise from_code(code, text)


@_lib.LOG_CB
def _log_line(userdata, level, message):
    try:
        lv = _TO_LOGGING.get(level) or \
            (logging.ERROR if level < _lib.LOG_ERROR else logging.DEBUG)
        log.log(lv, "%s", message.decode("utf-8", "replace"))
    except Exception:   # an exception must not cross back into C
        pass


def _max_level():
    """The most detailed library level the logger has enabled (errors at least)."""
    most = _lib.LOG_ERROR
    for ts_level, lv in _LEVELS:
        if not log.isEnabledFor(lv):
            break
        most = ts_level
    return most


def _route_library_log(lib):
    # What the library says outside a store (a config file others can read
    # that holds a secret) goes to `logging` too, never to stderr.
    lib.ts_set_default_logger(_log_line, None, _lib.LOG_DEBUG)


_lib.on_load.append(_route_library_log)


class _Scratch:
    """One thread's C token, error and read buffers, reused across its
    calls (the read buffer wiped after each read: it holds secrets)."""
    __slots__ = ("tok", "err", "errp", "buf", "size", "view", "zeros", "len", "lenp", "_free")

    def __init__(self, lib):
        self.tok = lib.ts_token_new()
        if not self.tok:
            raise MemoryError("ts_token_new")
        self.err = _lib.Error()
        self.errp = ctypes.pointer(self.err)
        self.len = ctypes.c_size_t()
        self.lenp = ctypes.pointer(self.len)
        self.grow(2048)
        self._free = lib.ts_token_free

    def grow(self, size):
        """A read buffer of size bytes in place of the last (wiped)."""
        if getattr(self, "buf", None) is not None:
            ctypes.memset(self.buf, 0, self.size)
        self.buf = ctypes.create_string_buffer(size)
        self.size = size
        self.view = memoryview(self.buf).cast("B")
        self.zeros = memoryview(bytes(size))

    def take(self, n):
        """A Token of the n packed bytes in the read buffer, which are
        wiped (a slice assignment from zeros: no call into C)."""
        raw = self.buf[:n]
        self.view[:n] = self.zeros[:n]
        t = _new_token(Token)
        (t.id, t.user_name, t.client_id, t.client_secret, t.refresh_token, t.access_token,
         t.grant_token, t.expiry_time, t.redirect_url, t.api_domain) = \
            [v or None for v in raw.decode("utf-8", "surrogateescape").split("\0")]
        return t

    def __del__(self):
        self._free(self.tok)
        if getattr(self, "buf", None) is not None:
            ctypes.memset(self.buf, 0, self.size)


class Store:
    """An open store. Use tokenstore.open() to get one."""

    def __init__(self, spec: Optional[Spec] = None, read_only: bool = False,
                 must_exist: bool = False) -> None:
        lib = _lib.lib()
        self._lib = lib
        self._handle = None
        self._config = None
        self._tls = threading.local()
        self._gate = Gate()
        err = _lib.Error()
        cfg = ctypes.c_void_p()
        raw = None if spec is None else _spec_bytes(spec)
        rc = lib.ts_config_load(ctypes.byref(cfg), raw, ctypes.byref(err))
        if rc != _lib.OK:
            why = _not_a_config(raw, rc, err)
            if why:
                raise ConfigError(why, "TS_ERR_CONFIG")
            _raise(rc, err)
        self._config = cfg.value
        lib.ts_config_set_logger(self._config, _log_line, None, _max_level())
        flags = (_lib.OPEN_READ_ONLY if read_only else 0) | \
                (_lib.OPEN_MUST_EXIST if must_exist else 0)
        h = ctypes.c_void_p()
        rc = lib.ts_store_open_config_flags(ctypes.byref(h), self._config, flags,
                                            ctypes.byref(err))
        if rc != _lib.OK:
            lib.ts_config_free(self._config)
            self._config = None
            _raise(rc, err)
        self._handle = h.value

    # -- lifecycle

    def close(self) -> None:
        """Closes the store; calling it again does nothing. Calls other
        threads have in flight finish first; later ones raise
        ClosedStoreError."""
        gate = getattr(self, "_gate", None)
        if gate is None or not gate.close():
            return
        if self._handle is not None:
            self._lib.ts_store_close(self._handle)
            self._handle = None
        if self._config is not None:
            self._lib.ts_config_free(self._config)
            self._config = None

    @property
    def closed(self) -> bool:
        return self._gate.shut

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_handle", None) is not None:
            self.close()

    def _begin(self):
        """(store handle, this thread's scratch) for one call, which must
        end with self._gate.leave(); ClosedStoreError once close() began.
        The scratch token holds what the thread's last call left in it."""
        if not self._gate.enter():
            raise ClosedStoreError("the store is closed")
        try:
            return self._handle, self._tls.s
        except AttributeError:
            try:
                s = self._tls.s = _Scratch(self._lib)
            except BaseException:
                self._gate.leave()
                raise
            return self._handle, s

    def _enter(self):
        """_begin() with the scratch token emptied."""
        h, s = self._begin()
        self._lib.ts_token_clear(s.tok)
        return h, s

    def _fill(self, tok, token_or_keys):
        """Sets the fields of a C token from a Token or a mapping."""
        setf = self._lib.ts_token_set
        for i, f, v in _given(token_or_keys):
            setf(tok, i, _encode(f, v))

    def _read(self, s, tok=None):
        """A Token of the ten values of a C token (this thread's scratch
        token by default), in one call."""
        tok = s.tok if tok is None else tok
        n = self._lib.ts_token_pack(tok, s.buf, s.size)
        if n >= s.size:
            s.grow(n + 1)
            self._lib.ts_token_pack(tok, s.buf, s.size)
        return s.take(n)

    def info(self) -> Dict[str, Any]:
        """The backend behind the store: name, version, description, path, caps."""
        h, _ = self._enter()
        try:
            i = _lib.BackendInfo()
            self._lib.ts_store_info(h, ctypes.byref(i))
            return {"name": _decode(i.name), "version": _decode(i.version),
                    "description": _decode(i.description) or "", "path": _decode(i.path),
                    "abi": "%d.%d" % (i.abi_major, i.abi_minor), "caps": i.caps}
        finally:
            self._gate.leave()

    # -- the SDK's operations

    def find(self, token_or_keys: TokenLike) -> Optional[Token]:
        """The stored token matching a Token or a mapping of fields by the
        SDK's rules (user_name; else access_token without client
        credentials; else grant or refresh token with them), its fields
        filled only where the query left them None; None when nothing
        matches. The query is not changed."""
        query = _pack(token_or_keys)
        find = self._lib.ts_find_token_packed
        h, s = self._begin()
        try:
            # One call into C: the query and the answer cross packed.
            rc = find(h, query, len(query), s.buf, s.size, s.lenp, s.errp)
            while rc == _lib.OK and s.len.value >= s.size:
                s.grow(s.len.value + 1)
                rc = find(h, query, len(query), s.buf, s.size, s.lenp, s.errp)
            if rc == _lib.OK:
                return s.take(s.len.value)
            if rc == _lib.NOT_FOUND:
                return None
            _raise(rc, s.err)
        finally:
            self._gate.leave()

    def find_by_id(self, id: Union[str, int]) -> Token:
        """The token stored under id; NotFoundError when there is none."""
        raw = _encode("id", id)
        h, s = self._enter()
        try:
            rc = self._lib.ts_find_token_by_id(h, raw, s.tok, s.errp)
            if rc != _lib.OK:
                _raise(rc, s.err, "no token has id %r" % str(id))
            return self._read(s)
        finally:
            self._gate.leave()

    def save(self, token: TokenLike) -> str:
        """Upserts a Token (or mapping) by the SDK's rules and returns its
        id, which is also set on a Token argument."""
        t = _as_token(token)
        h, s = self._enter()
        try:
            self._fill(s.tok, t)
            rc = self._lib.ts_save_token(h, s.tok, s.errp)
            if rc != _lib.OK:
                _raise(rc, s.err)
            t.id = _decode(self._lib.ts_token_get(s.tok, 0))
            return t.id
        finally:
            self._gate.leave()

    def save_many(self, tokens: Iterable[TokenLike]) -> List[str]:
        """Saves tokens as save() in order would, in one transaction or file
        write where the backend offers it; returns their ids, also set on
        each Token. On failure nothing is saved where the backend offers a
        transaction, and the message names the index that failed."""
        ts = [_as_token(t) for t in tokens]
        lib = self._lib
        toks = (ctypes.c_void_p * max(len(ts), 1))()
        try:
            for n, t in enumerate(ts):
                toks[n] = lib.ts_token_new()
                if not toks[n]:
                    raise MemoryError("ts_token_new")
                self._fill(toks[n], t)
            h, s = self._enter()
            try:
                rc = lib.ts_save_tokens(h, toks, len(ts), s.errp)
                if rc != _lib.OK:
                    _raise(rc, s.err)
            finally:
                self._gate.leave()
            for n, t in enumerate(ts):
                t.id = _decode(lib.ts_token_get(toks[n], 0))
            return [t.id for t in ts]
        finally:
            for p in toks:
                lib.ts_token_free(p)

    def delete(self, id: Union[str, int]) -> None:
        """Deletes the token stored under id; NotFoundError when there is none."""
        raw = _encode("id", id)
        h, s = self._enter()
        try:
            rc = self._lib.ts_delete_token(h, raw, s.errp)
            if rc != _lib.OK:
                _raise(rc, s.err, "no token has id %r" % str(id))
        finally:
            self._gate.leave()

    def tokens(self) -> Iterator[Token]:
        """An iterator over every token in ascending id. The tokens are read
        in one walk of the store before the first is returned."""
        out, failure = [], []
        h, s = self._enter()

        def each(tok, userdata):
            try:
                out.append(self._read(s, tok))
                return 0
            except BaseException as e:  # must not cross back into C
                failure.append(e)
                return 1
        try:
            rc = self._lib.ts_get_tokens(h, _lib.TOKEN_CB(each), None, s.errp)
            if failure:
                raise failure[0]
            if rc != _lib.OK:
                _raise(rc, s.err)
            return iter(out)
        finally:
            self._gate.leave()

    def clear(self) -> None:
        """Deletes every token."""
        h, s = self._enter()
        try:
            rc = self._lib.ts_delete_tokens(h, s.errp)
            if rc != _lib.OK:
                _raise(rc, s.err)
        finally:
            self._gate.leave()


def _no_nul(raw, what):
    """raw, unless it holds a NUL, which C would take for its end (and so
    read another store or setting than the one given): ConfigError naming
    where, never the text, which may hold a password."""
    at = raw.find(b"\0")
    if at >= 0:
        raise ConfigError("%s holds a NUL character (at byte %d), which no URI, path or "
                          "setting may hold" % (what, at), "TS_ERR_CONFIG")
    return raw


# What the command says of a --store that is not a URI, said here of a
# spec that is neither a URI nor a config file.
_SPEC_USAGE = ("tokenstore.open() takes a URI such as sqlite:/path/tokens.db or memory:, "
               "or the path of a JSON config file")


def _is_uri(raw):
    """Whether the library reads spec as a URI (a scheme, then ':'), as
    ts_config_load decides."""
    scheme = raw.split(b":", 1)[0]
    return b":" in raw and scheme[:1].isalpha() and \
        all(c in b"+-._" or (c < 128 and chr(c).isalnum()) for c in scheme)


def _not_a_config(raw, rc, err):
    """The message for a spec that is a plain path the library could not
    read as a config: a store's own file (an SQLite database gets the URI
    to open it by), any other file that is not text, or no file at all;
    None for anything else (a config with a mistake in it keeps the
    library's message, which names the key or the line)."""
    if raw is None or _is_uri(raw) or _lib.code_name(rc) != "TS_ERR_CONFIG":
        return None
    shown = raw.decode("utf-8", "replace")
    try:
        with builtins.open(raw, "rb") as f:
            head = f.read(4096)
    except FileNotFoundError:
        return "%s; %s" % (err.message.decode("utf-8", "replace"), _SPEC_USAGE)
    except OSError:
        return None     # a directory, no permission: the library's message says it
    if head.startswith(b"SQLite format 3\0"):
        return "%s is an SQLite database, not a config file: %s (for the store in " \
            "this file: sqlite:%s)" % (shown, _SPEC_USAGE,
                                       urllib.parse.quote(os.path.abspath(shown)))
    if b"\0" in head:
        return "%s is not a config file (it is not text): %s" % (shown, _SPEC_USAGE)
    if not head.strip():
        return "%s is empty, not a config file: %s" % (shown, _SPEC_USAGE)
    return None


def _spec_bytes(spec):
    if hasattr(spec, "__fspath__"):
        spec = spec.__fspath__()
    if isinstance(spec, str):
        spec = spec.encode("utf-8", "surrogateescape")
    elif not isinstance(spec, bytes):
        raise TypeError("spec: expected a URI or a config file path, got %s"
                        % type(spec).__name__)
    return _no_nul(spec, "spec")


def open(spec: Optional[Spec] = None, read_only: bool = False,
         must_exist: bool = False) -> Store:
    """Opens a store: spec is a URI ("sqlite:/path/tokens.db") or the path
    of a JSON config file, as ts_store_open takes it; None is the
    configured store ($TOKENSTORE_CONFIG, the user's and the system's
    config.json, else the default sqlite store). must_exist never creates
    a store; read_only also never changes it and refuses every write
    (ReadOnlyError). The store is a context manager."""
    return Store(spec, read_only=read_only, must_exist=must_exist)


class OAuthClient:
    """Keeps a store's tokens valid, as ts_oauth does: settings from the
    "oauth" section of the store's config and from `settings` (a mapping
    of the same keys). However many threads and processes share the store,
    one refresh request per expiry reaches the accounts server. It uses
    the store's handle: once the store is closed, its calls raise
    ClosedStoreError."""

    def __init__(self, store: Store, settings: Optional[Mapping[str, Any]] = None) -> None:
        lib = store._lib
        self._lib, self._store = lib, store
        self._oauth = None
        self._gate = Gate()
        err = _lib.Error()
        out = ctypes.c_void_p()
        h, _ = store._enter()
        try:
            rc = lib.ts_oauth_new(ctypes.byref(out), h, store._config, ctypes.byref(err))
        finally:
            store._gate.leave()
        if rc != _lib.OK:
            _raise(rc, err)
        self._oauth = out.value
        try:
            for k, v in (settings or {}).items():
                key = _no_nul(str(k).encode(), "oauth setting name %r" % (k,))
                value = _no_nul(str(v).encode(), "oauth setting %s" % k)
                rc = lib.ts_oauth_set(self._oauth, key, value, ctypes.byref(err))
                if rc != _lib.OK:
                    _raise(rc, err)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Frees the client; calling it again does nothing. Calls other
        threads have in flight finish first."""
        gate = getattr(self, "_gate", None)
        if gate is None or not gate.close():
            return
        if self._oauth is not None:
            self._lib.ts_oauth_free(self._oauth)
            self._oauth = None

    def __del__(self):
        if getattr(self, "_oauth", None) is not None:
            self.close()

    def setting(self, key: str) -> str:
        """The value in force of an OAuth setting, as text ("" for none; a
        client_secret that is set as "****")."""
        if not self._gate.enter():
            raise ClosedStoreError("the OAuth client is closed")
        try:
            err = _lib.Error()
            buf = ctypes.create_string_buffer(1024)
            rc = self._lib.ts_oauth_get(self._oauth, _no_nul(str(key).encode(), "oauth key"),
                                        buf, len(buf), ctypes.byref(err))
            if rc != _lib.OK:
                _raise(rc, err)
            return buf.value.decode()
        finally:
            self._gate.leave()

    def get_access_token(self, token_or_keys: TokenLike) -> Token:
        """The stored token named by id or by the find key, refreshed (or
        its grant token exchanged) when its access token is missing or
        about to expire, and saved."""
        if not self._gate.enter():
            raise ClosedStoreError("the OAuth client is closed")
        try:
            store = self._store
            _, s = store._enter()
            try:
                store._fill(s.tok, token_or_keys)
                rc = self._lib.ts_oauth_get_access_token(self._oauth, s.tok, s.errp)
                if rc != _lib.OK:
                    _raise(rc, s.err)
                return store._read(s)
            finally:
                store._gate.leave()
        finally:
            self._gate.leave()
