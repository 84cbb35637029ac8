"""The Flask layer: thin views over the engine facade."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from flask import Flask, Response, current_app
from sqlalchemy.engine import make_url

from engine import WorkflowEngine
from engine.db import checkpoint_due, checkpoint_wal, prepare_engine

from . import rate_limits
from .extensions import babel, csrf, db, limiter, login_manager

ENGINE_KEY = "propflow.engine"
TRANSLATIONS = Path(__file__).resolve().parent / "translations"


def default_config(instance_path: str) -> dict:
    """Settings the web layer needs; create_app applies them before any overrides."""
    return {
        "UPLOAD_FOLDER": str(Path(instance_path) / "uploads"),
        "MAX_PHOTOS": 4,
        "MAX_PHOTO_BYTES": 5 * 1024 * 1024,
        # Whole request bodies: the photos plus the form around them.
        "MAX_CONTENT_LENGTH": 4 * 5 * 1024 * 1024 + 1024 * 1024,
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=8),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "LOGIN_RATE_LIMIT": "10 per minute",
        # Counted in the database, shared by every web process (web/rate_limits.py).
        "RATELIMIT_STORAGE_URI": rate_limits.SCHEME + "://",
        "BABEL_DEFAULT_LOCALE": "zh_CN",
        # Times are stored in UTC and shown in the company's zone.
        "BABEL_DEFAULT_TIMEZONE": os.environ.get("PROPFLOW_TIMEZONE", "Asia/Shanghai"),
        "BABEL_TRANSLATION_DIRECTORIES": str(TRANSLATIONS),
        # A request waits this long for SQLite's write lock, then answers 503: well inside
        # gunicorn's 30 s worker timeout, which would kill the worker instead.
        "SQLITE_BUSY_TIMEOUT": 10.0,
        # PostgreSQL: seconds to wait for a connection to the server before answering 503.
        "DATABASE_CONNECT_TIMEOUT": 5,
        # PostgreSQL: a pooled connection idle this many seconds is tested before use.
        "DATABASE_PING_AFTER_IDLE": 0.5,
    }


def _engine_options(config) -> dict:
    """PostgreSQL: a connection attempt gives up after DATABASE_CONNECT_TIMEOUT (pooled
    connections idle for a while are tested before use: engine.db.ping_idle_connections)."""
    options = dict(config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    if make_url(config["SQLALCHEMY_DATABASE_URI"]).get_backend_name() != "sqlite":
        options.setdefault("connect_args", {"connect_timeout": config["DATABASE_CONNECT_TIMEOUT"]})
    return options


def init_app(app: Flask) -> None:
    app.config.setdefault("SQLALCHEMY_DATABASE_URI", app.config["DATABASE_URL"])
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = _engine_options(app.config)
    db.init_app(app)
    from . import appraisal, quality, training

    with app.app_context():
        sa_engine = prepare_engine(db.engine, busy_timeout=app.config["SQLITE_BUSY_TIMEOUT"],
                                   ping_after_idle=app.config["DATABASE_PING_AFTER_IDLE"])
    app.extensions[ENGINE_KEY] = WorkflowEngine(sa_engine, app.config.get("CLOCK"),
                                                services={**quality.SERVICES, **training.SERVICES,
                                                          **appraisal.SERVICES})

    @app.after_request
    def checkpoint_after_response(response: Response) -> Response:
        # SQLite's log is copied back once this answer has gone out (engine.db.checkpoint_wal).
        if checkpoint_due(sa_engine):
            response.call_on_close(lambda: checkpoint_wal(sa_engine))
        return response

    from . import (
        admin,
        archive,
        audit,
        auth,
        cases,
        cli,
        dashboard,
        deploy,
        errors,
        feedback,
        home,
        i18n,
        processes,
        request_checks,
        rest,
        reviews,
        staff,
        status,
        templating,
        worklist,
    )

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "strong"
    csrf.init_app(app)
    if app.config["RATELIMIT_STORAGE_URI"].startswith(rate_limits.SCHEME + ":"):
        app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", {})["engine"] = sa_engine
    limiter.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale)
    for blueprint in (home.bp, auth.bp, worklist.bp, cases.bp, processes.bp, admin.bp, status.bp,
                      dashboard.bp, feedback.bp, reviews.bp, audit.bp, deploy.bp, archive.bp,
                      training.bp):
        app.register_blueprint(blueprint)
    app.register_blueprint(staff.bp)  # staff profiles, appraisals, rewards and penalties
    app.register_blueprint(rest.bp)  # the Camunda 7 REST API under /engine-rest
    templating.register(app)
    errors.register_error_handlers(app)
    request_checks.register(app)
    cli.register(app)


def workflow_engine() -> WorkflowEngine:
    """The app's engine facade."""
    return current_app.extensions[ENGINE_KEY]
