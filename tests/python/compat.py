"""Wire compatibility with the NemesisDB Python clients.

Talks to an ndb server exactly as the NemesisDB Python clients do: the
`websockets` library (asyncio client, open_timeout=5), each request
`json.dumps({CMD: body})` sent as a text frame, one request in flight, the
next message taken as its reply, and success judged as the clients judge
it: `reply[CMD + "_RSP"]["st"] == expected`. The 0.7.4 client raises
KeyError when a reply is keyed `ERR`, so every reply here must carry
`<CMD>_RSP`.

Usage: python3 compat.py ws://127.0.0.1:1987/ [section ...]
Sections: kv, sv (default: all of them).
"""

import asyncio
import json
import sys

from websockets.asyncio.client import connect


class ResponseError(Exception):
    pass


class Client:
    """The request/reply discipline of the NemesisDB clients."""

    async def open(self, uri):
        self.ws = await connect(uri, open_timeout=5)

    async def close(self):
        await self.ws.close()

    async def send_cmd(self, cmd, body, expected=1):
        await self.ws.send(json.dumps({cmd: body}), text=True)
        reply = json.loads(await self.ws.recv())
        rsp = reply[cmd + "_RSP"]  # KeyError here is what the 0.7.4 client does
        if rsp["st"] != expected:
            raise ResponseError(f"{cmd}: {reply}")
        return rsp

    # 0.7.4 NdbClient, KV part
    async def kv_set(self, keys):
        await self.send_cmd("KV_SET", {"keys": keys})

    async def kv_add(self, keys):
        await self.send_cmd("KV_ADD", {"keys": keys})

    async def kv_get(self, key=None, keys=None):
        if key is not None:
            rsp = await self.send_cmd("KV_GET", {"keys": [key]})
            return rsp["keys"].get(key)
        rsp = await self.send_cmd("KV_GET", {"keys": keys if keys is not None else ()})
        return rsp["keys"]

    async def kv_rmv(self, keys):
        await self.send_cmd("KV_RMV", {"keys": keys})

    async def kv_count(self):
        return (await self.send_cmd("KV_COUNT", {}))["cnt"]

    async def kv_contains(self, keys):
        return (await self.send_cmd("KV_CONTAINS", {"keys": keys}))["contains"]

    async def kv_keys(self):
        return (await self.send_cmd("KV_KEYS", {}))["keys"]

    async def kv_clear(self):
        return (await self.send_cmd("KV_CLEAR", {}))["cnt"]

    async def kv_clear_set(self, keys):
        return (await self.send_cmd("KV_CLEAR_SET", {"keys": keys}))["cnt"]

    async def sv_info(self):
        rsp = await self.send_cmd("SV_INFO", {})
        del rsp["st"]
        return rsp


def check(got, expected, what):
    if got != expected:
        raise AssertionError(f"{what}: got {got!r}, expected {expected!r}")


async def kv(client):
    await client.kv_clear()
    data = {
        "server_ip": "123.456.7.8",
        "server_port": 1987,
        "server_users": {"admins": ["user1", "user2"], "banned": ["user3"]},
        "żółw ☃ 𝄞": "non-ASCII key and value: ünïcödé 𝄞",
        "nothing": None,
        "ratio": 1.5,
    }
    await client.kv_set(data)
    values = await client.kv_get(keys=("server_users", "server_port"))
    check(values, {"server_users": data["server_users"], "server_port": 1987}, "kv_get tuple")
    check(await client.kv_get(key="żółw ☃ 𝄞"), data["żółw ☃ 𝄞"], "kv_get non-ASCII")
    check(await client.kv_get(key="nope"), None, "kv_get missing")
    check(await client.kv_get(key="nothing"), None, "kv_get null")
    check(await client.kv_get(), {}, "kv_get no keys")
    values["server_port"] = 7891
    values["server_users"]["banned"] = []
    await client.kv_set(values)
    check(await client.kv_get(keys=("server_users", "server_port")), values, "overwrite")
    await client.kv_add({"server_port": 1, "added": True})
    check(await client.kv_get(keys=("server_port", "added")), {"server_port": 7891, "added": True}, "kv_add")
    check(await client.kv_count(), 7, "kv_count")
    check(await client.kv_contains(["added", "nope", "ratio"]), ["added", "ratio"], "kv_contains")
    check(await client.kv_keys(), list(data.keys()) + ["added"], "kv_keys")
    await client.kv_rmv(("server_ip",))
    check(await client.kv_count(), 6, "kv_rmv")
    check(await client.kv_clear_set({"a": 1, "b": [1, 2]}), 6, "kv_clear_set")
    check(await client.kv_get(keys=("a", "b")), {"a": 1, "b": [1, 2]}, "after clear_set")
    check(await client.kv_clear(), 2, "kv_clear")
    try:
        await client.kv_rmv(())
    except ResponseError:
        pass
    else:
        raise AssertionError("an empty kv_rmv must fail")


async def sv(client):
    info = await client.sv_info()
    check(info["persistEnabled"], True, "persistEnabled")
    check(isinstance(info["serverVersion"], str), True, "serverVersion")


SECTIONS = {"kv": kv, "sv": sv}


async def main(uri, sections):
    client = Client()
    await client.open(uri)
    for name in sections:
        await SECTIONS[name](client)
        print(f"{name}: ok")
    await client.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2:] or list(SECTIONS)))
