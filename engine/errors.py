"""Errors the engine raises. Callers map them to user-facing answers (HTTP status, CLI exit).

The library's own exceptions never leave ``engine/``: every public verb translates them
into one of these.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class EngineError(Exception):
    """Base class of every error the engine raises on purpose."""


class NotFound(EngineError):
    """Something looked up by id or key does not exist."""


class InstanceNotFound(NotFound):
    pass


class TaskNotFound(NotFound):
    pass


class ProcessNotFound(NotFound):
    pass


class Conflict(EngineError):
    """The request was valid but lost a race or the state moved on (HTTP 409)."""


class ConcurrentUpdate(Conflict):
    """Someone else changed the instance between our read and our write."""


class TaskNotReady(Conflict):
    """The task was completed, cancelled or otherwise left the READY state."""


class TaskAlreadyClaimed(TaskNotReady):
    """Someone else holds the task: claiming it needs a supervisor's reassignment."""


class InstanceNotRunning(Conflict):
    pass


class NotAllowed(EngineError):
    """The user may not act on this task (HTTP 403)."""


@dataclass
class InvalidTaskData(EngineError):
    """Submitted form data failed validation; nothing was saved.

    ``errors`` maps a field id to its messages; ``""`` holds errors not tied to one field.
    """

    errors: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.summary())

    def summary(self) -> str:
        return "; ".join(f"{k or 'form'}: {', '.join(v)}" for k, v in self.errors.items())


@dataclass(frozen=True)
class DiagramProblem:
    """One reason a deployment was refused, located as precisely as we can."""

    message: str
    file: str | None = None
    element_id: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = ", ".join(
            part
            for part in (
                self.file,
                f"element '{self.element_id}'" if self.element_id else None,
                f"line {self.line}" if self.line else None,
            )
            if part
        )
        return f"{where}: {self.message}" if where else self.message


class InvalidDiagram(EngineError):
    """A deployment was refused; the previous version stays live."""

    def __init__(self, problems: list[DiagramProblem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class ScriptError(EngineError):
    """A script or expression in a diagram failed while running."""

    def __init__(self, message: str, element_id: str | None = None):
        self.element_id = element_id
        super().__init__(f"{element_id}: {message}" if element_id else message)
