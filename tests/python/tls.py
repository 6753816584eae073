"""wss:// with the library the NemesisDB Python clients use.

`websockets.connect(uri, ssl=context)` with a context that trusts the test
CA, as an application passes one; the request discipline of the clients
(one `json.dumps` request, the next message its reply).

Usage: python3 tls.py wss://localhost:PORT/ CA.pem [section ...]
Sections: requests (KV_SET, KV_GET, SV_INFO over wss), unchanged (no ssl
argument at all, as the NemesisDB clients call connect: the default
context, which trusts what SSL_CERT_FILE names), old-versions (a context
that offers only TLS 1.1 or older must be refused).
"""

import asyncio
import json
import ssl
import sys

from websockets.asyncio.client import connect


async def requests(uri, ca):
    context = ssl.create_default_context(cafile=ca)
    async with connect(uri, ssl=context, open_timeout=5) as ws:
        for cmd, body, check in [
            ("KV_SET", {"keys": {"py": [1, "ż"]}}, lambda r: r["st"] == 1),
            ("KV_GET", {"keys": ["py"]}, lambda r: r["keys"] == {"py": [1, "ż"]}),
            ("SV_INFO", {}, lambda r: r["st"] == 1),
        ]:
            await ws.send(json.dumps({cmd: body}), text=True)
            reply = json.loads(await ws.recv())[cmd + "_RSP"]
            if not check(reply):
                raise AssertionError(f"{cmd}: {reply}")
    print("requests: ok")


async def unchanged(uri, ca):
    async with connect(uri, open_timeout=5) as ws:
        await ws.send(json.dumps({"KV_COUNT": {}}), text=True)
        reply = json.loads(await ws.recv())["KV_COUNT_RSP"]
        if reply["st"] != 1:
            raise AssertionError(f"KV_COUNT: {reply}")
    print("unchanged: ok")


async def old_versions(uri, ca):
    context = ssl.create_default_context(cafile=ca)
    # Let OpenSSL offer what its defaults no longer do, so that it is the
    # server that refuses.
    context.set_ciphers("ALL:@SECLEVEL=0")
    context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    context.maximum_version = ssl.TLSVersion.TLSv1_1
    try:
        async with connect(uri, ssl=context, open_timeout=5):
            pass
    except ssl.SSLError as e:
        # The server's alert, not a local failure to offer anything.
        if "NO_PROTOCOLS_AVAILABLE" in str(e):
            raise AssertionError(f"this OpenSSL cannot offer TLS 1.1: {e}")
        print(f"old-versions: refused ({e})")
        return
    raise AssertionError("a TLS 1.1 handshake succeeded")


SECTIONS = {"requests": requests, "unchanged": unchanged, "old-versions": old_versions}


async def main(uri, ca, sections):
    for name in sections:
        await SECTIONS[name](uri, ca)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3:]))
