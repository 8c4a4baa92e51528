"""Dashboard and the user's own profile."""

from __future__ import annotations

import logging

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from fundapp.auth.operations import change_password, set_locale, set_name_en
from fundapp.auth.schemas import LocaleSchema, PasswordChangeSchema
from fundapp.extensions import db
from fundapp.inputs import load_form
from fundapp.main.inbox import InboxSection, badge_count, build_inbox, inbox_count
from fundapp.main.queries import dashboard_summary
from fundapp.unit_of_work import attempt

bp = Blueprint("main", __name__)
log = logging.getLogger("fundapp.main")


def _inbox() -> list[InboxSection]:
    """The signed-in user's inbox, built once per request (the page and the badge share it)."""
    if "inbox" not in g:
        g.inbox = build_inbox(db.session, g.user)
    return g.inbox


@bp.app_context_processor
def _inbox_badge():
    def badge() -> int | None:
        """The number of items in the navigation's badge; None when there is no one signed in
        or the inbox cannot be read (an error page must still render)."""
        if g.get("user") is None:
            return None
        try:
            if "inbox" in g:  # the dashboard built it: count what it shows
                return inbox_count(g.inbox)
            return badge_count(db.session, g.user)  # every other page: one counting SELECT
        except Exception:  # the badge never breaks the page it sits on
            log.exception("the inbox could not be read for the badge")
            return None

    return {"inbox_badge": badge}


@bp.get("/")
def dashboard():
    return render_template("main/dashboard.html", summary=dashboard_summary(db.session, g.user),
                           inbox=_inbox())


def _profile_page(*, errors: dict | None = None, failed: str = ""):
    return render_template("main/profile.html", errors=errors or {}, failed=failed
                           ), 422 if errors else 200


@bp.route("/profile", methods=["GET", "POST"])
def profile():
    if request.method == "POST":
        _done, errors = attempt(lambda: set_locale(db.session, g.user,
                                               load_form(LocaleSchema())["locale"]))
        if errors:
            return _profile_page(errors=errors, failed="locale")
        flash(_("Your language has been saved."), "success")
        return redirect(url_for("main.profile"))
    return _profile_page()


@bp.post("/profile/name", endpoint="set_own_name_en")
def set_own_name_en():
    """The user's own name in English (their Chinese name is the admin's to set)."""
    name_en = request.form.get("name_en", "")
    _done, errors = attempt(lambda: set_name_en(db.session, g.user, name_en,
                                                actor=g.user.email))
    if errors:
        return _profile_page(errors=errors, failed="name")
    flash(_("Your name in English has been saved."), "success")
    return redirect(url_for("main.profile"))


@bp.post("/profile/password", endpoint="change_password")
def change_password_view():
    _done, errors = attempt(lambda: _change_password(load_form(PasswordChangeSchema())))
    if errors:
        if "password" in errors:  # the operation's name for the new password
            errors.setdefault("new_password", []).extend(errors.pop("password"))
        return _profile_page(errors=errors, failed="password")
    flash(_("Your password has been changed."), "success")
    return redirect(url_for("main.profile"))


def _change_password(data: dict) -> None:
    change_password(db.session, g.user, data["current_password"], data["new_password"])
