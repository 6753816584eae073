"""Soak load for ndb (scripts/soak.sh runs it): many connections for a while,
each doing a mix of real commands, malformed messages, protocol violations
and abrupt disconnects, checking every reply.

Every worker owns its keys, so it knows what the store must hold: a KV_GET
must return the last value it set, and at the end every key must hold the
last value acknowledged (or one sent later on a connection that was cut).

Usage: soak.py URL [--connections N] [--seconds S] [--max-payload BYTES]
       soak.py URL --populate   (writes every key once, then exits)
Prints one JSON object of counters on stdout.
"""

import argparse
import asyncio
import json
import random
import socket
import struct
import sys
import time

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

KEYS_PER_WORKER = 4
VALUE_BYTES = 200

UPGRADE = (
    b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


class Counters:
    def __init__(self):
        self.requests = 0          # messages sent that must get a reply
        self.replies = 0           # replies received and checked
        self.errors = 0            # anything unexpected
        self.expected_closes = {}  # close code -> count, for limits hit on purpose
        self.aborts = 0            # connections dropped without a close
        self.hostile = 0           # raw-socket violations sent
        self.connections = 0       # connections opened
        self.first_errors = []

    def error(self, what):
        self.errors += 1
        if len(self.first_errors) < 10:
            self.first_errors.append(what)


def key(worker, i):
    return "w%d:%d" % (worker, i)


def value(worker, seq):
    # Fixed length, so overwriting keeps the store the same size.
    return ("%d:%d:" % (worker, seq)).ljust(VALUE_BYTES, "v")


def frame(opcode, payload, fin=True, mask=b"\x01\x02\x03\x04", masked=True):
    head = bytes([opcode | (0x80 if fin else 0)])
    n = len(payload)
    bit = 0x80 if masked else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + struct.pack(">H", n)
    else:
        head += bytes([bit | 127]) + struct.pack(">Q", n)
    if not masked:
        return head + payload
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def hostile(host, port, counters, rng):
    """One raw connection breaking a rule; checks the close code sent back."""
    kind = rng.choice(["utf8", "unmasked", "half_head", "half_frame", "reserved"])
    counters.hostile += 1
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError as e:
        counters.error("hostile connect: %s" % e)
        return
    try:
        if kind == "half_head":
            writer.write(UPGRADE[: rng.randrange(1, len(UPGRADE))])
            await writer.drain()
            return
        writer.write(UPGRADE)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        if not head.startswith(b"HTTP/1.1 101 "):
            counters.error("hostile upgrade: %r" % head[:40])
            return
        if kind == "half_frame":
            writer.write(frame(1, b'{"KV_COUNT":{}}')[:5])
            await writer.drain()
            return
        expected = {"utf8": 1007, "unmasked": 1002, "reserved": 1002}[kind]
        if kind == "utf8":
            writer.write(frame(1, b'{"KV_GET":{"keys":["\xff"]}}'))
        elif kind == "unmasked":
            writer.write(frame(1, b"{}", masked=False))
        else:
            data = bytearray(frame(1, b"{}"))
            data[0] |= 0x40
            writer.write(bytes(data))
        await writer.drain()
        reply = await asyncio.wait_for(reader.readexactly(4), 10)
        code = struct.unpack(">H", reply[2:4])[0]
        if reply[0] != 0x88 or code != expected:
            counters.error("hostile %s: got %r" % (kind, reply))
        else:
            counters.expected_closes[code] = counters.expected_closes.get(code, 0) + 1
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as e:
        counters.error("hostile %s: %r" % (kind, e))
    finally:
        writer.transport.abort()


async def session(url, worker, state, counters, rng, max_payload):
    """One connection's life: a burst of mixed requests, then an ending."""
    async with connect(url, max_size=None, ping_interval=None, compression=None) as ws:
        counters.connections += 1
        for _ in range(rng.randrange(1, 60)):
            batch = []
            for _ in range(rng.randrange(1, 8)):
                batch.append(request(worker, state, rng))
            for text, _ in batch:
                await ws.send(text)
                counters.requests += 1
            for text, check in batch:
                reply = await asyncio.wait_for(ws.recv(), 30)
                counters.replies += 1
                problem = check(reply)
                if problem:
                    counters.error("%s -> %s: %s" % (text[:60], reply[:80], problem))
            await asyncio.sleep(rng.random() * 0.05)
        ending = rng.random()
        if ending < 0.3:
            ws.transport.abort()
            counters.aborts += 1
        elif ending < 0.35:
            await ws.send("{" + "x" * (max_payload + 1) + "}")
            try:
                await asyncio.wait_for(ws.recv(), 30)
                counters.error("an oversized message got a reply")
            except ConnectionClosed as e:
                code = e.rcvd.code if e.rcvd else None
                if code != 1009:
                    counters.error("oversized message closed with %s" % code)
                else:
                    counters.expected_closes[1009] = counters.expected_closes.get(1009, 0) + 1
        elif ending < 0.4:
            # Pipelined requests, then gone without reading the replies.
            for _ in range(20):
                await ws.send('{"KV_KEYS":{}}')
            ws.transport.abort()
            counters.aborts += 1


def request(worker, state, rng):
    """A request and the check of its reply (None if fine)."""
    roll = rng.random()
    i = rng.randrange(KEYS_PER_WORKER)
    k = key(worker, i)
    if roll < 0.35:
        state["seq"] += 1
        seq = state["seq"]
        state["sent"][i] = seq
        text = json.dumps({"KV_SET": {"keys": {k: value(worker, seq)}}})

        def check(reply, i=i, seq=seq):
            if reply != '{"KV_SET_RSP":{"st":1}}':
                return "bad KV_SET reply"
            state["acked"][i] = max(state["acked"][i], seq)
        return text, check
    if roll < 0.65:
        text = json.dumps({"KV_GET": {"keys": [k]}})
        expected_seq = state["sent"][i]

        def check(reply, k=k, expected_seq=expected_seq):
            got = json.loads(reply)["KV_GET_RSP"]["keys"].get(k)
            if expected_seq and got != value(worker, expected_seq):
                return "lost a write: expected seq %d" % expected_seq
        return text, check
    if roll < 0.75:
        text = json.dumps({"KV_CONTAINS": {"keys": [k, "nope"]}})
        return text, lambda reply: None if '"st":1' in reply else "bad KV_CONTAINS"
    if roll < 0.8:
        return '{"KV_COUNT":{}}', lambda reply: None if reply.startswith('{"KV_COUNT_RSP":{"cnt":') else "bad count"
    malformed = rng.choice([
        ('{"KV_GET":', '{"ERR":{"m":"","st":3}}'),
        ("[1,2]", '{"ERR":{"m":"","st":13}}'),
        ('{"KV_GET":{"keys":"x"}}', '{"KV_GET_RSP":{"m":"Param type incorrect","st":41,"tkn":null}}'),
        ('{"NOPE_X":{}}', '{"NOPE_X_RSP":{"m":"","st":10,"tkn":null}}'),
        ("", '{"ERR":{"m":"","st":3}}'),
    ])
    return malformed[0], lambda reply, e=malformed[1]: None if reply == e else "expected %s" % e


async def worker_loop(url, host, port, worker, deadline, counters, states, max_payload):
    rng = random.Random(worker)
    state = states[worker]
    while time.monotonic() < deadline:
        try:
            if rng.random() < 0.03:
                await hostile(host, port, counters, rng)
            else:
                await session(url, worker, state, counters, rng, max_payload)
        except ConnectionClosed as e:
            counters.error("worker %d: connection closed: %s" % (worker, e))
        except (OSError, asyncio.TimeoutError) as e:
            counters.error("worker %d: %r" % (worker, e))


async def verify(url, states, counters):
    """Every key holds the last acknowledged value, or a later one sent on a
    connection that was cut before its reply."""
    async with connect(url, max_size=None, compression=None) as ws:
        for worker, state in enumerate(states):
            names = [key(worker, i) for i in range(KEYS_PER_WORKER)]
            await ws.send(json.dumps({"KV_GET": {"keys": names}}))
            got = json.loads(await ws.recv())["KV_GET_RSP"]["keys"]
            for i, name in enumerate(names):
                acked = state["acked"][i]
                if not acked:
                    continue
                seq = int(got.get(name, "0:0:").split(":")[1])
                if seq < acked:
                    counters.error("lost %s: holds seq %d, acknowledged %d" % (name, seq, acked))


async def populate(url, workers):
    async with connect(url, max_size=None, compression=None) as ws:
        for worker in range(workers):
            keys = {key(worker, i): value(worker, 0) for i in range(KEYS_PER_WORKER)}
            await ws.send(json.dumps({"KV_SET": {"keys": keys}}))
            await ws.recv()


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--max-payload", type=int, default=65536)
    parser.add_argument("--populate", action="store_true")
    args = parser.parse_args()
    if args.populate:
        await populate(args.url, args.connections)
        return
    host, port = args.url.split("//")[1].strip("/").split(":")
    counters = Counters()
    states = [{"seq": 0, "sent": [0] * KEYS_PER_WORKER, "acked": [0] * KEYS_PER_WORKER}
              for _ in range(args.connections)]
    deadline = time.monotonic() + args.seconds
    await asyncio.gather(*(
        worker_loop(args.url, host, int(port), w, deadline, counters, states, args.max_payload)
        for w in range(args.connections)))
    await verify(args.url, states, counters)
    print(json.dumps({
        "connections_opened": counters.connections,
        "requests": counters.requests,
        "replies": counters.replies,
        "errors": counters.errors,
        "expected_closes": counters.expected_closes,
        "aborts": counters.aborts,
        "hostile": counters.hostile,
        "first_errors": counters.first_errors,
    }))


if __name__ == "__main__":
    asyncio.run(main())
