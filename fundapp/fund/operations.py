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
from fundapp.errors import RuleRefused, ValidationFailed
from fundapp.fund.models import Fund, PolicyVersion
from fundapp.fund.policies import clean_values, load_default_file, values_json


def ensure_default_policy(session: Session) -> PolicyVersion | None:
    """Load the shipped default policy file as the first version when there is none yet."""
    if session.scalar(select(PolicyVersion.id).limit(1)) is not None:
        return None
    data = load_default_file()
    values, errors = clean_values(data["values"])
    if errors:  # the shipped file is checked by a test; this guards a hand-edited copy
        raise RuntimeError(f"the default policy file is not valid: {errors}")
    version = PolicyVersion(version=data["version"],
                            effective_on=date.fromisoformat(data["effective_on"]),
                            values_json=values_json(values), approved_by=data["approved_by"],
                            ic_resolution_ref=data.get("ic_resolution_ref", ""),
                            note=data.get("note", ""), created_by="system")
    session.add(version)
    session.flush()
    record(session, actor="system", action="policy.loaded", subject_type="policy_version",
           subject_id=version.id, payload={"version": version.version,
                                           "effective_on": version.effective_on,
                                           "values": values, "source": "default.json"})
    return version


def create_fund(session: Session, *, name: str, committed_amount: Decimal,
                established_on: date, name_en: str = "", platform_name: str = "",
                actor: str) -> Fund:
    """Set the fund up: the fund itself and, with it, the shipped default policy version.

    The policy is created here (never on a read) so every page can show the policy in force.
    """
    fund = Fund(name=name, name_en=name_en, committed_amount=committed_amount,
                established_on=established_on, platform_name=platform_name)
    session.add(fund)
    session.flush()
    record(session, actor=actor, action="fund.created", subject_type="fund", subject_id=fund.id,
           payload={"name": name, "name_en": name_en, "committed_amount": committed_amount,
                    "established_on": established_on, "platform_name": platform_name})
    ensure_default_policy(session)
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
                                       day=on.isoformat()), field="signed_on")
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
