#!/usr/bin/env python3
"""A broken or hostile Redis server, for tests/redis/test_hostile.

    hostile_server.py MODE [CERTDIR]

Listens on a free loopback port, prints it on stdout, and speaks just
enough RESP for the redis backend to open a store: SCRIPT LOAD is
answered with the script's SHA-1, PING, AUTH and SELECT as Redis would.
Every other command (the GET of a find, an EVALSHA, an HMGET) gets the
answer MODE names instead of the real one:

  bulk     "$2000000000", then 256 MB of it as fast as the client reads
  array    "*2147483647", then 4 million integers of it
  wide     an array of 100,000 arrays of 100 integers each, all sent
  deep     arrays nested 20 deep around one integer
  line     a status line that never ends, 256 MB of it
  drip     a well-formed 70-byte bulk string, one byte every 0.25 s
  nil      a nil bulk string, as Redis answers a GET of no key

After its answer (but for nil, which it gives to every command) it keeps
the connection open and reads nothing more, until the client closes it.
With CERTDIR (made by tests/redis/certs.sh) it speaks TLS, with
CERTDIR/server.crt, where the drip sends each byte as a TLS record. It exits after five minutes whatever happens
(the test kills it sooner, and the kernel does when the test dies).
"""
import hashlib
import os
import socket
import ssl
import sys
import threading
import time

CHUNK = 1 << 16


def stream(conn, head, unit, total):
    """Sends head, then unit repeated until total bytes have followed."""
    conn.sendall(head)
    block = unit * max(1, CHUNK // len(unit))
    sent = 0
    while sent < total:
        conn.sendall(block)
        sent += len(block)


def wide(conn):
    conn.sendall(b"*100000\r\n")
    inner = b"*100\r\n" + b":1\r\n" * 100
    for _ in range(100000 // 100):
        conn.sendall(inner * 100)


def answer(conn, mode):
    if mode == "bulk":
        stream(conn, b"$2000000000\r\n", b"x", 256 << 20)
    elif mode == "array":
        stream(conn, b"*2147483647\r\n", b":1\r\n", 16 << 20)
    elif mode == "wide":
        wide(conn)
    elif mode == "deep":
        conn.sendall(b"*1\r\n" * 20 + b":1\r\n")
    elif mode == "line":
        stream(conn, b"+", b"a", 256 << 20)
    elif mode == "drip":
        for byte in b"$64\r\n" + b"d" * 64 + b"\r\n":
            conn.sendall(bytes([byte]))
            time.sleep(0.25)
    else:
        conn.sendall(b"$-1\r\n")


def read_line(f):
    line = f.readline()
    if not line.endswith(b"\r\n"):
        raise EOFError
    return line[:-2]


def read_command(f):
    """One command as a list of byte strings, as clients send it."""
    head = read_line(f)
    if not head.startswith(b"*"):
        raise EOFError
    args = []
    for _ in range(int(head[1:])):
        n = int(read_line(f)[1:])
        data = f.read(n + 2)
        if len(data) != n + 2:
            raise EOFError
        args.append(data[:-2])
    return args


def serve(conn, mode, tls):
    try:
        if tls:
            conn = tls.wrap_socket(conn, server_side=True)
        f = conn.makefile("rb")
        while True:
            args = read_command(f)
            name = args[0].upper()
            if name == b"SCRIPT" and len(args) == 3:
                sha = hashlib.sha1(args[2]).hexdigest().encode()
                conn.sendall(b"$40\r\n" + sha + b"\r\n")
            elif name == b"PING":
                conn.sendall(b"+PONG\r\n")
            elif name in (b"AUTH", b"SELECT"):
                conn.sendall(b"+OK\r\n")
            else:
                answer(conn, mode)
                if mode == "nil":
                    continue
                while conn.recv(CHUNK):
                    pass
                return
    except (EOFError, OSError, ValueError):
        pass
    finally:
        conn.close()


def main():
    mode = sys.argv[1]
    tls = None
    if len(sys.argv) > 2:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(os.path.join(sys.argv[2], "server.crt"),
                            os.path.join(sys.argv[2], "server.key"))
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    print(listener.getsockname()[1], flush=True)
    threading.Timer(300, lambda: os._exit(0)).start()
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn, mode, tls), daemon=True).start()


if __name__ == "__main__":
    main()
