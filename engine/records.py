"""Small helpers every command uses: an audit row, and the check that variables given
without a form are plain JSON with usable names."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from .catalogue import ElementInfo
from .errors import InvalidTaskData
from .forms import text_problem
from .models import AuditEvent


def audit(at, action, actor, instance_id=None, task_id=None, element: ElementInfo | None = None,
          data: dict[str, Any] | None = None) -> AuditEvent:
    return AuditEvent(at=at, action=action, actor=actor, instance_id=instance_id, task_id=task_id,
                      element_id=element.id if element else None,
                      element_name=element.name if element else None,
                      data=json.loads(json.dumps(data or {}, default=str)))


# Deeper values cannot be copied, stored and reloaded safely (the library deep-copies task
# data recursively); no process needs more than a few levels.
MAX_DEPTH = 32


def check_plain(variables: Mapping[str, Any]) -> None:
    """Variables without a form must at least be plain JSON with usable names."""
    errors: dict[str, list[str]] = {}
    for name, value in variables.items():
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
            errors.setdefault(str(name), []).append("is not a valid variable name")
            continue
        problem = plain_problem(value)
        if problem:
            errors.setdefault(name, []).append(problem)
    if errors:
        raise InvalidTaskData(errors)


def plain_problem(value: Any, depth: int = 0) -> str | None:
    """Why ``value`` cannot be kept as a variable, or None: only JSON values (finite numbers,
    64-bit whole numbers, text without NUL characters or lone surrogates), nested at most
    :data:`MAX_DEPTH` deep."""
    if isinstance(value, (list, dict)) and depth >= MAX_DEPTH:
        return f"is nested deeper than {MAX_DEPTH} levels"
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):  # Camunda's Long: what every client can read back
        return None if -2**63 <= value < 2**63 else "is a whole number outside the 64-bit range"
    if isinstance(value, float):
        return None if math.isfinite(value) else "is not a finite number"
    if isinstance(value, str):
        return text_problem(value)
    if isinstance(value, list):
        return next(filter(None, (plain_problem(v, depth + 1) for v in value)), None)
    if isinstance(value, dict):
        for key, item in value.items():
            problem = (text_problem(key) if isinstance(key, str) else "is not a plain JSON value") \
                or plain_problem(item, depth + 1)
            if problem:
                return problem
        return None
    return "is not a plain JSON value"


def check_column_text(name: str, value: str | None, column) -> None:
    """Text a caller gives for a column of its own (a business key, a worker id): it must
    fit the column (PostgreSQL refuses longer text where SQLite would keep it) and hold no
    NUL character. :raise InvalidTaskData: naming ``name``."""
    if value is None:
        return
    problem = text_problem(value)
    if problem is None and len(value) > column.type.length:
        problem = f"is longer than {column.type.length} characters"
    if problem:
        raise InvalidTaskData({name: [problem]})
