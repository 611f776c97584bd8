"""A UDP port range for the server's ICE host candidates (``LUCARNE_MEDIA_PORTS``), so a firewall or a container
needs only that range open.

aioice (0.13) has no option for it: ``Connection.get_component_candidates`` binds each host candidate with
``loop.create_datagram_endpoint(..., local_addr=(address, 0))`` and the system picks the port (aiortc#487,
aioice#47; the proposed ``port_range`` argument, aioice#112, is not released). Forks patch that function; we keep
aioice unmodified and give the ``aioice.ice`` module a view of ``asyncio`` whose running loop binds port-0 datagram
endpoints to a free port of the range instead (tried from a random offset, wrapping around, skipping ports in use).
Everything else goes to the real ``asyncio`` and loop. Only host candidates are affected: STUN and TURN client
sockets live in other modules. Like the host-address hook in ``peers.py`` this is process-wide: one media
configuration per process.
"""

from __future__ import annotations

import asyncio
import errno
import inspect
import logging
import random
from typing import Any

import aioice.ice

from .errors import MediaError

__all__ = ["use_port_range"]

logger = logging.getLogger(__name__)

_BIND_CALL = "local_addr=(address, 0)"


class _RangedLoop:
    def __init__(self, loop: asyncio.AbstractEventLoop, ports: tuple[int, int]) -> None:
        self._loop = loop
        self._ports = ports

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loop, name)

    async def create_datagram_endpoint(self, protocol_factory: Any, local_addr: Any = None, **kwargs: Any) -> Any:
        if local_addr is None or local_addr[1] != 0:
            return await self._loop.create_datagram_endpoint(protocol_factory, local_addr=local_addr, **kwargs)
        low, high = self._ports
        count = high - low + 1
        start = random.randrange(count)
        for step in range(count):
            port = low + (start + step) % count
            try:
                return await self._loop.create_datagram_endpoint(protocol_factory, local_addr=(local_addr[0], port),
                                                                 **kwargs)
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
        logger.warning("no free UDP port in %d-%d for a host candidate on %s", low, high, local_addr[0])
        raise OSError(errno.EADDRINUSE, f"no free UDP port in {low}-{high}")


class _AsyncioView:
    """What ``aioice.ice`` sees as ``asyncio``: the real module, with a range-aware running loop."""

    def __init__(self, ports: tuple[int, int]) -> None:
        self.ports = ports

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    def get_running_loop(self) -> _RangedLoop:
        return _RangedLoop(asyncio.get_running_loop(), self.ports)


def use_port_range(ports: tuple[int, int] | None) -> None:
    """Bind the host candidates of every later ICE gathering in this process to ``ports`` (inclusive), or to
    system-chosen ports again with ``None``."""
    if ports is None:
        # aioice.ice's own ``asyncio`` global is replaced on purpose (private, not re-exported): see _AsyncioView.
        aioice.ice.asyncio = asyncio  # type: ignore[attr-defined]
        return
    low, high = ports
    if not 1 <= low <= high <= 65535:
        raise MediaError(f"invalid UDP port range {low}-{high}")
    try:
        source = inspect.getsource(aioice.ice.Connection.get_component_candidates)
    except (OSError, TypeError):
        source = _BIND_CALL  # no source shipped: rely on the test of the range
    if _BIND_CALL not in source:
        raise MediaError(f"aioice {getattr(aioice, '__version__', '?')} no longer binds host candidates with "
                         f"{_BIND_CALL!r}: the UDP port range cannot be applied")
    # Replaces aioice.ice's private ``asyncio`` module global with a view whose running loop binds in the range.
    aioice.ice.asyncio = _AsyncioView((low, high))  # type: ignore[attr-defined,assignment]
