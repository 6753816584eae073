"""The shape of NemesisDB's `NdbClient`: calls go through `Connection`."""

from ndb.connection import Connection


class NdbClient:
    def __init__(self):
        self.ws = Connection()

    async def open(self, uri):
        await self.ws.start(uri)

    async def close(self):
        await self.ws.close()

    async def kv_set(self, keys):
        rsp = await self.ws.query({"KV_SET": {"keys": keys}})
        assert rsp["KV_SET_RSP"]["st"] == 1, rsp

    async def kv_get(self, keys=()):
        rsp = await self.ws.query({"KV_GET": {"keys": keys}})
        assert rsp["KV_GET_RSP"]["st"] == 1, rsp
        return rsp["KV_GET_RSP"]["keys"]
