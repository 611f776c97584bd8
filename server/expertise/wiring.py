"""Adapters that let ``expertise`` use the host's audit log, keys and socket.io without importing ``server``."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable

from expertise import Notice

from ..platform.audit import AuditEvent, AuditLog

__all__ = ["ExpertiseAudit", "patient_key_function", "NullNotifier"]

logger = logging.getLogger(__name__)


class ExpertiseAudit:
    def __init__(self, audit: AuditLog) -> None:
        self._audit = audit

    async def record(self, actor: str, role: str, action: str, obj: str, result: str) -> None:
        await self._audit.record(AuditEvent(actor[:64], role[:20], action[:60], obj[:120], result[:20]))


def patient_key_function(secret: bytes) -> Callable[[str], str]:
    """A keyed hash of a patient's identity: equal for the same patient, useless without the secret."""
    key = hmac.new(secret, b"lucarne:expertise-patient", hashlib.sha256).digest()

    def patient_key(material: str) -> str:
        return hmac.new(key, material.encode("utf-8"), hashlib.sha256).hexdigest()

    return patient_key


class NullNotifier:
    async def notify(self, notice: Notice) -> None:
        logger.debug("notice %s for request %s (no realtime channel)", notice.event, notice.request_id)
