"""Sending the caller's link by SMS: a pluggable notifier.

``OutboxNotifier`` (default) appends each message to a local file that an operator or a test can read;
``HttpSmsGateway`` posts JSON to an SMS gateway (``LUCARNE_SMS_GATEWAY_URL``, bearer ``LUCARNE_SMS_GATEWAY_TOKEN``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

import aiohttp

__all__ = ["SmsNotifier", "OutboxNotifier", "HttpSmsGateway", "NotifyFailed"]

logger = logging.getLogger(__name__)


class NotifyFailed(RuntimeError):
    """The message could not be handed to the SMS channel."""


class SmsNotifier(Protocol):
    async def send(self, to: str, text: str) -> None:
        """Deliver ``text`` to phone number ``to`` or raise :class:`NotifyFailed`."""
        ...


@dataclass
class OutboxNotifier:
    path: Path

    async def send(self, to: str, text: str) -> None:
        line = json.dumps({"at": datetime.now().astimezone().isoformat(), "to": to, "text": text}) + "\n"
        await asyncio.to_thread(self._append, line)
        logger.info("SMS written to outbox %s", self.path)

    def _append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line)


@dataclass
class HttpSmsGateway:
    url: str
    token: str = ""
    timeout_s: float = 10.0

    async def send(self, to: str, text: str) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as http, \
                    http.post(self.url, json={"to": to, "text": text}, headers=headers) as response:
                if response.status >= 300:
                    raise NotifyFailed(f"SMS gateway answered {response.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise NotifyFailed(f"SMS gateway unreachable: {exc}") from exc
