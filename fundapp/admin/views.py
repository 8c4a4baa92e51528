"""User administration and the fund's first-run set-up."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, or_, select
from werkzeug.datastructures import MultiDict

from fundapp.auth.models import Role, User, UserRole
from fundapp.auth.operations import create_user, get_user, set_active, set_name_en, set_roles
from fundapp.auth.schemas import ROLE_LABELS, UserCreateSchema, UserEditSchema, role_choices
from fundapp.errors import ValidationFailed
from fundapp.extensions import db
from fundapp.fund.operations import create_fund
from fundapp.fund.queries import the_fund
from fundapp.fund.schemas import FUND_LABELS, FundCreateSchema
from fundapp.inputs import load_form
from fundapp.pagination import paginate
from fundapp.unit_of_work import attempt

bp = Blueprint("admin", __name__, url_prefix="/admin")

SORTS = {"email": User.email, "name": User.name, "created": User.created_at}


@bp.get("/users")
def users():
    query = request.args.get("q", "").strip()
    sort = request.args.get("sort", "email")
    stmt = select(User)
    if query:
        like = f"%{query.lower()}%"
        stmt = stmt.where(or_(func.lower(User.email).like(like), func.lower(User.name).like(like)))
    column = SORTS.get(sort.lstrip("-"), User.email)
    stmt = stmt.order_by(column.desc() if sort.startswith("-") else column, User.id)
    page = paginate(db.session, stmt, request.args.get("page", 1))
    return render_template("admin/users.html", page=page, q=query, sort=sort,
                           role_labels=ROLE_LABELS)


@bp.route("/users/new", methods=["GET", "POST"])
def new_user():
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        user, errors = attempt(lambda: create_user(
            db.session, actor=g.user.email,
            **load_form(UserCreateSchema(exclude=("locale",)))))
        if not errors:
            flash(_("User %(email)s created.", email=user.email), "success")
            return redirect(url_for("admin.users"))
    return render_template("admin/new_user.html", values=request.form, errors=errors,
                           roles=role_choices()), 422 if errors else 200


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
def edit_user(user_id: int):
    user = get_user(db.session, user_id)
    values = MultiDict([("roles", role) for role in sorted(r.value for r in user.roles)]
                       + ([("is_active", "y")] if user.is_active else [])
                       + [("name_en", user.name_en)])
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        _saved, errors = attempt(lambda: _save_user(user, load_form(UserEditSchema())))
        if not errors:
            flash(_("Changes to %(email)s saved.", email=user.email), "success")
            return redirect(url_for("admin.users"))
        values = request.form
    return render_template("admin/edit_user.html", values=values, errors=errors, user=user,
                           roles=role_choices(), role_labels=ROLE_LABELS), 422 if errors else 200


def _save_user(user: User, data: dict) -> None:
    if user.id == g.user.id and not data["is_active"]:
        raise ValidationFailed(_("You cannot disable your own account."), details={
            "is_active": [_("You cannot disable your own account.")]})
    set_roles(db.session, user, data["roles"], actor=g.user.email)
    set_active(db.session, user, data["is_active"], actor=g.user.email)
    if "name_en" in data:
        set_name_en(db.session, user, data["name_en"], actor=g.user.email)


# --------------------------------------------------------------------------- the first run


@bp.before_app_request
def _no_fund_yet():
    """Before the fund is set up, the dashboard is the set-up form for an admin and, for everyone
    else, the page saying who sets it up (no deal can move without the fund's committed capital,
    R10.a). Shown in place (200), not redirected: the dashboard stays the page after sign-in."""
    if request.endpoint != "main.dashboard" or request.method != "GET":
        return None
    user = g.get("user")
    if user is None or the_fund(db.session) is not None:
        return None
    if user.has_role(Role.ADMIN):
        return _setup_page({}, {})
    return _not_set_up_page()


@bp.route("/fund/setup", methods=["GET", "POST"])
def fund_setup():
    if the_fund(db.session) is not None:
        flash(_("The fund is already set up."), "info")
        return redirect(url_for("main.dashboard"))
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        fund, errors = attempt(lambda: create_fund(db.session, actor=g.user.email,
                                                   **load_form(FundCreateSchema())))
        if not errors:
            flash(_("The fund %(name)s is set up. The default policy version is in force from "
                    "%(day)s.", name=fund.name, day=fund.established_on.isoformat()), "success")
            return redirect(url_for("main.dashboard"))
    return _setup_page(request.form, errors)


def _setup_page(values, errors: dict[str, list[str]]):
    return render_template("admin/fund_setup.html", values=values, errors=errors,
                           labels=FUND_LABELS), 422 if errors else 200


@bp.get("/fund/not-set-up")
def fund_not_set_up():
    if the_fund(db.session) is not None:
        return redirect(url_for("main.dashboard"))
    return _not_set_up_page()


def _not_set_up_page():
    admins = db.session.execute(
        select(User.name, User.email).join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == Role.ADMIN, User.is_active.is_(True)).order_by(User.email)).all()
    return render_template("admin/fund_not_set_up.html",
                           admins=[{"name": a.name, "email": a.email} for a in admins])
