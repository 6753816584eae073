"""The shape of NemesisDB's `ndb/connection.py` (both client generations):

- `connect` is imported into this module's namespace at import time and
  looked up there when the connection opens: `connect(uri, open_timeout=5)`,
  so websockets' default `max_size` (1 MiB) applies to every reply;
- a receive task stores each message and sets an event the query waits on;
- `ConnectionClosed` ends the receive task silently, so a query whose reply
  was refused (close 1009) waits for its event for ever.
"""

import asyncio
import json

from websockets import ConnectionClosed
from websockets.asyncio.client import connect


class Connection:
    async def start(self, uri):
        self.uri = uri
        self.opened = False
        self.event = asyncio.Event()
        self.ready = asyncio.Semaphore(0)
        self.task = asyncio.create_task(self.open())
        await self.ready.acquire()

    async def open(self):
        try:
            async with connect(self.uri, open_timeout=5) as websocket:
                self.ws = websocket
                self.opened = True
                self.ready.release()
                while True:
                    self.message = await websocket.recv()
                    self.event.set()
        except OSError:
            self.ready.release()
        except (ConnectionClosed, asyncio.CancelledError):
            pass
        finally:
            self.opened = False

    async def query(self, request):
        await self.ws.send(json.dumps(request), text=True)
        await self.event.wait()
        self.event.clear()
        return json.loads(self.message)

    async def close(self):
        await self.ws.close()
