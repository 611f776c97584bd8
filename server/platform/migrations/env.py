"""Alembic environment: runs migrations over the async engine named by ``sqlalchemy.url``."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

import server.platform.models  # noqa: F401  (imported for its side effect: it declares the host's tables on Base.metadata)
from expertise import metadata as expertise_metadata
from server.platform.db import Base, create_engine

# The host's tables and the tele-expertise domain's tables share one schema history.
target_metadata = [Base.metadata, expertise_metadata]


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


async def _main() -> None:
    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "")
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    asyncio.run(_main())
