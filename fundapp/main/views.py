"""Dashboard and the user's own profile."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from fundapp.auth.forms import PasswordForm
from fundapp.auth.operations import change_password, set_locale
from fundapp.errors import ValidationFailed
from fundapp.extensions import db
from fundapp.main.queries import dashboard_summary

bp = Blueprint("main", __name__)


@bp.get("/")
def dashboard():
    return render_template("main/dashboard.html", summary=dashboard_summary(db.session, g.user))


@bp.route("/profile", methods=["GET", "POST"])
def profile():
    if request.method == "POST":
        set_locale(db.session, g.user, request.form.get("locale", ""))
        db.session.commit()
        flash(_("Your language has been saved."), "success")
        return redirect(url_for("main.profile"))
    return render_template("main/profile.html", password_form=PasswordForm())


@bp.post("/profile/password", endpoint="change_password")
def change_password_view():
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            change_password(db.session, g.user, form.current_password.data, form.new_password.data)
        except ValidationFailed as exc:
            db.session.rollback()
            form.current_password.errors = list(exc.details.get("current_password", []))
            form.new_password.errors = list(exc.details.get("password", []))
        else:
            db.session.commit()
            flash(_("Your password has been changed."), "success")
            return redirect(url_for("main.profile"))
    return render_template("main/profile.html", password_form=form), 422

