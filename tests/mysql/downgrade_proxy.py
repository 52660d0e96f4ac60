#!/usr/bin/env python3
"""A man in the middle of MySQL connections, for the TLS tests.

Listens on a free loopback port and relays each connection to the MySQL
server at 127.0.0.1:UPSTREAM, with the server's greeting changed so that
it no longer offers TLS: the CLIENT_SSL capability bit is cleared, as an
attacker on the path (or a misconfigured load balancer) would. Every byte
relayed, either way, is appended to RECORD, so that a test can look for a
secret in what crossed.

MODE says what happens after the greeting:

  relay           everything is relayed both ways as it comes
  clear-password  the client's handshake answer is not passed on; the
                  proxy asks it, as the server would, to authenticate
                  with mysql_clear_password (an AuthSwitchRequest), which
                  sends the password as it is, records the answer and
                  closes the connection

Usage: downgrade_proxy.py UPSTREAM PORTFILE RECORD MODE (the port is
written to PORTFILE once the proxy listens).
"""
import os
import socket
import sys
import threading

CLIENT_SSL = 0x0800
record_lock = threading.Lock()


def record(path, data):
    with record_lock, open(path, "ab") as f:
        f.write(data)


def read_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def read_packet(sock):
    """One MySQL packet: (sequence number, payload, the bytes as read)."""
    header = read_exactly(sock, 4)
    length = int.from_bytes(header[:3], "little")
    payload = read_exactly(sock, length)
    return header[3], payload, header + payload


def packet(seq, payload):
    return len(payload).to_bytes(3, "little") + bytes([seq]) + payload


def without_tls(greeting):
    """The greeting's payload with CLIENT_SSL cleared. Protocol 10: the
    version byte, the server version up to its NUL, the connection id (4),
    the first scramble part (8), a filler (1), then the capability flags'
    lower two bytes."""
    at = greeting.index(b"\0", 1) + 1 + 4 + 8 + 1
    flags = int.from_bytes(greeting[at:at + 2], "little") & ~CLIENT_SSL
    return greeting[:at] + flags.to_bytes(2, "little") + greeting[at + 2:]


def pump(src, dst, path):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            record(path, data)
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def serve(client, upstream_port, path, mode):
    server = socket.create_connection(("127.0.0.1", upstream_port))
    try:
        seq, greeting, _ = read_packet(server)
        changed = packet(seq, without_tls(greeting))
        record(path, changed)
        client.sendall(changed)
        if mode == "clear-password":
            seq, _, raw = read_packet(client)
            record(path, raw)
            switch = b"\xfe" + b"mysql_clear_password\0"
            client.sendall(packet(seq + 1, switch))
            _, _, raw = read_packet(client)
            record(path, raw)
            return
        threading.Thread(target=pump, args=(server, client, path), daemon=True).start()
        pump(client, server, path)
    except (OSError, ConnectionError, ValueError):
        pass
    finally:
        client.close()
        server.close()


def main():
    upstream_port, portfile, path, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3], \
        sys.argv[4]
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(listener.getsockname()[1]))
    os.rename(portfile + ".tmp", portfile)
    while True:
        client, _ = listener.accept()
        threading.Thread(target=serve, args=(client, upstream_port, path, mode),
                         daemon=True).start()


if __name__ == "__main__":
    main()
