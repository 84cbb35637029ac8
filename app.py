"""Application factory: configuration and wiring only; no background work starts here."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask

import web

_DEV_SECRET = "dev-only-change-me"


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_path=str(Path(__file__).resolve().parent / "var"),
                template_folder="web/templates", static_folder="web/static")
    app.config.from_mapping(
        SECRET_KEY=os.environ.get("PROPFLOW_SECRET_KEY", _DEV_SECRET),
        DATABASE_URL=os.environ.get("DATABASE_URL", f"sqlite:///{app.instance_path}/propflow.db"),
        SQLALCHEMY_ENGINE_OPTIONS={},
        SESSION_COOKIE_SECURE=os.environ.get("PROPFLOW_SECURE_COOKIES", "0") == "1",
    )
    app.config.from_mapping(web.default_config(app.instance_path))
    if os.environ.get("PROPFLOW_UPLOAD_FOLDER"):
        app.config["UPLOAD_FOLDER"] = os.environ["PROPFLOW_UPLOAD_FOLDER"]
    if config:
        app.config.update(config)
    if app.config["SECRET_KEY"] == _DEV_SECRET and not app.config.get("TESTING"):
        app.logger.warning("PROPFLOW_SECRET_KEY is not set: sessions use a development key")
    web.init_app(app)
    return app
