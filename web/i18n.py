"""Language per user: the account's choice, else the one picked on the login page, else
the browser's preference, else Chinese. And the company's time zone, which every page and
service step shows and counts days in."""

from __future__ import annotations

import os
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context, request, session
from flask_login import current_user

from .models import LOCALES


def select_locale() -> str:
    if current_user.is_authenticated and current_user.locale in LOCALES:
        return current_user.locale
    return browser_locale()


def browser_locale() -> str:
    """The language picked on the login page, else the browser's preference, else Chinese."""
    if session.get("locale") in LOCALES:
        return session["locale"]
    best = request.accept_languages.best_match(["zh-CN", "zh", "en"])
    return "en" if best == "en" else "zh_CN"


def company_zone() -> ZoneInfo:
    """The company's time zone: the app's setting, or (outside an app, in engine-only tests)
    the same environment variable the setting defaults to."""
    if has_app_context():
        return ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    return ZoneInfo(os.environ.get("PROPFLOW_TIMEZONE", "Asia/Shanghai"))
