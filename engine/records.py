"""Small helpers every command uses: an audit row, and the check that variables given
without a form are plain JSON with usable names."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .catalogue import ElementInfo
from .errors import InvalidTaskData
from .models import AuditEvent


def audit(at, action, actor, instance_id=None, task_id=None, element: ElementInfo | None = None,
          data: dict[str, Any] | None = None) -> AuditEvent:
    return AuditEvent(at=at, action=action, actor=actor, instance_id=instance_id, task_id=task_id,
                      element_id=element.id if element else None,
                      element_name=element.name if element else None,
                      data=json.loads(json.dumps(data or {}, default=str)))


def check_plain(variables: Mapping[str, Any]) -> None:
    """Variables without a form must at least be plain JSON with usable names."""
    errors: dict[str, list[str]] = {}
    for name, value in variables.items():
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
            errors.setdefault(str(name), []).append("is not a valid variable name")
            continue
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            errors.setdefault(name, []).append("is not a plain JSON value")
    if errors:
        raise InvalidTaskData(errors)
