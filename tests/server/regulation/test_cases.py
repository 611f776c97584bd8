"""Regulation cases on the real databases: membership, single-use caller links, SMS notifiers, captures."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from PIL import Image

from server.config import LimitSettings
from server.identity.accounts import Accounts
from server.identity.links import LinkSigner
from server.identity.sessions import Principal
from server.platform.audit import AuditLog
from server.platform.blobs import BlobStore
from server.platform.clock import ManualClock
from server.platform.crypto import Sealer
from server.platform.errors import Forbidden, Invalid, NotFound
from server.regulation.cases import CallerRefused, NewCase, RegulationCases
from server.regulation.notify import HttpSmsGateway, OutboxNotifier


class World:
    def __init__(self, sessions: Any, tmp_path: Path, notifier: Any = None) -> None:
        self.clock = ManualClock()
        self.sessions = sessions
        self.audit = AuditLog(sessions, self.clock)
        self.blob_root = tmp_path / "blobs"
        self.outbox = tmp_path / "outbox.jsonl"
        self.cases = RegulationCases(sessions, self.clock, Sealer(b"m" * 32), LinkSigner(b"s" * 48), self.audit,
                                     BlobStore(self.blob_root, Sealer(b"m" * 32)),
                                     notifier or OutboxNotifier(self.outbox), "https://lucarne.test")
        self.accounts = Accounts(sessions, self.clock, LimitSettings())

    async def user(self, name: str, role: str) -> Principal:
        account = await self.accounts.create(name, "a long password!", name.title(), role)
        return Principal("user", "h" * 64, "csrf", account.id, role, account.display_name)


@pytest.fixture
async def world(db: Any, tmp_path: Path) -> World:
    return World(db[1], tmp_path)


NEW = NewCase("SAMU75-2026-0042", "+33 6 12 34 56 78", "Chute d'un enfant, trauma crânien ?")


def token_of(url: str) -> str:
    return url.rsplit("/c/", 1)[1]


async def test_only_regulators_open_cases_and_only_members_see_them(world: World) -> None:
    regulator = await world.user("regulateur", "regulator")
    other = await world.user("autre", "regulator")
    doctor = await world.user("medecin", "practitioner")
    with pytest.raises(Forbidden):
        await world.cases.open_case(doctor, NEW)
    case, link = await world.cases.open_case(regulator, NEW)
    assert case.caller_phone == NEW.caller_phone and link.url.startswith("https://lucarne.test/c/")
    for outsider in (other, doctor):
        with pytest.raises(NotFound):
            await world.cases.get(outsider, case.id)
    await world.cases.add_member(regulator, case.id, "medecin")
    assert (await world.cases.get(doctor, case.id)).case_number == NEW.case_number
    assert [c.id for c in await world.cases.list_for(other)] == []
    denied = [e for e in await world.audit.entries() if e.result == "denied"]
    assert {e.actor for e in denied} >= {other.user_id, doctor.user_id}


async def test_caller_link_works_once_on_one_device_and_refusals_reach_the_timeline(world: World) -> None:
    regulator = await world.user("regulateur", "regulator")
    case, link = await world.cases.open_case(regulator, NEW)
    case_id, jti, secret = await world.cases.open_caller_link(token_of(link.url), None, "10.0.0.1")
    assert case_id == case.id and jti == link.jti and secret
    assert (await world.cases.open_caller_link(token_of(link.url), secret, "10.0.0.1"))[2] == secret  # reload
    for stranger in (None, "forged-secret"):
        with pytest.raises(CallerRefused) as refused:
            await world.cases.open_caller_link(token_of(link.url), stranger, "10.0.0.2")
        assert refused.value.code == "other_device"
    kinds = [entry.kind for entry in await world.cases.timeline(regulator, case.id)]
    assert kinds[:3] == ["case.opened", "link.created", "link.opened"] and kinds.count("link.refused") == 2


async def test_caller_link_expires_is_revoked_by_a_new_one_and_dies_with_the_case(world: World) -> None:
    regulator = await world.user("regulateur", "regulator")
    case, first = await world.cases.open_case(regulator, NEW)
    second = await world.cases.new_link(regulator, case.id)
    with pytest.raises(CallerRefused, match="revoked"):
        await world.cases.open_caller_link(token_of(first.url), None, "")
    world.clock.advance(minutes=31)
    with pytest.raises(CallerRefused, match="expired"):
        await world.cases.open_caller_link(token_of(second.url), None, "")
    world.clock.advance(minutes=-31)
    await world.cases.close(regulator, case.id)
    with pytest.raises(CallerRefused, match="closed"):
        await world.cases.open_caller_link(token_of(second.url), None, "")
    with pytest.raises(CallerRefused, match="invalid"):
        await world.cases.open_caller_link(token_of(second.url)[:-4] + "AAAA", None, "")


async def test_link_sms_goes_to_the_outbox_by_default(world: World) -> None:
    regulator = await world.user("regulateur", "regulator")
    case, link = await world.cases.open_case(regulator, NEW)
    assert await world.cases.send_link(regulator, case.id, link)
    message = json.loads(world.outbox.read_text().splitlines()[-1])
    assert message["to"] == NEW.caller_phone and link.url in message["text"]
    assert "link.sent" in [e.kind for e in await world.cases.timeline(regulator, case.id)]


@pytest.fixture
async def sms_gateway() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    async def accept(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != "Bearer gw-token":
            return web.Response(status=401)
        received.append(await request.json())
        return web.json_response({"queued": True})

    app = web.Application()
    app.router.add_post("/sms", accept)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/sms", received
    finally:
        await runner.cleanup()


async def test_http_sms_gateway_delivers_and_failures_are_recorded(db: Any, tmp_path: Path,
                                                                   sms_gateway: tuple[str, list[Any]]) -> None:
    url, received = sms_gateway
    good = World(db[1], tmp_path, HttpSmsGateway(url, "gw-token"))
    regulator = await good.user("regulateur", "regulator")
    case, link = await good.cases.open_case(regulator, NEW)
    assert await good.cases.send_link(regulator, case.id, link)
    assert received == [{"to": NEW.caller_phone, "text": link.sms_text}]
    bad = World(db[1], tmp_path, HttpSmsGateway(url, "wrong-token"))
    assert not await bad.cases.send_link(regulator, case.id, link)
    assert "link.send_failed" in [e.kind for e in await good.cases.timeline(regulator, case.id)]


def _jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (64, 48), (200, 30, 30))
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 0.0)}  # GPSInfo
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)
    return buffer.getvalue()


async def test_captures_are_cleaned_sealed_hashed_and_viewable_by_members_only(world: World) -> None:
    regulator = await world.user("regulateur", "regulator")
    other = await world.user("autre", "regulator")
    case, _ = await world.cases.open_case(regulator, NEW)
    original = _jpeg_with_gps()
    assert b"Exif" in original
    capture = await world.cases.store_capture(case.id, regulator.actor, original, "photo", {"lat": 48.85, "lon": 2.35})
    view, stored = await world.cases.capture_image(regulator, case.id, capture.id)
    assert b"Exif" not in stored and Image.open(io.BytesIO(stored)).size == (64, 48)
    import hashlib

    assert hashlib.sha256(stored).hexdigest() == view.sha256 == capture.sha256
    assert view.location == {"lat": 48.85, "lon": 2.35}
    on_disk = next(world.blob_root.rglob(capture.id)).read_bytes()
    assert stored not in on_disk and b"JFIF" not in on_disk
    with pytest.raises(NotFound):
        await world.cases.capture_image(other, case.id, capture.id)
    exported = await world.cases.export(regulator, case.id)
    assert exported["captures"][0]["sha256"] == capture.sha256
    assert [e["kind"] for e in exported["timeline"]][-1] == "capture"


@pytest.mark.parametrize("payload", [b"", b"not an image", b"<svg xmlns='http://www.w3.org/2000/svg'/>",
                                     b"%PDF-1.4\n", b"\xff\xd8\xff" + b"\x00" * 100])
async def test_non_images_are_refused(world: World, payload: bytes) -> None:
    regulator = await world.user("regulateur", "regulator")
    case, _ = await world.cases.open_case(regulator, NEW)
    with pytest.raises(Invalid):
        await world.cases.store_capture(case.id, regulator.actor, payload, "still")
    assert await world.cases.captures(regulator, case.id) == []


async def test_images_with_too_many_pixels_are_refused_before_decoding(world: World) -> None:
    regulator = await world.user("regulateur", "regulator")
    case, _ = await world.cases.open_case(regulator, NEW)
    buffer = io.BytesIO()
    Image.new("1", (6000, 5000)).save(buffer, format="PNG")
    with pytest.raises(Invalid, match="pixels"):
        await world.cases.store_capture(case.id, regulator.actor, buffer.getvalue(), "photo")


async def test_camera_commands_reach_the_caller_and_floods_are_refused(world: World) -> None:
    from server.platform.errors import RateLimited

    regulator = await world.user("regulateur", "regulator")
    case, _ = await world.cases.open_case(regulator, NEW)
    first = await world.cases.command(regulator, case.id, "switch_camera")
    await world.cases.command(regulator, case.id, "torch_on")
    pending = await world.cases.pending_commands(case.id, 0)
    assert [entry.kind for entry in pending] == ["command.switch_camera", "command.torch_on"]
    assert [e.kind for e in await world.cases.pending_commands(case.id, first.id)] == ["command.torch_on"]
    with pytest.raises(Invalid):
        await world.cases.command(regulator, case.id, "format_phone")
    with pytest.raises(RateLimited):
        for _ in range(20):
            await world.cases.command(regulator, case.id, "torch_off")
    world.clock.advance(seconds=11)
    await world.cases.command(regulator, case.id, "torch_off")  # allowed again once the window passed


async def test_a_capture_without_a_fix_is_placed_where_the_caller_last_shared_their_position(world: World) -> None:
    regulator = await world.user("regulateur", "regulator")
    case, _ = await world.cases.open_case(regulator, NEW)
    unplaced = await world.cases.store_capture(case.id, regulator.actor, _jpeg_with_gps(), "stream")
    assert unplaced.location is None  # nothing shared yet: the gallery says "not shared"
    await world.cases.record(case.id, f"caller:{case.id}", "caller.location", {"lat": 45.76, "lon": 4.83,
                                                                             "accuracy": 30})
    await world.cases.record(case.id, f"caller:{case.id}", "caller.location", {"lat": 45.77, "lon": 4.84,
                                                                             "accuracy": 20})
    placed = await world.cases.store_capture(case.id, regulator.actor, _jpeg_with_gps(), "stream")
    view, _ = await world.cases.capture_image(regulator, case.id, placed.id)
    assert placed.location == view.location == {"lat": 45.77, "lon": 4.84}
