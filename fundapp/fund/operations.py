"""The fund's policy versions: the shipped default, the version in force, an admin's new version.

Every function changes the database with flush() only and writes its ledger entry in the same
transaction; the caller commits once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fundapp.compliance.ledger import record
from fundapp.dates import not_after_today
from fundapp.errors import AppError, NotFound, RuleRefused, ValidationFailed
from fundapp.fund.models import Fund, PolicyVersion
from fundapp.fund.policies import clean_values, load_default_file, values_json
from fundapp.unit_of_work import lock, lock_key


def ensure_default_policy(session: Session, *, effective_on: date | None = None,
                          actor: str = "system") -> PolicyVersion | None:
    """Load the shipped default policy file as the first version when there is none yet.

    `effective_on`: the fund's inception date, when it is earlier than the file's own date, so
    that the version is in force from the fund's first day (facts from then on are checked
    against it).
    """
    if session.scalar(select(PolicyVersion.id).limit(1)) is not None:
        return None
    data = load_default_file()
    values, errors = clean_values(data["values"])
    if errors:  # the shipped file is checked by a test; this guards a hand-edited copy
        raise RuntimeError(f"the default policy file is not valid: {errors}")
    starts_on = date.fromisoformat(data["effective_on"])
    if effective_on is not None and effective_on < starts_on:
        starts_on = effective_on
    version = PolicyVersion(version=data["version"], effective_on=starts_on,
                            values_json=values_json(values), approved_by=data["approved_by"],
                            ic_resolution_ref=data.get("ic_resolution_ref", ""),
                            note=data.get("note", ""), created_by=actor)
    session.add(version)
    session.flush()
    record(session, actor=actor, action="policy.loaded", subject_type="policy_version",
           subject_id=version.id, payload={"version": version.version,
                                           "effective_on": version.effective_on,
                                           "values": values, "source": "default.json"})
    return version


FUND_FIELDS = ("name", "name_en", "committed_amount", "established_on", "platform_name")


def _fund_payload(fund: Fund) -> dict[str, Any]:
    return {key: getattr(fund, key) for key in FUND_FIELDS}


def _refuse_amount(committed_amount: Decimal) -> None:
    # The schemas refuse it already; an operation called from elsewhere (a script) must too.
    if committed_amount <= 0:
        raise ValidationFailed(_l("Some fields are not valid."), details={
            "committed_amount": [str(_l("Must be more than 0."))]})


def create_fund(session: Session, *, name: str, committed_amount: Decimal,
                established_on: date, name_en: str = "", platform_name: str = "",
                actor: str) -> Fund:
    """Set the fund up: the fund itself and, with it, the shipped default policy version.

    There is one fund per installation: a second is refused. The policy is created here (never
    on a read), in force from the inception date, so every page can show the policy in force.
    """
    lock_key(session, "fund.create")  # two set-ups at once: the second sees the first's fund
    existing = session.scalar(select(Fund).order_by(Fund.id).limit(1))
    if existing is not None:
        raise AppError(_l("The fund is already set up (%(name)s); there is one fund per "
                          "installation. Correct its details instead.", name=existing.name),
                       status=409, code="fund_exists")
    _refuse_amount(committed_amount)
    not_after_today(established_on, "established_on")
    fund = Fund(name=name, name_en=name_en, committed_amount=committed_amount,
                established_on=established_on, platform_name=platform_name)
    session.add(fund)
    session.flush()
    record(session, actor=actor, action="fund.created", subject_type="fund", subject_id=fund.id,
           payload=_fund_payload(fund))
    ensure_default_policy(session, effective_on=established_on, actor=actor)
    return fund


def update_fund(session: Session, fund_id: int, *, actor: str, reason: str = "",
                **changes: Any) -> Fund:
    """Correct the fund's names, platform or committed capital; the ledger keeps before and after.

    A change of committed capital changes the R10 limits of every later deal: it needs a reason.
    """
    fund = lock(session, Fund, fund_id)
    if fund is None:
        raise NotFound(_l("The fund is not set up yet."))
    wanted = {k: v for k, v in changes.items() if k in FUND_FIELDS and k != "established_on"}
    if "committed_amount" in wanted:
        _refuse_amount(wanted["committed_amount"])
        if wanted["committed_amount"] != fund.committed_amount and not reason.strip():
            raise ValidationFailed(_l("Some fields are not valid."), details={
                "reason": [str(_l("Give a reason for changing the committed capital."))]})
    before = _fund_payload(fund)
    for key, value in wanted.items():
        setattr(fund, key, value)
    after = _fund_payload(fund)
    changed = {k: {"before": before[k], "after": after[k]} for k in FUND_FIELDS
               if before[k] != after[k]}
    if changed:
        session.flush()
        record(session, actor=actor, action="fund.updated", subject_type="fund",
               subject_id=fund.id, payload={"changed": changed, "reason": reason.strip()})
    return fund


def policy_in_force(session: Session, on: date) -> PolicyVersion:
    """The version with the latest effective date on or before `on` (ties: the newer version).

    Read only: the default version is created with the fund (`create_fund`) or by a write that
    needs one (`ensure_default_policy`), never here.
    """
    version = session.scalar(select(PolicyVersion).where(PolicyVersion.effective_on <= on)
                             .order_by(PolicyVersion.effective_on.desc(),
                                       PolicyVersion.id.desc()).limit(1))
    if version is None:
        raise RuleRefused("policy", _l("No policy version is in force on %(day)s.",
                                       day=on.isoformat()), field="signed_on",
                          who=_l("an administrator"), link=("portfolio.policies", {}),
                          link_label=_l("Policy versions"))
    return version


def create_policy_version(session: Session, *, effective_on: date, values: Mapping[str, Any],
                          approved_by: str, ic_resolution_ref: str, note: str = "",
                          version: str | None = None, actor: str) -> PolicyVersion:
    """An admin's change: a new version; parameters not given keep the values in force then."""
    ensure_default_policy(session)
    base = policy_in_force(session, effective_on).values
    merged = {**base, **dict(values)}
    clean, errors = clean_values(merged)
    if errors:
        raise ValidationFailed(_l("Some policy values are not valid."),
                               details={"values": errors})
    if not version:
        count = session.scalar(select(func.count()).select_from(PolicyVersion)) or 0
        version = f"v{count + 1}-{effective_on.isoformat()}"
    if session.scalar(select(PolicyVersion.id).where(PolicyVersion.version == version)):
        raise ValidationFailed(_l("Some fields are not valid."),
                               details={"version": [str(_l("This version id is taken."))]})
    row = PolicyVersion(version=version, effective_on=effective_on, values_json=values_json(clean),
                        approved_by=approved_by, ic_resolution_ref=ic_resolution_ref, note=note,
                        created_by=actor)
    session.add(row)
    session.flush()
    changed = {k: {"before": base.get(k), "after": v} for k, v in clean.items()
               if base.get(k) != v}
    record(session, actor=actor, action="policy.version_created", subject_type="policy_version",
           subject_id=row.id, payload={"version": version, "effective_on": effective_on,
                                       "approved_by": approved_by,
                                       "ic_resolution_ref": ic_resolution_ref,
                                       "changed": changed, "values": clean})
    return row
