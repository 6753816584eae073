#!/usr/bin/env python3
"""Idle memory of an ndb-server binary, as scripts/build-sizes.sh reports it.

Starts BINARY on a free loopback port with built-in defaults, waits for its
"listening on" line, then reads VmRSS from /proc/PID/status:

  - after start-up, with no connection (after a settle pause); with
    STARTS > 1, the server is started that many times and the median is
    reported (file-backed pages, most of a static build's RSS, vary with
    what the page cache holds);
  - with CONNECTIONS WebSocket connections open and idle (each upgraded with
    a real handshake, then one KV_SET and one KV_GET answered, so every
    connection has served a request), after a settle pause.

Prints one JSON object: {"start_kib": N, "starts_kib": [N, ...], "idle_kib": N, "connections": N,
"per_connection_bytes": N}. Exit status 1 if the server does not start or a
handshake or reply is wrong. Standard library only.

  scripts/idle_rss.py target/min/ndb-server [CONNECTIONS [STARTS]]
"""

import base64
import json
import os
import resource
import socket
import struct
import subprocess
import sys
import time

SETTLE_SECONDS = 1.0


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def frame(text):
    """A masked client text frame."""
    data = text.encode()
    mask = os.urandom(4)
    head = bytes([0x81])
    if len(data) < 126:
        head += bytes([0x80 | len(data)])
    else:
        head += bytes([0x80 | 126]) + struct.pack("!H", len(data))
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def read_exact(sock, n):
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise RuntimeError("connection closed")
        out += chunk
    return out


def read_text(sock):
    """One unmasked server text frame's payload."""
    b0, b1 = read_exact(sock, 2)
    if b0 != 0x81:
        raise RuntimeError(f"unexpected frame {b0:#x}")
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", read_exact(sock, 2))[0]
    elif n == 127:
        n = struct.unpack("!Q", read_exact(sock, 8))[0]
    return read_exact(sock, n).decode()


def connect(port):
    sock = socket.create_connection(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        if not chunk:
            raise RuntimeError("closed during the handshake")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(f"handshake refused: {head[:40]!r}")
    return sock


def main():
    binary = sys.argv[1]
    connections = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    starts = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = connections + 64
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    at_start = [measure(binary, 0)[0] for _ in range(starts - 1)]
    start, idle = measure(binary, connections)
    at_start = sorted(at_start + [start])
    start = at_start[len(at_start) // 2]
    print(
        json.dumps(
            {
                "start_kib": start,
                "starts_kib": at_start,
                "idle_kib": idle,
                "connections": connections,
                "per_connection_bytes": (idle - start) * 1024 // max(connections, 1),
            }
        )
    )


def measure(binary, connections):
    """RSS after start-up, then with `connections` idle connections."""
    port = free_port()
    log = open(f"{binary}.idle-rss.log", "w+")
    server = subprocess.Popen([binary, "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
    socks = []
    try:
        deadline = time.monotonic() + 10
        while True:
            log.seek(0)
            if "listening on" in log.read():
                break
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        time.sleep(SETTLE_SECONDS)
        start = rss_kib(server.pid)
        for i in range(connections):
            sock = connect(port)
            sock.sendall(frame(json.dumps({"KV_SET": {"keys": {f"k{i}": i}}})))
            if json.loads(read_text(sock))["KV_SET_RSP"]["st"] != 1:
                raise RuntimeError("KV_SET failed")
            sock.sendall(frame(json.dumps({"KV_GET": {"keys": [f"k{i}"]}})))
            if json.loads(read_text(sock))["KV_GET_RSP"]["keys"][f"k{i}"] != i:
                raise RuntimeError("KV_GET answered wrong")
            socks.append(sock)
        if connections:
            time.sleep(SETTLE_SECONDS)
        return start, rss_kib(server.pid)
    finally:
        for s in socks:
            s.close()
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    try:
        main()
    except RuntimeError as e:
        print(f"idle_rss: {e}", file=sys.stderr)
        sys.exit(1)
