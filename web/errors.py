"""One place that turns errors into answers: JSON for API clients, HTML for people."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from engine import Conflict, EngineError, InvalidDiagram, InvalidTaskData, NotFound

from .extensions import db

_STATUS = ((InvalidTaskData, 422), (InvalidDiagram, 400), (NotFound, 404), (Conflict, 409))


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return request.is_json or best == "application/json" or request.path.startswith("/api/")


def _answer(status: int, title: str, message: str, details: dict | None = None):
    if _wants_json():
        body = {"type": title, "message": message}
        if details:
            body.update(details)
        return jsonify(body), status
    return render_template("error.html", status=status, title=title, message=message), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(EngineError)
    def engine_error(error: EngineError):
        status = next((code for kind, code in _STATUS if isinstance(error, kind)), 400)
        details = {"errors": error.errors} if isinstance(error, InvalidTaskData) else None
        if isinstance(error, InvalidDiagram):
            details = {"problems": [str(p) for p in error.problems]}
        return _answer(status, type(error).__name__, str(error), details)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        return _answer(error.code or 500, error.name, error.description or error.name)

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        db.session.rollback()
        app.logger.exception("unhandled error")
        return _answer(500, "InternalServerError", "Something went wrong on our side; it has been logged.")
