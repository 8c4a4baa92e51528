"""Money is exact on both databases: what goes in as fen comes back as the same fen (R1)."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from sqlalchemy import Integer, MetaData, func, insert, select
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from fundapp.db import Money
from fundapp.extensions import db

LIMIT_FEN = 10**12


class ScratchBase(DeclarativeBase):
    # Its own metadata: a scratch table must never reach the app's models or migrations.
    metadata = MetaData()


class Amount(ScratchBase):
    __tablename__ = "scratch_amounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    amount: Mapped[Decimal | None] = mapped_column(Money())


@pytest.fixture
def session(app):
    ScratchBase.metadata.create_all(db.engine)
    with Session(db.engine) as session:
        yield session


def random_amounts(count: int, seed: int = 20261126) -> list[Decimal]:
    rng = random.Random(seed)
    edges = [0, 1, -1, 99, -99, 100, LIMIT_FEN, -LIMIT_FEN, LIMIT_FEN - 1, 50_000_000_000]
    fen = edges + [rng.randint(-LIMIT_FEN, LIMIT_FEN) for _ in range(count - len(edges))]
    return [Decimal(n).scaleb(-2) for n in fen]


def test_ten_thousand_random_amounts_round_trip_unchanged(session):
    amounts = random_amounts(10_000)
    session.execute(insert(Amount), [{"id": i, "amount": a} for i, a in enumerate(amounts)])
    session.commit()
    session.expire_all()

    back = session.scalars(select(Amount.amount).order_by(Amount.id)).all()

    assert len(back) == len(amounts)
    mismatches = [(a, b) for a, b in zip(amounts, back, strict=True) if a != b or str(a) != str(b)]
    assert mismatches == []  # same value and same two places: 1.10 stays "1.10", never 1.1
    assert all(isinstance(b, Decimal) for b in back)


def test_sql_sum_is_exact(session):
    amounts = random_amounts(2_000, seed=7) + [Decimal("0.01")] * 3 + [Decimal("-0.03")]
    session.execute(insert(Amount), [{"id": i, "amount": a} for i, a in enumerate(amounts)])
    session.commit()

    total = session.scalar(select(func.sum(Amount.amount)))
    positives = session.scalar(select(func.sum(Amount.amount)).where(Amount.amount > 0))

    assert total == sum(amounts)
    assert str(total) == str(sum(amounts))
    assert positives == sum(a for a in amounts if a > 0)


def test_orm_object_reads_back_exact_amount(session):
    session.add(Amount(id=1, amount=Decimal("500000000.00")))
    session.add(Amount(id=2, amount="0.10"))  # text from a form is taken at its word
    session.add(Amount(id=3, amount=None))
    session.commit()
    session.expire_all()

    assert session.get(Amount, 1).amount == Decimal("500000000.00")
    assert str(session.get(Amount, 2).amount) == "0.10"
    assert session.get(Amount, 3).amount is None


REFUSED = [
    (Decimal("1.005"), ValueError),  # a third place would be rounded away
    (Decimal("0.001"), ValueError),
    (Decimal("1.0000000000000000000000000001"), ValueError),  # beyond Decimal's 28 digits
    (1.5, TypeError),
    (0.1, TypeError),
    (True, TypeError),
    (Decimal("NaN"), ValueError),
    (Decimal("Infinity"), ValueError),
    ("12,50", ValueError),
    (Decimal(2**63).scaleb(-2), ValueError),  # more fen than BIGINT holds
]


def test_inexact_or_unstorable_amount_is_refused(session):
    for bad, error in REFUSED:
        with pytest.raises(StatementError) as excinfo:
            session.execute(insert(Amount), [{"id": 1, "amount": bad}])
        assert isinstance(excinfo.value.orig, error), (bad, excinfo.value.orig)
        session.rollback()
    assert session.scalar(select(func.count()).select_from(Amount)) == 0
