"""Language per user: the account's choice, else the one picked on the login page, else
the browser's preference, else Chinese."""

from __future__ import annotations

from flask import request, session
from flask_login import current_user

from .models import LOCALES


def select_locale() -> str:
    if current_user.is_authenticated and current_user.locale in LOCALES:
        return current_user.locale
    if session.get("locale") in LOCALES:
        return session["locale"]
    best = request.accept_languages.best_match(["zh-CN", "zh", "en"])
    return "en" if best == "en" else "zh_CN"
