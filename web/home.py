"""The front door: people go where their work is."""

from flask import Blueprint, redirect, url_for
from flask_login import current_user

from .models import Role

bp = Blueprint("home", __name__)


@bp.get("/")
def index():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    if current_user.is_staff and not current_user.has_role(Role.ADMIN):
        return redirect(url_for("worklist.index"))
    if current_user.has_role(Role.ADMIN):
        return redirect(url_for("admin.users"))
    return redirect(url_for("cases.index"))
