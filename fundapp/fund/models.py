"""The fund and the versions of its policy parameters (the rule book's preamble)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fundapp.db import Base, Money, TimestampMixin


class Fund(TimestampMixin, Base):
    __tablename__ = "funds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    committed_amount: Mapped[Decimal] = mapped_column(Money())
    established_on: Mapped[date] = mapped_column(Date)
    platform_name: Mapped[str] = mapped_column(String(200), default="")


# Policies are versioned (rule book preamble); a grant agreement pins the version in force on its
# signing date, so a later version never rewrites it (R2-R8 read the pinned values).

class PolicyVersion(TimestampMixin, Base):
    """One version of the fund's policy parameters; never edited, only superseded."""

    __tablename__ = "policy_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[str] = mapped_column(String(40), unique=True)
    effective_on: Mapped[date] = mapped_column(Date, index=True)
    # Canonical JSON of the parameters; decimals as strings (never floats, R1).
    values_json: Mapped[str] = mapped_column(Text)
    approved_by: Mapped[str] = mapped_column(String(200), default="")
    ic_resolution_ref: Mapped[str] = mapped_column(String(100), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(320), default="")

    @property
    def values(self) -> dict[str, Any]:
        from fundapp.fund.policies import ADDED_LATER  # a version stored before them

        return {**ADDED_LATER, **json.loads(self.values_json)}
