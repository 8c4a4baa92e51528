"""Reading index series for PME."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fundapp.portfolio.performance.models import IndexLevel, IndexSeries


def index_levels_for(session: Session, name: str | None = None
                     ) -> tuple[str, list[tuple[Any, Any]]] | None:
    """(name, [(date, level)]) of the named index series, or of the latest uploaded one."""
    stmt = select(IndexSeries.id, IndexSeries.name)
    stmt = stmt.where(IndexSeries.name == name) if name else stmt.order_by(IndexSeries.id.desc())
    row = session.execute(stmt.limit(1)).first()
    if row is None:
        return None
    points = session.execute(select(IndexLevel.on, IndexLevel.level)
                             .where(IndexLevel.series_id == row.id)
                             .order_by(IndexLevel.on)).all()
    return row.name, [(p.on, p.level) for p in points]
