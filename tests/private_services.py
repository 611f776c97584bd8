"""A PostgreSQL or Redis of the test's own, in a temporary directory on a free port, that the test may stop and
start again (never the machine's shared servers). Outside CI the tests skip when the binaries are missing."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import IN_CI, free_port

__all__ = ["PrivatePostgres", "PrivateRedis", "postgres_binaries", "redis_binary"]

_PG_DIRS = [Path(p) for p in ("/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin",
                              "/usr/lib/postgresql/15/bin", "/usr/local/pgsql/bin")]


def _missing(what: str) -> None:
    if IN_CI:
        pytest.fail(f"{what} must be installed in CI")
    pytest.skip(f"{what} not installed")


def postgres_binaries() -> Path:
    for directory in _PG_DIRS:
        if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            return directory
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).parent
    _missing("PostgreSQL server binaries (initdb, pg_ctl)")
    raise AssertionError("unreachable")


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if not found:
        _missing("redis-server")
    return str(found)


def _as_postgres(command: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root: use the system's postgres account then.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


@dataclass
class PrivatePostgres:
    """``initdb`` + ``pg_ctl`` in a temporary directory; :meth:`stop` and :meth:`start` simulate a restart."""

    bin: Path
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="lucarne-pg-")))
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        subprocess.run(_as_postgres([str(self.bin / args[0]), *args[1:]]), check=True, capture_output=True,
                       timeout=60)

    def init(self) -> PrivatePostgres:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        self._run("initdb", "-D", str(self.root / "data"), "-A", "trust", "-U", "postgres", "--no-sync",
                  "-E", "UTF8")
        self.start()
        return self

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.root / "data"), "-o", options, "-l", str(self.root / "log"), "-w",
                  "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class PrivateRedis:
    """A ``redis-server`` without persistence; :meth:`stop` and :meth:`start` take it away and bring it back."""

    binary: str
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        self.process = subprocess.Popen([self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                                         "--save", "", "--appendonly", "no"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        import socket
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None
