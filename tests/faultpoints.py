"""The real app with one fault point, for killing a web worker in the middle of a command
(tests/integration/test_faults.py): ``gunicorn 'tests.faultpoints:create_app()'``.

With ``PROPFLOW_FAULT_DIR`` set, a test arms the point by creating the file ``armed`` in
that folder. The next transaction about to commit an audit entry of the action
``PROPFLOW_FAULT_ACTION`` (default ``task_completed``; ``deadline_breached`` for the timer
worker, ``flask --app 'tests.faultpoints:create_app()' timers fire-due``) takes it
(renamed to ``paused-<pid>``, holding the completed task's id, or else the instance's), and its process
stops right there — its instance state, worklist rows and audit entries written but not
committed — until the test kills it with SIGKILL.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.orm import Session

from app import create_app as create_real_app
from engine.models import AuditAction, AuditEvent

NOTED = "faultpoints.noted"  # session.info: watched audit entries of this transaction
_WATCHED = [AuditAction.TASK_COMPLETED]


def create_app():
    app = create_real_app()
    folder = os.environ.get("PROPFLOW_FAULT_DIR")
    if folder:
        _WATCHED[0] = AuditAction(os.environ.get("PROPFLOW_FAULT_ACTION", "task_completed"))
        event.listen(Session, "after_flush", note_watched)
        event.listen(Session, "before_commit", _pause_when_armed(Path(folder)))
    return app


def note_watched(session: Session, _context) -> None:
    session.info.setdefault(NOTED, []).extend(
        obj.task_id if obj.action == AuditAction.TASK_COMPLETED else obj.instance_id for obj in session.new
        if isinstance(obj, AuditEvent) and obj.action == _WATCHED[0])


def _pause_when_armed(folder: Path):
    def before_commit(session: Session) -> None:
        session.flush()
        noted = session.info.pop(NOTED, None)
        if not noted:
            return
        paused = folder / f"paused-{os.getpid()}"
        try:
            (folder / "armed").rename(paused)  # atomic: one worker takes it
        except FileNotFoundError:
            return
        paused.write_text(noted[0])
        while True:
            signal.pause()  # until SIGKILL

    return before_commit
