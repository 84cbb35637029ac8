"""Administration of people: accounts, roles, skills. Nobody is deleted: accounts are
deactivated, so every record keeps a responsible author (A-2)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import (
    BooleanField,
    PasswordField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import InputRequired, Length, Optional, Regexp

from . import workflow_engine
from .authz import roles_required
from .extensions import db
from .models import LOCALES, Role, User
from .service_requests import SERVICE_TYPES

bp = Blueprint("admin", __name__, url_prefix="/admin")

ROLE_LABELS = {
    Role.OWNER: _l("Owner"), Role.CUSTOMER_SERVICE: _l("Customer service"),
    Role.SERVICE_SUPERVISOR: _l("Service supervisor"), Role.TECHNICIAN: _l("Technician"),
    Role.QUALITY_REVIEWER: _l("Quality reviewer"), Role.PROCESS_OWNER: _l("Process owner"),
    Role.MANAGER: _l("Manager"), Role.ADMIN: _l("Administrator"),
    Role.INTEGRATION: _l("Integration (external worker)"),
}


class UserForm(FlaskForm):
    username = StringField(_l("Username"), validators=[
        InputRequired(), Length(max=64), Regexp(r"^[A-Za-z0-9_.-]+$", message=_l(
            "Letters, digits, dot, dash and underscore only."))])
    display_name = StringField(_l("Name"), validators=[InputRequired(), Length(max=100)])
    password = PasswordField(_l("New password"), validators=[Optional(), Length(min=8, max=200)])
    roles = SelectMultipleField(_l("Roles"), choices=[
        SelectChoice(r.value, label) for r, label in ROLE_LABELS.items()])
    skills = SelectMultipleField(_l("Skills"), choices=[
        SelectChoice(key, label) for key, label in SERVICE_TYPES.items()])
    locale = SelectField(_l("Language"), choices=[SelectChoice("zh_CN", "简体中文"),
                                                  SelectChoice("en", "English")])
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=20)])
    building = StringField(_l("Building"), validators=[Optional(), Length(max=20)])
    unit = StringField(_l("Unit"), validators=[Optional(), Length(max=20)])
    active = BooleanField(_l("Active"), default=True)


@bp.get("/users")
@roles_required(Role.ADMIN)
def users():
    people = db.session.scalars(select(User).order_by(User.username)).all()
    return render_template("admin/users.html", users=people, role_labels=ROLE_LABELS,
                           skill_labels=SERVICE_TYPES)


@bp.route("/users/new", methods=["GET", "POST"])
@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def edit_user(user_id: int | None = None):
    """Create or change an account; 422 with field errors when invalid."""
    user = db.session.get(User, user_id) if user_id is not None else None
    if user_id is not None and user is None:
        abort(404)
    form = UserForm(obj=user) if request.method == "GET" and user else UserForm()
    if request.method == "GET" and user:
        form.roles.data = sorted(r.value for r in user.roles)
        form.skills.data = list(user.skills)
    if request.method == "GET":
        return render_template("admin/user_form.html", form=form, user=user)
    if form.validate_on_submit() and _extra_checks(form, user):
        if user is None:
            user = User(created_at=workflow_engine().clock.now())
            db.session.add(user)
        user.username = form.username.data.strip()
        user.display_name = form.display_name.data.strip()
        user.locale = form.locale.data if form.locale.data in LOCALES else "zh_CN"
        user.phone, user.building, user.unit = form.phone.data, form.building.data, form.unit.data
        user.active = form.active.data
        if form.password.data:
            user.set_password(form.password.data)
        user.set_roles(form.roles.data)
        user.set_skills(form.skills.data)
        db.session.commit()
        flash(_("Saved %(user)s.", user=user.username), "success")
        return redirect(url_for("admin.users")), 303
    return render_template("admin/user_form.html", form=form, user=user), 422


def _extra_checks(form: UserForm, user: User | None) -> bool:
    taken = db.session.scalar(select(User).where(User.username == form.username.data.strip()))
    ok = True
    if taken is not None and taken is not user:
        form.username.errors.append(_("This username is taken."))
        ok = False
    if user is None and not form.password.data:
        form.password.errors.append(_("A new account needs a password."))
        ok = False
    if not form.roles.data:
        form.roles.errors.append(_("Choose at least one role."))
        ok = False
    return ok
