"""Baseline for the signaling benchmark: a bare aiohttp WebSocket relay doing the same job as Lucarne's ``signal``.

Clients connect to ``/ws?room=<name>&id=<member>``; rooms hold two members. Each text message is JSON-parsed,
re-serialised as ``{"from": <sender>, "data": <data>}`` and sent to the other member of the room — no
authentication, no validation, no rate limit, no acknowledgement. Prints ``READY`` once serving.

    .venv/bin/python -m bench.bare_relay --port 8766
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import signal

from aiohttp import WSMsgType, web

rooms: dict[str, list[web.WebSocketResponse]] = {}


async def relay(request: web.Request) -> web.WebSocketResponse:
    room, me = request.query.get("room", ""), request.query.get("id", "")
    ws = web.WebSocketResponse(max_msg_size=192 * 1024)
    await ws.prepare(request)
    members = rooms.setdefault(room, [])
    if len(members) >= 2:
        await ws.close(code=4000, message=b"room full")
        return ws
    members.append(ws)
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            try:
                payload = json.loads(msg.data)
            except ValueError:
                continue
            out = json.dumps({"from": me, "data": payload.get("data")})
            for peer in members:
                if peer is not ws:
                    await peer.send_str(out)
    finally:
        members.remove(ws)
        if not members:
            rooms.pop(room, None)
    return ws


async def serve(port: int) -> None:
    app = web.Application()
    app.router.add_get("/ws", relay)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=2048).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print("READY", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(serve(args.port))


if __name__ == "__main__":
    main()
