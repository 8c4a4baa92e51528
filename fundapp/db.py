"""Declarative base, constraint naming convention and exact-decimal column types."""

from __future__ import annotations

import enum
import sqlite3
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import BigInteger, DateTime, Enum, MetaData, String, TypeDecorator, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


SQLITE_BUSY_TIMEOUT_MS = 30_000


@event.listens_for(Engine, "connect")
def _sqlite_busy_timeout(dbapi_connection: Any, connection_record: Any) -> None:
    """Writers on SQLite queue on one database lock (every ledger entry takes it); the driver's 5 s
    default lets a starved writer fail with "database is locked" while the web and the scheduler
    write together."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on both databases (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class ScaledDecimal(TypeDecorator[Decimal]):
    """An exact decimal with a fixed number of places, stored as a scaled integer (BIGINT).

    SQLite has no decimal type and would round NUMERIC through a float; an integer of the smallest
    unit (fen for money) is exact on both databases and sorts and sums correctly in SQL. A value
    with more places than the column holds is refused rather than silently rounded (R1).
    """

    impl = BigInteger
    cache_ok = True

    def __init__(self, places: int) -> None:
        super().__init__()
        self.places = places

    def process_bind_param(self, value: Decimal | int | str | None, dialect: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, (float, bool)):
            raise TypeError(f"{type(value).__name__} is not accepted for an exact amount: {value!r}")
        try:
            exact = value if isinstance(value, Decimal) else Decimal(value)
        except InvalidOperation as exc:
            raise ValueError(f"not a decimal amount: {value!r}") from exc
        if not exact.is_finite():
            raise ValueError(f"not a finite amount: {value!r}")
        # Integer arithmetic on the digits: Decimal multiplication would round to the context's
        # 28 digits and could let a value with more places through as a rounded one.
        sign, digits, exponent = exact.as_tuple()
        coefficient = int("".join(map(str, digits)) or "0")
        shift = int(exponent) + self.places
        if shift >= 0:
            scaled = coefficient * 10**shift
        else:
            scaled, rest = divmod(coefficient, 10**-shift)
            if rest:
                raise ValueError(f"{exact} has more than {self.places} decimal places")
        scaled = -scaled if sign else scaled
        if not -(2**63) <= scaled < 2**63:
            raise ValueError(f"{exact} is out of range for this column")
        return scaled

    def process_result_value(self, value: int | None, dialect: Any) -> Decimal | None:
        if value is None:
            return None
        # scaleb only moves the exponent: exact, and always `places` places ("1.50", "0.00").
        return Decimal(int(value)).scaleb(-self.places)


def Money() -> ScaledDecimal:  # reads like a type in column declarations
    """CNY with 2 places (fen), R1."""
    return ScaledDecimal(2)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


def short_str(length: int = 200) -> String:
    return String(length)


def enum_column(cls: type[enum.Enum], length: int = 30) -> Enum:
    """A Python enum stored as its values in a plain string column (no native database enum), so
    that adding a member later needs no migration on either database."""
    return Enum(cls, native_enum=False, length=length,
                values_callable=lambda members: [m.value for m in members])
