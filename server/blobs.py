"""Encrypted file storage for captures and uploads, under server-generated names only.

Each blob is sealed (``server.crypto``) with its own data key and its id as context, written to a temporary file,
fsynced and renamed, so a crash never leaves a half-written blob under a real name.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from .crypto import Sealer
from .ids import looks_like_id

__all__ = ["BlobStore", "BlobMissing"]


class BlobMissing(LookupError):
    """No blob with that id."""


class BlobStore:
    def __init__(self, root: Path, sealer: Sealer) -> None:
        self._root = root
        self._sealer = sealer

    def _path(self, blob_id: str) -> Path:
        if not looks_like_id(blob_id):
            raise ValueError("blob ids are server-generated 32-character hex strings")
        return self._root / blob_id[:2] / blob_id

    async def put(self, blob_id: str, data: bytes) -> None:
        await asyncio.to_thread(self._write, self._path(blob_id), self._sealer.seal(data, f"blob:{blob_id}"))

    async def get(self, blob_id: str) -> bytes:
        path = self._path(blob_id)
        try:
            sealed = await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError as exc:
            raise BlobMissing(blob_id) from exc
        return self._sealer.open(sealed, f"blob:{blob_id}")

    async def delete(self, blob_id: str) -> None:
        await asyncio.to_thread(self._path(blob_id).unlink, True)

    @staticmethod
    def _write(path: Path, sealed: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(sealed)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
