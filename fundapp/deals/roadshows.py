"""Roadshows (路演) and their judging: criteria, panels, slots and score sheets.

Like every operation module: validated input in (the schemas checked it), the database's checks
here, flush only, and the ledger entry in the same unit of work.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fundapp.auth.models import User
from fundapp.compliance.corrections import plain, record_correction, require_reason
from fundapp.compliance.ledger import record
from fundapp.dates import shanghai_today
from fundapp.deals.models import (
    Company,
    PanelMember,
    Roadshow,
    RoadshowCriterion,
    RoadshowFormat,
    RoadshowSlot,
    Score,
    ScoreSheet,
)
from fundapp.deals.operations import lock_roadshow, refuse_before_roadshow, refuse_fields
from fundapp.deals.scoring import DEFAULT_CRITERIA, MAX_SCORE, MIN_SCORE
from fundapp.errors import NotFound, RuleRefused


def create_roadshow(session: Session, *, actor: str, name: str, held_on: date, venue: str = "",
                    organiser: str = "", format: RoadshowFormat = RoadshowFormat.OFFLINE,
                    criteria: Sequence[Mapping[str, Any]] | None = None, name_en: str = "",
                    venue_en: str = "") -> Roadshow:
    """A roadshow with the default criteria (20% each) unless criteria are given.

    `criteria` as RoadshowCreateSchema checked them: codes unique, weights adding up to 100.
    """
    clean = {"name": name, "name_en": (name_en or "").strip(), "held_on": held_on,
             "venue": venue, "venue_en": (venue_en or "").strip(), "organiser": organiser,
             "format": RoadshowFormat(format)}
    checked = [dict(c) for c in criteria] if criteria else [
        {"code": c, "label": label, "weight_pct": w} for c, label, w in DEFAULT_CRITERIA]
    roadshow = Roadshow(**clean, criteria=[RoadshowCriterion(position=i, **c)
                                           for i, c in enumerate(checked)])
    session.add(roadshow)
    session.flush()
    record(session, actor=actor, action="roadshow.created", subject_type="roadshow",
           subject_id=roadshow.id, payload={**clean, "criteria": [
               {"code": c["code"], "weight_pct": c["weight_pct"]} for c in checked]})
    return roadshow


ROADSHOW_FIELDS = ("name", "name_en", "held_on", "venue", "venue_en", "organiser", "format")


def update_roadshow(session: Session, roadshow: Roadshow, *, actor: str, **changes: Any) -> None:
    """Change a roadshow's name, day, venue, organiser or format (RoadshowFormSchema).

    Once judges have scored, the roadshow has been held: its day cannot move after today.
    """
    roadshow = lock_roadshow(session, roadshow.id)
    held_on = changes.get("held_on")
    if held_on is not None and held_on > shanghai_today() and session.scalar(
            select(ScoreSheet.id).where(ScoreSheet.roadshow_id == roadshow.id).limit(1)):
        refuse_fields({"held_on": [str(_l("Judges have already scored at this roadshow, so it "
                                          "was held: its day cannot be after today."))]})
    changed = {}
    for key, value in changes.items():
        if key in ROADSHOW_FIELDS and getattr(roadshow, key) != value:
            changed[key] = {"before": getattr(roadshow, key), "after": value}
            setattr(roadshow, key, value)
    if changed:
        record(session, actor=actor, action="roadshow.updated", subject_type="roadshow",
               subject_id=roadshow.id, payload=changed)


def get_roadshow(session: Session, roadshow_id: int) -> Roadshow:
    roadshow = session.get(Roadshow, roadshow_id)
    if roadshow is None:
        raise NotFound(_l("No such roadshow."))
    return roadshow


def set_criteria(session: Session, roadshow: Roadshow, criteria: Sequence[Mapping[str, Any]], *,
                 actor: str) -> None:
    """Replace the roadshow's criteria and weights (CriteriaSchema: summing to 100%); scores
    already given to a criterion that stays are kept, and a criterion that has scores cannot be
    removed."""
    roadshow = lock_roadshow(session, roadshow.id)
    existing = {c.code: c for c in roadshow.criteria}
    wanted = {c["code"] for c in criteria}
    removed = [c for code, c in existing.items() if code not in wanted]
    if removed:
        scored = session.scalar(select(func.count()).select_from(Score).where(
            Score.criterion_id.in_([c.id for c in removed])))
        if scored:
            refuse_fields({"criteria": [str(_l("%(label)s already has scores and cannot be removed.",
                                         label=removed[0].label))]})
    kept = []
    for position, item in enumerate(criteria):
        criterion = existing.get(item["code"])
        if criterion is None:
            criterion = RoadshowCriterion(code=item["code"])
        criterion.label = item["label"]
        criterion.weight_pct = item["weight_pct"]
        criterion.position = position
        kept.append(criterion)
    roadshow.criteria = kept
    session.flush()
    record(session, actor=actor, action="roadshow.criteria_set", subject_type="roadshow",
           subject_id=roadshow.id, payload={"criteria": [
               {"code": c["code"], "label": c["label"], "weight_pct": c["weight_pct"]}
               for c in criteria]})


def add_panel_member(session: Session, roadshow: Roadshow, *, actor: str,
                     user_id: int | None = None, name: str = "",
                     affiliation: str = "", name_en: str = "",
                     affiliation_en: str = "") -> PanelMember:
    """A judge: a user of fundapp, or an external expert by name (PanelMemberCreateSchema)."""
    roadshow = lock_roadshow(session, roadshow.id)
    user = None
    if user_id is not None:
        user = session.get(User, user_id)
        if user is None or not user.is_active:
            refuse_fields({"user_id": [str(_l("No such user."))]})
        if session.scalar(select(PanelMember.id).where(PanelMember.roadshow_id == roadshow.id,
                                                       PanelMember.user_id == user.id)):
            refuse_fields({"user_id": [str(_l("This user is already on the panel."))]})
        name = name or user.display_name[:200]
        name_en = name_en or user.name_en[:200]
    member = PanelMember(roadshow_id=roadshow.id, user_id=user.id if user else None, name=name,
                         affiliation=affiliation, name_en=(name_en or "").strip(),
                         affiliation_en=(affiliation_en or "").strip())
    session.add(member)
    session.flush()
    record(session, actor=actor, action="roadshow.panel_member_added", subject_type="roadshow",
           subject_id=roadshow.id, payload={"panel_member_id": member.id, "name": name,
                                            "user_id": member.user_id,
                                            "affiliation": affiliation,
                                            "name_en": member.name_en,
                                            "affiliation_en": member.affiliation_en})
    return member


def add_slot(session: Session, roadshow: Roadshow, company: Company, *, actor: str,
             position: int | None = None) -> RoadshowSlot:
    """The company pitches at the roadshow, by default after the last slot (SlotCreateSchema)."""
    roadshow = lock_roadshow(session, roadshow.id)
    slot = session.scalar(select(RoadshowSlot).where(RoadshowSlot.roadshow_id == roadshow.id,
                                                     RoadshowSlot.company_id == company.id))
    if slot is not None:
        return slot
    if position is None:
        last = session.scalar(select(func.max(RoadshowSlot.position))
                              .where(RoadshowSlot.roadshow_id == roadshow.id))
        position = (last or 0) + 1
    slot = RoadshowSlot(roadshow_id=roadshow.id, company_id=company.id, position=position)
    session.add(slot)
    session.flush()
    record(session, actor=actor, action="roadshow.slot_added", subject_type="roadshow",
           subject_id=roadshow.id, payload={"company_id": company.id,
                                            "company": company.legal_name, "position": position})
    return slot


def _is_score(value: object) -> bool:
    return isinstance(value, Decimal) and value.is_finite() and \
        MIN_SCORE <= value <= MAX_SCORE and value == value.quantize(Decimal("0.01"))


def record_score_sheet(session: Session, roadshow: Roadshow, *, panel_member_id: int,
                       company_id: int, scores: Mapping[str, Decimal] | None = None,
                       has_conflict: bool = False, comment: str = "",
                       actor: str, now: datetime | None = None) -> ScoreSheet:
    """A judge's scores for a company (every criterion, 0 to 10), or a declared conflict.

    ScoreSheetCreateSchema checked each score; here they are matched to the roadshow's criteria.
    A conflicted judge's sheet carries no scores and is left out of the company's ranking. Judges
    score from the roadshow's day on (R11); one sheet per judge and company: sending it again
    replaces it, and sending the same sheet again changes nothing.
    """
    roadshow = lock_roadshow(session, roadshow.id)
    refuse_before_roadshow(roadshow, shanghai_today(now))
    problems: dict[str, list[str]] = {}
    member = session.get(PanelMember, panel_member_id)
    if member is None or member.roadshow_id != roadshow.id:
        problems["panel_member_id"] = [str(_l("Choose a member of this roadshow's panel."))]
    pitched = session.scalar(select(RoadshowSlot.id).where(
        RoadshowSlot.roadshow_id == roadshow.id, RoadshowSlot.company_id == company_id))
    if pitched is None:
        problems["company_id"] = [str(_l("This company has no slot at this roadshow."))]
    values: dict[int, Decimal] = {}
    if not has_conflict:
        given = dict(scores or {})
        for criterion in roadshow.criteria:
            value = given.pop(criterion.code, given.pop(str(criterion.id), None))
            if value is None:
                problems[f"scores.{criterion.code}"] = [
                    str(_l("Score %(label)s.", label=criterion_label(criterion)))]
            elif not _is_score(value):  # the form checked it; an import or a script may not
                problems[f"scores.{criterion.code}"] = [str(_l(
                    "A score is a number from %(min)s to %(max)s.", min=MIN_SCORE,
                    max=MAX_SCORE))]
            else:
                values[criterion.id] = value
        for unknown in given:
            problems[f"scores.{unknown}"] = [str(_l("Unknown criterion."))]
    refuse_fields(problems)
    sheet = session.scalar(select(ScoreSheet).where(ScoreSheet.panel_member_id == member.id,
                                                    ScoreSheet.company_id == company_id))
    if sheet is None:
        sheet = ScoreSheet(roadshow_id=roadshow.id, panel_member_id=member.id,
                           company_id=company_id)
        session.add(sheet)
    elif (sheet.has_conflict, sheet.comment, {s.criterion_id: s.value for s in sheet.scores}) \
            == (bool(has_conflict), comment, values):
        return sheet  # the same sheet sent again (a retry, a double click): nothing changes
    sheet.has_conflict = bool(has_conflict)
    sheet.comment = comment
    sheet.recorded_by = actor
    # Changed in place: new rows for the same criteria would meet the old ones' UNIQUE before
    # the old ones are deleted.
    kept = {s.criterion_id: s for s in sheet.scores if s.criterion_id in values}
    for criterion_id, value in values.items():
        if criterion_id not in kept:
            kept[criterion_id] = Score(criterion_id=criterion_id)
        kept[criterion_id].value = value
    sheet.scores = list(kept.values())
    session.flush()
    by_code = {c.id: c.code for c in roadshow.criteria}
    record(session, actor=actor, action="roadshow.scores_recorded", subject_type="roadshow",
           subject_id=roadshow.id, payload={"panel_member_id": member.id,
                                            "panel_member": member.name,
                                            "company_id": company_id,
                                            "has_conflict": sheet.has_conflict,
                                            "scores": {by_code[k]: v for k, v in values.items()}})
    return sheet


DEFAULT_CRITERION_LABELS = {
    "technology": _l("Technology"),
    "team": _l("Team"),
    "market": _l("Market"),
    "park_fit": _l("Fit with the park's industries"),
    "policy_value": _l("Policy value"),
}


def criterion_label(criterion: RoadshowCriterion) -> str:
    """Default criteria in the reader's language; criteria an editor named, as named."""
    default = dict((c, label) for c, label, _w in DEFAULT_CRITERIA)
    if criterion.code in DEFAULT_CRITERION_LABELS and default.get(criterion.code) == \
            criterion.label:
        return str(DEFAULT_CRITERION_LABELS[criterion.code])
    return criterion.label


def _roadshow_snapshot(roadshow: Roadshow) -> dict[str, Any]:
    return {**{k: getattr(roadshow, k) for k in ROADSHOW_FIELDS},
            "panel": [{"id": m.id, "name": m.name, "affiliation": m.affiliation,
                       "name_en": m.name_en, "affiliation_en": m.affiliation_en}
                      for m in roadshow.panel],
            "slots": [{"company_id": s.company_id, "company": s.company.legal_name,
                       "position": s.position} for s in roadshow.slots],
            "criteria": [{"code": c.code, "label": c.label, "weight_pct": c.weight_pct}
                         for c in roadshow.criteria]}


def has_scores(session: Session, roadshow_id: int) -> bool:
    return session.scalar(select(ScoreSheet.id).where(ScoreSheet.roadshow_id == roadshow_id)
                          .limit(1)) is not None


def correct_roadshow(session: Session, roadshow_id: int, *, actor: str, reason: str,
                     panel: Sequence[Mapping[str, Any]] | None = None,
                     slots: Sequence[Mapping[str, Any]] | None = None,
                     criteria: Sequence[Mapping[str, Any]] | None = None,
                     **changes: Any) -> Roadshow:
    """Correct a roadshow with a reason (issue 12): its name, day, place, format, its panel
    members' names, its slots' order (a company without a score sheet may be taken off), and its
    criteria while no score is recorded. One `roadshow.corrected` entry."""
    roadshow = lock_roadshow(session, roadshow_id)
    reason = require_reason(reason)
    before = _roadshow_snapshot(roadshow)
    scored = has_scores(session, roadshow.id)
    problems: dict[str, list[str]] = {}
    held_on = changes.get("held_on")
    if held_on is not None and held_on != roadshow.held_on and held_on > shanghai_today() \
            and scored:
        problems["held_on"] = [str(_l("Judges have already scored at this roadshow, so it "
                                      "was held: its day cannot be after today."))]
    if criteria is not None and scored and plain(before["criteria"]) != plain(
            [{"code": c["code"], "label": c["label"], "weight_pct": c["weight_pct"]}
             for c in criteria]):
        raise RuleRefused("R11", _l("Scores are recorded at this roadshow: its criteria can no "
                                    "longer be corrected."), field="criteria")
    members = {m.id: m for m in roadshow.panel}
    for index, row in enumerate(panel or ()):
        member = members.get(row.get("id"))
        if member is None:
            problems[f"panel.{index}"] = [str(_l("No such panel member on this roadshow."))]
        elif not (row.get("name") or "").strip():
            problems[f"panel.{index}"] = [str(_l("Enter the expert's name."))]
    current = {s.company_id: s for s in roadshow.slots}
    if slots is not None:
        wanted = {row["company_id"] for row in slots}
        for index, row in enumerate(slots):
            if row["company_id"] not in current:
                problems[f"slots.{index}"] = [str(_l("This company has no slot at this "
                                                     "roadshow."))]
        positions = [row["position"] for row in slots]
        if len(set(positions)) != len(positions):
            problems["slots"] = [str(_l("Each company needs its own slot number."))]
        for company_id in set(current) - wanted:
            if session.scalar(select(ScoreSheet.id).where(
                    ScoreSheet.roadshow_id == roadshow.id,
                    ScoreSheet.company_id == company_id).limit(1)):
                problems["slots"] = [str(_l("%(name)s has score sheets and cannot be taken "
                                            "off the roadshow.",
                                            name=current[company_id].company.legal_name))]
    refuse_fields(problems)
    for key, value in changes.items():
        if key in ROADSHOW_FIELDS:
            setattr(roadshow, key, value)
    for row in panel or ():
        member = members[row["id"]]
        member.name = row["name"].strip()
        member.affiliation = (row.get("affiliation") or "").strip()
        for key in ("name_en", "affiliation_en"):
            if key in row:
                setattr(member, key, (row.get(key) or "").strip())
    if slots is not None:
        by_company = {row["company_id"]: row["position"] for row in slots}
        roadshow.slots = [s for s in roadshow.slots if s.company_id in by_company]
        for slot in roadshow.slots:
            slot.position = by_company[slot.company_id]
    if criteria is not None and not scored:
        existing = {c.code: c for c in roadshow.criteria}
        kept = []
        for position, item in enumerate(criteria):
            criterion = existing.get(item["code"]) or RoadshowCriterion(code=item["code"])
            criterion.label = item["label"]
            criterion.weight_pct = item["weight_pct"]
            criterion.position = position
            kept.append(criterion)
        roadshow.criteria = kept
    session.flush()
    session.expire(roadshow, ["slots", "criteria", "panel"])
    record_correction(session, actor=actor, thing="roadshow", subject_type="roadshow",
                      subject_id=roadshow.id, reason=reason, before=before,
                      after=_roadshow_snapshot(roadshow))
    return roadshow
