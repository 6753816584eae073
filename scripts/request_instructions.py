#!/usr/bin/env python3
"""Instructions an ndb-server binary executes per request, counted by
valgrind's callgrind (steady on a busy machine, unlike timings).

  scripts/request_instructions.py BINARY [REQUESTS] [-- SERVER-ARGS...]

Runs BINARY under `valgrind --tool=callgrind` twice: once started and
stopped with no request, once serving REQUESTS KV_SETs (16-byte keys and
values) then as many KV_GETs of them over one WebSocket connection, 64 in
flight. Prints one JSON object with the instructions per request (the
difference of the two totals over 2 × REQUESTS, so start-up and shutdown
cancel out), for the whole process: user space of the server, its
allocator and the C library, not the kernel. SERVER-ARGS are passed to
the server after its --port (e.g. --config FILE --log --log-fsync
everysec, to count what the durable log adds). Standard library only.
"""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ beside the scripts
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from idle_rss import connect, frame, free_port, read_text  # noqa: E402

IN_FLIGHT = 64


def total_instructions(binary, requests, work, extra):
    port = free_port()
    out = os.path.join(work, f"callgrind.{requests}")
    log = open(os.path.join(work, f"server.{requests}.log"), "w+")
    server = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", binary, "--port", str(port), *extra],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            log.seek(0)
            if "listening on" in log.read():
                break
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start under valgrind")
            time.sleep(0.05)
        if requests:
            sock = connect(port)
            for verb in ("KV_SET", "KV_GET"):
                for start in range(0, requests, IN_FLIGHT):
                    batch = range(start, min(start + IN_FLIGHT, requests))
                    for i in batch:
                        key = f"key{i:013d}"
                        body = {"keys": {key: f"value{i:011d}"}} if verb == "KV_SET" else {"keys": [key]}
                        sock.sendall(frame(json.dumps({verb: body})))
                    for _ in batch:
                        if json.loads(read_text(sock))[f"{verb}_RSP"]["st"] != 1:
                            raise RuntimeError(f"{verb} failed")
            sock.close()
        time.sleep(0.5)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    with open(out) as f:
        for line in f:
            m = re.match(r"(?:summary|totals): (\d+)", line)
            if m:
                return int(m.group(1))
    raise RuntimeError("no total in the callgrind output")


def main():
    args = sys.argv[1:]
    extra = []
    if "--" in args:
        extra = args[args.index("--") + 1 :]
        args = args[: args.index("--")]
    binary = args[0]
    requests = int(args[1]) if len(args) > 1 else 10000
    with tempfile.TemporaryDirectory() as work:
        idle = total_instructions(binary, 0, work, extra)
        busy = total_instructions(binary, requests, work, extra)
    print(json.dumps({"requests": 2 * requests, "per_request": round((busy - idle) / (2 * requests))}))


if __name__ == "__main__":
    try:
        main()
    except RuntimeError as e:
        print(f"request_instructions: {e}", file=sys.stderr)
        sys.exit(1)
