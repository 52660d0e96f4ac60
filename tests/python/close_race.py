#!/usr/bin/env python3
"""tests/python/close_race.py - close() while other threads are in calls.

  close_race.py SPEC RUNS   a %d in SPEC is the run's number

Each run opens the store, starts 4 threads that save and find distinct
users without pause, waits until each has had a save acknowledged, closes
the store under them, and joins them. Each thread must end on
ClosedStoreError and on nothing else. On a store that outlives its handle
(not memory:), the store is opened again and must hold exactly the users
whose saves were acknowledged. Prints one JSON line; tests/python/
test_store.py runs it in a child process, so that a crash is its exit
status.
"""
import json
import random
import sys
import threading
import time

import support  # noqa: F401  (sets up the paths)
import tokenstore

THREADS = 4


def one_run(spec, report):
    store = tokenstore.open(spec)
    acked = [[] for _ in range(THREADS)]
    ends = [None] * THREADS

    def work(k):
        i = 0
        try:
            while True:
                name = "t%d-%d@example.com" % (k, i)
                store.save({"user_name": name, "refresh_token": "1000.r.%d" % i})
                acked[k].append(name)
                found = store.find({"user_name": name})
                if found is None or found.user_name != name:
                    ends[k] = "find %s answered %r" % (name, found)
                    return
                i += 1
        except tokenstore.ClosedStoreError as e:
            ends[k] = "closed" if str(e) == "the store is closed" else repr(e)
        except Exception as e:
            ends[k] = repr(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(THREADS)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while not all(acked) and time.monotonic() < deadline and not any(ends):
        time.sleep(0.0005)
    time.sleep(random.random() * 0.003)
    store.close()
    for t in threads:
        t.join(60)
    report["hung"] += sum(t.is_alive() for t in threads)
    report["ends"].extend(e for e in ends if e != "closed")
    names = {n for a in acked for n in a}
    report["acked"] += len(names)
    if not spec.startswith("memory:"):
        with tokenstore.open(spec) as again:
            stored = {t.user_name for t in again.tokens()}
        report["missing"] += len(names - stored)
        report["unacked"] += len(stored - names)


def main(pattern, runs):
    report = {"runs": 0, "hung": 0, "ends": [], "acked": 0, "missing": 0, "unacked": 0}
    for run in range(int(runs)):
        one_run(pattern % run if "%d" in pattern else pattern, report)
        report["runs"] += 1
    report["ends"] = report["ends"][:10]
    print(json.dumps(report))


if __name__ == "__main__":
    main(*sys.argv[1:])
