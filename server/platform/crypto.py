"""Encryption at rest for health content: AES-256-GCM, each value sealed under its own random data key.

Layout of a sealed value: ``version(1) | wrapped_key_nonce(12) | wrapped_key(48) | nonce(12) | ciphertext+tag``.
The data key is wrapped (AES-GCM) by the configured master key, so rotating the master key only re-wraps keys.
The ``context`` (e.g. ``"chat:<consultation id>"``) is bound as associated data: a ciphertext moved to another
row does not decrypt.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["Sealer", "SealError"]

_VERSION = b"\x01"
_NONCE = 12
_WRAPPED = 32 + 16


class SealError(ValueError):
    """A sealed value is corrupt, was tampered with, or belongs to another context."""


class Sealer:
    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != 32:
            raise ValueError("master key must be 32 bytes")
        self._master = AESGCM(master_key)

    def seal(self, plaintext: bytes, context: str) -> bytes:
        data_key = AESGCM.generate_key(bit_length=256)
        key_nonce, nonce = os.urandom(_NONCE), os.urandom(_NONCE)
        wrapped = self._master.encrypt(key_nonce, data_key, b"key:" + context.encode())
        body = AESGCM(data_key).encrypt(nonce, plaintext, context.encode())
        return _VERSION + key_nonce + wrapped + nonce + body

    def open(self, sealed: bytes, context: str) -> bytes:
        if len(sealed) < 1 + 2 * _NONCE + _WRAPPED + 16 or sealed[:1] != _VERSION:
            raise SealError("not a sealed value")
        key_nonce = sealed[1 : 1 + _NONCE]
        wrapped = sealed[1 + _NONCE : 1 + _NONCE + _WRAPPED]
        nonce = sealed[1 + _NONCE + _WRAPPED : 1 + 2 * _NONCE + _WRAPPED]
        body = sealed[1 + 2 * _NONCE + _WRAPPED :]
        try:
            data_key = self._master.decrypt(key_nonce, wrapped, b"key:" + context.encode())
            return AESGCM(data_key).decrypt(nonce, body, context.encode())
        except InvalidTag as exc:
            raise SealError("sealed value does not authenticate") from exc

    def seal_text(self, text: str, context: str) -> bytes:
        return self.seal(text.encode("utf-8"), context)

    def open_text(self, sealed: bytes, context: str) -> str:
        return self.open(sealed, context).decode("utf-8")
