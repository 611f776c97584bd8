"""The background task that fires due deadlines. State lives in the database, so any process can run one."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from .requests import ExpertiseRequests

__all__ = ["DeadlineRunner"]

logger = logging.getLogger(__name__)


class DeadlineRunner:
    """Polls for due timers every ``interval_s`` and fires them (each exactly once, across processes)."""

    def __init__(self, service: ExpertiseRequests, interval_s: float = 1.0) -> None:
        if interval_s <= 0:
            raise ValueError("interval must be positive")
        self._service = service
        self._interval = interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="expertise-deadlines")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                await self._service.fire_due()
            except asyncio.CancelledError:
                raise
            except Exception:  # a database hiccup must not stop deadlines for good
                logger.exception("firing expertise deadlines failed; retrying")
            await asyncio.sleep(self._interval)
