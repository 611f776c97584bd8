"""A socket.io client written by hand over aiohttp's WebSocket: it sends exactly the frames a test types, the way an
attacker's script would (event names a real client refuses to send, broken JSON, binary headers, ping floods)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import aiohttp

__all__ = ["RawSocket"]


@dataclass
class RawSocket:
    ws: aiohttp.ClientWebSocketResponse
    pending: list[str] = field(default_factory=list)  # socket.io packets received but not asked for yet
    next_id: int = 1

    @classmethod
    async def open(cls, session: aiohttp.ClientSession, url: str, *, headers: dict[str, str] | None = None,
                   namespaces: tuple[str, ...] = ("/call",)) -> RawSocket:
        """Open an Engine.IO WebSocket and connect the namespaces; each must answer with CONNECT."""
        ws_url = url.replace("https://", "wss://").replace("http://", "ws://").rstrip("/")
        ws = await session.ws_connect(f"{ws_url}/socket.io/?EIO=4&transport=websocket", headers=headers or {})
        opened = await ws.receive_str(timeout=5)
        assert opened.startswith("0{"), opened
        raw = cls(ws)
        for namespace in namespaces:
            reply = await raw.connect(namespace)
            assert reply.startswith(f"0{namespace},"), reply
        return raw

    async def connect(self, namespace: str) -> str:
        """Send a namespace CONNECT; the server's answer (``0/ns,{sid}`` or ``4/ns,{error}``)."""
        await self.ws.send_str(f"40{namespace},")
        return await self.expect(lambda p: p[1:].startswith(f"{namespace},") and p[:1] in "04")

    async def send(self, text: str) -> None:
        """One Engine.IO message (``4`` is prepended)."""
        await self.ws.send_str("4" + text)

    async def call(self, namespace: str, body: str, timeout: float = 5) -> Any:
        """Send ``2<ns>,<id><body>`` and return the acknowledgement's first value."""
        ack_id = self.next_id
        self.next_id += 1
        await self.send(f"2{namespace},{ack_id}{body}")
        return await self.ack(namespace, ack_id, timeout)

    async def ack(self, namespace: str, ack_id: int, timeout: float = 5) -> Any:
        prefix = f"3{namespace},{ack_id}["
        packet = await self.expect(lambda p: p.startswith(prefix), timeout)
        return json.loads(packet[len(prefix) - 1:])[0]

    async def expect(self, wanted: Any, timeout: float = 5) -> str:
        for index, packet in enumerate(self.pending):
            if wanted(packet):
                return self.pending.pop(index)
        async with asyncio.timeout(timeout):
            while True:
                packet = await self.packet()
                if wanted(packet):
                    return packet
                self.pending.append(packet)

    async def packet(self) -> str:
        """The next socket.io packet; the server's pings are answered on the way."""
        while True:
            message = await self.ws.receive()
            if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                raise ConnectionError("the server closed the connection")
            if message.type is not aiohttp.WSMsgType.TEXT:
                continue
            if message.data == "2":
                await self.ws.send_str("3")
            elif message.data.startswith("4"):
                return str(message.data[1:])

    async def closed_by_server(self, timeout: float = 5) -> bool:
        try:
            async with asyncio.timeout(timeout):
                while True:
                    await self.packet()
        except ConnectionError:
            return True
        except TimeoutError:
            return False

    async def close(self) -> None:
        await self.ws.close()
