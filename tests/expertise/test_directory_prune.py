"""``--prune``: professionals absent from a new full extract become inactive (kept, not routed), with the refusals
that protect against a damaged or partial file; on SQLite and PostgreSQL, through the domain and the CLI."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from expertise import (
    Directory,
    DirectoryFhir,
    InvalidProfile,
    Profiles,
    ProfileUpdate,
    RejectFile,
    apply_prune,
    import_fhir_bundle,
    import_rpps,
    plan_prune,
    prune_refusal,
)
from expertise.models import Professional
from tests.server.expertise.test_directory_cli import lucarne

DATA = Path(__file__).resolve().parents[1] / "data"
SAMPLE = DATA / "PS_LibreAcces_Personne_activite_202612010000.txt"
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
GONE = ("10000000037", "10000000112")  # a geriatrician (67) and a cardiologist (15)


def without(path: Path, target: Path, rpps: tuple[str, ...]) -> Path:
    lines = path.read_text("utf-8").splitlines(keepends=True)
    target.write_text("".join(line for line in lines if line.split("|")[1] not in rpps), "utf-8")
    return target


async def imported(engine: Any, path: Path) -> Any:
    return await import_rpps(engine, path, now=NOW, rejects=RejectFile(io.StringIO()))


async def activity(sessions: Any) -> dict[str, tuple[bool, datetime | None]]:
    async with sessions() as session:
        rows = await session.execute(select(Professional.rpps, Professional.active, Professional.inactive_since))
        return {rpps: (active, since) for rpps, active, since in rows.all()}


async def test_absent_professionals_become_inactive_unrouted_and_come_back(db: Any, tmp_path: Path) -> None:
    engine, sessions = db
    await imported(engine, SAMPLE)
    profiles = Profiles(sessions)
    await profiles.update("10000000037", ProfileUpdate(3, ("fr",), ("SM19",)), NOW)
    directory = Directory(sessions)
    assert [c.rpps for c in await directory.candidates("SM19", "67482", NOW)] == ["10000000037"]

    newer = without(SAMPLE, tmp_path / "PS_LibreAcces_Personne_activite_202701010000.txt", GONE)
    report = await imported(engine, newer)
    plan = await plan_prune(engine, newer)
    total = len(await activity(sessions))
    assert plan.deactivate == GONE and plan.reactivate == () and plan.active == total and not plan.truncated
    assert plan.listed == total - 2
    assert prune_refusal(plan, lines=report.lines, rejected=report.rejected) is None
    await apply_prune(engine, plan, NOW)

    state = await activity(sessions)
    assert {r for r, (active, _) in state.items() if not active} == set(GONE)
    assert state["10000000037"][1] == NOW and len(state) == total  # marked, not deleted
    assert await directory.candidates("SM19", "67482", NOW) == []
    assert await Directory(sessions, pool_ttl=60).candidates("SM19", "67482", NOW) == []
    resource = await DirectoryFhir(sessions).practitioner("10000000037")
    assert resource is not None and resource["active"] is False
    assert (await profiles.get("10000000037", NOW)).to_json()["active"] is False
    try:
        await profiles.update("10000000037", ProfileUpdate(2, ("fr",), ("SM19",)), NOW)
        raise AssertionError("an inactive professional's profile changed")
    except InvalidProfile as exc:
        assert "inactive" in exc.message
    assert (await plan_prune(engine, newer)).deactivate == ()  # pruning again changes nothing

    again = await plan_prune(engine, SAMPLE)  # listed again in a later extract
    assert again.reactivate == GONE and again.deactivate == ()
    await apply_prune(engine, again, NOW, deactivate=False)
    assert all(active for active, _ in (await activity(sessions)).values())
    assert [c.rpps for c in await directory.candidates("SM19", "67482", NOW)] == ["10000000037"]


async def test_entries_from_a_fhir_bundle_are_never_pruned(db: Any) -> None:
    engine, sessions = db
    await imported(engine, SAMPLE)
    await import_fhir_bundle(engine, DATA / "directory_bundle.json", now=NOW, rejects=RejectFile(io.StringIO()))
    plan = await plan_prune(engine, SAMPLE)
    assert plan.deactivate == ()


async def test_pruning_is_refused_for_a_truncated_damaged_or_partial_file(db: Any, tmp_path: Path) -> None:
    engine, _ = db
    await imported(engine, SAMPLE)
    text = SAMPLE.read_text("utf-8")
    cut = tmp_path / "cut.txt"
    cut.write_text(text[: text.rindex("|Commune")], "utf-8")  # an interrupted download: last line cut short
    plan = await plan_prune(engine, cut)
    assert plan.truncated
    assert "truncated" in (prune_refusal(plan, lines=40, rejected=1) or "")

    complete = await plan_prune(engine, SAMPLE)
    assert prune_refusal(complete, lines=40, rejected=0) is None
    refusal = prune_refusal(complete, lines=40, rejected=2)  # 5 % rejected > 1 %
    assert refusal is not None and "2 of 40 lines were rejected" in refusal and "--prune-max-rejects" in refusal
    assert prune_refusal(complete, lines=40, rejected=2, max_reject_share=0.10) is None

    lines = text.splitlines(keepends=True)
    regional = tmp_path / "regional.txt"
    regional.write_text("".join(lines[:20]), "utf-8")  # a complete file that lists half the professionals
    partial = await plan_prune(engine, regional)
    refusal = prune_refusal(partial, lines=19, rejected=0)
    assert refusal is not None and "partial" in refusal and f"{len(partial.deactivate)} of {partial.active}" in refusal
    assert prune_refusal(partial, lines=19, rejected=0, max_prune_share=0.9) is None


async def test_prune_from_the_command_line(db: Any, database_url: str, tmp_path: Path) -> None:
    _, sessions = db
    first = lucarne(["directory", "import", str(SAMPLE)], database_url, tmp_path)
    assert first.returncode == 0, first.stderr
    newer = without(SAMPLE, tmp_path / "PS_LibreAcces_Personne_activite_202701010000.txt", GONE)

    dry = lucarne(["directory", "import", str(newer), "--dry-run", "--prune"], database_url, tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "2 of " in dry.stdout and "would be marked inactive" in dry.stdout and "10000000037" in dry.stdout
    assert all(active for active, _ in (await activity(sessions)).values())

    done = lucarne(["directory", "import", str(newer), "--prune"], database_url, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "2 of " in done.stdout and " marked inactive" in done.stdout and "would be" not in done.stdout
    assert {r for r, (active, _) in (await activity(sessions)).items() if not active} == set(GONE)

    half = tmp_path / "PS_LibreAcces_Personne_activite_half.txt"
    half.write_text("".join(SAMPLE.read_text("utf-8").splitlines(keepends=True)[:15]), "utf-8")
    refused = lucarne(["directory", "import", str(half), "--prune"], database_url, tmp_path)
    assert refused.returncode == 1 and "not pruned" in refused.stderr and "partial" in refused.stderr
    assert len([a for a, _ in (await activity(sessions)).values() if not a]) == 2  # nothing more pruned

    wrong = lucarne(["directory", "import", str(DATA / "PS_LibreAcces_SavoirFaire_202612010000.txt"), "--prune"],
                    database_url, tmp_path)
    assert wrong.returncode == 2 and "--prune applies" in wrong.stderr

    back = lucarne(["directory", "import", str(SAMPLE)], database_url, tmp_path)  # a plain import reactivates
    assert back.returncode == 0, back.stderr
    assert "2 inactive professionals listed again were reactivated" in back.stdout
    assert all(active for active, _ in (await activity(sessions)).values())


async def test_a_pruned_professional_sees_why_on_the_profile_page(db: Any, live_server: Any, tmp_path: Path) -> None:
    from tests.fakes import Browser
    from tests.server.expertise.test_directory_http import PASSWORD, load_sample, specialist

    engine, _ = db
    await load_sample(db, live_server)
    await specialist(live_server, "bonnet", "10000000037")
    newer = without(SAMPLE, tmp_path / "newer.txt", GONE)
    await apply_prune(engine, await plan_prune(engine, newer), live_server.clock.now())
    async with Browser(live_server) as browser:
        await browser.login("bonnet", PASSWORD)
        page = await (await browser.session.get("/directory/profile?lang=en")).text()
        assert 'id="profile-inactive"' in page and "no longer in the national directory" in page
        refused = await browser.api("PUT", "/api/directory/profile", json={"capacity": 2, "languages": ["fr"],
                                                                            "specialties": ["SM19"]})
        assert refused.status == 400 and "inactive" in (await refused.json())["message"]
