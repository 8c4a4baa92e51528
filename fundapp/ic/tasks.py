"""The investment committee's long work, run by `fundapp worker` (issue 16): a meeting's pack and
the quarterly portfolio report. The request checks who may ask and what was asked, then queues;
the worker checks again (the meeting may have been locked meanwhile) and renders."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from fundapp.auth.models import User
from fundapp.errors import Forbidden
from fundapp.ic import operations as ops
from fundapp.ic.quarterly import generate_quarterly_report
from fundapp.tasks.operations import Progress, TaskResult, register_task

PACK_TASK = "ic.pack"
QUARTERLY_TASK = "ic.quarterly_report"


def _requester(session: Session, email: str) -> User:
    user = session.scalar(select(User).where(User.email == email))
    if user is None or not user.is_active:
        raise Forbidden(_l("You do not have permission to do this."))
    return user


def run_pack(session: Session, params: dict[str, Any], progress: Progress) -> TaskResult:
    progress(0, 1)
    user = _requester(session, params["actor"])
    meeting = ops.meeting_for(session, params["meeting_id"], user, ops.Act.PREPARE)
    # Progress per deal, then the rendering: a 20-deal pack shows 1/21 ... 21/21 on its page.
    pack = ops.generate_pack(session, meeting, actor=user.email, language=params["language"],
                             is_final=params["is_final"], progress=progress)
    return TaskResult(endpoint="ic.pack_pdf",
                      values={"meeting_id": meeting.id, "version": pack.version},
                      data={"meeting_id": meeting.id, "version": pack.version,
                            "sha256": pack.sha256})


def run_quarterly(session: Session, params: dict[str, Any], progress: Progress) -> TaskResult:
    progress(0, 1)
    _pdf, report = generate_quarterly_report(session, params["quarter"], actor=params["actor"])
    progress(1, 1)
    return TaskResult(endpoint="ic.quarterly_pdf", values={"report_id": report.id},
                      data={"report_id": report.id, "quarter": report.quarter,
                            "version": report.version})


register_task(PACK_TASK, run_pack, _l("IC meeting pack"))
register_task(QUARTERLY_TASK, run_quarterly, _l("Quarterly portfolio report"))
