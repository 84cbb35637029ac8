"""Logging in and out, and choosing the language."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import bindparam, select
from sqlalchemy.orm import joinedload
from wtforms import PasswordField, StringField
from wtforms.validators import InputRequired, Length

from . import rate_limits
from .extensions import db, limiter, login_manager
from .models import LOCALES, User

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[InputRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[InputRequired(), Length(max=200)])


# Every request asks: one query, built once.
_SIGNED_IN = select(User).where(User.id == bindparam("user_id")).options(
    joinedload(User.role_rows), joinedload(User.skill_rows))


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """The signed-in user with roles and skills."""
    if not user_id.isdigit():
        return None
    return db.session.scalars(_SIGNED_IN, {"user_id": int(user_id)}).unique().one_or_none()


def _login_key() -> str:
    return rate_limits.sign_in_key(request.remote_addr, request.form.get("username"))


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"], key_func=_login_key)
def login():
    """Sign in; 401 with the form on wrong credentials (after a fixed-cost check)."""
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = db.session.scalar(select(User).where(User.username == form.username.data.strip()))
        if user is not None and user.active and user.check_password(form.password.data):
            session.clear()  # a fresh session: no fixation
            session.permanent = True
            login_user(user)
            return redirect(_safe_next(request.args.get("next")) or url_for("home.index"))
        flash(_("Wrong username or password."), "error")
        return render_template("auth/login.html", form=form), 401
    status = 422 if request.method == "POST" else 200
    return render_template("auth/login.html", form=form), status


def _safe_next(target: str | None) -> str | None:
    """Only same-site paths: never redirect a signed-in user off to another host."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))


@bp.post("/language/<locale>")
def language(locale: str):
    """Switch the language; stored on the account when signed in."""
    if locale not in LOCALES:
        abort(404)
    if current_user.is_authenticated:
        current_user.locale = locale
        db.session.commit()
    session["locale"] = locale
    return redirect(_safe_next(request.form.get("next")) or url_for("home.index"))
