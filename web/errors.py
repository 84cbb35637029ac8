"""One place that turns errors into answers: JSON for API clients, HTML for people."""

from __future__ import annotations

from flask import Flask, current_app, jsonify, render_template, request
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from engine import Conflict, EngineError, InvalidDiagram, InvalidTaskData, NotFound

from . import i18n
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


def database_unavailable(error: Exception) -> bool:
    """The database could not be reached or stayed locked (a lost connection, a refused
    one, SQLite's busy timeout, an exhausted pool): worth retrying, not a fault of ours."""
    return (isinstance(error, OperationalError | PoolTimeout)
            or (isinstance(error, DBAPIError) and error.connection_invalidated))


def release_session() -> None:
    """End the request's transaction even when the database is gone (rolling back over a
    dead connection may fail too: the pool then discards the connection)."""
    try:
        db.session.rollback()
    except SQLAlchemyError:
        db.session.close()


def _offline_locale() -> str:
    """The page's language, falling back to what needs no database (it may be what failed)."""
    try:
        return str(get_locale())
    except SQLAlchemyError:
        return i18n.browser_locale()


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

    @app.errorhandler(DBAPIError)
    @app.errorhandler(PoolTimeout)
    def database_error(error: SQLAlchemyError):
        """503 with a page that needs no database; the transaction was rolled back whole."""
        if not database_unavailable(error):
            return unexpected(error)
        release_session()
        current_app.logger.warning("database unavailable: %s", error)
        with force_locale(_offline_locale()):
            message = _("The database cannot be reached at the moment. Please try again in a minute.")
            if _wants_json():
                return jsonify({"type": "ServiceUnavailable", "message": message}), 503, {"Retry-After": "30"}
            # Not render_template: its context processors ask the database who is signed in.
            page = current_app.jinja_env.get_template("unavailable.html").render(
                message=message, request=request)
        return page, 503, {"Retry-After": "30"}

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        release_session()
        app.logger.exception("unhandled error")
        return _answer(500, "InternalServerError", "Something went wrong on our side; it has been logged.")
