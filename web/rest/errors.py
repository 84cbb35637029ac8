"""Errors in Camunda's shape: ``{"type": …, "message": …, "code": …}`` with Camunda's
statuses — 400 ``InvalidRequestException`` for bad values, 404 for unknown ids, 403
``AuthorizationException``, 409 for lost races, 500 only for real faults.

Views raise :class:`RestError` (through the helpers below) or let an engine error escape
inside :func:`translated`, which words it the way Camunda would.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Blueprint, current_app, jsonify
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from engine import (
    ConcurrentUpdate,
    Conflict,
    EngineError,
    InvalidDiagram,
    InvalidTaskData,
    NotFound,
    ScriptError,
    TaskAlreadyClaimed,
)
from engine.errors import NotAllowed

from ..errors import database_unavailable, release_session

REALM = 'Basic realm="Propflow"'
# Camunda's exception codes: 0 is any engine error without a code of its own, 1 a lost
# optimistic lock. REST-layer errors (InvalidRequestException, RestException) carry none.
_ENGINE_CODE = 0
_OPTIMISTIC_LOCKING_CODE = 1


class RestError(Exception):
    """An answer other than success, already in Camunda's words."""

    def __init__(self, status: int, message: str, kind: str = "InvalidRequestException", *,
                 code: int | None = None, headers: dict[str, str] | None = None, **extra):
        super().__init__(message)
        self.status, self.kind, self.code = status, kind, code
        self.headers, self.extra = headers or {}, extra

    def response(self):
        body = {"type": self.kind, "message": str(self), "code": self.code, **self.extra}
        return jsonify(body), self.status, self.headers


def invalid(message: str) -> RestError:
    return RestError(400, message)


def not_found(message: str, kind: str = "InvalidRequestException") -> RestError:
    return RestError(404, message, kind)


def unauthorized(message: str) -> RestError:
    return RestError(401, message, "AuthenticationException", headers={"WWW-Authenticate": REALM})


def forbidden(user_id: str, permission: str, resource: str, resource_id: str | None = None) -> RestError:
    """Camunda's AuthorizationException: who lacks which permission on what."""
    target = f"'{resource_id}' of type '{resource}'" if resource_id else f"'{resource}'"
    return RestError(
        403, f"The user with id '{user_id}' does not have '{permission}' permission on resource {target}.",
        "AuthorizationException", code=_ENGINE_CODE, userId=user_id,
        missingAuthorizations=[{"permissionName": permission, "resourceName": resource,
                                "resourceId": resource_id}])


def field_errors(error: InvalidTaskData) -> str:
    """``name: problem, problem; other: problem`` — each variable named."""
    return "; ".join(f"{name or 'form'}: {', '.join(problems)}" for name, problems in error.errors.items())


def from_engine(error: EngineError, context: str) -> RestError:
    """The engine's error as Camunda would answer it, prefixed with what was attempted."""
    message = f"{context}: {error}" if context else str(error)
    if isinstance(error, InvalidTaskData):
        return invalid(f"{context}: {field_errors(error)}" if context else field_errors(error))
    if isinstance(error, InvalidDiagram):
        return parse_error(error)
    if isinstance(error, NotFound):
        return not_found(message)
    if isinstance(error, TaskAlreadyClaimed):
        return RestError(409, message, "TaskAlreadyClaimedException", code=_ENGINE_CODE)
    if isinstance(error, ConcurrentUpdate):
        return RestError(409, message, "OptimisticLockingException", code=_OPTIMISTIC_LOCKING_CODE)
    if isinstance(error, Conflict):
        return RestError(409, message)
    if isinstance(error, NotAllowed):
        return RestError(403, message, "AuthorizationException", code=_ENGINE_CODE)
    if isinstance(error, ScriptError):
        return RestError(500, message, "ProcessEngineException", code=_ENGINE_CODE)
    return RestError(400, message, "ProcessEngineException", code=_ENGINE_CODE)


@contextmanager
def translated(context: str) -> Iterator[None]:
    """Run engine calls; their errors leave as :class:`RestError` saying ``context``."""
    try:
        yield
    except EngineError as error:
        raise from_engine(error, context) from error


def parse_error(error: InvalidDiagram) -> RestError:
    """Camunda's ParseException: the message the Modeler recognises (ENGINE-09005), one
    line per problem naming its element, and ``details`` per resource as Camunda 7.20
    reports them."""
    lines, details = [], {}
    for problem in error.problems:
        where = " | ".join(part for part in (
            f"resource {problem.file}" if problem.file else None,
            f"element '{problem.element_id}'" if problem.element_id else None,
            f"line {problem.line}" if problem.line else None) if part)
        lines.append(f"* {problem.message}" + (f" | {where}" if where else ""))
        report = details.setdefault(problem.file or "deployment", {"errors": [], "warnings": []})
        report["errors"].append({
            "message": problem.message, "line": problem.line or 0, "column": 0,
            "mainElementId": problem.element_id,
            "elementIds": [problem.element_id] if problem.element_id else []})
    message = "ENGINE-09005 Could not parse BPMN process. Errors: \n" + "\n".join(lines)
    return RestError(400, message, "ParseException", code=_ENGINE_CODE, details=details)


def register(bp: Blueprint) -> None:
    """Every error of a request to the blueprint answers in Camunda's shape."""

    @bp.errorhandler(RestError)
    def rest_error(error: RestError):
        return error.response()

    @bp.errorhandler(EngineError)
    def engine_error(error: EngineError):
        return from_engine(error, "").response()

    @bp.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        kind = "InvalidRequestException" if error.code == 400 else "RestException"
        response = RestError(error.code or 500, error.description or error.name, kind).response()
        if error.code == 429:
            return (*response[:2], {"Retry-After": "60"})
        return response

    @bp.errorhandler(DBAPIError)
    @bp.errorhandler(PoolTimeout)
    def database_error(error: Exception):
        """503, worth retrying: the database could not be reached (Camunda would answer 500)."""
        if not database_unavailable(error):
            return unexpected(error)
        release_session()
        current_app.logger.warning("database unavailable: %s", error)
        body, status, _ = RestError(503, "The database cannot be reached at the moment; retry later.",
                                    "ProcessEngineException", code=_ENGINE_CODE).response()
        return body, status, {"Retry-After": "30"}

    @bp.errorhandler(Exception)
    def unexpected(error: Exception):
        release_session()
        current_app.logger.exception("unhandled error in the REST API")
        return RestError(500, "Something went wrong on our side; it has been logged.",
                         "ProcessEngineException", code=_ENGINE_CODE).response()
