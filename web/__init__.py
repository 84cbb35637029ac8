"""The Flask layer: thin views over the engine facade."""

from __future__ import annotations

from flask import Flask, current_app

from engine import WorkflowEngine
from engine.db import prepare_engine

from .extensions import db

ENGINE_KEY = "propflow.engine"


def init_app(app: Flask) -> None:
    app.config.setdefault("SQLALCHEMY_DATABASE_URI", app.config["DATABASE_URL"])
    db.init_app(app)
    with app.app_context():
        sa_engine = prepare_engine(db.engine)
    app.extensions[ENGINE_KEY] = WorkflowEngine(sa_engine, app.config.get("CLOCK"))

    from . import cli, errors, status

    app.register_blueprint(status.bp)
    errors.register_error_handlers(app)
    cli.register(app)


def workflow_engine() -> WorkflowEngine:
    """The app's engine facade."""
    return current_app.extensions[ENGINE_KEY]
