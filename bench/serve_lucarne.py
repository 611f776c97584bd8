"""Run the real Lucarne app for the signaling benchmark: plain HTTP on 127.0.0.1, a fresh migrated SQLite database.

TLS is left out on both sides of the comparison (the bare relay has none either). The session cookie is still set
``Secure``; the load client sends it explicitly in a ``Cookie`` header. Prints ``READY`` once serving; stops on
SIGTERM/SIGINT. With ``--profile FILE``, SIGUSR1 starts cProfile and SIGUSR2 stops it and dumps the stats to FILE
(so only the measured window is profiled).

    .venv/bin/python -m bench.serve_lucarne --port 8765 --username bench --password 'correct horse battery'
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import secrets
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from aiohttp import web

from server.app import create_app
from server.config import LimitSettings, Settings
from server.identity.accounts import Accounts
from server.platform.clock import SystemClock
from server.platform.db import open_database
from server.platform.migrate import upgrade
from server.platform.runtime import EVENT_LOOPS, freeze_startup_heap, new_event_loop


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def _prepare(settings: Settings, username: str, password: str) -> None:
    async with open_database(settings.database_url) as (engine, sessions):
        await upgrade(engine)
        await Accounts(sessions, SystemClock(), settings.limits).create(username, password, f"Dr {username}",
                                                                         "practitioner")


async def serve(port: int, username: str, password: str, workdir: Path, profile: Path | None) -> None:
    url = f"http://127.0.0.1:{port}"
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{workdir / 'bench.db'}",
        secret_key=secrets.token_bytes(48),
        master_key=secrets.token_bytes(32),
        public_url=url,
        host="127.0.0.1",
        port=port,
        data_dir=workdir,
        # One load generator on one address opens every connection: the per-address connect limit is not measured.
        limits=LimitSettings(socket_connect_burst=100_000, socket_connects_per_s=100_000.0),
    )
    await _prepare(settings, username, password)
    app = create_app(settings)
    freeze_startup_heap()  # as `lucarne run` does
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=2048).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if profile is not None:
        import cProfile

        profiler = cProfile.Profile()

        def dump() -> None:
            profiler.disable()
            profiler.dump_stats(str(profile))

        loop.add_signal_handler(signal.SIGUSR1, profiler.enable)
        loop.add_signal_handler(signal.SIGUSR2, dump)
    print("READY", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--username", default="bench")
    parser.add_argument("--password", default="correct horse battery")
    parser.add_argument("--event-loop", choices=EVENT_LOOPS, default=Settings.event_loop,
                        help="the loop `lucarne run` uses by default (LUCARNE_EVENT_LOOP)")
    parser.add_argument("--profile", type=Path, default=None,
                        help="SIGUSR1 starts cProfile, SIGUSR2 stops it and writes the stats here")
    args = parser.parse_args()
    # Production logs at INFO; nothing on the signaling happy path logs, so WARNING changes no hot path.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    _raise_fd_limit()
    workdir = Path(tempfile.mkdtemp(prefix="lucarne-sigbench-"))
    main_coroutine = serve(args.port, args.username, args.password, workdir, args.profile)
    try:
        with asyncio.Runner(loop_factory=lambda: new_event_loop(args.event_loop)) as runner:
            runner.run(main_coroutine)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
