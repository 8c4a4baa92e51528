"""Days as the fund counts them: Asia/Shanghai, and calendar quarters."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def shanghai_today(now: datetime | None = None) -> date:
    """Today in Shanghai (the fund's day, whatever the server's clock zone)."""
    return (now or datetime.now(UTC)).astimezone(SHANGHAI).date()


def previous_quarter(today: date) -> tuple[str, date, date]:
    """('2026Q1', first day, last day) of the quarter before the one `today` is in."""
    first_month = (today.month - 1) // 3 * 3 + 1
    this_start = date(today.year, first_month, 1)
    end = this_start - timedelta(days=1)
    start = date(end.year, (end.month - 1) // 3 * 3 + 1, 1)
    return f"{start.year}Q{(start.month - 1) // 3 + 1}", start, end
