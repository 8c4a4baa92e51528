"""The security-events chain for auditors: a signed export on the API and its verification among
the compliance checks (listed in fundapp/app.py DOMAIN_MODULES)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from flask import Response, request
from flask_babel import lazy_gettext as _l

from fundapp.api import bp
from fundapp.api.core import api_route
from fundapp.compliance.checks import CRITICAL, CheckContext, CheckItem, register_check
from fundapp.compliance.security_events import build_export, verify_security_chain
from fundapp.compliance.signing import load_signing_key
from fundapp.errors import ValidationFailed
from fundapp.extensions import db

FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2200, 12, 31)


def _days(args) -> tuple[date, date]:
    problems: dict[str, list[str]] = {}
    days: dict[str, date] = {}
    for name in ("from", "to"):
        raw = (args.get(name) or "").strip()
        if not raw:
            problems[name] = [str(_l("This field is required."))]
            continue
        try:
            if len(raw) != 10:  # exactly YYYY-MM-DD
                raise ValueError(raw)
            day = date.fromisoformat(raw)
        except ValueError:
            problems[name] = [str(_l("Not a valid date."))]
            continue
        if not FIRST_DAY <= day <= LAST_DAY:
            problems[name] = [str(_l("Not a valid date."))]
            continue
        days[name] = day
    if not problems and days["to"] < days["from"]:
        problems["to"] = [str(_l("The end date is before the start date."))]
    if problems:
        raise ValidationFailed(_l("Some fields are not valid."), details=problems)
    return days["from"], days["to"]


@api_route(bp, "/v1/security-events/export", "GET",
           summary="Signed export of the security events (failed and throttled sign-ins) of "
                   "Asia/Shanghai days from..to (ZIP: events.jsonl, manifest.json, manifest.sig)",
           params=[{"name": "from", "in": "query", "required": True,
                    "schema": {"type": "string", "format": "date"}},
                   {"name": "to", "in": "query", "required": True,
                    "schema": {"type": "string", "format": "date"}}])
def export_security_events():
    first, last = _days(request.args)
    export = build_export(db.session, first, last, load_signing_key())
    return Response(export.data, mimetype="application/zip", headers={
        "Content-Disposition": f'attachment; filename="{export.filename}"'})


@register_check("security_events.chain", clause="R12",
                title=_l("Security events chain verification"))
def security_events_chain(ctx: CheckContext) -> Iterable[CheckItem]:
    """Verified live: the chain holds only refused sign-ins, far fewer rows than the ledger."""
    result = verify_security_chain(ctx.session)
    if not result.ok:
        yield CheckItem("R12", CRITICAL, "security_events", "chain", _l("Security events"),
                        _l("The security events' hash chain is broken: %(problem)s",
                           problem=result.problem))
