"""Working days (R1): Monday to Friday, minus holidays, plus make-up working days. Pure functions."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta


def is_working_day(day: date, overrides: Mapping[date, bool]) -> bool:
    """`overrides` maps a date to whether it is a working day, where it differs from Mon-Fri."""
    if day in overrides:
        return overrides[day]
    return day.weekday() < 5


def add_working_days(start: date, count: int, overrides: Mapping[date, bool]) -> date:
    """The date `count` working days after `start` (start itself not counted)."""
    if count < 0:
        raise ValueError("count must not be negative")
    day = start
    remaining = count
    while remaining:
        day += timedelta(days=1)
        if is_working_day(day, overrides):
            remaining -= 1
    return day


def working_days_between(start: date, end: date, overrides: Mapping[date, bool]) -> int:
    """Working days after `start` up to and including `end` (0 when end <= start)."""
    count = 0
    day = start
    while day < end:
        day += timedelta(days=1)
        if is_working_day(day, overrides):
            count += 1
    return count
