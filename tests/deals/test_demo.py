"""The demo pipeline loads through the real operations: every stage, scores, an imported sheet."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from fundapp.compliance.ledger import verify_chain
from fundapp.deals.models import Deal, Roadshow, ScoreSheet
from fundapp.deals.queries import roadshow_rankings
from fundapp.demo import load_demo
from fundapp.extensions import db


def test_demo_pipeline_covers_every_stage(app):
    load_demo(db.session)
    db.session.commit()
    stages = Counter(db.session.scalars(select(Deal.stage).where(Deal.roadshow_id.is_not(None))))
    assert sum(stages.values()) == 40  # the grants demo may add deals of its own
    assert all(count > 0 for count in stages.values()) and len(stages) == 10
    roadshows = db.session.scalars(select(Roadshow).order_by(Roadshow.held_on)).all()
    assert len(roadshows) == 3
    assert db.session.scalar(select(func.count()).select_from(ScoreSheet)) > 30
    ranking = roadshow_rankings(db.session, roadshows[0])
    assert ranking[0].rank == 1 and ranking[0].mean is not None
    assert any(r.conflicts for r in ranking)
    assert verify_chain(db.session).ok
    before = db.session.scalar(select(func.count()).select_from(Deal))
    load_demo(db.session)  # a second load adds nothing
    assert db.session.scalar(select(func.count()).select_from(Deal)) == before
