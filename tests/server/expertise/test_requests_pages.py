"""The list and request pages, and the metrics (computation, JSON and the SVG chart page)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from expertise import RequestTimes, compute_metrics, percentile
from tests.server.expertise.test_requests_http import API, _create, _login, _people

T0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)


def _row(accept_h: float | None, answer_h: float | None, due_h: float = 24,
         avoided: bool | None = None) -> RequestTimes:
    return RequestTimes(T0, T0 + timedelta(hours=accept_h) if accept_h is not None else None,
                        T0 + timedelta(hours=answer_h) if answer_h is not None else None, T0 + timedelta(hours=due_h),
                        avoided)


def test_metrics_median_p90_deadline_share_and_referrals() -> None:
    rows = [_row(1, 5, avoided=True), _row(2, 10, avoided=True), _row(3, 30, avoided=False), _row(4, 20),
            _row(10, None), _row(None, None)]
    m = compute_metrics(rows)
    assert (m.total, m.accepted, m.answered) == (6, 5, 4)
    assert m.acceptance_median_h == 3 and m.acceptance_p90_h == 10
    assert m.answer_median_h == 15 and m.answer_p90_h == 30
    assert m.answered_within_deadline == 0.75  # 30 h > 24 h deadline
    assert m.referrals_avoided == 2 / 3 and m.outcomes_recorded == 3
    assert dict(m.answer_buckets) == {"< 3 h": 0, "3-12 h": 2, "12-24 h": 1, "1-3 d": 1, "3-7 d": 0, "> 7 d": 0}
    assert percentile([], 90) is None and percentile([7.0], 90) == 7.0
    empty = compute_metrics([])
    assert empty.answer_median_h is None and empty.referrals_avoided is None


async def test_list_page_filters_and_request_page_escapes_content(live_server: Any) -> None:
    await _people(live_server)
    gp, near = await _login(live_server, "gpone"), await _login(live_server, "near")
    try:
        first = (await _create(gp, question="<script>alert(1)</script> lésion ?"))["id"]
        second = (await _create(gp, urgency="urgent"))["id"]
        await near.api("POST", f"{API}/{second}/accept")
        page = await (await gp.api("GET", "/expertise")).text()
        assert first in page and second in page
        filtered = await (await gp.api("GET", "/expertise?status=accepted")).text()
        assert second in filtered and first not in filtered
        urgent = await (await gp.api("GET", "/expertise?urgency=urgent&role=requester")).text()
        assert second in urgent and first not in urgent
        detail = await (await gp.api("GET", f"/expertise/r/{first}")).text()
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in detail and "<script>alert" not in detail
        specialist_view = await near.api("GET", f"/expertise/r/{first}")
        assert specialist_view.status == 200 and 'data-action="accept"' in await specialist_view.text()
        assert "script-src 'self'" in specialist_view.headers["Content-Security-Policy"]
        async with await _login(live_server, "far") as far:
            hidden = await far.api("GET", f"/expertise/r/{first}")
            assert hidden.status == 404
            assert first not in await (await far.api("GET", "/expertise")).text()
    finally:
        await gp.session.close()
        await near.session.close()


async def test_metrics_page_and_json_follow_the_clock(live_server: Any) -> None:
    await _people(live_server)
    gp, near = await _login(live_server, "gpone"), await _login(live_server, "near")
    clock = live_server.clock
    try:
        for accept_after, answer_after, avoided in ((2, 3, True), (1, 5, False)):  # sessions last 12 h
            rid = (await _create(gp))["id"]
            clock.advance(hours=accept_after)
            assert (await near.api("POST", f"{API}/{rid}/accept")).status == 200
            clock.advance(hours=answer_after)
            assert (await near.api("POST", f"{API}/{rid}/answer", json={"opinion": "avis"})).status == 200
            assert (await gp.api("POST", f"{API}/{rid}/close", json={"referral_avoided": avoided})).status == 200
        metrics = await (await gp.api("GET", "/api/expertise/metrics")).json()
        assert metrics["answered"] == 2 and metrics["acceptance_median_h"] == 1.5
        assert metrics["answer_median_h"] == 5.5 and metrics["answer_p90_h"] == 6
        assert metrics["answered_within_deadline"] == 1.0 and metrics["referrals_avoided"] == 0.5
        page = await (await gp.api("GET", "/expertise/metrics")).text()
        svg = page[page.index("<svg"):page.index("</svg>")]
        assert len(re.findall(r'class="bar"', svg)) == 6 and "<script" not in svg
        assert re.search(r'class="gauge"[^>]*width="100"', svg)  # referrals avoided: 50 % of 200 px
        assert "50 %" in page
    finally:
        await gp.session.close()
        await near.session.close()
