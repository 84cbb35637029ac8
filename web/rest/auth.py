"""Who is calling: HTTP Basic with the app's own accounts (what Camunda Modeler and
external-task workers send), or the signed-in browser session. Nothing else gets in.

Failed Basic attempts are rate-limited like the sign-in form (per address and username).
A browser session is accepted for reading; its POSTs must carry the page's CSRF token in
an ``X-CSRFToken`` header, since a cookie alone would let another site act for the user.
Verified credentials are remembered for a few minutes (keyed by an HMAC that includes
the stored password hash, so a password change forgets them at once): scrypt costs ~70 ms,
and workers poll.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import replace

from flask import current_app, g, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from werkzeug.security import check_password_hash

from engine import TaskFilter, TaskView
from engine.views import Visibility

from .. import authz, rate_limits
from ..extensions import csrf, db, limiter
from ..models import Role, User
from . import bp
from .errors import RestError, forbidden, unauthorized

_SAFE = ("GET", "HEAD", "OPTIONS")
_DEPLOYERS = (Role.PROCESS_OWNER, Role.ADMIN)
# A hash to check against when the username is unknown, so both cost the same.
_DUMMY_HASH = "scrypt:32768:8:1$dummydummydummy$" + "0" * 128


class _VerifiedCredentials:
    """A small, short-lived memory of credentials that checked out."""

    def __init__(self, size: int = 256, seconds: float = 300.0):
        self._size, self._seconds = size, seconds
        self._key = secrets.token_bytes(32)
        self._entries: OrderedDict[bytes, float] = OrderedDict()
        self._lock = threading.Lock()

    def _digest(self, user: User, password: str) -> bytes:
        message = f"{user.id}\0{user.password_hash}\0{password}".encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def check(self, user: User, password: str) -> bool:
        digest, now = self._digest(user, password), time.monotonic()
        with self._lock:
            expires = self._entries.get(digest)
            if expires is not None and expires > now:
                return True
        if not user.check_password(password):
            return False
        with self._lock:
            self._entries[digest] = now + self._seconds
            self._entries.move_to_end(digest)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return True


_verified = _VerifiedCredentials()


def _basic_key() -> str:
    auth = request.authorization
    username = auth.username if auth is not None and auth.type == "basic" else ""
    return rate_limits.sign_in_key(request.remote_addr, username)


# Only failed Basic attempts count; an address+username over the limit gets 429 (even with
# the right password, for now), as the sign-in form does.
limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], key_func=_basic_key,
              deduct_when=lambda response: bool(g.get("rest_login_failed")))(bp)


@bp.before_request
def authenticate() -> None:
    """Set ``g.rest_user`` or answer 401 (with ``WWW-Authenticate``)."""
    if request.headers.get("Authorization"):
        g.rest_user = _basic_user()
        return
    if current_user.is_authenticated:
        if request.method not in _SAFE:
            _check_csrf()
        g.rest_user = current_user._get_current_object()
        return
    raise unauthorized("Authentication required: HTTP Basic with a Propflow account")


def _basic_user() -> User:
    auth = request.authorization
    if auth is None or auth.type != "basic" or not auth.username:
        raise unauthorized("Only HTTP Basic authentication is supported")
    user = db.session.scalars(select(User).where(User.username == auth.username.strip()).options(
        joinedload(User.role_rows), joinedload(User.skill_rows))).unique().one_or_none()
    if user is None:
        check_password_hash(_DUMMY_HASH, auth.password or "")
    elif user.active and _verified.check(user, auth.password or ""):
        return user
    g.rest_login_failed = True
    raise unauthorized("Wrong username or password, or the account is deactivated")


def _check_csrf() -> None:
    try:
        csrf.protect()
    except CSRFError:
        raise RestError(403, "A signed-in browser must send the page's CSRF token in the X-CSRFToken "
                        "header; API clients use HTTP Basic", "AuthorizationException") from None


def rest_user() -> User:
    """The caller (after :func:`authenticate`)."""
    return g.rest_user


def require_staff(permission: str, resource: str, resource_id: str | None = None) -> User:
    """The caller, if staff: owners see their own cases and tasks only.

    :raise RestError: 403.
    """
    user = rest_user()
    if not user.is_staff:
        raise forbidden(user.username, permission, resource, resource_id)
    return user


def require_deployer() -> User:
    """Deploying needs a process owner or an administrator. :raise RestError: 403."""
    user = rest_user()
    if not user.has_role(*_DEPLOYERS):
        raise forbidden(user.username, "CREATE", "Deployment")
    return user


# --- what the caller may see and do: the web's rules (web/authz.py) as queries ----------------

def task_scope(user: User) -> tuple[TaskFilter, ...] | None:
    """The open tasks ``user`` may see, as filters any one of which must match; None for
    every task (supervisors, like the worklist's "all" scope). Staff see tasks assigned
    to them and unclaimed ones offered to their roles (and skills) or to them by name;
    owners only tasks assigned to them (every owner is in the acceptance tasks' group)."""
    if authz.may_reassign(user):
        return None
    mine = TaskFilter(assignee=user.username)
    if not user.is_staff:
        return (mine,)
    return mine, replace(authz.offered_filter(user), candidate_user=user.username)


def instance_scope(user: User) -> Visibility | None:
    """The instances ``user`` may see, as :func:`authz.may_see_case` decides for one case:
    the office every case; anyone the cases started for them (``owner_id``); staff the
    cases where they have work. None for every instance."""
    if user.has_role(*authz.READ_ALL_CASES):
        return None
    return Visibility(start_variable=("owner_id", user.username),
                      tasks=(task_scope(user) or ()) if user.is_staff else ())


def may_see_task(user: User, task: TaskView) -> bool:
    """As on the worklist: supervisors every task, others theirs and those offered to them;
    nobody a task of a personnel record they may not see (:func:`authz.may_see_task`)."""
    if not authz.may_see_task(user, task):
        return False
    if authz.may_reassign(user):
        return True
    return may_work_on_task(user, task)


def may_work_on_task(user: User, task: TaskView) -> bool:
    """Complete it: staff as on the worklist; owners only what is assigned to them."""
    if not user.is_staff:
        return task.assignee == user.username
    return authz.may_work_on(user, task)
