"""Scheduled work of exits: reminders of the instalments of deferred exit balances (R9.d).

Daily, the fund managers are told of each unpaid instalment once when its due date is within
REMIND_DAYS days, and once more when it is overdue. Each instalment records the day each
reminder went out (reminded_on, overdue_notified_on), and the notifications carry a key per
instalment and due date, so a second run (or a caught-up one) tells nobody twice.
"""

from __future__ import annotations

from datetime import date, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from fundapp.dates import shanghai_today
from fundapp.deals.models import Company
from fundapp.extensions import db
from fundapp.notifications.operations import notify
from fundapp.portfolio.exits.models import Exit, ExitInstalment
from fundapp.portfolio.holdings.models import Holding
from fundapp.scheduler import JobSpec, register_job

REMIND_DAYS = 30  # an instalment due within this many days is announced once


def remind_instalments(session: Session, today: date) -> tuple[int, int]:
    """(reminders of instalments coming due, notices of overdue ones) sent today."""
    horizon = today + timedelta(days=REMIND_DAYS)
    rows = session.execute(
        select(ExitInstalment, Exit.holding_id, Company.legal_name)
        .join(Exit, Exit.id == ExitInstalment.exit_id)
        .join(Holding, Holding.id == Exit.holding_id)
        .join(Company, Company.id == Holding.company_id)
        .where(ExitInstalment.paid_on.is_(None), ExitInstalment.due_on <= horizon,
               or_(ExitInstalment.reminded_on.is_(None),
                   ExitInstalment.overdue_notified_on.is_(None)))
        .order_by(ExitInstalment.due_on, ExitInstalment.id)).all()
    coming = late = 0
    for line, holding_id, company in rows:
        amount = f"{line.principal_amount + line.interest_amount:,}"
        link = f"/portfolio/holdings/{holding_id}"
        if line.due_on < today:
            if line.overdue_notified_on is None:
                notify(session, role="fund_manager", kind="exit.instalment_overdue",
                       severity="warning", clause="R9.d", once=True, link=link,
                       key=f"exit.instalment_overdue:{line.id}:{line.due_on.isoformat()}",
                       message=_l("Instalment %(n)s of exit %(exit)s (%(company)s), %(amount)s, "
                                  "was due on %(due)s and has not been paid.", n=line.number,
                                  exit=line.exit_id, company=company, amount=amount,
                                  due=line.due_on.isoformat()))
                line.overdue_notified_on = today
                late += 1
            line.reminded_on = line.reminded_on or today  # late: no "coming due" any more
        elif line.reminded_on is None:
            notify(session, role="fund_manager", kind="exit.instalment_due", severity="info",
                   clause="R9.d", once=True, link=link,
                   key=f"exit.instalment_due:{line.id}:{line.due_on.isoformat()}",
                   message=_l("Instalment %(n)s of exit %(exit)s (%(company)s), %(amount)s, is "
                              "due on %(due)s.", n=line.number, exit=line.exit_id,
                              company=company, amount=amount, due=line.due_on.isoformat()))
            line.reminded_on = today
            coming += 1
    session.flush()
    return coming, late


def remind_instalments_job() -> str:
    """Daily: remind the fund managers of instalments coming due and of overdue ones, once."""
    coming, late = remind_instalments(db.session, shanghai_today())
    return (f"{coming} instalment(s) due within {REMIND_DAYS} days announced, "
            f"{late} overdue instalment(s) reported")


register_job(JobSpec("exits.instalments", remind_instalments_job,
                     {"hour": "8", "minute": "10"}, timedelta(hours=12), clause="R9.d"))
