#!/usr/bin/env python3
"""tests/python/test_zoho.py - tokenstore.zoho.SDKTokenStore, the Zoho
Python SDK's TokenStore over a tokenstore store.

Each method's contract as the SDK relies on it, against the SDK's own
classes when ZOHO_PYTHON_SDK names a directory holding zohocrmsdk and
against stand-ins otherwise (tests/python/sdk.py); a saved token read back
by the tokenstore command; 8 processes saving into one sqlite store; and
refresh ahead against the fake accounts server: 8 processes asking for one
expiring token send exactly one refresh request. Prints TAP.
"""
import json
import logging
import os
import subprocess
import sys
import time
import unittest

import support
import sdk
import tokenstore

SCRATCH = support.scratch()
WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "worker.py")
FIELDS = ("id", "user_signature", "client_id", "client_secret", "refresh_token",
          "access_token", "grant_token", "expires_in", "redirect_url", "api_domain")


def now_ms():
    return int(time.time() * 1000)


def full_values(user, id=None, expires_in="1714564800000"):
    return [id, user, "1000.CLIENT", "c0ffee-secret", "1000.refresh.x", "1000.access.x",
            "1000.grant.x", expires_in, "https://app.example.com/cb", "https://www.zohoapis.eu"]


def full(user, **over):
    v = dict(zip(FIELDS, full_values(user)))
    del v["id"], v["user_signature"]
    v.update(over)
    return sdk.token(user, **v)


class Adapter(unittest.TestCase):
    n = 0

    def setUp(self):
        Adapter.n += 1
        self.path = os.path.join(SCRATCH, "sdk%d.db" % Adapter.n)
        # The contract of the six methods; refresh ahead is RefreshAhead's.
        self.store = sdk.Store("sqlite:" + self.path, refresh_ahead_ms=0)

    def tearDown(self):
        self.store.close()

    def test_it_is_the_sdks_token_store(self):
        if not sdk.REAL:
            self.skipTest("ZOHO_PYTHON_SDK is not set: the SDK's classes are stand-ins")
        self.assertIsInstance(self.store, sdk.TokenStore)
        from zohocrmsdk.src.com.zoho.crm.api.initializer import Initializer
        from zohocrmsdk.src.com.zoho.crm.api.dc import USDataCenter
        self.store.save_token(full("me@example.com", expires_in=str(now_ms() + 3600000)))
        token = sdk.OAuthToken(client_id="1000.CLIENT", client_secret="c0ffee-secret",
                               refresh_token="1000.refresh.x",
                               user_signature=sdk.UserSignature("me@example.com"))
        Initializer.initialize(environment=USDataCenter.PRODUCTION(), token=token,
                               store=self.store, resource_path=SCRATCH)
        self.assertEqual((token.get_id(), token.get_access_token()), ("1", "1000.access.x"))

    def test_find_token_returns_a_non_oauth_token_unchanged(self):
        other = object()
        self.assertIs(self.store.find_token(other), other)

    def test_find_token_fills_only_the_none_fields(self):
        self.store.save_token(full("me@example.com"))
        query = sdk.token("me@example.com", access_token="mine", client_id="other")
        self.assertIs(self.store.find_token(query), query)
        got = sdk.values(query)
        self.assertEqual(got, ["1", "me@example.com", "other", "c0ffee-secret",
                               "1000.refresh.x", "mine", "1000.grant.x", "1714564800000",
                               "https://app.example.com/cb", "https://www.zohoapis.eu"])

    def test_find_token_without_a_match_or_a_key_is_none(self):
        self.store.save_token(full("me@example.com"))
        self.assertIsNone(self.store.find_token(sdk.token("nobody@example.com")))
        self.assertIsNone(self.store.find_token(sdk.token(id="1")))

    def test_find_token_by_id_builds_a_new_token(self):
        saved = full("me@example.com")
        self.store.save_token(saved)
        got = self.store.find_token_by_id("1")
        self.assertIsInstance(got, sdk.OAuthToken)
        self.assertIsNot(got, saved)
        self.assertEqual(sdk.values(got), full_values("me@example.com", "1"))
        self.store.save_token(sdk.token("bare@example.com", refresh_token="r"))
        self.assertEqual(sdk.values(self.store.find_token_by_id("2")),
                         ["2", "bare@example.com"] + [None, None, "r"] + [None] * 5)

    def test_find_token_by_id_of_a_missing_id_raises(self):
        with self.assertRaises(sdk.SDKException) as cm:
            self.store.find_token_by_id("7")
        self.assertEqual(cm.exception.code, "TOKEN_STORE")
        self.assertIn("7", str(cm.exception))

    def test_save_token_sets_the_id_and_upserts(self):
        a, b = full("a@example.com"), full("b@example.com", refresh_token="1000.refresh.b")
        self.store.save_token(a)
        self.store.save_token(b)
        self.assertEqual((a.get_id(), b.get_id()), ("1", "2"))
        again = sdk.token("b@example.com", access_token="1000.access.new",
                          refresh_token="1000.refresh.b", expires_in="1893456000000")
        self.store.save_token(again)
        self.assertEqual(again.get_id(), "2")
        got = self.store.find_token_by_id("2")
        self.assertEqual((got.get_access_token(), got.get_client_secret()),
                         ("1000.access.new", "c0ffee-secret"))
        self.assertIsNone(self.store.save_token("not a token"))

    def test_save_token_of_a_new_row_without_tokens_raises(self):
        t = sdk.token("new@example.com", client_id="1000.CLIENT")
        with self.assertRaises(sdk.SDKException) as cm:
            self.store.save_token(t)
        self.assertEqual(cm.exception.code, "TOKEN_STORE")
        self.assertIsNone(t.get_id())
        self.assertEqual(self.store.get_tokens(), [])

    def test_save_token_may_update_a_row_without_tokens(self):
        self.store.save_token(full("me@example.com"))
        update = sdk.token("me@example.com", api_domain="https://www.zohoapis.in")
        try:
            self.store.save_token(update)
        except sdk.SDKException as e:
            if "nothing to save" in str(e):
                self.skipTest("this libtokenstore refuses any save without a token; "
                              "the rule that an update may omit them is not in it yet")
            raise
        self.assertEqual(update.get_id(), "1")
        got = self.store.find_token_by_id("1")
        self.assertEqual((got.get_api_domain(), got.get_refresh_token()),
                         ("https://www.zohoapis.in", "1000.refresh.x"))

    def test_delete_token_get_tokens_delete_tokens(self):
        for u in ("a", "b", "c"):
            self.store.save_token(full(u + "@example.com", refresh_token="1000.refresh." + u))
        self.store.delete_token("2")
        tokens = self.store.get_tokens()
        self.assertIsInstance(tokens, list)
        self.assertEqual([sdk.values(t)[:2] for t in tokens],
                         [["1", "a@example.com"], ["3", "c@example.com"]])
        self.assertTrue(all(isinstance(t, sdk.OAuthToken) for t in tokens))
        with self.assertRaises(sdk.SDKException):
            self.store.delete_token("2")
        self.store.delete_tokens()
        self.assertEqual(self.store.get_tokens(), [])

    def test_a_saved_token_reads_back_exactly_with_the_cli(self):
        self.store.save_token(full("me@example.com"))
        out = subprocess.run([support.CLI, "--store", "sqlite:" + self.path, "--show-secrets",
                              "get", "--id", "1", "--json"], capture_output=True, text=True,
                             env=support.env_for_children())
        self.assertEqual(out.returncode, 0, out.stderr)
        doc = json.loads(out.stdout)
        names = ("id", "user_name", "client_id", "client_secret", "refresh_token",
                 "access_token", "grant_token", "expiry_time", "redirect_url", "api_domain")
        self.assertEqual([doc.get(n) for n in names], full_values("me@example.com", "1"))

    def test_store_errors_are_sdk_exceptions(self):
        with self.assertRaises(sdk.SDKException) as cm:
            self.store.find_token_by_id("not-a-number")
        self.assertIn("not-a-number", str(cm.exception))
        with self.assertRaises(tokenstore.ConfigError) as cm:
            sdk.Store("memory:", refresh_ahead_ms=1000)
        self.assertIn("refresh_ahead_ms: '1000' is not a whole number from 5000 to 3000000",
                      str(cm.exception))
        with self.assertRaises(tokenstore.ConfigError) as cm:
            sdk.Store("memory:", oauth={"accounts_url.UK": "http://127.0.0.1:9"})
        self.assertIn("accounts_url.UK", str(cm.exception))

    def test_eight_processes_save_4000_distinct_users(self):
        procs = [subprocess.Popen([sys.executable, WORKER, "save", "sqlite:" + self.path,
                                   str(k * 500), "500"], env=support.env_for_children(),
                                  stderr=subprocess.PIPE, text=True) for k in range(8)]
        errors = [p.communicate()[1] for p in procs]
        self.assertEqual([p.returncode for p in procs], [0] * 8, errors)
        tokens = self.store.get_tokens()
        self.assertEqual(sorted(int(t.get_id()) for t in tokens), list(range(1, 4001)))
        self.assertEqual(len({t.get_user_signature().get_name() for t in tokens}), 4000)


class RefreshAhead(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.accounts = support.Accounts(SCRATCH)

    @classmethod
    def tearDownClass(cls):
        cls.accounts.stop()

    def setUp(self):
        self.accounts.post("/reset")
        self.db = os.path.join(SCRATCH, "refresh-%s.db" % self._testMethodName)
        self.config = os.path.join(SCRATCH, "refresh-%s.json" % self._testMethodName)
        with open(self.config, "w") as f:
            json.dump({"store": "sqlite:" + self.db,
                       "oauth": {"accounts_url": self.accounts.url, "retries": 0}}, f)
        self.expiry = str(now_ms() + 30000)
        self.store = sdk.Store(self.config)
        self.store.save_token(full("me@example.com", expires_in=self.expiry))

    def tearDown(self):
        self.store.close()

    def test_eight_processes_one_refresh_request(self):
        self.accounts.post("/control", {"mode": "slow", "delay": 0.3})
        go = os.path.join(SCRATCH, "go")
        procs = [subprocess.Popen([sys.executable, WORKER, "find", self.config, "me@example.com",
                                   go], env=support.env_for_children(), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(8)]
        for _ in range(600):     # every process has the store open: go at once
            if sum(n.startswith("go.ready.") for n in os.listdir(SCRATCH)) == 8:
                break
            time.sleep(0.05)
        open(go, "w").close()
        outs = [p.communicate() for p in procs]
        os.unlink(go)
        self.assertEqual([p.returncode for p in procs], [0] * 8, [o[1] for o in outs])
        self.assertEqual(self.accounts.counts().get("refresh_token"), 1)
        answers = {tuple(o[0].split()[:2]) for o in outs}
        self.assertEqual(answers, {("1", "1000.access.1")})
        expiry = int(outs[0][0].split()[2])
        self.assertGreater(expiry - now_ms(), 3500000, "a token the SDK would not refresh")

    def test_find_token_by_id_refreshes_too(self):
        got = self.store.find_token_by_id("1")
        self.assertEqual(got.get_access_token(), "1000.access.1")
        self.assertEqual(self.store.find_token_by_id("1").get_access_token(), "1000.access.1")
        self.assertEqual(self.accounts.counts().get("refresh_token"), 1)

    def test_a_token_without_an_access_token_is_refreshed_once(self):
        self.store.save_token(sdk.token("new@example.com", client_id="1000.CLIENT",
                                        client_secret="c0ffee-secret", refresh_token="1000.r"))
        for _ in range(2):
            got = self.store.find_token(sdk.token("new@example.com"))
            self.assertEqual((got.get_id(), got.get_access_token()), ("2", "1000.access.1"))
        self.assertEqual(self.accounts.counts().get("refresh_token"), 1)

    def test_a_failed_refresh_returns_the_stored_token_and_logs(self):
        self.accounts.post("/control", {"mode": "error", "code": "invalid_client"})
        with self.assertLogs("tokenstore.zoho", logging.WARNING) as cm:
            got = self.store.find_token(sdk.token("me@example.com"))
        self.assertEqual((got.get_access_token(), got.get_expires_in()),
                         ("1000.access.x", self.expiry))
        self.assertIn("invalid_client", cm.output[0])
        for secret in ("c0ffee-secret", "1000.refresh.x", "1000.access.x"):
            self.assertNotIn(secret, "\n".join(cm.output))

    def test_a_uri_opened_store_refreshes_ahead_by_default(self):
        # No config file: settings in code, refresh ahead the library's 60 s.
        with sdk.Store("sqlite:" + self.db, oauth={"accounts_url": self.accounts.url}) as plain:
            got = plain.find_token(sdk.token("me@example.com"))
        self.assertEqual(got.get_access_token(), "1000.access.1")
        self.assertEqual(self.accounts.counts().get("refresh_token"), 1)

    def test_refresh_ahead_off_leaves_the_token_to_the_sdk(self):
        with sdk.Store("sqlite:" + self.db, refresh_ahead_ms=0) as plain:
            got = plain.find_token(sdk.token("me@example.com"))
        self.assertEqual(got.get_access_token(), "1000.access.x")
        self.assertEqual(self.accounts.counts().get("refresh_token"), None)

    def test_an_expired_token_held_back_raises_saying_when(self):
        # The SDK would refresh an expired token itself, per process: once
        # the library holds a failing token back, the adapter says so.
        self.accounts.post("/control", {"mode": "status", "status": 500, "fail": -1})
        self.store.save_token(full("me@example.com", expires_in=str(now_ms() - 1)))
        for _ in range(2):
            with self.assertRaises(sdk.SDKException) as cm:
                self.store.find_token(sdk.token("me@example.com"))
            self.assertIn("next try is allowed in", str(cm.exception))
        self.assertEqual(self.accounts.counts().get("refresh_token"), 1)

    def ready_and_go(self, procs, go):
        for _ in range(600):     # every process has the store open: go at once
            if sum(n.startswith(os.path.basename(go) + ".ready.") for n in
                   os.listdir(SCRATCH)) == len(procs):
                break
            time.sleep(0.05)
        open(go, "w").close()
        outs = [p.communicate() for p in procs]
        os.unlink(go)
        self.assertEqual([p.returncode for p in procs], [0] * len(procs),
                         [o[1] for o in outs])
        return [o[0] for o in outs]

    def test_four_processes_one_grant_exchange(self):
        self.accounts.post("/control", {"mode": "slow", "delay": 0.3})
        go = os.path.join(SCRATCH, "grant-go")
        oauth = json.dumps({"accounts_url": self.accounts.url})
        procs = [subprocess.Popen([sys.executable, WORKER, "grant", "sqlite:" + self.db, oauth,
                                   go], env=support.env_for_children(), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(4)]
        outs = self.ready_and_go(procs, go)
        self.assertEqual(self.accounts.counts().get("authorization_code"), 1)
        self.assertEqual({tuple(o.split()) for o in outs},
                         {("2", "1000.access.1", "1000.refresh.1")})

    def test_four_sdk_processes_one_grant_exchange(self):
        if not sdk.REAL:
            self.skipTest("ZOHO_PYTHON_SDK is not set: the SDK's Initializer is not here")
        self.accounts.post("/control", {"mode": "slow", "delay": 0.3})
        go = os.path.join(SCRATCH, "sdk-grant-go")
        oauth = json.dumps({"accounts_url": self.accounts.url})
        procs = [subprocess.Popen([sys.executable, WORKER, "sdk-grant", "sqlite:" + self.db,
                                   oauth, go, SCRATCH], env=support.env_for_children(),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(4)]
        outs = self.ready_and_go(procs, go)
        self.assertEqual(self.accounts.counts().get("authorization_code"), 1)
        self.assertEqual({o.strip() for o in outs}, {"1000.access.1"})

    def test_each_data_center_refreshed_once_at_its_own_server(self):
        dcs = (("us", "com"), ("eu", "eu"), ("in", "in"), ("au", "com.au"))
        for dc, tld in dcs:
            self.store.save_token(full(dc + "@example.com", expires_in=str(now_ms() + 1000),
                                       api_domain="https://www.zohoapis." + tld))
        self.accounts.post("/control", {"mode": "slow", "delay": 0.2})
        go = os.path.join(SCRATCH, "dc-go")
        oauth = json.dumps({"accounts_url." + dc.upper(): "%s/%s" % (self.accounts.url, dc)
                            for dc, _ in dcs})
        names = [dc + "@example.com" for dc, _ in dcs]
        procs = [subprocess.Popen([sys.executable, WORKER, "users", "sqlite:" + self.db,
                                   oauth, go] + names[k % 4:] + names[:k % 4],
                                  env=support.env_for_children(), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for k in range(8)]
        self.ready_and_go(procs, go)
        paths = self.accounts.counts()["paths"]
        for dc, _ in dcs:
            self.assertEqual(paths.count("/%s/oauth/v2/token" % dc), 1, paths)
        self.assertEqual(len(paths), 4, paths)

    def test_a_bad_margin_in_the_config_names_the_key(self):
        bad = os.path.join(SCRATCH, "bad-margin.json")
        with open(bad, "w") as f:
            json.dump({"store": "memory:", "oauth": {"refresh_ahead_ms": 100}}, f)
        with self.assertRaises(tokenstore.ConfigError) as cm:
            sdk.Store(bad)
        self.assertIn("oauth.refresh_ahead_ms", str(cm.exception))
        self.assertIn(bad, str(cm.exception))

    def test_a_later_expiry_is_left_alone(self):
        with sdk.Store(self.config, refresh_ahead_ms=20000) as later:
            got = later.find_token(sdk.token("me@example.com"))
        self.assertEqual(got.get_access_token(), "1000.access.x")
        self.assertEqual(self.accounts.counts().get("refresh_token"), None)


if __name__ == "__main__":
    support.main()
