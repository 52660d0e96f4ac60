#!/usr/bin/env python3
"""tests/python/test_store.py - the tokenstore package against real stores.

Every Store call on sqlite and file stores in a scratch directory and on a
redis-server started for the test; the SDK's rules as the package exposes
them; the errors a caller sees for a wrong library, a closed store and a
bad spec; a store shared by threads. Prints TAP.
"""
import ctypes
import json
import logging
import os
import pathlib
import shutil
import subprocess
import sys
import threading
import unittest

import support
import tokenstore
from tokenstore import Token, _constants, _lib

SCRATCH = support.scratch()
REDIS = None
SECRET = "1000.0123456789abcdef0123456789abcdef.fedcba9876543210fedcba9876543210abcd"


def setUpModule():
    global REDIS
    REDIS = support.Redis(os.path.join(SCRATCH, "redis"))


def tearDownModule():
    REDIS.stop()


def full(user, n=1):
    return Token(user_name=user, client_id="1000.CLIENT", client_secret="secret-%d" % n,
                 refresh_token="1000.refresh.%d" % n, access_token="1000.access.%d" % n,
                 grant_token="1000.grant.%d" % n, expiry_time="1714564800000",
                 redirect_url="https://app.example.com/cb", api_domain="https://www.zohoapis.eu")


class Contract:
    """The Store calls, run once per backend by the subclasses below."""
    n = 0

    def setUp(self):
        Contract.n += 1
        self.spec = self.make_spec(Contract.n)
        self.store = tokenstore.open(self.spec)

    def tearDown(self):
        self.store.close()

    def test_save_then_find_by_user_returns_every_field(self):
        t = full("a@example.com")
        self.assertEqual(self.store.save(t), "1")
        self.assertEqual(t.id, "1")
        got = self.store.find({"user_name": "a@example.com"})
        expected = full("a@example.com")
        expected.id = "1"
        self.assertEqual(got, expected)

    def test_find_fills_only_the_fields_left_none(self):
        self.store.save(full("a@example.com"))
        query = Token(user_name="a@example.com", access_token="mine")
        got = self.store.find(query)
        self.assertEqual((got.access_token, got.refresh_token, got.id),
                         ("mine", "1000.refresh.1", "1"))
        self.assertIsNone(query.refresh_token, "the query is left as it was")

    def test_find_by_refresh_token_needs_client_credentials(self):
        self.store.save(full("a@example.com"))
        got = self.store.find({"refresh_token": "1000.refresh.1", "client_id": "1000.CLIENT",
                               "client_secret": "secret-1"})
        self.assertEqual(got.user_name, "a@example.com")
        self.assertEqual(self.store.find({"access_token": "1000.access.1"}).id, "1")
        with self.assertRaises(tokenstore.InvalidTokenError):
            self.store.find({"refresh_token": "1000.refresh.1"})

    def test_a_miss_is_none(self):
        self.assertIsNone(self.store.find({"user_name": "nobody@example.com"}))

    def test_find_by_id_and_a_missing_id(self):
        self.store.save(full("a@example.com"))
        self.assertEqual(self.store.find_by_id("1").user_name, "a@example.com")
        self.assertEqual(self.store.find_by_id(1).user_name, "a@example.com")
        with self.assertRaises(tokenstore.NotFoundError) as cm:
            self.store.find_by_id("42")
        self.assertEqual(cm.exception.code, "TS_NOT_FOUND")
        self.assertIn("42", str(cm.exception))
        with self.assertRaises(tokenstore.InvalidTokenError):
            self.store.find_by_id("x1")

    def test_save_updates_the_users_row_and_merges(self):
        self.store.save(full("a@example.com"))
        t = Token(user_name="a@example.com", access_token="1000.access.new",
                  expiry_time="1893456000000")
        self.assertEqual(self.store.save(t), "1")
        got = self.store.find_by_id("1")
        self.assertEqual((got.access_token, got.expiry_time, got.refresh_token),
                         ("1000.access.new", "1893456000000", "1000.refresh.1"))
        self.assertEqual(len(list(self.store.tokens())), 1)

    def test_conflict_and_nothing_to_save(self):
        self.store.save(full("a@example.com"))
        self.store.save(full("b@example.com", 2))
        with self.assertRaises(tokenstore.ConflictError) as cm:
            self.store.save(Token(id="2", user_name="a@example.com", refresh_token="r"))
        self.assertEqual(cm.exception.code, "TS_ERR_CONFLICT")
        with self.assertRaises(tokenstore.InvalidTokenError) as cm:
            self.store.save(Token(user_name="new@example.com", client_id="c"))
        self.assertIn("refresh_token", str(cm.exception))
        self.assertEqual(self.store.find_by_id("2").user_name, "b@example.com")

    def test_delete_and_a_missing_id(self):
        self.store.save(full("a@example.com"))
        self.store.delete("1")
        self.assertIsNone(self.store.find({"user_name": "a@example.com"}))
        with self.assertRaises(tokenstore.NotFoundError):
            self.store.delete("1")

    def test_tokens_in_numeric_id_order_and_clear(self):
        for i in (10, 2, 1):
            self.store.save(Token(id=str(i), user_name="u%d" % i, refresh_token="r%d" % i))
        self.assertEqual([t.id for t in self.store.tokens()], ["1", "2", "10"])
        self.store.clear()
        self.assertEqual(list(self.store.tokens()), [])

    def test_save_many_sets_ids_and_names_the_bad_index(self):
        ts = [full("u%d@example.com" % i, i) for i in range(5)]
        self.assertEqual(self.store.save_many(ts), ["1", "2", "3", "4", "5"])
        self.assertEqual(ts[4].id, "5")
        with self.assertRaises(tokenstore.InvalidTokenError) as cm:
            self.store.save_many([full("v@example.com"), Token(user_name="w")])
        self.assertIn("token 1: ", str(cm.exception))
        # sqlite and file save a batch in one transaction or write; the
        # others keep the tokens before the refused one (ts_save_tokens).
        saved = self.store.find({"user_name": "v@example.com"})
        if self.backend in ("sqlite", "file"):
            self.assertIsNone(saved, "a refused batch saves none of its tokens")
        else:
            self.assertEqual(saved.user_name, "v@example.com")

    def test_values_round_trip_byte_for_byte(self):
        odd = "ünïcode, \"quoted\"\n\t; ✓ \udcff"      # \udcff: the byte 0xff
        self.store.save(Token(user_name=odd, refresh_token=odd, api_domain=" "))
        got = self.store.find({"user_name": odd})
        self.assertEqual((got.refresh_token, got.api_domain), (odd, " "))
        with self.assertRaises(tokenstore.InvalidTokenError) as cm:
            self.store.save(Token(user_name="a\0b", refresh_token="r"))
        self.assertIn("user_name", str(cm.exception))

    def test_find_answers_in_one_call_whatever_the_query_and_answer(self):
        # A find crosses into C once, the query and the answer packed: an
        # answer larger than the thread's read buffer (2 KiB at first),
        # then a small one from the same buffer, a query by several keys,
        # by a Token, by a number, and queries the package refuses.
        big = "1000." + "b" * 9000
        self.store.save(Token(user_name="big@example.com", client_id="1000.CLIENT",
                              client_secret="secret", refresh_token=big, access_token=big[:3000]))
        self.store.save(full("a@example.com"))
        got = self.store.find({"user_name": "big@example.com"})
        self.assertEqual((got.id, got.refresh_token, got.access_token, got.api_domain),
                         ("1", big, big[:3000], None))
        self.assertEqual(self.store.find({"user_name": "a@example.com"}).refresh_token,
                         "1000.refresh.1")
        got = self.store.find({"client_id": "1000.CLIENT", "client_secret": "secret",
                               "refresh_token": big, "redirect_url": "https://mine"})
        self.assertEqual((got.id, got.user_name, got.redirect_url),
                         ("1", "big@example.com", "https://mine"))
        got = self.store.find(Token(user_name="a@example.com", api_domain="https://mine"))
        self.assertEqual((got.id, got.api_domain, got.grant_token),
                         ("2", "https://mine", "1000.grant.1"))
        self.assertEqual(self.store.find({"user_name": "a@example.com", "id": None}).id, "2")
        with self.assertRaises(tokenstore.InvalidTokenError):
            self.store.find({"user_name": ""})          # empty is absent: no key
        with self.assertRaises(tokenstore.InvalidTokenError) as cm:
            self.store.find({"user_name": "a\0b"})
        self.assertIn("user_name", str(cm.exception))
        with self.assertRaises(TypeError) as cm:
            self.store.find({"username": "a@example.com"})
        self.assertIn("'username' is not a token field", str(cm.exception))
        with self.assertRaises(TypeError):
            self.store.find({"user_name": 1.5})

    def test_info_names_the_backend(self):
        info = self.store.info()
        self.assertEqual(info["name"], self.backend)
        self.assertTrue(info["path"].endswith("/%s.so" % self.backend), info["path"])

    def test_tokens_outlive_the_handle(self):
        self.store.save(full("a@example.com"))
        self.store.close()
        with tokenstore.open(self.spec) as again:
            self.assertEqual(again.find({"user_name": "a@example.com"}).id, "1")


class Sqlite(Contract, unittest.TestCase):
    backend = "sqlite"

    def make_spec(self, n):
        return "sqlite:" + os.path.join(SCRATCH, "t%d.db" % n)


class File(Contract, unittest.TestCase):
    backend = "file"

    def make_spec(self, n):
        return "file:" + os.path.join(SCRATCH, "t%d.csv" % n)


class Redis(Contract, unittest.TestCase):
    backend = "redis"

    def make_spec(self, n):
        return REDIS.uri(n % 16, "py%d:" % n)


class Errors(unittest.TestCase):
    def run_python(self, code, **env):
        e = support.env_for_children()
        e.update(env)
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env=e)

    def test_a_wrong_library_path_is_a_library_error_naming_it(self):
        out = self.run_python("import tokenstore\ntry:\n tokenstore.open('memory:')\n"
                              "except tokenstore.LibraryError as e:\n print(e)",
                              TOKENSTORE_LIBRARY="/nonexistent/libtokenstore.so.1")
        self.assertIn("cannot load libtokenstore from TOKENSTORE_LIBRARY="
                      "/nonexistent/libtokenstore.so.1", out.stdout)
        self.assertEqual(out.stderr, "")

    def run_unset(self, code, **env):
        """run_python without TOKENSTORE_LIBRARY, and with only the given
        LD_LIBRARY_PATH and pkg-config search path."""
        e = support.env_for_children()
        for k in ("TOKENSTORE_LIBRARY", "LD_LIBRARY_PATH", "PKG_CONFIG_PATH",
                  "PKG_CONFIG_LIBDIR"):
            e.pop(k, None)
        e.update(env)
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env=e)

    # Where a libtokenstore.so.1 is installed (ld.so.cache), the child is
    # made not to see it: dlopen of the bare name fails as it would on a
    # machine without it, and find_library finds nothing.
    HIDE = "import ctypes, ctypes.util\n" \
        "_CDLL = ctypes.CDLL\n" \
        "class _NotInstalled(_CDLL):\n" \
        " def __init__(self, name, *a, **k):\n" \
        "  if name == 'libtokenstore.so.1':\n" \
        "   raise OSError('libtokenstore.so.1: cannot open shared object file: '\n" \
        "                 'No such file or directory')\n" \
        "  _CDLL.__init__(self, name, *a, **k)\n" \
        "ctypes.CDLL = _NotInstalled\n" \
        "ctypes.util.find_library = lambda name: None\n"

    def not_installed(self):
        """Code to run first in the child: nothing, or HIDE where the
        loader finds an installed libtokenstore.so.1."""
        out = self.run_unset("import ctypes\ntry:\n ctypes.CDLL('libtokenstore.so.1')\n"
                             "except OSError:\n print('absent')")
        return "" if out.stdout.strip() == "absent" else self.HIDE

    BUILT = os.path.realpath(os.path.join(support.TOP_BUILDDIR, "core", ".libs",
                                          "libtokenstore.so.1"))
    SHOW = "import tokenstore\nfrom tokenstore import _lib\n" \
        "try:\n print(tokenstore.version(), _lib.loaded_from)\n" \
        "except tokenstore.LibraryError as e:\n print(e)"

    def test_without_tokenstore_library_the_loader_searches(self):
        out = self.run_unset(self.SHOW, LD_LIBRARY_PATH=os.path.dirname(self.BUILT))
        self.assertEqual(out.stdout.split(), [tokenstore.version(), self.BUILT], out.stderr)

    def test_then_the_libdir_of_pkg_config(self):
        if not shutil.which("pkg-config"):
            self.skipTest("pkg-config is not installed")
        hide = self.not_installed()
        pc = os.path.join(SCRATCH, "pc")
        os.makedirs(pc, exist_ok=True)
        with open(os.path.join(pc, "tokenstore.pc"), "w") as f:
            f.write("libdir=%s\nName: tokenstore\nDescription: x\nVersion: %s\n"
                    "Libs: -L${libdir} -ltokenstore\n"
                    % (os.path.dirname(self.BUILT), tokenstore.version()))
        out = self.run_unset(hide + self.SHOW, PKG_CONFIG_PATH=pc)
        self.assertEqual(out.stdout.split(), [tokenstore.version(), self.BUILT], out.stderr)

    def test_a_library_found_nowhere_is_an_error_naming_each_place_tried(self):
        hide = self.not_installed()
        empty = os.path.join(SCRATCH, "no-pc")
        os.makedirs(empty, exist_ok=True)
        out = self.run_unset(hide + self.SHOW, PKG_CONFIG_PATH=empty,
                             PKG_CONFIG_LIBDIR=empty)
        msg = out.stdout
        self.assertIn("cannot load libtokenstore: tried the dynamic loader's search for "
                      "libtokenstore.so.1", msg)
        self.assertIn("cannot open shared object file", msg)
        self.assertIn("ctypes.util.find_library('tokenstore'): found nothing", msg)
        self.assertRegex(msg, r"pkg-config --variable=libdir tokenstore: (no tokenstore\.pc"
                         r"|pkg-config is not installed)")
        self.assertIn("set TOKENSTORE_LIBRARY to the path of libtokenstore.so.1", msg)
        self.assertEqual(out.stderr, "")

    def test_a_wrong_oauth_library_path_is_a_library_error_naming_it(self):
        # Tokens are read and written without the OAuth client's library;
        # the client itself is refused, naming the path.
        out = self.run_python("import tokenstore\n"
                              "with tokenstore.open('memory:') as s:\n"
                              " s.save({'user_name': 'a@x.com', 'refresh_token': 'r'})\n"
                              " print(s.find({'user_name': 'a@x.com'}).id)\n"
                              " try:\n  tokenstore.OAuthClient(s)\n"
                              " except tokenstore.LibraryError as e:\n  print(e)",
                              TOKENSTORE_OAUTH_LIBRARY="/nonexistent/libtokenstore-oauth.so.1")
        self.assertEqual(out.stderr, "")
        lines = out.stdout.splitlines()
        self.assertEqual(lines[0], "1")
        self.assertIn("cannot load libtokenstore-oauth from TOKENSTORE_OAUTH_LIBRARY="
                      "/nonexistent/libtokenstore-oauth.so.1", lines[1])

    def test_the_oauth_library_is_found_beside_libtokenstore(self):
        # Without TOKENSTORE_OAUTH_LIBRARY: the directory of TOKENSTORE_LIBRARY.
        lib = os.path.join(SCRATCH, "libdir")
        os.makedirs(lib, exist_ok=True)
        for d, name in (("core", "libtokenstore.so.1"), ("oauth", "libtokenstore-oauth.so.1")):
            dst = os.path.join(lib, name)
            if not os.path.exists(dst):
                os.symlink(os.path.join(support.TOP_BUILDDIR, d, ".libs", name), dst)
        e = support.env_for_children()
        e.pop("TOKENSTORE_OAUTH_LIBRARY", None)
        e.pop("LD_LIBRARY_PATH", None)          # found by its path, not by the loader
        e["TOKENSTORE_LIBRARY"] = os.path.join(lib, "libtokenstore.so.1")
        code = ("import tokenstore\n"
                "with tokenstore.open('memory:') as s:\n"
                " c = tokenstore.OAuthClient(s)\n"
                " print(c.setting('refresh_ahead_ms'))\n c.close()\n")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=e)
        self.assertEqual((out.returncode, out.stderr), (0, ""))
        self.assertEqual(out.stdout, "60000\n")
        os.remove(os.path.join(lib, "libtokenstore-oauth.so.1"))
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=e)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("cannot load libtokenstore-oauth from %s (beside libtokenstore"
                      % os.path.join(lib, "libtokenstore-oauth.so.1"), out.stderr)

    def test_the_library_warns_through_logging_never_on_stderr(self):
        # A config file others may read with a client secret in it: the
        # library's warning, said before any store exists, reaches logging.
        cfg = os.path.join(SCRATCH, "readable.json")
        with open(cfg, "w") as f:
            json.dump({"store": "memory:", "oauth": {"client_secret": "s3cret-value"}}, f)
        os.chmod(cfg, 0o644)
        out = self.run_python(
            "import io, logging, tokenstore\n"
            "buf = io.StringIO()\n"
            "logging.basicConfig(stream=buf, level=logging.WARNING,\n"
            "                    format='%%(name)s:%%(levelname)s:%%(message)s')\n"
            "tokenstore.open(%r).close()\n"
            "print(buf.getvalue(), end='')\n" % cfg)
        self.assertEqual(out.stderr, "")
        self.assertIn("tokenstore:WARNING:%s holds secrets (oauth.client_secret) but is "
                      "readable by group or others (mode 0644): chmod 600" % cfg, out.stdout)
        self.assertNotIn("s3cret-value", out.stdout)

    def test_a_library_that_is_not_libtokenstore_is_refused(self):
        so = os.path.join(support.TOP_BUILDDIR, "plugins", "memory", ".libs", "memory.so")
        out = self.run_python("import tokenstore\ntry:\n tokenstore.version()\n"
                              "except tokenstore.LibraryError as e:\n print(e)",
                              TOKENSTORE_LIBRARY=so)
        self.assertIn("is not libtokenstore 1.4 or later: it has no ts_version()",
                      out.stdout)

    def test_a_closed_store_raises_and_close_is_idempotent(self):
        with tokenstore.open("memory:") as store:
            store.save(full("a@example.com"))
        self.assertTrue(store.closed)
        store.close()
        for call in (lambda: store.find({"user_name": "a@example.com"}),
                     lambda: store.save(full("b")), lambda: store.tokens(),
                     lambda: store.find_by_id("1"), store.clear):
            with self.assertRaises(tokenstore.ClosedStoreError) as cm:
                call()
            self.assertEqual(str(cm.exception), "the store is closed")

    def test_a_bad_spec_names_what_is_wrong(self):
        with self.assertRaises(tokenstore.ConfigError) as cm:
            tokenstore.open("nosuchbackend:/x")
        self.assertIn("nosuchbackend", str(cm.exception))
        bad = os.path.join(SCRATCH, "bad.json")
        with open(bad, "w") as f:
            f.write('{"store": {"backend": "sqlite", "options": {"pathh": "x.db"}}}')
        with self.assertRaises(tokenstore.ConfigError) as cm:
            tokenstore.open(bad)
        self.assertIn(bad, str(cm.exception))
        self.assertIn("pathh", str(cm.exception))
        with self.assertRaises(tokenstore.ConfigError) as cm:
            tokenstore.open(os.path.join(SCRATCH, "missing.json"))
        self.assertIn("missing.json", str(cm.exception))
        with self.assertRaises(TypeError):
            tokenstore.open(42)

    def test_a_plain_path_gets_the_usage_the_command_gives(self):
        # The command's word for `--store /path/zohooauth.db`; open() takes
        # config files too, so it says which kind of file it was given.
        usage = "tokenstore.open() takes a URI such as sqlite:/path/tokens.db or memory:, " \
            "or the path of a JSON config file"
        db = os.path.join(SCRATCH, "plain", "zohooauth.db")
        os.makedirs(os.path.dirname(db), exist_ok=True)
        with tokenstore.open("sqlite:" + db) as store:
            store.save(full("a@example.com"))
        for spec in (db, db.encode(), pathlib.Path(db)):
            with self.assertRaises(tokenstore.ConfigError) as cm:
                tokenstore.open(spec)
            self.assertEqual(cm.exception.code, "TS_ERR_CONFIG")
            self.assertEqual(str(cm.exception), "%s is an SQLite database, not a config file: "
                             "%s (for the store in this file: sqlite:%s) (TS_ERR_CONFIG)"
                             % (db, usage, db))
            self.assertNotIn("NUL", str(cm.exception))
        # The URI it suggests opens that very store.
        with tokenstore.open("sqlite:" + db, read_only=True) as store:
            self.assertEqual(store.find({"user_name": "a@example.com"}).id, "1")
        binary = os.path.join(SCRATCH, "plain", "tokens.bin")
        with open(binary, "wb") as f:
            f.write(b"\x00\x01binary")
        with self.assertRaises(tokenstore.ConfigError) as cm:
            tokenstore.open(binary)
        self.assertEqual(str(cm.exception), "%s is not a config file (it is not text): %s "
                         "(TS_ERR_CONFIG)" % (binary, usage))
        empty = os.path.join(SCRATCH, "plain", "empty.db")
        open(empty, "w").close()
        with self.assertRaises(tokenstore.ConfigError) as cm:
            tokenstore.open(empty)
        self.assertIn("%s is empty, not a config file: %s" % (empty, usage), str(cm.exception))
        missing = os.path.join(SCRATCH, "plain", "missing.db")
        with self.assertRaises(tokenstore.ConfigError) as cm:
            tokenstore.open(missing)
        self.assertIn("%s: cannot open config file: No such file or directory; %s"
                      % (missing, usage), str(cm.exception))
        self.assertFalse(os.path.exists(missing), "nothing was created at the path")
        # A relative name with a colon that the library does not read as a
        # URI scheme (a byte outside ASCII before it) is a path too.
        with self.assertRaises(tokenstore.ConfigError) as cm:
            tokenstore.open("caf\u00e9:tokens.db")
        self.assertIn("caf\u00e9:tokens.db: cannot open config file: No such file or "
                      "directory; %s" % usage, str(cm.exception))
        # A config file with a mistake keeps the library's message, which
        # names the line and column.
        broken = os.path.join(SCRATCH, "plain", "broken.json")
        with open(broken, "w") as f:
            f.write('{"store": ')
        with self.assertRaises(tokenstore.ConfigError) as cm:
            tokenstore.open(broken)
        self.assertIn(broken, str(cm.exception))
        self.assertNotIn(usage, str(cm.exception))

    def test_a_nul_in_a_spec_or_setting_is_refused_naming_where(self):
        # C would read up to the NUL: another store than the one named.
        with self.assertRaises(tokenstore.ConfigError) as cm:
            tokenstore.open("memory:\0x")
        self.assertEqual(cm.exception.code, "TS_ERR_CONFIG")
        self.assertIn("spec holds a NUL character (at byte 7)", str(cm.exception))
        path = os.path.join(SCRATCH, "nul.db")
        with self.assertRaises(tokenstore.ConfigError):
            tokenstore.open("sqlite:" + path + "\0.bak")
        self.assertFalse(os.path.exists(path), "no store was made at the path before the NUL")
        with self.assertRaises(tokenstore.ConfigError) as cm:
            tokenstore.open(b"redis://app:pass\0word@127.0.0.1:1/0")
        self.assertIn("at byte 16", str(cm.exception))
        self.assertNotIn("pass", str(cm.exception), "the spec, which may hold a password, is not shown")
        with tokenstore.open("memory:") as store:
            with self.assertRaises(tokenstore.ConfigError) as cm:
                tokenstore.OAuthClient(store, {"client_secret": "s3cr\0t"})
            self.assertIn("oauth setting client_secret holds a NUL character (at byte 4)",
                          str(cm.exception))
            self.assertNotIn("s3cr", str(cm.exception))

    def test_a_read_only_store_refuses_writes(self):
        path = os.path.join(SCRATCH, "ro.db")
        with tokenstore.open("sqlite:" + path) as store:
            store.save(full("a@example.com"))
        with tokenstore.open("sqlite:" + path, read_only=True) as store:
            self.assertEqual(store.find({"user_name": "a@example.com"}).id, "1")
            with self.assertRaises(tokenstore.ReadOnlyError) as cm:
                store.save(full("b@example.com"))
            self.assertEqual(cm.exception.code, "TS_ERR_READ_ONLY")

    def test_every_call_is_declared(self):
        lib = _lib.lib()
        for name, (restype, argtypes) in _lib.SIGNATURES.items():
            self.assertEqual(getattr(lib, name).argtypes, argtypes, name)
        with self.assertRaises(ctypes.ArgumentError):
            lib.ts_token_get(None, "not a field number")
        self.assertRegex(tokenstore.version(), r"^\d+\.\d+\.\d+$")

    def test_the_version_is_the_librarys_and_the_commands(self):
        out = subprocess.run([support.CLI, "--version"], capture_output=True, text=True,
                             env=support.env_for_children())
        # "tokenstore 0.1.0 (libtokenstore 0.1.0, backend ABI 1.5)"
        words = out.stdout.split()
        self.assertEqual(words[:2], ["tokenstore", tokenstore.__version__], out.stdout)
        self.assertEqual(words[3], tokenstore.__version__ + ",", out.stdout)
        self.assertEqual(tokenstore.__version__, tokenstore.version())
        self.assertRegex(tokenstore.__version__, r"^\d+\.\d+\.\d+")

    def test_log_lines_go_to_logging_not_stderr(self):
        with self.assertLogs("tokenstore", logging.INFO) as cm:
            with tokenstore.open("sqlite:" + os.path.join(SCRATCH, "logged.db")):
                pass
        self.assertTrue(any("logged.db" in line for line in cm.output), cm.output)

    def test_repr_masks_secrets_as_the_cli_does(self):
        t = Token(id="1", user_name="a@example.com", refresh_token=SECRET, client_secret="short")
        self.assertEqual(repr(t), "Token(id='1', user_name='a@example.com', "
                         "client_secret='****', refresh_token='1000\u2026(74)')")
        self.assertNotIn(SECRET, repr(t))


class Constants(unittest.TestCase):
    """The constants the package takes from the C headers (_constants.py,
    which bindings/python/gen_constants.py writes) against the library
    built from the same headers, and the generator against the headers."""

    @classmethod
    def setUpClass(cls):
        _lib.lib()
        # Function objects of the package's own, set up here, not the package's.
        cls.c = ctypes.CDLL(_lib.loaded_from)

    def test_fields_are_the_librarys_in_its_order(self):
        name = self.c.ts_field_name
        name.restype, name.argtypes = ctypes.c_char_p, [ctypes.c_int]
        self.assertEqual(tuple(name(i).decode() for i in range(len(tokenstore.FIELDS))),
                         tokenstore.FIELDS)
        self.assertIsNone(name(len(tokenstore.FIELDS)), "the library has more fields")
        secret = self.c.ts_field_is_secret
        secret.argtypes = [ctypes.c_int]
        self.assertEqual({f for i, f in enumerate(tokenstore.FIELDS) if secret(i)},
                         set(_lib.SECRETS))

    def test_codes_are_the_librarys(self):
        name = self.c.ts_code_name
        name.restype, name.argtypes = ctypes.c_char_p, [ctypes.c_int]
        self.assertEqual(name(_lib.OK), b"TS_OK")
        self.assertEqual(name(_lib.NOT_FOUND), b"TS_NOT_FOUND")
        codes = set()
        while name(len(codes)) is not None:
            codes.add(name(len(codes)).decode())
        from tokenstore import errors
        self.assertLessEqual(set(errors._BY_CODE), codes, "a code the library does not name")

    def test_error_holds_what_the_library_writes(self):
        # ts_error_set cuts the message to TS_ERROR_MAX bytes with its NUL:
        # given room for more, it still writes no more.
        class Roomy(ctypes.Structure):
            _fields_ = [("code", ctypes.c_int),
                        ("message", ctypes.c_char * (_lib.ERROR_MAX + 256))]
        err = Roomy()
        self.c.ts_error_set(ctypes.byref(err), 2, b"%s", b"x" * (_lib.ERROR_MAX * 2))
        self.assertEqual((err.code, len(err.message)), (2, _lib.ERROR_MAX - 1))
        self.assertEqual(ctypes.sizeof(_lib.Error), ctypes.sizeof(ctypes.c_int) + _lib.ERROR_MAX)

    def test_oauth_setting_is_the_librarys_layout(self):
        # ts_oauth_setting_find answers with the address of the setting in
        # the table: the same as the package's indexing there when the
        # Structure has the C struct's size.
        n = ctypes.c_size_t()
        table = _lib.lib().ts_oauth_settings(ctypes.byref(n))
        find = self.c.ts_oauth_setting_find
        find.restype, find.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
        self.assertGreater(n.value, 1)
        for i in range(n.value):
            self.assertEqual(find(table[i].name), ctypes.addressof(table[i]), table[i].name)
            self.assertIn(table[i].is_number, (0, 1), table[i].name)

    def test_open_flags_are_the_librarys(self):
        missing = os.path.join(SCRATCH, "never.db")
        with self.assertRaises(tokenstore.ConfigError) as cm:
            tokenstore.open("sqlite:" + missing, must_exist=True)
        self.assertEqual(cm.exception.code, "TS_ERR_NO_STORE")
        self.assertFalse(os.path.exists(missing))
        path = os.path.join(SCRATCH, "flags.db")
        tokenstore.open("sqlite:" + path).close()
        with tokenstore.open("sqlite:" + path, read_only=True) as store:
            with self.assertRaises(tokenstore.ReadOnlyError):
                store.save(Token(user_name="ro@example.com", refresh_token="r"))

    def test_log_levels_are_the_librarys(self):
        # Without a logger set, the library writes errors and warnings to
        # stderr, naming the level, and leaves info and debug out.
        out = subprocess.run([sys.executable, "-c", """if 1:
            import ctypes, os
            from tokenstore import _constants as k
            c = ctypes.CDLL(os.environ["TOKENSTORE_LIBRARY"])
            for name in ("LOG_ERROR", "LOG_WARN", "LOG_INFO", "LOG_DEBUG"):
                c.ts_store_log(None, getattr(k, name), b"%s", b"line at " + name.encode())
            """], capture_output=True, text=True, env=support.env_for_children())
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stderr, "tokenstore: error: line at LOG_ERROR\n"
                         "tokenstore: warning: line at LOG_WARN\n")

    def test_log_lines_keep_their_levels_in_logging(self):
        levels = {_lib.LOG_ERROR: logging.ERROR, _lib.LOG_WARN: logging.WARNING,
                  _lib.LOG_INFO: logging.INFO, _lib.LOG_DEBUG: logging.DEBUG}
        with self.assertLogs("tokenstore", logging.DEBUG) as cm:
            with tokenstore.open("memory:") as store:
                for level in levels:
                    self.c.ts_store_log(ctypes.c_void_p(store._handle), level, b"%s",
                                        b"line at %d" % level)
        got = {int(r.getMessage().rsplit(" ", 1)[1]): r.levelno for r in cm.records
               if "line at " in r.getMessage()}
        self.assertEqual(got, levels)

    def gen(self, includedir):
        out = os.path.join(support.scratch(), "_constants.py")
        run = subprocess.run([sys.executable, os.path.join(support.TOP_SRCDIR, "bindings",
                                                           "python", "gen_constants.py"),
                              includedir, out], capture_output=True, text=True)
        text = None
        if os.path.exists(out):
            with open(out) as f:
                text = f.read()
        return run, text

    def test_the_package_has_what_the_headers_say_now(self):
        run, text = self.gen(os.path.join(support.TOP_SRCDIR, "core", "include"))
        self.assertEqual(run.returncode, 0, run.stderr)
        with open(_constants.__file__) as f:
            self.assertEqual(f.read(), text, "%s is not what gen_constants.py writes from "
                             "the headers" % _constants.__file__)

    def test_the_generator_names_what_a_header_lacks(self):
        for header, was, now, said in (
                ("types.h", "#define TS_OPEN_READ_ONLY", "#define TS_OPEN_RO",
                 "#define TS_OPEN_READ_ONLY is not there"),
                ("types.h", "TS_LOG_WARN,", "TS_LOG_WARNING,",
                 "enum ts_log_level has no member TS_LOG_WARN"),
                ("tokenstore.h", " int is_number;", " double is_number;",
                 "struct ts_oauth_setting member is_number has the type")):
            include = support.scratch()
            shutil.copytree(os.path.join(support.TOP_SRCDIR, "core", "include", "tokenstore"),
                            os.path.join(include, "tokenstore"))
            path = os.path.join(include, "tokenstore", header)
            with open(path) as f:
                text = f.read()
            self.assertIn(was, text)
            with open(path, "w") as f:
                f.write(text.replace(was, now))
            run, written = self.gen(include)
            self.assertEqual(run.returncode, 1, run.stderr)
            self.assertIn(path, run.stderr)
            self.assertIn(said, run.stderr)
            self.assertIsNone(written, "nothing is written")


class Threads(unittest.TestCase):
    def test_threads_share_one_store(self):
        with tokenstore.open("sqlite:" + os.path.join(SCRATCH, "threads.db")) as store:
            failures = []

            def work(k):
                try:
                    for i in range(100):
                        user = "t%d-%d@example.com" % (k, i)
                        tid = store.save(Token(user_name=user, refresh_token="r%d" % i))
                        if store.find({"user_name": user}).id != tid:
                            failures.append(user)
                except Exception as e:
                    failures.append(repr(e))
            threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.assertEqual(failures, [])
            ids = [t.id for t in store.tokens()]
            self.assertEqual(ids, [str(i) for i in range(1, 801)])

    def close_race(self, pattern):
        """close() under 4 busy threads, 100 times (close_race.py, in a
        child process: a crash is its exit status)."""
        out = subprocess.run([sys.executable, os.path.join(os.path.dirname(
            os.path.abspath(__file__)), "close_race.py"), pattern, "100"],
            capture_output=True, text=True, env=support.env_for_children(), timeout=600)
        self.assertEqual(out.returncode, 0, out.stderr[-2000:])
        report = json.loads(out.stdout)
        self.assertEqual((report["runs"], report["hung"], report["ends"]), (100, 0, []),
                         "every thread ended on ClosedStoreError")
        self.assertGreaterEqual(report["acked"], 400)
        return report

    def test_close_under_busy_threads_memory(self):
        self.close_race("memory:")

    def test_close_under_busy_threads_sqlite(self):
        r = self.close_race("sqlite:" + os.path.join(SCRATCH, "close-%d.db"))
        self.assertEqual((r["missing"], r["unacked"]), (0, 0),
                         "the store holds exactly the acknowledged saves")

    def test_close_under_busy_threads_file(self):
        r = self.close_race("file:" + os.path.join(SCRATCH, "close-%d.csv"))
        self.assertEqual((r["missing"], r["unacked"]), (0, 0),
                         "the store holds exactly the acknowledged saves")


if __name__ == "__main__":
    support.main()
