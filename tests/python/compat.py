"""Wire compatibility with the NemesisDB Python clients.

Talks to an ndb server exactly as the NemesisDB Python clients do: the
`websockets` library (asyncio client, open_timeout=5), each request
`json.dumps({CMD: body})` sent as a text frame, one request in flight, the
next message taken as its reply, and success judged as the clients judge
it: `reply[CMD + "_RSP"]["st"] == expected`. The 0.7.4 client raises
KeyError when a reply is keyed `ERR`, so every reply here must carry
`<CMD>_RSP`.

Usage: python3 compat.py ws://127.0.0.1:1987/ [section ...]
Sections: kv, sv, sh (default: all of them).
"""

import asyncio
import json
import sys

from websockets.asyncio.client import connect


class ResponseError(Exception):
    pass


class Session:
    def __init__(self, tkn):
        self.tkn = tkn

    @property
    def tknValid(self):
        return self.tkn > 0


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

    # 0.7.4 NdbClient, session part: the token goes last in the body
    async def send_tkn_cmd(self, cmd, body, tkn):
        body["tkn"] = tkn
        return await self.send_cmd(cmd, body)

    async def sh_create(self, durationSeconds=0, deleteSessionOnExpire=False, extendOnSetAdd=False, extendOnGet=False):
        if durationSeconds < 0:
            raise ValueError("durationSeconds")
        if durationSeconds == 0 and (deleteSessionOnExpire or extendOnSetAdd or extendOnGet):
            raise ValueError("flags without a duration")
        body = {}
        if durationSeconds > 0:
            body["expiry"] = {
                "duration": durationSeconds,
                "deleteSession": deleteSessionOnExpire,
                "extendOnSetAdd": extendOnSetAdd,
                "extendOnGet": extendOnGet,
            }
        return Session((await self.send_cmd("SH_NEW", body))["tkn"])

    async def sh_end(self, tkn):
        await self.send_tkn_cmd("SH_END", {}, tkn)

    async def sh_end_all(self):
        return (await self.send_cmd("SH_END_ALL", {}))["cnt"]

    async def sh_session_exists(self, tkns):
        return (await self.send_cmd("SH_EXISTS", {"tkns": tkns}))["exist"]

    async def sh_info(self, tkn):
        rsp = await self.send_tkn_cmd("SH_INFO", {}, tkn)
        del rsp["st"]
        return rsp

    async def sh_info_all(self):
        rsp = await self.send_cmd("SH_INFO_ALL", {})
        del rsp["st"]
        return rsp

    async def sh_set(self, tkn, keys):
        await self.send_tkn_cmd("SH_SET", {"keys": keys}, tkn)

    async def sh_add(self, tkn, keys):
        await self.send_tkn_cmd("SH_ADD", {"keys": keys}, tkn)

    async def sh_get(self, tkn, key=None, keys=None):
        if key is not None:
            rsp = await self.send_tkn_cmd("SH_GET", {"keys": [key]}, tkn)
            return rsp["keys"].get(key)
        rsp = await self.send_tkn_cmd("SH_GET", {"keys": keys if keys is not None else ()}, tkn)
        return rsp["keys"]

    async def sh_rmv(self, tkn, keys):
        await self.send_tkn_cmd("SH_RMV", {"keys": keys}, tkn)

    async def sh_count(self, tkn):
        return (await self.send_tkn_cmd("SH_COUNT", {}, tkn))["cnt"]

    async def sh_keys(self, tkn):
        return (await self.send_tkn_cmd("SH_KEYS", {}, tkn))["keys"]

    async def sh_clear(self, tkn):
        return (await self.send_tkn_cmd("SH_CLEAR", {}, tkn))["cnt"]

    async def sh_contains(self, tkn, keys):
        return (await self.send_tkn_cmd("SH_CONTAINS", {"keys": keys}, tkn))["contains"]

    async def sh_clear_set(self, tkn, keys):
        return (await self.send_tkn_cmd("SH_CLEAR_SET", {"keys": keys}, tkn))["cnt"]

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


async def sh(client):
    await client.sh_end_all()
    session = await client.sh_create()
    check(session.tknValid, True, "tknValid")
    sessions = [await client.sh_create() for _ in range(10)]
    check(len({s.tkn for s in sessions + [session]}), 11, "distinct tokens")
    for s in sessions:
        await client.sh_end(s.tkn)
    for bad in ({"durationSeconds": -1}, {"durationSeconds": 0, "extendOnGet": True}):
        try:
            await client.sh_create(**bad)
        except ValueError:
            pass
        else:
            raise AssertionError(f"sh_create({bad}) must raise ValueError")

    data = {"a": 10, "b": "x", "żółw ☃ 𝄞": ["ünïcödé", None, 1.5]}
    await client.sh_set(session.tkn, data)
    check(await client.sh_get(session.tkn, key="a"), 10, "sh_get key")
    check(await client.sh_get(session.tkn, key="nope"), None, "sh_get missing")
    check(await client.sh_get(session.tkn, keys=("b", "żółw ☃ 𝄞")), {"b": "x", "żółw ☃ 𝄞": data["żółw ☃ 𝄞"]}, "sh_get keys")
    await client.sh_add(session.tkn, {"a": 11, "c": True})
    check(await client.sh_get(session.tkn, keys=("a", "c")), {"a": 10, "c": True}, "sh_add")
    check(await client.sh_count(session.tkn), 4, "sh_count")
    check(await client.sh_keys(session.tkn), ["a", "b", "żółw ☃ 𝄞", "c"], "sh_keys")
    check(await client.sh_contains(session.tkn, ["c", "nope"]), ["c"], "sh_contains")
    await client.sh_rmv(session.tkn, ("c",))
    check(await client.sh_count(session.tkn), 3, "sh_rmv")
    try:
        await client.sh_rmv(session.tkn, ())
    except ResponseError:
        pass
    else:
        raise AssertionError("an empty sh_rmv must fail")

    info = await client.sh_info(session.tkn)
    check(info["tkn"], session.tkn, "sh_info tkn")
    check(info["keyCnt"], 3, "sh_info keyCnt")
    check(info["expires"], False, "sh_info expires")
    check("expiry" in info, False, "sh_info without expiry")
    expiring = await client.sh_create(durationSeconds=10, extendOnGet=True)
    info = await client.sh_info(expiring.tkn)
    check((info["expires"], info["expiry"]["duration"]), (True, 10), "sh_info expiry")
    check((info["expiry"]["extendOnGet"], info["expiry"]["extendOnSetAdd"]), (True, False), "sh_info flags")
    check(info["expiry"]["remaining"] in (9, 10), True, "sh_info remaining")
    totals = await client.sh_info_all()
    check((totals["totalSessions"], totals["totalKeys"]), (2, 3), "sh_info_all")
    check(await client.sh_session_exists([session.tkn, 1, expiring.tkn]), [session.tkn, expiring.tkn], "exists")
    check(await client.sh_clear_set(session.tkn, {"k": 1}), 3, "sh_clear_set")
    check(await client.sh_clear(session.tkn), 1, "sh_clear")

    short = await client.sh_create(durationSeconds=1, deleteSessionOnExpire=True)
    await client.sh_set(short.tkn, {"otp": 123456})
    await asyncio.sleep(1.05)
    check(await client.sh_session_exists([short.tkn]), [], "expired")
    try:
        await client.sh_get(short.tkn, key="otp")
    except ResponseError:
        pass
    else:
        raise AssertionError("an expired session must not serve data")
    check(await client.sh_end_all(), 2, "sh_end_all")


SECTIONS = {"kv": kv, "sv": sv, "sh": sh}


async def main(uri, sections):
    client = Client()
    await client.open(uri)
    for name in sections:
        await SECTIONS[name](client)
        print(f"{name}: ok")
    await client.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2:] or list(SECTIONS)))
