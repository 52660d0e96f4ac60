#!/usr/bin/env python3
"""A fake Zoho accounts server for the OAuth tests.

Serves POST /oauth/v2/token (grant_type authorization_code or
refresh_token) and POST /oauth/v2/token/revoke on a free loopback port,
counts requests by grant type, and answers as the test tells it through
POST /control (JSON):

  {"mode": "success"}                 tokens, expires_in 3600 s
  {"mode": "ms"}                      expires_in in ms, with expires_in_sec
  {"mode": "error", "code": "x"}      HTTP 200 {"error": "x"} (Zoho's way)
  {"mode": "status", "status": 500, "fail": 1}
                                      that status `fail` times, then success
                                      (fail -1: always)
  {"mode": "slow", "delay": 0.5}      success after a delay
  {"mode": "garbage" | "truncated" | "empty"}
  {"mode": "raw", "body": "..."}      HTTP 200 with exactly that body
  {"date_offset": -600}               every reply's Date header that many
                                      seconds off the real time (a server
                                      whose clock disagrees with ours);
                                      any mode keeps it until /reset

HEAD on any path answers 200 with no body (what `tokenstore doctor`
sends to see that a server is reachable and read its Date header); each
is listed in "heads", never counted among the token requests.

The token paths may carry a prefix, one server standing for several data
centers: POST /eu/oauth/v2/token is counted under its path, and its reply's
api_domain is that data center's (us, eu, in, cn, jp, au, ca, sa; else
the EU's, as without a prefix).

GET /counts returns {"authorization_code": n, "refresh_token": n,
"revoke": n, "paths": [...], "bodies": [...], "heads": [...]}; POST
/reset clears counts, mode and date offset. Usage: fake_accounts.py PORTFILE (the port is written there once
the server listens).
"""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

lock = threading.Lock()
state = {}
API_DOMAINS = {"us": "com", "eu": "eu", "in": "in", "cn": "com.cn", "jp": "jp", "au": "com.au",
               "ca": "ca", "sa": "sa"}


def reset():
    with lock:
        state.clear()
        state.update(mode="success", counts={}, paths=[], bodies=[], heads=[], served=0,
                     failed=0, code="invalid_code", status=500, fail=1, delay=0.5,
                     date_offset=0)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def date_time_string(self, timestamp=None):
        # Replies are sent with the lock held at times: no lock here (one
        # read of an int from a dict is atomic).
        offset = state["date_offset"]
        return super().date_time_string((time.time() if timestamp is None else timestamp) + offset)

    def do_HEAD(self):
        with lock:
            state["heads"].append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def reply(self, status, body, ctype="application/json"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/counts":
            with lock:
                out = dict(state["counts"], paths=state["paths"], bodies=state["bodies"],
                           heads=state["heads"])
            self.reply(200, json.dumps(out))
        else:
            self.reply(404, '{"error":"not_found"}')

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n).decode("utf-8", "replace") if n else ""

    def do_POST(self):
        body = self.read_body()
        if self.path == "/reset":
            reset()
            return self.reply(200, "{}")
        if self.path == "/control":
            with lock:
                state.update(json.loads(body or "{}"))
                state["failed"] = 0
            return self.reply(200, "{}")
        form = {k: v[0] for k, v in parse_qs(body).items()}
        prefix = self.path[1:self.path.find("/oauth/v2/token")] if self.path.find("/oauth/v2/token") > 0 else ""
        if self.path.endswith("/oauth/v2/token"):
            kind = form.get("grant_type", "?")
        elif self.path.endswith("/oauth/v2/token/revoke"):
            kind = "revoke"
        else:
            return self.reply(404, '{"error":"not_found"}')
        with lock:
            state["counts"][kind] = state["counts"].get(kind, 0) + 1
            state["paths"].append(self.path)
            state["bodies"].append(body)
            mode = state["mode"]
            if mode == "status" and (state["fail"] < 0 or state["failed"] < state["fail"]):
                state["failed"] += 1
                return self.reply(state["status"], '{"message":"try later"}')
            state["served"] += 1
            n = state["served"]
            code, delay = state["code"], state["delay"]
        if mode == "slow":
            time.sleep(delay)
        if mode == "error":
            return self.reply(200, json.dumps({"error": code}))
        if mode == "garbage":
            return self.reply(200, "<html>502 Bad Gateway</html>", "text/html")
        if mode == "truncated":
            return self.reply(200, '{"access_token": "1000.trunc')
        if mode == "empty":
            return self.reply(200, "")
        if mode == "raw":
            with lock:
                raw = state.get("body", "")
            return self.reply(200, raw)
        if kind == "revoke":
            if not form.get("token"):
                return self.reply(400, '{"error":"invalid_token"}')
            return self.reply(200, '{"status":"success"}')
        missing = [k for k in ("client_id", "client_secret") if not form.get(k)]
        if missing or (kind == "refresh_token" and not form.get("refresh_token")) \
                or (kind == "authorization_code" and not form.get("code")):
            return self.reply(200, json.dumps({"error": "invalid_client"}))
        out = {"access_token": "1000.access.%d" % n,
               "api_domain": "https://www.zohoapis." + API_DOMAINS.get(prefix, "eu"),
               "token_type": "Bearer", "expires_in": 3600}
        if mode == "ms":
            out.update(expires_in=3600000, expires_in_sec=3600)
        if kind == "authorization_code":
            out["refresh_token"] = "1000.refresh.%d" % n
        self.reply(200, json.dumps(out))


def main():
    reset()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    import os
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
