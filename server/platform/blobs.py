"""Encrypted file storage for captures and uploads, under server-generated names only.

Each blob is sealed (``server.platform.crypto``) with its own data key and its id as context, written to a temporary
file of its own (two writers of one id never share it), fsynced and renamed, so a crash never leaves a half-written
blob under a real name. A failed write removes its temporary file and raises :class:`StorageFull` (no space or
quota left on the volume) or :class:`StorageUnavailable` (any other I/O failure): callers write the blob before
the database row that points to it, so a failure leaves neither.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import secrets
import time
from pathlib import Path

from .crypto import Sealer
from .ids import looks_like_id

__all__ = ["BlobStore", "BlobMissing", "StorageError", "StorageFull", "StorageUnavailable", "sweep_temporary"]

_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


class BlobMissing(LookupError):
    """No blob with that id."""


class StorageError(OSError):
    """A blob could not be written; nothing of it is left on disk."""


class StorageFull(StorageError):
    """The volume holding the blobs has no space (or quota) left."""


class StorageUnavailable(StorageError):
    """The volume holding the blobs failed to write (read-only, I/O error, missing mount…)."""


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
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(sealed)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)
            kind = StorageFull if exc.errno in _FULL else StorageUnavailable
            raise kind(exc.errno or 0, f"blob write failed: {exc.strerror or exc}") from exc


def sweep_temporary(root: Path, older_than_s: float = 3600.0) -> int:
    """Remove the temporary files of writes that never finished (a process killed mid-write); returns how many.
    Only files older than ``older_than_s`` go: another process may be writing a recent one right now."""
    if not root.is_dir():
        return 0
    removed, cutoff = 0, time.time() - older_than_s
    for temporary in root.glob("*/*.tmp"):
        with contextlib.suppress(OSError):
            if temporary.stat().st_mtime < cutoff:
                temporary.unlink()
                removed += 1
    return removed
