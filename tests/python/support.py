"""tests/python/support.py - what the Python tests share.

A TAP runner for unittest (make check counts single checks, as for every
other test here), the uninstalled package and library of the build tree,
a scratch directory, and the real helpers the shell tests use: the
throwaway redis-server (tests/redis/server.sh) and the fake Zoho accounts
server (tests/oauth/fake_accounts.py).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

TOP_SRCDIR = os.environ.get("top_srcdir") or \
    os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TOP_BUILDDIR = os.environ.get("top_builddir") or os.getcwd()
os.environ.setdefault("TOKENSTORE_LIBRARY",
                      os.path.join(TOP_BUILDDIR, "core", ".libs", "libtokenstore.so.1"))
os.environ.setdefault("TOKENSTORE_OAUTH_LIBRARY",
                      os.path.join(TOP_BUILDDIR, "oauth", ".libs", "libtokenstore-oauth.so.1"))
sys.path.insert(0, os.path.join(TOP_SRCDIR, "bindings", "python"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

CLI = os.path.join(TOP_BUILDDIR, "cli", ".libs", "tokenstore")
if not os.path.exists(CLI):
    CLI = os.path.join(TOP_BUILDDIR, "cli", "tokenstore")


def scratch():
    """A new directory, removed when the test process exits."""
    d = tempfile.mkdtemp(prefix="tokenstore-pytest-")
    import atexit
    atexit.register(shutil.rmtree, d, True)
    return d


def env_for_children():
    """The environment a child Python process needs to import the package."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path[:2] + [env.get("PYTHONPATH", "")]
                                        if p)
    env["LD_LIBRARY_PATH"] = os.pathsep.join(os.path.join(TOP_BUILDDIR, d, ".libs")
                                             for d in ("core", "oauth"))
    return env


class Redis:
    """A redis-server on a free port, for one test module."""

    def __init__(self, directory):
        self.dir = directory
        out = subprocess.run(["sh", os.path.join(TOP_SRCDIR, "tests", "redis", "server.sh"),
                              "start", directory], capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError("redis-server did not start: " + out.stderr.strip())
        self.port = int(out.stdout.strip())

    def uri(self, db, prefix):
        return "redis://127.0.0.1:%d/%d?prefix=%s" % (self.port, db, prefix)

    def stop(self):
        subprocess.run(["sh", os.path.join(TOP_SRCDIR, "tests", "redis", "server.sh"),
                        "stop", self.dir], capture_output=True)


class Accounts:
    """The fake Zoho accounts server, controlled over HTTP."""

    def __init__(self, directory):
        portfile = os.path.join(directory, "accounts.port")
        self.proc = subprocess.Popen([sys.executable, os.path.join(
            TOP_SRCDIR, "tests", "oauth", "fake_accounts.py"), portfile],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            if os.path.exists(portfile):
                break
            time.sleep(0.05)
        else:
            self.proc.kill()
            raise RuntimeError("the fake accounts server did not start")
        with open(portfile) as f:
            self.url = "http://127.0.0.1:%s" % f.read().strip()

    def post(self, path, doc=None):
        req = urllib.request.Request(self.url + path, data=json.dumps(doc or {}).encode(),
                                     method="POST")
        urllib.request.urlopen(req).read()

    def counts(self):
        return json.load(urllib.request.urlopen(self.url + "/counts"))

    def stop(self):
        self.proc.kill()
        self.proc.wait()


class TapResult(unittest.TestResult):
    """Prints one TAP line per test as it ends."""

    def __init__(self):
        super().__init__()
        self.n = 0

    def _line(self, ok, test, extra=""):
        self.n += 1
        print("%s %d - %s%s" % ("ok" if ok else "not ok", self.n,
                                test.id().split(".", 1)[-1], extra), flush=True)

    def _diag(self, text):
        for line in text.rstrip().splitlines():
            print("# " + line)

    def addSuccess(self, test):
        self._line(True, test)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._line(False, test)
        self._diag(self.failures[-1][1])

    def addError(self, test, err):
        super().addError(test, err)
        self._line(False, test)
        self._diag(self.errors[-1][1])

    def addSkip(self, test, reason):
        self._line(True, test, " # SKIP " + reason)

    # A test marked unittest.expectedFailure is a TAP TODO, its reason in
    # the test's `todo`: failing, it counts as XFAIL; passing, as XPASS,
    # which fails make check, so that the mark is taken off.
    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self._line(False, test, " # TODO " + getattr(test, "todo", "expected to fail"))
        self._diag("\n".join(self.expectedFailures[-1][1].rstrip().splitlines()[-3:]))

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._line(True, test, " # TODO " + getattr(test, "todo", "expected to fail") +
                   "; it passes now: take the mark off")

    def addSubTest(self, test, subtest, err):
        if err is not None:
            super().addSubTest(test, subtest, err)
            self._line(False, subtest)
            self._diag((self.failures + self.errors)[-1][1])


def main(module="__main__"):
    """Runs the module's tests, printing TAP; exits 1 when one failed."""
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[module])
    result = TapResult()
    suite.run(result)
    print("1..%d" % result.n)
    sys.exit(0 if result.wasSuccessful() else 1)
