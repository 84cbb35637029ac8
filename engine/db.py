"""Database connections and schema upgrades.

SQLite is the embedded default; PostgreSQL is used when the URL says so. On SQLite every
writing unit of work starts with ``BEGIN IMMEDIATE``: writers queue for the database lock
up front instead of failing half-way with "database is locked" when a reader upgrades.

SQLite's write-ahead log is copied back into the database file by :func:`checkpoint_wal`,
called between requests and sweeps, not by the commit that happens to cross SQLite's
threshold (see there).
"""

from __future__ import annotations

import logging
import threading
import weakref
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from . import audit_chain

log = logging.getLogger("propflow.db")
_PREPARED: weakref.WeakSet[Engine] = weakref.WeakSet()
# Write transactions between two checkpoints of SQLite's write-ahead log. A completion
# writes about 40 pages, so this keeps the log near SQLite's own default of 1,000 pages.
CHECKPOINT_EVERY = 32
# SQLite's automatic checkpoint stays as a backstop for a process that never calls
# checkpoint_wal(): far above what the explicit checkpoints let the log reach.
AUTOCHECKPOINT_PAGES = 4_000
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def make_engine(url: str, **kwargs) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(url, **kwargs)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
    prepare_engine(engine)
    return engine


def prepare_engine(engine: Engine, *, busy_timeout: float = 30.0) -> Engine:
    """Apply our connection settings to an engine made elsewhere (Flask-SQLAlchemy).
    ``busy_timeout``: seconds a SQLite writer waits for the lock before failing with
    "database is locked"."""
    if engine.dialect.name == "sqlite" and engine not in _PREPARED:
        _configure_sqlite(engine, busy_timeout)
        _PREPARED.add(engine)
    return engine


class _WalCommits:
    """Transactions committed on one SQLite engine since its last checkpoint."""

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    def due(self) -> bool:
        return self.count >= CHECKPOINT_EVERY


_WAL_COMMITS: weakref.WeakKeyDictionary[Engine, _WalCommits] = weakref.WeakKeyDictionary()


def _configure_sqlite(engine: Engine, busy_timeout: float) -> None:
    commits = _WAL_COMMITS[engine] = _WalCommits()

    @event.listens_for(engine, "commit")
    def _on_commit(_connection):
        commits.count += 1  # a lost increment under threads only delays a checkpoint

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={round(busy_timeout * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        immediate = connection.get_execution_options().get("sqlite_immediate", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def checkpoint_due(engine: Engine) -> bool:
    """Whether :func:`checkpoint_wal` has work to do (cheap: a counter)."""
    commits = _WAL_COMMITS.get(engine)
    return commits is not None and commits.due()


def checkpoint_wal(engine: Engine, *, force: bool = False) -> bool:
    """Copy SQLite's write-ahead log back into the database file once ``CHECKPOINT_EVERY``
    transactions have committed (or at once with ``force``); PostgreSQL: nothing to do.
    Returns whether a checkpoint ran.

    Left to SQLite, the checkpoint runs inside the commit that crosses 1,000 pages, and
    under steady load it runs in nearly every commit: a reader always holds the log (the
    request's own session, another worker's), so the log is never restarted, stays over the
    threshold, and each commit copies its own pages and syncs the file (0.6 ms of a
    completion's 6). Called instead after a response has been sent and after each timer
    sweep, from a connection with no transaction open, it copies each page once per round
    and lets the next writer restart the log. A PASSIVE checkpoint never waits for readers
    or writers: what it cannot copy now is copied next time."""
    commits = _WAL_COMMITS.get(engine)
    if commits is None or not (force or commits.due()):
        return False
    with commits.lock:
        if not (force or commits.due()):
            return False  # another thread has just done it
        commits.count = 0
        try:
            connection = engine.raw_connection()
            try:
                connection.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            finally:
                connection.close()
        except Exception:  # nothing is lost: the log stays and the next round copies it
            log.warning("checkpointing the SQLite write-ahead log failed; will retry", exc_info=True)
            return False
    return True


def session_factories(engine: Engine) -> tuple[sessionmaker[Session], sessionmaker[Session]]:
    """(reading, writing) session factories; writers take the SQLite lock up front. Audit
    entries written through either are hash-chained (:mod:`engine.audit_chain`).

    A read sees one snapshot: a task, its candidates and its instance read in separate
    statements agree even while someone completes the task. SQLite's read transactions are
    snapshots already; PostgreSQL's READ COMMITTED would let each statement see the latest
    commit, so readers there use REPEATABLE READ (read-only: it never fails to serialise).
    """
    reading = engine.execution_options(isolation_level="REPEATABLE READ") \
        if engine.dialect.name == "postgresql" else engine
    reader = sessionmaker(reading, expire_on_commit=False)
    writer = sessionmaker(engine.execution_options(sqlite_immediate=True), expire_on_commit=False)
    for factory in (reader, writer):
        audit_chain.register(factory)
    return reader, writer


def alembic_config(url: str):
    from alembic.config import Config

    config = Config(str(MIGRATIONS / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_schema(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (Alembic), creating it if empty."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)
