"""The professional's menu: the jobs each role has, its home page after login, and the header every page shows.

An account holds a single role (``users.role``). The jobs follow from what the services let that role do:
a practitioner is also the general practitioner who sends tele-expertise requests and can be invited into a
regulation case; a specialist answers requests and keeps its directory profile; a regulator works on its cases;
an administrator has its landing page and the expertise indicators.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ..identity.sessions import Principal

__all__ = ["Job", "jobs_for", "home_of", "header_of"]


@dataclass(frozen=True)
class Job:
    path: str
    label_key: str  # i18n key of the words shown in the menu


_CONSULTATIONS = Job("/console", "nav_consultations")
_REGULATION = Job("/regulation", "nav_regulation")
_MY_REQUESTS = Job("/expertise?role=requester", "nav_my_requests")
_EXPERTISE = Job("/expertise", "nav_expertise")
_PROFILE = Job("/directory/profile", "nav_profile")
_INDICATORS = Job("/expertise/metrics", "nav_indicators")
_ADMINISTRATION = Job("/admin", "nav_admin")

# The first job of a role is its home, where login lands.
_JOBS: dict[str, tuple[Job, ...]] = {
    "practitioner": (_CONSULTATIONS, _MY_REQUESTS, _REGULATION),
    "regulator": (_REGULATION,),
    "specialist": (_EXPERTISE, _PROFILE),
    "admin": (_ADMINISTRATION, _INDICATORS),
}


def jobs_for(role: str | None) -> tuple[Job, ...]:
    return _JOBS.get(role or "", (_CONSULTATIONS,))


def home_of(role: str | None) -> str:
    return jobs_for(role)[0].path


def _match(job: Job, request: web.Request) -> int:
    """How closely the page is this job (0: not at all): the longest matching path wins, so that
    /expertise/metrics is the indicators and /expertise/r/... the requests."""
    path, _, query = job.path.partition("?")
    if query and request.query_string != query:
        return 0
    return len(job.path) if request.path == path or request.path.startswith(path + "/") else 0


def header_of(request: web.Request, principal: Principal | None) -> dict[str, Any] | None:
    """What the page header shows a logged-in professional (None for anyone else: patients, callers, visitors)."""
    if principal is None or principal.kind != "user":
        return None
    jobs = jobs_for(principal.role)
    best = max((_match(job, request) for job in jobs), default=0)
    menu = [{"path": job.path, "label_key": job.label_key, "current": best > 0 and _match(job, request) == best}
            for job in jobs]
    return {"name": principal.display_name, "csrf": principal.csrf_token, "jobs": menu}
