"""Pages for tele-expertise: a list per user with filters, the request page, the metrics page with an SVG chart.

Their strings are in ``i18n.py`` (keys ``xp_*``, French and English); codes (states, urgencies, roles...) are shown
through ``label(prefix, code)``, which falls back to the code itself for one without a translation.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from html import escape

from aiohttp import web
from markupsafe import Markup

from expertise import CONSULTATION_NEEDS, IDENTITY_STATUSES, STATES, RequestMetrics, load_metrics

from ..identity.sessions import Principal
from ..keys import audit_key, clock_key, db_key, expertise_key
from ..platform import i18n
from ..platform.audit import AuditEvent
from ..web.context import principal_of
from ..web.templates import render, request_language
from .actors import actor_from_principal, translate_errors

__all__ = ["setup_expertise_pages", "metrics_svg"]

def _page_principal(request: web.Request) -> Principal:
    principal = principal_of(request)
    if principal is None or principal.kind != "user":
        raise web.HTTPSeeOther("/login")
    return principal


async def list_page(request: web.Request) -> web.StreamResponse:
    principal = _page_principal(request)
    actor = await actor_from_principal(request.app, principal)
    filters = {key: request.query.get(key) or None for key in ("status", "urgency", "role")}
    if filters["status"] not in (None, *STATES) or filters["role"] not in (None, "requester", "expert"):
        filters = {"status": None, "urgency": None, "role": None}
    service = request.app[expertise_key]
    if filters["urgency"] not in (None, *service.policy.urgencies):
        filters["urgency"] = None
    requests = await service.list_for(actor, **filters)
    lang = request_language(request)
    return render(request, "expertise_list.html", {
        "label": i18n.code_labeler(lang), "requests": requests, "filters": filters, "states": sorted(STATES),
        "urgencies": service.policy.urgencies, "identity_statuses": IDENTITY_STATUSES,
        "boot": {"csrf": principal.csrf_token, "lang": lang}})


@translate_errors
async def request_page(request: web.Request) -> web.StreamResponse:
    principal = _page_principal(request)
    actor = await actor_from_principal(request.app, principal)
    service = request.app[expertise_key]
    detail = await service.get(actor, request.match_info["rid"])
    messages = await service.thread(actor, detail.summary.id)
    lang = request_language(request)
    return render(request, "expertise_request.html", {
        "label": i18n.code_labeler(lang), "r": detail, "messages": messages, "needs": CONSULTATION_NEEDS,
        "boot": {"csrf": principal.csrf_token, "lang": lang, "requestId": detail.summary.id}})


async def metrics_page(request: web.Request) -> web.StreamResponse:
    principal = _page_principal(request)
    metrics = await _metrics(request, principal)
    lang = request_language(request)
    return render(request, "expertise_metrics.html", {"m": metrics, "days": _days(request),
                                                      "chart": Markup(metrics_svg(metrics, i18n.translator(lang)))})


async def metrics_json(request: web.Request) -> web.Response:
    principal = principal_of(request)
    if principal is None or principal.kind != "user":
        raise web.HTTPUnauthorized(reason="Login required")
    return web.json_response((await _metrics(request, principal)).to_json())


def _days(request: web.Request) -> int:
    raw = request.query.get("days", "90")
    return int(raw) if raw.isdigit() and 1 <= int(raw) <= 3660 else 90


async def _metrics(request: web.Request, principal: Principal) -> RequestMetrics:
    since = request.app[clock_key].now() - timedelta(days=_days(request))
    metrics = await load_metrics(request.app[db_key], since)
    await request.app[audit_key].record(AuditEvent(principal.actor, principal.role, "expertise.metrics",
                                                   "expertise:metrics", "ok"))
    return metrics


def metrics_svg(metrics: RequestMetrics, t: Callable[[str], str]) -> str:
    """A bar chart of time to answer, plus two share gauges; plain SVG, no script, no external resource."""
    width, height, left, bottom = 560, 260, 40, 200
    peak = max([count for _, count in metrics.answer_buckets] + [1])
    bar = (width - left - 20) / len(metrics.answer_buckets)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" aria-labelledby="chart-title">',
             f'<title id="chart-title">{escape(t("xp_chart_title"))}</title>',
             f'<line x1="{left}" y1="{bottom}" x2="{width - 10}" y2="{bottom}" stroke="#555"/>']
    for index, (label, count) in enumerate(metrics.answer_buckets):
        h = 0 if peak == 0 else round(150 * count / peak)
        x = left + index * bar + 6
        parts.append(f'<rect class="bar" x="{x:.0f}" y="{bottom - h}" width="{bar - 12:.0f}" height="{h}" '
                     f'fill="#2b6cb0"><title>{escape(label)}: {count}</title></rect>')
        parts.append(f'<text x="{x + (bar - 12) / 2:.0f}" y="{bottom - h - 4}" text-anchor="middle" '
                     f'font-size="12">{count}</text>')
        parts.append(f'<text x="{x + (bar - 12) / 2:.0f}" y="{bottom + 16}" text-anchor="middle" '
                     f'font-size="12">{escape(label)}</text>')
    for row, (label, share) in enumerate(((t("xp_chart_within"), metrics.answered_within_deadline),
                                          (t("xp_chart_avoided"), metrics.referrals_avoided))):
        y = bottom + 30 + row * 16
        filled = 0 if share is None else round(200 * share)
        text = t("xp_not_available") if share is None else f"{share:.0%}"
        parts.append(f'<rect x="{left}" y="{y - 10}" width="200" height="10" fill="#e2e8f0"/>'
                     f'<rect class="gauge" x="{left}" y="{y - 10}" width="{filled}" height="10" fill="#2f855a"/>'
                     f'<text x="{left + 210}" y="{y}" font-size="12">{escape(label)}: {text}</text>')
    parts.append("</svg>")
    return "".join(parts)


def setup_expertise_pages(app: web.Application) -> None:
    app.router.add_get("/expertise", list_page)
    app.router.add_get("/expertise/metrics", metrics_page)
    app.router.add_get("/api/expertise/metrics", metrics_json)
    app.router.add_get("/expertise/r/{rid}", request_page)
