"""Dashboard and the user's own profile."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from fundapp.auth.operations import change_password, set_locale
from fundapp.auth.schemas import LocaleSchema, PasswordChangeSchema
from fundapp.extensions import db
from fundapp.inputs import load_form
from fundapp.main.queries import dashboard_summary
from fundapp.unit_of_work import attempt

bp = Blueprint("main", __name__)


@bp.get("/")
def dashboard():
    return render_template("main/dashboard.html", summary=dashboard_summary(db.session, g.user))


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
