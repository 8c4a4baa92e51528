"""User administration."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, or_, select

from fundapp.admin.forms import ROLE_LABELS, EditUserForm, NewUserForm
from fundapp.auth.models import User
from fundapp.auth.operations import create_user, get_user, set_active, set_roles
from fundapp.errors import AppError
from fundapp.extensions import db
from fundapp.pagination import paginate

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
    form = NewUserForm()
    if form.validate_on_submit():
        try:
            user = create_user(db.session, email=form.email.data, password=form.password.data,
                               roles=form.roles.data, name=form.name.data or "",
                               actor=g.user.email)
        except AppError as exc:
            db.session.rollback()
            form.email.errors = [str(exc.message)]
        else:
            db.session.commit()
            flash(_("User %(email)s created.", email=user.email), "success")
            return redirect(url_for("admin.users"))
    status = 422 if request.method == "POST" else 200
    return render_template("admin/new_user.html", form=form), status


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
def edit_user(user_id: int):
    user = get_user(db.session, user_id)
    form = EditUserForm()
    if request.method == "GET":
        form.roles.data = sorted(r.value for r in user.roles)
        form.is_active.data = user.is_active
    elif form.validate_on_submit():
        if user.id == g.user.id and not form.is_active.data:
            form.is_active.errors = [_("You cannot disable your own account.")]
        else:
            set_roles(db.session, user, form.roles.data, actor=g.user.email)
            set_active(db.session, user, bool(form.is_active.data), actor=g.user.email)
            db.session.commit()
            flash(_("Changes to %(email)s saved.", email=user.email), "success")
            return redirect(url_for("admin.users"))
    status = 422 if request.method == "POST" else 200
    return render_template("admin/edit_user.html", form=form, user=user,
                           role_labels=ROLE_LABELS), status
