"""Errors of the professional directory. Only ``server/`` turns them into CLI messages or HTTP replies.

    DirectoryError
    ├── ImportRefused       (the whole file is refused before anything is written: encoding, header, format)
    ├── ProfessionalNotFound
    └── InvalidProfile      (malformed profile input; the message names the field)
"""

from __future__ import annotations

__all__ = ["DirectoryError", "ImportRefused", "ProfessionalNotFound", "InvalidProfile"]


class DirectoryError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ImportRefused(DirectoryError):
    pass


class ProfessionalNotFound(DirectoryError):
    pass


class InvalidProfile(DirectoryError):
    pass
