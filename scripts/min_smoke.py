#!/usr/bin/env python3
"""Smoke test of an ndb-server binary: every KV, SH and SV command over a real
socket with the websockets client, each reply checked, plus /healthz and
/metrics.

  scripts/min_smoke.py BINARY [--without regex] [--without arrays] [--without auth]
                        [--without introspection]

`--without regex` says the binary was built without the `regex` feature:
a path calling match() answers 14 (CommandDisabled) instead of its result;
`--without arrays`, without `arrays`: array and list commands answer 14,
whatever their parameters; `--without auth`, without `auth`: `--user` and
a config's `users` refuse to start with a message naming the feature, and
protected mode still refuses a non-loopback listen; `--without
introspection`, without `introspection`: SV_SLOWLOG, SV_CLIENTS and
SV_CONFIG answer 14, SV_INFO has none of `commands`, `errorsByStatus`,
`keyHits`, `keyMisses` and `rssPeakBytes`, and `--check-save` exits 1
saying it is not in this build.
Starts BINARY on a free loopback port with a persist path in a temporary
directory; exit status 1 on the first wrong reply. Run by .ci/run against
the minimal static build (scripts/build-sizes.sh min).
"""

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from websockets.sync.client import connect


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Check:
    def __init__(self, ws):
        self.ws = ws
        self.commands = set()

    def ask(self, request, expect=None):
        """Sends one command; checks the reply equals `expect` when given."""
        name = next(iter(request))
        self.commands.add(name)
        self.ws.send(json.dumps(request))
        reply = json.loads(self.ws.recv(timeout=10))
        body = reply.get(f"{name}_RSP")
        if body is None:
            raise AssertionError(f"{name}: reply {reply}")
        if expect is not None and body != expect:
            raise AssertionError(f"{name}: expected {expect}, got {body}")
        return body


def run(url, without):
    with connect(url, max_size=None) as ws:
        c = Check(ws)
        # KV
        c.ask({"KV_CLEAR": {}})
        c.ask({"KV_SET": {"keys": {"city": "Leeds", "visits": 12, "tags": ["a"], "geo": {"lat": 53.8}}}}, {"st": 1})
        c.ask({"KV_ADD": {"keys": {"city": "York", "new": True}}}, {"st": 1})
        c.ask({"KV_GET": {"keys": ["city", "new", "nope"]}}, {"keys": {"city": "Leeds", "new": True}, "st": 1})
        c.ask({"KV_CONTAINS": {"keys": ["new", "nope", "city"]}}, {"contains": ["new", "city"], "st": 1})
        c.ask({"KV_COUNT": {}}, {"cnt": 5, "st": 1})
        c.ask({"KV_KEYS": {}}, {"keys": ["city", "visits", "tags", "geo", "new"], "st": 1})
        c.ask({"KV_RMV": {"keys": ["new"]}}, {"st": 1})
        c.ask({"KV_RMV": {"keys": []}}, {"m": "keys", "st": 42, "tkn": None})
        c.ask({"KV_FIND": {"path": "$.lat", "rsp": "keys"}}, {"keys": ["geo"], "st": 1})
        c.ask({"KV_FIND": {"path": "$[?@ > 10]", "rsp": "kv"}}, None)
        c.ask({"KV_FIND": {"path": "$[", "rsp": "keys"}}, {"st": 4})
        c.ask({"KV_UPDATE": {"key": "geo", "path": "$.lat", "value": 54}}, {"cnt": 1, "st": 1})
        c.ask({"KV_GET": {"keys": ["geo"]}}, {"keys": {"geo": {"lat": 54}}, "st": 1})
        c.ask({"KV_ARR_APPEND": {"key": "tags", "items": ["b", 3]}}, {"st": 1})
        c.ask({"KV_GET": {"keys": ["tags"]}}, {"keys": {"tags": ["a", "b", 3]}, "st": 1})
        regex_find = {"KV_FIND": {"path": "$[?match(@, 'b')]", "rsp": "keys"}}
        regex_update = {"KV_UPDATE": {"key": "tags", "path": "$[?search(@, 'a')]", "value": "z"}}
        if "regex" in without:
            disabled = {"m": "match() and search() are not in this build", "st": 14, "tkn": None}
            c.ask(regex_find, disabled)
            c.ask(regex_update, disabled)
        else:
            c.ask(regex_find, {"keys": ["tags"], "st": 1})
            c.ask(regex_update, {"cnt": 1, "st": 1})
        save = c.ask({"KV_SAVE": {"name": "smoke"}})
        if save["st"] not in (120, 121):
            raise AssertionError(f"KV_SAVE: {save}")
        c.ask({"KV_CLEAR_SET": {"keys": {"only": 1}}}, {"cnt": 4, "st": 1})
        load = c.ask({"KV_LOAD": {"name": "smoke"}})
        if load["st"] != 141 or load["keys"] != 4:
            raise AssertionError(f"KV_LOAD: {load}")
        c.ask({"KV_COUNT": {}}, {"cnt": 5, "st": 1})
        c.ask({"KV_CLEAR": {}}, {"cnt": 5, "st": 1})
        ws.send(json.dumps({"KV_NOPE": {}}))
        if json.loads(ws.recv(timeout=10)) != {"ERR": {"m": "", "st": 10}}:
            raise AssertionError("KV_NOPE: not the unknown-command reply")
        # SH
        c.ask({"SH_END_ALL": {}})
        tkn = c.ask({"SH_NEW": {"expiry": {"duration": 60, "deleteSession": True}}})["tkn"]
        other = c.ask({"SH_NEW": {}})["tkn"]
        c.ask({"SH_SET": {"tkn": tkn, "keys": {"user": "ada", "cart": [17]}}}, {"st": 1})
        c.ask({"SH_ADD": {"tkn": tkn, "keys": {"user": "bob", "n": 1}}}, {"st": 1})
        c.ask({"SH_GET": {"tkn": tkn, "keys": ["user", "n"]}}, {"keys": {"user": "ada", "n": 1}, "st": 1})
        c.ask({"SH_CONTAINS": {"tkn": tkn, "keys": ["n", "x"]}}, {"contains": ["n"], "st": 1})
        c.ask({"SH_COUNT": {"tkn": tkn}}, {"cnt": 3, "st": 1})
        c.ask({"SH_KEYS": {"tkn": tkn}}, {"keys": ["user", "cart", "n"], "st": 1})
        c.ask({"SH_RMV": {"tkn": tkn, "keys": ["n"]}}, {"st": 1})
        info = c.ask({"SH_INFO": {"tkn": tkn}})
        if info["keyCnt"] != 2 or not info["expires"] or info["expiry"]["duration"] != 60:
            raise AssertionError(f"SH_INFO: {info}")
        c.ask({"SH_EXISTS": {"tkns": [tkn, 5, other]}}, {"exist": [tkn, other], "st": 1})
        c.ask({"SH_INFO_ALL": {}}, {"st": 1, "totalKeys": 2, "totalSessions": 2})
        save = c.ask({"SH_SAVE": {"name": "smoke-sh"}})
        if save["st"] not in (120, 121):
            raise AssertionError(f"SH_SAVE: {save}")
        c.ask({"SH_CLEAR_SET": {"tkn": tkn, "keys": {"k": 1}}}, {"cnt": 2, "st": 1})
        c.ask({"SH_CLEAR": {"tkn": tkn}}, {"cnt": 1, "st": 1})
        c.ask({"SH_END": {"tkn": other}}, {"st": 1, "tkn": other})
        c.ask({"SH_END": {"tkn": other}}, {"st": 100, "tkn": other})
        c.ask({"SH_END_ALL": {}}, {"cnt": 1, "st": 1})
        load = c.ask({"SH_LOAD": {"name": "smoke-sh"}})
        if load["st"] != 141 or load["sessions"] != 2:
            raise AssertionError(f"SH_LOAD: {load}")
        c.ask({"SH_GET": {"tkn": tkn, "keys": ["user"]}}, {"keys": {"user": "ada"}, "st": 1})
        # Arrays and lists (0.9): one command, or 14 without the feature.
        if "arrays" in without:
            c.ask({"OARR_CREATE": {"name": "o", "len": 2}}, {"st": 14})
            c.ask({"OLST_CREATE": {"name": 5}}, {"st": 14})
        else:
            c.ask({"OARR_CREATE": {"name": "o", "len": 2}}, {"st": 1})
        # SV
        sv = c.ask({"SV_INFO": {}})
        if sv["st"] != 1 or sv["sessions"] != 2 or not sv["serverVersion"]:
            raise AssertionError(f"SV_INFO: {sv}")
        newer = {"commands", "errorsByStatus", "keyHits", "keyMisses", "rssPeakBytes"}
        if "introspection" in without:
            if newer & sv.keys():
                raise AssertionError(f"SV_INFO without introspection has {sorted(newer & sv.keys())}")
            for name in ("SV_SLOWLOG", "SV_CLIENTS", "SV_CONFIG"):
                c.ask({name: {}}, {"m": "not in this build", "st": 14, "tkn": None})
        else:
            if not newer <= sv.keys():
                raise AssertionError(f"SV_INFO lacks {sorted(newer - sv.keys())}")
            for name in ("SV_SLOWLOG", "SV_CLIENTS", "SV_CONFIG"):
                body = c.ask({name: {}})
                if body["st"] != 1:
                    raise AssertionError(f"{name}: {body}")
        return c.commands


def refusals_without_auth(binary, work):
    """Without `auth`: users refused at start, protected mode still on."""
    hex64 = "0" * 64
    users = f"{work}/users.json"
    with open(users, "w") as f:
        json.dump({"version": 5, "users": [{"name": "app", "role": "write", "passwordSha256": hex64}]}, f)
    cases = [
        (["--user", f"app:write:{hex64}"], "--user: this ndb-server was built without users and roles"),
        (["--config", users], "users: this ndb-server was built without users and roles"),
        (["--ip", "0.0.0.0"], "built without users (the cargo feature `auth`"),
    ]
    for flags, expected in cases:
        try:
            run = subprocess.run(
                [binary, "--port", str(free_port()), *flags], capture_output=True, text=True, timeout=5
            )
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{' '.join(flags)}: started instead of refusing") from None
        if run.returncode == 0 or expected not in run.stderr:
            raise AssertionError(f"{' '.join(flags)}: exit {run.returncode}, expected {expected!r} in {run.stderr!r}")


def refusal_without_introspection(binary, work):
    """Without `introspection`: `--check-save` says it is not in this build."""
    run = subprocess.run([binary, "--check-save", work], capture_output=True, text=True, timeout=5)
    expected = "--check-save: this ndb-server was built without the save checker"
    if run.returncode != 1 or expected not in run.stderr:
        raise AssertionError(f"--check-save: exit {run.returncode}, expected {expected!r} in {run.stderr!r}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("--without", action="append", default=[], choices=["regex", "arrays", "auth", "introspection"])
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as work:
        if "auth" in args.without:
            refusals_without_auth(args.binary, work)
        if "introspection" in args.without:
            refusal_without_introspection(args.binary, work)
        config = f"{work}/config.json"
        with open(config, "w") as f:
            json.dump({"version": 5, "persist": {"enabled": True, "path": f"{work}/saves"}}, f)
        log = open(f"{work}/server.log", "w+")
        server = subprocess.Popen([args.binary, "--config", config, "--port", str(port)], stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 10
            while True:
                log.seek(0)
                if "listening on" in log.read():
                    break
                if server.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise AssertionError(f"the server did not start: {log.read()}")
                time.sleep(0.02)
            commands = run(f"ws://127.0.0.1:{port}/", args.without)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as r:
                if r.status != 200:
                    raise AssertionError(f"/healthz: {r.status}")
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
                if b'ndb_requests_total{command="KV_SET"' not in r.read():
                    raise AssertionError("/metrics lacks ndb_requests_total for KV_SET")
        finally:
            server.terminate()
            server.wait(timeout=10)
    served = sorted(c for c in commands if c.startswith(("KV_", "SH_", "SV_")))
    print(f"min_smoke: {len(served)} commands answered as documented: {' '.join(served)}")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"min_smoke: {e}", file=sys.stderr)
        sys.exit(1)
