"""What each compliance-ledger action means, in words, for people reading their own activity.

The ledger keeps stable English codes (`grant.tranche_released`); the dashboard shows the label.
An action without a label is shown as "Recorded change" (the code stays in the page's title
attribute for whoever needs it).
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

ACTION_LABELS: dict[str, Any] = {
    "auth.login": _l("Signed in"),
    "auth.login_failed": _l("Sign-in refused"),
    "auth.login_throttled": _l("Sign-in blocked after too many attempts"),
    "auth.logout": _l("Signed out"),
    "auth.token_issued": _l("API token issued"),
    "auth.token_revoked": _l("API token revoked"),
    "user.created": _l("User created"),
    "user.enabled": _l("User enabled or disabled"),
    "user.password_changed": _l("Password changed"),
    "user.roles_changed": _l("Roles changed"),
    "fund.created": _l("Fund set up"),
    "fund.updated": _l("Fund details changed"),
    "policy.loaded": _l("Policy loaded"),
    "policy.version_created": _l("Policy version created"),
    "calendar.day_set": _l("Working-day calendar changed"),
    "calendar.day_removed": _l("Working-day calendar changed"),
    "lpr.rate_set": _l("LPR rate recorded"),
    "company.created": _l("Company created"),
    "company.updated": _l("Company corrected"),
    "deal.created": _l("Deal created"),
    "deal.updated": _l("Deal corrected"),
    "deal.stage_changed": _l("Deal moved to another stage"),
    "deal.expert_review_recorded": _l("Expert review recorded"),
    "deal.ic_decision_recorded": _l("IC decision recorded on the deal"),
    "roadshow.created": _l("Roadshow created"),
    "roadshow.updated": _l("Roadshow changed"),
    "roadshow.criteria_set": _l("Scoring criteria set"),
    "roadshow.panel_member_added": _l("Judge added to the panel"),
    "roadshow.slot_added": _l("Roadshow slot added"),
    "roadshow.scores_recorded": _l("Scores recorded"),
    "roadshow.signup_imported": _l("Sign-up sheet imported"),
    "grant.signed": _l("Grant agreement signed"),
    "grant.policy_overridden": _l("Policy overridden for an agreement"),
    "grant.milestone_reviewed": _l("Milestone review recorded"),
    "grant.tranche_released": _l("Tranche paid out"),
    "grant.refund_recorded": _l("Refund recorded"),
    "grant.rd_accepted": _l("R&D accepted"),
    "grant.alternative_condition_met": _l("Alternative conversion condition met"),
    "grant.converted": _l("Grant converted into equity"),
    "grant.remainder_closed": _l("Grant remainder above the stake cap closed"),
    "grant.registration_recorded": _l("Registration of converted equity recorded"),
    "grant.closed_as_grant": _l("Grant closed as a grant"),
    "grant.closed_with_tolerance": _l("Grant closed with tolerance"),
    "grant.breach_declared": _l("Breach declared"),
    "round.recorded": _l("Financing round recorded"),
    "round.evidence_added": _l("Round evidence added"),
    "mark.drafted": _l("Valuation mark drafted"),
    "mark.finalised": _l("Valuation mark finalised"),
    "appraisal.filed": _l("Appraisal filed"),
    "kpi.requests_created": _l("KPI reports requested"),
    "kpi.answered": _l("KPI report answered"),
    "index_series.imported": _l("Index series imported"),
    "ic.meeting_created": _l("IC meeting created"),
    "ic.agenda_notes_set": _l("Agenda notes written"),
    "ic.pack_generated": _l("IC pack generated"),
    "ic.attendance_recorded": _l("Attendance recorded"),
    "ic.conflict_declared": _l("Conflict declared"),
    "ic.vote_cast": _l("Vote cast"),
    "ic.decision_recorded": _l("IC decision recorded"),
    "ic.minutes_signed": _l("Minutes signed"),
    "ic.minutes_reopened": _l("Minutes reopened"),
    "ic.minutes_details_set": _l("Minutes details recorded"),
    "report.quarterly_generated": _l("Quarterly report generated"),
    "ledger.exported": _l("Ledger exported"),
    "ledger.signing_key_added": _l("Ledger signing key added"),
}
PREFIX_LABELS: dict[str, Any] = {
    "exit.": _l("Exit recorded"),
    "cash_flow.": _l("Cash flow recorded"),
}


def action_label(action: str) -> str:
    label = ACTION_LABELS.get(action)
    if label is None:
        label = next((v for k, v in PREFIX_LABELS.items() if action.startswith(k)),
                     _l("Recorded change"))
    return str(label)
