"""The NemesisDB 0.9 Python client's arrays and lists, against ndb.

Sends exactly what the 0.9 client (`ndb.arrays`, `ndb.lists`, HEAD
`cbced7c`) sends: the same request bodies, built as the same dicts in the
same member order, through `json.dumps({CMD: body})` over the `websockets`
asyncio client, one request in flight. Replies are judged as that client
judges them (`NdbClient.sendCmd`): when `<CMD>_RSP` is present its `st` must
be 1 (except for `exist`), an `ERR` reply raises `ResponseError`, and any
other reply is accepted unread (so a field lookup then fails with KeyError).
The methods refuse what the client refuses before sending (ValueError,
TypeError, NotImplementedError).

Usage: python3 containers09.py ws://127.0.0.1:1987/ [section ...]
Sections: arrays, sorted, lists, fixed (default: all four). `fixed` covers
requests the original crashes on or answers wrongly, which ndb answers as
its docs/protocol.md says.
"""

import asyncio
import json
import sys

from websockets.asyncio.client import connect


class ResponseError(Exception):
    pass


def raise_if_empty(name):
    if not name:
        raise ValueError("empty")


def raise_if_lt(value, limit, what):
    if value < limit:
        raise ValueError(what)


class NdbClient:
    """The request/reply discipline of the 0.9 `NdbClient.sendCmd`."""

    def __init__(self):
        self.sent = []

    async def open(self, uri):
        self.ws = await connect(uri, open_timeout=5)

    async def close(self):
        await self.ws.close()

    async def sendCmd(self, req, rsp, body, stSuccess=1, checkStatus=True):
        text = json.dumps({req: body})
        self.sent.append(text)
        await self.ws.send(text, text=True)
        reply = json.loads(await self.ws.recv())
        if rsp in reply:
            if checkStatus and reply[rsp]["st"] != stSuccess:
                raise ResponseError(reply)
        elif "ERR" in reply:
            raise ResponseError(reply)
        return reply


class _Arrays:
    prefix = None

    def __init__(self, client):
        self.client = client

    async def cmd(self, name, body, checkStatus=True):
        req = f"{self.prefix}_{name}"
        return (await self.client.sendCmd(req, req + "_RSP", body, checkStatus=checkStatus))[req + "_RSP"]

    async def create(self, name, capacity):
        raise_if_empty(name)
        if capacity <= 0:
            raise ValueError("must be > 0")
        await self.cmd("CREATE", {"name": name, "len": capacity})

    async def delete(self, name):
        raise_if_empty(name)
        await self.cmd("DELETE", {"name": name})

    async def delete_all(self):
        await self.cmd("DELETE_ALL", {})

    async def capacity(self, name):
        raise_if_empty(name)
        return (await self.cmd("LEN", {"name": name}))["len"]

    async def used(self, name):
        raise_if_empty(name)
        return (await self.cmd("USED", {"name": name}))["used"]

    async def swap(self, name, posA, posB):
        raise_if_empty(name)
        if posA == posB:
            raise ValueError("Swap indices are the same")
        await self.cmd("SWAP", {"name": name, "posA": posA, "posB": posB})

    async def exist(self, name):
        raise_if_empty(name)
        return (await self.cmd("EXIST", {"name": name}, checkStatus=False))["st"] == 1

    async def clear(self, name, start, stop=None):
        raise_if_empty(name)
        if start == stop:
            raise ValueError("start and stop the same")
        rng = [start] if stop is None else [start, stop]
        await self.cmd("CLEAR", {"name": name, "rng": rng})

    async def get(self, name, pos):
        raise_if_empty(name)
        return (await self.cmd("GET", {"name": name, "pos": pos}))["item"]

    async def get_rng(self, name, start, stop=None):
        raise_if_empty(name)
        if stop is None:
            rng = [start]
        elif start > stop:
            raise ValueError("start > stop")
        else:
            rng = [start, stop]
        return (await self.cmd("GET_RNG", {"name": name, "rng": rng}))["items"]


class _Unsorted(_Arrays):
    async def set(self, name, item, pos=None):
        raise_if_empty(name)
        if pos is None:
            await self.cmd("SET", {"name": name, "item": item})
        else:
            await self.cmd("SET", {"name": name, "pos": pos, "item": item})

    async def set_rng(self, name, items, pos=None):
        raise_if_empty(name)
        if pos is None:
            await self.cmd("SET_RNG", {"name": name, "items": items})
        else:
            await self.cmd("SET_RNG", {"name": name, "pos": pos, "items": items})


class _Sorted(_Arrays):
    async def set(self, name, item):
        raise_if_empty(name)
        await self.cmd("SET", {"name": name, "item": item})

    async def set_rng(self, name, items):
        raise_if_empty(name)
        await self.cmd("SET_RNG", {"name": name, "items": items})

    async def intersect(self, arrA, arrB):
        raise_if_empty(arrA)
        raise_if_empty(arrB)
        if arrA == arrB:
            raise ValueError("Intersect on the same arrays")
        return (await self.cmd("INTERSECT", {"srcA": arrA, "srcB": arrB}))["items"]

    async def swap(self, name, posA, posB):
        raise NotImplementedError("Swap not permitted on sorted array")


class ObjArrays(_Unsorted):
    prefix = "OARR"


class IntArrays(_Unsorted):
    prefix = "IARR"


class StringArrays(_Unsorted):
    prefix = "STRARR"


class SortedIntArrays(_Sorted):
    prefix = "SIARR"

    async def min(self, name, n=1):
        raise_if_empty(name)
        raise_if_lt(n, 1, "n < 1")
        return (await self.cmd("MIN", {"name": name, "n": n}))["items"]

    async def max(self, name, n=1):
        raise_if_empty(name)
        raise_if_lt(n, 1, "n < 1")
        return (await self.cmd("MAX", {"name": name, "n": n}))["items"]


class SortedStrArrays(_Sorted):
    prefix = "SSTRARR"


class ObjLists:
    def __init__(self, client):
        self.client = client

    async def cmd(self, name, body, checkStatus=True):
        req = f"OLST_{name}"
        return await self.client.sendCmd(req, req + "_RSP", body, checkStatus=checkStatus)

    async def create(self, name):
        raise_if_empty(name)
        await self.cmd("CREATE", {"name": name})

    async def delete_all(self):
        await self.cmd("DELETE_ALL", {})

    async def delete(self, name):
        raise_if_empty(name)
        await self.cmd("DELETE", {"name": name})

    async def exist(self, name):
        raise_if_empty(name)
        return (await self.cmd("EXIST", {"name": name}, checkStatus=False))["OLST_EXIST_RSP"]["st"] == 1

    async def length(self, name):
        raise_if_empty(name)
        return (await self.cmd("LEN", {"name": name}))["OLST_LEN_RSP"]["len"]

    async def remove(self, name, start, stop=None):
        raise_if_empty(name)
        raise_if_lt(start, 0, "start < 0")
        if stop is None:
            args = {"name": name, "rng": [start]}
        else:
            raise_if_lt(stop, 0, "stop < 0")
            raise_if_lt(stop, start, "stop < start")
            args = {"name": name, "rng": [start, stop]}
        return (await self.cmd("RMV", args))["OLST_RMV_RSP"]["size"]

    async def remove_head(self, name):
        raise_if_empty(name)
        return (await self.cmd("RMV", {"name": name, "head": True}))["OLST_RMV_RSP"]["size"]

    async def remove_tail(self, name):
        raise_if_empty(name)
        return (await self.cmd("RMV", {"name": name, "tail": True}))["OLST_RMV_RSP"]["size"]

    async def splice(self, destName, srcName, srcStart, srcEnd=None, destPos=None):
        raise_if_empty(destName)
        raise_if_empty(srcName)
        raise_if_lt(srcStart, 0, "srcStart < 0")
        args = {"srcName": srcName, "destName": destName}
        if srcEnd is not None:
            if not isinstance(srcEnd, int):
                raise TypeError("srcEnd must be int")
            raise_if_lt(srcEnd, 0, "srcEnd < 0")
            raise_if_lt(srcEnd, srcStart, "srcEnd < srcStart")
            args["srcRng"] = [srcStart, srcEnd]
        else:
            args["srcRng"] = [srcStart]
        if destPos is not None:
            if not isinstance(destPos, int):
                raise TypeError("destPos must be int")
            raise_if_lt(destPos, 0, "destPos < 0")
            args["destPos"] = destPos
        await self.cmd("SPLICE", args)

    async def add(self, name, items, pos=None):
        raise_if_empty(name)
        if items is None or not isinstance(items, (dict, list)):
            raise ValueError("items must be List[dict] or dict")
        if not (pos is None or isinstance(pos, int)):
            raise TypeError("pos must be int or None")
        data = [items] if isinstance(items, dict) else items
        if pos is None:
            args = {"name": name, "items": data}
        else:
            raise_if_lt(pos, 0, "pos < 0")
            args = {"name": name, "items": data, "pos": pos}
        return (await self.cmd("ADD", args))["OLST_ADD_RSP"]["pos"]

    async def add_head(self, name, items):
        await self.add(name, items, pos=0)

    async def add_tail(self, name, items):
        return await self.add(name, items, pos=None)

    async def set(self, name, items, start=0):
        raise_if_empty(name)
        raise_if_lt(start, 0, "start < 0")
        if items is None or not isinstance(items, (dict, list)):
            raise ValueError("items must be List[dict] or dict")
        args = {"name": name, "pos": start}
        args["items"] = [items] if isinstance(items, dict) else items
        await self.cmd("SET_RNG", args)

    async def get(self, name, pos):
        raise_if_empty(name)
        if pos is None:
            args = {"name": name}
        else:
            raise_if_lt(pos, 0, "pos < 0")
            args = {"name": name, "pos": pos}
        return (await self.cmd("GET", args))["OLST_GET_RSP"]["item"]

    async def get_head(self, name):
        return await self.get(name, pos=0)

    async def get_tail(self, name):
        return await self.get(name, pos=None)

    async def get_rng(self, name, start, stop=None):
        raise_if_empty(name)
        raise_if_lt(start, 0, "start < 0")
        if stop is None:
            rng = [start]
        else:
            if not isinstance(stop, int):
                raise TypeError("stop must be int")
            raise_if_lt(stop, 0, "stop < 0")
            raise_if_lt(stop, start, "stop < start")
            rng = [start, stop]
        return (await self.cmd("GET_RNG", {"name": name, "rng": rng}))["OLST_GET_RNG_RSP"]["items"]


def check(got, expected, what):
    if got != expected:
        raise AssertionError(f"{what}: got {got!r}, expected {expected!r}")


async def fails(what, call, error=ResponseError):
    try:
        await call
    except error:
        return
    raise AssertionError(f"{what} must raise {error.__name__}")


async def arrays(client):
    """The unsorted array classes, every method."""
    samples = [
        (ObjArrays(client), [{"a": 1}, {"b": [1, 2]}, {"c": {"d": "é"}}, {"e": None}], {}),
        (IntArrays(client), [5, -7, 9223372036854775807, -9223372036854775808], 0),
        (StringArrays(client), ["a", "żółw ☃ 𝄞", "a string beyond twenty-two bytes", ""], ""),
    ]
    for arr, items, empty in samples:
        kind = arr.prefix
        await arr.delete_all()
        await arr.create("a", 6)
        check(await arr.exist("a"), True, f"{kind} exist")
        check(await arr.exist("nope"), False, f"{kind} exist missing")
        check(await arr.capacity("a"), 6, f"{kind} capacity")
        check(await arr.used("a"), 0, f"{kind} used")
        await fails(f"{kind} create again", arr.create("a", 6))
        await fails(f"{kind} create 0", arr.create("b", 0), ValueError)
        await fails(f"{kind} create past maxCapacity", arr.create("b", 100000))
        await arr.set("a", items[0])
        await arr.set("a", items[1], pos=5)
        check(await arr.used("a"), 1, f"{kind} positional set leaves used")
        check(await arr.get("a", 5), items[1], f"{kind} get pos")
        check(await arr.get("a", 3), empty, f"{kind} get unwritten slot")
        await fails(f"{kind} get out of bounds", arr.get("a", 6))
        await fails(f"{kind} set out of bounds", arr.set("a", items[0], pos=6))
        await arr.set_rng("a", items[1:3])
        check(await arr.get_rng("a", 0), items[:3], f"{kind} get_rng")
        check(await arr.get_rng("a", 1, 2), items[1:2], f"{kind} get_rng [1,2]")
        await fails(f"{kind} get_rng reversed", arr.get_rng("a", 2, 1), ValueError)
        await arr.set_rng("a", [items[3], items[3]], pos=2)
        check(await arr.used("a"), 5, f"{kind} set_rng with pos adds to used")
        check(await arr.get_rng("a", 0), [items[0], items[1], items[3], items[3], empty], f"{kind} after set_rng pos")
        await fails(f"{kind} set_rng past the end", arr.set_rng("a", items, pos=3))
        await arr.swap("a", 0, 5)
        check((await arr.get("a", 0), await arr.get("a", 5)), (items[1], items[0]), f"{kind} swap")
        await fails(f"{kind} swap same", arr.swap("a", 1, 1), ValueError)
        await fails(f"{kind} swap out of bounds", arr.swap("a", 1, 6))
        await arr.clear("a", 1, 3)
        check(await arr.used("a"), 3, f"{kind} clear used")
        check(await arr.get_rng("a", 0), [items[1], items[3], empty], f"{kind} after clear")
        await fails(f"{kind} clear start = stop", arr.clear("a", 1, 1), ValueError)
        await arr.clear("a", 0)
        check(await arr.used("a"), 0, f"{kind} clear all")
        await fails(f"{kind} set wrong type", arr.set("a", [1]))
        await fails(f"{kind} missing array", arr.get("nope", 0))
        await arr.delete("a")
        await arr.delete("a")
        check(await arr.exist("a"), False, f"{kind} deleted")
        await fails(f"{kind} empty name", arr.delete(""), ValueError)


async def sorted_arrays(client):
    """The sorted array classes, every method."""
    ints = SortedIntArrays(client)
    await ints.delete_all()
    await ints.create("s", 6)
    await ints.set_rng("s", [20, 15, 30, 80, 5])
    await ints.set("s", 26)
    check(await ints.get_rng("s", 0), [5, 15, 20, 26, 30, 80], "sorted ints")
    check(await ints.get("s", 2), 20, "sorted get")
    check(await ints.min("s"), [5], "min")
    check(await ints.min("s", n=3), [5, 15, 20], "min 3")
    check(await ints.max("s", n=2), [80, 30], "max 2")
    await fails("min n 0", ints.min("s", n=0), ValueError)
    await fails("set full", ints.set("s", 1))
    await fails("swap", ints.swap("s", 0, 1), NotImplementedError)
    await ints.clear("s", 1, 3)
    check(await ints.get_rng("s", 0), [5, 26, 30, 80], "sorted clear")
    await ints.create("t", 10)
    await ints.set_rng("t", [26, 26, 5, 7, 80])
    check(await ints.intersect("s", "t"), [5, 26, 80], "intersect")
    check(await ints.intersect("t", "s"), [5, 26, 80], "intersect reversed")
    await fails("intersect same", ints.intersect("s", "s"), ValueError)
    await ints.create("e", 2)
    await fails("min of empty", ints.min("e"))
    await fails("max of empty", ints.max("e"))

    strs = SortedStrArrays(client)
    await strs.delete_all()
    await strs.create("s", 5)
    await strs.set_rng("s", ["é", "apple", "Apple"])
    await strs.set("s", "b")
    check(await strs.get_rng("s", 0), ["Apple", "apple", "b", "é"], "sorted strings")
    await strs.create("t", 5)
    await strs.set_rng("t", ["b", "é", "x"])
    check(await strs.intersect("s", "t"), ["b", "é"], "string intersect")
    check(await strs.used("s"), 4, "sorted used")
    await fails("sorted swap", strs.swap("s", 0, 1), NotImplementedError)
    await strs.delete_all()
    check(await strs.exist("s"), False, "delete_all")
    check(await ints.exist("s"), True, "delete_all of one type only")


async def lists(client):
    """ObjLists, every method."""
    lst = ObjLists(client)
    await lst.delete_all()
    await lst.create("l")
    check(await lst.exist("l"), True, "exist")
    check(await lst.exist("nope"), False, "exist missing")
    check(await lst.length("l"), 0, "length")
    check(await lst.add("l", [{"a": 0}, {"d": 0}]), 0, "add")
    check(await lst.add("l", [{"b": 0}, {"c": 0}], pos=1), 1, "add at 1")
    check(await lst.add_tail("l", {"e": 0}), 4, "add_tail of one dict")
    await lst.add_head("l", [{"z": 0}])
    check(await lst.get_rng("l", 0), [{"z": 0}, {"a": 0}, {"b": 0}, {"c": 0}, {"d": 0}, {"e": 0}], "get_rng")
    check(await lst.get_rng("l", 2, 4), [{"b": 0}, {"c": 0}], "get_rng [2,4]")
    check(await lst.get_rng("l", 10), [], "get_rng past the tail")
    check(await lst.get_head("l"), {"z": 0}, "get_head")
    check(await lst.get_tail("l"), {"e": 0}, "get_tail")
    check(await lst.get("l", 3), {"c": 0}, "get")
    await fails("get out of bounds", lst.get("l", 6))
    await fails("get negative", lst.get("l", -1), ValueError)
    await lst.set("l", [{"x": 1}, {"y": 2}], start=1)
    await lst.set("l", {"w": 0})
    check(await lst.get_rng("l", 0, 3), [{"w": 0}, {"x": 1}, {"y": 2}], "set")
    await fails("set past the tail", lst.set("l", [{}], start=6))
    check(await lst.remove_head("l"), 5, "remove_head")
    check(await lst.remove_tail("l"), 4, "remove_tail")
    check(await lst.remove("l", 1, 3), 2, "remove [1,3]")
    check(await lst.get_rng("l", 0), [{"x": 1}, {"d": 0}], "after removes")
    await fails("remove reversed", lst.remove("l", 2, 1), ValueError)
    check(await lst.remove("l", 0), 0, "remove all")

    await lst.create("src")
    await lst.add("src", [{"i": i} for i in range(4)])
    await lst.splice("dest", "src", 1, 3)
    check(await lst.get_rng("dest", 0), [{"i": 1}, {"i": 2}], "splice into a new list")
    check(await lst.get_rng("src", 0), [{"i": 0}, {"i": 3}], "splice source")
    await lst.splice("dest", "src", 0, destPos=1)
    check(await lst.get_rng("dest", 0), [{"i": 1}, {"i": 0}, {"i": 3}, {"i": 2}], "splice at destPos")
    check(await lst.length("src"), 0, "source left empty")
    await lst.splice("dest", "dest", 0, 2)
    check(await lst.get_rng("dest", 0), [{"i": 3}, {"i": 2}, {"i": 1}, {"i": 0}], "splice within one list")
    await fails("splice from a missing list", lst.splice("dest", "nope", 0))
    await fails("splice negative", lst.splice("dest", "src", -1), ValueError)
    await lst.delete("dest")
    await fails("delete missing", lst.delete("dest"))
    await fails("create again", lst.create("src"))
    await lst.delete_all()
    check(await lst.exist("src"), False, "delete_all")


async def fixed(client):
    """What the original crashes on or answers wrongly; ndb's answers."""
    lst = ObjLists(client)
    await lst.delete_all()
    await lst.create("l")
    # The original aborts on these; ndb answers size 0.
    check(await lst.remove_head("l"), 0, "remove_head of an empty list")
    check(await lst.remove_tail("l"), 0, "remove_tail of an empty list")
    # The original keys ADD errors OLST_CREATE_RSP, and the client fails
    # with KeyError; ndb keys them OLST_ADD_RSP: ResponseError.
    await fails("add to a missing list", lst.add("nope", [{}]))
    await fails("add a non-object", lst.add("l", [1]))
    # The original overwrites the list's header here; ndb refuses.
    await lst.add("l", [{"a": 1}, {"b": 2}])
    await fails("set past the tail", lst.set("l", [{"x": 0}, {"y": 0}], start=1))
    check(await lst.get_rng("l", 0), [{"a": 1}, {"b": 2}], "nothing written")
    # A destPos inside the moved range: undefined in the original; 13 here.
    await fails("splice into its own range", lst.splice("l", "l", 0, 2, destPos=1))

    arr = IntArrays(client)
    await arr.delete_all()
    await arr.create("a", 4)
    await arr.set_rng("a", [1, 2])
    # More than the free slots: the original writes past the array.
    await fails("append past the capacity", arr.set_rng("a", [3, 4, 5]))
    check(await arr.used("a"), 2, "nothing appended")
    # used past used < start < len: the original answers ERR 1000.
    check(await arr.get_rng("a", 3), [], "get_rng between used and len")
    # Clearing from past `used`: the original corrupts memory.
    await arr.clear("a", 3)
    check(await arr.get_rng("a", 0), [1, 2], "clear past used clears nothing")
    # Integers beyond i64: the original wraps them.
    await fails("an integer beyond i64", arr.set("a", 9223372036854775808))
    # Items of SET_RNG are checked like SET's.
    await fails("a string among integers", arr.set_rng("a", ["7"]))

    ints = SortedIntArrays(client)
    await ints.delete_all()
    await ints.create("s", 5)
    await ints.set_rng("s", [1, 2, 3])
    # Not full: the original reads free slots first.
    check(await ints.max("s"), [3], "max of an array that is not full")
    check(await ints.max("s", n=3), [3, 2, 1], "max 3")
    # An empty set_rng on a non-empty sorted array killed the original.
    await ints.set_rng("s", [])
    strs = SortedStrArrays(client)
    await strs.delete_all()
    await strs.create("s", 5)
    await strs.set_rng("s", ["a", "b", "c"])
    # The original died on this merge.
    await strs.set_rng("s", ["bb", "0"])
    check(await strs.get_rng("s", 0), ["0", "a", "b", "bb", "c"], "the merge that crashed the original")


SECTIONS = {"arrays": arrays, "sorted": sorted_arrays, "lists": lists, "fixed": fixed}


async def main(uri, sections):
    client = NdbClient()
    await client.open(uri)
    for name in sections:
        await SECTIONS[name](client)
        print(f"{name}: ok")
    # The shapes the client sends: json.dumps, member order as built.
    expected = [
        '{"OARR_SET": {"name": "a", "pos": 5, "item": {"b": [1, 2]}}}',
        '{"IARR_SET_RNG": {"name": "a", "pos": 2, "items": [-9223372036854775808, -9223372036854775808]}}',
        '{"STRARR_CLEAR": {"name": "a", "rng": [1, 3]}}',
        '{"SIARR_MIN": {"name": "s", "n": 3}}',
        '{"SIARR_INTERSECT": {"srcA": "s", "srcB": "t"}}',
        '{"OLST_SET_RNG": {"name": "l", "pos": 1, "items": [{"x": 1}, {"y": 2}]}}',
        '{"OLST_SPLICE": {"srcName": "src", "destName": "dest", "srcRng": [0], "destPos": 1}}',
        '{"OLST_RMV": {"name": "l", "head": true}}',
    ]
    if "arrays" in sections and "sorted" in sections and "lists" in sections:
        for text in expected:
            if text not in client.sent:
                raise AssertionError(f"never sent: {text}")
    await client.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2:] or list(SECTIONS)))
