"""Days as the fund counts them: Asia/Shanghai, and calendar quarters."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l

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


def not_after_today(day: date | None, field: str) -> None:
    """Refuse a day after today in Shanghai: nothing the fund records has happened yet.

    Raises ValidationFailed naming `field` (a 422 on the API, a message next to the field on a
    form); the message names the day.
    """
    from fundapp.errors import ValidationFailed  # errors imports nothing of ours

    if day is None or day <= shanghai_today():
        return
    message = _l("The date %(day)s is in the future.", day=day.isoformat())
    raise ValidationFailed(_l("Some fields are not valid."), details={field: [str(message)]})
