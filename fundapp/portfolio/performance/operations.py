"""Index series for PME: upload (or replace) a series from CSV, with its ledger entry."""

from __future__ import annotations

import hashlib

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from fundapp.compliance.ledger import record
from fundapp.errors import ValidationFailed
from fundapp.portfolio.common import field_error
from fundapp.portfolio.holdings import valuation
from fundapp.portfolio.performance.models import IndexLevel, IndexSeries


def import_index_series(session: Session, *, name: str, content: bytes, actor: str,
                        name_en: str | None = None) -> IndexSeries:
    """Upload (or replace) an index series from CSV; gaps and non-positive levels are refused."""
    if not name.strip():
        raise field_error("name", _l("Name the index."))
    try:
        points = valuation.parse_index_csv(content)
    except valuation.InputProblem as exc:
        raise ValidationFailed(_l("The index file is not valid."),
                               details={exc.field: [exc.message]}) from None
    series = session.scalar(select(IndexSeries).where(IndexSeries.name == name.strip()))
    if series is None:
        series = IndexSeries(name=name.strip(), uploaded_by=actor)
        session.add(series)
    else:
        series.levels.clear()
        session.flush()
    series.levels.extend(IndexLevel(on=on, level=level) for on, level in points)
    series.uploaded_by = actor
    if name_en is not None:  # not given: a replaced series keeps its English name
        series.name_en = " ".join(name_en.split())[:100]
    session.flush()
    record(session, actor=actor, action="index_series.imported", subject_type="index_series",
           subject_id=series.id, payload={"name": series.name, "name_en": series.name_en,
                                          "levels": len(points),
                                          "first_on": points[0][0], "last_on": points[-1][0],
                                          "sha256": hashlib.sha256(content).hexdigest()})
    return series
