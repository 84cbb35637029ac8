"""SQLite's write-ahead log is checkpointed between units of work, not inside commits.

Left to SQLite, the commit that crosses 1,000 pages copies the log back and syncs the file,
and under load nearly every commit does (engine.db.checkpoint_wal explains why). These
tests read the log's state from its index file, as SQLite documents it
(https://sqlite.org/walformat.html: the header's mxFrame at byte 16, nBackfill at byte 96).
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from engine import WorkflowEngine, make_engine, worker
from engine import db as engine_db


@pytest.fixture
def database_url(sqlite_url):
    """SQLite only: PostgreSQL has no write-ahead log of ours to checkpoint."""
    return sqlite_url


def wal_frames(url: str) -> tuple[int, int]:
    """(frames in the log, frames copied back into the database file)."""
    index = Path(make_url(url).database + "-shm").read_bytes()
    return struct.unpack_from("=I", index, 16)[0], struct.unpack_from("=I", index, 96)[0]


def commit_rows(sa_engine, count: int, size: int = 4096) -> None:
    """``count`` transactions, each writing a page-sized row."""
    for number in range(count):
        with sa_engine.begin() as connection:
            connection.execute(text("CREATE TABLE IF NOT EXISTS filler (n INTEGER, body TEXT)"))
            connection.execute(text("INSERT INTO filler VALUES (:n, :body)"),
                               {"n": number, "body": "x" * size})


def test_commits_leave_the_log_to_the_checkpoint(sqlite_url):
    sa_engine = make_engine(sqlite_url)
    try:
        commit_rows(sa_engine, 1)
        engine_db.checkpoint_wal(sa_engine, force=True)  # the schema's own writes, out of the way
        # Well past SQLite's own threshold of 1,000 pages: no commit copied anything back.
        commit_rows(sa_engine, engine_db.CHECKPOINT_EVERY - 1, size=200_000)
        frames, copied = wal_frames(sqlite_url)
        assert frames > 1_000 and copied < frames
        assert not engine_db.checkpoint_due(sa_engine)
        assert engine_db.checkpoint_wal(sa_engine) is False

        commit_rows(sa_engine, 1)
        assert engine_db.checkpoint_due(sa_engine)
        assert engine_db.checkpoint_wal(sa_engine) is True
        frames, copied = wal_frames(sqlite_url)
        assert copied == frames
        assert not engine_db.checkpoint_due(sa_engine)  # counted afresh
    finally:
        sa_engine.dispose()


def test_a_due_checkpoint_runs_once_the_answer_has_gone(app, database_url, monkeypatch):
    from web.extensions import db

    monkeypatch.setattr(engine_db, "CHECKPOINT_EVERY", 1)
    with app.app_context():
        commit_rows(db.engine, 3)
    frames, copied = wal_frames(database_url)
    assert copied < frames

    response = app.test_client().get("/health")
    assert response.status_code == 200
    assert wal_frames(database_url)[1] < frames  # not while the answer is still being sent
    response.close()  # what the WSGI server does once the body is out
    frames, copied = wal_frames(database_url)
    assert copied == frames


def test_the_timer_worker_checkpoints_after_a_sweep(sqlite_url, clock, monkeypatch):
    sa_engine = make_engine(sqlite_url)
    try:
        monkeypatch.setattr(engine_db, "CHECKPOINT_EVERY", 1)
        commit_rows(sa_engine, 3)
        frames, copied = wal_frames(sqlite_url)
        assert copied < frames
        worker.sweep(WorkflowEngine(sa_engine, clock))
        frames, copied = wal_frames(sqlite_url)
        assert copied == frames
    finally:
        sa_engine.dispose()


def test_a_failed_checkpoint_is_reported_and_tried_again(sqlite_url, monkeypatch, caplog):
    sa_engine = make_engine(sqlite_url)
    try:
        commit_rows(sa_engine, engine_db.CHECKPOINT_EVERY)
        refused = RuntimeError("disk I/O error")
        monkeypatch.setattr(sa_engine, "raw_connection", lambda: (_ for _ in ()).throw(refused))
        assert engine_db.checkpoint_wal(sa_engine) is False
        assert "checkpointing the SQLite write-ahead log failed" in caplog.text
        monkeypatch.undo()
        commit_rows(sa_engine, engine_db.CHECKPOINT_EVERY)
        assert engine_db.checkpoint_wal(sa_engine) is True
        frames, copied = wal_frames(sqlite_url)
        assert copied == frames
    finally:
        sa_engine.dispose()
