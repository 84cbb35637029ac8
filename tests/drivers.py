"""Driving one case through the engine in tests, the same way for every process: straight
through (the engine keeps the workflow in memory) or reloaded before every step."""

from __future__ import annotations

from engine import WorkflowEngine


class CaseDriver:
    """Subclasses set ``id`` and provide ``engine`` (a fresh, cache-less one in reload mode)."""

    id: str | None = None

    @property
    def engine(self) -> WorkflowEngine:
        raise NotImplementedError

    @property
    def instance(self):
        return self.engine.instance(self.id)

    def open(self) -> list[str]:
        return sorted(t.element_id for t in self.instance.open_tasks)

    def task(self, element_id: str):
        matches = [t for t in self.instance.open_tasks if t.element_id == element_id]
        assert matches, f"{element_id} is not open; open: {self.open()}"
        return matches[0]

    def do(self, element_id: str, data: dict | None = None, user: str = "someone"):
        return self.engine.complete_user_task(self.task(element_id).id, data or {}, user=user)

    def fire(self) -> int:
        return self.engine.fire_due_timers()
