"""What every template may use: formatting of times and SLA clocks, labels, and the
security headers every response carries."""

from __future__ import annotations

from datetime import datetime

from flask import Flask, Response, request
from flask_babel import format_datetime, get_locale
from flask_babel import gettext as _

from . import feedback, owner_tasks, service_requests
from .admin import ROLE_LABELS


def duration(seconds: float | None) -> str:
    """"3 h 20 min left" / "overdue by 1 h 5 min", in the user's language."""
    if seconds is None:
        return ""
    minutes = int(abs(seconds) // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = ([_("%(n)d d", n=days)] if days else []) + ([_("%(n)d h", n=hours)] if hours else [])
    if not days:
        parts.append(_("%(n)d min", n=mins))
    text = " ".join(parts)
    return _("%(t)s left", t=text) if seconds >= 0 else _("overdue by %(t)s", t=text)


def when(value: datetime | str | None) -> str:
    """Recorded instants in the company's time zone; times people typed (no zone) as typed."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if value.tzinfo is None:
        return value.strftime("%Y-%m-%d %H:%M")
    return format_datetime(value, "yyyy-MM-dd HH:mm")


def current_locale() -> str:
    """Our name for the page's language: Babel calls Simplified Chinese ``zh_Hans_CN``."""
    locale = get_locale()
    return "zh_CN" if locale is not None and locale.language == "zh" else "en"


def register(app: Flask) -> None:
    app.jinja_env.filters["duration"] = duration
    app.jinja_env.filters["when"] = when
    app.jinja_env.globals.update(
        service_types=service_requests.SERVICE_TYPES, channels=service_requests.CHANNELS,
        priorities=service_requests.TASK_PRIORITIES, role_labels=ROLE_LABELS,
        current_locale=current_locale, feedback_categories=feedback.CATEGORIES,
        feedback_channels=feedback.FEEDBACK_CHANNELS, owner_pages=owner_tasks.PAGES,
        owner_kinds=owner_tasks.KINDS)

    @app.after_request
    def security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
        if app.config["SESSION_COOKIE_SECURE"]:  # served over HTTPS: browsers must stay on it
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if request.endpoint != "static":  # pages and API answers carry people's data
            headers.setdefault("Cache-Control", "no-store")
        return response
