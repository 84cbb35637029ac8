"""Health and status: what is deployed, what is running, when the next timer is due."""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template
from sqlalchemy import func, select, text

from engine.models import InstanceStatus, ProcessInstance, UserTask

from . import workflow_engine
from .extensions import db

bp = Blueprint("status", __name__)


def _snapshot() -> dict:
    engine = workflow_engine()
    db.session.execute(text("SELECT 1"))
    counts = dict(db.session.execute(
        select(ProcessInstance.status, func.count()).group_by(ProcessInstance.status)).all())
    next_due = engine.next_timer_due()
    return {
        "status": "ok",
        "database": db.engine.dialect.name,
        "processes": [
            {"key": d.key, "name": d.name, "version": d.version, "id": d.id}
            for d in engine.definitions(latest_only=True)
        ],
        "instances": {s.value: counts.get(s, 0) for s in InstanceStatus},
        "open_user_tasks": db.session.scalar(select(func.count()).select_from(UserTask)),
        "next_timer_due": next_due.isoformat() if next_due else None,
    }


@bp.get("/health")
def health():
    """Machine-readable health: 200 with counts when the database answers."""
    return jsonify(_snapshot())


@bp.get("/status")
def index():
    """A status page for operators: what is deployed and running."""
    return render_template("status.html", snapshot=_snapshot())
