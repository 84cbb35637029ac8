"""What the hostile-input tests share: how many examples to try on each database, and a
fingerprint of everything a refused request must leave as it was."""

from __future__ import annotations

from sqlalchemy import text

from web.extensions import db

# Rows a request could add or change: instances (and their row versions), the worklist,
# external tasks and their locks, messages, the audit trail, cases, photos, deployments.
_FINGERPRINT = (
    "SELECT id, row_version, status FROM process_instance",
    "SELECT id, assignee FROM user_task",
    "SELECT id, worker_id, lock_expires_at, retries, error_message FROM external_task",
    "SELECT task_id FROM message_subscription",
    "SELECT count(*) FROM audit_event",
    "SELECT instance_id FROM service_case",
    "SELECT id, stored_name FROM attachment",
    "SELECT id FROM deployment",
    "SELECT id FROM process_definition",
)


def fingerprint(app) -> tuple:
    with app.app_context():
        return tuple(sorted(map(tuple, db.session.execute(text(query)).all()), key=repr)
                     for query in _FINGERPRINT)


def examples(database_url: str, on_sqlite: int) -> int:
    """Fewer examples on PostgreSQL, where each request costs more; the same properties."""
    return on_sqlite if database_url.startswith("sqlite") else max(on_sqlite // 3, 10)
