"""Service metrics for tele-expertise: time to acceptance and to answer (median, p90), share answered within the
promised deadline, share of closed requests where a face-to-face referral was avoided. Aggregates only."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .request_models import ExpertiseRequest, RequestTransition

__all__ = ["RequestMetrics", "RequestTimes", "compute_metrics", "load_metrics", "ANSWER_BUCKETS", "percentile"]

# Buckets of time to answer, in hours (the French 7-day limit is the last edge).
ANSWER_BUCKETS: tuple[tuple[str, float], ...] = (("< 3 h", 3), ("3-12 h", 12), ("12-24 h", 24), ("1-3 d", 72),
                                                 ("3-7 d", 168), ("> 7 d", math.inf))


@dataclass(frozen=True)
class RequestTimes:
    created_at: datetime
    accepted_at: datetime | None
    answered_at: datetime | None
    answer_due_at: datetime
    referral_avoided: bool | None


@dataclass(frozen=True)
class RequestMetrics:
    total: int
    accepted: int
    answered: int
    acceptance_median_h: float | None
    acceptance_p90_h: float | None
    answer_median_h: float | None
    answer_p90_h: float | None
    answered_within_deadline: float | None   # share of answered requests
    outcomes_recorded: int
    referrals_avoided: float | None          # share of recorded outcomes
    answer_buckets: tuple[tuple[str, int], ...]

    def to_json(self) -> dict[str, object]:
        data = dict(self.__dict__)
        data["answer_buckets"] = [{"label": label, "count": count} for label, count in self.answer_buckets]
        return data


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (no interpolation: the value reported is one that was observed)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def _hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600


def compute_metrics(rows: Sequence[RequestTimes]) -> RequestMetrics:
    acceptance = [_hours(r.accepted_at - r.created_at) for r in rows if r.accepted_at]
    answer = [_hours(r.answered_at - r.created_at) for r in rows if r.answered_at]
    within = [r.answered_at <= r.answer_due_at for r in rows if r.answered_at]
    outcomes = [r.referral_avoided for r in rows if r.referral_avoided is not None]
    buckets = []
    lower = 0.0
    for label, upper in ANSWER_BUCKETS:
        buckets.append((label, sum(1 for h in answer if lower <= h < upper)))
        lower = upper
    return RequestMetrics(
        total=len(rows), accepted=len(acceptance), answered=len(answer),
        acceptance_median_h=statistics.median(acceptance) if acceptance else None,
        acceptance_p90_h=percentile(acceptance, 90),
        answer_median_h=statistics.median(answer) if answer else None, answer_p90_h=percentile(answer, 90),
        answered_within_deadline=sum(within) / len(within) if within else None,
        outcomes_recorded=len(outcomes), referrals_avoided=sum(outcomes) / len(outcomes) if outcomes else None,
        answer_buckets=tuple(buckets))


async def load_metrics(sessions: async_sessionmaker[AsyncSession], since: datetime | None = None) -> RequestMetrics:
    """Metrics over requests created since ``since`` (all when ``None``); the first acceptance counts."""
    first_accept = (select(RequestTransition.request_id, func.min(RequestTransition.at).label("at"))
                    .where(RequestTransition.to_state == "accepted").group_by(RequestTransition.request_id)
                    .subquery())
    query = (select(ExpertiseRequest.created_at, first_accept.c.at, ExpertiseRequest.answered_at,
                    ExpertiseRequest.answer_due_at, ExpertiseRequest.referral_avoided)
             .outerjoin(first_accept, first_accept.c.request_id == ExpertiseRequest.id))
    if since is not None:
        query = query.where(ExpertiseRequest.created_at >= since)
    async with sessions() as session:
        rows = (await session.execute(query)).all()
    return compute_metrics([RequestTimes(*row) for row in rows])
