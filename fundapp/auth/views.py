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

from fundapp.auth.forms import LoginForm
from fundapp.auth.operations import authenticate, end_session, start_session
from fundapp.extensions import db
from fundapp.ui import safe_next

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next"))
    if g.user is not None and request.method == "GET":
        return redirect(url_for("main.dashboard"))
    error = None
    status = 200
    if form.validate_on_submit():
        result = authenticate(db.session, form.email.data, form.password.data,
                              request.remote_addr or "unknown", via="web")
        if result.user is not None:
            start_session(db.session, result.user)
            db.session.commit()
            locale = session.get("locale")
            session.clear()  # a fresh session on sign-in: nothing from before carries over...
            if locale:
                session["locale"] = locale  # ...except the language chosen on this page
            session.permanent = True
            login_user(result.user)
            return redirect(safe_next(form.next.data) or url_for("main.dashboard"))
        db.session.commit()  # keep the failed attempt and its ledger entry
        if result.throttled:
            error = _("Too many failed sign-ins. Please wait 15 minutes and try again.")
            status = 429
        else:
            error = _("The e-mail address or password is wrong.")
            status = 401
    elif request.method == "POST":
        status = 422
    return render_template("auth/login.html", form=form, error=error), status


@bp.post("/logout")
def logout():
    end_session(db.session, g.user)
    db.session.commit()
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
            from fundapp.auth.operations import set_locale

            set_locale(db.session, g.user, code)
            db.session.commit()
    return redirect(safe_next(request.form.get("next")) or url_for("main.dashboard"))
