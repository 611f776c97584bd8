"""A full upload volume (catalogue §4b 9): a real 256 KiB tmpfs under the blob store, no mock. The upload fails
with a clear 507, nothing is half-written (no .tmp, no row pointing to no blob) and the case record is intact."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from expertise.request_models import RequestAttachment
from server.keys import accounts_key, db_key
from server.platform.blobs import BlobStore, StorageFull
from server.platform.crypto import Sealer
from server.platform.models import Capture
from tests import hostile_files as hostile
from tests.conftest import IN_CI
from tests.expertise.requests_support import http_body, seed_professional
from tests.fakes import Browser, make_user, open_link

API = "/api/expertise/requests"


@contextlib.contextmanager
def tiny_volume(path: Path, size: str = "256k") -> Iterator[Path]:
    """Mount a tmpfs of ``size`` at ``path`` (root only: skipped elsewhere outside CI, where it must work)."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        if IN_CI:
            pytest.fail("the full-disk tests need root and mount in CI")
        pytest.skip("mounting a tiny filesystem needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
                             check=False, capture_output=True, text=True)
    if mounted.returncode != 0:
        if IN_CI:
            pytest.fail(f"could not mount a tmpfs: {mounted.stderr}")
        pytest.skip(f"could not mount a tmpfs: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


async def test_a_blob_write_on_a_full_volume_leaves_no_temporary_file(tmp_path: Path) -> None:
    with tiny_volume(tmp_path / "blobs") as root:
        store = BlobStore(root, Sealer(secrets.token_bytes(32)))
        with pytest.raises(StorageFull):
            await store.put(secrets.token_hex(16), os.urandom(400 * 1024))
        assert _files(root) == []
        small = secrets.token_hex(16)
        await store.put(small, b"still works")  # the store recovers once there is room
        assert await store.get(small) == b"still works"


async def test_an_attachment_on_a_full_volume_answers_507_and_stores_nothing(live_server: Any) -> None:
    sessions = live_server.app[db_key]
    await seed_professional(sessions, "10000000001", accepts=False)
    await seed_professional(sessions, "20000000001")
    await live_server.app[accounts_key].create("gpone", "correct horse battery", "Dr", "practitioner",
                                               rpps="10000000001")
    with tiny_volume(live_server.settings.data_dir / "expertise-blobs") as root:
        async with Browser(live_server) as gp:
            assert (await gp.login("gpone")).status == 303
            rid = (await (await gp.api("POST", API, json=http_body())).json())["id"]
            full = await gp.api("POST", f"{API}/{rid}/attachments?name=scan.png", data=hostile.noise_png((300, 300)))
            assert full.status == 507
            body = await full.json()
            assert body["error"] == "storage_full" and "Nothing was saved" in body["message"]
            assert _files(root) == []
            async with sessions() as session:
                assert await session.scalar(select(func.count()).select_from(RequestAttachment)) == 0
            detail = await gp.api("GET", f"{API}/{rid}")
            assert detail.status == 200 and (await detail.json())["attachments"] == []
            small = await gp.api("POST", f"{API}/{rid}/attachments?name=a.png", data=hostile.plain_png())
            assert small.status == 201
            assert len(_files(root)) == 1


async def test_a_still_on_a_full_volume_answers_507_and_leaves_the_case_intact(live_server: Any) -> None:
    await make_user(live_server, "regulateur", role="regulator")
    with tiny_volume(live_server.settings.data_dir / "blobs") as root:
        async with Browser(live_server) as regulator, Browser(live_server) as phone:
            assert (await regulator.login("regulateur")).status == 303
            body = await (await regulator.api("POST", "/api/cases", json={
                "case_number": "SAMU69-0003", "caller_phone": "+33 6 00 00 00 03", "reason": "Malaise"})).json()
            case_id = body["case"]["id"]
            await open_link(phone, body["link"]["url"])
            page = await (await phone.session.get("/caller")).text()
            phone.csrf = re.search(r'"csrf":\s*"([^"]+)"', page).group(1)  # type: ignore[union-attr]
            full = await phone.api("POST", "/api/caller/stills?source=photo", data=hostile.noise_png((700, 500)))  # a 600 KB JPEG once re-encoded
            assert full.status == 507 and "Nothing was saved" in (await full.json())["message"]
            assert _files(root) == []
            async with live_server.app[db_key]() as session:
                assert await session.scalar(select(func.count()).select_from(Capture)) == 0
            timeline = await regulator.api("GET", f"/api/cases/{case_id}/timeline")
            assert timeline.status == 200
            assert "capture" not in [event["kind"] for event in (await timeline.json())["events"]]
            assert (await regulator.api("GET", f"/api/cases/{case_id}")).status == 200
            small = await phone.api("POST", "/api/caller/stills?source=photo", data=hostile.plain_png())
            assert small.status == 201


async def test_the_server_start_removes_writes_a_killed_process_left_unfinished(db: Any, database_url: str,
                                                                                 test_certs: Any, tmp_path: Path) -> None:
    shard = tmp_path / "data" / "expertise-blobs" / "ab"
    shard.mkdir(parents=True)
    stale, recent = shard / f".{'ab' * 16}.0001.tmp", shard / f".{'ab' * 16}.0002.tmp"
    finished = shard / ("ab" * 16)
    for path in (stale, recent, finished):
        path.write_bytes(b"sealed bytes")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    os.utime(finished, (two_hours_ago, two_hours_ago))
    async with hostile.started_server(database_url, test_certs, data_dir=tmp_path / "data"):
        assert not stale.exists()
        assert recent.exists() and finished.exists()  # another process may be writing it; a blob is never touched
