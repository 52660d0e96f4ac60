#!/usr/bin/env python3
"""bench/bench_python.py - find by user through the Python package against
Python's own sqlite3 module on the same file.

Both sides answer the same question with the same result: given a user
name, the ten values of its row as a tokenstore.Token. The baseline runs
the prepared SELECT of the sqlite backend (Python's sqlite3 caches the
statement) and builds the Token from the row; the package goes through
ctypes, libtokenstore and the sqlite backend (one call into C a find:
ts_find_token_packed). Only the ratio carries over between machines. The
ratio of the process's CPU time is printed too: on a machine that other
work loads, it moves less than the wall clock's. Usage: bench_python.py [NTOKENS] (default 10000); needs
PYTHONPATH, TOKENSTORE_LIBRARY and TOKENSTORE_PLUGIN_PATH as `make bench`
sets them.
"""
import os
import random
import sqlite3
import sys
import tempfile
import time

import tokenstore
from tokenstore import Token

COLUMNS = ("id, user_name, client_id, client_secret, refresh_token, access_token, "
           "grant_token, expiry_time, redirect_url, api_domain")


def user(i):
    return "user%012d@example.com" % i


def token(i):
    return Token(user_name=user(i), client_id="1000.BENCHCLIENTID0000000000000000",
                 client_secret="0123456789abcdef0123456789abcdef0123456789",
                 refresh_token="1000.%032x.%016x" % (i * 2654435761, i),
                 access_token="1000.%032x.a%015x" % (i * 40503, i),
                 expiry_time="1893456000000",
                 redirect_url="https://example.com/oauth/callback",
                 api_domain="https://www.zohoapis.com")


def per_find(fn, keys):
    """One pass over keys: (wall, CPU) microseconds per find."""
    t0, c0 = time.perf_counter(), time.process_time()
    for k in keys:
        fn(k)
    t1, c1 = time.perf_counter(), time.process_time()
    return (t1 - t0) / len(keys) * 1e6, (c1 - c0) / len(keys) * 1e6


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    with tempfile.TemporaryDirectory(prefix="tokenstore-bench-") as tmp:
        path = os.path.join(tmp, "tokens.db")
        with tokenstore.open("sqlite:" + path) as store:
            store.save_many(token(i) for i in range(n))
            db = sqlite3.connect(path)
            sql = "SELECT %s FROM oauthtoken WHERE user_name = ? LIMIT 1" % COLUMNS

            def ours(name):
                return store.find({"user_name": name})

            def baseline(name):
                row = db.execute(sql, (name,)).fetchone()
                return Token(*[None if v is None or v == "" else str(v) for v in row])

            rng = random.Random(42)
            keys = [user(rng.randrange(n)) for _ in range(20000)]
            assert ours(keys[0]) == baseline(keys[0]), "the two sides disagree"
            # Short passes, interleaved, the fastest of each side: both sides
            # see the same machine, and a burst of other work costs a pass.
            a, b = [], []
            for r in range(15):
                chunk = keys[r % 5 * 4000:(r % 5 + 1) * 4000]
                a.append(per_find(ours, chunk))
                b.append(per_find(baseline, chunk))
            db.close()
    wall_a, wall_b = min(x[0] for x in a), min(x[0] for x in b)
    cpu_a, cpu_b = min(x[1] for x in a), min(x[1] for x in b)
    print("%-7s %-26s %9d tokens %11.3f us/op | %-30s %11.3f us/op | ratio %5.2fx"
          % ("python", "find by user (package)", n, wall_a, "sqlite3 module, same SELECT",
             wall_b, wall_a / wall_b))
    print("%-7s %-26s %9s        CPU time ratio %5.2fx (%.3f / %.3f us)"
          % ("", "", "", cpu_a / cpu_b, cpu_a, cpu_b))


if __name__ == "__main__":
    main()
