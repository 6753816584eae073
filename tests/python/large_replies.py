"""The reply-size limit of the NemesisDB Python client, and the recipe of
docs/clients.md that raises it, run against a real server.

Usage: python3 large_replies.py ws://127.0.0.1:1987/ hang
       python3 large_replies.py ws://127.0.0.1:1987/ recipe RECIPE_FILE

`hang`: two 600 KB values and one kv_get of both (a 1.2 MB reply): the
client, with websockets' default max_size of 1 MiB, never returns.
`recipe`: the same after running the recipe (the code of RECIPE_FILE, as
docs/clients.md gives it): the reply arrives whole.
The client is the stand-in in client_shape/, which has the NemesisDB
client's structure (see its docstrings).
"""

import asyncio
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "client_shape"))

from ndb.client import NdbClient  # noqa: E402

VALUE_BYTES = 600 * 1000


async def exchange(uri):
    client = NdbClient()
    await client.open(uri)
    await client.kv_set({"a": "x" * VALUE_BYTES})
    await client.kv_set({"b": "y" * VALUE_BYTES})
    return client, await client.kv_get(keys=("a", "b"))


async def main(uri, mode, recipe=None):
    if mode == "hang":
        try:
            await asyncio.wait_for(exchange(uri), timeout=3)
        except TimeoutError:
            print("hang: ok (no reply after 3 s)")
            return
        raise SystemExit("hang: the large reply arrived without the recipe")
    with open(recipe) as f:
        exec(f.read(), {})
    client, keys = await asyncio.wait_for(exchange(uri), timeout=10)
    assert keys == {"a": "x" * VALUE_BYTES, "b": "y" * VALUE_BYTES}, "values differ"
    await client.close()
    print("recipe: ok")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
