"""Signaling benchmark: Lucarne's ``/call`` namespace (python-socketio on aiohttp) versus a bare aiohttp WebSocket
relay doing the same job, measured in the same run.

Both servers run as their own process pinned to core 0 (``taskset -c 0``); this process is the load generator,
pinned to core 1, speaking socket.io frames directly over aiohttp WebSockets (``bench/sio_light.py``) because
``socketio.AsyncClient`` saturates a core before the server does. Plain HTTP on 127.0.0.1 for both (TLS is out of
scope of the comparison). Every run starts fresh servers; runs alternate which server goes first.

Per run and per server:

1. set-up: ``--pairs`` consultations (Lucarne: one practitioner creates each over the JSON API, the patient
   exchanges its link for a session cookie, both sockets ``join``, the patient is ``ready``, the practitioner
   ``admit``\\ s, both ``enter``) or as many two-member rooms (bare relay);
2. max relayed messages/s: closed loop, each pair keeps 4 ICE-candidate-like messages (about 200 B) in flight
   (2 each way); a message is counted when the peer receives it; ``--warmup`` s then ``--measure`` s measured.
   Server CPU (utime+stime from /proc) over the window gives µs per relayed message. Lucarne allows 50 ``signal``
   events/s per connection: the load is spread over all pairs, and a client-side guard keeps every Lucarne
   connection under 40/s (the report says whether it ever engaged and how many acks were refused);
3. round trip at a steady 1,000 relayed messages/s (500 round trips/s, A → server → B, B echoes → server → A,
   round-robin over the pairs), ``--measure`` s after a 1 s warm-up: p50/p99;
4. memory per idle connection, on another fresh server: RSS (VmRSS) before and after ``--idle`` connections that
   connected and joined (Lucarne: sockets share 10 patient sessions; bare: 2 per room).

    .venv/bin/python -m bench.signaling --runs 3

``--profile`` instead runs one Lucarne saturation window under cProfile and prints where the server's time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import resource
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from bench.sio_light import SioConnection

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results" / "signaling.json"
PYTHON = sys.executable
USERNAME, PASSWORD = "bench", "correct horse battery"
SERVER_CORE, CLIENT_CORE = 0, 1
CANDIDATE = {
    "candidate": "candidate:842163049 1 udp 1677729535 127.0.0.1 50000 typ srflx raddr 0.0.0.0 rport 0 generation 0 "
                 "ufrag abcd network-cost 999",
    "sdpMid": "0",
    "sdpMLineIndex": 0,
    "usernameFragment": "abcd",
}
LOOP_DATA = json.dumps({"candidate": CANDIDATE}, separators=(",", ":"))
IN_FLIGHT_PER_SIDE = 2  # 4 per pair
GUARD_RATE = 40.0  # client-side cap per Lucarne connection (server limit: 50 signal events/s)
GUARD_BURST = 20.0
RTT_RATE = 500  # round trips/s = 1,000 relayed messages/s
TICKS = os.sysconf("SC_CLK_TCK")


# -- server processes ------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """A server under test as its own process, pinned to SERVER_CORE."""

    extra_args: list[str] = []  # Lucarne only, diagnosis flags of bench/serve_lucarne.py

    def __init__(self, kind: str, profile: Path | None = None) -> None:
        self.kind = kind
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        module = "bench.serve_lucarne" if kind == "lucarne" else "bench.bare_relay"
        command = [PYTHON, "-m", module, "--port", str(self.port)]
        if kind == "lucarne":
            command += ["--username", USERNAME, "--password", PASSWORD, *Server.extra_args]
            if profile is not None:
                command += ["--profile", str(profile)]
        if _pinning():
            command = ["taskset", "-c", str(SERVER_CORE), *command]
        # The server's stderr goes to a file (shutdown cancels in-flight database work, which logs noisily);
        # its tail is shown if the server fails to start.
        handle, log_name = tempfile.mkstemp(prefix=f"lucarne-bench-{kind}-", suffix=".log")
        os.close(handle)
        self.log = Path(log_name)
        with self.log.open("w") as log:
            self.proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True)
        self.pid = self.proc.pid

    async def ready(self, timeout: float = 60) -> None:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(self.proc.stdout.readline), timeout)
        if line.strip() != "READY":
            await asyncio.sleep(0.5)
            told = self.log.read_text()[-3000:]
            await self.stop()
            raise RuntimeError(f"{self.kind} server did not start (said {line!r}); its stderr ends with:\n{told}")

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    async def stop(self) -> None:
        """SIGTERM, waiting without blocking the client loop (the server's shutdown closes our sockets)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(asyncio.to_thread(self.proc.wait), 15)
            except TimeoutError:
                self.proc.kill()
                await asyncio.to_thread(self.proc.wait, 5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.log.unlink(missing_ok=True)

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def cpu_s(self) -> float:
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def _pinning() -> bool:
    return (os.cpu_count() or 1) >= 2 and Path("/usr/bin/taskset").exists()


def client_cpu_s() -> float:
    times = os.times()
    return times.user + times.system


# -- peers -----------------------------------------------------------------------------------------------------
@dataclass
class State:
    mode: str = "idle"  # idle | loop | drain | rtt
    delivered: int = 0
    ack_errors: int = 0
    first_error: str = ""
    throttled: int = 0
    sent_at: dict[int, float] = field(default_factory=dict)
    rtts: dict[int, float] = field(default_factory=dict)


STATE = State()


class Peer:
    """One side of a pair: a Lucarne socket.io connection or a bare WebSocket, with the benchmark's hooks."""

    def __init__(self, kind: str, me: str, *, conn: SioConnection | None = None,
                 ws: aiohttp.ClientWebSocketResponse | None = None) -> None:
        self.kind, self.me, self.conn, self.ws = kind, me, conn, ws
        self.peer: Peer | None = None
        self.loop_body = ""
        self.tokens, self.refilled = GUARD_BURST, time.monotonic()
        self._reader: asyncio.Task[None] | None = None
        if conn is not None:
            conn.on_event_raw = self.on_frame
            conn.on_ack_raw = self.on_ack
        else:
            self._reader = asyncio.create_task(self._read_bare())

    def pair_with(self, other: Peer) -> None:
        self.peer = other
        self.loop_body = self.body(LOOP_DATA)

    def body(self, data_json: str) -> str:
        assert self.peer is not None
        if self.kind == "lucarne":
            return f'["signal",{{"to":"{self.peer.me}","data":{data_json}}}]'
        return f'{{"to":"{self.peer.me}","data":{data_json}}}'

    async def send(self, body: str) -> None:
        if self.conn is not None:
            now = time.monotonic()
            self.tokens = min(GUARD_BURST, self.tokens + (now - self.refilled) * GUARD_RATE)
            self.refilled = now
            if self.tokens < 1:
                STATE.throttled += 1
                await asyncio.sleep((1 - self.tokens) / GUARD_RATE)
                self.tokens, self.refilled = 1.0, time.monotonic()
            self.tokens -= 1
            await self.conn.emit_raw(body)
        else:
            assert self.ws is not None
            await self.ws.send_str(body)

    async def _read_bare(self) -> None:
        assert self.ws is not None
        try:
            async for msg in self.ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    await self.on_frame(msg.data)
        except (aiohttp.ClientError, ConnectionError):
            pass

    async def on_frame(self, text: str) -> None:
        mode = STATE.mode
        if mode == "loop":
            if self.kind == "bare" or text.startswith('42/call,["signal"'):
                STATE.delivered += 1
                await self.send(self.loop_body)
        elif mode == "rtt":
            if self.kind == "lucarne":
                if not text.startswith('42/call,["signal"'):
                    return
                data = json.loads(text[8:])[1]["data"]
            else:
                data = json.loads(text)["data"]
            candidate = data["candidate"]
            if candidate["sdpMid"] == "0":  # a ping: echo it back
                candidate["sdpMid"] = "1"
                await self.send(self.body(json.dumps(data, separators=(",", ":"))))
            else:
                seq = int(candidate["candidate"][10:19])
                sent = STATE.sent_at.pop(seq, None)
                if sent is not None:
                    STATE.rtts[seq] = time.perf_counter() - sent

    def on_ack(self, text: str) -> None:
        if '"ok":false' in text:
            STATE.ack_errors += 1
            STATE.first_error = STATE.first_error or text[:200]

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()
        elif self.ws is not None:
            await self.ws.close()
            if self._reader is not None:
                await self._reader


def ping_data(seq: int) -> str:
    line = CANDIDATE["candidate"].replace("842163049", f"{seq:09d}", 1)
    return json.dumps({"candidate": {**CANDIDATE, "candidate": line}}, separators=(",", ":"))


def new_session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, force_close=False),
                                 cookie_jar=aiohttp.DummyCookieJar())


# -- Lucarne set-up --------------------------------------------------------------------------------------------
COOKIE = "__Host-lucarne"


class Practitioner:
    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session, self.url = session, url
        self.cookie = self.csrf = ""

    async def login(self) -> None:
        response = await self.session.post(f"{self.url}/login", data={"username": USERNAME, "password": PASSWORD},
                                           headers={"Origin": self.url}, allow_redirects=False)
        if response.status != 303:
            raise RuntimeError(f"login failed: {response.status}")
        self.cookie = f"{COOKIE}={response.cookies[COOKIE].value}"
        page = await (await self.session.get(f"{self.url}/console", headers={"Cookie": self.cookie})).text()
        match = re.search(r'"csrf":\s*"([^"]+)"', page)
        if not match:
            raise RuntimeError("no CSRF token on the console page")
        self.csrf = match.group(1)

    async def consultation(self, index: int) -> tuple[str, str]:
        """Create a consultation; return its id and the patient's session cookie (link exchanged)."""
        response = await self.session.post(
            f"{self.url}/api/consultations",
            # A patient link opens only shortly before its appointment (LUCARNE_LINK_OPENS_BEFORE).
            json={"patient_name": f"Patient {index}", "language": "fr",
                  "scheduled_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat()},
            headers={"Origin": self.url, "Cookie": self.cookie, "X-CSRF-Token": self.csrf})
        if response.status != 201:
            raise RuntimeError(f"consultation not created: {response.status} {await response.text()}")
        created = await response.json()
        link = created["link"]["url"]
        # GET shows the landing page only; its button's POST exchanges the link (as a patient's tap does).
        exchanged = await self.session.post(link, allow_redirects=False,
                                            headers={"Origin": self.url, "Sec-Fetch-Site": "same-origin"})
        if exchanged.status != 303:
            raise RuntimeError(f"link exchange failed: {exchanged.status}")
        return created["consultation"]["id"], f"{COOKIE}={exchanged.cookies[COOKIE].value}"


def _ok(ack: Any, what: str) -> Any:
    if not isinstance(ack, dict) or not ack.get("ok"):
        raise RuntimeError(f"{what} refused: {ack}")
    return ack


async def lucarne_pairs(session: aiohttp.ClientSession, url: str, count: int,
                        concurrency: int = 10) -> list[tuple[Peer, Peer]]:
    doctor = Practitioner(session, url)
    await doctor.login()
    gate = asyncio.Semaphore(concurrency)

    async def one(index: int) -> tuple[Peer, Peer]:
        async with gate:
            cid, patient_cookie = await doctor.consultation(index)
            doc = await SioConnection.connect(session, url, cookie=doctor.cookie, origin=url)
            pat = await SioConnection.connect(session, url, cookie=patient_cookie, origin=url)
            doc_me = _ok(await doc.call("join", {"consultation": cid, "instance": f"doc-{index}"}), "join")["me"]
            pat_me = _ok(await pat.call("join", {"instance": f"pat-{index}"}), "join")["me"]
            _ok(await pat.call("ready", {}), "ready")
            _ok(await doc.call("admit", {"participant": pat_me}), "admit")
            _ok(await doc.call("enter", {}), "enter")
            _ok(await pat.call("enter", {}), "enter")
            a, b = Peer("lucarne", doc_me, conn=doc), Peer("lucarne", pat_me, conn=pat)
            a.pair_with(b)
            b.pair_with(a)
            return a, b

    return list(await asyncio.gather(*(one(i) for i in range(count))))


async def bare_pairs(session: aiohttp.ClientSession, url: str, count: int,
                     concurrency: int = 10) -> list[tuple[Peer, Peer]]:
    gate = asyncio.Semaphore(concurrency)

    async def one(index: int) -> tuple[Peer, Peer]:
        async with gate:
            ids = secrets.token_hex(16), secrets.token_hex(16)
            sockets = [await session.ws_connect(f"{url}/ws?room=r{index}&id={me}") for me in ids]
            a, b = Peer("bare", ids[0], ws=sockets[0]), Peer("bare", ids[1], ws=sockets[1])
            a.pair_with(b)
            b.pair_with(a)
            return a, b

    return list(await asyncio.gather(*(one(i) for i in range(count))))


# -- measurements ----------------------------------------------------------------------------------------------
async def saturate(server: Server, pairs: list[tuple[Peer, Peer]], warmup: float, measure: float,
                   profile: bool = False) -> dict[str, float]:
    STATE.delivered = STATE.ack_errors = STATE.throttled = 0
    STATE.mode = "loop"
    for a, b in pairs:
        for _ in range(IN_FLIGHT_PER_SIDE):
            await a.send(a.loop_body)
            await b.send(b.loop_body)
    await asyncio.sleep(warmup)
    if profile:
        server.signal(signal.SIGUSR1)
    count0, server0, client0, t0 = STATE.delivered, server.cpu_s(), client_cpu_s(), time.perf_counter()
    errors0, throttled0 = STATE.ack_errors, STATE.throttled
    await asyncio.sleep(measure)
    count1, server1, client1, t1 = STATE.delivered, server.cpu_s(), client_cpu_s(), time.perf_counter()
    if profile:
        server.signal(signal.SIGUSR2)
    STATE.mode = "drain"
    await asyncio.sleep(1.5)
    messages, elapsed = count1 - count0, t1 - t0
    connections = 2 * len(pairs)
    return {
        "msgs_per_s": messages / elapsed,
        "us_per_msg": (server1 - server0) / messages * 1e6 if messages else float("nan"),
        "server_cpu": (server1 - server0) / elapsed,
        "client_cpu": (client1 - client0) / elapsed,
        "per_connection_sends_per_s": messages / elapsed / connections,
        "ack_errors": STATE.ack_errors - errors0,
        "guard_engaged": STATE.throttled - throttled0,
    }


async def round_trips(server: Server, pairs: list[tuple[Peer, Peer]], measure: float) -> dict[str, float]:
    STATE.sent_at.clear()
    STATE.rtts.clear()
    errors0 = STATE.ack_errors
    STATE.mode = "rtt"
    warm = RTT_RATE  # 1 s of warm-up, not counted
    total = warm + int(RTT_RATE * measure)
    interval = 1 / RTT_RATE
    start = time.perf_counter()
    server0 = client0 = 0.0
    for n in range(total):
        if n == warm:
            server0, client0, t0 = server.cpu_s(), client_cpu_s(), time.perf_counter()
        delay = start + n * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        a, _ = pairs[n % len(pairs)]
        STATE.sent_at[n] = time.perf_counter()
        await a.send(a.body(ping_data(n)))
    t1 = time.perf_counter()
    server1, client1 = server.cpu_s(), client_cpu_s()
    deadline = time.monotonic() + 3
    while STATE.sent_at and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    STATE.mode = "idle"
    now = time.perf_counter()
    measured = [1000 * rtt for seq, rtt in STATE.rtts.items() if seq >= warm]
    # A round trip still missing after the 3 s grace counts with the time waited so far (a lower bound), so
    # losses raise the percentiles instead of vanishing from them.
    missing = [1000 * (now - sent) for seq, sent in STATE.sent_at.items() if seq >= warm]
    measured = sorted(measured + missing)
    elapsed = t1 - t0
    # Worst round trip of each second of sending (seq n was due at n / RTT_RATE): shows whether slow round
    # trips are spread out or come in bursts.
    worst: dict[int, float] = {}
    for seq, rtt in [*STATE.rtts.items(), *((seq, now - sent) for seq, sent in STATE.sent_at.items())]:
        if seq >= warm:
            second = (seq - warm) // RTT_RATE
            worst[second] = max(worst.get(second, 0.0), 1000 * rtt)
    return {
        "p50_ms": percentile(measured, 0.50),
        "p90_ms": percentile(measured, 0.90),
        "p99_ms": percentile(measured, 0.99),
        "relayed_per_s": 2 * (total - warm) / elapsed,
        "lost": len(missing),
        "server_cpu": (server1 - server0) / elapsed,
        "client_cpu": (client1 - client0) / elapsed,
        "ack_errors": STATE.ack_errors - errors0,
        "worst_per_second_ms": [round(worst[second], 1) for second in sorted(worst)],
    }


async def idle_memory(kind: str, connections: int) -> dict[str, float]:
    server = Server(kind)
    try:
        await server.ready()
        async with new_session() as session:
            if kind == "lucarne":
                doctor = Practitioner(session, server.url)
                await doctor.login()
                cookies = [(await doctor.consultation(i))[1] for i in range(10)]

                async def open_one(index: int) -> Any:
                    conn = await SioConnection.connect(session, server.url, cookie=cookies[index % len(cookies)],
                                                       origin=server.url)
                    _ok(await conn.call("join", {"instance": f"idle-{index}"}), "join")
                    return conn
            else:
                async def open_one(index: int) -> Any:
                    return await session.ws_connect(f"{server.url}/ws?room=m{index // 2}&id={secrets.token_hex(16)}")

            async def open_many(count: int, offset: int) -> list[Any]:
                gate = asyncio.Semaphore(50)

                async def gated(index: int) -> Any:
                    async with gate:
                        return await open_one(index)

                return list(await asyncio.gather(*(gated(offset + i) for i in range(count))))

            warm = await open_many(20, 1_000_000)  # first-use allocations are not per-connection cost
            for item in warm:
                await item.close()
            await asyncio.sleep(1.5)
            before = server.rss_kb()
            started = time.perf_counter()
            opened = await open_many(connections, 0)
            setup_s = time.perf_counter() - started
            await asyncio.sleep(2)
            after = server.rss_kb()
            await server.stop()  # the server goes first; the client's sockets then close with the session
            for item in opened:
                if isinstance(item, SioConnection) and item._reader is not None:
                    item._reader.cancel()
        return {"rss_before_kb": before, "rss_after_kb": after, "kb_per_connection": (after - before) / connections,
                "connects_per_s": connections / setup_s}
    finally:
        await server.stop()


async def one_server(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    began = time.perf_counter()
    server = Server(kind)
    try:
        await server.ready()
        async with new_session() as session:
            started = time.perf_counter()
            maker = lucarne_pairs if kind == "lucarne" else bare_pairs
            pairs = await maker(session, server.url, args.pairs)
            setup_s = time.perf_counter() - started
            await asyncio.sleep(1)
            sat = await saturate(server, pairs, args.warmup, args.measure)
            await asyncio.sleep(1)
            rtt = await round_trips(server, pairs, args.measure)
            if STATE.first_error:
                print(f"  {kind}: first refused ack: {STATE.first_error}", flush=True)
                STATE.first_error = ""
            await server.stop()
            abandon(pairs)
    finally:
        await server.stop()
    memory = await idle_memory(kind, args.idle)
    return {"setup_s": setup_s, "saturation": sat, "rtt": rtt, "memory": memory,
            "wall_s": time.perf_counter() - began}


def abandon(pairs: list[tuple[Peer, Peer]]) -> None:
    """After the server stopped: cancel the readers; the sockets close with the client session."""
    for pair in pairs:
        for peer in pair:
            if peer.conn is not None and peer.conn._reader is not None:
                peer.conn._reader.cancel()
            if peer._reader is not None:
                peer._reader.cancel()


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def describe(kind: str, result: dict[str, Any]) -> str:
    sat, rtt, mem = result["saturation"], result["rtt"], result["memory"]
    return (f"  {kind:7s} [{result['wall_s']:.0f} s] setup {result['setup_s']:.1f} s | {sat['msgs_per_s']:8.0f} msg/s, "
            f"{sat['us_per_msg']:5.1f} us/msg, server {sat['server_cpu']:.2f} / client {sat['client_cpu']:.2f} core, "
            f"{sat['per_connection_sends_per_s']:.1f}/s per conn, ack errors {sat['ack_errors']}, "
            f"guard {sat['guard_engaged']} | rtt@{rtt['relayed_per_s']:.0f}/s p50 {rtt['p50_ms']:.2f} "
            f"p99 {rtt['p99_ms']:.2f} ms (lost {rtt['lost']}, server {rtt['server_cpu']:.2f} core, worst per second "
            f"{'/'.join(f'{ms:.0f}' for ms in rtt['worst_per_second_ms'])} ms) | "
            f"{mem['kb_per_connection']:.1f} KB/conn ({mem['rss_before_kb'] / 1024:.1f} -> "
            f"{mem['rss_after_kb'] / 1024:.1f} MB, {mem['connects_per_s']:.0f} conn/s)")


def summarise(runs: list[dict[str, dict[str, Any]]], args: argparse.Namespace) -> dict[str, Any]:
    def values(kind: str, section: str, key: str) -> list[float]:
        return [run[kind][section][key] for run in runs]

    def med(kind: str, section: str, key: str) -> float:
        return statistics.median(values(kind, section, key))

    out: dict[str, Any] = {}
    ratios = [run["lucarne"]["saturation"]["msgs_per_s"] / run["bare"]["saturation"]["msgs_per_s"] for run in runs]
    cpu_ratios = [run["bare"]["saturation"]["us_per_msg"] / run["lucarne"]["saturation"]["us_per_msg"] for run in runs]
    out["throughput_ratio_vs_ws"] = round(med("lucarne", "saturation", "msgs_per_s")
                                          / med("bare", "saturation", "msgs_per_s"), 3)
    out["p99_ms_at_1000"] = round(med("lucarne", "rtt", "p99_ms"), 2)
    out["kb_per_idle_connection"] = round(med("lucarne", "memory", "kb_per_connection"), 1)
    for kind in ("lucarne", "bare"):
        sat = f"{kind}_msgs_per_s"
        out[sat] = round(med(kind, "saturation", "msgs_per_s"))
        out[f"{sat}_min"] = round(min(values(kind, "saturation", "msgs_per_s")))
        out[f"{sat}_max"] = round(max(values(kind, "saturation", "msgs_per_s")))
        out[f"{kind}_us_per_msg"] = round(med(kind, "saturation", "us_per_msg"), 1)
        out[f"{kind}_us_per_msg_min"] = round(min(values(kind, "saturation", "us_per_msg")), 1)
        out[f"{kind}_us_per_msg_max"] = round(max(values(kind, "saturation", "us_per_msg")), 1)
        out[f"{kind}_server_cpu_at_saturation"] = round(med(kind, "saturation", "server_cpu"), 2)
        out[f"{kind}_client_cpu_at_saturation"] = round(med(kind, "saturation", "client_cpu"), 2)
        prefix = "" if kind == "lucarne" else "bare_"
        for q in ("p50", "p90", "p99"):
            out[f"{prefix}{q}_ms_at_1000"] = round(med(kind, "rtt", f"{q}_ms"), 2)
        for q in ("p50", "p99"):
            out[f"{prefix}{q}_ms_at_1000_min"] = round(min(values(kind, "rtt", f"{q}_ms")), 2)
            out[f"{prefix}{q}_ms_at_1000_max"] = round(max(values(kind, "rtt", f"{q}_ms")), 2)
        out[f"{kind}_rtt_lost"] = sum(run[kind]["rtt"]["lost"] for run in runs)
        out[f"{kind}_server_cpu_at_1000"] = round(med(kind, "rtt", "server_cpu"), 2)
        if kind == "bare":
            out["bare_kb_per_idle_connection"] = round(med(kind, "memory", "kb_per_connection"), 1)
        out[f"{kind}_kb_per_idle_connection_min"] = round(min(values(kind, "memory", "kb_per_connection")), 1)
        out[f"{kind}_kb_per_idle_connection_max"] = round(max(values(kind, "memory", "kb_per_connection")), 1)
        out[f"{kind}_idle_connects_per_s"] = round(med(kind, "memory", "connects_per_s"))
        out[f"{kind}_setup_s"] = round(statistics.median(run[kind]["setup_s"] for run in runs), 2)
    out["throughput_ratio_vs_ws_min"] = round(min(ratios), 3)
    out["throughput_ratio_vs_ws_max"] = round(max(ratios), 3)
    out["cpu_ratio_vs_ws"] = round(statistics.median(cpu_ratios), 3)
    out["lucarne_per_connection_sends_per_s"] = round(med("lucarne", "saturation", "per_connection_sends_per_s"), 1)
    out["lucarne_ack_errors"] = sum(run["lucarne"]["saturation"]["ack_errors"] + run["lucarne"]["rtt"]["ack_errors"]
                                    for run in runs)
    out["lucarne_rate_guard_engaged"] = sum(run["lucarne"]["saturation"]["guard_engaged"] for run in runs)
    if Server.extra_args:
        out["diagnosis_server_flags"] = " ".join(Server.extra_args)
    from server.config import Settings
    from server.teleconsultation.calls import SINGLE_PROCESS_ROUTE_CACHE_S

    out["lucarne_route_cache_s"] = SINGLE_PROCESS_ROUTE_CACHE_S  # one process, no message queue: the shipped value
    out["lucarne_event_loop"] = Settings.event_loop  # the shipped default, unless diagnosis_server_flags overrides it
    out["bare_event_loop"] = "asyncio"
    out["pairs"] = args.pairs
    out["idle_connections"] = args.idle
    out["measure_s"] = args.measure
    out["runs"] = len(runs)
    out["machine"] = machine()
    out["date"] = datetime.now(UTC).isoformat(timespec="seconds")
    return out


def machine() -> str:
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return (f"{platform.machine()} {platform.system()} {platform.release()}, {os.cpu_count()} cores ({cpu}), "
            f"Python {platform.python_version()}, aiohttp {aiohttp.__version__}, "
            f"python-socketio {_version('python-socketio')}, python-engineio {_version('python-engineio')}")


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    runs: list[dict[str, dict[str, Any]]] = []
    for index in range(args.runs):
        order = ("lucarne", "bare") if index % 2 == 0 else ("bare", "lucarne")
        if args.only:
            order = (args.only,)
        print(f"run {index + 1}/{args.runs}", flush=True)
        result: dict[str, dict[str, Any]] = {}
        for kind in order:
            result[kind] = await one_server(kind, args)
            print(describe(kind, result[kind]), flush=True)
        runs.append(result)
    if args.only:
        raise SystemExit(f"--only {args.only}: nothing summarised or written")
    return summarise(runs, args)


async def profile(args: argparse.Namespace) -> None:
    """One Lucarne saturation window, profiled: cProfile (in-process, slows the server about 2×) or, with
    ``--py-spy BIN``, py-spy sampling the server from outside (no slowdown); prints self time by package."""
    workdir = Path(tempfile.mkdtemp(prefix="lucarne-prof-"))
    stats_file = workdir / ("server.txt" if args.py_spy else "server.prof")
    server = Server("lucarne", profile=None if args.py_spy else stats_file)
    spy: subprocess.Popen[bytes] | None = None
    try:
        await server.ready()
        async with new_session() as session:
            pairs = await lucarne_pairs(session, server.url, args.pairs)
            spawned: list[subprocess.Popen[bytes]] = []

            async def sample_measured_window() -> None:
                await asyncio.sleep(args.warmup)
                spawned.append(subprocess.Popen(
                    [args.py_spy, "record", "-p", str(server.pid), "-d", str(max(1, int(args.measure))), "-r", "200",
                     "-f", "raw", "-o", str(stats_file), "--threads", "--nonblocking"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

            sampler = asyncio.create_task(sample_measured_window()) if args.py_spy else None
            sat = await saturate(server, pairs, args.warmup, args.measure, profile=not args.py_spy)
            if sampler is not None:
                await sampler
                spy = spawned[0]
            print(f"profiled window: {sat['msgs_per_s']:.0f} msg/s, {sat['us_per_msg']:.0f} us/msg, "
                  f"server {sat['server_cpu']:.2f} core")
            if spy is not None:
                await asyncio.to_thread(spy.wait, 30)
            await asyncio.sleep(1)
            await server.stop()
            abandon(pairs)
    finally:
        await server.stop()
    if args.py_spy:
        print_collapsed(stats_file)
    else:
        import pstats

        stats = pstats.Stats(str(stats_file))
        stats.sort_stats("tottime").print_stats(35)
    print(f"stats: {stats_file}")


def _package(frame: str) -> str:
    """'Class.function (pkg/module.py:12)' → its owner: a package, a stdlib module or one of our files."""
    match = re.search(r"\(([^()]*?):\d+\)$", frame)
    path = match.group(1) if match else frame
    parts = path.split("/")
    top = parts[0].removesuffix(".py")
    if top in ("engineio", "socketio", "aiohttp"):
        return "/".join(parts[:2])
    if top in ("signaling", "server", "bench"):
        return path
    if top in sys.stdlib_module_names:
        return f"stdlib:{top}"
    return top


def print_collapsed(path: Path) -> None:
    """Self time by owner, and inclusive time of a few functions that matter, from py-spy's collapsed stacks."""
    import collections

    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    watched = ("_signal (signaling/server.py", "signal_route (server/teleconsultation/calls.py", "_lookup_route (server/teleconsultation/calls.py",
               "parse_signal (", "emit (socketio/async_server.py", "data_is_binary (",
               "_send_packet (socketio/async_server.py", "writer (engineio/async_socket.py",
               "_websocket_handler (engineio/async_socket.py", "_run_once (asyncio/base_events.py",
               "select (selectors.py", "dumps (json/__init__.py", "loads (json/__init__.py", "_take_token (")
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        samples = int(count)
        frames = stack.split(";")
        if frames and frames[0].startswith(("thread ", "process ")):
            frames = frames[1:]
        if not frames:
            continue
        total += samples
        own[_package(frames[-1])] += samples
        seen = set()
        for frame in frames:
            for key in watched:
                if key in frame and key not in seen:
                    seen.add(key)
                    inclusive[key] += samples
    print(f"{total} samples (all threads)")
    print("self time by owner:")
    for name, samples in own.most_common(25):
        print(f"  {100 * samples / total:5.1f}%  {name}")
    print("inclusive time of watched functions:")
    for name, samples in inclusive.most_common():
        print(f"  {100 * samples / total:5.1f}%  {name.rstrip(' (')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--idle", type=int, default=1000, help="idle connections for the memory figure")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--measure", type=float, default=10.0)
    parser.add_argument("--profile", action="store_true", help="one Lucarne saturation window, profiled")
    parser.add_argument("--py-spy", default="", help="with --profile: sample with this py-spy binary, not cProfile")
    parser.add_argument("--diag-asyncio", action="store_true",
                        help="diagnosis only: Lucarne server on the standard asyncio loop instead of uvloop")
    parser.add_argument("--only", choices=("lucarne", "bare"), help="development: one server, no summary")
    parser.add_argument("--no-write", action="store_true", help="print, do not write bench/results/signaling.json")
    args = parser.parse_args()
    if not 1 <= args.runs <= 10 or not 1 <= args.pairs <= 1000 or not 1 <= args.idle <= 5000 \
            or not 0 < args.measure <= 60 or not 0 <= args.warmup <= 30:
        raise SystemExit("bounded load only: runs 1-10, pairs 1-1000, idle 1-5000, measure ≤ 60 s, warmup ≤ 30 s")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if _pinning():
        os.sched_setaffinity(0, {CLIENT_CORE})
    if args.diag_asyncio:
        Server.extra_args += ["--event-loop", "asyncio"]
    if Server.extra_args:
        print(f"DIAGNOSIS: Lucarne server runs with {' '.join(Server.extra_args)} (not the shipped configuration); "
              "bench/results/signaling.json is not written")
        args.no_write = True
    if args.profile:
        asyncio.run(profile(args))
        return
    results = asyncio.run(run(args))
    print(json.dumps(results, indent=2))
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        print(f"written: {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
