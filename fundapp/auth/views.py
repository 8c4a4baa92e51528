"""Sign in, sign out and the language switch."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import login_user, logout_user

from fundapp.auth.operations import authenticate, end_session, set_locale, start_session
from fundapp.auth.schemas import LoginSchema, NextSchema
from fundapp.extensions import db
from fundapp.inputs import load_form
from fundapp.ui import safe_next
from fundapp.unit_of_work import attempt, keep_on_error

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login():
    if g.user is not None and request.method == "GET":
        return redirect(url_for("main.dashboard"))
    if request.method == "GET":
        return _login_page({"next": safe_next(request.args.get("next")) or ""})
    data, errors = attempt(lambda: load_form(LoginSchema()))
    if errors:
        return _login_page(request.form, errors=errors, status=422)
    result = authenticate(db.session, data["email"], data["password"],
                          request.remote_addr or "unknown", via="web")
    if result.user is None:
        keep_on_error()  # the failed attempt (a security event) counts towards the lock-out
        if result.throttled:
            return _login_page(request.form, status=429, error=_(
                "Too many failed sign-ins. Please wait 15 minutes and try again."))
        return _login_page(request.form, status=401,
                           error=_("The e-mail address or password is wrong."))
    start_session(db.session, result.user)
    locale = session.get("locale")
    session.clear()  # a fresh session on sign-in: nothing from before carries over...
    if locale:
        session["locale"] = locale  # ...except the language chosen on this page
    session.permanent = True
    login_user(result.user)
    return redirect(safe_next(data["next"]) or url_for("main.dashboard"))


def _login_page(values, *, errors: dict | None = None, error: str | None = None,
                status: int = 200):
    return render_template("auth/login.html", values=values, errors=errors or {}, error=error,
                           next=safe_next(values.get("next")) or ""), status


@bp.post("/logout")
def logout():
    end_session(db.session, g.user)
    locale = g.user.locale or session.get("locale")
    logout_user()
    session.clear()
    if locale:
        session["locale"] = locale  # the sign-in page stays in the language the user reads
    flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.post("/language/<code>")
def set_language(code: str):
    if code in current_app.config["LANGUAGES"]:
        session["locale"] = code
        if g.user is not None:
            set_locale(db.session, g.user, code)
    return redirect(safe_next(load_form(NextSchema())["next"]) or url_for("main.dashboard"))
