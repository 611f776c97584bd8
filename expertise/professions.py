"""A professional's profession, read from the directory (RPPS profession codes, nomenclature TRE_G15)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .models import Activity

__all__ = ["PROFESSION_CODES", "profession_of"]

PROFESSION_CODES = {
    "10": "medecin", "21": "pharmacien", "40": "chirurgien_dentiste", "50": "sage_femme", "60": "infirmier",
    "70": "masseur_kinesitherapeute", "80": "pedicure_podologue", "91": "orthophoniste", "92": "orthoptiste",
}


async def profession_of(sessions: async_sessionmaker[AsyncSession], rpps: str | None) -> str | None:
    """The profession of the directory entry ``rpps`` (its first activity line), or ``None`` when unknown."""
    if not rpps:
        return None
    async with sessions() as session:
        code = await session.scalar(select(Activity.profession_code).where(Activity.rpps == rpps)
                                    .order_by(Activity.position).limit(1))
    if code is None:
        return None
    return PROFESSION_CODES.get(code, f"other:{code}")
